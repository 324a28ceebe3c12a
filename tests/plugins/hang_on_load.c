/* Refusal: the entry never returns. The preflight child is killed after
 * the load timeout and the file refused.
 * A fixture, not a test: tests/test_loader.c and tests/cli/test_cli_plugins.sh assert its refusal.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_plugin.h"

#include <unistd.h>

TEST_SCORER_VTABLE(vt);
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "hang-score", "x", NULL, &vt};
static const kz_component *const comps[] = {&comp, NULL};
static const kz_plugin_descriptor desc = {sizeof(kz_plugin_descriptor),
                                          KZ_ABI_MAJOR,
                                          KZ_ABI_MINOR,
                                          "org.kizuna.test.hang",
                                          "Hang",
                                          "1.0",
                                          "Kizuna tests",
                                          "MIT",
                                          "never returns from its entry",
                                          comps,
                                          NULL};
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void);
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void)
{
    for (;;)
        pause();
    return &desc;
}
