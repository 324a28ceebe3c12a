/*
 * core/stack.h — a stack: the stack config, the plugins it can see and the
 * instances it declares, checked as a whole. This is what `kizuna check`
 * runs and what every later command builds on.
 */
#ifndef KZ_CORE_STACK_H
#define KZ_CORE_STACK_H

#include "config.h"
#include "registry.h"

G_BEGIN_DECLS

/* A registry loaded from the search path of `cfg` (may be NULL). */
kz_registry *kz_stack_registry(const kz_config *cfg);

/* Checks everything `kizuna check` checks and appends one line per
 * problem: every refused plugin file ("path: reason"), every instance
 * whose component or parameters are wrong, and every instance whose
 * create callback refuses its parameters (each instance is created and
 * destroyed again, without a store). Returns TRUE when nothing is wrong. */
gboolean kz_stack_check(const kz_config *cfg, const kz_registry *reg, GPtrArray *errors);

G_END_DECLS

#endif
