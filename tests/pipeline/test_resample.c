/*
 * test_resample.c - the speexdsp wrapper: frequency and length kept over
 * long streams, every call rate pair, odd chunk sizes, pass-through.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "pipeline/resample.h"

#define FRAME_MS 20


static void sine(int16_t *out, size_t n, size_t offset, double hz,
                 unsigned rate_hz, double amplitude)
{
    for (size_t i = 0; i < n; i++) {
        double t = (double)(offset + i) / rate_hz;

        out[i] = (int16_t)lrint(amplitude * sin(2.0 * M_PI * hz * t));
    }
}


/* Sign changes from negative to non-negative, i.e. one per period. */
static size_t rising_crossings(const int16_t *x, size_t n)
{
    size_t count = 0;

    for (size_t i = 1; i < n; i++) {
        if (x[i - 1] < 0 && x[i] >= 0)
            count++;
    }
    return count;
}


static double rms(const int16_t *x, size_t n)
{
    double sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += (double)x[i] * x[i];
    return sqrt(sum / (double)n);
}


/*
 * Streams seconds of a 440 Hz sine through in_hz -> out_hz in 20 ms
 * frames and returns the output (its length in *n_out); the caller frees.
 */
static int16_t *stream(unsigned in_hz, unsigned out_hz, unsigned seconds,
                       size_t *n_out)
{
    struct sv_resampler *r;
    size_t frame = in_hz * FRAME_MS / 1000;
    size_t total_in = (size_t)in_hz * seconds;
    size_t cap = (size_t)out_hz * seconds + 16;
    int16_t *in = calloc(frame, sizeof(*in));
    int16_t *out = calloc(cap, sizeof(*out));
    size_t done = 0;

    CHECK(in != NULL && out != NULL);
    CHECK_EQ(sv_resampler_new(&r, in_hz, out_hz, SV_RESAMPLER_QUALITY_VOIP), 0);
    for (size_t off = 0; off < total_in; off += frame) {
        size_t got;

        sine(in, frame, off, 440.0, in_hz, 10000.0);
        CHECK_INT(cap - done, >=, sv_resampler_out_max(r, frame));
        CHECK_EQ(
            sv_resampler_process(r, in, frame, out + done, cap - done, &got),
            0);
        CHECK_INT(got, <=, sv_resampler_out_max(r, frame));
        done += got;
    }
    sv_resampler_free(r);
    free(in);
    *n_out = done;
    return out;
}


/* The output holds a 440 Hz sine at the same level once the filter has
 * filled (the first 100 ms are skipped). */
static void check_sine(const int16_t *x, size_t n, unsigned rate_hz)
{
    size_t skip = rate_hz / 10;
    size_t seconds = (n - skip) / rate_hz;
    size_t zc = rising_crossings(x + skip, seconds * rate_hz);
    double level = rms(x + skip, seconds * rate_hz);

    CHECK_INT(zc, >=, 440 * seconds - 1);
    CHECK_INT(zc, <=, 440 * seconds + 1);
    CHECK_INT(lrint(level), >=, lrint(10000.0 / sqrt(2.0) * 0.95));
    CHECK_INT(lrint(level), <=, lrint(10000.0 / sqrt(2.0) * 1.05));
}


SV_TEST(sine_round_trip)
{
    struct sv_resampler *up;
    size_t n8;
    int16_t *x8 = stream(16000, 8000, 10, &n8);
    int16_t *x16 = calloc(n8 * 2 + 16, sizeof(*x16));
    size_t n16 = 0;

    CHECK_EQ(n8, 8000 * 10);
    check_sine(x8, n8, 8000);

    CHECK(x16 != NULL);
    CHECK_EQ(sv_resampler_new(&up, 8000, 16000, SV_RESAMPLER_QUALITY_VOIP), 0);
    for (size_t off = 0; off < n8; off += 160) {
        size_t got;

        CHECK_EQ(sv_resampler_process(up, x8 + off, 160, x16 + n16,
                                      n8 * 2 + 16 - n16, &got),
                 0);
        CHECK_EQ(got, 320);
        n16 += got;
    }
    CHECK_EQ(n16, 16000 * 10);
    check_sine(x16, n16, 16000);
    sv_resampler_free(up);
    free(x8);
    free(x16);
}


SV_TEST(rates)
{
    static const unsigned rates[] = {8000, 16000, 24000, 48000};

    for (size_t i = 0; i < 4; i++) {
        for (size_t j = 0; j < 4; j++) {
            size_t n;
            int16_t *x = stream(rates[i], rates[j], 2, &n);

            /* 20 ms frames are whole numbers of samples at every call
             * rate, so the length comes out exact. */
            CHECK_EQ(n, rates[j] * 2);
            check_sine(x, n, rates[j]);
            free(x);
        }
    }
}


SV_TEST(frame_lengths)
{
    struct sv_resampler *r;
    int16_t in[960] = {0};
    int16_t out[1000];
    size_t got;

    CHECK_EQ(sv_resampler_new(&r, 8000, 48000, 3), 0);
    for (int i = 0; i < 50; i++) {
        CHECK_EQ(sv_resampler_process(r, in, 160, out, 1000, &got), 0);
        CHECK_EQ(got, 960);
    }
    sv_resampler_free(r);

    CHECK_EQ(sv_resampler_new(&r, 24000, 16000, 3), 0);
    for (int i = 0; i < 50; i++) {
        CHECK_EQ(sv_resampler_process(r, in, 480, out, 1000, &got), 0);
        CHECK_EQ(got, 320);
    }
    sv_resampler_free(r);
}


/* Odd chunk sizes and a ratio that is no whole number (a TTS voice at
 * 22.05 kHz into a 16 kHz call) still add up to the exact length. */
SV_TEST(odd_chunks)
{
    struct sv_resampler *r;
    int16_t in[500];
    int16_t out[600];
    size_t total_in = 0;
    size_t total_out = 0;
    uint32_t seed = 1;

    CHECK_EQ(sv_resampler_new(&r, 22050, 16000, 5), 0);
    while (total_in < 22050 * 5) {
        size_t n;
        size_t got;

        seed = seed * 1103515245u + 12345u;
        n = 1 + (seed >> 16) % 500;
        sine(in, n, total_in, 440.0, 22050, 8000.0);
        CHECK_EQ(sv_resampler_process(r, in, n, out, 600, &got), 0);
        CHECK_INT(got, <=, sv_resampler_out_max(r, n));
        total_in += n;
        total_out += got;
    }
    {
        uint64_t exact = (uint64_t)total_in * 16000 / 22050;

        CHECK_INT(total_out, >=, exact - 1);
        CHECK_INT(total_out, <=, exact + 1);
    }
    sv_resampler_free(r);
}


SV_TEST(pass_through)
{
    struct sv_resampler *r;
    int16_t in[320];
    int16_t out[320];
    size_t got;

    sine(in, 320, 0, 440.0, 16000, 5000.0);
    CHECK_EQ(sv_resampler_new(&r, 16000, 16000, 3), 0);
    CHECK_EQ(sv_resampler_out_max(r, 320), 320);
    CHECK_EQ(sv_resampler_process(r, in, 320, out, 320, &got), 0);
    CHECK_EQ(got, 320);
    CHECK(memcmp(in, out, sizeof(in)) == 0);
    CHECK_EQ(sv_resampler_process(r, NULL, 0, out, 320, &got), 0);
    CHECK_EQ(got, 0);
    sv_resampler_reset(r);
    sv_resampler_free(r);
    sv_resampler_free(NULL);
}


SV_TEST(errors)
{
    struct sv_resampler *r = NULL;
    int16_t buf[320] = {0};
    size_t got = 99;

    CHECK_EQ(sv_resampler_new(&r, 0, 16000, 3), -EINVAL);
    CHECK_EQ(sv_resampler_new(&r, 16000, 500000, 3), -EINVAL);
    CHECK_EQ(sv_resampler_new(&r, 16000, 8000, 11), -EINVAL);
    CHECK_EQ(sv_resampler_new(&r, 16000, 8000, -1), -EINVAL);
    CHECK(r == NULL);

    CHECK_EQ(sv_resampler_new(&r, 8000, 16000, 3), 0);
    CHECK_EQ(sv_resampler_process(r, buf, 160, buf + 160, 160, &got), -ENOBUFS);
    CHECK_EQ(got, 0);
    sv_resampler_free(r);
}


SV_TEST_MAIN(SV_CASE(sine_round_trip), SV_CASE(rates), SV_CASE(frame_lengths),
             SV_CASE(odd_chunks), SV_CASE(pass_through), SV_CASE(errors))
