/*
 * opus_codec.c - libopus encoder and decoder for one mono voice stream
 * (see opus_codec.h for the chosen settings and why).
 *
 * Loop thread (one thread at a time per encoder or decoder).
 *
 * SPDX-License-Identifier: MIT
 */
#include "pipeline/opus_codec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <opus/opus.h>

#include "util/alloc.h"
#include "util/log.h"

#define COMPLEXITY      5
#define BITRATE_MIN_BPS 6000
#define BITRATE_MAX_BPS 510000

struct sv_opus_enc {
    OpusEncoder *enc; /* owned */
    unsigned rate_hz;
};

struct sv_opus_dec {
    OpusDecoder *dec; /* owned */
    unsigned rate_hz;
};


static bool rate_ok(unsigned rate_hz)
{
    return rate_hz == 8000 || rate_hz == 16000 || rate_hz == 24000 ||
           rate_hz == 48000;
}


/* Maps a libopus error code to a negative errno, once, at the boundary. */
static int from_opus(int err)
{
    switch (err) {
    case OPUS_BAD_ARG:
        return -EINVAL;
    case OPUS_BUFFER_TOO_SMALL:
        return -ENOBUFS;
    case OPUS_INVALID_PACKET:
    case OPUS_INTERNAL_ERROR:
        return -EBADMSG;
    case OPUS_ALLOC_FAIL:
        return -ENOMEM;
    default:
        return -EIO;
    }
}


static unsigned default_bitrate(unsigned rate_hz)
{
    if (rate_hz == 8000)
        return 16000;
    if (rate_hz == 16000)
        return 24000;
    return 32000;
}


int sv_opus_enc_new(struct sv_opus_enc **out, unsigned rate_hz,
                    unsigned bitrate_bps)
{
    struct sv_opus_enc *e;
    OpusEncoder *enc;
    int err = OPUS_OK;

    if (!rate_ok(rate_hz))
        return -EINVAL;
    if (bitrate_bps == 0)
        bitrate_bps = default_bitrate(rate_hz);
    if (bitrate_bps < BITRATE_MIN_BPS || bitrate_bps > BITRATE_MAX_BPS)
        return -EINVAL;

    enc = opus_encoder_create((opus_int32)rate_hz, 1, OPUS_APPLICATION_VOIP,
                              &err);
    if (enc == NULL) {
        sv_log(SV_LOG_ERR, "opus: encoder at %u Hz: %s", rate_hz,
               opus_strerror(err));
        return from_opus(err);
    }
    err = opus_encoder_ctl(enc, OPUS_SET_BITRATE((opus_int32)bitrate_bps));
    if (err == OPUS_OK)
        err = opus_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
    if (err == OPUS_OK)
        err = opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(COMPLEXITY));
    if (err == OPUS_OK)
        err = opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(0));
    if (err == OPUS_OK)
        err = opus_encoder_ctl(enc, OPUS_SET_DTX(0));
    if (err != OPUS_OK) {
        sv_log(SV_LOG_ERR, "opus: encoder settings: %s", opus_strerror(err));
        opus_encoder_destroy(enc);
        return from_opus(err);
    }

    e = sv_xcalloc(1, sizeof(*e));
    e->enc = enc;
    e->rate_hz = rate_hz;
    *out = e;
    return 0;
}


int sv_opus_encode(struct sv_opus_enc *e, const int16_t *pcm, size_t samples,
                   uint8_t *packet, size_t cap, size_t *bytes)
{
    opus_int32 room = cap > SV_OPUS_MAX_PACKET_BYTES ? SV_OPUS_MAX_PACKET_BYTES
                                                     : (opus_int32)cap;
    opus_int32 n;

    *bytes = 0;
    if (samples != SV_OPUS_FRAME_SAMPLES(e->rate_hz))
        return -EINVAL;
    if (cap == 0)
        return -ENOBUFS;
    n = opus_encode(e->enc, pcm, (int)samples, packet, room);
    if (n < 0) {
        sv_log(SV_LOG_DEBUG, "opus: encode: %s", opus_strerror(n));
        return from_opus(n);
    }
    *bytes = (size_t)n;
    return 0;
}


void sv_opus_enc_free(struct sv_opus_enc *e)
{
    if (e == NULL)
        return;
    opus_encoder_destroy(e->enc);
    free(e);
}


int sv_opus_dec_new(struct sv_opus_dec **out, unsigned rate_hz)
{
    struct sv_opus_dec *d;
    OpusDecoder *dec;
    int err = OPUS_OK;

    if (!rate_ok(rate_hz))
        return -EINVAL;
    dec = opus_decoder_create((opus_int32)rate_hz, 1, &err);
    if (dec == NULL) {
        sv_log(SV_LOG_ERR, "opus: decoder at %u Hz: %s", rate_hz,
               opus_strerror(err));
        return from_opus(err);
    }
    d = sv_xcalloc(1, sizeof(*d));
    d->dec = dec;
    d->rate_hz = rate_hz;
    *out = d;
    return 0;
}


int sv_opus_decode(struct sv_opus_dec *d, const uint8_t *packet, size_t len,
                   int16_t *pcm, size_t cap, size_t *samples)
{
    size_t max = (size_t)d->rate_hz * SV_OPUS_MAX_PACKET_MS / 1000;
    int frame = (int)SV_OPUS_FRAME_SAMPLES(d->rate_hz);
    int n;

    *samples = 0;
    if (packet == NULL) {
        /* Loss concealment: libopus extrapolates one frame. */
        if (cap < (size_t)frame)
            return -ENOBUFS;
        n = opus_decode(d->dec, NULL, 0, pcm, frame, 0);
    } else {
        /* Check the packet's length from its header before decoding, so
         * a hostile packet can neither overrun pcm nor make us decode
         * seconds of audio; the decoder then validates the rest. */
        if (len == 0 || len > INT32_MAX)
            return -EBADMSG;
        n = opus_packet_get_nb_samples(packet, (opus_int32)len,
                                       (opus_int32)d->rate_hz);
        if (n <= 0)
            return -EBADMSG;
        if ((size_t)n > max)
            return -EMSGSIZE;
        if ((size_t)n > cap)
            return -ENOBUFS;
        n = opus_decode(d->dec, packet, (opus_int32)len, pcm, n, 0);
    }
    if (n < 0) {
        sv_log(SV_LOG_DEBUG, "opus: decode: %s", opus_strerror(n));
        return from_opus(n);
    }
    *samples = (size_t)n;
    return 0;
}


void sv_opus_dec_free(struct sv_opus_dec *d)
{
    if (d == NULL)
        return;
    opus_decoder_destroy(d->dec);
    free(d);
}
