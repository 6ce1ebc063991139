/*
 * http.h - one REST request, as the API handlers see it.
 *
 * The server (server.c) reads the request line, headers and body, checks
 * size and type, authenticates, rate-limits and then calls the handler the
 * router picked. A handler answers with sv_http_reply() or
 * sv_http_error(), at once or later (after a provider call); until then
 * the request stays open. When the client goes away first, the server
 * calls the cancel function the handler registered, so that the handler's
 * pending work ends without touching the request again.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_HTTP_H
#define SV_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/buf.h"
#include "util/misc.h"

struct lws;
struct sv_server;

enum sv_method {
    SV_METHOD_GET,
    SV_METHOD_POST,
    SV_METHOD_PUT,
    SV_METHOD_PATCH,
    SV_METHOD_DELETE,
    SV_METHOD_OTHER,
};

#define SV_PATH_MAX 512

struct sv_http_req;

/* Cancels a handler's pending work; the request must not be touched. */
typedef void sv_http_cancel_cb(void *pending);

struct sv_http_req {
    struct lws *wsi;       /* borrowed; NULL once the client is gone */
    struct sv_server *srv; /* borrowed */
    enum sv_method method;
    char path[SV_PATH_MAX]; /* without the query string */
    const char *param;      /* the {id} part of the route, or NULL */
    char param_buf[SV_PATH_MAX];

    struct sv_buf body; /* owned; raw request body */
    size_t body_limit_bytes;
    bool want_close; /* refused before its body was read: close after */
    json_t *json;    /* owned; parsed body, or NULL when empty */

    bool is_authed;
    char org_id[SV_ID_LEN];
    char key_id[SV_ID_LEN];

    /* Rate-limit state for the headers of the answer. */
    bool has_rate;
    unsigned rate_limit;
    unsigned rate_remaining;
    long rate_reset;        /* Unix seconds */
    unsigned retry_after_s; /* > 0 adds Retry-After */
    char allow[48];         /* a 405's Allow header, or empty */

    /* The answer, once there is one. */
    bool has_reply;
    int status;
    struct sv_buf reply; /* owned; LWS_PRE bytes of head room first */

    /* A handler's pending asynchronous work, if any. */
    void *pending;
    sv_http_cancel_cb *cancel;
};

/* Answers with status and the JSON body (a new reference, consumed). */
void sv_http_reply(struct sv_http_req *req, int status, json_t *body);

/*
 * Answers with the API's error body: {"error": code, "message": message,
 * "param": param (omitted when NULL), "type": ...}.
 */
void sv_http_error(struct sv_http_req *req, int status, const char *code,
                   const char *message, const char *param);

/* Copies the query argument name into buf; false when absent. */
bool sv_http_query(struct sv_http_req *req, const char *name, char *buf,
                   size_t len);

/* Marks pending asynchronous work, cancelled if the client goes away. */
void sv_http_set_pending(struct sv_http_req *req, void *pending,
                         sv_http_cancel_cb *cancel);

#endif
