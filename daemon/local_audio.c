/*
 * local_audio.c - a call on the machine's own microphone and speaker
 * (see local_audio.h).
 *
 * Threads: PortAudio runs one callback thread per stream. The capture
 * callback only copies samples into in_ring and wakes the loop with
 * uv_async_send(); the playback callback only copies samples out of
 * out_ring (silence when it runs dry). Neither allocates, locks nor
 * logs. Everything else, including every PortAudio call, happens on the
 * loop, except Pa_Initialize(), the device opening and the final
 * close, which run on libuv's thread pool because some host APIs block
 * there; uv_queue_work() orders those with the loop.
 *
 * Barge-in: only the playback thread may read out_ring, so the loop does
 * not drop queued reply audio itself. It bumps flush_gen; the playback
 * callback sees the new generation, drops the ring and publishes the
 * generation in flush_done. Until then the loop discards new reply
 * frames, so nothing written after the flush can be dropped by it.
 *
 * SPDX-License-Identifier: MIT
 */
#include "daemon/local_audio.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <portaudio.h>
#include <uv.h>

#include "config/config.h"
#include "daemon/daemon.h"
#include "daemon/legs.h"
#include "pipeline/call.h"
#include "pipeline/ring.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/misc.h"

#define FRAME_MS         20
#define POLL_MS          200   /* stream health checks */
#define NEXT_CALL_MS     2000  /* pause between calls, first retry */
#define MAX_RETRY_MS     60000 /* longest pause between failed starts */
#define DROP_LOG_MS      10000 /* at most one overrun warning per this */
#define RING_MIN_SAMPLES 16384 /* about a second at 16 kHz */
#define NAME_BYTES       128

struct sv_local_audio {
    struct sv_daemon *d;                    /* borrowed */
    const struct sv_local_audio_conf *conf; /* borrowed */
    unsigned rate_hz;
    size_t frame_samples;

    /* Shared with the PortAudio callback threads. */
    struct sv_ring *in_ring;  /* owned; capture thread -> loop */
    struct sv_ring *out_ring; /* owned; loop -> playback thread */
    atomic_uint flush_gen;    /* bumped by the loop on barge-in */
    atomic_uint flush_done;   /* the last generation the playback dropped */
    unsigned play_gen;        /* playback thread only */
    atomic_ulong in_dropped;  /* samples the capture ring had no room for */
    atomic_bool in_finished;  /* a stream stopped by itself */
    atomic_bool out_finished;

    /* Written by the worker, read on the loop after it (uv orders). */
    PaStream *in_stream; /* owned */
    PaStream *out_stream;
    bool has_pa; /* Pa_Initialize() succeeded */
    char err[512];
    char in_name[NAME_BYTES];
    char out_name[NAME_BYTES];

    uv_work_t work;
    uv_async_t wake;
    uv_timer_t poll_timer;
    uv_timer_t next_timer; /* the pause before the next call */
    int open_handles;
    bool is_working;  /* a work item is queued or running */
    bool is_running;  /* the streams run */
    bool is_stopping; /* sv_local_audio_stop() was called */

    struct sv_call *call; /* owned; NULL between calls */
    char call_id[SV_ID_LEN];
    unsigned retry_ms;
    char last_why[256]; /* the last start failure, logged once */
    unsigned long drops_logged;
    uint64_t drop_logged_ms;
    int16_t *frame; /* owned; frame_samples of capture for the call */
};

static void start_call(struct sv_local_audio *la);


/* ---- PortAudio threads ---- */

static int on_capture(const void *input, void *output, unsigned long frames,
                      const PaStreamCallbackTimeInfo *ti,
                      PaStreamCallbackFlags flags, void *arg)
{
    struct sv_local_audio *la = arg;
    size_t n = 0;

    if (input != NULL)
        n = sv_ring_write(la->in_ring, input, frames);
    if (n < frames)
        atomic_fetch_add_explicit(&la->in_dropped, frames - n,
                                  memory_order_relaxed);
    uv_async_send(&la->wake);
    return paContinue;
}


static int on_playback(const void *input, void *output, unsigned long frames,
                       const PaStreamCallbackTimeInfo *ti,
                       PaStreamCallbackFlags flags, void *arg)
{
    struct sv_local_audio *la = arg;
    int16_t *out = output;
    unsigned gen = atomic_load_explicit(&la->flush_gen, memory_order_acquire);
    size_t n;

    if (gen != la->play_gen) {
        sv_ring_drop(la->out_ring);
        la->play_gen = gen;
        atomic_store_explicit(&la->flush_done, gen, memory_order_release);
    }
    n = sv_ring_read(la->out_ring, out, frames);
    if (n < frames)
        memset(out + n, 0, (frames - n) * sizeof(*out));
    return paContinue;
}


static void on_in_finished(void *arg)
{
    struct sv_local_audio *la = arg;

    atomic_store(&la->in_finished, true);
    uv_async_send(&la->wake);
}


static void on_out_finished(void *arg)
{
    struct sv_local_audio *la = arg;

    atomic_store(&la->out_finished, true);
    uv_async_send(&la->wake);
}


/* ---- thread pool: open and close ---- */

/*
 * The first device of that direction whose name contains want, or the
 * default one when want is NULL. On failure writes why into la->err,
 * with the names there are, so the fix is in the log.
 */
static PaDeviceIndex find_device(struct sv_local_audio *la, const char *want,
                                 bool is_input)
{
    const char *what = is_input ? "input" : "output";
    PaDeviceIndex n = Pa_GetDeviceCount();
    const PaDeviceInfo *info;
    PaDeviceIndex dev;
    int listed = 0;
    size_t len;

    if (want == NULL) {
        dev =
            is_input ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
        if (dev == paNoDevice)
            snprintf(la->err, sizeof(la->err),
                     "no default %s device (set %s_device in [local_audio])",
                     what, what);
        return dev;
    }
    for (dev = 0; dev < n; dev++) {
        info = Pa_GetDeviceInfo(dev);
        if (info == NULL ||
            (is_input ? info->maxInputChannels : info->maxOutputChannels) < 1)
            continue;
        if (strstr(info->name, want) != NULL)
            return dev;
    }
    len = (size_t)snprintf(la->err, sizeof(la->err),
                           "no %s device matches \"%s\"; %s devices:", what,
                           want, what);
    for (dev = 0; dev < n && len < sizeof(la->err); dev++) {
        info = Pa_GetDeviceInfo(dev);
        if (info == NULL ||
            (is_input ? info->maxInputChannels : info->maxOutputChannels) < 1)
            continue;
        len += (size_t)snprintf(la->err + len, sizeof(la->err) - len, " \"%s\"",
                                info->name);
        listed++;
    }
    if (listed == 0)
        snprintf(la->err + len, sizeof(la->err) - len, " none");
    return paNoDevice;
}


/*
 * Ends a refusal with what to do about it: which of the rates sample_rate
 * may name the device takes for mono 16-bit audio, or that none does.
 */
static void say_rates_taken(const PaStreamParameters *sp, bool is_input,
                            char *buf, size_t len)
{
    unsigned taken[SV_ARRAY_SIZE(sv_local_audio_rates_hz)];
    size_t n = 0;
    size_t at;

    for (size_t i = 0; i < SV_ARRAY_SIZE(sv_local_audio_rates_hz); i++) {
        if (Pa_IsFormatSupported(is_input ? sp : NULL, is_input ? NULL : sp,
                                 sv_local_audio_rates_hz[i]) ==
            paFormatIsSupported)
            taken[n++] = sv_local_audio_rates_hz[i];
    }
    if (n == 0) {
        snprintf(buf, len,
                 "it takes no sample_rate that [local_audio] allows: pick "
                 "another device");
        return;
    }
    at = (size_t)snprintf(buf, len, "it takes sample_rate =");
    for (size_t i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s %u",
                               i == 0 ? "" : (i + 1 == n ? " or" : ","),
                               taken[i]);
    if (at < len)
        snprintf(buf + at, len - at, " in [local_audio]");
}


/* Opens one mono 16-bit stream; la->err says why not. */
static int open_stream(struct sv_local_audio *la, bool is_input, PaStream **out)
{
    const char *want =
        is_input ? la->conf->input_device : la->conf->output_device;
    char *name = is_input ? la->in_name : la->out_name;
    char taken[128];
    PaStreamParameters sp;
    const PaDeviceInfo *info;
    PaError pe;

    memset(&sp, 0, sizeof(sp));
    sp.device = find_device(la, want, is_input);
    if (sp.device == paNoDevice)
        return -ENODEV;
    info = Pa_GetDeviceInfo(sp.device);
    snprintf(name, NAME_BYTES, "%s", info->name);
    sp.channelCount = 1;
    sp.sampleFormat = paInt16;
    sp.suggestedLatency =
        is_input ? info->defaultLowInputLatency : info->defaultLowOutputLatency;
    pe = Pa_IsFormatSupported(is_input ? &sp : NULL, is_input ? NULL : &sp,
                              la->rate_hz);
    if (pe != paFormatIsSupported) {
        say_rates_taken(&sp, is_input, taken, sizeof(taken));
        snprintf(la->err, sizeof(la->err),
                 "the %s device \"%s\" refuses mono 16-bit audio at %u Hz: "
                 "%s (%s)",
                 is_input ? "input" : "output", name, la->rate_hz,
                 Pa_GetErrorText(pe), taken);
        return -EINVAL;
    }
    pe = Pa_OpenStream(out, is_input ? &sp : NULL, is_input ? NULL : &sp,
                       la->rate_hz, la->frame_samples, paClipOff,
                       is_input ? on_capture : on_playback, la);
    if (pe == paNoError)
        pe = Pa_SetStreamFinishedCallback(*out, is_input ? on_in_finished
                                                         : on_out_finished);
    if (pe != paNoError) {
        snprintf(la->err, sizeof(la->err),
                 "cannot open the %s device \"%s\": %s",
                 is_input ? "input" : "output", name, Pa_GetErrorText(pe));
        return -EIO;
    }
    return 0;
}


static void open_work(uv_work_t *w)
{
    struct sv_local_audio *la = w->data;
    PaError pe;

    pe = Pa_Initialize();
    if (pe != paNoError) {
        snprintf(la->err, sizeof(la->err), "PortAudio does not start: %s",
                 Pa_GetErrorText(pe));
        return;
    }
    la->has_pa = true;
    if (open_stream(la, true, &la->in_stream) < 0)
        return;
    open_stream(la, false, &la->out_stream);
}


static void close_work(uv_work_t *w)
{
    struct sv_local_audio *la = w->data;

    if (la->in_stream != NULL) {
        Pa_AbortStream(la->in_stream);
        Pa_CloseStream(la->in_stream);
        la->in_stream = NULL;
    }
    if (la->out_stream != NULL) {
        Pa_AbortStream(la->out_stream);
        Pa_CloseStream(la->out_stream);
        la->out_stream = NULL;
    }
    if (la->has_pa) {
        Pa_Terminate();
        la->has_pa = false;
    }
}


/* ---- loop: life cycle ---- */

static void on_handle_closed(uv_handle_t *h)
{
    struct sv_local_audio *la = h->data;

    if (--la->open_handles > 0)
        return;
    sv_ring_free(la->in_ring);
    sv_ring_free(la->out_ring);
    free(la->frame);
    free(la);
}


static void close_handles(struct sv_local_audio *la)
{
    uv_close((uv_handle_t *)&la->wake, on_handle_closed);
    uv_close((uv_handle_t *)&la->poll_timer, on_handle_closed);
    uv_close((uv_handle_t *)&la->next_timer, on_handle_closed);
}


static void on_close_done(uv_work_t *w, int status)
{
    struct sv_local_audio *la = w->data;

    la->is_working = false;
    if (la->is_stopping)
        close_handles(la);
}


/* Closes the streams and PortAudio off the loop; then, when stopping,
 * the handles. */
static void teardown(struct sv_local_audio *la)
{
    la->is_running = false;
    uv_timer_stop(&la->poll_timer);
    if (la->is_working)
        return; /* the running work's done callback comes back here */
    if (la->in_stream == NULL && la->out_stream == NULL && !la->has_pa) {
        if (la->is_stopping)
            close_handles(la);
        return;
    }
    la->is_working = true;
    uv_queue_work(la->d->loop, &la->work, close_work, on_close_done);
}


/* A device is gone: one line, a clean end, and local audio stays off. */
static void device_failed(struct sv_local_audio *la, const char *what)
{
    if (!la->is_running)
        return;
    sv_log(SV_LOG_ERR,
           "local_audio: %s; the call ends and local audio stays off until "
           "the daemon restarts",
           what);
    uv_timer_stop(&la->next_timer);
    if (la->call != NULL && !sv_call_is_ended(la->call))
        sv_call_end(la->call, "device-error");
    teardown(la);
}


static void check_streams(struct sv_local_audio *la)
{
    char what[2 * NAME_BYTES + 64];
    PaError in_active;
    PaError out_active;

    if (!la->is_running)
        return;
    in_active = Pa_IsStreamActive(la->in_stream);
    out_active = Pa_IsStreamActive(la->out_stream);
    if (atomic_load(&la->in_finished) || in_active != 1) {
        snprintf(what, sizeof(what), "the input device \"%s\" stopped (%s)",
                 la->in_name,
                 in_active < 0 ? Pa_GetErrorText(in_active)
                               : "its stream is no longer active");
        device_failed(la, what);
    } else if (atomic_load(&la->out_finished) || out_active != 1) {
        snprintf(what, sizeof(what), "the output device \"%s\" stopped (%s)",
                 la->out_name,
                 out_active < 0 ? Pa_GetErrorText(out_active)
                                : "its stream is no longer active");
        device_failed(la, what);
    }
}


/* Warns, at most every DROP_LOG_MS, when captured audio was lost. */
static void check_drops(struct sv_local_audio *la)
{
    unsigned long dropped =
        atomic_load_explicit(&la->in_dropped, memory_order_relaxed);
    uint64_t now = sv_now_ms();

    if (dropped == la->drops_logged || now - la->drop_logged_ms < DROP_LOG_MS)
        return;
    sv_log(SV_LOG_WARN,
           "local_audio: capture overrun: %lu samples of microphone audio "
           "lost so far (the loop fell behind)",
           dropped);
    la->drops_logged = dropped;
    la->drop_logged_ms = now;
}


static void on_poll(uv_timer_t *t)
{
    struct sv_local_audio *la = t->data;

    check_drops(la);
    check_streams(la);
}


/* Moves captured audio to the call in whole frames. */
static void on_wake(uv_async_t *h)
{
    struct sv_local_audio *la = h->data;
    bool has_call;

    if (!la->is_running)
        return;
    has_call = la->call != NULL && !sv_call_is_ended(la->call);
    while (sv_ring_readable(la->in_ring) >= la->frame_samples) {
        sv_ring_read(la->in_ring, la->frame, la->frame_samples);
        if (has_call)
            sv_call_audio(la->call, la->frame, la->frame_samples);
    }
    if (atomic_load(&la->in_finished) || atomic_load(&la->out_finished))
        check_streams(la);
}


static void on_open_done(uv_work_t *w, int status)
{
    struct sv_local_audio *la = w->data;
    PaError pe = paNoError;

    la->is_working = false;
    if (la->is_stopping) {
        teardown(la);
        return;
    }
    if (la->err[0] != '\0') {
        sv_log(SV_LOG_ERR, "local_audio: %s; local audio is off", la->err);
        teardown(la);
        return;
    }
    pe = Pa_StartStream(la->in_stream);
    if (pe == paNoError)
        pe = Pa_StartStream(la->out_stream);
    if (pe != paNoError) {
        sv_log(SV_LOG_ERR,
               "local_audio: cannot start the devices \"%s\" and \"%s\": %s; "
               "local audio is off",
               la->in_name, la->out_name, Pa_GetErrorText(pe));
        teardown(la);
        return;
    }
    la->is_running = true;
    sv_log(SV_LOG_NOTICE,
           "local_audio: devices open: input \"%s\", output \"%s\", %u Hz, "
           "%d ms frames",
           la->in_name, la->out_name, la->rate_hz, FRAME_MS);
    uv_timer_start(&la->poll_timer, on_poll, POLL_MS, POLL_MS);
    start_call(la);
}


/* ---- loop: the call ---- */

static void on_call_event(void *arg, json_t *ev)
{
    /* Events are for network clients; the call logs what matters. */
}


static void on_call_audio(void *arg, const int16_t *pcm, size_t samples)
{
    struct sv_local_audio *la = arg;

    if (!la->is_running)
        return;
    /* A flush the playback thread has not done yet would drop this. */
    if (atomic_load_explicit(&la->flush_done, memory_order_acquire) !=
        atomic_load_explicit(&la->flush_gen, memory_order_relaxed))
        return;
    if (sv_ring_writable(la->out_ring) < samples) {
        sv_log(SV_LOG_DEBUG, "local_audio: [%s] playback full, frame dropped",
               la->call_id);
        return;
    }
    sv_ring_write(la->out_ring, pcm, samples);
}


static void on_call_flush(void *arg)
{
    struct sv_local_audio *la = arg;

    atomic_fetch_add_explicit(&la->flush_gen, 1, memory_order_release);
}


static void on_next_timer(uv_timer_t *t)
{
    struct sv_local_audio *la = t->data;

    if (la->call != NULL) {
        sv_call_free(la->call);
        la->call = NULL;
    }
    if (la->is_running && !la->is_stopping)
        start_call(la);
}


static void on_call_ended(void *arg, const char *reason)
{
    struct sv_local_audio *la = arg;

    if (la->is_running)
        sv_log(SV_LOG_NOTICE,
               "local_audio: [%s] call ended (%s); the next one starts in "
               "%d s",
               la->call_id, reason, NEXT_CALL_MS / 1000);
    /* The call is freed from the timer, not inside its own callback. */
    la->retry_ms = NEXT_CALL_MS;
    uv_timer_start(&la->next_timer, on_next_timer,
                   la->is_running ? NEXT_CALL_MS : 0, 0);
}


/* Logs a failed start once per distinct reason; retries later. */
static void start_failed(struct sv_local_audio *la, const char *why)
{
    const char *id = la->call_id[0] != '\0' ? la->call_id : "-";

    if (strcmp(why, la->last_why) != 0) {
        sv_log(SV_LOG_ERR,
               "local_audio: [%s] the call cannot start: %s; next try in "
               "%u s, then less often",
               id, why, la->retry_ms / 1000);
        snprintf(la->last_why, sizeof(la->last_why), "%s", why);
    } else {
        sv_log(SV_LOG_DEBUG, "local_audio: [%s] the call cannot start: %s", id,
               why);
    }
    uv_timer_start(&la->next_timer, on_next_timer, la->retry_ms, 0);
    la->retry_ms *= 2;
    if (la->retry_ms > MAX_RETRY_MS)
        la->retry_ms = MAX_RETRY_MS;
}


/* The configured assistant, if it exists and is active; else why not. */
static json_t *load_assistant(struct sv_local_audio *la, char *why,
                              size_t why_len)
{
    json_t *a = NULL;
    int err;

    err = sv_store_assistant_get(la->d->store, la->conf->org_id,
                                 la->conf->assistant_id, &a);
    if (err < 0) {
        snprintf(why, why_len, "organization %s has no assistant %s%s%s",
                 la->conf->org_id, la->conf->assistant_id,
                 err == -ENOENT ? "" : ": ",
                 err == -ENOENT ? "" : strerror(-err));
        return NULL;
    }
    if (!json_is_true(json_object_get(a, "is_active"))) {
        snprintf(why, why_len, "assistant %s is not active",
                 la->conf->assistant_id);
        json_decref(a);
        return NULL;
    }
    return a;
}


static void start_call(struct sv_local_audio *la)
{
    struct sv_call_leg legs[SV_LEG_COUNT];
    struct sv_call_params p;
    json_t *assistant;
    char why[256];
    int err;

    la->call_id[0] = '\0';
    sv_log(SV_LOG_INFO,
           "local_audio: starting a call with assistant %s on input \"%s\", "
           "output \"%s\"",
           la->conf->assistant_id, la->in_name, la->out_name);
    assistant = load_assistant(la, why, sizeof(why));
    if (assistant == NULL) {
        start_failed(la, why);
        return;
    }
    err = sv_legs_resolve(la->d, la->conf->org_id, assistant, legs, why,
                          sizeof(why));
    if (err < 0) {
        json_decref(assistant);
        start_failed(la, why);
        return;
    }
    /* The store picks the call's id. */
    err = sv_store_call_create(la->d->store, la->conf->org_id,
                               la->conf->assistant_id, "web", la->call_id);
    if (err < 0) {
        la->call_id[0] = '\0';
        sv_legs_free(legs);
        json_decref(assistant);
        start_failed(la, "cannot record the call in the store");
        return;
    }

    for (size_t i = 0; i < SV_LEG_COUNT; i++)
        legs[i].env.tag = la->call_id;
    memset(&p, 0, sizeof(p));
    p.loop = la->d->loop;
    p.store = la->d->store;
    memcpy(p.call_id, la->call_id, SV_ID_LEN);
    snprintf(p.org_id, sizeof(p.org_id), "%s", la->conf->org_id);
    p.assistant = assistant;
    p.sample_rate_hz = la->rate_hz;
    p.stt = legs[SV_LEG_STT];
    p.llm = legs[SV_LEG_LLM];
    p.tts = legs[SV_LEG_TTS];
    p.h.event = on_call_event;
    p.h.audio = on_call_audio;
    p.h.flush = on_call_flush;
    p.h.ended = on_call_ended;
    p.h.arg = la;
    err = sv_call_start(&la->call, &p, why, sizeof(why));
    json_decref(assistant);
    if (err < 0) {
        la->call = NULL;
        sv_store_call_update_status(la->d->store, la->conf->org_id, la->call_id,
                                    "failed", "error", why);
        start_failed(la, why);
        return;
    }
    la->last_why[0] = '\0';
    sv_log(SV_LOG_NOTICE,
           "local_audio: [%s] call started on input \"%s\", output \"%s\"",
           la->call_id, la->in_name, la->out_name);
}


/* ---- public ---- */

/* The smallest power of two that holds a second of audio, or more. */
static size_t ring_samples(unsigned rate_hz)
{
    size_t n = RING_MIN_SAMPLES;

    while (n < rate_hz)
        n *= 2;
    return n;
}


static void timer_init(struct sv_local_audio *la, uv_timer_t *t)
{
    uv_timer_init(la->d->loop, t);
    t->data = la;
    la->open_handles++;
}


int sv_local_audio_start(struct sv_local_audio **out, struct sv_daemon *d)
{
    const struct sv_local_audio_conf *conf = &d->cfg->local_audio;
    struct sv_local_audio *la;

    *out = NULL;
    if (!conf->is_enabled)
        return 0;
    la = sv_xcalloc(1, sizeof(*la));
    la->d = d;
    la->conf = conf;
    la->rate_hz = conf->sample_rate_hz;
    la->frame_samples = la->rate_hz * FRAME_MS / 1000;
    la->retry_ms = NEXT_CALL_MS;
    la->frame = sv_xcalloc(la->frame_samples, sizeof(*la->frame));
    SV_ASSERT(sv_ring_new(&la->in_ring, ring_samples(la->rate_hz)) == 0);
    SV_ASSERT(sv_ring_new(&la->out_ring, ring_samples(la->rate_hz)) == 0);
    atomic_init(&la->flush_gen, 0);
    atomic_init(&la->flush_done, 0);
    atomic_init(&la->in_dropped, 0);
    atomic_init(&la->in_finished, false);
    atomic_init(&la->out_finished, false);

    uv_async_init(d->loop, &la->wake, on_wake);
    la->wake.data = la;
    la->open_handles++;
    timer_init(la, &la->poll_timer);
    timer_init(la, &la->next_timer);

    sv_log(SV_LOG_INFO, "local_audio: opening the devices (%u Hz)",
           la->rate_hz);
    la->work.data = la;
    la->is_working = true;
    uv_queue_work(d->loop, &la->work, open_work, on_open_done);
    *out = la;
    return 0;
}


struct sv_call *sv_local_audio_find_call(struct sv_local_audio *la,
                                         const char *org_id,
                                         const char *call_id)
{
    if (la == NULL || la->call == NULL || sv_call_is_ended(la->call))
        return NULL;
    if (strcmp(la->call_id, call_id) != 0 ||
        strcmp(la->conf->org_id, org_id) != 0)
        return NULL;
    return la->call;
}


void sv_local_audio_stop(struct sv_local_audio *la)
{
    if (la == NULL || la->is_stopping)
        return;
    la->is_stopping = true;
    uv_timer_stop(&la->next_timer);
    if (la->call != NULL) {
        if (!sv_call_is_ended(la->call))
            sv_call_end(la->call, "daemon-shutdown");
        sv_call_free(la->call);
        la->call = NULL;
    }
    teardown(la);
}
