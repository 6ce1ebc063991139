/*
 * server.c - libwebsockets glue for the REST API: listeners on TCP and on
 * a unix socket, request framing (path, method, body), and writing the
 * answer. What a request means is api.c's business.
 *
 * lws runs as a guest on the daemon's libuv loop (foreign-loop mode); all
 * of this runs on the loop thread.
 *
 * SPDX-License-Identifier: MIT
 */
#include "daemon/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <uv.h>

#include "config/config.h"
#include "daemon/api.h"
#include "daemon/daemon.h"
#include "daemon/http.h"
#include "daemon/session.h"
#include "providers/wsclient.h"
#include "util/alloc.h"
#include "util/log.h"

/* lws adds several long security headers; leave room for them. */
#define HEADER_BUF_BYTES 4096

struct sv_server {
    struct sv_daemon *d;       /* borrowed */
    struct lws_context *lws;   /* lws writes NULL here once destroyed */
    struct lws_vhost *tcp;     /* owned by lws */
    struct lws_vhost *unix_vh; /* owned by lws */
    struct lws_vhost *client;  /* owned by lws; provider websockets */
    int port;
    bool is_stopping;
};


static enum sv_method method_of(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes token;
        enum sv_method method;
    } map[] = {
        {WSI_TOKEN_GET_URI, SV_METHOD_GET},
        {WSI_TOKEN_POST_URI, SV_METHOD_POST},
        {WSI_TOKEN_PUT_URI, SV_METHOD_PUT},
        {WSI_TOKEN_PATCH_URI, SV_METHOD_PATCH},
        {WSI_TOKEN_DELETE_URI, SV_METHOD_DELETE},
    };

    for (size_t i = 0; i < SV_ARRAY_SIZE(map); i++) {
        if (lws_hdr_total_length(wsi, map[i].token) > 0)
            return map[i].method;
    }
    return SV_METHOD_OTHER;
}


/* Frees what a request owns; safe on a zeroed or already-reset one. */
static void req_reset(struct sv_http_req *req)
{
    if (req->cancel != NULL) {
        sv_http_cancel_cb *cancel = req->cancel;
        void *pending = req->pending;

        req->cancel = NULL;
        req->pending = NULL;
        cancel(pending);
    }
    sv_buf_free(&req->body);
    sv_buf_free(&req->reply);
    if (req->json != NULL)
        json_decref(req->json);
    memset(req, 0, sizeof(*req));
}


/*
 * The request's Content-Length: 0 when there is none, -1 when it is not
 * one plain decimal number (a sign, other characters, several headers,
 * which lws joins with commas, or more than 31 characters). A number too
 * large for a long is LONG_MAX, over any body limit.
 */
static long content_length(struct lws *wsi)
{
    char buf[32];
    char *end;
    long len;

    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return 0;
    if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_CONTENT_LENGTH) <=
            0 ||
        buf[0] < '0' || buf[0] > '9') {
        return -1;
    }
    /* Digits only: strtol() saturates at LONG_MAX. */
    len = strtol(buf, &end, 10);
    return *end == '\0' ? len : -1;
}


/*
 * Refuses a request before all its body has been read: charges the client
 * first (the answer carries the rate-limit headers, or becomes a 401 or
 * 429), and closes the connection after the answer, as the body left
 * unread puts the stream out of step.
 */
static void refuse(struct sv_http_req *req, int status, const char *code,
                   const char *message)
{
    req->want_close = true;
    if (sv_api_admit(req))
        sv_http_error(req, status, code, message, NULL);
}


static int on_http(struct sv_server *s, struct lws *wsi,
                   struct sv_http_req *req, const char *uri)
{
    long len;

    req_reset(req);
    req->wsi = wsi;
    req->srv = s;
    req->method = method_of(wsi);
    req->body_limit_bytes = s->d->cfg->max_body_bytes;
    snprintf(req->path, sizeof(req->path), "%s", uri);

    /* lws reads no chunked request body: refuse what it would misframe. */
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        refuse(req, 411, "length_required",
               "send the body with a Content-Length, not chunked");
        return 0;
    }
    len = content_length(wsi);
    if (len < 0) {
        refuse(req, 400, "invalid_request", "bad Content-Length");
        return 0;
    }
    if ((size_t)len > req->body_limit_bytes) {
        refuse(req, 413, "payload_too_large",
               "request body is larger than the limit");
        return 0;
    }
    if (len == 0)
        sv_api_dispatch(req);
    return 0;
}


static int on_body(struct sv_http_req *req, const void *in, size_t len)
{
    if (req->has_reply)
        return 0;
    if (req->body.len + len > req->body_limit_bytes) {
        refuse(req, 413, "payload_too_large",
               "request body is larger than the limit");
        return 0;
    }
    sv_buf_append(&req->body, in, len);
    return 0;
}


static int add_header(struct lws *wsi, const char *name, const char *value,
                      unsigned char **p, unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value,
                                       (int)strlen(value), p, end);
}


static int write_reply(struct sv_http_req *req)
{
    unsigned char hdr[LWS_PRE + HEADER_BUF_BYTES];
    unsigned char *start = hdr + LWS_PRE;
    unsigned char *p = start;
    unsigned char *end = hdr + sizeof(hdr) - 1;
    struct lws *wsi = req->wsi;
    size_t body_len = req->reply.len - LWS_PRE;
    char num[32];

    if (lws_add_http_common_headers(wsi, (unsigned)req->status,
                                    "application/json", body_len, &p, end))
        return -1;
    if (req->has_rate) {
        snprintf(num, sizeof(num), "%u", req->rate_limit);
        if (add_header(wsi, "X-RateLimit-Limit:", num, &p, end))
            return -1;
        snprintf(num, sizeof(num), "%u", req->rate_remaining);
        if (add_header(wsi, "X-RateLimit-Remaining:", num, &p, end))
            return -1;
        snprintf(num, sizeof(num), "%ld", req->rate_reset);
        if (add_header(wsi, "X-RateLimit-Reset:", num, &p, end))
            return -1;
    }
    if (req->retry_after_s > 0) {
        snprintf(num, sizeof(num), "%u", req->retry_after_s);
        if (add_header(wsi, "Retry-After:", num, &p, end))
            return -1;
    }
    if (req->allow[0] != '\0' && add_header(wsi, "Allow:", req->allow, &p, end))
        return -1;
    if (add_header(wsi, "Cache-Control:", "no-store", &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (lws_write(wsi, (unsigned char *)req->reply.data + LWS_PRE, body_len,
                  LWS_WRITE_HTTP_FINAL) != (int)body_len)
        return -1;

    if (req->want_close)
        return -1;
    if (lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}


void sv_http_reply(struct sv_http_req *req, int status, json_t *body)
{
    char *text;

    SV_ASSERT(!req->has_reply);
    /* Every answer carries the rate-limit headers: see sv_api_admit(). */
    SV_ASSERT(req->has_rate);
    text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(body);
    SV_ASSERT(text != NULL);

    req->has_reply = true;
    req->status = status;
    sv_buf_reset(&req->reply);
    sv_buf_append(&req->reply, (char[LWS_PRE]){0}, LWS_PRE);
    sv_buf_append(&req->reply, text, strlen(text));
    free(text);
    if (req->wsi != NULL)
        lws_callback_on_writable(req->wsi);
}


static const char *error_type(int status)
{
    if (status == 401)
        return "authentication_error";
    if (status == 429)
        return "rate_limit_error";
    if (status >= 500)
        return "api_error";
    return "invalid_request_error";
}


void sv_http_error(struct sv_http_req *req, int status, const char *code,
                   const char *message, const char *param)
{
    json_t *body = json_pack("{s:s, s:s, s:s}", "error", code, "message",
                             message, "type", error_type(status));

    if (param != NULL)
        json_object_set_new(body, "param", json_string(param));
    sv_http_reply(req, status, body);
}


bool sv_http_query(struct sv_http_req *req, const char *name, char *buf,
                   size_t len)
{
    char arg[SV_PATH_MAX];
    char key[64];
    const char *value;

    if (req->wsi == NULL)
        return false;
    snprintf(key, sizeof(key), "%s=", name);
    value = lws_get_urlarg_by_name(req->wsi, key, arg, (int)sizeof(arg));
    if (value == NULL)
        return false;
    snprintf(buf, len, "%s", value);
    return true;
}


void sv_http_set_pending(struct sv_http_req *req, void *pending,
                         sv_http_cancel_cb *cancel)
{
    req->pending = pending;
    req->cancel = cancel;
}


static int http_cb(struct lws *wsi, enum lws_callback_reasons reason,
                   void *user, void *in, size_t len)
{
    struct sv_server *s = lws_context_user(lws_get_context(wsi));
    struct sv_http_req *req = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(s, wsi, req, in);

    case LWS_CALLBACK_HTTP_BODY:
        return on_body(req, in, len);

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!req->has_reply)
            sv_api_dispatch(req);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (req == NULL || !req->has_reply)
            return 0;
        return write_reply(req);

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (req != NULL)
            req_reset(req);
        return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLOSED:
        return sv_session_lws_cb(wsi, reason, user, in, len);

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}


static const struct lws_protocols protocols[] = {
    {
        .name = "sovereign",
        .callback = http_cb,
        .per_session_data_size = SV_SESSION_PSS_BYTES,
        .rx_buffer_size = 0,
    },
    {NULL, NULL, 0, 0, 0, NULL, 0},
};


/* lws logs through us, at one level below its own severity. */
static void lws_emit(int level, const char *line)
{
    int sv_level = SV_LOG_DEBUG;
    size_t n = strlen(line);

    if (level & LLL_ERR)
        sv_level = SV_LOG_WARN;
    else if (level & LLL_WARN)
        sv_level = SV_LOG_INFO;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    sv_log(sv_level, "lws: %.*s", (int)n, line);
}


static int open_unix(struct sv_server *s, struct lws_context_creation_info *i,
                     const char *path)
{
    struct stat st;

    /* A socket left by a previous run would make bind() fail. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    i->options |= LWS_SERVER_OPTION_UNIX_SOCK;
    i->iface = path;
    i->port = 0;
    i->vhost_name = "unix";
    s->unix_vh = lws_create_vhost(s->lws, i);
    i->options &= ~(uint64_t)LWS_SERVER_OPTION_UNIX_SOCK;
    if (s->unix_vh == NULL) {
        sv_log(SV_LOG_ERR, "server: cannot listen on unix socket %s", path);
        return -EADDRINUSE;
    }
    chmod(path, 0660);
    sv_log(SV_LOG_NOTICE, "server: listening on unix:%s", path);
    return 0;
}


int sv_server_start(struct sv_server **out, struct sv_daemon *d)
{
    struct lws_context_creation_info info;
    const struct sv_config *cfg = d->cfg;
    struct sv_server *s = sv_xcalloc(1, sizeof(*s));
    void *loops[1] = {d->loop};
    int err = 0;

    s->d = d;
    lws_set_log_level(LLL_ERR | LLL_WARN |
                          (sv_log_threshold >= SV_LOG_DEBUG ? LLL_NOTICE : 0),
                      lws_emit);

    memset(&info, 0, sizeof(info));
    info.options =
        LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
        LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    info.foreign_loops = loops;
    info.pcontext = &s->lws;
    info.user = s;
    info.max_http_header_data = HEADER_BUF_BYTES;
    info.pt_serv_buf_size = 32 * 1024;
    info.timeout_secs = 30;
    info.keepalive_timeout = 30;
    s->lws = lws_create_context(&info);
    if (s->lws == NULL) {
        sv_log(SV_LOG_ERR, "server: cannot create the lws context");
        err = -ENOMEM;
        goto out;
    }

    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = sv_wsc_protocols;
    info.vhost_name = "client";
    s->client = lws_create_vhost(s->lws, &info);
    if (s->client == NULL) {
        sv_log(SV_LOG_ERR, "server: cannot create the client vhost");
        err = -ENOMEM;
        goto out;
    }

    info.protocols = protocols;
    if (cfg->listen_host != NULL) {
        info.iface = cfg->listen_host;
        info.port = cfg->listen_port;
        info.vhost_name = "tcp";
        s->tcp = lws_create_vhost(s->lws, &info);
        if (s->tcp == NULL) {
            sv_log(SV_LOG_ERR, "server: cannot listen on %s:%d",
                   cfg->listen_host, cfg->listen_port);
            err = -EADDRINUSE;
            goto out;
        }
        s->port = lws_get_vhost_listen_port(s->tcp);
        sv_log(SV_LOG_NOTICE, "server: listening on %s:%d", cfg->listen_host,
               s->port);
    }
    if (cfg->unix_socket != NULL) {
        err = open_unix(s, &info, cfg->unix_socket);
        if (err < 0)
            goto out;
    }

out:
    if (err < 0) {
        if (s->lws != NULL) {
            /* The caller runs the loop to let lws close its handles. */
            *out = s;
            sv_server_stop(s);
            return err;
        }
        free(s);
        return err;
    }
    *out = s;
    return 0;
}


int sv_server_port(const struct sv_server *s)
{
    return s->port;
}


struct sv_daemon *sv_server_daemon(struct sv_server *s)
{
    return s->d;
}


struct lws_vhost *sv_server_client_vhost(struct sv_server *s)
{
    return s->client;
}


void sv_server_stop(struct sv_server *s)
{
    /*
     * On a foreign loop the first call starts closing lws' handles; once
     * the loop has run them down, a second call completes the destroy.
     */
    s->is_stopping = true;
    if (s->lws != NULL)
        lws_context_destroy(s->lws);
}


bool sv_server_is_closed(const struct sv_server *s)
{
    return s->lws == NULL;
}


void sv_server_free(struct sv_server *s)
{
    if (s == NULL)
        return;
    SV_ASSERT(s->lws == NULL);
    if (s->d->cfg->unix_socket != NULL)
        unlink(s->d->cfg->unix_socket);
    free(s);
}
