/*
 * calls.c - /api/v1/calls, /api/v1/calls/{id}/control and /api/v1/usage.
 *
 * Call records come from the store; control requests go to the live call
 * through the session registry. Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/api.h"
#include "daemon/daemon.h"
#include "daemon/handlers.h"
#include "daemon/local_audio.h"
#include "daemon/session.h"
#include "pipeline/call.h"
#include "store/store.h"
#include "util/log.h"

#define DEFAULT_LIMIT     50
#define MAX_LIMIT         100
#define USAGE_SCAN_MAX    100000
#define CONTENT_MAX_BYTES 4000


/* Reads a non-negative integer query argument; false when malformed. */
static bool query_int(struct sv_http_req *req, const char *name, int def,
                      int max, int *out)
{
    char buf[32];
    char *end;
    long v;

    *out = def;
    if (!sv_http_query(req, name, buf, sizeof(buf)))
        return true;
    v = strtol(buf, &end, 10);
    if (end == buf || *end != '\0' || v < 0 || v > max)
        return false;
    *out = (int)v;
    return true;
}


/*
 * Reads a date filter: a full "YYYY-MM-DDTHH:MM:SSZ" as is, or a bare
 * "YYYY-MM-DD" widened to the start or the end of that day.
 */
static bool query_date(struct sv_http_req *req, const char *name, bool is_end,
                       char *out, size_t len)
{
    char buf[40];
    int y, m, d;
    char tail;

    out[0] = '\0';
    if (!sv_http_query(req, name, buf, sizeof(buf)))
        return true;
    if (sscanf(buf, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3) {
        snprintf(out, len, "%04d-%02d-%02dT%s", y, m, d,
                 is_end ? "23:59:59Z" : "00:00:00Z");
        return m >= 1 && m <= 12 && d >= 1 && d <= 31;
    }
    if (strlen(buf) == 20 && buf[10] == 'T' && buf[19] == 'Z') {
        snprintf(out, len, "%s", buf);
        return true;
    }
    return false;
}


static bool is_status(const char *s)
{
    static const char *const all[] = {"connecting", "in-progress", "ended",
                                      "failed"};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(all[i], s) == 0)
            return true;
    }
    return false;
}


/* Parses the list filters; false (and answered 400) when malformed. */
static bool list_filters(struct sv_http_req *req, int *limit, int *offset,
                         char *status, char *start, char *end)
{
    if (!query_int(req, "limit", DEFAULT_LIMIT, MAX_LIMIT, limit) ||
        *limit == 0) {
        sv_http_error(req, 400, "invalid_request", "limit must be 1 to 100",
                      "limit");
        return false;
    }
    if (!query_int(req, "offset", 0, 1 << 30, offset)) {
        sv_http_error(req, 400, "invalid_request",
                      "offset must be a non-negative integer", "offset");
        return false;
    }
    if (status != NULL && sv_http_query(req, "status", status, 32) &&
        !is_status(status)) {
        sv_http_error(req, 400, "invalid_request",
                      "status must be connecting, in-progress, ended or "
                      "failed",
                      "status");
        return false;
    }
    if (!query_date(req, "start_date", false, start, 32) ||
        !query_date(req, "end_date", true, end, 32)) {
        sv_http_error(req, 400, "invalid_request",
                      "dates are YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", NULL);
        return false;
    }
    return true;
}


void sv_calls_list(struct sv_http_req *req)
{
    struct sv_daemon *d = sv_api_daemon(req);
    char status[32] = "";
    char start[32], end[32];
    json_t *calls = NULL;
    int limit, offset, total = 0;

    if (!list_filters(req, &limit, &offset, status, start, end))
        return;
    if (sv_store_call_list(d->store, req->org_id, limit, offset,
                           status[0] ? status : NULL, start[0] ? start : NULL,
                           end[0] ? end : NULL, &calls, &total) < 0) {
        sv_http_error(req, 500, "internal_error", "store failure", NULL);
        return;
    }
    sv_http_reply(req, 200,
                  json_pack("{s:o, s:{s:i, s:i, s:i}}", "calls", calls,
                            "pagination", "total", total, "limit", limit,
                            "offset", offset));
}


void sv_calls_get(struct sv_http_req *req)
{
    struct sv_daemon *d = sv_api_daemon(req);
    json_t *call = NULL;
    int err;

    err = sv_store_call_get(d->store, req->org_id, req->param, &call);
    if (err == -ENOENT) {
        sv_http_error(req, 404, "not_found", "no such call", NULL);
        return;
    }
    if (err < 0) {
        sv_http_error(req, 500, "internal_error", "store failure", NULL);
        return;
    }
    sv_http_reply(req, 200, call);
}


static const char *body_text(struct sv_http_req *req, const char *key)
{
    json_t *v = json_object_get(req->json, key);

    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > CONTENT_MAX_BYTES)
        return NULL;
    return json_string_value(v);
}


static bool body_bool(struct sv_http_req *req, const char *key, bool def)
{
    json_t *v = json_object_get(req->json, key);

    return json_is_boolean(v) ? json_is_true(v) : def;
}


void sv_calls_control(struct sv_http_req *req)
{
    struct sv_daemon *d = sv_api_daemon(req);
    const char *type = json_string_value(json_object_get(req->json, "type"));
    struct sv_call *call;
    const char *text;
    json_t *rec = NULL;

    if (sv_store_call_get(d->store, req->org_id, req->param, &rec) < 0) {
        sv_http_error(req, 404, "not_found", "no such call", NULL);
        return;
    }
    json_decref(rec);
    if (type == NULL) {
        sv_http_error(req, 400, "missing_field",
                      "type is required: say, inject-context, end-call or "
                      "transfer",
                      "type");
        return;
    }
    call = sv_session_find_call(d, req->org_id, req->param);
    if (call == NULL)
        call =
            sv_local_audio_find_call(d->local_audio, req->org_id, req->param);
    if (call == NULL || sv_call_is_ended(call)) {
        sv_http_error(req, 409, "conflict", "the call is not in progress",
                      NULL);
        return;
    }
    if (strcmp(type, "say") == 0) {
        text = body_text(req, "content");
        if (text == NULL)
            goto bad_content;
        sv_call_say(call, text, body_bool(req, "end_after", false));
    } else if (strcmp(type, "inject-context") == 0) {
        text = body_text(req, "content");
        if (text == NULL)
            goto bad_content;
        sv_call_inject(call, text, body_bool(req, "trigger_response", true));
    } else if (strcmp(type, "end-call") == 0) {
        text = body_text(req, "message");
        if (text != NULL)
            sv_call_say(call, text, true);
        else
            sv_call_end(call, "assistant-ended-call");
    } else if (strcmp(type, "transfer") == 0) {
        sv_http_error(req, 409, "conflict",
                      "a web call cannot be transferred to a phone number",
                      NULL);
        return;
    } else {
        sv_http_error(req, 400, "invalid_request",
                      "type must be say, inject-context, end-call or "
                      "transfer",
                      "type");
        return;
    }
    sv_http_reply(req, 200, json_pack("{s:b}", "success", 1));
    return;

bad_content:
    sv_http_error(req, 400, "missing_field",
                  "content must be a non-empty string of at most 4000 bytes",
                  "content");
}


void sv_usage_list(struct sv_http_req *req)
{
    struct sv_daemon *d = sv_api_daemon(req);
    char start[32], end[32];
    json_t *page = NULL;
    json_t *all = NULL;
    json_t *logs = json_array();
    json_t *c;
    size_t i;
    int limit, offset, total = 0, n_all = 0;
    double seconds = 0;

    if (!list_filters(req, &limit, &offset, NULL, start, end)) {
        json_decref(logs);
        return;
    }
    if (sv_store_call_list(d->store, req->org_id, limit, offset, NULL,
                           start[0] ? start : NULL, end[0] ? end : NULL, &page,
                           &total) < 0 ||
        sv_store_call_list(d->store, req->org_id, USAGE_SCAN_MAX, 0, NULL,
                           start[0] ? start : NULL, end[0] ? end : NULL, &all,
                           &n_all) < 0) {
        json_decref(page);
        json_decref(logs);
        sv_http_error(req, 500, "internal_error", "store failure", NULL);
        return;
    }
    json_array_foreach(all, i, c)
    {
        seconds += json_number_value(json_object_get(c, "duration_seconds"));
    }
    json_array_foreach(page, i, c)
    {
        json_array_append_new(
            logs,
            json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "id",
                      json_object_get(c, "id"), "duration_sec",
                      json_object_get(c, "duration_seconds"), "agent_name",
                      json_object_get(c, "agent_name"), "phone_number",
                      json_null(), "created_at",
                      json_object_get(c, "created_at"), "usage",
                      json_object_get(c, "usage") ? json_object_get(c, "usage")
                                                  : json_array()));
    }
    json_decref(page);
    json_decref(all);
    sv_http_reply(req, 200,
                  json_pack("{s:o, s:{s:i, s:i, s:i}, s:{s:i, s:f, s:f}}",
                            "logs", logs, "pagination", "total", total, "limit",
                            limit, "offset", offset, "summary", "total_calls",
                            total, "total_duration_seconds", seconds,
                            "total_duration_minutes", seconds / 60.0));
}
