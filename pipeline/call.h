/*
 * call.h - one voice call: the state machine that joins caller audio,
 * speech-to-text, the language model and text-to-speech, and paces the
 * reply back out.
 *
 * The owner (a websocket session, the sound card, a phone line) feeds
 * caller PCM with sv_call_audio() and receives events (JSON objects of
 * the session protocol) and paced reply audio through its handlers. The
 * call writes its record, transcript and usage to the store.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_CALL_H
#define SV_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "providers/provider.h"
#include "util/misc.h"

struct sv_call;
struct sv_store;

struct sv_call_handlers {
    /* A protocol event; ev is borrowed. */
    void (*event)(void *arg, json_t *ev);
    /* One 20 ms frame of reply audio, due now. */
    void (*audio)(void *arg, const int16_t *pcm, size_t samples);
    /* Queued reply audio must be dropped (barge-in). */
    void (*flush)(void *arg);
    /* The call is over; reason is the API's end_reason. Once. */
    void (*ended)(void *arg, const char *reason);
    void *arg;
};

/* One provider leg: its adapter, environment and who pays. */
struct sv_call_leg {
    const struct sv_provider_info *info;
    struct sv_provider_env env; /* env.key is owned by the call */
};

struct sv_call_params {
    uv_loop_t *loop;
    struct sv_store *store; /* borrowed */
    char call_id[SV_ID_LEN];
    char org_id[SV_ID_LEN];
    json_t *assistant; /* borrowed; the effective assistant */
    unsigned sample_rate_hz;
    enum sv_audio_encoding encoding;  /* the owner's; audio() is PCM still */
    struct sv_call_leg stt, llm, tts; /* keys are taken over by the call */
    struct sv_call_handlers h;
};

/*
 * Starts the call: opens the STT stream, speaks first_message, arms the
 * duration and silence timers. Takes ownership of the legs' keys (also
 * on failure). Returns 0 or a negative errno with why filled.
 */
int sv_call_start(struct sv_call **out, struct sv_call_params *p, char *why,
                  size_t why_len);

/* Feeds caller audio at the call's rate. */
void sv_call_audio(struct sv_call *c, const int16_t *pcm, size_t samples);

/* Control requests of POST /calls/{id}/control. */
int sv_call_say(struct sv_call *c, const char *text, bool end_after);
int sv_call_inject(struct sv_call *c, const char *text, bool respond);

/*
 * Ends the call (status ended, reason given). Reply audio stops; the
 * ended handler runs from the loop shortly after. Idempotent.
 */
void sv_call_end(struct sv_call *c, const char *reason);

/* The call's id. */
const char *sv_call_id(const struct sv_call *c);

/* True once the call has ended. */
bool sv_call_is_ended(const struct sv_call *c);

/*
 * Frees the call: closes provider legs and timers. No handler runs after
 * this. Memory goes when the loop has closed the timers.
 */
void sv_call_free(struct sv_call *c);

#endif
