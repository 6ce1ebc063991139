/*
 * test_httpc.c - the curl-on-libuv HTTP client against fake_http.py.
 *
 * Each case runs its own fake server and loop, and ends with every
 * handle closed: uv_loop_close() must return 0.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "check.h"
#include "fake_http.h"
#include "providers/httpc.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/misc.h"

/* What one request saw. */
struct result {
    struct sv_httpc_req *req;
    struct sv_buf body;
    int data_calls;
    int done_calls;
    int err;
    long status;
    long status_in_data; /* sv_httpc_status() during the first on_data */
    char x_test[32];     /* X-Test, copied in on_done ("" if absent) */
    char content_type[64];
    bool has_interim; /* X-Interim was visible in on_done */
    uint64_t done_ms;
    /* Behaviour switches for the callbacks. */
    bool cancel_in_data;
    bool abort_in_data;
    void (*then)(struct result *res); /* run at the end of on_done */
    void *ctx;
};

struct env {
    struct fake_http fake;
    uv_loop_t loop;
    struct sv_httpc *c;
    int pending; /* requests whose on_done has not run yet */
};


static void env_init(struct env *e)
{
    fake_http_start(&e->fake);
    CHECK_EQ(uv_loop_init(&e->loop), 0);
    CHECK_EQ(sv_httpc_new(&e->c, &e->loop), 0);
    e->pending = 0;
}


/* Runs the loop until every started request is done. */
static void env_wait(struct env *e)
{
    while (e->pending > 0)
        uv_run(&e->loop, UV_RUN_ONCE);
}


static void env_close(struct env *e)
{
    sv_httpc_free(e->c);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&e->loop), 0);
    fake_http_stop(&e->fake);
}


static char *url_of(struct env *e, const char *path)
{
    return sv_xasprintf("http://127.0.0.1:%d%s", e->fake.port, path);
}


static int on_data(void *arg, const char *data, size_t len)
{
    struct result *res = arg;

    CHECK_EQ(res->done_calls, 0);
    if (res->data_calls == 0)
        res->status_in_data = sv_httpc_status(res->req);
    res->data_calls++;
    sv_buf_append(&res->body, data, len);
    if (res->cancel_in_data) {
        sv_httpc_cancel(res->req);
        /* on_done ran inside the call; a second call changes nothing. */
        CHECK_EQ(res->done_calls, 1);
        CHECK_EQ(res->err, -ECANCELED);
        sv_httpc_cancel(res->req);
        CHECK_EQ(res->done_calls, 1);
        return 0;
    }
    return res->abort_in_data ? 1 : 0;
}


static void copy_header(struct result *res, const char *name, char *out,
                        size_t size)
{
    const char *v = sv_httpc_header(res->req, name);

    snprintf(out, size, "%s", v != NULL ? v : "");
}


static void on_done(void *arg, int err, long status)
{
    struct result *res = arg;
    struct env *e = res->ctx;

    res->done_calls++;
    res->err = err;
    res->status = status;
    res->done_ms = sv_now_ms();
    copy_header(res, "X-Test", res->x_test, sizeof(res->x_test));
    copy_header(res, "content-type", res->content_type,
                sizeof(res->content_type));
    res->has_interim = sv_httpc_header(res->req, "X-Interim") != NULL;
    e->pending--;
    if (res->then != NULL)
        res->then(res);
}


/* Starts a request for res on e; returns sv_httpc_start()'s result. */
static int start(struct env *e, struct result *res, const char *method,
                 const char *path, const struct sv_httpc_opts *extra)
{
    struct sv_httpc_opts o = {0};
    char *url = url_of(e, path);
    int rc;

    if (extra != NULL)
        o = *extra;
    o.method = method;
    o.url = url;
    o.on_data = on_data;
    o.on_done = on_done;
    o.arg = res;
    res->ctx = e;
    rc = sv_httpc_start(e->c, &o, &res->req);
    if (rc == 0)
        e->pending++;
    free(url);
    return rc;
}


static void result_free(struct result *res)
{
    sv_buf_free(&res->body);
}


SV_TEST(get_ok)
{
    struct env e;
    struct result res = {0};

    env_init(&e);
    CHECK_EQ(start(&e, &res, "GET", "/ok", NULL), 0);
    env_wait(&e);
    CHECK_EQ(res.done_calls, 1);
    CHECK_EQ(res.err, 0);
    CHECK_EQ(res.status, 200);
    CHECK_EQ(res.status_in_data, 200);
    CHECK_STR(res.body.data, "{\"ok\": true}");
    env_close(&e);
    result_free(&res);
}


SV_TEST(headers)
{
    struct env e;
    struct result res = {0};

    env_init(&e);
    CHECK_EQ(start(&e, &res, "GET", "/ok", NULL), 0);
    env_wait(&e);
    CHECK_EQ(res.err, 0);
    /* Looked up in on_done, by names in any case. */
    CHECK_STR(res.x_test, "hello");
    CHECK_STR(res.content_type, "application/json");
    CHECK(!res.has_interim);
    env_close(&e);
    result_free(&res);
}


SV_TEST(expect_continue)
{
    static const char *const headers[] = {"Expect: 100-continue", NULL};
    struct sv_httpc_opts o = {.headers = headers, .body = "abc", .body_len = 3};
    struct env e;
    struct result res = {0};

    env_init(&e);
    CHECK_EQ(start(&e, &res, "POST", "/echo", &o), 0);
    env_wait(&e);
    CHECK_EQ(res.err, 0);
    CHECK_EQ(res.status, 200);
    CHECK_EQ(res.status_in_data, 200);
    /* The 100 response's header was dropped with it. */
    CHECK(!res.has_interim);
    CHECK_STR(res.content_type, "application/json");
    CHECK(strstr(res.body.data, "\"body\": \"abc\"") != NULL);
    env_close(&e);
    result_free(&res);
}


SV_TEST(post_echo)
{
    static const char body[] = "one\0two";
    static const char *const headers[] = {"X-Key: not-logged", NULL};
    struct sv_httpc_opts o = {
        .headers = headers, .body = body, .body_len = sizeof(body) - 1};
    struct env e;
    struct result post = {0};
    struct result put = {0};

    env_init(&e);
    CHECK_EQ(start(&e, &post, "POST", "/echo", &o), 0);
    CHECK_EQ(start(&e, &put, "PUT", "/echo", &o), 0);
    env_wait(&e);
    CHECK_EQ(post.err, 0);
    CHECK(strstr(post.body.data, "\"method\": \"POST\"") != NULL);
    CHECK(strstr(post.body.data, "\"body\": \"one\\u0000two\"") != NULL);
    CHECK(strstr(post.body.data, "\"user_agent\": \"sovereignd/") != NULL);
    CHECK(strstr(post.body.data, "\"x_key\": \"not-logged\"") != NULL);
    CHECK_EQ(put.err, 0);
    CHECK(strstr(put.body.data, "\"method\": \"PUT\"") != NULL);
    CHECK(strstr(put.body.data, "\"body\": \"one\\u0000two\"") != NULL);
    env_close(&e);
    result_free(&post);
    result_free(&put);
}


SV_TEST(status_codes)
{
    struct env e;
    struct result r404 = {0};
    struct result r503 = {0};

    env_init(&e);
    CHECK_EQ(start(&e, &r404, "GET", "/status/404", NULL), 0);
    CHECK_EQ(start(&e, &r503, "GET", "/status/503", NULL), 0);
    env_wait(&e);
    /* An HTTP error status is a complete answer, not a failure. */
    CHECK_EQ(r404.err, 0);
    CHECK_EQ(r404.status, 404);
    CHECK_STR(r404.body.data, "{\"status\": 404}");
    CHECK_EQ(r503.err, 0);
    CHECK_EQ(r503.status, 503);
    env_close(&e);
    result_free(&r404);
    result_free(&r503);
}


SV_TEST(chunked)
{
    struct sv_httpc_opts o = {.idle_timeout_ms = 2000};
    struct env e;
    struct result res = {0};

    env_init(&e);
    CHECK_EQ(start(&e, &res, "GET", "/chunked?n=6&ms=30", &o), 0);
    env_wait(&e);
    CHECK_EQ(res.err, 0);
    CHECK_EQ(res.status, 200);
    CHECK_STR(res.body.data, "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n"
                             "chunk 5\n");
    /* 30 ms apart, the chunks come in separate reads, not all at the end. */
    CHECK_INT(res.data_calls, >=, 3);
    env_close(&e);
    result_free(&res);
}


SV_TEST(drop)
{
    struct env e;
    struct result res = {0};

    env_init(&e);
    CHECK_EQ(start(&e, &res, "GET", "/drop", NULL), 0);
    env_wait(&e);
    CHECK_EQ(res.err, -ECONNRESET);
    CHECK_EQ(res.status, 200);
    CHECK_STR(res.body.data, "0123456789");
    env_close(&e);
    result_free(&res);
}


SV_TEST(hang_timeout)
{
    struct sv_httpc_opts o = {.timeout_ms = 300};
    struct env e;
    struct result res = {0};
    uint64_t t0;

    env_init(&e);
    t0 = sv_now_ms();
    CHECK_EQ(start(&e, &res, "GET", "/hang", &o), 0);
    env_wait(&e);
    CHECK_EQ(res.err, -ETIMEDOUT);
    CHECK_EQ(res.status, 0);
    CHECK_INT(res.done_ms - t0, >=, 250);
    CHECK_INT(res.done_ms - t0, <, 2000);
    env_close(&e);
    result_free(&res);
}


SV_TEST(idle_timeout)
{
    struct sv_httpc_opts o = {.idle_timeout_ms = 200};
    struct env e;
    struct result res = {0};
    uint64_t t0;

    env_init(&e);
    t0 = sv_now_ms();
    CHECK_EQ(start(&e, &res, "GET", "/stall", &o), 0);
    env_wait(&e);
    CHECK_EQ(res.err, -ETIMEDOUT);
    CHECK_EQ(res.status, 200);
    CHECK_STR(res.body.data, "chunk 0\n");
    CHECK_INT(res.done_ms - t0, >=, 200);
    CHECK_INT(res.done_ms - t0, <, 2000);
    env_close(&e);
    result_free(&res);
}


SV_TEST(refused)
{
    struct env e;
    struct result res = {0};
    struct sv_httpc_opts o = {0};
    char *url;

    env_init(&e);
    url = sv_xasprintf("http://127.0.0.1:%d/ok", fake_http_closed_port());
    o.method = "GET";
    o.url = url;
    o.on_data = on_data;
    o.on_done = on_done;
    o.arg = &res;
    res.ctx = &e;
    CHECK_EQ(sv_httpc_start(e.c, &o, &res.req), 0);
    e.pending++;
    free(url);
    env_wait(&e);
    CHECK_EQ(res.done_calls, 1);
    CHECK_EQ(res.err, -ECONNREFUSED);
    CHECK_EQ(res.status, 0);
    CHECK_EQ(res.data_calls, 0);
    env_close(&e);
    result_free(&res);
}


SV_TEST(cancel_in_data)
{
    struct env e;
    struct result res = {.cancel_in_data = true};

    env_init(&e);
    CHECK_EQ(start(&e, &res, "GET", "/chunked?n=10&ms=20", NULL), 0);
    env_wait(&e);
    CHECK_EQ(res.done_calls, 1);
    CHECK_EQ(res.err, -ECANCELED);
    CHECK_EQ(res.data_calls, 1);
    CHECK_STR(res.body.data, "chunk 0\n");
    env_close(&e);
    result_free(&res);
}


SV_TEST(abort_in_data)
{
    struct env e;
    struct result res = {.abort_in_data = true};

    env_init(&e);
    CHECK_EQ(start(&e, &res, "GET", "/chunked?n=10&ms=20", NULL), 0);
    env_wait(&e);
    CHECK_EQ(res.done_calls, 1);
    CHECK_EQ(res.err, -ECANCELED);
    CHECK_EQ(res.data_calls, 1);
    env_close(&e);
    result_free(&res);
}


static void on_cancel_timer(uv_timer_t *t)
{
    struct result *res = t->data;

    sv_httpc_cancel(res->req);
    CHECK_EQ(res->done_calls, 1);
    uv_close((uv_handle_t *)t, NULL);
}


SV_TEST(cancel)
{
    struct env e;
    struct result now = {0};
    struct result later = {0};
    uv_timer_t timer;

    env_init(&e);
    /* Cancelled before the loop ever ran. */
    CHECK_EQ(start(&e, &now, "GET", "/hang", NULL), 0);
    sv_httpc_cancel(now.req);
    CHECK_EQ(now.done_calls, 1);
    CHECK_EQ(now.err, -ECANCELED);
    /* Cancelled from a timer while the server sits on the request. */
    CHECK_EQ(start(&e, &later, "GET", "/hang", NULL), 0);
    uv_timer_init(&e.loop, &timer);
    timer.data = &later;
    uv_timer_start(&timer, on_cancel_timer, 100, 0);
    env_wait(&e);
    CHECK_EQ(later.done_calls, 1);
    CHECK_EQ(later.err, -ECANCELED);
    CHECK_EQ(now.done_calls, 1);
    env_close(&e);
    result_free(&now);
    result_free(&later);
}


/* start_in_callback: a starts b from on_data, b starts c from on_done. */
struct chain {
    struct env *e;
    struct result a, b, c;
    bool has_started_b;
};


static int on_chain_data(void *arg, const char *data, size_t len)
{
    struct chain *ch = arg;

    sv_buf_append(&ch->a.body, data, len);
    if (!ch->has_started_b) {
        ch->has_started_b = true;
        CHECK_EQ(start(ch->e, &ch->b, "GET", "/ok", NULL), 0);
    }
    return 0;
}


static void on_chain_done(void *arg, int err, long status)
{
    struct chain *ch = arg;

    ch->a.done_calls++;
    ch->a.err = err;
    ch->a.status = status;
    ch->e->pending--;
}


static void start_c(struct result *res)
{
    struct chain *ch = sv_container_of(res, struct chain, b);

    CHECK_EQ(start(ch->e, &ch->c, "GET", "/status/201", NULL), 0);
}


SV_TEST(start_in_callback)
{
    struct env e;
    struct chain ch = {.e = &e};
    struct sv_httpc_opts o = {0};
    char *url;

    env_init(&e);
    url = url_of(&e, "/chunked?n=3&ms=20");
    o.method = "GET";
    o.url = url;
    o.on_data = on_chain_data;
    o.on_done = on_chain_done;
    o.arg = &ch;
    ch.b.then = start_c;
    CHECK_EQ(sv_httpc_start(e.c, &o, NULL), 0);
    e.pending++;
    free(url);
    env_wait(&e);
    CHECK_EQ(ch.a.err, 0);
    CHECK_STR(ch.a.body.data, "chunk 0\nchunk 1\nchunk 2\n");
    CHECK_EQ(ch.b.done_calls, 1);
    CHECK_EQ(ch.b.err, 0);
    CHECK_EQ(ch.b.status, 200);
    CHECK_EQ(ch.c.done_calls, 1);
    CHECK_EQ(ch.c.err, 0);
    CHECK_EQ(ch.c.status, 201);
    env_close(&e);
    result_free(&ch.a);
    result_free(&ch.b);
    result_free(&ch.c);
}


/* free_inflight: the first streamed byte schedules sv_httpc_free(). */
struct freeing {
    struct env *e;
    uv_timer_t timer;
    bool has_freed;
    int start_after_free; /* sv_httpc_start() from an on_done during free */
};


static void on_free_timer(uv_timer_t *t)
{
    struct freeing *f = t->data;

    f->has_freed = true;
    sv_httpc_free(f->e->c);
    uv_close((uv_handle_t *)t, NULL);
}


static int on_free_data(void *arg, const char *data, size_t len)
{
    struct result *res = arg;
    struct freeing *f = res->ctx;

    res->data_calls++;
    if (!uv_is_active((uv_handle_t *)&f->timer) && !f->has_freed)
        uv_timer_start(&f->timer, on_free_timer, 0, 0);
    return 0;
}


static void on_free_done(void *arg, int err, long status)
{
    struct result *res = arg;
    struct freeing *f = res->ctx;
    struct sv_httpc_opts o = {0};

    res->done_calls++;
    res->err = err;
    f->e->pending--;
    o.method = "GET";
    o.url = "http://127.0.0.1:1/ok";
    o.on_done = on_free_done;
    o.arg = res;
    f->start_after_free = sv_httpc_start(f->e->c, &o, NULL);
}


SV_TEST(free_inflight)
{
    struct env e;
    struct freeing f = {.e = &e};
    struct result res[6] = {{0}};
    struct sv_httpc_opts o = {0};
    char *hang;
    char *stream;

    env_init(&e);
    hang = url_of(&e, "/hang");
    stream = url_of(&e, "/chunked?n=100&ms=20");
    uv_timer_init(&e.loop, &f.timer);
    f.timer.data = &f;
    for (int i = 0; i < 6; i++) {
        res[i].ctx = &f;
        o.method = "GET";
        o.url = i == 5 ? stream : hang;
        o.on_data = on_free_data;
        o.on_done = on_free_done;
        o.arg = &res[i];
        CHECK_EQ(sv_httpc_start(e.c, &o, &res[i].req), 0);
    }
    free(hang);
    free(stream);
    /* Runs until the free has happened and every handle has closed. */
    uv_run(&e.loop, UV_RUN_DEFAULT);
    CHECK(f.has_freed);
    CHECK_INT(res[5].data_calls, >=, 1);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(res[i].done_calls, 1);
        CHECK_EQ(res[i].err, -ECANCELED);
    }
    CHECK_EQ(f.start_after_free, -ECANCELED);
    CHECK_EQ(uv_loop_close(&e.loop), 0);
    fake_http_stop(&e.fake);
}


SV_TEST(many)
{
    enum { N = 50 };
    struct env e;
    struct result *res = sv_xcalloc(N, sizeof(*res));
    struct sv_httpc_opts o = {0};
    char body[32];
    char want[64];

    env_init(&e);
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "request %d", i);
        o.body = body;
        o.body_len = strlen(body);
        CHECK_EQ(start(&e, &res[i], "POST", "/echo", &o), 0);
    }
    env_wait(&e);
    for (int i = 0; i < N; i++) {
        snprintf(want, sizeof(want), "\"body\": \"request %d\"", i);
        CHECK_EQ(res[i].done_calls, 1);
        CHECK_EQ(res[i].err, 0);
        CHECK_EQ(res[i].status, 200);
        CHECK(strstr(res[i].body.data, want) != NULL);
        result_free(&res[i]);
    }
    env_close(&e);
    free(res);
}


SV_TEST(reuse)
{
    struct env e;
    struct result res[3] = {{0}};

    env_init(&e);
    /* One after another, so each finds the last one's idle connection. */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(start(&e, &res[i], "GET", "/conn", NULL), 0);
        env_wait(&e);
        CHECK_EQ(res[i].err, 0);
    }
    CHECK_STR(res[0].body.data, "{\"conn\": 1}");
    CHECK_STR(res[1].body.data, "{\"conn\": 1}");
    CHECK_STR(res[2].body.data, "{\"conn\": 1}");
    env_close(&e);
    for (int i = 0; i < 3; i++)
        result_free(&res[i]);
}


SV_TEST(bad_args)
{
    static const char *const bad_header[] = {"X-A: b\r\nX-C: d", NULL};
    struct env e;
    struct result res = {0};
    struct sv_httpc_opts o = {0};

    env_init(&e);
    o.method = "GET";
    o.on_done = on_done;
    o.arg = &res;
    CHECK_EQ(sv_httpc_start(e.c, &o, NULL), -EINVAL); /* no URL */
    o.url = "not a url";
    CHECK_EQ(sv_httpc_start(e.c, &o, NULL), -EINVAL);
    o.url = "ftp://127.0.0.1/x";
    CHECK_EQ(sv_httpc_start(e.c, &o, NULL), -EINVAL);
    o.url = "http://127.0.0.1:1/x";
    o.headers = bad_header;
    CHECK_EQ(sv_httpc_start(e.c, &o, NULL), -EINVAL);
    o.headers = NULL;
    o.on_done = NULL;
    CHECK_EQ(sv_httpc_start(e.c, &o, NULL), -EINVAL);
    CHECK_EQ(res.done_calls, 0);
    env_close(&e);
}


SV_TEST_MAIN(SV_CASE(get_ok), SV_CASE(headers), SV_CASE(expect_continue),
             SV_CASE(post_echo), SV_CASE(status_codes), SV_CASE(chunked),
             SV_CASE(drop), SV_CASE(hang_timeout), SV_CASE(idle_timeout),
             SV_CASE(refused), SV_CASE(cancel_in_data), SV_CASE(abort_in_data),
             SV_CASE(cancel), SV_CASE(start_in_callback),
             SV_CASE(free_inflight), SV_CASE(many), SV_CASE(reuse),
             SV_CASE(bad_args))
