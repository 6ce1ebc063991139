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
 * Handles one complete request: authenticates it, applies the rate limit,
 * checks the body and calls the route's handler, which answers.
 */
void sv_api_dispatch(struct sv_http_req *req);

/*
 * Authenticates an /api/v1 request and applies the rate limit, once per
 * request (later calls return at once). Returns true when the request
 * may go on; false when it has been answered (401 or 429). Other paths
 * pass untouched. The server calls it early for a body it refuses (413),
 * so that such an answer carries the rate-limit headers too.
 */
bool sv_api_admit(struct sv_http_req *req);

/* The daemon a request belongs to. */
struct sv_daemon *sv_api_daemon(struct sv_http_req *req);

#endif
