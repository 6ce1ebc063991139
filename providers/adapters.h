/*
 * adapters.h - the provider adapters linked into the daemon.
 *
 * Each adapter file ends with one const descriptor of the interfaces in
 * providers/provider.h; this header declares them so that the provider
 * table and the tests can name them. Later adapters add their lines here.
 *
 * The descriptors are read-only; the adapters themselves run on the
 * call's loop thread.
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
