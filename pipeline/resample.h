/*
 * resample.h - streaming sample-rate conversion of 16-bit mono PCM.
 *
 * A thin wrapper over the speexdsp resampler. It keeps filter state
 * between calls, so a stream may be fed in pieces of any size (normally
 * 20 ms frames) and comes out as one continuous signal; over a long
 * stream the output length is the input length times out_hz / in_hz,
 * give or take one sample. Equal rates pass samples through unchanged.
 *
 * One resampler per stream and direction, used by one thread at a time
 * (the loop thread).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_RESAMPLE_H
#define SV_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

struct sv_resampler;

/* speexdsp's quality scale is 0..10; 3 is its "VoIP" setting. */
#define SV_RESAMPLER_QUALITY_VOIP 3
#define SV_RESAMPLER_QUALITY_MAX  10

/*
 * Creates a resampler from in_hz to out_hz (each 1000..384000) at the
 * given quality (0..10). Returns 0 and sets *out, or -EINVAL for a bad
 * argument, -ENOMEM if speexdsp fails.
 */
int sv_resampler_new(struct sv_resampler **out, unsigned in_hz, unsigned out_hz,
                     int quality);

/*
 * The most output samples one sv_resampler_process() call can produce
 * from in_samples input samples; size the output buffer with it.
 */
size_t sv_resampler_out_max(const struct sv_resampler *r, size_t in_samples);

/*
 * Converts all in_samples samples of in[] and writes the result to out[]
 * (which holds out_cap samples and must not overlap in[]), setting
 * *out_samples. The output of one call may be one sample longer or
 * shorter than the exact ratio; the difference evens out over calls.
 * Returns 0; -ENOBUFS, before touching any state, when out_cap is below
 * sv_resampler_out_max(); -EINVAL when in_samples does not fit 32 bits.
 * in may be NULL when in_samples is 0.
 */
int sv_resampler_process(struct sv_resampler *r, const int16_t *in,
                         size_t in_samples, int16_t *out, size_t out_cap,
                         size_t *out_samples);

/* Clears the filter history, to start an unrelated stream (after a
 * barge-in, say) without a tail of the old one. */
void sv_resampler_reset(struct sv_resampler *r);

/* Frees the resampler; NULL is a no-op. */
void sv_resampler_free(struct sv_resampler *r);

#endif
