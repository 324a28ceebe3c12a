/*
 * tests/plugins/greedy_orgmodel.c — organization models for
 * tests/cli/test_cli_org.sh, which asserts what the host does with them:
 *  - greedy, a broken one: it puts every account on the first CSM,
 *    whatever that CSM's capacity, or (with param `fail`) fails with a
 *    message. The host must refuse the answer and store nothing.
 *  - paused: creates the file PATH.waiting (param `wait_for` = PATH),
 *    waits until PATH exists, then leaves every account unassigned. The
 *    test stores another assignment meanwhile; the host must then refuse
 *    to write this one over it.
 */
#define _POSIX_C_SOURCE 200809L
#include <kizuna/kizuna.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

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

typedef struct {
    const kz_host *host;
    char path[4096];
} paused;

static int paused_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    const char *path = NULL;
    if (host->param_string(ctx, "wait_for", &path) != KZ_OK || path == NULL || *path == '\0' ||
        strlen(path) >= sizeof((paused *)0)->path - 16) {
        host->set_error(ctx, "param wait_for: a path (under 4 KB) is needed");
        return KZ_ERR_INVALID;
    }
    paused *p = host->alloc_mem(sizeof *p);
    if (p == NULL)
        return KZ_ERR_NOMEM;
    p->host = host;
    strcpy(p->path, path);
    *self = p;
    return KZ_OK;
}

static void paused_destroy(void *self)
{
    paused *p = self;
    p->host->free_mem(p);
}

static int paused_assign(void *self, const kz_org_book *book, kz_org_result *result)
{
    const char *path = ((paused *)self)->path;
    char waiting[4096 + 16];
    snprintf(waiting, sizeof waiting, "%s.waiting", path);
    FILE *f = fopen(waiting, "w");
    if (f != NULL)
        fclose(f);
    const struct timespec tick = {0, 10 * 1000 * 1000};
    for (int t = 0; t < 6000; t++) { /* 60 s at most */
        FILE *go = fopen(path, "r");
        if (go != NULL) {
            fclose(go);
            break;
        }
        nanosleep(&tick, NULL);
    }
    for (uint32_t i = 0; i < book->n_accounts; i++) {
        result->owner[i] = -1;
        result->reason[i] = KZ_UNASSIGNED_NO_TEAM;
    }
    return KZ_OK;
}

static const kz_param_spec paused_params[] = {
    KZ_PARAM(KZ_PARAM_STRING, "wait_for", KZ_PARAM_REQUIRED, NULL, "the file to wait for before answering"),
    KZ_PARAM_END,
};

static const kz_orgmodel_vtable paused_vtable = {
    .size = sizeof(kz_orgmodel_vtable),
    .create = paused_create,
    .destroy = paused_destroy,
    .assign = paused_assign,
};

static const kz_component paused_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_ORGMODEL,
    .name = "paused",
    .summary = "Waits for a file, then leaves every account unassigned",
    .params = paused_params,
    .vtable = &paused_vtable,
};

KZ_PLUGIN_DEFINE("org.kizuna.test.greedy", "Greedy org model", "1.0.0", "Kizuna tests", "Apache-2.0",
                 "Organization models that ignore capacity or wait", &greedy_component, &paused_component)
