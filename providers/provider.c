/*
 * provider.c - the adapter tables behind sv_stt_find() and friends.
 *
 * SPDX-License-Identifier: MIT
 */
#include "providers/provider.h"

#include <string.h>

#include "providers/adapters.h"

static const struct sv_stt_provider *const stt_adapters[] = {
    &sv_stt_deepgram,
    &sv_stt_pocketsphinx,
    NULL,
};

static const struct sv_llm_provider *const llm_adapters[] = {
    &sv_llm_openai,
    &sv_llm_echo,
    NULL,
};

static const struct sv_tts_provider *const tts_adapters[] = {
    &sv_tts_elevenlabs,
    &sv_tts_espeak,
    NULL,
};

#define FIND(table, name)                                                      \
    do {                                                                       \
        for (size_t i = 0; (table)[i] != NULL; i++) {                          \
            if (strcmp((table)[i]->name, (name)) == 0)                         \
                return (table)[i];                                             \
        }                                                                      \
        return NULL;                                                           \
    } while (0)


const struct sv_stt_provider *sv_stt_find(const char *name)
{
    FIND(stt_adapters, name);
}


const struct sv_llm_provider *sv_llm_find(const char *name)
{
    FIND(llm_adapters, name);
}


const struct sv_tts_provider *sv_tts_find(const char *name)
{
    FIND(tts_adapters, name);
}
