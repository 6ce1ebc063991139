/*
 * resample.c - speexdsp resampler wrapper (see resample.h).
 *
 * Loop thread (one thread at a time per resampler).
 *
 * SPDX-License-Identifier: MIT
 */
#include "pipeline/resample.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <speex/speex_resampler.h>

#include "util/alloc.h"
#include "util/log.h"

#define RATE_MIN_HZ 1000
#define RATE_MAX_HZ 384000

struct sv_resampler {
    SpeexResamplerState *st; /* owned; NULL when the rates are equal */
    unsigned in_hz;
    unsigned out_hz;
};


int sv_resampler_new(struct sv_resampler **out, unsigned in_hz, unsigned out_hz,
                     int quality)
{
    struct sv_resampler *r;
    int err = 0;

    if (in_hz < RATE_MIN_HZ || in_hz > RATE_MAX_HZ || out_hz < RATE_MIN_HZ ||
        out_hz > RATE_MAX_HZ || quality < 0 ||
        quality > SV_RESAMPLER_QUALITY_MAX)
        return -EINVAL;

    r = sv_xcalloc(1, sizeof(*r));
    r->in_hz = in_hz;
    r->out_hz = out_hz;
    if (in_hz != out_hz) {
        r->st = speex_resampler_init(1, in_hz, out_hz, quality, &err);
        if (r->st == NULL) {
            sv_log(SV_LOG_ERR, "resample: %u -> %u Hz: %s", in_hz, out_hz,
                   speex_resampler_strerror(err));
            free(r);
            return -ENOMEM;
        }
    }
    *out = r;
    return 0;
}


size_t sv_resampler_out_max(const struct sv_resampler *r, size_t in_samples)
{
    uint64_t n = (uint64_t)in_samples * r->out_hz;

    if (r->st == NULL)
        return in_samples;
    /* The ratio rounded up, plus one for the carried fractional phase. */
    return (size_t)((n + r->in_hz - 1) / r->in_hz) + 1;
}


int sv_resampler_process(struct sv_resampler *r, const int16_t *in,
                         size_t in_samples, int16_t *out, size_t out_cap,
                         size_t *out_samples)
{
    size_t done_in = 0;
    size_t done_out = 0;

    *out_samples = 0;
    if (in_samples > UINT32_MAX)
        return -EINVAL;
    if (out_cap < sv_resampler_out_max(r, in_samples))
        return -ENOBUFS;
    if (in_samples == 0)
        return 0;

    if (r->st == NULL) {
        memcpy(out, in, in_samples * sizeof(int16_t));
        *out_samples = in_samples;
        return 0;
    }

    /* speexdsp works through long inputs in internal blocks and may
     * return early; call again until all input is consumed. */
    while (done_in < in_samples) {
        spx_uint32_t in_len = (spx_uint32_t)(in_samples - done_in);
        size_t room = out_cap - done_out;
        spx_uint32_t out_len =
            (spx_uint32_t)(room > UINT32_MAX ? UINT32_MAX : room);

        speex_resampler_process_int(r->st, 0, in + done_in, &in_len,
                                    out + done_out, &out_len);
        done_in += in_len;
        done_out += out_len;
        if (in_len == 0 && out_len == 0)
            break;
    }
    *out_samples = done_out;
    if (done_in < in_samples) {
        sv_log(SV_LOG_DEBUG, "resample: %zu of %zu samples left over",
               in_samples - done_in, in_samples);
        return -ENOBUFS;
    }
    return 0;
}


void sv_resampler_reset(struct sv_resampler *r)
{
    if (r->st != NULL)
        speex_resampler_reset_mem(r->st);
}


void sv_resampler_free(struct sv_resampler *r)
{
    if (r == NULL)
        return;
    if (r->st != NULL)
        speex_resampler_destroy(r->st);
    free(r);
}
