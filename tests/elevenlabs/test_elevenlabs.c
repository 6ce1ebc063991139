/*
 * test_elevenlabs.c - the ElevenLabs TTS adapter on a uv loop with
 * sv_httpc, against tests/fakes/fake_elevenlabs.py (driven through
 * el_fake.py, which each case starts as a child process).
 *
 * Each case records every callback in order and checks the contract of
 * provider.h: audio in sentence order, never interleaved, done once per
 * sentence after its audio, nothing after cancel() or free(), and
 * uv_loop_close() == 0 at the end.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>
#include <jansson.h>
#include <sodium.h>

#include "check.h"
#include "providers/adapters.h"
#include "providers/elevenlabs.h"
#include "providers/httpc.h"
#include "util/alloc.h"

#define MAX_EVENTS  4096
#define MAX_SEQ     8
#define MS_PER_CHAR 55.0 /* the fake's default duration model */

/* ---- The fake ---- */

struct fake {
    pid_t pid;
    FILE *in;  /* commands to the driver */
    FILE *out; /* its answers */
    int port;
    char url[64];
};


/* Starts el_fake.py with the given extra arguments (NULL-terminated). */
static void fake_start(struct fake *f, const char *const *args)
{
    const char *src = getenv("SV_SOURCE_DIR");
    char script[4096];
    char fakes[4096];
    char line[64];
    const char *argv[32];
    int in_pipe[2];
    int out_pipe[2];
    size_t n = 0;

    if (src == NULL)
        SV_SKIP("SV_SOURCE_DIR is not set");
    snprintf(fakes, sizeof(fakes), "%s/tests/fakes/fake_elevenlabs.py", src);
    if (access(fakes, R_OK) != 0)
        SV_SKIP("tests/fakes/fake_elevenlabs.py is missing");
    snprintf(script, sizeof(script), "%s/tests/elevenlabs/el_fake.py", src);
    argv[n++] = "python3";
    argv[n++] = script;
    for (size_t i = 0; args != NULL && args[i] != NULL && n < 30; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    CHECK(pipe(in_pipe) == 0);
    CHECK(pipe(out_pipe) == 0);
    f->pid = fork();
    CHECK(f->pid >= 0);
    if (f->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        close(in_pipe[0]);
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(out_pipe[1]);
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    f->in = fdopen(in_pipe[1], "w");
    f->out = fdopen(out_pipe[0], "r");
    CHECK(f->in != NULL && f->out != NULL);
    if (fgets(line, sizeof(line), f->out) == NULL ||
        sscanf(line, "PORT %d", &f->port) != 1)
        SV_FAIL("el_fake.py did not start");
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
}


/* Sends one command and returns its one-line answer (caller frees). */
static char *fake_cmd(struct fake *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static char *fake_cmd(struct fake *f, const char *fmt, ...)
{
    va_list ap;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    va_start(ap, fmt);
    vfprintf(f->in, fmt, ap);
    va_end(ap);
    fputc('\n', f->in);
    fflush(f->in);
    len = getline(&line, &cap, f->out);
    CHECK(len > 0);
    line[len - 1] = '\0';
    return line;
}


static void fake_ok(struct fake *f, const char *cmd)
{
    char *r = fake_cmd(f, "%s", cmd);

    CHECK_STR(r, "ok");
    free(r);
}


/* The request log (new reference). */
static json_t *fake_requests(struct fake *f)
{
    char *line = fake_cmd(f, "requests");
    json_error_t jerr;
    json_t *log = json_loads(line, 0, &jerr);

    free(line);
    CHECK(json_is_array(log));
    return log;
}


/*
 * Bytes and FNV-1a hash of the audio the fake makes for text, as it sent
 * it (cmd "expect") or decoded to s16le PCM ("expect_pcm").
 */
static void fake_expect_as(struct fake *f, const char *cmd, const char *text,
                           size_t *bytes, uint32_t *fnv)
{
    char *line = fake_cmd(f, "%s %s", cmd, text);
    json_error_t jerr;
    json_t *j = json_loads(line, 0, &jerr);

    CHECK(j != NULL);
    *bytes = (size_t)json_integer_value(json_object_get(j, "bytes"));
    *fnv = (uint32_t)json_integer_value(json_object_get(j, "fnv"));
    json_decref(j);
    free(line);
}


static void fake_expect(struct fake *f, const char *text, size_t *bytes,
                        uint32_t *fnv)
{
    fake_expect_as(f, "expect", text, bytes, fnv);
}


static void fake_stop(struct fake *f)
{
    int status;

    fclose(f->in);
    CHECK(waitpid(f->pid, &status, 0) == f->pid);
    fclose(f->out);
    /* Nonzero when the fake logged an internal error. */
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}


/* ---- The adapter under test ---- */

enum ev_type { EV_AUDIO, EV_DONE };

struct event {
    enum ev_type type;
    uint32_t seq;
    size_t samples; /* audio */
    int err;        /* done */
    size_t characters;
};

struct env {
    uv_loop_t loop;
    struct sv_httpc *http;
    struct sv_provider_env penv;
    struct sv_tts_opts opts;
    struct sv_tts *tts;
    struct event ev[MAX_EVENTS];
    size_t n_ev;
    size_t samples[MAX_SEQ];
    uint32_t fnv[MAX_SEQ]; /* FNV-1a of the s16le bytes per seq */
    size_t n_done;
    char *why[MAX_SEQ];
    /* Actions taken from inside callbacks. */
    int cancel_at_audio; /* seq whose first audio cancels; -1 none */
    int free_at_done;    /* seq whose done frees the adapter; -1 none */
    bool is_cancelled;
};


static void on_audio(void *arg, uint32_t seq, const int16_t *pcm,
                     size_t samples)
{
    struct env *e = arg;
    struct event *v;

    CHECK(e->tts != NULL);
    CHECK(!e->is_cancelled);
    CHECK(seq < MAX_SEQ);
    CHECK(e->n_ev < MAX_EVENTS);
    CHECK(samples > 0);
    v = &e->ev[e->n_ev++];
    v->type = EV_AUDIO;
    v->seq = seq;
    v->samples = samples;
    e->samples[seq] += samples;
    for (size_t i = 0; i < samples; i++) {
        uint16_t u = (uint16_t)pcm[i];

        e->fnv[seq] = (e->fnv[seq] ^ (u & 0xff)) * 0x01000193u;
        e->fnv[seq] = (e->fnv[seq] ^ (u >> 8)) * 0x01000193u;
    }
    uv_stop(&e->loop); /* lets the test look at every event */
    if (e->cancel_at_audio == (int)seq) {
        e->cancel_at_audio = -1;
        e->is_cancelled = true;
        sv_tts_elevenlabs.cancel(e->tts);
    }
}


static void on_done(void *arg, uint32_t seq, int err, const char *why,
                    size_t characters)
{
    struct env *e = arg;
    struct event *v;

    CHECK(e->tts != NULL);
    CHECK(!e->is_cancelled);
    CHECK(seq < MAX_SEQ);
    CHECK(e->n_ev < MAX_EVENTS);
    v = &e->ev[e->n_ev++];
    v->type = EV_DONE;
    v->seq = seq;
    v->err = err;
    v->characters = characters;
    free(e->why[seq]);
    e->why[seq] = why != NULL ? strdup(why) : NULL;
    e->n_done++;
    uv_stop(&e->loop);
    if (e->free_at_done == (int)seq) {
        sv_tts_elevenlabs.free(e->tts);
        e->tts = NULL;
    }
}


static void env_init(struct env *e, struct fake *f, const char *key)
{
    static const struct sv_tts_opts defaults = {
        .voice_id = "21m00Tcm4TlvDq8ikWAM",
        .model = "eleven_flash_v2_5",
        .stability = -1,
        .similarity_boost = -1,
        .style = -1,
        .speed = -1,
        .sample_rate_hz = 16000,
    };

    CHECK(sodium_init() >= 0); /* the key header is guarded memory */
    memset(e, 0, sizeof(*e));
    for (size_t i = 0; i < MAX_SEQ; i++)
        e->fnv[i] = 0x811c9dc5u;
    e->cancel_at_audio = -1;
    e->free_at_done = -1;
    CHECK_EQ(uv_loop_init(&e->loop), 0);
    CHECK_EQ(sv_httpc_new(&e->http, &e->loop), 0);
    e->penv.loop = &e->loop;
    e->penv.httpc = e->http;
    e->penv.base_url = f->url;
    e->penv.key = key;
    e->penv.timeout_ms = 2000;
    e->penv.tag = "test";
    e->opts = defaults;
}


static void env_alloc(struct env *e)
{
    struct sv_tts_handlers h = {on_audio, on_done, e};

    CHECK_EQ(sv_tts_elevenlabs.alloc(&e->tts, &e->penv, &e->opts, &h), 0);
}


static void on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
    uv_stop(t->loop);
}


/*
 * Runs the loop until n sentences are done, failing after timeout_ms.
 * Every callback stops the loop, so each uv_run() returns after the
 * iteration that brought an event.
 */
static void run_until_done(struct env *e, size_t n, unsigned timeout_ms)
{
    uv_timer_t timer;
    bool is_expired = false;

    uv_timer_init(&e->loop, &timer);
    timer.data = &is_expired;
    uv_timer_start(&timer, on_deadline, timeout_ms, 0);
    while (e->n_done < n && !is_expired)
        uv_run(&e->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
    if (e->n_done < n)
        SV_FAIL("only %zu of %zu sentences done", e->n_done, n);
}


/* Runs the loop for ms (to show that nothing more happens). */
static void run_for(struct env *e, unsigned ms)
{
    uv_timer_t timer;
    bool is_expired = false;

    uv_timer_init(&e->loop, &timer);
    timer.data = &is_expired;
    uv_timer_start(&timer, on_deadline, ms, 0);
    while (!is_expired)
        uv_run(&e->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}


static void env_close(struct env *e)
{
    sv_tts_elevenlabs.free(e->tts);
    e->tts = NULL;
    sv_httpc_free(e->http);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&e->loop), 0);
    for (size_t i = 0; i < MAX_SEQ; i++)
        free(e->why[i]);
}


/*
 * Checks the event order for sentences 0..n-1: audio of a sentence only
 * while it is the current one, its done after its audio, sentences in
 * ascending order, each done exactly once.
 */
static void check_order(const struct env *e, uint32_t n)
{
    uint32_t cur = 0;

    for (size_t i = 0; i < e->n_ev; i++) {
        const struct event *v = &e->ev[i];

        if (v->seq != cur)
            SV_FAIL("event %zu is for sentence %u while %u is current", i,
                    v->seq, cur);
        if (v->type == EV_DONE)
            cur++;
    }
    CHECK_EQ(cur, n);
}


/* Samples the fake's duration model gives text at rate_hz. */
static size_t model_samples(const char *text, unsigned rate_hz)
{
    double ms = (double)strlen(text) * MS_PER_CHAR;

    return (size_t)(rate_hz * ms / 1000.0 + 0.5);
}


static const char *const texts[] = {
    "Hello, thanks for calling.",
    "How can I help you today?",
    "Our office is open until five.",
};


/* ---- Cases ---- */

SV_TEST(three_sentences)
{
    static const char *const args[] = {"--key", "good-key", "--opt",
                                       "chunk_interval_ms=5", NULL};
    struct fake f;
    struct env e;
    json_t *log;
    json_t *r;
    json_t *body;
    json_t *vs;
    char *chars;

    fake_start(&f, args);
    env_init(&e, &f, "good-key");
    e.opts.stability = 0.5;
    e.opts.speed = 1.0;
    e.opts.language = "en";
    env_alloc(&e);
    for (uint32_t i = 0; i < 3; i++)
        CHECK_EQ(sv_tts_elevenlabs.say(e.tts, i, texts[i]), 0);
    /* No callback from inside say(). */
    CHECK_EQ(e.n_ev, 0);
    run_until_done(&e, 3, 4000);
    check_order(&e, 3);
    for (uint32_t i = 0; i < 3; i++) {
        const struct event *d = NULL;

        for (size_t k = 0; k < e.n_ev; k++) {
            if (e.ev[k].type == EV_DONE && e.ev[k].seq == i)
                d = &e.ev[k];
        }
        CHECK(d != NULL);
        CHECK_EQ(d->err, 0);
        CHECK_EQ(d->characters, strlen(texts[i]));
        CHECK_EQ(e.samples[i], model_samples(texts[i], 16000));
    }

    log = fake_requests(&f);
    CHECK_EQ(json_array_size(log), 3);
    for (size_t i = 0; i < 3; i++) {
        r = json_array_get(log, i);
        CHECK_STR(json_string_value(json_object_get(r, "route")), "stream");
        CHECK(json_is_true(json_object_get(r, "key_ok")));
        CHECK_STR(json_string_value(json_object_get(r, "path")),
                  "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream");
        CHECK_STR(json_string_value(json_object_get(json_object_get(r, "query"),
                                                    "output_format")),
                  "pcm_16000");
        CHECK_STR(
            json_string_value(json_object_get(json_object_get(r, "query"),
                                              "optimize_streaming_latency")),
            "3");
        body = json_object_get(r, "json");
        CHECK_STR(json_string_value(json_object_get(body, "text")), texts[i]);
        CHECK_STR(json_string_value(json_object_get(body, "model_id")),
                  "eleven_flash_v2_5");
        CHECK_STR(json_string_value(json_object_get(body, "language_code")),
                  "en");
        vs = json_object_get(body, "voice_settings");
        CHECK(json_real_value(json_object_get(vs, "stability")) == 0.5);
        CHECK(json_real_value(json_object_get(vs, "speed")) == 1.0);
        /* Unset settings (< 0) are left to ElevenLabs. */
        CHECK(json_object_get(vs, "style") == NULL);
        CHECK(json_object_get(vs, "similarity_boost") == NULL);
        if (i == 0) {
            CHECK(json_object_get(body, "previous_text") == NULL);
        } else {
            CHECK_STR(json_string_value(json_object_get(body, "previous_text")),
                      texts[i - 1]);
        }
    }
    /* Sentence 1 was asked for while 0 still streamed (prefetch), so it
     * needed a second connection. */
    CHECK(json_integer_value(json_object_get(json_array_get(log, 0), "conn")) !=
          json_integer_value(json_object_get(json_array_get(log, 1), "conn")));
    json_decref(log);
    chars = fake_cmd(&f, "characters");
    CHECK_EQ(atoi(chars),
             strlen(texts[0]) + strlen(texts[1]) + strlen(texts[2]));
    free(chars);
    env_close(&e);
    fake_stop(&f);
}


/* Each call rate asks for its own pcm format and gets that many samples. */
SV_TEST(rates)
{
    static const unsigned rates[] = {8000, 16000, 24000, 48000};
    struct sv_tts_handlers h = {on_audio, on_done, NULL};
    struct sv_tts *bad = NULL;
    struct fake f;
    struct env e;
    json_t *log;
    char want[32];

    fake_start(&f, NULL);
    for (size_t i = 0; i < SV_ARRAY_SIZE(rates); i++) {
        env_init(&e, &f, "good-key");
        e.opts.sample_rate_hz = rates[i];
        env_alloc(&e);
        CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
        run_until_done(&e, 1, 3000);
        CHECK_EQ(e.ev[e.n_ev - 1].err, 0);
        CHECK_EQ(e.samples[0], model_samples(texts[0], rates[i]));
        env_close(&e);
        log = fake_requests(&f);
        snprintf(want, sizeof(want), "pcm_%u", rates[i]);
        CHECK_STR(json_string_value(json_object_get(
                      json_object_get(json_array_get(log, i), "query"),
                      "output_format")),
                  want);
        json_decref(log);
    }
    /* A rate ElevenLabs has no pcm format for is refused at once. */
    env_init(&e, &f, "good-key");
    e.opts.sample_rate_hz = 11025;
    h.arg = &e;
    CHECK_EQ(sv_tts_elevenlabs.alloc(&bad, &e.penv, &e.opts, &h), -EINVAL);
    CHECK(bad == NULL);
    env_close(&e);
    fake_stop(&f);
}


/*
 * A mu-law call asks ElevenLabs for ulaw_8000 and gets the decoded
 * samples: one per byte, exactly the fake's audio, even with chunks cut
 * at odd offsets. Mu-law at another rate is refused at once.
 */
SV_TEST(ulaw)
{
    static const char *const args[] = {"--opt", "chunk_ms=40", NULL};
    struct sv_tts_handlers h = {on_audio, on_done, NULL};
    struct sv_tts *bad = NULL;
    struct fake f;
    struct env e;
    json_t *log;
    size_t bytes;
    uint32_t fnv;

    fake_start(&f, args);
    fake_ok(&f, "split on");
    env_init(&e, &f, "good-key");
    e.opts.sample_rate_hz = 8000;
    e.opts.encoding = SV_AUDIO_ULAW;
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 1, texts[1]), 0);
    run_until_done(&e, 2, 3000);
    check_order(&e, 2);
    CHECK_EQ(e.ev[e.n_ev - 1].err, 0);
    log = fake_requests(&f);
    CHECK_EQ(json_array_size(log), 2);
    for (size_t i = 0; i < 2; i++) {
        CHECK_STR(json_string_value(json_object_get(
                      json_object_get(json_array_get(log, i), "query"),
                      "output_format")),
                  "ulaw_8000");
    }
    json_decref(log);
    for (uint32_t i = 0; i < 2; i++) {
        fake_expect(&f, texts[i], &bytes, &fnv);
        CHECK_EQ(e.samples[i], bytes); /* one byte a sample */
        CHECK_EQ(e.samples[i], model_samples(texts[i], 8000));
        fake_expect_as(&f, "expect_pcm", texts[i], &bytes, &fnv);
        CHECK_EQ(e.samples[i] * 2, bytes);
        CHECK_EQ(e.fnv[i], fnv);
    }
    env_close(&e);

    env_init(&e, &f, "good-key");
    e.opts.sample_rate_hz = 16000;
    e.opts.encoding = SV_AUDIO_ULAW;
    h.arg = &e;
    CHECK_EQ(sv_tts_elevenlabs.alloc(&bad, &e.penv, &e.opts, &h), -EINVAL);
    CHECK(bad == NULL);
    env_close(&e);
    fake_stop(&f);
}


/* Chunks cut inside a sample still give the exact audio, byte for byte. */
SV_TEST(odd_split)
{
    static const char *const args[] = {"--opt", "chunk_ms=40", NULL};
    const char *text = "An odd number of bytes per chunk.";
    struct fake f;
    struct env e;
    size_t bytes;
    uint32_t fnv;

    fake_start(&f, args);
    fake_ok(&f, "split on");
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, text), 0);
    run_until_done(&e, 1, 3000);
    CHECK_EQ(e.ev[e.n_ev - 1].err, 0);
    fake_expect(&f, text, &bytes, &fnv);
    CHECK_EQ(e.samples[0] * 2, bytes);
    CHECK_EQ(e.fnv[0], fnv);
    /* Audio came in more pieces than the fake's 40 ms chunks: the odd
     * cuts reached the adapter as separate reads. */
    CHECK(e.n_ev - 1 > bytes / (16000 * 2 * 40 / 1000));
    env_close(&e);
    fake_stop(&f);
}


static bool contains(const char *s, const char *part)
{
    return s != NULL && strstr(s, part) != NULL;
}


/* A refused key: -EACCES naming the provider and whose key, never it. */
SV_TEST(wrong_key)
{
    struct fake f;
    struct env e;
    json_t *log;

    fake_start(&f, NULL);
    /* The platform key. */
    env_init(&e, &f, "platform-bad-key-123");
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 1, texts[1]), 0);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 2, texts[2]), 0);
    run_until_done(&e, 3, 3000);
    check_order(&e, 3);
    for (size_t i = 0; i < e.n_ev; i++) {
        CHECK(e.ev[i].type == EV_DONE);
        CHECK_EQ(e.ev[i].err, -EACCES);
        CHECK_EQ(e.ev[i].characters, 0);
    }
    CHECK(contains(e.why[0], "ElevenLabs"));
    CHECK(contains(e.why[0], "platform"));
    CHECK(contains(e.why[0], "invalid_api_key"));
    CHECK(!contains(e.why[0], "platform-bad-key-123"));
    env_close(&e);
    /* The third sentence was failed without asking again. */
    log = fake_requests(&f);
    CHECK(json_array_size(log) <= 2);
    json_decref(log);

    /* The organization's own key. */
    env_init(&e, &f, "org-bad-key-456");
    e.penv.is_byok = true;
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    run_until_done(&e, 1, 3000);
    CHECK_EQ(e.ev[0].err, -EACCES);
    CHECK(contains(e.why[0], "ElevenLabs"));
    CHECK(contains(e.why[0], "organization"));
    CHECK(contains(e.why[0], "BYOK"));
    CHECK(!contains(e.why[0], "org-bad-key-456"));
    env_close(&e);

    /* A valid key out of characters. */
    fake_ok(&f, "script quota");
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    run_until_done(&e, 1, 3000);
    CHECK_EQ(e.ev[0].err, -EACCES);
    CHECK(contains(e.why[0], "quota_exceeded"));
    CHECK(contains(e.why[0], "platform"));
    env_close(&e);
    fake_stop(&f);
}


/* An unknown voice: -EINVAL naming it, with the BYOK library hint. */
SV_TEST(voice_not_found)
{
    static const char *const args[] = {"--key", "org-key", "--opt",
                                       "voices=[\"OwnVoice01\"]", NULL};
    struct fake f;
    struct env e;
    json_t *log;

    fake_start(&f, args);
    env_init(&e, &f, "org-key");
    e.penv.is_byok = true;
    e.opts.voice_id = "21m00Tcm4TlvDq8ikWAM";
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    run_until_done(&e, 1, 3000);
    CHECK_EQ(e.n_ev, 1);
    CHECK_EQ(e.ev[0].err, -EINVAL);
    CHECK(contains(e.why[0], "21m00Tcm4TlvDq8ikWAM"));
    CHECK(contains(e.why[0], "voice library"));
    CHECK(contains(e.why[0], "BYOK"));
    CHECK(contains(e.why[0], "voice_not_found"));
    env_close(&e);

    /* The platform key: no BYOK hint. */
    env_init(&e, &f, "org-key");
    e.opts.voice_id = "UnknownVoice99";
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    run_until_done(&e, 1, 3000);
    CHECK_EQ(e.ev[0].err, -EINVAL);
    CHECK(contains(e.why[0], "UnknownVoice99"));
    CHECK(contains(e.why[0], "voice_not_found"));
    CHECK(!contains(e.why[0], "BYOK"));
    env_close(&e);

    /* A voice id that is no path segment is escaped; the fake cannot
     * route it, and the plain 404 still names the voice. */
    env_init(&e, &f, "org-key");
    e.opts.voice_id = "no/such voice";
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    run_until_done(&e, 1, 3000);
    CHECK_EQ(e.ev[0].err, -EINVAL);
    CHECK(contains(e.why[0], "no/such voice"));
    log = fake_requests(&f);
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(log, json_array_size(log) - 1), "path")),
              "/v1/text-to-speech/no/such voice/stream");
    json_decref(log);
    env_close(&e);
    fake_stop(&f);
}


/* Other refusals, whatever shape their detail has. */
SV_TEST(bad_request)
{
    struct fake f;
    struct env e;

    fake_start(&f, NULL);
    fake_ok(&f, "script 422 400_string");
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    /* One request at a time, so the scripts meet the sentences in order. */
    CHECK_EQ(sv_elevenlabs_set_prefetch(e.tts, 0), 0);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 1, texts[1]), 0);
    /* Not fatal: the third sentence is asked for and spoken. */
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 2, texts[2]), 0);
    run_until_done(&e, 3, 3000);
    check_order(&e, 3);
    CHECK_EQ(e.ev[0].err, -EINVAL);
    CHECK(contains(e.why[0], "422"));
    CHECK(contains(e.why[0], "stability: ensure this value"));
    CHECK_EQ(e.ev[1].err, -EINVAL);
    CHECK(contains(e.why[1], "Something about the text."));
    CHECK_EQ(e.ev[e.n_ev - 1].err, 0);
    CHECK_EQ(e.samples[2], model_samples(texts[2], 16000));
    env_close(&e);

    /* A 403 with a code of its own is a refused key too. */
    fake_ok(&f, "script 403_plain");
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    run_until_done(&e, 1, 3000);
    CHECK_EQ(e.ev[0].err, -EACCES);
    CHECK(contains(e.why[0], "403"));
    CHECK(contains(e.why[0], "platform"));
    env_close(&e);
    fake_stop(&f);
}


/* 429 and 503 before any audio are retried; three 429s give -EAGAIN. */
SV_TEST(retry)
{
    struct fake f;
    struct env e;
    json_t *log;

    fake_start(&f, NULL);
    fake_ok(&f, "script 429 503");
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    run_until_done(&e, 1, 4000);
    CHECK_EQ(e.ev[e.n_ev - 1].err, 0);
    CHECK_EQ(e.samples[0], model_samples(texts[0], 16000));
    env_close(&e);
    log = fake_requests(&f);
    CHECK_EQ(json_array_size(log), 3);
    CHECK_EQ(
        json_integer_value(json_object_get(json_array_get(log, 0), "status")),
        429);
    CHECK_EQ(
        json_integer_value(json_object_get(json_array_get(log, 2), "status")),
        200);
    json_decref(log);

    fake_ok(&f, "script 429 429 429 429");
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    run_until_done(&e, 1, 4000);
    CHECK_EQ(e.n_ev, 1);
    CHECK_EQ(e.ev[0].err, -EAGAIN);
    CHECK(contains(e.why[0], "429"));
    env_close(&e);
    fake_stop(&f);
}


/* A drop after audio was handed on ends the sentence with the error. */
SV_TEST(drop_mid)
{
    struct fake f;
    struct env e;

    fake_start(&f, NULL);
    fake_ok(&f, "script drop_after:6400");
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    run_until_done(&e, 1, 3000);
    CHECK_EQ(e.samples[0], 3200);
    CHECK_EQ(e.ev[e.n_ev - 1].err, -ECONNRESET);
    CHECK(contains(e.why[0], "ElevenLabs"));
    CHECK_EQ(e.ev[e.n_ev - 1].characters, strlen(texts[0]));
    env_close(&e);
    fake_stop(&f);
}


/*
 * A drop before any audio is retried; so is a prefetched sentence whose
 * stream broke while its audio was only buffered.
 */
SV_TEST(drop_retry)
{
    static const char *const args[] = {"--opt", "chunk_interval_ms=20", NULL};
    struct fake f;
    struct env e;
    json_t *log;

    fake_start(&f, args);
    fake_ok(&f, "script drop");
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    run_until_done(&e, 1, 3000);
    CHECK_EQ(e.ev[e.n_ev - 1].err, 0);
    CHECK_EQ(e.samples[0], model_samples(texts[0], 16000));

    /* Sentence 1 takes "ok" and streams for about 280 ms; sentence 2,
     * asked for once 1 has begun (so the scripts go in that order),
     * breaks after two chunks while 1 is still playing. */
    fake_ok(&f, "script ok drop_after:6400");
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 1, texts[1]), 0);
    while (e.samples[1] == 0)
        uv_run(&e.loop, UV_RUN_DEFAULT);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 2, texts[2]), 0);
    run_until_done(&e, 3, 4000);
    check_order(&e, 3);
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_EQ(e.samples[i], model_samples(texts[i], 16000));
        CHECK(e.why[i] == NULL);
    }
    CHECK_EQ(e.ev[e.n_ev - 1].err, 0);
    log = fake_requests(&f);
    CHECK_EQ(json_array_size(log), 5);
    /* The broken stream really was sentence 2's, before 1 had ended. */
    CHECK_STR(
        json_string_value(json_object_get(json_array_get(log, 3), "status")),
        "dropped");
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_array_get(log, 3), "json"), "text")),
              texts[2]);
    json_decref(log);
    env_close(&e);
    fake_stop(&f);
}


/* A stream that stalls after some audio times out (idle limit). */
SV_TEST(stall)
{
    struct fake f;
    struct env e;

    fake_start(&f, NULL);
    fake_ok(&f, "script stall:3200");
    env_init(&e, &f, "good-key");
    e.penv.timeout_ms = 300;
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    run_until_done(&e, 1, 3000);
    CHECK_EQ(e.samples[0], 1600);
    CHECK_EQ(e.ev[e.n_ev - 1].err, -ETIMEDOUT);
    env_close(&e);
    fake_stop(&f);
}


/* cancel() from inside audio: nothing more for those sentences. */
SV_TEST(cancel)
{
    static const char *const args[] = {"--opt", "chunk_interval_ms=30", NULL};
    struct fake f;
    struct env e;
    size_t n_before;

    fake_start(&f, args);
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    for (uint32_t i = 0; i < 3; i++)
        CHECK_EQ(sv_tts_elevenlabs.say(e.tts, i, texts[i]), 0);
    e.cancel_at_audio = 0;
    while (!e.is_cancelled)
        uv_run(&e.loop, UV_RUN_DEFAULT);
    n_before = e.n_ev;
    CHECK_EQ(n_before, 1);
    /* The fake would still be streaming for a second or more. */
    run_for(&e, 400);
    CHECK_EQ(e.n_ev, n_before);

    /* The adapter takes new sentences after a cancel. */
    e.is_cancelled = false;
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 5, "Yes?"), 0);
    run_until_done(&e, 1, 3000);
    CHECK_EQ(e.ev[e.n_ev - 1].seq, 5);
    CHECK_EQ(e.ev[e.n_ev - 1].err, 0);
    CHECK_EQ(e.samples[5], model_samples("Yes?", 16000));

    /* cancel() with requests in flight, outside any callback. */
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 6, texts[0]), 0);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 7, texts[1]), 0);
    sv_tts_elevenlabs.cancel(e.tts);
    n_before = e.n_ev;
    run_for(&e, 200);
    CHECK_EQ(e.n_ev, n_before);
    env_close(&e);
    fake_stop(&f);
}


/* free() from inside done: no callback afterwards, loop closes. */
SV_TEST(free_in_callback)
{
    struct fake f;
    struct env e;

    fake_start(&f, NULL);
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    for (uint32_t i = 0; i < 3; i++)
        CHECK_EQ(sv_tts_elevenlabs.say(e.tts, i, texts[i]), 0);
    e.free_at_done = 0;
    run_until_done(&e, 1, 3000);
    CHECK(e.tts == NULL);
    run_for(&e, 200);
    CHECK_EQ(e.n_done, 1);
    env_close(&e);
    fake_stop(&f);
}


/* Sentences one after another share one kept-alive connection. */
SV_TEST(reuse)
{
    struct fake f;
    struct env e;
    json_t *log;
    json_int_t conn;

    fake_start(&f, NULL);
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    CHECK_EQ(sv_elevenlabs_set_prefetch(e.tts, 0), 0);
    CHECK_EQ(sv_elevenlabs_set_prefetch(e.tts, 3), -EINVAL);
    for (uint32_t i = 0; i < 3; i++)
        CHECK_EQ(sv_tts_elevenlabs.say(e.tts, i, texts[i]), 0);
    run_until_done(&e, 3, 3000);
    check_order(&e, 3);
    /* A later turn too. */
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 3, "And one more."), 0);
    run_until_done(&e, 4, 3000);
    log = fake_requests(&f);
    CHECK_EQ(json_array_size(log), 4);
    conn = json_integer_value(json_object_get(json_array_get(log, 0), "conn"));
    CHECK(conn > 0);
    for (size_t i = 1; i < 4; i++) {
        CHECK_EQ(
            json_integer_value(json_object_get(json_array_get(log, i), "conn")),
            conn);
    }
    json_decref(log);
    env_close(&e);
    fake_stop(&f);
}


/*
 * previous_text links the sentences of one turn only: the first sentence
 * of the next turn (seq 0 again) is sent without the last one before it.
 */
SV_TEST(turns)
{
    static const char *const second[] = {"Sure.", "We open at nine."};
    struct fake f;
    struct env e;
    json_t *log;
    json_t *body;

    fake_start(&f, NULL);
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, texts[0]), 0);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 1, texts[1]), 0);
    run_until_done(&e, 2, 3000);
    /* The next reply, after the first was heard completely. */
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, second[0]), 0);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 1, second[1]), 0);
    run_until_done(&e, 4, 3000);
    log = fake_requests(&f);
    CHECK_EQ(json_array_size(log), 4);
    body = json_object_get(json_array_get(log, 1), "json");
    CHECK_STR(json_string_value(json_object_get(body, "previous_text")),
              texts[0]);
    body = json_object_get(json_array_get(log, 2), "json");
    CHECK_STR(json_string_value(json_object_get(body, "text")), second[0]);
    CHECK(json_object_get(body, "previous_text") == NULL);
    body = json_object_get(json_array_get(log, 3), "json");
    CHECK_STR(json_string_value(json_object_get(body, "previous_text")),
              second[0]);
    json_decref(log);
    env_close(&e);
    fake_stop(&f);
}


/* Blank text is done at once (from the loop), nothing asked or billed. */
SV_TEST(blank)
{
    struct fake f;
    struct env e;
    json_t *log;

    fake_start(&f, NULL);
    env_init(&e, &f, "good-key");
    env_alloc(&e);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 0, "  \n"), 0);
    CHECK_EQ(sv_tts_elevenlabs.say(e.tts, 1, "\xff\xfe"), -EINVAL);
    CHECK_EQ(e.n_ev, 0);
    run_until_done(&e, 1, 2000);
    CHECK_EQ(e.ev[0].type, EV_DONE);
    CHECK_EQ(e.ev[0].err, 0);
    CHECK_EQ(e.ev[0].characters, 0);
    log = fake_requests(&f);
    CHECK_EQ(json_array_size(log), 0);
    json_decref(log);
    env_close(&e);
    fake_stop(&f);
}


SV_TEST_MAIN(SV_CASE(three_sentences), SV_CASE(rates), SV_CASE(ulaw),
             SV_CASE(odd_split), SV_CASE(wrong_key), SV_CASE(voice_not_found),
             SV_CASE(bad_request), SV_CASE(retry), SV_CASE(drop_mid),
             SV_CASE(drop_retry), SV_CASE(stall), SV_CASE(cancel),
             SV_CASE(free_in_callback), SV_CASE(reuse), SV_CASE(turns),
             SV_CASE(blank))
