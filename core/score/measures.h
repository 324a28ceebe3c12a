/*
 * core/score/measures.h — the measures of the stack config (<measures>),
 * rolled up per account into a columnar table that the scorers read.
 *
 * A measure is an account field or trait, or an aggregate over a window of
 * usage events, tickets, surveys or subscriptions that ends at the as-of
 * time (exclusive). Windows are whole days: the as-of of a rollup is a
 * midnight UTC, by default the one that ends today, so that every rollup
 * of one day sees the same windows and a second run that day has nothing
 * to do.
 *
 * Stored columnar (migration 3): one row per measure holding its values
 * for every account of a roster (the sorted list of account ids). A
 * rollup computes again only the measures whose definition, as-of, roster
 * or input data (data_generations, which sync moves on) changed.
 *
 * Missing values: a field or trait the account lacks, an average of no
 * events, a latest answer that never came, a renewal date not set, an MRR
 * change from nothing are NaN (categorical: code -1). Counts and sums of
 * nothing are 0, and so is the age of the oldest open ticket when none is
 * open. docs/scoring.md lists every kind with its rule.
 */
#ifndef KZ_CORE_MEASURES_H
#define KZ_CORE_MEASURES_H

#include "config.h"
#include "store/store.h"

#include <kizuna/scorer.h>

G_BEGIN_DECLS

#define KZ_DAY_US G_GINT64_CONSTANT(86400000000)

/* Account ids in byte order. */
typedef struct kz_roster {
    gint64 id; /* rosters.id, 0 before it is stored */
    guint n;
    char *blob; /* each id followed by NUL */
    gsize blob_len;
    const char **ids; /* n pointers into blob */
    guint8 digest[32];
    gint64 generation; /* of the accounts when it was read */
} kz_roster;

void kz_roster_free(kz_roster *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_roster, kz_roster_free)

/* The position of `id` in the roster, or -1. */
gint64 kz_roster_find(const kz_roster *r, const char *id);

/* Reads roster `id` of the store; NULL (error set) when it is not there. */
kz_roster *kz_roster_load(sqlite3 *db, gint64 id, GError **error);

/* One measure for every account of a roster. */
typedef struct kz_measure_column {
    char *name;
    int type;          /* enum kz_column_type */
    double *values;    /* KZ_COLUMN_DOUBLE: n, NaN = missing */
    gint32 *codes;     /* KZ_COLUMN_CATEGORICAL: n, -1 = missing */
    GPtrArray *levels; /* KZ_COLUMN_CATEGORICAL: char*, byte order */
    gboolean computed; /* by this rollup, not read back from the store */
} kz_measure_column;

/* Every configured measure, in config order, over one roster. */
typedef struct kz_measure_set {
    kz_roster *roster;
    gint64 as_of_us;
    GPtrArray *columns; /* kz_measure_column* */
    guint8 digest[32];  /* of the roster, the as-of and every column's definition and inputs */
} kz_measure_set;

void kz_measure_set_free(kz_measure_set *set);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_measure_set, kz_measure_set_free)

/* The column called `name`, or NULL. */
const kz_measure_column *kz_measure_set_find(const kz_measure_set *set, const char *name);

/* Checks what the schema cannot: each kind has the attributes it needs
 * and no others, fields and priorities exist. One "file:line: message"
 * per problem; TRUE when none. */
gboolean kz_measures_check(const kz_config *cfg, GPtrArray *errors);

/* The midnight UTC that ends the day of `now_us`: the default as-of. A
 * date given by the user ("--as-of 2026-01-31") is its own midnight:
 * windows that end when that day begins. */
gint64 kz_measures_default_as_of(gint64 now_us);

/* Rolls up every configured measure as of `as_of_us` and returns them.
 * With `store_it`, the columns computed again are stored (and the others
 * read back); without, everything is computed in memory and nothing is
 * written (a backtest at a past date). Fails with the store's error. */
kz_measure_set *kz_measures_rollup(kz_store *store, const kz_config *cfg, gint64 as_of_us, gboolean store_it,
                                   GError **error);

/* Column `c` of `set` as the scorer ABI sees it (values, codes and levels
 * point into the set; levels_out must hold c->levels->len pointers). */
void kz_measure_column_view(const kz_measure_column *c, kz_column *out, const char **levels_out);

/* Little-endian BLOB <-> native arrays (the store's columnar format). */
void kz_blob_put_doubles(void *dst, const double *src, gsize n);
void kz_blob_get_doubles(double *dst, const void *src, gsize n);

G_END_DECLS

#endif
