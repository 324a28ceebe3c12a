/*
 * plugins/logistic/logistic.c — the `logistic` scorer: the probability of
 * churn from a binomial logistic regression on the measures that the
 * `terms` parameter names ("international_plan + total_day_minutes"),
 * fitted by maximum likelihood as R's glm(family = binomial) fits it, and
 * explained per measure in log-odds.
 *
 * Terms: a numeric measure is one term; a categorical measure is dummy
 * coded against its first level (levels arrive sorted), one term per other
 * level, named "measure=level". The intercept is "(intercept)".
 *
 * This file maps columns to terms and back: prepare() finds each term's
 * column by name; train() builds the design matrix from the accounts that
 * have a label and every term (R's na.omit) and hands it to fit.c, then
 * keeps the model (model.c) for score(). Levels are matched by name, not
 * code, between the model and a batch, because a later run's dictionary
 * may differ; a categorical level no training account had gets no term
 * (R drops unused levels too).
 *
 * Missing values: a logistic model cannot score an account with a missing
 * term. An account with a NaN or infinite numeric measure, a missing
 * categorical code (-1), or a level the model never saw scores NaN, with
 * baseline NaN and every contribution 0.
 */
#include <kizuna/kizuna.h>

#include "fit.h"
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_ITERATIONS 25
#define DEFAULT_TOLERANCE      1e-10
#define WHY_LEN                512

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    char **terms; /* the measures of the `terms` parameter, in order */
    uint32_t n_terms;
    uint32_t max_iterations;
    double tolerance;
    /* The layout of the last prepare(): each term's column. */
    int prepared;
    uint32_t n_columns;
    uint32_t *term_column;   /* n_terms */
    logit_model *model;      /* NULL = not trained */
    char untrained[WHY_LEN]; /* why there is no model, for score()'s message */
} logistic_scorer;

static char *copy_string(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

/* ---- create / destroy ------------------------------------------------------ */

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Splits "a + b + c" into s->terms. */
static int parse_terms(logistic_scorer *s, const char *text)
{
    uint32_t n = 1;
    for (const char *c = text; *c != '\0'; c++)
        n += *c == '+';
    s->terms = calloc(n, sizeof(char *));
    if (s->terms == NULL)
        return KZ_ERR_NOMEM;
    const char *start = text;
    for (;;) {
        const char *end = strchr(start, '+');
        if (end == NULL)
            end = start + strlen(start);
        const char *a = start, *b = end;
        while (a < b && is_blank(*a))
            a++;
        while (b > a && is_blank(b[-1]))
            b--;
        if (a == b) {
            s->host->set_error(s->ctx, "parameter 'terms' has an empty term in '%s': name measures separated by '+'",
                               text);
            return KZ_ERR_INVALID;
        }
        char *name = copy_string(a, (size_t)(b - a));
        if (name == NULL)
            return KZ_ERR_NOMEM;
        s->terms[s->n_terms++] = name;
        for (uint32_t t = 0; t + 1 < s->n_terms; t++)
            if (strcmp(s->terms[t], name) == 0) {
                s->host->set_error(s->ctx, "parameter 'terms' names measure '%s' twice", name);
                return KZ_ERR_INVALID;
            }
        if (*end == '\0')
            return KZ_OK;
        start = end + 1;
    }
}

/* Whether the kept model `m` was fitted on exactly the terms of the
 * `terms` parameter; a model of other terms is not used. */
static int model_fits_terms(const logistic_scorer *s, const logit_model *m)
{
    if (m->n_inputs != s->n_terms)
        return 0;
    for (uint32_t t = 0; t < s->n_terms; t++)
        if (strcmp(m->inputs[t].name, s->terms[t]) != 0)
            return 0;
    return 1;
}

/* Loads the model the host kept (state key "model"), if any. A store-less
 * host (KZ_ERR_UNSUPPORTED) and no key (KZ_ERR_NOT_FOUND) both mean "no
 * model yet"; a blob this plugin cannot read fails create(). */
static int load_kept_model(logistic_scorer *s)
{
    void *data = NULL;
    size_t len = 0;
    int rc = s->host->state_get(s->ctx, "model", &data, &len);
    if (rc == KZ_ERR_NOT_FOUND || rc == KZ_ERR_UNSUPPORTED)
        return KZ_OK;
    if (rc != KZ_OK)
        return rc; /* the host said why */
    char why[WHY_LEN];
    logit_model *m = NULL;
    rc = logit_model_decode(data, len, &m, why, sizeof why);
    s->host->free_mem(data);
    if (rc == KZ_ERR_INVALID)
        s->host->set_error(s->ctx,
                           "the kept model (state key 'model', %zu bytes) is corrupt: %s; delete it and train "
                           "again",
                           len, why);
    if (rc != KZ_OK)
        return rc;
    if (!model_fits_terms(s, m)) {
        snprintf(s->untrained, sizeof s->untrained,
                 "the kept model was fitted on other terms than the parameter 'terms' names; train again");
        s->host->log(s->ctx, KZ_LOG_WARNING, "ignoring the kept model: %s", s->untrained);
        logit_model_free(m);
        return KZ_OK;
    }
    s->model = m;
    return KZ_OK;
}

static void logistic_destroy(void *self)
{
    logistic_scorer *s = self;
    for (uint32_t t = 0; t < s->n_terms; t++)
        free(s->terms[t]);
    free(s->terms);
    free(s->term_column);
    logit_model_free(s->model);
    free(s);
}

static int logistic_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    logistic_scorer *s = calloc(1, sizeof *s);
    if (s == NULL)
        return KZ_ERR_NOMEM;
    s->host = host;
    s->ctx = ctx;
    snprintf(s->untrained, sizeof s->untrained, "train() has not fitted a model yet and none was kept");
    const char *terms = NULL;
    int64_t max_iterations = DEFAULT_MAX_ITERATIONS;
    double tolerance = DEFAULT_TOLERANCE;
    int rc = host->param_string(ctx, "terms", &terms);
    if (rc != KZ_OK) {
        host->set_error(ctx, "parameter 'terms' is required: the measures of the model, separated by '+'");
        rc = KZ_ERR_INVALID;
        goto fail;
    }
    /* Parameters arrive with their defaults applied; a host that gives
     * none gets the same defaults here. */
    rc = host->param_int(ctx, "max_iterations", &max_iterations);
    if ((rc != KZ_OK && rc != KZ_ERR_NOT_FOUND) || max_iterations < 1 || max_iterations > 10000) {
        host->set_error(ctx, "parameter 'max_iterations' must be from 1 to 10000");
        rc = KZ_ERR_INVALID;
        goto fail;
    }
    rc = host->param_double(ctx, "tolerance", &tolerance);
    if ((rc != KZ_OK && rc != KZ_ERR_NOT_FOUND) || !(tolerance > 0 && tolerance < 1)) {
        host->set_error(ctx, "parameter 'tolerance' must be above 0 and below 1");
        rc = KZ_ERR_INVALID;
        goto fail;
    }
    s->max_iterations = (uint32_t)max_iterations;
    s->tolerance = tolerance;
    rc = parse_terms(s, terms);
    if (rc == KZ_OK)
        rc = load_kept_model(s);
    if (rc != KZ_OK)
        goto fail;
    *self = s;
    return KZ_OK;
fail:
    logistic_destroy(s);
    return rc;
}

/* ---- prepare ----------------------------------------------------------------- */

static int logistic_prepare(void *self, uint32_t n_columns, const kz_column *const *columns)
{
    logistic_scorer *s = self;
    uint32_t *map = malloc(sizeof(uint32_t) * s->n_terms);
    if (map == NULL)
        return KZ_ERR_NOMEM;
    for (uint32_t t = 0; t < s->n_terms; t++) {
        uint32_t c = 0;
        while (c < n_columns && strcmp(columns[c]->name, s->terms[t]) != 0)
            c++;
        if (c == n_columns) {
            s->host->set_error(s->ctx, "term '%s' has no column: the batches carry no measure of that name",
                               s->terms[t]);
            free(map);
            return KZ_ERR_INVALID;
        }
        if (columns[c]->type != KZ_COLUMN_DOUBLE && columns[c]->type != KZ_COLUMN_CATEGORICAL) {
            s->host->set_error(s->ctx, "measure '%s' has column type %u, which this scorer does not know", s->terms[t],
                               columns[c]->type);
            free(map);
            return KZ_ERR_INVALID;
        }
        map[t] = c;
    }
    free(s->term_column);
    s->term_column = map;
    s->n_columns = n_columns;
    s->prepared = 1;
    return KZ_OK;
}

/* Refuses columns that do not match the last prepare(). */
static int check_layout(logistic_scorer *s, uint32_t n_columns, const char *what)
{
    if (!s->prepared) {
        s->host->set_error(s->ctx, "%s before prepare(): the scorer does not know the columns", what);
        return KZ_ERR_INVALID;
    }
    if (n_columns != s->n_columns) {
        s->host->set_error(s->ctx, "%s with %u columns, but prepare() saw %u", what, n_columns, s->n_columns);
        return KZ_ERR_INVALID;
    }
    return KZ_OK;
}

/* ---- score ------------------------------------------------------------------- */

/* 1 / (1 + exp(-eta)) without overflow for any eta. */
static double inverse_logit(double eta)
{
    if (eta >= 0)
        return 1.0 / (1.0 + exp(-eta));
    const double e = exp(eta);
    return e / (1.0 + e);
}

static int logistic_score(void *self, kz_score_batch *batch)
{
    logistic_scorer *s = self;
    const logit_model *m = s->model;
    if (m == NULL) {
        s->host->set_error(s->ctx, "not trained: %s", s->untrained);
        return KZ_ERR_INVALID;
    }
    int rc = check_layout(s, batch->n_columns, "a batch");
    if (rc != KZ_OK)
        return rc;
    /* Per categorical term, the model's level index of each code of this
     * batch's dictionary (-1: a level the model never saw). */
    size_t n_codes = 0;
    for (uint32_t t = 0; t < m->n_inputs; t++)
        if (m->inputs[t].n_levels > 0)
            n_codes += batch->columns[s->term_column[t]]->n_levels;
    int32_t *level_of = malloc(sizeof(int32_t) * (n_codes > 0 ? n_codes : 1));
    const int32_t **maps = calloc(m->n_inputs, sizeof *maps);
    if (level_of == NULL || maps == NULL) {
        rc = KZ_ERR_NOMEM;
        goto done;
    }
    int32_t *next_map = level_of;
    for (uint32_t t = 0; t < m->n_inputs; t++) {
        const logit_input *in = &m->inputs[t];
        const kz_column *col = batch->columns[s->term_column[t]];
        const uint32_t want = in->n_levels > 0 ? KZ_COLUMN_CATEGORICAL : KZ_COLUMN_DOUBLE;
        if (col->type != want) {
            s->host->set_error(s->ctx, "measure '%s' is %s in this batch, but the model takes it as %s; train again",
                               in->name, col->type == KZ_COLUMN_CATEGORICAL ? "categorical" : "numeric",
                               want == KZ_COLUMN_CATEGORICAL ? "categorical" : "numeric");
            rc = KZ_ERR_INVALID;
            goto done;
        }
        if (want == KZ_COLUMN_DOUBLE ? col->values == NULL : col->codes == NULL) {
            s->host->set_error(s->ctx, "the batch carries no values of measure '%s'", in->name);
            rc = KZ_ERR_INVALID;
            goto done;
        }
        if (in->n_levels == 0)
            continue;
        for (uint32_t l = 0; l < col->n_levels; l++)
            next_map[l] = logit_model_find_level(in, col->levels[l]);
        maps[t] = next_map;
        next_map += col->n_levels;
    }

    const uint32_t n = batch->n_accounts;
    double *contrib = batch->contributions;
    if (contrib != NULL)
        memset(contrib, 0, sizeof(double) * batch->n_columns * n);
    for (uint32_t i = 0; i < n; i++) {
        double eta = m->intercept;
        int missing = 0;
        for (uint32_t t = 0; t < m->n_inputs && !missing; t++) {
            const logit_input *in = &m->inputs[t];
            const kz_column *col = batch->columns[s->term_column[t]];
            double part;
            if (in->n_levels == 0) {
                part = in->coefs[0] * col->values[i];
                missing = !isfinite(col->values[i]);
            } else {
                const int32_t code = col->codes[i];
                const int32_t level = code >= 0 && (uint32_t)code < col->n_levels ? maps[t][code] : -1;
                part = level >= 0 ? in->coefs[level] : 0;
                missing = level < 0;
            }
            eta += part;
            if (contrib != NULL)
                contrib[(size_t)s->term_column[t] * n + i] = part;
        }
        if (missing) {
            batch->scores[i] = NAN;
            if (batch->baseline != NULL)
                batch->baseline[i] = NAN;
            if (contrib != NULL) {
                for (uint32_t t = 0; t < m->n_inputs; t++)
                    contrib[(size_t)s->term_column[t] * n + i] = 0;
            }
            continue;
        }
        batch->scores[i] = inverse_logit(eta);
        if (batch->baseline != NULL)
            batch->baseline[i] = m->intercept;
    }
done:
    free(level_of);
    free(maps);
    return rc;
}

/* ---- train ------------------------------------------------------------------- */

/* How one term enters the design matrix. */
typedef struct {
    const kz_column *col;
    uint32_t first;     /* its first design column */
    uint32_t width;     /* numeric: 1; categorical: levels used - 1 */
    uint32_t n_used;    /* categorical: levels that some account used */
    int32_t *dummy;     /* categorical, per code: design column, or -1 (reference or unused) */
    uint32_t reference; /* categorical: the code of the reference level */
} term_layout;

/* Everything one train() call allocates, freed together. */
typedef struct {
    term_layout *layout;
    size_t *rows;
    double *x, *y, *w;
    char **names;
    uint32_t n_names;
    double *beta, *std_error;
    logit_model *model;
} train_work;

static void train_work_free(train_work *tw, uint32_t n_terms)
{
    if (tw->layout != NULL)
        for (uint32_t t = 0; t < n_terms; t++)
            free(tw->layout[t].dummy);
    free(tw->layout);
    free(tw->rows);
    free(tw->x);
    free(tw->y);
    free(tw->w);
    for (uint32_t j = 0; j < tw->n_names; j++)
        free(tw->names[j]);
    free(tw->names);
    free(tw->beta);
    free(tw->std_error);
    logit_model_free(tw->model);
}

/* Checks labels, weights and values, and selects the accounts to fit:
 * those with a label, a positive weight and every term (R's na.omit).
 * Fills tw->rows; returns their number in *n_rows, or a failure. */
static int select_rows(logistic_scorer *s, const kz_train_set *set, train_work *tw, size_t *n_rows)
{
    size_t n = 0;
    tw->rows = malloc(sizeof(size_t) * (set->n_accounts > 0 ? set->n_accounts : 1));
    if (tw->rows == NULL)
        return KZ_ERR_NOMEM;
    for (uint32_t i = 0; i < set->n_accounts; i++) {
        const double label = set->labels[i];
        if (isnan(label))
            continue;
        if (label != 0 && label != 1) {
            s->host->set_error(s->ctx, "account #%u has label %g: labels are 1 (churned), 0 (retained) or NaN", i,
                               label);
            return KZ_ERR_INVALID;
        }
        if (set->weights != NULL) {
            const double w = set->weights[i];
            if (isnan(w) || w == 0)
                continue;
            if (!(w > 0 && isfinite(w))) {
                s->host->set_error(s->ctx, "account #%u has weight %g: weights are finite and not negative", i, w);
                return KZ_ERR_INVALID;
            }
        }
        int complete = 1;
        for (uint32_t t = 0; t < s->n_terms && complete; t++) {
            const kz_column *col = set->columns[s->term_column[t]];
            if (col->type == KZ_COLUMN_DOUBLE) {
                const double v = col->values[i];
                complete = !isnan(v);
                if (complete && !isfinite(v)) {
                    s->host->set_error(s->ctx, "account #%u has an infinite value of measure '%s'", i, col->name);
                    return KZ_ERR_INVALID;
                }
            } else {
                const int32_t code = col->codes[i];
                complete = code >= 0;
                if (complete && (uint32_t)code >= col->n_levels) {
                    s->host->set_error(s->ctx, "account #%u has code %d of measure '%s', which has %u levels", i, code,
                                       col->name, col->n_levels);
                    return KZ_ERR_INVALID;
                }
            }
        }
        if (complete)
            tw->rows[n++] = i;
    }
    *n_rows = n;
    return KZ_OK;
}

/* Lays the terms out in the design: column 0 the intercept, then each
 * term's columns in order; a categorical term gets one column per level
 * used by the selected accounts, but the first. Fills tw->layout and
 * tw->names; *p receives the number of columns. */
static int lay_out_terms(logistic_scorer *s, const kz_train_set *set, train_work *tw, size_t n, uint32_t *p)
{
    tw->layout = calloc(s->n_terms, sizeof(term_layout));
    if (tw->layout == NULL)
        return KZ_ERR_NOMEM;
    uint32_t width = 1;
    for (uint32_t t = 0; t < s->n_terms; t++) {
        term_layout *tl = &tw->layout[t];
        tl->col = set->columns[s->term_column[t]];
        tl->first = width;
        if (tl->col->type == KZ_COLUMN_DOUBLE) {
            tl->width = 1;
            width++;
            continue;
        }
        const kz_column *col = tl->col;
        for (uint32_t l = 1; l < col->n_levels; l++)
            if (strcmp(col->levels[l - 1], col->levels[l]) >= 0) {
                s->host->set_error(s->ctx, "the levels of measure '%s' are not sorted by byte order ('%s', '%s')",
                                   col->name, col->levels[l - 1], col->levels[l]);
                return KZ_ERR_INVALID;
            }
        tl->dummy = malloc(sizeof(int32_t) * (col->n_levels > 0 ? col->n_levels : 1));
        if (tl->dummy == NULL)
            return KZ_ERR_NOMEM;
        for (uint32_t l = 0; l < col->n_levels; l++)
            tl->dummy[l] = 0; /* 0 = unused, for now */
        for (size_t r = 0; r < n; r++)
            tl->dummy[col->codes[tw->rows[r]]] = 1;
        for (uint32_t l = 0; l < col->n_levels; l++) {
            if (tl->dummy[l] == 0) {
                tl->dummy[l] = -1;
                continue;
            }
            if (tl->n_used++ == 0) {
                tl->reference = l;
                tl->dummy[l] = -1;
            } else
                tl->dummy[l] = (int32_t)(tl->first + tl->n_used - 2);
        }
        if (tl->n_used < 2) {
            s->host->set_error(s->ctx, "term %s is constant: every account used has level '%s'; drop it", col->name,
                               col->levels[tl->reference]);
            return KZ_ERR_INVALID;
        }
        tl->width = tl->n_used - 1;
        width += tl->width;
    }
    tw->names = calloc(width, sizeof(char *));
    if (tw->names == NULL)
        return KZ_ERR_NOMEM;
    tw->names[tw->n_names++] = copy_string("(intercept)", strlen("(intercept)"));
    for (uint32_t t = 0; t < s->n_terms; t++) {
        const term_layout *tl = &tw->layout[t];
        if (tl->col->type == KZ_COLUMN_DOUBLE) {
            tw->names[tw->n_names++] = copy_string(tl->col->name, strlen(tl->col->name));
            continue;
        }
        for (uint32_t l = 0; l < tl->col->n_levels; l++)
            if (tl->dummy[l] >= 0) {
                const size_t a = strlen(tl->col->name), b = strlen(tl->col->levels[l]);
                char *name = malloc(a + 1 + b + 1);
                if (name != NULL) {
                    memcpy(name, tl->col->name, a);
                    name[a] = '=';
                    memcpy(name + a + 1, tl->col->levels[l], b + 1);
                }
                tw->names[tw->n_names++] = name;
            }
    }
    for (uint32_t j = 0; j < width; j++)
        if (tw->names[j] == NULL)
            return KZ_ERR_NOMEM;
    *p = width;
    return KZ_OK;
}

/* Fills the design matrix (column-major, n x p), outcomes and weights of
 * the selected accounts. */
static int fill_design(const logistic_scorer *s, const kz_train_set *set, train_work *tw, size_t n, uint32_t p)
{
    tw->x = malloc(sizeof(double) * n * p);
    tw->y = malloc(sizeof(double) * n);
    if (set->weights != NULL)
        tw->w = malloc(sizeof(double) * n);
    if (tw->x == NULL || tw->y == NULL || (set->weights != NULL && tw->w == NULL))
        return KZ_ERR_NOMEM;
    const size_t *rows = tw->rows;
    for (size_t r = 0; r < n; r++) {
        tw->x[r] = 1.0;
        tw->y[r] = set->labels[rows[r]];
        if (tw->w != NULL)
            tw->w[r] = set->weights[rows[r]];
    }
    for (uint32_t t = 0; t < s->n_terms; t++) {
        const term_layout *tl = &tw->layout[t];
        double *x = tw->x + (size_t)tl->first * n;
        if (tl->col->type == KZ_COLUMN_DOUBLE) {
            for (size_t r = 0; r < n; r++)
                x[r] = tl->col->values[rows[r]];
            continue;
        }
        memset(x, 0, sizeof(double) * n * tl->width);
        for (size_t r = 0; r < n; r++) {
            const int32_t j = tl->dummy[tl->col->codes[rows[r]]];
            if (j >= 0)
                tw->x[(size_t)j * n + r] = 1.0;
        }
    }
    return KZ_OK;
}

/* The model of a fit: per term its coefficient(s), the reference level's
 * being 0. */
static int build_model(const logistic_scorer *s, train_work *tw)
{
    logit_model *m = tw->model = logit_model_new(s->n_terms);
    if (m == NULL)
        return KZ_ERR_NOMEM;
    m->intercept = tw->beta[0];
    for (uint32_t t = 0; t < s->n_terms; t++) {
        const term_layout *tl = &tw->layout[t];
        logit_input *in = &m->inputs[t];
        in->name = copy_string(s->terms[t], strlen(s->terms[t]));
        if (in->name == NULL)
            return KZ_ERR_NOMEM;
        if (tl->col->type == KZ_COLUMN_DOUBLE) {
            in->coefs = malloc(sizeof(double));
            if (in->coefs == NULL)
                return KZ_ERR_NOMEM;
            in->coefs[0] = tw->beta[tl->first];
            continue;
        }
        in->levels = calloc(tl->n_used, sizeof(char *));
        in->coefs = malloc(sizeof(double) * tl->n_used);
        if (in->levels == NULL || in->coefs == NULL)
            return KZ_ERR_NOMEM;
        in->n_levels = tl->n_used;
        uint32_t k = 0;
        for (uint32_t l = 0; l < tl->col->n_levels; l++) {
            if (l != tl->reference && tl->dummy[l] < 0)
                continue; /* unused */
            in->levels[k] = copy_string(tl->col->levels[l], strlen(tl->col->levels[l]));
            if (in->levels[k] == NULL)
                return KZ_ERR_NOMEM;
            in->coefs[k++] = l == tl->reference ? 0.0 : tw->beta[tl->dummy[l]];
        }
    }
    return KZ_OK;
}

static char *host_string(const kz_host *host, const char *text)
{
    const size_t n = strlen(text) + 1;
    char *c = host->alloc_mem(n);
    if (c != NULL)
        memcpy(c, text, n);
    return c;
}

/* Frees what fill_result() put in `result` and zeroes it again. */
static void clear_result(const kz_host *host, kz_train_result *result)
{
    if (result->terms != NULL)
        for (uint32_t j = 0; j < result->n_terms; j++)
            host->free_mem((void *)result->terms[j].name);
    host->free_mem(result->terms);
    host->free_mem(result->model);
    result->terms = NULL;
    result->n_terms = 0;
    result->iterations = 0;
    result->converged = 0;
    result->deviance = 0;
    result->model = NULL;
    result->model_len = 0;
}

static int fill_result(const logistic_scorer *s, const train_work *tw, uint32_t p, const logit_estimate *est,
                       kz_train_result *result)
{
    result->terms = s->host->alloc_mem(sizeof(kz_train_term) * p);
    if (result->terms == NULL)
        return KZ_ERR_NOMEM;
    memset(result->terms, 0, sizeof(kz_train_term) * p);
    result->n_terms = p;
    for (uint32_t j = 0; j < p; j++) {
        result->terms[j].name = host_string(s->host, tw->names[j]);
        if (result->terms[j].name == NULL)
            return KZ_ERR_NOMEM;
        result->terms[j].estimate = est->beta[j];
        result->terms[j].std_error = est->std_error[j];
    }
    result->iterations = est->iterations;
    result->converged = 1;
    result->deviance = est->deviance;
    return logit_model_encode(tw->model, s->host, &result->model, &result->model_len);
}

static int logistic_train(void *self, const kz_train_set *set, kz_train_result *result)
{
    logistic_scorer *s = self;
    /* All labels unknown: a calibration, and this scorer has nothing to
     * calibrate. */
    uint32_t labelled = 0;
    for (uint32_t i = 0; i < set->n_accounts; i++)
        labelled += !isnan(set->labels[i]);
    if (labelled == 0)
        return KZ_OK;
    int rc = check_layout(s, set->n_columns, "a train set");
    if (rc != KZ_OK)
        return rc;

    train_work tw = {0};
    size_t n = 0;
    uint32_t p = 0;
    rc = select_rows(s, set, &tw, &n);
    if (rc != KZ_OK)
        goto done;
    size_t positives = 0;
    for (size_t r = 0; r < n; r++)
        positives += set->labels[tw.rows[r]] == 1;
    if (positives == 0 || positives == n) {
        s->host->set_error(s->ctx,
                           "the %zu accounts with a label and every term do not have both outcomes (%zu churned, "
                           "%zu retained): nothing to fit",
                           n, positives, n - positives);
        rc = KZ_ERR_INVALID;
        goto done;
    }
    rc = lay_out_terms(s, set, &tw, n, &p);
    if (rc != KZ_OK)
        goto done;
    if (n < p) {
        s->host->set_error(s->ctx, "only %zu accounts have a label and every term: fewer than the %u terms to fit", n,
                           p);
        rc = KZ_ERR_INVALID;
        goto done;
    }
    rc = fill_design(s, set, &tw, n, p);
    if (rc != KZ_OK)
        goto done;
    tw.beta = malloc(sizeof(double) * p);
    tw.std_error = malloc(sizeof(double) * p);
    if (tw.beta == NULL || tw.std_error == NULL) {
        rc = KZ_ERR_NOMEM;
        goto done;
    }
    const logit_design design = {n, p, tw.x, tw.y, tw.w, (const char *const *)tw.names};
    logit_estimate est = {tw.beta, tw.std_error, 0, 0};
    char why[WHY_LEN];
    rc = logit_fit(&design, s->max_iterations, s->tolerance, &est, why, sizeof why);
    if (rc == KZ_ERR_INVALID)
        s->host->set_error(s->ctx, "%s", why);
    if (rc == KZ_OK)
        rc = build_model(s, &tw);
    if (rc == KZ_OK)
        rc = fill_result(s, &tw, p, &est, result);
    if (rc != KZ_OK) {
        clear_result(s->host, result);
        goto done;
    }
    s->host->log(s->ctx, KZ_LOG_INFO, "fitted %u terms to %zu accounts in %u iterations, deviance %.10g", p, n,
                 est.iterations, est.deviance);
    logit_model_free(s->model);
    s->model = tw.model;
    tw.model = NULL;
done:
    if (rc == KZ_ERR_NOMEM)
        s->host->set_error(s->ctx, "out of memory fitting %zu accounts x %u terms", n, p);
    train_work_free(&tw, s->n_terms);
    return rc;
}

/* ---- the component ---------------------------------------------------------------- */

static const kz_param_spec logistic_params[] = {
    KZ_PARAM(KZ_PARAM_STRING, "terms", KZ_PARAM_REQUIRED, NULL,
             "the model's measures, separated by '+': \"international_plan + total_day_minutes\""),
    KZ_PARAM(KZ_PARAM_INT, "max_iterations", 0, "25", "Newton (IRLS) steps at most"),
    KZ_PARAM(KZ_PARAM_DOUBLE, "tolerance", 0, "1e-10",
             "converged when the deviance changes by less than this, relative: |dev - old| / (|dev| + 0.1)"),
    KZ_PARAM_END,
};

static const kz_scorer_vtable logistic_vtable = {
    .size = sizeof(kz_scorer_vtable),
    .output = KZ_SCORE_PROBABILITY,
    .create = logistic_create,
    .destroy = logistic_destroy,
    .prepare = logistic_prepare,
    .score = logistic_score,
    .train = logistic_train,
};

static const kz_component logistic_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_SCORER,
    .name = "logistic",
    .summary = "Churn probability from a logistic regression fitted to churn history",
    .params = logistic_params,
    .vtable = &logistic_vtable,
};

KZ_PLUGIN_DEFINE("org.kizuna.logistic", "Logistic scorer", KZ_PLUGIN_VERSION, "Kizuna project", "Apache-2.0",
                 "Scores churn risk with a logistic regression, as R's glm fits it", &logistic_component)
