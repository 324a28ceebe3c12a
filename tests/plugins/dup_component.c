/* Refusal: a component name that good.c already provides.
 * A fixture, not a test: test_loader and test_cli_plugins assert the refusal. */
#include "test_plugin.h"

TEST_SCORER_VTABLE(vt);
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "test-score", "x", NULL, &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.dupcomp", "Dup component", "1.0", "Kizuna tests", "MIT", "clashing name", &comp)
