/*
 * registry.h - the one table of providers the daemon knows.
 *
 * Every provider an assistant may name, remote or local, has one entry
 * here: its id, category, models, default base URL, where its platform
 * key comes from and how a key is checked. The REST API (/byok,
 * /byok/config, assistant validation) and the configuration read this
 * table; later adapters add rows, nothing else changes.
 *
 * Read-only, so any thread may read it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_REGISTRY_H
#define SV_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

enum sv_provider_kind {
    SV_KIND_STT,
    SV_KIND_LLM,
    SV_KIND_TTS,
    SV_KIND_NOTIFY,
};

/* Indexes of the providers that take a key; config and BYOK use them. */
enum sv_provider_id {
    SV_PROVIDER_DEEPGRAM,
    SV_PROVIDER_OPENAI,
    SV_PROVIDER_ELEVENLABS,
    SV_PROVIDER_RESEND,
    SV_PROVIDER_KEYED_COUNT, /* providers below need no key */
};

/* How a key is sent to the provider. */
enum sv_auth_style {
    SV_AUTH_NONE,
    SV_AUTH_TOKEN,  /* Authorization: Token <key> (Deepgram) */
    SV_AUTH_BEARER, /* Authorization: Bearer <key> (OpenAI, Resend) */
    SV_AUTH_XI_KEY, /* xi-api-key: <key> (ElevenLabs) */
};

struct sv_model_info {
    const char *id;
    const char *name;
    bool is_default;
};

struct sv_provider_info {
    const char *id;   /* "deepgram": the API and config name */
    const char *name; /* "Deepgram": for people */
    enum sv_provider_kind kind;
    const char *docs_url;
    const char *default_url; /* base URL as the vendor's SDKs take it */
    const char *key_env;     /* platform key variable, or NULL */
    bool needs_key;
    enum sv_auth_style auth;
    const char *check_path; /* GET this below the base URL to test a key */
    bool models_open;       /* any model id is accepted (local servers) */
    const struct sv_model_info *models; /* ends with a zeroed entry */
};

/* All providers, in API order; sv_provider_count of them. */
extern const struct sv_provider_info sv_providers[];
extern const size_t sv_provider_count;

/* The provider named id, or NULL. */
const struct sv_provider_info *sv_provider_find(const char *id);

/* Index of p in sv_providers. */
size_t sv_provider_index(const struct sv_provider_info *p);

/* "stt", "llm", "tts" or "notifications". */
const char *sv_provider_kind_name(enum sv_provider_kind kind);

/* The provider's default model id, or NULL when it lists none. */
const char *sv_provider_default_model(const struct sv_provider_info *p);

/* True when model is listed for p (or p accepts any model). */
bool sv_provider_has_model(const struct sv_provider_info *p, const char *model);

#endif
