/*
 * ctl_audio.c - sovereignctl's audio ends (see ctl_audio.h): WAV files
 * through libsndfile, and the microphone and speaker through PortAudio.
 *
 * Threads: the public functions run on the loop thread. PortAudio calls
 * mic_cb and speaker_cb on its own audio thread; they never allocate,
 * lock, block or log. The capture side writes a lock-free ring and wakes
 * the loop with uv_async_send (sends coalesce, so the loop drains the
 * ring); the playback side reads a ring that the loop fills, and a flush
 * is a flag the audio thread acts on, since only the reader may drop.
 *
 * SPDX-License-Identifier: MIT
 */
#include "daemon/ctl_audio.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <portaudio.h>
#include <sndfile.h>
#include <uv.h>

#include "pipeline/resample.h"
#include "pipeline/ring.h"
#include "util/alloc.h"
#include "util/log.h"

/* Frames read from a file at a time. */
#define FILE_CHUNK_FRAMES 1024

/* Samples the audio thread converts at a time, on its stack. */
#define MIX_SAMPLES 256

/* Samples the loop moves out of the capture ring at a time. */
#define DRAIN_SAMPLES 1024

struct sv_ctl_wav_in {
    SNDFILE *sf;             /* owned */
    SF_INFO info;            /* the file's rate, channels and length */
    struct sv_resampler *rs; /* owned; NULL when the rates match */
    int16_t *frames;         /* owned; one chunk of interleaved frames */
    int16_t *mono;           /* owned; that chunk mixed down */
    int16_t *fifo;           /* owned; converted samples not yet read */
    size_t fifo_len;         /* samples in fifo */
    size_t fifo_cap;         /* room in fifo, in samples */
    bool is_eof;
};

struct sv_ctl_wav_out {
    SNDFILE *sf; /* owned */
    uint64_t samples;
    bool has_failed; /* a write failed; said once */
};

struct sv_ctl_mic {
    uv_async_t async;        /* the audio thread's wake-up; closing frees */
    PaStream *stream;        /* owned */
    struct sv_ring *ring;    /* owned; mono at the device rate */
    struct sv_resampler *rs; /* owned; NULL when the device has our rate */
    unsigned channels;       /* as the device delivers them */
    sv_ctl_pcm_cb *cb;
    void *arg;
    atomic_uint overruns; /* callbacks that found the ring full */
    int16_t *conv;        /* owned; resampled output of one drain */
    size_t conv_cap;      /* samples */
    bool is_closing;      /* no more cb calls */
    int16_t drain[DRAIN_SAMPLES];
};

struct sv_ctl_speaker {
    PaStream *stream;        /* owned */
    struct sv_ring *ring;    /* owned; mono at the device rate */
    struct sv_resampler *rs; /* owned; NULL when the device has our rate */
    unsigned channels;       /* as the device takes them */
    unsigned dev_rate_hz;
    atomic_bool want_flush; /* set by the loop, cleared by the audio thread */
    int16_t *conv;          /* owned; resampled samples of one write */
    size_t conv_cap;        /* samples */
    uint64_t dropped;       /* samples that found the queue full */
};


/* ---- quiet probing ---- */

/*
 * ALSA, JACK and PulseAudio print pages of notes to stderr while
 * PortAudio probes them, most of them about devices that do not exist.
 * Unless the user asked for detail, stderr points at /dev/null for the
 * duration. Returns the saved descriptor, or -1 when nothing changed.
 */
static int stderr_mute(bool quiet)
{
    int saved;
    int null;

    if (!quiet)
        return -1;
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved < 0 || null < 0) {
        if (saved >= 0)
            close(saved);
        if (null >= 0)
            close(null);
        return -1;
    }
    dup2(null, STDERR_FILENO);
    close(null);
    return saved;
}


static void stderr_restore(int saved)
{
    if (saved < 0)
        return;
    dup2(saved, STDERR_FILENO);
    close(saved);
}


static int pa_init(bool quiet, char *err, size_t errlen)
{
    int saved = stderr_mute(quiet);
    PaError e = Pa_Initialize();

    stderr_restore(saved);
    if (e != paNoError) {
        snprintf(err, errlen, "cannot start PortAudio: %s", Pa_GetErrorText(e));
        return -EIO;
    }
    return 0;
}


/* The smallest power of two holding at least n samples. */
static size_t pow2_at_least(size_t n)
{
    size_t p = 2;

    while (p < n)
        p *= 2;
    return p;
}


/*
 * Picks the device and a stream format for it: mono at the call's rate
 * if the device takes it, else its own rate, else stereo (mixed down or
 * duplicated by the stream callback). Fills p and *rate_hz.
 */
static int pick_format(int device, bool is_input, unsigned want_hz,
                       PaStreamParameters *p, unsigned *rate_hz, char *err,
                       size_t errlen)
{
    const char *what = is_input ? "input" : "output";
    int count = Pa_GetDeviceCount();
    const PaDeviceInfo *info;
    PaDeviceIndex dev;
    int max_channels;
    double rates[2];
    int channels[2];

    if (count <= 0) {
        snprintf(err, errlen,
                 "no sound devices found (see \"sovereignctl devices\")");
        return -ENODEV;
    }
    if (device >= count) {
        snprintf(err, errlen,
                 "there is no sound device %d (see \"sovereignctl devices\")",
                 device);
        return -ENODEV;
    }
    dev = device >= 0 ? device
          : is_input  ? Pa_GetDefaultInputDevice()
                      : Pa_GetDefaultOutputDevice();
    if (dev == paNoDevice) {
        snprintf(err, errlen,
                 "there is no default %s device (see \"sovereignctl "
                 "devices\")",
                 what);
        return -ENODEV;
    }
    info = Pa_GetDeviceInfo(dev);
    max_channels = is_input ? info->maxInputChannels : info->maxOutputChannels;
    if (max_channels < 1) {
        snprintf(err, errlen, "sound device %d (%s) has no %s channels", dev,
                 info->name, what);
        return -ENODEV;
    }

    rates[0] = want_hz;
    rates[1] = info->defaultSampleRate;
    channels[0] = 1;
    channels[1] = max_channels >= 2 ? 2 : 1;
    for (size_t c = 0; c < 2; c++) {
        for (size_t r = 0; r < 2; r++) {
            memset(p, 0, sizeof(*p));
            p->device = dev;
            p->channelCount = channels[c];
            p->sampleFormat = paInt16;
            p->suggestedLatency = is_input ? info->defaultLowInputLatency
                                           : info->defaultLowOutputLatency;
            if (rates[r] < 1000 || rates[r] > 384000)
                continue;
            if (Pa_IsFormatSupported(is_input ? p : NULL, is_input ? NULL : p,
                                     rates[r]) == paFormatIsSupported) {
                *rate_hz = (unsigned)lrint(rates[r]);
                return 0;
            }
        }
    }
    snprintf(err, errlen,
             "sound device %d (%s) takes no 16-bit mono or stereo %s at "
             "%u Hz or its own rate",
             dev, info->name, what, want_hz);
    return -EINVAL;
}


/* Makes room for n samples in a growable conversion buffer. */
static void conv_reserve(int16_t **buf, size_t *cap, size_t n)
{
    if (*cap >= n)
        return;
    *buf = sv_xrealloc(*buf, n * sizeof(int16_t));
    *cap = n;
}


/* ---- WAV input ---- */

int sv_ctl_wav_in_open(struct sv_ctl_wav_in **out, const char *path,
                       unsigned rate_hz, char *err, size_t errlen)
{
    struct sv_ctl_wav_in *w = sv_xcalloc(1, sizeof(*w));
    int rc = 0;

    w->sf = sf_open(path, SFM_READ, &w->info);
    if (w->sf == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", path, sf_strerror(NULL));
        rc = -EINVAL;
        goto out;
    }
    if (w->info.channels < 1 || w->info.samplerate < 1000 ||
        w->info.samplerate > 384000) {
        snprintf(err, errlen, "%s: %d channels at %d Hz is not usable", path,
                 w->info.channels, w->info.samplerate);
        rc = -EINVAL;
        goto out;
    }
    if ((unsigned)w->info.samplerate != rate_hz) {
        rc = sv_resampler_new(&w->rs, (unsigned)w->info.samplerate, rate_hz,
                              SV_RESAMPLER_QUALITY_VOIP);
        if (rc < 0) {
            snprintf(err, errlen, "cannot resample %s from %d Hz to %u Hz",
                     path, w->info.samplerate, rate_hz);
            goto out;
        }
    }
    w->frames = sv_xmalloc((size_t)FILE_CHUNK_FRAMES *
                           (size_t)w->info.channels * sizeof(int16_t));
    w->mono = sv_xmalloc(FILE_CHUNK_FRAMES * sizeof(int16_t));

out:
    if (rc < 0) {
        sv_ctl_wav_in_free(w);
        return rc;
    }
    *out = w;
    return 0;
}


/* Reads one chunk of the file into the FIFO; false at the end. */
static bool wav_in_fill(struct sv_ctl_wav_in *w)
{
    size_t channels = (size_t)w->info.channels;
    sf_count_t got = sf_readf_short(w->sf, w->frames, FILE_CHUNK_FRAMES);
    size_t n;
    size_t made = 0;

    if (got <= 0)
        return false;
    n = (size_t)got;
    for (size_t i = 0; i < n; i++) {
        int32_t sum = 0;

        for (size_t c = 0; c < channels; c++)
            sum += w->frames[i * channels + c];
        w->mono[i] = (int16_t)(sum / (int32_t)channels);
    }

    if (w->rs == NULL) {
        conv_reserve(&w->fifo, &w->fifo_cap, w->fifo_len + n);
        memcpy(w->fifo + w->fifo_len, w->mono, n * sizeof(int16_t));
        w->fifo_len += n;
        return true;
    }
    conv_reserve(&w->fifo, &w->fifo_cap,
                 w->fifo_len + sv_resampler_out_max(w->rs, n));
    if (sv_resampler_process(w->rs, w->mono, n, w->fifo + w->fifo_len,
                             w->fifo_cap - w->fifo_len, &made) < 0)
        return false;
    w->fifo_len += made;
    return true;
}


size_t sv_ctl_wav_in_read(struct sv_ctl_wav_in *w, int16_t *pcm, size_t n)
{
    size_t take;

    while (w->fifo_len < n && !w->is_eof) {
        if (!wav_in_fill(w))
            w->is_eof = true;
    }
    take = w->fifo_len < n ? w->fifo_len : n;
    if (take == 0)
        return 0;
    memcpy(pcm, w->fifo, take * sizeof(int16_t));
    w->fifo_len -= take;
    memmove(w->fifo, w->fifo + take, w->fifo_len * sizeof(int16_t));
    return take;
}


uint64_t sv_ctl_wav_in_duration_ms(const struct sv_ctl_wav_in *w)
{
    if (w->info.frames <= 0)
        return 0;
    return (uint64_t)w->info.frames * 1000 / (uint64_t)w->info.samplerate;
}


void sv_ctl_wav_in_free(struct sv_ctl_wav_in *w)
{
    if (w == NULL)
        return;
    if (w->sf != NULL)
        sf_close(w->sf);
    sv_resampler_free(w->rs);
    free(w->frames);
    free(w->mono);
    free(w->fifo);
    free(w);
}


/* ---- WAV output ---- */

int sv_ctl_wav_out_open(struct sv_ctl_wav_out **out, const char *path,
                        unsigned rate_hz, char *err, size_t errlen)
{
    struct sv_ctl_wav_out *w;
    SF_INFO info;

    memset(&info, 0, sizeof(info));
    info.samplerate = (int)rate_hz;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    w = sv_xcalloc(1, sizeof(*w));
    w->sf = sf_open(path, SFM_WRITE, &info);
    if (w->sf == NULL) {
        snprintf(err, errlen, "cannot write %s: %s", path, sf_strerror(NULL));
        free(w);
        return -EIO;
    }
    sf_command(w->sf, SFC_SET_UPDATE_HEADER_AUTO, NULL, SF_TRUE);
    *out = w;
    return 0;
}


int sv_ctl_wav_out_write(struct sv_ctl_wav_out *w, const int16_t *pcm,
                         size_t samples)
{
    sf_count_t n = sf_write_short(w->sf, pcm, (sf_count_t)samples);

    if (n != (sf_count_t)samples) {
        if (!w->has_failed)
            sv_log(SV_LOG_ERR, "ctl: writing the output file failed: %s",
                   sf_strerror(w->sf));
        w->has_failed = true;
        return -EIO;
    }
    w->samples += samples;
    return 0;
}


uint64_t sv_ctl_wav_out_samples(const struct sv_ctl_wav_out *w)
{
    return w->samples;
}


void sv_ctl_wav_out_free(struct sv_ctl_wav_out *w)
{
    if (w == NULL)
        return;
    sf_close(w->sf);
    free(w);
}


/* ---- microphone ---- */

/* PortAudio's audio thread: no allocation, locks or logging here. */
static int mic_cb(const void *input, void *output, unsigned long frames,
                  const PaStreamCallbackTimeInfo *time,
                  PaStreamCallbackFlags flags, void *arg)
{
    struct sv_ctl_mic *m = arg;
    const int16_t *in = input;
    int16_t mono[MIX_SAMPLES];
    bool is_lost = false;
    size_t done = 0;

    if (in == NULL)
        return paContinue;
    if (m->channels == 1) {
        is_lost = sv_ring_write(m->ring, in, frames) < frames;
    } else {
        while (done < frames) {
            size_t n =
                frames - done < MIX_SAMPLES ? frames - done : MIX_SAMPLES;

            for (size_t i = 0; i < n; i++) {
                int32_t sum = 0;

                for (size_t c = 0; c < m->channels; c++)
                    sum += in[(done + i) * m->channels + c];
                mono[i] = (int16_t)(sum / (int32_t)m->channels);
            }
            if (sv_ring_write(m->ring, mono, n) < n)
                is_lost = true;
            done += n;
        }
    }
    if (is_lost)
        atomic_fetch_add_explicit(&m->overruns, 1, memory_order_relaxed);
    uv_async_send(&m->async);
    return paContinue;
}


/* The loop's side: drains the ring, converts, and hands samples on. */
static void on_mic_async(uv_async_t *a)
{
    struct sv_ctl_mic *m = a->data;
    /* Only what is there now: a device running fast must not keep the
     * loop here for ever. */
    size_t left = sv_ring_readable(m->ring);
    size_t n;
    size_t made;

    while (!m->is_closing && left > 0 &&
           (n = sv_ring_read(m->ring, m->drain,
                             left < DRAIN_SAMPLES ? left : DRAIN_SAMPLES)) >
               0) {
        left -= n;
        if (m->rs == NULL) {
            m->cb(m->arg, m->drain, n);
            continue;
        }
        conv_reserve(&m->conv, &m->conv_cap, sv_resampler_out_max(m->rs, n));
        if (sv_resampler_process(m->rs, m->drain, n, m->conv, m->conv_cap,
                                 &made) == 0 &&
            made > 0)
            m->cb(m->arg, m->conv, made);
    }
}


static void mic_release(struct sv_ctl_mic *m)
{
    sv_ring_free(m->ring);
    sv_resampler_free(m->rs);
    free(m->conv);
    free(m);
}


static void on_mic_closed(uv_handle_t *h)
{
    mic_release(h->data);
}


int sv_ctl_mic_open(struct sv_ctl_mic **out, uv_loop_t *loop, int device,
                    unsigned rate_hz, bool quiet, sv_ctl_pcm_cb *cb, void *arg,
                    char *err, size_t errlen)
{
    struct sv_ctl_mic *m;
    PaStreamParameters p;
    unsigned dev_hz = 0;
    PaError e;
    int saved;
    int rc;

    rc = pa_init(quiet, err, errlen);
    if (rc < 0)
        return rc;
    m = sv_xcalloc(1, sizeof(*m));
    m->cb = cb;
    m->arg = arg;
    atomic_init(&m->overruns, 0);
    rc = pick_format(device, true, rate_hz, &p, &dev_hz, err, errlen);
    if (rc < 0)
        goto out;
    m->channels = (unsigned)p.channelCount;
    if (dev_hz != rate_hz && sv_resampler_new(&m->rs, dev_hz, rate_hz,
                                              SV_RESAMPLER_QUALITY_VOIP) < 0) {
        snprintf(err, errlen, "cannot resample from %u Hz", dev_hz);
        rc = -EINVAL;
        goto out;
    }
    /* About a second of slack between the audio thread and the loop. */
    rc = sv_ring_new(&m->ring, pow2_at_least(dev_hz));
    SV_ASSERT(rc == 0);

    saved = stderr_mute(quiet);
    e = Pa_OpenStream(&m->stream, &p, NULL, dev_hz,
                      paFramesPerBufferUnspecified, paNoFlag, mic_cb, m);
    stderr_restore(saved);
    if (e != paNoError) {
        snprintf(err, errlen, "cannot open the input device: %s",
                 Pa_GetErrorText(e));
        m->stream = NULL;
        rc = -EIO;
        goto out;
    }
    uv_async_init(loop, &m->async, on_mic_async);
    m->async.data = m;
    sv_log(SV_LOG_INFO, "ctl: capturing %u channel(s) at %u Hz", m->channels,
           dev_hz);

out:
    if (rc < 0) {
        mic_release(m);
        Pa_Terminate();
        return rc;
    }
    *out = m;
    return 0;
}


int sv_ctl_mic_start(struct sv_ctl_mic *m, char *err, size_t errlen)
{
    PaError e = Pa_StartStream(m->stream);

    if (e != paNoError) {
        snprintf(err, errlen, "cannot start capturing: %s", Pa_GetErrorText(e));
        return -EIO;
    }
    return 0;
}


void sv_ctl_mic_close(struct sv_ctl_mic *m)
{
    unsigned overruns;

    if (m == NULL)
        return;
    m->is_closing = true;
    /* Once closed, the audio thread no longer touches the ring. */
    Pa_AbortStream(m->stream);
    Pa_CloseStream(m->stream);
    Pa_Terminate();
    overruns = atomic_load(&m->overruns);
    if (overruns > 0)
        sv_log(SV_LOG_WARN, "ctl: %u capture buffers overflowed", overruns);
    uv_close((uv_handle_t *)&m->async, on_mic_closed);
}


/* ---- speaker ---- */

/* PortAudio's audio thread: no allocation, locks or logging here. */
static int speaker_cb(const void *input, void *output, unsigned long frames,
                      const PaStreamCallbackTimeInfo *time,
                      PaStreamCallbackFlags flags, void *arg)
{
    struct sv_ctl_speaker *s = arg;
    int16_t *out = output;
    int16_t mono[MIX_SAMPLES];
    size_t done = 0;
    size_t got;

    if (atomic_exchange_explicit(&s->want_flush, false, memory_order_acquire))
        sv_ring_drop(s->ring);
    if (s->channels == 1) {
        got = sv_ring_read(s->ring, out, frames);
        memset(out + got, 0, (frames - got) * sizeof(int16_t));
        return paContinue;
    }
    while (done < frames) {
        size_t want = frames - done < MIX_SAMPLES ? frames - done : MIX_SAMPLES;

        got = sv_ring_read(s->ring, mono, want);
        memset(mono + got, 0, (want - got) * sizeof(int16_t));
        for (size_t i = 0; i < want; i++) {
            for (size_t c = 0; c < s->channels; c++)
                out[(done + i) * s->channels + c] = mono[i];
        }
        done += want;
    }
    return paContinue;
}


int sv_ctl_speaker_open(struct sv_ctl_speaker **out, int device,
                        unsigned rate_hz, bool quiet, char *err, size_t errlen)
{
    struct sv_ctl_speaker *s;
    PaStreamParameters p;
    unsigned dev_hz = 0;
    PaError e;
    int saved;
    int rc;

    rc = pa_init(quiet, err, errlen);
    if (rc < 0)
        return rc;
    s = sv_xcalloc(1, sizeof(*s));
    atomic_init(&s->want_flush, false);
    rc = pick_format(device, false, rate_hz, &p, &dev_hz, err, errlen);
    if (rc < 0)
        goto out;
    s->channels = (unsigned)p.channelCount;
    s->dev_rate_hz = dev_hz;
    if (dev_hz != rate_hz && sv_resampler_new(&s->rs, rate_hz, dev_hz,
                                              SV_RESAMPLER_QUALITY_VOIP) < 0) {
        snprintf(err, errlen, "cannot resample to %u Hz", dev_hz);
        rc = -EINVAL;
        goto out;
    }
    /* Reply audio arrives paced in real time: a second is ample. */
    rc = sv_ring_new(&s->ring, pow2_at_least(dev_hz));
    SV_ASSERT(rc == 0);

    saved = stderr_mute(quiet);
    e = Pa_OpenStream(&s->stream, NULL, &p, dev_hz,
                      paFramesPerBufferUnspecified, paNoFlag, speaker_cb, s);
    stderr_restore(saved);
    if (e != paNoError) {
        snprintf(err, errlen, "cannot open the output device: %s",
                 Pa_GetErrorText(e));
        s->stream = NULL;
        rc = -EIO;
        goto out;
    }
    sv_log(SV_LOG_INFO, "ctl: playing %u channel(s) at %u Hz", s->channels,
           dev_hz);

out:
    if (rc < 0) {
        sv_ring_free(s->ring);
        sv_resampler_free(s->rs);
        free(s);
        Pa_Terminate();
        return rc;
    }
    *out = s;
    return 0;
}


int sv_ctl_speaker_start(struct sv_ctl_speaker *s, char *err, size_t errlen)
{
    PaError e = Pa_StartStream(s->stream);

    if (e != paNoError) {
        snprintf(err, errlen, "cannot start playing: %s", Pa_GetErrorText(e));
        return -EIO;
    }
    return 0;
}


void sv_ctl_speaker_write(struct sv_ctl_speaker *s, const int16_t *pcm,
                          size_t samples)
{
    size_t made = samples;
    size_t put;

    if (s->rs != NULL) {
        conv_reserve(&s->conv, &s->conv_cap,
                     sv_resampler_out_max(s->rs, samples));
        if (sv_resampler_process(s->rs, pcm, samples, s->conv, s->conv_cap,
                                 &made) < 0)
            return;
        pcm = s->conv;
    }
    put = sv_ring_write(s->ring, pcm, made);
    s->dropped += made - put;
}


void sv_ctl_speaker_flush(struct sv_ctl_speaker *s)
{
    atomic_store_explicit(&s->want_flush, true, memory_order_release);
    if (s->rs != NULL)
        sv_resampler_reset(s->rs);
}


unsigned sv_ctl_speaker_queued_ms(const struct sv_ctl_speaker *s)
{
    const PaStreamInfo *info = Pa_GetStreamInfo(s->stream);
    double ms = (double)sv_ring_readable(s->ring) * 1000.0 / s->dev_rate_hz;

    if (info != NULL)
        ms += info->outputLatency * 1000.0;
    return (unsigned)ms;
}


void sv_ctl_speaker_free(struct sv_ctl_speaker *s)
{
    if (s == NULL)
        return;
    Pa_AbortStream(s->stream);
    Pa_CloseStream(s->stream);
    Pa_Terminate();
    if (s->dropped > 0)
        sv_log(SV_LOG_WARN, "ctl: %llu playback samples dropped (queue full)",
               (unsigned long long)s->dropped);
    sv_ring_free(s->ring);
    sv_resampler_free(s->rs);
    free(s->conv);
    free(s);
}


/* ---- devices ---- */

int sv_ctl_devices(FILE *f, bool quiet)
{
    PaDeviceIndex def_in;
    PaDeviceIndex def_out;
    char err[256];
    int count;

    if (pa_init(quiet, err, sizeof(err)) < 0) {
        fprintf(stderr, "sovereignctl: %s\n", err);
        return 1;
    }
    count = Pa_GetDeviceCount();
    if (count < 0) {
        fprintf(stderr, "sovereignctl: cannot list sound devices: %s\n",
                Pa_GetErrorText(count));
        Pa_Terminate();
        return 1;
    }
    if (count == 0) {
        fprintf(f, "No sound devices found: no sound card, or no access to "
                   "one.\n");
        Pa_Terminate();
        return 0;
    }
    def_in = Pa_GetDefaultInputDevice();
    def_out = Pa_GetDefaultOutputDevice();
    fprintf(f, "%5s  %-10s %5s %5s %8s  %s\n", "index", "host API", "in", "out",
            "rate Hz", "name");
    for (int i = 0; i < count; i++) {
        const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
        const PaHostApiInfo *api = Pa_GetHostApiInfo(d->hostApi);
        const char *mark = "";

        if (i == def_in && i == def_out)
            mark = "  [default input and output]";
        else if (i == def_in)
            mark = "  [default input]";
        else if (i == def_out)
            mark = "  [default output]";
        fprintf(f, "%5d  %-10s %5d %5d %8.0f  %s%s\n", i,
                api != NULL ? api->name : "?", d->maxInputChannels,
                d->maxOutputChannels, d->defaultSampleRate, d->name, mark);
    }
    if (def_in == paNoDevice)
        fprintf(f, "No default input device.\n");
    if (def_out == paNoDevice)
        fprintf(f, "No default output device.\n");
    Pa_Terminate();
    return 0;
}
