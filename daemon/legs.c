/*
 * legs.c - provider and key resolution for a call's three legs (see
 * legs.h).
 *
 * Loop thread only: it reads the store and opens vault secrets on the
 * loop, as the session start always did.
 *
 * SPDX-License-Identifier: MIT
 */
#include "daemon/legs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "daemon/daemon.h"
#include "daemon/server.h"
#include "providers/registry.h"
#include "store/store.h"
#include "store/vault.h"
#include "util/log.h"
#include "util/secret.h"

static const char *const leg_configs[SV_LEG_COUNT] = {
    "stt_config",
    "llm_config",
    "tts_config",
};


/* Picks the key for one leg: the organization's, else the platform's. */
static int resolve_leg(struct sv_daemon *d, const char *org_id,
                       json_t *assistant, const char *cfg_name,
                       struct sv_call_leg *leg, char *why, size_t why_len)
{
    const char *name = json_string_value(
        json_object_get(json_object_get(assistant, cfg_name), "provider"));
    const struct sv_provider_info *p = name ? sv_provider_find(name) : NULL;
    const struct sv_provider_conf *pc;
    char secret_id[SV_ID_LEN];
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    char *key = NULL;
    int err;

    memset(leg, 0, sizeof(*leg));
    if (p == NULL) {
        snprintf(why, why_len, "%s names no known provider", cfg_name);
        return -EINVAL;
    }
    leg->info = p;
    leg->env.loop = d->loop;
    leg->env.ws_vhost = sv_server_client_vhost(d->server);
    leg->env.httpc = d->httpc;
    if (!p->needs_key)
        return 0;

    pc = &d->cfg->provider[sv_provider_index(p)];
    leg->env.base_url = pc->url;
    leg->env.timeout_ms = pc->timeout_ms;
    err = sv_store_secret_get(d->store, org_id, p->id, secret_id, &ct, &ct_len);
    if (err == 0) {
        err =
            sv_vault_open(d->vault, secret_id, org_id, p->id, ct, ct_len, &key);
        free(ct);
        if (err < 0) {
            sv_log(SV_LOG_ERR,
                   "legs: [org %s] the stored %s key (secret %s) does not "
                   "open: %s",
                   org_id, p->id, secret_id, strerror(-err));
            snprintf(why, why_len,
                     "the organization's %s key cannot be read; store it "
                     "again",
                     p->name);
            return err;
        }
        leg->env.key = key;
        leg->env.is_byok = true;
        return 0;
    }
    if (err != -ENOENT) {
        snprintf(why, why_len, "store failure");
        return err;
    }
    if (pc->api_key != NULL) {
        leg->env.key = sv_secret_dup(pc->api_key, strlen(pc->api_key));
        return 0;
    }
    snprintf(why, why_len,
             "no %s key: the organization has none (POST /api/v1/byok) and "
             "the daemon has no platform key",
             p->name);
    return -ENOKEY;
}


int sv_legs_resolve(struct sv_daemon *d, const char *org_id, json_t *assistant,
                    struct sv_call_leg legs[SV_LEG_COUNT], char *why,
                    size_t why_len)
{
    int err;

    memset(legs, 0, SV_LEG_COUNT * sizeof(legs[0]));
    for (size_t i = 0; i < SV_LEG_COUNT; i++) {
        err = resolve_leg(d, org_id, assistant, leg_configs[i], &legs[i], why,
                          why_len);
        if (err < 0) {
            sv_legs_free(legs);
            return err;
        }
    }
    return 0;
}


void sv_legs_free(struct sv_call_leg legs[SV_LEG_COUNT])
{
    for (size_t i = 0; i < SV_LEG_COUNT; i++) {
        sv_secret_free((char *)legs[i].env.key);
        legs[i].env.key = NULL;
    }
}
