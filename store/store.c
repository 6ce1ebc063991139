/*
 * store.c - the SQLite backend of the durable state (see store.h).
 *
 * One connection per owning thread, in WAL mode with synchronous=NORMAL:
 * a commit appends to the WAL without an fsync, which survives a killed
 * process; sv_store_checkpoint() moves the WAL into the database file
 * (and syncs it) from a worker thread over its own connection, so the
 * loop thread never waits for the disk. Automatic checkpoints are off
 * for the same reason.
 *
 * Every statement is prepared once, cached in the struct and run with
 * bound parameters. Every write is one BEGIN IMMEDIATE ... COMMIT
 * transaction, rolled back on any error. The schema is a list of forward
 * migrations applied in one transaction at open; PRAGMA user_version
 * counts the applied steps.
 *
 * Thread: the thread that called sv_store_open(), except for
 * sv_store_checkpoint(), which any thread may call.
 *
 * SPDX-License-Identifier: MIT
 */
#include "store/store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "util/alloc.h"
#include "util/log.h"
#include "util/misc.h"

#define BUSY_TIMEOUT_MS 5000

#define KEY_PREFIX       "sv_"
#define KEY_PREFIX_LEN   3
#define KEY_RANDOM_BYTES 32
#define KEY_HASH_BYTES   crypto_generichash_BYTES

/*
 * The schema, one forward step per entry: step i takes the database from
 * user_version i to i + 1. Never edit a released step; append a new one.
 */
static const char *const migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE orgs ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_at TEXT NOT NULL"
    ");"
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  hash BLOB NOT NULL UNIQUE,"
    "  created_at TEXT NOT NULL,"
    "  revoked_at TEXT"
    ");"
    "CREATE INDEX api_keys_org ON api_keys(org_id);"
    "CREATE TABLE assistants ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  doc TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");"
    "CREATE INDEX assistants_org ON assistants(org_id);"
    "CREATE TABLE secrets ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  provider TEXT NOT NULL,"
    "  ciphertext BLOB NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (org_id, provider)"
    ");"
    /* A call keeps its assistant id after the assistant is deleted. */
    "CREATE TABLE calls ("
    "  id TEXT PRIMARY KEY,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  assistant_id TEXT,"
    "  status TEXT NOT NULL,"
    "  direction TEXT NOT NULL,"
    "  end_reason TEXT,"
    "  error TEXT,"
    "  started_at TEXT,"
    "  ended_at TEXT,"
    "  doc TEXT NOT NULL DEFAULT '{}',"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");"
    "CREATE INDEX calls_org ON calls(org_id, created_at);"
    "CREATE INDEX calls_status ON calls(status);"
    "CREATE TABLE call_messages ("
    "  call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  role TEXT NOT NULL,"
    "  content TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  PRIMARY KEY (call_id, seq)"
    ");"
    "CREATE TABLE usage ("
    "  id INTEGER PRIMARY KEY,"
    "  call_id TEXT REFERENCES calls(id) ON DELETE CASCADE,"
    "  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  provider TEXT NOT NULL,"
    "  metric TEXT NOT NULL,"
    "  amount REAL NOT NULL,"
    "  paid_by TEXT NOT NULL CHECK (paid_by IN ('byok', 'platform')),"
    "  created_at TEXT NOT NULL"
    ");"
    "CREATE INDEX usage_org ON usage(org_id, created_at);"
    "CREATE INDEX usage_call ON usage(call_id);",
};

enum stmt_id {
    STMT_BEGIN,
    STMT_BEGIN_READ,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_ORG_INSERT,
    STMT_ORG_GET,
    STMT_KEY_INSERT,
    STMT_KEY_BY_HASH,
    STMT_KEY_LIST,
    STMT_KEY_REVOKE,
    STMT_ASST_INSERT,
    STMT_ASST_UPDATE,
    STMT_ASST_GET,
    STMT_ASST_LIST,
    STMT_ASST_DELETE,
    STMT_SECRET_DELETE,
    STMT_SECRET_INSERT,
    STMT_SECRET_GET,
    STMT_SECRET_IDS,
    STMT_CALL_INSERT,
    STMT_CALL_STATUS,
    STMT_CALL_TOUCH,
    STMT_MSG_INSERT,
    STMT_MSG_LIST,
    STMT_CALL_GET,
    STMT_CALL_LIST,
    STMT_CALL_COUNT,
    STMT_USAGE_INSERT,
    STMT_USAGE_SUM,
    STMT_CALLS_FAIL,
    STMT_COUNT,
};

/* The columns call_object() reads, in this order. */
#define CALL_COLUMNS                                                           \
    "c.id, c.status, c.direction, c.assistant_id,"                             \
    " CASE WHEN json_valid(a.doc) THEN json_extract(a.doc, '$.name') END,"     \
    " c.end_reason, c.error, c.started_at, c.ended_at,"                        \
    " strftime('%s', c.ended_at) - strftime('%s', c.started_at),"              \
    " c.doc, c.created_at, c.updated_at"                                       \
    " FROM calls c LEFT JOIN assistants a"                                     \
    " ON a.id = c.assistant_id AND a.org_id = c.org_id"

/* The filters of a call listing: ?1 org, ?2 status, ?3 start, ?4 end. */
#define CALL_FILTER                                                            \
    " WHERE c.org_id = ?1 AND (?2 IS NULL OR c.status = ?2)"                   \
    " AND (?3 IS NULL OR c.created_at >= ?3)"                                  \
    " AND (?4 IS NULL OR c.created_at <= ?4)"

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_BEGIN_READ] = "BEGIN",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_ORG_INSERT] =
        "INSERT INTO orgs (id, name, created_at) VALUES (?1, ?2, ?3)",
    [STMT_ORG_GET] = "SELECT id, name, created_at FROM orgs WHERE id = ?1",
    [STMT_KEY_INSERT] = "INSERT INTO api_keys (id, org_id, hash, created_at)"
                        " VALUES (?1, ?2, ?3, ?4)",
    [STMT_KEY_BY_HASH] =
        "SELECT id, org_id, hash, revoked_at FROM api_keys WHERE hash = ?1",
    [STMT_KEY_LIST] = "SELECT id, created_at FROM api_keys"
                      " WHERE org_id = ?1 AND revoked_at IS NULL"
                      " ORDER BY created_at, rowid",
    [STMT_KEY_REVOKE] = "UPDATE api_keys SET revoked_at = ?2"
                        " WHERE id = ?1 AND revoked_at IS NULL",
    [STMT_ASST_INSERT] = "INSERT INTO assistants"
                         " (id, org_id, doc, created_at, updated_at)"
                         " VALUES (?1, ?2, ?3, ?4, ?4)",
    [STMT_ASST_UPDATE] = "UPDATE assistants SET doc = ?3, updated_at = ?4"
                         " WHERE id = ?1 AND org_id = ?2",
    [STMT_ASST_GET] = "SELECT id, doc, created_at, updated_at FROM assistants"
                      " WHERE id = ?1 AND org_id = ?2",
    [STMT_ASST_LIST] = "SELECT id, doc, created_at, updated_at FROM assistants"
                       " WHERE org_id = ?1 ORDER BY created_at, rowid",
    [STMT_ASST_DELETE] = "DELETE FROM assistants WHERE id = ?1 AND org_id = ?2",
    [STMT_SECRET_DELETE] =
        "DELETE FROM secrets WHERE org_id = ?1 AND provider = ?2",
    [STMT_SECRET_INSERT] = "INSERT INTO secrets"
                           " (id, org_id, provider, ciphertext, created_at)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_SECRET_GET] = "SELECT id, ciphertext FROM secrets"
                        " WHERE org_id = ?1 AND provider = ?2",
    [STMT_SECRET_IDS] = "SELECT provider, id FROM secrets WHERE org_id = ?1"
                        " ORDER BY provider",
    [STMT_CALL_INSERT] = "INSERT INTO calls (id, org_id, assistant_id, status,"
                         " direction, created_at, updated_at)"
                         " VALUES (?1, ?2, ?3, 'connecting', ?4, ?5, ?5)",
    [STMT_CALL_STATUS] = "UPDATE calls SET status = ?3,"
                         " end_reason = COALESCE(?4, end_reason),"
                         " error = COALESCE(?5, error),"
                         " started_at = CASE WHEN ?3 = 'in-progress'"
                         "   THEN COALESCE(started_at, ?6) ELSE started_at END,"
                         " ended_at = CASE WHEN ?3 IN ('ended', 'failed')"
                         "   THEN COALESCE(ended_at, ?6) ELSE ended_at END,"
                         " updated_at = ?6"
                         " WHERE id = ?1 AND org_id = ?2",
    [STMT_CALL_TOUCH] = "UPDATE calls SET updated_at = ?2 WHERE id = ?1",
    [STMT_MSG_INSERT] =
        "INSERT INTO call_messages (call_id, seq, role, content, created_at)"
        " SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4"
        " FROM call_messages WHERE call_id = ?1",
    [STMT_MSG_LIST] = "SELECT role, content FROM call_messages"
                      " WHERE call_id = ?1 ORDER BY seq",
    [STMT_CALL_GET] =
        "SELECT " CALL_COLUMNS " WHERE c.id = ?1 AND c.org_id = ?2",
    [STMT_CALL_LIST] = "SELECT " CALL_COLUMNS CALL_FILTER
                       " ORDER BY c.created_at DESC, c.rowid DESC"
                       " LIMIT ?5 OFFSET ?6",
    [STMT_CALL_COUNT] = "SELECT COUNT(*) FROM calls c" CALL_FILTER,
    /* The org must own the call, so usage cannot be booked across orgs. */
    [STMT_USAGE_INSERT] =
        "INSERT INTO usage"
        " (call_id, org_id, provider, metric, amount, paid_by, created_at)"
        " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7"
        " WHERE ?1 IS NULL"
        " OR EXISTS (SELECT 1 FROM calls WHERE id = ?1 AND org_id = ?2)",
    [STMT_USAGE_SUM] = "SELECT provider, metric, paid_by, SUM(amount)"
                       " FROM usage WHERE call_id = ?1"
                       " GROUP BY provider, metric, paid_by ORDER BY MIN(id)",
    [STMT_CALLS_FAIL] =
        "UPDATE calls SET status = 'ended', end_reason = 'daemon-restart',"
        " ended_at = COALESCE(ended_at, ?1), updated_at = ?1"
        " WHERE status IN ('connecting', 'in-progress')",
};

struct sv_store {
    sqlite3 *db;                     /* owned */
    int schema_version;              /* user_version after migration */
    sqlite3_stmt *stmts[STMT_COUNT]; /* owned; prepared on first use */
};


/* ==== Statements, transactions and JSON helpers ==== */


/*
 * Turns a failed SQLite result into an errno. Constraint failures are the
 * caller's input (a missing org, a duplicate) and are not logged; any
 * other failure is logged here, once, with SQLite's message.
 */
static int db_error(struct sv_store *st, int rc, const char *what)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return -ENOENT;
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return -EEXIST;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        return -EINVAL;
    default:
        sv_log(SV_LOG_ERR, "store: %s: %s", what, sqlite3_errmsg(st->db));
        return -EIO;
    }
}


/* The cached statement id, prepared on first use; NULL after logging. */
static sqlite3_stmt *stmt_get(struct sv_store *st, enum stmt_id id)
{
    int rc;

    SV_ASSERT(id < STMT_COUNT && stmt_sql[id] != NULL);
    if (st->stmts[id] != NULL)
        return st->stmts[id];
    rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                            &st->stmts[id], NULL);
    if (rc != SQLITE_OK) {
        sv_log(SV_LOG_ERR, "store: preparing statement %d: %s", (int)id,
               sqlite3_errmsg(st->db));
        st->stmts[id] = NULL;
    }

    return st->stmts[id];
}


/* Makes a cached statement ready for its next use. */
static void stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}


/* Binds text, or SQL NULL for a NULL pointer. The text must outlive s. */
static void bind_text(sqlite3_stmt *s, int i, const char *text)
{
    if (text == NULL)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}


/* Runs a statement without result rows to its end and resets it. */
static int step_done(struct sv_store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    int ret = 0;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = db_error(st, rc, what);
    stmt_done(s);

    return ret;
}


/* Steps a query: 1 with a row, 0 at the end, or a negative errno. */
static int step_row(struct sv_store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;

    return db_error(st, rc, what);
}


/* Runs one of the cached statements that take no parameters. */
static int run_simple(struct sv_store *st, enum stmt_id id, const char *what)
{
    sqlite3_stmt *s = stmt_get(st, id);

    if (s == NULL)
        return -EIO;

    return step_done(st, s, what);
}


static int tx_begin(struct sv_store *st)
{
    return run_simple(st, STMT_BEGIN, "begin");
}


/* A deferred transaction, for reads that want one consistent snapshot. */
static int tx_begin_read(struct sv_store *st)
{
    return run_simple(st, STMT_BEGIN_READ, "begin");
}


/*
 * Ends the open transaction: commits when rc says the work succeeded,
 * rolls back otherwise (or when the commit fails). Returns rc, or the
 * commit's error.
 */
static int tx_end(struct sv_store *st, int rc)
{
    if (rc >= 0)
        rc = run_simple(st, STMT_COMMIT, "commit");
    /* Some errors (a full disk) already rolled the transaction back. */
    if (rc < 0 && !sqlite3_get_autocommit(st->db))
        run_simple(st, STMT_ROLLBACK, "rollback");

    return rc;
}


/* Copies an id column into dst; -EIO when the row holds no valid id. */
static int copy_id(char dst[SV_ID_LEN], sqlite3_stmt *s, int col)
{
    const char *text = (const char *)sqlite3_column_text(s, col);

    if (text == NULL || strlen(text) != SV_ID_LEN - 1)
        return -EIO;
    memcpy(dst, text, SV_ID_LEN);

    return 0;
}


/* New JSON string of a text column, or JSON null for SQL NULL. */
static json_t *col_json(sqlite3_stmt *s, int col)
{
    const char *text = (const char *)sqlite3_column_text(s, col);
    json_t *j;

    if (text == NULL)
        return json_null();
    /* Only invalid UTF-8 fails here; show null rather than drop the key. */
    j = json_string(text);

    return j != NULL ? j : json_null();
}


/*
 * Serializes an assistant document for storage: compact, and without the
 * fields the store itself owns. *out is freed with free().
 */
static int doc_text(json_t *doc, char **out)
{
    json_t *copy;
    char *text;

    if (!json_is_object(doc))
        return -EINVAL;
    copy = json_copy(doc);
    json_object_del(copy, "id");
    json_object_del(copy, "created_at");
    json_object_del(copy, "updated_at");
    text = json_dumps(copy, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(copy);
    if (text == NULL)
        return -EINVAL;
    *out = text;

    return 0;
}


/* Parses a stored JSON object column; NULL (logged) when corrupt. */
static json_t *col_doc(sqlite3_stmt *s, int col)
{
    const char *text = (const char *)sqlite3_column_text(s, col);
    json_error_t jerr;
    json_t *doc;

    doc = text != NULL ? json_loads(text, 0, &jerr) : NULL;
    if (!json_is_object(doc)) {
        sv_log(SV_LOG_ERR, "store: stored document is not a JSON object");
        json_decref(doc);
        return NULL;
    }

    return doc;
}


/* New assistant object from an (id, doc, created_at, updated_at) row. */
static json_t *assistant_object(sqlite3_stmt *s)
{
    json_t *doc = col_doc(s, 1);

    if (doc == NULL)
        return NULL;
    json_object_set_new(doc, "id", col_json(s, 0));
    json_object_set_new(doc, "created_at", col_json(s, 2));
    json_object_set_new(doc, "updated_at", col_json(s, 3));

    return doc;
}


/* ==== Opening and migrating ==== */


static int pragma_int(struct sv_store *st, const char *sql, int *out)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = db_error(st, rc, sql);
        goto out;
    }
    *out = sqlite3_column_int(s, 0);
    rc = 0;

out:
    sqlite3_finalize(s);

    return rc;
}


static int exec(struct sv_store *st, const char *sql, const char *what)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : db_error(st, rc, what);
}


/* Applies the migrations the database lacks, all in one transaction. */
static int migrate(struct sv_store *st)
{
    const int latest = (int)SV_ARRAY_SIZE(migrations);
    char sql[64];
    int version = 0;
    int rc;

    rc = exec(st, "BEGIN IMMEDIATE", "migration begin");
    if (rc < 0)
        return rc;
    /* Read inside the write lock, so a concurrent opener cannot race. */
    rc = pragma_int(st, "PRAGMA user_version", &version);
    if (rc < 0)
        goto out;
    if (version > latest) {
        sv_log(SV_LOG_ERR,
               "store: database schema version %d is newer than this "
               "daemon's %d",
               version, latest);
        rc = -EPROTO;
        goto out;
    }
    for (int v = version; v < latest; v++) {
        snprintf(sql, sizeof(sql), "migration %d", v + 1);
        rc = exec(st, migrations[v], sql);
        if (rc < 0)
            goto out;
    }
    if (version < latest) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", latest);
        rc = exec(st, sql, "setting user_version");
        if (rc < 0)
            goto out;
        sv_log(SV_LOG_NOTICE, "store: migrated schema from version %d to %d",
               version, latest);
    }
    st->schema_version = latest;
    rc = 0;

out:
    if (rc >= 0)
        rc = exec(st, "COMMIT", "migration commit");
    if (rc < 0 && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);

    return rc;
}


/* Sets the connection up: WAL, pragmas, and checks WAL took effect. */
static int configure(struct sv_store *st)
{
    sqlite3_stmt *s = NULL;
    const char *mode;
    int rc;

    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = db_error(st, rc, "setting WAL mode");
        goto out;
    }
    mode = (const char *)sqlite3_column_text(s, 0);
    if (mode == NULL || strcmp(mode, "wal") != 0) {
        sv_log(SV_LOG_ERR, "store: database refused WAL mode (it is in %s)",
               mode != NULL ? mode : "no mode");
        rc = -EIO;
        goto out;
    }
    /*
     * secure_delete zeroes deleted rows, so a rotated secret's old
     * ciphertext does not linger in free pages of the file.
     */
    rc = exec(st,
              "PRAGMA synchronous = NORMAL;"
              "PRAGMA foreign_keys = ON;"
              "PRAGMA wal_autocheckpoint = 0;"
              "PRAGMA secure_delete = ON;",
              "setting pragmas");

out:
    sqlite3_finalize(s);

    return rc;
}


/* ==== Call objects and key helpers ==== */


/* Appends the messages and usage of call id to the call object. */
static int call_details(struct sv_store *st, const char *id, json_t *call)
{
    json_t *messages = json_array();
    json_t *usage = json_array();
    sqlite3_stmt *s;
    int rc;

    json_object_set_new(call, "messages", messages);
    json_object_set_new(call, "usage", usage);

    s = stmt_get(st, STMT_MSG_LIST);
    if (s == NULL)
        return -EIO;
    bind_text(s, 1, id);
    while ((rc = step_row(st, s, "listing call messages")) == 1) {
        json_array_append_new(messages,
                              json_pack("{s:o, s:o}", "role", col_json(s, 0),
                                        "content", col_json(s, 1)));
    }
    stmt_done(s);
    if (rc < 0)
        return rc;

    s = stmt_get(st, STMT_USAGE_SUM);
    if (s == NULL)
        return -EIO;
    bind_text(s, 1, id);
    while ((rc = step_row(st, s, "summing call usage")) == 1) {
        json_array_append_new(
            usage,
            json_pack("{s:o, s:o, s:f, s:o}", "provider", col_json(s, 0),
                      "metric", col_json(s, 1), "amount",
                      sqlite3_column_double(s, 3), "paid_by", col_json(s, 2)));
    }
    stmt_done(s);

    return rc;
}


/* New Call object from a CALL_COLUMNS row, with messages and usage. */
static int call_object(struct sv_store *st, sqlite3_stmt *s, json_t **out)
{
    static const char *const doc_fields[] = {"caller_phone", "assistant_phone",
                                             "summary", "recording_url"};
    json_t *call = json_object();
    json_t *doc = col_doc(s, 10);
    json_t *v;
    int rc;

    if (doc == NULL) {
        json_decref(call);
        return -EIO;
    }
    json_object_set_new(call, "id", col_json(s, 0));
    json_object_set_new(call, "status", col_json(s, 1));
    json_object_set_new(call, "direction", col_json(s, 2));
    json_object_set_new(call, "agent_id", col_json(s, 3));
    json_object_set_new(call, "agent_name", col_json(s, 4));
    json_object_set_new(call, "end_reason", col_json(s, 5));
    json_object_set_new(call, "error", col_json(s, 6));
    json_object_set_new(call, "started_at", col_json(s, 7));
    json_object_set_new(call, "ended_at", col_json(s, 8));
    if (sqlite3_column_type(s, 9) == SQLITE_NULL)
        v = json_null();
    else
        v = json_integer(sqlite3_column_int64(s, 9));
    json_object_set_new(call, "duration_seconds", v);
    /* Fields later issues record go into the call's doc column. */
    for (size_t i = 0; i < SV_ARRAY_SIZE(doc_fields); i++) {
        v = json_object_get(doc, doc_fields[i]);
        json_object_set(call, doc_fields[i], v != NULL ? v : json_null());
    }
    json_decref(doc);
    json_object_set_new(call, "created_at", col_json(s, 11));
    json_object_set_new(call, "updated_at", col_json(s, 12));

    rc = call_details(st, json_string_value(json_object_get(call, "id")), call);
    if (rc < 0) {
        json_decref(call);
        return rc;
    }
    *out = call;

    return 0;
}


static bool is_call_status(const char *status)
{
    return status != NULL &&
           (strcmp(status, "connecting") == 0 ||
            strcmp(status, "in-progress") == 0 ||
            strcmp(status, "ended") == 0 || strcmp(status, "failed") == 0);
}


/* Hashes a presented or new API key: BLAKE2b-256 of its text. */
static void key_hash(const char *key, uint8_t hash[KEY_HASH_BYTES])
{
    crypto_generichash(hash, KEY_HASH_BYTES, (const unsigned char *)key,
                       strlen(key), NULL, 0);
}


/* True for "sv_" followed by exactly 43 base64url characters. */
static bool key_well_formed(const char *key)
{
    if (key == NULL || strnlen(key, SV_API_KEY_LEN) != SV_API_KEY_LEN - 1 ||
        strncmp(key, KEY_PREFIX, KEY_PREFIX_LEN) != 0)
        return false;
    for (const char *p = key + KEY_PREFIX_LEN; *p != '\0'; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return false;
    }

    return true;
}


/* ==== Lifecycle and checkpoints ==== */


int sv_store_open(struct sv_store **out, const char *path)
{
    struct sv_store *st = NULL;
    int fd;
    int rc;

    if (sodium_init() < 0)
        return -EIO;

    /*
     * Create the file ourselves so that it is private from the start;
     * SQLite gives the -wal and -shm files the database file's mode.
     */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        sv_log(SV_LOG_ERR, "store: %s: %s", path, strerror(errno));
        return rc;
    }
    close(fd);

    st = sv_xcalloc(1, sizeof(*st));
    rc = sqlite3_open_v2(
        path, &st->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sv_log(SV_LOG_ERR, "store: %s: %s", path,
               st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        rc = -EIO;
        goto out;
    }
    rc = configure(st);
    if (rc < 0)
        goto out;
    rc = migrate(st);
    if (rc < 0)
        goto out;
    *out = st;
    st = NULL;

out:
    sv_store_free(st);

    return rc;
}


void sv_store_free(struct sv_store *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    /* Every statement is finalized, so close cannot be refused as busy. */
    sqlite3_close(st->db);
    free(st);
}


int sv_store_schema_version(struct sv_store *st)
{
    return st->schema_version;
}


/*
 * Runs one wal_checkpoint pragma. The pragma, unlike a bare
 * sqlite3_wal_checkpoint_v2() on a fresh connection, reads the schema
 * first and so opens the WAL. *busy says the checkpoint could not finish.
 */
static int checkpoint_run(sqlite3 *db, const char *sql, bool *busy)
{
    sqlite3_stmt *s = NULL;
    int rc;

    *busy = false;
    rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *busy = sqlite3_column_int(s, 0) != 0;
        rc = 0;
    } else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
        *busy = true;
        rc = 0;
    } else {
        sv_log(SV_LOG_ERR, "store: checkpoint: %s", sqlite3_errmsg(db));
        rc = -EIO;
    }
    sqlite3_finalize(s);

    return rc;
}


int sv_store_checkpoint(const char *path)
{
    sqlite3 *db = NULL;
    bool busy = false;
    int rc;

    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc != SQLITE_OK) {
        rc = rc == SQLITE_CANTOPEN ? -ENOENT : -EIO;
        if (rc == -EIO)
            sv_log(SV_LOG_ERR, "store: checkpoint: opening %s: %s", path,
                   db != NULL ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_extended_result_codes(db, 1);
    /*
     * No busy timeout here: TRUNCATE waits for the owner's readers while
     * holding the write lock, which would stall the loop thread. When it
     * cannot get what it needs it gives up at once, and a passive
     * checkpoint copies whatever it can without waiting.
     */
    rc = checkpoint_run(db, "PRAGMA wal_checkpoint(TRUNCATE)", &busy);
    if (rc == 0 && busy)
        rc = checkpoint_run(db, "PRAGMA wal_checkpoint(PASSIVE)", &busy);

out:
    sqlite3_close(db);

    return rc;
}


/* ==== Organizations and API keys ==== */


int sv_store_org_create(struct sv_store *st, const char *name,
                        char org_id[SV_ID_LEN])
{
    char now[SV_TIME_LEN];
    char id[SV_ID_LEN];
    sqlite3_stmt *s;
    int rc;

    if (name == NULL)
        return -EINVAL;
    sv_uuid(id);
    sv_time_iso(now);
    rc = tx_begin(st);
    if (rc < 0)
        return rc;
    s = stmt_get(st, STMT_ORG_INSERT);
    if (s == NULL) {
        rc = -EIO;
    } else {
        bind_text(s, 1, id);
        bind_text(s, 2, name);
        bind_text(s, 3, now);
        rc = step_done(st, s, "creating organization");
    }
    rc = tx_end(st, rc);
    if (rc == 0)
        memcpy(org_id, id, SV_ID_LEN);

    return rc;
}


int sv_store_org_get(struct sv_store *st, const char *org_id, json_t **out)
{
    sqlite3_stmt *s = stmt_get(st, STMT_ORG_GET);
    int rc;

    if (s == NULL)
        return -EIO;
    bind_text(s, 1, org_id);
    rc = step_row(st, s, "reading organization");
    if (rc == 0)
        rc = -ENOENT;
    if (rc == 1) {
        if (out != NULL) {
            *out = json_pack("{s:o, s:o, s:o}", "id", col_json(s, 0), "name",
                             col_json(s, 1), "created_at", col_json(s, 2));
        }
        rc = 0;
    }
    stmt_done(s);

    return rc;
}


int sv_store_apikey_create(struct sv_store *st, const char *org_id,
                           char key_id[SV_ID_LEN], char key[SV_API_KEY_LEN])
{
    uint8_t raw[KEY_RANDOM_BYTES];
    uint8_t hash[KEY_HASH_BYTES];
    char text[SV_API_KEY_LEN];
    char now[SV_TIME_LEN];
    char id[SV_ID_LEN];
    sqlite3_stmt *s;
    int rc;

    static_assert(KEY_PREFIX_LEN +
                          sodium_base64_ENCODED_LEN(
                              KEY_RANDOM_BYTES,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING) ==
                      SV_API_KEY_LEN,
                  "SV_API_KEY_LEN matches the key format");

    randombytes_buf(raw, sizeof(raw));
    memcpy(text, KEY_PREFIX, KEY_PREFIX_LEN);
    sodium_bin2base64(text + KEY_PREFIX_LEN, sizeof(text) - KEY_PREFIX_LEN, raw,
                      sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    key_hash(text, hash);
    sv_uuid(id);
    sv_time_iso(now);

    rc = tx_begin(st);
    if (rc < 0)
        goto out;
    s = stmt_get(st, STMT_KEY_INSERT);
    if (s == NULL) {
        rc = -EIO;
    } else {
        bind_text(s, 1, id);
        bind_text(s, 2, org_id);
        sqlite3_bind_blob(s, 3, hash, sizeof(hash), SQLITE_STATIC);
        bind_text(s, 4, now);
        rc = step_done(st, s, "creating API key");
    }
    rc = tx_end(st, rc);
    if (rc == 0) {
        memcpy(key_id, id, SV_ID_LEN);
        memcpy(key, text, SV_API_KEY_LEN);
    }

out:
    sodium_memzero(text, sizeof(text));

    return rc;
}


int sv_store_apikey_verify(struct sv_store *st, const char *key,
                           char org_id[SV_ID_LEN], char key_id[SV_ID_LEN])
{
    uint8_t hash[KEY_HASH_BYTES];
    char found_org[SV_ID_LEN];
    char found_key[SV_ID_LEN];
    const void *stored;
    sqlite3_stmt *s;
    int rc;

    if (!key_well_formed(key))
        return -ENOENT;
    key_hash(key, hash);
    s = stmt_get(st, STMT_KEY_BY_HASH);
    if (s == NULL)
        return -EIO;
    sqlite3_bind_blob(s, 1, hash, sizeof(hash), SQLITE_STATIC);
    rc = step_row(st, s, "looking up API key");
    if (rc <= 0) {
        rc = rc == 0 ? -ENOENT : rc;
        goto out;
    }
    /* The index lookup is not constant time; this final comparison is. */
    stored = sqlite3_column_blob(s, 2);
    if (stored == NULL || sqlite3_column_bytes(s, 2) != KEY_HASH_BYTES ||
        sodium_memcmp(stored, hash, KEY_HASH_BYTES) != 0 ||
        sqlite3_column_type(s, 3) != SQLITE_NULL) {
        rc = -ENOENT;
        goto out;
    }
    if (copy_id(found_key, s, 0) < 0 || copy_id(found_org, s, 1) < 0) {
        sv_log(SV_LOG_ERR, "store: API key row holds a malformed id");
        rc = -EIO;
        goto out;
    }
    memcpy(org_id, found_org, SV_ID_LEN);
    if (key_id != NULL)
        memcpy(key_id, found_key, SV_ID_LEN);
    rc = 0;

out:
    stmt_done(s);

    return rc;
}


int sv_store_apikey_list(struct sv_store *st, const char *org_id, json_t **out)
{
    sqlite3_stmt *s = stmt_get(st, STMT_KEY_LIST);
    json_t *list;
    int rc;

    if (s == NULL)
        return -EIO;
    list = json_array();
    bind_text(s, 1, org_id);
    while ((rc = step_row(st, s, "listing API keys")) == 1) {
        json_array_append_new(list,
                              json_pack("{s:o, s:o}", "id", col_json(s, 0),
                                        "created_at", col_json(s, 1)));
    }
    stmt_done(s);
    if (rc < 0) {
        json_decref(list);
        return rc;
    }
    *out = list;

    return 0;
}


int sv_store_apikey_revoke(struct sv_store *st, const char *key_id)
{
    char now[SV_TIME_LEN];
    sqlite3_stmt *s;
    int rc;

    sv_time_iso(now);
    rc = tx_begin(st);
    if (rc < 0)
        return rc;
    s = stmt_get(st, STMT_KEY_REVOKE);
    if (s == NULL) {
        rc = -EIO;
    } else {
        bind_text(s, 1, key_id);
        bind_text(s, 2, now);
        rc = step_done(st, s, "revoking API key");
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = -ENOENT;
    }

    return tx_end(st, rc);
}


/* ==== Assistants ==== */


int sv_store_assistant_create(struct sv_store *st, const char *org_id,
                              json_t *doc, char id[SV_ID_LEN])
{
    char now[SV_TIME_LEN];
    char new_id[SV_ID_LEN];
    char *text = NULL;
    sqlite3_stmt *s;
    int rc;

    rc = doc_text(doc, &text);
    if (rc < 0)
        return rc;
    sv_uuid(new_id);
    sv_time_iso(now);
    rc = tx_begin(st);
    if (rc < 0)
        goto out;
    s = stmt_get(st, STMT_ASST_INSERT);
    if (s == NULL) {
        rc = -EIO;
    } else {
        bind_text(s, 1, new_id);
        bind_text(s, 2, org_id);
        bind_text(s, 3, text);
        bind_text(s, 4, now);
        rc = step_done(st, s, "creating assistant");
    }
    rc = tx_end(st, rc);
    if (rc == 0)
        memcpy(id, new_id, SV_ID_LEN);

out:
    free(text);

    return rc;
}


int sv_store_assistant_update(struct sv_store *st, const char *org_id,
                              const char *id, json_t *doc)
{
    char now[SV_TIME_LEN];
    char *text = NULL;
    sqlite3_stmt *s;
    int rc;

    rc = doc_text(doc, &text);
    if (rc < 0)
        return rc;
    sv_time_iso(now);
    rc = tx_begin(st);
    if (rc < 0)
        goto out;
    s = stmt_get(st, STMT_ASST_UPDATE);
    if (s == NULL) {
        rc = -EIO;
    } else {
        bind_text(s, 1, id);
        bind_text(s, 2, org_id);
        bind_text(s, 3, text);
        bind_text(s, 4, now);
        rc = step_done(st, s, "updating assistant");
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = -ENOENT;
    }
    rc = tx_end(st, rc);

out:
    free(text);

    return rc;
}


int sv_store_assistant_get(struct sv_store *st, const char *org_id,
                           const char *id, json_t **out)
{
    sqlite3_stmt *s = stmt_get(st, STMT_ASST_GET);
    json_t *doc;
    int rc;

    if (s == NULL)
        return -EIO;
    bind_text(s, 1, id);
    bind_text(s, 2, org_id);
    rc = step_row(st, s, "reading assistant");
    if (rc == 0)
        rc = -ENOENT;
    if (rc == 1) {
        doc = assistant_object(s);
        rc = doc != NULL ? 0 : -EIO;
        if (doc != NULL)
            *out = doc;
    }
    stmt_done(s);

    return rc;
}


int sv_store_assistant_list(struct sv_store *st, const char *org_id,
                            json_t **out)
{
    sqlite3_stmt *s = stmt_get(st, STMT_ASST_LIST);
    json_t *list;
    json_t *doc;
    int rc;

    if (s == NULL)
        return -EIO;
    list = json_array();
    bind_text(s, 1, org_id);
    while ((rc = step_row(st, s, "listing assistants")) == 1) {
        doc = assistant_object(s);
        if (doc == NULL) {
            rc = -EIO;
            break;
        }
        json_array_append_new(list, doc);
    }
    stmt_done(s);
    if (rc < 0) {
        json_decref(list);
        return rc;
    }
    *out = list;

    return 0;
}


int sv_store_assistant_delete(struct sv_store *st, const char *org_id,
                              const char *id)
{
    sqlite3_stmt *s;
    int rc;

    rc = tx_begin(st);
    if (rc < 0)
        return rc;
    s = stmt_get(st, STMT_ASST_DELETE);
    if (s == NULL) {
        rc = -EIO;
    } else {
        bind_text(s, 1, id);
        bind_text(s, 2, org_id);
        rc = step_done(st, s, "deleting assistant");
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = -ENOENT;
    }

    return tx_end(st, rc);
}


/* ==== BYOK secrets ==== */


int sv_store_secret_put(struct sv_store *st, const char *org_id,
                        const char *provider, const char *secret_id,
                        const uint8_t *ct, size_t ct_len)
{
    char now[SV_TIME_LEN];
    sqlite3_stmt *s;
    int rc;

    if (provider == NULL || secret_id == NULL || ct == NULL || ct_len == 0 ||
        ct_len > INT32_MAX)
        return -EINVAL;
    sv_time_iso(now);
    rc = tx_begin(st);
    if (rc < 0)
        return rc;

    /* Rotation: the old row goes in the same transaction the new comes in. */
    s = stmt_get(st, STMT_SECRET_DELETE);
    if (s == NULL) {
        rc = -EIO;
        goto out;
    }
    bind_text(s, 1, org_id);
    bind_text(s, 2, provider);
    rc = step_done(st, s, "replacing secret");
    if (rc < 0)
        goto out;

    s = stmt_get(st, STMT_SECRET_INSERT);
    if (s == NULL) {
        rc = -EIO;
        goto out;
    }
    bind_text(s, 1, secret_id);
    bind_text(s, 2, org_id);
    bind_text(s, 3, provider);
    sqlite3_bind_blob(s, 4, ct, (int)ct_len, SQLITE_STATIC);
    bind_text(s, 5, now);
    rc = step_done(st, s, "storing secret");

out:
    return tx_end(st, rc);
}


int sv_store_secret_get(struct sv_store *st, const char *org_id,
                        const char *provider, char secret_id[SV_ID_LEN],
                        uint8_t **ct, size_t *ct_len)
{
    sqlite3_stmt *s = stmt_get(st, STMT_SECRET_GET);
    const void *blob;
    size_t len;
    int rc;

    if (s == NULL)
        return -EIO;
    bind_text(s, 1, org_id);
    bind_text(s, 2, provider);
    rc = step_row(st, s, "reading secret");
    if (rc <= 0) {
        rc = rc == 0 ? -ENOENT : rc;
        goto out;
    }
    if (copy_id(secret_id, s, 0) < 0) {
        sv_log(SV_LOG_ERR, "store: secret row holds a malformed id");
        rc = -EIO;
        goto out;
    }
    blob = sqlite3_column_blob(s, 1);
    len = (size_t)sqlite3_column_bytes(s, 1);
    *ct = sv_xmalloc(len > 0 ? len : 1);
    if (len > 0)
        memcpy(*ct, blob, len);
    *ct_len = len;
    rc = 0;

out:
    stmt_done(s);

    return rc;
}


int sv_store_secret_delete(struct sv_store *st, const char *org_id,
                           const char *provider)
{
    sqlite3_stmt *s;
    int rc;

    rc = tx_begin(st);
    if (rc < 0)
        return rc;
    s = stmt_get(st, STMT_SECRET_DELETE);
    if (s == NULL) {
        rc = -EIO;
    } else {
        bind_text(s, 1, org_id);
        bind_text(s, 2, provider);
        rc = step_done(st, s, "deleting secret");
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = -ENOENT;
    }

    return tx_end(st, rc);
}


int sv_store_secret_ids(struct sv_store *st, const char *org_id, json_t **out)
{
    sqlite3_stmt *s = stmt_get(st, STMT_SECRET_IDS);
    const char *provider;
    json_t *ids;
    int rc;

    if (s == NULL)
        return -EIO;
    ids = json_object();
    bind_text(s, 1, org_id);
    while ((rc = step_row(st, s, "listing secrets")) == 1) {
        provider = (const char *)sqlite3_column_text(s, 0);
        if (provider != NULL)
            json_object_set_new(ids, provider, col_json(s, 1));
    }
    stmt_done(s);
    if (rc < 0) {
        json_decref(ids);
        return rc;
    }
    *out = ids;

    return 0;
}


/* ==== Calls and usage ==== */


int sv_store_call_create(struct sv_store *st, const char *org_id,
                         const char *assistant_id, const char *direction,
                         char id[SV_ID_LEN])
{
    char now[SV_TIME_LEN];
    char new_id[SV_ID_LEN];
    sqlite3_stmt *s;
    int rc;

    if (direction == NULL)
        return -EINVAL;
    sv_uuid(new_id);
    sv_time_iso(now);
    rc = tx_begin(st);
    if (rc < 0)
        return rc;
    s = stmt_get(st, STMT_CALL_INSERT);
    if (s == NULL) {
        rc = -EIO;
    } else {
        bind_text(s, 1, new_id);
        bind_text(s, 2, org_id);
        bind_text(s, 3, assistant_id);
        bind_text(s, 4, direction);
        bind_text(s, 5, now);
        rc = step_done(st, s, "creating call");
    }
    rc = tx_end(st, rc);
    if (rc == 0)
        memcpy(id, new_id, SV_ID_LEN);

    return rc;
}


int sv_store_call_update_status(struct sv_store *st, const char *org_id,
                                const char *id, const char *status,
                                const char *end_reason, const char *error)
{
    char now[SV_TIME_LEN];
    sqlite3_stmt *s;
    int rc;

    if (!is_call_status(status))
        return -EINVAL;
    sv_time_iso(now);
    rc = tx_begin(st);
    if (rc < 0)
        return rc;
    s = stmt_get(st, STMT_CALL_STATUS);
    if (s == NULL) {
        rc = -EIO;
    } else {
        bind_text(s, 1, id);
        bind_text(s, 2, org_id);
        bind_text(s, 3, status);
        bind_text(s, 4, end_reason);
        bind_text(s, 5, error);
        bind_text(s, 6, now);
        rc = step_done(st, s, "updating call status");
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = -ENOENT;
    }

    return tx_end(st, rc);
}


int sv_store_call_add_message(struct sv_store *st, const char *call_id,
                              const char *role, const char *content)
{
    char now[SV_TIME_LEN];
    sqlite3_stmt *s;
    int rc;

    if (role == NULL || content == NULL ||
        (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
        return -EINVAL;
    sv_time_iso(now);
    rc = tx_begin(st);
    if (rc < 0)
        return rc;

    /* Touching the call first also tells whether it exists. */
    s = stmt_get(st, STMT_CALL_TOUCH);
    if (s == NULL) {
        rc = -EIO;
        goto out;
    }
    bind_text(s, 1, call_id);
    bind_text(s, 2, now);
    rc = step_done(st, s, "updating call");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = -ENOENT;
    if (rc < 0)
        goto out;

    s = stmt_get(st, STMT_MSG_INSERT);
    if (s == NULL) {
        rc = -EIO;
        goto out;
    }
    bind_text(s, 1, call_id);
    bind_text(s, 2, role);
    bind_text(s, 3, content);
    bind_text(s, 4, now);
    rc = step_done(st, s, "adding call message");

out:
    return tx_end(st, rc);
}


int sv_store_call_get(struct sv_store *st, const char *org_id, const char *id,
                      json_t **out)
{
    sqlite3_stmt *s;
    json_t *call = NULL;
    int rc;

    /* One snapshot for the call, its messages and its usage. */
    rc = tx_begin_read(st);
    if (rc < 0)
        return rc;
    s = stmt_get(st, STMT_CALL_GET);
    if (s == NULL) {
        rc = -EIO;
        goto out;
    }
    bind_text(s, 1, id);
    bind_text(s, 2, org_id);
    rc = step_row(st, s, "reading call");
    if (rc == 0)
        rc = -ENOENT;
    if (rc == 1)
        rc = call_object(st, s, &call);
    stmt_done(s);

out:
    rc = tx_end(st, rc);
    if (rc == 0)
        *out = call;
    else
        json_decref(call);

    return rc;
}


int sv_store_call_list(struct sv_store *st, const char *org_id, int limit,
                       int offset, const char *status, const char *start_date,
                       const char *end_date, json_t **calls, int *total)
{
    json_t *list = NULL;
    json_t *call;
    sqlite3_stmt *s;
    int count = 0;
    int rc;

    if (limit < 0 || offset < 0)
        return -EINVAL;
    rc = tx_begin_read(st);
    if (rc < 0)
        return rc;

    s = stmt_get(st, STMT_CALL_COUNT);
    if (s == NULL) {
        rc = -EIO;
        goto out;
    }
    bind_text(s, 1, org_id);
    bind_text(s, 2, status);
    bind_text(s, 3, start_date);
    bind_text(s, 4, end_date);
    rc = step_row(st, s, "counting calls");
    if (rc == 1)
        count = sqlite3_column_int(s, 0);
    stmt_done(s);
    if (rc < 0)
        goto out;

    s = stmt_get(st, STMT_CALL_LIST);
    if (s == NULL) {
        rc = -EIO;
        goto out;
    }
    list = json_array();
    bind_text(s, 1, org_id);
    bind_text(s, 2, status);
    bind_text(s, 3, start_date);
    bind_text(s, 4, end_date);
    sqlite3_bind_int(s, 5, limit);
    sqlite3_bind_int(s, 6, offset);
    while ((rc = step_row(st, s, "listing calls")) == 1) {
        rc = call_object(st, s, &call);
        if (rc < 0)
            break;
        json_array_append_new(list, call);
    }
    stmt_done(s);

out:
    rc = tx_end(st, rc);
    if (rc < 0) {
        json_decref(list);
        return rc;
    }
    *calls = list;
    *total = count;

    return 0;
}


int sv_store_usage_add(struct sv_store *st, const char *call_id,
                       const char *org_id, const char *provider,
                       const char *metric, double amount, const char *paid_by)
{
    char now[SV_TIME_LEN];
    sqlite3_stmt *s;
    int rc;

    if (provider == NULL || metric == NULL || paid_by == NULL ||
        !isfinite(amount) || amount < 0 ||
        (strcmp(paid_by, "byok") != 0 && strcmp(paid_by, "platform") != 0))
        return -EINVAL;
    sv_time_iso(now);
    rc = tx_begin(st);
    if (rc < 0)
        return rc;
    s = stmt_get(st, STMT_USAGE_INSERT);
    if (s == NULL) {
        rc = -EIO;
    } else {
        bind_text(s, 1, call_id);
        bind_text(s, 2, org_id);
        bind_text(s, 3, provider);
        bind_text(s, 4, metric);
        sqlite3_bind_double(s, 5, amount);
        bind_text(s, 6, paid_by);
        bind_text(s, 7, now);
        rc = step_done(st, s, "recording usage");
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = -ENOENT;
    }

    return tx_end(st, rc);
}


int sv_store_calls_fail_unfinished(struct sv_store *st)
{
    char now[SV_TIME_LEN];
    sqlite3_stmt *s;
    int changed = 0;
    int rc;

    sv_time_iso(now);
    rc = tx_begin(st);
    if (rc < 0)
        return rc;
    s = stmt_get(st, STMT_CALLS_FAIL);
    if (s == NULL) {
        rc = -EIO;
    } else {
        bind_text(s, 1, now);
        rc = step_done(st, s, "ending unfinished calls");
        changed = sqlite3_changes(st->db);
    }
    rc = tx_end(st, rc);
    if (rc == 0 && changed > 0)
        sv_log(SV_LOG_NOTICE,
               "store: ended %d call(s) left unfinished by the previous run",
               changed);

    return rc;
}
