/*
 * registry.c - the provider table (see registry.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "providers/registry.h"

#include <string.h>

#include "util/alloc.h"

static const struct sv_model_info deepgram_models[] = {
    {"nova-3-general", "Nova 3", true},
    {"nova-3", "Nova 3 (alias)", false},
    {"nova-3-medical", "Nova 3 Medical", false},
    {"nova-2", "Nova 2", false},
    {"nova-2-general", "Nova 2 General", false},
    {"nova-2-phonecall", "Nova 2 Phone Call", false},
    {NULL, NULL, false},
};

static const struct sv_model_info openai_models[] = {
    {"gpt-4o-mini", "GPT-4o mini", true},
    {"gpt-4o", "GPT-4o", false},
    {"gpt-4.1", "GPT-4.1", false},
    {"gpt-4.1-mini", "GPT-4.1 mini", false},
    {"gpt-4.1-nano", "GPT-4.1 nano", false},
    {NULL, NULL, false},
};

static const struct sv_model_info elevenlabs_models[] = {
    {"eleven_flash_v2_5", "Eleven Flash v2.5", true},
    {"eleven_turbo_v2_5", "Eleven Turbo v2.5", false},
    {"eleven_multilingual_v2", "Eleven Multilingual v2", false},
    {"eleven_flash_v2", "Eleven Flash v2", false},
    {"eleven_turbo_v2", "Eleven Turbo v2", false},
    {NULL, NULL, false},
};

static const struct sv_model_info pocketsphinx_models[] = {
    {"en-us", "US English (CMU Sphinx)", true},
    {NULL, NULL, false},
};

static const struct sv_model_info espeak_models[] = {
    {"espeak-ng", "eSpeak NG", true},
    {NULL, NULL, false},
};

static const struct sv_model_info echo_models[] = {
    {"echo", "Echo (repeats the caller)", true},
    {NULL, NULL, false},
};

static const struct sv_model_info no_models[] = {
    {NULL, NULL, false},
};

/* The order of the keyed providers matches enum sv_provider_id. */
const struct sv_provider_info sv_providers[] = {
    {
        .id = "deepgram",
        .name = "Deepgram",
        .kind = SV_KIND_STT,
        .docs_url = "https://developers.deepgram.com/docs/authenticating",
        .default_url = "wss://api.deepgram.com",
        .key_env = "DEEPGRAM_API_KEY",
        .needs_key = true,
        .auth = SV_AUTH_TOKEN,
        .check_path = "/v1/projects",
        .models = deepgram_models,
    },
    {
        .id = "openai",
        .name = "OpenAI",
        .kind = SV_KIND_LLM,
        .docs_url =
            "https://platform.openai.com/docs/api-reference/authentication",
        .default_url = "https://api.openai.com/v1",
        .key_env = "OPENAI_API_KEY",
        .needs_key = true,
        .auth = SV_AUTH_BEARER,
        .check_path = "/models",
        .models = openai_models,
    },
    {
        .id = "elevenlabs",
        .name = "ElevenLabs",
        .kind = SV_KIND_TTS,
        .docs_url = "https://elevenlabs.io/docs/api-reference/authentication",
        .default_url = "https://api.elevenlabs.io",
        .key_env = "ELEVENLABS_API_KEY",
        .needs_key = true,
        .auth = SV_AUTH_XI_KEY,
        .check_path = "/v1/voices",
        .models = elevenlabs_models,
    },
    {
        .id = "resend",
        .name = "Resend",
        .kind = SV_KIND_NOTIFY,
        .docs_url = "https://resend.com/docs/api-reference/introduction",
        .default_url = "https://api.resend.com",
        .key_env = "RESEND_API_KEY",
        .needs_key = true,
        .auth = SV_AUTH_BEARER,
        .check_path = "/domains",
        .models = no_models,
    },
    /* Offline providers: no key, no URL (providers/local_*.c). */
    {
        .id = "pocketsphinx",
        .name = "PocketSphinx (offline)",
        .kind = SV_KIND_STT,
        .docs_url = "https://github.com/cmusphinx/pocketsphinx",
        .needs_key = false,
        .auth = SV_AUTH_NONE,
        .models = pocketsphinx_models,
    },
    {
        .id = "espeak",
        .name = "eSpeak NG (offline)",
        .kind = SV_KIND_TTS,
        .docs_url = "https://github.com/espeak-ng/espeak-ng",
        .needs_key = false,
        .auth = SV_AUTH_NONE,
        .models = espeak_models,
    },
    {
        .id = "echo",
        .name = "Echo (offline demonstration)",
        .kind = SV_KIND_LLM,
        /* Part of sovereignd itself: there is no outside project. */
        .docs_url = "",
        .needs_key = false,
        .auth = SV_AUTH_NONE,
        .models = echo_models,
    },
};

const size_t sv_provider_count = SV_ARRAY_SIZE(sv_providers);


const struct sv_provider_info *sv_provider_find(const char *id)
{
    for (size_t i = 0; i < sv_provider_count; i++) {
        if (strcmp(sv_providers[i].id, id) == 0)
            return &sv_providers[i];
    }
    return NULL;
}


size_t sv_provider_index(const struct sv_provider_info *p)
{
    return (size_t)(p - sv_providers);
}


const char *sv_provider_kind_name(enum sv_provider_kind kind)
{
    switch (kind) {
    case SV_KIND_STT:
        return "stt";
    case SV_KIND_LLM:
        return "llm";
    case SV_KIND_TTS:
        return "tts";
    case SV_KIND_NOTIFY:
        return "notifications";
    }
    return "?";
}


const char *sv_provider_default_model(const struct sv_provider_info *p)
{
    for (const struct sv_model_info *m = p->models; m->id != NULL; m++) {
        if (m->is_default)
            return m->id;
    }
    return NULL;
}


bool sv_provider_has_model(const struct sv_provider_info *p, const char *model)
{
    if (p->models_open)
        return true;
    for (const struct sv_model_info *m = p->models; m->id != NULL; m++) {
        if (strcmp(m->id, model) == 0)
            return true;
    }
    return false;
}
