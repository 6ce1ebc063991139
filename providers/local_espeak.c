/*
 * local_espeak.c - "espeak", text-to-speech with libespeak-ng, offline
 * and without a key.
 *
 * espeak-ng keeps its state (voice, rate, synth callback) in globals and
 * cannot be started twice in one process (espeak_ng_Terminate() hangs
 * after a second espeak_ng_Initialize() in 1.51), so the adapter runs it
 * on ONE worker thread for all calls of the process. That thread belongs
 * to a small refcounted engine, created when the first adapter instance
 * is allocated and stopped when the last one is freed; espeak-ng itself
 * is initialized once, on first use, and stays. The loop never waits for
 * the engine: it queues jobs (one per sentence) and gets audio back
 * through each instance's uv_async_t.
 *
 * espeak-ng synthesizes in synchronous mode and hands its 22050 Hz
 * output to a synth callback in pieces of BUF_MS; the worker resamples
 * each piece to the call's rate and posts it at once, so a sentence
 * streams while it is synthesized. cancel() bumps the instance's
 * generation: queued jobs are dropped, the running one returns 1 from
 * its next synth callback (which stops espeak-ng), and posted audio of
 * the old generation is never delivered.
 *
 * Threads: alloc/say/cancel/free and every callback on the loop thread
 * of the env; espeak-ng and the resampler on the engine's worker.
 *
 * SPDX-License-Identifier: MIT
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <espeak-ng/espeak_ng.h>
#include <uv.h>

#include "pipeline/resample.h"
#include "providers/adapters.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/thread.h"

/* Audio per synth callback: small, so that cancel stops within it. */
#define BUF_MS 50

#define MIN_RATE_HZ 8000
#define MAX_RATE_HZ 48000

/* Voice names are short words; anything else is not looked up. */
#define MAX_VOICE_NAME 40

/* Voice candidates: voice_id, language, its primary subtag, English. */
#define MAX_VOICES 4

#define DEFAULT_VOICE "en"

/* One sentence to speak; holds a reference on its instance. */
struct job {
    struct job *next;
    struct sv_tts *t;
    uint32_t seq;
    unsigned gen; /* t's generation when queued */
    char *text;   /* owned */
};

/* A result for the loop: a piece of audio or the end of a sentence. */
struct item {
    struct item *next;
    uint32_t seq;
    unsigned gen;
    bool is_done;
    int err;         /* done: 0 or a negative errno */
    const char *why; /* done: a static text for people, or NULL */
    size_t chars;    /* done: characters billed */
    size_t samples;  /* audio */
    int16_t pcm[];   /* audio, at the call's rate */
};

/* The worker thread that owns espeak-ng, and its queue of jobs. */
struct engine {
    pthread_t thread;
    uv_async_t exited;   /* the worker ended: join it, then free */
    unsigned users;      /* instances using it; under engine_lock */
    pthread_mutex_t mu;  /* guards head, tail and want_stop */
    pthread_cond_t cond; /* a job came, or the engine should stop */
    struct job *head;
    struct job **tail;
    bool want_stop;
};

struct sv_tts {
    /* Loop thread only. */
    uv_async_t async; /* the worker posted items */
    struct sv_tts_handlers h;
    struct engine *eng; /* a user of it until free */
    char *tag;          /* owned: the call id for log lines */
    bool is_freed;      /* no callback may follow */

    /* Set by alloc, read-only afterwards. */
    char *voices[MAX_VOICES]; /* owned: names to try, in order */
    size_t n_voices;
    int wpm;
    unsigned rate_hz;

    /* Worker thread only (the engine runs one job at a time). */
    struct sv_resampler *rs; /* 22050 Hz to rate_hz; made on first use */
    int voice;               /* index in voices of the one that loaded */

    /* Shared between the loop and the worker. */
    atomic_uint refs;   /* the loop's (until the async closes), one a job */
    atomic_uint gen;    /* bumped by cancel, under mu */
    pthread_mutex_t mu; /* guards the items and is_dead */
    struct item *head;
    struct item **tail;
    bool is_dead; /* the async handle is closing: send nothing */
};

/*
 * The process's only mutable state, because espeak-ng's is global too:
 * the engine in use (so that every call shares its one worker), and a
 * lock that a worker holds while it may touch espeak-ng (so that a new
 * engine's worker waits for the old one to be gone). espeak-ng is
 * initialized once per process (espeak_rate_hz 0 means it failed).
 */
static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static struct engine *engine_live;
static pthread_mutex_t espeak_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t espeak_once = PTHREAD_ONCE_INIT;
static int espeak_rate_hz;


/* ---- instances: references and results ---- */

static void tts_destroy(struct sv_tts *t)
{
    struct item *it;

    while ((it = t->head) != NULL) {
        t->head = it->next;
        free(it);
    }
    for (size_t i = 0; i < t->n_voices; i++)
        free(t->voices[i]);
    sv_resampler_free(t->rs);
    pthread_mutex_destroy(&t->mu);
    free(t->tag);
    free(t);
}


/* Drops a reference; the last one, on either thread, frees t. */
static void tts_unref(struct sv_tts *t)
{
    if (atomic_fetch_sub(&t->refs, 1) == 1)
        tts_destroy(t);
}


static void job_free(struct job *j)
{
    tts_unref(j->t);
    free(j->text);
    free(j);
}


/*
 * Worker: hands an item to the loop, unless its generation is over or
 * the instance is closing; then it is freed here. Takes it.
 */
static void post(struct sv_tts *t, struct item *it)
{
    pthread_mutex_lock(&t->mu);
    if (!t->is_dead && atomic_load(&t->gen) == it->gen) {
        *t->tail = it;
        t->tail = &it->next;
        uv_async_send(&t->async);
        it = NULL;
    }
    pthread_mutex_unlock(&t->mu);
    free(it);
}


static void post_done(struct job *j, int err, const char *why, size_t chars)
{
    struct item *it = sv_xcalloc(1, sizeof(*it));

    it->seq = j->seq;
    it->gen = j->gen;
    it->is_done = true;
    it->err = err;
    it->why = why;
    it->chars = chars;
    post(j->t, it);
}


/* Loop: delivers what the worker posted, in order. */
static void on_items(uv_async_t *a)
{
    struct sv_tts *t = a->data;
    struct item *list;
    struct item *it;

    pthread_mutex_lock(&t->mu);
    list = t->head;
    t->head = NULL;
    t->tail = &t->head;
    pthread_mutex_unlock(&t->mu);

    /* A callback may cancel or free t: then the rest is stale. */
    while ((it = list) != NULL) {
        list = it->next;
        if (!t->is_freed && it->gen == atomic_load(&t->gen)) {
            if (it->is_done) {
                t->h.done(t->h.arg, it->seq, it->err, it->why, it->chars);
            } else {
                t->h.audio(t->h.arg, it->seq, it->pcm, it->samples);
            }
        }
        free(it);
    }
}


static void on_tts_closed(uv_handle_t *handle)
{
    tts_unref(handle->data);
}


/* ---- the worker and espeak-ng ---- */

/*
 * espeak-ng's synth callback, on the worker: resamples and posts one
 * piece of audio. Returning 1 makes espeak-ng stop the sentence.
 */
static int on_synth(short *wav, int samples, espeak_EVENT *events)
{
    struct job *j;
    struct sv_tts *t;
    struct item *it;
    size_t cap;

    /* espeak-ng hands every call the message's user data (the job). */
    SV_ASSERT(events != NULL && events->user_data != NULL);
    j = events->user_data;
    t = j->t;
    if (atomic_load(&t->gen) != j->gen)
        return 1;
    if (wav == NULL || samples <= 0)
        return 0;
    cap = sv_resampler_out_max(t->rs, (size_t)samples);
    it = sv_xmalloc(sizeof(*it) + cap * sizeof(int16_t));
    memset(it, 0, sizeof(*it));
    it->seq = j->seq;
    it->gen = j->gen;
    sv_resampler_process(t->rs, wav, (size_t)samples, it->pcm, cap,
                         &it->samples);
    if (it->samples == 0) {
        free(it);
        return 0;
    }
    post(t, it);
    return 0;
}


/* Once per process, on the first worker, under espeak_lock. */
static void espeak_start(void)
{
    espeak_ng_ERROR_CONTEXT ctx = NULL;
    espeak_ng_STATUS st;
    char msg[160];

    espeak_ng_InitializePath(NULL);
    st = espeak_ng_Initialize(&ctx);
    if (st == ENS_OK)
        st =
            espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, BUF_MS, NULL);
    if (ctx != NULL)
        espeak_ng_ClearErrorContext(&ctx);
    if (st != ENS_OK) {
        espeak_ng_GetStatusCodeMessage(st, msg, sizeof(msg));
        sv_log(SV_LOG_ERR, "espeak: cannot start espeak-ng: %s", msg);
        return;
    }
    espeak_SetSynthCallback(on_synth);
    espeak_rate_hz = espeak_ng_GetSampleRate();
    sv_log(SV_LOG_INFO, "espeak: espeak-ng started, %d Hz", espeak_rate_hz);
}


/* Loads the first voice of t that espeak-ng has; false if none. */
static bool load_voice(struct sv_tts *t)
{
    size_t first = t->voice >= 0 ? (size_t)t->voice : 0;

    for (size_t i = first; i < t->n_voices; i++) {
        if (espeak_ng_SetVoiceByName(t->voices[i]) != ENS_OK)
            continue;
        if (t->voice < 0 && i > 0) {
            sv_log(SV_LOG_INFO, "espeak: [%s] no voice \"%s\"; using \"%s\"",
                   t->tag, t->voices[0], t->voices[i]);
        }
        t->voice = (int)i;
        return true;
    }
    return false;
}


/* UTF-8 characters, as providers bill them. */
static size_t count_chars(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    }
    return n;
}


/* Worker: speaks one sentence, posting its audio and then its end. */
static void speak(struct job *j)
{
    struct sv_tts *t = j->t;
    espeak_ng_STATUS st;
    char msg[160];
    int err;

    if (atomic_load(&t->gen) != j->gen)
        return;
    if (espeak_rate_hz == 0) {
        post_done(j, -EIO, "espeak-ng could not start", 0);
        return;
    }
    if (t->rs == NULL) {
        err = sv_resampler_new(&t->rs, (unsigned)espeak_rate_hz, t->rate_hz,
                               SV_RESAMPLER_QUALITY_VOIP);
        if (err < 0) {
            post_done(j, err, "cannot resample espeak-ng's audio", 0);
            return;
        }
    }
    if (!load_voice(t)) {
        post_done(j, -EINVAL, "espeak-ng has no voice for this language", 0);
        return;
    }
    /* A voice change resets the rate, so set it after the voice. */
    espeak_ng_SetParameter(espeakRATE, t->wpm, 0);
    sv_resampler_reset(t->rs);

    st = espeak_ng_Synthesize(j->text, strlen(j->text) + 1, 0, POS_CHARACTER, 0,
                              espeakCHARS_UTF8, NULL, j);
    if (st == ENS_SPEECH_STOPPED)
        return;
    if (st != ENS_OK) {
        espeak_ng_GetStatusCodeMessage(st, msg, sizeof(msg));
        sv_log(SV_LOG_WARN, "espeak: [%s] synthesis failed: %s", t->tag, msg);
        post_done(j, -EIO, "espeak-ng failed to speak", 0);
        return;
    }
    post_done(j, 0, NULL, count_chars(j->text));
}


static void *engine_main(void *arg)
{
    struct engine *e = arg;
    struct job *j;

    /* A previous engine's worker may still be finishing: wait for it. */
    pthread_mutex_lock(&espeak_lock);
    pthread_once(&espeak_once, espeak_start);
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (e->head == NULL && !e->want_stop)
            pthread_cond_wait(&e->cond, &e->mu);
        j = e->head;
        if (j != NULL) {
            e->head = j->next;
            if (e->head == NULL)
                e->tail = &e->head;
        }
        pthread_mutex_unlock(&e->mu);
        if (j == NULL)
            break;
        speak(j);
        job_free(j);
    }
    pthread_mutex_unlock(&espeak_lock);

    /* The loop joins this thread before it frees e. */
    uv_async_send(&e->exited);
    return NULL;
}


/* ---- the engine, on the loop ---- */

static void on_engine_closed(uv_handle_t *handle)
{
    struct engine *e = handle->data;

    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->mu);
    free(e);
}


static void on_engine_exited(uv_async_t *a)
{
    struct engine *e = a->data;

    pthread_join(e->thread, NULL);
    uv_close((uv_handle_t *)a, on_engine_closed);
}


/* Becomes a user of the live engine, starting one if there is none. */
static int engine_get(struct engine **out, uv_loop_t *loop)
{
    struct engine *e;
    int err = 0;

    pthread_mutex_lock(&engine_lock);
    e = engine_live;
    if (e != NULL && e->exited.loop != loop) {
        sv_log(SV_LOG_ERR, "espeak: the engine serves one loop per process");
        err = -EBUSY;
        goto out;
    }
    if (e == NULL) {
        e = sv_xcalloc(1, sizeof(*e));
        pthread_mutex_init(&e->mu, NULL);
        pthread_cond_init(&e->cond, NULL);
        e->tail = &e->head;
        uv_async_init(loop, &e->exited, on_engine_exited);
        e->exited.data = e;
        err = sv_thread_spawn(&e->thread, "sv-espeak", engine_main, e);
        if (err < 0) {
            sv_log(SV_LOG_ERR, "espeak: cannot start the worker: %s",
                   strerror(-err));
            uv_close((uv_handle_t *)&e->exited, on_engine_closed);
            goto out;
        }
        engine_live = e;
    }
    e->users++;
    *out = e;

out:
    pthread_mutex_unlock(&engine_lock);
    return err;
}


/* Stops being a user; the last one tells the worker to end. */
static void engine_put(struct engine *e)
{
    pthread_mutex_lock(&engine_lock);
    SV_ASSERT(e->users > 0);
    if (--e->users == 0) {
        engine_live = NULL;
        pthread_mutex_lock(&e->mu);
        e->want_stop = true;
        pthread_cond_signal(&e->cond);
        pthread_mutex_unlock(&e->mu);
    }
    pthread_mutex_unlock(&engine_lock);
}


/* Takes the queued jobs of t out of the engine's queue and frees them. */
static void engine_drop(struct engine *e, struct sv_tts *t)
{
    struct job *mine = NULL;
    struct job **pp;
    struct job *j;

    pthread_mutex_lock(&e->mu);
    pp = &e->head;
    e->tail = &e->head;
    while ((j = *pp) != NULL) {
        if (j->t == t) {
            *pp = j->next;
            j->next = mine;
            mine = j;
        } else {
            pp = &j->next;
            e->tail = &j->next;
        }
    }
    pthread_mutex_unlock(&e->mu);

    while ((j = mine) != NULL) {
        mine = j->next;
        job_free(j);
    }
}


/* ---- options ---- */

/* True for a name espeak-ng may know: a short word of [A-Za-z0-9_+-]. */
static bool is_voice_name(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++) {
        if (!isalnum((unsigned char)s[n]) && strchr("_+-", s[n]) == NULL)
            return false;
    }
    return n > 0 && n <= MAX_VOICE_NAME;
}


static void add_voice(struct sv_tts *t, const char *name, size_t len)
{
    char *v = sv_xstrndup(name, len);

    for (char *p = v; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    t->voices[t->n_voices++] = v;
}


/*
 * The voices to try, best first: voice_id (an espeak-ng name such as
 * "nl" or "en-us+f3"; a remote provider's id such as ElevenLabs' is not
 * one and falls through), the language ("nl-NL"), its primary subtag
 * ("nl"), and English.
 */
static void choose_voices(struct sv_tts *t, const struct sv_tts_opts *opts)
{
    const char *lang = opts->language;

    if (is_voice_name(opts->voice_id))
        add_voice(t, opts->voice_id, strlen(opts->voice_id));
    if (is_voice_name(lang)) {
        size_t primary = strcspn(lang, "-_");

        add_voice(t, lang, strlen(lang));
        if (lang[primary] != '\0')
            add_voice(t, lang, primary);
    }
    add_voice(t, DEFAULT_VOICE, strlen(DEFAULT_VOICE));
}


/* ElevenLabs-style speed (1.0 normal) as espeak-ng's words per minute. */
static int speed_wpm(double speed)
{
    double wpm = espeakRATE_NORMAL;

    if (speed > 0)
        wpm = espeakRATE_NORMAL * speed;
    if (wpm < espeakRATE_MINIMUM)
        wpm = espeakRATE_MINIMUM;
    if (wpm > espeakRATE_MAXIMUM)
        wpm = espeakRATE_MAXIMUM;
    return (int)(wpm + 0.5);
}


/* ---- the interface ---- */

static int espeak_alloc(struct sv_tts **out, const struct sv_provider_env *env,
                        const struct sv_tts_opts *opts,
                        const struct sv_tts_handlers *h)
{
    struct sv_tts *t;
    int err;

    if (env == NULL || env->loop == NULL || opts == NULL || h == NULL ||
        h->audio == NULL || h->done == NULL ||
        opts->sample_rate_hz < MIN_RATE_HZ ||
        opts->sample_rate_hz > MAX_RATE_HZ) {
        return -EINVAL;
    }

    t = sv_xcalloc(1, sizeof(*t));
    t->h = *h;
    t->tag = sv_xstrdup(env->tag != NULL ? env->tag : "-");
    t->rate_hz = opts->sample_rate_hz;
    t->wpm = speed_wpm(opts->speed);
    t->voice = -1;
    choose_voices(t, opts);
    atomic_init(&t->refs, 1);
    atomic_init(&t->gen, 0);
    pthread_mutex_init(&t->mu, NULL);
    t->tail = &t->head;

    err = engine_get(&t->eng, env->loop);
    if (err < 0) {
        tts_destroy(t);
        return err;
    }
    uv_async_init(env->loop, &t->async, on_items);
    t->async.data = t;
    sv_log(SV_LOG_DEBUG, "espeak: [%s] voice \"%s\", %d words a minute, %u Hz",
           t->tag, t->voices[0], t->wpm, t->rate_hz);
    *out = t;
    return 0;
}


static int espeak_say(struct sv_tts *t, uint32_t seq, const char *text)
{
    struct job *j;

    if (t == NULL || text == NULL || t->is_freed)
        return -EINVAL;

    j = sv_xcalloc(1, sizeof(*j));
    j->t = t;
    atomic_fetch_add(&t->refs, 1);
    j->seq = seq;
    j->gen = atomic_load(&t->gen);
    j->text = sv_xstrdup(text);

    pthread_mutex_lock(&t->eng->mu);
    *t->eng->tail = j;
    t->eng->tail = &j->next;
    pthread_cond_signal(&t->eng->cond);
    pthread_mutex_unlock(&t->eng->mu);
    return 0;
}


static void espeak_cancel(struct sv_tts *t)
{
    struct item *it;

    if (t == NULL || t->is_freed)
        return;

    /* The new generation stops the running job and voids what it sent. */
    pthread_mutex_lock(&t->mu);
    atomic_fetch_add(&t->gen, 1);
    while ((it = t->head) != NULL) {
        t->head = it->next;
        free(it);
    }
    t->tail = &t->head;
    pthread_mutex_unlock(&t->mu);

    engine_drop(t->eng, t);
}


static void espeak_free(struct sv_tts *t)
{
    if (t == NULL)
        return;

    espeak_cancel(t);
    t->is_freed = true;
    pthread_mutex_lock(&t->mu);
    t->is_dead = true;
    pthread_mutex_unlock(&t->mu);
    uv_close((uv_handle_t *)&t->async, on_tts_closed);
    engine_put(t->eng);
}


const struct sv_tts_provider sv_tts_espeak = {
    .name = "espeak",
    .alloc = espeak_alloc,
    .say = espeak_say,
    .cancel = espeak_cancel,
    .free = espeak_free,
};
