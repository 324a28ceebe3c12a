/*
 * core/stack.c — see stack.h.
 */
#include "stack.h"

#include "instance.h"

kz_registry *kz_stack_registry(const kz_config *cfg)
{
    kz_registry *reg = kz_registry_new();
    kz_registry_scan_search_path(reg, cfg != NULL ? kz_config_plugin_dirs(cfg) : NULL);
    return reg;
}

gboolean kz_stack_check(const kz_config *cfg, const kz_registry *reg, GPtrArray *errors)
{
    guint before = errors->len;
    const GPtrArray *refused = kz_registry_refusals(reg);
    for (guint i = 0; i < refused->len; i++) {
        const kz_refusal *r = refused->pdata[i];
        g_ptr_array_add(errors, g_strdup_printf("%s: plugin refused: %s", r->path, r->reason));
    }
    /* Every instance on its own: one instance's errors never hide another's. */
    for (guint i = 0; i < cfg->instances->len; i++) {
        const kz_config_instance *ci = cfg->instances->pdata[i];
        const kz_component_info *comp = NULL;
        GHashTable *params = kz_config_instance_params(cfg, ci, reg, &comp, errors);
        if (params == NULL)
            continue;
        /* The parameters are right: let the component judge them too. */
        g_autoptr(GError) err = NULL;
        kz_instance *inst = kz_instance_create(comp, ci->name, params, NULL, &err);
        if (inst == NULL)
            g_ptr_array_add(errors, g_strdup_printf("%s:%u: %s", cfg->path, ci->line, err->message));
        kz_instance_destroy(inst);
    }
    return errors->len == before;
}
