/*
 * plugins/orgmodels/engine.c — the assignment engine the three
 * organization models share: from a book of business (accounts, teams,
 * CSMs) to one owner per account and each team's shortfall of CSMs. The
 * models differ only in which teams may own an account and in which
 * order they are tried (models.c); everything below is common.
 *
 * Accounts no model assigns: a churned account (phase CHURNED) and one of
 * unknown tier (tier NONE: no capacity slot fits it) get owner -1 and
 * KZ_UNASSIGNED_EXCLUDED. A phase above 5 or a tier above 3 is refused
 * (KZ_ERR_INVALID naming the account). An account no team may own gets
 * KZ_UNASSIGNED_NO_TEAM.
 *
 * ORDER: the assignable accounts are taken high touch first, then low,
 * then tech; within a tier by ARR descending (unknown ARR last), then by
 * account index. The result depends on nothing else (no hash order).
 *
 * 1. KEEP: in that order, an account keeps its current owner when the
 *    owner's team may own it and the owner has room left in its tier. So
 *    when a CSM's capacity shrinks, its largest accounts stay.
 * 2. FILL: in that order, every other account goes to the first of its
 *    teams (in the model's order) that has a CSM with room in its tier;
 *    within the team to the CSM with the least weighted load (sum over
 *    tiers of accounts x weight_<tier>), then the fewest accounts, then
 *    the lowest index. Capacity is per tier: KZ_CAPACITY_NONE takes none,
 *    KZ_CAPACITY_UNLIMITED any number; no capacity is ever exceeded.
 * 3. An account none of whose teams has room gets KZ_UNASSIGNED_NO_CAPACITY
 *    and counts against its FIRST team. A team's shortfall is the maximum
 *    over tiers t of ceil(left_t / m_t), m_t the median (the lower middle
 *    of an even count) of capacity[t] over the team's CSMs with a finite
 *    capacity above 0 for t; when the team has none, the median over every
 *    CSM of the book; when the book has none either, 1 CSM.
 *
 * Consequences: assigning again with the result as current owners changes
 * nothing; removing a CSM moves only its accounts; lowering a CSM's
 * capacity moves only its smallest accounts of that tier beyond the new
 * capacity; a tier change moves the changed account only, unless its
 * owner is full in the new tier and the account outranks (by ARR) one of
 * the owner's accounts of that tier, which then yields its slot. An
 * account that was waiting for capacity may take a slot freed this way.
 *
 * Cost: O(n log n) in accounts at worst (a stable radix sort, one hash
 * lookup per account), the teams ranked once per distinct (phase, tier,
 * region), and per tier one binary min-heap of CSMs per team.
 */
#include "orgmodels.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_CLASS UINT32_MAX

/* ORDER visits accounts at random: ask for an account's cache lines a few
 * accounts ahead. Only a hint; nothing depends on it. */
#define AHEAD 16
#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* The accounts sharing a phase, tier and region share their teams. */
typedef struct om_class {
    size_t off;      /* into pool: len teams in the model's order, then the same sorted by index */
    uint32_t len;    /* 0: no team */
    uint32_t cursor; /* fill: teams before it in the model's order are full for the class's tier */
} om_class;

/* One assign() call's working memory. */
typedef struct run {
    const om_instance *inst;
    const kz_org_book *book;
    kz_org_result *result;

    /* Teams. */
    uint32_t *by_specificity; /* n_teams */
    uint8_t *lists_region;    /* n_teams, 0 between rankings */
    uint32_t *region_first;   /* n_regions + 1: the teams listing region r are */
    uint32_t *region_teams;   /*   region_teams[region_first[r] .. region_first[r + 1]) */
    uint32_t *team_first;     /* n_teams + 1: the CSMs of team k are */
    uint32_t *team_csms;      /*   team_csms[team_first[k] .. team_first[k + 1]) */
    uint32_t *ranked;         /* n_teams: om_rank_teams() output */

    /* CSMs, [c * 4 + tier]. */
    uint32_t *cap;
    uint32_t *count;
    uint32_t *total; /* accounts of every tier */
    double *load;    /* weighted load */
    uint32_t *heap;  /* fill: team k's heap at heap[team_first[k]], heap_size[k] entries */
    uint32_t *heap_size;

    /* Classes and the hash from (phase, tier, region) to them. */
    uint32_t *class_of; /* n_accounts; NO_CLASS when excluded */
    om_class *classes;
    uint32_t n_classes, max_classes;
    uint64_t *slot_key;
    uint32_t *slot_class; /* NO_CLASS = empty slot */
    uint64_t slot_mask;
    uint32_t *pool;
    size_t pool_len, pool_cap;

    /* The assignable accounts in ORDER; tier t occupies [seg[t], seg[t - 1]) with seg[3] = 0. */
    uint32_t *order;
    uint32_t n_order;
    uint32_t seg[4];

    uint32_t *left; /* [team * 4 + tier]: accounts left without capacity */
} run;

static void run_free(run *r)
{
    free(r->by_specificity);
    free(r->lists_region);
    free(r->region_first);
    free(r->region_teams);
    free(r->team_first);
    free(r->team_csms);
    free(r->ranked);
    free(r->cap);
    free(r->count);
    free(r->total);
    free(r->load);
    free(r->heap);
    free(r->heap_size);
    free(r->class_of);
    free(r->classes);
    free(r->slot_key);
    free(r->slot_class);
    free(r->pool);
    free(r->order);
    free(r->left);
}

/* Sets the instance's error message and returns rc. */
static int fail(const run *r, int rc, const char *fmt, ...) KZ_PRINTF(3, 4);
static int fail(const run *r, int rc, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->inst->host->set_error(r->inst->ctx, "%s", msg);
    return rc;
}

static int out_of_memory(const run *r)
{
    return fail(r, KZ_ERR_NOMEM, "out of memory assigning %u accounts", r->book->n_accounts);
}

/* malloc(n * size) with the product checked; never 0 bytes. */
static void *alloc_array(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    return malloc(n * size > 0 ? n * size : 1);
}

static void *zalloc_array(size_t n, size_t size)
{
    return calloc(n > 0 ? n : 1, size > 0 ? size : 1);
}

static const char *account_name(const kz_org_book *b, uint32_t i, char *buf, size_t len)
{
    if (b->account_ids != NULL && b->account_ids[i] != NULL)
        return b->account_ids[i];
    snprintf(buf, len, "#%u", i);
    return buf;
}

static const char *or_index(const char *id, uint32_t i, char *buf, size_t len)
{
    if (id != NULL)
        return id;
    snprintf(buf, len, "#%u", i);
    return buf;
}

/* ---- checking the book ------------------------------------------------------- */

static int check_teams_and_csms(const run *r)
{
    const kz_org_book *b = r->book;
    char buf[16];
    if ((b->n_teams > 0 && b->teams == NULL) || (b->n_csms > 0 && b->csms == NULL) ||
        (b->n_regions > 0 && b->regions == NULL))
        return fail(r, KZ_ERR_INVALID, "the book has teams, CSMs or regions but no array of them");
    for (uint32_t k = 0; k < b->n_teams; k++) {
        const kz_org_team *t = b->teams[k];
        if (t == NULL || !KZ_HAS_FIELD(t, kz_org_team, regions))
            return fail(r, KZ_ERR_INVALID, "team %u: %s (size %u, a kz_org_team has %zu bytes)", k,
                        t == NULL ? "missing" : "struct too small", t == NULL ? 0u : t->size, sizeof(kz_org_team));
        if (t->n_regions > 0 && t->regions == NULL)
            return fail(r, KZ_ERR_INVALID, "team '%s' lists %u regions but has no array of them",
                        or_index(t->id, k, buf, sizeof buf), t->n_regions);
        for (uint32_t j = 0; j < t->n_regions; j++)
            if (t->regions[j] >= b->n_regions)
                return fail(r, KZ_ERR_INVALID, "team '%s' lists region index %u, but the book has %u regions",
                            or_index(t->id, k, buf, sizeof buf), t->regions[j], b->n_regions);
    }
    for (uint32_t c = 0; c < b->n_csms; c++) {
        const kz_org_csm *m = b->csms[c];
        if (m == NULL || !KZ_HAS_FIELD(m, kz_org_csm, capacity))
            return fail(r, KZ_ERR_INVALID, "CSM %u: %s (size %u, a kz_org_csm has %zu bytes)", c,
                        m == NULL ? "missing" : "struct too small", m == NULL ? 0u : m->size, sizeof(kz_org_csm));
        if (m->team < 0 || (uint32_t)m->team >= b->n_teams)
            return fail(r, KZ_ERR_INVALID, "CSM '%s': team index %d is out of range (the book has %u teams)",
                        or_index(m->id, c, buf, sizeof buf), m->team, b->n_teams);
    }
    return KZ_OK;
}

static int check_accounts(const run *r)
{
    const kz_org_book *b = r->book;
    char buf[16];
    if (b->n_accounts > 0 && (b->account_phase == NULL || b->account_tier == NULL))
        return fail(r, KZ_ERR_INVALID, "the book has %u accounts but no phase or tier column", b->n_accounts);
    for (uint32_t i = 0; i < b->n_accounts; i++) {
        if (b->account_phase[i] > KZ_PHASE_CHURNED)
            return fail(r, KZ_ERR_INVALID, "account '%s': phase %u is unknown to this model",
                        account_name(b, i, buf, sizeof buf), b->account_phase[i]);
        if (b->account_tier[i] > KZ_TIER_HIGH)
            return fail(r, KZ_ERR_INVALID, "account '%s': tier %u is unknown to this model",
                        account_name(b, i, buf, sizeof buf), b->account_tier[i]);
        if (b->account_region != NULL &&
            (b->account_region[i] < -1 ||
             (b->account_region[i] >= 0 && (uint32_t)b->account_region[i] >= b->n_regions)))
            return fail(r, KZ_ERR_INVALID, "account '%s': region index %d is out of range (the book has %u regions)",
                        account_name(b, i, buf, sizeof buf), b->account_region[i], b->n_regions);
    }
    return KZ_OK;
}

static int check_book(const run *r)
{
    const kz_org_book *b = r->book;
    const kz_org_result *res = r->result;
    if (b == NULL || !KZ_HAS_FIELD(b, kz_org_book, current_owner))
        return fail(r, KZ_ERR_INVALID, "the book is %s (size %u, a kz_org_book has %zu bytes)",
                    b == NULL ? "missing" : "too small", b == NULL ? 0u : b->size, sizeof(kz_org_book));
    if (res == NULL || !KZ_HAS_FIELD(res, kz_org_result, shortfall_csms))
        return fail(r, KZ_ERR_INVALID, "the result is %s (size %u, a kz_org_result has %zu bytes)",
                    res == NULL ? "missing" : "too small", res == NULL ? 0u : res->size, sizeof(kz_org_result));
    if ((b->n_accounts > 0 && (res->owner == NULL || res->reason == NULL)) ||
        (b->n_teams > 0 && res->shortfall_csms == NULL))
        return fail(r, KZ_ERR_INVALID, "the result has no owner, reason or shortfall array");
    int rc = check_teams_and_csms(r);
    return rc == KZ_OK ? check_accounts(r) : rc;
}

/* ---- teams and CSMs -------------------------------------------------------- */

static int cmp_u32(const void *pa, const void *pb)
{
    const uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return a < b ? -1 : a > b;
}

typedef struct ranked_team {
    uint64_t key; /* om_team_specificity() */
    uint32_t team;
} ranked_team;

static int cmp_ranked_team(const void *pa, const void *pb)
{
    const ranked_team *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->team < b->team ? -1 : a->team > b->team;
}

/* r->by_specificity: every team, most specific first. */
static int rank_by_specificity(run *r)
{
    const uint32_t nt = r->book->n_teams;
    ranked_team *v = alloc_array(nt, sizeof *v);
    if (v == NULL)
        return out_of_memory(r);
    for (uint32_t k = 0; k < nt; k++)
        v[k] = (ranked_team){om_team_specificity(r->book->teams[k]), k};
    qsort(v, nt, sizeof *v, cmp_ranked_team);
    for (uint32_t k = 0; k < nt; k++)
        r->by_specificity[k] = v[k].team;
    free(v);
    return KZ_OK;
}

static int prepare_teams(run *r)
{
    const kz_org_book *b = r->book;
    const uint32_t nt = b->n_teams, nc = b->n_csms;
    r->by_specificity = alloc_array(nt, sizeof(uint32_t));
    r->lists_region = zalloc_array(nt, 1);
    r->ranked = alloc_array(nt, sizeof(uint32_t));
    r->region_first = zalloc_array((size_t)b->n_regions + 1, sizeof(uint32_t));
    r->team_first = zalloc_array((size_t)nt + 1, sizeof(uint32_t));
    r->team_csms = alloc_array(nc, sizeof(uint32_t));
    r->cap = alloc_array(nc, 4 * sizeof(uint32_t));
    r->count = zalloc_array((size_t)nc * 4, sizeof(uint32_t));
    r->total = zalloc_array(nc, sizeof(uint32_t));
    r->load = alloc_array(nc, sizeof(double));
    r->heap = alloc_array(nc, sizeof(uint32_t));
    r->heap_size = zalloc_array(nt, sizeof(uint32_t));
    r->left = zalloc_array((size_t)nt * 4, sizeof(uint32_t));
    if (r->by_specificity == NULL || r->lists_region == NULL || r->ranked == NULL || r->region_first == NULL ||
        r->team_first == NULL || r->team_csms == NULL || r->cap == NULL || r->count == NULL || r->total == NULL ||
        r->load == NULL || r->heap == NULL || r->heap_size == NULL || r->left == NULL)
        return out_of_memory(r);

    int rc = rank_by_specificity(r);
    if (rc != KZ_OK)
        return rc;

    /* Teams listing each region (compressed rows). */
    size_t listed = 0;
    for (uint32_t k = 0; k < nt; k++)
        listed += b->teams[k]->n_regions;
    if (listed > UINT32_MAX)
        return fail(r, KZ_ERR_INVALID, "the teams list more than %u regions in all", UINT32_MAX);
    for (uint32_t k = 0; k < nt; k++)
        for (uint32_t j = 0; j < b->teams[k]->n_regions; j++)
            r->region_first[b->teams[k]->regions[j] + 1]++;
    for (uint32_t g = 0; g < b->n_regions; g++)
        r->region_first[g + 1] += r->region_first[g];
    r->region_teams = alloc_array(listed, sizeof(uint32_t));
    uint32_t *fill_at = alloc_array(b->n_regions, sizeof(uint32_t));
    if (r->region_teams == NULL || fill_at == NULL) {
        free(fill_at);
        return out_of_memory(r);
    }
    memcpy(fill_at, r->region_first, (size_t)b->n_regions * sizeof(uint32_t));
    for (uint32_t k = 0; k < nt; k++)
        for (uint32_t j = 0; j < b->teams[k]->n_regions; j++)
            r->region_teams[fill_at[b->teams[k]->regions[j]]++] = k;
    free(fill_at);

    /* CSMs of each team, in index order. */
    for (uint32_t c = 0; c < nc; c++)
        r->team_first[b->csms[c]->team + 1]++;
    for (uint32_t k = 0; k < nt; k++)
        r->team_first[k + 1] += r->team_first[k];
    for (uint32_t c = 0; c < nc; c++) {
        const uint32_t k = (uint32_t)b->csms[c]->team;
        r->team_csms[r->team_first[k] + r->heap_size[k]++] = c; /* heap_size as a fill counter, reset below */
        memcpy(&r->cap[(size_t)c * 4], b->csms[c]->capacity, 4 * sizeof(uint32_t));
    }
    memset(r->heap_size, 0, (size_t)nt * sizeof(uint32_t));
    return KZ_OK;
}

/* ---- classes: the teams of each (phase, tier, region) ----------------------- */

static uint64_t slot_of(const run *r, uint64_t key)
{
    return ((key * UINT64_C(0x9e3779b97f4a7c15)) >> 29) & r->slot_mask;
}

static int init_classes(run *r)
{
    const kz_org_book *b = r->book;
    /* phases 0..4 x tiers 1..3 x regions (and unknown) */
    uint64_t bound = 15 * ((uint64_t)b->n_regions + 1);
    if (bound > b->n_accounts)
        bound = b->n_accounts;
    r->max_classes = (uint32_t)bound;
    uint64_t slots = 16;
    while (slots < 2 * bound)
        slots *= 2;
    r->slot_mask = slots - 1;
    r->classes = alloc_array(bound, sizeof(om_class));
    r->slot_key = alloc_array(slots, sizeof(uint64_t));
    r->slot_class = alloc_array(slots, sizeof(uint32_t));
    r->class_of = alloc_array(b->n_accounts, sizeof(uint32_t));
    r->order = alloc_array(b->n_accounts, sizeof(uint32_t));
    if (r->classes == NULL || r->slot_key == NULL || r->slot_class == NULL || r->class_of == NULL || r->order == NULL)
        return out_of_memory(r);
    memset(r->slot_class, 0xff, slots * sizeof(uint32_t));
    return KZ_OK;
}

/* Ranks the teams of a new class into the pool. */
static int add_class(run *r, unsigned phase, unsigned tier, int32_t region, uint32_t *out)
{
    const kz_org_book *b = r->book;
    if (region >= 0)
        for (uint32_t j = r->region_first[region]; j < r->region_first[region + 1]; j++)
            r->lists_region[r->region_teams[j]] = 1;
    const om_teams teams = {.book = b, .by_specificity = r->by_specificity, .lists_region = r->lists_region};
    const uint32_t n = om_rank_teams(r->inst->model, &teams, phase, tier, r->ranked);
    if (region >= 0)
        for (uint32_t j = r->region_first[region]; j < r->region_first[region + 1]; j++)
            r->lists_region[r->region_teams[j]] = 0;

    if (r->pool_cap - r->pool_len < 2 * (size_t)n) {
        size_t cap = r->pool_cap > 0 ? r->pool_cap : 64;
        while (cap - r->pool_len < 2 * (size_t)n)
            cap *= 2;
        uint32_t *grown = cap <= SIZE_MAX / sizeof(uint32_t) ? realloc(r->pool, cap * sizeof(uint32_t)) : NULL;
        if (grown == NULL)
            return out_of_memory(r);
        r->pool = grown;
        r->pool_cap = cap;
    }
    om_class *cls = &r->classes[r->n_classes];
    cls->off = r->pool_len;
    cls->len = n;
    cls->cursor = 0;
    if (n > 0) {
        memcpy(r->pool + cls->off, r->ranked, n * sizeof(uint32_t));
        memcpy(r->pool + cls->off + n, r->ranked, n * sizeof(uint32_t));
        qsort(r->pool + cls->off + n, n, sizeof(uint32_t), cmp_u32);
    }
    r->pool_len += 2 * (size_t)n;
    *out = r->n_classes++;
    return KZ_OK;
}

static uint64_t class_key(unsigned phase, unsigned tier, int32_t region)
{
    return (((uint64_t)((int64_t)region + 1) * 8 + phase) * 4) + tier;
}

/* The class of (phase, tier, region), whose class_key() is `key`, made on
 * first sight. */
static int class_for(run *r, uint64_t key, unsigned phase, unsigned tier, int32_t region, uint32_t *out)
{
    uint64_t s = slot_of(r, key);
    for (; r->slot_class[s] != NO_CLASS; s = (s + 1) & r->slot_mask)
        if (r->slot_key[s] == key) {
            *out = r->slot_class[s];
            return KZ_OK;
        }
    int rc = add_class(r, phase, tier, region, out);
    if (rc == KZ_OK) {
        r->slot_key[s] = key;
        r->slot_class[s] = *out;
    }
    return rc;
}

/* Excludes churned and tierless accounts, finds every other account's
 * class, settles NO_TEAM, and lists the rest in index order in r->order. */
static int classify(run *r)
{
    const kz_org_book *b = r->book;
    int32_t *owner = r->result->owner;
    uint8_t *reason = r->result->reason;
    uint64_t last_key = UINT64_MAX;
    uint32_t last_class = NO_CLASS;
    for (uint32_t i = 0; i < b->n_accounts; i++) {
        const unsigned phase = b->account_phase[i], tier = b->account_tier[i];
        const int32_t region = b->account_region != NULL ? b->account_region[i] : -1;
        owner[i] = -1;
        r->class_of[i] = NO_CLASS;
        if (phase == KZ_PHASE_CHURNED || tier == KZ_TIER_NONE) {
            reason[i] = KZ_UNASSIGNED_EXCLUDED;
            continue;
        }
        const uint64_t key = class_key(phase, tier, region);
        if (key != last_key) {
            int rc = class_for(r, key, phase, tier, region, &last_class);
            if (rc != KZ_OK)
                return rc;
            last_key = key;
        }
        if (r->classes[last_class].len == 0) {
            reason[i] = KZ_UNASSIGNED_NO_TEAM;
            continue;
        }
        reason[i] = KZ_UNASSIGNED_NONE;
        r->class_of[i] = last_class;
        r->order[r->n_order++] = i;
    }
    return KZ_OK;
}

/* ---- ORDER --------------------------------------------------------------------- */

/* Sorts r->order (account indexes ascending) into ORDER: a stable LSD radix
 * sort on ARR descending, then a stable split by tier, high first. */
static int sort_accounts(run *r)
{
    const kz_org_book *b = r->book;
    const uint32_t m = r->n_order;
    uint32_t *tmp = alloc_array(m, sizeof(uint32_t));
    uint64_t *key = NULL, *key2 = NULL;
    if (tmp == NULL)
        return out_of_memory(r);
    if (b->account_arr_minor != NULL && m > 1) {
        key = alloc_array(m, sizeof(uint64_t));
        key2 = alloc_array(m, sizeof(uint64_t));
        size_t(*hist)[256] = calloc(8, sizeof *hist);
        if (key == NULL || key2 == NULL || hist == NULL) {
            free(tmp);
            free(key);
            free(key2);
            free(hist);
            return out_of_memory(r);
        }
        /* Ascending order of ~(v ^ sign) is descending order of v, and
         * KZ_INT_NONE (INT64_MIN) comes last. */
        for (uint32_t p = 0; p < m; p++) {
            key[p] = ~((uint64_t)b->account_arr_minor[r->order[p]] ^ (UINT64_C(1) << 63));
            for (int d = 0; d < 8; d++)
                hist[d][(key[p] >> (8 * d)) & 0xff]++;
        }
        for (int d = 0; d < 8; d++) {
            if (hist[d][(key[0] >> (8 * d)) & 0xff] == m)
                continue; /* every key has the same digit: the pass would change nothing */
            size_t at[256], sum = 0;
            for (int v = 0; v < 256; v++) {
                at[v] = sum;
                sum += hist[d][v];
            }
            for (uint32_t p = 0; p < m; p++) {
                const size_t q = at[(key[p] >> (8 * d)) & 0xff]++;
                key2[q] = key[p];
                tmp[q] = r->order[p];
            }
            uint64_t *ks = key;
            key = key2;
            key2 = ks;
            uint32_t *os = r->order;
            r->order = tmp;
            tmp = os;
        }
        free(hist);
    }
    uint32_t n_tier[4] = {0};
    for (uint32_t p = 0; p < m; p++)
        n_tier[b->account_tier[r->order[p]]]++;
    r->seg[KZ_TIER_HIGH] = 0;
    r->seg[KZ_TIER_LOW] = n_tier[KZ_TIER_HIGH];
    r->seg[KZ_TIER_TECH] = r->seg[KZ_TIER_LOW] + n_tier[KZ_TIER_LOW];
    r->seg[0] = m; /* the end of tech touch */
    uint32_t at[4];
    memcpy(at, r->seg, sizeof at);
    for (uint32_t p = 0; p < m; p++)
        tmp[at[b->account_tier[r->order[p]]]++] = r->order[p];
    free(r->order);
    r->order = tmp;
    free(key);
    free(key2);
    return KZ_OK;
}

/* ---- KEEP and FILL ---------------------------------------------------------- */

static int class_has_team(const run *r, const om_class *cls, uint32_t team)
{
    const uint32_t *sorted = r->pool + cls->off + cls->len;
    uint32_t lo = 0, hi = cls->len;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < team)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < cls->len && sorted[lo] == team;
}

static int has_room(const run *r, uint32_t c, unsigned tier)
{
    const uint32_t cap = r->cap[(size_t)c * 4 + tier];
    return cap == KZ_CAPACITY_UNLIMITED || r->count[(size_t)c * 4 + tier] < cap;
}

static void recompute_load(run *r, uint32_t c)
{
    const uint32_t *n = &r->count[(size_t)c * 4];
    const double *w = r->inst->weight;
    r->load[c] =
        n[KZ_TIER_HIGH] * w[KZ_TIER_HIGH] + n[KZ_TIER_LOW] * w[KZ_TIER_LOW] + n[KZ_TIER_TECH] * w[KZ_TIER_TECH];
}

static void keep_current_owners(run *r)
{
    const kz_org_book *b = r->book;
    for (uint32_t p = 0; b->current_owner != NULL && p < r->n_order; p++) {
        if (p + AHEAD < r->n_order) {
            const uint32_t ahead = r->order[p + AHEAD];
            PREFETCH(&b->current_owner[ahead]);
            PREFETCH(&b->account_tier[ahead]);
            PREFETCH(&r->class_of[ahead]);
            PREFETCH(&r->result->owner[ahead]);
        }
        const uint32_t i = r->order[p];
        const int32_t o = b->current_owner[i];
        const unsigned tier = b->account_tier[i];
        if (o < 0 || (uint32_t)o >= b->n_csms || !has_room(r, (uint32_t)o, tier) ||
            !class_has_team(r, &r->classes[r->class_of[i]], (uint32_t)b->csms[o]->team))
            continue;
        r->result->owner[i] = o;
        r->count[(size_t)o * 4 + tier]++;
        r->total[o]++;
    }
    for (uint32_t c = 0; c < b->n_csms; c++)
        recompute_load(r, c);
}

/* The fill order of CSMs: least weighted load, fewest accounts, lowest index. */
static int csm_before(const run *r, uint32_t a, uint32_t b)
{
    if (r->load[a] != r->load[b])
        return r->load[a] < r->load[b];
    if (r->total[a] != r->total[b])
        return r->total[a] < r->total[b];
    return a < b;
}

static void sift_down(const run *r, uint32_t *h, uint32_t n, uint32_t at)
{
    const uint32_t x = h[at];
    for (;;) {
        uint32_t child = 2 * at + 1;
        if (child >= n)
            break;
        if (child + 1 < n && csm_before(r, h[child + 1], h[child]))
            child++;
        if (!csm_before(r, h[child], x))
            break;
        h[at] = h[child];
        at = child;
    }
    h[at] = x;
}

/* Each team's heap of the CSMs with room in `tier`. */
static void build_heaps(run *r, unsigned tier)
{
    for (uint32_t k = 0; k < r->book->n_teams; k++) {
        uint32_t *h = r->heap + r->team_first[k];
        uint32_t n = 0;
        for (uint32_t j = r->team_first[k]; j < r->team_first[k + 1]; j++)
            if (has_room(r, r->team_csms[j], tier))
                h[n++] = r->team_csms[j];
        for (uint32_t at = n / 2; at-- > 0;)
            sift_down(r, h, n, at);
        r->heap_size[k] = n;
    }
}

static void fill(run *r)
{
    for (unsigned tier = KZ_TIER_HIGH; tier >= KZ_TIER_TECH; tier--) {
        build_heaps(r, tier);
        for (uint32_t p = r->seg[tier]; p < r->seg[tier - 1]; p++) {
            if (p + AHEAD < r->seg[tier - 1]) {
                const uint32_t ahead = r->order[p + AHEAD];
                PREFETCH(&r->result->owner[ahead]);
                PREFETCH(&r->result->reason[ahead]);
                PREFETCH(&r->class_of[ahead]);
            }
            const uint32_t i = r->order[p];
            if (r->result->owner[i] >= 0)
                continue; /* kept */
            om_class *cls = &r->classes[r->class_of[i]];
            const uint32_t *teams = r->pool + cls->off;
            while (cls->cursor < cls->len && r->heap_size[teams[cls->cursor]] == 0)
                cls->cursor++; /* a heap never refills within a tier */
            if (cls->cursor == cls->len) {
                r->result->reason[i] = KZ_UNASSIGNED_NO_CAPACITY;
                r->left[(size_t)teams[0] * 4 + tier]++;
                continue;
            }
            const uint32_t k = teams[cls->cursor];
            uint32_t *h = r->heap + r->team_first[k];
            const uint32_t c = h[0];
            r->result->owner[i] = (int32_t)c;
            r->count[(size_t)c * 4 + tier]++;
            r->total[c]++;
            recompute_load(r, c);
            if (!has_room(r, c, tier))
                h[0] = h[--r->heap_size[k]];
            sift_down(r, h, r->heap_size[k], 0);
        }
    }
}

/* ---- shortfall ------------------------------------------------------------------ */

/* The lower median of the finite capacities above 0 for `tier` of the CSMs
 * listed in csms[0..n) (all CSMs when csms is NULL); 0 when there is none. */
static uint32_t median_capacity(const run *r, const uint32_t *csms, uint32_t n, unsigned tier, uint32_t *buf)
{
    uint32_t m = 0;
    for (uint32_t j = 0; j < n; j++) {
        const uint32_t cap = r->cap[(size_t)(csms != NULL ? csms[j] : j) * 4 + tier];
        if (cap != KZ_CAPACITY_NONE && cap != KZ_CAPACITY_UNLIMITED)
            buf[m++] = cap;
    }
    if (m == 0)
        return 0;
    qsort(buf, m, sizeof *buf, cmp_u32);
    return buf[(m - 1) / 2];
}

static int shortfall(run *r)
{
    const kz_org_book *b = r->book;
    uint32_t *buf = NULL;
    uint32_t book_median[4] = {0};
    int book_median_known[4] = {0};
    for (uint32_t k = 0; k < b->n_teams; k++) {
        uint64_t need = 0;
        for (unsigned tier = KZ_TIER_TECH; tier <= KZ_TIER_HIGH; tier++) {
            const uint64_t left = r->left[(size_t)k * 4 + tier];
            if (left == 0)
                continue;
            if (buf == NULL && (buf = alloc_array(b->n_csms, sizeof(uint32_t))) == NULL)
                return out_of_memory(r);
            const uint32_t first = r->team_first[k];
            uint64_t median = median_capacity(r, r->team_csms + first, r->team_first[k + 1] - first, tier, buf);
            if (median == 0) {
                if (!book_median_known[tier]) {
                    book_median[tier] = median_capacity(r, NULL, b->n_csms, tier, buf);
                    book_median_known[tier] = 1;
                }
                median = book_median[tier] > 0 ? book_median[tier] : left; /* none anywhere: 1 CSM */
            }
            const uint64_t csms = (left + median - 1) / median;
            if (csms > need)
                need = csms;
        }
        r->result->shortfall_csms[k] = need > UINT32_MAX ? UINT32_MAX : (uint32_t)need;
    }
    free(buf);
    return KZ_OK;
}

int om_assign(const om_instance *inst, const kz_org_book *book, kz_org_result *result)
{
    run r = {.inst = inst, .book = book, .result = result};
    int rc = check_book(&r);
    if (rc == KZ_OK)
        rc = prepare_teams(&r);
    if (rc == KZ_OK)
        rc = init_classes(&r);
    if (rc == KZ_OK)
        rc = classify(&r);
    if (rc == KZ_OK)
        rc = sort_accounts(&r);
    if (rc == KZ_OK) {
        keep_current_owners(&r);
        fill(&r);
        rc = shortfall(&r);
    }
    run_free(&r);
    return rc;
}
