/*
 * core/instance.h — component instances and the host services table.
 *
 * An instance is a component brought to life with the typed parameters of
 * one stack-config entry. Its struct is the kz_ctx the plugin sees: every
 * kz_host service takes it, so the host always knows which instance is
 * asking (for its parameters, its state, its log tag and its errors).
 */
#ifndef KZ_CORE_INSTANCE_H
#define KZ_CORE_INSTANCE_H

#include "registry.h"
#include "store/store.h"

#include <glib.h>

G_BEGIN_DECLS

typedef struct kz_ctx kz_instance;

/* The services table handed to every plugin. */
const kz_host *kz_host_get(void);

/* Pins the host clock to `now_us` (0 = the real clock again). For tests
 * and backfills; the kizuna command pins it from KIZUNA_NOW (ISO 8601). */
void kz_host_set_clock(gint64 now_us);
gint64 kz_host_now(void);

/* Creates an instance of `comp` named `name` and calls the component's
 * create callback. `params` (name -> kz_param_value*, from
 * kz_config_resolve_params) is taken. `store` may be NULL: the instance
 * then has no persistent state. On failure returns NULL with an error
 * naming the instance and the plugin's own message. */
kz_instance *kz_instance_create(const kz_component_info *comp, const char *name, GHashTable *params, kz_store *store,
                                GError **error);

/* Calls the component's destroy callback and frees the instance. */
void kz_instance_destroy(kz_instance *inst);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_instance, kz_instance_destroy)

const char *kz_instance_name(const kz_instance *inst);
const kz_component_info *kz_instance_component(const kz_instance *inst);
void *kz_instance_self(const kz_instance *inst); /* the plugin's own pointer */

/* Call before a plugin callback: forgets the last error message. */
void kz_instance_begin_call(kz_instance *inst);

/* Turns a failed callback's status into a GError: "instance 'x'
 * (component y): what: <message the plugin set, or the status>". Always
 * returns FALSE so callers can `return kz_instance_fail(...)`. */
gboolean kz_instance_fail(kz_instance *inst, int status, const char *what, GError **error);

/* "ok", "retryable failure", ... for a kz_status. */
const char *kz_status_name(int status);

G_END_DECLS

#endif
