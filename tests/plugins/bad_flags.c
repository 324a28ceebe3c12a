/* Refusal: a parameter flag bit that ABI 1.0 does not define, in a plugin
 * that claims 1.0 (from a newer minor it would only skip the component). */
#include "test_plugin.h"

TEST_SCORER_VTABLE(vt);
static const kz_param_spec params[] = {
    KZ_PARAM(KZ_PARAM_STRING, "name", 1u << 5, NULL, "an unknown flag bit"),
    KZ_PARAM_END,
};
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "badflags-score", "x", params, &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.badflags", "Bad flags", "1.0", "Kizuna tests", "MIT", "unknown flag", &comp)
