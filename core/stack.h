/*
 * core/stack.h — a stack: the stack config, the plugins it can see and the
 * instances it declares, checked as a whole. This is what `kizuna check`
 * runs and what every later command builds on.
 */
#ifndef KZ_CORE_STACK_H
#define KZ_CORE_STACK_H

#include "config.h"
#include "instance.h"
#include "registry.h"
#include "store/store.h"

G_BEGIN_DECLS

/* A registry loaded from the search path of `cfg` (may be NULL). */
kz_registry *kz_stack_registry(const kz_config *cfg);

/* Checks everything `kizuna check` checks and appends one line per
 * problem: every refused plugin file ("path: reason"), every instance
 * whose component or parameters are wrong, and every instance whose
 * create callback refuses its parameters (each instance is created and
 * destroyed again, without a store). Returns TRUE when nothing is wrong. */
gboolean kz_stack_check(const kz_config *cfg, const kz_registry *reg, GPtrArray *errors);

/* Opens the store the config names (creating it), or fails saying the
 * config names none. */
kz_store *kz_stack_open_store(const kz_config *cfg, GError **error);

/* Creates the instance `ci` of the config with `store` (may be NULL):
 * resolves its parameters and calls the component's create. On failure
 * returns NULL after appending one line per problem to `errors`. */
kz_instance *kz_stack_create_instance(const kz_config *cfg, const kz_registry *reg, const kz_config_instance *ci,
                                      kz_store *store, GPtrArray *errors);

G_END_DECLS

#endif
