/*
 * core/play/playbook.c — playbooks and the outbox (playbook.h).
 */
#include "playbook.h"
#include "play_internal.h"

#include "expr/expr_sql.h"
#include "org/lifecycle.h"

#include <kizuna/channel.h>
#include <string.h>

/* ---- templates ------------------------------------------------------------ */

/* The names a template may use besides measure.NAME. */
static const char *const template_names[] = {"account.id",
                                             "account.name",
                                             "account.region",
                                             "account.segment",
                                             "account.plan",
                                             "account.arr",
                                             "account.currency",
                                             "account.renewal_date",
                                             "account.contract_start",
                                             "account.phase",
                                             "account.tier",
                                             "owner.id",
                                             "owner.name",
                                             "owner.email",
                                             "contact.name",
                                             "contact.email",
                                             "contact.role",
                                             "score.health",
                                             "score.grade",
                                             "playbook",
                                             "trigger",
                                             NULL};

static gboolean known_measure(const kz_config *cfg, const char *name)
{
    for (guint i = 0; i < cfg->measures->len; i++)
        if (strcmp(((kz_config_measure *)cfg->measures->pdata[i])->name, name) == 0)
            return TRUE;
    return FALSE;
}

/* Calls `fn` for each {name} of `text`; "{{" is a literal brace. FALSE
 * (with *why) on an unclosed brace. */
gboolean kz_play_each_placeholder(const char *text, void (*fn)(const char *name, gpointer data), gpointer data,
                                  char **why)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (p[0] == '{' && p[1] == '{') {
            p++;
            continue;
        }
        if (*p != '{')
            continue;
        const char *end = strchr(p, '}');
        if (end == NULL) {
            *why = g_strdup_printf("'{' at character %ld is never closed (write {{ for a brace)", (long)(p - text) + 1);
            return FALSE;
        }
        g_autofree char *name = g_strndup(p + 1, (gsize)(end - p - 1));
        fn(g_strstrip(name), data);
        p = end;
    }
    return TRUE;
}

/* to="champion|admin": the touch goes to the account's contacts in those roles. */
gboolean kz_play_to_contacts(const kz_config_playbook *pb)
{
    return strcmp(pb->to, "owner") != 0 && strcmp(pb->to, "none") != 0;
}

typedef struct {
    const kz_config *cfg;
    const kz_config_playbook *pb;
    GString *unknown;     /* names that are not known */
    GHashTable *measures; /* measure names used (owned keys) */
} template_check;

static void check_name(const char *name, gpointer data)
{
    template_check *tc = data;
    if (g_str_has_prefix(name, "measure.")) {
        if (known_measure(tc->cfg, name + 8))
            g_hash_table_add(tc->measures, g_strdup(name + 8));
        else
            g_string_append_printf(tc->unknown, "%s{%s}", tc->unknown->len > 0 ? ", " : "", name);
        return;
    }
    gboolean contact = g_str_has_prefix(name, "contact.");
    if (g_strv_contains(template_names, name) && (!contact || kz_play_to_contacts(tc->pb)))
        return;
    g_string_append_printf(tc->unknown, "%s{%s}%s", tc->unknown->len > 0 ? ", " : "", name,
                           contact ? " (only with to=\"ROLE\")" : "");
}

static void check_template(const kz_config *cfg, const kz_config_playbook *pb, const char *what, const char *text,
                           guint line, GHashTable *measures, GPtrArray *errors)
{
    template_check tc = {cfg, pb, g_string_new(NULL), measures};
    g_autofree char *why = NULL;
    if (!kz_play_each_placeholder(text, check_name, &tc, &why))
        kz_config_error(errors, cfg, line, "playbook '%s': <%s>: %s", pb->name, what, why);
    else if (tc.unknown->len > 0)
        kz_config_error(errors, cfg, line,
                        "playbook '%s': <%s> names %s, which no template can read (account.*, owner.*, contact.*, "
                        "measure.NAME, score.health, score.grade, playbook, trigger)",
                        pb->name, what, tc.unknown->str);
    g_string_free(tc.unknown, TRUE);
}

/* ---- the scope of who= ----------------------------------------------------- */

/* The lifecycle's account scope, with the phase, the tier and the health
 * score and grade of the latest score run (temp.pb_health AS ph). */
kz_account_scope *kz_play_scope(const kz_config *cfg, gint64 as_of_us)
{
    kz_account_scope *s = kz_account_scope_new(cfg, as_of_us, TRUE);
    GString *tier = g_string_new("(CASE st.tier");
    for (int t = KZ_TIER_TECH; t <= KZ_TIER_HIGH; t++)
        g_string_append_printf(tier, " WHEN %d THEN '%s'", t, kz_tier_name(t));
    g_string_append(tier, " END)");
    kz_account_scope_add(s, "tier", g_string_free(tier, FALSE), KZ_VALUE_STRING, "the touch tier");
    kz_account_scope_add(s, "health", g_strdup("ph.score"), KZ_VALUE_DOUBLE, "the health score of the latest run");
    kz_account_scope_add(s, "grade", g_strdup("ph.grade"), KZ_VALUE_STRING, "the health grade of the latest run");
    return s;
}

static gboolean known_grade(const kz_config *cfg, const char *name)
{
    for (guint g = 0; cfg->health != NULL && g < cfg->health->grades->len; g++)
        if (strcmp(((kz_config_grade *)cfg->health->grades->pdata[g])->name, name) == 0)
            return TRUE;
    return FALSE;
}

static void check_trigger(const kz_config *cfg, const kz_config_playbook *pb, GPtrArray *errors)
{
    if ((pb->trigger == KZ_TRIGGER_GRADE || pb->trigger == KZ_TRIGGER_DROP) && cfg->health == NULL)
        kz_config_error(errors, cfg, pb->trigger_line, "playbook '%s': a %s trigger needs <health> (the scores)",
                        pb->name, pb->trigger == KZ_TRIGGER_GRADE ? "grade" : "drop");
    else if (pb->trigger == KZ_TRIGGER_GRADE && !known_grade(cfg, pb->trigger_value))
        kz_config_error(errors, cfg, pb->trigger_line, "playbook '%s': grade '%s' is not a grade of <health>", pb->name,
                        pb->trigger_value);
    if ((pb->trigger == KZ_TRIGGER_PHASE || pb->trigger == KZ_TRIGGER_OVERDUE) && cfg->phases == NULL)
        kz_config_error(errors, cfg, pb->trigger_line, "playbook '%s': a phase or overdue trigger needs <lifecycle>",
                        pb->name);
    if (pb->trigger == KZ_TRIGGER_TIER && cfg->tier_rules == NULL)
        kz_config_error(errors, cfg, pb->trigger_line, "playbook '%s': a tier trigger needs <tiers>", pb->name);
}

static void check_channel(const kz_config *cfg, const kz_config_playbook *pb, GPtrArray *errors)
{
    const kz_config_instance *ci = kz_config_find_instance(cfg, pb->channel);
    if (ci == NULL || ci->kind != KZ_COMPONENT_CHANNEL)
        kz_config_error(errors, cfg, pb->line, "playbook '%s': channel '%s' is not a <channel> of the stack", pb->name,
                        pb->channel);
    else if (strcmp(ci->component, KZ_TASK_CHANNEL) == 0 && strcmp(pb->to, "owner") != 0)
        kz_config_error(errors, cfg, pb->line, "playbook '%s': the task channel '%s' needs to=\"owner\"", pb->name,
                        pb->channel);
}

/* Compiles who=; NULL (with an error added) when it is wrong. */
kz_expr_sql *kz_play_compile_who(const kz_config *cfg, const kz_config_playbook *pb, kz_account_scope *s,
                                 guint first_param, GHashTable *measures, GPtrArray *errors)
{
    if (pb->who == NULL)
        return NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_expr) expr = kz_expr_parse(pb->who, &err);
    kz_expr_sql *sql = expr != NULL ? kz_expr_sql_compile(expr, kz_account_scope_expr(s), first_param, &err) : NULL;
    if (sql == NULL) {
        kz_config_error(errors, cfg, pb->line, "playbook '%s': who=\"%s\": %s", pb->name, pb->who, err->message);
        return NULL;
    }
    g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
    kz_account_scope_measures(s, expr, used);
    GHashTableIter it;
    gpointer name;
    g_hash_table_iter_init(&it, used);
    while (g_hash_table_iter_next(&it, &name, NULL))
        g_hash_table_add(measures, g_strdup(name));
    return sql;
}

gboolean kz_playbooks_check(const kz_config *cfg, GPtrArray *errors)
{
    guint before = errors->len;
    g_autoptr(kz_account_scope) s = kz_play_scope(cfg, 0);
    for (guint i = 0; cfg->playbooks != NULL && i < cfg->playbooks->len; i++) {
        const kz_config_playbook *pb = cfg->playbooks->pdata[i];
        g_autoptr(GHashTable) measures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        check_channel(cfg, pb, errors);
        check_trigger(cfg, pb, errors);
        kz_expr_sql_free(kz_play_compile_who(cfg, pb, s, 1, measures, errors));
        check_template(cfg, pb, "subject", pb->subject, pb->subject_line, measures, errors);
        check_template(cfg, pb, "body", pb->body, pb->body_line, measures, errors);
    }
    return errors->len == before;
}
