/*
 * example_scorer.c — a complete Kizuna scorer plugin: the template a
 * vendor copies. It scores each account 0..100 by how close its measures
 * come to a target: every measure contributes min(value / target, 1) of
 * an equal share, so an account at or above target on every measure
 * scores 100. Missing measures (NaN) are left out and the shares of the
 * others grow to fill the 100, so a missing value neither helps nor hurts.
 *
 * Everything the host needs is at the bottom: the parameter table, the
 * vtable, the component and KZ_PLUGIN_DEFINE.
 */
#include <kizuna/kizuna.h>

#include <math.h>

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    double target; /* the "healthy" level of every measure */
} example_scorer;

static int example_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    double target = 1.0;
    /* Parameters arrive validated and with defaults applied. */
    if (host->param_double(ctx, "target", &target) != KZ_OK || !(target > 0)) {
        host->set_error(ctx, "parameter 'target' must be a number above 0");
        return KZ_ERR_INVALID;
    }
    example_scorer *s = host->alloc_mem(sizeof *s);
    if (s == NULL)
        return KZ_ERR_NOMEM;
    s->host = host;
    s->ctx = ctx;
    s->target = target;
    *self = s;
    return KZ_OK;
}

static void example_destroy(void *self)
{
    example_scorer *s = self;
    s->host->free_mem(s);
}

static int example_prepare(void *self, uint32_t n_columns, const kz_column *const *columns)
{
    example_scorer *s = self;
    for (uint32_t c = 0; c < n_columns; c++)
        if (columns[c]->type != KZ_COLUMN_DOUBLE) {
            s->host->set_error(s->ctx, "measure '%s' is not numeric", columns[c]->name);
            return KZ_ERR_INVALID;
        }
    s->host->log(s->ctx, KZ_LOG_DEBUG, "scoring %u measures against target %g", n_columns, s->target);
    return KZ_OK;
}

static int example_score(void *self, kz_score_batch *batch)
{
    example_scorer *s = self;
    const uint32_t n = batch->n_accounts;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t present = 0;
        for (uint32_t c = 0; c < batch->n_columns; c++)
            present += !isnan(batch->columns[c]->values[i]);
        double score = 0;
        for (uint32_t c = 0; c < batch->n_columns; c++) {
            double v = batch->columns[c]->values[i];
            double part = 0;
            if (!isnan(v)) {
                double ratio = v / s->target;
                part = 100.0 / present * (ratio < 0 ? 0 : ratio > 1 ? 1 : ratio);
            }
            score += part;
            if (batch->contributions != NULL)
                batch->contributions[(size_t)c * n + i] = part;
        }
        batch->scores[i] = present > 0 ? score : NAN;
        if (batch->baseline != NULL)
            batch->baseline[i] = 0.0; /* every point of the score comes from a measure */
    }
    return KZ_OK;
}

static const kz_param_spec example_params[] = {
    KZ_PARAM(KZ_PARAM_DOUBLE, "target", 0, "1.0", "the level at which a measure counts as fully healthy"),
    KZ_PARAM_END,
};

static const kz_scorer_vtable example_vtable = {
    .size = sizeof(kz_scorer_vtable),
    .output = KZ_SCORE_HEALTH,
    .create = example_create,
    .destroy = example_destroy,
    .prepare = example_prepare,
    .score = example_score,
    .train = NULL, /* this scorer does not learn */
};

static const kz_component example_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_SCORER,
    .name = "example-score",
    .summary = "Health 0-100 from how close each measure comes to a target",
    .params = example_params,
    .vtable = &example_vtable,
};

KZ_PLUGIN_DEFINE("com.example.scorer", "Example scorer", "1.0.0", "Example Inc.", "MIT",
                 "A minimal health scorer to copy from", &example_component)
