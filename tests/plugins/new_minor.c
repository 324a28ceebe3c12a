/* Compatibility: a plugin built against a newer 1.x SDK, whose
 * descriptor and vtable have grown fields this host does not know. The
 * host must load it and ignore the unknown tail.
 * A fixture, not a test: tests/test_loader.c and tests/cli/test_cli_plugins.sh
 * load it and assert what the host reads. */
#include "test_plugin.h"

struct future_scorer_vtable {
    kz_scorer_vtable v1;
    int (*explain)(void *self, const char *account); /* a field from the future */
    uint64_t future_flags;
};
struct future_descriptor {
    kz_plugin_descriptor v1;
    const char *future_field;
    uint64_t future_flags;
};

static const struct future_scorer_vtable vt = {{.size = sizeof(struct future_scorer_vtable),
                                                .output = KZ_SCORE_HEALTH,
                                                .create = test_create,
                                                .destroy = test_destroy,
                                                .prepare = test_prepare,
                                                .score = test_score},
                                               NULL,
                                               0xdeadbeefULL};
static const kz_component comp = {sizeof(kz_component), KZ_COMPONENT_SCORER, "new-score", "A newer plugin", NULL, &vt};
/* A component of a kind a later minor may define: this host skips it and
 * loads the rest of the plugin. */
static const uint32_t future_vtable[4] = {sizeof future_vtable, 0, 0, 0};
static const kz_component future = {
    sizeof(kz_component), KZ_COMPONENT_ORGMODEL + 1, "future-thing", "A component kind from the future", NULL,
    future_vtable};
static const kz_component *const comps[] = {&comp, &future, NULL};
static const struct future_descriptor desc = {{sizeof(struct future_descriptor), KZ_ABI_MAJOR, KZ_ABI_MINOR + 1,
                                               "org.kizuna.test.new", "New minor", "1.0", "Kizuna tests", "MIT",
                                               "built against a newer 1.x", comps, "https://example.org/new"},
                                              "future",
                                              42};
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void);
KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void)
{
    return &desc.v1;
}
