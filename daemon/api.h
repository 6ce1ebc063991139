/*
 * api.h - the REST API (../shared/API.md): authentication, rate limits,
 * routing, and the BYOK and health handlers. Assistants live in
 * assistants.c, calls in calls.c.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_API_H
#define SV_API_H

#include "daemon/http.h"

struct sv_api;
struct sv_daemon;

/* Per-loop API state (the rate-limit windows). */
struct sv_api *sv_api_new(void);
void sv_api_free(struct sv_api *api);

/*
 * Handles one complete request: applies the rate limit (sv_api_admit),
 * checks the body and calls the route's handler, which answers.
 */
void sv_api_dispatch(struct sv_http_req *req);

/*
 * Charges a request to its client's rate limit, once per request (later
 * calls return at once): to its API key when it carries a valid one, to
 * the peer's address otherwise. Returns true when the request may go on;
 * false when it has been answered: 429 over the limit, 401 for an
 * /api/v1 path without a valid key. Every answer must come after this
 * call, so that it carries the rate-limit headers (API.md): dispatch
 * calls it first, and the server before refusing a request early (a bad
 * Content-Length, a body over the limit).
 */
bool sv_api_admit(struct sv_http_req *req);

/* The daemon a request belongs to. */
struct sv_daemon *sv_api_daemon(struct sv_http_req *req);

#endif
