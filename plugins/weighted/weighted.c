/*
 * plugins/weighted/weighted.c — the `weighted` health scorer: 0..100 as the
 * weighted mean of normalized measures, with the contribution of every
 * measure, and a train() that proposes weights learned from outcomes.
 *
 * Parameters: `measures` (entries `NAME weight=W (band=LOW..HIGH |
 * percentile | percentile=desc)`, see measures.c) and `min_coverage`.
 * A measure is normalized to n in 0..1 (1 = healthy) by its band,
 * clamp((x - LOW) / (HIGH - LOW), 0, 1), or by its mid-rank percentile in
 * a reference the scorer learns when the host calibrates it (reference.c).
 *
 *   score_i        = 100 * sum_{m present} w_m n_m / sum_{m present} w_m
 *   contribution_m = 100 * w_m n_m / sum_{m present} w_m   (0 when m is missing)
 *   baseline       = 0, so the contributions add up to the score.
 *
 * MISSING RULE: a measure whose value is NaN is missing for that account.
 * Missing measures drop out and the weights of the present ones are
 * renormalized, so a missing value neither helps nor hurts the score.
 * When the weight of the present measures is below min_coverage (default
 * 0.5) of the total weight, the account is unscored: its score is NaN and
 * every contribution 0. An account with no weight present at all is
 * unscored whatever min_coverage says. Categorical columns are not
 * supported: prepare() refuses a configured measure that is categorical
 * (or has no column); columns no measure names are ignored (contribution 0).
 *
 * train() with labels fits a ridge-penalized logistic regression of churn
 * on the normalized measures (fit.c) and proposes weight_m = max(0,
 * -beta_m), rescaled to the total of the current weights; a set whose
 * labels are all NaN is a calibration and only learns the percentile
 * references. The model it reports (measures.c) replaces the `measures`
 * parameter when create() finds it kept in the instance's state, even
 * when it names other measures (a warning in the log says so).
 *
 * score() is the hot path. It works on tiles of WT_TILE accounts, one
 * measure column at a time over contiguous arrays, in loops the compiler
 * vectorizes: a first pass adds up the weight present per account (the
 * NaN test is a select, not a branch), one division per account turns
 * that into points per unit of weight, and a second pass writes each
 * contribution and adds it to the score. A tile's values stay in the L1
 * cache between the two passes, so each is read from memory once. Band
 * scale and offset are precomputed (times the weight), so a value costs a
 * multiply-add, a clamp, a multiply and a select; percentiles add a
 * binary search over the reference's knots.
 */
#define _POSIX_C_SOURCE 200809L
#include "weighted.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WT_TILE 256 /* accounts: a tile of 10 measures stays in a 32 KiB L1 cache */

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    wt_model model;      /* the measures and weights scored with */
    double min_coverage; /* 0..1 */
    double need;         /* the present weight an account needs to be scored (> 0) */
    /* What prepare() saw: */
    int prepared;
    uint32_t n_columns;
    uint32_t *column_of;        /* model.n: the column holding each measure */
    unsigned char *column_used; /* n_columns: 1 when a measure reads the column */
    /* The tile score() works on: per measure, where its values come from
     * and its contributions go; and room for a batch shorter than a tile
     * (scores, then model.n rows of contributions, then of values). */
    const double **tile_x;
    double **tile_part;
    double *tile_scratch;
    double *nan_tile; /* WT_TILE missing values: a percentile measure the book has no value of */
    int calibrated;   /* a train() succeeded: a percentile measure without a reference is missing */
} weighted;

/* Makes `model` (taken, left empty) the one scored with, and derives the
 * present weight an account needs: min_coverage of the total, less a
 * relative 1e-12 so that rounding in the sum of the present weights does
 * not unscore an account exactly at the limit; and always above 0, as an
 * account with nothing present has nothing to score. */
static void set_model(weighted *s, wt_model *model)
{
    wt_model_clear(&s->model);
    s->model = *model;
    *model = (wt_model){0};
    s->need = fmax(s->min_coverage * wt_model_total_weight(&s->model) * (1 - 1e-12), DBL_MIN);
}

/* "a, b, c" into buf, cut short with "..." when it does not fit. */
static void join_names(const wt_model *model, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t k = 0; k < model->n && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", k > 0 ? ", " : "", model->m[k].name);
    if (used >= len && len > 4)
        strcpy(buf + len - 4, "...");
}

/* Whether the two models name the same measures (in any order). */
static int same_measures(const wt_model *a, const wt_model *b)
{
    if (a->n != b->n)
        return 0;
    for (uint32_t k = 0; k < a->n; k++) {
        uint32_t j = 0;
        while (j < b->n && strcmp(a->m[k].name, b->m[j].name) != 0)
            j++;
        if (j == b->n)
            return 0;
    }
    return 1;
}

/* Replaces *model by the model kept in the instance's state, if there is
 * one. The kept model wins over the parameter (it holds what training
 * learned); when it names other measures than the parameter, a warning
 * says so, as the parameter then has no effect until the next training. */
static int load_kept_model(const kz_host *host, kz_ctx *ctx, wt_model *model)
{
    void *data = NULL;
    size_t len = 0;
    int rc = host->state_get(ctx, "model", &data, &len);
    if (rc == KZ_ERR_NOT_FOUND || rc == KZ_ERR_UNSUPPORTED)
        return KZ_OK; /* nothing trained yet, or no store (`kizuna check`) */
    if (rc != KZ_OK)
        return rc; /* the host has said why */
    wt_model kept;
    char why[512];
    rc = wt_parse_model(data, len, &kept, why, sizeof why);
    host->free_mem(data);
    if (rc != KZ_OK) {
        if (rc == KZ_ERR_INVALID)
            host->set_error(ctx, "the kept model (state key 'model') cannot be read: %s", why);
        return rc;
    }
    if (!same_measures(model, &kept)) {
        char was[256], now[256];
        join_names(model, was, sizeof was);
        join_names(&kept, now, sizeof now);
        host->log(ctx, KZ_LOG_WARNING,
                  "the kept model scores %s, not the measures of parameter 'measures' (%s): the kept model wins "
                  "until the scorer is trained again",
                  now, was);
    }
    host->log(ctx, KZ_LOG_DEBUG, "scoring with the kept model (%u measures)", kept.n);
    wt_model_clear(model);
    *model = kept;
    return KZ_OK;
}

static void weighted_destroy(void *self)
{
    weighted *s = self;
    wt_model_clear(&s->model);
    free(s->column_of);
    free(s->column_used);
    free(s->tile_x);
    free(s->tile_part);
    free(s->tile_scratch);
    free(s->nan_tile);
    s->host->free_mem(s);
}

static int weighted_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    const char *text = NULL;
    if (host->param_string(ctx, "measures", &text) != KZ_OK) {
        host->set_error(ctx, "parameter 'measures' is required");
        return KZ_ERR_INVALID;
    }
    double min_coverage = 0.5;
    int rc = host->param_double(ctx, "min_coverage", &min_coverage);
    if ((rc != KZ_OK && rc != KZ_ERR_NOT_FOUND) || !(min_coverage >= 0 && min_coverage <= 1)) {
        host->set_error(ctx, "parameter 'min_coverage' must be a number from 0 to 1");
        return KZ_ERR_INVALID;
    }
    wt_model model;
    char why[512];
    rc = wt_parse_measures(text, &model, why, sizeof why);
    if (rc != KZ_OK) {
        if (rc == KZ_ERR_INVALID)
            host->set_error(ctx, "%s", why);
        return rc;
    }
    rc = load_kept_model(host, ctx, &model);
    weighted *s = rc == KZ_OK ? host->alloc_mem(sizeof *s) : NULL;
    if (s == NULL) {
        wt_model_clear(&model);
        return rc != KZ_OK ? rc : KZ_ERR_NOMEM;
    }
    *s = (weighted){.host = host, .ctx = ctx, .min_coverage = min_coverage};
    /* training changes weights and references, never the measures: the
     * tile is sized once */
    s->tile_x = malloc(model.n * sizeof *s->tile_x);
    s->tile_part = malloc(model.n * sizeof *s->tile_part);
    s->tile_scratch = malloc(WT_TILE * (1 + 2 * (size_t)model.n) * sizeof *s->tile_scratch);
    s->nan_tile = malloc(WT_TILE * sizeof *s->nan_tile);
    for (uint32_t i = 0; s->nan_tile != NULL && i < WT_TILE; i++)
        s->nan_tile[i] = NAN;
    set_model(s, &model);
    if (s->tile_x == NULL || s->tile_part == NULL || s->tile_scratch == NULL || s->nan_tile == NULL) {
        weighted_destroy(s);
        return KZ_ERR_NOMEM;
    }
    *self = s;
    return KZ_OK;
}

static int weighted_prepare(void *self, uint32_t n_columns, const kz_column *const *columns)
{
    weighted *s = self;
    uint32_t *column_of = calloc(s->model.n > 0 ? s->model.n : 1, sizeof *column_of);
    unsigned char *used = calloc(n_columns > 0 ? n_columns : 1, 1);
    int rc = column_of != NULL && used != NULL ? KZ_OK : KZ_ERR_NOMEM;
    for (uint32_t k = 0; k < s->model.n && rc == KZ_OK; k++) {
        const char *name = s->model.m[k].name;
        uint32_t found = 0;
        for (uint32_t c = 0; c < n_columns; c++)
            if (columns[c]->name != NULL && strcmp(columns[c]->name, name) == 0) {
                column_of[k] = c;
                found++;
            }
        const uint32_t type = found == 1 ? columns[column_of[k]]->type : 0;
        rc = found == 1 && type == KZ_COLUMN_DOUBLE ? KZ_OK : KZ_ERR_INVALID;
        if (found == 0)
            s->host->set_error(s->ctx, "measure '%s' is configured but no column carries it", name);
        else if (found > 1)
            s->host->set_error(s->ctx, "measure '%s' is carried by %u columns", name, found);
        else if (type == KZ_COLUMN_CATEGORICAL)
            s->host->set_error(s->ctx, "measure '%s' is categorical: the weighted scorer scores numeric measures only",
                               name);
        else if (type != KZ_COLUMN_DOUBLE)
            s->host->set_error(s->ctx, "measure '%s' has a column type (%u) the weighted scorer does not know", name,
                               type);
        else
            used[column_of[k]] = 1;
    }
    if (rc != KZ_OK) {
        free(column_of);
        free(used);
        return rc;
    }
    free(s->column_of);
    free(s->column_used);
    s->column_of = column_of;
    s->column_used = used;
    s->n_columns = n_columns;
    s->prepared = 1;
    return KZ_OK;
}

/* Checks that `columns` (from a batch or a train set) fit what prepare()
 * saw and carry values for every measure. */
static int check_columns(weighted *s, uint32_t n_columns, const kz_column *const *columns, const char *call)
{
    if (!s->prepared) {
        s->host->set_error(s->ctx, "%s() before prepare()", call);
        return KZ_ERR_INVALID;
    }
    if (n_columns != s->n_columns) {
        s->host->set_error(s->ctx, "%s() got %u columns, prepare() saw %u", call, n_columns, s->n_columns);
        return KZ_ERR_INVALID;
    }
    for (uint32_t k = 0; k < s->model.n; k++)
        if (columns[s->column_of[k]]->values == NULL) {
            s->host->set_error(s->ctx, "%s(): the column of measure '%s' has no values", call, s->model.m[k].name);
            return KZ_ERR_INVALID;
        }
    return KZ_OK;
}

/* The normalized value (0..1, 1 = healthy) of raw value x of measure m,
 * for training. A missing (NaN) value gives an unspecified value: callers
 * mask it. */
static double band_value(const wt_measure *m, double x)
{
    const double v = x * m->scale + m->offset;
    const double floor0 = v > 0 ? v : 0;
    return floor0 < 1 ? floor0 : 1;
}

/* Inline: the kernel calls it once per value of a percentile measure. */
static inline double percentile_value(const wt_measure *m, double x)
{
    if (m->ref == NULL) /* no value in the book: missing for every account */
        return NAN;
    const double p = wt_percentile(m->ref, x);
    return m->desc ? 1 - p : p;
}

/* One measure's part of a tile of WT_TILE accounts: t = clamp(in * a + b,
 * 0, w) * points, 0 where x is missing, written to part and added to
 * score. The clamp is w times the normalized value: for a band, `in` is x
 * itself and a, b the band's scale and offset times w; for a percentile,
 * `in` holds the normalized values and a = w, b = 0. A function of its
 * own because compilers take `restrict` at its word on parameters. */
static void accumulate(const double *restrict x, const double *restrict in, double a, double b, double w,
                       const double *restrict points, double *restrict part, double *restrict score)
{
    for (uint32_t i = 0; i < WT_TILE; i++) {
        const double u = in[i] * a + b;
        const double floor0 = u > 0 ? u : 0; /* NaN, from a weight of 0 times an infinite value, as 0 */
        const double v = (floor0 < w ? floor0 : w) * points[i]; /* computed for every value, then masked */
        const double t = x[i] == x[i] ? v : 0.0;
        part[i] = t;
        score[i] += t;
    }
}

/* Scores WT_TILE accounts: x[k] holds their values of measure k, part[k]
 * receives the contributions of measure k, score the scores. Every loop
 * runs exactly WT_TILE times, so that GCC vectorizes it at -O2 (whose
 * cost model takes only loops without a scalar remainder). */
static void score_tile(const weighted *s, const double *const *x, double *const *part, double *restrict score)
{
    double present[WT_TILE], points[WT_TILE], norm[WT_TILE];
    const wt_model *model = &s->model;

    for (uint32_t i = 0; i < WT_TILE; i++)
        present[i] = 0;
    for (uint32_t k = 0; k < model->n; k++) {
        const double *restrict xk = x[k];
        const double w = model->m[k].weight;
        for (uint32_t i = 0; i < WT_TILE; i++)
            present[i] += xk[i] == xk[i] ? w : 0.0; /* NaN != NaN */
    }
    /* points per unit of w * n: 100 / present weight, or 0 when unscored
     * (dividing by infinity keeps the division unconditional) */
    const double need = s->need;
    for (uint32_t i = 0; i < WT_TILE; i++) {
        points[i] = 100.0 / (present[i] >= need ? present[i] : INFINITY);
        score[i] = 0;
    }
    for (uint32_t k = 0; k < model->n; k++) {
        const wt_measure *m = &model->m[k];
        const double w = m->weight;
        if (m->norm == WT_BAND) {
            accumulate(x[k], x[k], w * m->scale, w * m->offset, w, points, part[k], score);
        } else {
            for (uint32_t i = 0; i < WT_TILE; i++)
                norm[i] = percentile_value(m, x[k][i]);
            accumulate(x[k], norm, w, 0, w, points, part[k], score);
        }
    }
    /* Each term is at most w * 100 / present, so the sum is at most 100
     * in exact arithmetic; in doubles it can pass it by an ulp (weights
     * 0.5 and 3 at their tops sum to 100.00000000000001), which the host
     * would reject as out of range. */
    for (uint32_t i = 0; i < WT_TILE; i++) {
        const double v = score[i] < 100.0 ? score[i] : 100.0;
        score[i] = points[i] > 0 ? v : NAN;
    }
}

/* A percentile measure of which the calibration found no value: missing
 * for every account until one comes. */
static inline int unreferenced(const wt_measure *m)
{
    return m->norm == WT_PERCENTILE && m->ref == NULL;
}

/* Scores a batch tile by tile. A batch of at least WT_TILE accounts is
 * cut into whole tiles, the last one overlapping the one before it: the
 * accounts in both are scored twice, to the same bits, since a score
 * depends on its own account only. A shorter batch is copied into the
 * instance's tile (padded with missing values) and scored there. */
static void score_tiles(weighted *s, const kz_score_batch *b)
{
    const uint32_t n = b->n_accounts;
    const wt_model *model = &s->model;
    if (n >= WT_TILE) {
        for (uint32_t i0 = 0;; i0 += WT_TILE) {
            if (i0 > n - WT_TILE)
                i0 = n - WT_TILE;
            for (uint32_t k = 0; k < model->n; k++) {
                const uint32_t c = s->column_of[k];
                s->tile_x[k] = unreferenced(&model->m[k]) ? s->nan_tile : b->columns[c]->values + i0;
                s->tile_part[k] =
                    b->contributions != NULL ? b->contributions + (size_t)c * n + i0 : s->tile_scratch + WT_TILE;
            }
            score_tile(s, s->tile_x, s->tile_part, b->scores + i0);
            if (i0 == n - WT_TILE)
                return;
        }
    }
    double *in = s->tile_scratch + WT_TILE * (1 + (size_t)model->n); /* after the scores and the parts */
    for (uint32_t k = 0; k < model->n; k++) {
        double *xk = in + (size_t)k * WT_TILE;
        if (unreferenced(&model->m[k]))
            memcpy(xk, s->nan_tile, n * sizeof *xk);
        else
            memcpy(xk, b->columns[s->column_of[k]]->values, n * sizeof *xk);
        for (uint32_t i = n; i < WT_TILE; i++)
            xk[i] = NAN;
        s->tile_x[k] = xk;
        s->tile_part[k] = s->tile_scratch + WT_TILE * (1 + (size_t)k);
    }
    score_tile(s, s->tile_x, s->tile_part, s->tile_scratch);
    memcpy(b->scores, s->tile_scratch, n * sizeof *b->scores);
    for (uint32_t k = 0; k < model->n && b->contributions != NULL; k++)
        memcpy(b->contributions + (size_t)s->column_of[k] * n, s->tile_part[k], n * sizeof(double));
}

static int weighted_score(void *self, kz_score_batch *batch)
{
    weighted *s = self;
    int rc = check_columns(s, batch->n_columns, batch->columns, "score");
    if (rc != KZ_OK)
        return rc;
    for (uint32_t k = 0; k < s->model.n; k++)
        if (s->model.m[k].norm == WT_PERCENTILE && s->model.m[k].ref == NULL && !s->calibrated) {
            s->host->set_error(s->ctx,
                               "measure '%s' is percentile-normalized and the scorer needs calibration (train() on "
                               "the book of business) before it can score",
                               s->model.m[k].name);
            return KZ_ERR_INVALID;
        }
    const uint32_t n = batch->n_accounts;
    if (n > 0)
        score_tiles(s, batch);
    if (batch->contributions != NULL)
        for (uint32_t c = 0; c < batch->n_columns; c++)
            if (!s->column_used[c]) /* a column no measure reads explains nothing */
                memset(batch->contributions + (size_t)c * n, 0, n * sizeof(double));
    if (batch->baseline != NULL)
        memset(batch->baseline, 0, n * sizeof(double)); /* every point comes from a measure */
    return KZ_OK;
}

/* ---- training ------------------------------------------------------------ */

/* Fills `result` from `model` (allocating with the host's allocator, as
 * the host frees). On failure frees what it allocated and returns
 * KZ_ERR_NOMEM. */
static int report(weighted *s, const wt_model *model, kz_train_result *result)
{
    const kz_host *host = s->host;
    size_t model_len = 0;
    result->terms = host->alloc_mem(model->n * sizeof *result->terms);
    result->model = wt_format_model(model, host, &model_len);
    result->model_len = model_len;
    int rc = result->terms != NULL && result->model != NULL ? KZ_OK : KZ_ERR_NOMEM;
    for (; rc == KZ_OK && result->n_terms < model->n; result->n_terms++) {
        const wt_measure *m = &model->m[result->n_terms];
        char *name = host->alloc_mem(strlen(m->name) + 1);
        if (name == NULL) {
            rc = KZ_ERR_NOMEM;
            break;
        }
        strcpy(name, m->name);
        result->terms[result->n_terms] = (kz_train_term){.name = name, .estimate = m->weight, .std_error = NAN};
    }
    if (rc != KZ_OK) {
        for (uint32_t k = 0; k < result->n_terms; k++)
            host->free_mem((void *)result->terms[k].name);
        host->free_mem(result->terms);
        host->free_mem(result->model);
        result->terms = NULL;
        result->n_terms = 0;
        result->model = NULL;
        result->model_len = 0;
    }
    return rc;
}

/* Whether account i of `set` takes part in the fit: it has a label and a
 * weight above 0. */
static int in_fit(const kz_train_set *set, uint32_t i)
{
    return !isnan(set->labels[i]) && (set->weights == NULL || set->weights[i] > 0);
}

/* Checks the labels and weights of `set`; counts the accounts that take
 * part in the fit, and weighs them in all and the churned ones. */
static int count_labels(weighted *s, const kz_train_set *set, size_t *n_fit, double *churned, double *total)
{
    *n_fit = 0;
    *churned = *total = 0;
    if (set->labels == NULL) {
        s->host->set_error(s->ctx, "the training set has no labels (all NaN for a calibration)");
        return KZ_ERR_INVALID;
    }
    for (uint32_t i = 0; i < set->n_accounts; i++) {
        const double y = set->labels[i];
        const double a = set->weights != NULL ? set->weights[i] : 1.0;
        if (!(a >= 0 && isfinite(a))) {
            s->host->set_error(s->ctx, "the weight of account %u of the training set is not a number >= 0", i);
            return KZ_ERR_INVALID;
        }
        if (!in_fit(set, i))
            continue;
        if (y != 0 && y != 1) {
            s->host->set_error(s->ctx, "the label of account %u of the training set is %g, not 0, 1 or NaN", i, y);
            return KZ_ERR_INVALID;
        }
        ++*n_fit;
        *churned += a * y;
        *total += a;
    }
    return KZ_OK;
}

/* The normalized measures of the accounts that take part in the fit, one
 * row each (row-major, model->n per row), with a missing value replaced
 * by its measure's mean over those accounts; and their labels and
 * weights. Arrays allocated with malloc. */
static int design(const wt_model *model, const kz_train_set *set, const uint32_t *column_of, size_t n_fit, double **z,
                  double **y, double **a)
{
    const uint32_t p = model->n;
    *z = malloc(n_fit * p * sizeof **z);
    *y = malloc(n_fit * sizeof **y);
    *a = malloc(n_fit * sizeof **a);
    if (*z == NULL || *y == NULL || *a == NULL)
        return KZ_ERR_NOMEM;
    size_t r = 0;
    for (uint32_t i = 0; i < set->n_accounts; i++)
        if (in_fit(set, i)) {
            (*y)[r] = set->labels[i];
            (*a)[r] = set->weights != NULL ? set->weights[i] : 1.0;
            r++;
        }
    for (uint32_t k = 0; k < p; k++) {
        const wt_measure *m = &model->m[k];
        const double *x = set->columns[column_of[k]]->values;
        double sum = 0, sum_a = 0;
        r = 0;
        for (uint32_t i = 0; i < set->n_accounts; i++) {
            if (!in_fit(set, i))
                continue;
            const double v = isnan(x[i]) ? NAN : m->norm == WT_BAND ? band_value(m, x[i]) : percentile_value(m, x[i]);
            (*z)[r * p + k] = v;
            if (!isnan(v)) {
                sum += (*a)[r] * v;
                sum_a += (*a)[r];
            }
            r++;
        }
        const double mean = sum_a > 0 ? sum / sum_a : 0;
        for (r = 0; r < n_fit; r++)
            if (isnan((*z)[r * p + k]))
                (*z)[r * p + k] = mean;
    }
    return KZ_OK;
}

/* Fits the outcome model on `set` with `model`'s normalization and sets
 * `model`'s weights to the proposal. */
static int propose_weights(weighted *s, wt_model *model, const kz_train_set *set, size_t n_fit, double total,
                           kz_train_result *result)
{
    double *z = NULL, *y = NULL, *a = NULL;
    wt_fit fit = {0};
    char why[256];
    int rc = design(model, set, s->column_of, n_fit, &z, &y, &a);
    if (rc == KZ_OK)
        rc = wt_fit_logistic(z, y, a, n_fit, model->n, 1e-4 * total, &fit, why, sizeof why);
    free(z);
    free(y);
    free(a);
    if (rc == KZ_ERR_INVALID)
        s->host->set_error(s->ctx, "%s", why);
    if (rc == KZ_OK && !fit.converged) {
        s->host->set_error(s->ctx, "the fit did not converge in %u iterations", fit.iterations);
        rc = KZ_ERR_INVALID;
    }
    if (rc == KZ_OK) {
        /* n is oriented so that 1 is healthy: a measure that retains has a
         * negative churn coefficient, and weighs its size. */
        const double configured = wt_model_total_weight(model);
        double proposed = 0;
        for (uint32_t k = 0; k < model->n; k++)
            proposed += fmax(0, -fit.beta[k + 1]);
        if (proposed > 0) {
            for (uint32_t k = 0; k < model->n; k++)
                model->m[k].weight = fmax(0, -fit.beta[k + 1]) * (configured / proposed);
            result->iterations = fit.iterations;
            result->converged = fit.converged;
            result->deviance = fit.deviance;
        } else {
            s->host->set_error(s->ctx, "no measure is associated with retention as configured (every measure's "
                                       "churn coefficient is 0 or positive): check the bands' directions");
            rc = KZ_ERR_INVALID;
        }
    }
    free(fit.beta);
    return rc;
}

static int weighted_train(void *self, const kz_train_set *set, kz_train_result *result)
{
    weighted *s = self;
    int rc = check_columns(s, set->n_columns, set->columns, "train");
    size_t n_fit = 0;
    double churned = 0, total = 0;
    if (rc == KZ_OK)
        rc = count_labels(s, set, &n_fit, &churned, &total);
    if (rc == KZ_OK && n_fit > 0 && (churned == 0 || churned == total)) {
        s->host->set_error(s->ctx, "every labelled account %s: the fit needs both churned and retained accounts",
                           churned == 0 ? "was retained" : "churned");
        rc = KZ_ERR_INVALID;
    }
    wt_model next = {0};
    if (rc == KZ_OK)
        rc = wt_model_copy(&next, &s->model);

    /* The percentile references come from this set, calibration or not. */
    for (uint32_t k = 0; rc == KZ_OK && k < next.n; k++) {
        wt_measure *m = &next.m[k];
        if (m->norm != WT_PERCENTILE)
            continue;
        wt_reference *ref = NULL;
        rc = wt_reference_learn(set->columns[s->column_of[k]]->values, set->n_accounts, &ref);
        if (rc == KZ_ERR_NOT_FOUND && n_fit == 0) { /* a calibration: missing everywhere, not a failure */
            s->host->log(s->ctx, KZ_LOG_WARNING,
                         "measure '%s' has no value in the book: it counts as missing until it has one", m->name);
            wt_reference_free(m->ref);
            m->ref = NULL;
            rc = KZ_OK;
            continue;
        }
        if (rc == KZ_ERR_NOT_FOUND) {
            s->host->set_error(s->ctx, "measure '%s' has no value in the training set to learn its percentiles from",
                               m->name);
            rc = KZ_ERR_INVALID;
        }
        if (rc == KZ_OK) {
            wt_reference_free(m->ref);
            m->ref = ref;
        }
    }
    result->deviance = NAN;
    if (rc == KZ_OK && n_fit > 0) /* labels: fit the weights; none: a calibration, weights kept */
        rc = propose_weights(s, &next, set, n_fit, total, result);
    if (rc == KZ_OK)
        rc = report(s, &next, result);
    if (rc == KZ_OK) {
        set_model(s, &next);
        s->calibrated = 1;
    }
    wt_model_clear(&next);
    return rc;
}

static const kz_param_spec weighted_params[] = {
    KZ_PARAM(KZ_PARAM_STRING, "measures", KZ_PARAM_REQUIRED, NULL,
             "one entry per line or ';': NAME weight=W band=LOW..HIGH | percentile | percentile=desc"),
    KZ_PARAM(KZ_PARAM_DOUBLE, "min_coverage", 0, "0.5",
             "least share of the total weight an account must have present to be scored"),
    KZ_PARAM_END,
};

static const kz_scorer_vtable weighted_vtable = {
    .size = sizeof(kz_scorer_vtable),
    .output = KZ_SCORE_HEALTH,
    .create = weighted_create,
    .destroy = weighted_destroy,
    .prepare = weighted_prepare,
    .score = weighted_score,
    .train = weighted_train,
};

static const kz_component weighted_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_SCORER,
    .name = "weighted",
    .summary = "Health 0-100: weighted mean of measures normalized by band or percentile",
    .params = weighted_params,
    .vtable = &weighted_vtable,
};

KZ_PLUGIN_DEFINE("org.kizuna.weighted", "Weighted health scorer", KZ_PLUGIN_VERSION, "Kizuna project", "Apache-2.0",
                 "Scores account health as a weighted mean of normalized measures", &weighted_component)
