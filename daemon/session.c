/*
 * session.c - voice sessions over websocket.
 *
 * Until the pipeline lands, every upgrade is refused, so a client gets a
 * clear HTTP error instead of a socket that never answers.
 *
 * SPDX-License-Identifier: MIT
 */
#include "daemon/session.h"

#include "util/log.h"


int sv_session_lws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len)
{
    if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION) {
        sv_log(SV_LOG_INFO, "session: websocket sessions are not served yet");
        return -1;
    }
    return 0;
}
