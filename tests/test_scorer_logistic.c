/*
 * tests/test_scorer_logistic.c — the bundled `logistic` scorer, loaded from
 * the build's plugin directory like any plugin. On the MLC churn data it
 * finds R's glm(family = binomial) estimate (coefficients, standard
 * errors, deviance, fitted probabilities, AUC; ../shared/data), with the
 * plans as categorical measures and as 0/1 numbers, and explains every
 * score exactly in log-odds. It refuses data that has no estimate
 * (separation, rank deficiency, one outcome) and keeps its old model
 * then; a calibration changes nothing; its model survives in the store
 * and a damaged one is refused; levels are matched by name, and an
 * account with a missing term or an unseen level scores NaN.
 */
#include "instance.h"
#include "params.h"
#include "registry.h"
#include "store/store.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- calling the scorer --------------------------------------------------- */

static const kz_component_info *logistic_component(kz_registry *reg)
{
    g_assert_cmpuint(kz_registry_scan_dir(reg, KZ_BUNDLED_PLUGIN_DIR, TRUE), >=, 1);
    const kz_component_info *comp = kz_registry_find_component(reg, "logistic");
    g_assert_nonnull(comp);
    g_assert_cmpstr(comp->plugin->id, ==, "org.kizuna.logistic");
    g_assert_cmpint(comp->kind, ==, KZ_COMPONENT_SCORER);
    g_assert_cmpuint(comp->vt.scorer.output, ==, KZ_SCORE_PROBABILITY);
    g_assert_nonnull(comp->vt.scorer.train);
    return comp;
}

/* An instance with parameter terms = `terms` and max_iterations =
 * `max_iterations` (NULL: the default); NULL with `error` set when
 * create() refuses. */
static kz_instance *logistic_instance_with(const kz_component_info *comp, const char *name, const char *terms,
                                           const char *max_iterations, kz_store *store, GError **error)
{
    GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    kz_param_value *v = g_new0(kz_param_value, 1);
    g_assert_true(kz_param_parse(KZ_PARAM_STRING, terms, v, NULL));
    g_hash_table_insert(params, g_strdup("terms"), v);
    if (max_iterations != NULL) {
        v = g_new0(kz_param_value, 1);
        g_assert_true(kz_param_parse(KZ_PARAM_INT, max_iterations, v, NULL));
        g_hash_table_insert(params, g_strdup("max_iterations"), v);
    }
    return kz_instance_create(comp, name, params, store, error);
}

static kz_instance *logistic_instance(const kz_component_info *comp, const char *name, const char *terms,
                                      kz_store *store, GError **error)
{
    return logistic_instance_with(comp, name, terms, NULL, store, error);
}

static const kz_scorer_vtable *vt(kz_instance *inst)
{
    kz_instance_begin_call(inst);
    return &kz_instance_component(inst)->vt.scorer;
}

static int prepare(kz_instance *inst, const kz_column *const *cols, guint n_cols)
{
    return vt(inst)->prepare(kz_instance_self(inst), n_cols, cols);
}

/* Trains on n accounts; `res` is zeroed first, as the host does. */
static int train(kz_instance *inst, const kz_column *const *cols, guint n_cols, guint n, const double *labels,
                 const double *weights, kz_train_result *res)
{
    const kz_train_set set = {sizeof set, n, n_cols, 0, cols, labels, weights};
    memset(res, 0, sizeof *res);
    res->size = sizeof *res;
    return vt(inst)->train(kz_instance_self(inst), &set, res);
}

/* Scores n accounts; contributions (n_cols * n) and baseline may be NULL. */
static int score(kz_instance *inst, const kz_column *const *cols, guint n_cols, guint n, double *scores,
                 double *contributions, double *baseline)
{
    kz_score_batch batch = {sizeof batch, n, n_cols, 0, NULL, cols, scores, contributions, baseline};
    return vt(inst)->score(kz_instance_self(inst), &batch);
}

/* The message of a failed call, as the host shows it. */
static char *failure(kz_instance *inst, int rc, const char *what)
{
    g_autoptr(GError) err = NULL;
    kz_instance_fail(inst, rc, what, &err);
    return g_strdup(err->message);
}

static void assert_refused(kz_instance *inst, int rc, const char *what, const char *const *needles)
{
    g_assert_cmpint(rc, ==, KZ_ERR_INVALID);
    g_autofree char *msg = failure(inst, rc, what);
    g_test_message("%s", msg);
    for (; *needles != NULL; needles++)
        if (strstr(msg, *needles) == NULL)
            g_error("'%s' not in the message: %s", *needles, msg);
}

/* Frees what train() put in `res`, as the host does. */
static void result_clear(kz_train_result *res)
{
    const kz_host *host = kz_host_get();
    for (uint32_t j = 0; j < res->n_terms; j++)
        host->free_mem((void *)res->terms[j].name);
    host->free_mem(res->terms);
    host->free_mem(res->model);
    memset(res, 0, sizeof *res);
}

static const kz_train_term *result_term(const kz_train_result *res, const char *name)
{
    for (uint32_t j = 0; j < res->n_terms; j++)
        if (strcmp(res->terms[j].name, name) == 0)
            return &res->terms[j];
    g_error("no term %s in the result", name);
}

static kz_column numeric_column(const char *name, const double *values)
{
    return (kz_column){sizeof(kz_column), KZ_COLUMN_DOUBLE, name, values, NULL, NULL, 0, 0};
}

static kz_column categorical_column(const char *name, const int32_t *codes, const char *const *levels, guint n_levels)
{
    return (kz_column){sizeof(kz_column), KZ_COLUMN_CATEGORICAL, name, NULL, codes, levels, n_levels, 0};
}

static void assert_close(double got, double want, double rel, const char *what)
{
    if (!(fabs(got - want) <= rel * fabs(want)))
        g_error("%s: got %.15g, want %.15g (relative error %.3g > %.3g)", what, got, want,
                fabs(got - want) / fabs(want), rel);
}

/* ---- the MLC churn data and R's reference fit ----------------------------- */

/* A CSV file without quoting (as ../shared/data/SOURCE.md describes it). */
typedef struct {
    GStrv header;
    GPtrArray *rows; /* GStrv */
} csv_table;

static void csv_table_free(csv_table *t)
{
    g_strfreev(t->header);
    g_ptr_array_unref(t->rows);
    g_free(t);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(csv_table, csv_table_free)

static csv_table *csv_read(const char *path)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    g_assert_true(g_file_get_contents(path, &text, NULL, &err));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    csv_table *t = g_new0(csv_table, 1);
    t->header = g_strsplit(lines[0], ",", -1);
    t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    for (guint i = 1; lines[i] != NULL; i++)
        if (lines[i][0] != '\0') {
            GStrv fields = g_strsplit(lines[i], ",", -1);
            g_assert_cmpuint(g_strv_length(fields), ==, g_strv_length(t->header));
            g_ptr_array_add(t->rows, fields);
        }
    return t;
}

static guint csv_field(const csv_table *t, const char *name)
{
    for (guint f = 0; t->header[f] != NULL; f++)
        if (strcmp(t->header[f], name) == 0)
            return f;
    g_error("no column %s", name);
}

static const char *csv_value(const csv_table *t, guint row, guint field)
{
    return ((GStrv)t->rows->pdata[row])[field];
}

/* A path in ../shared/data (KZ_SHARED_DATA), or NULL after skipping the
 * test when it is absent, unless KZ_REQUIRE_SHARED=1 makes that a failure. */
static char *shared_path(const char *name)
{
    const char *shared = g_getenv("KZ_SHARED_DATA");
    char *path = g_build_filename(shared != NULL ? shared : "", name, NULL);
    if (shared == NULL || !g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_assert_cmpstr(g_getenv("KZ_REQUIRE_SHARED"), !=, "1");
        g_test_skip("the shared test data (../shared/data) is not beside the repository");
        g_free(path);
        return NULL;
    }
    return path;
}

/* R's fit, from churn_glm_reference.txt and mlc_churn_glm_coefficients.csv. */
typedef struct {
    char *terms; /* the formula's right-hand side: our `terms` parameter */
    double deviance, auc, first_p[5];
    csv_table *coefs; /* term,estimate,std_error,z */
} churn_reference;

static double number_after(const char *text, const char *key)
{
    const char *at = strstr(text, key);
    g_assert_nonnull(at);
    return g_ascii_strtod(at + strlen(key), NULL);
}

static gboolean churn_reference_load(churn_reference *ref)
{
    g_autofree char *path = shared_path("churn_glm_reference.txt");
    g_autofree char *coef_path = shared_path("mlc_churn_glm_coefficients.csv");
    if (path == NULL || coef_path == NULL)
        return FALSE;
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    const char *formula = strstr(text, "formula: churn ~ ");
    g_assert_nonnull(formula);
    formula += strlen("formula: churn ~ ");
    ref->terms = g_strndup(formula, strcspn(formula, "\n"));
    ref->deviance = number_after(text, "residual_deviance=");
    ref->auc = number_after(text, "AUC=");
    char *p = strstr(text, "first 5 fitted p:");
    g_assert_nonnull(p);
    p += strlen("first 5 fitted p:");
    for (int i = 0; i < 5; i++)
        ref->first_p[i] = g_ascii_strtod(p, &p);
    ref->coefs = csv_read(coef_path);
    g_assert_cmpuint(ref->coefs->rows->len, ==, 10);
    return TRUE;
}

static void churn_reference_clear(churn_reference *ref)
{
    g_free(ref->terms);
    if (ref->coefs != NULL)
        csv_table_free(ref->coefs);
}

/* Area under the ROC curve by the rank (Mann-Whitney) formula, ties
 * counting one half: the ranks of tied scores are averaged. */
typedef struct {
    double p, y;
} scored;

static int by_score(const void *a, const void *b)
{
    const double x = ((const scored *)a)->p, y = ((const scored *)b)->p;
    return (x > y) - (x < y);
}

static double auc(const double *p, const double *y, guint n)
{
    g_autofree scored *s = g_new(scored, n);
    for (guint i = 0; i < n; i++)
        s[i] = (scored){p[i], y[i]};
    qsort(s, n, sizeof *s, by_score);
    double rank_sum = 0, positives = 0;
    for (guint i = 0; i < n;) {
        guint j = i;
        while (j < n && s[j].p == s[i].p)
            j++;
        const double rank = (i + 1 + j) / 2.0; /* the mean of ranks i+1 .. j */
        for (guint k = i; k < j; k++)
            if (s[k].y == 1) {
                rank_sum += rank;
                positives++;
            }
        i = j;
    }
    const double negatives = n - positives;
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

/* Fits the formula of churn_glm_reference.txt to mlc_churn.csv, the yes/no
 * plans either categorical (R's factors: terms "international_plan=yes")
 * or 0/1 numbers, with account_length as a column outside the model, and
 * checks the fit and the scores against R's. */
static void check_churn_fit(gboolean plans_categorical)
{
    churn_reference ref = {0};
    g_autofree char *data_path = shared_path("mlc_churn.csv");
    if (data_path == NULL || !churn_reference_load(&ref)) {
        churn_reference_clear(&ref);
        return;
    }
    g_autoptr(csv_table) t = csv_read(data_path);
    const guint n = t->rows->len;
    g_assert_cmpuint(n, ==, 5000);

    /* Column 0: account_length (not a term); then the terms in order. */
    g_auto(GStrv) terms = g_strsplit(ref.terms, "+", -1);
    const guint n_cols = g_strv_length(terms) + 1;
    static const char *const yes_no[] = {"no", "yes"};
    kz_column *cols = g_new0(kz_column, n_cols);
    const kz_column **ptrs = g_new0(const kz_column *, n_cols);
    GPtrArray *arrays = g_ptr_array_new_with_free_func(g_free);
    for (guint c = 0; c < n_cols; c++) {
        const char *name = c == 0 ? "account_length" : g_strstrip(terms[c - 1]);
        const guint f = csv_field(t, name);
        const gboolean is_yes_no = g_str_equal(csv_value(t, 0, f), "yes") || g_str_equal(csv_value(t, 0, f), "no");
        if (is_yes_no && plans_categorical) {
            int32_t *codes = g_new(int32_t, n);
            for (guint i = 0; i < n; i++)
                codes[i] = g_str_equal(csv_value(t, i, f), "yes") ? 1 : g_str_equal(csv_value(t, i, f), "no") ? 0 : -1;
            g_ptr_array_add(arrays, codes);
            cols[c] = categorical_column(name, codes, yes_no, 2);
        } else {
            double *values = g_new(double, n);
            for (guint i = 0; i < n; i++) {
                const char *v = csv_value(t, i, f);
                values[i] = is_yes_no ? g_str_equal(v, "yes") : v[0] == '\0' ? NAN : g_ascii_strtod(v, NULL);
            }
            g_ptr_array_add(arrays, values);
            cols[c] = numeric_column(name, values);
        }
        ptrs[c] = &cols[c];
    }
    g_autofree double *labels = g_new(double, n);
    const guint churn = csv_field(t, "churn");
    for (guint i = 0; i < n; i++)
        labels[i] = g_str_equal(csv_value(t, i, churn), "yes") ? 1 : 0;

    g_autoptr(kz_registry) reg = kz_registry_new();
    const kz_component_info *comp = logistic_component(reg);
    g_autoptr(GError) err = NULL;
    kz_instance *inst = logistic_instance(comp, "churn", ref.terms, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(prepare(inst, ptrs, n_cols), ==, KZ_OK);
    kz_train_result res;
    g_assert_cmpint(train(inst, ptrs, n_cols, n, labels, NULL, &res), ==, KZ_OK);

    /* The coefficients and standard errors are R's, named ours. */
    g_assert_cmpuint(res.n_terms, ==, 10);
    for (guint j = 0; j < 10; j++) {
        const char *r_name = csv_value(ref.coefs, j, 0);
        g_autofree char *want = NULL;
        if (g_str_equal(r_name, "(Intercept)"))
            want = g_strdup("(intercept)");
        else if (g_str_has_suffix(r_name, "_planyes"))
            want = g_strdup_printf("%.*s%s", (int)strlen(r_name) - 3, r_name, plans_categorical ? "=yes" : "");
        else
            want = g_strdup(r_name);
        g_assert_cmpstr(res.terms[j].name, ==, want);
        assert_close(res.terms[j].estimate, g_ascii_strtod(csv_value(ref.coefs, j, 1), NULL), 1e-6, want);
        assert_close(res.terms[j].std_error, g_ascii_strtod(csv_value(ref.coefs, j, 2), NULL), 1e-6, want);
    }
    g_test_message("%u iterations, deviance %.13g", res.iterations, res.deviance);
    g_assert_cmpuint(res.iterations, >=, 1);
    g_assert_cmpuint(res.iterations, <=, 25);
    g_assert_cmpint(res.converged, ==, 1);
    assert_close(res.deviance, ref.deviance, 1e-6, "deviance");
    g_assert_nonnull(res.model);
    g_assert_cmpuint(res.model_len, >, 0);

    /* In-sample scores: R's fitted values, R's AUC, and contributions that
     * add up to the log-odds. */
    g_autofree double *p = g_new(double, n);
    g_autofree double *contrib = g_new(double, (gsize)n_cols *n);
    g_autofree double *baseline = g_new(double, n);
    g_assert_cmpint(score(inst, ptrs, n_cols, n, p, contrib, baseline), ==, KZ_OK);
    for (guint i = 0; i < 5; i++)
        g_assert_cmpfloat_with_epsilon(p[i], ref.first_p[i], 1e-6);
    const double in_sample_auc = auc(p, labels, n);
    g_test_message("AUC %.10f", in_sample_auc);
    g_assert_cmpfloat_with_epsilon(in_sample_auc, ref.auc, 1e-4);
    const double intercept = res.terms[0].estimate;
    const double plan_yes =
        result_term(&res, plans_categorical ? "international_plan=yes" : "international_plan")->estimate;
    const guint plan_col = csv_field(t, "international_plan");
    for (guint i = 0; i < n; i++) {
        g_assert_cmpfloat(baseline[i], ==, intercept);
        double eta = baseline[i];
        for (guint c = 0; c < n_cols; c++)
            eta += contrib[(gsize)c * n + i];
        g_assert_cmpfloat_with_epsilon(eta, log(p[i] / (1 - p[i])), 1e-9);
        g_assert_cmpfloat(contrib[i], ==, 0); /* account_length is not in the model */
        /* a plan contributes its coefficient, or 0 for the reference "no" */
        const double want = g_str_equal(csv_value(t, i, plan_col), "yes") ? plan_yes : 0;
        g_assert_cmpfloat(contrib[(gsize)1 * n + i], ==, want);
    }

    /* An account's score does not depend on the rest of its batch. */
    double first[5];
    g_assert_cmpint(score(inst, ptrs, n_cols, 5, first, NULL, NULL), ==, KZ_OK);
    g_assert_cmpmem(first, sizeof first, p, sizeof first);

    result_clear(&res);
    kz_instance_destroy(inst);
    g_ptr_array_unref(arrays);
    g_free(ptrs);
    g_free(cols);
    churn_reference_clear(&ref);
}

static void test_churn_categorical_plans(void)
{
    check_churn_fit(TRUE);
}

static void test_churn_numeric_plans(void)
{
    check_churn_fit(FALSE);
}

/* ---- synthetic data ------------------------------------------------------- */

#define N_SYNTH 400

/* x1 and x2 standard normal; churn drawn from logit p = -0.5 + 1.2 x1 - 0.8 x2. */
typedef struct {
    double x1[N_SYNTH], x2[N_SYNTH], y[N_SYNTH];
} synth;

static double normal(GRand *rand)
{
    return sqrt(-2 * log(1 - g_rand_double(rand))) * cos(2 * G_PI * g_rand_double(rand));
}

static void synth_fill(synth *d, guint32 seed)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
    for (guint i = 0; i < N_SYNTH; i++) {
        d->x1[i] = normal(rand);
        d->x2[i] = normal(rand);
        const double eta = -0.5 + 1.2 * d->x1[i] - 0.8 * d->x2[i];
        d->y[i] = g_rand_double(rand) < 1 / (1 + exp(-eta));
    }
}

static void test_untrained_and_calibration(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    const kz_component_info *comp = logistic_component(reg);
    g_autoptr(GError) err = NULL;
    kz_instance *inst = logistic_instance(comp, "risk", "x1+x2", NULL, &err);
    g_assert_no_error(err);
    static synth d;
    synth_fill(&d, 7);
    const kz_column c1 = numeric_column("x1", d.x1), c2 = numeric_column("x2", d.x2);
    const kz_column *cols[] = {&c2, &c1};

    double p[N_SYNTH];
    const char *not_trained[] = {"score: not trained", NULL};
    assert_refused(inst, score(inst, cols, 2, N_SYNTH, p, NULL, NULL), "score", not_trained);
    g_assert_cmpint(prepare(inst, cols, 2), ==, KZ_OK);
    assert_refused(inst, score(inst, cols, 2, N_SYNTH, p, NULL, NULL), "score", not_trained);

    /* A calibration (every label unknown) is accepted and changes nothing. */
    double unknown[N_SYNTH];
    for (guint i = 0; i < N_SYNTH; i++)
        unknown[i] = NAN;
    kz_train_result res;
    g_assert_cmpint(train(inst, cols, 2, N_SYNTH, unknown, NULL, &res), ==, KZ_OK);
    g_assert_null(res.terms);
    g_assert_null(res.model);
    assert_refused(inst, score(inst, cols, 2, N_SYNTH, p, NULL, NULL), "score", not_trained);

    /* Trained, a calibration still changes nothing. */
    g_assert_cmpint(train(inst, cols, 2, N_SYNTH, d.y, NULL, &res), ==, KZ_OK);
    g_assert_cmpstr(res.terms[1].name, ==, "x1");
    result_clear(&res);
    double before[N_SYNTH], after[N_SYNTH];
    g_assert_cmpint(score(inst, cols, 2, N_SYNTH, before, NULL, NULL), ==, KZ_OK);
    g_assert_cmpint(train(inst, cols, 2, N_SYNTH, unknown, NULL, &res), ==, KZ_OK);
    g_assert_null(res.model);
    g_assert_cmpint(score(inst, cols, 2, N_SYNTH, after, NULL, NULL), ==, KZ_OK);
    g_assert_cmpmem(before, sizeof before, after, sizeof after);

    /* A term without a column is refused by name. */
    kz_instance *other = logistic_instance(comp, "other", "x1 + tenure", NULL, &err);
    g_assert_no_error(err);
    const char *no_column[] = {"term 'tenure' has no column", NULL};
    assert_refused(other, prepare(other, cols, 2), "prepare", no_column);
    kz_instance_destroy(other);
    kz_instance_destroy(inst);
}

/* Each refused train set leaves the model trained before in use. */
static void test_refusals_keep_old_model(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    const kz_component_info *comp = logistic_component(reg);
    g_autoptr(GError) err = NULL;
    kz_instance *inst = logistic_instance(comp, "risk", " x1 +\tx2 ", NULL, &err);
    g_assert_no_error(err);
    static synth good, bad;
    synth_fill(&good, 1);
    const kz_column g1 = numeric_column("x1", good.x1), g2 = numeric_column("x2", good.x2);
    const kz_column *good_cols[] = {&g1, &g2};
    g_assert_cmpint(prepare(inst, good_cols, 2), ==, KZ_OK);
    kz_train_result res;
    g_assert_cmpint(train(inst, good_cols, 2, N_SYNTH, good.y, NULL, &res), ==, KZ_OK);
    result_clear(&res);
    double old[N_SYNTH], now[N_SYNTH];
    g_assert_cmpint(score(inst, good_cols, 2, N_SYNTH, old, NULL, NULL), ==, KZ_OK);

    const kz_column b1 = numeric_column("x1", bad.x1), b2 = numeric_column("x2", bad.x2);
    const kz_column *bad_cols[] = {&b1, &b2};
#define REFUSED(...)                                                                                                   \
    do {                                                                                                               \
        const char *needles_[] = {__VA_ARGS__, NULL};                                                                  \
        assert_refused(inst, train(inst, bad_cols, 2, N_SYNTH, bad.y, NULL, &res), "train", needles_);                 \
        g_assert_null(res.model);                                                                                      \
        g_assert_cmpint(score(inst, good_cols, 2, N_SYNTH, now, NULL, NULL), ==, KZ_OK);                               \
        g_assert_cmpmem(old, sizeof old, now, sizeof now);                                                             \
    } while (0)

    /* perfect separation: x1 < 0 retained, x1 > 0 churned */
    synth_fill(&bad, 2);
    for (guint i = 0; i < N_SYNTH; i++)
        bad.y[i] = bad.x1[i] > 0;
    REFUSED("the outcome is separable", "fitted probabilities of 0 or 1", "x1");

    /* quasi-separation: x1 in -2..2, x1 < 0 retained, x1 > 0 churned, both at 0 */
    synth_fill(&bad, 3);
    for (guint i = 0; i < N_SYNTH; i++) {
        bad.x1[i] = CLAMP(round(bad.x1[i]), -2, 2);
        if (bad.x1[i] != 0)
            bad.y[i] = bad.x1[i] > 0;
    }
    REFUSED("the outcome is separable", "fitted probabilities of 0 or 1", "x1");

    /* a duplicated column */
    synth_fill(&bad, 4);
    memcpy(bad.x2, bad.x1, sizeof bad.x1);
    REFUSED("term x2 is collinear with the others (rank 2 of 3)");

    /* a linear combination of the others */
    synth_fill(&bad, 4);
    for (guint i = 0; i < N_SYNTH; i++)
        bad.x2[i] = 3 - 2 * bad.x1[i];
    REFUSED("term x2 is collinear with the others (rank 2 of 3)");

    /* a constant column */
    synth_fill(&bad, 5);
    for (guint i = 0; i < N_SYNTH; i++)
        bad.x2[i] = 0.1;
    REFUSED("term x2 is constant (rank 2 of 3)");

    /* one outcome only */
    synth_fill(&bad, 6);
    memset(bad.y, 0, sizeof bad.y);
    REFUSED("do not have both outcomes (0 churned, 400 retained)");

    /* fewer accounts than terms */
    synth_fill(&bad, 6);
    for (guint i = 2; i < N_SYNTH; i++)
        bad.x2[i] = NAN;
    bad.y[0] = 0;
    bad.y[1] = 1;
    REFUSED("only 2 accounts have a label and every term: fewer than the 3 terms");

    /* a label that is no outcome */
    synth_fill(&bad, 6);
    bad.y[17] = 2;
    REFUSED("account #17 has label 2");
#undef REFUSED
    kz_instance_destroy(inst);
}

/* Weights count like repeated accounts, and accounts with a missing term
 * or label are left out (R's na.omit). */
static void test_weights_and_missing(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    const kz_component_info *comp = logistic_component(reg);
    g_autoptr(GError) err = NULL;
    kz_instance *inst = logistic_instance(comp, "risk", "x1 + x2", NULL, &err);
    g_assert_no_error(err);
    static synth d, twice;
    synth_fill(&d, 11);
    /* d: the first 100 accounts weigh 2, the next 200 1, the last 100
     * miss x1, the label or the weight (left out); `twice` holds the first
     * 100 twice and the next 200 once. */
    double w[N_SYNTH];
    for (guint i = 0; i < N_SYNTH; i++) {
        w[i] = i < 100 ? 2 : 1;
        if (i >= 300)
            d.x1[i] = i % 3 == 0 ? NAN : d.x1[i];
        if (i >= 300 && i % 3 == 1)
            d.y[i] = NAN;
        if (i >= 300 && i % 3 == 2)
            w[i] = NAN;
    }
    for (guint i = 0; i < N_SYNTH; i++) {
        const guint from = i < 200 ? i / 2 : i - 100;
        twice.x1[i] = d.x1[from];
        twice.x2[i] = d.x2[from];
        twice.y[i] = d.y[from];
    }
    const kz_column c1 = numeric_column("x1", d.x1), c2 = numeric_column("x2", d.x2);
    const kz_column *cols[] = {&c1, &c2};
    const kz_column t1 = numeric_column("x1", twice.x1), t2 = numeric_column("x2", twice.x2);
    const kz_column *twice_cols[] = {&t1, &t2};
    g_assert_cmpint(prepare(inst, cols, 2), ==, KZ_OK);
    kz_train_result weighted, repeated;
    g_assert_cmpint(train(inst, cols, 2, N_SYNTH, d.y, w, &weighted), ==, KZ_OK);
    g_assert_cmpint(train(inst, twice_cols, 2, N_SYNTH, twice.y, NULL, &repeated), ==, KZ_OK);
    for (guint j = 0; j < 3; j++) {
        assert_close(weighted.terms[j].estimate, repeated.terms[j].estimate, 1e-9, weighted.terms[j].name);
        assert_close(weighted.terms[j].std_error, repeated.terms[j].std_error, 1e-9, weighted.terms[j].name);
    }
    assert_close(weighted.deviance, repeated.deviance, 1e-9, "deviance");

    /* a missing value scores NaN, with nothing explained */
    double p[N_SYNTH], contrib[2 * N_SYNTH], baseline[N_SYNTH];
    g_assert_cmpint(score(inst, cols, 2, N_SYNTH, p, contrib, baseline), ==, KZ_OK);
    g_assert_false(isnan(p[301]));
    g_assert_true(isnan(p[300]));
    g_assert_true(isnan(baseline[300]));
    g_assert_cmpfloat(contrib[300], ==, 0);
    g_assert_cmpfloat(contrib[N_SYNTH + 300], ==, 0);
    result_clear(&weighted);
    result_clear(&repeated);

    /* negative weights are refused */
    w[5] = -1;
    const char *negative[] = {"account #5 has weight -1", NULL};
    assert_refused(inst, train(inst, cols, 2, N_SYNTH, d.y, w, &weighted), "train", negative);
    kz_instance_destroy(inst);
}

/* ---- categorical levels --------------------------------------------------- */

#define N_PLAN 300

/* x1 normal, plan basic/pro/trial (codes 0, 1, 2 of levels_bpt); churn
 * from logit p = -1 + x1 + 1.5 [pro]; with `with_trial`, the trial
 * accounts (every seventh) all churn. */
static void plan_fill(double *x1, int32_t *plan, double *y, gboolean with_trial)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(21);
    for (guint i = 0; i < N_PLAN; i++) {
        x1[i] = normal(rand);
        plan[i] = with_trial && i % 7 == 0 ? 2 : (int32_t)(i % 2);
        const double eta = -1 + x1[i] + 1.5 * (plan[i] == 1);
        y[i] = plan[i] == 2 ? 1 : g_rand_double(rand) < 1 / (1 + exp(-eta));
    }
}

static void test_levels_by_name(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    const kz_component_info *comp = logistic_component(reg);
    g_autoptr(GError) err = NULL;
    kz_instance *inst = logistic_instance(comp, "risk", "plan + x1", NULL, &err);
    g_assert_no_error(err);
    static const char *const levels_bpt[] = {"basic", "pro", "trial"};
    static const char *const levels_bpz[] = {"basic", "pro", "zzz"};
    double x1[N_PLAN], y[N_PLAN];
    int32_t plan[N_PLAN];

    /* A level in the dictionary that no account has ("zzz") gets no term. */
    plan_fill(x1, plan, y, FALSE);
    kz_column cx = numeric_column("x1", x1), cp = categorical_column("plan", plan, levels_bpz, 3);
    const kz_column *cols[] = {&cx, &cp};
    g_assert_cmpint(prepare(inst, cols, 2), ==, KZ_OK);
    kz_train_result res;
    g_assert_cmpint(train(inst, cols, 2, N_PLAN, y, NULL, &res), ==, KZ_OK);
    g_assert_cmpuint(res.n_terms, ==, 3);
    g_assert_cmpstr(res.terms[1].name, ==, "plan=pro");
    g_assert_cmpstr(res.terms[2].name, ==, "x1");
    const double b0 = res.terms[0].estimate, pro = res.terms[1].estimate, b1 = res.terms[2].estimate;
    assert_close(pro, 1.5, 0.5, "plan=pro"); /* near the truth */
    result_clear(&res);

    /* A later run's dictionary differs: levels are matched by name. */
    static const char *const levels_later[] = {"basic", "enterprise", "pro"};
    const double later_x1[] = {0.5, 0.5, 0.5, 0.5, NAN};
    const int32_t later_plan[] = {0, 1, 2, -1, 2};
    kz_column lx = numeric_column("x1", later_x1), lp = categorical_column("plan", later_plan, levels_later, 3);
    const kz_column *later[] = {&lp, &lx};
    g_assert_cmpint(prepare(inst, later, 2), ==, KZ_OK);
    double p[5], contrib[10], baseline[5];
    g_assert_cmpint(score(inst, later, 2, 5, p, contrib, baseline), ==, KZ_OK);
    g_assert_cmpfloat_with_epsilon(p[0], 1 / (1 + exp(-(b0 + 0.5 * b1))), 1e-15); /* basic: the reference */
    g_assert_cmpfloat(contrib[0], ==, 0);
    g_assert_true(isnan(p[1])); /* enterprise: never seen */
    g_assert_cmpfloat_with_epsilon(p[2], 1 / (1 + exp(-(b0 + pro + 0.5 * b1))), 1e-15);
    g_assert_cmpfloat(contrib[2], ==, pro);
    g_assert_cmpfloat(contrib[5 + 2], ==, 0.5 * b1);
    g_assert_true(isnan(p[3])); /* missing code */
    g_assert_true(isnan(p[4])); /* missing x1 */
    for (guint k = 0; k < 3; k++) {
        const guint i = (guint[]){1, 3, 4}[k]; /* the accounts scored NaN */
        g_assert_cmpfloat(contrib[i], ==, 0);
        g_assert_cmpfloat(contrib[5 + i], ==, 0);
        g_assert_true(isnan(baseline[i]));
    }

    /* A level whose accounts all churned: quasi-separation, refused. */
    plan_fill(x1, plan, y, TRUE);
    cp = categorical_column("plan", plan, levels_bpt, 3);
    g_assert_cmpint(prepare(inst, cols, 2), ==, KZ_OK);
    const char *separable[] = {"the outcome is separable", "plan=trial", NULL};
    assert_refused(inst, train(inst, cols, 2, N_PLAN, y, NULL, &res), "train", separable);

    /* A categorical measure with one level used is constant. */
    for (guint i = 0; i < N_PLAN; i++)
        plan[i] = 1;
    const char *constant[] = {"term plan is constant: every account used has level 'pro'", NULL};
    assert_refused(inst, train(inst, cols, 2, N_PLAN, y, NULL, &res), "train", constant);

    /* No account has every term. */
    for (guint i = 0; i < N_PLAN; i++)
        x1[i] = NAN;
    const char *none[] = {"the 0 accounts with a label and every term do not have both outcomes", NULL};
    assert_refused(inst, train(inst, cols, 2, N_PLAN, y, NULL, &res), "train", none);

    /* The model in use takes plan as categorical: a numeric plan is refused. */
    kz_column numeric_plan = numeric_column("plan", x1);
    const kz_column *wrong[] = {&cx, &numeric_plan};
    g_assert_cmpint(prepare(inst, wrong, 2), ==, KZ_OK);
    const char *type[] = {"measure 'plan' is numeric in this batch, but the model takes it as categorical", NULL};
    assert_refused(inst, score(inst, wrong, 2, 5, p, NULL, NULL), "score", type);
    kz_instance_destroy(inst);
}

/* ---- the kept model ------------------------------------------------------- */

static void test_model_kept_in_store(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    const kz_component_info *comp = logistic_component(reg);
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *db = g_build_filename(dir, "kizuna.db", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_store) store = kz_store_open(db, &err);
    g_assert_no_error(err);
    const kz_host *host = kz_host_get();

    static const char *const levels[] = {"basic", "pro", "trial"};
    double x1[N_PLAN], y[N_PLAN];
    int32_t plan[N_PLAN];
    plan_fill(x1, plan, y, FALSE);
    const kz_column cx = numeric_column("x1", x1), cp = categorical_column("plan", plan, levels, 3);
    const kz_column *cols[] = {&cp, &cx};

    /* Train, and keep the model as the host does. */
    kz_instance *inst = logistic_instance(comp, "risk", "x1 + plan", store, &err);
    g_assert_no_error(err);
    g_assert_cmpint(prepare(inst, cols, 2), ==, KZ_OK);
    kz_train_result res;
    g_assert_cmpint(train(inst, cols, 2, N_PLAN, y, NULL, &res), ==, KZ_OK);
    g_assert_cmpint(host->state_set(inst, "model", res.model, res.model_len), ==, KZ_OK);
    double before[N_PLAN], after[N_PLAN], contrib_before[2 * N_PLAN], contrib_after[2 * N_PLAN];
    double base_before[N_PLAN], base_after[N_PLAN];
    g_assert_cmpint(score(inst, cols, 2, N_PLAN, before, contrib_before, base_before), ==, KZ_OK);
    kz_instance_destroy(inst);

    /* A new instance loads it and scores exactly the same. */
    inst = logistic_instance(comp, "risk", "x1 + plan", store, &err);
    g_assert_no_error(err);
    g_assert_cmpint(prepare(inst, cols, 2), ==, KZ_OK);
    g_assert_cmpint(score(inst, cols, 2, N_PLAN, after, contrib_after, base_after), ==, KZ_OK);
    g_assert_cmpmem(before, sizeof before, after, sizeof after);
    g_assert_cmpmem(contrib_before, sizeof contrib_before, contrib_after, sizeof contrib_after);
    g_assert_cmpmem(base_before, sizeof base_before, base_after, sizeof base_after);
    kz_instance_destroy(inst);

    /* A model of other terms is not used. */
    inst = logistic_instance(comp, "risk", "x1", store, &err);
    g_assert_no_error(err);
    g_assert_cmpint(prepare(inst, cols, 2), ==, KZ_OK);
    const char *other_terms[] = {"not trained: the kept model was fitted on other terms", NULL};
    assert_refused(inst, score(inst, cols, 2, N_PLAN, after, NULL, NULL), "score", other_terms);
    kz_instance_destroy(inst);

    /* A damaged model fails create() and says so. */
    struct {
        const char *what;
        size_t len;
        size_t flip; /* byte to change, or SIZE_MAX */
    } damage[] = {
        {"its checksum does not match", res.model_len - 1, SIZE_MAX},
        {"its checksum does not match", res.model_len, res.model_len / 2},
        {"it is not a logistic model", res.model_len, 0},
        {"it has format version", res.model_len, 8},
        {"it is not a logistic model", 3, SIZE_MAX},
    };
    for (guint k = 0; k < G_N_ELEMENTS(damage); k++) {
        g_autofree unsigned char *blob = g_memdup2(res.model, res.model_len);
        if (damage[k].flip != SIZE_MAX)
            blob[damage[k].flip] ^= 0x20;
        g_assert_cmpint(kz_store_state_set(store, "damaged", "model", blob, damage[k].len, 0, &err), ==, KZ_OK);
        g_assert_null(logistic_instance(comp, "damaged", "x1 + plan", store, &err));
        g_test_message("%s", err->message);
        g_assert_nonnull(strstr(err->message, "create: the kept model (state key 'model'"));
        g_assert_nonnull(strstr(err->message, damage[k].what));
        g_clear_error(&err);
    }
    /* Every truncation and every flipped byte is refused, cleanly. */
    for (size_t k = 0; k < 2 * res.model_len; k++) {
        g_autofree unsigned char *blob = g_memdup2(res.model, res.model_len);
        const size_t len = k < res.model_len ? k : res.model_len;
        if (k >= res.model_len)
            blob[k - res.model_len] ^= 0x01;
        g_assert_cmpint(kz_store_state_set(store, "damaged", "model", blob, len, 0, &err), ==, KZ_OK);
        g_assert_null(logistic_instance(comp, "damaged", "x1 + plan", store, &err));
        g_assert_nonnull(strstr(err->message, "is corrupt"));
        g_clear_error(&err);
    }
    result_clear(&res);
    kz_store_close(g_steal_pointer(&store));
    kz_test_rmtree(dir);
}

static void test_bad_parameters(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    const kz_component_info *comp = logistic_component(reg);
    g_autoptr(GError) err = NULL;
    g_assert_null(logistic_instance(comp, "risk", "x1 + + x2", NULL, &err));
    g_assert_nonnull(strstr(err->message, "parameter 'terms' has an empty term in 'x1 + + x2'"));
    g_clear_error(&err);
    g_assert_null(logistic_instance(comp, "risk", "x1 + x2 + x1", NULL, &err));
    g_assert_nonnull(strstr(err->message, "parameter 'terms' names measure 'x1' twice"));
    g_clear_error(&err);
    g_assert_null(logistic_instance_with(comp, "risk", "x1", "0", NULL, &err));
    g_assert_nonnull(strstr(err->message, "parameter 'max_iterations' must be from 1 to 10000"));
    g_clear_error(&err);

    /* Too few iterations for a regular fit: refused, and not as separation. */
    kz_instance *inst = logistic_instance_with(comp, "risk", "x1 + x2", "2", NULL, &err);
    g_assert_no_error(err);
    static synth d;
    synth_fill(&d, 8);
    const kz_column c1 = numeric_column("x1", d.x1), c2 = numeric_column("x2", d.x2);
    const kz_column *cols[] = {&c1, &c2};
    g_assert_cmpint(prepare(inst, cols, 2), ==, KZ_OK);
    kz_train_result res;
    const char *unconverged[] = {"the fit did not converge in 2 iterations", "raise max_iterations", NULL};
    assert_refused(inst, train(inst, cols, 2, N_SYNTH, d.y, NULL, &res), "train", unconverged);
    kz_instance_destroy(inst);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/scorer/logistic/churn-categorical-plans", test_churn_categorical_plans);
    g_test_add_func("/scorer/logistic/churn-numeric-plans", test_churn_numeric_plans);
    g_test_add_func("/scorer/logistic/untrained-and-calibration", test_untrained_and_calibration);
    g_test_add_func("/scorer/logistic/refusals-keep-old-model", test_refusals_keep_old_model);
    g_test_add_func("/scorer/logistic/weights-and-missing", test_weights_and_missing);
    g_test_add_func("/scorer/logistic/levels-by-name", test_levels_by_name);
    g_test_add_func("/scorer/logistic/model-kept-in-store", test_model_kept_in_store);
    g_test_add_func("/scorer/logistic/bad-parameters", test_bad_parameters);
    return g_test_run();
}
