/*
 * assistant.h - the assistant document: defaults, validation, merging.
 *
 * An assistant is the JSON object of ../shared/API.md. The REST handlers
 * validate what clients post, and sessions validate the overrides a
 * client sends with "start", with the same rules.
 *
 * Pure functions on jansson objects; any thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_ASSISTANT_H
#define SV_ASSISTANT_H

#include <stdbool.h>

#include <jansson.h>

/* Why a document was refused: param names the field ("llm_config.model"). */
struct sv_assistant_err {
    char param[96];
    char message[256];
};

/*
 * Checks the fields present in doc (borrowed): names known, types and
 * ranges right, providers and models known. With is_create, "name" is
 * required. Returns 0, or -EINVAL with err filled.
 */
int sv_assistant_check(json_t *doc, bool is_create,
                       struct sv_assistant_err *err);

/*
 * Returns a new document: base (borrowed; NULL means the defaults) with
 * the fields of patch (borrowed) applied. Config objects are merged one
 * level deep; a config whose provider changes without a model gets that
 * provider's default model.
 */
json_t *sv_assistant_merge(json_t *base, json_t *patch);

/* A new object (sharing members) showing a stored assistant, secrets
 * masked. */
json_t *sv_assistant_public(json_t *stored);

#endif
