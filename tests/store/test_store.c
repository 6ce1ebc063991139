/*
 * test_store.c - the SQLite store: schema and migration, organizations,
 * API keys, assistants, sealed secrets, calls and usage, checkpoints
 * from another thread, a killed writer, and no plaintext at rest.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "check.h"
#include "store/store.h"
#include "store/vault.h"
#include "tmpdir.h"
#include "util/alloc.h"
#include "util/secret.h"

/* A store in its own scratch directory. */
struct fixture {
    char dir[256];
    char *path; /* owned */
    struct sv_store *st;
    char org[SV_ID_LEN];
};


static void fixture_init(struct fixture *f)
{
    CHECK(sodium_init() >= 0);
    tmp_make(f->dir, sizeof(f->dir));
    f->path = sv_xasprintf("%s/sovereignd.db", f->dir);
    CHECK_EQ(sv_store_open(&f->st, f->path), 0);
    CHECK_EQ(sv_store_org_create(f->st, "Acme Test Org", f->org), 0);
}


static void fixture_close(struct fixture *f)
{
    sv_store_free(f->st);
    tmp_remove(f->dir);
    free(f->path);
}


/* Runs sql (one row, one column) on a separate connection: an integer. */
static long long raw_int(const char *path, const char *sql)
{
    sqlite3_stmt *s = NULL;
    sqlite3 *db = NULL;
    long long v;

    CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
             SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    CHECK_EQ(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    CHECK_EQ(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);

    return v;
}


/* As raw_int, for a text result; the caller frees it. */
static char *raw_text(const char *path, const char *sql)
{
    sqlite3_stmt *s = NULL;
    sqlite3 *db = NULL;
    const char *t;
    char *v;

    CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
             SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    CHECK_EQ(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    CHECK_EQ(sqlite3_step(s), SQLITE_ROW);
    t = (const char *)sqlite3_column_text(s, 0);
    v = sv_xstrdup(t != NULL ? t : "(null)");
    sqlite3_finalize(s);
    sqlite3_close(db);

    return v;
}


static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
             SQLITE_OK);
    CHECK_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}


static const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}


static bool jnull(json_t *obj, const char *key)
{
    return json_is_null(json_object_get(obj, key));
}


static void new_assistant(struct fixture *f, const char *org, const char *name,
                          char id[SV_ID_LEN])
{
    json_t *doc = json_pack("{s:s, s:s}", "name", name, "first_message", "Hi");

    CHECK_EQ(sv_store_assistant_create(f->st, org, doc, id), 0);
    json_decref(doc);
}


SV_TEST(open_fresh)
{
    struct fixture f;
    struct stat sb;
    char *mode;

    umask(022);
    fixture_init(&f);
    CHECK_EQ(sv_store_schema_version(f.st), 1);
    CHECK_EQ(raw_int(f.path, "PRAGMA user_version"), 1);
    mode = raw_text(f.path, "PRAGMA journal_mode");
    CHECK_STR(mode, "wal");
    free(mode);
    CHECK_EQ(raw_int(f.path, "SELECT COUNT(*) FROM sqlite_master"
                             " WHERE type = 'table' AND name IN ('orgs',"
                             " 'api_keys', 'assistants', 'secrets', 'calls',"
                             " 'call_messages', 'usage')"),
             7);
    /* The database holds key hashes: private even under umask 022. */
    CHECK_EQ(stat(f.path, &sb), 0);
    CHECK_EQ(sb.st_mode & 0777, 0600);
    fixture_close(&f);
}


SV_TEST(reopen)
{
    struct fixture f;
    char asst[SV_ID_LEN];
    json_t *doc = NULL;

    fixture_init(&f);
    new_assistant(&f, f.org, "Kept", asst);
    sv_store_free(f.st);

    CHECK_EQ(sv_store_open(&f.st, f.path), 0);
    CHECK_EQ(sv_store_schema_version(f.st), 1);
    CHECK_EQ(sv_store_org_get(f.st, f.org, NULL), 0);
    CHECK_EQ(sv_store_assistant_get(f.st, f.org, asst, &doc), 0);
    CHECK_STR(jstr(doc, "name"), "Kept");
    json_decref(doc);
    fixture_close(&f);
}


SV_TEST(newer_schema)
{
    struct fixture f;

    fixture_init(&f);
    sv_store_free(f.st);
    raw_exec(f.path, "PRAGMA user_version = 99");
    f.st = NULL;
    CHECK_EQ(sv_store_open(&f.st, f.path), -EPROTO);
    CHECK(f.st == NULL);
    /* Refusing changed nothing. */
    CHECK_EQ(raw_int(f.path, "PRAGMA user_version"), 99);
    fixture_close(&f);
}


SV_TEST(org)
{
    struct fixture f;
    char other[SV_ID_LEN];
    json_t *org = NULL;

    fixture_init(&f);
    CHECK(sv_uuid_valid(f.org));
    CHECK_EQ(sv_store_org_get(f.st, f.org, &org), 0);
    CHECK_STR(jstr(org, "id"), f.org);
    CHECK_STR(jstr(org, "name"), "Acme Test Org");
    CHECK_EQ(strlen(jstr(org, "created_at")), SV_TIME_LEN - 1);
    json_decref(org);

    CHECK_EQ(sv_store_org_create(f.st, "Second", other), 0);
    CHECK(strcmp(other, f.org) != 0);
    CHECK_EQ(
        sv_store_org_get(f.st, "00000000-0000-4000-8000-000000000000", &org),
        -ENOENT);
    fixture_close(&f);
}


SV_TEST(apikey)
{
    struct fixture f;
    char key[SV_API_KEY_LEN];
    char key2[SV_API_KEY_LEN];
    char bad[SV_API_KEY_LEN + 8];
    char id[SV_ID_LEN];
    char id2[SV_ID_LEN];
    char org[SV_ID_LEN];
    char kid[SV_ID_LEN];
    json_t *list = NULL;
    char *sql;

    fixture_init(&f);
    CHECK_EQ(sv_store_apikey_create(f.st, f.org, id, key), 0);
    CHECK_EQ(strlen(key), 46);
    CHECK(strncmp(key, "sv_", 3) == 0);
    for (size_t i = 3; i < 46; i++)
        CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789-_",
                     key[i]) != NULL);
    CHECK_EQ(sv_store_apikey_create(f.st, f.org, id2, key2), 0);
    CHECK(strcmp(key, key2) != 0);

    CHECK_EQ(sv_store_apikey_verify(f.st, key, org, kid), 0);
    CHECK_STR(org, f.org);
    CHECK_STR(kid, id);
    CHECK_EQ(sv_store_apikey_verify(f.st, key2, org, kid), 0);
    CHECK_STR(kid, id2);

    /* Only the 32-byte hash is stored, never the key. */
    CHECK_EQ(raw_int(f.path, "SELECT COUNT(*) FROM api_keys"
                             " WHERE length(hash) = 32"),
             2);
    sql = sv_xasprintf("SELECT COUNT(*) FROM api_keys WHERE hash = '%s'"
                       " OR CAST(hash AS TEXT) = '%s'",
                       key, key);
    CHECK_EQ(raw_int(f.path, sql), 0);
    free(sql);

    CHECK_EQ(sv_store_apikey_list(f.st, f.org, &list), 0);
    CHECK_EQ(json_array_size(list), 2);
    CHECK_STR(jstr(json_array_get(list, 0), "id"), id);
    CHECK_EQ(json_object_size(json_array_get(list, 0)), 2);
    CHECK(jstr(json_array_get(list, 0), "created_at") != NULL);
    json_decref(list);

    CHECK_EQ(sv_store_apikey_revoke(f.st, id), 0);
    CHECK_EQ(sv_store_apikey_verify(f.st, key, org, kid), -ENOENT);
    CHECK_EQ(sv_store_apikey_verify(f.st, key2, org, kid), 0);
    CHECK_EQ(sv_store_apikey_revoke(f.st, id), -ENOENT);
    CHECK_EQ(sv_store_apikey_list(f.st, f.org, &list), 0);
    CHECK_EQ(json_array_size(list), 1);
    CHECK_STR(jstr(json_array_get(list, 0), "id"), id2);
    json_decref(list);

    /* Malformed or unknown keys all fail the same way. */
    CHECK_EQ(sv_store_apikey_verify(f.st, "", org, kid), -ENOENT);
    CHECK_EQ(sv_store_apikey_verify(f.st, "sv_", org, kid), -ENOENT);
    snprintf(bad, sizeof(bad), "%.45s", key2);
    CHECK_EQ(sv_store_apikey_verify(f.st, bad, org, kid), -ENOENT);
    snprintf(bad, sizeof(bad), "%sA", key2);
    CHECK_EQ(sv_store_apikey_verify(f.st, bad, org, kid), -ENOENT);
    snprintf(bad, sizeof(bad), "sk_%s", key2 + 3);
    CHECK_EQ(sv_store_apikey_verify(f.st, bad, org, kid), -ENOENT);
    snprintf(bad, sizeof(bad), "%s", key2);
    bad[20] = bad[20] == 'A' ? 'B' : 'A';
    CHECK_EQ(sv_store_apikey_verify(f.st, bad, org, kid), -ENOENT);
    bad[20] = '=';
    CHECK_EQ(sv_store_apikey_verify(f.st, bad, org, kid), -ENOENT);

    /* A key for an organization that does not exist is refused. */
    CHECK_EQ(sv_store_apikey_create(
                 f.st, "00000000-0000-4000-8000-000000000000", id, key),
             -ENOENT);
    fixture_close(&f);
}


SV_TEST(assistant)
{
    struct fixture f;
    char id[SV_ID_LEN];
    char id2[SV_ID_LEN];
    char id3[SV_ID_LEN];
    json_t *doc;
    json_t *got = NULL;
    json_t *list = NULL;
    char *text;
    char *sql;

    fixture_init(&f);
    doc = json_pack("{s:s, s:s, s:s, s:{s:s, s:f}}", "name", "Front desk", "id",
                    "bogus", "first_message", "Hallo!", "llm_config", "model",
                    "gpt-4o", "temperature", 0.5);
    CHECK_EQ(sv_store_assistant_create(f.st, f.org, doc, id), 0);
    CHECK(sv_uuid_valid(id));
    /* The caller's document is borrowed and left alone. */
    CHECK_STR(jstr(doc, "id"), "bogus");

    CHECK_EQ(sv_store_assistant_get(f.st, f.org, id, &got), 0);
    CHECK_STR(jstr(got, "id"), id);
    CHECK_STR(jstr(got, "name"), "Front desk");
    CHECK_STR(jstr(got, "first_message"), "Hallo!");
    CHECK_STR(jstr(json_object_get(got, "llm_config"), "model"), "gpt-4o");
    CHECK_EQ(strlen(jstr(got, "created_at")), SV_TIME_LEN - 1);
    CHECK_EQ(strlen(jstr(got, "updated_at")), SV_TIME_LEN - 1);
    json_decref(got);

    /* Stored compact and without the fields the store owns. */
    sql = sv_xasprintf("SELECT doc FROM assistants WHERE id = '%s'", id);
    text = raw_text(f.path, sql);
    CHECK(strchr(text, '\n') == NULL);
    CHECK(strstr(text, "\"name\":\"Front desk\"") != NULL);
    CHECK(strstr(text, "bogus") == NULL);
    CHECK(strstr(text, "created_at") == NULL);
    free(text);
    free(sql);

    json_object_set_new(doc, "name", json_string("Back office"));
    CHECK_EQ(sv_store_assistant_update(f.st, f.org, id, doc), 0);
    CHECK_EQ(sv_store_assistant_get(f.st, f.org, id, &got), 0);
    CHECK_STR(jstr(got, "name"), "Back office");
    CHECK_STR(jstr(got, "id"), id);
    json_decref(got);

    new_assistant(&f, f.org, "Second", id2);
    new_assistant(&f, f.org, "Third", id3);
    CHECK_EQ(sv_store_assistant_list(f.st, f.org, &list), 0);
    CHECK_EQ(json_array_size(list), 3);
    CHECK_STR(jstr(json_array_get(list, 0), "id"), id);
    CHECK_STR(jstr(json_array_get(list, 1), "id"), id2);
    CHECK_STR(jstr(json_array_get(list, 2), "id"), id3);
    CHECK_STR(jstr(json_array_get(list, 2), "name"), "Third");
    json_decref(list);

    CHECK_EQ(sv_store_assistant_delete(f.st, f.org, id2), 0);
    CHECK_EQ(sv_store_assistant_get(f.st, f.org, id2, &got), -ENOENT);
    CHECK_EQ(sv_store_assistant_delete(f.st, f.org, id2), -ENOENT);
    CHECK_EQ(sv_store_assistant_update(f.st, f.org, id2, doc), -ENOENT);
    CHECK_EQ(sv_store_assistant_list(f.st, f.org, &list), 0);
    CHECK_EQ(json_array_size(list), 2);
    json_decref(list);

    /* Refused input stores nothing. */
    json_decref(doc);
    doc = json_array();
    CHECK_EQ(sv_store_assistant_create(f.st, f.org, doc, id2), -EINVAL);
    json_decref(doc);
    doc = json_object();
    CHECK_EQ(sv_store_assistant_create(
                 f.st, "00000000-0000-4000-8000-000000000000", doc, id2),
             -ENOENT);
    json_decref(doc);
    CHECK_EQ(raw_int(f.path, "SELECT COUNT(*) FROM assistants"), 2);
    fixture_close(&f);
}


SV_TEST(isolation)
{
    struct fixture f;
    char other[SV_ID_LEN];
    char id[SV_ID_LEN];
    json_t *doc = json_pack("{s:s}", "name", "Intruder");
    json_t *got = NULL;
    json_t *list = NULL;

    fixture_init(&f);
    CHECK_EQ(sv_store_org_create(f.st, "Other", other), 0);
    new_assistant(&f, f.org, "Mine", id);

    CHECK_EQ(sv_store_assistant_get(f.st, other, id, &got), -ENOENT);
    CHECK_EQ(sv_store_assistant_update(f.st, other, id, doc), -ENOENT);
    CHECK_EQ(sv_store_assistant_delete(f.st, other, id), -ENOENT);
    CHECK_EQ(sv_store_assistant_list(f.st, other, &list), 0);
    CHECK_EQ(json_array_size(list), 0);
    json_decref(list);

    /* The owner's assistant is untouched by the attempts. */
    CHECK_EQ(sv_store_assistant_get(f.st, f.org, id, &got), 0);
    CHECK_STR(jstr(got, "name"), "Mine");
    json_decref(got);
    json_decref(doc);
    fixture_close(&f);
}


SV_TEST(secret)
{
    static const uint8_t ct1[] = {1, 2, 3, 4, 5, 0, 7};
    static const uint8_t ct2[] = {9, 8, 7};
    struct fixture f;
    char other[SV_ID_LEN];
    char sid1[SV_ID_LEN];
    char sid2[SV_ID_LEN];
    char sid3[SV_ID_LEN];
    char got_id[SV_ID_LEN];
    json_t *ids = NULL;
    uint8_t *ct = NULL;
    size_t ct_len = 0;

    fixture_init(&f);
    CHECK_EQ(sv_store_org_create(f.st, "Other", other), 0);
    sv_uuid(sid1);
    sv_uuid(sid2);
    sv_uuid(sid3);

    CHECK_EQ(sv_store_secret_put(f.st, f.org, "openai", sid1, ct1, sizeof(ct1)),
             0);
    CHECK_EQ(sv_store_secret_get(f.st, f.org, "openai", got_id, &ct, &ct_len),
             0);
    CHECK_STR(got_id, sid1);
    CHECK_EQ(ct_len, sizeof(ct1));
    CHECK(memcmp(ct, ct1, sizeof(ct1)) == 0);
    free(ct);

    /* Rotation replaces the row: one row, the new id and bytes. */
    CHECK_EQ(sv_store_secret_put(f.st, f.org, "openai", sid2, ct2, sizeof(ct2)),
             0);
    CHECK_EQ(raw_int(f.path, "SELECT COUNT(*) FROM secrets"), 1);
    CHECK_EQ(sv_store_secret_get(f.st, f.org, "openai", got_id, &ct, &ct_len),
             0);
    CHECK_STR(got_id, sid2);
    CHECK_EQ(ct_len, sizeof(ct2));
    CHECK(memcmp(ct, ct2, sizeof(ct2)) == 0);
    free(ct);

    CHECK_EQ(
        sv_store_secret_put(f.st, f.org, "deepgram", sid3, ct1, sizeof(ct1)),
        0);
    CHECK_EQ(sv_store_secret_ids(f.st, f.org, &ids), 0);
    CHECK_EQ(json_object_size(ids), 2);
    CHECK_STR(jstr(ids, "openai"), sid2);
    CHECK_STR(jstr(ids, "deepgram"), sid3);
    json_decref(ids);

    /* Another organization sees none of it. */
    CHECK_EQ(sv_store_secret_get(f.st, other, "openai", got_id, &ct, &ct_len),
             -ENOENT);
    CHECK_EQ(sv_store_secret_delete(f.st, other, "openai"), -ENOENT);
    CHECK_EQ(sv_store_secret_ids(f.st, other, &ids), 0);
    CHECK_EQ(json_object_size(ids), 0);
    json_decref(ids);

    /* Reusing a secret id elsewhere is a conflict, and changes nothing. */
    CHECK_EQ(sv_store_secret_put(f.st, other, "openai", sid2, ct1, sizeof(ct1)),
             -EEXIST);
    CHECK_EQ(raw_int(f.path, "SELECT COUNT(*) FROM secrets"), 2);

    CHECK_EQ(sv_store_secret_delete(f.st, f.org, "openai"), 0);
    CHECK_EQ(sv_store_secret_get(f.st, f.org, "openai", got_id, &ct, &ct_len),
             -ENOENT);
    CHECK_EQ(sv_store_secret_delete(f.st, f.org, "openai"), -ENOENT);
    CHECK_EQ(sv_store_secret_ids(f.st, f.org, &ids), 0);
    CHECK_EQ(json_object_size(ids), 1);
    json_decref(ids);
    fixture_close(&f);
}


SV_TEST(call)
{
    struct fixture f;
    char other[SV_ID_LEN];
    char asst[SV_ID_LEN];
    char id[SV_ID_LEN];
    char bare[SV_ID_LEN];
    json_t *call = NULL;
    json_t *msgs;

    fixture_init(&f);
    CHECK_EQ(sv_store_org_create(f.st, "Other", other), 0);
    new_assistant(&f, f.org, "Receptionist", asst);
    CHECK_EQ(sv_store_call_create(f.st, f.org, asst, "web", id), 0);

    CHECK_EQ(sv_store_call_get(f.st, f.org, id, &call), 0);
    CHECK_STR(jstr(call, "id"), id);
    CHECK_STR(jstr(call, "status"), "connecting");
    CHECK_STR(jstr(call, "direction"), "web");
    CHECK_STR(jstr(call, "agent_id"), asst);
    CHECK_STR(jstr(call, "agent_name"), "Receptionist");
    CHECK(jnull(call, "started_at"));
    CHECK(jnull(call, "ended_at"));
    CHECK(jnull(call, "duration_seconds"));
    CHECK(jnull(call, "end_reason"));
    CHECK(jnull(call, "caller_phone"));
    CHECK(jnull(call, "summary"));
    CHECK_EQ(json_array_size(json_object_get(call, "messages")), 0);
    CHECK_EQ(json_array_size(json_object_get(call, "usage")), 0);
    CHECK(jstr(call, "created_at") != NULL);
    json_decref(call);

    CHECK_EQ(
        sv_store_call_update_status(f.st, f.org, id, "in-progress", NULL, NULL),
        0);
    CHECK_EQ(sv_store_call_add_message(f.st, id, "assistant", "Hallo!"), 0);
    CHECK_EQ(sv_store_call_add_message(f.st, id, "user", "Hi, a question."), 0);
    CHECK_EQ(sv_store_call_add_message(f.st, id, "system", "no"), -EINVAL);
    CHECK_EQ(sv_store_call_add_message(
                 f.st, "00000000-0000-4000-8000-000000000000", "user", "x"),
             -ENOENT);
    CHECK_EQ(sv_store_call_update_status(f.st, f.org, id, "ended",
                                         "customer-ended-call", NULL),
             0);
    /* A later update keeps the first end time and the reason. */
    CHECK_EQ(sv_store_call_update_status(f.st, f.org, id, "ended", NULL, NULL),
             0);

    CHECK_EQ(sv_store_call_get(f.st, f.org, id, &call), 0);
    CHECK_STR(jstr(call, "status"), "ended");
    CHECK_STR(jstr(call, "end_reason"), "customer-ended-call");
    CHECK(jnull(call, "error"));
    CHECK(jstr(call, "started_at") != NULL);
    CHECK(jstr(call, "ended_at") != NULL);
    CHECK(strcmp(jstr(call, "ended_at"), jstr(call, "started_at")) >= 0);
    CHECK(json_is_integer(json_object_get(call, "duration_seconds")));
    CHECK_INT(json_integer_value(json_object_get(call, "duration_seconds")), >=,
              0);
    msgs = json_object_get(call, "messages");
    CHECK_EQ(json_array_size(msgs), 2);
    CHECK_STR(jstr(json_array_get(msgs, 0), "role"), "assistant");
    CHECK_STR(jstr(json_array_get(msgs, 0), "content"), "Hallo!");
    CHECK_STR(jstr(json_array_get(msgs, 1), "role"), "user");
    CHECK_STR(jstr(json_array_get(msgs, 1), "content"), "Hi, a question.");
    json_decref(call);

    /* Another organization cannot see or change the call. */
    CHECK_EQ(sv_store_call_get(f.st, other, id, &call), -ENOENT);
    CHECK_EQ(
        sv_store_call_update_status(f.st, other, id, "failed", NULL, "nope"),
        -ENOENT);
    CHECK_EQ(sv_store_call_update_status(f.st, f.org, id, "paused", NULL, NULL),
             -EINVAL);

    /* A call without a stored assistant, failing before it started. */
    CHECK_EQ(sv_store_call_create(f.st, f.org, NULL, "inbound", bare), 0);
    CHECK_EQ(sv_store_call_update_status(f.st, f.org, bare, "failed",
                                         "pipeline-error", "stt: refused key"),
             0);
    CHECK_EQ(sv_store_call_get(f.st, f.org, bare, &call), 0);
    CHECK(jnull(call, "agent_id"));
    CHECK(jnull(call, "agent_name"));
    CHECK_STR(jstr(call, "status"), "failed");
    CHECK_STR(jstr(call, "error"), "stt: refused key");
    CHECK(jnull(call, "started_at"));
    CHECK(jstr(call, "ended_at") != NULL);
    CHECK(jnull(call, "duration_seconds"));
    json_decref(call);

    /* The history outlives the assistant; its name goes with it. */
    CHECK_EQ(sv_store_assistant_delete(f.st, f.org, asst), 0);
    CHECK_EQ(sv_store_call_get(f.st, f.org, id, &call), 0);
    CHECK_STR(jstr(call, "agent_id"), asst);
    CHECK(jnull(call, "agent_name"));
    json_decref(call);

    CHECK_EQ(sv_store_call_create(f.st, "00000000-0000-4000-8000-000000000000",
                                  NULL, "web", bare),
             -ENOENT);
    fixture_close(&f);
}


SV_TEST(call_list)
{
    struct fixture f;
    char other[SV_ID_LEN];
    char ids[5][SV_ID_LEN];
    json_t *calls = NULL;
    int total = -1;

    fixture_init(&f);
    CHECK_EQ(sv_store_org_create(f.st, "Other", other), 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(sv_store_call_create(f.st, f.org, NULL, "web", ids[i]), 0);
    CHECK_EQ(
        sv_store_call_update_status(f.st, f.org, ids[1], "ended", NULL, NULL),
        0);
    CHECK_EQ(
        sv_store_call_update_status(f.st, f.org, ids[3], "ended", NULL, NULL),
        0);

    /* Newest first, paged, with the total of all matches. */
    CHECK_EQ(
        sv_store_call_list(f.st, f.org, 2, 0, NULL, NULL, NULL, &calls, &total),
        0);
    CHECK_EQ(total, 5);
    CHECK_EQ(json_array_size(calls), 2);
    CHECK_STR(jstr(json_array_get(calls, 0), "id"), ids[4]);
    CHECK_STR(jstr(json_array_get(calls, 1), "id"), ids[3]);
    CHECK(json_is_array(json_object_get(json_array_get(calls, 0), "messages")));
    json_decref(calls);
    CHECK_EQ(
        sv_store_call_list(f.st, f.org, 2, 4, NULL, NULL, NULL, &calls, &total),
        0);
    CHECK_EQ(total, 5);
    CHECK_EQ(json_array_size(calls), 1);
    CHECK_STR(jstr(json_array_get(calls, 0), "id"), ids[0]);
    json_decref(calls);
    CHECK_EQ(sv_store_call_list(f.st, f.org, 10, 10, NULL, NULL, NULL, &calls,
                                &total),
             0);
    CHECK_EQ(total, 5);
    CHECK_EQ(json_array_size(calls), 0);
    json_decref(calls);

    CHECK_EQ(sv_store_call_list(f.st, f.org, 10, 0, "ended", NULL, NULL, &calls,
                                &total),
             0);
    CHECK_EQ(total, 2);
    CHECK_EQ(json_array_size(calls), 2);
    CHECK_STR(jstr(json_array_get(calls, 0), "id"), ids[3]);
    CHECK_STR(jstr(json_array_get(calls, 1), "id"), ids[1]);
    json_decref(calls);

    /* Date filters: everything is after 2000 and before 2999. */
    CHECK_EQ(sv_store_call_list(f.st, f.org, 10, 0, NULL,
                                "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z",
                                &calls, &total),
             0);
    CHECK_EQ(total, 5);
    json_decref(calls);
    CHECK_EQ(sv_store_call_list(f.st, f.org, 10, 0, NULL,
                                "2999-01-01T00:00:00Z", NULL, &calls, &total),
             0);
    CHECK_EQ(total, 0);
    CHECK_EQ(json_array_size(calls), 0);
    json_decref(calls);
    CHECK_EQ(sv_store_call_list(f.st, f.org, 10, 0, NULL, NULL,
                                "2000-01-01T00:00:00Z", &calls, &total),
             0);
    CHECK_EQ(total, 0);
    json_decref(calls);

    CHECK_EQ(sv_store_call_list(f.st, other, 10, 0, NULL, NULL, NULL, &calls,
                                &total),
             0);
    CHECK_EQ(total, 0);
    CHECK_EQ(json_array_size(calls), 0);
    json_decref(calls);
    CHECK_EQ(sv_store_call_list(f.st, f.org, -1, 0, NULL, NULL, NULL, &calls,
                                &total),
             -EINVAL);
    fixture_close(&f);
}


/* Finds the usage entry for provider and metric in a Call object. */
static json_t *find_usage(json_t *call, const char *provider,
                          const char *metric, const char *paid_by)
{
    json_t *usage = json_object_get(call, "usage");
    json_t *u;
    size_t i;

    json_array_foreach(usage, i, u)
    {
        if (strcmp(jstr(u, "provider"), provider) == 0 &&
            strcmp(jstr(u, "metric"), metric) == 0 &&
            strcmp(jstr(u, "paid_by"), paid_by) == 0)
            return u;
    }

    return NULL;
}


SV_TEST(usage)
{
    struct fixture f;
    char other[SV_ID_LEN];
    char id[SV_ID_LEN];
    json_t *call = NULL;
    json_t *u;

    fixture_init(&f);
    CHECK_EQ(sv_store_org_create(f.st, "Other", other), 0);
    CHECK_EQ(sv_store_call_create(f.st, f.org, NULL, "web", id), 0);
    CHECK_EQ(sv_store_usage_add(f.st, id, f.org, "openai", "llm_tokens_in", 120,
                                "byok"),
             0);
    CHECK_EQ(sv_store_usage_add(f.st, id, f.org, "openai", "llm_tokens_in", 30,
                                "byok"),
             0);
    CHECK_EQ(sv_store_usage_add(f.st, id, f.org, "deepgram", "stt_seconds",
                                12.5, "platform"),
             0);
    CHECK_EQ(sv_store_usage_add(f.st, NULL, f.org, "resend", "emails", 1,
                                "platform"),
             0);

    CHECK_EQ(sv_store_usage_add(f.st, id, f.org, "openai", "llm_tokens_in", 1,
                                "someone"),
             -EINVAL);
    CHECK_EQ(sv_store_usage_add(f.st, id, f.org, "openai", "llm_tokens_in", -1,
                                "byok"),
             -EINVAL);
    /* Usage cannot be booked on another organization's call. */
    CHECK_EQ(sv_store_usage_add(f.st, id, other, "openai", "llm_tokens_in", 1,
                                "byok"),
             -ENOENT);
    CHECK_EQ(raw_int(f.path, "SELECT COUNT(*) FROM usage"), 4);

    CHECK_EQ(sv_store_call_get(f.st, f.org, id, &call), 0);
    CHECK_EQ(json_array_size(json_object_get(call, "usage")), 2);
    u = find_usage(call, "openai", "llm_tokens_in", "byok");
    CHECK(u != NULL);
    CHECK(json_number_value(json_object_get(u, "amount")) == 150.0);
    u = find_usage(call, "deepgram", "stt_seconds", "platform");
    CHECK(u != NULL);
    CHECK(json_number_value(json_object_get(u, "amount")) == 12.5);
    json_decref(call);
    fixture_close(&f);
}


SV_TEST(fail_unfinished)
{
    struct fixture f;
    const char *want[4] = {"ended", "ended", "ended", "failed"};
    const char *reason[4] = {"daemon-restart", "daemon-restart", "hangup",
                             NULL};
    char ids[4][SV_ID_LEN];
    json_t *call = NULL;

    fixture_init(&f);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(sv_store_call_create(f.st, f.org, NULL, "web", ids[i]), 0);
    CHECK_EQ(sv_store_call_update_status(f.st, f.org, ids[1], "in-progress",
                                         NULL, NULL),
             0);
    CHECK_EQ(sv_store_call_update_status(f.st, f.org, ids[2], "ended", "hangup",
                                         NULL),
             0);
    CHECK_EQ(sv_store_call_update_status(f.st, f.org, ids[3], "failed", NULL,
                                         "boom"),
             0);
    sv_store_free(f.st);

    /* As at a restart: reopen, then end what the last run left open. */
    CHECK_EQ(sv_store_open(&f.st, f.path), 0);
    CHECK_EQ(sv_store_calls_fail_unfinished(f.st), 0);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(sv_store_call_get(f.st, f.org, ids[i], &call), 0);
        CHECK_STR(jstr(call, "status"), want[i]);
        if (reason[i] != NULL)
            CHECK_STR(jstr(call, "end_reason"), reason[i]);
        else
            CHECK(jnull(call, "end_reason"));
        CHECK(jstr(call, "ended_at") != NULL);
        json_decref(call);
    }
    CHECK_EQ(raw_int(f.path, "SELECT COUNT(*) FROM calls"
                             " WHERE status IN ('connecting', 'in-progress')"),
             0);
    fixture_close(&f);
}


struct ckpt_arg {
    const char *path;
    atomic_int runs;
    atomic_int failures;
    atomic_bool stop;
};


static void *ckpt_main(void *p)
{
    struct ckpt_arg *a = p;

    while (!atomic_load(&a->stop)) {
        if (sv_store_checkpoint(a->path) != 0)
            atomic_fetch_add(&a->failures, 1);
        atomic_fetch_add(&a->runs, 1);
    }

    return NULL;
}


SV_TEST(checkpoint_thread)
{
    struct ckpt_arg arg = {.runs = 0, .failures = 0, .stop = false};
    struct fixture f;
    char id[SV_ID_LEN];
    char name[32];
    json_t *list = NULL;
    pthread_t thread;
    struct stat sb;
    char *wal;
    int written = 0;

    fixture_init(&f);
    arg.path = f.path;
    wal = sv_xasprintf("%s-wal", f.path);
    CHECK_EQ(pthread_create(&thread, NULL, ckpt_main, &arg), 0);
    /* Keep writing until the checkpointer has run many times meanwhile. */
    while (written < 200 || atomic_load(&arg.runs) < 20) {
        snprintf(name, sizeof(name), "a%d", written);
        new_assistant(&f, f.org, name, id);
        written++;
    }
    atomic_store(&arg.stop, true);
    CHECK_EQ(pthread_join(thread, NULL), 0);
    CHECK_EQ(atomic_load(&arg.failures), 0);

    CHECK_EQ(sv_store_assistant_list(f.st, f.org, &list), 0);
    CHECK_EQ(json_array_size(list), (size_t)written);
    json_decref(list);

    /* With the owner idle, a checkpoint empties the WAL completely. */
    CHECK_EQ(stat(wal, &sb), 0);
    CHECK_EQ(sv_store_checkpoint(f.path), 0);
    CHECK_EQ(stat(wal, &sb), 0);
    CHECK_EQ(sb.st_size, 0);
    CHECK_EQ(raw_int(f.path, "SELECT COUNT(*) FROM assistants"), written);

    CHECK_EQ(sv_store_checkpoint("/nonexistent/dir/x.db"), -ENOENT);
    free(wal);
    fixture_close(&f);
}


/* Reads exactly len bytes; false at end of file. */
static bool read_full(int fd, char *buf, size_t len)
{
    size_t got = 0;
    ssize_t n;

    while (got < len) {
        n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }

    return true;
}


/* The child: writes assistants until killed, reporting each commit. */
static void crash_child(const char *path, const char *org, int fd)
{
    struct sv_store *st = NULL;
    char id[SV_ID_LEN];
    json_t *doc;

    if (sv_store_open(&st, path) != 0)
        _exit(3);
    for (int i = 0; i < 1000000; i++) {
        doc = json_pack("{s:s, s:i}", "name", "burst", "n", i);
        if (sv_store_assistant_create(st, org, doc, id) != 0)
            _exit(2);
        json_decref(doc);
        /* One write of under PIPE_BUF bytes: the parent never sees half. */
        if (write(fd, id, SV_ID_LEN) != SV_ID_LEN)
            _exit(4);
    }
    _exit(0);
}


SV_TEST(crash)
{
    struct fixture f;
    char(*ids)[SV_ID_LEN] = NULL;
    size_t count = 0;
    size_t cap = 0;
    json_t *list = NULL;
    json_t *doc = NULL;
    char *check;
    int fds[2];
    int status;
    pid_t pid;

    fixture_init(&f);
    sv_store_free(f.st);
    f.st = NULL;

    CHECK_EQ(pipe(fds), 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(f.path, f.org, fds[1]);
    }
    close(fds[1]);

    for (;;) {
        if (count == cap) {
            cap = cap == 0 ? 256 : cap * 2;
            ids = sv_xrealloc(ids, cap * SV_ID_LEN);
        }
        if (!read_full(fds[0], ids[count], SV_ID_LEN))
            break;
        CHECK(sv_uuid_valid(ids[count]));
        count++;
        /* Kill it mid-burst; keep reading what it reported before. */
        if (count == 300)
            CHECK_EQ(kill(pid, SIGKILL), 0);
    }
    close(fds[0]);
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status))
        SV_FAIL("child exited with %d before the kill",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    CHECK_EQ(WTERMSIG(status), SIGKILL);
    CHECK_INT(count, >=, 300);

    check = raw_text(f.path, "PRAGMA integrity_check");
    CHECK_STR(check, "ok");
    free(check);

    CHECK_EQ(sv_store_open(&f.st, f.path), 0);
    for (size_t i = 0; i < count; i++) {
        if (sv_store_assistant_get(f.st, f.org, ids[i], &doc) != 0)
            SV_FAIL("committed assistant %zu (%s) is missing", i, ids[i]);
        json_decref(doc);
    }
    /* At most the one write in flight at the kill may be extra. */
    CHECK_EQ(sv_store_assistant_list(f.st, f.org, &list), 0);
    CHECK_INT(json_array_size(list), >=, count);
    CHECK_INT(json_array_size(list), <=, count + 1);
    json_decref(list);
    free(ids);
    fixture_close(&f);
}


/* Fails when needle is in the database file, its WAL or its shm. */
static void check_not_at_rest(const char *path, const char *needle)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char file[512];

    for (size_t i = 0; i < 3; i++) {
        snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
        if (file_contains(file, needle, strlen(needle)))
            SV_FAIL("plaintext found in %s", file);
    }
}


/* True when needle is in the database file or its WAL. */
static bool at_rest(const char *path, const char *needle)
{
    char file[512];

    snprintf(file, sizeof(file), "%s-wal", path);

    return file_contains(path, needle, strlen(needle)) ||
           file_contains(file, needle, strlen(needle));
}


SV_TEST(plaintext_at_rest)
{
    const char *plain1 = "sk-proj-PlainTextMarker-111-abcdefghijklmnop";
    const char *plain2 = "sk-proj-PlainTextMarker-222-qrstuvwxyz0123";
    struct fixture f;
    struct sv_vault *vault = NULL;
    char key[SV_API_KEY_LEN];
    char key_id[SV_ID_LEN];
    char sid[SV_ID_LEN];
    char err[256] = "";
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    char *plain = NULL;
    char *key_path;

    fixture_init(&f);
    key_path = sv_xasprintf("%s/master.key", f.dir);
    CHECK_EQ(sv_vault_create_file(key_path), 0);
    CHECK_EQ(sv_vault_load(&vault, key_path, err, sizeof(err)), 0);

    sv_uuid(sid);
    CHECK_EQ(sv_vault_seal(vault, sid, f.org, "openai", plain1, strlen(plain1),
                           &ct, &ct_len),
             0);
    CHECK_EQ(sv_store_secret_put(f.st, f.org, "openai", sid, ct, ct_len), 0);
    free(ct);
    CHECK_EQ(sv_store_apikey_create(f.st, f.org, key_id, key), 0);

    /* The scan does find what is stored in the clear (the org's name). */
    CHECK(at_rest(f.path, "Acme Test Org"));
    check_not_at_rest(f.path, plain1);
    check_not_at_rest(f.path, key);

    /* Rotate, checkpoint, and look again: neither key is at rest. */
    sv_uuid(sid);
    CHECK_EQ(sv_vault_seal(vault, sid, f.org, "openai", plain2, strlen(plain2),
                           &ct, &ct_len),
             0);
    CHECK_EQ(sv_store_secret_put(f.st, f.org, "openai", sid, ct, ct_len), 0);
    free(ct);
    CHECK_EQ(sv_store_checkpoint(f.path), 0);
    check_not_at_rest(f.path, plain1);
    check_not_at_rest(f.path, plain2);
    check_not_at_rest(f.path, key);

    /* And what is stored still opens to the current key. */
    CHECK_EQ(sv_store_secret_get(f.st, f.org, "openai", sid, &ct, &ct_len), 0);
    CHECK_EQ(sv_vault_open(vault, sid, f.org, "openai", ct, ct_len, &plain), 0);
    CHECK_STR(plain, plain2);
    sv_secret_free(plain);
    free(ct);

    sv_store_free(f.st);
    f.st = NULL;
    check_not_at_rest(f.path, plain1);
    check_not_at_rest(f.path, plain2);
    check_not_at_rest(f.path, key);
    CHECK(at_rest(f.path, "Acme Test Org"));

    sv_vault_free(vault);
    free(key_path);
    fixture_close(&f);
}


SV_TEST_MAIN(SV_CASE(open_fresh), SV_CASE(reopen), SV_CASE(newer_schema),
             SV_CASE(org), SV_CASE(apikey), SV_CASE(assistant),
             SV_CASE(isolation), SV_CASE(secret), SV_CASE(call),
             SV_CASE(call_list), SV_CASE(usage), SV_CASE(fail_unfinished),
             SV_CASE(checkpoint_thread), SV_CASE(crash),
             SV_CASE(plaintext_at_rest))
