/*
 * test_opus.c - the Opus wrapper: a sine survives a round trip at every
 * rate, loss concealment, and bad packets are errors, never crashes.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include <opus/opus.h>

#include "check.h"
#include "pipeline/opus_codec.h"

static const unsigned rates[] = {8000, 16000, 24000, 48000};

/* Big enough for 60 ms at 48 kHz, the longest packet we accept. */
#define PCM_CAP 2880


static void sine(int16_t *out, size_t n, size_t offset, unsigned rate_hz)
{
    for (size_t i = 0; i < n; i++) {
        double t = (double)(offset + i) / rate_hz;

        out[i] = (int16_t)lrint(8000.0 * sin(2.0 * M_PI * 440.0 * t));
    }
}


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


/* Encodes frame number i of the test sine at rate_hz. */
static size_t encode_frame(struct sv_opus_enc *e, unsigned rate_hz, size_t i,
                           uint8_t *packet)
{
    size_t frame = SV_OPUS_FRAME_SAMPLES(rate_hz);
    int16_t pcm[960];
    size_t bytes;

    sine(pcm, frame, i * frame, rate_hz);
    CHECK_EQ(
        sv_opus_encode(e, pcm, frame, packet, SV_OPUS_MAX_PACKET_BYTES, &bytes),
        0);
    CHECK_INT(bytes, >, 0);
    return bytes;
}


SV_TEST(round_trip)
{
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        unsigned hz = rates[r];
        size_t frame = SV_OPUS_FRAME_SAMPLES(hz);
        struct sv_opus_enc *e;
        struct sv_opus_dec *d;
        int16_t *out = calloc((size_t)hz, sizeof(*out));
        size_t total = 0;
        size_t bytes_total = 0;
        size_t skip = hz / 10;
        double level;
        size_t zc;

        CHECK(out != NULL);
        CHECK_EQ(sv_opus_enc_new(&e, hz, 0), 0);
        CHECK_EQ(sv_opus_dec_new(&d, hz), 0);
        /* One second: 50 frames. */
        for (size_t i = 0; i < 50; i++) {
            uint8_t packet[SV_OPUS_MAX_PACKET_BYTES];
            size_t bytes = encode_frame(e, hz, i, packet);
            size_t got;

            bytes_total += bytes;
            CHECK_EQ(
                sv_opus_decode(d, packet, bytes, out + total, hz - total, &got),
                0);
            CHECK_EQ(got, frame);
            total += got;
        }
        CHECK_EQ(total, hz);

        /* The codec delay and start-up take well under 100 ms; after that
         * the tone keeps its pitch (440 rising crossings a second) and
         * roughly its level. */
        zc = rising_crossings(out + skip, hz - skip);
        level = rms(out + skip, hz - skip);
        CHECK_INT(zc, >=, 396 - 3);
        CHECK_INT(zc, <=, 396 + 3);
        CHECK_INT(lrint(level), >=, lrint(8000.0 / sqrt(2.0) * 0.7));
        CHECK_INT(lrint(level), <=, lrint(8000.0 / sqrt(2.0) * 1.3));

        /* The bitrate is near the chosen one (VBR wanders a little). */
        CHECK_INT(bytes_total * 8, <=, 2 * (hz == 8000 ? 16000 : 32000));
        sv_opus_enc_free(e);
        sv_opus_dec_free(d);
        free(out);
    }
}


SV_TEST(plc)
{
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        unsigned hz = rates[r];
        struct sv_opus_enc *e;
        struct sv_opus_dec *d;
        uint8_t packet[SV_OPUS_MAX_PACKET_BYTES];
        int16_t pcm[PCM_CAP];
        size_t got;

        CHECK_EQ(sv_opus_enc_new(&e, hz, 0), 0);
        CHECK_EQ(sv_opus_dec_new(&d, hz), 0);
        for (size_t i = 0; i < 10; i++) {
            size_t bytes = encode_frame(e, hz, i, packet);

            CHECK_EQ(sv_opus_decode(d, packet, bytes, pcm, PCM_CAP, &got), 0);
        }
        /* A lost frame is concealed by continuing the tone. */
        CHECK_EQ(sv_opus_decode(d, NULL, 0, pcm, PCM_CAP, &got), 0);
        CHECK_EQ(got, SV_OPUS_FRAME_SAMPLES(hz));
        CHECK(rms(pcm, got) > 1000.0);
        CHECK_EQ(sv_opus_decode(d, NULL, 0, pcm, got - 1, &got), -ENOBUFS);
        sv_opus_enc_free(e);
        sv_opus_dec_free(d);
    }
}


SV_TEST(malformed)
{
    struct sv_opus_dec *d;
    int16_t pcm[PCM_CAP];
    size_t got = 99;
    /* Code 3 (several frames) with a frame count of 0. */
    static const uint8_t zero_frames[] = {0x0b, 0x00};
    /* Code 3 with 49 frames of 20 ms: over the 120 ms Opus allows. */
    static const uint8_t too_many[] = {0x0b, 49};
    /* Code 2 (two frames) whose first frame is longer than the packet. */
    static const uint8_t short_data[] = {0x0a, 0xfb, 0x01};
    /* Code 3 with padding that runs past the end. */
    static const uint8_t bad_padding[] = {0x0b, 0x41, 0xff};

    CHECK_EQ(sv_opus_dec_new(&d, 16000), 0);
    CHECK_EQ(sv_opus_decode(d, zero_frames, 2, pcm, PCM_CAP, &got), -EBADMSG);
    CHECK_EQ(got, 0);
    CHECK_EQ(sv_opus_decode(d, too_many, 2, pcm, PCM_CAP, &got), -EBADMSG);
    CHECK_EQ(sv_opus_decode(d, short_data, 3, pcm, PCM_CAP, &got), -EBADMSG);
    CHECK_EQ(sv_opus_decode(d, bad_padding, 3, pcm, PCM_CAP, &got), -EBADMSG);
    CHECK_EQ(sv_opus_decode(d, zero_frames, 0, pcm, PCM_CAP, &got), -EBADMSG);
    /* The decoder still works afterwards. */
    CHECK_EQ(sv_opus_decode(d, NULL, 0, pcm, PCM_CAP, &got), 0);
    CHECK_EQ(got, 320);
    sv_opus_dec_free(d);
}


/* Random bytes must decode or fail cleanly (ASan watches the rest). */
SV_TEST(garbage)
{
    struct sv_opus_dec *d;
    uint32_t seed = 42;

    CHECK_EQ(sv_opus_dec_new(&d, 48000), 0);
    for (int i = 0; i < 3000; i++) {
        uint8_t packet[300];
        int16_t pcm[PCM_CAP];
        size_t len;
        size_t got;
        int rc;

        seed = seed * 1103515245u + 12345u;
        len = 1 + (seed >> 16) % sizeof(packet);
        for (size_t j = 0; j < len; j++) {
            seed = seed * 1103515245u + 12345u;
            packet[j] = (uint8_t)(seed >> 16);
        }
        rc = sv_opus_decode(d, packet, len, pcm, PCM_CAP, &got);
        CHECK(rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE);
        CHECK_INT(got, <=, PCM_CAP);
        CHECK(rc == 0 || got == 0);
    }
    sv_opus_dec_free(d);
}


/* Joins n 20 ms packets into one n * 20 ms packet with the repacketizer. */
static size_t join(struct sv_opus_enc *e, unsigned hz, int n, uint8_t *out,
                   size_t cap)
{
    OpusRepacketizer *rp = opus_repacketizer_create();
    uint8_t frames[6][SV_OPUS_MAX_PACKET_BYTES];
    opus_int32 len;

    CHECK(rp != NULL);
    for (int i = 0; i < n; i++) {
        size_t bytes = encode_frame(e, hz, (size_t)i, frames[i]);

        CHECK_EQ(opus_repacketizer_cat(rp, frames[i], (opus_int32)bytes),
                 OPUS_OK);
    }
    len = opus_repacketizer_out(rp, out, (opus_int32)cap);
    CHECK_INT(len, >, 0);
    opus_repacketizer_destroy(rp);
    return (size_t)len;
}


SV_TEST(too_long)
{
    struct sv_opus_enc *e;
    struct sv_opus_dec *d;
    uint8_t packet[6 * SV_OPUS_MAX_PACKET_BYTES];
    int16_t pcm[PCM_CAP];
    size_t len;
    size_t got = 99;
    /* Code 3, four empty 20 ms SILK frames: 80 ms from two bytes. */
    static const uint8_t empty80[] = {0x0b, 0x04};

    CHECK_EQ(sv_opus_enc_new(&e, 16000, 0), 0);
    CHECK_EQ(sv_opus_dec_new(&d, 16000), 0);

    /* 40 and 60 ms packets decode whole, if there is room. */
    len = join(e, 16000, 2, packet, sizeof(packet));
    CHECK_EQ(sv_opus_decode(d, packet, len, pcm, PCM_CAP, &got), 0);
    CHECK_EQ(got, 640);
    CHECK_EQ(sv_opus_decode(d, packet, len, pcm, 320, &got), -ENOBUFS);
    CHECK_EQ(got, 0);
    len = join(e, 16000, 3, packet, sizeof(packet));
    CHECK_EQ(sv_opus_decode(d, packet, len, pcm, PCM_CAP, &got), 0);
    CHECK_EQ(got, 960);

    /* 80 ms is more than we take, real or not. */
    len = join(e, 16000, 4, packet, sizeof(packet));
    CHECK_EQ(sv_opus_decode(d, packet, len, pcm, PCM_CAP, &got), -EMSGSIZE);
    CHECK_EQ(got, 0);
    CHECK_EQ(sv_opus_decode(d, empty80, 2, pcm, PCM_CAP, &got), -EMSGSIZE);
    sv_opus_enc_free(e);
    sv_opus_dec_free(d);
}


SV_TEST(bad_args)
{
    struct sv_opus_enc *e = NULL;
    struct sv_opus_dec *d = NULL;
    int16_t pcm[960] = {0};
    uint8_t packet[SV_OPUS_MAX_PACKET_BYTES];
    size_t bytes = 99;

    CHECK_EQ(sv_opus_enc_new(&e, 44100, 0), -EINVAL);
    CHECK_EQ(sv_opus_enc_new(&e, 12000, 0), -EINVAL);
    CHECK_EQ(sv_opus_enc_new(&e, 16000, 100), -EINVAL);
    CHECK_EQ(sv_opus_enc_new(&e, 16000, 1000000), -EINVAL);
    CHECK(e == NULL);
    CHECK_EQ(sv_opus_dec_new(&d, 22050), -EINVAL);
    CHECK(d == NULL);

    CHECK_EQ(sv_opus_enc_new(&e, 16000, 20000), 0);
    CHECK_EQ(sv_opus_encode(e, pcm, 160, packet, sizeof(packet), &bytes),
             -EINVAL);
    CHECK_EQ(sv_opus_encode(e, pcm, 960, packet, sizeof(packet), &bytes),
             -EINVAL);
    CHECK_EQ(sv_opus_encode(e, pcm, 320, packet, 0, &bytes), -ENOBUFS);
    CHECK_EQ(bytes, 0);
    CHECK_EQ(sv_opus_encode(e, pcm, 320, packet, sizeof(packet), &bytes), 0);
    CHECK_INT(bytes, >, 0);
    sv_opus_enc_free(e);
    sv_opus_enc_free(NULL);
    sv_opus_dec_free(NULL);
}


SV_TEST_MAIN(SV_CASE(round_trip), SV_CASE(plc), SV_CASE(malformed),
             SV_CASE(garbage), SV_CASE(too_long), SV_CASE(bad_args))
