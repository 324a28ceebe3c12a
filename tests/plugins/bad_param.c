/* Refusal: a secret parameter with a default value (secrets have none).
 * A fixture, not a test: test_loader and test_cli_plugins assert the refusal. */
#include "test_plugin.h"

TEST_SCORER_VTABLE(vt);
static const kz_param_spec params[] = {
    KZ_PARAM(KZ_PARAM_SECRET, "token", 0, "hunter2", "a secret with a default: not allowed"),
    KZ_PARAM_END,
};
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "badparam-score", "x", params, &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.badparam", "Bad param", "1.0", "Kizuna tests", "MIT", "secret default", &comp)
