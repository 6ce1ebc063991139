/*
 * test_g711.c - G.711 mu-law: known codes, error bounds, round trips.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "pipeline/g711.h"


SV_TEST(known)
{
    CHECK_EQ(sv_g711_ulaw_encode(0), 0xff);
    CHECK_EQ(sv_g711_ulaw_encode(-1), 0x7f);
    CHECK_EQ(sv_g711_ulaw_encode(8), 0xfe);
    CHECK_EQ(sv_g711_ulaw_encode(-8), 0x7e);
    CHECK_EQ(sv_g711_ulaw_encode(1000), 0xce);
    CHECK_EQ(sv_g711_ulaw_encode(32767), 0x80);
    CHECK_EQ(sv_g711_ulaw_encode(-32768), 0x00);

    CHECK_EQ(sv_g711_ulaw_decode(0xff), 0);
    CHECK_EQ(sv_g711_ulaw_decode(0x7f), 0);
    CHECK_EQ(sv_g711_ulaw_decode(0xfe), 8);
    CHECK_EQ(sv_g711_ulaw_decode(0xf0), 120);
    CHECK_EQ(sv_g711_ulaw_decode(0xef), 132);
    CHECK_EQ(sv_g711_ulaw_decode(0xce), 988);
    CHECK_EQ(sv_g711_ulaw_decode(0x80), 32124);
    CHECK_EQ(sv_g711_ulaw_decode(0x00), -32124);
}


/*
 * The decoder returns the middle of the step, so the error is at most
 * half a step: 4 << segment, which is below (|x| + 132) / 32. Clipped
 * inputs (above 32635) may be off by the clip plus half the top step.
 */
SV_TEST(error_bound)
{
    for (int x = INT16_MIN; x <= INT16_MAX; x++) {
        int y = sv_g711_ulaw_decode(sv_g711_ulaw_encode((int16_t)x));
        int err = abs(y - x);
        int mag = abs(x);

        if (mag <= 32635)
            CHECK_INT(err, <=, (mag + 132) / 32);
        else
            CHECK_INT(err, <=, 32768 - 32124);
        /* The sign survives (zero may come back from either side). */
        CHECK(y == 0 || (y < 0) == (x < 0));
    }
}


SV_TEST(monotonic)
{
    int prev = sv_g711_ulaw_decode(sv_g711_ulaw_encode(INT16_MIN));

    for (int x = INT16_MIN + 1; x <= INT16_MAX; x++) {
        int y = sv_g711_ulaw_decode(sv_g711_ulaw_encode((int16_t)x));

        CHECK_INT(y, >=, prev);
        prev = y;
    }
}


SV_TEST(code_round_trip)
{
    for (int c = 0; c < 256; c++) {
        uint8_t back = sv_g711_ulaw_encode(sv_g711_ulaw_decode((uint8_t)c));

        /* 0x7f is "negative zero" and comes back as 0xff. */
        CHECK_EQ(back, c == 0x7f ? 0xff : c);
    }
}


SV_TEST(buffers)
{
    int16_t pcm[512];
    int16_t back[512];
    uint8_t codes[512];

    for (int i = 0; i < 512; i++)
        pcm[i] = (int16_t)(i * 128 - 32768);
    sv_g711_ulaw_encode_buf(pcm, 512, codes);
    sv_g711_ulaw_decode_buf(codes, 512, back);
    for (int i = 0; i < 512; i++) {
        CHECK_EQ(codes[i], sv_g711_ulaw_encode(pcm[i]));
        CHECK_EQ(back[i], sv_g711_ulaw_decode(codes[i]));
    }
}


SV_TEST_MAIN(SV_CASE(known), SV_CASE(error_bound), SV_CASE(monotonic),
             SV_CASE(code_round_trip), SV_CASE(buffers))
