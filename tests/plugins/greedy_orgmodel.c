/*
 * tests/plugins/greedy_orgmodel.c — a broken organization model: it puts
 * every account on the first CSM, whatever that CSM's capacity, or (with
 * param `fail`) fails with a message. The host must refuse the answer and
 * store nothing.
 */
#include <kizuna/kizuna.h>

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    int fail;
} greedy;

static int greedy_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    greedy *g = host->alloc_mem(sizeof *g);
    if (g == NULL)
        return KZ_ERR_NOMEM;
    g->host = host;
    g->ctx = ctx;
    g->fail = 0;
    host->param_bool(ctx, "fail", &g->fail);
    *self = g;
    return KZ_OK;
}

static void greedy_destroy(void *self)
{
    greedy *g = self;
    g->host->free_mem(g);
}

static int greedy_assign(void *self, const kz_org_book *book, kz_org_result *result)
{
    greedy *g = self;
    if (g->fail) {
        g->host->set_error(g->ctx, "the model's spreadsheet is missing");
        return KZ_ERR_PERMANENT;
    }
    for (uint32_t i = 0; i < book->n_accounts; i++) {
        result->owner[i] = book->n_csms > 0 ? 0 : -1;
        result->reason[i] = book->n_csms > 0 ? KZ_UNASSIGNED_NONE : KZ_UNASSIGNED_NO_TEAM;
    }
    return KZ_OK;
}

static const kz_param_spec greedy_params[] = {
    KZ_PARAM(KZ_PARAM_BOOL, "fail", 0, "false", "fail instead of answering"),
    KZ_PARAM_END,
};

static const kz_orgmodel_vtable greedy_vtable = {
    .size = sizeof(kz_orgmodel_vtable),
    .create = greedy_create,
    .destroy = greedy_destroy,
    .assign = greedy_assign,
};

static const kz_component greedy_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_ORGMODEL,
    .name = "greedy",
    .summary = "Every account to the first CSM (broken on purpose)",
    .params = greedy_params,
    .vtable = &greedy_vtable,
};

KZ_PLUGIN_DEFINE("org.kizuna.test.greedy", "Greedy org model", "1.0.0", "Kizuna tests", "Apache-2.0",
                 "An organization model that ignores capacity", &greedy_component)
