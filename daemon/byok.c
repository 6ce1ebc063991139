/*
 * byok.c - the organizations' own provider keys: /api/v1/byok and
 * /api/v1/byok/config.
 *
 * A posted key is checked for shape, optionally tried against the
 * provider (validate_keys), sealed by the vault under a fresh secret id
 * and stored, replacing the previous key in one transaction. The key is
 * never echoed: answers carry secret ids only. Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/config.h"
#include "daemon/api.h"
#include "daemon/daemon.h"
#include "daemon/handlers.h"
#include "providers/keycheck.h"
#include "providers/registry.h"
#include "store/store.h"
#include "store/vault.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/secret.h"

#define KEY_MAX_BYTES 4096

/* A key check in flight for one POST /byok. */
struct pending_post {
    struct sv_http_req *req; /* borrowed; NULL once the client is gone */
    const struct sv_provider_info *provider;
    char *key; /* owned secret */
    struct sv_keycheck *check;
};


/* {"deepgram_secret_id": id | null, ...} for every keyed provider. */
static json_t *byok_keys(struct sv_http_req *req, int *err)
{
    struct sv_daemon *d = sv_api_daemon(req);
    json_t *ids = NULL;
    json_t *keys;

    *err = sv_store_secret_ids(d->store, req->org_id, &ids);
    if (*err < 0)
        return NULL;
    keys = json_object();
    for (size_t i = 0; i < sv_provider_count; i++) {
        const struct sv_provider_info *p = &sv_providers[i];
        char name[64];
        json_t *id;

        if (!p->needs_key)
            continue;
        snprintf(name, sizeof(name), "%s_secret_id", p->id);
        id = json_object_get(ids, p->id);
        json_object_set(keys, name, id != NULL ? id : json_null());
    }
    json_decref(ids);
    return keys;
}


static void reply_keys(struct sv_http_req *req, bool with_success)
{
    json_t *keys;
    int err;

    keys = byok_keys(req, &err);
    if (keys == NULL) {
        sv_http_error(req, 500, "internal_error", "store failure", NULL);
        return;
    }
    if (with_success) {
        sv_http_reply(req, 200,
                      json_pack("{s:b, s:o}", "success", 1, "byok_keys", keys));
    } else {
        sv_http_reply(req, 200, json_pack("{s:o}", "byok_keys", keys));
    }
}


void sv_byok_get(struct sv_http_req *req)
{
    reply_keys(req, false);
}


/* The provider named in the body, or NULL (and answered 400). */
static const struct sv_provider_info *body_provider(struct sv_http_req *req)
{
    const struct sv_provider_info *p;
    const char *name;
    char msg[256];
    size_t len = 0;

    name = json_string_value(json_object_get(req->json, "provider"));
    if (name == NULL) {
        sv_http_error(req, 400, "missing_field", "provider is required",
                      "provider");
        return NULL;
    }
    p = sv_provider_find(name);
    if (p != NULL && p->needs_key)
        return p;

    len = (size_t)snprintf(msg, sizeof(msg), "provider must be one of");
    for (size_t i = 0; i < sv_provider_count && len < sizeof(msg); i++) {
        if (sv_providers[i].needs_key) {
            len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s %s",
                                    len > 24 ? "," : "", sv_providers[i].id);
        }
    }
    sv_http_error(req, 400, "invalid_request", msg, "provider");
    return NULL;
}


static void store_key(struct sv_http_req *req, const struct sv_provider_info *p,
                      const char *key)
{
    struct sv_daemon *d = sv_api_daemon(req);
    char secret_id[SV_ID_LEN];
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    int err;

    sv_uuid(secret_id);
    err = sv_vault_seal(d->vault, secret_id, req->org_id, p->id, key,
                        strlen(key), &ct, &ct_len);
    if (err == 0) {
        err = sv_store_secret_put(d->store, req->org_id, p->id, secret_id, ct,
                                  ct_len);
    }
    free(ct);
    if (err < 0) {
        sv_http_error(req, 500, "internal_error", "could not store the key",
                      NULL);
        return;
    }
    sv_log(SV_LOG_NOTICE, "byok: org %s stored a %s key (secret %s)",
           req->org_id, p->id, secret_id);
    reply_keys(req, true);
}


static void pending_free(struct pending_post *pp)
{
    sv_secret_free(pp->key);
    free(pp);
}


static void on_checked(void *arg, int result)
{
    struct pending_post *pp = arg;
    struct sv_http_req *req = pp->req;
    char msg[160];

    if (req == NULL) {
        pending_free(pp);
        return;
    }
    sv_http_set_pending(req, NULL, NULL);
    if (result == 0) {
        store_key(req, pp->provider, pp->key);
    } else if (result == -EACCES) {
        snprintf(msg, sizeof(msg), "%s refused the key", pp->provider->name);
        sv_http_error(req, 422, "invalid_api_key", msg, "api_key");
    } else {
        snprintf(msg, sizeof(msg), "could not reach %s to check the key: %s",
                 pp->provider->name, strerror(-result));
        sv_http_error(req, 502, "provider_unreachable", msg, NULL);
    }
    pending_free(pp);
}


/* The client left: stop the check; on_checked frees what is left. */
static void cancel_check(void *arg)
{
    struct pending_post *pp = arg;

    pp->req = NULL;
    sv_keycheck_cancel(pp->check);
}


static bool key_shape_ok(const char *key, size_t len)
{
    if (len == 0 || len > KEY_MAX_BYTES)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];

        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    return true;
}


void sv_byok_post(struct sv_http_req *req)
{
    struct sv_daemon *d = sv_api_daemon(req);
    const struct sv_provider_info *p;
    const struct sv_provider_conf *pc;
    struct pending_post *pp;
    json_t *jkey;
    const char *key;
    size_t len;
    int err;

    if (req->json == NULL) {
        sv_http_error(req, 400, "missing_field",
                      "body must be {\"provider\": ..., \"api_key\": ...}",
                      NULL);
        return;
    }
    p = body_provider(req);
    if (p == NULL)
        return;
    jkey = json_object_get(req->json, "api_key");
    if (jkey == NULL || json_is_null(jkey)) {
        sv_http_error(req, 400, "missing_field", "api_key is required",
                      "api_key");
        return;
    }
    key = json_string_value(jkey);
    len = json_string_length(jkey);
    if (key == NULL || !key_shape_ok(key, len) || strlen(key) != len) {
        sv_http_error(req, 400, "invalid_request",
                      "api_key must be a non-empty string of at most 4096 "
                      "printable characters without spaces",
                      "api_key");
        return;
    }

    pc = &d->cfg->provider[sv_provider_index(p)];
    if (!pc->validate_keys) {
        store_key(req, p, key);
        return;
    }
    pp = sv_xcalloc(1, sizeof(*pp));
    pp->req = req;
    pp->provider = p;
    pp->key = sv_secret_dup(key, len);
    sv_http_set_pending(req, pp, cancel_check);
    err = sv_keycheck_start(d->httpc, p, pc->url, pp->key, pc->timeout_ms,
                            on_checked, pp, &pp->check);
    if (err < 0) {
        sv_http_set_pending(req, NULL, NULL);
        pending_free(pp);
        sv_http_error(req, 500, "internal_error", "could not check the key",
                      NULL);
    }
}


void sv_byok_delete(struct sv_http_req *req)
{
    struct sv_daemon *d = sv_api_daemon(req);
    const struct sv_provider_info *p;
    int err;

    if (req->json == NULL) {
        sv_http_error(req, 400, "missing_field",
                      "body must be {\"provider\": ...}", "provider");
        return;
    }
    p = body_provider(req);
    if (p == NULL)
        return;
    err = sv_store_secret_delete(d->store, req->org_id, p->id);
    if (err < 0 && err != -ENOENT) {
        sv_http_error(req, 500, "internal_error", "store failure", NULL);
        return;
    }
    if (err == 0) {
        sv_log(SV_LOG_NOTICE, "byok: org %s deleted its %s key", req->org_id,
               p->id);
    }
    reply_keys(req, true);
}


void sv_byok_config(struct sv_http_req *req)
{
    json_t *list = json_array();

    for (size_t i = 0; i < sv_provider_count; i++) {
        const struct sv_provider_info *p = &sv_providers[i];
        json_t *models = json_array();

        for (const struct sv_model_info *m = p->models; m->id != NULL; m++) {
            json_array_append_new(models, json_pack("{s:s, s:s, s:b}", "id",
                                                    m->id, "name", m->name,
                                                    "default", m->is_default));
        }
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:s, s:s, s:b, s:o}", "id",
                                        p->id, "name", p->name, "category",
                                        sv_provider_kind_name(p->kind),
                                        "docsUrl", p->docs_url, "requiresKey",
                                        p->needs_key, "models", models));
    }
    sv_http_reply(req, 200, json_pack("{s:o}", "providers", list));
}
