/*
 * tts_adapter.c - latency of the ElevenLabs TTS adapter itself
 * (providers/elevenlabs.c over sv_httpc) against the fake server
 * tests/fakes/fake_elevenlabs.py, which it starts through its CLI.
 *
 * Two measurements (bench/README-tts.md has the figures):
 *
 * 1. First audio: from say() to the first audio() callback of one
 *    sentence, on a kept-alive connection ("reused") and with a new
 *    sv_httpc, so a new TCP connection, per sentence ("fresh").
 * 2. Prefetch: a turn of four sentences said at once, with prefetch 0
 *    and 1. Reported: the median gap between done(k) and the first
 *    audio of k+1, the time to the last done, and the silence a
 *    real-time player would hear while waiting for a later sentence.
 *
 * Not part of ctest. Usage (after building the release preset):
 *
 *   build/release/bench/bench_tts_adapter [runs] [first_byte_ms]
 *
 * Main thread only; the loop runs on it.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>
#include <sodium.h>

#include "providers/adapters.h"
#include "providers/elevenlabs.h"
#include "providers/httpc.h"
#include "util/alloc.h"

#define RATE_HZ       16000
#define MAX_SENTENCES 4
#define MAX_RUNS      1000

static const char *const turn[MAX_SENTENCES] = {
    "Sure.",
    "Let me check that for you.",
    "Your order shipped on Monday.",
    "It should arrive tomorrow before noon.",
};

struct fake {
    pid_t pid;
    int out_fd; /* its stdout, kept open so that it may print more */
    int port;
    char url[64];
};

struct bench {
    uv_loop_t loop;
    struct sv_httpc *http;
    struct sv_tts *tts;
    uint64_t t_say;                  /* ns */
    uint64_t t_first[MAX_SENTENCES]; /* first audio, ns; 0 = none */
    uint64_t t_done[MAX_SENTENCES];  /* ns */
    size_t samples[MAX_SENTENCES];
    size_t n_done;
    int err;
};


static void fake_start(struct fake *f, unsigned first_byte_ms)
{
    char opt_fb[64];
    char line[64];
    int out_pipe[2];
    ssize_t n;
    size_t len = 0;

    snprintf(opt_fb, sizeof(opt_fb), "first_byte_ms=%u", first_byte_ms);
    if (pipe(out_pipe) != 0)
        abort();
    f->pid = fork();
    if (f->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out_pipe[1], 1);
        close(out_pipe[0]);
        close(out_pipe[1]);
        /* 100 ms chunks every 20 ms: five times faster than real time. */
        execlp("python3", "python3", "tests/fakes/fake_elevenlabs.py", "--key",
               "bench-key", "--opt", opt_fb, "--opt", "chunk_interval_ms=20",
               (char *)NULL);
        _exit(127);
    }
    close(out_pipe[1]);
    while (len < sizeof(line) - 1) {
        n = read(out_pipe[0], line + len, 1);
        if (n <= 0 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    f->out_fd = out_pipe[0];
    if (sscanf(line, "PORT %d", &f->port) != 1) {
        fprintf(stderr, "the fake did not start (run from the source "
                        "tree's top directory)\n");
        exit(1);
    }
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
}


static void fake_stop(struct fake *f)
{
    kill(f->pid, SIGTERM);
    waitpid(f->pid, NULL, 0);
    close(f->out_fd);
}


static void on_audio(void *arg, uint32_t seq, const int16_t *pcm,
                     size_t samples)
{
    struct bench *b = arg;

    if (b->t_first[seq] == 0)
        b->t_first[seq] = uv_hrtime();
    b->samples[seq] += samples;
}


static void on_done(void *arg, uint32_t seq, int err, const char *why,
                    size_t characters)
{
    struct bench *b = arg;

    b->t_done[seq] = uv_hrtime();
    b->n_done++;
    if (err != 0) {
        fprintf(stderr, "sentence %u failed: %s\n", seq, why);
        b->err = err;
    }
    uv_stop(&b->loop);
}


static void tts_new(struct bench *b, const char *url, unsigned prefetch)
{
    struct sv_provider_env env = {0};
    struct sv_tts_opts o = {
        .voice_id = "21m00Tcm4TlvDq8ikWAM",
        .model = "eleven_flash_v2_5",
        .stability = -1,
        .similarity_boost = -1,
        .style = -1,
        .speed = -1,
        .sample_rate_hz = RATE_HZ,
    };
    struct sv_tts_handlers h = {on_audio, on_done, b};

    env.loop = &b->loop;
    env.httpc = b->http;
    env.base_url = url;
    env.key = "bench-key";
    env.timeout_ms = 5000;
    env.tag = "bench";
    if (sv_tts_elevenlabs.alloc(&b->tts, &env, &o, &h) != 0)
        abort();
    sv_elevenlabs_set_prefetch(b->tts, prefetch);
}


/* Says n sentences at once and runs the loop until all are done. */
static void speak(struct bench *b, size_t n)
{
    memset(b->t_first, 0, sizeof(b->t_first));
    memset(b->t_done, 0, sizeof(b->t_done));
    memset(b->samples, 0, sizeof(b->samples));
    b->n_done = 0;
    b->t_say = uv_hrtime();
    for (size_t i = 0; i < n; i++)
        sv_tts_elevenlabs.say(b->tts, (uint32_t)i, turn[i]);
    while (b->n_done < n)
        uv_run(&b->loop, UV_RUN_DEFAULT);
    if (b->err != 0)
        exit(1);
}


static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y;
}


static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}


static void loop_open(struct bench *b)
{
    memset(b, 0, sizeof(*b));
    uv_loop_init(&b->loop);
    sv_httpc_new(&b->http, &b->loop);
}


static void loop_close(struct bench *b)
{
    sv_tts_elevenlabs.free(b->tts);
    b->tts = NULL;
    sv_httpc_free(b->http);
    b->http = NULL;
    uv_run(&b->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&b->loop) != 0)
        abort();
}


static void first_audio(const struct fake *f, size_t runs)
{
    static double reused[MAX_RUNS];
    static double fresh[MAX_RUNS];
    struct bench b;

    loop_open(&b);
    tts_new(&b, f->url, 0);
    speak(&b, 1); /* opens the connection */
    for (size_t i = 0; i < runs; i++) {
        speak(&b, 1);
        reused[i] = ms(b.t_first[0] - b.t_say);
    }
    loop_close(&b);
    for (size_t i = 0; i < runs; i++) {
        loop_open(&b);
        tts_new(&b, f->url, 0);
        speak(&b, 1);
        fresh[i] = ms(b.t_first[0] - b.t_say);
        loop_close(&b);
    }
    printf("first audio, say() -> audio(), %zu runs:\n", runs);
    printf("  http reused connection  median %7.2f ms\n", median(reused, runs));
    printf("  http fresh connection   median %7.2f ms\n", median(fresh, runs));
}


static void prefetch(const struct fake *f, size_t runs, unsigned n_ahead)
{
    static double gap[MAX_RUNS * MAX_SENTENCES];
    static double total[MAX_RUNS];
    static double silence[MAX_RUNS];
    size_t n_gap = 0;
    struct bench b;

    loop_open(&b);
    tts_new(&b, f->url, n_ahead);
    speak(&b, MAX_SENTENCES); /* warm-up: opens the connections */
    for (size_t r = 0; r < runs; r++) {
        double play_end;
        double quiet = 0;

        speak(&b, MAX_SENTENCES);
        total[r] = ms(b.t_done[MAX_SENTENCES - 1] - b.t_say);
        /* A real-time player starts at the first audio and plays each
         * sentence for its length; it waits when a sentence's first
         * audio comes after the audio before it has played out. */
        play_end = ms(b.t_first[0] - b.t_say);
        for (size_t k = 0; k < MAX_SENTENCES; k++) {
            double first = ms(b.t_first[k] - b.t_say);

            if (k > 0) {
                gap[n_gap++] = ms(b.t_first[k] - b.t_done[k - 1]);
                if (first > play_end) {
                    quiet += first - play_end;
                    play_end = first;
                }
            }
            play_end += 1000.0 * (double)b.samples[k] / RATE_HZ;
        }
        silence[r] = quiet;
    }
    loop_close(&b);
    printf("  prefetch %u: gap done(k)->audio(k+1) median %7.2f ms, "
           "last done %7.2f ms, player silence %7.2f ms\n",
           n_ahead, median(gap, n_gap), median(total, runs),
           median(silence, runs));
}


int main(int argc, char **argv)
{
    size_t runs = argc > 1 ? (size_t)atoi(argv[1]) : 50;
    unsigned first_byte_ms = argc > 2 ? (unsigned)atoi(argv[2]) : 50;
    struct fake f;

    if (runs == 0 || runs > MAX_RUNS || sodium_init() < 0)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    fake_start(&f, first_byte_ms);
    printf("fake first_byte_ms=%u, 100 ms chunks every 20 ms, pcm_%d\n",
           first_byte_ms, RATE_HZ);
    first_audio(&f, runs);
    printf("a turn of %d sentences said at once, %zu runs:\n", MAX_SENTENCES,
           runs);
    prefetch(&f, runs, 0);
    prefetch(&f, runs, 1);
    prefetch(&f, runs, 2);
    fake_stop(&f);
    return 0;
}
