/*
 * core/cli/cmd_check.c — `kizuna check`: validates the stack config, the
 * plugins on its search path and every instance it declares, and prints
 * every problem found (not just the first), one per line.
 */
#include "cli.h"

#include "../stack.h"

#include <stdio.h>

int kz_cmd_check(int argc, char **argv)
{
    const GOptionEntry entries[] = {G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "check", "Validate the stack config and the plugins it uses.", entries))
        return KZ_EXIT_USAGE;
    const char *path = kz_cli_config_path();
    if (path == NULL) {
        fprintf(stderr, "kizuna: no stack config: give --config FILE, set KIZUNA_CONFIG, or add ./kizuna.xml\n");
        return KZ_EXIT_USAGE;
    }
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kz_config) cfg = kz_config_load(path, errors);
    if (cfg != NULL) {
        g_autoptr(kz_registry) reg = kz_stack_registry(cfg);
        if (kz_stack_check(cfg, reg, errors)) {
            kz_cli_print("%s: ok (%u plugin%s, %u instance%s)\n", path, kz_registry_plugins(reg)->len,
                         kz_registry_plugins(reg)->len == 1 ? "" : "s", cfg->instances->len,
                         cfg->instances->len == 1 ? "" : "s");
            return KZ_EXIT_OK;
        }
    }
    for (guint i = 0; i < errors->len; i++)
        kz_cli_print("%s\n", (char *)errors->pdata[i]);
    kz_cli_print("%s: %u problem%s found\n", path, errors->len, errors->len == 1 ? "" : "s");
    return KZ_EXIT_FAILED;
}
