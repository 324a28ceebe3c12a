/* A source that acknowledges upstream only once its data is stored, as a
 * queue consumer would: a 1.1 plugin, whose emit() may return before the
 * batch is stored. After each emit it checks, through a connection of its
 * own to the store (`store` parameter), that
 *   - after sink->flush(), every account emitted so far is stored, and
 *   - after a plugin state write (without flush), the same holds: the
 *     state call waits until the batches before it are stored.
 * A check that fails fails the pull with what it saw. */
#include <kizuna/kizuna.h>

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    const char *store;
    int64_t batches;
} ack;

static int ack_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    ack *a = host->alloc_mem(sizeof *a);
    if (a == NULL)
        return KZ_ERR_NOMEM;
    memset(a, 0, sizeof *a);
    a->host = host;
    a->ctx = ctx;
    host->param_string(ctx, "store", &a->store);
    host->param_int(ctx, "batches", &a->batches);
    *self = a;
    return KZ_OK;
}

static void ack_destroy(void *self)
{
    ack *a = self;
    a->host->free_mem(a);
}

/* Accounts stored, as another reader of the store sees them. */
static long long stored(const ack *a)
{
    sqlite3 *db = NULL;
    long long n = -1;
    if (sqlite3_open_v2(a->store, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM accounts WHERE id LIKE 'ack-%'", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

static int ack_pull(void *self, const char *cursor, const kz_sink *sink)
{
    ack *a = self;
    (void)cursor;
    if (!KZ_HAS_FIELD(sink, kz_sink, flush) || sink->flush == NULL) {
        a->host->set_error(a->ctx, "the host's sink has no flush()");
        return KZ_ERR;
    }
    enum { PER_BATCH = 500 };
    static char ids[PER_BATCH][32];
    static kz_account acc[PER_BATCH];
    long long emitted = 0;
    for (int64_t b = 0; b < a->batches; b++) {
        for (int i = 0; i < PER_BATCH; i++) {
            snprintf(ids[i], sizeof ids[i], "ack-%lld", emitted + i);
            acc[i] = (kz_account){
                .id = ids[i], .arr_minor = KZ_INT_NONE, .contract_start = KZ_TIME_NONE, .renewal_date = KZ_TIME_NONE};
        }
        char cur[32];
        snprintf(cur, sizeof cur, "b:%lld", (long long)b + 1);
        kz_batch batch = {sizeof batch, KZ_ENTITY_ACCOUNT, PER_BATCH, sizeof(kz_account), acc, cur};
        int rc = sink->emit(sink, &batch);
        if (rc != KZ_OK)
            return rc == KZ_ERR_STOP ? KZ_OK : rc;
        emitted += PER_BATCH;
        const char *how = b % 2 ? "a state write" : "flush()";
        if (b % 2) {
            char value[32];
            int n = snprintf(value, sizeof value, "%lld", emitted);
            rc = a->host->state_set(a->ctx, "acked", value, (size_t)n);
        } else {
            rc = sink->flush(sink);
        }
        if (rc != KZ_OK)
            return rc == KZ_ERR_STOP ? KZ_OK : rc;
        long long n = stored(a);
        if (n != emitted) {
            a->host->set_error(a->ctx, "after %s, %lld accounts stored of %lld emitted", how, n, emitted);
            return KZ_ERR;
        }
    }
    return KZ_OK;
}

static const kz_param_spec ack_params[] = {
    KZ_PARAM(KZ_PARAM_PATH, "store", KZ_PARAM_REQUIRED, NULL, "the store file, read with a connection of its own"),
    KZ_PARAM(KZ_PARAM_INT, "batches", 0, "20", "batches of 500 accounts"),
    KZ_PARAM_END,
};
static const kz_source_vtable ack_vt = {
    .size = sizeof(kz_source_vtable),
    .entities = KZ_ENTITY_MASK(KZ_ENTITY_ACCOUNT),
    .create = ack_create,
    .destroy = ack_destroy,
    .pull = ack_pull,
};
static const kz_component ack_comp = {
    sizeof(kz_component), KZ_COMPONENT_SOURCE, "test-ack", "Acknowledges only what is stored", ack_params, &ack_vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.ack", "Acknowledging source", "1.0", "Kizuna tests", "MIT",
                 "checks flush() and the plugin-state barrier", &ack_comp)
