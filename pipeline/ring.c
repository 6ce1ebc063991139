/*
 * ring.c - lock-free SPSC sample ring (see ring.h).
 *
 * head counts samples ever written and tail samples ever read; both only
 * grow (wrapping at SIZE_MAX, which unsigned arithmetic handles), so
 * head - tail is the fill level and "full" needs no spare slot. The
 * producer publishes samples with a release store of head that the
 * consumer's acquire load pairs with; tail works the same way backwards,
 * so the producer never overwrites a slot still being read.
 *
 * Producer and consumer threads, as described in ring.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "pipeline/ring.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

/* Keeps head and tail on different cache lines, so the two threads do
 * not invalidate each other's line on every update. */
#define CACHE_LINE 64

struct sv_ring {
    atomic_size_t head; /* written by the producer only */
    char pad_head[CACHE_LINE - sizeof(atomic_size_t)];
    atomic_size_t tail; /* written by the consumer only */
    char pad_tail[CACHE_LINE - sizeof(atomic_size_t)];
    size_t mask;   /* capacity - 1 */
    int16_t *data; /* owned; capacity samples */
};


int sv_ring_new(struct sv_ring **out, size_t capacity_samples)
{
    struct sv_ring *r;

    if (capacity_samples < 2 ||
        (capacity_samples & (capacity_samples - 1)) != 0 ||
        capacity_samples > SIZE_MAX / 2 / sizeof(int16_t))
        return -EINVAL;

    r = sv_xcalloc(1, sizeof(*r));
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->mask = capacity_samples - 1;
    r->data = sv_xcalloc(capacity_samples, sizeof(int16_t));
    *out = r;
    return 0;
}


void sv_ring_free(struct sv_ring *r)
{
    if (r == NULL)
        return;
    free(r->data);
    free(r);
}


size_t sv_ring_capacity(const struct sv_ring *r)
{
    return r->mask + 1;
}


size_t sv_ring_write(struct sv_ring *r, const int16_t *in, size_t n)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t space = r->mask + 1 - (head - tail);
    size_t at = head & r->mask;
    size_t first;

    if (n > space)
        n = space;
    if (n == 0)
        return 0;
    first = r->mask + 1 - at;
    if (first > n)
        first = n;
    memcpy(r->data + at, in, first * sizeof(int16_t));
    memcpy(r->data, in + first, (n - first) * sizeof(int16_t));
    atomic_store_explicit(&r->head, head + n, memory_order_release);
    return n;
}


size_t sv_ring_read(struct sv_ring *r, int16_t *out, size_t n)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t avail = head - tail;
    size_t at = tail & r->mask;
    size_t first;

    if (n > avail)
        n = avail;
    if (n == 0)
        return 0;
    first = r->mask + 1 - at;
    if (first > n)
        first = n;
    memcpy(out, r->data + at, first * sizeof(int16_t));
    memcpy(out + first, r->data, (n - first) * sizeof(int16_t));
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return n;
}


size_t sv_ring_drop(struct sv_ring *r)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);

    atomic_store_explicit(&r->tail, head, memory_order_release);
    return head - tail;
}


size_t sv_ring_readable(const struct sv_ring *r)
{
    /* Loading tail first keeps head - tail from going negative even when
     * both sides move meanwhile; the clamp covers the opposite race. */
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t n = head - tail;

    return n > r->mask + 1 ? r->mask + 1 : n;
}


size_t sv_ring_writable(const struct sv_ring *r)
{
    return r->mask + 1 - sv_ring_readable(r);
}
