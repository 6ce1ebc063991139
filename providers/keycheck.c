/*
 * keycheck.c - provider key validation over sv_httpc (see keycheck.h).
 *
 * The key travels only in the header line built here, which lives in
 * sodium guarded memory and is wiped as soon as sv_httpc_start() has
 * copied it (httpc wipes its own copy when the request ends). Nothing
 * here logs the key or the header.
 *
 * Loop thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#include "providers/keycheck.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/log.h"

/* Enough for any error body; a long 200 listing is not kept. */
#define MAX_BODY_BYTES 4096

struct sv_keycheck {
    const struct sv_provider_info *p; /* borrowed from the static table */
    struct sv_httpc_req *req;         /* borrowed; NULL once done */
    struct sv_buf body;               /* the start of the response body */
    sv_keycheck_cb *cb;
    void *arg;
};


static int on_data(void *arg, const char *data, size_t len)
{
    struct sv_keycheck *k = arg;

    if (k->body.len < MAX_BODY_BYTES) {
        if (len > MAX_BODY_BYTES - k->body.len)
            len = MAX_BODY_BYTES - k->body.len;
        sv_buf_append(&k->body, data, len);
    }
    return 0;
}


/* The "name" member of a Resend error body, or false. */
static bool resend_error_is(const struct sv_buf *body, const char *name)
{
    json_error_t jerr;
    json_t *root;
    const char *got;
    bool is_match = false;

    if (body->data == NULL)
        return false;
    root = json_loadb(body->data, body->len, 0, &jerr); /* new reference */
    if (root == NULL)
        return false;
    got = json_string_value(json_object_get(root, "name")); /* borrowed */
    if (got != NULL && strcmp(got, name) == 0)
        is_match = true;
    json_decref(root);
    return is_match;
}


/* Maps a complete answer to the result, per keycheck.h. */
static int classify(const struct sv_keycheck *k, long status)
{
    bool is_resend = strcmp(k->p->id, "resend") == 0;

    if (is_resend && status == 401 &&
        resend_error_is(&k->body, "restricted_api_key"))
        return 0; /* a valid send-only key */
    if (is_resend && status == 400)
        return -EACCES; /* newer Resend answers validation_error */
    if (status >= 200 && status < 300)
        return 0;
    if (status == 401 || status == 403)
        return -EACCES;
    if (status == 429) {
        sv_log(SV_LOG_WARN,
               "keycheck: %s: rate limited (429); accepting the "
               "key, which authenticated",
               k->p->id);
        return 0;
    }
    return -EPROTO;
}


static void on_done(void *arg, int err, long status)
{
    struct sv_keycheck *k = arg;
    int result;

    k->req = NULL;
    switch (err) {
    case 0:
        result = classify(k, status);
        break;
    case -ETIMEDOUT:
    case -EHOSTUNREACH:
    case -ECONNREFUSED:
    case -ECANCELED:
        result = err;
        break;
    default:
        result = -EPROTO;
        break;
    }
    if (result == 0) {
        sv_log(SV_LOG_INFO, "keycheck: %s: key accepted (%ld)", k->p->id,
               status);
    } else if (result != -ECANCELED) {
        sv_log(SV_LOG_INFO, "keycheck: %s: %s (status %ld)", k->p->id,
               result == -EACCES ? "key refused" : strerror(-result), status);
    }
    k->cb(k->arg, result);
    sv_buf_free(&k->body);
    free(k);
}


/* True when key is non-empty printable ASCII without spaces. */
static bool key_ok(const char *key)
{
    if (key[0] == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    }
    return true;
}


/* The check URL: base with ws mapped to http, plus the check path. */
static char *check_url(const struct sv_provider_info *p, const char *base)
{
    const char *scheme = "";
    const char *rest = base;
    size_t len;

    if (strncmp(base, "wss://", 6) == 0) {
        scheme = "https://";
        rest = base + 6;
    } else if (strncmp(base, "ws://", 5) == 0) {
        scheme = "http://";
        rest = base + 5;
    }
    len = strlen(rest);
    while (len > 0 && rest[len - 1] == '/')
        len--; /* "https://api.example.com/" + "/v1/x" */
    return sv_xasprintf("%s%.*s%s", scheme, (int)len, rest, p->check_path);
}


/* The header line carrying key, in guarded memory; sodium_free() it. */
static char *auth_header(enum sv_auth_style auth, const char *key)
{
    const char *prefix;
    size_t plen;
    size_t klen = strlen(key);
    char *line;

    switch (auth) {
    case SV_AUTH_TOKEN:
        prefix = "Authorization: Token ";
        break;
    case SV_AUTH_BEARER:
        prefix = "Authorization: Bearer ";
        break;
    case SV_AUTH_XI_KEY:
        prefix = "xi-api-key: ";
        break;
    default:
        return NULL;
    }
    plen = strlen(prefix);
    /* Built in place, so the key never lands in ordinary heap memory. */
    line = sodium_malloc(plen + klen + 1);
    if (line == NULL)
        abort(); /* out of guarded memory, as in sv_secret_dup() */
    memcpy(line, prefix, plen);
    memcpy(line + plen, key, klen);
    line[plen + klen] = '\0';
    return line;
}


int sv_keycheck_start(struct sv_httpc *c, const struct sv_provider_info *p,
                      const char *base_url, const char *key,
                      unsigned timeout_ms, sv_keycheck_cb *cb, void *arg,
                      struct sv_keycheck **out)
{
    struct sv_httpc_opts o = {0};
    struct sv_keycheck *k = NULL;
    const char *headers[3];
    char *header = NULL;
    char *url = NULL;
    int rc;

    if (!p->needs_key || p->auth == SV_AUTH_NONE || p->check_path == NULL)
        return -ENOTSUP;
    if (key == NULL || !key_ok(key) || cb == NULL)
        return -EINVAL;
    if (base_url == NULL)
        base_url = p->default_url;
    if (base_url == NULL)
        return -EINVAL;

    header = auth_header(p->auth, key);
    SV_ASSERT(header != NULL);
    url = check_url(p, base_url);
    k = sv_xcalloc(1, sizeof(*k));
    k->p = p;
    k->cb = cb;
    k->arg = arg;
    headers[0] = header;
    headers[1] = "Accept: application/json";
    headers[2] = NULL;
    o.method = "GET";
    o.url = url;
    o.headers = headers;
    o.timeout_ms = timeout_ms;
    o.connect_timeout_ms = timeout_ms;
    o.on_data = on_data;
    o.on_done = on_done;
    o.arg = k;
    rc = sv_httpc_start(c, &o, &k->req);
    if (rc < 0) {
        sv_log(SV_LOG_INFO, "keycheck: %s: cannot start: %s", p->id,
               strerror(-rc));
        free(k);
        goto out;
    }
    if (out != NULL)
        *out = k;

out:
    sodium_free(header); /* wipes it */
    free(url);
    return rc;
}


void sv_keycheck_cancel(struct sv_keycheck *k)
{
    if (k != NULL && k->req != NULL)
        sv_httpc_cancel(k->req);
}
