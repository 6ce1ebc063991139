/*
 * g711.c - G.711 mu-law encoding and decoding (see g711.h).
 *
 * The encoder adds a bias of 132 to the magnitude so that every segment
 * starts at a power of two; the segment (exponent) is then the position
 * of the highest set bit, and the four bits below it are the mantissa.
 * The code is sent inverted. Decoding rebuilds the middle of the step.
 *
 * Any thread.
 *
 * SPDX-License-Identifier: MIT
 */
#include "pipeline/g711.h"

#define ULAW_BIAS 132
#define ULAW_CLIP 32635


uint8_t sv_g711_ulaw_encode(int16_t sample)
{
    int x = sample;
    int sign = 0;
    int exponent;
    int mantissa;

    if (x < 0) {
        x = -x;
        sign = 0x80;
    }
    if (x > ULAW_CLIP)
        x = ULAW_CLIP;
    x += ULAW_BIAS;

    /* x is now in 132..32767, so its top bit is bit 7..14. */
    exponent = (31 - __builtin_clz((unsigned)x)) - 7;
    mantissa = (x >> (exponent + 3)) & 0x0f;

    return (uint8_t) ~(sign | (exponent << 4) | mantissa);
}


int16_t sv_g711_ulaw_decode(uint8_t code)
{
    int u = (uint8_t)~code;
    int exponent = (u >> 4) & 0x07;
    int mantissa = u & 0x0f;
    int x = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;

    return (int16_t)((u & 0x80) ? -x : x);
}


void sv_g711_ulaw_encode_buf(const int16_t *in, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = sv_g711_ulaw_encode(in[i]);
}


void sv_g711_ulaw_decode_buf(const uint8_t *in, size_t n, int16_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = sv_g711_ulaw_decode(in[i]);
}
