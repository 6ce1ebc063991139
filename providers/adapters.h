/*
 * adapters.h - the provider adapters linked into the daemon.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_ADAPTERS_H
#define SV_ADAPTERS_H

#include "providers/provider.h"

/* ---- elevenlabs (branch elevenlabs) ---- */
/*
 * ElevenLabs text-to-speech, one streamed HTTP request per sentence over
 * the env's sv_httpc (providers/elevenlabs.c; knobs in elevenlabs.h).
 */
extern const struct sv_tts_provider sv_tts_elevenlabs;
/* ---- end elevenlabs ---- */

#endif
