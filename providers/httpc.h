/*
 * httpc.h - a streaming HTTP client: libcurl's multi-socket interface
 * driven by the libuv loop (STYLE.md section 4).
 *
 * One struct sv_httpc per loop holds one curl multi handle, so every
 * provider adapter on that loop shares one connection cache: connections
 * are kept alive and reused across requests (HTTP/1.1 keep-alive, or
 * HTTP/2 multiplexing where the server offers it over TLS). Response
 * bodies are delivered as they arrive, which is what SSE streams need.
 *
 * Name resolution never blocks the loop: Debian's libcurl (7.88, OpenSSL
 * flavour) is built with the threaded resolver and reports AsynchDNS in
 * `curl --version`. sv_httpc_new() checks the feature at run time and
 * warns when it is missing.
 *
 * Request headers may hold API keys: they are copied, never logged, and
 * wiped before they are freed (curl's own request buffer, which also
 * holds them, is freed by curl unwiped; that is beyond our reach). On failure
 * the module logs curl's error text (at INFO; the caller logs its decision)
 * with the URL's scheme, host and path only.
 *
 * Loop thread only: every function here, and every callback, runs on the
 * thread that runs the loop given to sv_httpc_new().
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_HTTPC_H
#define SV_HTTPC_H

#include <stddef.h>

#include <uv.h>

struct sv_httpc;     /* one per loop: a curl multi handle, its timer, polls */
struct sv_httpc_req; /* one transfer */

/*
 * Body bytes as they arrive, on the loop thread. Return 0 to go on, or
 * nonzero to abort the transfer, in which case on_done later gets
 * -ECANCELED. The callback may call sv_httpc_cancel() on any request
 * and sv_httpc_start(), but not sv_httpc_free().
 */
typedef int sv_httpc_data_cb(void *arg, const char *data, size_t len);

/*
 * Called exactly once per started request. err is 0 when a complete
 * response arrived (whatever its status), or a negative errno:
 * -ETIMEDOUT (whole transfer, connect or idle limit), -ECONNREFUSED,
 * -EHOSTUNREACH (also when the name does not resolve), -ECONNRESET (the
 * connection dropped, e.g. mid-body), -EPROTO (TLS or HTTP errors and
 * anything else), -ECANCELED. status is the final HTTP status, or 0 when
 * no final response header arrived. The request is freed after this
 * returns; sv_httpc_header() works until then.
 */
typedef void sv_httpc_done_cb(void *arg, int err, long status);

struct sv_httpc_opts {
    const char *method; /* "GET", "POST", ...; borrowed for the call */
    const char *url;    /* http:// or https:// only */
    /* NULL-terminated "Name: value" lines, or NULL. Copied; may hold
     * keys, so they are never logged and are wiped when freed. */
    const char *const *headers;
    const char *body; /* copied; NULL for none */
    size_t body_len;
    unsigned timeout_ms;         /* whole transfer; 0 = no limit */
    unsigned connect_timeout_ms; /* 0 = curl's default (300 s) */
    /* No byte (header or body) for this long aborts with -ETIMEDOUT,
     * counted from the start; 0 = off. */
    unsigned idle_timeout_ms;
    sv_httpc_data_cb *on_data; /* may be NULL to discard the body */
    sv_httpc_done_cb *on_done; /* required */
    void *arg;                 /* passed to both callbacks */
};

/*
 * Creates a client on loop (borrowed; it must outlive the client).
 * Returns 0 and sets *out, or a negative errno (-ENOMEM when curl cannot
 * set up its multi handle).
 */
int sv_httpc_new(struct sv_httpc **out, uv_loop_t *loop);

/*
 * Starts a request described by o (copied; o need not outlive the call).
 * Returns 0, setting *out (when out is not NULL) to the request, which
 * stays valid until its on_done returns; on_done is then called exactly
 * once, never from inside this call. Returns -EINVAL for a missing
 * method, URL or on_done, a malformed URL, a scheme other than http or
 * https, or a header line holding CR or LF; -ECANCELED once
 * sv_httpc_free() has begun. On error nothing is called back.
 */
int sv_httpc_start(struct sv_httpc *c, const struct sv_httpc_opts *o,
                   struct sv_httpc_req **out);

/* The final HTTP status once its headers are in, else 0. */
long sv_httpc_status(const struct sv_httpc_req *r);

/*
 * The value of response header name (matched case-insensitively; the
 * first one when repeated), or NULL. Only the final response counts: an
 * interim one such as 100 Continue is forgotten. The string belongs to
 * the request and stays valid until on_done returns.
 */
const char *sv_httpc_header(const struct sv_httpc_req *r, const char *name);

/*
 * Stops r; its on_done(-ECANCELED) runs before this returns. Safe from
 * on_data and on_done (of any request); a no-op on a request whose
 * on_done has already been called.
 */
void sv_httpc_cancel(struct sv_httpc_req *r);

/*
 * Cancels every request (each on_done gets -ECANCELED), cleans up the
 * multi handle and closes the timer and polls. The handles are freed in
 * close callbacks, so the caller runs the loop afterwards until
 * uv_loop_close() returns 0. Must not be called from on_data. NULL is a
 * no-op.
 */
void sv_httpc_free(struct sv_httpc *c);

#endif
