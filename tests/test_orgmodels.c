/*
 * tests/test_orgmodels.c — the bundled organization models (`allrounder`,
 * `specialist`, `area` of org.kizuna.orgmodels), loaded from the build's
 * plugin directory like any plugin, on books built here by hand: owners
 * worked out by hand for each model's rules, the weighted load and the
 * capacity shortfall; the stability the engine promises (assigning twice,
 * a CSM leaving, a capacity lowered, a tier changed); a property test over
 * 200 random books; a large book; and what assign() and create() refuse,
 * each with a message naming the culprit.
 */
#include "instance.h"
#include "params.h"
#include "registry.h"
#include "testutil.h"

#include <string.h>

#define MAX_REGIONS 8
#define UNL         KZ_CAPACITY_UNLIMITED
#define ALL_PHASES  0u
#define ALL_TIERS   0u
#define PH(p)       KZ_PHASE_MASK(KZ_PHASE_##p)
#define TI(t)       KZ_TIER_MASK(KZ_TIER_##t)

enum { ALLROUNDER, SPECIALIST, AREA, N_MODELS };
static const char *const model_names[N_MODELS] = {"allrounder", "specialist", "area"};

/* ---- instances ---------------------------------------------------------------- */

static kz_registry *registry(void)
{
    kz_registry *reg = kz_registry_new();
    g_assert_cmpuint(kz_registry_scan_dir(reg, KZ_BUNDLED_PLUGIN_DIR, TRUE), >=, 1);
    return reg;
}

static const kz_component_info *component(const kz_registry *reg, const char *name)
{
    const kz_component_info *comp = kz_registry_find_component(reg, name);
    g_assert_nonnull(comp);
    g_assert_cmpint(comp->kind, ==, KZ_COMPONENT_ORGMODEL);
    g_assert_cmpstr(comp->plugin->id, ==, "org.kizuna.orgmodels");
    return comp;
}

/* An instance of component `name`; `params` is NULL or name, value, ...,
 * NULL (doubles as text). NULL with *err set when create() refuses. */
static kz_instance *model_try(const kz_registry *reg, const char *name, const char *const *params, GError **err)
{
    GHashTable *table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    for (size_t i = 0; params != NULL && params[i] != NULL; i += 2) {
        kz_param_value *v = g_new0(kz_param_value, 1);
        g_assert_true(kz_param_parse(KZ_PARAM_DOUBLE, params[i + 1], v, NULL));
        g_hash_table_insert(table, g_strdup(params[i]), v);
    }
    return kz_instance_create(component(reg, name), name, table, NULL, err);
}

static kz_instance *model(const kz_registry *reg, const char *name)
{
    g_autoptr(GError) err = NULL;
    kz_instance *inst = model_try(reg, name, NULL, &err);
    g_assert_no_error(err);
    return inst;
}

/* ---- books ---------------------------------------------------------------------- */

/* A book of business built by a test; book_view() is what assign() sees. */
typedef struct {
    uint32_t n_regions, n_teams, n_csms, n_accounts;
    uint32_t max_teams, max_csms;
    const char *regions[MAX_REGIONS];
    kz_org_team *teams;
    const kz_org_team **team_ptr;
    uint32_t *team_regions; /* MAX_REGIONS per team */
    kz_org_csm *csms;
    const kz_org_csm **csm_ptr;
    char **ids; /* NULL: no account ids */
    int32_t *region;
    uint8_t *phase, *tier;
    int64_t *arr;
    int32_t *owner; /* current_owner */
    GPtrArray *strings;
} book;

static const char *const region_names[MAX_REGIONS] = {"emea", "amer", "apac", "r3", "r4", "r5", "r6", "r7"};

/* A book of n_accounts accounts (no region, adoption, low touch, no ARR,
 * no owner) and n_regions regions, with room for the teams and CSMs. */
static book *book_new(uint32_t n_regions, uint32_t max_teams, uint32_t max_csms, uint32_t n_accounts, gboolean ids)
{
    g_assert_cmpuint(n_regions, <=, MAX_REGIONS);
    book *b = g_new0(book, 1);
    b->n_regions = n_regions;
    memcpy(b->regions, region_names, sizeof b->regions);
    b->max_teams = max_teams;
    b->max_csms = max_csms;
    b->n_accounts = n_accounts;
    b->teams = g_new0(kz_org_team, max_teams + 1);
    b->team_ptr = g_new0(const kz_org_team *, max_teams + 1);
    b->team_regions = g_new0(uint32_t, (size_t)(max_teams + 1) * MAX_REGIONS);
    b->csms = g_new0(kz_org_csm, max_csms + 1);
    b->csm_ptr = g_new0(const kz_org_csm *, max_csms + 1);
    b->strings = g_ptr_array_new_with_free_func(g_free);
    b->region = g_new(int32_t, n_accounts + 1);
    b->phase = g_new(uint8_t, n_accounts + 1);
    b->tier = g_new(uint8_t, n_accounts + 1);
    b->arr = g_new(int64_t, n_accounts + 1);
    b->owner = g_new(int32_t, n_accounts + 1);
    if (ids) {
        b->ids = g_new0(char *, n_accounts + 1);
        for (uint32_t i = 0; i < n_accounts; i++)
            b->ids[i] = g_strdup_printf("acct%u", i);
    }
    for (uint32_t i = 0; i < n_accounts; i++) {
        b->region[i] = -1;
        b->phase[i] = KZ_PHASE_ADOPTION;
        b->tier[i] = KZ_TIER_LOW;
        b->arr[i] = KZ_INT_NONE;
        b->owner[i] = -1;
    }
    return b;
}

static void book_free(book *b)
{
    if (b->ids != NULL)
        g_strfreev(b->ids);
    g_free(b->teams);
    g_free(b->team_ptr);
    g_free(b->team_regions);
    g_free(b->csms);
    g_free(b->csm_ptr);
    g_free(b->region);
    g_free(b->phase);
    g_free(b->tier);
    g_free(b->arr);
    g_free(b->owner);
    g_ptr_array_unref(b->strings);
    g_free(b);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(book, book_free)

/* Adds a team listing regions[0..n_regions); returns its index. */
static uint32_t add_team(book *b, const char *id, const char *function, uint32_t phases, uint32_t tiers,
                         uint32_t n_regions, const uint32_t *regions)
{
    g_assert_cmpuint(b->n_teams, <, b->max_teams);
    g_assert_cmpuint(n_regions, <=, MAX_REGIONS);
    const uint32_t k = b->n_teams++;
    uint32_t *r = b->team_regions + (size_t)k * MAX_REGIONS;
    if (n_regions > 0)
        memcpy(r, regions, n_regions * sizeof *r);
    b->teams[k] = (kz_org_team){.size = sizeof(kz_org_team),
                                .phases = phases,
                                .tiers = tiers,
                                .n_regions = n_regions,
                                .id = id,
                                .function = function,
                                .regions = n_regions > 0 ? r : NULL};
    b->team_ptr[k] = &b->teams[k];
    return k;
}

/* Adds a CSM of `team` with these capacities; returns its index. */
static uint32_t add_csm(book *b, int32_t team, uint32_t tech, uint32_t low, uint32_t high)
{
    g_assert_cmpuint(b->n_csms, <, b->max_csms);
    const uint32_t c = b->n_csms++;
    char *id = g_strdup_printf("csm%u", c);
    g_ptr_array_add(b->strings, id);
    b->csms[c] = (kz_org_csm){.size = sizeof(kz_org_csm), .team = team, .id = id, .name = id, .region = -1};
    b->csms[c].capacity[KZ_TIER_TECH] = tech;
    b->csms[c].capacity[KZ_TIER_LOW] = low;
    b->csms[c].capacity[KZ_TIER_HIGH] = high;
    b->csm_ptr[c] = &b->csms[c];
    return c;
}

static void set_account(book *b, uint32_t i, int32_t region, uint8_t phase, uint8_t tier, int64_t arr)
{
    b->region[i] = region;
    b->phase[i] = phase;
    b->tier[i] = tier;
    b->arr[i] = arr;
}

/* Removes CSM c: later CSMs move down one and current owners follow. */
static void remove_csm(book *b, uint32_t c)
{
    memmove(&b->csms[c], &b->csms[c + 1], (b->n_csms - c - 1) * sizeof *b->csms);
    b->n_csms--;
    for (uint32_t j = 0; j < b->n_csms; j++)
        b->csm_ptr[j] = &b->csms[j];
    for (uint32_t i = 0; i < b->n_accounts; i++)
        b->owner[i] = b->owner[i] == (int32_t)c ? -1 : b->owner[i] > (int32_t)c ? b->owner[i] - 1 : b->owner[i];
}

static kz_org_book book_view(const book *b)
{
    return (kz_org_book){.size = sizeof(kz_org_book),
                         .n_accounts = b->n_accounts,
                         .n_teams = b->n_teams,
                         .n_csms = b->n_csms,
                         .n_regions = b->n_regions,
                         .regions = b->regions,
                         .teams = b->team_ptr,
                         .csms = b->csm_ptr,
                         .account_ids = (const char *const *)b->ids,
                         .account_region = b->region,
                         .account_phase = b->phase,
                         .account_tier = b->tier,
                         .account_arr_minor = b->arr,
                         .current_owner = b->owner};
}

/* ---- assigning ---------------------------------------------------------------- */

typedef struct {
    uint32_t n_accounts, n_teams;
    int32_t *owner;
    uint8_t *reason;
    uint32_t *shortfall;
} outcome;

static void outcome_clear(outcome *o)
{
    g_free(o->owner);
    g_free(o->reason);
    g_free(o->shortfall);
    memset(o, 0, sizeof *o);
}

static int assign_view(kz_instance *inst, const kz_org_book *view, outcome *o)
{
    o->n_accounts = view->n_accounts;
    o->n_teams = view->n_teams;
    o->owner = g_new(int32_t, view->n_accounts + 1);
    o->reason = g_new(uint8_t, view->n_accounts + 1);
    o->shortfall = g_new(uint32_t, view->n_teams + 1);
    memset(o->owner, 0x5a, (view->n_accounts + 1) * sizeof *o->owner); /* garbage the model must overwrite */
    memset(o->reason, 0x5a, view->n_accounts + 1);
    memset(o->shortfall, 0x5a, (view->n_teams + 1) * sizeof *o->shortfall);
    kz_org_result result = {
        .size = sizeof result, .owner = o->owner, .reason = o->reason, .shortfall_csms = o->shortfall};
    kz_instance_begin_call(inst);
    return kz_instance_component(inst)->vt.orgmodel.assign(kz_instance_self(inst), view, &result);
}

static outcome assign(kz_instance *inst, const book *b)
{
    outcome o = {0};
    const kz_org_book view = book_view(b);
    const int rc = assign_view(inst, &view, &o);
    if (rc != KZ_OK) {
        g_autoptr(GError) err = NULL;
        kz_instance_fail(inst, rc, "assign", &err);
        g_error("%s", err->message);
    }
    return o;
}

/* The result's owners become the current owners. */
static void feed_back(book *b, const outcome *o)
{
    memcpy(b->owner, o->owner, b->n_accounts * sizeof *b->owner);
}

static void assert_owners(const outcome *o, const int32_t *want)
{
    for (uint32_t i = 0; i < o->n_accounts; i++)
        if (o->owner[i] != want[i])
            g_error("account %u: owner %d, expected %d", i, o->owner[i], want[i]);
}

/* Owner -1 comes with want_reason[i]; an owner with NONE. */
static void assert_reasons(const outcome *o, const uint8_t *want)
{
    for (uint32_t i = 0; i < o->n_accounts; i++) {
        if (o->reason[i] != want[i])
            g_error("account %u: reason %u, expected %u", i, o->reason[i], want[i]);
        g_assert_true((o->owner[i] >= 0) == (want[i] == KZ_UNASSIGNED_NONE));
    }
}

static uint32_t changes(const outcome *a, const outcome *b)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->n_accounts; i++)
        n += a->owner[i] != b->owner[i] || a->reason[i] != b->reason[i];
    for (uint32_t k = 0; k < a->n_teams; k++)
        n += a->shortfall[k] != b->shortfall[k];
    return n;
}

/* Assigns `b` again with o's owners as current owners: nothing changes. */
static void assert_stable(kz_instance *inst, book *b, const outcome *o)
{
    g_autofree int32_t *saved = g_memdup2(b->owner, (b->n_accounts + 1) * sizeof *b->owner);
    feed_back(b, o);
    outcome again = assign(inst, b);
    g_assert_cmpuint(changes(o, &again), ==, 0);
    outcome_clear(&again);
    memcpy(b->owner, saved, b->n_accounts * sizeof *b->owner);
}

#define N_OF(a) ((uint32_t)G_N_ELEMENTS(a))

/* ---- allrounder ------------------------------------------------------------------ */

static void test_allrounder_balances_by_weight(void)
{
    g_autoptr(kz_registry) reg = registry();
    g_autoptr(kz_instance) inst = model(reg, "allrounder");

    /* one team for everything, two CSMs without limits; 1 high + 12 tech */
    g_autoptr(book) b = book_new(0, 1, 2, 13, TRUE);
    add_team(b, "all", NULL, ALL_PHASES, ALL_TIERS, 0, NULL);
    add_csm(b, 0, UNL, UNL, UNL);
    add_csm(b, 0, UNL, UNL, UNL);
    set_account(b, 0, -1, KZ_PHASE_ADOPTION, KZ_TIER_HIGH, 1000);
    for (uint32_t i = 1; i < 13; i++)
        set_account(b, i, -1, KZ_PHASE_ADOPTION, KZ_TIER_TECH, KZ_INT_NONE);
    /* high first: csm0 (load 10). Tech 1..10 go to csm1 (load 0..9 < 10);
     * at 10 = 10 the fewer accounts win: csm0 (1 < 10) gets acct11 (load
     * 11), then csm1 (10 < 11) gets acct12. */
    outcome o = assign(inst, b);
    assert_owners(&o, (const int32_t[]){0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1});
    g_assert_cmpuint(o.shortfall[0], ==, 0);
    assert_stable(inst, b, &o);
    outcome_clear(&o);

    /* weight_high=2: 1 high + 3 tech. csm0 gets the high (2); csm1 the
     * first tech (1), the second too (1 < 2, load 2); the third goes to
     * csm0: loads tie at 2, csm0 has 1 account, csm1 2. */
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_instance) light = model_try(reg, "allrounder", (const char *[]){"weight_high", "2", NULL}, &err);
    g_assert_no_error(err);
    b->n_accounts = 4;
    o = assign(light, b);
    assert_owners(&o, (const int32_t[]){0, 1, 1, 0});
    assert_stable(light, b, &o);
    outcome_clear(&o);
}

static void test_allrounder_shortfall(void)
{
    g_autoptr(kz_registry) reg = registry();
    g_autoptr(kz_instance) inst = model(reg, "allrounder");

    /* 5 high accounts, 2 CSMs taking 2 high each: by ARR 500 (csm0), 400
     * (csm1), 300 (csm0: loads and counts tie, lower index), 200 (csm1);
     * the smallest, 100, is left; shortfall ceil(1 / 2) = 1 CSM. */
    g_autoptr(book) b = book_new(0, 1, 2, 5, TRUE);
    add_team(b, "all", NULL, ALL_PHASES, ALL_TIERS, 0, NULL);
    add_csm(b, 0, KZ_CAPACITY_NONE, KZ_CAPACITY_NONE, 2);
    add_csm(b, 0, KZ_CAPACITY_NONE, KZ_CAPACITY_NONE, 2);
    const int64_t arr[] = {100, 500, 300, 400, 200};
    for (uint32_t i = 0; i < 5; i++)
        set_account(b, i, -1, KZ_PHASE_RENEWAL, KZ_TIER_HIGH, arr[i]);
    outcome o = assign(inst, b);
    assert_owners(&o, (const int32_t[]){-1, 0, 0, 1, 1});
    assert_reasons(&o, (const uint8_t[]){KZ_UNASSIGNED_NO_CAPACITY, 0, 0, 0, 0});
    g_assert_cmpuint(o.shortfall[0], ==, 1);
    assert_stable(inst, b, &o);
    outcome_clear(&o);

    /* capacities 1, 3, 4, 8 take 16 of 20: 4 left; the median of an even
     * count is the lower middle, 3: ceil(4 / 3) = 2 CSMs. */
    g_autoptr(book) even = book_new(0, 1, 4, 20, TRUE);
    add_team(even, "all", NULL, ALL_PHASES, ALL_TIERS, 0, NULL);
    const uint32_t caps[] = {8, 1, 4, 3};
    for (uint32_t c = 0; c < 4; c++)
        add_csm(even, 0, UNL, UNL, caps[c]);
    for (uint32_t i = 0; i < 20; i++)
        set_account(even, i, -1, KZ_PHASE_ADOPTION, KZ_TIER_HIGH, 1000 - i);
    o = assign(inst, even);
    for (uint32_t i = 0; i < 20; i++)
        g_assert_cmpint(o.reason[i], ==, i < 16 ? KZ_UNASSIGNED_NONE : KZ_UNASSIGNED_NO_CAPACITY);
    g_assert_cmpuint(o.shortfall[0], ==, 2);
    outcome_clear(&o);

    /* A team without CSMs: the median over the book's CSMs (low: 3 and 5,
     * lower middle 3): 4 accounts need ceil(4 / 3) = 2. */
    g_autoptr(book) empty = book_new(2, 2, 2, 5, TRUE);
    const uint32_t north = add_team(empty, "north", NULL, ALL_PHASES, ALL_TIERS, 1, (const uint32_t[]){0});
    const uint32_t south = add_team(empty, "south", NULL, ALL_PHASES, ALL_TIERS, 1, (const uint32_t[]){1});
    add_csm(empty, (int32_t)south, UNL, 5, UNL);
    add_csm(empty, (int32_t)south, UNL, 3, UNL);
    for (uint32_t i = 0; i < 4; i++)
        set_account(empty, i, 0, KZ_PHASE_ADOPTION, KZ_TIER_LOW, 10);
    set_account(empty, 4, 1, KZ_PHASE_ADOPTION, KZ_TIER_LOW, 10);
    o = assign(inst, empty);
    assert_owners(&o, (const int32_t[]){-1, -1, -1, -1, 0});
    assert_reasons(&o, (const uint8_t[]){2, 2, 2, 2, 0});
    g_assert_cmpuint(o.shortfall[north], ==, 2);
    g_assert_cmpuint(o.shortfall[south], ==, 0);
    outcome_clear(&o);

    /* No CSM of the book has a finite capacity for low touch: 1 CSM. */
    empty->csms[0].capacity[KZ_TIER_LOW] = UNL;
    empty->csms[1].capacity[KZ_TIER_LOW] = KZ_CAPACITY_NONE;
    o = assign(inst, empty);
    g_assert_cmpuint(o.shortfall[north], ==, 1);
    g_assert_cmpint(o.owner[4], ==, 0);
    outcome_clear(&o);
}

static void test_allrounder_excludes(void)
{
    g_autoptr(kz_registry) reg = registry();
    g_autoptr(kz_instance) inst = model(reg, "allrounder");
    g_autoptr(book) b = book_new(0, 1, 1, 4, TRUE);
    add_team(b, "all", NULL, ALL_PHASES, ALL_TIERS, 0, NULL);
    add_csm(b, 0, UNL, UNL, 1);
    /* a churned account keeps nothing, not even its owner's high slot */
    set_account(b, 0, -1, KZ_PHASE_CHURNED, KZ_TIER_HIGH, 999999);
    b->owner[0] = 0;
    set_account(b, 1, -1, KZ_PHASE_ADOPTION, KZ_TIER_HIGH, 1);
    set_account(b, 2, -1, KZ_PHASE_ADOPTION, KZ_TIER_NONE, 5); /* no tier known */
    set_account(b, 3, -1, KZ_PHASE_NONE, KZ_TIER_TECH, 5);     /* no phase known: allrounder still assigns */
    outcome o = assign(inst, b);
    assert_owners(&o, (const int32_t[]){-1, 0, -1, 0});
    assert_reasons(&o, (const uint8_t[]){KZ_UNASSIGNED_EXCLUDED, 0, KZ_UNASSIGNED_EXCLUDED, 0});
    outcome_clear(&o);
}

/* ---- specialist ------------------------------------------------------------------ */

static void test_specialist_follows_the_phase(void)
{
    g_autoptr(kz_registry) reg = registry();
    g_autoptr(kz_instance) inst = model(reg, "specialist");
    g_autoptr(book) b = book_new(0, 4, 4, 7, TRUE);
    add_team(b, "onboarding", "onboarding", PH(ONBOARDING), ALL_TIERS, 0, NULL);
    add_team(b, "adoption", "adoption", PH(ADOPTION), TI(LOW) | TI(TECH), 0, NULL);
    add_team(b, "expansion", "expansion", PH(EXPANSION) | PH(RENEWAL), ALL_TIERS, 0, NULL);
    add_team(b, "concierge", "Concierge", ALL_PHASES, ALL_TIERS, 0, NULL);
    for (int32_t k = 0; k < 3; k++)
        add_csm(b, k, UNL, UNL, UNL);
    add_csm(b, 3, UNL, UNL, 2);
    set_account(b, 0, -1, KZ_PHASE_ONBOARDING, KZ_TIER_LOW, 50);
    set_account(b, 1, -1, KZ_PHASE_ADOPTION, KZ_TIER_TECH, 50);
    set_account(b, 2, -1, KZ_PHASE_EXPANSION, KZ_TIER_LOW, 50);
    set_account(b, 3, -1, KZ_PHASE_RENEWAL, KZ_TIER_HIGH, 300);
    set_account(b, 4, -1, KZ_PHASE_ONBOARDING, KZ_TIER_HIGH, 200);
    set_account(b, 5, -1, KZ_PHASE_NONE, KZ_TIER_LOW, 50);       /* only an all-phase team */
    set_account(b, 6, -1, KZ_PHASE_ADOPTION, KZ_TIER_HIGH, 100); /* concierge full; adoption takes no high */
    outcome o = assign(inst, b);
    /* the phase teams own low and tech; high goes to the concierge (its
     * function, any case); the concierge's 2 high slots go to the larger
     * two; the third has no other team for adoption high touch */
    assert_owners(&o, (const int32_t[]){0, 1, 2, 3, 3, 3, -1});
    assert_reasons(&o, (const uint8_t[]){0, 0, 0, 0, 0, 0, KZ_UNASSIGNED_NO_CAPACITY});
    g_assert_cmpuint(o.shortfall[3], ==, 1); /* ceil(1 / 2) */
    assert_stable(inst, b, &o);

    /* the concierge full: onboarding high falls back to the onboarding team */
    b->csms[3].capacity[KZ_TIER_HIGH] = 1;
    outcome full = assign(inst, b);
    assert_owners(&full, (const int32_t[]){0, 1, 2, 3, 0, 3, -1});
    outcome_clear(&full);
    b->csms[3].capacity[KZ_TIER_HIGH] = 2;

    /* the hand-off: account 0 moves on to adoption; its new owner is of
     * another team, and nothing else changes */
    feed_back(b, &o);
    b->phase[0] = KZ_PHASE_ADOPTION;
    outcome moved = assign(inst, b);
    g_assert_cmpint(moved.owner[0], ==, 1);
    g_assert_cmpint(b->csms[moved.owner[0]].team, !=, b->csms[o.owner[0]].team);
    g_assert_cmpuint(changes(&o, &moved), ==, 1);
    outcome_clear(&moved);
    outcome_clear(&o);
}

static void test_specialist_concierge_by_tier_mask(void)
{
    g_autoptr(kz_registry) reg = registry();
    g_autoptr(kz_instance) spec = model(reg, "specialist");
    g_autoptr(kz_instance) all = model(reg, "allrounder");
    g_autoptr(book) b = book_new(0, 2, 2, 2, TRUE);
    add_team(b, "enterprise", "enterprise", ALL_PHASES, TI(HIGH), 0, NULL); /* high touch only: a concierge */
    add_team(b, "onboarding", "onboarding", PH(ONBOARDING), ALL_TIERS, 0, NULL);
    add_csm(b, 0, UNL, UNL, UNL);
    add_csm(b, 1, UNL, UNL, UNL);
    set_account(b, 0, -1, KZ_PHASE_ONBOARDING, KZ_TIER_HIGH, 10);
    set_account(b, 1, -1, KZ_PHASE_ONBOARDING, KZ_TIER_LOW, 10);
    /* the specialist sends high touch to the concierge; the all-rounder
     * to the most specific team, onboarding (1 phase bit against 6) */
    outcome o = assign(spec, b);
    assert_owners(&o, (const int32_t[]){0, 1});
    outcome_clear(&o);
    o = assign(all, b);
    assert_owners(&o, (const int32_t[]){1, 1});
    outcome_clear(&o);
}

/* ---- area ------------------------------------------------------------------------- */

static void test_area_regions_and_tech(void)
{
    g_autoptr(kz_registry) reg = registry();
    g_autoptr(kz_instance) area = model(reg, "area");
    g_autoptr(kz_instance) all = model(reg, "allrounder");
    g_autoptr(book) b = book_new(3, 4, 4, 8, TRUE); /* emea, amer, apac */
    add_team(b, "emea", NULL, ALL_PHASES, TI(HIGH) | TI(LOW), 1, (const uint32_t[]){0});
    add_team(b, "amer", NULL, ALL_PHASES, ALL_TIERS, 1, (const uint32_t[]){1});
    add_team(b, "digital", NULL, ALL_PHASES, TI(TECH), 0, NULL);
    add_team(b, "global", NULL, ALL_PHASES, ALL_TIERS, 0, NULL);
    for (int32_t k = 0; k < 4; k++)
        add_csm(b, k, UNL, UNL, UNL);
    set_account(b, 0, 0, KZ_PHASE_ADOPTION, KZ_TIER_HIGH, 10);  /* emea */
    set_account(b, 1, 1, KZ_PHASE_ADOPTION, KZ_TIER_LOW, 10);   /* amer */
    set_account(b, 2, 2, KZ_PHASE_ADOPTION, KZ_TIER_HIGH, 10);  /* apac: no team lists it */
    set_account(b, 3, 2, KZ_PHASE_ADOPTION, KZ_TIER_TECH, 10);  /* apac tech */
    set_account(b, 4, 1, KZ_PHASE_ADOPTION, KZ_TIER_TECH, 10);  /* amer tech: cross-area first */
    set_account(b, 5, -1, KZ_PHASE_ADOPTION, KZ_TIER_LOW, 10);  /* no region */
    set_account(b, 6, -1, KZ_PHASE_ADOPTION, KZ_TIER_TECH, 10); /* no region, tech */
    set_account(b, 7, 0, KZ_PHASE_ADOPTION, KZ_TIER_TECH, 10);  /* emea tech */
    outcome o = assign(area, b);
    /* tech: digital (1 tier bit) before global (3) */
    assert_owners(&o, (const int32_t[]){0, 1, -1, 2, 2, -1, 2, 2});
    assert_reasons(&o, (const uint8_t[]){0, 0, KZ_UNASSIGNED_NO_TEAM, 0, 0, KZ_UNASSIGNED_NO_TEAM, 0, 0});
    assert_stable(area, b, &o);
    outcome_clear(&o);
    /* the all-rounder lets the global team take what no region team lists */
    o = assign(all, b);
    assert_owners(&o, (const int32_t[]){0, 1, 3, 2, 2, 3, 2, 2});
    outcome_clear(&o);

    /* without cross-area teams, tech touch goes to a region team covering
     * tech (amer), and is left where there is none (emea, apac, none) */
    b->n_teams = 2;
    b->n_csms = 2;
    o = assign(area, b);
    assert_owners(&o, (const int32_t[]){0, 1, -1, -1, 1, -1, -1, -1});
    assert_reasons(&o, (const uint8_t[]){0, 0, 1, 1, 0, 1, 1, 1});
    outcome_clear(&o);
}

/* ---- stability ----------------------------------------------------------------------- */

/* One team for everything in its region (every model gives it every
 * account: the area model has no cross-area team for tech touch), 4 CSMs
 * taking 3 high, 5 low and any tech; 30 accounts of every tier in the
 * region, with distinct ARR. */
static book *stability_book(void)
{
    book *b = book_new(1, 2, 4, 30, TRUE);
    add_team(b, "emea", NULL, ALL_PHASES, ALL_TIERS, 1, (const uint32_t[]){0});
    for (int c = 0; c < 4; c++)
        add_csm(b, 0, UNL, 5, 3);
    for (uint32_t i = 0; i < 30; i++)
        set_account(b, i, 0, KZ_PHASE_ADOPTION, (uint8_t)(1 + (i * 7) % 3), 1000 + (int64_t)((i * 37) % 30) * 10);
    return b;
}

static void test_csm_leaves(void)
{
    g_autoptr(kz_registry) reg = registry();
    for (int m = 0; m < N_MODELS; m++) {
        g_autoptr(kz_instance) inst = model(reg, model_names[m]);
        g_autoptr(book) b = stability_book();
        outcome before = assign(inst, b);
        feed_back(b, &before);
        uint32_t leaving = 0;
        for (uint32_t i = 0; i < b->n_accounts; i++)
            leaving += before.owner[i] == 2;
        g_assert_cmpuint(leaving, >, 0);
        remove_csm(b, 2);
        outcome after = assign(inst, b);
        for (uint32_t i = 0; i < b->n_accounts; i++) {
            if (before.owner[i] == 2)
                continue;
            g_assert_cmpint(after.owner[i], ==, before.owner[i] > 2 ? before.owner[i] - 1 : before.owner[i]);
        }
        outcome_clear(&before);
        outcome_clear(&after);
    }
}

static void test_capacity_lowered(void)
{
    g_autoptr(kz_registry) reg = registry();
    g_autoptr(kz_instance) inst = model(reg, "allrounder");
    g_autoptr(book) b = stability_book();
    outcome before = assign(inst, b);
    feed_back(b, &before);
    /* the CSM with the most low accounts: the two smallest by ARR must be the ones to go */
    int32_t c = 0;
    uint32_t most = 0;
    for (int32_t k = 0; k < (int32_t)b->n_csms; k++) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < b->n_accounts; i++)
            n += before.owner[i] == k && b->tier[i] == KZ_TIER_LOW;
        if (n > most) {
            most = n;
            c = k;
        }
    }
    uint32_t mine[8], n = 0;
    for (uint32_t i = 0; i < b->n_accounts; i++)
        if (before.owner[i] == c && b->tier[i] == KZ_TIER_LOW)
            mine[n++] = i;
    g_assert_cmpuint(n, >=, 3);
    uint32_t small1 = mine[0], small2 = mine[1];
    if (b->arr[small2] < b->arr[small1]) {
        small1 = mine[1];
        small2 = mine[0];
    }
    for (uint32_t j = 2; j < n; j++) {
        if (b->arr[mine[j]] < b->arr[small1]) {
            small2 = small1;
            small1 = mine[j];
        } else if (b->arr[mine[j]] < b->arr[small2]) {
            small2 = mine[j];
        }
    }
    b->csms[c].capacity[KZ_TIER_LOW] = n - 2;
    outcome after = assign(inst, b);
    for (uint32_t i = 0; i < b->n_accounts; i++) {
        if (i == small1 || i == small2)
            g_assert_cmpint(after.owner[i], !=, c);
        else
            g_assert_cmpint(after.owner[i], ==, before.owner[i]);
    }
    outcome_clear(&before);
    outcome_clear(&after);
}

static void test_tier_change(void)
{
    g_autoptr(kz_registry) reg = registry();
    g_autoptr(kz_instance) inst = model(reg, "allrounder");
    g_autoptr(book) b = stability_book();
    b->csms[0].capacity[KZ_TIER_HIGH] = UNL; /* csm0 has room for another high */
    outcome before = assign(inst, b);
    feed_back(b, &before);

    /* a low account of csm0 turns high: it stays, nothing else moves */
    uint32_t x = UINT32_MAX;
    for (uint32_t i = 0; i < b->n_accounts && x == UINT32_MAX; i++)
        if (before.owner[i] == 0 && b->tier[i] == KZ_TIER_LOW)
            x = i;
    g_assert_cmpuint(x, !=, UINT32_MAX);
    b->tier[x] = KZ_TIER_HIGH;
    outcome after = assign(inst, b);
    g_assert_cmpuint(changes(&before, &after), ==, 0);
    outcome_clear(&after);

    /* with teams split by tier, the account changes team and only it moves */
    b->tier[x] = KZ_TIER_LOW;
    b->teams[0].tiers = TI(LOW) | TI(TECH);
    add_team(b, "dedicated", NULL, ALL_PHASES, TI(HIGH), 0, NULL);
    b->csms[3].team = 1;
    b->csms[3].capacity[KZ_TIER_HIGH] = UNL;
    outcome split = assign(inst, b);
    feed_back(b, &split);
    g_assert_cmpint(b->csms[split.owner[x]].team, ==, 0);
    b->tier[x] = KZ_TIER_HIGH;
    after = assign(inst, b);
    g_assert_cmpint(after.owner[x], ==, 3);
    g_assert_cmpuint(changes(&split, &after), ==, 1);
    outcome_clear(&split);
    outcome_clear(&after);
    outcome_clear(&before);
}

static void test_assign_twice_changes_nothing(void)
{
    g_autoptr(kz_registry) reg = registry();
    for (int m = 0; m < N_MODELS; m++) {
        g_autoptr(kz_instance) inst = model(reg, model_names[m]);
        g_autoptr(book) b = stability_book();
        for (uint32_t c = 0; c < b->n_csms; c++)
            b->csms[c].capacity[KZ_TIER_HIGH] = 2; /* some left without capacity */
        outcome o = assign(inst, b);
        uint32_t left = 0;
        for (uint32_t i = 0; i < b->n_accounts; i++)
            left += o.reason[i] == KZ_UNASSIGNED_NO_CAPACITY;
        g_assert_cmpuint(left, >, 0);
        assert_stable(inst, b, &o);
        outcome_clear(&o);
    }
}

/* ---- properties over random books ---------------------------------------------------------- */

static int team_covers(const book *b, uint32_t k, uint32_t i)
{
    const kz_org_team *t = &b->teams[k];
    if (t->phases != 0 && !(t->phases & KZ_PHASE_MASK(b->phase[i])))
        return 0;
    if (t->tiers != 0 && !(t->tiers & KZ_TIER_MASK(b->tier[i])))
        return 0;
    if (t->n_regions == 0)
        return 1;
    for (uint32_t j = 0; j < t->n_regions; j++)
        if ((int32_t)t->regions[j] == b->region[i])
            return 1;
    return 0;
}

/* Whether team k may own account i under the model's documented rules. */
static int may_own(int m, const book *b, uint32_t k, uint32_t i)
{
    const kz_org_team *t = &b->teams[k];
    if (!team_covers(b, k, i))
        return 0;
    switch (m) {
    case SPECIALIST: return b->phase[i] != KZ_PHASE_NONE || t->phases == 0;
    case AREA:
        if (b->tier[i] != KZ_TIER_TECH)
            return t->n_regions > 0;
        for (uint32_t j = 0; j < b->n_teams; j++)
            if (b->teams[j].n_regions == 0 && team_covers(b, j, i))
                return t->n_regions == 0; /* a cross-area team exists */
        return 1;
    default: return 1;
    }
}

/* Checks everything the result of model m must satisfy. */
static void check_invariants(int m, const book *b, const outcome *o)
{
    g_autofree uint32_t *count = g_new0(uint32_t, (size_t)b->n_csms * 4 + 1);
    for (uint32_t i = 0; i < b->n_accounts; i++)
        if (o->owner[i] >= 0) {
            g_assert_cmpint(o->owner[i], <, (int32_t)b->n_csms);
            count[(size_t)o->owner[i] * 4 + b->tier[i]]++;
        }
    /* no capacity exceeded; which teams are full in each tier */
    g_autofree uint8_t *full = g_new(uint8_t, (size_t)b->n_teams * 4 + 1);
    memset(full, 1, (size_t)b->n_teams * 4);
    for (uint32_t c = 0; c < b->n_csms; c++)
        for (unsigned t = KZ_TIER_TECH; t <= KZ_TIER_HIGH; t++) {
            const uint32_t cap = b->csms[c].capacity[t];
            if (cap != UNL)
                g_assert_cmpuint(count[(size_t)c * 4 + t], <=, cap);
            if (cap == UNL || count[(size_t)c * 4 + t] < cap)
                full[(size_t)b->csms[c].team * 4 + t] = 0;
        }
    gboolean any_left = FALSE;
    g_autofree uint8_t *wanted = g_new0(uint8_t, b->n_teams + 1); /* eligible for an account left without capacity */
    for (uint32_t i = 0; i < b->n_accounts; i++) {
        const unsigned tier = b->tier[i];
        if (b->phase[i] == KZ_PHASE_CHURNED || tier == KZ_TIER_NONE) {
            g_assert_cmpint(o->owner[i], ==, -1);
            g_assert_cmpint(o->reason[i], ==, KZ_UNASSIGNED_EXCLUDED);
            continue;
        }
        gboolean any_team = FALSE, all_full = TRUE, some_short = FALSE;
        for (uint32_t k = 0; k < b->n_teams; k++)
            if (may_own(m, b, k, i)) {
                any_team = TRUE;
                all_full = all_full && full[(size_t)k * 4 + tier];
                some_short = some_short || o->shortfall[k] > 0;
            }
        if (o->owner[i] >= 0) {
            g_assert_cmpint(o->reason[i], ==, KZ_UNASSIGNED_NONE);
            g_assert_true(may_own(m, b, (uint32_t)b->csms[o->owner[i]].team, i));
        } else if (!any_team) {
            g_assert_cmpint(o->owner[i], ==, -1);
            g_assert_cmpint(o->reason[i], ==, KZ_UNASSIGNED_NO_TEAM);
        } else {
            g_assert_cmpint(o->reason[i], ==, KZ_UNASSIGNED_NO_CAPACITY);
            g_assert_true(all_full); /* every team that may own it is full in its tier */
            g_assert_true(some_short);
            any_left = TRUE;
            for (uint32_t k = 0; k < b->n_teams; k++)
                wanted[k] |= (uint8_t)may_own(m, b, k, i);
        }
    }
    for (uint32_t k = 0; k < b->n_teams; k++) {
        if (!any_left)
            g_assert_cmpuint(o->shortfall[k], ==, 0);
        if (o->shortfall[k] > 0)
            g_assert_true(wanted[k]);
    }
}

static uint32_t random_capacity(GRand *rng)
{
    const int32_t r = g_rand_int_range(rng, 0, 10);
    return r < 2 ? KZ_CAPACITY_NONE : r == 2 ? UNL : (uint32_t)g_rand_int_range(rng, 1, 7);
}

static book *random_book(GRand *rng)
{
    const uint32_t n_regions = (uint32_t)g_rand_int_range(rng, 0, 5);
    const uint32_t n_teams = (uint32_t)g_rand_int_range(rng, 1, 6);
    const uint32_t n_csms = (uint32_t)g_rand_int_range(rng, 0, 13);
    const uint32_t n_accounts = (uint32_t)g_rand_int_range(rng, 0, 121);
    book *b = book_new(n_regions, n_teams, n_csms + 1, n_accounts, g_rand_boolean(rng));
    for (uint32_t k = 0; k < n_teams; k++) {
        const uint32_t phases = g_rand_int_range(rng, 0, 3) == 0 ? 0 : (uint32_t)g_rand_int_range(rng, 1, 64);
        const uint32_t tiers = g_rand_int_range(rng, 0, 3) == 0 ? 0 : (uint32_t)g_rand_int_range(rng, 1, 8) << 1;
        uint32_t regions[MAX_REGIONS], nr = 0;
        if (n_regions > 0 && g_rand_boolean(rng)) {
            nr = (uint32_t)g_rand_int_range(rng, 1, (int32_t)n_regions + 1);
            for (uint32_t j = 0; j < nr; j++)
                regions[j] = (uint32_t)g_rand_int_range(rng, 0, (int32_t)n_regions);
        }
        add_team(b, "team", g_rand_int_range(rng, 0, 5) == 0 ? "concierge" : "team", phases, tiers, nr, regions);
    }
    for (uint32_t c = 0; c < n_csms; c++)
        add_csm(b, g_rand_int_range(rng, 0, (int32_t)n_teams), random_capacity(rng), random_capacity(rng),
                random_capacity(rng));
    for (uint32_t i = 0; i < n_accounts; i++) {
        const int32_t region =
            n_regions == 0 || g_rand_int_range(rng, 0, 6) == 0 ? -1 : g_rand_int_range(rng, 0, (int32_t)n_regions);
        const int64_t arr = g_rand_int_range(rng, 0, 5) == 0 ? KZ_INT_NONE : g_rand_int_range(rng, 0, 20) * 1000;
        set_account(b, i, region, (uint8_t)g_rand_int_range(rng, 0, 6), (uint8_t)g_rand_int_range(rng, 0, 4), arr);
        const int32_t r = g_rand_int_range(rng, 0, 10);
        b->owner[i] = r < 5 || n_csms == 0 ? -1
                      : r < 9              ? g_rand_int_range(rng, 0, (int32_t)n_csms)
                                           : (int32_t)n_csms + 3;
    }
    return b;
}

/* Only CSM c's accounts of `tier` may move, and exactly `moves` of them. */
static void assert_only_moved(const outcome *before, const outcome *after, const book *b, uint32_t c, unsigned tier,
                              uint32_t moves)
{
    uint32_t moved = 0;
    for (uint32_t i = 0; i < b->n_accounts; i++) {
        if (before->owner[i] == (int32_t)c && b->tier[i] == tier) {
            moved += after->owner[i] != (int32_t)c;
            continue;
        }
        g_assert_cmpint(after->owner[i], ==, before->owner[i]);
    }
    g_assert_cmpuint(moved, ==, moves);
}

static void test_random_books(void)
{
    g_autoptr(kz_registry) reg = registry();
    kz_instance *inst[N_MODELS];
    for (int m = 0; m < N_MODELS; m++)
        inst[m] = model(reg, model_names[m]);
    g_autoptr(GRand) rng = g_rand_new_with_seed(20240917);
    uint32_t seen[4] = {0}, kept = 0; /* reasons, and current owners kept, over every book */
    for (int round = 0; round < 200; round++) {
        g_autoptr(book) b = random_book(rng);
        for (int m = 0; m < N_MODELS; m++) {
            outcome o = assign(inst[m], b);
            check_invariants(m, b, &o);
            for (uint32_t i = 0; i < b->n_accounts; i++) {
                seen[o.reason[i]]++;
                kept += o.owner[i] >= 0 && o.owner[i] == b->owner[i];
            }
            assert_stable(inst[m], b, &o);

            g_autofree int32_t *saved = g_memdup2(b->owner, (b->n_accounts + 1) * sizeof *b->owner);
            feed_back(b, &o);
            if (b->n_csms > 0) {
                /* a capacity lowered: only that CSM's overflow in that tier moves */
                const uint32_t c = (uint32_t)g_rand_int_range(rng, 0, (int32_t)b->n_csms);
                const unsigned tier = (unsigned)g_rand_int_range(rng, KZ_TIER_TECH, KZ_TIER_HIGH + 1);
                uint32_t had = 0;
                for (uint32_t i = 0; i < b->n_accounts; i++)
                    had += o.owner[i] == (int32_t)c && b->tier[i] == tier;
                const uint32_t old_cap = b->csms[c].capacity[tier];
                const uint32_t new_cap = had / 2;
                b->csms[c].capacity[tier] = new_cap;
                outcome lowered = assign(inst[m], b);
                check_invariants(m, b, &lowered);
                assert_only_moved(&o, &lowered, b, c, tier, had - new_cap);
                outcome_clear(&lowered);
                b->csms[c].capacity[tier] = old_cap;

                /* a CSM leaving: only its accounts move */
                kz_org_csm removed = b->csms[c];
                const uint32_t n_csms = b->n_csms;
                g_autofree int32_t *fed = g_memdup2(b->owner, (b->n_accounts + 1) * sizeof *b->owner);
                remove_csm(b, c);
                outcome gone = assign(inst[m], b);
                check_invariants(m, b, &gone);
                for (uint32_t i = 0; i < b->n_accounts; i++)
                    if (o.owner[i] != (int32_t)c)
                        g_assert_cmpint(gone.owner[i], ==, b->owner[i]);
                outcome_clear(&gone);
                /* put the CSM back */
                memmove(&b->csms[c + 1], &b->csms[c], (n_csms - 1 - c) * sizeof *b->csms);
                b->csms[c] = removed;
                b->n_csms = n_csms;
                for (uint32_t j = 0; j < n_csms; j++)
                    b->csm_ptr[j] = &b->csms[j];
                memcpy(b->owner, fed, b->n_accounts * sizeof *b->owner);
            }
            memcpy(b->owner, saved, b->n_accounts * sizeof *b->owner);
            outcome_clear(&o);
        }

        /* one team for everything with enough capacity in every tier:
         * every account that is not excluded gets an owner */
        g_autoptr(book) one = random_book(rng);
        one->n_teams = 0;
        add_team(one, "all", NULL, ALL_PHASES, ALL_TIERS, 0, NULL);
        if (one->n_csms == 0)
            add_csm(one, 0, 0, 0, 0);
        uint64_t need[4] = {0}, have[4] = {0};
        for (uint32_t i = 0; i < one->n_accounts; i++)
            need[one->tier[i]]++;
        for (uint32_t c = 0; c < one->n_csms; c++) {
            one->csms[c].team = 0;
            for (unsigned t = KZ_TIER_TECH; t <= KZ_TIER_HIGH; t++)
                have[t] += one->csms[c].capacity[t];
        }
        for (unsigned t = KZ_TIER_TECH; t <= KZ_TIER_HIGH; t++)
            if (have[t] < need[t] && one->csms[0].capacity[t] != UNL)
                one->csms[0].capacity[t] += (uint32_t)(need[t] - have[t]);
        outcome o = assign(inst[ALLROUNDER], one);
        check_invariants(ALLROUNDER, one, &o);
        for (uint32_t i = 0; i < one->n_accounts; i++)
            if (one->phase[i] != KZ_PHASE_CHURNED && one->tier[i] != KZ_TIER_NONE)
                g_assert_cmpint(o.owner[i], >=, 0);
        outcome_clear(&o);
    }
    /* the books exercised every outcome */
    for (int r = 0; r < 4; r++)
        g_assert_cmpuint(seen[r], >, 100);
    g_assert_cmpuint(kept, >, 100);
    for (int m = 0; m < N_MODELS; m++)
        kz_instance_destroy(inst[m]);
}

/* ---- a large book -------------------------------------------------------------------------- */

static void test_large_book(void)
{
    const uint32_t n_accounts = g_test_perf() ? 1000000 : 200000, n_csms = 2000, n_regions = 8;
    g_autoptr(kz_registry) reg = registry();
    g_autoptr(book) b = book_new(n_regions, 16, n_csms, n_accounts, FALSE);
    for (uint32_t r = 0; r < n_regions; r++)
        add_team(b, region_names[r], NULL, ALL_PHASES, TI(HIGH) | TI(LOW), 1, &r);
    add_team(b, "digital", NULL, ALL_PHASES, TI(TECH), 0, NULL);
    add_team(b, "onboarding", NULL, PH(ONBOARDING), ALL_TIERS, 0, NULL);
    add_team(b, "growth", NULL, PH(EXPANSION) | PH(RENEWAL), ALL_TIERS, 0, NULL);
    add_team(b, "concierge", "concierge", ALL_PHASES, TI(HIGH), 0, NULL);
    add_team(b, "pool", NULL, ALL_PHASES, ALL_TIERS, 0, NULL);
    const uint32_t scale = n_accounts / 1000;
    for (uint32_t c = 0; c < n_csms; c++)
        add_csm(b, (int32_t)(c % b->n_teams), c % 7 == 0 ? UNL : 50 * scale / 100, scale / 8 + c % 5,
                c % 3 == 0 ? KZ_CAPACITY_NONE : scale / 16 + c % 4);
    g_autoptr(GRand) rng = g_rand_new_with_seed(7);
    for (uint32_t i = 0; i < n_accounts; i++) {
        const int32_t r = g_rand_int_range(rng, 0, 100);
        const uint8_t tier = r < 10 ? KZ_TIER_HIGH : r < 40 ? KZ_TIER_LOW : r < 99 ? KZ_TIER_TECH : KZ_TIER_NONE;
        set_account(b, i, g_rand_int_range(rng, -1, (int32_t)n_regions), (uint8_t)g_rand_int_range(rng, 0, 6), tier,
                    g_rand_int_range(rng, 0, 50) == 0 ? KZ_INT_NONE : g_rand_int_range(rng, 0, 1000000) * 100);
    }
    for (int m = 0; m < N_MODELS; m++) {
        g_autoptr(kz_instance) inst = model(reg, model_names[m]);
        gint64 t0 = g_get_monotonic_time();
        outcome o = assign(inst, b);
        gint64 t1 = g_get_monotonic_time();
        check_invariants(m, b, &o);
        feed_back(b, &o);
        outcome again = assign(inst, b);
        gint64 t2 = g_get_monotonic_time();
        g_assert_cmpuint(changes(&o, &again), ==, 0);
        g_test_message("%s: %u accounts, %u CSMs: %.3f s from scratch, %.3f s again", model_names[m], n_accounts,
                       n_csms, (t1 - t0) / 1e6, (t2 - t1) / 1e6);
        for (uint32_t i = 0; i < n_accounts; i++)
            b->owner[i] = -1;
        outcome_clear(&o);
        outcome_clear(&again);
    }
}

/* ---- refusals ------------------------------------------------------------------------------ */

static void assert_refused(kz_instance *inst, const kz_org_book *view, const char *needle)
{
    outcome o = {0};
    const int rc = assign_view(inst, view, &o);
    outcome_clear(&o);
    g_assert_cmpint(rc, ==, KZ_ERR_INVALID);
    g_autoptr(GError) err = NULL;
    kz_instance_fail(inst, rc, "assign", &err);
    if (strstr(err->message, needle) == NULL)
        g_error("expected '%s' in: %s", needle, err->message);
}

static void test_refuses_bad_weights(void)
{
    g_autoptr(kz_registry) reg = registry();
    static const char *const cases[][3] = {
        {"weight_high", "0", "parameter 'weight_high' must be a number above 0"},
        {"weight_low", "-1", "parameter 'weight_low' must be a number above 0"},
        {"weight_tech", "0", "parameter 'weight_tech' must be a number above 0"},
    };
    for (int m = 0; m < N_MODELS; m++)
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
            g_autoptr(GError) err = NULL;
            g_assert_null(model_try(reg, model_names[m], (const char *[]){cases[i][0], cases[i][1], NULL}, &err));
            g_assert_nonnull(err);
            if (strstr(err->message, cases[i][2]) == NULL)
                g_error("expected '%s' in: %s", cases[i][2], err->message);
        }
}

static void test_refuses_bad_books(void)
{
    g_autoptr(kz_registry) reg = registry();
    for (int m = 0; m < N_MODELS; m++) {
        g_autoptr(kz_instance) inst = model(reg, model_names[m]);
        g_autoptr(book) b = book_new(2, 2, 2, 3, TRUE);
        add_team(b, "all", NULL, ALL_PHASES, ALL_TIERS, 1, (const uint32_t[]){1});
        add_csm(b, 0, UNL, UNL, UNL);
        g_free(b->ids[1]);
        b->ids[1] = g_strdup("acme-7");
        kz_org_book view = book_view(b);

        b->tier[1] = 7;
        assert_refused(inst, &view, "account 'acme-7': tier 7 is unknown");
        b->tier[1] = KZ_TIER_LOW;
        b->phase[1] = 9;
        assert_refused(inst, &view, "account 'acme-7': phase 9 is unknown");
        b->phase[1] = KZ_PHASE_ADOPTION;
        b->region[1] = 2;
        assert_refused(inst, &view, "account 'acme-7': region index 2 is out of range");
        b->region[1] = -1;

        b->csms[0].team = 5;
        assert_refused(inst, &view, "CSM 'csm0': team index 5 is out of range");
        b->csms[0].team = -1;
        assert_refused(inst, &view, "CSM 'csm0': team index -1 is out of range");
        b->csms[0].team = 0;
        b->team_regions[0] = 4;
        assert_refused(inst, &view, "team 'all' lists region index 4");
        b->team_regions[0] = 1;

        /* structs smaller than this plugin reads */
        kz_org_book small = view;
        small.size = sizeof(kz_org_book) - sizeof(void *);
        assert_refused(inst, &small, "the book is too small");
        b->teams[0].size = sizeof(kz_org_team) - sizeof(void *);
        assert_refused(inst, &view, "team 0: struct too small");
        b->teams[0].size = sizeof(kz_org_team);
        b->csms[0].size = sizeof(kz_org_csm) - 4;
        assert_refused(inst, &view, "CSM 0: struct too small");
        b->csms[0].size = sizeof(kz_org_csm);

        outcome o = {0};
        o.owner = g_new(int32_t, 3);
        o.reason = g_new(uint8_t, 3);
        o.shortfall = g_new(uint32_t, 2);
        kz_org_result result = {.size = 8, .owner = o.owner, .reason = o.reason, .shortfall_csms = o.shortfall};
        kz_instance_begin_call(inst);
        g_assert_cmpint(kz_instance_component(inst)->vt.orgmodel.assign(kz_instance_self(inst), &view, &result), ==,
                        KZ_ERR_INVALID);
        outcome_clear(&o);

        /* and the book as it is passes */
        o = assign(inst, b);
        outcome_clear(&o);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/orgmodels/allrounder/balances-by-weight", test_allrounder_balances_by_weight);
    g_test_add_func("/orgmodels/allrounder/shortfall", test_allrounder_shortfall);
    g_test_add_func("/orgmodels/allrounder/excludes-churned-and-tierless", test_allrounder_excludes);
    g_test_add_func("/orgmodels/specialist/follows-the-phase", test_specialist_follows_the_phase);
    g_test_add_func("/orgmodels/specialist/concierge-by-tier-mask", test_specialist_concierge_by_tier_mask);
    g_test_add_func("/orgmodels/area/regions-and-tech", test_area_regions_and_tech);
    g_test_add_func("/orgmodels/stability/csm-leaves", test_csm_leaves);
    g_test_add_func("/orgmodels/stability/capacity-lowered", test_capacity_lowered);
    g_test_add_func("/orgmodels/stability/tier-change", test_tier_change);
    g_test_add_func("/orgmodels/stability/assign-twice-changes-nothing", test_assign_twice_changes_nothing);
    g_test_add_func("/orgmodels/properties/random-books", test_random_books);
    g_test_add_func("/orgmodels/large-book", test_large_book);
    g_test_add_func("/orgmodels/refusals/weights", test_refuses_bad_weights);
    g_test_add_func("/orgmodels/refusals/books", test_refuses_bad_books);
    return g_test_run();
}
