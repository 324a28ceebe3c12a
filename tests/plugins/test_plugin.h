/*
 * tests/plugins/test_plugin.h — a small working scorer shared by the test
 * plugins, so that each broken variant differs from a good plugin in the
 * one flaw it is named after. Scores an account as 10 x its first column.
 */
#ifndef KZ_TEST_PLUGIN_H
#define KZ_TEST_PLUGIN_H

#include <kizuna/kizuna.h>

#include <math.h>
#include <stdlib.h>

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
} test_scorer;

static inline int test_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    test_scorer *s = host->alloc_mem(sizeof *s);
    if (s == NULL)
        return KZ_ERR_NOMEM;
    s->host = host;
    s->ctx = ctx;
    *self = s;
    return KZ_OK;
}

static inline void test_destroy(void *self)
{
    test_scorer *s = self;
    s->host->free_mem(s);
}

static inline int test_prepare(void *self, uint32_t n_columns, const kz_column *const *columns)
{
    (void)columns;
    test_scorer *s = self;
    if (n_columns < 1) {
        s->host->set_error(s->ctx, "needs at least one measure");
        return KZ_ERR_INVALID;
    }
    return KZ_OK;
}

static inline int test_score(void *self, kz_score_batch *batch)
{
    (void)self;
    for (uint32_t i = 0; i < batch->n_accounts; i++) {
        batch->scores[i] = 10.0 * batch->columns[0]->values[i];
        if (batch->baseline != NULL)
            batch->baseline[i] = 0.0;
        if (batch->contributions != NULL)
            for (uint32_t c = 0; c < batch->n_columns; c++)
                batch->contributions[(size_t)c * batch->n_accounts + i] = c == 0 ? batch->scores[i] : 0.0;
    }
    return KZ_OK;
}

#define TEST_SCORER_VTABLE(name_)                                                                                      \
    static const kz_scorer_vtable name_ = {.size = sizeof(kz_scorer_vtable),                                           \
                                           .output = KZ_SCORE_HEALTH,                                                  \
                                           .create = test_create,                                                      \
                                           .destroy = test_destroy,                                                    \
                                           .prepare = test_prepare,                                                    \
                                           .score = test_score,                                                        \
                                           .train = NULL}

#endif
