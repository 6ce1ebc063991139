/*
 * ring.h - a lock-free single-producer, single-consumer ring of samples.
 *
 * Carries 16-bit PCM between the PortAudio callback thread and the loop
 * thread. Exactly one thread writes and exactly one thread reads; which
 * threads those are may differ per ring (capture: audio thread writes,
 * loop reads; playback: the other way round). Writing and reading never
 * allocate, lock, block or log, so both are safe in a real-time callback.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_RING_H
#define SV_RING_H

#include <stddef.h>
#include <stdint.h>

struct sv_ring;

/*
 * Allocates a ring holding up to capacity_samples samples, which must be
 * a power of two (and at least 2). Returns 0 and sets *out, or -EINVAL.
 * Call from any thread before either side starts using the ring.
 */
int sv_ring_new(struct sv_ring **out, size_t capacity_samples);

/* Frees the ring once neither side uses it any more; NULL is a no-op. */
void sv_ring_free(struct sv_ring *r);

/* The capacity given to sv_ring_new(). Any thread. */
size_t sv_ring_capacity(const struct sv_ring *r);

/*
 * Producer only. Copies up to n samples from in[] and returns how many
 * fit (0 when the ring is full); the rest is the caller's to drop or
 * retry.
 */
size_t sv_ring_write(struct sv_ring *r, const int16_t *in, size_t n);

/*
 * Consumer only. Copies up to n samples into out[] and returns how many
 * there were (0 when the ring is empty).
 */
size_t sv_ring_read(struct sv_ring *r, int16_t *out, size_t n);

/*
 * Consumer only. Discards everything written so far (a barge-in flushes
 * queued playback this way) and returns the number of samples dropped.
 */
size_t sv_ring_drop(struct sv_ring *r);

/*
 * Samples ready to read, and free space to write. For the side that acts
 * on the value (the consumer for readable, the producer for writable) it
 * is a lower bound that only grows until that side acts; for any other
 * caller it is a snapshot that may be stale at once. Any thread.
 */
size_t sv_ring_readable(const struct sv_ring *r);
size_t sv_ring_writable(const struct sv_ring *r);

#endif
