/*
 * session.h - voice sessions over websocket (/api/v1/sessions).
 *
 * server.c hands every websocket callback here. The per-connection
 * storage lws allocates is shared with HTTP requests, so it is sized for
 * the larger of the two.
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

#define SV_SESSION_PSS_BYTES sizeof(struct sv_http_req)

/* The websocket part of the protocol callback; lws conventions apply. */
int sv_session_lws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len);

#endif
