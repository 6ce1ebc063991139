/*
 * openai.c - the OpenAI chat-completions adapter (struct sv_llm_provider,
 * see provider.h): one streamed completion per request, over sv_httpc,
 * parsed with the SSE parser (protocols.md B).
 *
 * A request makes up to 1 + SV_OPENAI_MAX_RETRIES attempts. An attempt
 * is retried (429 rate limits, 408, 409, >= 500, connection failures and
 * time-outs, or whatever x-should-retry says) only while nothing has
 * reached the caller yet, after the server's advised delay or an
 * exponential backoff on a uv timer. Once text has been delivered, a
 * broken stream ends the request with -ECONNRESET (-ETIMEDOUT when it
 * went silent).
 *
 * Time-outs: each attempt has connect and idle (no byte) limits of
 * env->timeout_ms (15 s when it is 0), and no overall limit, since a
 * long answer may stream for long. A server that accepts and then hangs is
 * given up after at most 3 * timeout_ms plus the backoffs, 0.5 s and 1 s less
 * jitter, so about 3 * timeout_ms + 1.5 s. A server that answers 429 or 5xx
 * with retry-after may stretch that by up to 2 * 120 s
 * (SV_OPENAI_MAX_ADVISED_MS), as OpenAI's SDKs allow.
 *
 * A refused key (401/403) and an exhausted credit balance (429
 * insufficient_quota) both end with -EACCES, so that the call ends as it
 * does for a bad key; the reason text tells the two apart. (-EDQUOT would
 * say it more exactly, but it is not among provider.h's codes and the
 * call would carry on, speechless, turn after turn.) The key only
 * lives in the Authorization line, held in guarded memory and wiped when
 * the request ends; the reason texts never quote it.
 *
 * Life cycle: the request holds a uv timer for the backoff from start to
 * end. done() is called exactly once, from the loop (never inside
 * start()), or inside cancel(); the request then closes the timer and is
 * freed in its close callback, so a caller that cancels from inside a
 * text or tool_call callback leaves nothing dangling on the stack. The
 * owner cancels every request before it frees env->httpc, which a retry
 * waiting on the timer would otherwise use.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include "providers/openai.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "pipeline/sse.h"
#include "providers/adapters.h"
#include "providers/httpc.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/secret.h"

/* Enough of an error body for its JSON; longer ones are cut. */
#define MAX_ERROR_BODY_BYTES (16 * 1024)

/* The time-out when the environment gives none. */
#define DEFAULT_TIMEOUT_MS 15000

/* The provider's message is quoted up to this many bytes. */
#define MAX_QUOTE_BYTES 160

#define AUTH_PREFIX "Authorization: Bearer "

struct sv_llm_req {
    struct sv_httpc *httpc;   /* borrowed */
    struct sv_httpc_req *req; /* borrowed; NULL between attempts */
    uv_timer_t timer;         /* the backoff; its close callback frees us */
    struct sv_llm_handlers h;
    char *url;       /* owned */
    char *body;      /* owned: the request JSON */
    char *auth;      /* owned, guarded memory: the Authorization line */
    const char *key; /* borrowed from env, to keep it out of reason texts */
    char *tag;       /* owned: the call id, for log lines */
    bool is_byok;    /* whose key this is, for reason texts */
    unsigned timeout_ms;
    unsigned retries; /* attempts made after the first */

    /* The current attempt. */
    struct sv_sse sse;      /* owned */
    struct sv_buf err_body; /* owned: the start of a non-2xx body */
    struct sv_openai_tools tools;
    struct sv_llm_usage usage;
    long status;      /* from the first body bytes; 0 before */
    int fail_err;     /* the stream itself failed: error event, bad data */
    bool has_usage;   /* usage holds the usage chunk */
    bool has_events;  /* some SSE event arrived */
    bool has_finish;  /* a finish_reason arrived */
    bool is_complete; /* "[DONE]" arrived */

    bool has_delivered; /* text or a tool call reached the caller */
    bool is_cancelling; /* inside cancel(): ignore the transfer's end */
    bool is_done;       /* done() has been called */
    char why[256];      /* the reason passed to done() */
};


/* ---- Request body ---- */


char *sv_openai_body(const struct sv_llm_opts *opts)
{
    json_t *root;
    char *text;

    if (opts == NULL || opts->model == NULL || opts->model[0] == '\0')
        return NULL;
    if (!json_is_array(opts->messages) || json_array_size(opts->messages) == 0)
        return NULL;

    root = json_object(); /* new reference */
    json_object_set_new(root, "model", json_string(opts->model));
    json_object_set(root, "messages", opts->messages); /* adds a ref */
    if (opts->temperature >= 0)
        json_object_set_new(root, "temperature", json_real(opts->temperature));
    if (opts->max_tokens > 0) {
        json_object_set_new(root, "max_completion_tokens",
                            json_integer(opts->max_tokens));
    }
    json_object_set_new(root, "stream", json_true());
    json_object_set_new(root, "stream_options",
                        json_pack("{s:b}", "include_usage", 1));
    if (json_is_array(opts->tools) && json_array_size(opts->tools) > 0) {
        json_object_set(root, "tools", opts->tools); /* adds a ref */
        json_object_set_new(root, "tool_choice", json_string("auto"));
    }
    /* 15 digits print 0.7 as 0.7, not 0.69999999999999996. */
    text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(root);
    if (text == NULL)
        abort(); /* only out of memory makes json_dumps fail here */

    return text;
}


/* ---- Tool-call accumulator ---- */


int sv_openai_tools_add(struct sv_openai_tools *t, json_t *fragments)
{
    size_t i;
    json_t *frag;

    if (!json_is_array(fragments))
        return 0;
    json_array_foreach(fragments, i, frag)
    {
        json_t *index = json_object_get(frag, "index"); /* borrowed */
        json_t *fn = json_object_get(frag, "function"); /* borrowed */
        const char *id = json_string_value(json_object_get(frag, "id"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_t *args = json_object_get(fn, "arguments"); /* borrowed */
        json_int_t n =
            json_is_integer(index) ? json_integer_value(index) : (json_int_t)i;
        struct sv_openai_tool_call *call;

        if (!json_is_object(frag))
            continue;
        if (n < 0 || n >= SV_OPENAI_MAX_TOOL_CALLS)
            return -EPROTO;
        call = &t->calls[n];
        call->is_used = true;
        if (call->id == NULL && id != NULL && id[0] != '\0')
            call->id = sv_xstrdup(id);
        if (call->name == NULL && name != NULL && name[0] != '\0')
            call->name = sv_xstrdup(name);
        if (json_is_string(args)) {
            size_t len = json_string_length(args);

            if (len > SV_OPENAI_MAX_ARGS_BYTES - call->args.len)
                return -EMSGSIZE;
            sv_buf_append(&call->args, json_string_value(args), len);
        }
    }

    return 0;
}


bool sv_openai_tools_pending(const struct sv_openai_tools *t)
{
    for (size_t i = 0; i < SV_OPENAI_MAX_TOOL_CALLS; i++) {
        if (t->calls[i].is_used)
            return true;
    }
    return false;
}


/* True when call is complete: named, with JSON (or no) arguments. */
static bool tool_call_ok(const struct sv_openai_tool_call *call)
{
    json_error_t jerr;
    json_t *parsed;

    if (call->name == NULL)
        return false;
    if (call->args.len == 0)
        return true;
    parsed = json_loadb(call->args.data, call->args.len,
                        JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (parsed == NULL)
        return false;
    json_decref(parsed);

    return true;
}


int sv_openai_tools_flush(struct sv_openai_tools *t, sv_openai_tool_cb *cb,
                          void *arg)
{
    int n = 0;

    for (size_t i = 0; i < SV_OPENAI_MAX_TOOL_CALLS; i++) {
        if (t->calls[i].is_used && !tool_call_ok(&t->calls[i])) {
            sv_openai_tools_reset(t);
            return -EPROTO;
        }
    }
    for (size_t i = 0; i < SV_OPENAI_MAX_TOOL_CALLS; i++) {
        struct sv_openai_tool_call *call = &t->calls[i];
        char id[32];

        if (!call->is_used)
            continue;
        snprintf(id, sizeof(id), "call_%zu", i);
        cb(arg, call->id != NULL ? call->id : id, call->name,
           call->args.len > 0 ? call->args.data : "{}");
        n++;
    }
    sv_openai_tools_reset(t);

    return n;
}


void sv_openai_tools_reset(struct sv_openai_tools *t)
{
    for (size_t i = 0; i < SV_OPENAI_MAX_TOOL_CALLS; i++) {
        struct sv_openai_tool_call *call = &t->calls[i];

        free(call->id);
        free(call->name);
        sv_buf_free(&call->args);
        memset(call, 0, sizeof(*call));
    }
}


/* ---- Errors and retry delays ---- */


/* Appends ": <message>" to why unless it is absent or quotes key. */
static void quote_message(char *why, size_t why_size, const char *message,
                          const char *key)
{
    size_t used = strlen(why);

    if (message == NULL || message[0] == '\0')
        return;
    if (key != NULL && key[0] != '\0' && strstr(message, key) != NULL)
        return;
    snprintf(why + used, why_size - used, ": %.*s", MAX_QUOTE_BYTES, message);
}


/* True when the error object's code or type names an empty balance. */
static bool is_out_of_credit(const char *code, const char *type)
{
    static const char *const names[] = {"insufficient_quota",
                                        "credit_balance_exhausted"};

    for (size_t i = 0; i < SV_ARRAY_SIZE(names); i++) {
        if ((code != NULL && strcmp(code, names[i]) == 0) ||
            (type != NULL && strcmp(type, names[i]) == 0))
            return true;
    }
    return false;
}


int sv_openai_http_error(long status, const char *body, size_t body_len,
                         bool is_byok, const char *key, bool *is_retryable,
                         char *why, size_t why_size)
{
    const char *whose = is_byok ? "the organization's" : "the platform's";
    json_error_t jerr;
    json_t *root = NULL;
    json_t *error;
    const char *message;
    const char *type;
    const char *code;
    char detail[64];
    int err;

    if (body != NULL && body_len > 0)
        root = json_loadb(body, body_len, 0, &jerr); /* new reference */
    error = json_object_get(root, "error");          /* borrowed */
    message = json_string_value(json_object_get(error, "message"));
    type = json_string_value(json_object_get(error, "type"));
    code = json_string_value(json_object_get(error, "code"));
    if (code != NULL)
        snprintf(detail, sizeof(detail), "%ld %.40s", status, code);
    else
        snprintf(detail, sizeof(detail), "%ld", status);

    *is_retryable = false;
    if (status == 401 || status == 403) {
        err = -EACCES;
        snprintf(why, why_size, "OpenAI refused %s API key (%s)", whose,
                 detail);
    } else if (status == 429 && is_out_of_credit(code, type)) {
        err = -EACCES;
        snprintf(why, why_size,
                 "OpenAI: the account of %s API key is out of credit (%s)",
                 whose, detail);
    } else if (status == 429) {
        err = -EAGAIN;
        *is_retryable = true;
        snprintf(why, why_size, "OpenAI rate limit (%s)", detail);
    } else if (status == 408) {
        err = -ETIMEDOUT;
        *is_retryable = true;
        snprintf(why, why_size, "OpenAI timed out the request (%s)", detail);
    } else if (status == 409 || status >= 500) {
        err = -EAGAIN;
        *is_retryable = true;
        snprintf(why, why_size, "OpenAI server error (%s)", detail);
        quote_message(why, why_size, message, key);
    } else if (status == 404) {
        err = -EINVAL;
        snprintf(why, why_size,
                 "OpenAI does not offer the model, or not to this key (%s)",
                 detail);
        quote_message(why, why_size, message, key);
    } else if (status >= 400) {
        err = -EINVAL;
        snprintf(why, why_size, "OpenAI refused the request (%s)", detail);
        quote_message(why, why_size, message, key);
    } else {
        err = -EPROTO;
        snprintf(why, why_size, "OpenAI answered with status %ld", status);
    }
    json_decref(root);

    return err;
}


/* Milliseconds from a decimal number of units (unit_ms each), or -1. */
static double parse_delay(const char *s, double unit_ms)
{
    char *end;
    double v;

    if (s == NULL)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v))
        return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0')
        return -1;

    return v * unit_ms;
}


long sv_openai_advised_ms(const char *retry_after_ms, const char *retry_after,
                          time_t now)
{
    double ms = parse_delay(retry_after_ms, 1);

    if (ms < 0)
        ms = parse_delay(retry_after, 1000);
    if (ms < 0 && retry_after != NULL) {
        /* An HTTP date; curl_getdate() returns -1 when it is none. */
        time_t at = curl_getdate(retry_after, NULL);

        if (at != (time_t)-1)
            ms = difftime(at, now) * 1000;
    }
    if (!(ms > 0) || ms > SV_OPENAI_MAX_ADVISED_MS)
        return -1;

    return (long)ceil(ms);
}


unsigned sv_openai_backoff_ms(unsigned n, double jitter)
{
    double ms = 500.0 * pow(2, n > 16 ? 16 : n);

    if (ms > 8000)
        ms = 8000;
    if (jitter < 0)
        jitter = 0;
    if (jitter >= 1)
        jitter = 0.999;

    return (unsigned)(ms * (1 - 0.25 * jitter));
}


/* ---- The request ---- */


static void on_close(uv_handle_t *handle)
{
    struct sv_llm_req *r = handle->data;

    sv_sse_close(&r->sse);
    sv_buf_free(&r->err_body);
    sv_openai_tools_reset(&r->tools);
    free(r->url);
    free(r->tag);
    free(r);
}


/*
 * Calls done() once and releases the request: the key at once, the rest
 * when the timer has closed (we may be deep inside a callback of ours).
 */
static void finish(struct sv_llm_req *r, int err)
{
    SV_ASSERT(!r->is_done);
    r->is_done = true;
    if (err == 0) {
        sv_log(SV_LOG_DEBUG, "openai: [%s] completion done", r->tag);
    } else if (err != -ECANCELED) {
        sv_log(SV_LOG_INFO, "openai: [%s] completion failed: %s", r->tag,
               r->why);
    }
    r->h.done(r->h.arg, err, err == 0 ? NULL : r->why,
              r->has_usage ? &r->usage : NULL);
    sv_secret_free(r->auth);
    r->auth = NULL;
    free(r->body);
    r->body = NULL;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_close);
}


/* Forgets everything the last attempt left behind. */
static void attempt_reset(struct sv_llm_req *r)
{
    sv_sse_reset(&r->sse);
    sv_buf_reset(&r->err_body);
    sv_openai_tools_reset(&r->tools);
    memset(&r->usage, 0, sizeof(r->usage));
    r->status = 0;
    r->fail_err = 0;
    r->has_usage = false;
    r->has_events = false;
    r->has_finish = false;
    r->is_complete = false;
}


/* Records a failure of the stream itself; on_data then aborts it. */
static int stream_fail(struct sv_llm_req *r, int err, const char *why)
{
    if (r->fail_err == 0) {
        r->fail_err = err;
        snprintf(r->why, sizeof(r->why), "%s", why);
    }
    return 1;
}


static void on_tool_call(void *arg, const char *id, const char *name,
                         const char *arguments)
{
    struct sv_llm_req *r = arg;

    /* The caller may have cancelled from an earlier call of this loop. */
    if (r->is_done)
        return;
    r->has_delivered = true;
    if (r->h.tool_call != NULL)
        r->h.tool_call(r->h.arg, id, name, arguments);
}


/* Hands over the accumulated tool calls; nonzero when they are bad. */
static int flush_tools(struct sv_llm_req *r)
{
    if (!sv_openai_tools_pending(&r->tools))
        return 0;
    if (sv_openai_tools_flush(&r->tools, on_tool_call, r) < 0) {
        return stream_fail(r, -EPROTO,
                           "OpenAI sent a tool call without a name or with "
                           "malformed arguments");
    }
    return 0;
}


/* A mid-stream {"error": ...} event: its code picks the error. */
static int event_error(struct sv_llm_req *r, json_t *error)
{
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *type = json_string_value(json_object_get(error, "type"));
    const char *what = code != NULL ? code : type;
    char why[128];
    int err = -EPROTO;

    if (is_out_of_credit(code, type))
        err = -EACCES;
    else if (code != NULL && strcmp(code, "rate_limit_exceeded") == 0)
        err = -EAGAIN;
    snprintf(why, sizeof(why), "OpenAI reported an error mid-stream (%.60s)",
             what != NULL ? what : "no code");

    return stream_fail(r, err, why);
}


/* The usage chunk's counts, kept for done(). */
static void take_usage(struct sv_llm_req *r, json_t *usage)
{
    json_t *in = json_object_get(usage, "prompt_tokens");
    json_t *out = json_object_get(usage, "completion_tokens");

    if (!json_is_object(usage))
        return;
    r->usage.prompt_tokens =
        json_is_integer(in) ? (unsigned)json_integer_value(in) : 0;
    r->usage.completion_tokens =
        json_is_integer(out) ? (unsigned)json_integer_value(out) : 0;
    r->has_usage = true;
}


/* One chunk object; returns nonzero to stop the stream. */
static int on_chunk(struct sv_llm_req *r, json_t *chunk)
{
    json_t *error = json_object_get(chunk, "error"); /* borrowed */
    json_t *choices = json_object_get(chunk, "choices");
    json_t *choice = NULL;
    json_t *delta;
    json_t *content;
    const char *finish;
    size_t i;
    json_t *c;

    if (error != NULL && !json_is_null(error))
        return event_error(r, error);
    take_usage(r, json_object_get(chunk, "usage"));

    /* We ask for one choice; it is the one with index 0. */
    json_array_foreach(choices, i, c)
    {
        json_t *index = json_object_get(c, "index");

        if (index == NULL || json_integer_value(index) == 0) {
            choice = c;
            break;
        }
    }
    if (choice == NULL)
        return 0;

    delta = json_object_get(choice, "delta");
    content = json_object_get(delta, "content");
    if (json_is_string(content) && json_string_length(content) > 0) {
        r->has_delivered = true;
        r->h.text(r->h.arg, json_string_value(content),
                  json_string_length(content));
        if (r->is_done)
            return 1; /* cancelled from the callback */
    }
    switch (
        sv_openai_tools_add(&r->tools, json_object_get(delta, "tool_calls"))) {
    case 0:
        break;
    case -EMSGSIZE:
        return stream_fail(r, -EPROTO, "OpenAI sent an oversized tool call");
    default:
        return stream_fail(r, -EPROTO,
                           "OpenAI sent a tool call with a bad index");
    }
    finish = json_string_value(json_object_get(choice, "finish_reason"));
    if (finish != NULL) {
        r->has_finish = true;
        if (strcmp(finish, "tool_calls") == 0 && flush_tools(r) != 0)
            return 1;
    }

    return r->is_done ? 1 : 0;
}


/* sv_sse_event_cb: one SSE event's data. */
static int on_event(void *arg, const char *data, size_t len)
{
    struct sv_llm_req *r = arg;
    json_error_t jerr;
    json_t *chunk;
    int rc;

    if (r->is_done || r->fail_err != 0)
        return 1;
    r->has_events = true;
    if (r->is_complete)
        return 0; /* nothing counts after [DONE] */
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        r->is_complete = true;
        rc = flush_tools(r);
        return rc != 0 || r->is_done ? 1 : 0;
    }
    chunk = json_loadb(data, len, 0, &jerr); /* new reference */
    if (!json_is_object(chunk)) {
        json_decref(chunk);
        return stream_fail(r, -EPROTO, "OpenAI sent a malformed stream event");
    }
    rc = on_chunk(r, chunk);
    json_decref(chunk);

    return rc;
}


/* sv_httpc_data_cb: body bytes of the current attempt. */
static int on_data(void *arg, const char *data, size_t len)
{
    struct sv_llm_req *r = arg;
    int rc;

    if (r->status == 0)
        r->status = sv_httpc_status(r->req);
    if (r->status < 200 || r->status > 299) {
        /* An error body: keep its start for sv_openai_http_error(). */
        if (r->err_body.len < MAX_ERROR_BODY_BYTES) {
            if (len > MAX_ERROR_BODY_BYTES - r->err_body.len)
                len = MAX_ERROR_BODY_BYTES - r->err_body.len;
            sv_buf_append(&r->err_body, data, len);
        }
        return 0;
    }
    rc = sv_sse_feed(&r->sse, data, len);
    if (rc == -EMSGSIZE)
        stream_fail(r, -EPROTO, "OpenAI sent an oversized stream event");

    return rc != 0 ? 1 : 0;
}


static void on_timer(uv_timer_t *t);


/*
 * Ends the attempt that failed with err (the reason is in r->why):
 * retries when it may and budget is left, or finishes.
 */
static void attempt_failed(struct sv_llm_req *r, int err, bool is_retryable,
                           long advised_ms)
{
    unsigned delay_ms;

    if (!is_retryable || r->has_delivered ||
        r->retries >= SV_OPENAI_MAX_RETRIES) {
        finish(r, err);
        return;
    }
    if (advised_ms > 0) {
        delay_ms = (unsigned)advised_ms;
    } else {
        delay_ms = sv_openai_backoff_ms(r->retries,
                                        randombytes_uniform(1000) / 1000.0);
    }
    r->retries++;
    sv_log(SV_LOG_WARN, "openai: [%s] %s; retry %u of %u in %u ms", r->tag,
           r->why, r->retries, SV_OPENAI_MAX_RETRIES, delay_ms);
    uv_timer_start(&r->timer, on_timer, delay_ms, 0);
}


/* Applies x-should-retry, which overrides the status rule. */
static bool should_retry(const char *header, bool is_retryable)
{
    if (header == NULL)
        return is_retryable;
    if (strcasecmp(header, "true") == 0)
        return true;
    if (strcasecmp(header, "false") == 0)
        return false;
    return is_retryable;
}


/* A complete answer with a non-2xx status. */
static void http_failed(struct sv_llm_req *r, long status)
{
    bool is_retryable;
    long advised_ms;
    int err;

    err = sv_openai_http_error(status, r->err_body.data, r->err_body.len,
                               r->is_byok, r->key, &is_retryable, r->why,
                               sizeof(r->why));
    /* An empty balance stays fatal, whatever the header says. */
    if (!(err == -EACCES && status == 429)) {
        is_retryable = should_retry(sv_httpc_header(r->req, "x-should-retry"),
                                    is_retryable);
    }
    advised_ms = sv_openai_advised_ms(sv_httpc_header(r->req, "retry-after-ms"),
                                      sv_httpc_header(r->req, "retry-after"),
                                      time(NULL));
    attempt_failed(r, err, is_retryable, advised_ms);
}


/* sv_httpc_done_cb: the current attempt's transfer ended. */
static void on_done(void *arg, int err, long status)
{
    struct sv_llm_req *r = arg;

    if (r->is_cancelling || r->is_done) {
        r->req = NULL;
        return; /* cancel() finishes */
    }
    if (r->fail_err != 0) {
        r->req = NULL;
        finish(r, r->fail_err); /* our own abort after a bad event */
        return;
    }
    if (err == -ECANCELED) {
        /* Not ours: sv_httpc_free() has begun, so no retry either. */
        r->req = NULL;
        snprintf(r->why, sizeof(r->why), "%s",
                 "the HTTP client is shutting down");
        finish(r, -ECANCELED);
        return;
    }
    if (status == 0)
        status = r->status;
    if (status != 0 && (status < 200 || status > 299)) {
        /* The status says more than a transfer error while reading an
         * error body would. */
        http_failed(r, status);
        r->req = NULL;
        return;
    }
    r->req = NULL;
    if (r->is_complete || r->has_finish) {
        /* The answer is whole even if the usage chunk or [DONE] got lost
         * with the connection. Tool calls that came without a
         * finish_reason are handed over now. */
        if (flush_tools(r) != 0 && !r->is_done) {
            finish(r, r->fail_err);
            return;
        }
        if (!r->is_done)
            finish(r, 0);
        return;
    }
    switch (err) {
    case 0:
        if (!r->has_events) {
            snprintf(r->why, sizeof(r->why), "%s",
                     "OpenAI answered without an event stream");
            finish(r, -EPROTO);
            return;
        }
        err = -ECONNRESET;
        snprintf(r->why, sizeof(r->why), "%s", "OpenAI ended the stream early");
        break;
    case -ETIMEDOUT:
        snprintf(r->why, sizeof(r->why), "OpenAI did not answer within %u ms",
                 r->timeout_ms);
        break;
    case -ECONNREFUSED:
    case -EHOSTUNREACH:
        snprintf(r->why, sizeof(r->why), "OpenAI is unreachable (%s)",
                 strerror(-err));
        break;
    case -ECONNRESET:
        snprintf(r->why, sizeof(r->why), "%s", "OpenAI dropped the connection");
        break;
    default:
        snprintf(r->why, sizeof(r->why), "OpenAI: %s", strerror(-err));
        finish(r, err);
        return;
    }
    /* Dropped after text: the caller has half an answer; say so. */
    if (r->has_delivered && err != -ETIMEDOUT)
        err = -ECONNRESET;
    attempt_failed(r, err, true, -1);
}


/* Sends the request once more; returns sv_httpc_start()'s result. */
static int attempt_send(struct sv_llm_req *r)
{
    struct sv_httpc_opts o = {0};
    const char *headers[4];
    int rc;

    attempt_reset(r);
    headers[0] = r->auth;
    headers[1] = "Content-Type: application/json";
    headers[2] = "Accept: text/event-stream";
    headers[3] = NULL;
    o.method = "POST";
    o.url = r->url;
    o.headers = headers;
    o.body = r->body;
    o.body_len = strlen(r->body);
    o.connect_timeout_ms = r->timeout_ms;
    o.idle_timeout_ms = r->timeout_ms;
    o.on_data = on_data;
    o.on_done = on_done;
    o.arg = r;
    rc = sv_httpc_start(r->httpc, &o, &r->req);
    if (rc < 0)
        r->req = NULL;

    return rc;
}


/* uv_timer_cb: the backoff is over; the next attempt goes out. */
static void on_timer(uv_timer_t *t)
{
    struct sv_llm_req *r = t->data;
    int rc = attempt_send(r);

    if (rc < 0) {
        snprintf(r->why, sizeof(r->why), "cannot retry the request: %s",
                 strerror(-rc));
        finish(r, rc);
    }
}


/*
 * The Authorization line for key, built in place in guarded memory so
 * that the key never lands in ordinary heap memory; sv_secret_free() it.
 */
static char *auth_line(const char *key)
{
    size_t plen = strlen(AUTH_PREFIX);
    size_t klen = strlen(key);
    char *line = sodium_malloc(plen + klen + 1);

    if (line == NULL)
        abort(); /* out of guarded memory, as in sv_secret_dup() */
    memcpy(line, AUTH_PREFIX, plen);
    memcpy(line + plen, key, klen);
    line[plen + klen] = '\0';

    return line;
}


/* base + "/chat/completions", without doubling a trailing slash. */
static char *chat_url(const char *base)
{
    size_t len = strlen(base);

    while (len > 0 && base[len - 1] == '/')
        len--;
    return sv_xasprintf("%.*s/chat/completions", (int)len, base);
}


static int openai_start(struct sv_llm_req **out,
                        const struct sv_provider_env *env,
                        const struct sv_llm_opts *opts,
                        const struct sv_llm_handlers *h)
{
    struct sv_llm_req *r = NULL;
    char *body = NULL;
    int rc = 0;

    if (out == NULL || env == NULL || env->httpc == NULL || env->loop == NULL ||
        env->base_url == NULL || env->key == NULL || h == NULL ||
        h->text == NULL || h->done == NULL)
        return -EINVAL;
    body = sv_openai_body(opts);
    if (body == NULL)
        return -EINVAL;

    r = sv_xcalloc(1, sizeof(*r));
    r->httpc = env->httpc;
    r->h = *h;
    r->url = chat_url(env->base_url);
    r->body = body;
    r->auth = auth_line(env->key);
    r->key = env->key;
    r->tag = sv_xstrdup(env->tag != NULL ? env->tag : "-");
    r->is_byok = env->is_byok;
    r->timeout_ms = env->timeout_ms > 0 ? env->timeout_ms : DEFAULT_TIMEOUT_MS;
    sv_sse_init(&r->sse, 0, on_event, r);

    /* The first attempt starts here, so that its errors are ours. */
    rc = attempt_send(r);
    if (rc < 0) {
        sv_log(SV_LOG_INFO, "openai: [%s] cannot start: %s", r->tag,
               strerror(-rc));
        sv_sse_close(&r->sse);
        sv_secret_free(r->auth);
        free(r->body);
        free(r->url);
        free(r->tag);
        free(r);
        goto out;
    }
    uv_timer_init(env->loop, &r->timer);
    r->timer.data = r;
    *out = r;

out:
    return rc;
}


static void openai_cancel(struct sv_llm_req *r)
{
    /* From inside done() the request is already over: nothing to do. */
    if (r == NULL || r->is_done)
        return;
    r->is_cancelling = true;
    if (r->req != NULL)
        sv_httpc_cancel(r->req); /* its on_done runs now and ignores it */
    snprintf(r->why, sizeof(r->why), "%s", "cancelled");
    finish(r, -ECANCELED);
}


const struct sv_llm_provider sv_llm_openai = {
    .name = "openai",
    .start = openai_start,
    .cancel = openai_cancel,
};
