/*
 * assistants.c - /api/v1/assistants (and its /agents alias).
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdio.h>

#include <jansson.h>

#include "daemon/api.h"
#include "daemon/assistant.h"
#include "daemon/daemon.h"
#include "daemon/handlers.h"
#include "store/store.h"
#include "util/log.h"


static void store_failed(struct sv_http_req *req, int err)
{
    if (err == -ENOENT)
        sv_http_error(req, 404, "not_found", "no such assistant", NULL);
    else
        sv_http_error(req, 500, "internal_error", "store failure", NULL);
}


static void reply_assistant(struct sv_http_req *req, int status, const char *id)
{
    struct sv_daemon *d = sv_api_daemon(req);
    json_t *a = NULL;
    int err;

    err = sv_store_assistant_get(d->store, req->org_id, id, &a);
    if (err < 0) {
        store_failed(req, err);
        return;
    }
    sv_http_reply(req, status,
                  json_pack("{s:o}", "assistant", sv_assistant_public(a)));
    json_decref(a);
}


/* Checks the body; false (and answered 400) when refused. */
static bool body_ok(struct sv_http_req *req, bool is_create)
{
    struct sv_assistant_err aerr;

    if (req->json == NULL) {
        sv_http_error(req, 400, "missing_field",
                      is_create ? "name is required" : "empty body",
                      is_create ? "name" : NULL);
        return false;
    }
    if (sv_assistant_check(req->json, is_create, &aerr) < 0) {
        sv_http_error(req, 400, "invalid_request", aerr.message, aerr.param);
        return false;
    }
    return true;
}


void sv_assistants_list(struct sv_http_req *req)
{
    struct sv_daemon *d = sv_api_daemon(req);
    json_t *list = NULL;
    json_t *out;
    json_t *a;
    size_t i;
    int err;

    err = sv_store_assistant_list(d->store, req->org_id, &list);
    if (err < 0) {
        store_failed(req, err);
        return;
    }
    out = json_array();
    json_array_foreach(list, i, a)
    {
        json_array_append_new(out, sv_assistant_public(a));
    }
    json_decref(list);
    sv_http_reply(req, 200, json_pack("{s:o}", "assistants", out));
}


void sv_assistants_create(struct sv_http_req *req)
{
    struct sv_daemon *d = sv_api_daemon(req);
    struct sv_assistant_err aerr;
    char id[SV_ID_LEN];
    json_t *doc;
    int err;

    if (!body_ok(req, true))
        return;
    doc = sv_assistant_merge(NULL, req->json);
    if (sv_assistant_check(doc, true, &aerr) < 0) {
        json_decref(doc);
        sv_http_error(req, 400, "invalid_request", aerr.message, aerr.param);
        return;
    }
    err = sv_store_assistant_create(d->store, req->org_id, doc, id);
    json_decref(doc);
    if (err < 0) {
        store_failed(req, err);
        return;
    }
    sv_log(SV_LOG_INFO, "api: org %s created assistant %s", req->org_id, id);
    reply_assistant(req, 201, id);
}


void sv_assistants_get(struct sv_http_req *req)
{
    reply_assistant(req, 200, req->param);
}


void sv_assistants_patch(struct sv_http_req *req)
{
    struct sv_daemon *d = sv_api_daemon(req);
    struct sv_assistant_err aerr;
    json_t *old = NULL;
    json_t *doc;
    int err;

    err = sv_store_assistant_get(d->store, req->org_id, req->param, &old);
    if (err < 0) {
        store_failed(req, err);
        return;
    }
    if (!body_ok(req, false)) {
        json_decref(old);
        return;
    }
    doc = sv_assistant_merge(old, req->json);
    json_decref(old);
    if (sv_assistant_check(doc, true, &aerr) < 0) {
        json_decref(doc);
        sv_http_error(req, 400, "invalid_request", aerr.message, aerr.param);
        return;
    }
    err = sv_store_assistant_update(d->store, req->org_id, req->param, doc);
    json_decref(doc);
    if (err < 0) {
        store_failed(req, err);
        return;
    }
    reply_assistant(req, 200, req->param);
}


void sv_assistants_delete(struct sv_http_req *req)
{
    struct sv_daemon *d = sv_api_daemon(req);
    int err;

    err = sv_store_assistant_delete(d->store, req->org_id, req->param);
    if (err < 0) {
        store_failed(req, err);
        return;
    }
    sv_log(SV_LOG_INFO, "api: org %s deleted assistant %s", req->org_id,
           req->param);
    sv_http_reply(req, 200, json_pack("{s:b}", "success", 1));
}
