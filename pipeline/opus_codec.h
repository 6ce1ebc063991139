/*
 * opus_codec.h - Opus encoding and decoding of one mono voice stream.
 *
 * Network clients send and receive Opus; inside, the pipeline works on
 * 16-bit PCM in 20 ms frames at the call's rate (8, 16, 24 or 48 kHz).
 * The encoder takes exactly one 20 ms frame per packet; the decoder takes
 * any valid packet up to SV_OPUS_MAX_PACKET_MS long, and a NULL packet
 * asks it to conceal one lost 20 ms frame.
 *
 * Settings: OPUS_APPLICATION_VOIP with the voice signal hint, VBR, a
 * bitrate chosen per rate (see sv_opus_enc_new), complexity 5 (many
 * calls share two cores; the gain above 5 is small for speech). In-band
 * FEC is off: our Opus travels over WebSocket, i.e. TCP, where packets
 * are never lost one at a time (they arrive late or the link dies), so
 * FEC would only spend bits. DTX is off too, so the pacer gets a packet
 * every 20 ms.
 *
 * Each encoder and decoder belongs to one stream and is used by one
 * thread at a time (the loop thread, or for the encoders of reply audio
 * the Opus worker's thread: pipeline/opus_worker.h).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_OPUS_CODEC_H
#define SV_OPUS_CODEC_H

#include <stddef.h>
#include <stdint.h>

struct sv_opus_enc;
struct sv_opus_dec;

/* The frame the pipeline uses, and the longest packet we decode. */
#define SV_OPUS_FRAME_MS      20
#define SV_OPUS_MAX_PACKET_MS 60

/* Room for any packet the encoder makes (a single frame, RFC 6716). */
#define SV_OPUS_MAX_PACKET_BYTES 1275

/* Samples in one 20 ms frame at rate_hz. */
#define SV_OPUS_FRAME_SAMPLES(rate_hz) ((size_t)(rate_hz) / 50)

/*
 * Creates an encoder for rate_hz (8000, 16000, 24000 or 48000). bitrate_bps
 * 0 picks a default for voice (16 kbit/s at 8 kHz, 24 at 16 kHz, 32
 * above), else 6000..510000. Returns 0 and sets *out; -EINVAL for a bad
 * argument; -ENOMEM or -EIO when libopus fails (logged).
 */
int sv_opus_enc_new(struct sv_opus_enc **out, unsigned rate_hz,
                    unsigned bitrate_bps);

/*
 * Encodes one frame: pcm holds exactly SV_OPUS_FRAME_SAMPLES(rate)
 * samples (-EINVAL otherwise). Writes the packet to packet[] (cap bytes;
 * SV_OPUS_MAX_PACKET_BYTES always suffices) and its length to *bytes.
 * Returns 0, or -ENOBUFS when cap is too small.
 */
int sv_opus_encode(struct sv_opus_enc *e, const int16_t *pcm, size_t samples,
                   uint8_t *packet, size_t cap, size_t *bytes);

/* Frees the encoder; NULL is a no-op. */
void sv_opus_enc_free(struct sv_opus_enc *e);

/*
 * Creates a decoder producing rate_hz (8000, 16000, 24000 or 48000).
 * Returns 0 and sets *out; -EINVAL for a bad rate; -ENOMEM or -EIO when
 * libopus fails (logged).
 */
int sv_opus_dec_new(struct sv_opus_dec **out, unsigned rate_hz);

/*
 * Decodes one packet (len bytes, borrowed) into pcm[] (cap samples) and
 * sets *samples. A NULL packet conceals one lost 20 ms frame. The packet
 * is checked before decoding: -EBADMSG for a malformed or empty packet,
 * -EMSGSIZE for one longer than SV_OPUS_MAX_PACKET_MS, -ENOBUFS when it
 * would not fit in cap. On error *samples is 0 and the decoder stays
 * usable, so the caller may drop the packet and go on.
 */
int sv_opus_decode(struct sv_opus_dec *d, const uint8_t *packet, size_t len,
                   int16_t *pcm, size_t cap, size_t *samples);

/* Frees the decoder; NULL is a no-op. */
void sv_opus_dec_free(struct sv_opus_dec *d);

#endif
