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

G_END_DECLS

#endif
