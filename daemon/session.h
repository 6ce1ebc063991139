/*
 * session.h - voice sessions over websocket (/api/v1/sessions), the
 * client contract of docs/session-protocol.md.
 *
 * server.c hands every websocket callback here. A session authenticates
 * (Authorization header, or "token" in the first message), reads the
 * start message, resolves the assistant and the provider keys (the
 * organization's BYOK key, else the platform's), and runs a call:
 * caller audio in, events and paced reply audio out.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_SESSION_H
#define SV_SESSION_H

#include <stddef.h>

#include <libwebsockets.h>

#include "daemon/http.h"

struct sv_daemon;
struct sv_session;
struct sv_call;

/* lws' per-connection storage serves HTTP requests; sessions keep their
 * own state behind lws' opaque user pointer. */
#define SV_SESSION_PSS_BYTES sizeof(struct sv_http_req)

/* The websocket part of the protocol callback; lws conventions apply. */
int sv_session_lws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len);

/* The live call with this id in org_id, or NULL. */
struct sv_call *sv_session_find_call(struct sv_daemon *d, const char *org_id,
                                     const char *call_id);

/* Ends every live call (daemon shutdown); their sockets then close. */
void sv_session_end_all(struct sv_daemon *d, const char *reason);

#endif
