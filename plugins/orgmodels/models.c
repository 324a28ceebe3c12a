/*
 * plugins/orgmodels/models.c — which teams may own an account under each
 * organization model, and in which order they are tried. The engine
 * (engine.c) calls om_rank_teams() once per distinct (phase, tier,
 * region) of the book, so nothing here is on the per-account path.
 *
 * A team COVERS an account when its phases mask allows the account's phase
 * (0 = every phase), its tiers mask allows the account's tier (0 = every
 * tier) and it lists the account's region (no region listed = every
 * region; an account of unknown region is covered only by teams listing
 * none). Within every rule below, teams are tried most specific first
 * (om_team_specificity).
 *
 *  allrounder: every covering team.
 *  specialist: ownership follows the phase. A high-touch account tries the
 *              covering concierge teams first (function "concierge", or a
 *              tiers mask of exactly high touch), then the other covering
 *              teams. An account of unknown phase (NONE) is covered only by
 *              teams whose phases mask is 0.
 *  area:       high and low touch: the covering teams that list the
 *              account's region (a team listing none is not a fallback).
 *              Tech touch: the covering cross-area teams (no region
 *              listed); only when there is none, the covering region teams.
 */
#include "orgmodels.h"

#include <stddef.h>

static unsigned bit_count(uint32_t mask)
{
    unsigned n = 0;
    for (; mask != 0; mask &= mask - 1)
        n++;
    return n;
}

/* Specificity keys: a mask of 0 means "all", the least specific. */
static unsigned phase_bits(const kz_org_team *t)
{
    return t->phases == 0 ? 6 : bit_count(t->phases & 0x3fu);
}

static unsigned tier_bits(const kz_org_team *t)
{
    return t->tiers == 0 ? 3 : bit_count(t->tiers & KZ_TIER_MASK_ALL);
}

uint64_t om_team_specificity(const kz_org_team *t)
{
    const uint64_t regions = t->n_regions == 0 ? UINT64_C(1) << 32 : t->n_regions; /* 33 bits */
    return (uint64_t)phase_bits(t) << 35 | (uint64_t)tier_bits(t) << 33 | regions;
}

static int covers(const om_teams *teams, uint32_t k, unsigned phase, unsigned tier)
{
    const kz_org_team *t = teams->book->teams[k];
    return (t->phases == 0 || (t->phases & KZ_PHASE_MASK(phase)) != 0) &&
           (t->tiers == 0 || (t->tiers & KZ_TIER_MASK(tier)) != 0) && (t->n_regions == 0 || teams->lists_region[k]);
}

/* ASCII case-insensitive equality with a NUL-terminated lower-case word. */
static int is_word(const char *s, const char *lower)
{
    if (s == NULL)
        return 0;
    for (; *s != '\0' && *lower != '\0'; s++, lower++) {
        const char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        if (c != *lower)
            return 0;
    }
    return *s == '\0' && *lower == '\0';
}

static int is_concierge(const kz_org_team *t)
{
    return is_word(t->function, "concierge") || t->tiers == KZ_TIER_MASK(KZ_TIER_HIGH);
}

/* Which teams a rule pass takes. */
enum pick {
    PICK_ALL,         /* every covering team */
    PICK_CONCIERGE,   /* specialist: covering concierge teams */
    PICK_OTHER,       /* specialist: covering teams that are not concierge */
    PICK_REGION_TEAM, /* area: covering teams that list regions */
    PICK_CROSS_AREA   /* area: covering teams that list none */
};

/* Appends to out[n...] the teams `pick` takes, most specific first;
 * returns the new count. */
static uint32_t take(const om_teams *teams, enum pick pick, int phase_unknown_needs_all, unsigned phase, unsigned tier,
                     uint32_t *out, uint32_t n)
{
    for (uint32_t j = 0; j < teams->book->n_teams; j++) {
        const uint32_t k = teams->by_specificity[j];
        const kz_org_team *t = teams->book->teams[k];
        if (!covers(teams, k, phase, tier))
            continue;
        if (phase_unknown_needs_all && phase == KZ_PHASE_NONE && t->phases != 0)
            continue;
        int ok = 1;
        switch (pick) {
        case PICK_ALL: break;
        case PICK_CONCIERGE: ok = is_concierge(t); break;
        case PICK_OTHER: ok = !is_concierge(t); break;
        case PICK_REGION_TEAM: ok = t->n_regions > 0; break;
        case PICK_CROSS_AREA: ok = t->n_regions == 0; break;
        }
        if (ok)
            out[n++] = k;
    }
    return n;
}

uint32_t om_rank_teams(int model, const om_teams *teams, unsigned phase, unsigned tier, uint32_t *out)
{
    uint32_t n = 0;
    switch (model) {
    case OM_ALLROUNDER: n = take(teams, PICK_ALL, 0, phase, tier, out, 0); break;
    case OM_SPECIALIST:
        if (tier == KZ_TIER_HIGH) {
            n = take(teams, PICK_CONCIERGE, 1, phase, tier, out, 0);
            n = take(teams, PICK_OTHER, 1, phase, tier, out, n);
        } else {
            n = take(teams, PICK_ALL, 1, phase, tier, out, 0);
        }
        break;
    case OM_AREA:
        if (tier == KZ_TIER_TECH) {
            n = take(teams, PICK_CROSS_AREA, 0, phase, tier, out, 0);
            if (n == 0)
                n = take(teams, PICK_REGION_TEAM, 0, phase, tier, out, 0);
        } else {
            n = take(teams, PICK_REGION_TEAM, 0, phase, tier, out, 0);
        }
        break;
    }
    return n;
}
