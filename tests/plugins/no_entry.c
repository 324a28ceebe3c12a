/* Refusal: no entry symbol (exports a function by another name).
 * A fixture, not a test: tests/test_loader.c and tests/cli/test_cli_plugins.sh assert its refusal. */
#include "test_plugin.h"

KZ_EXPORT const char *kz_plugin_entry_misspelled(void);
KZ_EXPORT const char *kz_plugin_entry_misspelled(void)
{
    return "not a descriptor";
}
