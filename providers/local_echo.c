/*
 * local_echo.c - "echo", a demonstration language model that needs no
 * key and no network.
 *
 * It is no model at all: it answers from what it heard, so that a
 * newcomer can hear the whole pipeline (speech in, a reply, speech out)
 * on a fresh machine. The reply repeats the caller's last message ("You
 * said: ..."); a caller who says "bye" or "goodbye" gets a goodbye and
 * the built-in end_call tool, as a real model would call it. The reply
 * streams one word per loop turn, like tokens from a remote model, and
 * usage counts words as tokens.
 *
 * Loop thread only. Every callback comes from a zero-delay timer on the
 * env's loop, never from inside start().
 *
 * SPDX-License-Identifier: MIT
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "providers/adapters.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/log.h"

#define END_CALL_TOOL "end_call"

struct sv_llm_req {
    uv_timer_t timer; /* one word per expiry; embedded, freed on close */
    struct sv_llm_handlers h;
    char *reply; /* owned: the whole answer */
    size_t pos;  /* bytes of reply already handed out */
    bool want_end_call;
    bool is_over; /* done() was called: hand out nothing more */
    struct sv_llm_usage usage;
};


/* Words are runs of anything but white space, as a person counts them. */
static unsigned count_words(const char *s)
{
    unsigned n = 0;
    bool in_word = false;

    for (; *s != '\0'; s++) {
        bool is_space = isspace((unsigned char)*s);

        if (!is_space && !in_word)
            n++;
        in_word = !is_space;
    }
    return n;
}


/*
 * The text of a message's content: a string, or the text parts of an
 * array of parts (OpenAI's multi-part form). Appends to b.
 */
static void content_text(json_t *content, struct sv_buf *b)
{
    json_t *part;
    size_t i;

    if (json_is_string(content)) {
        sv_buf_append(b, json_string_value(content),
                      json_string_length(content));
        return;
    }
    json_array_foreach(content, i, part)
    {
        json_t *text = json_object_get(part, "text");

        if (!json_is_string(text))
            continue;
        if (b->len > 0)
            sv_buf_append(b, " ", 1);
        sv_buf_append(b, json_string_value(text), json_string_length(text));
    }
}


/* True when the caller said "bye" or "goodbye" as a word, in any case. */
static bool says_goodbye(const char *s)
{
    while (*s != '\0') {
        size_t n = 0;

        while (*s != '\0' && !isalpha((unsigned char)*s))
            s++;
        while (isalpha((unsigned char)s[n]))
            n++;
        if ((n == 3 && strncasecmp(s, "bye", 3) == 0) ||
            (n == 7 && strncasecmp(s, "goodbye", 7) == 0)) {
            return true;
        }
        s += n;
    }
    return false;
}


/* True when the request offers a function tool of that name. */
static bool has_tool(json_t *tools, const char *name)
{
    json_t *tool;
    size_t i;

    json_array_foreach(tools, i, tool)
    {
        json_t *fn = json_object_get(tool, "function");
        const char *n = json_string_value(json_object_get(fn, "name"));

        if (n != NULL && strcmp(n, name) == 0)
            return true;
    }
    return false;
}


/*
 * Builds the answer to the last user message and counts the prompt's
 * words. Returns a new string.
 */
static char *compose_reply(json_t *messages, unsigned *prompt_words,
                           bool *is_goodbye)
{
    struct sv_buf all = {0};
    struct sv_buf last = {0};
    const char *heard;
    json_t *msg;
    size_t i;
    size_t len;
    char *reply;

    json_array_foreach(messages, i, msg)
    {
        const char *role = json_string_value(json_object_get(msg, "role"));
        struct sv_buf text = {0};

        content_text(json_object_get(msg, "content"), &text);
        if (text.data != NULL) {
            sv_buf_append(&all, " ", 1);
            sv_buf_append(&all, text.data, text.len);
        }
        if (role != NULL && strcmp(role, "user") == 0) {
            sv_buf_reset(&last);
            if (text.data != NULL)
                sv_buf_append(&last, text.data, text.len);
        }
        sv_buf_free(&text);
    }
    *prompt_words = all.data != NULL ? count_words(all.data) : 0;
    sv_buf_free(&all);

    /* Trim the heard text, and its final stop, which the reply adds. */
    heard = last.data != NULL ? last.data : "";

    while (isspace((unsigned char)*heard))
        heard++;
    len = strlen(heard);
    while (len > 0 && (isspace((unsigned char)heard[len - 1]) ||
                       strchr(".!?", heard[len - 1]) != NULL)) {
        len--;
    }

    *is_goodbye = says_goodbye(heard);
    if (*is_goodbye)
        reply = sv_xstrdup("Goodbye! Thank you for trying sovereignd.");
    else if (len == 0)
        reply = sv_xstrdup("Hello! I am the echo assistant. Say something "
                           "and I will repeat it.");
    else
        reply = sv_xasprintf("You said: %.*s.", (int)len, heard);
    sv_buf_free(&last);
    return reply;
}


static void on_close(uv_handle_t *handle)
{
    struct sv_llm_req *r = handle->data;

    free(r->reply);
    free(r);
}


/* Reports the end once and lets the request go; r is freed on close. */
static void finish(struct sv_llm_req *r, int err, const char *why)
{
    r->is_over = true;
    uv_timer_stop(&r->timer);
    r->h.done(r->h.arg, err, why, &r->usage);
    uv_close((uv_handle_t *)&r->timer, on_close);
}


/*
 * Hands out the next word with the spaces after it, or ends the reply.
 * Any callback may cancel r; is_over tells, and r lives until on_close.
 */
static void on_timer(uv_timer_t *t)
{
    struct sv_llm_req *r = t->data;
    const char *word = r->reply + r->pos;
    size_t n = 0;

    if (*word != '\0') {
        while (word[n] != '\0' && !isspace((unsigned char)word[n]))
            n++;
        while (isspace((unsigned char)word[n]))
            n++;
        r->pos += n;
        r->usage.completion_tokens++;
        r->h.text(r->h.arg, word, n);
        if (!r->is_over)
            uv_timer_start(&r->timer, on_timer, 0, 0);
        return;
    }
    if (r->want_end_call) {
        r->want_end_call = false;
        r->h.tool_call(r->h.arg, "call_echo_end", END_CALL_TOOL, "{}");
        if (r->is_over)
            return;
    }
    finish(r, 0, NULL);
}


static int echo_start(struct sv_llm_req **out,
                      const struct sv_provider_env *env,
                      const struct sv_llm_opts *opts,
                      const struct sv_llm_handlers *h)
{
    struct sv_llm_req *r;
    bool is_goodbye;

    if (env == NULL || env->loop == NULL || opts == NULL || h == NULL ||
        h->text == NULL || h->tool_call == NULL || h->done == NULL ||
        !json_is_array(opts->messages)) {
        return -EINVAL;
    }

    r = sv_xcalloc(1, sizeof(*r));
    r->h = *h;
    r->reply =
        compose_reply(opts->messages, &r->usage.prompt_tokens, &is_goodbye);
    r->want_end_call = is_goodbye && has_tool(opts->tools, END_CALL_TOOL);
    if (is_goodbye && !r->want_end_call) {
        sv_log(SV_LOG_DEBUG, "echo: [%s] goodbye, but no end_call tool offered",
               env->tag != NULL ? env->tag : "-");
    }
    uv_timer_init(env->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_timer, 0, 0);
    *out = r;
    return 0;
}


static void echo_cancel(struct sv_llm_req *r)
{
    if (r == NULL || r->is_over)
        return;
    finish(r, -ECANCELED, "cancelled");
}


const struct sv_llm_provider sv_llm_echo = {
    .name = "echo",
    .start = echo_start,
    .cancel = echo_cancel,
};
