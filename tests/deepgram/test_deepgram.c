/*
 * test_deepgram.c - the Deepgram adapter against the fake Deepgram.
 *
 * Each case builds a libuv loop with lws as a guest on it (a client vhost
 * listing sv_wsc_protocols, as the daemon does), starts dg_fake.py (the
 * fake of tests/fakes/fake_deepgram.py, its request log streamed to our
 * stdin as "LOG <json>" lines) and drives the adapter against it. Every
 * wait is for an event (an adapter callback or a log line), bounded by a
 * deadline timer; only the checks that nothing more happens run the loop
 * for a fixed time.
 *
 * The audio is made here: a voiced buzz (a 140 Hz tone with harmonics
 * whose loudness moves at syllable rate) between stretches of near
 * silence, which the fake's energy VAD turns into utterances.
 *
 * SPDX-License-Identifier: MIT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <uv.h>

#include "check.h"
#include "providers/adapters.h"
#include "providers/wsclient.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/log.h"

#define RATE_HZ       16000
#define CHUNK_SAMPLES (RATE_HZ / 50) /* 20 ms, as a call sends */
#define MAX_EVENTS    256

struct event {
    char kind; /* S speech, I interim, F final, P speech final, U, E */
    char text[128];
    int err;
};

struct t {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool is_late;
    struct lws_context *ctx; /* lws writes NULL here once destroyed */
    struct lws_vhost *vh;

    /* The fake, a child process. */
    uv_process_t proc;
    uv_pipe_t to_fake;
    uv_pipe_t from_fake;
    bool has_exited;
    int64_t exit_status;
    struct sv_buf line;
    int port;
    char url[64];
    const char *base_url; /* instead of url when set */
    json_t *log;          /* latest list of /v1/listen requests */
    int n_open;           /* TCP connections the fake has open */

    /* The adapter and what it reported. */
    struct sv_stt *stt;
    struct event ev[MAX_EVENTS];
    int n_ev;
    int n_error;
    int last_err;
    char why[256];
    bool want_free_on_interim;
    unsigned timeout_ms; /* handshake limit given to the adapter */
    size_t sent_bytes;
    uint64_t sample_pos;
    uint32_t noise;
};

static const char *const good_key = "good-key";


/* ---- the fake ---- */

static void on_fake_line(struct t *t, const char *s)
{
    if (strncmp(s, "PORT ", 5) == 0) {
        t->port = atoi(s + 5);
    } else if (strncmp(s, "LOG ", 4) == 0) {
        json_t *root = json_loads(s + 4, 0, NULL);
        json_t *listen = json_object_get(root, "listen");

        CHECK(json_is_array(listen));
        json_decref(t->log);
        t->log = json_incref(listen);
        t->n_open = (int)json_integer_value(json_object_get(root, "open"));
        json_decref(root);
    }
}


static void on_fake_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char mem[65536];

    buf->base = mem;
    buf->len = sizeof(mem);
}


static void on_fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct t *t = s->data;
    char *nl;

    if (n < 0) {
        uv_read_stop(s);
        return;
    }
    sv_buf_append(&t->line, buf->base, (size_t)n);
    while (t->line.len > 0 &&
           (nl = memchr(t->line.data, '\n', t->line.len)) != NULL) {
        *nl = '\0';
        on_fake_line(t, t->line.data);
        sv_buf_consume(&t->line, (size_t)(nl - t->line.data) + 1);
    }
}


static void on_fake_exit(uv_process_t *p, int64_t status, int sig)
{
    struct t *t = p->data;

    t->has_exited = true;
    t->exit_status = sig != 0 ? 128 + sig : status;
}


/* ---- waiting ---- */

static void on_deadline(uv_timer_t *timer)
{
    struct t *t = timer->data;

    t->is_late = true;
}


static void run_until(struct t *t, bool (*done)(struct t *), unsigned ms,
                      const char *what)
{
    t->is_late = false;
    uv_timer_start(&t->deadline, on_deadline, ms, 0);
    while (!done(t) && !t->is_late)
        uv_run(&t->loop, UV_RUN_ONCE);
    uv_timer_stop(&t->deadline);
    if (!done(t))
        SV_FAIL("timed out after %u ms waiting for %s", ms, what);
}

#define RUN_UNTIL(t, done, ms) run_until((t), (done), (ms), #done)


static bool never(struct t *t)
{
    return false;
}


/* Runs the loop for ms, to show that nothing more happens. */
static void run_for(struct t *t, unsigned ms)
{
    t->is_late = false;
    uv_timer_start(&t->deadline, on_deadline, ms, 0);
    while (!t->is_late)
        uv_run(&t->loop, UV_RUN_ONCE);
    (void)never;
}


static bool has_port(struct t *t)
{
    return t->port > 0;
}


static bool has_exited(struct t *t)
{
    return t->has_exited;
}


/* ---- the fake's log ---- */

static size_t n_req(struct t *t)
{
    return json_array_size(t->log);
}


static json_t *req(struct t *t, size_t i)
{
    return json_array_get(t->log, i);
}


static bool req_flag(struct t *t, size_t i, const char *name)
{
    return json_is_true(json_object_get(req(t, i), name));
}


static json_int_t req_int(struct t *t, size_t i, const char *name)
{
    return json_integer_value(json_object_get(req(t, i), name));
}


/* The one value of a query parameter of request i, or NULL. */
static const char *query1(struct t *t, size_t i, const char *name)
{
    json_t *q = json_object_get(json_object_get(req(t, i), "query_all"), name);

    if (json_array_size(q) != 1)
        return NULL;
    return json_string_value(json_array_get(q, 0));
}


static bool first_open(struct t *t)
{
    return n_req(t) >= 1 && req_int(t, 0, "status") == 101;
}


static bool second_open(struct t *t)
{
    return n_req(t) >= 2 && req_int(t, 1, "status") == 101;
}


static bool third_open(struct t *t)
{
    return n_req(t) >= 3 && req_int(t, 2, "status") == 101;
}


/* The log catches up with the adapter's events a little later. */
static bool second_heard(struct t *t)
{
    return second_open(t) && req_int(t, 1, "utterances") >= 1;
}


static bool first_closed(struct t *t)
{
    return n_req(t) >= 1 && req_flag(t, 0, "closed");
}


static bool dropped_and_retrying(struct t *t)
{
    return n_req(t) >= 2 && req_flag(t, 0, "closed");
}


static bool has_request(struct t *t)
{
    return n_req(t) >= 1;
}


static bool fake_idle(struct t *t)
{
    return t->n_open == 0;
}


static bool two_keepalives(struct t *t)
{
    return n_req(t) >= 1 && req_int(t, 0, "keepalives") >= 2;
}


/* ---- the adapter's callbacks ---- */

static void push(struct t *t, char kind, const char *text, int err)
{
    struct event *e;

    CHECK(t->n_ev < MAX_EVENTS);
    e = &t->ev[t->n_ev++];
    e->kind = kind;
    snprintf(e->text, sizeof(e->text), "%s", text != NULL ? text : "");
    e->err = err;
}


static void on_transcript(void *arg, const char *text, bool is_final,
                          bool is_speech_final)
{
    struct t *t = arg;
    char kind = is_final ? (is_speech_final ? 'P' : 'F') : 'I';

    CHECK(text != NULL);
    CHECK(!is_speech_final || is_final);
    push(t, kind, text, 0);
    if (kind == 'I' && t->want_free_on_interim) {
        /* The call may free the adapter from inside any callback. */
        t->want_free_on_interim = false;
        sv_stt_deepgram.free(t->stt);
        t->stt = NULL;
    }
}


static void on_speech_started(void *arg)
{
    push(arg, 'S', NULL, 0);
}


static void on_utterance_end(void *arg)
{
    push(arg, 'U', NULL, 0);
}


static void on_error(void *arg, int err, const char *why)
{
    struct t *t = arg;

    CHECK(why != NULL);
    CHECK(strstr(why, good_key) == NULL);
    push(t, 'E', why, err);
    t->n_error++;
    t->last_err = err;
    snprintf(t->why, sizeof(t->why), "%s", why);
}


static int count(struct t *t, char kind)
{
    int n = 0;

    for (int i = 0; i < t->n_ev; i++)
        n += t->ev[i].kind == kind;
    return n;
}


/* Index of the n-th (from 0) event of kind, or -1. */
static int nth(struct t *t, char kind, int n)
{
    for (int i = 0; i < t->n_ev; i++) {
        if (t->ev[i].kind == kind && n-- == 0)
            return i;
    }
    return -1;
}


static bool has_error(struct t *t)
{
    return t->n_error > 0;
}


static bool two_errors(struct t *t)
{
    return t->n_error >= 2;
}


static bool one_speech_final(struct t *t)
{
    return count(t, 'P') >= 1;
}


static bool two_speech_finals(struct t *t)
{
    return count(t, 'P') >= 2;
}


static bool two_utterance_ends(struct t *t)
{
    return count(t, 'U') >= 2;
}


static bool adapter_freed(struct t *t)
{
    return t->stt == NULL;
}


/* ---- set-up and tear-down ---- */

static void fake_start(struct t *t, const char *const *extra)
{
    const char *src = getenv("SV_SOURCE_DIR");
    char script[1024];
    char *args[32];
    size_t n = 0;
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];

    if (src == NULL)
        SV_SKIP("SV_SOURCE_DIR is not set (run through ctest)");
    snprintf(script, sizeof(script), "%s/tests/deepgram/dg_fake.py", src);
    args[n++] = "python3";
    args[n++] = script;
    for (; extra != NULL && *extra != NULL; extra++) {
        CHECK(n < SV_ARRAY_SIZE(args) - 1);
        args[n++] = (char *)*extra;
    }
    args[n] = NULL;

    uv_pipe_init(&t->loop, &t->to_fake, 0);
    uv_pipe_init(&t->loop, &t->from_fake, 0);
    t->from_fake.data = t;
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&t->to_fake;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&t->from_fake;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    memset(&po, 0, sizeof(po));
    po.file = "python3";
    po.args = args;
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = on_fake_exit;
    t->proc.data = t;
    CHECK_EQ(uv_spawn(&t->loop, &t->proc, &po), 0);
    CHECK_EQ(uv_read_start((uv_stream_t *)&t->from_fake, on_fake_alloc,
                           on_fake_read),
             0);
    RUN_UNTIL(t, has_port, 10000);
    snprintf(t->url, sizeof(t->url), "ws://127.0.0.1:%d", t->port);
}


static void t_init(struct t *t, const char *const *fake_args)
{
    struct lws_context_creation_info info;
    void *loops[1];

    memset(t, 0, sizeof(*t));
    sv_log_init(SV_LOG_WARN);
    lws_set_log_level(LLL_ERR, NULL);
    t->noise = 12345;
    CHECK_EQ(uv_loop_init(&t->loop), 0);
    uv_timer_init(&t->loop, &t->deadline);
    t->deadline.data = t;

    loops[0] = &t->loop;
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.foreign_loops = loops;
    info.pcontext = &t->ctx;
    info.max_http_header_data = 4096;
    info.timeout_secs = 10;
    t->ctx = lws_create_context(&info);
    CHECK(t->ctx != NULL);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = sv_wsc_protocols;
    info.vhost_name = "client";
    t->vh = lws_create_vhost(t->ctx, &info);
    CHECK(t->vh != NULL);
    /* lws initialises the vhost's protocols once the loop runs. */
    uv_run(&t->loop, UV_RUN_NOWAIT);
    CHECK(sv_wsc_context(t->vh) == t->ctx);

    fake_start(t, fake_args);
}


static const struct sv_stt_opts default_opts = {
    .model = "nova-3",
    .language = "en",
    .sample_rate_hz = RATE_HZ,
    .endpointing_ms = 300,
    .utterance_end_ms = 1000,
    .smart_format = true,
};


static void t_start(struct t *t, const char *key, bool is_byok,
                    const struct sv_stt_opts *opts)
{
    struct sv_provider_env env = {
        .loop = &t->loop,
        .ws_vhost = t->vh,
        .base_url = t->base_url != NULL ? t->base_url : t->url,
        .key = key,
        .is_byok = is_byok,
        .timeout_ms = t->timeout_ms > 0 ? t->timeout_ms : 5000,
        .tag = "test-call",
    };
    struct sv_stt_handlers h = {
        .transcript = on_transcript,
        .speech_started = on_speech_started,
        .utterance_end = on_utterance_end,
        .error = on_error,
        .arg = t,
    };

    CHECK(t->stt == NULL);
    CHECK_EQ(sv_stt_deepgram.alloc(&t->stt, &env,
                                   opts != NULL ? opts : &default_opts, &h),
             0);
    CHECK(t->stt != NULL);
}


static void t_close(struct t *t)
{
    sv_stt_deepgram.free(t->stt);
    t->stt = NULL;

    /* The fake stops when its stdin ends. */
    uv_close((uv_handle_t *)&t->to_fake, NULL);
    RUN_UNTIL(t, has_exited, 10000);
    CHECK_EQ(t->exit_status, 0);
    uv_close((uv_handle_t *)&t->from_fake, NULL);
    uv_close((uv_handle_t *)&t->proc, NULL);

    /* On a foreign loop lws finishes its destroy over loop runs. */
    for (int i = 0; i < 3 && t->ctx != NULL; i++) {
        lws_context_destroy(t->ctx);
        uv_run(&t->loop, UV_RUN_DEFAULT);
    }
    CHECK(t->ctx == NULL);
    uv_close((uv_handle_t *)&t->deadline, NULL);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&t->loop), 0);
    json_decref(t->log);
    sv_buf_free(&t->line);
}


/* ---- audio ---- */

/* Queues ms of voiced buzz or of near silence, in 20 ms chunks. */
static void feed(struct t *t, unsigned ms, bool is_voiced)
{
    size_t total = (size_t)RATE_HZ * ms / 1000;
    int16_t pcm[CHUNK_SAMPLES];

    for (size_t done = 0; done < total; done += CHUNK_SAMPLES) {
        size_t n = total - done < CHUNK_SAMPLES ? total - done : CHUNK_SAMPLES;

        for (size_t i = 0; i < n; i++) {
            double s = (double)(t->sample_pos + i) / RATE_HZ;
            double v;

            t->noise = t->noise * 1103515245u + 12345u;
            v = (double)((t->noise >> 16) % 61) - 30.0;
            if (is_voiced) {
                double env = 0.6 + 0.4 * sin(2 * M_PI * 4.0 * s);

                v += 9000.0 * env *
                     (0.6 * sin(2 * M_PI * 140.0 * s) +
                      0.3 * sin(2 * M_PI * 280.0 * s) +
                      0.1 * sin(2 * M_PI * 420.0 * s));
            }
            pcm[i] = (int16_t)lrint(v);
        }
        CHECK_EQ(sv_stt_deepgram.send(t->stt, pcm, n), 0);
        t->sample_pos += n;
        t->sent_bytes += n * 2;
    }
}


/* One utterance: a little silence, 1.2 s of voice, 1.5 s of silence. */
static void feed_utterance(struct t *t)
{
    feed(t, 200, false);
    feed(t, 1200, true);
    feed(t, 1500, false);
}


/* ---- cases ---- */

/*
 * Two utterances give, in order, SpeechStarted, interims that grow into
 * the final text, a speech_final final and UtteranceEnd; finish() then
 * sends CloseStream and the fake closes 1000 with no error.
 */
SV_TEST(session)
{
    static const char *const args[] = {
        "--opt", "transcripts=[\"book a table\", \"for two please\"]", NULL};
    struct t t;
    const char *s;
    int p0;
    int p1;

    t_init(&t, args);
    t_start(&t, good_key, true, NULL);
    feed_utterance(&t);
    feed_utterance(&t);
    RUN_UNTIL(&t, two_utterance_ends, 10000);

    CHECK_EQ(t.n_error, 0);
    CHECK_EQ(count(&t, 'P'), 2);
    p0 = nth(&t, 'P', 0);
    p1 = nth(&t, 'P', 1);
    CHECK_STR(t.ev[p0].text, "Book a table.");
    CHECK_STR(t.ev[p1].text, "For two please.");
    /* SpeechStarted, then interims, then the end, per utterance. */
    CHECK_EQ(nth(&t, 'S', 0), 0);
    CHECK(nth(&t, 'I', 0) > 0 && nth(&t, 'I', 0) < p0);
    CHECK(nth(&t, 'U', 0) > p0 && nth(&t, 'U', 0) < nth(&t, 'S', 1));
    CHECK(nth(&t, 'S', 1) < p1 && p1 < nth(&t, 'U', 1));
    for (int i = 0; i < t.n_ev; i++) {
        if (t.ev[i].kind != 'I')
            continue;
        s = i < p0 ? t.ev[p0].text : t.ev[p1].text;
        CHECK(t.ev[i].text[0] != '\0');
        CHECK(strncmp(t.ev[i].text, s, strlen(t.ev[i].text)) == 0);
    }
    CHECK_EQ(count(&t, 'F'), 0);

    sv_stt_deepgram.finish(t.stt);
    RUN_UNTIL(&t, first_closed, 5000);
    CHECK_EQ(n_req(&t), 1);
    CHECK(req_flag(&t, 0, "key_ok"));
    CHECK_EQ(req_int(&t, 0, "audio_bytes"), t.sent_bytes);
    CHECK_STR(json_string_value(
                  json_array_get(json_object_get(req(&t, 0), "control"), 0)),
              "CloseStream");
    CHECK_EQ(json_integer_value(
                 json_array_get(json_object_get(req(&t, 0), "close"), 0)),
             1000);
    CHECK_EQ(t.n_error, 0);
    t_close(&t);
}


/* finish() right after queueing: the queue is flushed before CloseStream. */
SV_TEST(finish)
{
    struct t t;
    int16_t pcm[4] = {0};
    json_t *control;

    t_init(&t, NULL);
    t_start(&t, good_key, false, NULL);
    feed(&t, 200, false);
    feed(&t, 1500, true);
    /* Still in speech: CloseStream turns it into a plain final. */
    sv_stt_deepgram.finish(t.stt);
    CHECK_EQ(sv_stt_deepgram.send(t.stt, pcm, 4), -EPIPE);
    RUN_UNTIL(&t, first_closed, 5000);

    CHECK_EQ(req_int(&t, 0, "audio_bytes"), t.sent_bytes);
    control = json_object_get(req(&t, 0), "control");
    CHECK_EQ(json_array_size(control), 1);
    CHECK_STR(json_string_value(json_array_get(control, 0)), "CloseStream");
    CHECK_EQ(json_integer_value(
                 json_array_get(json_object_get(req(&t, 0), "close"), 0)),
             1000);
    CHECK_EQ(count(&t, 'F'), 1);
    CHECK_STR(t.ev[nth(&t, 'F', 0)].text, "Hello there.");
    CHECK_EQ(t.n_error, 0);
    t_close(&t);
}


/* The query carries the options, defaults filled in, keyterms encoded. */
SV_TEST(query)
{
    static const char *const terms[] = {"Sovereign", "table for two",
                                        "caf\xc3\xa9 & bar"};
    struct sv_stt_opts opts = {
        .model = "nova-2",
        .language = "en-US",
        .sample_rate_hz = 8000,
        .smart_format = false,
    };
    struct t t;
    json_t *keyterms = json_array();
    json_t *got;

    for (size_t i = 0; i < SV_ARRAY_SIZE(terms); i++)
        json_array_append_new(keyterms, json_string(terms[i]));
    json_array_append_new(keyterms, json_integer(7)); /* skipped */
    opts.keyterms = keyterms;

    t_init(&t, NULL);
    t_start(&t, good_key, false, &opts);
    RUN_UNTIL(&t, first_open, 5000);
    CHECK(req_flag(&t, 0, "key_ok"));
    CHECK_STR(query1(&t, 0, "model"), "nova-2");
    CHECK_STR(query1(&t, 0, "language"), "en-US");
    CHECK_STR(query1(&t, 0, "encoding"), "linear16");
    CHECK_STR(query1(&t, 0, "sample_rate"), "8000");
    CHECK_STR(query1(&t, 0, "channels"), "1");
    CHECK_STR(query1(&t, 0, "interim_results"), "true");
    CHECK_STR(query1(&t, 0, "punctuate"), "true");
    CHECK_STR(query1(&t, 0, "smart_format"), "false");
    CHECK_STR(query1(&t, 0, "endpointing"), "300");
    CHECK_STR(query1(&t, 0, "utterance_end_ms"), "1000");
    CHECK_STR(query1(&t, 0, "vad_events"), "true");
    got = json_object_get(json_object_get(req(&t, 0), "query_all"), "keyterm");
    CHECK_EQ(json_array_size(got), SV_ARRAY_SIZE(terms));
    for (size_t i = 0; i < SV_ARRAY_SIZE(terms); i++)
        CHECK_STR(json_string_value(json_array_get(got, i)), terms[i]);
    sv_stt_deepgram.free(t.stt);
    t.stt = NULL;

    /* Other values, and no language at all. */
    opts.model = NULL;
    opts.language = NULL;
    opts.keyterms = NULL;
    opts.sample_rate_hz = 16000;
    opts.endpointing_ms = 500;
    opts.utterance_end_ms = 2000;
    opts.smart_format = true;
    t_start(&t, good_key, false, &opts);
    RUN_UNTIL(&t, second_open, 5000);
    CHECK_STR(query1(&t, 1, "model"), "nova-3-general");
    CHECK(json_object_get(json_object_get(req(&t, 1), "query_all"),
                          "language") == NULL);
    CHECK(json_object_get(json_object_get(req(&t, 1), "query_all"),
                          "keyterm") == NULL);
    CHECK_STR(query1(&t, 1, "sample_rate"), "16000");
    CHECK_STR(query1(&t, 1, "endpointing"), "500");
    CHECK_STR(query1(&t, 1, "utterance_end_ms"), "2000");
    CHECK_STR(query1(&t, 1, "smart_format"), "true");
    json_decref(keyterms);
    CHECK_EQ(t.n_error, 0);
    t_close(&t);
}


/* A refused key is one -EACCES naming whose key, and no retries. */
SV_TEST(bad_key)
{
    struct t t;

    t_init(&t, NULL);
    t_start(&t, "wrong-key", true, NULL);
    feed(&t, 200, false);
    RUN_UNTIL(&t, has_error, 5000);
    CHECK_EQ(t.last_err, -EACCES);
    CHECK(strstr(t.why, "organization") != NULL);
    CHECK(strstr(t.why, "401") != NULL);
    CHECK(strstr(t.why, "wrong-key") == NULL);
    CHECK_EQ(sv_stt_deepgram.send(t.stt, (int16_t[2]){0}, 2), -EPIPE);
    /* Retries would start within 100 ms. */
    run_for(&t, 600);
    CHECK_EQ(t.n_error, 1);
    CHECK_EQ(n_req(&t), 1);
    CHECK_EQ(req_int(&t, 0, "status"), 401);
    sv_stt_deepgram.free(t.stt);
    t.stt = NULL;

    t_start(&t, "wrong-key", false, NULL);
    RUN_UNTIL(&t, two_errors, 5000);
    CHECK_EQ(t.last_err, -EACCES);
    CHECK(strstr(t.why, "platform") != NULL);
    CHECK_EQ(t.n_error, 2);
    t_close(&t);
}


/* A refused request (unknown model) is -EINVAL, not retried. */
SV_TEST(bad_model)
{
    struct sv_stt_opts opts = default_opts;
    struct t t;

    opts.model = "no-such-model";
    t_init(&t, NULL);
    t_start(&t, good_key, false, &opts);
    RUN_UNTIL(&t, has_error, 5000);
    CHECK_EQ(t.last_err, -EINVAL);
    CHECK(strstr(t.why, "400") != NULL);
    run_for(&t, 300);
    CHECK_EQ(n_req(&t), 1);
    CHECK_EQ(t.n_error, 1);
    t_close(&t);
}


/* 429 and 503 are retried; the audio waits and the session goes on. */
SV_TEST(retry)
{
    static const char *const args[] = {"--script", "429,503", NULL};
    struct t t;

    t_init(&t, args);
    t_start(&t, good_key, false, NULL);
    feed_utterance(&t);
    RUN_UNTIL(&t, one_speech_final, 10000);
    RUN_UNTIL(&t, third_open, 5000);
    CHECK_EQ(t.n_error, 0);
    CHECK_EQ(n_req(&t), 3);
    CHECK_EQ(req_int(&t, 0, "status"), 429);
    CHECK_EQ(req_int(&t, 1, "status"), 503);
    CHECK_EQ(req_int(&t, 2, "status"), 101);
    CHECK_STR(t.ev[nth(&t, 'P', 0)].text, "Hello there.");
    t_close(&t);
}


/* KeepAlive holds an idle socket open past the fake's idle time-out. */
SV_TEST(keepalive)
{
    static const char *const args[] = {"--opt", "idle_timeout=5", NULL};
    struct t t;

    t_init(&t, args);
    t_start(&t, good_key, false, NULL);
    feed(&t, 500, false);
    /* Two KeepAlives come 4 and 8 s after the audio; 5 s would close. */
    RUN_UNTIL(&t, two_keepalives, 15000);
    CHECK_EQ(n_req(&t), 1);
    CHECK(!req_flag(&t, 0, "closed"));
    CHECK(json_is_null(json_object_get(req(&t, 0), "close")));
    CHECK_EQ(t.n_error, 0);
    t_close(&t);
}


/*
 * The fake drops the socket mid-stream: the adapter reconnects, the
 * audio sent while it is down is replayed, and the call sees no error.
 */
SV_TEST(reconnect)
{
    /* Utterance one is 92800 bytes; the drop comes 0.5 s later. */
    static const char *const args[] = {
        "--script", "drop_after:108800,delay:300",
        "--queue",  "book a table",
        "--queue",  "for two please",
        NULL};
    struct t t;

    t_init(&t, args);
    t_start(&t, good_key, false, NULL);
    feed_utterance(&t);
    RUN_UNTIL(&t, one_speech_final, 10000);
    feed(&t, 1000, false);
    /* The second handshake waits 300 ms in the fake: we are reconnecting. */
    RUN_UNTIL(&t, dropped_and_retrying, 5000);
    CHECK_STR(json_string_value(json_object_get(req(&t, 0), "close")),
              "dropped");
    feed_utterance(&t);
    RUN_UNTIL(&t, two_speech_finals, 10000);
    RUN_UNTIL(&t, second_heard, 5000);

    CHECK_EQ(t.n_error, 0);
    CHECK_EQ(n_req(&t), 2);
    CHECK_EQ(req_int(&t, 1, "status"), 101);
    CHECK_EQ(req_int(&t, 1, "utterances"), 1);
    CHECK_STR(t.ev[nth(&t, 'P', 0)].text, "Book a table.");
    CHECK_STR(t.ev[nth(&t, 'P', 1)].text, "For two please.");
    t_close(&t);
}


/* A handshake with no answer times out and is retried. */
SV_TEST(hang_then_ok)
{
    static const char *const args[] = {"--script", "hang", NULL};
    struct t t;

    t_init(&t, args);
    t.timeout_ms = 300;
    t_start(&t, good_key, false, NULL);
    feed_utterance(&t);
    RUN_UNTIL(&t, one_speech_final, 10000);
    /* The fake logs the second handshake a little after it answers. */
    RUN_UNTIL(&t, second_open, 5000);
    CHECK_EQ(t.n_error, 0);
    CHECK_EQ(n_req(&t), 2);
    CHECK_STR(json_string_value(json_object_get(req(&t, 0), "status")), "hang");
    t_close(&t);
}


/* Nothing listens: six retries with backoff, then one -ECONNREFUSED. */
SV_TEST(unreachable)
{
    struct sockaddr_in sa;
    socklen_t sa_len = sizeof(sa);
    uv_tcp_t probe;
    char url[64];
    struct t t;
    uint64_t t0;

    t_init(&t, NULL);
    /* A port that was free a moment ago is very likely still closed. */
    uv_tcp_init(&t.loop, &probe);
    uv_ip4_addr("127.0.0.1", 0, &sa);
    CHECK_EQ(uv_tcp_bind(&probe, (struct sockaddr *)&sa, 0), 0);
    CHECK_EQ(uv_tcp_getsockname(&probe, (struct sockaddr *)&sa, (int *)&sa_len),
             0);
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d", ntohs(sa.sin_port));
    uv_close((uv_handle_t *)&probe, NULL);
    t.base_url = url;
    t0 = uv_now(&t.loop);
    t_start(&t, good_key, false, NULL);
    feed(&t, 200, false);
    RUN_UNTIL(&t, has_error, 15000);
    CHECK_EQ(t.last_err, -ECONNREFUSED);
    CHECK(strstr(t.why, "gave up") != NULL);
    /* 100 + 200 + 400 + 800 + 1600 + 2000 ms of backoff. */
    CHECK(uv_now(&t.loop) - t0 >= 5000);
    run_for(&t, 300);
    CHECK_EQ(t.n_error, 1);
    t_close(&t);
}


/* Empty transcripts (silence) reach the call as nothing at all. */
SV_TEST(empty)
{
    static const char *const args[] = {"--queue", "", "--queue", "hello there",
                                       NULL};
    struct t t;

    t_init(&t, args);
    t_start(&t, good_key, false, NULL);
    feed_utterance(&t);
    feed_utterance(&t);
    RUN_UNTIL(&t, two_utterance_ends, 10000);
    CHECK_EQ(count(&t, 'S'), 2);
    CHECK_EQ(count(&t, 'P'), 1);
    for (int i = 0; i < t.n_ev; i++)
        CHECK(t.ev[i].kind == 'S' || t.ev[i].kind == 'U' ||
              t.ev[i].text[0] != '\0');
    /* The first utterance was empty: its SpeechStarted has no text after. */
    CHECK(nth(&t, 'U', 0) < nth(&t, 'S', 1));
    CHECK(nth(&t, 'I', 0) > nth(&t, 'S', 1));
    t_close(&t);
}


/* A close for undecodable audio (1008 DATA-0000) is -EPROTO, no retry. */
SV_TEST(data_close)
{
    static const char *const args[] = {"--script", "close:1008:DATA-0000",
                                       NULL};
    struct t t;

    t_init(&t, args);
    t_start(&t, good_key, false, NULL);
    feed(&t, 200, false);
    RUN_UNTIL(&t, has_error, 5000);
    CHECK_EQ(t.last_err, -EPROTO);
    CHECK(strstr(t.why, "DATA-0000") != NULL);
    run_for(&t, 400);
    CHECK_EQ(n_req(&t), 1);
    CHECK_EQ(t.n_error, 1);
    t_close(&t);
}


/* free() inside a transcript callback: no callback after, socket closed. */
SV_TEST(free_mid)
{
    struct t t;
    int n_ev;

    t_init(&t, NULL);
    t_start(&t, good_key, false, NULL);
    t.want_free_on_interim = true;
    feed_utterance(&t);
    feed_utterance(&t);
    RUN_UNTIL(&t, adapter_freed, 10000);
    n_ev = t.n_ev;
    RUN_UNTIL(&t, first_closed, 5000);
    RUN_UNTIL(&t, fake_idle, 5000);
    run_for(&t, 200);
    CHECK_EQ(t.n_ev, n_ev);
    CHECK_EQ(n_req(&t), 1);
    t_close(&t);
}


/* free() before the first connect and during a handshake. */
SV_TEST(free_early)
{
    static const char *const args[] = {"--script", "hang", NULL};
    struct t t;

    t_init(&t, args);
    t_start(&t, good_key, false, NULL);
    feed(&t, 100, true);
    sv_stt_deepgram.free(t.stt);
    t.stt = NULL;
    run_for(&t, 200);
    CHECK_EQ(n_req(&t), 0);

    t_start(&t, good_key, false, NULL);
    RUN_UNTIL(&t, has_request, 5000);
    sv_stt_deepgram.free(t.stt);
    t.stt = NULL;
    RUN_UNTIL(&t, fake_idle, 5000);
    CHECK_EQ(t.n_ev, 0);
    t_close(&t);
}


SV_TEST_MAIN(SV_CASE(session), SV_CASE(finish), SV_CASE(query),
             SV_CASE(bad_key), SV_CASE(bad_model), SV_CASE(retry),
             SV_CASE(keepalive), SV_CASE(reconnect), SV_CASE(hang_then_ok),
             SV_CASE(unreachable), SV_CASE(empty), SV_CASE(data_close),
             SV_CASE(free_mid), SV_CASE(free_early))
