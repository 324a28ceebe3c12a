/*
 * core/org/assign.h — owners through organization-model plugins
 * (docs/organization.md). The host reads the book of business (accounts
 * with their region, phase, tier, ARR and current owner) and the
 * organization of the stack config into the columnar kz_org_book of
 * kizuna/orgmodel.h, lets the configured orgmodel instance assign it,
 * checks the answer (no CSM over a capacity, consistent reasons) and
 * stores the changes: owner, team, and a hand-off whenever an account
 * moves between two teams.
 */
#ifndef KZ_CORE_ASSIGN_H
#define KZ_CORE_ASSIGN_H

#include "config.h"
#include "instance.h"
#include "registry.h"
#include "store/store.h"

#include <glib.h>
#include <kizuna/orgmodel.h>

G_BEGIN_DECLS

/* The organization and the book of business, as the ABI sees them. */
typedef struct kz_org {
    kz_org_book book;
    /* storage behind the book */
    GStringChunk *strings;
    GPtrArray *account_ids;  /* const char* into strings */
    GPtrArray *stored_owner; /* const char* into strings, or NULL: the owner current_owners names */
    GPtrArray *stored_team;
    guint8 *stored_reason;  /* why it has none */
    gint64 *stored_since;   /* owner since (0: unknown) */
    gboolean stored_others; /* current_owners names accounts the book no longer has */
    gint64 owners_seen;     /* the current_owners row read: its run (0: migrated), -1: none */
    GPtrArray *regions;     /* char*, owned */
    kz_org_team *teams;
    kz_org_csm *csms;
    GPtrArray *team_ptrs, *csm_ptrs;
    GArray *team_regions;   /* guint32 per team, concatenated */
    GPtrArray *skill_names; /* const char* per CSM of a source, concatenated */
    int32_t *account_region;
    uint8_t *account_phase;
    uint8_t *account_tier;
    int64_t *account_arr;
    int32_t *current_owner;
} kz_org;

void kz_org_free(kz_org *org);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_org, kz_org_free)

/* Reads the organization of `cfg`, with the active CSMs of the sources
 * after the config's own (the config's entry wins for an id in both), and
 * every account of the store, with the phase and tier account_state
 * holds for it and the owner current_owners does. Fails when the config
 * has no <organization>, when a CSM of a source has no team of it, or
 * with the store's error (current_owners damaged: KZ_ERROR_STORE). */
kz_org *kz_org_load(kz_store *store, const kz_config *cfg, GError **error);

/* What one model made of the book. */
typedef struct kz_org_outcome {
    char *model;         /* the orgmodel instance */
    int32_t *owner;      /* n_accounts */
    uint8_t *reason;     /* n_accounts */
    uint32_t *shortfall; /* n_teams */
    guint32 *per_csm;    /* n_csms * 4: accounts by tier (index enum kz_tier) */
    guint assigned;
    guint unassigned[4];               /* by enum kz_unassigned_reason (index 0 unused) */
    guint kept, newly, moved, unowned; /* against the current owners */
    guint handoffs;                    /* moves between two teams */
} kz_org_outcome;

void kz_org_outcome_free(kz_org_outcome *o);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_org_outcome, kz_org_outcome_free)

/* Runs orgmodel instance `inst` on `book` (which may be org->book or a
 * variant of it) and checks its answer. Fails, naming the instance, when
 * the model fails or answers something impossible. */
kz_org_outcome *kz_org_assign(kz_org *org, const kz_org_book *book, kz_instance *inst, GError **error);

/* Stores `out` (from the book of `org`) in one transaction: an
 * assign_runs row, the current owners as one current_owners row
 * (store/owners.h) when any changed, and the changes of owner or team as
 * one owner_changes row (columns: store.c, migration 8). */
gboolean kz_org_store(kz_store *store, const kz_org *org, const kz_org_outcome *out, GError **error);

/* One owner change of an account. */
typedef struct kz_owner_change {
    gint64 run;                            /* assign_runs.id */
    gint64 time_us;                        /* when that assignment ran */
    char *from, *to, *from_team, *to_team; /* NULL: none */
    gboolean handoff;                      /* between two teams */
} kz_owner_change;

/* Frees the strings of `c` (not `c`) and sets them NULL. */
void kz_owner_change_clear(kz_owner_change *c);

/* The owner changes owner_changes records for account `id`, in run
 * order: kz_owner_change*, freed with the array. NULL (error set) with
 * the store's error, or when a row is damaged (naming its run). Changes
 * recorded before migration 8 are state_changes rows 'owner' and not
 * among them. */
GPtrArray *kz_org_owner_history(sqlite3 *db, const char *id, GError **error);

/* Hand-offs per account over a whole lifecycle under `inst`: the book is
 * assigned as if every account (not churned) were in onboarding, then
 * adoption, expansion and renewal, each step starting from the owners of
 * the one before; `handoffs` (n_accounts) counts the team changes. */
gboolean kz_org_lifecycle_handoffs(kz_org *org, kz_instance *inst, guint8 *handoffs, GError **error);

G_END_DECLS

#endif
