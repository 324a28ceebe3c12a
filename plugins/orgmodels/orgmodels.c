/*
 * plugins/orgmodels/orgmodels.c — the bundled organization models: three
 * orgmodel components, `allrounder`, `specialist` and `area`, that differ
 * only in which teams may own an account (models.c) and share one
 * assignment engine (engine.c). See README.md for the rules.
 *
 * Parameters, the same for all three: weight_high, weight_low and
 * weight_tech (numbers above 0; defaults 10, 3 and 1), the weights of an
 * account of each tier in a CSM's load when the engine picks the least
 * loaded CSM of a team.
 */
#include "orgmodels.h"

#include <float.h>
#include <stdlib.h>

static const char *const weight_param[4] = {NULL, "weight_tech", "weight_low", "weight_high"};
static const double weight_default[4] = {0, 1, 3, 10}; /* as in weight_params[] */

/* Reads the tier weights into `s`; each must be a finite number above 0.
 * A weight the host has no value for keeps its default. */
static int read_weights(const kz_host *host, kz_ctx *ctx, om_instance *s)
{
    for (unsigned tier = KZ_TIER_TECH; tier <= KZ_TIER_HIGH; tier++) {
        double w = weight_default[tier];
        const int rc = host->param_double(ctx, weight_param[tier], &w);
        if ((rc != KZ_OK && rc != KZ_ERR_NOT_FOUND) || !(w > 0 && w <= DBL_MAX)) {
            host->set_error(ctx, "parameter '%s' must be a number above 0", weight_param[tier]);
            return KZ_ERR_INVALID;
        }
        s->weight[tier] = w;
    }
    return KZ_OK;
}

static int create_model(const kz_host *host, kz_ctx *ctx, void **self, int model)
{
    om_instance *s = calloc(1, sizeof *s);
    if (s == NULL) {
        host->set_error(ctx, "out of memory");
        return KZ_ERR_NOMEM;
    }
    s->host = host;
    s->ctx = ctx;
    s->model = model;
    int rc = read_weights(host, ctx, s);
    if (rc != KZ_OK) {
        free(s);
        return rc;
    }
    *self = s;
    return KZ_OK;
}

static int allrounder_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    return create_model(host, ctx, self, OM_ALLROUNDER);
}

static int specialist_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    return create_model(host, ctx, self, OM_SPECIALIST);
}

static int area_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    return create_model(host, ctx, self, OM_AREA);
}

static void model_destroy(void *self)
{
    free(self);
}

static int model_assign(void *self, const kz_org_book *book, kz_org_result *result)
{
    return om_assign(self, book, result);
}

static const kz_param_spec weight_params[] = {
    KZ_PARAM(KZ_PARAM_DOUBLE, "weight_high", 0, "10", "weight of a high-touch account in a CSM's load (> 0)"),
    KZ_PARAM(KZ_PARAM_DOUBLE, "weight_low", 0, "3", "weight of a low-touch account in a CSM's load (> 0)"),
    KZ_PARAM(KZ_PARAM_DOUBLE, "weight_tech", 0, "1", "weight of a tech-touch account in a CSM's load (> 0)"),
    KZ_PARAM_END,
};

static const kz_orgmodel_vtable allrounder_vtable = {
    .size = sizeof(kz_orgmodel_vtable),
    .create = allrounder_create,
    .destroy = model_destroy,
    .assign = model_assign,
};

static const kz_orgmodel_vtable specialist_vtable = {
    .size = sizeof(kz_orgmodel_vtable),
    .create = specialist_create,
    .destroy = model_destroy,
    .assign = model_assign,
};

static const kz_orgmodel_vtable area_vtable = {
    .size = sizeof(kz_orgmodel_vtable),
    .create = area_create,
    .destroy = model_destroy,
    .assign = model_assign,
};

static const kz_component allrounder_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_ORGMODEL,
    .name = "allrounder",
    .summary = "Any team covering the account's phase, tier and region owns it, most specific team first",
    .params = weight_params,
    .vtable = &allrounder_vtable,
};

static const kz_component specialist_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_ORGMODEL,
    .name = "specialist",
    .summary = "Ownership follows the lifecycle phase; high touch goes to a concierge team first",
    .params = weight_params,
    .vtable = &specialist_vtable,
};

static const kz_component area_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_ORGMODEL,
    .name = "area",
    .summary = "High and low touch owned by region teams; tech touch by a cross-area team",
    .params = weight_params,
    .vtable = &area_vtable,
};

KZ_PLUGIN_DEFINE("org.kizuna.orgmodels", "Organization models", KZ_PLUGIN_VERSION, "Kizuna project", "Apache-2.0",
                 "All-rounder, specialist and area organization models sharing one capacity-aware assignment engine",
                 &allrounder_component, &specialist_component, &area_component)
