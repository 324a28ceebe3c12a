/*
 * kizuna/orgmodel.h — the organization-model component: decides which CSM
 * owns each account (all-rounder, specialist, area-based, or a company's
 * own model).
 *
 * The host hands the whole book of business at once: accounts as columns
 * (a million of them must cross the ABI cheaply), teams and CSMs as small
 * arrays of structs. The model writes one owner per account and, when
 * capacity is short, how many more CSMs each team would need. It must
 * never put more accounts of a tier on a CSM than that CSM's capacity for
 * the tier, and should keep current owners where they are still valid.
 */
#ifndef KIZUNA_ORGMODEL_H
#define KIZUNA_ORGMODEL_H

#include "channel.h" /* enum kz_tier */
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Lifecycle phases, from DOMAIN.md. */
enum kz_phase {
    KZ_PHASE_NONE = 0,
    KZ_PHASE_ONBOARDING = 1,
    KZ_PHASE_ADOPTION = 2,
    KZ_PHASE_EXPANSION = 3,
    KZ_PHASE_RENEWAL = 4,
    KZ_PHASE_CHURNED = 5
};
#define KZ_PHASE_MASK(p) (1u << (p))

/* Capacity values with a meaning of their own. */
#define KZ_CAPACITY_NONE      0u         /* owns no account of the tier */
#define KZ_CAPACITY_UNLIMITED UINT32_MAX /* e.g. a pooled tech-touch CSM */

/* A team of CSMs and what it covers. */
typedef struct kz_org_team {
    uint32_t size;   /* sizeof(kz_org_team) */
    uint32_t phases; /* KZ_PHASE_MASK() bits of the phases it covers; 0 = all */
    uint32_t tiers;  /* KZ_TIER_MASK() bits of the tiers it covers; 0 = all */
    uint32_t n_regions;
    const char *id;
    const char *function;    /* free text from the config: "onboarding", "concierge", ... */
    const uint32_t *regions; /* indexes into kz_org_book.regions; n_regions = 0: every region */
} kz_org_team;

/* A CSM: a person who can own accounts. */
typedef struct kz_org_csm {
    uint32_t size; /* sizeof(kz_org_csm) */
    int32_t team;  /* index into kz_org_book.teams */
    const char *id;
    const char *name;
    int32_t region; /* index into kz_org_book.regions, -1 = none */
    uint32_t n_skills;
    const char *const *skills;
    /* How many accounts of each tier this CSM can own, indexed by enum
     * kz_tier (capacity[KZ_TIER_HIGH]); capacity[0] is unused. The three
     * tiers are fixed for ABI major 1. KZ_CAPACITY_NONE (0) = none,
     * KZ_CAPACITY_UNLIMITED = no limit. Tiers are counted separately: a
     * CSM full on high touch may still take tech-touch accounts. */
    uint32_t capacity[4];
} kz_org_csm;

/* The book of business. Account arrays have n_accounts entries each. */
typedef struct kz_org_book {
    uint32_t size; /* sizeof(kz_org_book) */
    uint32_t n_accounts;
    uint32_t n_teams;
    uint32_t n_csms;
    uint32_t n_regions;
    uint32_t reserved_;
    const char *const *regions; /* distinct region names */
    const kz_org_team *const *teams;
    const kz_org_csm *const *csms;

    const char *const *account_ids;
    const int32_t *account_region;    /* index into regions, -1 = unknown */
    const uint8_t *account_phase;     /* enum kz_phase */
    const uint8_t *account_tier;      /* enum kz_tier */
    const int64_t *account_arr_minor; /* KZ_INT_NONE = unknown */
    const int32_t *current_owner;     /* index into csms, -1 = none */
} kz_org_book;

enum kz_unassigned_reason {
    KZ_UNASSIGNED_NONE = 0,        /* the account has an owner */
    KZ_UNASSIGNED_NO_TEAM = 1,     /* no team covers its region, phase or tier */
    KZ_UNASSIGNED_NO_CAPACITY = 2, /* a team covers it but every CSM is full */
    KZ_UNASSIGNED_EXCLUDED = 3     /* the model leaves it unowned on purpose (churned) */
};

/* The model's answer. Arrays are allocated by the host, sized from the
 * book, and filled by the model. */
typedef struct kz_org_result {
    uint32_t size; /* sizeof(kz_org_result) */
    uint32_t reserved_;
    int32_t *owner;  /* n_accounts: index into csms, -1 = unassigned */
    uint8_t *reason; /* n_accounts: enum kz_unassigned_reason */
    /* n_teams: how many more CSMs the team needs for the accounts left
     * with KZ_UNASSIGNED_NO_CAPACITY. Per tier t: ceil(accounts of tier t
     * left without capacity / the median capacity[t] of the team's CSMs
     * that have any); the team's figure is the maximum over tiers. */
    uint32_t *shortfall_csms;
} kz_org_result;

/* The orgmodel vtable. Required: size, create, destroy, assign. */
typedef struct kz_orgmodel_vtable {
    uint32_t size;      /* sizeof(kz_orgmodel_vtable) */
    uint32_t reserved_; /* 0: the loader refuses anything else */
    /* Creates an instance from its parameters; must not reach outside
     * systems or write anything (`kizuna check` creates every instance to
     * validate it). On failure, say why with set_error. */
    int (*create)(const kz_host *host, kz_ctx *ctx, void **self);
    void (*destroy)(void *self);
    /* Assigns every account of the book. Must never exceed a capacity;
     * should keep a current owner who is still valid (same team coverage,
     * capacity left), so that assigning twice changes nothing. */
    int (*assign)(void *self, const kz_org_book *book, kz_org_result *result);
} kz_orgmodel_vtable;

#ifdef __cplusplus
}
#endif
#endif /* KIZUNA_ORGMODEL_H */
