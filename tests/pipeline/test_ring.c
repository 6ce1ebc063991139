/*
 * test_ring.c - the SPSC sample ring: sizes, wrap-around, full/empty,
 * drop, and a two-thread stress test.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "check.h"
#include "pipeline/ring.h"


SV_TEST(new_sizes)
{
    struct sv_ring *r = NULL;

    CHECK_EQ(sv_ring_new(&r, 0), -EINVAL);
    CHECK_EQ(sv_ring_new(&r, 1), -EINVAL);
    CHECK_EQ(sv_ring_new(&r, 3), -EINVAL);
    CHECK_EQ(sv_ring_new(&r, 1000), -EINVAL);
    CHECK(r == NULL);
    CHECK_EQ(sv_ring_new(&r, 1024), 0);
    CHECK_EQ(sv_ring_capacity(r), 1024);
    CHECK_EQ(sv_ring_readable(r), 0);
    CHECK_EQ(sv_ring_writable(r), 1024);
    sv_ring_free(r);
    sv_ring_free(NULL);
}


SV_TEST(full_empty)
{
    struct sv_ring *r;
    int16_t in[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    int16_t out[10] = {0};

    CHECK_EQ(sv_ring_new(&r, 8), 0);
    CHECK_EQ(sv_ring_read(r, out, 10), 0);
    CHECK_EQ(sv_ring_write(r, in, 10), 8);
    CHECK_EQ(sv_ring_readable(r), 8);
    CHECK_EQ(sv_ring_writable(r), 0);
    CHECK_EQ(sv_ring_write(r, in, 1), 0);
    CHECK_EQ(sv_ring_read(r, out, 10), 8);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(out[i], i + 1);
    CHECK_EQ(sv_ring_read(r, out, 10), 0);
    CHECK_EQ(sv_ring_write(r, NULL, 0), 0);
    CHECK_EQ(sv_ring_read(r, NULL, 0), 0);
    sv_ring_free(r);
}


SV_TEST(wrap)
{
    struct sv_ring *r;
    int16_t next_in = 0;
    int16_t next_out = 0;

    CHECK_EQ(sv_ring_new(&r, 8), 0);
    /* Odd chunk sizes against a capacity of 8 cross the end of the
     * storage at every possible offset. */
    for (int round = 0; round < 100; round++) {
        int16_t buf[8];
        size_t n_in = (size_t)(round % 7) + 1;
        size_t n_out;

        for (size_t i = 0; i < n_in; i++)
            buf[i] = (int16_t)(next_in + (int16_t)i);
        CHECK_EQ(sv_ring_write(r, buf, n_in), n_in);
        next_in = (int16_t)(next_in + (int16_t)n_in);
        n_out = sv_ring_read(r, buf, 8);
        CHECK_EQ(n_out, n_in);
        for (size_t i = 0; i < n_out; i++)
            CHECK_EQ(buf[i], next_out++);
    }
    sv_ring_free(r);
}


SV_TEST(drop)
{
    struct sv_ring *r;
    int16_t buf[6] = {1, 2, 3, 4, 5, 6};

    CHECK_EQ(sv_ring_new(&r, 8), 0);
    CHECK_EQ(sv_ring_write(r, buf, 6), 6);
    CHECK_EQ(sv_ring_read(r, buf, 2), 2);
    CHECK_EQ(sv_ring_drop(r), 4);
    CHECK_EQ(sv_ring_readable(r), 0);
    CHECK_EQ(sv_ring_writable(r), 8);
    CHECK_EQ(sv_ring_write(r, buf, 6), 6);
    CHECK_EQ(sv_ring_read(r, buf, 6), 6);
    CHECK_EQ(buf[0], 1);
    sv_ring_free(r);
}


#define STRESS_SAMPLES (4u << 20)

struct stress {
    struct sv_ring *ring;
    uint32_t seed;
};


/* A tiny xorshift, so each side picks its own varying chunk sizes. */
static size_t chunk(uint32_t *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;
    return 1 + *seed % 300;
}


static void *producer(void *arg)
{
    struct stress *st = arg;
    uint32_t sent = 0;
    int16_t buf[300];

    while (sent < STRESS_SAMPLES) {
        size_t n = chunk(&st->seed);
        size_t done = 0;

        if (n > STRESS_SAMPLES - sent)
            n = STRESS_SAMPLES - sent;
        for (size_t i = 0; i < n; i++)
            buf[i] = (int16_t)(uint16_t)(sent + i);
        while (done < n) {
            size_t k = sv_ring_write(st->ring, buf + done, n - done);

            if (k == 0)
                sched_yield();
            done += k;
        }
        sent += (uint32_t)n;
    }
    return NULL;
}


SV_TEST(threads)
{
    struct stress st = {.seed = 12345};
    pthread_t tid;
    uint32_t got = 0;
    uint32_t seed = 777;
    int16_t buf[300];

    CHECK_EQ(sv_ring_new(&st.ring, 512), 0);
    CHECK_EQ(pthread_create(&tid, NULL, producer, &st), 0);
    while (got < STRESS_SAMPLES) {
        size_t n = sv_ring_read(st.ring, buf, chunk(&seed));

        if (n == 0)
            sched_yield();
        for (size_t i = 0; i < n; i++) {
            if (buf[i] != (int16_t)(uint16_t)(got + i))
                SV_FAIL("sample %u: got %d", (unsigned)(got + i), buf[i]);
        }
        got += (uint32_t)n;
        CHECK_INT(sv_ring_readable(st.ring), <=, 512);
    }
    CHECK_EQ(pthread_join(tid, NULL), 0);
    CHECK_EQ(sv_ring_readable(st.ring), 0);
    sv_ring_free(st.ring);
}


SV_TEST_MAIN(SV_CASE(new_sizes), SV_CASE(full_empty), SV_CASE(wrap),
             SV_CASE(drop), SV_CASE(threads))
