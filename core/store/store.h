/*
 * core/store/store.h — the embedded store (SQLite). Opens or creates the
 * database, runs the numbered migrations, and refuses a database written
 * by a newer Kizuna. Each table has one owner in core/; this file owns the
 * connection, the schema version and the plugin_state table.
 */
#ifndef KZ_CORE_STORE_H
#define KZ_CORE_STORE_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct kz_store kz_store;
typedef struct sqlite3 sqlite3;

/* Opens (creating if needed) the store at `path` in WAL mode and brings
 * its schema up to date. Fails with KZ_ERROR_VERSION when the file's
 * schema is newer than this binary knows. */
kz_store *kz_store_open(const char *path, GError **error);
void kz_store_close(kz_store *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_store, kz_store_close)

/* The schema version this binary writes, and the one of an open store. */
int kz_store_schema_latest(void);
int kz_store_schema_version(kz_store *store);

/* The connection, for the core modules that own other tables. */
sqlite3 *kz_store_db(kz_store *store);

/* Per-instance plugin state (kz_host.state_*). get returns KZ_OK with a
 * newly allocated copy (NUL-terminated, terminator not counted) or
 * KZ_ERR_NOT_FOUND; every call returns KZ_ERR with `error` set on an I/O
 * failure. */
int kz_store_state_get(kz_store *store, const char *instance, const char *key, char **out, gsize *len, GError **error);
int kz_store_state_set(kz_store *store, const char *instance, const char *key, const void *data, gsize len,
                       gint64 now_us, GError **error);
int kz_store_state_delete(kz_store *store, const char *instance, const char *key, GError **error);

/* Indexes the sync stage may drop for an initial bulk load and build
 * afterwards (faster by sorting than by millions of random inserts).
 * kz_store_open() re-creates any that are missing, so a bulk load killed
 * before it re-created them leaves no store without them. */
#define KZ_STORE_EVENTS_INDEX "usage_events_by_account"

/* how long a connection waits for another's lock before SQLITE_BUSY */
#define KZ_STORE_BUSY_MS 5000
#define KZ_STORE_EVENTS_INDEX_SQL                                                                                      \
    "CREATE INDEX IF NOT EXISTS usage_events_by_account ON usage_events (account_id, time_us)"

/* The connection serves one thread at a time. The sync stage writes on a
 * thread of its own while the source runs on the caller's: it holds the
 * lock for each transaction, and the plugin state calls take it too. */
void kz_store_lock(kz_store *store);
void kz_store_unlock(kz_store *store);

/* While set, `barrier` runs before every plugin state call (without the
 * lock held): the sync waits there until the batches a source emitted
 * before the call are stored, so state a plugin writes after emit() is
 * never ahead of the data; when storing them failed it returns FALSE and
 * the state call fails instead. NULL clears it. */
void kz_store_set_state_barrier(kz_store *store, gboolean (*barrier)(gpointer data), gpointer data);

/* An initial load that dropped the events index holds PATH-bulk locked
 * from before the drop until the index is built again (or the process
 * dies): meanwhile kz_store_open() in other processes does not rebuild the
 * index under it. begin is FALSE when another process holds it. */
gboolean kz_store_bulk_begin(kz_store *store);
void kz_store_bulk_end(kz_store *store);

/* One process at a time delivers the outbox: PATH-deliver, locked
 * (flock) from before a pass reads what is due until it has recorded the
 * last outcome, or the process dies (a killed delivery does not block the
 * next). Without it two passes could each send the same due touch.
 * Returns the held descriptor, waiting for another process's pass to end
 * first (*waited set when it had to); -1 with `error` set when the lock
 * file cannot be opened. kz_store_deliver_unlock() releases it. */
int kz_store_deliver_lock(kz_store *store, gboolean *waited, GError **error);
void kz_store_deliver_unlock(int fd);

/* For the core modules that own tables: sets `error` (KZ_ERROR_STORE,
 * "store: WHAT: sqlite's message") and returns FALSE; and runs `sql`
 * (statements without results), failing the same way. */
gboolean kz_sql_fail(sqlite3 *db, GError **error, const char *what);
gboolean kz_sql_exec(sqlite3 *db, const char *sql, GError **error);

/* Runs PRAGMA integrity_check; TRUE when the answer is "ok". */
gboolean kz_store_integrity_check(kz_store *store, GError **error);

/* Opens the store at `path` for reading only (SQLITE_OPEN_READONLY): it is
 * never created or migrated. Fails when there is no file, or when its
 * schema version is not the one this binary writes (KZ_ERROR_VERSION). For
 * commands that only read, such as `kizuna accounts`; the caller closes
 * the connection with sqlite3_close(). */
sqlite3 *kz_store_open_readonly(const char *path, GError **error);

G_END_DECLS

#endif
