/*
 * ctl.c - sovereignctl, the administration command: organizations, API
 * keys and the vault's master key. It works on the same store file as
 * the daemon (SQLite in WAL mode lets both use it at once).
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "config/config.h"
#include "store/store.h"
#include "store/vault.h"
#include "util/log.h"


static void usage(FILE *f)
{
    fprintf(f,
            "usage: sovereignctl [--config FILE] COMMAND\n"
            "commands:\n"
            "  vault init            write a new master key file (mode 0600)\n"
            "  org create NAME       create an organization and its first "
            "API key\n"
            "  key create ORG_ID     create another API key (shown once)\n"
            "  key list ORG_ID       list key ids and creation times\n"
            "  key revoke KEY_ID     revoke a key\n");
}


static void print_json(json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(12));

    puts(text);
    free(text);
    json_decref(j);
}


static int org_create(struct sv_store *st, const char *name)
{
    char org_id[SV_ID_LEN];
    char key_id[SV_ID_LEN];
    char key[SV_API_KEY_LEN];
    int err;

    if (name[0] == '\0' || strlen(name) > 200) {
        fprintf(stderr, "sovereignctl: the name must be 1 to 200 bytes\n");
        return -EINVAL;
    }
    err = sv_store_org_create(st, name, org_id);
    if (err == 0)
        err = sv_store_apikey_create(st, org_id, key_id, key);
    if (err < 0)
        return err;
    print_json(json_pack("{s:s, s:s, s:s, s:s}", "id", org_id, "name", name,
                         "api_key_id", key_id, "api_key", key));
    sodium_memzero(key, sizeof(key));
    return 0;
}


static int key_create(struct sv_store *st, const char *org_id)
{
    char key_id[SV_ID_LEN];
    char key[SV_API_KEY_LEN];
    json_t *org = NULL;
    int err;

    err = sv_store_org_get(st, org_id, &org);
    if (err < 0) {
        fprintf(stderr, "sovereignctl: no organization %s\n", org_id);
        return err;
    }
    json_decref(org);
    err = sv_store_apikey_create(st, org_id, key_id, key);
    if (err < 0)
        return err;
    print_json(json_pack("{s:s, s:s}", "id", key_id, "api_key", key));
    sodium_memzero(key, sizeof(key));
    return 0;
}


static int key_list(struct sv_store *st, const char *org_id)
{
    json_t *keys = NULL;
    int err = sv_store_apikey_list(st, org_id, &keys);

    if (err < 0)
        return err;
    print_json(json_pack("{s:o}", "keys", keys));
    return 0;
}


static int key_revoke(struct sv_store *st, const char *key_id)
{
    int err = sv_store_apikey_revoke(st, key_id);

    if (err == -ENOENT)
        fprintf(stderr, "sovereignctl: no live key %s\n", key_id);
    if (err == 0)
        print_json(json_pack("{s:b, s:s}", "revoked", 1, "id", key_id));
    return err;
}


static int run(struct sv_config *cfg, int argc, char **argv)
{
    struct sv_store *st = NULL;
    int err;

    if (argc == 2 && strcmp(argv[0], "vault") == 0 &&
        strcmp(argv[1], "init") == 0) {
        err = sv_vault_create_file(cfg->master_key_file);
        if (err == -EEXIST) {
            fprintf(stderr, "sovereignctl: %s exists; not overwritten\n",
                    cfg->master_key_file);
        } else if (err < 0) {
            fprintf(stderr, "sovereignctl: cannot write %s: %s\n",
                    cfg->master_key_file, strerror(-err));
        } else {
            printf("wrote a new master key to %s\n", cfg->master_key_file);
        }
        return err;
    }
    if (argc != 3) {
        usage(stderr);
        return -EINVAL;
    }

    err = sv_store_open(&st, cfg->store_path);
    if (err < 0) {
        fprintf(stderr, "sovereignctl: cannot open the store %s: %s\n",
                cfg->store_path, strerror(-err));
        return err;
    }
    if (strcmp(argv[0], "org") == 0 && strcmp(argv[1], "create") == 0) {
        err = org_create(st, argv[2]);
    } else if (strcmp(argv[0], "key") == 0 && strcmp(argv[1], "create") == 0) {
        err = key_create(st, argv[2]);
    } else if (strcmp(argv[0], "key") == 0 && strcmp(argv[1], "list") == 0) {
        err = key_list(st, argv[2]);
    } else if (strcmp(argv[0], "key") == 0 && strcmp(argv[1], "revoke") == 0) {
        err = key_revoke(st, argv[2]);
    } else {
        usage(stderr);
        err = -EINVAL;
    }
    sv_store_free(st);
    return err;
}


int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = SV_CONFIG_DEFAULT_PATH;
    struct sv_config *cfg = NULL;
    char err[512];
    int rc;
    int c;

    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    sv_log_init(SV_LOG_WARN);
    if (sodium_init() < 0)
        return 1;
    if (sv_config_load(&cfg, path, err, sizeof(err)) < 0) {
        fprintf(stderr, "sovereignctl: %s\n", err);
        return 1;
    }
    rc = run(cfg, argc - optind, argv + optind);
    sv_config_free(cfg);
    return rc < 0 ? 1 : 0;
}
