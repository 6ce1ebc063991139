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

/*
 * Deepgram live speech-to-text over a websocket on the env's lws client
 * vhost (providers/deepgram.c). Reconnects on its own when the socket
 * drops and replays the audio buffered meanwhile.
 */
extern const struct sv_stt_provider sv_stt_deepgram;

/*
 * OpenAI chat completions streamed over SSE on the env's HTTP client
 * (providers/openai.c). Retries 429, 5xx and connection failures with
 * backoff until the first text; a refused key or an empty credit balance
 * ends with -EACCES. Cancel every request before freeing env->httpc.
 */
extern const struct sv_llm_provider sv_llm_openai;

/* ---- elevenlabs (branch elevenlabs) ---- */
/*
 * ElevenLabs text-to-speech, one streamed HTTP request per sentence over
 * the env's sv_httpc (providers/elevenlabs.c; knobs in elevenlabs.h).
 */
extern const struct sv_tts_provider sv_tts_elevenlabs;
/* ---- end elevenlabs ---- */

/* ---- local (branch local) ---- */
/*
 * PocketSphinx speech-to-text with the Debian en-us model, offline
 * (providers/local_pocketsphinx.c). A worker thread and a decoder per
 * instance (about 90 MB, 0.6 s to load); its own end-of-utterance
 * detection sends speech_started, interim and final transcripts.
 */
extern const struct sv_stt_provider sv_stt_pocketsphinx;
/*
 * espeak-ng text-to-speech, offline (providers/local_espeak.c). One
 * worker thread for the whole process; voice from voice_id or language.
 */
extern const struct sv_tts_provider sv_tts_espeak;
/*
 * "echo", a demonstration responder that repeats the caller's last
 * message and ends the call on "bye" (providers/local_echo.c).
 */
extern const struct sv_llm_provider sv_llm_echo;
/* ---- end local ---- */

#endif
