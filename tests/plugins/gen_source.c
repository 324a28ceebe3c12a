/* A source that generates `accounts` accounts and `events` usage events per
 * account, in batches of `batch`, resuming from its cursor ("a:N" = N
 * accounts done, "e:N" = every account and N events done). With
 * `bad` > 0, every bad-th account has an invalid UTF-8 name, every bad-th
 * event names an unknown account, and every bad-th event is rejected by
 * the source itself. Events with an even number carry no id (the host
 * keys them by content).
 * A fixture, not a test: tests/test_sync.c, tests/cli/test_sync_sigkill.sh and
 * tests/cli/test_cli_accounts.sh sync from it and assert what is stored. */
#include "test_plugin.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    int64_t accounts, events, batch, bad;
} gen;

static int gen_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    gen *g = host->alloc_mem(sizeof *g);
    if (g == NULL)
        return KZ_ERR_NOMEM;
    memset(g, 0, sizeof *g);
    g->host = host;
    g->ctx = ctx;
    host->param_int(ctx, "accounts", &g->accounts);
    host->param_int(ctx, "events", &g->events);
    host->param_int(ctx, "batch", &g->batch);
    host->param_int(ctx, "bad", &g->bad);
    if (g->batch < 1) {
        host->set_error(ctx, "batch must be at least 1");
        host->free_mem(g);
        return KZ_ERR_INVALID;
    }
    *self = g;
    return KZ_OK;
}

static void gen_destroy(void *self)
{
    gen *g = self;
    g->host->free_mem(g);
}

static int gen_pull(void *self, const char *cursor, const kz_sink *sink)
{
    gen *g = self;
    long long done_accounts = 0, done_events = 0;
    if (cursor != NULL && sscanf(cursor, "a:%lld", &done_accounts) != 1) {
        if (sscanf(cursor, "e:%lld", &done_events) != 1) {
            g->host->set_error(g->ctx, "bad cursor '%s'", cursor);
            return KZ_ERR_INVALID;
        }
        done_accounts = g->accounts;
    }
    char ids[256][32], names[256][32], raws[256][96], cur[64];
    kz_account acc[256];
    kz_usage_event ev[256];
    int64_t batch = g->batch < 256 ? g->batch : 256;
    while (done_accounts < g->accounts) {
        uint32_t n = 0;
        for (; n < batch && done_accounts + n < g->accounts; n++) {
            long long i = done_accounts + n;
            snprintf(ids[n], sizeof ids[n], "acct-%lld", i);
            snprintf(names[n], sizeof names[n], "Company %lld", i);
            if (g->bad > 0 && i % g->bad == g->bad - 1)
                names[n][0] = (char)0xff; /* invalid UTF-8 */
            snprintf(raws[n], sizeof raws[n], "acct-%lld,%.31s", i, names[n]);
            memset(&acc[n], 0, sizeof acc[n]);
            acc[n] = (kz_account){.id = ids[n],
                                  .name = names[n],
                                  .region = i % 2 ? "emea" : "apac",
                                  .arr_minor = 100000 * (i + 1),
                                  .currency = "EUR",
                                  .contract_start = KZ_TIME_NONE,
                                  .renewal_date = KZ_TIME_NONE,
                                  .origin = {"gen:accounts", raws[n], (uint32_t)i + 2, 0}};
        }
        done_accounts += n;
        snprintf(cur, sizeof cur, "a:%lld", done_accounts);
        kz_batch b = {sizeof b, KZ_ENTITY_ACCOUNT, n, sizeof(kz_account), acc, cur};
        int rc = sink->emit(sink, &b);
        if (rc != KZ_OK)
            return rc == KZ_ERR_STOP ? KZ_OK : rc;
    }
    long long total = g->accounts * g->events;
    while (done_events < total) {
        uint32_t n = 0;
        for (; n < batch && done_events + n < total; n++) {
            long long i = done_events + n;
            long long a = i / (g->events > 0 ? g->events : 1);
            if (g->bad > 0 && i % g->bad == g->bad - 1)
                snprintf(ids[n], sizeof ids[n], "no-such-%lld", a);
            else
                snprintf(ids[n], sizeof ids[n], "acct-%lld", a);
            snprintf(names[n], sizeof names[n], "ev-%lld", i);
            snprintf(raws[n], sizeof raws[n], "%.31s,login,%lld", ids[n], i);
            ev[n] = (kz_usage_event){.time = 1700000000000000LL + i * 1000000LL,
                                     .quantity = (double)(i % 7),
                                     .id = i % 2 ? names[n] : NULL,
                                     .account_id = ids[n],
                                     .user_id = "u1",
                                     .name = "login",
                                     .origin = {"gen:events", raws[n], (uint32_t)i + 2, 0}};
            if (g->bad > 0 && i % g->bad == 0) {
                kz_reject r = {sizeof r,
                               KZ_ENTITY_USAGE_EVENT,
                               "column 3: quantity 'lots' is not a number",
                               {"gen:events", "x,login,lots", (uint32_t)i + 100000, 3}};
                sink->reject(sink, &r);
            }
        }
        done_events += n;
        snprintf(cur, sizeof cur, "e:%lld", done_events);
        kz_batch b = {sizeof b, KZ_ENTITY_USAGE_EVENT, n, sizeof(kz_usage_event), ev, cur};
        int rc = sink->emit(sink, &b);
        if (rc != KZ_OK)
            return rc == KZ_ERR_STOP ? KZ_OK : rc;
    }
    return KZ_OK;
}

static const kz_param_spec gen_params[] = {
    KZ_PARAM(KZ_PARAM_INT, "accounts", 0, "10", "accounts to generate"),
    KZ_PARAM(KZ_PARAM_INT, "events", 0, "3", "usage events per account"),
    KZ_PARAM(KZ_PARAM_INT, "batch", 0, "4", "records per batch (at most 256)"),
    KZ_PARAM(KZ_PARAM_INT, "bad", 0, "0", "every bad-th record is invalid (0: none)"),
    KZ_PARAM_END,
};
static const kz_source_vtable gen_vt = {
    .size = sizeof(kz_source_vtable),
    .entities = KZ_ENTITY_MASK(KZ_ENTITY_ACCOUNT) | KZ_ENTITY_MASK(KZ_ENTITY_USAGE_EVENT),
    .create = gen_create,
    .destroy = gen_destroy,
    .pull = gen_pull,
};
static const kz_component gen_comp = {
    sizeof(kz_component), KZ_COMPONENT_SOURCE, "test-gen", "Generated accounts and usage events", gen_params, &gen_vt};
/* Declares ABI 1.0 (it uses nothing newer): the host then keeps 1.0's
 * promise that emit() returns once the batch is stored, so the sync tests
 * run that path while the csv and xml tests run the pipelined one. */
static const kz_component *const gen_comps[] = {&gen_comp, NULL};
static const kz_plugin_descriptor gen_desc = {sizeof(kz_plugin_descriptor),
                                              KZ_ABI_MAJOR,
                                              0,
                                              "org.kizuna.test.gen",
                                              "Generator source",
                                              "1.0",
                                              "Kizuna tests",
                                              "MIT",
                                              "accounts and events for sync tests",
                                              gen_comps,
                                              NULL};
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void);
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void)
{
    return &gen_desc;
}
