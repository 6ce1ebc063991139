/*
 * legs.h - picks the provider and the key for each leg (speech-to-text,
 * language model, text-to-speech) of a call: the organization's stored
 * BYOK key when it has one, else the daemon's platform key.
 *
 * Shared by every owner of a call: websocket sessions and the local
 * sound card.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_LEGS_H
#define SV_LEGS_H

#include <stddef.h>

#include <jansson.h>

#include "pipeline/call.h"

struct sv_daemon;

/* The legs in the order sv_legs_resolve() fills them. */
enum sv_leg_index {
    SV_LEG_STT,
    SV_LEG_LLM,
    SV_LEG_TTS,
    SV_LEG_COUNT,
};

/*
 * Fills legs[SV_LEG_STT..SV_LEG_TTS] for the assistant's stt_config,
 * llm_config and tts_config: the provider, the daemon's loop, lws client
 * vhost and HTTP client, the provider's base URL and time-out, and a new
 * copy of the key in guarded memory (owned by the legs until
 * sv_call_start() takes it over, or sv_legs_free()). env.tag is left
 * NULL for the caller to point at its call id. Returns 0, or a negative
 * errno with why filled for people and every key already freed:
 * -EINVAL when a config names no known provider, -ENOKEY when neither
 * the organization nor the daemon has a key, or the vault's or store's
 * error. assistant is borrowed.
 */
int sv_legs_resolve(struct sv_daemon *d, const char *org_id, json_t *assistant,
                    struct sv_call_leg legs[SV_LEG_COUNT], char *why,
                    size_t why_len);

/* Wipes and frees the legs' keys (those not taken over by a call). */
void sv_legs_free(struct sv_call_leg legs[SV_LEG_COUNT]);

#endif
