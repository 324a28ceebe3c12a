/* Refusal: a component of a kind this ABI does not know. */
#include "test_plugin.h"

TEST_SCORER_VTABLE(vt);
static const kz_component comp = {sizeof(kz_component), 9, "kind9", "x", NULL, &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.kind9", "Kind 9", "1.0", "Kizuna tests", "MIT", "unknown kind", &comp)
