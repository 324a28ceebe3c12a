/* Refusal: the descriptor's size does not cover its required fields. */
#include "test_plugin.h"

TEST_SCORER_VTABLE(vt);
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "small-desc-score", "x", NULL, &vt};
static const kz_component *const comps[] = {&comp, NULL};
static const kz_plugin_descriptor desc = {offsetof(kz_plugin_descriptor, summary),
                                          KZ_ABI_MAJOR,
                                          KZ_ABI_MINOR,
                                          "org.kizuna.test.smalldesc",
                                          "Small",
                                          "1.0",
                                          "Kizuna tests",
                                          "MIT",
                                          "descriptor too small",
                                          comps,
                                          NULL};
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void);
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void)
{
    return &desc;
}
