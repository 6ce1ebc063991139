/*
 * adapters.h - the provider adapters linked into the daemon.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_ADAPTERS_H
#define SV_ADAPTERS_H

#include "providers/provider.h"

/* ---- OpenAI (branch openai) ---- */
/*
 * OpenAI chat completions streamed over SSE on the env's HTTP client
 * (providers/openai.c). Retries 429, 5xx and connection failures with
 * backoff until the first text; a refused key or an empty credit balance
 * ends with -EACCES. Cancel every request before freeing env->httpc.
 */
extern const struct sv_llm_provider sv_llm_openai;
/* ---- end OpenAI ---- */

#endif
