/*
 * httpc.c - libcurl multi-socket on the libuv loop (see httpc.h).
 *
 * curl tells us which sockets to watch (on_socket) and when to call it
 * back (on_multi_timer); we turn those into uv_poll_t and uv_timer_t
 * handles and feed their events back with curl_multi_socket_action().
 * After each action we drain curl_multi_info_read() and finish the
 * transfers it reports.
 *
 * curl forbids most multi calls from inside its own callbacks, and a
 * request must not be freed while curl may still call it. So a request
 * that ends inside a callback (sv_httpc_cancel() from on_data) is only
 * marked done there; process() removes it from the multi handle once
 * curl_multi_socket_action() has returned. Requests started from inside
 * a callback are added there too. Each request embeds its idle timer and
 * is freed in that timer's close callback; the client is freed after its
 * last handle closes.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include "providers/httpc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>
#include <curl/curl.h>
#include <sodium.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/log.h"

#define USER_AGENT "sovereignd/" SV_VERSION

/* A socket curl asked us to watch. */
struct sock_ctx {
    uv_poll_t poll;     /* embedded; data points back here */
    struct sv_httpc *c; /* borrowed */
    curl_socket_t fd;   /* owned by curl */
    bool is_closing;
    struct sock_ctx *prev, *next; /* c->socks */
};

struct sv_httpc {
    uv_loop_t *loop;           /* borrowed */
    CURLM *multi;              /* owned; NULL once cleaned up */
    uv_timer_t timer;          /* embedded; curl's one timeout */
    uv_idle_t kick;            /* embedded; curl's timeout of zero */
    struct sv_httpc_req *reqs; /* owned list of unreleased requests */
    struct sock_ctx *socks;    /* owned list of open poll contexts */
    int open_handles;          /* handles not yet closed, ours included */
    int in_curl;               /* depth of curl_multi_socket_action calls */
    bool is_freeing;
};

struct sv_httpc_req {
    struct sv_httpc *c;         /* borrowed */
    CURL *easy;                 /* owned */
    struct curl_slist *headers; /* owned; may hold keys: wiped on release */
    char *body;                 /* owned copy of the request body */
    size_t body_len;
    char *log_url;                /* owned; scheme, host, port, path only */
    char method[16];              /* for log lines */
    struct sv_buf resp_headers;   /* "name\0value\0" pairs, final response */
    bool has_final_headers;       /* the final header block has ended */
    long pending_status;          /* status line of the block being read */
    long status;                  /* final status, 0 until headers are in */
    uv_timer_t idle_timer;        /* embedded; freed in its close callback */
    unsigned idle_timeout_ms;     /* 0 = off */
    bool is_idle_expired;         /* the idle timer fired */
    bool is_aborted;              /* on_data asked to stop */
    bool is_added;                /* easy is in the multi handle */
    bool is_done;                 /* on_done has been (or is being) called */
    bool is_released;             /* curl objects freed, timer closing */
    char errbuf[CURL_ERROR_SIZE]; /* curl's text for the last failure */
    sv_httpc_data_cb *on_data;
    sv_httpc_done_cb *on_done;
    void *arg;
    struct sv_httpc_req *prev, *next; /* c->reqs */
};

static void process(struct sv_httpc *c);


static void handle_closed(struct sv_httpc *c)
{
    SV_ASSERT(c->open_handles > 0);
    c->open_handles--;
    if (c->is_freeing && c->open_handles == 0)
        free(c);
}


static void on_req_close(uv_handle_t *h)
{
    struct sv_httpc_req *r = h->data;
    struct sv_httpc *c = r->c;

    free(r);
    handle_closed(c);
}


static void wipe_headers(struct curl_slist *list)
{
    for (struct curl_slist *l = list; l != NULL; l = l->next)
        sodium_memzero(l->data, strlen(l->data));
    curl_slist_free_all(list);
}


/*
 * Frees everything of r but its memory, which goes in the idle timer's
 * close callback. Inside a curl callback this must wait: process() calls
 * it again after curl_multi_socket_action() returns.
 */
static void release(struct sv_httpc_req *r)
{
    struct sv_httpc *c = r->c;

    if (r->is_released || c->in_curl > 0)
        return;
    r->is_released = true;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    if (r->is_added)
        curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    wipe_headers(r->headers);
    if (r->body != NULL) {
        sodium_memzero(r->body, r->body_len);
        free(r->body);
    }
    free(r->log_url);
    sv_buf_free(&r->resp_headers);
    uv_close((uv_handle_t *)&r->idle_timer, on_req_close);
}


/* Calls on_done once, then releases r (now, or after the curl call). */
static void finish(struct sv_httpc_req *r, int err)
{
    if (r->is_done)
        return;
    r->is_done = true;
    uv_timer_stop(&r->idle_timer);
    if (err != 0 && err != -ECANCELED) {
        sv_log(SV_LOG_INFO, "httpc: %s %s failed: %s", r->method, r->log_url,
               r->errbuf[0] != '\0' ? r->errbuf : strerror(-err));
    }
    r->on_done(r->arg, err, r->status);
    release(r);
}


/* Maps the result of a finished transfer to 0 or a negative errno. */
static int result_to_errno(struct sv_httpc_req *r, CURLcode res)
{
    long os_errno = 0;

    if (r->is_aborted)
        return -ECANCELED;
    switch (res) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
            return -EHOSTUNREACH;
        if (os_errno == ETIMEDOUT)
            return -ETIMEDOUT;
        return -ECONNREFUSED;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
        return -ECONNRESET;
    case CURLE_ABORTED_BY_CALLBACK:
        return -ECANCELED;
    default:
        return -EPROTO;
    }
}


static void on_idle_timeout(uv_timer_t *t)
{
    struct sv_httpc_req *r = t->data;

    r->is_idle_expired = true;
    snprintf(r->errbuf, sizeof(r->errbuf), "no data for %u ms",
             r->idle_timeout_ms);
    finish(r, -ETIMEDOUT);
}


static void touch(struct sv_httpc_req *r)
{
    if (r->idle_timeout_ms > 0) {
        uv_timer_start(&r->idle_timer, on_idle_timeout, r->idle_timeout_ms, 0);
    }
}


/*
 * Runs after every curl call that may complete transfers: finishes what
 * curl reports done, then releases and adds what callbacks deferred.
 */
static void process(struct sv_httpc *c)
{
    struct sv_httpc_req *r;
    struct sv_httpc_req *next;
    CURLMsg *msg;
    CURLcode res;
    CURLMcode mc;
    int left;

    SV_ASSERT(c->in_curl == 0);
    while (!c->is_freeing &&
           (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        /* msg dies when its easy handle is removed; copy what we need. */
        res = msg->data.result;
        r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        SV_ASSERT(r != NULL);
        if (r->is_done) {
            release(r);
            continue;
        }
        finish(r, result_to_errno(r, res));
    }
    if (c->is_freeing)
        return;
    for (r = c->reqs; r != NULL; r = next) {
        next = r->next;
        if (r->is_done) {
            release(r);
        } else if (!r->is_added) {
            mc = curl_multi_add_handle(c->multi, r->easy);
            if (mc != CURLM_OK) {
                snprintf(r->errbuf, sizeof(r->errbuf), "%s",
                         curl_multi_strerror(mc));
                finish(r, -EPROTO);
            } else {
                r->is_added = true;
            }
        }
    }
}


static void action(struct sv_httpc *c, curl_socket_t fd, int flags)
{
    int running = 0;
    CURLMcode mc;

    c->in_curl++;
    mc = curl_multi_socket_action(c->multi, fd, flags, &running);
    c->in_curl--;
    if (mc != CURLM_OK)
        sv_log(SV_LOG_WARN, "httpc: socket action: %s",
               curl_multi_strerror(mc));
    process(c);
}


static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock_ctx *s = h->data;
    int flags = 0;

    /* libuv stops the poll on an error; curl must hear of it, or the
     * transfer would wait for its timeout. */
    if (status < 0)
        flags |= CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    action(s->c, s->fd, flags);
}


static void on_sock_close(uv_handle_t *h)
{
    struct sock_ctx *s = h->data;
    struct sv_httpc *c = s->c;

    free(s);
    handle_closed(c);
}


static void sock_close(struct sock_ctx *s)
{
    struct sv_httpc *c = s->c;

    if (s->is_closing)
        return;
    s->is_closing = true;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_close);
}


/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching socket fd. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    struct sv_httpc *c = userp;
    struct sock_ctx *s = socketp;
    int events = 0;
    int rc;

    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            sock_close(s);
            if (c->multi != NULL)
                curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = sv_xcalloc(1, sizeof(*s));
        rc = uv_poll_init_socket(c->loop, &s->poll, fd);
        if (rc < 0) {
            sv_log(SV_LOG_WARN, "httpc: cannot poll socket %d: %s", (int)fd,
                   uv_strerror(rc));
            free(s);
            return -1; /* curl aborts every transfer */
        }
        s->poll.data = s;
        s->c = c;
        s->fd = fd;
        s->next = c->socks;
        if (c->socks != NULL)
            c->socks->prev = s;
        c->socks = s;
        c->open_handles++;
        curl_multi_assign(c->multi, fd, s);
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}


static void on_timeout(uv_timer_t *t)
{
    struct sv_httpc *c = t->data;

    action(c, CURL_SOCKET_TIMEOUT, 0);
}


static void on_kick(uv_idle_t *idle)
{
    struct sv_httpc *c = idle->data;

    uv_idle_stop(idle);
    action(c, CURL_SOCKET_TIMEOUT, 0);
}


/*
 * CURLMOPT_TIMERFUNCTION: curl wants on_timeout in timeout_ms (-1: not at
 * all). This must not call curl. A zero timeout is what every new
 * request asks for; it runs from an idle handle in the next loop turn, at
 * once (a 1 ms timer would cost each request 1-2 ms, since the loop's
 * clock counts whole milliseconds) and without spinning inside one turn
 * when curl asks for zero again.
 */
static int on_multi_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct sv_httpc *c = userp;

    uv_timer_stop(&c->timer);
    uv_idle_stop(&c->kick);
    if (timeout_ms == 0)
        uv_idle_start(&c->kick, on_kick);
    else if (timeout_ms > 0)
        uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}


/*
 * CURLOPT_HEADERFUNCTION: one header line at a time, status lines and the
 * blank line that ends a block included. Each status line starts a new
 * block, so interim responses (100 Continue) and proxy CONNECT answers
 * are forgotten; lines after the final block (trailers) are ignored,
 * which keeps the stored values from moving.
 */
static size_t on_header(char *line, size_t size, size_t n, void *userp)
{
    struct sv_httpc_req *r = userp;
    size_t len = size * n;
    size_t name_len;
    const char *colon;
    const char *value;
    const char *end;

    if (r->is_done)
        return 0;
    touch(r);
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', len);

        sv_buf_reset(&r->resp_headers);
        r->has_final_headers = false;
        r->pending_status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
        return len;
    }
    if (r->has_final_headers)
        return len;
    end = line + len;
    while (end > line && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    if (end == line) {
        if (r->pending_status >= 200) {
            r->status = r->pending_status;
            r->has_final_headers = true;
        }
        return len;
    }
    colon = memchr(line, ':', (size_t)(end - line));
    if (colon == NULL || line[0] == ' ' || line[0] == '\t')
        return len; /* not a header, or obsolete line folding */
    name_len = (size_t)(colon - line);
    value = colon + 1;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    sv_buf_append(&r->resp_headers, line, name_len);
    sv_buf_append(&r->resp_headers, "", 1);
    sv_buf_append(&r->resp_headers, value, (size_t)(end - value));
    sv_buf_append(&r->resp_headers, "", 1);
    return len;
}


/* CURLOPT_WRITEFUNCTION: body bytes, passed on to on_data. */
static size_t on_write(char *data, size_t size, size_t n, void *userp)
{
    struct sv_httpc_req *r = userp;
    size_t len = size * n;

    if (r->is_done)
        return CURL_WRITEFUNC_ERROR;
    touch(r);
    if (r->on_data != NULL && len > 0 && r->on_data(r->arg, data, len) != 0) {
        r->is_aborted = true;
        return CURL_WRITEFUNC_ERROR;
    }
    /* on_data may have cancelled this very request. */
    return r->is_done ? CURL_WRITEFUNC_ERROR : len;
}


/*
 * Checks url and writes its loggable form (no user, password, query or
 * fragment) to *log_url. Returns 0 or -EINVAL.
 */
static int check_url(const char *url, char **log_url)
{
    CURLU *u = curl_url();
    char *scheme = NULL;
    char *clean = NULL;
    int rc = -EINVAL;

    if (u == NULL)
        abort(); /* only out of memory */
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        goto out;
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        goto out;
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    curl_url_set(u, CURLUPART_QUERY, NULL, 0);
    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    if (curl_url_get(u, CURLUPART_URL, &clean, 0) != CURLUE_OK)
        goto out;
    *log_url = sv_xstrdup(clean);
    rc = 0;

out:
    curl_free(clean);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}


static bool has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}


/* Sets the method and body options on r->easy. */
static void set_method(struct sv_httpc_req *r, const char *method)
{
    bool is_get = strcmp(method, "GET") == 0;
    bool is_head = strcmp(method, "HEAD") == 0;

    if (r->body != NULL || strcmp(method, "POST") == 0) {
        /* Our own copy, so that we can wipe it (COPYPOSTFIELDS could not). */
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)r->body_len);
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS,
                         r->body != NULL ? r->body : "");
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
    } else if (is_head) {
        curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
    } else if (!is_get) {
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
    }
}


int sv_httpc_new(struct sv_httpc **out, uv_loop_t *loop)
{
    const curl_version_info_data *info;
    struct sv_httpc *c;
    CURLcode res;
    int rc = 0;

    /* Reference counted and, since 7.84, thread-safe. */
    res = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (res != CURLE_OK) {
        sv_log(SV_LOG_ERR, "httpc: curl_global_init: %s",
               curl_easy_strerror(res));
        return -ENOMEM;
    }
    info = curl_version_info(CURLVERSION_NOW);
    if (!(info->features & CURL_VERSION_ASYNCHDNS)) {
        sv_log(SV_LOG_WARN,
               "httpc: libcurl %s lacks AsynchDNS: name "
               "lookups will block the loop",
               info->version);
    }
    c = sv_xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_multi_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_idle_init(loop, &c->kick);
    c->kick.data = c;
    c->open_handles = 2;
    *out = c;

out:
    if (rc < 0) {
        free(c);
        curl_global_cleanup();
    }
    return rc;
}


int sv_httpc_start(struct sv_httpc *c, const struct sv_httpc_opts *o,
                   struct sv_httpc_req **out)
{
    struct sv_httpc_req *r = NULL;
    struct curl_slist *l;
    char *log_url = NULL;
    CURLMcode mc;
    int rc = 0;

    if (c->is_freeing)
        return -ECANCELED;
    if (o->method == NULL || o->url == NULL || o->on_done == NULL ||
        strlen(o->method) >= sizeof(r->method) || has_crlf(o->method))
        return -EINVAL;
    for (size_t i = 0; o->headers != NULL && o->headers[i] != NULL; i++) {
        if (has_crlf(o->headers[i]))
            return -EINVAL;
    }
    rc = check_url(o->url, &log_url);
    if (rc < 0)
        return rc;

    r = sv_xcalloc(1, sizeof(*r));
    r->c = c;
    r->log_url = log_url;
    snprintf(r->method, sizeof(r->method), "%s", o->method);
    r->on_data = o->on_data;
    r->on_done = o->on_done;
    r->arg = o->arg;
    r->idle_timeout_ms = o->idle_timeout_ms;
    r->easy = curl_easy_init();
    if (r->easy == NULL)
        abort(); /* only out of memory */
    for (size_t i = 0; o->headers != NULL && o->headers[i] != NULL; i++) {
        l = curl_slist_append(r->headers, o->headers[i]);
        if (l == NULL)
            abort();
        r->headers = l;
    }
    if (o->body != NULL) {
        r->body = sv_xmalloc(o->body_len + 1);
        memcpy(r->body, o->body, o->body_len);
        r->body[o->body_len] = '\0';
        r->body_len = o->body_len;
    }

    curl_easy_setopt(r->easy, CURLOPT_URL, o->url);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)o->connect_timeout_ms);
    set_method(r, o->method);

    uv_timer_init(c->loop, &r->idle_timer);
    r->idle_timer.data = r;
    c->open_handles++;
    r->next = c->reqs;
    if (c->reqs != NULL)
        c->reqs->prev = r;
    c->reqs = r;
    touch(r);

    /* Inside a curl callback the add waits for process(). */
    if (c->in_curl == 0) {
        mc = curl_multi_add_handle(c->multi, r->easy);
        if (mc != CURLM_OK) {
            sv_log(SV_LOG_WARN, "httpc: cannot add %s: %s", r->log_url,
                   curl_multi_strerror(mc));
            r->is_done = true; /* no on_done for a failed start */
            release(r);
            return -EPROTO;
        }
        r->is_added = true;
    }
    if (out != NULL)
        *out = r;
    return rc;
}


long sv_httpc_status(const struct sv_httpc_req *r)
{
    return r->status;
}


const char *sv_httpc_header(const struct sv_httpc_req *r, const char *name)
{
    const char *p = r->resp_headers.data;
    const char *end = p + r->resp_headers.len;
    const char *value;

    if (!r->has_final_headers || p == NULL)
        return NULL;
    while (p < end) {
        value = p + strlen(p) + 1;
        if (strcasecmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}


void sv_httpc_cancel(struct sv_httpc_req *r)
{
    finish(r, -ECANCELED);
}


static void on_timer_close(uv_handle_t *h)
{
    handle_closed(h->data);
}


void sv_httpc_free(struct sv_httpc *c)
{
    struct sv_httpc_req *r;
    CURLM *multi;

    if (c == NULL)
        return;
    SV_ASSERT(c->in_curl == 0 && !c->is_freeing);
    c->is_freeing = true;
    /* Each on_done may cancel others, so take the head every time. */
    while ((r = c->reqs) != NULL) {
        if (!r->is_done)
            finish(r, -ECANCELED);
        else
            release(r);
    }
    /* on_socket sees NULL and leaves the dying multi handle alone. */
    multi = c->multi;
    c->multi = NULL;
    curl_multi_cleanup(multi);
    /* Cleanup normally removed every socket already; close any left. */
    while (c->socks != NULL)
        sock_close(c->socks);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_close);
    uv_close((uv_handle_t *)&c->kick, on_timer_close);
    curl_global_cleanup();
}
