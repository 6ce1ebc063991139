/*
 * test_opus_worker.c - Opus encoding on the worker thread: packets come
 * back on the loop in the order the frames went in and decode to them, a
 * flush drops what was queued, a freed stream calls nobody, and the
 * worker stops with frames still queued, all with the loop closing clean.
 *
 * SPDX-License-Identifier: MIT
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "check.h"
#include "pipeline/opus_codec.h"
#include "pipeline/opus_worker.h"

#define RATE_HZ 16000
#define FRAME   SV_OPUS_FRAME_SAMPLES(RATE_HZ)
#define FRAMES  100

struct t {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool is_late;
    struct sv_opus_worker *w;
    struct sv_opus_stream *s;
    /* What came back. */
    uint8_t packets[FRAMES][SV_OPUS_MAX_PACKET_BYTES];
    size_t lens[FRAMES];
    int n;
    bool want_free_in_cb;
};


/* Frame i: a tone whose pitch tells the frames apart after decoding. */
static void frame(int16_t *pcm, int i)
{
    double hz = 200.0 + 20.0 * (i % 20);

    for (size_t k = 0; k < FRAME; k++)
        pcm[k] = (int16_t)lrint(6000.0 * sin(2.0 * M_PI * hz * k / RATE_HZ));
}


static void on_packet(void *arg, const uint8_t *packet, size_t len)
{
    struct t *t = arg;

    CHECK(len > 0);
    CHECK(t->n < FRAMES);
    memcpy(t->packets[t->n], packet, len);
    t->lens[t->n++] = len;
    if (t->want_free_in_cb) {
        sv_opus_stream_free(t->s);
        t->s = NULL;
    }
}


static void on_deadline(uv_timer_t *timer)
{
    struct t *t = timer->data;

    t->is_late = true;
}


static void run_until_n(struct t *t, int n, unsigned ms)
{
    t->is_late = false;
    uv_timer_start(&t->deadline, on_deadline, ms, 0);
    while (t->n < n && !t->is_late)
        uv_run(&t->loop, UV_RUN_ONCE);
    uv_timer_stop(&t->deadline);
}


static void t_init(struct t *t)
{
    memset(t, 0, sizeof(*t));
    CHECK_EQ(uv_loop_init(&t->loop), 0);
    uv_timer_init(&t->loop, &t->deadline);
    t->deadline.data = t;
    CHECK_EQ(sv_opus_worker_new(&t->w, &t->loop), 0);
    CHECK_EQ(sv_opus_stream_new(&t->s, t->w, RATE_HZ, on_packet, t), 0);
}


static void t_close(struct t *t)
{
    sv_opus_stream_free(t->s);
    sv_opus_worker_free(t->w);
    uv_close((uv_handle_t *)&t->deadline, NULL);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    CHECK_EQ(uv_loop_close(&t->loop), 0);
}


/* Packets decode, in order, to the frames' pitches. */
SV_TEST(order)
{
    struct sv_opus_enc *ref;
    int16_t pcm[FRAME];
    uint8_t packet[SV_OPUS_MAX_PACKET_BYTES];
    size_t len;
    struct t t;

    t_init(&t);
    for (int i = 0; i < FRAMES; i++) {
        frame(pcm, i);
        sv_opus_stream_encode(t.s, pcm, FRAME);
    }
    run_until_n(&t, FRAMES, 5000);
    CHECK_EQ(t.n, FRAMES);
    /* The same encoder on this thread makes the same bytes, in order. */
    CHECK_EQ(sv_opus_enc_new(&ref, RATE_HZ, 0), 0);
    for (int i = 0; i < FRAMES; i++) {
        frame(pcm, i);
        CHECK_EQ(sv_opus_encode(ref, pcm, FRAME, packet, sizeof(packet), &len),
                 0);
        CHECK_EQ(t.lens[i], len);
        CHECK(memcmp(t.packets[i], packet, len) == 0);
    }
    sv_opus_enc_free(ref);
    t_close(&t);
}


/* A flush drops everything queued before it, nothing after. */
SV_TEST(flush)
{
    int16_t pcm[FRAME];
    struct t t;

    t_init(&t);
    frame(pcm, 0);
    for (int i = 0; i < 10; i++)
        sv_opus_stream_encode(t.s, pcm, FRAME);
    sv_opus_stream_flush(t.s);
    for (int i = 0; i < 3; i++)
        sv_opus_stream_encode(t.s, pcm, FRAME);
    run_until_n(&t, 3, 5000);
    /* Give a stray packet of the flushed ten every chance to show. */
    sv_opus_stream_encode(t.s, pcm, FRAME);
    run_until_n(&t, 4, 5000);
    CHECK_EQ(t.n, 4);
    t_close(&t);
}


/* Freeing a stream with frames in flight: no callback, nothing leaks. */
SV_TEST(free_in_flight)
{
    struct sv_opus_stream *other;
    int16_t pcm[FRAME];
    struct t t;

    t_init(&t);
    CHECK_EQ(sv_opus_stream_new(&other, t.w, RATE_HZ, on_packet, &t), 0);
    frame(pcm, 1);
    for (int i = 0; i < 20; i++)
        sv_opus_stream_encode(other, pcm, FRAME);
    sv_opus_stream_free(other);
    /* A frame on the live stream comes after all of those. */
    sv_opus_stream_encode(t.s, pcm, FRAME);
    run_until_n(&t, 1, 5000);
    CHECK_EQ(t.n, 1);
    t_close(&t);
}


/* The owner frees the stream from inside its own callback. */
SV_TEST(free_in_callback)
{
    int16_t pcm[FRAME];
    struct t t;

    t_init(&t);
    t.want_free_in_cb = true;
    frame(pcm, 2);
    for (int i = 0; i < 5; i++)
        sv_opus_stream_encode(t.s, pcm, FRAME);
    run_until_n(&t, 1, 5000);
    CHECK_EQ(t.n, 1);
    CHECK(t.s == NULL);
    /* The other four are dropped, whenever they come back. */
    t_close(&t);
    CHECK_EQ(t.n, 1);
}


/* The worker stops with frames still queued for a freed stream. */
SV_TEST(stop_with_queue)
{
    int16_t pcm[FRAME];
    struct t t;

    t_init(&t);
    frame(pcm, 3);
    for (int i = 0; i < FRAMES; i++)
        sv_opus_stream_encode(t.s, pcm, FRAME);
    t_close(&t);
    CHECK(t.n <= FRAMES);
}


SV_TEST_MAIN(SV_CASE(order), SV_CASE(flush), SV_CASE(free_in_flight),
             SV_CASE(free_in_callback), SV_CASE(stop_with_queue))
