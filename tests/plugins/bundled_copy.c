/* Two plugins built from this file (BUNDLED_VERSION 1 and 2) each carry
 * their own copy of a "bundled library" function with the same name and
 * default visibility, as a careless vendor build would export it. Each
 * must call its own copy: plugins are loaded with local symbol scope. A
 * fixture, not a test: tests/test_loader.c loads both (bundled-1 and
 * bundled-2) and asserts that each answers its own version. */
#include "test_plugin.h"

__attribute__((visibility("default"))) int kz_test_bundled_version(void);
__attribute__((visibility("default"))) int kz_test_bundled_version(void)
{
    return BUNDLED_VERSION;
}

static int bundled_score(void *self, kz_score_batch *batch)
{
    (void)self;
    for (uint32_t i = 0; i < batch->n_accounts; i++)
        batch->scores[i] = kz_test_bundled_version();
    return KZ_OK;
}

static const kz_scorer_vtable vt = {.size = sizeof(kz_scorer_vtable),
                                    .output = KZ_SCORE_HEALTH,
                                    .create = test_create,
                                    .destroy = test_destroy,
                                    .prepare = test_prepare,
                                    .score = bundled_score};
#define STR2(x) #x
#define STR(x)  STR2(x)
static const kz_component comp = {sizeof(kz_component),
                                  KZ_COMPONENT_SCORER,
                                  "bundled-" STR(BUNDLED_VERSION),
                                  "Scores the version of the bundled copy it calls",
                                  NULL,
                                  &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.bundled" STR(BUNDLED_VERSION), "Bundled copy", "1.0", "Kizuna tests", "MIT",
                 "carries its own copy of a library", &comp)
