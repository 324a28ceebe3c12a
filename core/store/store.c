/*
 * core/store/store.c — see store.h. Migrations are an append-only list of
 * SQL scripts; PRAGMA user_version records how many have run. Each
 * migration runs in its own transaction together with the version bump, so
 * a crash leaves the store at one version or the next, never between.
 */
#include "store.h"

#include "../errors.h"
#include "owners.h"

#include <kizuna/common.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Append only: never edit a migration that has shipped. */
static const char *const migrations[] = {
    /* 1: plugin state (kz_host.state_*) */
    "CREATE TABLE plugin_state ("
    "  instance TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value BLOB NOT NULL,"
    "  updated_us INTEGER NOT NULL,"
    "  PRIMARY KEY (instance, key)"
    ") WITHOUT ROWID;",

    /* 2: the customer data model (DESIGN.md). Times are microseconds UTC,
     * money integer minor units. Each entity row keeps the instance that
     * last wrote it. Events and survey answers are keyed by the source's id
     * or, without one, by a hash of their content. Lifecycle, tiers, scores
     * and owners live in the tables of the stages that compute them. */
    "CREATE TABLE accounts ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  name TEXT, region TEXT, segment TEXT, plan TEXT,"
    "  arr_minor INTEGER, currency TEXT,"
    "  contract_start_us INTEGER, renewal_date_us INTEGER,"
    "  crm_owner TEXT,"
    "  source TEXT NOT NULL, updated_us INTEGER NOT NULL"
    ");"
    "CREATE TABLE account_traits ("
    "  account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  value,"                 /* no declared type: no affinity, so INTEGER, REAL and TEXT stay as bound */
    "  type INTEGER NOT NULL," /* enum kz_value_type */
    "  PRIMARY KEY (account_id, name)"
    ") WITHOUT ROWID;"
    "CREATE INDEX account_traits_by_name ON account_traits (name, account_id);"
    "CREATE TABLE contacts ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  account_id TEXT NOT NULL REFERENCES accounts (id),"
    "  name TEXT, email TEXT, role TEXT, phone TEXT, traits TEXT," /* traits: JSON object */
    "  source TEXT NOT NULL, updated_us INTEGER NOT NULL"
    ");"
    "CREATE INDEX contacts_by_account ON contacts (account_id, role);"
    "CREATE TABLE usage_events ("
    "  key BLOB PRIMARY KEY NOT NULL," /* the source's id, or a content hash */
    "  account_id TEXT NOT NULL REFERENCES accounts (id),"
    "  user_id TEXT, time_us INTEGER NOT NULL, name TEXT NOT NULL, quantity REAL, product TEXT, traits TEXT,"
    "  source TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX usage_events_by_account ON usage_events (account_id, time_us);"
    "CREATE TABLE tickets ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  account_id TEXT NOT NULL REFERENCES accounts (id),"
    "  contact_id TEXT, opened_us INTEGER NOT NULL, closed_us INTEGER,"
    "  priority INTEGER NOT NULL, status INTEGER NOT NULL, kind INTEGER NOT NULL,"
    "  subject TEXT, tags TEXT, traits TEXT," /* tags: JSON array */
    "  source TEXT NOT NULL, updated_us INTEGER NOT NULL"
    ");"
    "CREATE INDEX tickets_by_account ON tickets (account_id, opened_us);"
    "CREATE TABLE subscriptions ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  account_id TEXT NOT NULL REFERENCES accounts (id),"
    "  plan TEXT, period_start_us INTEGER NOT NULL, period_end_us INTEGER,"
    "  mrr_minor INTEGER NOT NULL, currency TEXT, status INTEGER NOT NULL, traits TEXT,"
    "  source TEXT NOT NULL, updated_us INTEGER NOT NULL"
    ");"
    "CREATE INDEX subscriptions_by_account ON subscriptions (account_id, period_start_us);"
    "CREATE TABLE survey_answers ("
    "  key BLOB PRIMARY KEY NOT NULL,"
    "  account_id TEXT NOT NULL REFERENCES accounts (id),"
    "  contact_id TEXT, time_us INTEGER NOT NULL, kind INTEGER NOT NULL, score REAL NOT NULL, comment TEXT,"
    "  source TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX survey_answers_by_account ON survey_answers (account_id, time_us);"
    /* rejected input, keyed as kz_reject documents */
    "CREATE TABLE quarantine ("
    "  instance TEXT NOT NULL, entity INTEGER NOT NULL, file TEXT NOT NULL, line INTEGER NOT NULL,"
    "  column_no INTEGER NOT NULL, raw TEXT, reason TEXT NOT NULL,"
    "  first_seen_us INTEGER NOT NULL, last_seen_us INTEGER NOT NULL,"
    "  PRIMARY KEY (instance, entity, file, line)"
    ") WITHOUT ROWID;"
    /* where each source instance resumes; written in the same transaction as the batch it follows */
    "CREATE TABLE source_cursors ("
    "  instance TEXT PRIMARY KEY NOT NULL, cursor TEXT NOT NULL, updated_us INTEGER NOT NULL"
    ") WITHOUT ROWID;",

    /* 3: measures and scores (core/score). Both are columnar: one row holds
     * one measure (or one output of one scorer) for every account of a
     * roster, as a BLOB of little-endian doubles (int32 codes for a
     * categorical measure, one byte per account for grades), in the order
     * of the roster's ids. Reading or writing a million accounts is then a
     * few large BLOBs instead of millions of rows. */
    /* how often sync changed each entity: a measure is rolled up again
     * only when the entities it reads moved on (or its window did) */
    "CREATE TABLE data_generations ("
    "  entity INTEGER PRIMARY KEY NOT NULL," /* enum kz_entity */
    "  generation INTEGER NOT NULL"
    ");"
    /* an ordered list of account ids: ids is each id followed by a NUL byte,
     * sorted by byte order; digest is its SHA-256, so a roster is stored
     * once; generation is the accounts' when it was read */
    "CREATE TABLE rosters ("
    "  id INTEGER PRIMARY KEY, n INTEGER NOT NULL, ids BLOB NOT NULL, digest BLOB NOT NULL UNIQUE,"
    "  generation INTEGER NOT NULL, created_us INTEGER NOT NULL"
    ");"
    "CREATE TABLE measure_columns ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  roster INTEGER NOT NULL REFERENCES rosters (id),"
    "  type INTEGER NOT NULL," /* enum kz_column_type */
    "  vals BLOB NOT NULL,"
    "  levels TEXT,"               /* categorical: JSON array of the levels the codes index */
    "  definition TEXT NOT NULL,"  /* the measure as configured: a change recomputes it */
    "  as_of_us INTEGER NOT NULL," /* the end of its windows (exclusive) */
    "  inputs INTEGER NOT NULL,"   /* the sum of the generations of the entities it reads */
    "  computed_us INTEGER NOT NULL"
    ");"
    /* one scoring of the book of business by the health model */
    "CREATE TABLE score_runs ("
    "  id INTEGER PRIMARY KEY,"
    "  time_us INTEGER NOT NULL,"  /* when it ran */
    "  as_of_us INTEGER NOT NULL," /* the as-of of the measures it read */
    "  roster INTEGER NOT NULL REFERENCES rosters (id),"
    "  digest BLOB NOT NULL," /* of the measures, the health model and the scorers' models it used */
    "  grades TEXT NOT NULL"  /* JSON array of grade names, worst first: the grade blobs index it */
    ");"
    "CREATE INDEX score_runs_by_time ON score_runs (as_of_us, time_us);"
    /* scorer is a scorer instance, or '' for the health model's combined
     * score; what is 'score', 'grade', 'baseline' or 'c:' + a measure name */
    "CREATE TABLE score_columns ("
    "  id INTEGER PRIMARY KEY,"
    "  run INTEGER NOT NULL REFERENCES score_runs (id) ON DELETE CASCADE,"
    "  scorer TEXT NOT NULL, what TEXT NOT NULL, vals BLOB NOT NULL,"
    "  UNIQUE (run, scorer, what)"
    ");",

    /* 4: lifecycle phase, touch tier and owner of each account (core/org),
     * and every change of them. An account has a row once the lifecycle or
     * an assignment has looked at it. */
    "CREATE TABLE account_state ("
    "  account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,"
    "  phase INTEGER NOT NULL DEFAULT 0," /* enum kz_phase */
    "  phase_since_us INTEGER,"           /* when it entered the phase */
    "  success_us INTEGER,"               /* when the phase's success first held, NULL: not yet */
    "  overdue_since_us INTEGER,"         /* NULL: not overdue */
    "  tier INTEGER NOT NULL DEFAULT 0,"  /* enum kz_tier */
    "  tier_since_us INTEGER,"
    "  owner TEXT," /* a CSM id, NULL: none */
    "  team TEXT,"  /* the owner's team */
    "  owner_since_us INTEGER,"
    "  unassigned INTEGER NOT NULL DEFAULT 0" /* enum kz_unassigned_reason when owner is NULL */
    ") WITHOUT ROWID;"
    /* what is 'phase', 'tier', 'success', 'overdue' or 'owner'; values are
     * names (a phase, a tier, a CSM id); for 'owner', from_team/to_team and
     * handoff (the account moved between two teams) */
    "CREATE TABLE state_changes ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id TEXT NOT NULL,"
    "  time_us INTEGER NOT NULL,"
    "  what TEXT NOT NULL,"
    "  from_value TEXT, to_value TEXT,"
    "  from_team TEXT, to_team TEXT,"
    "  handoff INTEGER NOT NULL DEFAULT 0,"
    "  run INTEGER NOT NULL" /* lifecycle_runs.id or assign_runs.id */
    ");"
    "CREATE INDEX state_changes_by_account ON state_changes (account_id, time_us);"
    "CREATE TABLE lifecycle_runs ("
    "  id INTEGER PRIMARY KEY, as_of_us INTEGER NOT NULL, time_us INTEGER NOT NULL,"
    "  accounts INTEGER NOT NULL, changes INTEGER NOT NULL"
    ");"
    "CREATE TABLE assign_runs ("
    "  id INTEGER PRIMARY KEY, time_us INTEGER NOT NULL, model TEXT NOT NULL,"
    "  assigned INTEGER NOT NULL, unassigned INTEGER NOT NULL, moved INTEGER NOT NULL, handoffs INTEGER NOT NULL"
    ");",
    /* 5: CSMs from sources (kz_csm, ABI 1.2), merged with the config's
     * <organization> when assigning. Capacities are accounts per tier,
     * NULL = never given (0), 4294967295 = unlimited; skills a JSON array. */
    "CREATE TABLE csms ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  name TEXT, email TEXT, team TEXT, region TEXT, manager TEXT,"
    "  skills TEXT,"
    "  capacity_high INTEGER, capacity_low INTEGER, capacity_tech INTEGER,"
    "  status INTEGER NOT NULL DEFAULT 1," /* enum kz_csm_status */
    "  traits TEXT,"
    "  source TEXT NOT NULL,"
    "  updated_us INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    /* the outbox (core/play): every touch a playbook triggered, written
     * before it is delivered; key is unique per playbook, account, trigger
     * occurrence and recipient. status: pending, sending (an attempt
     * started: after a crash it is tried again), retry, delivered, dead */
    "CREATE TABLE touches ("
    "  id INTEGER PRIMARY KEY,"
    "  key TEXT NOT NULL UNIQUE,"
    "  playbook TEXT NOT NULL, channel TEXT NOT NULL, account_id TEXT NOT NULL,"
    "  trigger TEXT NOT NULL, owner TEXT,"
    "  recipient_id TEXT, recipient_name TEXT, recipient_email TEXT, recipient_role TEXT,"
    "  subject TEXT NOT NULL, body TEXT NOT NULL, fields TEXT,"
    "  priority INTEGER NOT NULL, created_us INTEGER NOT NULL, due_us INTEGER,"
    "  status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_us INTEGER NOT NULL,"
    "  last_error TEXT, receipt TEXT, done_us INTEGER"
    ");"
    "CREATE INDEX touches_due ON touches (status, next_attempt_us);"
    "CREATE INDEX touches_by_account ON touches (account_id, playbook, created_us);"
    /* every status change of a touch */
    "CREATE TABLE touch_events ("
    "  touch_id INTEGER NOT NULL REFERENCES touches (id) ON DELETE CASCADE,"
    "  time_us INTEGER NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL, message TEXT"
    ");"
    "CREATE INDEX touch_events_by_touch ON touch_events (touch_id, time_us);"
    /* the task channel: a to-do for the owning CSM, written with the
     * delivery it is (one transaction) */
    "CREATE TABLE tasks ("
    "  id INTEGER PRIMARY KEY,"
    "  touch_id INTEGER NOT NULL UNIQUE REFERENCES touches (id),"
    "  csm TEXT, account_id TEXT NOT NULL, playbook TEXT NOT NULL,"
    "  title TEXT NOT NULL, body TEXT NOT NULL,"
    "  created_us INTEGER NOT NULL, due_us INTEGER, status TEXT NOT NULL DEFAULT 'open', done_us INTEGER"
    ");"
    "CREATE INDEX tasks_by_csm ON tasks (csm, status);"
    /* the grade each account had at the playbooks' last look, and since
     * when: what makes 'grade turns red' one occurrence */
    "CREATE TABLE account_grades ("
    "  account_id TEXT PRIMARY KEY NOT NULL, grade TEXT NOT NULL, since_us INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    /* 6: the per-account indexes of subscriptions and survey answers
     * cover what the KPIs and the measures read, so a pass over the book
     * in account order never leaves the index for the table (at 1 million
     * accounts and 3 million subscriptions, half the subscriptions' read) */
    "DROP INDEX subscriptions_by_account;"
    "CREATE INDEX subscriptions_by_account ON subscriptions"
    "  (account_id, period_start_us, period_end_us, mrr_minor, currency, status);"
    "DROP INDEX survey_answers_by_account;"
    "CREATE INDEX survey_answers_by_account ON survey_answers (account_id, time_us, kind, score);"
    /* and feature requests (kind 5: KZ_TICKET_FEATURE_REQUEST) have their
     * own, with their tags, for the report's and `kizuna feedback`'s pass */
    "CREATE INDEX tickets_requests ON tickets (account_id, opened_us, kind, tags) WHERE kind = 5;"
    /* and so have the lifecycle's CS-qualified leads and onboardings done,
     * a few of its many records */
    "CREATE INDEX state_changes_expansion ON state_changes (account_id, time_us, what, to_value)"
    "  WHERE what = 'phase' AND to_value = 'expansion';"
    "CREATE INDEX state_changes_onboarded ON state_changes (account_id, time_us, what, to_value)"
    "  WHERE what = 'success' AND to_value = 'onboarding';",
    /* 7: what each scorer of a run outputs ({"name": "health" or
     * "probability"}), so that its contributions can be read the right way
     * round without loading its plugin; NULL for runs stored before */
    "ALTER TABLE score_runs ADD COLUMN outputs TEXT;",
    /* 8: the owner changes of each assignment, as columns: one row per
     * assign run that changed anything, instead of one state_changes row
     * per account (a first assignment of a million accounts wrote a
     * million rows and their index entries, most of its time). ids holds
     * each changed account's id followed by a NUL byte, in byte order;
     * owners the (CSM id, team) pairs the codes index, each string
     * followed by a NUL byte ('' = no team); from_codes and to_codes one
     * little-endian int32 per change (-1: no owner); handoffs one byte per
     * change (1: the account moved between two teams). Owner changes
     * recorded before this migration stay state_changes rows 'owner'. */
    "CREATE TABLE owner_changes ("
    "  run INTEGER PRIMARY KEY REFERENCES assign_runs (id) ON DELETE CASCADE,"
    "  n INTEGER NOT NULL,"
    "  ids BLOB NOT NULL, owners BLOB NOT NULL,"
    "  from_codes BLOB NOT NULL, to_codes BLOB NOT NULL, handoffs BLOB NOT NULL"
    ");",
    /* 9: the current owners as columns too (core/store/owners.h): one
     * row, written by each assignment that changes anything, instead of
     * the owner, team, owner_since_us and unassigned of every
     * account_state row (updating a million rows was most of a first
     * assignment's time). ids as in owner_changes; owners the (CSM id,
     * team) pairs the codes index; codes one little-endian int32 per
     * account (-1: no owner), since one little-endian int64 (owner since,
     * microseconds; 0: unknown), reasons one byte (enum
     * kz_unassigned_reason). run is the assign run that wrote it, NULL
     * when migrated. owners_to_columns() below moves what account_state
     * held and drops those columns. SQL reads it as kz_owners. */
    "CREATE TABLE current_owners ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  run INTEGER,"
    "  n INTEGER NOT NULL,"
    "  ids BLOB NOT NULL, owners BLOB NOT NULL,"
    "  codes BLOB NOT NULL, since BLOB NOT NULL, reasons BLOB NOT NULL"
    ");",
};

/* Migration 9's data: the owners account_state held, into current_owners,
 * then its columns go. A row with an owner has no reason; a reason that
 * is not one becomes none. */
static gboolean owners_to_columns(sqlite3 *db, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT account_id, owner, team, coalesce(owner_since_us, 0), unassigned FROM account_state"
                           " WHERE owner IS NOT NULL OR unassigned != 0 ORDER BY account_id",
                           -1, &st, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "reading account_state's owners");
    g_autoptr(GStringChunk) strings = g_string_chunk_new(1 << 16);
    g_autoptr(GPtrArray) ids = g_ptr_array_new(), owners = g_ptr_array_new(), teams = g_ptr_array_new();
    g_autoptr(GArray) codes = g_array_new(FALSE, FALSE, sizeof(gint32));
    g_autoptr(GArray) since = g_array_new(FALSE, FALSE, sizeof(gint64));
    g_autoptr(GByteArray) reasons = g_byte_array_new();
    /* (owner, team) -> code + 1 */
    g_autoptr(GHashTable) pairs =
        g_hash_table_new_full(g_bytes_hash, g_bytes_equal, (GDestroyNotify)g_bytes_unref, NULL);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *owner = (const char *)sqlite3_column_text(st, 1), *team = (const char *)sqlite3_column_text(st, 2);
        gint32 code = -1;
        if (owner != NULL && *owner != '\0') {
            GByteArray *key = g_byte_array_new(); /* "owner\0team\0": no id holds a NUL */
            g_byte_array_append(key, (const guint8 *)owner, (guint)strlen(owner) + 1);
            g_byte_array_append(key, (const guint8 *)(team != NULL ? team : ""),
                                team != NULL ? (guint)strlen(team) + 1 : 1);
            g_autoptr(GBytes) k = g_byte_array_free_to_bytes(key);
            gpointer got;
            if (g_hash_table_lookup_extended(pairs, k, NULL, &got)) {
                code = GPOINTER_TO_INT(got) - 1;
            } else {
                code = (gint32)owners->len;
                g_ptr_array_add(owners, g_string_chunk_insert_const(strings, owner));
                g_ptr_array_add(teams,
                                team != NULL && *team != '\0' ? g_string_chunk_insert_const(strings, team) : NULL);
                g_hash_table_insert(pairs, g_steal_pointer(&k), GINT_TO_POINTER(code + 1));
            }
        }
        int why = code >= 0 ? 0 : sqlite3_column_int(st, 4);
        guint8 reason = why > 0 && why <= 3 ? (guint8)why : 0;
        gint64 t = sqlite3_column_int64(st, 3);
        g_ptr_array_add(ids, g_string_chunk_insert(strings, (const char *)sqlite3_column_text(st, 0)));
        g_array_append_val(codes, code);
        g_array_append_val(since, t);
        g_byte_array_append(reasons, &reason, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return kz_sql_fail(db, error, "reading account_state's owners");
    if (ids->len > 0) { /* no owners: no row */
        kz_owners o = {
            .run = 0, /* no assign run wrote it */
            .n = ids->len,
            .ids = (const char **)ids->pdata,
            .codes = (gint32 *)(void *)codes->data,
            .since_us = (gint64 *)(void *)since->data,
            .reasons = reasons->data,
            .n_pairs = owners->len,
            .pair_owner = (const char **)owners->pdata,
            .pair_team = (const char **)teams->pdata,
        };
        if (!kz_owners_write(db, &o, error))
            return FALSE;
    }
    return kz_sql_exec(db,
                       "ALTER TABLE account_state DROP COLUMN owner;"
                       "ALTER TABLE account_state DROP COLUMN team;"
                       "ALTER TABLE account_state DROP COLUMN owner_since_us;"
                       "ALTER TABLE account_state DROP COLUMN unassigned;",
                       error);
}

/* What a migration does besides its SQL (after it), by version; NULL: nothing */
static gboolean (*const migration_code[])(sqlite3 *db, GError **error) = {
    [8] = owners_to_columns,
};

struct kz_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *state_get, *state_set, *state_delete;
    int bulk_fd;                        /* the held lock file of an initial load, or -1 */
    GMutex lock;                        /* one thread at a time on db (see kz_store_lock) */
    gboolean (*barrier)(gpointer data); /* run before plugin state is touched, or NULL */
    gpointer barrier_data;
};

void kz_store_lock(kz_store *store)
{
    g_mutex_lock(&store->lock);
}

void kz_store_unlock(kz_store *store)
{
    g_mutex_unlock(&store->lock);
}

void kz_store_set_state_barrier(kz_store *store, gboolean (*barrier)(gpointer data), gpointer data)
{
    store->barrier = barrier;
    store->barrier_data = data;
}

/* Plugin state is written at once, after everything the plugin handed to
 * the host before (a sync may still be storing its last batch), and not
 * at all when storing that failed. FALSE (error set) then; else the lock
 * is held. */
static gboolean state_begin(kz_store *store, GError **error)
{
    if (store->barrier != NULL && !store->barrier(store->barrier_data)) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_STORE,
                    "%s: plugin state not written: storing the records emitted before it failed", store->path);
        return FALSE;
    }
    g_mutex_lock(&store->lock);
    return TRUE;
}
gboolean kz_sql_fail(sqlite3 *db, GError **error, const char *what)
{
    g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "store: %s: %s", what, sqlite3_errmsg(db));
    return FALSE;
}

gboolean kz_sql_exec(sqlite3 *db, const char *sql, GError **error)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK || kz_sql_fail(db, error, sql);
}

int kz_store_schema_latest(void)
{
    return (int)G_N_ELEMENTS(migrations);
}

sqlite3 *kz_store_db(kz_store *store)
{
    return store->db;
}

static gboolean fail(kz_store *store, GError **error, const char *what)
{
    g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "%s: %s: %s", store->path, what, sqlite3_errmsg(store->db));
    return FALSE;
}

static gboolean exec(kz_store *store, const char *sql, GError **error)
{
    char *msg = NULL;
    if (sqlite3_exec(store->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "%s: %s", store->path, msg != NULL ? msg : "failed");
        sqlite3_free(msg);
        return FALSE;
    }
    return TRUE;
}

static int user_version(kz_store *store)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int kz_store_schema_version(kz_store *store)
{
    return user_version(store);
}

static gboolean migrate(kz_store *store, GError **error)
{
    if (!exec(store, "BEGIN IMMEDIATE", error))
        return FALSE;
    int version = user_version(store);
    int latest = kz_store_schema_latest();
    if (version > latest) {
        exec(store, "ROLLBACK", NULL);
        g_set_error(error, KZ_ERROR, KZ_ERROR_VERSION,
                    "%s: the store has schema version %d, written by a newer Kizuna; this binary knows up to %d. "
                    "Upgrade kizuna to open it",
                    store->path, version, latest);
        return FALSE;
    }
    for (int v = version; v < latest; v++) {
        g_autofree char *bump = g_strdup_printf("PRAGMA user_version = %d", v + 1);
        gboolean (*code)(sqlite3 *, GError **) = v < (int)G_N_ELEMENTS(migration_code) ? migration_code[v] : NULL;
        if (!exec(store, migrations[v], error) || (code != NULL && !code(store->db, error)) ||
            !exec(store, bump, error)) {
            exec(store, "ROLLBACK", NULL);
            g_prefix_error(error, "migration %d: ", v + 1);
            return FALSE;
        }
    }
    return exec(store, "COMMIT", error);
}

/* PATH-bulk, locked (flock) by a sync while its initial load runs without
 * the events index. */
static char *bulk_path(const kz_store *store)
{
    return g_strconcat(store->path, "-bulk", NULL);
}

gboolean kz_store_bulk_begin(kz_store *store)
{
    g_autofree char *path = bulk_path(store);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (fd >= 0)
            close(fd);
        return FALSE;
    }
    store->bulk_fd = fd;
    return TRUE;
}

void kz_store_bulk_end(kz_store *store)
{
    if (store->bulk_fd < 0)
        return;
    g_autofree char *path = bulk_path(store);
    unlink(path);
    close(store->bulk_fd); /* releases the lock */
    store->bulk_fd = -1;
}

int kz_store_deliver_lock(kz_store *store, gboolean *waited, GError **error)
{
    g_autofree char *path = g_strconcat(store->path, "-deliver", NULL);
    *waited = FALSE;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "%s: cannot open the delivery lock: %s", path, g_strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        *waited = TRUE;
        int rc;
        while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
            ;
        if (rc != 0) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "%s: cannot lock: %s", path, g_strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

void kz_store_deliver_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the lock; the file stays for the next pass */
}

/* Re-creates the indexes a sync drops for an initial load, if one is
 * missing because that sync died - but not while a live sync holds the
 * bulk lock: it builds the index itself when it ends, and building it here
 * would hold the write lock for minutes under it. */
static gboolean restore_indexes(kz_store *store, GError **error)
{
    sqlite3_stmt *st = NULL;
    gboolean present = FALSE;
    if (sqlite3_prepare_v2(store->db, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, KZ_STORE_EVENTS_INDEX, -1, SQLITE_STATIC);
        present = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    if (present)
        return TRUE;
    g_autofree char *path = bulk_path(store);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        gboolean live = flock(fd, LOCK_EX | LOCK_NB) != 0;
        if (!live)
            unlink(path); /* left by a sync that died */
        close(fd);
        if (live) {
            g_debug("%s: an initial load is running; its events index comes when it ends", store->path);
            return TRUE;
        }
    }
    return exec(store, KZ_STORE_EVENTS_INDEX_SQL, error);
}

kz_store *kz_store_open(const char *path, GError **error)
{
    kz_store *store = g_new0(kz_store, 1);
    g_mutex_init(&store->lock);
    store->bulk_fd = -1;
    store->path = g_strdup(path);
    if (sqlite3_open_v2(path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        fail(store, error, "cannot open");
        kz_store_close(store);
        return NULL;
    }
    sqlite3_busy_timeout(store->db, KZ_STORE_BUSY_MS);
    sqlite3_extended_result_codes(store->db, 1);
    if (kz_owners_register(store->db) != SQLITE_OK) {
        fail(store, error, "cannot register kz_owners");
        kz_store_close(store);
        return NULL;
    }
    /* 16 KiB pages (on a new store only; a page size is fixed once a table
     * exists): a bulk load of events writes about a fifth faster than with
     * 4 KiB, and the events index is built a little faster too.
     * Two processes creating the store at once: until it is in WAL mode,
     * SQLite answers one of them SQLITE_BUSY at once where waiting could
     * deadlock, without its busy wait; that one tries again (each step is
     * idempotent, and a migration rolls back whole). */
    gboolean ok = FALSE;
    for (int attempt = 0; !ok; attempt++) {
        g_autoptr(GError) why = NULL;
        ok = exec(store,
                  "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                  "PRAGMA foreign_keys = ON;",
                  &why) &&
             migrate(store, &why) && restore_indexes(store, &why);
        if (!ok && ((sqlite3_extended_errcode(store->db) & 0xff) != SQLITE_BUSY || attempt >= 500)) {
            g_propagate_error(error, g_steal_pointer(&why));
            kz_store_close(store);
            return NULL;
        }
        if (!ok)
            g_usleep(10000 + g_random_int_range(0, 10000)); /* up to 500 tries, 5-10 s */
    }
    if (sqlite3_prepare_v3(store->db, "SELECT value FROM plugin_state WHERE instance = ?1 AND key = ?2", -1,
                           SQLITE_PREPARE_PERSISTENT, &store->state_get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(store->db,
                           "INSERT INTO plugin_state (instance, key, value, updated_us) VALUES (?1, ?2, ?3, ?4) "
                           "ON CONFLICT (instance, key) DO UPDATE SET value = excluded.value, "
                           "updated_us = excluded.updated_us",
                           -1, SQLITE_PREPARE_PERSISTENT, &store->state_set, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(store->db, "DELETE FROM plugin_state WHERE instance = ?1 AND key = ?2", -1,
                           SQLITE_PREPARE_PERSISTENT, &store->state_delete, NULL) != SQLITE_OK) {
        fail(store, error, "cannot prepare statements");
        kz_store_close(store);
        return NULL;
    }
    return store;
}

void kz_store_close(kz_store *store)
{
    if (store == NULL)
        return;
    sqlite3_finalize(store->state_get);
    sqlite3_finalize(store->state_set);
    sqlite3_finalize(store->state_delete);
    kz_store_bulk_end(store);
    sqlite3_close_v2(store->db);
    g_mutex_clear(&store->lock);
    g_free(store->path);
    g_free(store);
}

int kz_store_state_get(kz_store *store, const char *instance, const char *key, char **out, gsize *len, GError **error)
{
    if (!state_begin(store, error))
        return KZ_ERR;
    sqlite3_stmt *st = store->state_get;
    sqlite3_bind_text(st, 1, instance, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int status = KZ_ERR_NOT_FOUND;
    if (rc == SQLITE_ROW) {
        gsize n = (gsize)sqlite3_column_bytes(st, 0);
        const void *blob = sqlite3_column_blob(st, 0);
        char *copy = g_malloc(n + 1);
        if (n > 0)
            memcpy(copy, blob, n);
        copy[n] = '\0';
        *out = copy;
        *len = n;
        status = KZ_OK;
    } else if (rc != SQLITE_DONE) {
        fail(store, error, "cannot read plugin state");
        status = KZ_ERR;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    g_mutex_unlock(&store->lock);
    return status;
}

int kz_store_state_set(kz_store *store, const char *instance, const char *key, const void *data, gsize len,
                       gint64 now_us, GError **error)
{
    if (!state_begin(store, error))
        return KZ_ERR;
    sqlite3_stmt *st = store->state_set;
    sqlite3_bind_text(st, 1, instance, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 3, len > 0 ? data : "", len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_us);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        fail(store, error, "cannot write plugin state");
    g_mutex_unlock(&store->lock);
    return rc == SQLITE_DONE ? KZ_OK : KZ_ERR;
}

int kz_store_state_delete(kz_store *store, const char *instance, const char *key, GError **error)
{
    if (!state_begin(store, error))
        return KZ_ERR;
    sqlite3_stmt *st = store->state_delete;
    sqlite3_bind_text(st, 1, instance, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    int status = rc != SQLITE_DONE ? KZ_ERR : sqlite3_changes(store->db) > 0 ? KZ_OK : KZ_ERR_NOT_FOUND;
    if (rc != SQLITE_DONE)
        fail(store, error, "cannot delete plugin state");
    g_mutex_unlock(&store->lock);
    return status;
}

gboolean kz_store_integrity_check(kz_store *store, GError **error)
{
    sqlite3_stmt *st = NULL;
    gboolean ok = FALSE;
    if (sqlite3_prepare_v2(store->db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *answer = (const char *)sqlite3_column_text(st, 0);
        ok = answer != NULL && strcmp(answer, "ok") == 0;
        if (!ok)
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "%s: integrity check: %s", store->path,
                        answer != NULL ? answer : "(no answer)");
    } else {
        fail(store, error, "integrity check");
    }
    sqlite3_finalize(st);
    return ok;
}

/* Opens the store for writing just long enough for SQLite to roll back a
 * hot journal (or recover a WAL) and for the store to be in WAL mode again. */
static void recover(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, KZ_STORE_BUSY_MS);
        sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    }
    sqlite3_close_v2(db);
}

sqlite3 *kz_store_open_readonly(const char *path, GError **error)
{
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "%s: no store there yet (kizuna sync creates it)", path);
        return NULL;
    }
    sqlite3 *db = NULL;
    kz_store view = {.path = (char *)path}; /* the bare connection, for fail() and user_version() */
    int version = -1, latest = kz_store_schema_latest();
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        view.db = db;
        if (rc != SQLITE_OK) {
            fail(&view, error, "cannot open");
            sqlite3_close_v2(db);
            return NULL;
        }
        sqlite3_busy_timeout(db, KZ_STORE_BUSY_MS);
        sqlite3_extended_result_codes(db, 1);
        version = user_version(&view);
        int why = sqlite3_extended_errcode(db);
        if (version >= 0 || attempt > 0 || (why != SQLITE_READONLY_ROLLBACK && why != SQLITE_READONLY_RECOVERY))
            break;
        /* a write killed mid-way left a hot journal (or a WAL to recover)
         * that only a read-write connection may roll back: recover, as
         * opening it for writing would, and read again */
        sqlite3_close_v2(db);
        db = NULL;
        recover(path);
    }
    if (version < 0) {
        fail(&view, error, "cannot read the schema version");
    } else if (version > latest) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_VERSION,
                    "%s: the store has schema version %d, written by a newer Kizuna; this binary knows up to %d. "
                    "Upgrade kizuna to read it",
                    path, version, latest);
    } else if (version < latest) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_VERSION,
                    "%s: the store has schema version %d and this binary reads %d; run kizuna sync to upgrade it", path,
                    version, latest);
    } else if (kz_owners_register(db) != SQLITE_OK) {
        fail(&view, error, "cannot register kz_owners");
    } else {
        return db;
    }
    sqlite3_close_v2(db);
    return NULL;
}
