/*
 * provider.h - the three kinds of voice provider a call uses, each a
 * small interface in the spirit of baresip's modules: speech-to-text
 * (stt), the language model (llm) and text-to-speech (tts). One adapter
 * per provider implements one of them and ends its file with a const
 * descriptor; sv_stt_find() and friends pick one by the name an assistant
 * gives.
 *
 * Audio crossing these interfaces is signed 16-bit mono PCM at the call's
 * rate; adapters convert to and from the provider's wire format. The
 * call's edge encoding (enum sv_audio_encoding) is only a hint: an
 * adapter whose provider can produce it may ask for it and decode, so
 * that the reply is encoded once, by the provider.
 *
 * Errors are negative errno values with a reason text for people (never
 * a key): -EACCES the provider refused the key (401/403), -EAGAIN rate
 * limited after retries, -ETIMEDOUT no answer in time, -ECONNREFUSED or
 * -EHOSTUNREACH unreachable, -ECONNRESET dropped, -EINVAL the provider
 * refused the request (unknown voice or model), -EPROTO a malformed
 * answer, -ECANCELED cancelled by the caller.
 *
 * Everything runs on the call's loop thread. Callbacks are never made
 * from inside a call into the adapter (alloc/start/send/say), only from
 * the loop, so the call may free the adapter from any callback.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_PROVIDER_H
#define SV_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

struct lws_vhost;
struct sv_httpc;

/* How a call's audio is carried at its edge (the client's encoding). */
enum sv_audio_encoding {
    SV_AUDIO_PCM,  /* signed 16-bit linear (or Opus, from linear) */
    SV_AUDIO_ULAW, /* G.711 mu-law, 8 kHz only */
};

/* Where and how an adapter instance reaches its provider. */
struct sv_provider_env {
    uv_loop_t *loop;
    struct lws_vhost *ws_vhost; /* lws client vhost for websockets */
    struct sv_httpc *httpc;     /* HTTP client on the loop */
    const char *base_url;       /* from the config: ws(s):// or http(s):// */
    const char *key;            /* borrowed secret; outlives the adapter */
    bool is_byok;               /* the organization's key, or the platform's */
    unsigned timeout_ms;        /* connect and first-answer time-out */
    const char *tag;            /* the call id, for log lines */
};

/* ---- Speech-to-text ---- */

struct sv_stt;

struct sv_stt_opts {
    const char *model;
    const char *language;
    json_t *keyterms; /* borrowed array of strings, or NULL */
    unsigned sample_rate_hz;
    unsigned endpointing_ms;   /* silence that ends an utterance */
    unsigned utterance_end_ms; /* 0 = off */
    bool smart_format;
};

struct sv_stt_handlers {
    /* Interim (is_final false) or final text; speech_final ends a turn. */
    void (*transcript)(void *arg, const char *text, bool is_final,
                       bool speech_final);
    void (*speech_started)(void *arg);
    void (*utterance_end)(void *arg);
    /* The leg failed for good (reconnects exhausted, key refused). */
    void (*error)(void *arg, int err, const char *why);
    void *arg;
};

struct sv_stt_provider {
    const char *name;
    int (*alloc)(struct sv_stt **out, const struct sv_provider_env *env,
                 const struct sv_stt_opts *opts,
                 const struct sv_stt_handlers *h);
    /* Queues caller audio; never blocks; buffers (bounded) while down. */
    int (*send)(struct sv_stt *s, const int16_t *pcm, size_t samples);
    /* Flushes and closes the stream; final transcripts may still come. */
    void (*finish)(struct sv_stt *s);
    /* Closes at once; no callback follows. NULL is a no-op. */
    void (*free)(struct sv_stt *s);
};

/* ---- Language model ---- */

struct sv_llm_req;

struct sv_llm_usage {
    unsigned prompt_tokens;
    unsigned completion_tokens;
};

struct sv_llm_opts {
    const char *model;
    double temperature;  /* < 0: leave to the provider */
    unsigned max_tokens; /* 0: leave to the provider */
    json_t *messages;    /* borrowed: the whole history */
    json_t *tools;       /* borrowed OpenAI-style tools, or NULL */
};

struct sv_llm_handlers {
    void (*text)(void *arg, const char *text, size_t len);
    /* A complete tool call, arguments as JSON text. */
    void (*tool_call)(void *arg, const char *id, const char *name,
                      const char *arguments);
    /* Exactly once; usage may be NULL when the provider sent none. */
    void (*done)(void *arg, int err, const char *why,
                 const struct sv_llm_usage *usage);
    void *arg;
};

struct sv_llm_provider {
    const char *name;
    /*
     * Starts one streamed completion. Retries (429, 5xx, connection
     * failure, with backoff) happen inside, but only before any text was
     * delivered.
     */
    int (*start)(struct sv_llm_req **out, const struct sv_provider_env *env,
                 const struct sv_llm_opts *opts,
                 const struct sv_llm_handlers *h);
    /* done(-ECANCELED) runs before this returns. */
    void (*cancel)(struct sv_llm_req *r);
};

/* ---- Text-to-speech ---- */

struct sv_tts;

struct sv_tts_opts {
    const char *voice_id;
    const char *model;
    const char *language; /* NULL: the provider's choice */
    double stability;     /* < 0: unset (all four) */
    double similarity_boost;
    double style;
    double speed;
    unsigned sample_rate_hz; /* the call's rate */
    /*
     * The call's edge encoding. With SV_AUDIO_ULAW an adapter may have
     * the provider encode mu-law (ElevenLabs ulaw_8000) and decode it
     * here: mu-law survives decode and encode, so the caller gets the
     * provider's bytes. Adapters that cannot ignore it; audio() is PCM
     * either way.
     */
    enum sv_audio_encoding encoding;
};

struct sv_tts_handlers {
    /* Audio of sentence seq, in order; sentences never interleave. */
    void (*audio)(void *arg, uint32_t seq, const int16_t *pcm, size_t samples);
    /* Sentence seq is complete (err 0) or failed; characters billed. */
    void (*done)(void *arg, uint32_t seq, int err, const char *why,
                 size_t characters);
    void *arg;
};

struct sv_tts_provider {
    const char *name;
    int (*alloc)(struct sv_tts **out, const struct sv_provider_env *env,
                 const struct sv_tts_opts *opts,
                 const struct sv_tts_handlers *h);
    /*
     * Queues one sentence; sentences are spoken in the order given. seq
     * counts the sentences of one turn (a reply) from 0, so seq 0 starts
     * a new turn: context an adapter carries from sentence to sentence
     * (ElevenLabs' previous_text) does not cross it.
     */
    int (*say)(struct sv_tts *t, uint32_t seq, const char *text);
    /* Drops every queued and running sentence; no callback for them. */
    void (*cancel)(struct sv_tts *t);
    /* NULL is a no-op; no callback follows. */
    void (*free)(struct sv_tts *t);
};

/* The adapter registered under name, or NULL. */
const struct sv_stt_provider *sv_stt_find(const char *name);
const struct sv_llm_provider *sv_llm_find(const char *name);
const struct sv_tts_provider *sv_tts_find(const char *name);

#endif
