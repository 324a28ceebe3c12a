/*
 * plugins/orgmodels/orgmodels.h — what the files of the `orgmodels` plugin
 * share: the three organization models, an instance's configuration, the
 * shared assignment engine (engine.c) and the models' team rankings
 * (models.c). Private to the plugin: nothing here crosses the ABI.
 */
#ifndef KZ_ORGMODELS_H
#define KZ_ORGMODELS_H

#include <kizuna/kizuna.h>

#include <stdint.h>

/* The organization models, one component each. */
enum om_model {
    OM_ALLROUNDER = 1, /* any covering team, most specific first */
    OM_SPECIALIST = 2, /* ownership follows the phase; high touch to a concierge team first */
    OM_AREA = 3        /* high and low touch by region; tech touch to a cross-area team */
};

/* One instance: its model and the tier weights of the weighted load. */
typedef struct om_instance {
    const kz_host *host;
    kz_ctx *ctx;
    int model;        /* enum om_model */
    double weight[4]; /* indexed by enum kz_tier; [0] unused; each > 0 */
} om_instance;

/* ---- engine.c ------------------------------------------------------------ */

/* Assigns every account of `book` into `result` with the model and weights
 * of `inst` (see the comment at the top of engine.c). Returns KZ_OK,
 * KZ_ERR_INVALID (a struct too small, an array missing, an index out of
 * range or an enum value this plugin does not know; the message set with
 * set_error names the account, team or CSM) or KZ_ERR_NOMEM. */
int om_assign(const om_instance *inst, const kz_org_book *book, kz_org_result *result);

/* ---- models.c ------------------------------------------------------------ */

/* The teams of a book as the models rank them. */
typedef struct om_teams {
    const kz_org_book *book;
    const uint32_t *by_specificity; /* n_teams team indexes, most specific first */
    const uint8_t *lists_region;    /* n_teams: 1 when the team lists the region being ranked */
} om_teams;

/* Writes to out[] (room for n_teams) the teams that may own an account of
 * `phase`, `tier` and the region marked in teams->lists_region, in the
 * order `model` tries them; returns how many. 0 = no team (NO_TEAM).
 * phase is 0..4 (churned accounts never get here), tier 1..3. */
uint32_t om_rank_teams(int model, const om_teams *teams, unsigned phase, unsigned tier, uint32_t *out);

/* A team's specificity key: teams are tried in ascending key order, ties
 * by team index. Fewer phase bits first (0 = every phase = least
 * specific), then fewer tier bits (0 = every tier), then fewer listed
 * regions (none = every region = least specific). */
uint64_t om_team_specificity(const kz_org_team *team);

#endif
