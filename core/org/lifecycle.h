/*
 * core/org/lifecycle.h — the lifecycle phase and the touch tier of every
 * account (docs/lifecycle.md), evaluated from the <lifecycle> and <tiers>
 * of the stack config and kept in account_state (migration 4) with every
 * change in state_changes.
 *
 * Conditions are expressions (core/expr) over the account: its fields and
 * traits, its numeric measures as of the evaluation (core/score/measures),
 * and the fields `today`, `contract_days` and `renewal_days`; tier rules
 * may also read `phase`. They are compiled to SQL and run in the store, so
 * a condition means exactly what it means in `kizuna accounts --where`.
 *
 * An evaluation is as of a day (the midnight of kz_measures_default_as_of)
 * and is idempotent: evaluating the same day again changes nothing. The
 * lifecycle only moves forward in time: an as-of before the last one
 * evaluated is refused.
 */
#ifndef KZ_CORE_LIFECYCLE_H
#define KZ_CORE_LIFECYCLE_H

#include "config.h"
#include "expr/expr_sql.h"
#include "store/store.h"

#include <glib.h>

G_BEGIN_DECLS

/* Checks every lifecycle and tier condition against its scope (names,
 * types) and the lifecycle's shape. One "file:line: message" per problem;
 * TRUE when none. Needs no store. */
gboolean kz_lifecycle_check(const kz_config *cfg, GPtrArray *errors);

/* What one evaluation did. */
typedef struct kz_lifecycle_summary {
    gint64 as_of_us;
    guint accounts;
    guint phase_changes; /* accounts whose phase changed */
    guint tier_changes;
    guint successes;    /* phases whose success was recorded in this evaluation */
    guint new_overdue;  /* accounts that became overdue */
    guint per_phase[6]; /* by enum kz_phase, after the evaluation */
    guint per_tier[4];  /* by enum kz_tier */
    guint overdue;
    gboolean repeated; /* this as-of had been evaluated before */
} kz_lifecycle_summary;

/* Evaluates phases and tiers of every account as of `as_of_us`, in one
 * transaction. With neither <lifecycle> nor <tiers> there is nothing to
 * do (summary zero). Fails with KZ_ERROR_INVALID for an as-of before the
 * last evaluation, or with the store's error. */
gboolean kz_lifecycle_run(kz_store *store, const kz_config *cfg, gint64 as_of_us, kz_lifecycle_summary *out,
                          GError **error);

/* The as-of of the last evaluation, or 0 when there was none. */
gint64 kz_lifecycle_last_as_of(sqlite3 *db);

/* The scope of account conditions as the lifecycle sees them (fields,
 * traits, numeric measures, today, contract_days, renewal_days; with
 * `with_phase` also phase), for other parts that judge accounts the same
 * way (playbooks). Its SQL reads `a` (accounts), `st` (account_state) and
 * `lm` (temp.lc_measures). */
typedef struct kz_account_scope kz_account_scope;
kz_account_scope *kz_account_scope_new(const kz_config *cfg, gint64 as_of_us, gboolean with_phase);
void kz_account_scope_free(kz_account_scope *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_account_scope, kz_account_scope_free)
/* Adds a field; takes `sql`. */
void kz_account_scope_add(kz_account_scope *s, const char *name, char *sql, int type, const char *help);
const kz_expr_scope *kz_account_scope_expr(kz_account_scope *s);
/* Adds the measures `e` reads to `used` (name -> kz_config_measure*). */
void kz_account_scope_measures(const kz_account_scope *s, const kz_expr *e, GHashTable *used);
/* Fills temp.lc_measures with the measures in `used` as of `as_of_us`. */
gboolean kz_account_measures_load(kz_store *store, const kz_config *cfg, gint64 as_of_us, GHashTable *used,
                                  GError **error);

G_END_DECLS

#endif
