/*
 * ctl_call.c - "sovereignctl call": talks to an assistant through the
 * daemon's session websocket (docs/session-protocol.md), on TCP or on the
 * unix socket. Caller audio comes from a WAV file, streamed in real time
 * in 20 ms frames and followed by silence so the daemon hears the turn
 * end, or from the microphone; reply audio goes to a WAV file or the
 * speaker. The conversation is printed as it happens, and the per-turn
 * latencies from turn_metrics as a table at the end.
 *
 * Everything runs on one libuv loop on the main thread, with lws as a
 * guest on it (foreign-loop mode, like daemon/server.c). The sound
 * devices' own threads stay inside ctl_audio.c.
 *
 * SPDX-License-Identifier: MIT
 */
#include "daemon/ctl_call.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <sodium.h>
#include <uv.h>

#include "config/config.h"
#include "daemon/ctl_audio.h"
#include "pipeline/opus_codec.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/secret.h"

#define SESSION_PATH  "/api/v1/sessions"
#define PROTOCOL_NAME "sovereignctl-call"
#define KEY_ENV       "SOVEREIGN_API_KEY"

#define FRAME_MS 20
/* The file pacer wakes twice per frame, so a late wake-up costs little. */
#define TICK_MS 10
/* Room for the longest frame either side sends or decodes (60 ms, 48k). */
#define MAX_FRAME_SAMPLES (48000 * SV_OPUS_MAX_PACKET_MS / 1000)

#define DEFAULT_RATE_HZ    16000
#define DEFAULT_SILENCE_MS 2000
#define DEFAULT_GRACE_MS   3000
/* How long to wait for "ended" after sending stop. */
#define STOP_WAIT_MS 2000
/* The most speaker audio worth waiting for at the end. */
#define MAX_DRAIN_MS 3000
/* Audio frames allowed to wait for the socket; past that, new frames
 * are dropped rather than sent late. */
#define MAX_QUEUED_AUDIO 50
/* API keys are far shorter; this bounds the header we build. */
#define MAX_KEY_BYTES 1024
/* The protocol's message limit, with room for a frame header. */
#define MAX_MESSAGE_BYTES (64 * 1024)

struct opts {
    const char *assistant_id;
    const char *input;  /* "mic" or a sound file */
    const char *output; /* "speaker", "none" or a WAV file */
    const char *socket_path;
    const char *url;
    const char *encoding; /* NULL: chosen by the transport */
    unsigned rate_hz;
    unsigned silence_ms;
    unsigned grace_ms;
    int input_device; /* -1: the default */
    int output_device;
    bool is_verbose;
};

struct outmsg {
    struct outmsg *next;
    size_t len;
    bool is_binary;
    unsigned char data[]; /* LWS_PRE bytes of room, then len bytes */
};

/* Column order of the latency table; -1 where the daemon sent null. */
enum { M_STT, M_LLM, M_TTS, M_E2E, M_COUNT };

struct turn_row {
    long long turn;
    long long ms[M_COUNT];
};

/* What the current line of the terminal holds. */
enum line_state { LINE_NONE, LINE_INTERIM, LINE_ASSISTANT };

struct client {
    uv_loop_t loop;
    const struct opts *o;
    struct lws_context *lws; /* lws writes NULL here once destroyed */
    struct lws *wsi;         /* owned by lws; NULL when not connected */
    char *auth;              /* owned secret: "Bearer <key>" */

    /* Where the daemon is. */
    char address[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
    char host[256]; /* Host header */
    char path[512];
    char where[600]; /* for messages: "unix:/run/..." or the URL */
    int port;
    bool is_unix;
    bool is_tls;
    bool use_opus;

    uv_timer_t pace;      /* sends file audio in real time */
    uv_timer_t grace;     /* after the input: stop once the daemon is quiet */
    uv_timer_t stop_wait; /* after stop: give up waiting for ended */
    uv_timer_t quit;      /* tears down outside lws callbacks */
    uv_signal_t sigint;
    uv_signal_t sigterm;

    /* Audio ends; at most one input and one output are set. */
    struct sv_ctl_wav_in *wav_in;         /* owned */
    struct sv_ctl_mic *mic;               /* owned; freed through the loop */
    struct sv_ctl_wav_out *wav_out;       /* owned */
    struct sv_ctl_speaker *spk;           /* owned */
    struct sv_opus_enc *enc;              /* owned; Opus only */
    struct sv_opus_dec *dec;              /* owned; Opus only */
    size_t frame_samples;                 /* one 20 ms frame at the call rate */
    int16_t mic_frame[MAX_FRAME_SAMPLES]; /* a frame being filled */
    size_t mic_fill;
    uint64_t t0_ms;        /* when file streaming began, loop time */
    uint64_t frames_sent;  /* file and silence frames */
    unsigned silence_left; /* trailing silence frames still to send */
    uint64_t reply_samples;
    unsigned bad_packets;

    /* Outgoing messages, oldest first. */
    struct outmsg *out_head;
    struct outmsg *out_tail;
    unsigned out_audio;      /* binary messages among them */
    uint64_t dropped_frames; /* caller audio dropped: the socket was slow */
    struct sv_buf rx;        /* a message being reassembled */
    bool rx_is_binary;
    bool rx_too_big;

    /* The call. */
    char call_id[64];
    char end_reason[64];
    char error_code[64];    /* the last error event's code */
    struct turn_row *turns; /* owned */
    size_t n_turns;
    bool is_connected;
    bool is_started;
    bool is_file_done;
    bool is_input_done;
    bool is_stop_sent;
    bool is_ended;
    bool is_quitting;
    int exit_code;

    /* The terminal. */
    bool is_tty;
    unsigned tty_cols;
    enum line_state line;
    bool has_reply_text; /* assistant_text printed since the last turn */
    bool is_after_space; /* the assistant line ends in a space */
};


/* ---- printing ---- */

/* Ends whatever the current stdout line holds, so a new one can start. */
static void line_close(struct client *c)
{
    if (c->line == LINE_INTERIM)
        fputs("\r\033[K", stdout);
    else if (c->line == LINE_ASSISTANT)
        fputc('\n', stdout);
    c->line = LINE_NONE;
    fflush(stdout);
}


/*
 * Prints text from the daemon with control characters replaced, so a
 * transcript cannot move the cursor or retitle the terminal. At most
 * max_bytes bytes, cut at a character boundary.
 */
static void print_clean(const char *s, size_t max_bytes)
{
    size_t n = strlen(s);

    if (n > max_bytes) {
        n = max_bytes;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, stdout);
    }
}


/* A message for the person, on stderr, starting on a line of its own. */
static void say(struct client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void say(struct client *c, const char *fmt, ...)
{
    va_list ap;

    line_close(c);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}


static void print_cell(long long v, int width)
{
    if (v < 0)
        printf("  %*s", width, "-");
    else
        printf("  %*lld", width, v);
}


static void print_turns(struct client *c)
{
    static const char *const heads[M_COUNT] = {"STT final", "LLM first token",
                                               "TTS first byte",
                                               "end of speech to first audio"};
    long long sum[M_COUNT] = {0};
    unsigned count[M_COUNT] = {0};

    if (c->n_turns == 0)
        return;
    printf("\nLatency per turn, ms:\n%4s", "turn");
    for (size_t k = 0; k < M_COUNT; k++)
        printf("  %s", heads[k]);
    putchar('\n');
    for (size_t i = 0; i < c->n_turns; i++) {
        printf("%4lld", c->turns[i].turn);
        for (size_t k = 0; k < M_COUNT; k++) {
            long long v = c->turns[i].ms[k];

            print_cell(v, (int)strlen(heads[k]));
            if (v >= 0) {
                sum[k] += v;
                count[k]++;
            }
        }
        putchar('\n');
    }
    if (c->n_turns > 1) {
        printf("%4s", "mean");
        for (size_t k = 0; k < M_COUNT; k++)
            print_cell(count[k] > 0 ? sum[k] / count[k] : -1,
                       (int)strlen(heads[k]));
        putchar('\n');
    }
    fflush(stdout);
}


/* ---- sending ---- */

static void queue_msg(struct client *c, const void *data, size_t len,
                      bool is_binary)
{
    struct outmsg *m = sv_xmalloc(sizeof(*m) + LWS_PRE + len);

    m->next = NULL;
    m->len = len;
    m->is_binary = is_binary;
    memcpy(m->data + LWS_PRE, data, len);
    if (c->out_tail != NULL)
        c->out_tail->next = m;
    else
        c->out_head = m;
    c->out_tail = m;
    if (is_binary)
        c->out_audio++;
    if (c->wsi != NULL)
        lws_callback_on_writable(c->wsi);
}


/* Drops caller audio that has not gone out yet. */
static void drop_queued_audio(struct client *c)
{
    struct outmsg **pp = &c->out_head;

    c->out_tail = NULL;
    while (*pp != NULL) {
        struct outmsg *m = *pp;

        if (m->is_binary) {
            *pp = m->next;
            free(m);
        } else {
            c->out_tail = m;
            pp = &m->next;
        }
    }
    c->out_audio = 0;
}


static void queue_json(struct client *c, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);

    SV_ASSERT(text != NULL);
    queue_msg(c, text, strlen(text), false);
    free(text);
    json_decref(j);
}


/* Sends one frame of caller audio in the call's encoding. */
static void send_audio(struct client *c, const int16_t *pcm, size_t samples)
{
    uint8_t bytes[MAX_FRAME_SAMPLES * 2];
    size_t len = 0;

    if (c->out_audio >= MAX_QUEUED_AUDIO) {
        c->dropped_frames++;
        return;
    }
    if (c->use_opus) {
        if (sv_opus_encode(c->enc, pcm, samples, bytes, sizeof(bytes), &len) <
            0)
            return;
    } else {
        /* pcm_s16le is little-endian whatever this host is. */
        for (size_t i = 0; i < samples; i++) {
            uint16_t v = (uint16_t)pcm[i];

            bytes[2 * i] = (uint8_t)(v & 0xff);
            bytes[2 * i + 1] = (uint8_t)(v >> 8);
        }
        len = samples * 2;
    }
    queue_msg(c, bytes, len, true);
}


static void on_stop_wait(uv_timer_t *t);


/* Ends the call from our side: the daemon answers with ended. */
static void send_stop(struct client *c)
{
    if (c->is_stop_sent || c->is_quitting)
        return;
    c->is_stop_sent = true;
    uv_timer_stop(&c->pace);
    uv_timer_stop(&c->grace);
    /* The caller hung up: audio still queued would only delay stop. */
    drop_queued_audio(c);
    queue_json(c, json_pack("{s:s}", "type", "stop"));
    uv_timer_start(&c->stop_wait, on_stop_wait, STOP_WAIT_MS, 0);
}


/* ---- ending ---- */

static void on_quit(uv_timer_t *t);


/*
 * Leaves the loop with the given status, after delay_ms (to let the
 * speaker play out). Teardown happens in a timer callback, never inside
 * an lws callback, where destroying the context is not allowed.
 */
static void quit(struct client *c, int code, unsigned delay_ms)
{
    if (c->is_quitting)
        return;
    c->is_quitting = true;
    c->exit_code = code;
    uv_timer_stop(&c->pace);
    uv_timer_stop(&c->grace);
    uv_timer_stop(&c->stop_wait);
    uv_timer_start(&c->quit, on_quit, delay_ms, 0);
}


static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}


static void on_quit(uv_timer_t *t)
{
    struct client *c = t->data;

    sv_ctl_mic_close(c->mic);
    c->mic = NULL;
    sv_ctl_speaker_free(c->spk);
    c->spk = NULL;
    close_handle((uv_handle_t *)&c->pace);
    close_handle((uv_handle_t *)&c->grace);
    close_handle((uv_handle_t *)&c->stop_wait);
    close_handle((uv_handle_t *)&c->quit);
    close_handle((uv_handle_t *)&c->sigint);
    close_handle((uv_handle_t *)&c->sigterm);
    /* Closes the socket too; the loop runs until lws is done. */
    if (c->lws != NULL)
        lws_context_destroy(c->lws);
}


static void on_stop_wait(uv_timer_t *t)
{
    struct client *c = t->data;

    say(c,
        "sovereignctl: the daemon did not end the call within %d s of "
        "\"stop\"; hanging up",
        STOP_WAIT_MS / 1000);
    quit(c, SV_CTL_EXIT_FAIL, 0);
}


static void on_grace(uv_timer_t *t)
{
    struct client *c = t->data;

    sv_log(SV_LOG_INFO, "ctl: the input is over and the daemon is quiet");
    send_stop(c);
}


static void on_signal(uv_signal_t *s, int signum)
{
    struct client *c = s->data;

    if (c->is_quitting)
        return;
    if (!c->is_started || c->is_stop_sent) {
        say(c, "sovereignctl: interrupted");
        quit(c, SV_CTL_EXIT_FAIL, 0);
        return;
    }
    say(c, "Hanging up...");
    send_stop(c);
}


/* ---- audio in ---- */

static void input_done(struct client *c)
{
    c->is_input_done = true;
    uv_timer_stop(&c->pace);
    uv_timer_start(&c->grace, on_grace, c->o->grace_ms, 0);
}


/* Sends the next frame of the file, or of the silence after it. */
static void send_file_frame(struct client *c)
{
    int16_t pcm[MAX_FRAME_SAMPLES];
    size_t n = c->frame_samples;
    size_t got;

    if (!c->is_file_done) {
        got = sv_ctl_wav_in_read(c->wav_in, pcm, n);
        if (got < n)
            c->is_file_done = true;
        if (got > 0) {
            memset(pcm + got, 0, (n - got) * sizeof(int16_t));
            send_audio(c, pcm, n);
            c->frames_sent++;
            return;
        }
    }
    if (c->silence_left > 0) {
        memset(pcm, 0, n * sizeof(int16_t));
        send_audio(c, pcm, n);
        c->silence_left--;
        c->frames_sent++;
        return;
    }
    input_done(c);
}


/*
 * Keeps the file in step with the clock: by now, frames up to one ahead
 * of real time have gone out. A late wake-up catches up in one go.
 */
static void on_pace(uv_timer_t *t)
{
    struct client *c = t->data;
    uint64_t due = (uv_now(&c->loop) - c->t0_ms) / FRAME_MS + 1;

    while (c->frames_sent < due && !c->is_input_done && !c->is_stop_sent)
        send_file_frame(c);
}


/* Captured samples, on the loop thread: cut into 20 ms frames. */
static void on_mic_pcm(void *arg, const int16_t *pcm, size_t samples)
{
    struct client *c = arg;

    if (!c->is_started || c->is_stop_sent || c->is_quitting)
        return;
    while (samples > 0) {
        size_t room = c->frame_samples - c->mic_fill;
        size_t n = samples < room ? samples : room;

        memcpy(c->mic_frame + c->mic_fill, pcm, n * sizeof(int16_t));
        c->mic_fill += n;
        pcm += n;
        samples -= n;
        if (c->mic_fill == c->frame_samples) {
            send_audio(c, c->mic_frame, c->frame_samples);
            c->mic_fill = 0;
        }
    }
}


/* ---- audio out ---- */

static void play(struct client *c, const int16_t *pcm, size_t samples)
{
    c->reply_samples += samples;
    if (c->wav_out != NULL)
        sv_ctl_wav_out_write(c->wav_out, pcm, samples);
    else if (c->spk != NULL)
        sv_ctl_speaker_write(c->spk, pcm, samples);
}


static void on_audio(struct client *c, const uint8_t *data, size_t len)
{
    int16_t pcm[MAX_FRAME_SAMPLES];
    size_t samples = 0;

    if (!c->is_started || c->is_quitting)
        return;
    if (c->use_opus) {
        if (sv_opus_decode(c->dec, data, len, pcm, SV_ARRAY_SIZE(pcm),
                           &samples) < 0) {
            c->bad_packets++;
            return;
        }
        play(c, pcm, samples);
        return;
    }
    /* PCM frames may be of any length; a stray odd byte is dropped. */
    while (len >= 2) {
        size_t n = len / 2 < SV_ARRAY_SIZE(pcm) ? len / 2 : SV_ARRAY_SIZE(pcm);

        for (size_t i = 0; i < n; i++)
            pcm[i] = (int16_t)(uint16_t)(data[2 * i] | (data[2 * i + 1] << 8));
        play(c, pcm, n);
        data += 2 * n;
        len -= 2 * n;
    }
}


/* ---- events ---- */

static int start_audio(struct client *c)
{
    char err[256];

    if (c->spk != NULL && sv_ctl_speaker_start(c->spk, err, sizeof(err)) < 0)
        goto fail;
    if (c->mic != NULL) {
        if (sv_ctl_mic_start(c->mic, err, sizeof(err)) < 0)
            goto fail;
        return 0;
    }
    c->t0_ms = uv_now(&c->loop);
    uv_timer_start(&c->pace, on_pace, 0, TICK_MS);
    return 0;

fail:
    say(c, "sovereignctl: %s", err);
    return -EIO;
}


static void on_started(struct client *c, json_t *ev)
{
    const char *id = json_string_value(json_object_get(ev, "call_id"));
    json_t *audio = json_object_get(ev, "audio");
    const char *enc = json_string_value(json_object_get(audio, "encoding"));
    json_int_t rate = json_integer_value(json_object_get(audio, "sample_rate"));
    const char *want = c->use_opus ? "opus" : "pcm_s16le";

    if (c->is_started)
        return;
    snprintf(c->call_id, sizeof(c->call_id), "%s", id != NULL ? id : "?");
    if (enc == NULL || strcmp(enc, want) != 0 ||
        rate != (json_int_t)c->o->rate_hz) {
        say(c,
            "sovereignctl: the daemon answers in %s at %lld Hz, not %s at "
            "%u Hz as asked",
            enc != NULL ? enc : "?", (long long)rate, want, c->o->rate_hz);
        c->is_started = true;
        send_stop(c);
        c->exit_code = SV_CTL_EXIT_FAIL;
        return;
    }
    c->is_started = true;
    say(c, "Call %s started (%s, %u Hz, via %s). Ctrl-C hangs up.", c->call_id,
        want, c->o->rate_hz, c->where);
    if (start_audio(c) < 0) {
        c->exit_code = SV_CTL_EXIT_FAIL;
        send_stop(c);
    }
}


static void on_transcript(struct client *c, json_t *ev)
{
    const char *role = json_string_value(json_object_get(ev, "role"));
    const char *text = json_string_value(json_object_get(ev, "text"));
    bool is_final = json_is_true(json_object_get(ev, "final"));

    if (role == NULL || text == NULL)
        return;
    if (strcmp(role, "assistant") == 0) {
        /* The reply as heard; printed only if it was not streamed. */
        if (c->line == LINE_ASSISTANT) {
            line_close(c);
        } else if (!c->has_reply_text && text[0] != '\0') {
            line_close(c);
            fputs("Assistant: ", stdout);
            print_clean(text, SIZE_MAX);
            fputc('\n', stdout);
        }
        c->has_reply_text = false;
        fflush(stdout);
        return;
    }
    if (is_final) {
        if (text[0] == '\0') {
            if (c->line == LINE_INTERIM)
                line_close(c);
            return;
        }
        line_close(c);
        fputs("You: ", stdout);
        print_clean(text, SIZE_MAX);
        fputc('\n', stdout);
        fflush(stdout);
        return;
    }
    if (!c->is_tty)
        return;
    /* An interim result overwrites the line, cut to the terminal width. */
    if (c->line == LINE_ASSISTANT)
        line_close(c);
    fputs("\r\033[KYou: ", stdout);
    print_clean(text, c->tty_cols > 6 ? c->tty_cols - 6 : 0);
    fflush(stdout);
    c->line = LINE_INTERIM;
}


static void on_assistant_text(struct client *c, json_t *ev)
{
    const char *text = json_string_value(json_object_get(ev, "text"));

    if (text == NULL || text[0] == '\0')
        return;
    if (c->line != LINE_ASSISTANT) {
        line_close(c);
        fputs("Assistant: ", stdout);
        c->line = LINE_ASSISTANT;
    }
    print_clean(text, SIZE_MAX);
    fflush(stdout);
    c->has_reply_text = true;
    c->is_after_space = text[strlen(text) - 1] == ' ';
}


static void on_interrupted(struct client *c)
{
    if (c->spk != NULL)
        sv_ctl_speaker_flush(c->spk);
    if (c->line == LINE_ASSISTANT) {
        fputs(c->is_after_space ? "[interrupted]" : " [interrupted]", stdout);
        line_close(c);
    } else {
        line_close(c);
        puts("[interrupted]");
    }
    fflush(stdout);
}


static long long metric(json_t *ev, const char *name)
{
    json_t *v = json_object_get(ev, name);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    return (long long)json_integer_value(v);
}


static void on_turn_metrics(struct client *c, json_t *ev)
{
    struct turn_row *r;

    c->turns = sv_xrealloc(c->turns, (c->n_turns + 1) * sizeof(*c->turns));
    r = &c->turns[c->n_turns++];
    r->turn = metric(ev, "turn");
    if (r->turn < 0)
        r->turn = (long long)c->n_turns;
    r->ms[M_STT] = metric(ev, "stt_final_ms");
    r->ms[M_LLM] = metric(ev, "llm_first_token_ms");
    r->ms[M_TTS] = metric(ev, "tts_first_byte_ms");
    r->ms[M_E2E] = metric(ev, "end_to_first_audio_ms");
}


static void on_error_event(struct client *c, json_t *ev)
{
    const char *code = json_string_value(json_object_get(ev, "error"));
    const char *msg = json_string_value(json_object_get(ev, "message"));

    if (code == NULL)
        code = "unknown";
    if (msg == NULL)
        msg = "";
    snprintf(c->error_code, sizeof(c->error_code), "%s", code);
    if (strcmp(code, "unauthorized") == 0) {
        say(c, "sovereignctl: the daemon refused the API key (unauthorized); "
               "check --key or $" KEY_ENV);
    } else if (strcmp(code, "assistant_not_found") == 0) {
        say(c,
            "sovereignctl: there is no assistant %s in the API key's "
            "organization (assistant_not_found)",
            c->o->assistant_id);
    } else if (strcmp(code, "assistant_inactive") == 0) {
        say(c, "sovereignctl: assistant %s is not active (assistant_inactive)",
            c->o->assistant_id);
    } else if (strcmp(code, "missing_provider_key") == 0) {
        /* The daemon's message names the provider and what to do. */
        say(c, "sovereignctl: no provider key (missing_provider_key): %s", msg);
    } else {
        say(c, "sovereignctl: the daemon reports %s: %s", code, msg);
    }
    /* Before the call runs, every error is final; the socket closes. */
    if (!c->is_started)
        quit(c, SV_CTL_EXIT_FAIL, 0);
}


static void on_ended(struct client *c, json_t *ev)
{
    const char *reason = json_string_value(json_object_get(ev, "reason"));
    unsigned drain_ms = 0;

    snprintf(c->end_reason, sizeof(c->end_reason), "%s",
             reason != NULL ? reason : "unknown");
    c->is_ended = true;
    line_close(c);
    printf("Call ended (%s).\n", c->end_reason);
    fflush(stdout);
    if (c->spk != NULL) {
        drain_ms = sv_ctl_speaker_queued_ms(c->spk);
        if (drain_ms > MAX_DRAIN_MS)
            drain_ms = MAX_DRAIN_MS;
    }
    quit(c,
         strcmp(c->end_reason, "error") == 0 || c->exit_code != 0
             ? SV_CTL_EXIT_FAIL
             : SV_CTL_EXIT_OK,
         drain_ms);
}


static void on_event(struct client *c, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *ev = json_loadb(text, len, 0, &jerr);
    const char *type = json_string_value(json_object_get(ev, "type"));

    if (type == NULL) {
        sv_log(SV_LOG_WARN, "ctl: the daemon sent a text message that is "
                            "not an event");
        json_decref(ev);
        return;
    }
    if (strcmp(type, "started") == 0)
        on_started(c, ev);
    else if (strcmp(type, "transcript") == 0)
        on_transcript(c, ev);
    else if (strcmp(type, "assistant_text") == 0)
        on_assistant_text(c, ev);
    else if (strcmp(type, "interrupted") == 0)
        on_interrupted(c);
    else if (strcmp(type, "turn_metrics") == 0)
        on_turn_metrics(c, ev);
    else if (strcmp(type, "error") == 0)
        on_error_event(c, ev);
    else if (strcmp(type, "ended") == 0)
        on_ended(c, ev);
    else
        sv_log(SV_LOG_DEBUG, "ctl: event %s", type);
    json_decref(ev);
}


/* ---- lws ---- */

static void on_receive(struct client *c, struct lws *wsi, const void *in,
                       size_t len)
{
    if (lws_is_first_fragment(wsi)) {
        sv_buf_reset(&c->rx);
        c->rx_is_binary = lws_frame_is_binary(wsi);
        c->rx_too_big = false;
    }
    if (c->rx.len + len > MAX_MESSAGE_BYTES)
        c->rx_too_big = true;
    else
        sv_buf_append(&c->rx, in, len);
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return;
    if (c->rx_too_big) {
        sv_log(SV_LOG_WARN, "ctl: dropped a message over 64 KiB");
        return;
    }
    /* While the input is over, anything from the daemon extends the wait. */
    if (c->is_input_done && !c->is_stop_sent && !c->is_quitting)
        uv_timer_start(&c->grace, on_grace, c->o->grace_ms, 0);
    if (c->rx_is_binary)
        on_audio(c, (const uint8_t *)c->rx.data, c->rx.len);
    else
        on_event(c, c->rx.data != NULL ? c->rx.data : "", c->rx.len);
}


static int on_writeable(struct client *c, struct lws *wsi)
{
    struct outmsg *m = c->out_head;
    int n;

    if (m == NULL)
        return 0;
    c->out_head = m->next;
    if (c->out_head == NULL)
        c->out_tail = NULL;
    if (m->is_binary)
        c->out_audio--;
    n = lws_write(wsi, m->data + LWS_PRE, m->len,
                  m->is_binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    free(m);
    if (n < 0)
        return -1;
    if (c->out_head != NULL)
        lws_callback_on_writable(wsi);
    return 0;
}


/*
 * Finds out why a connection failed, for the message: lws only says
 * that it did. Tries a plain blocking connect (at most two seconds per
 * address) and writes strerror's text, or NULL-terminated "" when the
 * server accepted the connection after all. Only on the way out.
 */
static void probe(struct client *c, char *why, size_t len)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
    char port[8];
    int err = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", c->port);
    err = getaddrinfo(c->address, port, &hints, &res);
    if (err != 0) {
        snprintf(why, len, "%s", gai_strerror(err));
        return;
    }
    err = ENOENT;
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        int fd =
            socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);

        if (fd < 0) {
            err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        err = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
        close(fd);
        if (err == 0)
            break;
    }
    freeaddrinfo(res);
    snprintf(why, len, "%s", err == 0 ? "" : strerror(err));
}


static void on_connect_error(struct client *c, const char *why)
{
    char cause[128];

    if (c->is_quitting)
        return;
    if (why == NULL)
        why = "unknown error";
    /* lws says "HS: ..." when a server answered but refused the upgrade. */
    if (strncmp(why, "HS:", 3) == 0) {
        say(c,
            "sovereignctl: %s did not accept the session websocket (%s); is "
            "that sovereignd?",
            c->where, why);
        quit(c, SV_CTL_EXIT_FAIL, 0);
        return;
    }
    cause[0] = '\0';
    if (!c->is_unix)
        probe(c, cause, sizeof(cause));
    if (cause[0] != '\0')
        say(c,
            "sovereignctl: cannot connect to %s: %s. Is sovereignd running "
            "and listening there?",
            c->where, cause);
    else
        say(c,
            "sovereignctl: %s closed the connection before the websocket "
            "opened (%s)",
            c->where, why);
    quit(c, SV_CTL_EXIT_FAIL, 0);
}


static void on_closed(struct client *c)
{
    if (c->is_quitting)
        return;
    if (c->error_code[0] == '\0')
        say(c, "sovereignctl: the daemon closed the connection before the "
               "call ended");
    quit(c, SV_CTL_EXIT_FAIL, 0);
}


static int add_auth(struct client *c, struct lws *wsi, void *in, size_t len)
{
    unsigned char **p = in;
    unsigned char *end = *p + len;

    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                     (const unsigned char *)c->auth,
                                     (int)strlen(c->auth), p, end))
        return -1;
    return 0;
}


static int client_cb(struct lws *wsi, enum lws_callback_reasons reason,
                     void *user, void *in, size_t len)
{
    struct client *c = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        return add_auth(c, wsi, in, len);

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->is_connected = true;
        sv_log(SV_LOG_INFO, "ctl: connected to %s", c->where);
        if (c->out_head != NULL)
            lws_callback_on_writable(wsi);
        return 0;

    case LWS_CALLBACK_CLIENT_RECEIVE:
        on_receive(c, wsi, in, len);
        return 0;

    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable(c, wsi);

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        c->wsi = NULL;
        on_connect_error(c, in);
        return 0;

    case LWS_CALLBACK_CLIENT_CLOSED:
        c->wsi = NULL;
        on_closed(c);
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}


static const struct lws_protocols protocols[] = {
    {
        .name = PROTOCOL_NAME,
        .callback = client_cb,
        .per_session_data_size = 0,
        .rx_buffer_size = 0,
    },
    {NULL, NULL, 0, 0, 0, NULL, 0},
};


/* lws logs through us, only when asked for detail. */
static void lws_emit(int level, const char *line)
{
    size_t n = strlen(line);

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    sv_log(SV_LOG_DEBUG, "lws: %.*s", (int)n, line);
}


static int lws_start(struct client *c)
{
    struct lws_context_creation_info info;
    struct lws_client_connect_info ci;
    void *loops[1] = {&c->loop};

    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_LIBUV;
    if (c->is_tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.foreign_loops = loops;
    info.pcontext = &c->lws;
    info.user = c;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    c->lws = lws_create_context(&info);
    if (c->lws == NULL) {
        say(c, "sovereignctl: cannot set up libwebsockets");
        return -ENOMEM;
    }

    memset(&ci, 0, sizeof(ci));
    ci.context = c->lws;
    ci.address = c->address;
    ci.port = c->port;
    ci.path = c->path;
    ci.host = c->host;
    ci.origin = c->host;
    ci.ssl_connection = c->is_tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = PROTOCOL_NAME;
    ci.pwsi = &c->wsi;
    if (lws_client_connect_via_info(&ci) == NULL && !c->is_quitting) {
        /* Usually the error callback has said why already. */
        say(c, "sovereignctl: cannot connect to %s", c->where);
        quit(c, SV_CTL_EXIT_FAIL, 0);
    }
    return 0;
}


/* ---- setup ---- */

static void usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));


static void usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("sovereignctl call: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    sv_ctl_call_usage(stderr);
}


static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}


enum {
    OPT_ASSISTANT = 256,
    OPT_INPUT,
    OPT_OUTPUT,
    OPT_SOCKET,
    OPT_URL,
    OPT_KEY,
    OPT_ENCODING,
    OPT_RATE,
    OPT_SILENCE,
    OPT_GRACE,
    OPT_INPUT_DEVICE,
    OPT_OUTPUT_DEVICE,
};


/* Fills o from argv; the key, if given, moves into *key (a secret). */
static int parse_args(struct opts *o, char **key, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"assistant", required_argument, NULL, OPT_ASSISTANT},
        {"input", required_argument, NULL, OPT_INPUT},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"url", required_argument, NULL, OPT_URL},
        {"key", required_argument, NULL, OPT_KEY},
        {"encoding", required_argument, NULL, OPT_ENCODING},
        {"rate", required_argument, NULL, OPT_RATE},
        {"silence", required_argument, NULL, OPT_SILENCE},
        {"grace", required_argument, NULL, OPT_GRACE},
        {"input-device", required_argument, NULL, OPT_INPUT_DEVICE},
        {"output-device", required_argument, NULL, OPT_OUTPUT_DEVICE},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned v;
    int ch;

    memset(o, 0, sizeof(*o));
    o->input = "mic";
    o->output = "speaker";
    o->rate_hz = DEFAULT_RATE_HZ;
    o->silence_ms = DEFAULT_SILENCE_MS;
    o->grace_ms = DEFAULT_GRACE_MS;
    o->input_device = -1;
    o->output_device = -1;

    /* 0 makes glibc start afresh after the top-level option scan. */
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "+vh", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_ASSISTANT:
            o->assistant_id = optarg;
            break;
        case OPT_INPUT:
            o->input = optarg;
            break;
        case OPT_OUTPUT:
            o->output = optarg;
            break;
        case OPT_SOCKET:
            o->socket_path = optarg;
            break;
        case OPT_URL:
            o->url = optarg;
            break;
        case OPT_KEY:
            sv_secret_free(*key);
            *key = sv_secret_dup(optarg, strlen(optarg));
            /* Keep the key out of ps(1) from here on. */
            sodium_memzero(optarg, strlen(optarg));
            break;
        case OPT_ENCODING:
            if (strcmp(optarg, "pcm") == 0 || strcmp(optarg, "pcm_s16le") == 0)
                o->encoding = "pcm_s16le";
            else if (strcmp(optarg, "opus") == 0)
                o->encoding = "opus";
            else {
                usage_error("--encoding is pcm_s16le or opus");
                return -EINVAL;
            }
            break;
        case OPT_RATE:
            if (parse_uint(optarg, 48000, &v) < 0 ||
                (v != 8000 && v != 16000 && v != 24000 && v != 48000)) {
                usage_error("--rate is 8000, 16000, 24000 or 48000");
                return -EINVAL;
            }
            o->rate_hz = v;
            break;
        case OPT_SILENCE:
        case OPT_GRACE:
            if (parse_uint(optarg, 600000, &v) < 0) {
                usage_error("--silence and --grace take milliseconds "
                            "(0..600000)");
                return -EINVAL;
            }
            if (ch == OPT_SILENCE)
                o->silence_ms = v;
            else
                o->grace_ms = v;
            break;
        case OPT_INPUT_DEVICE:
        case OPT_OUTPUT_DEVICE:
            if (parse_uint(optarg, 100000, &v) < 0) {
                usage_error("a device is an index from \"sovereignctl "
                            "devices\"");
                return -EINVAL;
            }
            if (ch == OPT_INPUT_DEVICE)
                o->input_device = (int)v;
            else
                o->output_device = (int)v;
            break;
        case 'v':
            o->is_verbose = true;
            break;
        case 'h':
            sv_ctl_call_usage(stdout);
            return 1;
        default:
            /* Up to any "=": a mistyped --key=... must not echo the key. */
            usage_error("unknown option or missing value: %.*s",
                        (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        /* Not echoed: a stray argument may be a key whose option was
         * mistyped. */
        usage_error("unexpected argument after the options (number %d)",
                    optind);
        return -EINVAL;
    }
    if (o->assistant_id == NULL || o->assistant_id[0] == '\0') {
        usage_error("--assistant ID is required");
        return -EINVAL;
    }
    if (o->socket_path != NULL && o->url != NULL) {
        usage_error("give --socket or --url, not both");
        return -EINVAL;
    }
    return 0;
}


/*
 * Splits ws://HOST[:PORT][/PREFIX] (or wss://, with [v6] hosts) into the
 * client's address, port, Host header and session path.
 */
static int parse_url(struct client *c, const char *url)
{
    const char *p;
    const char *host_end;
    const char *rest;
    size_t n;

    if (strncmp(url, "ws://", 5) == 0) {
        c->port = 80;
        p = url + 5;
    } else if (strncmp(url, "wss://", 6) == 0) {
        c->port = 443;
        c->is_tls = true;
        p = url + 6;
    } else {
        return -EINVAL;
    }
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (host_end == NULL)
            return -EINVAL;
        n = (size_t)(host_end - p - 1);
        rest = host_end + 1;
        p++;
    } else {
        n = strcspn(p, ":/");
        rest = p + n;
    }
    if (n == 0 || n >= sizeof(c->address))
        return -EINVAL;
    memcpy(c->address, p, n);
    c->address[n] = '\0';
    if (*rest == ':') {
        unsigned port;
        char num[8];
        size_t k = strcspn(rest + 1, "/");

        if (k == 0 || k >= sizeof(num))
            return -EINVAL;
        memcpy(num, rest + 1, k);
        num[k] = '\0';
        if (parse_uint(num, 65535, &port) < 0 || port == 0)
            return -EINVAL;
        c->port = (int)port;
        rest += 1 + k;
    }
    if (*rest != '\0' && *rest != '/')
        return -EINVAL;
    n = strlen(rest);
    while (n > 0 && rest[n - 1] == '/')
        n--;
    /* A URL may name the session path itself, or just the server. */
    if (n >= strlen(SESSION_PATH) &&
        strncmp(rest + n - strlen(SESSION_PATH), SESSION_PATH,
                strlen(SESSION_PATH)) == 0)
        snprintf(c->path, sizeof(c->path), "%.*s", (int)n, rest);
    else
        snprintf(c->path, sizeof(c->path), "%.*s%s", (int)n, rest,
                 SESSION_PATH);
    if (strchr(c->address, ':') != NULL)
        snprintf(c->host, sizeof(c->host), "[%s]", c->address);
    else
        snprintf(c->host, sizeof(c->host), "%s", c->address);
    snprintf(c->where, sizeof(c->where), "%s", url);
    return 0;
}


static int set_unix(struct client *c, const char *path)
{
    struct sockaddr_un sa;
    struct stat st;
    int err;
    int fd;

    if (strlen(path) + 1 > sizeof(c->address) - 2) {
        say(c, "sovereignctl: the socket path %s is too long", path);
        return -ENAMETOOLONG;
    }
    if (stat(path, &st) < 0) {
        say(c,
            "sovereignctl: cannot reach the daemon: no socket at %s (%s). "
            "Is sovereignd running, with [server] unix_socket there?",
            path, strerror(errno));
        return -ENOENT;
    }
    if (!S_ISSOCK(st.st_mode)) {
        say(c, "sovereignctl: %s is not a socket", path);
        return -ENOTSOCK;
    }
    /*
     * A socket file outlives a daemon that was killed. Try it first: a
     * refused connect also makes lws 4.1 leave a poll handle behind.
     */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
        say(c, "sovereignctl: cannot make a socket: %s", strerror(err));
        return -err;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    err = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
    close(fd);
    if (err != 0) {
        say(c,
            "sovereignctl: cannot connect to the daemon at %s: %s. Is "
            "sovereignd running?",
            path, strerror(err));
        return -err;
    }
    c->is_unix = true;
    /* lws takes "+/path" as a unix socket address. */
    snprintf(c->address, sizeof(c->address), "+%s", path);
    snprintf(c->host, sizeof(c->host), "localhost");
    snprintf(c->path, sizeof(c->path), "%s", SESSION_PATH);
    snprintf(c->where, sizeof(c->where), "unix:%s", path);
    return 0;
}


/*
 * Finds the daemon: --socket, --url, or the config's listeners. Returns
 * 0, -EDOM for a malformed --url (a usage error), or another negative
 * errno once the reason has been said.
 */
static int locate(struct client *c, const char *config_path)
{
    const struct opts *o = c->o;
    struct sv_config *cfg = NULL;
    char err[512];
    char url[300];
    const char *host;
    int rc;

    if (o->socket_path != NULL)
        return set_unix(c, o->socket_path);
    if (o->url != NULL) {
        if (parse_url(c, o->url) < 0) {
            usage_error("--url wants ws://HOST:PORT (or wss://)");
            return -EDOM;
        }
        return 0;
    }

    if (sv_config_load(&cfg, config_path, err, sizeof(err)) < 0) {
        say(c,
            "sovereignctl: %s (or say where the daemon is with --socket "
            "PATH or --url ws://HOST:PORT)",
            err);
        return -EINVAL;
    }
    if (cfg->unix_socket != NULL) {
        rc = set_unix(c, cfg->unix_socket);
    } else if (cfg->listen_host != NULL && cfg->listen_port != 0) {
        /* A wildcard listener is reached through the loopback address. */
        host = cfg->listen_host;
        if (strcmp(host, "0.0.0.0") == 0)
            host = "127.0.0.1";
        else if (strcmp(host, "::") == 0)
            host = "::1";
        snprintf(url, sizeof(url),
                 strchr(host, ':') != NULL ? "ws://[%s]:%d" : "ws://%s:%d",
                 host, cfg->listen_port);
        rc = parse_url(c, url);
        SV_ASSERT(rc == 0);
    } else {
        say(c,
            "sovereignctl: %s gives no fixed address for the daemon (no "
            "unix_socket, and listen is off or port 0); use --socket or "
            "--url",
            cfg->path);
        rc = -EINVAL;
    }
    sv_config_free(cfg);
    return rc;
}


/* Opens the input and output before connecting, to fail early. */
static int open_audio(struct client *c)
{
    const struct opts *o = c->o;
    bool quiet = !o->is_verbose;
    char err[512];
    int rc;

    if (strcmp(o->input, "mic") == 0)
        rc = sv_ctl_mic_open(&c->mic, &c->loop, o->input_device, o->rate_hz,
                             quiet, on_mic_pcm, c, err, sizeof(err));
    else
        rc = sv_ctl_wav_in_open(&c->wav_in, o->input, o->rate_hz, err,
                                sizeof(err));
    if (rc < 0)
        goto out;
    c->silence_left = o->silence_ms / FRAME_MS;

    if (strcmp(o->output, "speaker") == 0)
        rc = sv_ctl_speaker_open(&c->spk, o->output_device, o->rate_hz, quiet,
                                 err, sizeof(err));
    else if (strcmp(o->output, "none") != 0)
        rc = sv_ctl_wav_out_open(&c->wav_out, o->output, o->rate_hz, err,
                                 sizeof(err));
    if (rc < 0)
        goto out;

    if (c->use_opus && (sv_opus_enc_new(&c->enc, o->rate_hz, 0) < 0 ||
                        sv_opus_dec_new(&c->dec, o->rate_hz) < 0)) {
        snprintf(err, sizeof(err), "cannot set up the Opus codec");
        rc = -EIO;
    }

out:
    if (rc < 0)
        say(c, "sovereignctl: %s", err);
    return rc;
}


/* The key as an Authorization value, in guarded memory. */
static int make_auth(struct client *c, char *key)
{
    const char *env = getenv(KEY_ENV);
    const char *k = key != NULL ? key : env;
    char value[7 + MAX_KEY_BYTES];
    size_t n;

    if (k == NULL || k[0] == '\0') {
        usage_error("no API key: pass --key KEY or set $" KEY_ENV);
        return -EINVAL;
    }
    n = strlen(k);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] == 0x7f) {
            usage_error("the API key holds spaces or control characters");
            return -EINVAL;
        }
    }
    if (n > MAX_KEY_BYTES) {
        usage_error("the API key is longer than %d bytes", MAX_KEY_BYTES);
        return -EINVAL;
    }
    memcpy(value, "Bearer ", 7);
    memcpy(value + 7, k, n);
    c->auth = sv_secret_dup(value, 7 + n);
    sodium_memzero(value, sizeof(value));
    return 0;
}


static void client_free(struct client *c)
{
    struct outmsg *m;

    while ((m = c->out_head) != NULL) {
        c->out_head = m->next;
        free(m);
    }
    sv_buf_free(&c->rx);
    sv_ctl_wav_in_free(c->wav_in);
    sv_ctl_wav_out_free(c->wav_out);
    sv_opus_enc_free(c->enc);
    sv_opus_dec_free(c->dec);
    sv_secret_free(c->auth);
    free(c->turns);
}


/* After the loop: the latency table and where the reply went. */
static void report(struct client *c)
{
    print_turns(c);
    if (c->wav_out != NULL)
        fprintf(stderr, "Reply audio: %.2f s written to %s\n",
                (double)c->reply_samples / c->o->rate_hz, c->o->output);
    if (c->dropped_frames > 0)
        fprintf(stderr,
                "sovereignctl: %llu caller audio frames dropped (the "
                "connection was too slow)\n",
                (unsigned long long)c->dropped_frames);
    if (c->bad_packets > 0)
        fprintf(stderr, "sovereignctl: %u reply packets could not be decoded\n",
                c->bad_packets);
}


void sv_ctl_call_usage(FILE *f)
{
    fprintf(
        f,
        "usage: sovereignctl [--config FILE] call --assistant ID [options]\n"
        "  --input FILE.wav|mic     caller audio (default mic); a file is\n"
        "                           streamed in real time, then silence\n"
        "  --output FILE.wav|speaker|none  reply audio (default speaker)\n"
        "  --socket PATH            the daemon's unix socket\n"
        "  --url ws://HOST:PORT     the daemon's TCP listener\n"
        "                           (default: the config's unix_socket,\n"
        "                           else its listen address)\n"
        "  --key KEY                API key (default $" KEY_ENV ")\n"
        "  --encoding pcm_s16le|opus  (default opus over TCP, PCM over the\n"
        "                           unix socket)\n"
        "  --rate HZ                8000, 16000 (default), 24000 or 48000\n"
        "  --silence MS             silence after the file (default %d)\n"
        "  --grace MS               quiet time after the input before the\n"
        "                           call is stopped (default %d)\n"
        "  --input-device N, --output-device N  see \"sovereignctl devices\"\n"
        "  --verbose                log details to stderr\n",
        DEFAULT_SILENCE_MS, DEFAULT_GRACE_MS);
}


int sv_ctl_call(const char *config_path, int argc, char **argv)
{
    struct opts o;
    struct client *c;
    char *key = NULL;
    struct winsize ws;
    json_t *start;
    int rc;

    rc = parse_args(&o, &key, argc, argv);
    if (rc != 0) {
        sv_secret_free(key);
        return rc > 0 ? SV_CTL_EXIT_OK : SV_CTL_EXIT_USAGE;
    }
    if (o.is_verbose) {
        sv_log_init(SV_LOG_DEBUG);
        lws_set_log_level(LLL_ERR | LLL_WARN | LLL_NOTICE, lws_emit);
    } else {
        lws_set_log_level(0, NULL);
    }
    signal(SIGPIPE, SIG_IGN);

    c = sv_xcalloc(1, sizeof(*c));
    c->o = &o;
    c->exit_code = SV_CTL_EXIT_OK;
    c->is_tty = isatty(STDOUT_FILENO) == 1;
    c->tty_cols = 80;
    if (c->is_tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
        ws.ws_col > 0)
        c->tty_cols = ws.ws_col;
    c->frame_samples = SV_OPUS_FRAME_SAMPLES(o.rate_hz);

    rc = make_auth(c, key);
    sv_secret_free(key);
    if (rc < 0) {
        client_free(c);
        free(c);
        return SV_CTL_EXIT_USAGE;
    }
    rc = locate(c, config_path);
    if (rc < 0) {
        client_free(c);
        free(c);
        return rc == -EDOM ? SV_CTL_EXIT_USAGE : SV_CTL_EXIT_FAIL;
    }
    if (o.encoding != NULL)
        c->use_opus = strcmp(o.encoding, "opus") == 0;
    else
        c->use_opus = !c->is_unix;

    SV_ASSERT(uv_loop_init(&c->loop) == 0);
    if (open_audio(c) < 0) {
        client_free(c);
        /* A microphone that did open closes through the loop. */
        sv_ctl_mic_close(c->mic);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        SV_ASSERT(uv_loop_close(&c->loop) == 0);
        free(c);
        return SV_CTL_EXIT_FAIL;
    }
    uv_timer_init(&c->loop, &c->pace);
    uv_timer_init(&c->loop, &c->grace);
    uv_timer_init(&c->loop, &c->stop_wait);
    uv_timer_init(&c->loop, &c->quit);
    uv_signal_init(&c->loop, &c->sigint);
    uv_signal_init(&c->loop, &c->sigterm);
    c->pace.data = c;
    c->grace.data = c;
    c->stop_wait.data = c;
    c->quit.data = c;
    c->sigint.data = c;
    c->sigterm.data = c;
    uv_signal_start(&c->sigint, on_signal, SIGINT);
    uv_signal_start(&c->sigterm, on_signal, SIGTERM);

    /* start goes out first, as soon as the socket is up. */
    start = json_pack("{s:s, s:s, s:{s:s, s:i}}", "type", "start",
                      "assistant_id", o.assistant_id, "audio", "encoding",
                      c->use_opus ? "opus" : "pcm_s16le", "sample_rate",
                      (json_int_t)o.rate_hz);
    queue_json(c, start);
    if (lws_start(c) < 0)
        quit(c, SV_CTL_EXIT_FAIL, 0);

    uv_run(&c->loop, UV_RUN_DEFAULT);
    /* On a foreign loop lws finishes its destroy once its handles closed. */
    for (int i = 0; i < 3 && c->lws != NULL; i++) {
        lws_context_destroy(c->lws);
        uv_run(&c->loop, UV_RUN_DEFAULT);
    }
    SV_ASSERT(c->lws == NULL);
    SV_ASSERT(uv_loop_close(&c->loop) == 0);

    if (c->is_started)
        report(c);
    rc = c->exit_code;
    client_free(c);
    free(c);
    return rc;
}
