/*
 * tests/test_scorer_weighted.c — the bundled `weighted` health scorer,
 * loaded from the build's plugin directory like any plugin: band scores in
 * both directions computed by hand, contributions that add up to the
 * score, the missing-value rule, exact mid-rank percentiles after a
 * calibration (and the refusal to score before one), weights learned from
 * outcomes, a trained model that a new instance reads back from the store,
 * and the parameters and columns it refuses, each with a message naming
 * the culprit.
 */
#include "instance.h"
#include "params.h"
#include "registry.h"
#include "store/store.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

#define MAX_COLUMNS 8

/* ---- helpers --------------------------------------------------------------- */

static const kz_component_info *weighted_component(kz_registry **reg)
{
    *reg = kz_registry_new();
    g_assert_cmpuint(kz_registry_scan_dir(*reg, KZ_BUNDLED_PLUGIN_DIR, TRUE), >=, 1);
    const kz_component_info *comp = kz_registry_find_component(*reg, "weighted");
    g_assert_nonnull(comp);
    g_assert_cmpint(comp->kind, ==, KZ_COMPONENT_SCORER);
    g_assert_cmpstr(comp->plugin->id, ==, "org.kizuna.weighted");
    g_assert_cmpuint(comp->vt.scorer.output, ==, KZ_SCORE_HEALTH);
    return comp;
}

/* An instance of the weighted scorer, or NULL with *err set. min_coverage
 * NULL leaves the parameter out (the plugin's default applies). */
static kz_instance *scorer_try(const kz_component_info *comp, const char *name, const char *measures,
                               const char *min_coverage, kz_store *store, GError **err)
{
    GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    kz_param_value *v = g_new0(kz_param_value, 1);
    g_assert_true(kz_param_parse(KZ_PARAM_STRING, measures, v, NULL));
    g_hash_table_insert(params, g_strdup("measures"), v);
    if (min_coverage != NULL) {
        v = g_new0(kz_param_value, 1);
        g_assert_true(kz_param_parse(KZ_PARAM_DOUBLE, min_coverage, v, NULL));
        g_hash_table_insert(params, g_strdup("min_coverage"), v);
    }
    return kz_instance_create(comp, name, params, store, err);
}

static kz_instance *scorer(const kz_component_info *comp, const char *measures, const char *min_coverage)
{
    g_autoptr(GError) err = NULL;
    kz_instance *inst = scorer_try(comp, "health", measures, min_coverage, NULL, &err);
    g_assert_no_error(err);
    return inst;
}

static const kz_scorer_vtable *vt(kz_instance *inst)
{
    return &kz_instance_component(inst)->vt.scorer;
}

/* The message of the last failed call, as the host shows it. */
static char *failure(kz_instance *inst, int rc)
{
    g_autoptr(GError) err = NULL;
    kz_instance_fail(inst, rc, "call", &err);
    return g_strdup(err->message);
}

static void assert_fails_with(kz_instance *inst, int rc, const char *needle)
{
    g_assert_cmpint(rc, ==, KZ_ERR_INVALID);
    g_autofree char *msg = failure(inst, rc);
    if (strstr(msg, needle) == NULL)
        g_error("expected '%s' in: %s", needle, msg);
}

/* Columns of doubles for n accounts, filled by the test. */
typedef struct {
    uint32_t n_accounts, n_columns;
    kz_column col[MAX_COLUMNS];
    const kz_column *ptr[MAX_COLUMNS];
    double *values[MAX_COLUMNS];
} table;

static void table_init(table *t, uint32_t n_accounts, const char *const *names)
{
    memset(t, 0, sizeof *t);
    t->n_accounts = n_accounts;
    for (; names[t->n_columns] != NULL; t->n_columns++) {
        uint32_t c = t->n_columns;
        t->values[c] = g_new0(double, n_accounts > 0 ? n_accounts : 1);
        t->col[c] =
            (kz_column){.size = sizeof(kz_column), .type = KZ_COLUMN_DOUBLE, .name = names[c], .values = t->values[c]};
        t->ptr[c] = &t->col[c];
    }
}

static void table_clear(table *t)
{
    for (uint32_t c = 0; c < t->n_columns; c++)
        g_free(t->values[c]);
}

/* Calls prepare() with the table's layout (values NULL, as the host does). */
static int prepare(kz_instance *inst, const table *t)
{
    kz_column layout[MAX_COLUMNS];
    const kz_column *ptr[MAX_COLUMNS];
    for (uint32_t c = 0; c < t->n_columns; c++) {
        layout[c] = t->col[c];
        layout[c].values = NULL;
        ptr[c] = &layout[c];
    }
    kz_instance_begin_call(inst);
    return vt(inst)->prepare(kz_instance_self(inst), t->n_columns, ptr);
}

/* Scores accounts [from, from + n) of the table. `contributions` (NULL for
 * none) is column-major for those n accounts. */
static int score_range(kz_instance *inst, const table *t, uint32_t from, uint32_t n, double *scores,
                       double *contributions, double *baseline)
{
    kz_column cols[MAX_COLUMNS];
    const kz_column *ptr[MAX_COLUMNS];
    for (uint32_t c = 0; c < t->n_columns; c++) {
        cols[c] = t->col[c];
        cols[c].values = t->values[c] + from;
        ptr[c] = &cols[c];
    }
    kz_score_batch b = {.size = sizeof b,
                        .n_accounts = n,
                        .n_columns = t->n_columns,
                        .columns = ptr,
                        .scores = scores,
                        .contributions = contributions,
                        .baseline = baseline};
    kz_instance_begin_call(inst);
    return vt(inst)->score(kz_instance_self(inst), &b);
}

static int score(kz_instance *inst, const table *t, double *scores, double *contributions, double *baseline)
{
    return score_range(inst, t, 0, t->n_accounts, scores, contributions, baseline);
}

static int train(kz_instance *inst, const table *t, const double *labels, kz_train_result *result)
{
    kz_train_set set = {.size = sizeof set,
                        .n_accounts = t->n_accounts,
                        .n_columns = t->n_columns,
                        .columns = t->ptr,
                        .labels = labels};
    memset(result, 0, sizeof *result);
    result->size = sizeof *result;
    kz_instance_begin_call(inst);
    return vt(inst)->train(kz_instance_self(inst), &set, result);
}

/* Frees what train() put in `r`, as the host does. */
static void result_clear(kz_train_result *r)
{
    const kz_host *host = kz_host_get();
    for (uint32_t k = 0; k < r->n_terms; k++)
        host->free_mem((void *)r->terms[k].name);
    host->free_mem(r->terms);
    host->free_mem(r->model);
    memset(r, 0, sizeof *r);
}

/* Calibrates: a train set whose labels are all NaN. */
static void calibrate(kz_instance *inst, const table *t)
{
    g_autofree double *labels = g_new(double, t->n_accounts);
    for (uint32_t i = 0; i < t->n_accounts; i++)
        labels[i] = NAN;
    kz_train_result r;
    g_assert_cmpint(train(inst, t, labels, &r), ==, KZ_OK);
    result_clear(&r);
}

/* Scores every account of `t` and checks each against want[] (NaN =
 * unscored) within 1e-9; contributions against want_parts[] when given
 * (column-major, n_columns x n_accounts). */
static void assert_scores(kz_instance *inst, const table *t, const double *want, const double *want_parts)
{
    const uint32_t n = t->n_accounts;
    g_autofree double *scores = g_new(double, n);
    g_autofree double *parts = g_new(double, (size_t)n * t->n_columns);
    g_autofree double *baseline = g_new(double, n);
    g_assert_cmpint(score(inst, t, scores, parts, baseline), ==, KZ_OK);
    for (uint32_t i = 0; i < n; i++) {
        g_assert_cmpfloat(baseline[i], ==, 0.0);
        if (isnan(want[i]))
            g_assert_true(isnan(scores[i]));
        else
            g_assert_cmpfloat_with_epsilon(scores[i], want[i], 1e-9);
        for (uint32_t c = 0; want_parts != NULL && c < t->n_columns; c++)
            g_assert_cmpfloat_with_epsilon(parts[(size_t)c * n + i], want_parts[(size_t)c * n + i], 1e-9);
    }
}

static void fill(table *t, uint32_t c, const double *values)
{
    memcpy(t->values[c], values, t->n_accounts * sizeof(double));
}

/* ---- scoring -------------------------------------------------------------- */

static void test_weighted_bands_both_directions(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);

    /* active: 0..50, higher is healthier; tickets: 10..0, fewer is healthier */
    kz_instance *inst = scorer(comp, "active weight=3 band=0..50\ntickets weight=1 band=10..0\n", NULL);
    table t;
    table_init(&t, 5, (const char *[]){"active", "tickets", NULL});
    fill(&t, 0, (double[]){25, 60, 10, 50, -5});
    fill(&t, 1, (double[]){5, -3, 8, 10, 2});
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    /* n: (.5, .5), (1, 1) clamped, (.2, .2), (1, 0), (0, .8); score = 100 (3 n_a + n_t) / 4 */
    const double want[] = {50, 100, 20, 75, 20};
    const double parts[] = {37.5, 75, 15, 75, 0, /* active */
                            12.5, 25, 5,  0,  20 /* tickets */};
    assert_scores(inst, &t, want, parts);
    /* without explanations, the same scores */
    double scores[5];
    g_assert_cmpint(score(inst, &t, scores, NULL, NULL), ==, KZ_OK);
    for (int i = 0; i < 5; i++)
        g_assert_cmpfloat_with_epsilon(scores[i], want[i], 1e-9);
    kz_instance_destroy(inst);
    table_clear(&t);

    /* negative and decimal bounds, entries separated by ';' */
    inst = scorer(comp, "temp weight=0.5 band=-1.5..2.5; lag weight=1.5 band=7.5..-2.5", NULL);
    table_init(&t, 3, (const char *[]){"lag", "temp", NULL}); /* any column order */
    fill(&t, 0, (double[]){5, -2.5, 0});
    fill(&t, 1, (double[]){-0.5, 2.5, 0.5});
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    /* lag n: .25, 1, .75; temp n: .25, 1, .5; score = 100 (0.5 n_temp + 1.5 n_lag) / 2 */
    assert_scores(inst, &t, (double[]){25, 100, 68.75}, NULL);
    kz_instance_destroy(inst);
    table_clear(&t);
}

/* A score never passes 100 by rounding: weights 0.5 and 3 at the tops of
 * their bands sum, in doubles, to 100.00000000000001 before the clamp. */
static void test_weighted_score_stays_in_range(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);
    kz_instance *inst = scorer(comp, "a weight=0.5 band=0..1\nb weight=3 band=0..1\n", NULL);
    table t;
    table_init(&t, 2, (const char *[]){"a", "b", NULL});
    fill(&t, 0, (double[]){1, 5});
    fill(&t, 1, (double[]){1, 2});
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    double scores[2];
    g_assert_cmpint(score(inst, &t, scores, NULL, NULL), ==, KZ_OK);
    for (int i = 0; i < 2; i++)
        g_assert_cmpfloat(scores[i], ==, 100.0);
    kz_instance_destroy(inst);
    table_clear(&t);
}

static void test_weighted_contributions_add_up(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);
    kz_instance *inst = scorer(comp,
                               "logins weight=2 band=0..30\n"
                               "tickets weight=1.5 band=12..1\n"
                               "nps weight=1 percentile\n"
                               "overdue weight=0.7 percentile=desc\n"
                               "seats weight=3 band=-10..10",
                               NULL);
    const uint32_t n = 10000;
    table t;
    table_init(&t, n, (const char *[]){"logins", "region_code", "tickets", "nps", "overdue", "seats", NULL});
    g_autoptr(GRand) rng = g_rand_new_with_seed(20240501);
    for (uint32_t c = 0; c < t.n_columns; c++)
        for (uint32_t i = 0; i < n; i++)
            t.values[c][i] = g_rand_double(rng) < 0.15 ? NAN : g_rand_double_range(rng, -20, 40);
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    calibrate(inst, &t);

    g_autofree double *scores = g_new(double, n);
    g_autofree double *parts = g_new(double, (size_t)n *t.n_columns);
    g_autofree double *baseline = g_new(double, n);
    g_assert_cmpint(score(inst, &t, scores, parts, baseline), ==, KZ_OK);
    uint32_t scored = 0, unscored = 0;
    for (uint32_t i = 0; i < n; i++) {
        double sum = baseline[i];
        for (uint32_t c = 0; c < t.n_columns; c++)
            sum += parts[(size_t)c * n + i];
        g_assert_cmpfloat(parts[(size_t)1 * n + i], ==, 0.0); /* region_code: no measure reads it */
        if (isnan(scores[i])) {
            g_assert_cmpfloat(sum, ==, 0.0);
            unscored++;
        } else {
            g_assert_cmpfloat(fabs(sum - scores[i]), <=, 1e-9);
            g_assert_cmpfloat(scores[i], >=, 0.0);
            g_assert_cmpfloat(scores[i], <=, 100.0);
            scored++;
        }
    }
    g_assert_cmpuint(scored, >, 9000);
    g_assert_cmpuint(unscored, >, 0);

    /* how the host cuts batches, or whether it wants explanations, changes nothing */
    g_autofree double *again = g_new(double, n);
    const uint32_t cuts[] = {0, 100, 356, 4097, n}; /* batches shorter than, as long as and longer than a tile */
    for (size_t c = 0; c + 1 < G_N_ELEMENTS(cuts); c++)
        g_assert_cmpint(score_range(inst, &t, cuts[c], cuts[c + 1] - cuts[c], again + cuts[c], NULL, NULL), ==, KZ_OK);
    for (uint32_t i = 0; i < n; i++)
        g_assert_true(memcmp(&again[i], &scores[i], sizeof(double)) == 0);
    g_assert_cmpint(score_range(inst, &t, 0, 0, again, NULL, NULL), ==, KZ_OK); /* an empty batch */
    kz_instance_destroy(inst);
    table_clear(&t);
}

static void test_weighted_missing_rule(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);
    const char *measures = "a weight=3 band=0..1\nb weight=1 band=0..1\nc weight=1 band=0..1";
    table t;
    table_init(&t, 5, (const char *[]){"a", "b", "c", NULL});
    fill(&t, 0, (double[]){0.5, 0.5, NAN, NAN, 0.4});
    fill(&t, 1, (double[]){1, NAN, 1, NAN, NAN});
    fill(&t, 2, (double[]){0, 1, 1, NAN, NAN});

    /* default min_coverage 0.5: an account needs 2.5 of the weight 5 */
    kz_instance *inst = scorer(comp, measures, NULL);
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    const double want[] = {
        50,   /* all present: (3 * .5 + 1 + 0) / 5 */
        62.5, /* b missing: renormalized over a and c, (3 * .5 + 1) / 4 */
        NAN,  /* a missing: 2 of 5 present, below half */
        NAN,  /* nothing present */
        40,   /* only a: 3 of 5 present */
    };
    const double parts[] = {30, 37.5, 0, 0, 40, /* a */
                            20, 0,    0, 0, 0,  /* b */
                            0,  25,   0, 0, 0 /* c */};
    assert_scores(inst, &t, want, parts);
    kz_instance_destroy(inst);

    /* 0.6: exactly 3 of 5 present is not below it */
    inst = scorer(comp, measures, "0.6");
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    assert_scores(inst, &t, (double[]){50, 62.5, NAN, NAN, 40}, NULL);
    kz_instance_destroy(inst);

    /* 0.7: only all three, or a with one other, are enough */
    inst = scorer(comp, measures, "0.7");
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    assert_scores(inst, &t, (double[]){50, 62.5, NAN, NAN, NAN}, NULL);
    kz_instance_destroy(inst);

    /* 0: any present measure scores; nothing present still does not */
    inst = scorer(comp, measures, "0");
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    assert_scores(inst, &t, (double[]){50, 62.5, 100, NAN, 40}, NULL);
    kz_instance_destroy(inst);
    table_clear(&t);
}

/* ---- percentiles ------------------------------------------------------------- */

static void test_weighted_percentile_after_calibration(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);
    /* the book: 1, 2, 2, 3, 5, 8 and one missing value */
    table book;
    table_init(&book, 7, (const char *[]){"nps", NULL});
    fill(&book, 0, (double[]){3, 1, 2, 8, 2, NAN, 5});
    table t;
    table_init(&t, 10, (const char *[]){"nps", NULL});
    fill(&t, 0, (double[]){1, 2, 3, 4, 8, 0, 9, 2.5, 6.5, NAN});
    /* mid-rank = (values below + values at or below) / 2 / 6; between two
     * values the percentile is that of the values below */
    const double p[] = {1.0 / 12, 4.0 / 12, 7.0 / 12, 8.0 / 12, 11.0 / 12, 0, 1, 6.0 / 12, 10.0 / 12, NAN};

    kz_instance *up = scorer(comp, "nps weight=2 percentile", NULL);
    kz_instance *down = scorer(comp, "nps weight=2 percentile=desc", NULL);
    g_assert_cmpint(prepare(up, &book), ==, KZ_OK);
    g_assert_cmpint(prepare(down, &book), ==, KZ_OK);

    /* a calibration reports the weights it keeps and the learned reference */
    g_autofree double *labels = g_new(double, book.n_accounts);
    for (uint32_t i = 0; i < book.n_accounts; i++)
        labels[i] = NAN;
    kz_train_result r;
    g_assert_cmpint(train(up, &book, labels, &r), ==, KZ_OK);
    g_assert_cmpuint(r.n_terms, ==, 1);
    g_assert_cmpstr(r.terms[0].name, ==, "nps");
    g_assert_cmpfloat(r.terms[0].estimate, ==, 2.0);
    g_assert_cmpstr(r.model, ==,
                    "kizuna-weighted 1\nmeasures 1\nnps weight=2 percentile\n"
                    "reference nps 6 5\n1 0 1\n2 1 3\n3 3 4\n5 4 5\n8 5 6\n");
    g_assert_cmpuint(r.model_len, ==, strlen(r.model));
    result_clear(&r);
    calibrate(down, &book);

    double want_up[10], want_down[10];
    for (int i = 0; i < 10; i++) {
        want_up[i] = 100 * p[i];
        want_down[i] = 100 * (1 - p[i]);
    }
    assert_scores(up, &t, want_up, NULL);
    assert_scores(down, &t, want_down, NULL);
    kz_instance_destroy(up);
    kz_instance_destroy(down);
    table_clear(&book);
    table_clear(&t);
}

static void test_weighted_percentile_of_a_large_book(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);
    /* 100 000 accounts: 40% at 0, the rest spread evenly over (0, 1]:
     * more values than knots, so the reference keeps quantiles */
    const uint32_t n = 100000;
    table book;
    table_init(&book, n, (const char *[]){"usage", NULL});
    for (uint32_t i = 0; i < n; i++)
        book.values[0][i] = i < 40000 ? 0 : (double)(i - 39999) / 60000;
    kz_instance *inst = scorer(comp, "usage weight=1 percentile", NULL);
    g_assert_cmpint(prepare(inst, &book), ==, KZ_OK);
    calibrate(inst, &book);
    table t;
    table_init(&t, 4, (const char *[]){"usage", NULL});
    fill(&t, 0, (double[]){0, 0.5, 1, 0.25});
    double scores[4];
    g_assert_cmpint(score(inst, &t, scores, NULL, NULL), ==, KZ_OK);
    g_assert_cmpfloat_with_epsilon(scores[0], 20, 1e-9);      /* a tie: exact, half of the 40% */
    g_assert_cmpfloat_with_epsilon(scores[1], 70, 0.01);      /* interpolated: 40 + 60 * 0.5 */
    g_assert_cmpfloat_with_epsilon(scores[2], 99.9995, 1e-6); /* the maximum: exact */
    g_assert_cmpfloat_with_epsilon(scores[3], 55, 0.01);
    kz_instance_destroy(inst);
    table_clear(&book);
    table_clear(&t);
}

static void test_weighted_percentile_needs_calibration(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);
    kz_instance *inst = scorer(comp, "logins weight=1 band=0..10; nps weight=1 percentile", NULL);
    table t;
    table_init(&t, 3, (const char *[]){"logins", "nps", NULL});
    fill(&t, 0, (double[]){1, 2, 3});
    fill(&t, 1, (double[]){10, 20, NAN});
    double scores[3];
    g_assert_cmpint(score(inst, &t, scores, NULL, NULL), ==, KZ_ERR_INVALID); /* before prepare() */
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    assert_fails_with(inst, score(inst, &t, scores, NULL, NULL),
                      "measure 'nps' is percentile-normalized and the scorer needs calibration");
    calibrate(inst, &t);
    /* nps 10, 20 are the 25th and 75th percentile of the two values */
    assert_scores(inst, &t, (double[]){(10 + 25) / 2.0, (20 + 75) / 2.0, 30}, NULL);

    /* a book without a value for the measure (a survey nobody answered yet)
     * does not stop scoring: the measure is missing for every account, so
     * the others' weights are renormalized (logins 1, 2, 3 of 10) */
    fill(&t, 1, (double[]){NAN, NAN, NAN});
    calibrate(inst, &t);
    assert_scores(inst, &t, (double[]){10, 20, 30}, NULL);
    /* a fit with labels cannot learn from a measure without values: refused */
    double labels[3] = {0, 1, 0};
    kz_train_result r;
    assert_fails_with(inst, train(inst, &t, labels, &r), "measure 'nps' has no value in the training set");
    g_assert_null(r.model);
    kz_instance_destroy(inst);
    table_clear(&t);
}

/* ---- training ------------------------------------------------------------------ */

/* Area under the ROC curve of health scores against churn labels: the
 * chance that a retained account scores above a churned one, ties 1/2
 * (Mann-Whitney). Accounts without a score or label are left out. */
static double auc(const double *scores, const double *labels, uint32_t n)
{
    double wins = 0;
    uint64_t pairs = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (labels[i] != 0 || isnan(scores[i]))
            continue;
        for (uint32_t j = 0; j < n; j++) {
            if (labels[j] != 1 || isnan(scores[j]))
                continue;
            wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0;
            pairs++;
        }
    }
    return wins / (double)pairs;
}

/* Synthetic accounts: `drives` (0..100) lowers churn, `noise` (0..100)
 * has nothing to do with it, `tickets` (0..20) raises it a little. 5% of
 * the values and 10% of the labels are missing. */
static void churn_book(table *t, double *labels, uint32_t n, guint32 seed)
{
    table_init(t, n, (const char *[]){"drives", "noise", "tickets", NULL});
    g_autoptr(GRand) rng = g_rand_new_with_seed(seed);
    for (uint32_t i = 0; i < n; i++) {
        const double drives = g_rand_double_range(rng, 0, 100);
        const double tickets = g_rand_double_range(rng, 0, 20);
        const double eta = 2.0 - 6.0 * drives / 100 + 0.05 * tickets;
        labels[i] = g_rand_double(rng) < 1 / (1 + exp(-eta)) ? 1 : 0;
        t->values[0][i] = drives;
        t->values[1][i] = g_rand_double_range(rng, 0, 100);
        t->values[2][i] = tickets;
        for (uint32_t c = 0; c < 3; c++)
            if (g_rand_double(rng) < 0.05)
                t->values[c][i] = NAN;
        if (g_rand_double(rng) < 0.1)
            labels[i] = NAN;
    }
}

static void test_weighted_train_learns_weights(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);
    const uint32_t n = 4000;
    table t;
    g_autofree double *labels = g_new(double, n);
    churn_book(&t, labels, n, 7);
    /* deliberately bad weights: most of it on the noise */
    kz_instance *inst =
        scorer(comp, "drives weight=1 band=0..100\nnoise weight=8 band=0..100\ntickets weight=1 percentile=desc", NULL);
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    calibrate(inst, &t);
    g_autofree double *scores = g_new(double, n);
    g_assert_cmpint(score(inst, &t, scores, NULL, NULL), ==, KZ_OK);
    const double auc_before = auc(scores, labels, n);

    kz_train_result r;
    g_assert_cmpint(train(inst, &t, labels, &r), ==, KZ_OK);
    g_assert_cmpuint(r.n_terms, ==, 3);
    const char *names[] = {"drives", "noise", "tickets"};
    double total = 0;
    for (uint32_t k = 0; k < 3; k++) {
        g_assert_cmpstr(r.terms[k].name, ==, names[k]);
        g_assert_true(isnan(r.terms[k].std_error));
        g_assert_cmpfloat(r.terms[k].estimate, >=, 0);
        total += r.terms[k].estimate;
    }
    g_assert_cmpfloat_with_epsilon(total, 10, 1e-9);         /* the configured total */
    g_assert_cmpfloat(r.terms[0].estimate, >, 0.75 * total); /* most of it */
    g_assert_cmpint(r.converged, ==, 1);
    g_assert_cmpuint(r.iterations, >=, 2);
    g_assert_cmpuint(r.iterations, <=, 30);
    g_assert_true(isfinite(r.deviance) && r.deviance > 0);
    g_assert_true(g_str_has_prefix(r.model, "kizuna-weighted 1\nmeasures 3\ndrives weight="));
    g_test_message("learned weights: drives %.3f, noise %.3f, tickets %.3f; deviance %.1f in %u iterations",
                   r.terms[0].estimate, r.terms[1].estimate, r.terms[2].estimate, r.deviance, r.iterations);
    result_clear(&r);

    /* the instance now scores with the learned weights */
    g_assert_cmpint(score(inst, &t, scores, NULL, NULL), ==, KZ_OK);
    const double auc_after = auc(scores, labels, n);
    g_test_message("AUC with the configured weights %.3f, after training %.3f", auc_before, auc_after);
    g_assert_cmpfloat(auc_after, >, auc_before + 0.1);
    g_assert_cmpfloat(auc_after, >, 0.75);
    kz_instance_destroy(inst);
    table_clear(&t);
}

static void test_weighted_train_refusals_keep_the_model(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);
    const uint32_t n = 2000;
    table t;
    g_autofree double *labels = g_new(double, n);
    churn_book(&t, labels, n, 11);
    /* both bands backwards: a higher value of either measure reads as less
     * healthy, so neither is associated with retention as configured */
    kz_instance *inst = scorer(comp, "drives weight=1 band=100..0; tickets weight=1 band=0..20", NULL);
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    g_autofree double *before = g_new(double, n);
    g_autofree double *after = g_new(double, n);
    g_assert_cmpint(score(inst, &t, before, NULL, NULL), ==, KZ_OK);
    kz_train_result r;
    assert_fails_with(inst, train(inst, &t, labels, &r), "no measure is associated with retention as configured");
    g_assert_null(r.terms);

    /* labels that are all 0, or not a label */
    g_autofree double *bad = g_new(double, n);
    for (uint32_t i = 0; i < n; i++)
        bad[i] = i % 3 == 0 ? NAN : 0;
    assert_fails_with(inst, train(inst, &t, bad, &r), "both churned and retained");
    bad[5] = 0.5;
    assert_fails_with(inst, train(inst, &t, bad, &r), "the label of account 5 of the training set is 0.5");

    g_assert_cmpint(score(inst, &t, after, NULL, NULL), ==, KZ_OK);
    g_assert_cmpmem(before, n * sizeof(double), after, n * sizeof(double));
    kz_instance_destroy(inst);
    table_clear(&t);
}

/* ---- the kept model ------------------------------------------------------- */

static void test_weighted_model_round_trip(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *db = g_build_filename(dir, "kizuna.db", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_store) store = kz_store_open(db, &err);
    g_assert_no_error(err);
    const kz_host *host = kz_host_get();
    const char *measures = "drives weight=1 band=0..100\nnoise weight=2 percentile\ntickets weight=1 percentile=desc";

    const uint32_t n = 3000;
    table t;
    g_autofree double *labels = g_new(double, n);
    churn_book(&t, labels, n, 23);
    g_autofree double *first = g_new(double, n);
    g_autofree double *second = g_new(double, n);

    kz_instance *inst = scorer_try(comp, "health", measures, NULL, store, &err);
    g_assert_no_error(err);
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    kz_train_result r;
    g_assert_cmpint(train(inst, &t, labels, &r), ==, KZ_OK);
    g_assert_cmpint(score(inst, &t, first, NULL, NULL), ==, KZ_OK);
    /* what the host does with a model it keeps */
    g_assert_cmpint(host->state_set(inst, "model", r.model, r.model_len), ==, KZ_OK);
    g_test_message("model: %" G_GUINT64_FORMAT " bytes", r.model_len);
    result_clear(&r);
    kz_instance_destroy(inst);

    /* a new instance of the same name reads it back and scores the same */
    inst = scorer_try(comp, "health", measures, NULL, store, &err);
    g_assert_no_error(err);
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK); /* no calibration needed: the references came along */
    g_assert_cmpint(score(inst, &t, second, NULL, NULL), ==, KZ_OK);
    g_assert_cmpmem(first, n * sizeof(double), second, n * sizeof(double));
    kz_instance_destroy(inst);

    /* the kept model wins over a parameter naming other measures */
    inst = scorer_try(comp, "health", "other weight=1 band=0..1", NULL, store, &err);
    g_assert_no_error(err);
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    g_assert_cmpint(score(inst, &t, second, NULL, NULL), ==, KZ_OK);
    g_assert_cmpmem(first, n * sizeof(double), second, n * sizeof(double));

    /* a kept model that cannot be read fails create(), saying why */
    const char *broken[][2] = {
        {"kizuna-weighted 2\nmeasures 1\n", "format version 2 is not 1"},
        {"kizuna-weighted 1\nmeasures 1\nx weight=1 band=0..0\n", "line 3 (x): band 0..0 is empty"},
        {"kizuna-weighted 1\nmeasures 1\nx weight=1 percentile\nreference x 3 2\n1 0 1\n", "stops after 1 of 2 knots"},
        {"kizuna-weighted 1\nmeasures 1\nx weight=1 percentile\nreference x 3 2\n1 0 1\n0 1 3\n",
         "knot 2 of 'x' does not fit"},
        {"{\"weights\": [1, 2]}", "not a model of this scorer"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(broken); i++) {
        g_assert_cmpint(host->state_set(inst, "model", broken[i][0], strlen(broken[i][0])), ==, KZ_OK);
        g_clear_error(&err);
        g_assert_null(scorer_try(comp, "health", measures, NULL, store, &err));
        g_assert_nonnull(err);
        g_assert_nonnull(strstr(err->message, "the kept model (state key 'model') cannot be read"));
        if (strstr(err->message, broken[i][1]) == NULL)
            g_error("expected '%s' in: %s", broken[i][1], err->message);
    }
    kz_instance_destroy(inst);
    table_clear(&t);

    /* training may leave a measure weight 0: it then counts for nothing,
     * not even with an infinite value */
    const char *zero = "kizuna-weighted 1\nmeasures 2\na weight=0 band=0..1\nb weight=2 band=0..1\n";
    g_clear_error(&err);
    inst = scorer_try(comp, "zero", measures, NULL, store, &err);
    g_assert_no_error(err);
    g_assert_cmpint(host->state_set(inst, "model", zero, strlen(zero)), ==, KZ_OK);
    kz_instance_destroy(inst);
    inst = scorer_try(comp, "zero", measures, NULL, store, &err);
    g_assert_no_error(err);
    table_init(&t, 4, (const char *[]){"a", "b", NULL});
    fill(&t, 0, (double[]){INFINITY, -INFINITY, 0.5, 0.5});
    fill(&t, 1, (double[]){0.5, 0.25, NAN, INFINITY});
    g_assert_cmpint(prepare(inst, &t), ==, KZ_OK);
    /* b: 0.5, 0.25, missing (a alone has no weight: unscored), infinite (clamped to 1) */
    assert_scores(inst, &t, (double[]){50, 25, NAN, 100},
                  (double[]){0, 0, 0, 0, /* a */
                             50, 25, 0, 100 /* b */});
    kz_instance_destroy(inst);
    table_clear(&t);
    kz_store_close(g_steal_pointer(&store));
    kz_test_rmtree(dir);
}

/* ---- refusals ------------------------------------------------------------------ */

static void test_weighted_parameter_errors(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);
    const char *cases[][2] = {
        {"a weight=0 band=0..1", "measures entry 1 (a): weight=0 must be above 0"},
        {"a weight=-2 band=0..1", "measures entry 1 (a): weight=-2 must be above 0"},
        {"a weight=1 band=0..1\nb weight=x band=0..1", "measures entry 2 (b): weight=x is not a finite number"},
        {"a weight=inf band=0..1", "measures entry 1 (a): weight=inf is not a finite number"},
        {"a weight=1 band=0..1\nopen_tickets weight=2 band=5..5",
         "measures entry 2 (open_tickets): band 5..5 is empty"},
        {"a weight=1 band=0..1 colour=red", "measures entry 1 (a): unknown option 'colour=red'"},
        {"a weight=1 band=0..1; b weight=1 percentile; a weight=2 percentile",
         "measures entry 3 (a): measure 'a' is given twice (also entry 1)"},
        {"a band=0..1", "measures entry 1 (a): has no weight="},
        {"a weight=1", "measures entry 1 (a): needs band=LOW..HIGH or percentile"},
        {"a weight=1 band=0..1 percentile", "measures entry 1 (a): has both band= and percentile"},
        {"a weight=1 weight=2 band=0..1", "measures entry 1 (a): weight= is given twice"},
        {"a weight=1 band=3", "measures entry 1 (a): band=3 is not LOW..HIGH"},
        {"a weight=1 band=x..3", "measures entry 1 (a): band=x..3: 'x' is not a number"},
        {"a weight=1 band=1..", "measures entry 1 (a): band=1..: '' is not a number"},
        {"a weight=1 percentile=asc", "measures entry 1 (a): percentile=asc: write percentile"},
        {"\n\na weight=1 band=0..1\n\nweight=1 band=0..1", "measures entry 2: starts with 'weight=1'"},
        {" ; \n ", "parameter 'measures' names no measure"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_assert_null(scorer_try(comp, "health", cases[i][0], NULL, NULL, &err));
        g_assert_nonnull(err);
        if (strstr(err->message, cases[i][1]) == NULL)
            g_error("measures '%s': expected '%s' in: %s", cases[i][0], cases[i][1], err->message);
    }
    g_autoptr(GError) err = NULL;
    g_assert_null(scorer_try(comp, "health", "a weight=1 band=0..1", "1.5", NULL, &err));
    g_assert_nonnull(strstr(err->message, "parameter 'min_coverage' must be a number from 0 to 1"));
}

static void test_weighted_prepare_refuses_categorical(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = weighted_component(&reg);
    static const char *const levels[] = {"basic", "pro"};
    const int32_t codes[2] = {0, -1};
    const kz_column plan = {
        .size = sizeof(kz_column), .type = KZ_COLUMN_CATEGORICAL, .name = "plan", .levels = levels, .n_levels = 2};
    table t;
    table_init(&t, 2, (const char *[]){"usage", NULL});
    fill(&t, 0, (double[]){5, 10});

    /* a configured measure that is categorical, or has no column */
    kz_instance *inst = scorer(comp, "usage weight=1 band=0..10; plan weight=1 band=0..1", NULL);
    const kz_column *cols[] = {t.ptr[0], &plan};
    kz_instance_begin_call(inst);
    assert_fails_with(inst, vt(inst)->prepare(kz_instance_self(inst), 2, cols),
                      "measure 'plan' is categorical: the weighted scorer scores numeric measures only");
    assert_fails_with(inst, prepare(inst, &t), "measure 'plan' is configured but no column carries it");
    kz_instance_destroy(inst);

    /* a categorical column no measure names is ignored */
    inst = scorer(comp, "usage weight=1 band=0..10", NULL);
    kz_column plan_batch = plan;
    plan_batch.codes = codes;
    const kz_column *batch_cols[] = {t.ptr[0], &plan_batch};
    kz_instance_begin_call(inst);
    g_assert_cmpint(vt(inst)->prepare(kz_instance_self(inst), 2, cols), ==, KZ_OK);
    double scores[2], parts[4], baseline[2];
    kz_score_batch b = {.size = sizeof b,
                        .n_accounts = 2,
                        .n_columns = 2,
                        .columns = batch_cols,
                        .scores = scores,
                        .contributions = parts,
                        .baseline = baseline};
    g_assert_cmpint(vt(inst)->score(kz_instance_self(inst), &b), ==, KZ_OK);
    g_assert_cmpfloat_with_epsilon(scores[0], 50, 1e-9);
    g_assert_cmpfloat_with_epsilon(scores[1], 100, 1e-9);
    g_assert_cmpfloat(parts[2], ==, 0);
    g_assert_cmpfloat(parts[3], ==, 0);
    kz_instance_destroy(inst);
    table_clear(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/scorer/weighted/bands-both-directions", test_weighted_bands_both_directions);
    g_test_add_func("/scorer/weighted/score-stays-in-range", test_weighted_score_stays_in_range);
    g_test_add_func("/scorer/weighted/contributions-add-up", test_weighted_contributions_add_up);
    g_test_add_func("/scorer/weighted/missing-rule", test_weighted_missing_rule);
    g_test_add_func("/scorer/weighted/percentile-after-calibration", test_weighted_percentile_after_calibration);
    g_test_add_func("/scorer/weighted/percentile-of-a-large-book", test_weighted_percentile_of_a_large_book);
    g_test_add_func("/scorer/weighted/percentile-needs-calibration", test_weighted_percentile_needs_calibration);
    g_test_add_func("/scorer/weighted/train-learns-weights", test_weighted_train_learns_weights);
    g_test_add_func("/scorer/weighted/train-refusals-keep-the-model", test_weighted_train_refusals_keep_the_model);
    g_test_add_func("/scorer/weighted/model-round-trip", test_weighted_model_round_trip);
    g_test_add_func("/scorer/weighted/parameter-errors", test_weighted_parameter_errors);
    g_test_add_func("/scorer/weighted/prepare-refuses-categorical", test_weighted_prepare_refuses_categorical);
    return g_test_run();
}
