/*
 * assistant.c - assistant documents: validation, defaults, merging
 * (see assistant.h).
 *
 * The checks are table-driven: each known field names its JSON type and
 * range, and nested configs have tables of their own. An unknown field is
 * refused by name rather than dropped, so that a typo never passes
 * silently.
 *
 * SPDX-License-Identifier: MIT
 */
#include "daemon/assistant.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "providers/registry.h"
#include "util/alloc.h"

#define NAME_MAX_CHARS 200
#define TEXT_MAX_CHARS 8000
#define DEFAULT_VOICE  "21m00Tcm4TlvDq8ikWAM"

enum ftype {
    F_STRING, /* string, or null when nullable */
    F_BOOL,
    F_INT,
    F_NUMBER,
    F_STRINGS, /* array of strings */
    F_OBJECT,  /* checked by the field's own function */
    F_ARRAY,   /* checked by the field's own function */
};

struct field;
typedef int check_fn(json_t *v, const char *param,
                     struct sv_assistant_err *err);

struct field {
    const char *name;
    enum ftype type;
    bool is_nullable;
    double min; /* strings: minimum length */
    double max; /* strings: maximum length; arrays: maximum items */
    check_fn *check;
};

static check_fn check_email;
static check_fn check_url;
static check_fn check_events;
static check_fn check_stt;
static check_fn check_llm;
static check_fn check_tts;
static check_fn check_messages;
static check_fn check_tools;

static const struct field top_fields[] = {
    {"name", F_STRING, false, 1, NAME_MAX_CHARS, NULL},
    {"first_message", F_STRING, true, 0, TEXT_MAX_CHARS, NULL},
    {"is_active", F_BOOL, false, 0, 0, NULL},
    {"notification_email", F_STRING, true, 3, 254, check_email},
    {"max_duration_seconds", F_INT, false, 10, 86400, NULL},
    {"silence_timeout_seconds", F_INT, false, 5, 3600, NULL},
    {"webhook_url", F_STRING, true, 8, 2048, check_url},
    {"webhook_secret", F_STRING, true, 0, 256, NULL},
    {"webhook_events", F_ARRAY, false, 0, 8, check_events},
    {"stt_config", F_OBJECT, false, 0, 0, check_stt},
    {"llm_config", F_OBJECT, false, 0, 0, check_llm},
    {"tts_config", F_OBJECT, false, 0, 0, check_tts},
    {NULL, 0, false, 0, 0, NULL},
};

static const struct field stt_fields[] = {
    {"provider", F_STRING, false, 1, 64, NULL},
    {"model", F_STRING, false, 1, 128, NULL},
    {"language", F_STRING, false, 2, 35, NULL},
    {"keyterms", F_STRINGS, false, 1, 100, NULL},
    {"endpointing_ms", F_INT, false, 10, 5000, NULL},
    {"utterance_end_ms", F_INT, false, 1000, 5000, NULL},
    {"smart_format", F_BOOL, false, 0, 0, NULL},
    {NULL, 0, false, 0, 0, NULL},
};

static const struct field llm_fields[] = {
    {"provider", F_STRING, false, 1, 64, NULL},
    {"model", F_STRING, false, 1, 128, NULL},
    {"temperature", F_NUMBER, false, 0, 2, NULL},
    {"max_tokens", F_INT, false, 1, 32768, NULL},
    {"messages", F_ARRAY, false, 0, 100, check_messages},
    {"tools", F_ARRAY, false, 0, 64, check_tools},
    {NULL, 0, false, 0, 0, NULL},
};

static const struct field tts_fields[] = {
    {"provider", F_STRING, false, 1, 64, NULL},
    {"voice_id", F_STRING, false, 1, 128, NULL},
    {"model", F_STRING, false, 1, 128, NULL},
    {"language", F_STRING, false, 2, 35, NULL},
    {"stability", F_NUMBER, false, 0, 1, NULL},
    {"similarity_boost", F_NUMBER, false, 0, 1, NULL},
    {"style", F_NUMBER, false, 0, 1, NULL},
    {"speed", F_NUMBER, false, 0.5, 2, NULL},
    {"use_speaker_boost", F_BOOL, false, 0, 0, NULL},
    {NULL, 0, false, 0, 0, NULL},
};

static const char *const webhook_events[] = {
    "assistant-request",
    "status-update",
    "tool-calls",
    "end-of-call-report",
    NULL,
};


static int fail(struct sv_assistant_err *err, const char *param,
                const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct sv_assistant_err *err, const char *param,
                const char *fmt, ...)
{
    va_list ap;

    snprintf(err->param, sizeof(err->param), "%s", param);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -EINVAL;
}


/* Length in characters of a UTF-8 string (jansson guarantees UTF-8). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    }
    return n;
}


static int check_value(const struct field *f, json_t *v, const char *param,
                       struct sv_assistant_err *err)
{
    size_t i;
    json_t *item;

    if (json_is_null(v)) {
        if (f->is_nullable)
            return 0;
        return fail(err, param, "%s may not be null", param);
    }
    switch (f->type) {
    case F_STRING: {
        size_t n;

        if (!json_is_string(v))
            return fail(err, param, "%s must be a string", param);
        n = utf8_chars(json_string_value(v));
        if (n < (size_t)f->min || n > (size_t)f->max) {
            return fail(err, param, "%s must be %.0f to %.0f characters", param,
                        f->min, f->max);
        }
        break;
    }
    case F_BOOL:
        if (!json_is_boolean(v))
            return fail(err, param, "%s must be true or false", param);
        break;
    case F_INT:
        if (!json_is_integer(v) || json_integer_value(v) < f->min ||
            json_integer_value(v) > f->max) {
            return fail(err, param, "%s must be an integer from %.0f to %.0f",
                        param, f->min, f->max);
        }
        break;
    case F_NUMBER:
        if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
            json_number_value(v) < f->min || json_number_value(v) > f->max) {
            return fail(err, param, "%s must be a number from %g to %g", param,
                        f->min, f->max);
        }
        break;
    case F_STRINGS:
        if (!json_is_array(v) || json_array_size(v) > (size_t)f->max)
            return fail(err, param,
                        "%s must be an array of at most %.0f "
                        "strings",
                        param, f->max);
        json_array_foreach(v, i, item)
        {
            if (!json_is_string(item) ||
                json_string_length(item) < (size_t)f->min ||
                json_string_length(item) > 100) {
                return fail(err, param, "%s must hold non-empty strings",
                            param);
            }
        }
        break;
    case F_OBJECT:
        if (!json_is_object(v))
            return fail(err, param, "%s must be an object", param);
        break;
    case F_ARRAY:
        if (!json_is_array(v) || json_array_size(v) > (size_t)f->max)
            return fail(err, param,
                        "%s must be an array of at most %.0f "
                        "items",
                        param, f->max);
        break;
    }
    return f->check != NULL ? f->check(v, param, err) : 0;
}


/* Checks every member of obj against fields; prefix names the object. */
static int check_object(json_t *obj, const struct field *fields,
                        const char *prefix, struct sv_assistant_err *err)
{
    const char *key;
    json_t *v;
    char param[96];

    json_object_foreach(obj, key, v)
    {
        const struct field *f = fields;
        int rc;

        while (f->name != NULL && strcmp(f->name, key) != 0)
            f++;
        if (prefix != NULL)
            snprintf(param, sizeof(param), "%s.%s", prefix, key);
        else
            snprintf(param, sizeof(param), "%s", key);
        if (f->name == NULL)
            return fail(err, param, "unknown field %s", param);
        rc = check_value(f, v, param, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}


static int check_email(json_t *v, const char *param,
                       struct sv_assistant_err *err)
{
    const char *s = json_string_value(v);
    const char *at = strchr(s, '@');

    if (at == NULL || at == s || strchr(at, '.') == NULL ||
        strpbrk(s, " \t\r\n<>") != NULL)
        return fail(err, param, "%s must be an e-mail address", param);
    return 0;
}


static int check_url(json_t *v, const char *param, struct sv_assistant_err *err)
{
    const char *s = json_string_value(v);

    if ((strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) ||
        strpbrk(s, " \t\r\n") != NULL)
        return fail(err, param, "%s must be an http(s) URL", param);
    return 0;
}


static int check_events(json_t *v, const char *param,
                        struct sv_assistant_err *err)
{
    size_t i;
    json_t *item;

    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        size_t k = 0;

        while (s != NULL && webhook_events[k] != NULL &&
               strcmp(webhook_events[k], s) != 0)
            k++;
        if (s == NULL || webhook_events[k] == NULL) {
            return fail(err, param,
                        "%s items must be one of assistant-request, "
                        "status-update, tool-calls, end-of-call-report",
                        param);
        }
    }
    return 0;
}


/* Checks a config's provider (of kind) and model, when present. */
static int check_provider(json_t *cfg, enum sv_provider_kind kind,
                          const char *prefix, struct sv_assistant_err *err)
{
    const char *name = json_string_value(json_object_get(cfg, "provider"));
    const char *model = json_string_value(json_object_get(cfg, "model"));
    const struct sv_provider_info *p;
    char param[96];

    if (name == NULL)
        return 0;
    p = sv_provider_find(name);
    if (p == NULL || p->kind != kind) {
        snprintf(param, sizeof(param), "%s.provider", prefix);
        return fail(err, param, "%s is not a known %s provider", name,
                    sv_provider_kind_name(kind));
    }
    if (model != NULL && !sv_provider_has_model(p, model)) {
        snprintf(param, sizeof(param), "%s.model", prefix);
        return fail(err, param,
                    "model %s is not known for %s (see /byok/config)", model,
                    name);
    }
    return 0;
}


static int check_stt(json_t *v, const char *param, struct sv_assistant_err *err)
{
    int rc = check_object(v, stt_fields, param, err);

    return rc < 0 ? rc : check_provider(v, SV_KIND_STT, param, err);
}


static int check_llm(json_t *v, const char *param, struct sv_assistant_err *err)
{
    int rc = check_object(v, llm_fields, param, err);

    return rc < 0 ? rc : check_provider(v, SV_KIND_LLM, param, err);
}


static int check_tts(json_t *v, const char *param, struct sv_assistant_err *err)
{
    int rc = check_object(v, tts_fields, param, err);

    return rc < 0 ? rc : check_provider(v, SV_KIND_TTS, param, err);
}


static int check_messages(json_t *v, const char *param,
                          struct sv_assistant_err *err)
{
    size_t i;
    json_t *m;

    json_array_foreach(v, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");

        if (!json_is_object(m) || role == NULL ||
            (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
             strcmp(role, "assistant") != 0)) {
            return fail(err, param,
                        "%s[%zu].role must be system, user or assistant", param,
                        i);
        }
        if (!json_is_string(content) ||
            json_string_length(content) > TEXT_MAX_CHARS * 4) {
            return fail(err, param, "%s[%zu].content must be a string", param,
                        i);
        }
    }
    return 0;
}


static bool is_tool_name(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
            return false;
    }
    return n > 0 && n <= 64;
}


static int check_tools(json_t *v, const char *param,
                       struct sv_assistant_err *err)
{
    size_t i;
    json_t *t;

    json_array_foreach(v, i, t)
    {
        json_t *fn = json_object_get(t, "function");
        const char *type = json_string_value(json_object_get(t, "type"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_t *params = json_object_get(fn, "parameters");
        json_t *server = json_object_get(t, "server");
        json_t *async = json_object_get(t, "async");

        if (!json_is_object(t) || type == NULL ||
            strcmp(type, "function") != 0) {
            return fail(err, param, "%s[%zu].type must be \"function\"", param,
                        i);
        }
        if (!json_is_object(fn) || name == NULL || !is_tool_name(name)) {
            return fail(err, param,
                        "%s[%zu].function.name must be 1 to 64 letters, "
                        "digits, _ or -",
                        param, i);
        }
        if (params != NULL && !json_is_object(params)) {
            return fail(err, param,
                        "%s[%zu].function.parameters must be a JSON schema "
                        "object",
                        param, i);
        }
        if (server != NULL && !json_is_null(server) &&
            (!json_is_object(server) ||
             !json_is_string(json_object_get(server, "url")))) {
            return fail(err, param, "%s[%zu].server.url must be a URL", param,
                        i);
        }
        if (async != NULL && !json_is_boolean(async)) {
            return fail(err, param, "%s[%zu].async must be true or false",
                        param, i);
        }
    }
    return 0;
}


int sv_assistant_check(json_t *doc, bool is_create,
                       struct sv_assistant_err *err)
{
    if (!json_is_object(doc))
        return fail(err, "", "the assistant must be a JSON object");
    if (is_create && json_object_get(doc, "name") == NULL)
        return fail(err, "name", "name is required");
    return check_object(doc, top_fields, NULL, err);
}


static json_t *defaults(void)
{
    return json_pack(
        "{s:n, s:b, s:n, s:i, s:i, s:n, s:n, s:[],"
        " s:{s:s, s:s, s:s, s:[]},"
        " s:{s:s, s:s, s:f, s:[], s:[]},"
        " s:{s:s, s:s, s:s, s:f, s:f, s:f}}",
        "first_message", "is_active", 1, "notification_email",
        "max_duration_seconds", 600, "silence_timeout_seconds", 30,
        "webhook_url", "webhook_secret", "webhook_events", "stt_config",
        "provider", "deepgram", "model", "nova-3-general", "language", "en",
        "keyterms", "llm_config", "provider", "openai", "model", "gpt-4o-mini",
        "temperature", 0.7, "messages", "tools", "tts_config", "provider",
        "elevenlabs", "voice_id", DEFAULT_VOICE, "model", "eleven_flash_v2_5",
        "stability", 0.5, "similarity_boost", 0.75, "speed", 1.0);
}


/* Applies one config object of the patch onto the merged document. */
static void merge_config(json_t *out, const char *key, json_t *patch_cfg)
{
    json_t *cfg = json_deep_copy(json_object_get(out, key));
    const char *old = json_string_value(json_object_get(cfg, "provider"));
    const char *now = json_string_value(json_object_get(patch_cfg, "provider"));

    if (cfg == NULL)
        cfg = json_object();
    if (now != NULL && (old == NULL || strcmp(old, now) != 0) &&
        json_object_get(patch_cfg, "model") == NULL) {
        const struct sv_provider_info *p = sv_provider_find(now);
        const char *model = p != NULL ? sv_provider_default_model(p) : NULL;

        if (model != NULL)
            json_object_set_new(cfg, "model", json_string(model));
        else
            json_object_del(cfg, "model");
    }
    json_object_update(cfg, patch_cfg);
    json_object_set_new(out, key, cfg);
}


json_t *sv_assistant_merge(json_t *base, json_t *patch)
{
    json_t *out = base != NULL ? json_deep_copy(base) : defaults();
    const char *key;
    json_t *v;

    json_object_del(out, "id");
    json_object_del(out, "created_at");
    json_object_del(out, "updated_at");
    json_object_foreach(patch, key, v)
    {
        if (json_is_object(v) && strstr(key, "_config") != NULL)
            merge_config(out, key, v);
        else
            json_object_set(out, key, v);
    }
    return out;
}


json_t *sv_assistant_public(json_t *stored)
{
    json_t *out = json_object();
    json_t *secret;

    /* id and name first: people read these objects. */
    json_object_set(out, "id", json_object_get(stored, "id"));
    json_object_set(out, "name", json_object_get(stored, "name"));
    json_object_update(out, stored);
    secret = json_object_get(out, "webhook_secret");

    if (json_is_string(secret) && json_string_length(secret) > 0)
        json_object_set_new(out, "webhook_secret", json_string("********"));
    return out;
}
