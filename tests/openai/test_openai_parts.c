/*
 * test_openai_parts.c - the pure parts of the OpenAI adapter: request
 * body, tool-call accumulator, error classification, retry delays.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "check.h"
#include "providers/openai.h"
#include "util/buf.h"

/* What the tool-call callback saw, joined as "id|name|args;" lines. */
struct calls {
    struct sv_buf seen;
    int n;
};


static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);

    if (v == NULL)
        SV_FAIL("bad JSON in the test: %s", jerr.text);
    return v;
}


static void on_call(void *arg, const char *id, const char *name,
                    const char *arguments)
{
    struct calls *c = arg;

    sv_buf_printf(&c->seen, "%s|%s|%s;", id, name, arguments);
    c->n++;
}


/* Feeds one delta.tool_calls array given as JSON text. */
static int add(struct sv_openai_tools *t, const char *fragments)
{
    json_t *v = parse(fragments);
    int rc = sv_openai_tools_add(t, v);

    json_decref(v);
    return rc;
}


SV_TEST(body)
{
    json_t *messages = parse("[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                             "{\"role\":\"user\",\"content\":\"Hi\"}]");
    json_t *tools = parse("[{\"type\":\"function\",\"function\":"
                          "{\"name\":\"end_call\",\"parameters\":{}}}]");
    struct sv_llm_opts o = {
        .model = "gpt-4o-mini",
        .temperature = 0.7,
        .max_tokens = 120,
        .messages = messages,
        .tools = tools,
    };
    char *text = sv_openai_body(&o);
    json_t *body;

    CHECK(text != NULL);
    CHECK(strstr(text, "\"temperature\":0.7") != NULL); /* not 0.6999... */
    body = parse(text);
    free(text);
    CHECK_STR(json_string_value(json_object_get(body, "model")), "gpt-4o-mini");
    CHECK(json_equal(json_object_get(body, "messages"), messages));
    CHECK(json_real_value(json_object_get(body, "temperature")) == 0.7);
    CHECK_EQ(json_integer_value(json_object_get(body, "max_completion_tokens")),
             120);
    CHECK(json_object_get(body, "max_tokens") == NULL);
    CHECK(json_is_true(json_object_get(body, "stream")));
    CHECK(json_is_true(json_object_get(json_object_get(body, "stream_options"),
                                       "include_usage")));
    CHECK(json_equal(json_object_get(body, "tools"), tools));
    CHECK_STR(json_string_value(json_object_get(body, "tool_choice")), "auto");
    json_decref(body);

    /* Unset temperature and cap, and empty tools, are left out. */
    o.temperature = -1;
    o.max_tokens = 0;
    json_decref(tools);
    tools = json_array();
    o.tools = tools;
    text = sv_openai_body(&o);
    body = parse(text);
    free(text);
    CHECK(json_object_get(body, "temperature") == NULL);
    CHECK(json_object_get(body, "max_completion_tokens") == NULL);
    CHECK(json_object_get(body, "tools") == NULL);
    CHECK(json_object_get(body, "tool_choice") == NULL);
    CHECK_EQ(json_object_size(body), 4); /* model messages stream options */
    json_decref(body);

    o.tools = NULL;
    text = sv_openai_body(&o);
    CHECK(text != NULL);
    free(text);
    json_decref(tools);
    json_decref(messages);
}


SV_TEST(body_invalid)
{
    json_t *messages = parse("[{\"role\":\"user\",\"content\":\"Hi\"}]");
    json_t *empty = json_array();
    struct sv_llm_opts o = {.model = "gpt-4o-mini", .messages = messages};

    CHECK(sv_openai_body(NULL) == NULL);
    o.model = NULL;
    CHECK(sv_openai_body(&o) == NULL);
    o.model = "";
    CHECK(sv_openai_body(&o) == NULL);
    o.model = "gpt-4o-mini";
    o.messages = NULL;
    CHECK(sv_openai_body(&o) == NULL);
    o.messages = empty;
    CHECK(sv_openai_body(&o) == NULL);
    json_decref(empty);
    json_decref(messages);
}


SV_TEST(tools)
{
    struct sv_openai_tools t = {0};
    struct calls c = {0};

    CHECK(!sv_openai_tools_pending(&t));
    /* Two calls interleaved, arguments split mid-token. */
    CHECK_EQ(add(&t,
                 "[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\","
                 "\"function\":{\"name\":\"get_hours\",\"arguments\":\"\"}}]"),
             0);
    CHECK_EQ(add(&t, "[{\"index\":1,\"id\":\"call_b\",\"function\":"
                     "{\"name\":\"end_call\",\"arguments\":\"{\"}}]"),
             0);
    CHECK_EQ(
        add(&t, "[{\"index\":0,\"function\":{\"arguments\":\"{\\\"da\"}}]"), 0);
    CHECK_EQ(add(&t, "[{\"index\":0,\"function\":{\"arguments\":"
                     "\"y\\\":\\\"monday\\\"}\"}},"
                     "{\"index\":1,\"function\":{\"arguments\":\"}\"}}]"),
             0);
    /* A repeated id or name does not replace the first one. */
    CHECK_EQ(add(&t, "[{\"index\":0,\"id\":\"call_x\",\"function\":"
                     "{\"name\":\"other\"}}]"),
             0);
    CHECK(sv_openai_tools_pending(&t));
    CHECK_EQ(sv_openai_tools_flush(&t, on_call, &c), 2);
    CHECK_EQ(c.n, 2);
    CHECK_STR(c.seen.data, "call_a|get_hours|{\"day\":\"monday\"};"
                           "call_b|end_call|{};");
    CHECK(!sv_openai_tools_pending(&t));

    /* Missing id and empty arguments get defaults; no index = position. */
    sv_buf_reset(&c.seen);
    c.n = 0;
    CHECK_EQ(add(&t, "[{\"function\":{\"name\":\"end_call\"}}]"), 0);
    CHECK_EQ(sv_openai_tools_flush(&t, on_call, &c), 1);
    CHECK_STR(c.seen.data, "call_0|end_call|{};");

    /* Anything but an array is ignored. */
    CHECK_EQ(add(&t, "{\"index\":0}"), 0);
    CHECK_EQ(sv_openai_tools_add(&t, NULL), 0);
    CHECK(!sv_openai_tools_pending(&t));
    CHECK_EQ(sv_openai_tools_flush(&t, on_call, &c), 0);
    sv_buf_free(&c.seen);
}


SV_TEST(tools_bad)
{
    struct sv_openai_tools t = {0};
    struct calls c = {0};
    char big[1024];

    CHECK_EQ(add(&t, "[{\"index\":16,\"function\":{\"name\":\"x\"}}]"),
             -EPROTO);
    CHECK_EQ(add(&t, "[{\"index\":-1,\"function\":{\"name\":\"x\"}}]"),
             -EPROTO);
    sv_openai_tools_reset(&t);

    /* Truncated arguments: nothing is delivered, not even the good one. */
    CHECK_EQ(add(&t, "[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":"
                     "\"ok\",\"arguments\":\"{}\"}},{\"index\":1,\"id\":\"b\","
                     "\"function\":{\"name\":\"cut\",\"arguments\":"
                     "\"{\\\"day\\\":\"}}]"),
             0);
    CHECK_EQ(sv_openai_tools_flush(&t, on_call, &c), -EPROTO);
    CHECK_EQ(c.n, 0);
    CHECK(!sv_openai_tools_pending(&t));

    /* A call without a name is malformed. */
    CHECK_EQ(add(&t, "[{\"index\":0,\"id\":\"a\",\"function\":"
                     "{\"arguments\":\"{}\"}}]"),
             0);
    CHECK_EQ(sv_openai_tools_flush(&t, on_call, &c), -EPROTO);
    CHECK_EQ(c.n, 0);

    /* Arguments may not grow without bound. */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0;; i++) {
        json_t *v = json_pack("[{s:i, s:{s:s, s:s}}]", "index", 0, "function",
                              "name", "f", "arguments", big);
        int rc = sv_openai_tools_add(&t, v);

        json_decref(v);
        if (rc != 0) {
            CHECK_EQ(rc, -EMSGSIZE);
            CHECK_INT(i, >=, SV_OPENAI_MAX_ARGS_BYTES / 1023);
            break;
        }
        CHECK_INT(i, <, SV_OPENAI_MAX_ARGS_BYTES / 1023 + 2);
    }
    sv_openai_tools_reset(&t);
    sv_buf_free(&c.seen);
}


/* Classifies status and body, returning the error and the reason. */
static int classify(long status, const char *body, bool is_byok,
                    bool *is_retryable, char *why, size_t why_size)
{
    return sv_openai_http_error(status, body, body ? strlen(body) : 0, is_byok,
                                "sk-secret-1234", is_retryable, why, why_size);
}


SV_TEST(http_error)
{
    const char *bad_key =
        "{\"error\":{\"message\":\"Incorrect API key provided: "
        "sk-secret-1234.\",\"type\":\"invalid_request_error\","
        "\"param\":null,\"code\":\"invalid_api_key\"}}";
    const char *quota = "{\"error\":{\"message\":\"You exceeded your current "
                        "quota.\",\"type\":\"insufficient_quota\","
                        "\"code\":\"insufficient_quota\"}}";
    const char *rate =
        "{\"error\":{\"message\":\"Rate limit reached.\","
        "\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}";
    const char *model = "{\"error\":{\"message\":\"The model `gpt-9` does not "
                        "exist.\",\"type\":\"invalid_request_error\","
                        "\"code\":\"model_not_found\"}}";
    bool retry;
    char why[256];

    CHECK_EQ(classify(401, bad_key, false, &retry, why, sizeof(why)), -EACCES);
    CHECK(!retry);
    CHECK(strstr(why, "OpenAI") != NULL);
    CHECK(strstr(why, "platform") != NULL);
    CHECK(strstr(why, "invalid_api_key") != NULL);
    CHECK(strstr(why, "sk-") == NULL);
    CHECK_EQ(classify(403, NULL, true, &retry, why, sizeof(why)), -EACCES);
    CHECK(strstr(why, "organization") != NULL);

    CHECK_EQ(classify(429, quota, true, &retry, why, sizeof(why)), -EACCES);
    CHECK(!retry);
    CHECK(strstr(why, "credit") != NULL);
    CHECK(strstr(why, "organization") != NULL);

    CHECK_EQ(classify(429, rate, false, &retry, why, sizeof(why)), -EAGAIN);
    CHECK(retry);
    CHECK(strstr(why, "rate_limit_exceeded") != NULL);

    CHECK_EQ(classify(404, model, false, &retry, why, sizeof(why)), -EINVAL);
    CHECK(!retry);
    CHECK(strstr(why, "model_not_found") != NULL);
    CHECK(strstr(why, "gpt-9") != NULL); /* the message is quoted */

    CHECK_EQ(classify(400, "not json", false, &retry, why, sizeof(why)),
             -EINVAL);
    CHECK(!retry);
    CHECK_EQ(classify(408, NULL, false, &retry, why, sizeof(why)), -ETIMEDOUT);
    CHECK(retry);
    CHECK_EQ(classify(409, NULL, false, &retry, why, sizeof(why)), -EAGAIN);
    CHECK(retry);
    CHECK_EQ(classify(500, "{}", false, &retry, why, sizeof(why)), -EAGAIN);
    CHECK(retry);
    CHECK_EQ(classify(503, NULL, false, &retry, why, sizeof(why)), -EAGAIN);
    CHECK(retry);
    CHECK_EQ(classify(302, NULL, false, &retry, why, sizeof(why)), -EPROTO);
    CHECK(!retry);

    /* A message quoting the key is left out, whatever the status. */
    CHECK_EQ(classify(500,
                      "{\"error\":{\"message\":\"key sk-secret-1234 broke\"}}",
                      false, &retry, why, sizeof(why)),
             -EAGAIN);
    CHECK(strstr(why, "sk-secret") == NULL);

    /* A tiny buffer truncates without overflowing. */
    CHECK_EQ(classify(404, model, false, &retry, why, 8), -EINVAL);
    CHECK_EQ(strlen(why), 7);
}


SV_TEST(advised)
{
    time_t now = 1700000000;

    CHECK_EQ(sv_openai_advised_ms(NULL, NULL, now), -1);
    CHECK_EQ(sv_openai_advised_ms("250", "1", now), 250);
    CHECK_EQ(sv_openai_advised_ms(NULL, "2", now), 2000);
    CHECK_EQ(sv_openai_advised_ms(NULL, "0.5", now), 500);
    CHECK_EQ(sv_openai_advised_ms("bogus", "3", now), 3000);
    CHECK_EQ(sv_openai_advised_ms("0", NULL, now), -1);
    CHECK_EQ(sv_openai_advised_ms("-5", NULL, now), -1);
    CHECK_EQ(sv_openai_advised_ms(NULL, "120", now), 120000);
    CHECK_EQ(sv_openai_advised_ms(NULL, "121", now), -1);
    CHECK_EQ(sv_openai_advised_ms("120001", NULL, now), -1);
    CHECK_EQ(sv_openai_advised_ms(NULL, "soon", now), -1);
    /* An HTTP date 30 s after now (1700000000 is 2023-11-14 22:13:20). */
    CHECK_EQ(sv_openai_advised_ms(NULL, "Tue, 14 Nov 2023 22:13:50 GMT", now),
             30000);
    CHECK_EQ(sv_openai_advised_ms(NULL, "Tue, 14 Nov 2023 22:13:00 GMT", now),
             -1);
}


SV_TEST(backoff)
{
    CHECK_EQ(sv_openai_backoff_ms(0, 0), 500);
    CHECK_EQ(sv_openai_backoff_ms(1, 0), 1000);
    CHECK_EQ(sv_openai_backoff_ms(2, 0), 2000);
    CHECK_EQ(sv_openai_backoff_ms(4, 0), 8000);
    CHECK_EQ(sv_openai_backoff_ms(5, 0), 8000);
    CHECK_EQ(sv_openai_backoff_ms(1000, 0), 8000);
    CHECK_EQ(sv_openai_backoff_ms(0, 0.5), 437);
    /* Jitter never takes off more than a quarter. */
    CHECK_INT(sv_openai_backoff_ms(3, 0.9999), >=, 3000);
    CHECK_INT(sv_openai_backoff_ms(3, 5), >=, 3000);
    CHECK_EQ(sv_openai_backoff_ms(3, -1), 4000);
}


SV_TEST_MAIN(SV_CASE(body), SV_CASE(body_invalid), SV_CASE(tools),
             SV_CASE(tools_bad), SV_CASE(http_error), SV_CASE(advised),
             SV_CASE(backoff))
