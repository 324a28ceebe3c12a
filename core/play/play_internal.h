/*
 * core/play/play_internal.h — what the playbook check (playbook.c), the
 * evaluation (evaluate.c) and the delivery (outbox.c) share. Not used
 * outside core/play.
 */
#ifndef KZ_CORE_PLAY_INTERNAL_H
#define KZ_CORE_PLAY_INTERNAL_H

#include "config.h"
#include "expr/expr_sql.h"
#include "org/lifecycle.h"

#include <glib.h>

G_BEGIN_DECLS

/* The scope of who=: the lifecycle's account scope plus tier, health and
 * grade; the SQL reads `a` (accounts), `st` (account_state), `lm`
 * (temp.lc_measures) and `ph` (temp.pb_health). */
kz_account_scope *kz_play_scope(const kz_config *cfg, gint64 as_of_us);

/* Compiles who= with its parameters numbered from `first_param`, adding
 * the measures it reads to `measures` (owned names). NULL with an error
 * added when it is wrong, and NULL without one when there is no who=. */
kz_expr_sql *kz_play_compile_who(const kz_config *cfg, const kz_config_playbook *pb, kz_account_scope *s,
                                 guint first_param, GHashTable *measures, GPtrArray *errors);

/* Calls `fn` for each {name} of `text` (stripped); "{{" is a literal
 * brace. FALSE with *why on an unclosed brace. */
gboolean kz_play_each_placeholder(const char *text, void (*fn)(const char *name, gpointer data), gpointer data,
                                  char **why);

/* to="champion|admin": one touch per contact of the account in a role. */
gboolean kz_play_to_contacts(const kz_config_playbook *pb);

G_END_DECLS

#endif
