/* Refusal: a required callback (score) is NULL.
 * A fixture, not a test: test_loader and test_cli_plugins assert the refusal. */
#include "test_plugin.h"

static const kz_scorer_vtable vt = {.size = sizeof(kz_scorer_vtable),
                                    .output = KZ_SCORE_HEALTH,
                                    .create = test_create,
                                    .destroy = test_destroy,
                                    .prepare = test_prepare,
                                    .score = NULL};
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "noscore-score", "x", NULL, &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.noscore", "No score", "1.0", "Kizuna tests", "MIT", "score missing", &comp)
