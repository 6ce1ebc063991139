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

/*
 * Opens (creating if needed, with mode 0600) and migrates the database at
 * path, on the calling thread, which then owns it. Returns -EIO when the
 * database cannot be opened or migrated, -EPROTO when it was written by
 * a newer daemon (a schema version this one does not know).
 */
int sv_store_open(struct sv_store **out, const char *path);
/* Closes the database; NULL is a no-op. The owner thread only. */
void sv_store_free(struct sv_store *st);

/* Schema version the store is at after sv_store_open(). */
int sv_store_schema_version(struct sv_store *st);

/*
 * Writes the WAL back into the database file and syncs it. Opens its own
 * connection, so it may run on any thread, concurrently with the owner.
 * It never waits for the owner: when a reader or writer is busy it copies
 * what it can (a passive checkpoint) and leaves the WAL for next time.
 * Returns 0, -ENOENT when there is no database at path, or -EIO.
 */
int sv_store_checkpoint(const char *path);

/* ---- Organizations and API keys ---- */

/* Creates an organization and writes its new id into org_id. */
int sv_store_org_create(struct sv_store *st, const char *name,
                        char org_id[SV_ID_LEN]);
/*
 * 0 when the organization exists, -ENOENT otherwise. When out is not NULL
 * it gets a new object {"id", "name", "created_at"}.
 */
int sv_store_org_get(struct sv_store *st, const char *org_id, json_t **out);

/*
 * Creates a random API key for org_id: "sv_" and 32 random bytes in
 * unpadded base64url. The key (shown once) goes to key[SV_API_KEY_LEN];
 * only its BLAKE2b-256 hash is stored. -ENOENT for an unknown org.
 */
int sv_store_apikey_create(struct sv_store *st, const char *org_id,
                           char key_id[SV_ID_LEN], char key[SV_API_KEY_LEN]);
/*
 * Finds the organization of a presented key, comparing in constant time.
 * -ENOENT for an unknown, revoked or malformed key (the last without a
 * database lookup).
 */
int sv_store_apikey_verify(struct sv_store *st, const char *key,
                           char org_id[SV_ID_LEN], char key_id[SV_ID_LEN]);
/* New JSON array of {"id", "created_at"} for org_id's live keys. */
int sv_store_apikey_list(struct sv_store *st, const char *org_id, json_t **out);
/* Revokes a live key; -ENOENT when there is no live key key_id. */
int sv_store_apikey_revoke(struct sv_store *st, const char *key_id);

/* ---- Assistants ----
 * An assistant is a JSON object (the API's shape, without id and times),
 * stored whole. The store adds "id", "created_at" and "updated_at" to
 * what it returns.
 */

/*
 * Creates; writes the new id into id. doc is borrowed and must be an
 * object (-EINVAL otherwise); any "id", "created_at" or "updated_at" in
 * it is dropped. -ENOENT for an unknown org.
 */
int sv_store_assistant_create(struct sv_store *st, const char *org_id,
                              json_t *doc, char id[SV_ID_LEN]);
/* Replaces the stored document of an existing assistant; as create. */
int sv_store_assistant_update(struct sv_store *st, const char *org_id,
                              const char *id, json_t *doc);
/* New reference to the assistant, or -ENOENT (also for another org's). */
int sv_store_assistant_get(struct sv_store *st, const char *org_id,
                           const char *id, json_t **out);
/* New JSON array, oldest first. */
int sv_store_assistant_list(struct sv_store *st, const char *org_id,
                            json_t **out);
/* -ENOENT when org_id has no assistant id. */
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
/* -ENOENT when org_id has no secret for provider. */
int sv_store_secret_delete(struct sv_store *st, const char *org_id,
                           const char *provider);
/* New JSON object provider -> secret id for the providers that have one. */
int sv_store_secret_ids(struct sv_store *st, const char *org_id, json_t **out);

/* ---- Calls and usage ----
 * A call's status is "connecting", "in-progress", "ended" or "failed";
 * its direction is free text ("web", "inbound", "outbound", ...). Times
 * are ISO-8601 UTC text ("2026-12-03T10:00:00Z").
 */

/*
 * Records a new call of org_id in status "connecting" and writes its id.
 * assistant_id may be NULL (a call without a stored assistant).
 */
int sv_store_call_create(struct sv_store *st, const char *org_id,
                         const char *assistant_id, const char *direction,
                         char id[SV_ID_LEN]);
/*
 * Moves a call to status. "in-progress" sets started_at, "ended" and
 * "failed" set ended_at, each only the first time. end_reason and error
 * replace the stored ones when not NULL. -EINVAL for an unknown status,
 * -ENOENT when org_id has no call id.
 */
int sv_store_call_update_status(struct sv_store *st, const char *org_id,
                                const char *id, const char *status,
                                const char *end_reason, const char *error);
/*
 * Appends one transcript message ("user" or "assistant", -EINVAL
 * otherwise) to the call; -ENOENT for an unknown call.
 */
int sv_store_call_add_message(struct sv_store *st, const char *call_id,
                              const char *role, const char *content);
/*
 * New Call object as the API returns it: id, status, direction, agent_id,
 * agent_name, end_reason, error, started_at, ended_at, duration_seconds,
 * messages, created_at, updated_at, the API's other fields (null until
 * something records them) and "usage": [{"provider", "metric", "amount",
 * "paid_by"}] summed per provider, metric and payer. -ENOENT for another
 * org's call.
 */
int sv_store_call_get(struct sv_store *st, const char *org_id, const char *id,
                      json_t **out);
/*
 * Newest first: a new array of up to limit Call objects after skipping
 * offset, and the number of calls matching the filters in *total.
 * status, start_date and end_date may be NULL; the dates are compared as
 * text with created_at, both inclusive, so pass full timestamps.
 */
int sv_store_call_list(struct sv_store *st, const char *org_id, int limit,
                       int offset, const char *status, const char *start_date,
                       const char *end_date, json_t **calls, int *total);
/*
 * Records amount of metric ("stt_seconds", "llm_tokens_in",
 * "llm_tokens_out", "tts_characters", "emails") used from provider, paid
 * by "byok" or "platform". call_id may be NULL for usage outside a call.
 * -EINVAL for another payer or a negative amount, -ENOENT for an unknown
 * call or org.
 */
int sv_store_usage_add(struct sv_store *st, const char *call_id,
                       const char *org_id, const char *provider,
                       const char *metric, double amount, const char *paid_by);
/*
 * Ends the calls a previous run left "connecting" or "in-progress" (it
 * crashed or was killed): status "ended", end_reason "daemon-restart".
 * Call once at start, before any new call. Returns 0 or -EIO.
 */
int sv_store_calls_fail_unfinished(struct sv_store *st);

#endif
