/* Refusal: needs a symbol nothing defines. Linked without -z defs, as a
 * careless build would; the host's RTLD_NOW load must catch it. */
#include "test_plugin.h"

extern int kz_test_symbol_nobody_defines(void);

static int undef_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    if (kz_test_symbol_nobody_defines() != 0)
        return KZ_ERR;
    return test_create(host, ctx, self);
}

static const kz_scorer_vtable vt = {.size = sizeof(kz_scorer_vtable),
                                    .output = KZ_SCORE_HEALTH,
                                    .create = undef_create,
                                    .destroy = test_destroy,
                                    .prepare = test_prepare,
                                    .score = test_score};
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "undef-score", "x", NULL, &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.undef", "Undefined", "1.0", "Kizuna tests", "MIT", "unresolved symbol", &comp)
