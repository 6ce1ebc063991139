/*
 * test_keycheck.c - provider key checks against fake_http.py, which
 * answers each provider's check path the way that provider does.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "check.h"
#include "fake_http.h"
#include "providers/httpc.h"
#include "providers/keycheck.h"
#include "providers/registry.h"
#include "util/alloc.h"
#include "util/misc.h"

struct env {
    struct fake_http fake;
    uv_loop_t loop;
    struct sv_httpc *c;
    int pending;
};

struct answer {
    struct env *e;
    int calls;
    int result;
    uint64_t done_ms;
};


static void env_init(struct env *e)
{
    CHECK(sodium_init() >= 0); /* the key header lives in guarded memory */
    fake_http_start(&e->fake);
    CHECK_EQ(uv_loop_init(&e->loop), 0);
    CHECK_EQ(sv_httpc_new(&e->c, &e->loop), 0);
    e->pending = 0;
}


static void env_close(struct env *e)
{
    while (e->pending > 0)
        uv_run(&e->loop, UV_RUN_ONCE);
    sv_httpc_free(e->c);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&e->loop), 0);
    fake_http_stop(&e->fake);
}


static void on_answer(void *arg, int result)
{
    struct answer *a = arg;

    a->calls++;
    a->result = result;
    a->done_ms = sv_now_ms();
    a->e->pending--;
}


/* Starts a check of key for provider id at base_fmt formatted with port
 * (a "%d" placeholder), answering into a. */
static void check_key_at(struct env *e, struct answer *a, const char *id,
                         const char *base_fmt, int port, const char *key,
                         unsigned timeout_ms)
{
    const struct sv_provider_info *p = sv_provider_find(id);
    char *base = sv_xasprintf(base_fmt, port);

    CHECK(p != NULL);
    a->e = e;
    CHECK_EQ(
        sv_keycheck_start(e->c, p, base, key, timeout_ms, on_answer, a, NULL),
        0);
    e->pending++;
    free(base);
}


/* The same at the fake server's port. */
static void check_key(struct env *e, struct answer *a, const char *id,
                      const char *base_fmt, const char *key,
                      unsigned timeout_ms)
{
    check_key_at(e, a, id, base_fmt, e->fake.port, key, timeout_ms);
}


/* Runs a good and a bad key for one provider side by side. */
static void good_and_bad(const char *id, const char *base_fmt)
{
    struct env e;
    struct answer good = {0};
    struct answer bad = {0};

    env_init(&e);
    check_key(&e, &good, id, base_fmt, "good-key", 3000);
    check_key(&e, &bad, id, base_fmt, "bad-key", 3000);
    env_close(&e);
    CHECK_EQ(good.calls, 1);
    CHECK_EQ(good.result, 0);
    CHECK_EQ(bad.calls, 1);
    CHECK_EQ(bad.result, -EACCES);
}


SV_TEST(deepgram)
{
    /* The streaming base is a WebSocket URL; the check goes over HTTP. */
    good_and_bad("deepgram", "ws://127.0.0.1:%d");
}


SV_TEST(openai)
{
    /* The base already ends in /v1; "/models" is appended to it. */
    good_and_bad("openai", "http://127.0.0.1:%d/v1");
}


SV_TEST(elevenlabs)
{
    /* A trailing slash on the base must not double up. */
    good_and_bad("elevenlabs", "http://127.0.0.1:%d/");
}


SV_TEST(resend)
{
    struct env e;
    struct answer full = {0};
    struct answer send_only = {0};
    struct answer bad = {0};

    env_init(&e);
    check_key(&e, &full, "resend", "http://127.0.0.1:%d", "good-key", 3000);
    check_key(&e, &send_only, "resend", "http://127.0.0.1:%d", "send-key",
              3000);
    check_key(&e, &bad, "resend", "http://127.0.0.1:%d", "bad-key", 3000);
    env_close(&e);
    CHECK_EQ(full.result, 0);
    /* 401 restricted_api_key: valid, only limited to sending. */
    CHECK_EQ(send_only.result, 0);
    CHECK_EQ(bad.result, -EACCES);
}


SV_TEST(hang)
{
    struct env e;
    struct answer a = {0};
    uint64_t t0;

    env_init(&e);
    t0 = sv_now_ms();
    check_key(&e, &a, "openai", "http://127.0.0.1:%d/hang/v1", "good-key", 300);
    env_close(&e);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.result, -ETIMEDOUT);
    CHECK_INT(a.done_ms - t0, >=, 250);
    CHECK_INT(a.done_ms - t0, <, 2000);
}


SV_TEST(unreachable)
{
    struct env e;
    struct answer a = {0};

    env_init(&e);
    check_key_at(&e, &a, "deepgram", "wss://127.0.0.1:%d",
                 fake_http_closed_port(), "good-key", 3000);
    env_close(&e);
    CHECK_EQ(a.result, -ECONNREFUSED);
}


SV_TEST(server_error)
{
    struct env e;
    struct answer a = {0};

    env_init(&e);
    check_key(&e, &a, "elevenlabs", "http://127.0.0.1:%d/fail", "good-key",
              3000);
    env_close(&e);
    CHECK_EQ(a.result, -EPROTO);
}


SV_TEST(rate_limited)
{
    struct env e;
    struct answer a = {0};

    env_init(&e);
    check_key(&e, &a, "deepgram", "http://127.0.0.1:%d/limit", "any-key", 3000);
    env_close(&e);
    /* A 429 comes after authentication: the key counts as accepted. */
    CHECK_EQ(a.result, 0);
}


SV_TEST(cancel)
{
    struct env e;
    struct answer a = {.e = NULL};
    struct sv_keycheck *k = NULL;
    char *base;

    env_init(&e);
    a.e = &e;
    base = sv_xasprintf("http://127.0.0.1:%d/hang", e.fake.port);
    CHECK_EQ(sv_keycheck_start(e.c, sv_provider_find("resend"), base,
                               "good-key", 0, on_answer, &a, &k),
             0);
    e.pending++;
    free(base);
    CHECK(k != NULL);
    sv_keycheck_cancel(k);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.result, -ECANCELED);
    env_close(&e);
    CHECK_EQ(a.calls, 1);
}


SV_TEST(bad_args)
{
    struct env e;
    struct answer a = {0};
    const struct sv_provider_info *p = sv_provider_find("openai");

    env_init(&e);
    a.e = &e;
    CHECK_EQ(sv_keycheck_start(e.c, p, NULL, "", 1000, on_answer, &a, NULL),
             -EINVAL);
    CHECK_EQ(sv_keycheck_start(e.c, p, NULL, "sk-a\r\nX-Evil: 1", 1000,
                               on_answer, &a, NULL),
             -EINVAL);
    CHECK_EQ(sv_keycheck_start(e.c, p, "ftp://127.0.0.1/v1", "sk-a", 1000,
                               on_answer, &a, NULL),
             -EINVAL);
    env_close(&e);
    CHECK_EQ(a.calls, 0);
}


SV_TEST_MAIN(SV_CASE(deepgram), SV_CASE(openai), SV_CASE(elevenlabs),
             SV_CASE(resend), SV_CASE(hang), SV_CASE(unreachable),
             SV_CASE(server_error), SV_CASE(rate_limited), SV_CASE(cancel),
             SV_CASE(bad_args))
