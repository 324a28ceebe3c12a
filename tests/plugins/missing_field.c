/* Refusal: a required descriptor field (vendor) is NULL.
 * A fixture, not a test: tests/test_loader.c asserts the loader refuses it
 * and names the field. */
#include "test_plugin.h"

TEST_SCORER_VTABLE(vt);
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "novendor-score", "x", NULL, &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.novendor", "No vendor", "1.0", NULL, "MIT", "vendor missing", &comp)
