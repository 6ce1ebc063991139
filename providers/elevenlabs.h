/*
 * elevenlabs.h - knobs of the ElevenLabs text-to-speech adapter that the
 * provider interface does not carry (providers/elevenlabs.c).
 *
 * The adapter itself is reached through sv_tts_elevenlabs
 * (providers/adapters.h); this header exists for the latency bench and
 * the tests, which compare behaviours the daemon does not switch.
 *
 * Loop thread only, like the adapter.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_ELEVENLABS_H
#define SV_ELEVENLABS_H

struct sv_tts;

/* Sentences requested ahead of the one being played, by default. */
#define SV_ELEVENLABS_PREFETCH 1

/* The most sentences the adapter will request ahead. */
#define SV_ELEVENLABS_MAX_PREFETCH 2

/*
 * Sets how many sentences after the one whose audio is being delivered
 * may already be requested (0 = strictly one request at a time), up to
 * SV_ELEVENLABS_MAX_PREFETCH. t must come from sv_tts_elevenlabs.alloc.
 * Takes effect for requests started afterwards. Returns 0, or -EINVAL
 * when n is too large.
 */
int sv_elevenlabs_set_prefetch(struct sv_tts *t, unsigned n);

#endif
