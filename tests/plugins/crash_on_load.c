/* Refusal: the shared object crashes as soon as it is loaded (in a
 * constructor, before the host can call anything). The host must survive
 * it: the preflight child dies instead. A fixture, not a test: asserted by
 * tests/test_loader.c (refused, "crashed while loading: killed by signal")
 * and tests/cli/test_cli_plugins.sh (`kizuna plugin check` on it). */
#include "test_plugin.h"

#include <signal.h>

__attribute__((constructor)) static void crash_now(void)
{
    raise(SIGSEGV);
}

TEST_SCORER_VTABLE(vt);
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "crash-score", "x", NULL, &vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.crash", "Crash", "1.0", "Kizuna tests", "MIT", "crashes on load", &comp)
