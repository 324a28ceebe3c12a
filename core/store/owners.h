/*
 * core/store/owners.h — the current owner of every account, as columns
 * (table current_owners, migration 9; layout in docs/organization.md).
 *
 * One row holds the owner, team, owner-since and unassigned reason of
 * every account of the book the last assignment that changed anything
 * saw: the ids in byte order, a dictionary of (CSM, team) pairs and one
 * code, time and reason per account. A first assignment of a million
 * accounts writes one row of a few tens of MB instead of updating a
 * million account_state rows (most of its time before). An account it
 * does not list has no owner and no reason.
 *
 * SQL reads it through the eponymous virtual table kz_owners (account_id,
 * owner, team, since_us, unassigned), registered on every store
 * connection: a lookup by account_id is a binary search, a scan is in id
 * order.
 */
#ifndef KZ_CORE_OWNERS_H
#define KZ_CORE_OWNERS_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct sqlite3 sqlite3;

typedef struct kz_owners {
    gboolean present; /* a row is stored (else n = 0) */
    gint64 run;       /* assign_runs.id that wrote it, 0: none (migrated, or nothing stored) */
    guint n;          /* accounts */
    const char **ids; /* n, in byte order */
    gint32 *codes;    /* n: the pair of its owner, -1: none */
    gint64 *since_us; /* n: since when it has had that owner (or none), 0: unknown */
    guint8 *reasons;  /* n: enum kz_unassigned_reason, 0 when it has an owner */
    guint n_pairs;
    const char **pair_owner, **pair_team; /* n_pairs: a CSM id, and their team or NULL */
    /* storage behind a set read from the store */
    char *ids_buf, *pairs_buf;
} kz_owners;

void kz_owners_free(kz_owners *o);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_owners, kz_owners_free)

/* The stored set (n = 0 when there is none). NULL (error set) with the
 * store's error, or when the row is damaged, saying how. */
kz_owners *kz_owners_read(sqlite3 *db, GError **error);

/* The position of account `id` in `o`, or -1. *hint (start it at 0) is
 * where the last search ended: a pass in id order finds each next id
 * there without a search. */
gint64 kz_owners_find(const kz_owners *o, const char *id, guint *hint);

/* Replaces the stored set with `o` (whose storage members are ignored),
 * inside the caller's transaction. Fails when the ids are not in strict
 * byte order or a code names no pair. */
gboolean kz_owners_write(sqlite3 *db, const kz_owners *o, GError **error);

/* Registers the kz_owners virtual table on `db`; an SQLite result code. */
int kz_owners_register(sqlite3 *db);

G_END_DECLS

#endif
