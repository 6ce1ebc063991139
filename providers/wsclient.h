/*
 * wsclient.h - one lws protocol for every provider websocket client.
 *
 * The daemon's client vhost lists only this protocol. Each connection's
 * user data starts with a struct sv_wsc naming the adapter's callback;
 * the shared protocol callback hands every event to it. An adapter
 * connects with lws_client_connect_via_info(), setting
 * local_protocol_name = SV_WSC_PROTOCOL and userdata = &its->wsc, and
 * detaches (lws_set_wsi_user(wsi, NULL)) before it frees that memory.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_WSCLIENT_H
#define SV_WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <libwebsockets.h>

#define SV_WSC_PROTOCOL "sv-ws-client"

struct sv_wsc {
    lws_callback_function *cb; /* the adapter's own callback */
};

extern const struct lws_protocols sv_wsc_protocols[];

/*
 * The lws context that owns vh, a vhost listing sv_wsc_protocols, for
 * lws_client_connect_via_info() (lws 4.1 has no vhost-to-context call, so
 * the protocol records it when lws initialises the vhost, which on a
 * foreign libuv loop happens once the loop has run). NULL before that, or
 * for any other vhost.
 */
struct lws_context *sv_wsc_context(struct lws_vhost *vh);

/*
 * Detaches the adapter from wsi and has lws close it soon: no callback
 * reaches the old user data afterwards, so the caller may free it. Use it
 * for a live connection the adapter gives up on (not from inside its
 * CLIENT_CLOSED or CONNECTION_ERROR callback, where lws_set_wsi_user(wsi,
 * NULL) is enough). Loop thread only.
 */
void sv_wsc_abandon(struct lws *wsi);

/*
 * Splits a ws:// or wss:// (also http(s)://) base URL into its parts for
 * lws: host (NUL-terminated in host), port, TLS flag and path prefix
 * (without a trailing slash). Returns 0 or -EINVAL.
 */
int sv_wsc_parse_url(const char *url, char *host, size_t host_len, int *port,
                     bool *is_tls, char *path, size_t path_len);

#endif
