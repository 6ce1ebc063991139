/*
 * opus_worker.h - Opus encoding off the loop thread.
 *
 * Encoding a 20 ms voice frame costs some 80 us, ten times its decoding;
 * a hundred calls replying at once would spend a quarter of a core on it
 * inside the event loop, and every other event would wait behind it. A
 * worker owns one thread that encodes the frames of every stream given
 * to it, in the order they were queued, and hands the packets back to
 * the loop.
 *
 * The worker and its streams are used from the loop thread only; their
 * callbacks run there too. Each stream's encoder is touched only by the
 * worker thread once the stream exists.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_OPUS_WORKER_H
#define SV_OPUS_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct sv_opus_worker;
struct sv_opus_stream;

/*
 * One encoded frame, in the order the frames were queued. packet is
 * borrowed for the call; len is 0 when the encoder failed (logged).
 */
typedef void sv_opus_packet_cb(void *arg, const uint8_t *packet, size_t len);

/*
 * Starts the worker thread for loop. Returns 0 and sets *out, or a
 * negative errno when the thread cannot start.
 */
int sv_opus_worker_new(struct sv_opus_worker **out, uv_loop_t *loop);

/*
 * Stops the thread (it finishes the frame in hand) and frees the worker
 * once the loop has closed its handle. Every stream must be freed first.
 * NULL is a no-op.
 */
void sv_opus_worker_free(struct sv_opus_worker *w);

/*
 * A stream of frames at rate_hz (8000, 16000, 24000 or 48000), with the
 * encoder settings of sv_opus_enc_new(). cb(arg, ...) gets each packet.
 * Returns 0 and sets *out, or the encoder's error.
 */
int sv_opus_stream_new(struct sv_opus_stream **out, struct sv_opus_worker *w,
                       unsigned rate_hz, sv_opus_packet_cb *cb, void *arg);

/* Queues one 20 ms frame (copied) for encoding. */
void sv_opus_stream_encode(struct sv_opus_stream *s, const int16_t *pcm,
                           size_t samples);

/*
 * Forgets the frames queued so far: no callback comes for them (a
 * barge-in). Frames queued afterwards are encoded as usual.
 */
void sv_opus_stream_flush(struct sv_opus_stream *s);

/*
 * Frees the stream: no callback comes after this, and its memory goes
 * once the worker is done with its last frame. NULL is a no-op.
 */
void sv_opus_stream_free(struct sv_opus_stream *s);

#endif
