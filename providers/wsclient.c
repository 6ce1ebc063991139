/*
 * wsclient.c - the shared provider websocket protocol (see wsclient.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "providers/wsclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Per-vhost data of the protocol: lws frees it with the vhost. */
struct wsc_vhost {
    struct lws_context *context; /* borrowed */
};


static int wsc_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                  void *in, size_t len)
{
    struct sv_wsc *c = user;

    if (reason == LWS_CALLBACK_PROTOCOL_INIT) {
        struct wsc_vhost *v = lws_protocol_vh_priv_zalloc(
            lws_get_vhost(wsi), lws_get_protocol(wsi), sizeof(*v));

        if (v == NULL)
            return -1;
        v->context = lws_get_context(wsi);
        return 0;
    }
    if (c != NULL && c->cb != NULL)
        return c->cb(wsi, reason, user, in, len);
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}


/*
 * The callback of abandoned connections: it refuses every event that
 * would keep the connection going, so lws closes it at the next one.
 */
static int abandoned_cb(struct lws *wsi, enum lws_callback_reasons reason,
                        void *user, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
    case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
    case LWS_CALLBACK_CLIENT_RECEIVE:
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return -1;
    default:
        return 0;
    }
}


/* Shared by every abandoned connection; lws never writes through it. */
static const struct sv_wsc abandoned = {.cb = abandoned_cb};


const struct lws_protocols sv_wsc_protocols[] = {
    {
        .name = SV_WSC_PROTOCOL,
        .callback = wsc_cb,
        .per_session_data_size = 0,
        .rx_buffer_size = 0,
    },
    {NULL, NULL, 0, 0, 0, NULL, 0},
};


struct lws_context *sv_wsc_context(struct lws_vhost *vh)
{
    const struct lws_protocols *p;
    struct wsc_vhost *v;

    if (vh == NULL)
        return NULL;
    p = lws_vhost_name_to_protocol(vh, SV_WSC_PROTOCOL);
    if (p == NULL)
        return NULL;
    v = lws_protocol_vh_priv_get(vh, p);
    return v != NULL ? v->context : NULL;
}


void sv_wsc_abandon(struct lws *wsi)
{
    lws_set_wsi_user(wsi, (void *)&abandoned);
    /* The writeable event closes it at once; the time-out is the net. */
    lws_callback_on_writable(wsi);
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}


int sv_wsc_parse_url(const char *url, char *host, size_t host_len, int *port,
                     bool *is_tls, char *path, size_t path_len)
{
    const char *p;
    const char *slash;
    const char *colon;
    size_t n;

    if (strncmp(url, "wss://", 6) == 0 || strncmp(url, "https://", 8) == 0) {
        *is_tls = true;
        *port = 443;
    } else if (strncmp(url, "ws://", 5) == 0 ||
               strncmp(url, "http://", 7) == 0) {
        *is_tls = false;
        *port = 80;
    } else {
        return -EINVAL;
    }
    p = strstr(url, "://") + 3;
    slash = strchr(p, '/');
    n = slash != NULL ? (size_t)(slash - p) : strlen(p);
    colon = memchr(p, ':', n);
    if (colon != NULL) {
        char *end;
        long v = strtol(colon + 1, &end, 10);

        if (end != p + n || v <= 0 || v > 65535)
            return -EINVAL;
        *port = (int)v;
        n = (size_t)(colon - p);
    }
    if (n == 0 || n >= host_len)
        return -EINVAL;
    memcpy(host, p, n);
    host[n] = '\0';
    snprintf(path, path_len, "%s", slash != NULL ? slash : "");
    n = strlen(path);
    if (n > 0 && path[n - 1] == '/')
        path[n - 1] = '\0';
    return 0;
}
