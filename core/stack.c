/*
 * core/stack.c — see stack.h.
 */
#include "stack.h"

#include "play/playbook.h"

#include "org/lifecycle.h"
#include "score/health.h"

#include "errors.h"
#include "instance.h"
#include "sync/mapping.h"

#include <kizuna/source.h>

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
    /* Every instance on its own: one instance's errors never hide another's;
     * once its parameters are right, its component judges them too. */
    for (guint i = 0; i < cfg->instances->len; i++) {
        const kz_config_instance *ci = cfg->instances->pdata[i];
        if (ci->kind == KZ_COMPONENT_CHANNEL && strcmp(ci->component, KZ_TASK_CHANNEL) == 0) {
            if (ci->params->len > 0) /* the host's own channel: nothing to create */
                kz_config_error(errors, cfg, ci->line, "channel '%s': the task channel takes no parameters", ci->name);
            continue;
        }
        kz_mapping_free(kz_mapping_compile(cfg, ci, errors));
        kz_instance_destroy(kz_stack_create_instance(cfg, reg, ci, NULL, errors));
    }
    kz_health_check(cfg, errors); /* measures and the health model */
    kz_lifecycle_check(cfg, errors);
    kz_playbooks_check(cfg, errors);
    if (cfg->org != NULL) {
        const kz_config_instance *m = kz_config_find_instance(cfg, cfg->org->model);
        if (m == NULL || m->kind != KZ_COMPONENT_ORGMODEL)
            kz_config_error(errors, cfg, cfg->org->line,
                            "<organization model=\"%s\">: no <orgmodel name=\"%s\"> in <orgmodels>", cfg->org->model,
                            cfg->org->model);
    }
    return errors->len == before;
}

kz_instance *kz_stack_create_instance(const kz_config *cfg, const kz_registry *reg, const kz_config_instance *ci,
                                      kz_store *store, GPtrArray *errors)
{
    const kz_component_info *comp = NULL;
    GHashTable *params = kz_config_instance_params(cfg, ci, reg, &comp, errors);
    if (params == NULL)
        return NULL;
    if (comp->kind == KZ_COMPONENT_SOURCE) {
        gboolean rows = (comp->vt.source.entities & KZ_ENTITY_MASK(KZ_ENTITY_ROW)) != 0;
        gboolean maps = ci->maps != NULL && ci->maps->len > 0;
        if (rows != maps) {
            g_ptr_array_add(errors, g_strdup_printf(rows ? "%s:%u: source '%s': component '%s' reads rows whose "
                                                           "layout only you know: add <map entity=\"...\"> "
                                                           "elements saying which records they make"
                                                         : "%s:%u: source '%s': component '%s' emits typed "
                                                           "records; <map> applies only to components that emit "
                                                           "rows (such as csv and xml)",
                                                    cfg->path, ci->line, ci->name, ci->component));
            g_hash_table_unref(params);
            return NULL;
        }
    }
    g_autoptr(GError) err = NULL;
    kz_instance *inst = kz_instance_create(comp, ci->name, params, store, &err);
    if (inst == NULL)
        g_ptr_array_add(errors, g_strdup_printf("%s:%u: %s", cfg->path, ci->line, err->message));
    return inst;
}

kz_store *kz_stack_open_store(const kz_config *cfg, GError **error)
{
    if (cfg->store_path == NULL) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "%s: the stack config names no store (<store path=\"...\"/>)",
                    cfg->path);
        return NULL;
    }
    return kz_store_open(cfg->store_path, error);
}
