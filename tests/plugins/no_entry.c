/* Refusal: no entry symbol (exports a function by another name). */
#include "test_plugin.h"

KZ_EXPORT const char *kz_plugin_entry_misspelled(void);
KZ_EXPORT const char *kz_plugin_entry_misspelled(void)
{
    return "not a descriptor";
}
