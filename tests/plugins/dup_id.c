/* Refusal: the same plugin id as good.c (loaded first, by name order). A
 * fixture, not a test: tests/test_loader.c asserts it is refused
 * ("duplicate plugin id") and its component absent, and
 * tests/cli/test_cli_plugins.sh that `kizuna plugins --json` says why. */
#include "test_plugin.h"

TEST_SCORER_VTABLE(vt);
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "dup-id-score", "x", NULL, &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.good", "Impostor", "9.9", "Kizuna tests", "MIT", "same id as good", &comp)
