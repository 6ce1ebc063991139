/*
 * local_pocketsphinx.c - "pocketsphinx", speech-to-text with CMU
 * PocketSphinx (the Debian 5prealpha library and its en-us model),
 * offline and without a key.
 *
 * Each instance has a worker thread of its own with a decoder of its
 * own: the library keeps per-search scratch state inside its language
 * model (lm_trie's history caches), its dictionary and its acoustic model,
 * so one decoder cannot serve two threads, and its API has no way to
 * share the read-only parts between decoders. A decoder costs about
 * 90 MB and loads in about 0.6 s (measured on the Debian 12 package), so
 * the worker loads it while send() queues the caller's audio.
 *
 * The worker resamples the call's audio to the model's 16 kHz and feeds
 * it in 20 ms frames. Turn taking is the adapter's own, in the spirit of
 * Deepgram's events: the library's voice activity detector (its
 * ps_get_in_speech() lags speech by VAD_POST_FRAMES) starts an utterance
 * (speech_started); while it lasts, the partial hypothesis goes out as
 * an interim transcript every PARTIAL_MS; after endpointing_ms (at least
 * MIN_HANGOVER_MS) without speech the utterance ends with a final
 * transcript that is also speech_final. No utterance_end event is sent:
 * every final already ends the turn.
 *
 * The detector learns the noise floor from the stream's first frame, so
 * on a noisy line it reports speech for about the first second whatever
 * is said. The adapter therefore warms up: it feeds the decoder but
 * believes the detector only once it reports silence after WARMUP_MIN_MS
 * (or after WARMUP_MAX_MS in any case), and then restarts the utterance
 * to drop what it heard meanwhile. Words in the first second or two of a
 * call, while the greeting plays, are lost (KNOWN_ISSUES.md).
 *
 * Threads: alloc/send/finish/free and every callback on the env's loop
 * thread, which receives the worker's events through a uv_async_t. The
 * async handle stays open until the worker has ended and been joined,
 * so the worker never outlives the memory it uses.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <pocketsphinx.h>
#include <sphinxbase/err.h>
#include <uv.h>

#include "pipeline/resample.h"
#include "providers/adapters.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/misc.h"
#include "util/thread.h"

#ifndef SV_POCKETSPHINX_MODELDIR
#define SV_POCKETSPHINX_MODELDIR "/usr/share/pocketsphinx/model"
#endif

#define MODEL_HMM  SV_POCKETSPHINX_MODELDIR "/en-us/en-us"
#define MODEL_LM   SV_POCKETSPHINX_MODELDIR "/en-us/en-us.lm.bin"
#define MODEL_DICT SV_POCKETSPHINX_MODELDIR "/en-us/cmudict-en-us.dict"

#define MODEL_RATE_HZ 16000
#define FRAME_MS      20

#define MIN_RATE_HZ 8000
#define MAX_RATE_HZ 48000

/*
 * The detector's own hangover, in 10 ms frames: it bridges the gaps
 * between words; the adapter's hangover after it decides the turn.
 */
#define VAD_POST_FRAMES "30"
#define MIN_HANGOVER_MS 300

/* The detector's start-up transient (see the top of the file). */
#define WARMUP_MIN_MS 500
#define WARMUP_MAX_MS 2000

/* How often an interim transcript may go out during speech. */
#define PARTIAL_MS 250

/* Audio queued while the model loads or the worker lags, at most. */
#define MAX_QUEUED_S 30

enum ev_kind {
    EV_SPEECH_STARTED,
    EV_TRANSCRIPT,
    EV_ERROR,
    EV_EXITED, /* the worker's last event: join it */
};

/* An event for the loop, posted by the worker. */
struct event {
    struct event *next;
    enum ev_kind kind;
    bool is_final;
    bool speech_final;
    int err;
    char text[]; /* transcript, or the error's reason */
};

struct sv_stt {
    /* Loop thread only. */
    uv_async_t async; /* the worker posted events */
    struct sv_stt_handlers h;
    pthread_t thread;
    char *tag;       /* owned: the call id for log lines */
    bool is_freed;   /* no callback may follow */
    bool is_joined;  /* the worker ended and was joined */
    bool is_closing; /* the async handle is closing; s goes on close */

    /* Set by alloc, read-only afterwards. */
    unsigned rate_hz;
    unsigned hangover_ms;

    /* Shared, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* audio came, or finish or stop was asked */
    int16_t *in;         /* owned: queued audio at rate_hz */
    size_t in_len;
    size_t in_cap;
    bool want_finish;
    bool is_overrun; /* audio was dropped since the queue last drained */
    struct event *ev_head;
    struct event **ev_tail;

    /* Set by free; the worker polls it between frames. */
    atomic_bool want_stop;

    /* Worker thread only. */
    ps_decoder_t *ps;
    struct sv_resampler *rs;
    bool is_warm;       /* the detector's start-up transient is over */
    size_t warmup_16k;  /* samples fed while warming up */
    bool in_utt;        /* speech_started was sent for this utterance */
    size_t silence_16k; /* samples without speech since speech */
    size_t since_partial_16k;
    char *last_partial; /* owned */
};

static pthread_once_t sphinx_log_once = PTHREAD_ONCE_INIT;


/* ---- sphinxbase's log ---- */

/*
 * sphinxbase logs through one process-wide callback. Its INFO chatter
 * (hundreds of lines per decoder) is dropped; warnings and errors become
 * DEBUG and WARN lines, with the level tested before formatting.
 */
static void on_sphinx_log(void *user_data, err_lvl_t level, const char *fmt,
                          ...)
{
    int sv_level;
    char line[256];
    size_t len;
    va_list ap;

    if (level == ERR_WARN)
        sv_level = SV_LOG_DEBUG;
    else if (level == ERR_ERROR || level == ERR_FATAL)
        sv_level = SV_LOG_WARN;
    else
        return;
    if (sv_level > sv_log_threshold)
        return;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    sv_log(sv_level, "pocketsphinx: %s", line);
}


static void sphinx_log_setup(void)
{
    /* Without a log file, the configuration dump of ps_init() goes too. */
    err_set_logfp(NULL);
    err_set_callback(on_sphinx_log, NULL);
}


/* ---- events from the worker ---- */

static void post(struct sv_stt *s, enum ev_kind kind, const char *text,
                 bool is_final, bool speech_final, int err)
{
    size_t len = text != NULL ? strlen(text) : 0;
    struct event *ev = sv_xcalloc(1, sizeof(*ev) + len + 1);

    ev->kind = kind;
    ev->is_final = is_final;
    ev->speech_final = speech_final;
    ev->err = err;
    if (len > 0)
        memcpy(ev->text, text, len);

    pthread_mutex_lock(&s->mu);
    *s->ev_tail = ev;
    s->ev_tail = &ev->next;
    uv_async_send(&s->async);
    pthread_mutex_unlock(&s->mu);
}


static void on_closed(uv_handle_t *handle)
{
    struct sv_stt *s = handle->data;
    struct event *ev;

    while ((ev = s->ev_head) != NULL) {
        s->ev_head = ev->next;
        free(ev);
    }
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s->in);
    free(s->tag);
    free(s);
}


static void close_if_done(struct sv_stt *s)
{
    if (s->is_freed && s->is_joined && !s->is_closing) {
        s->is_closing = true;
        uv_close((uv_handle_t *)&s->async, on_closed);
    }
}


/* Loop: delivers the worker's events in order. */
static void on_events(uv_async_t *a)
{
    struct sv_stt *s = a->data;
    bool has_exited = false;
    struct event *list;
    struct event *ev;

    pthread_mutex_lock(&s->mu);
    list = s->ev_head;
    s->ev_head = NULL;
    s->ev_tail = &s->ev_head;
    pthread_mutex_unlock(&s->mu);

    /* A callback may free s; it stays valid until on_closed. */
    while ((ev = list) != NULL) {
        list = ev->next;
        if (ev->kind == EV_EXITED) {
            has_exited = true;
        } else if (!s->is_freed) {
            switch (ev->kind) {
            case EV_SPEECH_STARTED:
                if (s->h.speech_started != NULL)
                    s->h.speech_started(s->h.arg);
                break;
            case EV_TRANSCRIPT:
                s->h.transcript(s->h.arg, ev->text, ev->is_final,
                                ev->speech_final);
                break;
            case EV_ERROR:
                if (s->h.error != NULL)
                    s->h.error(s->h.arg, ev->err, ev->text);
                break;
            case EV_EXITED:
                break;
            }
        }
        free(ev);
    }
    if (has_exited && !s->is_joined) {
        pthread_join(s->thread, NULL);
        s->is_joined = true;
    }
    close_if_done(s);
}


/* ---- the worker ---- */

static ps_decoder_t *load_decoder(struct sv_stt *s)
{
    ps_decoder_t *ps = NULL;
    uint64_t t0 = sv_now_ms();
    cmd_ln_t *cfg;

    /* The model's feat.params sets the front end (filters, CMN). */
    cfg = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", MODEL_HMM, "-lm", MODEL_LM,
                      "-dict", MODEL_DICT, "-samprate", "16000",
                      "-vad_postspeech", VAD_POST_FRAMES, NULL);
    if (cfg != NULL) {
        ps = ps_init(cfg);
        cmd_ln_free_r(cfg);
    }
    if (ps != NULL) {
        sv_log(SV_LOG_INFO, "pocketsphinx: [%s] model loaded in %llu ms",
               s->tag, (unsigned long long)(sv_now_ms() - t0));
    }
    return ps;
}


/* Ends the utterance and sends its final transcript, then starts anew. */
static int end_utterance(struct sv_stt *s, bool want_next)
{
    const char *hyp;

    if (ps_end_utt(s->ps) < 0)
        return -EIO;
    if (s->in_utt) {
        hyp = ps_get_hyp(s->ps, NULL);
        post(s, EV_TRANSCRIPT, hyp != NULL ? hyp : "", true, true, 0);
        sv_log(SV_LOG_DEBUG, "pocketsphinx: [%s] utterance of %zu bytes",
               s->tag, hyp != NULL ? strlen(hyp) : 0);
    }
    s->in_utt = false;
    s->silence_16k = 0;
    s->since_partial_16k = 0;
    free(s->last_partial);
    s->last_partial = NULL;
    if (want_next && ps_start_utt(s->ps) < 0)
        return -EIO;
    return 0;
}


/* Feeds one frame of 16 kHz audio and runs the turn taking. */
static int feed(struct sv_stt *s, const int16_t *pcm, size_t n)
{
    const char *hyp;
    bool in_speech;

    if (ps_process_raw(s->ps, pcm, n, FALSE, FALSE) < 0)
        return -EIO;
    in_speech = ps_get_in_speech(s->ps) != 0;

    if (!s->is_warm) {
        s->warmup_16k += n;
        if ((!in_speech &&
             s->warmup_16k >= WARMUP_MIN_MS * MODEL_RATE_HZ / 1000) ||
            s->warmup_16k >= WARMUP_MAX_MS * MODEL_RATE_HZ / 1000) {
            s->is_warm = true;
            return end_utterance(s, true);
        }
        return 0;
    }
    if (in_speech && !s->in_utt) {
        s->in_utt = true;
        s->silence_16k = 0;
        s->since_partial_16k = 0;
        post(s, EV_SPEECH_STARTED, NULL, false, false, 0);
        sv_log(SV_LOG_DEBUG, "pocketsphinx: [%s] speech started", s->tag);
        return 0;
    }
    if (!s->in_utt)
        return 0;

    if (in_speech) {
        s->silence_16k = 0;
        s->since_partial_16k += n;
        if (s->since_partial_16k >= PARTIAL_MS * MODEL_RATE_HZ / 1000) {
            s->since_partial_16k = 0;
            hyp = ps_get_hyp(s->ps, NULL);
            if (hyp != NULL && hyp[0] != '\0' &&
                (s->last_partial == NULL || strcmp(hyp, s->last_partial))) {
                free(s->last_partial);
                s->last_partial = sv_xstrdup(hyp);
                post(s, EV_TRANSCRIPT, hyp, false, false, 0);
                sv_log(SV_LOG_DEBUG, "pocketsphinx: [%s] interim of %zu bytes",
                       s->tag, strlen(hyp));
            }
        }
        return 0;
    }
    s->silence_16k += n;
    if (s->silence_16k >= (size_t)s->hangover_ms * MODEL_RATE_HZ / 1000)
        return end_utterance(s, true);
    return 0;
}


/* Resamples and feeds queued audio, a frame at a time, until stopped. */
static int feed_all(struct sv_stt *s, const int16_t *pcm, size_t n,
                    int16_t *out, size_t out_cap)
{
    size_t frame = s->rate_hz * FRAME_MS / 1000;
    size_t done = 0;
    size_t got;
    int err;

    while (done < n && !atomic_load(&s->want_stop)) {
        size_t k = n - done < frame ? n - done : frame;

        sv_resampler_process(s->rs, pcm + done, k, out, out_cap, &got);
        done += k;
        if (got == 0)
            continue;
        err = feed(s, out, got);
        if (err < 0)
            return err;
    }
    return 0;
}


static void *worker_main(void *arg)
{
    struct sv_stt *s = arg;
    int16_t *work = NULL; /* the queue's other buffer, swapped in */
    size_t work_cap = 0;
    int16_t *out = NULL;
    int16_t *tmp;
    size_t tmp_cap;
    size_t out_cap;
    size_t n;
    bool is_last;
    int err;

    s->ps = load_decoder(s);
    if (s->ps == NULL) {
        post(s, EV_ERROR, "the pocketsphinx model did not load", false, false,
             -ENOENT);
        goto out;
    }
    err = sv_resampler_new(&s->rs, s->rate_hz, MODEL_RATE_HZ,
                           SV_RESAMPLER_QUALITY_VOIP);
    if (err == 0 && ps_start_utt(s->ps) < 0)
        err = -EIO;
    if (err < 0) {
        post(s, EV_ERROR, "pocketsphinx did not start", false, false, err);
        goto out;
    }
    out_cap = sv_resampler_out_max(s->rs, s->rate_hz * FRAME_MS / 1000);
    out = sv_xmalloc(out_cap * sizeof(*out));

    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->in_len == 0 && !s->want_finish &&
               !atomic_load(&s->want_stop)) {
            pthread_cond_wait(&s->cond, &s->mu);
        }
        /* Swap buffers, so that send() never waits for the decoder. */
        tmp = s->in;
        tmp_cap = s->in_cap;

        s->in = work;
        s->in_cap = work_cap;
        work = tmp;
        work_cap = tmp_cap;
        n = s->in_len;
        s->in_len = 0;
        s->is_overrun = false;
        is_last = s->want_finish;
        pthread_mutex_unlock(&s->mu);

        if (atomic_load(&s->want_stop))
            break;
        err = feed_all(s, work, n, out, out_cap);
        if (err == 0 && is_last && !atomic_load(&s->want_stop))
            err = end_utterance(s, false);
        if (err < 0) {
            post(s, EV_ERROR, "pocketsphinx failed to decode", false, false,
                 err);
            break;
        }
        if (is_last)
            break;
    }

out:
    free(out);
    free(work);
    free(s->last_partial);
    s->last_partial = NULL;
    sv_resampler_free(s->rs);
    s->rs = NULL;
    if (s->ps != NULL)
        ps_free(s->ps);
    s->ps = NULL;
    post(s, EV_EXITED, NULL, false, false, 0);
    return NULL;
}


/* ---- the interface ---- */

/* Only the en-us model is installed; other languages would be garbage. */
static bool is_english(const char *language)
{
    return language == NULL || language[0] == '\0' ||
           strcasecmp(language, "en") == 0 ||
           strncasecmp(language, "en-", 3) == 0 ||
           strncasecmp(language, "en_", 3) == 0;
}


static int pocketsphinx_alloc(struct sv_stt **out,
                              const struct sv_provider_env *env,
                              const struct sv_stt_opts *opts,
                              const struct sv_stt_handlers *h)
{
    const char *tag;
    struct sv_stt *s;
    int err;

    if (env == NULL || env->loop == NULL || opts == NULL || h == NULL ||
        h->transcript == NULL || opts->sample_rate_hz < MIN_RATE_HZ ||
        opts->sample_rate_hz > MAX_RATE_HZ) {
        return -EINVAL;
    }
    tag = env->tag != NULL ? env->tag : "-";
    if (!is_english(opts->language)) {
        sv_log(SV_LOG_ERR,
               "pocketsphinx: [%s] no model for language \"%s\"; only "
               "en-us is installed",
               tag, opts->language);
        return -EINVAL;
    }
    /* A missing model is told now, not after a second on the worker. */
    if (access(MODEL_HMM "/mdef", R_OK) != 0 || access(MODEL_LM, R_OK) != 0 ||
        access(MODEL_DICT, R_OK) != 0) {
        sv_log(SV_LOG_ERR,
               "pocketsphinx: [%s] the en-us model is missing under %s "
               "(Debian package pocketsphinx-en-us)",
               tag, SV_POCKETSPHINX_MODELDIR);
        return -ENOENT;
    }
    pthread_once(&sphinx_log_once, sphinx_log_setup);

    s = sv_xcalloc(1, sizeof(*s));
    s->h = *h;
    s->tag = sv_xstrdup(tag);
    s->rate_hz = opts->sample_rate_hz;
    s->hangover_ms = opts->endpointing_ms > MIN_HANGOVER_MS
                         ? opts->endpointing_ms
                         : MIN_HANGOVER_MS;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->ev_tail = &s->ev_head;
    atomic_init(&s->want_stop, false);
    uv_async_init(env->loop, &s->async, on_events);
    s->async.data = s;

    err = sv_thread_spawn(&s->thread, "sv-psphinx", worker_main, s);
    if (err < 0) {
        sv_log(SV_LOG_ERR, "pocketsphinx: [%s] cannot start a worker: %s", tag,
               strerror(-err));
        s->is_freed = true;
        s->is_joined = true;
        close_if_done(s);
        return err;
    }
    *out = s;
    return 0;
}


static int pocketsphinx_send(struct sv_stt *s, const int16_t *pcm,
                             size_t samples)
{
    size_t max;
    int err = 0;

    if (s == NULL || (pcm == NULL && samples > 0))
        return -EINVAL;
    if (samples == 0)
        return 0;
    max = (size_t)s->rate_hz * MAX_QUEUED_S;

    pthread_mutex_lock(&s->mu);
    if (s->want_finish) {
        err = -EPIPE;
        goto out;
    }
    if (s->in_len + samples > max) {
        if (!s->is_overrun) {
            sv_log(SV_LOG_WARN,
                   "pocketsphinx: [%s] the decoder lags %u s behind; "
                   "dropping audio",
                   s->tag, MAX_QUEUED_S);
        }
        s->is_overrun = true;
        err = -ENOBUFS;
        goto out;
    }
    if (s->in_len + samples > s->in_cap) {
        s->in_cap = s->in_cap > 0 ? s->in_cap * 2 : s->rate_hz;
        while (s->in_cap < s->in_len + samples)
            s->in_cap *= 2;
        s->in = sv_xrealloc(s->in, s->in_cap * sizeof(*s->in));
    }
    memcpy(s->in + s->in_len, pcm, samples * sizeof(*pcm));
    s->in_len += samples;
    pthread_cond_signal(&s->cond);

out:
    pthread_mutex_unlock(&s->mu);
    return err;
}


static void pocketsphinx_finish(struct sv_stt *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->want_finish = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}


static void pocketsphinx_free(struct sv_stt *s)
{
    if (s == NULL || s->is_freed)
        return;
    s->is_freed = true;
    atomic_store(&s->want_stop, true);
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);

    /* Without the worker gone, on_events closes once it has joined it. */
    close_if_done(s);
}


const struct sv_stt_provider sv_stt_pocketsphinx = {
    .name = "pocketsphinx",
    .alloc = pocketsphinx_alloc,
    .send = pocketsphinx_send,
    .finish = pocketsphinx_finish,
    .free = pocketsphinx_free,
};
