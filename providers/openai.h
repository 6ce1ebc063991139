/*
 * openai.h - the pure parts of the OpenAI chat-completions adapter
 * (providers/openai.c): request body, tool-call accumulator, error
 * classification and retry delays. They are exposed for the unit tests;
 * the rest of the daemon uses the adapter through sv_llm_openai in
 * providers/adapters.h.
 *
 * None of these touch the loop; the adapter calls them on the loop
 * thread, the tests from their main thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_OPENAI_H
#define SV_OPENAI_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "providers/provider.h"
#include "util/buf.h"

/* Retries after the first attempt, as in OpenAI's own SDKs. */
#define SV_OPENAI_MAX_RETRIES 2

/* A server-advised delay longer than this is ignored (backoff instead). */
#define SV_OPENAI_MAX_ADVISED_MS 120000

/* Tool-call indices at or above this are refused as malformed. */
#define SV_OPENAI_MAX_TOOL_CALLS 16

/* One tool call's arguments may not grow beyond this many bytes. */
#define SV_OPENAI_MAX_ARGS_BYTES (256 * 1024)

/*
 * The JSON request body for opts: model, messages (copied as they are),
 * temperature when >= 0, max_completion_tokens when > 0, stream with
 * usage, and tools with tool_choice "auto" when tools is a non-empty
 * array. Returns a new string (free() it), or NULL when the model is
 * missing or empty or messages is not a non-empty array.
 */
char *sv_openai_body(const struct sv_llm_opts *opts);

/* One tool call being assembled from stream fragments. */
struct sv_openai_tool_call {
    char *id;           /* owned; NULL until a fragment names it */
    char *name;         /* owned; NULL until a fragment names it */
    struct sv_buf args; /* owned: the argument fragments, joined */
    bool is_used;       /* some fragment had this index */
};

/* The tool calls of one answer, by the stream's tool_calls[].index. */
struct sv_openai_tools {
    struct sv_openai_tool_call calls[SV_OPENAI_MAX_TOOL_CALLS];
};

/* Receives one complete tool call; the strings live during the call. */
typedef void sv_openai_tool_cb(void *arg, const char *id, const char *name,
                               const char *arguments);

/*
 * Merges one chunk's delta.tool_calls (a borrowed array; anything else
 * is ignored): id and function.name are kept from the first fragment
 * that has them, function.arguments are appended. A fragment without an
 * index belongs to the call at its position in the array. Returns 0;
 * -EPROTO for an index outside [0, SV_OPENAI_MAX_TOOL_CALLS); -EMSGSIZE
 * when arguments grow beyond SV_OPENAI_MAX_ARGS_BYTES.
 */
int sv_openai_tools_add(struct sv_openai_tools *t, json_t *fragments);

/* True when some call has been started and not yet flushed. */
bool sv_openai_tools_pending(const struct sv_openai_tools *t);

/*
 * Checks every accumulated call and then hands each to cb in index
 * order (empty arguments become "{}"; a missing id becomes
 * "call_<index>"), and forgets them. Returns the number delivered, or
 * -EPROTO, delivering nothing, when a call has no name or its arguments
 * are not valid JSON. The accumulator is empty afterwards either way.
 */
int sv_openai_tools_flush(struct sv_openai_tools *t, sv_openai_tool_cb *cb,
                          void *arg);

/* Frees what the accumulator holds; it may be used again afterwards. */
void sv_openai_tools_reset(struct sv_openai_tools *t);

/*
 * Maps a complete non-2xx answer (status, and its JSON error body of
 * body_len bytes, which may be NULL or not JSON) to the caller's error:
 * 401/403 -EACCES; 429 insufficient_quota or credit_balance_exhausted
 * -EACCES too (out of credit: as fatal as a refused key); 404 and other
 * 4xx -EINVAL; 429 -EAGAIN and 408 -ETIMEDOUT, 409 and >= 500 -EAGAIN,
 * these retryable; anything else -EPROTO. Writes a reason for people to
 * why (naming OpenAI, and for refusals whether the organization's key
 * (is_byok) or the platform's): it quotes the provider's message only
 * for errors other than refusals, and never when the message contains
 * key (which may be NULL). Sets *is_retryable.
 */
int sv_openai_http_error(long status, const char *body, size_t body_len,
                         bool is_byok, const char *key, bool *is_retryable,
                         char *why, size_t why_size);

/*
 * The delay the server advises before a retry, in milliseconds: the
 * retry-after-ms header, else retry-after as seconds (fractions
 * allowed) or as an HTTP date relative to now. Either header may be
 * NULL. Returns -1 when there is none, it does not parse, or it is not
 * within (0, SV_OPENAI_MAX_ADVISED_MS].
 */
long sv_openai_advised_ms(const char *retry_after_ms, const char *retry_after,
                          time_t now);

/*
 * The backoff before retry number n (0 for the first): 500 ms * 2^n,
 * at most 8 s, shortened by jitter * 25 % (jitter in [0, 1)).
 */
unsigned sv_openai_backoff_ms(unsigned n, double jitter);

#endif
