/* Refused: a plugin that says it was built against ABI 1.1 but declares
 * the CSM entity, which 1.1 does not have. The bit is garbage from that
 * plugin (a newer plugin's unknown bit would only skip the component). */
#include "test_plugin.h"

static int pull(void *self, const char *cursor, const kz_sink *sink)
{
    (void)self;
    (void)cursor;
    (void)sink;
    return KZ_OK;
}

static const kz_source_vtable vt = {.size = sizeof(kz_source_vtable),
                                    .entities = KZ_ENTITY_MASK(KZ_ENTITY_ACCOUNT) | (1u << 8),
                                    .create = test_create,
                                    .destroy = test_destroy,
                                    .pull = pull};
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SOURCE, "early-csm", "CSMs before 1.2", NULL, &vt};
static const kz_component *const comps[] = {&comp, NULL};
static const kz_plugin_descriptor desc = {sizeof(kz_plugin_descriptor),
                                          KZ_ABI_MAJOR,
                                          1,
                                          "org.kizuna.test.csm-too-early",
                                          "CSM too early",
                                          "1.0",
                                          "Kizuna tests",
                                          "MIT",
                                          "declares the 1.2 CSM entity as a 1.1 plugin",
                                          comps,
                                          NULL};
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void);
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void)
{
    return &desc;
}
