/*
 * sessions.h - what the load benchmark's parts share (bench/sessions.c:
 * the session clients, the daemon and the report; bench/sessions_fakes.c:
 * the fake providers). One loop thread runs all of it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_BENCH_SESSIONS_H
#define SV_BENCH_SESSIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <libwebsockets.h>
#include <uv.h>

#include "pipeline/opus_codec.h"
#include "util/buf.h"

#define RATE_HZ        16000
#define FRAME_MS       20
#define FRAME_SAMPLES  (RATE_HZ * FRAME_MS / 1000)
#define FRAME_BYTES    (FRAME_SAMPLES * 2)
#define MAX_TURNS      64
#define SPEECH_FRAMES  50  /* one second of "speech" per turn */
#define GAP_FRAMES     25  /* silence after a reply, plus up to as much */
#define VAD_RMS        400 /* the fake Deepgram's speech threshold */
#define MS_PER_CHAR    55  /* the fake ElevenLabs' speaking rate */
#define TTS_CHUNK_MS   100 /* audio per chunk, one chunk every 20 ms */
#define MAX_TEXT_BYTES 65536

#define NS_PER_MS 1000000ULL

/*
 * The Opus encoder's lookahead at 16 kHz (2.5 ms plus the 4 ms delay
 * compensation): what the daemon decodes trails the client's samples by
 * this much, which the fake Deepgram takes off when it maps a stream
 * position back to the client's frame.
 */
#define OPUS_DELAY_SAMPLES (RATE_HZ * 13 / 2000)

#define BENCH_DG_KEY "bench-deepgram-key"
#define BENCH_OA_KEY "bench-openai-key"
#define BENCH_EL_KEY "bench-elevenlabs-key"

/* One turn of one session; monotonic ns, 0 = not seen. */
struct turn {
    uint64_t voice_end;   /* client wrote the last voiced frame */
    uint64_t endpoint_in; /* client wrote the frame that ends the endpoint */
    uint64_t final_out;   /* fake Deepgram sent speech_final */
    uint64_t llm_in;      /* fake OpenAI has the whole request */
    uint64_t llm_out;     /* fake OpenAI sent the reply */
    uint64_t tts_in;      /* fake ElevenLabs has the first sentence */
    uint64_t tts_out;     /* fake ElevenLabs sent its first audio */
    uint64_t audio_in;    /* client read the first reply frame */
    int daemon_e2e_ms;    /* the daemon's own turn_metrics, -1 = none */
};

struct bench;

struct sess {
    struct bench *b;
    int idx;
    struct lws *wsi;
    bool is_ended, is_failed;
    bool want_start, want_stop;
    uv_timer_t tick;

    uint64_t t0_ns;       /* stream start */
    uint64_t frames_due;  /* frames the clock says were due */
    uint64_t frames_sent; /* frames written */
    uint64_t *frame_ns;   /* write time of each frame */
    uint64_t max_frames;
    uint64_t speech_from;   /* frame index of the current utterance */
    int turn;               /* utterances scheduled so far */
    bool is_awaiting_reply; /* spoke; the reply has not ended yet */
    bool is_done_talking;   /* no more utterances */
    struct turn turns[MAX_TURNS];

    int errors, interrupts, mismatches;
    struct sv_buf rx;
};

/* One Opus packet a client sends. */
struct packet {
    uint8_t data[SV_OPUS_MAX_PACKET_BYTES];
    size_t len;
};

struct bench {
    uv_loop_t loop;
    struct lws_context *lws;
    struct lws_vhost *client_vh;
    int dg_port, oa_port, el_port; /* the fakes */

    /* Settings. */
    int n_sessions;
    unsigned seconds;
    unsigned stt_ms, llm_ms, tts_ms;
    const char *daemon_path;
    char ctl_path[PATH_MAX];

    /* The daemon. */
    char dir[64];
    uv_process_t proc;
    uv_pipe_t err_pipe;
    struct sv_buf err_line;
    FILE *log;
    int daemon_port;
    bool is_ready, has_exited, is_log_done;
    int n_sanitizer; /* sanitizer reports in the daemon's log */
    int64_t exit_status;
    char api_key[128];
    char assistant_id[64];

    struct sess *sess;
    uv_timer_t clock;
    uv_timer_t deadline; /* bounds each wait of run_for_ms() */
    bool is_late;
    int n_started, n_ended;
    bool is_stopping;
    bool is_strict; /* a missed target fails the run */
    bool is_opus;   /* clients send and get Opus instead of PCM */
    struct packet opus_speech[SPEECH_FRAMES];  /* with is_opus */
    struct packet opus_silence[SPEECH_FRAMES]; /* looped */

    /* Resources, sampled once a second while sessions run. */
    long rss_idle_kib, rss_peak_kib, rss_after_kib;
    double cpu_begin_s, cpu_end_s;
    uint64_t window_begin_ns, window_end_ns;
    bool in_window;
    uint32_t rand;
};


/* Prints the reason and exits with status 1. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The first two whole numbers in s: the session and the turn. */
bool bench_parse_ids(const char *s, int *sess, int *turn);

/* Turn `turn` (from 1) of session `sess`, or NULL when out of range. */
struct turn *bench_turn(struct bench *b, int sess, int turn);

/*
 * Starts the fake Deepgram (a vhost of b->lws, made from info) and the
 * fake OpenAI and ElevenLabs servers, all on 127.0.0.1, and fills in
 * their ports. Dies when one cannot listen.
 */
void bench_fakes_start(struct bench *b, struct lws_context_creation_info *info);

#endif
