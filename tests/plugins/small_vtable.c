/* Refusal: the scorer vtable's size stops before its required score().
 * A fixture, not a test: tests/test_loader.c asserts the loader refuses it
 * and names the vtable size. */
#include "test_plugin.h"

static const kz_scorer_vtable vt = {.size = offsetof(kz_scorer_vtable, score),
                                    .output = KZ_SCORE_HEALTH,
                                    .create = test_create,
                                    .destroy = test_destroy,
                                    .prepare = test_prepare,
                                    .score = test_score};
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "small-vt-score", "x", NULL, &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.smallvt", "Small vtable", "1.0", "Kizuna tests", "MIT", "vtable too small", &comp)
