/* Refusal: a parameter flag bit that this ABI does not define, in a plugin
 * that claims the host's own minor (from a newer minor it would only skip
 * the component). A fixture, not a test: test_loader asserts the refusal. */
#include "test_plugin.h"

TEST_SCORER_VTABLE(vt);
static const kz_param_spec params[] = {
    KZ_PARAM(KZ_PARAM_STRING, "name", 1u << 5, NULL, "an unknown flag bit"),
    KZ_PARAM_END,
};
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "badflags-score", "x", params, &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.badflags", "Bad flags", "1.0", "Kizuna tests", "MIT", "unknown flag", &comp)
