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


static int wsc_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                  void *in, size_t len)
{
    struct sv_wsc *c = user;

    if (c != NULL && c->cb != NULL)
        return c->cb(wsi, reason, user, in, len);
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}


const struct lws_protocols sv_wsc_protocols[] = {
    {
        .name = SV_WSC_PROTOCOL,
        .callback = wsc_cb,
        .per_session_data_size = 0,
        .rx_buffer_size = 0,
    },
    {NULL, NULL, 0, 0, 0, NULL, 0},
};


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
