/* Compatibility: a plugin as an older 1.x SDK would build it. Its
 * descriptor and scorer vtable declare sizes that stop before the
 * optional fields (url, train). Those fields are filled with values the
 * host must never read: if it did, url would show up and train would be
 * called.
 * A fixture, not a test: tests/test_loader.c loads it and asserts what it reads.
 */
#include "test_plugin.h"

static int must_not_be_called(void *self, const kz_train_set *set, kz_train_result *result)
{
    (void)self;
    (void)set;
    (void)result;
    abort();
}

static const kz_scorer_vtable vt = {.size = offsetof(kz_scorer_vtable, train),
                                    .output = KZ_SCORE_HEALTH,
                                    .create = test_create,
                                    .destroy = test_destroy,
                                    .prepare = test_prepare,
                                    .score = test_score,
                                    .train = must_not_be_called};
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "old-score", "An older plugin", NULL, &vt};
static const kz_component *const comps[] = {&comp, NULL};
static const kz_plugin_descriptor desc = {offsetof(kz_plugin_descriptor, url),
                                          KZ_ABI_MAJOR,
                                          0,
                                          "org.kizuna.test.old",
                                          "Old minor",
                                          "1.0",
                                          "Kizuna tests",
                                          "MIT",
                                          "built against an older 1.x",
                                          comps,
                                          "MUST-NOT-BE-READ"};
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void);
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void)
{
    return &desc;
}
