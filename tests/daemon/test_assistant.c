/*
 * test_assistant.c - assistant document checks, merging and masking, and
 * the rate limiter's windows.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "daemon/assistant.h"
#include "daemon/ratelimit.h"


static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);

    if (j == NULL)
        SV_FAIL("bad test JSON: %s", jerr.text);
    return j;
}


/* Checks that doc is refused, naming param. */
static void refused(const char *doc, bool is_create, const char *param)
{
    struct sv_assistant_err err;
    json_t *j = parse(doc);

    CHECK_EQ(sv_assistant_check(j, is_create, &err), -EINVAL);
    CHECK_STR(err.param, param);
    CHECK(err.message[0] != '\0');
    json_decref(j);
}


static void accepted(const char *doc, bool is_create)
{
    struct sv_assistant_err err;
    json_t *j = parse(doc);

    if (sv_assistant_check(j, is_create, &err) != 0)
        SV_FAIL("refused %s: %s: %s", doc, err.param, err.message);
    json_decref(j);
}


SV_TEST(valid)
{
    accepted("{\"name\": \"A\"}", true);
    accepted("{\"first_message\": null}", false);
    accepted("{\"name\": \"A\", \"llm_config\": {\"provider\": \"openai\", "
             "\"model\": \"gpt-4o\", \"temperature\": 2, \"messages\": "
             "[{\"role\": \"system\", \"content\": \"x\"}]}, "
             "\"tts_config\": {\"speed\": 0.5, \"stability\": 0, "
             "\"similarity_boost\": 1, \"style\": 0.3}, \"stt_config\": "
             "{\"keyterms\": [\"Sovereign\"], \"language\": \"nl\"}, "
             "\"webhook_events\": [\"end-of-call-report\"], "
             "\"webhook_url\": \"https://example.com/hook\"}",
             true);
}


SV_TEST(invalid)
{
    refused("{}", true, "name");
    refused("{\"name\": 3}", true, "name");
    refused("{\"name\": \"A\", \"extra\": 1}", true, "extra");
    refused("{\"llm_config\": {\"temperature\": 2.01}}", false,
            "llm_config.temperature");
    refused("{\"llm_config\": {\"temperature\": \"hot\"}}", false,
            "llm_config.temperature");
    refused("{\"llm_config\": {\"seed\": 1}}", false, "llm_config.seed");
    refused("{\"llm_config\": {\"provider\": \"elevenlabs\"}}", false,
            "llm_config.provider");
    refused("{\"llm_config\": {\"provider\": \"openai\", \"model\": \"x\"}}",
            false, "llm_config.model");
    refused("{\"tts_config\": {\"speed\": 2.5}}", false, "tts_config.speed");
    refused("{\"tts_config\": {\"similarity_boost\": -0.1}}", false,
            "tts_config.similarity_boost");
    refused("{\"stt_config\": {\"keyterms\": [1]}}", false,
            "stt_config.keyterms");
    refused("{\"llm_config\": {\"messages\": [{\"role\": \"tool\", "
            "\"content\": \"x\"}]}}",
            false, "llm_config.messages");
    refused("{\"is_active\": null}", false, "is_active");
    refused("{\"max_duration_seconds\": 1.5}", false, "max_duration_seconds");
    refused("{\"webhook_events\": [\"nope\"]}", false, "webhook_events");
    refused("{\"notification_email\": \"a@b\"}", false, "notification_email");
}


SV_TEST(merge)
{
    json_t *patch = parse("{\"name\": \"A\", \"tts_config\": {\"speed\": "
                          "1.5}, \"llm_config\": {\"provider\": \"openai\"}}");
    json_t *doc = sv_assistant_merge(NULL, patch);
    json_t *tts = json_object_get(doc, "tts_config");
    json_t *again;
    json_t *p2;
    struct sv_assistant_err err;

    CHECK_STR(json_string_value(json_object_get(doc, "name")), "A");
    CHECK(json_real_value(json_object_get(tts, "speed")) == 1.5);
    CHECK(json_string_value(json_object_get(tts, "voice_id")) != NULL);
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(doc, "llm_config"), "model")),
              "gpt-4o-mini");
    CHECK_EQ(sv_assistant_check(doc, true, &err), 0);

    /* A patch keeps what it does not name, one level deep. */
    p2 = parse("{\"llm_config\": {\"temperature\": 0.1}}");
    again = sv_assistant_merge(doc, p2);
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(again, "llm_config"), "model")),
              "gpt-4o-mini");
    CHECK(json_object_get(json_object_get(again, "tts_config"), "speed") !=
          NULL);
    json_decref(again);
    json_decref(p2);
    json_decref(doc);
    json_decref(patch);
}


SV_TEST(mask)
{
    json_t *doc = parse("{\"id\": \"x\", \"name\": \"A\", \"webhook_secret\": "
                        "\"whsec-1\"}");
    json_t *pub = sv_assistant_public(doc);
    char *text = json_dumps(pub, 0);

    CHECK(strstr(text, "whsec-1") == NULL);
    CHECK_STR(json_string_value(json_object_get(doc, "webhook_secret")),
              "whsec-1");
    free(text);
    json_decref(pub);
    json_decref(doc);
}


SV_TEST(ratelimit)
{
    struct sv_ratelimit *rl = sv_ratelimit_new(3);
    struct sv_rate r;
    time_t t = 1800000000; /* a window start: divisible by 60 */

    CHECK(sv_ratelimit_take(rl, "a", t, false, &r));
    CHECK_EQ(r.remaining, 2);
    CHECK_EQ(r.reset, t + 60);
    CHECK(sv_ratelimit_take(rl, "a", t + 1, false, &r));
    CHECK(sv_ratelimit_take(rl, "a", t + 2, false, &r));
    CHECK(!sv_ratelimit_take(rl, "a", t + 50, false, &r));
    CHECK_EQ(r.remaining, 0);
    CHECK_EQ(r.retry_after_s, 10);
    /* A free request is never refused and shows the budget as it is. */
    CHECK(sv_ratelimit_take(rl, "a", t + 51, true, &r));
    CHECK_EQ(r.remaining, 0);
    CHECK_EQ(r.retry_after_s, 0);
    CHECK(sv_ratelimit_take(rl, "b", t + 50, false, &r));
    /* The next window starts afresh. */
    CHECK(sv_ratelimit_take(rl, "a", t + 60, false, &r));
    CHECK_EQ(r.remaining, 2);
    sv_ratelimit_free(rl);
}


SV_TEST_MAIN(SV_CASE(valid), SV_CASE(invalid), SV_CASE(merge), SV_CASE(mask),
             SV_CASE(ratelimit))
