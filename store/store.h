/*
 * store.h - the daemon's durable state, behind one interface.
 *
 * Organizations, API key hashes, assistants, sealed BYOK secrets, calls
 * and usage. The SQLite backend keeps its SQL inside store.c; nothing
 * else sees a statement, so another backend can replace it.
 *
 * Every write is one transaction: after a crash or a kill the store holds
 * the previous state or the new one, never half. The database runs in WAL
 * mode with synchronous=NORMAL, so a commit is durable against a killed
 * process without an fsync on the caller's thread; checkpoints (which do
 * sync) run from sv_store_checkpoint(), meant for a worker thread.
 *
 * One struct sv_store belongs to one thread (the loop thread). Errors are
 * negative errno values: -ENOENT not found, -EEXIST conflict, -EIO for a
 * database failure (logged once here).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_STORE_H
#define SV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/misc.h"

struct sv_store;

/* Length of an API key as text, with its NUL: "sv_" + 43 base64url. */
#define SV_API_KEY_LEN 47

/* Opens (creating if needed) and migrates the database at path. */
int sv_store_open(struct sv_store **out, const char *path);
void sv_store_free(struct sv_store *st);

/* Schema version the store is at after sv_store_open(). */
int sv_store_schema_version(struct sv_store *st);

/*
 * Writes the WAL back into the database file and syncs it. Opens its own
 * connection, so it may run on any thread, concurrently with the owner.
 */
int sv_store_checkpoint(const char *path);

/* ---- Organizations and API keys ---- */

int sv_store_org_create(struct sv_store *st, const char *name,
                        char org_id[SV_ID_LEN]);
/* 0 when the organization exists, -ENOENT otherwise. */
int sv_store_org_get(struct sv_store *st, const char *org_id, json_t **out);

/*
 * Creates a random API key for org_id. The key (shown once) goes to
 * key[SV_API_KEY_LEN]; only its hash is stored.
 */
int sv_store_apikey_create(struct sv_store *st, const char *org_id,
                           char key_id[SV_ID_LEN], char key[SV_API_KEY_LEN]);
/* Finds the organization of a presented key, comparing in constant time. */
int sv_store_apikey_verify(struct sv_store *st, const char *key,
                           char org_id[SV_ID_LEN], char key_id[SV_ID_LEN]);
/* New JSON array of {"id", "created_at"} for org_id's live keys. */
int sv_store_apikey_list(struct sv_store *st, const char *org_id, json_t **out);
int sv_store_apikey_revoke(struct sv_store *st, const char *key_id);

/* ---- Assistants ----
 * An assistant is a JSON object (the API's shape, without id and times),
 * stored whole. The store adds "id", "created_at" and "updated_at" to
 * what it returns.
 */

/* Creates; writes the new id into id. doc is borrowed. */
int sv_store_assistant_create(struct sv_store *st, const char *org_id,
                              json_t *doc, char id[SV_ID_LEN]);
/* Replaces the stored document of an existing assistant. */
int sv_store_assistant_update(struct sv_store *st, const char *org_id,
                              const char *id, json_t *doc);
/* New reference to the assistant, or -ENOENT (also for another org's). */
int sv_store_assistant_get(struct sv_store *st, const char *org_id,
                           const char *id, json_t **out);
/* New JSON array, oldest first. */
int sv_store_assistant_list(struct sv_store *st, const char *org_id,
                            json_t **out);
int sv_store_assistant_delete(struct sv_store *st, const char *org_id,
                              const char *id);

/* ---- BYOK secrets (already sealed by the vault) ---- */

/*
 * Stores the sealed secret as org_id's key for provider, replacing any
 * previous one in the same transaction.
 */
int sv_store_secret_put(struct sv_store *st, const char *org_id,
                        const char *provider, const char *secret_id,
                        const uint8_t *ct, size_t ct_len);
/* Fetches org's sealed secret for provider: *ct is malloc'd. -ENOENT. */
int sv_store_secret_get(struct sv_store *st, const char *org_id,
                        const char *provider, char secret_id[SV_ID_LEN],
                        uint8_t **ct, size_t *ct_len);
int sv_store_secret_delete(struct sv_store *st, const char *org_id,
                           const char *provider);
/* New JSON object provider -> secret id for the providers that have one. */
int sv_store_secret_ids(struct sv_store *st, const char *org_id, json_t **out);

#endif
