/* Refusal: built for ABI major 2.
 * A fixture, not a test: tests/test_loader.c and tests/cli/test_cli_plugins.sh assert its refusal. */
#include "test_plugin.h"

TEST_SCORER_VTABLE(vt);
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "abi2-score", "x", NULL, &vt};
static const kz_component *const comps[] = {&comp, NULL};
static const kz_plugin_descriptor desc = {sizeof(kz_plugin_descriptor),
                                          2,
                                          0,
                                          "org.kizuna.test.abi2",
                                          "ABI 2",
                                          "1.0",
                                          "Kizuna tests",
                                          "MIT",
                                          "claims ABI 2",
                                          comps,
                                          NULL};
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void);
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void)
{
    return &desc;
}
