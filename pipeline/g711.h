/*
 * g711.h - G.711 mu-law (PCMU) encoding and decoding.
 *
 * Telephone media streams (Twilio, Telnyx, SignalWire) carry 8 kHz mu-law;
 * the pipeline converts at that edge only. Pure functions without state,
 * so any thread may call them.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_G711_H
#define SV_G711_H

#include <stddef.h>
#include <stdint.h>

/*
 * Encodes one 16-bit linear sample as a mu-law byte. Magnitudes above
 * 32635 are clipped, as the standard does. Encoding 0 gives 0xff.
 */
uint8_t sv_g711_ulaw_encode(int16_t sample);

/*
 * Decodes one mu-law byte to a 16-bit linear sample (range -32124..32124).
 * Both 0xff and 0x7f decode to 0, so decode->encode is the identity for
 * every code except 0x7f, which comes back as 0xff.
 */
int16_t sv_g711_ulaw_decode(uint8_t code);

/* Encodes n samples from in[] into n bytes in out[]; may not overlap. */
void sv_g711_ulaw_encode_buf(const int16_t *in, size_t n, uint8_t *out);

/* Decodes n bytes from in[] into n samples in out[]; may not overlap. */
void sv_g711_ulaw_decode_buf(const uint8_t *in, size_t n, int16_t *out);

#endif
