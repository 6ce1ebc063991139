/*
 * test_local.c - the offline providers (espeak, pocketsphinx, echo) on a
 * libuv loop, with no key and no network.
 *
 * The speech the recognizer hears is synthesized by the espeak adapter
 * during the test, with a little deterministic noise mixed in, the way a
 * line sounds. Every case ends with uv_loop_close() == 0: the adapters'
 * worker threads must be gone and their handles closed.
 *
 * SPDX-License-Identifier: MIT
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "check.h"
#include "providers/adapters.h"
#include "providers/registry.h"
#include "util/alloc.h"
#include "util/buf.h"

#define MAX_SEQ    8
#define MAX_EVENTS 4096
#define WAIT_MS    30000

/* ---- the loop ---- */

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
}


/*
 * Runs the loop until *cond holds, failing after timeout_ms. A timer
 * wakes the loop now and then, so that a missing event fails the test
 * with a message instead of hanging it.
 */
static void run_until(uv_loop_t *loop, const bool *cond, unsigned timeout_ms)
{
    uv_timer_t watchdog;
    uint64_t deadline;

    uv_update_time(loop);
    deadline = uv_now(loop) + timeout_ms;
    uv_timer_init(loop, &watchdog);
    uv_timer_start(&watchdog, on_watchdog, 50, 50);
    while (!*cond) {
        uv_run(loop, UV_RUN_ONCE);
        if (uv_now(loop) > deadline)
            SV_FAIL("timed out after %u ms", timeout_ms);
    }
    uv_close((uv_handle_t *)&watchdog, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}


/* Lets every handle close, then checks that nothing was left open. */
static void loop_finish(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(loop), 0);
}


static struct sv_provider_env local_env(uv_loop_t *loop)
{
    struct sv_provider_env env;

    /* Keyless providers get no base URL and no key (daemon/session.c). */
    memset(&env, 0, sizeof(env));
    env.loop = loop;
    env.tag = "test";
    return env;
}


/* ---- text-to-speech ---- */

struct tts_rec {
    struct sv_tts *t;
    bool in_call; /* inside say/cancel: no callback may come */
    struct sv_buf pcm[MAX_SEQ];
    size_t chunks[MAX_SEQ];
    bool done[MAX_SEQ];
    int err[MAX_SEQ];
    size_t chars[MAX_SEQ];
    int n_done;
    int want_done; /* all_done turns true at this many */
    bool all_done;
    /* Every callback in order: seq * 2, plus 1 for done. */
    uint32_t events[MAX_EVENTS];
    size_t n_events;
    /* Cancel or free from inside the first audio callback. */
    bool cancel_in_audio;
    bool free_in_audio;
    bool is_stale; /* set at that moment: any later callback is a bug */
    int stale_calls;
};


static void on_audio(void *arg, uint32_t seq, const int16_t *pcm,
                     size_t samples)
{
    struct tts_rec *r = arg;

    CHECK(!r->in_call);
    if (r->is_stale) {
        r->stale_calls++;
        return;
    }
    CHECK_INT(seq, <, MAX_SEQ);
    CHECK(samples > 0);
    CHECK(!r->done[seq]);
    sv_buf_append(&r->pcm[seq], pcm, samples * sizeof(*pcm));
    r->chunks[seq]++;
    CHECK_INT(r->n_events, <, MAX_EVENTS);
    r->events[r->n_events++] = seq * 2;
    if (r->cancel_in_audio) {
        r->cancel_in_audio = false;
        r->is_stale = true;
        sv_tts_espeak.cancel(r->t);
    } else if (r->free_in_audio) {
        r->free_in_audio = false;
        r->is_stale = true;
        sv_tts_espeak.free(r->t);
        r->t = NULL;
        r->all_done = true;
    }
}


static void on_tts_done(void *arg, uint32_t seq, int err, const char *why,
                        size_t characters)
{
    struct tts_rec *r = arg;

    CHECK(!r->in_call);
    if (r->is_stale) {
        r->stale_calls++;
        return;
    }
    CHECK_INT(seq, <, MAX_SEQ);
    CHECK(!r->done[seq]);
    r->done[seq] = true;
    r->err[seq] = err;
    r->chars[seq] = characters;
    if (err != 0)
        fprintf(stderr, "sentence %u failed: %s\n", seq, why ? why : "?");
    CHECK_INT(r->n_events, <, MAX_EVENTS);
    r->events[r->n_events++] = seq * 2 + 1;
    if (++r->n_done == r->want_done)
        r->all_done = true;
}


static void tts_start(struct tts_rec *r, uv_loop_t *loop, unsigned rate_hz,
                      const char *voice_id, const char *language)
{
    struct sv_provider_env env = local_env(loop);
    struct sv_tts_opts o;
    struct sv_tts_handlers h = {
        .audio = on_audio,
        .done = on_tts_done,
        .arg = r,
    };

    memset(&o, 0, sizeof(o));
    o.voice_id = voice_id;
    o.language = language;
    o.stability = -1;
    o.similarity_boost = -1;
    o.style = -1;
    o.speed = -1;
    o.sample_rate_hz = rate_hz;
    r->in_call = true;
    CHECK_EQ(sv_tts_espeak.alloc(&r->t, &env, &o, &h), 0);
    r->in_call = false;
}


static void tts_say(struct tts_rec *r, uint32_t seq, const char *text)
{
    r->in_call = true;
    CHECK_EQ(sv_tts_espeak.say(r->t, seq, text), 0);
    r->in_call = false;
    r->want_done++;
}


static void tts_close(struct tts_rec *r)
{
    sv_tts_espeak.free(r->t);
    r->t = NULL;
    for (size_t i = 0; i < MAX_SEQ; i++)
        sv_buf_free(&r->pcm[i]);
}


static size_t samples_of(const struct tts_rec *r, uint32_t seq)
{
    return r->pcm[seq].len / sizeof(int16_t);
}


/* Root mean square and peak of one sentence's audio. */
static void levels(const struct tts_rec *r, uint32_t seq, double *rms,
                   int *peak)
{
    const int16_t *p = (const int16_t *)(const void *)r->pcm[seq].data;
    size_t n = samples_of(r, seq);
    double sum = 0;

    *peak = 0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)p[i] * p[i];
        if (abs(p[i]) > *peak)
            *peak = abs(p[i]);
    }
    *rms = n > 0 ? sqrt(sum / (double)n) : 0;
}


SV_TEST(espeak_hello)
{
    struct tts_rec r = {0};
    uv_loop_t loop;
    double rms;
    int peak;

    uv_loop_init(&loop);
    tts_start(&r, &loop, 16000, NULL, "en");
    tts_say(&r, 0, "Hello world.");
    run_until(&loop, &r.all_done, WAIT_MS);

    CHECK_EQ(r.err[0], 0);
    CHECK_EQ(r.chars[0], strlen("Hello world."));
    /* About 0.8 s at 16 kHz; anything outside 0.5..3 s is not speech. */
    CHECK_INT(samples_of(&r, 0), >=, 16000 / 2);
    CHECK_INT(samples_of(&r, 0), <=, 3 * 16000);
    /* Streamed in pieces, not as one block at the end. */
    CHECK_INT(r.chunks[0], >=, 3);
    levels(&r, 0, &rms, &peak);
    CHECK_INT(peak, >, 4000);
    CHECK(rms > 500);

    tts_close(&r);
    loop_finish(&loop);
}


SV_TEST(espeak_order)
{
    static const char *const text[] = {
        "First sentence.",
        "The second sentence is a good deal longer than the first one.",
        "Third.",
    };
    struct tts_rec r = {0};
    uint32_t last = 0;
    uv_loop_t loop;

    uv_loop_init(&loop);
    /* 48 kHz: espeak-ng's 22050 Hz goes up, not down. */
    tts_start(&r, &loop, 48000, "en-us", NULL);
    for (uint32_t i = 0; i < 3; i++)
        tts_say(&r, i, text[i]);
    run_until(&loop, &r.all_done, WAIT_MS);

    /* Sentence by sentence: all audio of one, its end, then the next. */
    for (size_t i = 0; i < r.n_events; i++) {
        CHECK_INT(r.events[i], >=, last);
        last = r.events[i];
    }
    CHECK_EQ(last, 2 * 2 + 1);
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_EQ(r.err[i], 0);
        CHECK(r.chunks[i] > 0);
        CHECK_EQ(r.chars[i], strlen(text[i]));
    }
    /* The long sentence takes longer to say than the short ones. */
    CHECK_INT(samples_of(&r, 1), >, samples_of(&r, 0));
    CHECK_INT(samples_of(&r, 0), >, samples_of(&r, 2));
    CHECK_INT(samples_of(&r, 2), >=, 48000 / 4);

    tts_close(&r);
    loop_finish(&loop);
}


/* True when a and b differ by less than tolerance (a fraction of b). */
static bool near(size_t a, size_t b, double tolerance)
{
    return fabs((double)a - (double)b) < tolerance * (double)b;
}


SV_TEST(espeak_dutch)
{
    /* Dutch number words, which English letter rules say differently. */
    static const char text[] = "Achtentachtig, zevenenzeventig.";
    struct tts_rec mapped = {0};
    struct tts_rec dutch = {0};
    struct tts_rec english = {0};
    uv_loop_t loop;
    double rms;
    int peak;

    uv_loop_init(&loop);
    /* An ElevenLabs voice id is no espeak-ng voice: the language decides. */
    tts_start(&mapped, &loop, 16000, "21m00Tcm4TlvDq8ikWAM", "nl-NL");
    tts_start(&dutch, &loop, 16000, "nl", NULL);
    tts_start(&english, &loop, 16000, "en", NULL);
    tts_say(&mapped, 0, text);
    tts_say(&dutch, 0, text);
    tts_say(&english, 0, text);
    run_until(&loop, &mapped.all_done, WAIT_MS);
    run_until(&loop, &dutch.all_done, WAIT_MS);
    run_until(&loop, &english.all_done, WAIT_MS);

    CHECK_EQ(mapped.err[0], 0);
    levels(&mapped, 0, &rms, &peak);
    CHECK_INT(peak, >, 4000);
    CHECK_INT(samples_of(&mapped, 0), >=, 16000);
    /* espeak-ng varies its timing slightly from run to run: 2 %, not 10. */
    fprintf(stderr, "samples: mapped %zu, nl %zu, en %zu\n",
            samples_of(&mapped, 0), samples_of(&dutch, 0),
            samples_of(&english, 0));
    CHECK(near(samples_of(&mapped, 0), samples_of(&dutch, 0), 0.05));
    CHECK(!near(samples_of(&mapped, 0), samples_of(&english, 0), 0.08));

    tts_close(&mapped);
    tts_close(&dutch);
    tts_close(&english);
    loop_finish(&loop);
}


SV_TEST(espeak_cancel)
{
    struct tts_rec r = {0};
    uv_loop_t loop;

    uv_loop_init(&loop);
    tts_start(&r, &loop, 16000, NULL, NULL);
    r.cancel_in_audio = true;
    for (uint32_t i = 0; i < 4; i++) {
        tts_say(&r, i,
                "This sentence is long enough to be cut short by the "
                "caller, who has something to say about it right now.");
    }
    /* The first audio callback cancels: nothing of the four may follow. */
    run_until(&loop, &r.is_stale, WAIT_MS);
    CHECK_EQ(r.n_done, 0);

    /* After a cancel the instance speaks again, from sequence 0. */
    r.is_stale = false;
    r.want_done = 0;
    r.n_done = 0;
    r.n_events = 0;
    for (size_t i = 0; i < MAX_SEQ; i++) {
        sv_buf_reset(&r.pcm[i]);
        r.chunks[i] = 0;
    }
    tts_say(&r, 0, "Again.");
    run_until(&loop, &r.all_done, WAIT_MS);
    CHECK_EQ(r.stale_calls, 0);
    CHECK_EQ(r.err[0], 0);
    CHECK_EQ(r.chars[0], strlen("Again."));
    CHECK(r.chunks[0] > 0);
    CHECK_EQ(r.n_events, r.chunks[0] + 1);

    tts_close(&r);
    loop_finish(&loop);
}


SV_TEST(espeak_free_inside)
{
    struct tts_rec r = {0};
    uv_loop_t loop;

    uv_loop_init(&loop);
    tts_start(&r, &loop, 8000, NULL, NULL);
    r.free_in_audio = true;
    tts_say(&r, 0, "This one is freed while it speaks.");
    tts_say(&r, 1, "And this one never starts.");
    run_until(&loop, &r.all_done, WAIT_MS);
    CHECK(r.t == NULL);

    /* The worker ends and the loop closes without another callback. */
    loop_finish(&loop);
    CHECK_EQ(r.stale_calls, 0);
    CHECK_EQ(r.n_done, 0);
    for (size_t i = 0; i < MAX_SEQ; i++)
        sv_buf_free(&r.pcm[i]);
}


SV_TEST(espeak_bad_args)
{
    struct sv_provider_env env;
    struct sv_tts_handlers h = {.audio = on_audio, .done = on_tts_done};
    struct sv_tts_opts o;
    struct sv_tts *t = NULL;
    uv_loop_t loop;

    uv_loop_init(&loop);
    env = local_env(&loop);
    memset(&o, 0, sizeof(o));
    o.sample_rate_hz = 0;
    CHECK_EQ(sv_tts_espeak.alloc(&t, &env, &o, &h), -EINVAL);
    o.sample_rate_hz = 16000;
    h.done = NULL;
    CHECK_EQ(sv_tts_espeak.alloc(&t, &env, &o, &h), -EINVAL);
    CHECK(t == NULL);
    sv_tts_espeak.free(NULL);
    loop_finish(&loop);
}


/* ---- speech-to-text ---- */

struct stt_rec {
    struct sv_stt *s;
    int started;
    int interims;
    int finals;
    int errors;
    char final_text[4][256];
    bool started_before[4]; /* speech_started came before final i */
    bool has_open_start;
    bool has_final;
    bool has_two;
    bool in_call;
};


static void on_transcript(void *arg, const char *text, bool is_final,
                          bool speech_final)
{
    struct stt_rec *r = arg;

    CHECK(!r->in_call);
    fprintf(stderr, "%s: \"%s\"%s\n", is_final ? "final" : "interim", text,
            speech_final ? " (speech_final)" : "");
    if (!is_final) {
        CHECK(!speech_final);
        CHECK(r->has_open_start);
        r->interims++;
        return;
    }
    CHECK(speech_final);
    CHECK_INT(r->finals, <, 4);
    snprintf(r->final_text[r->finals], sizeof(r->final_text[0]), "%s", text);
    r->started_before[r->finals] = r->has_open_start;
    r->has_open_start = false;
    r->has_final = true;
    if (++r->finals == 2)
        r->has_two = true;
}


static void on_speech_started(void *arg)
{
    struct stt_rec *r = arg;

    CHECK(!r->in_call);
    fprintf(stderr, "speech started\n");
    CHECK(!r->has_open_start);
    r->has_open_start = true;
    r->started++;
}


static void on_utterance_end(void *arg)
{
    (void)arg;
}


static void on_stt_error(void *arg, int err, const char *why)
{
    struct stt_rec *r = arg;

    fprintf(stderr, "stt error %d: %s\n", err, why);
    r->errors++;
}


static int stt_start(struct stt_rec *r, uv_loop_t *loop, unsigned rate_hz,
                     const char *language)
{
    struct sv_provider_env env = local_env(loop);
    struct sv_stt_opts o;
    struct sv_stt_handlers h = {
        .transcript = on_transcript,
        .speech_started = on_speech_started,
        .utterance_end = on_utterance_end,
        .error = on_stt_error,
        .arg = r,
    };
    int err;

    memset(&o, 0, sizeof(o));
    o.model = "en-us";
    o.language = language;
    o.sample_rate_hz = rate_hz;
    o.endpointing_ms = 300;
    o.utterance_end_ms = 1000;
    r->in_call = true;
    err = sv_stt_pocketsphinx.alloc(&r->s, &env, &o, &h);
    r->in_call = false;
    return err;
}


/* Sends samples in 20 ms frames, as a call does. */
static void stt_feed(struct stt_rec *r, const int16_t *pcm, size_t n,
                     unsigned rate_hz)
{
    size_t frame = rate_hz / 50;

    r->in_call = true;
    for (size_t i = 0; i < n; i += frame) {
        size_t k = n - i < frame ? n - i : frame;

        CHECK_EQ(sv_stt_pocketsphinx.send(r->s, pcm + i, k), 0);
    }
    r->in_call = false;
}


/* A line's hiss: deterministic, about 30 of 32767 RMS. */
static void add_noise(int16_t *pcm, size_t n, uint32_t *seed)
{
    for (size_t i = 0; i < n; i++) {
        int sum = 0;
        int v;

        for (int k = 0; k < 4; k++) {
            *seed = *seed * 1103515245u + 12345u;
            sum += (int)((*seed >> 16) & 0x7fff) - 16384;
        }
        v = pcm[i] + sum / 1092;
        pcm[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
}


/*
 * A caller's side of a call at rate_hz: 2 s of hiss (the line settles,
 * the greeting plays), each sentence followed by 2 s of hiss. Returns
 * new samples and sets *n.
 */
static int16_t *caller_audio(uv_loop_t *loop, unsigned rate_hz,
                             const char *const *sentences, size_t count,
                             size_t *n)
{
    struct tts_rec r = {0};
    struct sv_buf b = {0};
    int16_t *gap = sv_xcalloc(2 * rate_hz, sizeof(*gap));
    uint32_t seed = 42;

    tts_start(&r, loop, rate_hz, "en-us", NULL);
    for (size_t i = 0; i < count; i++)
        tts_say(&r, (uint32_t)i, sentences[i]);
    run_until(loop, &r.all_done, WAIT_MS);

    sv_buf_append(&b, gap, 2 * rate_hz * sizeof(*gap));
    for (size_t i = 0; i < count; i++) {
        CHECK_EQ(r.err[i], 0);
        sv_buf_append(&b, r.pcm[i].data, r.pcm[i].len);
        sv_buf_append(&b, gap, 2 * rate_hz * sizeof(*gap));
    }
    tts_close(&r);
    free(gap);

    *n = b.len / sizeof(int16_t);
    add_noise((int16_t *)(void *)b.data, *n, &seed);
    return (int16_t *)(void *)b.data;
}


/* True when text has one of the words (a NULL-terminated list). */
static bool has_word(const char *text, const char *const *words)
{
    for (; *words != NULL; words++) {
        size_t len = strlen(*words);

        for (const char *p = strstr(text, *words); p != NULL;
             p = strstr(p + 1, *words)) {
            bool starts = p == text || !isalpha((unsigned char)p[-1]);
            bool ends = !isalpha((unsigned char)p[len]);

            if (starts && ends)
                return true;
        }
    }
    return false;
}


SV_TEST(pocketsphinx_recognize)
{
    static const char *const sentences[] = {
        "Hello world.",
        "What time is it?",
    };
    static const char *const words0[] = {"hello", "world", NULL};
    static const char *const words1[] = {"what", "time", NULL};
    struct stt_rec r = {0};
    unsigned rate_hz = 24000;
    uv_loop_t loop;
    int16_t *pcm;
    size_t n;

    uv_loop_init(&loop);
    /* 24 kHz, so that the adapter resamples to its model's 16 kHz. */
    pcm = caller_audio(&loop, rate_hz, sentences, 2, &n);
    CHECK_EQ(stt_start(&r, &loop, rate_hz, "en-US"), 0);
    stt_feed(&r, pcm, n, rate_hz);
    free(pcm);

    /*
     * Both turns end by the adapter's own silence detection: finish()
     * comes only afterwards.
     */
    run_until(&loop, &r.has_two, WAIT_MS);
    sv_stt_pocketsphinx.finish(r.s);
    CHECK_EQ(r.errors, 0);
    CHECK_EQ(r.started, 2);
    CHECK_EQ(r.finals, 2);
    CHECK(r.started_before[0]);
    CHECK(r.started_before[1]);
    CHECK(has_word(r.final_text[0], words0));
    CHECK(has_word(r.final_text[1], words1));

    sv_stt_pocketsphinx.free(r.s);
    loop_finish(&loop);
}


SV_TEST(pocketsphinx_finish)
{
    static const char *const sentences[] = {"Hello world."};
    static const int16_t hiss[1];
    struct stt_rec r = {0};
    uv_loop_t loop;
    int16_t *pcm;
    size_t n;

    uv_loop_init(&loop);
    pcm = caller_audio(&loop, 16000, sentences, 1, &n);
    CHECK_EQ(stt_start(&r, &loop, 16000, NULL), 0);
    /* Cut the trailing silence: finish() must end the utterance. */
    stt_feed(&r, pcm, n - 2 * 16000 + 1600, 16000);
    free(pcm);
    r.in_call = true;
    sv_stt_pocketsphinx.finish(r.s);
    CHECK_EQ(sv_stt_pocketsphinx.send(r.s, NULL, 0), 0);
    CHECK_EQ(sv_stt_pocketsphinx.send(r.s, hiss, 1), -EPIPE);
    r.in_call = false;

    run_until(&loop, &r.has_final, WAIT_MS);
    CHECK_EQ(r.errors, 0);
    CHECK_EQ(r.finals, 1);
    CHECK_EQ(r.started, 1);
    CHECK(r.started_before[0]);

    sv_stt_pocketsphinx.free(r.s);
    loop_finish(&loop);
}


SV_TEST(pocketsphinx_free_early)
{
    int16_t *hiss = sv_xcalloc(16000, sizeof(*hiss));
    struct stt_rec r = {0};
    uint32_t seed = 7;
    uv_loop_t loop;

    uv_loop_init(&loop);
    add_noise(hiss, 16000, &seed);
    CHECK_EQ(stt_start(&r, &loop, 16000, "en"), 0);
    stt_feed(&r, hiss, 16000, 16000);
    free(hiss);
    /* Freed while the model still loads: the loop waits for the worker. */
    sv_stt_pocketsphinx.free(r.s);
    loop_finish(&loop);
    CHECK_EQ(r.started + r.finals + r.interims + r.errors, 0);
}


SV_TEST(pocketsphinx_bad_args)
{
    struct stt_rec r = {0};
    uv_loop_t loop;

    uv_loop_init(&loop);
    CHECK_EQ(stt_start(&r, &loop, 16000, "nl"), -EINVAL);
    CHECK_EQ(stt_start(&r, &loop, 0, "en"), -EINVAL);
    CHECK(r.s == NULL);
    sv_stt_pocketsphinx.free(NULL);
    loop_finish(&loop);
}


/* ---- the echo model ---- */

struct llm_rec {
    struct sv_llm_req *req;
    bool in_call;
    struct sv_buf text;
    int text_calls;
    int tool_calls;
    char tool_name[32];
    char tool_args[32];
    int done_calls;
    int err;
    bool has_usage;
    struct sv_llm_usage usage;
    bool is_done;
    bool cancel_in_text;
    bool tool_after_text;
};


static void on_text(void *arg, const char *text, size_t len)
{
    struct llm_rec *r = arg;

    CHECK(!r->in_call);
    CHECK_EQ(r->done_calls, 0);
    CHECK_EQ(r->tool_calls, 0);
    sv_buf_append(&r->text, text, len);
    r->text_calls++;
    if (r->cancel_in_text) {
        r->cancel_in_text = false;
        sv_llm_echo.cancel(r->req);
        CHECK_EQ(r->done_calls, 1);
        CHECK_EQ(r->err, -ECANCELED);
    }
}


static void on_tool(void *arg, const char *id, const char *name,
                    const char *arguments)
{
    struct llm_rec *r = arg;

    CHECK(!r->in_call);
    CHECK_EQ(r->done_calls, 0);
    CHECK(id != NULL && id[0] != '\0');
    r->tool_after_text = r->text_calls > 0;
    r->tool_calls++;
    snprintf(r->tool_name, sizeof(r->tool_name), "%s", name);
    snprintf(r->tool_args, sizeof(r->tool_args), "%s", arguments);
}


static void on_llm_done(void *arg, int err, const char *why,
                        const struct sv_llm_usage *usage)
{
    struct llm_rec *r = arg;

    r->done_calls++;
    r->err = err;
    if (usage != NULL) {
        r->has_usage = true;
        r->usage = *usage;
    }
    r->is_done = true;
}


static json_t *builtin_tools(void)
{
    return json_pack("[{s:s, s:{s:s, s:s, s:{s:s, s:{}}}}]", "type", "function",
                     "function", "name", "end_call", "description",
                     "End the call.", "parameters", "type", "object",
                     "properties");
}


static void echo_start(struct llm_rec *r, uv_loop_t *loop, const char *said,
                       json_t *tools)
{
    struct sv_provider_env env = local_env(loop);
    struct sv_llm_handlers h = {
        .text = on_text,
        .tool_call = on_tool,
        .done = on_llm_done,
        .arg = r,
    };
    struct sv_llm_opts o;
    json_t *msgs;

    msgs = json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "role", "system",
                     "content", "You are a helpful voice assistant.", "role",
                     "assistant", "content", "Hello, how can I help?", "role",
                     "user", "content", said);
    memset(&o, 0, sizeof(o));
    o.model = "echo";
    o.temperature = -1;
    o.messages = msgs;
    o.tools = tools;
    r->in_call = true;
    CHECK_EQ(sv_llm_echo.start(&r->req, &env, &o, &h), 0);
    r->in_call = false;
    json_decref(msgs);
}


SV_TEST(echo_reply)
{
    struct llm_rec r = {0};
    json_t *tools = builtin_tools();
    uv_loop_t loop;

    uv_loop_init(&loop);
    echo_start(&r, &loop, "  what time is it?  ", tools);
    CHECK_EQ(r.text_calls, 0);
    run_until(&loop, &r.is_done, WAIT_MS);

    CHECK_EQ(r.done_calls, 1);
    CHECK_EQ(r.err, 0);
    CHECK(r.text.data != NULL);
    CHECK_STR(r.text.data, "You said: what time is it.");
    /* Streamed word by word. */
    CHECK_EQ(r.text_calls, 6);
    CHECK_EQ(r.tool_calls, 0);
    CHECK(r.has_usage);
    /* Words: 6 system, 5 assistant, 4 user; 6 in the reply. */
    CHECK_EQ(r.usage.prompt_tokens, 15);
    CHECK_EQ(r.usage.completion_tokens, 6);

    json_decref(tools);
    sv_buf_free(&r.text);
    loop_finish(&loop);
}


SV_TEST(echo_bye)
{
    static const char *const said[] = {"Okay, BYE!", "goodbye", "bye bye"};
    json_t *tools = builtin_tools();
    uv_loop_t loop;

    uv_loop_init(&loop);
    for (size_t i = 0; i < SV_ARRAY_SIZE(said); i++) {
        struct llm_rec r = {0};

        echo_start(&r, &loop, said[i], tools);
        run_until(&loop, &r.is_done, WAIT_MS);
        CHECK_EQ(r.done_calls, 1);
        CHECK_EQ(r.err, 0);
        CHECK(r.text.data != NULL && strncmp(r.text.data, "Goodbye", 7) == 0);
        CHECK_EQ(r.tool_calls, 1);
        CHECK(r.tool_after_text);
        CHECK_STR(r.tool_name, "end_call");
        CHECK_STR(r.tool_args, "{}");
        sv_buf_free(&r.text);
    }

    /* "maybe" holds no goodbye; without tools there is no tool call. */
    {
        struct llm_rec r = {0};

        echo_start(&r, &loop, "maybe tomorrow", tools);
        run_until(&loop, &r.is_done, WAIT_MS);
        CHECK_EQ(r.tool_calls, 0);
        CHECK_STR(r.text.data, "You said: maybe tomorrow.");
        sv_buf_free(&r.text);
    }
    {
        struct llm_rec r = {0};

        echo_start(&r, &loop, "bye", NULL);
        run_until(&loop, &r.is_done, WAIT_MS);
        CHECK_EQ(r.tool_calls, 0);
        CHECK_EQ(r.done_calls, 1);
        sv_buf_free(&r.text);
    }

    json_decref(tools);
    loop_finish(&loop);
}


SV_TEST(echo_cancel)
{
    json_t *tools = builtin_tools();
    uv_loop_t loop;

    uv_loop_init(&loop);
    {
        /* At once: done(-ECANCELED) before cancel() returns. */
        struct llm_rec r = {0};

        echo_start(&r, &loop, "hello there", tools);
        sv_llm_echo.cancel(r.req);
        CHECK_EQ(r.done_calls, 1);
        CHECK_EQ(r.err, -ECANCELED);
        uv_run(&loop, UV_RUN_NOWAIT);
        CHECK_EQ(r.text_calls, 0);
        CHECK_EQ(r.done_calls, 1);
    }
    {
        /* From inside the first text callback: nothing follows. */
        struct llm_rec r = {0};

        r.cancel_in_text = true;
        echo_start(&r, &loop, "goodbye then", tools);
        run_until(&loop, &r.is_done, WAIT_MS);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_EQ(r.text_calls, 1);
        CHECK_EQ(r.tool_calls, 0);
        CHECK_EQ(r.done_calls, 1);
        CHECK_EQ(r.err, -ECANCELED);
        sv_buf_free(&r.text);
    }
    json_decref(tools);
    loop_finish(&loop);
}


/* ---- all three, and the tables ---- */

SV_TEST(round_trip)
{
    static const char *const sentences[] = {"What time is it?"};
    static const char *const words[] = {"what", "time", NULL};
    struct stt_rec heard = {0};
    struct llm_rec reply = {0};
    struct tts_rec spoken = {0};
    uv_loop_t loop;
    int16_t *pcm;
    size_t n;

    uv_loop_init(&loop);
    pcm = caller_audio(&loop, 16000, sentences, 1, &n);
    CHECK_EQ(stt_start(&heard, &loop, 16000, NULL), 0);
    stt_feed(&heard, pcm, n, 16000);
    free(pcm);
    run_until(&loop, &heard.has_final, WAIT_MS);
    sv_stt_pocketsphinx.free(heard.s);
    CHECK(has_word(heard.final_text[0], words));

    echo_start(&reply, &loop, heard.final_text[0], NULL);
    run_until(&loop, &reply.is_done, WAIT_MS);
    CHECK(strncmp(reply.text.data, "You said: ", 10) == 0);
    CHECK(strstr(reply.text.data, heard.final_text[0]) != NULL);

    tts_start(&spoken, &loop, 16000, NULL, "en");
    tts_say(&spoken, 0, reply.text.data);
    run_until(&loop, &spoken.all_done, WAIT_MS);
    CHECK_EQ(spoken.err[0], 0);
    CHECK_INT(samples_of(&spoken, 0), >, 16000);

    tts_close(&spoken);
    sv_buf_free(&reply.text);
    loop_finish(&loop);
}


SV_TEST(tables)
{
    static const struct {
        const char *id;
        enum sv_provider_kind kind;
        const char *model;
    } local[] = {
        {"pocketsphinx", SV_KIND_STT, "en-us"},
        {"espeak", SV_KIND_TTS, "espeak-ng"},
        {"echo", SV_KIND_LLM, "echo"},
    };

    CHECK(sv_stt_find("pocketsphinx") == &sv_stt_pocketsphinx);
    CHECK(sv_tts_find("espeak") == &sv_tts_espeak);
    CHECK(sv_llm_find("echo") == &sv_llm_echo);
    CHECK(sv_stt_find("espeak") == NULL);
    CHECK(sv_tts_find("echo") == NULL);
    CHECK(sv_llm_find("pocketsphinx") == NULL);

    for (size_t i = 0; i < SV_ARRAY_SIZE(local); i++) {
        const struct sv_provider_info *p = sv_provider_find(local[i].id);

        CHECK(p != NULL);
        CHECK_EQ(p->kind, local[i].kind);
        CHECK(!p->needs_key);
        CHECK_EQ(p->auth, SV_AUTH_NONE);
        CHECK(p->default_url == NULL);
        CHECK(p->key_env == NULL);
        CHECK(p->docs_url != NULL);
        CHECK_STR(sv_provider_default_model(p), local[i].model);
        /* Keyless rows come after the keyed ones (config indexes them). */
        CHECK_INT(sv_provider_index(p), >=, SV_PROVIDER_KEYED_COUNT);
    }
    CHECK_STR(sv_providers[SV_PROVIDER_RESEND].id, "resend");
}


SV_TEST_MAIN(SV_CASE(espeak_hello), SV_CASE(espeak_order),
             SV_CASE(espeak_dutch), SV_CASE(espeak_cancel),
             SV_CASE(espeak_free_inside), SV_CASE(espeak_bad_args),
             SV_CASE(pocketsphinx_recognize), SV_CASE(pocketsphinx_finish),
             SV_CASE(pocketsphinx_free_early), SV_CASE(pocketsphinx_bad_args),
             SV_CASE(echo_reply), SV_CASE(echo_bye), SV_CASE(echo_cancel),
             SV_CASE(round_trip), SV_CASE(tables))
