/*
 * api.c - REST request dispatch: authentication, rate limits, routing,
 * body checks (see api.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "daemon/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libwebsockets.h>
#include <sodium.h>

#include "config/config.h"
#include "daemon/daemon.h"
#include "daemon/handlers.h"
#include "daemon/ratelimit.h"
#include "daemon/server.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/log.h"

#define API_PREFIX "/api/v1"

struct sv_api {
    struct sv_ratelimit *rl;
};

struct route {
    enum sv_method method;
    const char *pattern; /* below /api/v1; "*" matches one id segment */
    sv_handler_fn *handler;
};

static const struct route routes[] = {
    {SV_METHOD_GET, "/byok", sv_byok_get},
    {SV_METHOD_POST, "/byok", sv_byok_post},
    {SV_METHOD_DELETE, "/byok", sv_byok_delete},
    {SV_METHOD_GET, "/byok/config", sv_byok_config},
    {SV_METHOD_GET, "/assistants", sv_assistants_list},
    {SV_METHOD_POST, "/assistants", sv_assistants_create},
    {SV_METHOD_GET, "/assistants/*", sv_assistants_get},
    {SV_METHOD_PATCH, "/assistants/*", sv_assistants_patch},
    {SV_METHOD_DELETE, "/assistants/*", sv_assistants_delete},
    /* Deprecated alias of /assistants, kept for existing clients. */
    {SV_METHOD_GET, "/agents", sv_assistants_list},
    {SV_METHOD_POST, "/agents", sv_assistants_create},
    {SV_METHOD_GET, "/agents/*", sv_assistants_get},
    {SV_METHOD_PATCH, "/agents/*", sv_assistants_patch},
    {SV_METHOD_DELETE, "/agents/*", sv_assistants_delete},
    {SV_METHOD_GET, "/calls", sv_calls_list},
    {SV_METHOD_GET, "/calls/*", sv_calls_get},
    {SV_METHOD_POST, "/calls/*/control", sv_calls_control},
    {SV_METHOD_GET, "/usage", sv_usage_list},
};


struct sv_api *sv_api_new(void)
{
    return sv_xcalloc(1, sizeof(struct sv_api));
}


void sv_api_free(struct sv_api *api)
{
    if (api == NULL)
        return;
    sv_ratelimit_free(api->rl);
    free(api);
}


struct sv_daemon *sv_api_daemon(struct sv_http_req *req)
{
    return sv_server_daemon(req->srv);
}


/*
 * Matches path against pattern segment by segment; a "*" segment takes
 * any non-empty segment, copied into param.
 */
static bool match(const char *pattern, const char *path, char *param,
                  size_t param_len)
{
    while (*pattern != '\0' && *path != '\0') {
        if (pattern[0] == '*') {
            size_t n = strcspn(path, "/");

            if (n == 0 || n >= param_len)
                return false;
            memcpy(param, path, n);
            param[n] = '\0';
            pattern++;
            path += n;
        } else if (*pattern == *path) {
            pattern++;
            path++;
        } else {
            return false;
        }
    }
    /* Tolerate one trailing slash. */
    if (path[0] == '/' && path[1] == '\0')
        path++;
    return *pattern == '\0' && *path == '\0';
}


static const char *method_name(enum sv_method m)
{
    static const char *names[] = {"GET", "POST", "PUT", "PATCH", "DELETE", ""};

    return names[m];
}


/* Finds the route; on a path known for other methods, fills allow. */
static const struct route *find_route(struct sv_http_req *req, const char *path,
                                      char *allow, size_t allow_len)
{
    char param[SV_PATH_MAX];
    bool seen[SV_METHOD_OTHER + 1] = {false};

    allow[0] = '\0';
    for (size_t i = 0; i < SV_ARRAY_SIZE(routes); i++) {
        if (!match(routes[i].pattern, path, param, sizeof(param)))
            continue;
        if (routes[i].method == req->method) {
            snprintf(req->param_buf, sizeof(req->param_buf), "%s", param);
            req->param = strchr(routes[i].pattern, '*') ? req->param_buf : NULL;
            return &routes[i];
        }
        if (!seen[routes[i].method]) {
            seen[routes[i].method] = true;
            if (allow[0] != '\0')
                strncat(allow, ", ", allow_len - strlen(allow) - 1);
            strncat(allow, method_name(routes[i].method),
                    allow_len - strlen(allow) - 1);
        }
    }
    return NULL;
}


static void peer_client(struct sv_http_req *req, char *out, size_t len)
{
    char addr[64] = "";

    if (req->wsi != NULL)
        lws_get_peer_simple(req->wsi, addr, sizeof(addr));
    snprintf(out, len, "ip:%s", addr[0] != '\0' ? addr : "local");
}


/* Applies the limit for client; false (and answered 429) when over it. */
static bool take_rate(struct sv_http_req *req, const char *client)
{
    struct sv_daemon *d = sv_api_daemon(req);
    struct sv_api *api = d->api;
    struct sv_rate rate;
    bool ok;

    if (api->rl == NULL)
        api->rl = sv_ratelimit_new(d->cfg->rate_limit_per_min);
    /* Health checks are never refused: monitors poll them. */
    ok = sv_ratelimit_take(api->rl, client, time(NULL),
                           req->method == SV_METHOD_GET &&
                               strcmp(req->path, "/healthz") == 0,
                           &rate);
    req->has_rate = true;
    req->rate_limit = rate.limit;
    req->rate_remaining = rate.remaining;
    req->rate_reset = rate.reset;
    if (!ok) {
        req->retry_after_s = rate.retry_after_s;
        sv_http_error(req, 429, "rate_limited",
                      "too many requests; retry after the time in "
                      "Retry-After",
                      NULL);
    }
    return ok;
}


/* Reads "Authorization: Bearer <key>" and finds its organization. */
static int authenticate(struct sv_http_req *req)
{
    struct sv_daemon *d = sv_api_daemon(req);
    char hdr[256];
    const char *key;
    int n;
    int err;

    n = lws_hdr_copy(req->wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 0 || strncasecmp(hdr, "Bearer ", 7) != 0) {
        err = -ENOENT;
        goto out;
    }
    key = hdr + 7;
    while (*key == ' ')
        key++;
    err = sv_store_apikey_verify(d->store, key, req->org_id, req->key_id);
    if (err == 0)
        req->is_authed = true;

out:
    sodium_memzero(hdr, sizeof(hdr));
    return err;
}


static bool is_json_type(struct sv_http_req *req)
{
    char type[128];

    if (lws_hdr_copy(req->wsi, type, sizeof(type),
                     WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
        return false;
    return strncasecmp(type, "application/json", 16) == 0 &&
           (type[16] == '\0' || type[16] == ';' || type[16] == ' ');
}


/* Parses a non-empty body; false (and answered) when it is not usable. */
static bool parse_body(struct sv_http_req *req)
{
    json_error_t jerr;
    char msg[256];

    if (req->body.len == 0)
        return true;
    if (!is_json_type(req)) {
        sv_http_error(req, 415, "unsupported_media_type",
                      "the body must be JSON (Content-Type: "
                      "application/json)",
                      NULL);
        return false;
    }
    req->json = json_loadb(req->body.data, req->body.len,
                           JSON_REJECT_DUPLICATES, &jerr);
    if (req->json == NULL) {
        snprintf(msg, sizeof(msg), "body is not valid JSON: %s at line %d",
                 jerr.text, jerr.line);
        sv_http_error(req, 400, "invalid_json", msg, NULL);
        return false;
    }
    if (!json_is_object(req->json)) {
        sv_http_error(req, 400, "invalid_request",
                      "the body must be a JSON object", NULL);
        return false;
    }
    return true;
}


static void health(struct sv_http_req *req)
{
    if (req->method != SV_METHOD_GET) {
        snprintf(req->allow, sizeof(req->allow), "GET");
        sv_http_error(req, 405, "method_not_allowed",
                      "method not allowed on this path", NULL);
        return;
    }
    sv_http_reply(
        req, 200,
        json_pack("{s:s, s:s}", "status", "ok", "version", SV_VERSION));
}


static bool is_api_path(const char *path)
{
    return strncmp(path, API_PREFIX "/", sizeof(API_PREFIX)) == 0;
}


bool sv_api_admit(struct sv_http_req *req)
{
    char client[96];

    /*
     * Once per request: the rate is taken here and nowhere else, before
     * any answer, so that every answer carries the headers. A valid key
     * is charged wherever it is sent; anything else is charged to the
     * client's address, and only /api/v1 insists on a key. GET /healthz
     * shows the budget without using it.
     */
    if (req->has_reply || req->has_rate)
        return !req->has_reply;
    if (authenticate(req) == 0)
        return take_rate(req, req->key_id);
    peer_client(req, client, sizeof(client));
    if (!take_rate(req, client))
        return false;
    if (!is_api_path(req->path))
        return true;
    sv_http_error(req, 401, "unauthorized",
                  "missing or unknown API key (Authorization: Bearer "
                  "<key>)",
                  NULL);
    return false;
}


void sv_api_dispatch(struct sv_http_req *req)
{
    const struct route *route;
    char allow[48];
    const char *path = req->path;

    if (!sv_api_admit(req))
        return;
    if (strcmp(path, "/healthz") == 0) {
        health(req);
        return;
    }
    if (!is_api_path(path)) {
        sv_http_error(req, 404, "not_found", "no such path", NULL);
        return;
    }
    path += sizeof(API_PREFIX) - 1;

    route = find_route(req, path, allow, sizeof(allow));
    if (route == NULL) {
        if (allow[0] != '\0') {
            snprintf(req->allow, sizeof(req->allow), "%s", allow);
            sv_http_error(req, 405, "method_not_allowed",
                          "method not allowed on this path", NULL);
        } else {
            sv_http_error(req, 404, "not_found", "no such path", NULL);
        }
        return;
    }
    if (!parse_body(req))
        return;
    route->handler(req);
}
