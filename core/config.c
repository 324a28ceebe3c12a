/*
 * core/config.c — see config.h. libxml2 parses the file with network and
 * DTD loading off and entities unexpanded (a DOCTYPE is refused outright),
 * so a config can never make the host read another file or reach a host.
 */
#include "config.h"

#include "log.h"
#include "params.h"

#include <kizuna/orgmodel.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/xmlerror.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

extern const char kz_stack_schema[]; /* sdk/schema/stack.rng, embedded at build time */
extern const unsigned kz_stack_schema_len;

static void add_error(GPtrArray *errors, const char *file, guint line, const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static void add_error(GPtrArray *errors, const char *file, guint line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_ptr_array_add(errors, g_strdup_printf("%s:%u: %s", file, line, msg));
}

/* libxml2 reports through a structured handler; we turn each report into
 * one line of `errors`. */
typedef struct {
    GPtrArray *errors;
    const char *file;
} xml_error_sink;

static void on_xml_error(void *data, xmlErrorPtr e)
{
    xml_error_sink *sink = data;
    g_autofree char *msg = g_strdup(e->message != NULL ? e->message : "unknown XML error");
    g_strchomp(msg);
    add_error(sink->errors, sink->file, e->line > 0 ? (guint)e->line : 1, "%s", msg);
}

static void param_free(kz_config_param *p)
{
    g_free(p->name);
    g_free(p->text);
    g_free(p->env);
    g_free(p);
}

static void rule_free(kz_config_rule *r)
{
    g_free(r->name);
    g_free(r->type);
    g_free(r->from);
    g_free(r->template_text);
    g_free(r->value);
    g_free(r->format);
    g_free(r->default_value);
    g_free(r->separator);
    g_ptr_array_unref(r->values);
    g_free(r);
}

static void map_free(kz_config_map *m)
{
    g_free(m->entity);
    g_free(m->preset);
    g_free(m->when);
    g_ptr_array_unref(m->rules);
    g_free(m);
}

static void instance_free(kz_config_instance *inst)
{
    g_free(inst->name);
    g_free(inst->component);
    g_ptr_array_unref(inst->params);
    g_ptr_array_unref(inst->maps);
    g_free(inst);
}

static void measure_free(kz_config_measure *m)
{
    g_free(m->name);
    g_free(m->kind);
    g_free(m->window);
    g_free(m->field);
    g_free(m->trait);
    g_free(m->event);
    g_free(m->priority);
    g_free(m);
}

static void use_free(kz_config_use *u)
{
    g_free(u->scorer);
    g_free(u);
}

static void grade_free(kz_config_grade *g)
{
    g_free(g->name);
    g_free(g);
}

static void health_free(kz_config_health *h)
{
    if (h == NULL)
        return;
    g_free(h->label);
    g_ptr_array_unref(h->uses);
    g_ptr_array_unref(h->grades);
    g_free(h);
}

static void phase_free(kz_config_phase *p)
{
    g_free(p->enter);
    g_free(p->exit);
    g_free(p->success);
    g_free(p);
}

static void tier_rule_free(kz_config_tier_rule *r)
{
    g_free(r->when);
    g_free(r);
}

static void team_free(kz_config_team *t)
{
    g_free(t->id);
    g_free(t->function);
    g_ptr_array_unref(t->regions);
    g_free(t);
}

static void csm_free(kz_config_csm *c)
{
    g_free(c->id);
    g_free(c->name);
    g_free(c->team);
    g_free(c->region);
    g_ptr_array_unref(c->skills);
    g_free(c);
}

static void playbook_free(kz_config_playbook *p)
{
    g_free(p->name);
    g_free(p->channel);
    g_free(p->to);
    g_free(p->who);
    g_free(p->subject);
    g_free(p->body);
    g_free(p->trigger_value);
    g_free(p);
}

static void org_free(kz_config_org *o)
{
    if (o == NULL)
        return;
    g_free(o->model);
    g_ptr_array_unref(o->teams);
    g_ptr_array_unref(o->csms);
    g_free(o);
}

void kz_config_free(kz_config *cfg)
{
    if (cfg == NULL)
        return;
    if (cfg->phases != NULL)
        g_ptr_array_unref(cfg->phases);
    if (cfg->tier_rules != NULL)
        g_ptr_array_unref(cfg->tier_rules);
    org_free(cfg->org);
    if (cfg->playbooks != NULL)
        g_ptr_array_unref(cfg->playbooks);
    g_ptr_array_unref(cfg->measures);
    health_free(cfg->health);
    g_free(cfg->kpis.currency);
    if (cfg->kpis.rates != NULL)
        g_hash_table_unref(cfg->kpis.rates);
    g_free(cfg->path);
    g_free(cfg->dir);
    g_free(cfg->store_path);
    g_ptr_array_unref(cfg->plugin_dirs);
    g_ptr_array_unref(cfg->instances);
    g_free(cfg);
}

const char *const *kz_config_plugin_dirs(const kz_config *cfg)
{
    return (const char *const *)cfg->plugin_dirs->pdata;
}

static char *attr(xmlNodePtr node, const char *name)
{
    xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
    char *copy = g_strdup((const char *)v);
    xmlFree(v);
    return copy;
}

static char *text_of(xmlNodePtr node)
{
    xmlChar *v = xmlNodeGetContent(node);
    char *copy = g_strdup(v != NULL ? (const char *)v : "");
    xmlFree(v);
    return copy;
}

static gboolean is_element(xmlNodePtr node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && strcmp((const char *)node->name, name) == 0;
}

static char *resolve_path(const kz_config *cfg, const char *path)
{
    return g_path_is_absolute(path) ? g_strdup(path) : g_build_filename(cfg->dir, path, NULL);
}

/* A <map> element: the schema has checked its shape. */
static kz_config_map *read_map(xmlNodePtr node)
{
    kz_config_map *m = g_new0(kz_config_map, 1);
    m->entity = attr(node, "entity");
    m->preset = attr(node, "preset");
    m->when = attr(node, "when");
    m->line = (guint)xmlGetLineNo(node);
    m->rules = g_ptr_array_new_with_free_func((GDestroyNotify)rule_free);
    for (xmlNodePtr n = node->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        kz_config_rule *r = g_new0(kz_config_rule, 1);
        r->kind = is_element(n, "field")   ? KZ_RULE_FIELD
                  : is_element(n, "trait") ? KZ_RULE_TRAIT
                                           : KZ_RULE_TRAITS_PREFIX;
        r->name = attr(n, r->kind == KZ_RULE_TRAITS_PREFIX ? "prefix" : "name");
        r->type = r->kind == KZ_RULE_TRAIT ? attr(n, "type") : NULL;
        if (r->kind == KZ_RULE_TRAIT && r->type == NULL)
            r->type = g_strdup("string");
        r->from = attr(n, "from");
        r->template_text = attr(n, "template");
        r->value = attr(n, "value");
        r->format = attr(n, "format");
        r->default_value = attr(n, "default");
        r->separator = attr(n, "separator");
        r->values = g_ptr_array_new_with_free_func(g_free);
        r->line = (guint)xmlGetLineNo(n);
        for (xmlNodePtr v = n->children; v != NULL; v = v->next)
            if (is_element(v, "value")) {
                g_ptr_array_add(r->values, attr(v, "from"));
                g_ptr_array_add(r->values, attr(v, "to"));
            }
        g_ptr_array_add(m->rules, r);
    }
    return m;
}

static void read_instances(kz_config *cfg, xmlNodePtr group, int kind, GHashTable *names, GPtrArray *errors)
{
    for (xmlNodePtr n = group->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        kz_config_instance *inst = g_new0(kz_config_instance, 1);
        inst->kind = kind;
        inst->name = attr(n, "name");
        inst->component = attr(n, "component");
        inst->line = (guint)xmlGetLineNo(n);
        inst->params = g_ptr_array_new_with_free_func((GDestroyNotify)param_free);
        inst->maps = g_ptr_array_new_with_free_func((GDestroyNotify)map_free);
        gpointer first = g_hash_table_lookup(names, inst->name);
        if (first != NULL)
            add_error(errors, cfg->path, inst->line, "instance name '%s' is already used at line %u", inst->name,
                      GPOINTER_TO_UINT(first));
        else
            g_hash_table_insert(names, inst->name, GUINT_TO_POINTER(inst->line));
        for (xmlNodePtr p = n->children; p != NULL; p = p->next) {
            if (is_element(p, "map"))
                g_ptr_array_add(inst->maps, read_map(p));
            if (!is_element(p, "param"))
                continue;
            kz_config_param *param = g_new0(kz_config_param, 1);
            param->name = attr(p, "name");
            param->env = attr(p, "env");
            param->text = param->env == NULL ? text_of(p) : NULL;
            param->line = (guint)xmlGetLineNo(p);
            g_ptr_array_add(inst->params, param);
        }
        g_ptr_array_add(cfg->instances, inst);
    }
}

/* Windows, trends and histories longer than a century are a mistake (and
 * would overflow microseconds not far beyond). */
#define MAX_DURATION_MS (G_GINT64_CONSTANT(36500) * 86400 * 1000)

/* A duration attribute ("30d"), or `dflt` when absent; FALSE after an error. */
static gboolean duration_attr(const kz_config *cfg, xmlNodePtr node, const char *name, gint64 dflt_us, gint64 *out_us,
                              GPtrArray *errors)
{
    g_autofree char *text = attr(node, name);
    *out_us = dflt_us;
    if (text == NULL)
        return TRUE;
    gint64 ms = 0;
    g_autoptr(GError) err = NULL;
    if (!kz_duration_parse(text, &ms, &err) || ms <= 0 || ms > MAX_DURATION_MS) {
        add_error(errors, cfg->path, (guint)xmlGetLineNo(node), "%s=\"%s\": %s", name, text,
                  err != NULL ? err->message
                  : ms <= 0   ? "must be longer than zero"
                              : "must be at most 36500d (100 years)");
        return FALSE;
    }
    *out_us = ms * 1000;
    return TRUE;
}

static void read_measures(kz_config *cfg, xmlNodePtr group, GPtrArray *errors)
{
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    for (xmlNodePtr n = group->children; n != NULL; n = n->next) {
        if (!is_element(n, "measure"))
            continue;
        kz_config_measure *m = g_new0(kz_config_measure, 1);
        m->name = attr(n, "name");
        m->kind = attr(n, "kind");
        m->window = attr(n, "window");
        m->field = attr(n, "field");
        m->trait = attr(n, "trait");
        m->event = attr(n, "event");
        m->priority = attr(n, "priority");
        m->line = (guint)xmlGetLineNo(n);
        duration_attr(cfg, n, "window", 0, &m->window_us, errors);
        gpointer first = g_hash_table_lookup(names, m->name);
        if (first != NULL)
            add_error(errors, cfg->path, m->line, "measure '%s' is already declared at line %u", m->name,
                      GPOINTER_TO_UINT(first));
        else
            g_hash_table_insert(names, m->name, GUINT_TO_POINTER(m->line));
        g_ptr_array_add(cfg->measures, m);
    }
}

static void read_health(kz_config *cfg, xmlNodePtr node, GPtrArray *errors)
{
    kz_config_health *h = g_new0(kz_config_health, 1);
    cfg->health = h;
    h->label = attr(node, "label");
    h->line = (guint)xmlGetLineNo(node);
    h->uses = g_ptr_array_new_with_free_func((GDestroyNotify)use_free);
    h->grades = g_ptr_array_new_with_free_func((GDestroyNotify)grade_free);
    duration_attr(cfg, node, "trend", G_GINT64_CONSTANT(30) * 86400 * 1000000, &h->trend_us, errors);
    duration_attr(cfg, node, "history", G_GINT64_CONSTANT(400) * 86400 * 1000000, &h->history_us, errors);
    for (xmlNodePtr n = node->children; n != NULL; n = n->next) {
        guint line = (guint)xmlGetLineNo(n);
        if (is_element(n, "use")) {
            kz_config_use *u = g_new0(kz_config_use, 1);
            u->scorer = attr(n, "scorer");
            u->line = line;
            g_autofree char *w = attr(n, "weight");
            g_autofree char *fit = attr(n, "fit");
            u->weight = w != NULL ? g_ascii_strtod(w, NULL) : 1.0;
            u->fit = fit != NULL && (strcmp(fit, "true") == 0 || strcmp(fit, "1") == 0);
            if (!(u->weight > 0 && isfinite(u->weight)))
                add_error(errors, cfg->path, line, "scorer '%s': weight must be a positive number", u->scorer);
            for (guint i = 0; i < h->uses->len; i++)
                if (strcmp(((kz_config_use *)h->uses->pdata[i])->scorer, u->scorer) == 0)
                    add_error(errors, cfg->path, line, "scorer '%s' is used twice in <health>", u->scorer);
            g_ptr_array_add(h->uses, u);
        } else if (is_element(n, "grade")) {
            kz_config_grade *g = g_new0(kz_config_grade, 1);
            g->name = attr(n, "name");
            g->line = line;
            g_autofree char *below = attr(n, "below");
            g->below = below != NULL ? g_ascii_strtod(below, NULL) : INFINITY;
            const kz_config_grade *prev = h->grades->len ? h->grades->pdata[h->grades->len - 1] : NULL;
            if (prev != NULL && isinf(prev->below))
                add_error(errors, cfg->path, line,
                          "grade '%s' follows '%s', which has no bound: only the last grade may omit below=", g->name,
                          prev->name);
            else if (prev != NULL && !(g->below > prev->below))
                add_error(errors, cfg->path, line, "grade '%s': below=%g must be above the bound of '%s' (%g)", g->name,
                          g->below, prev->name, prev->below);
            for (guint i = 0; i < h->grades->len; i++)
                if (strcmp(((kz_config_grade *)h->grades->pdata[i])->name, g->name) == 0)
                    add_error(errors, cfg->path, line, "grade '%s' is named twice", g->name);
            if (h->grades->len == KZ_CONFIG_MAX_GRADES)
                add_error(errors, cfg->path, line, "more than %d grades", KZ_CONFIG_MAX_GRADES);
            g_ptr_array_add(h->grades, g);
        }
    }
    const kz_config_grade *last = h->grades->pdata[h->grades->len - 1];
    if (!isinf(last->below))
        add_error(errors, cfg->path, last->line,
                  "the last grade ('%s') takes every score above the others: drop its below=", last->name);
}

/* ---- lifecycle, tiers and organization (docs/lifecycle.md) ------------- */

static const char *const phase_names[] = {"", "onboarding", "adoption", "expansion", "renewal", "churned"};
static const char *const tier_names[] = {"", "tech", "low", "high"};

static int name_index(const char *const *names, guint n, const char *name)
{
    for (guint i = 1; i < n; i++)
        if (name != NULL && strcmp(names[i], name) == 0)
            return (int)i;
    return 0;
}

const char *kz_phase_name(int phase)
{
    return phase > 0 && phase < (int)G_N_ELEMENTS(phase_names) ? phase_names[phase] : NULL;
}

int kz_phase_from_name(const char *name)
{
    return name_index(phase_names, G_N_ELEMENTS(phase_names), name);
}

const char *kz_tier_name(int tier)
{
    return tier > 0 && tier < (int)G_N_ELEMENTS(tier_names) ? tier_names[tier] : NULL;
}

int kz_tier_from_name(const char *name)
{
    return name_index(tier_names, G_N_ELEMENTS(tier_names), name);
}

static void read_lifecycle(kz_config *cfg, xmlNodePtr node, GPtrArray *errors)
{
    cfg->phases = g_ptr_array_new_with_free_func((GDestroyNotify)phase_free);
    for (xmlNodePtr n = node->children; n != NULL; n = n->next) {
        if (!is_element(n, "phase"))
            continue;
        kz_config_phase *p = g_new0(kz_config_phase, 1);
        g_autofree char *name = attr(n, "name");
        g_autofree char *next = attr(n, "next");
        g_autofree char *from = attr(n, "due_from");
        p->phase = kz_phase_from_name(name);
        p->next = kz_phase_from_name(next);
        p->enter = attr(n, "enter");
        p->exit = attr(n, "exit");
        p->success = attr(n, "success");
        p->due_from_contract = from != NULL && strcmp(from, "contract_start") == 0;
        p->line = (guint)xmlGetLineNo(n);
        duration_attr(cfg, n, "due", 0, &p->due_us, errors);
        for (guint i = 0; i < cfg->phases->len; i++)
            if (((kz_config_phase *)cfg->phases->pdata[i])->phase == p->phase)
                add_error(errors, cfg->path, p->line, "phase '%s' is declared twice", name);
        if (p->next == p->phase)
            add_error(errors, cfg->path, p->line, "phase '%s': next= names the phase itself", name);
        if (p->phase == KZ_PHASE_CHURNED && p->enter == NULL)
            add_error(errors, cfg->path, p->line, "phase 'churned' needs enter= (when is an account churned?)");
        g_ptr_array_add(cfg->phases, p);
    }
}

static void read_tiers(kz_config *cfg, xmlNodePtr node, GPtrArray *errors)
{
    cfg->tier_rules = g_ptr_array_new_with_free_func((GDestroyNotify)tier_rule_free);
    const kz_config_tier_rule *catch_all = NULL;
    for (xmlNodePtr n = node->children; n != NULL; n = n->next) {
        if (!is_element(n, "tier"))
            continue;
        kz_config_tier_rule *r = g_new0(kz_config_tier_rule, 1);
        g_autofree char *name = attr(n, "name");
        r->tier = kz_tier_from_name(name);
        r->when = attr(n, "when");
        r->line = (guint)xmlGetLineNo(n);
        if (catch_all != NULL)
            add_error(errors, cfg->path, r->line,
                      "this rule is never reached: the rule at line %u (no when=) takes every account",
                      catch_all->line);
        if (r->when == NULL && catch_all == NULL)
            catch_all = r;
        g_ptr_array_add(cfg->tier_rules, r);
    }
}

/* "a|b" -> the names, each checked by `known` when given. */
static guint32 mask_attr(const kz_config *cfg, xmlNodePtr node, const char *name, int (*known)(const char *),
                         GPtrArray *errors)
{
    g_autofree char *text = attr(node, name);
    if (text == NULL)
        return 0;
    guint32 mask = 0;
    g_auto(GStrv) parts = g_strsplit(text, "|", -1);
    for (guint i = 0; parts[i] != NULL; i++) {
        int v = known(g_strstrip(parts[i]));
        if (v == 0)
            add_error(
                errors, cfg->path, (guint)xmlGetLineNo(node), "%s=\"%s\": '%s' is not one of %s", name, text, parts[i],
                known == kz_phase_from_name ? "onboarding, adoption, expansion, renewal, churned" : "high, low, tech");
        else
            mask |= 1u << v;
    }
    return mask;
}

static GPtrArray *list_attr(xmlNodePtr node, const char *name, const char *sep)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *text = attr(node, name);
    if (text == NULL)
        return out;
    g_auto(GStrv) parts = g_strsplit(text, sep, -1);
    for (guint i = 0; parts[i] != NULL; i++)
        if (*g_strstrip(parts[i]) != '\0')
            g_ptr_array_add(out, g_strdup(parts[i]));
    return out;
}

static guint32 capacity_attr(const kz_config *cfg, xmlNodePtr node, const char *name, GPtrArray *errors)
{
    g_autofree char *text = attr(node, name);
    if (text == NULL)
        return KZ_CAPACITY_NONE;
    if (strcmp(text, "unlimited") == 0)
        return KZ_CAPACITY_UNLIMITED;
    guint64 v = g_ascii_strtoull(text, NULL, 10); /* the schema has checked the digits */
    if (v >= KZ_CAPACITY_UNLIMITED) {
        add_error(errors, cfg->path, (guint)xmlGetLineNo(node), "%s=\"%s\": too large; say \"unlimited\"", name, text);
        return KZ_CAPACITY_NONE;
    }
    return (guint32)v;
}

static void read_org(kz_config *cfg, xmlNodePtr node, GPtrArray *errors)
{
    kz_config_org *o = g_new0(kz_config_org, 1);
    cfg->org = o;
    o->model = attr(node, "model");
    o->line = (guint)xmlGetLineNo(node);
    o->teams = g_ptr_array_new_with_free_func((GDestroyNotify)team_free);
    o->csms = g_ptr_array_new_with_free_func((GDestroyNotify)csm_free);
    g_autoptr(GHashTable) teams = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) csms = g_hash_table_new(g_str_hash, g_str_equal);
    for (xmlNodePtr n = node->children; n != NULL; n = n->next) {
        guint line = (guint)xmlGetLineNo(n);
        if (is_element(n, "team")) {
            kz_config_team *t = g_new0(kz_config_team, 1);
            t->id = attr(n, "id");
            t->function = attr(n, "function");
            t->phases = mask_attr(cfg, n, "phases", kz_phase_from_name, errors);
            t->tiers = mask_attr(cfg, n, "tiers", kz_tier_from_name, errors);
            t->regions = list_attr(n, "regions", "|");
            t->line = line;
            gpointer first = g_hash_table_lookup(teams, t->id);
            if (first != NULL)
                add_error(errors, cfg->path, line, "team '%s' is already declared at line %u", t->id,
                          ((kz_config_team *)first)->line);
            else
                g_hash_table_insert(teams, t->id, t);
            g_ptr_array_add(o->teams, t);
        } else if (is_element(n, "csm")) {
            kz_config_csm *c = g_new0(kz_config_csm, 1);
            c->id = attr(n, "id");
            c->name = attr(n, "name");
            c->team = attr(n, "team");
            c->region = attr(n, "region");
            c->skills = list_attr(n, "skills", ",");
            c->capacity[KZ_TIER_HIGH] = capacity_attr(cfg, n, "high", errors);
            c->capacity[KZ_TIER_LOW] = capacity_attr(cfg, n, "low", errors);
            c->capacity[KZ_TIER_TECH] = capacity_attr(cfg, n, "tech", errors);
            c->line = line;
            gpointer first = g_hash_table_lookup(csms, c->id);
            if (first != NULL)
                add_error(errors, cfg->path, line, "csm '%s' is already declared at line %u", c->id,
                          ((kz_config_csm *)first)->line);
            else
                g_hash_table_insert(csms, c->id, c);
            if (g_hash_table_lookup(teams, c->team) == NULL)
                add_error(errors, cfg->path, line, "csm '%s': team '%s' is not declared (teams come before CSMs)",
                          c->id, c->team);
            g_ptr_array_add(o->csms, c);
        }
    }
}

static const char *const trigger_names[] = {"", "phase", "tier", "overdue", "grade", "before", "drop"};

static void read_trigger(kz_config *cfg, xmlNodePtr n, kz_config_playbook *p, GPtrArray *errors)
{
    g_autofree char *on = attr(n, "on");
    p->trigger = name_index(trigger_names, G_N_ELEMENTS(trigger_names), on); /* the schema knows them */
    p->trigger_line = (guint)xmlGetLineNo(n);
    switch (p->trigger) {
    case KZ_TRIGGER_PHASE:
    case KZ_TRIGGER_TIER:
    case KZ_TRIGGER_GRADE: p->trigger_value = attr(n, "to"); break;
    case KZ_TRIGGER_BEFORE: {
        p->trigger_value = attr(n, "date");
        g_autofree char *days = attr(n, "days");
        p->days = days != NULL ? g_ascii_strtoll(days, NULL, 10) : 0;
        break;
    }
    case KZ_TRIGGER_DROP: {
        g_autofree char *points = attr(n, "points");
        p->points = points != NULL ? g_ascii_strtod(points, NULL) : 0;
        duration_attr(cfg, n, "window", 30 * G_GINT64_CONSTANT(86400000000), &p->window_us, errors);
        break;
    }
    default: break;
    }
    if (p->trigger == KZ_TRIGGER_PHASE && p->trigger_value != NULL && kz_phase_from_name(p->trigger_value) == 0)
        add_error(errors, cfg->path, p->trigger_line,
                  "<trigger on=\"phase\" to=\"%s\">: not a phase (onboarding, adoption, expansion, renewal, churned)",
                  p->trigger_value);
    if (p->trigger == KZ_TRIGGER_TIER && p->trigger_value != NULL && kz_tier_from_name(p->trigger_value) == 0)
        add_error(errors, cfg->path, p->trigger_line, "<trigger on=\"tier\" to=\"%s\">: not a tier (high, low, tech)",
                  p->trigger_value);
}

static void read_playbooks(kz_config *cfg, xmlNodePtr node, GPtrArray *errors)
{
    cfg->playbooks = g_ptr_array_new_with_free_func((GDestroyNotify)playbook_free);
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    for (xmlNodePtr n = node->children; n != NULL; n = n->next) {
        if (is_element(n, "outbox")) {
            g_autofree char *max = attr(n, "max_attempts");
            if (max != NULL)
                cfg->outbox.max_attempts = (guint)g_ascii_strtoull(max, NULL, 10);
            duration_attr(cfg, n, "backoff", cfg->outbox.backoff_us, &cfg->outbox.backoff_us, errors);
            duration_attr(cfg, n, "max_backoff", cfg->outbox.max_backoff_us, &cfg->outbox.max_backoff_us, errors);
            continue;
        }
        if (!is_element(n, "playbook"))
            continue;
        kz_config_playbook *p = g_new0(kz_config_playbook, 1);
        p->line = (guint)xmlGetLineNo(n);
        p->name = attr(n, "name");
        p->channel = attr(n, "channel");
        p->to = attr(n, "to");
        if (p->to == NULL)
            p->to = g_strdup("none");
        p->who = attr(n, "who");
        g_autofree char *priority = attr(n, "priority");
        p->priority = priority != NULL ? (int)g_ascii_strtoll(priority, NULL, 10) : 0;
        duration_attr(cfg, n, "cooldown", 0, &p->cooldown_us, errors);
        duration_attr(cfg, n, "due", 0, &p->due_us, errors);
        for (xmlNodePtr c = n->children; c != NULL; c = c->next) {
            if (is_element(c, "trigger"))
                read_trigger(cfg, c, p, errors);
            else if (is_element(c, "subject")) {
                p->subject = text_of(c);
                p->subject_line = (guint)xmlGetLineNo(c);
            } else if (is_element(c, "body")) {
                p->body = text_of(c);
                p->body_line = (guint)xmlGetLineNo(c);
            }
        }
        gpointer first = g_hash_table_lookup(names, p->name);
        if (first != NULL)
            add_error(errors, cfg->path, p->line, "playbook '%s' is already declared at line %u", p->name,
                      ((kz_config_playbook *)first)->line);
        else
            g_hash_table_insert(names, p->name, p);
        g_ptr_array_add(cfg->playbooks, p);
    }
}

static void read_kpis(kz_config *cfg, xmlNodePtr node, GPtrArray *errors)
{
    cfg->kpis.currency = attr(node, "currency");
    cfg->kpis.line = (guint)xmlGetLineNo(node);
    for (xmlNodePtr n = node->children; n != NULL; n = n->next) {
        if (!is_element(n, "rate"))
            continue;
        g_autofree char *currency = attr(n, "currency");
        g_autofree char *value = attr(n, "value");
        if (g_hash_table_contains(cfg->kpis.rates, currency)) {
            add_error(errors, cfg->path, (guint)xmlGetLineNo(n), "<rate currency=\"%s\">: given twice", currency);
            continue;
        }
        if (cfg->kpis.currency != NULL && strcmp(currency, cfg->kpis.currency) == 0) {
            add_error(errors, cfg->path, (guint)xmlGetLineNo(n),
                      "<rate currency=\"%s\">: the report currency itself needs no rate", currency);
            continue;
        }
        double *v = g_new(double, 1);
        *v = g_ascii_strtod(value, NULL); /* the schema has checked it is a double > 0 */
        g_hash_table_insert(cfg->kpis.rates, g_steal_pointer(&currency), v);
    }
    if (cfg->kpis.currency == NULL && g_hash_table_size(cfg->kpis.rates) > 0)
        add_error(errors, cfg->path, cfg->kpis.line, "<kpis>: rates need the currency they convert into (currency=)");
}

static gboolean validate_schema(xmlDocPtr doc, xml_error_sink *sink)
{
    xmlRelaxNGParserCtxtPtr pctx = xmlRelaxNGNewMemParserCtxt(kz_stack_schema, (int)kz_stack_schema_len);
    xmlRelaxNGPtr schema = xmlRelaxNGParse(pctx);
    xmlRelaxNGFreeParserCtxt(pctx);
    if (schema == NULL) {
        add_error(sink->errors, sink->file, 1, "internal error: the embedded schema does not compile");
        return FALSE;
    }
    xmlRelaxNGValidCtxtPtr vctx = xmlRelaxNGNewValidCtxt(schema);
    xmlRelaxNGSetValidStructuredErrors(vctx, on_xml_error, sink);
    guint before = sink->errors->len;
    int rc = xmlRelaxNGValidateDoc(vctx, doc);
    xmlRelaxNGFreeValidCtxt(vctx);
    xmlRelaxNGFree(schema);
    if (rc != 0 && sink->errors->len == before)
        add_error(sink->errors, sink->file, 1, "does not match the stack schema");
    return rc == 0;
}

/* Notes the line of a DOCTYPE (the DTD node itself carries none) and lets
 * libxml2 go on, so that it is refused with its line afterwards. */
static void on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
    xmlParserCtxtPtr pctx = ctx;
    if (pctx->_private == NULL)
        pctx->_private = GUINT_TO_POINTER((guint)MAX(pctx->input->line, 1));
    xmlSAX2InternalSubset(ctx, name, external_id, system_id);
}

kz_config *kz_config_load(const char *path, GPtrArray *errors)
{
    xml_error_sink sink = {errors, path};
    guint before = errors->len;
    FILE *probe = fopen(path, "r"); /* libxml2 would only say "failed to load external entity" */
    if (probe == NULL) {
        g_ptr_array_add(errors, g_strdup_printf("%s: cannot read: %s", path, g_strerror(errno)));
        return NULL;
    }
    fclose(probe);
    xmlParserCtxtPtr pctx = xmlNewParserCtxt();
    if (pctx == NULL) {
        add_error(errors, path, 1, "out of memory");
        return NULL;
    }
    pctx->sax->internalSubset = on_internal_subset;
    xmlSetStructuredErrorFunc(&sink, on_xml_error);
    xmlDocPtr doc = xmlCtxtReadFile(pctx, path, NULL, XML_PARSE_NONET | XML_PARSE_NOCDATA);
    xmlSetStructuredErrorFunc(NULL, NULL);
    guint doctype_line = GPOINTER_TO_UINT(pctx->_private);
    xmlFreeParserCtxt(pctx);
    if (doc == NULL) {
        if (errors->len == before)
            add_error(errors, path, 1, "cannot read the file");
        return NULL;
    }
    if (doc->intSubset != NULL) {
        add_error(errors, path, MAX(doctype_line, 1), "a DOCTYPE is not allowed in a stack config");
        xmlFreeDoc(doc);
        return NULL;
    }
    if (!validate_schema(doc, &sink)) {
        xmlFreeDoc(doc);
        return NULL;
    }

    kz_config *cfg = g_new0(kz_config, 1);
    cfg->path = g_strdup(path);
    g_autofree char *abs = g_canonicalize_filename(path, NULL);
    cfg->dir = g_path_get_dirname(abs);
    cfg->plugin_dirs = g_ptr_array_new_null_terminated(4, g_free, TRUE);
    cfg->instances = g_ptr_array_new_with_free_func((GDestroyNotify)instance_free);
    cfg->measures = g_ptr_array_new_with_free_func((GDestroyNotify)measure_free);
    cfg->outbox =
        (kz_config_outbox){8, G_GINT64_CONSTANT(60) * G_USEC_PER_SEC, G_GINT64_CONSTANT(21600) * G_USEC_PER_SEC};
    cfg->kpis.rates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);

    xmlNodePtr root = xmlDocGetRootElement(doc);
    g_autoptr(GHashTable) sections = g_hash_table_new(g_str_hash, g_str_equal);
    for (xmlNodePtr n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        gpointer first = g_hash_table_lookup(sections, n->name);
        if (first != NULL) {
            add_error(errors, path, (guint)xmlGetLineNo(n), "<%s> is given twice (first at line %u)", n->name,
                      GPOINTER_TO_UINT(first));
            continue;
        }
        g_hash_table_insert(sections, (gpointer)n->name, GUINT_TO_POINTER((guint)xmlGetLineNo(n)));
        if (is_element(n, "store")) {
            g_autofree char *p = attr(n, "path");
            cfg->store_path = resolve_path(cfg, p);
        } else if (is_element(n, "plugins")) {
            for (xmlNodePtr d = n->children; d != NULL; d = d->next)
                if (is_element(d, "dir")) {
                    g_autofree char *p = text_of(d);
                    g_ptr_array_add(cfg->plugin_dirs, resolve_path(cfg, g_strstrip(p)));
                }
        } else if (is_element(n, "measures")) {
            read_measures(cfg, n, errors);
        } else if (is_element(n, "health")) {
            read_health(cfg, n, errors);
        } else if (is_element(n, "lifecycle")) {
            read_lifecycle(cfg, n, errors);
        } else if (is_element(n, "tiers")) {
            read_tiers(cfg, n, errors);
        } else if (is_element(n, "organization")) {
            read_org(cfg, n, errors);
        } else if (is_element(n, "playbooks")) {
            read_playbooks(cfg, n, errors);
        } else if (is_element(n, "kpis")) {
            read_kpis(cfg, n, errors);
        } else {
            /* "sources" -> source, ...: the schema admits nothing else */
            g_autofree char *kind = g_strndup((const char *)n->name, strlen((const char *)n->name) - 1);
            read_instances(cfg, n, kz_component_kind_from_name(kind), names, errors);
        }
    }
    xmlFreeDoc(doc);
    if (errors->len > before) {
        kz_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void kz_config_error(GPtrArray *errors, const kz_config *cfg, guint line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    add_error(errors, cfg->path, line, "%s", msg);
}

const kz_config_instance *kz_config_find_instance(const kz_config *cfg, const char *name)
{
    for (guint i = 0; i < cfg->instances->len; i++) {
        const kz_config_instance *inst = cfg->instances->pdata[i];
        if (strcmp(inst->name, name) == 0)
            return inst;
    }
    return NULL;
}

static const kz_param_info *find_spec(const kz_component_info *comp, const char *name)
{
    for (guint i = 0; i < comp->params->len; i++) {
        const kz_param_info *spec = comp->params->pdata[i];
        if (strcmp(spec->name, name) == 0)
            return spec;
    }
    return NULL;
}

static char *known_params(const kz_component_info *comp)
{
    if (comp->params->len == 0)
        return g_strdup("it takes no parameters");
    GString *s = g_string_new("known: ");
    for (guint i = 0; i < comp->params->len; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "", ((kz_param_info *)comp->params->pdata[i])->name);
    return g_string_free(s, FALSE);
}

/* Resolves one <param> against its spec: reads env=, makes paths
 * absolute, registers secrets, parses the type. NULL after an error. */
static kz_param_value *resolve_one(const kz_config *cfg, const kz_config_param *p, const kz_param_info *spec,
                                   GPtrArray *errors)
{
    const char *text = p->text;
    if (p->env != NULL) {
        text = g_getenv(p->env);
        if (text == NULL) {
            add_error(errors, cfg->path, p->line, "parameter '%s': environment variable %s is not set", p->name,
                      p->env);
            return NULL;
        }
    } else if (spec->type == KZ_PARAM_SECRET) {
        g_warning("%s:%u: secret parameter '%s' is written in the file; prefer env=\"VARIABLE\"", cfg->path, p->line,
                  p->name);
    }
    if (spec->type == KZ_PARAM_SECRET)
        kz_log_add_secret(text);
    g_autofree char *absolute = NULL;
    if (spec->type == KZ_PARAM_PATH) {
        if (text[0] == '\0') {
            add_error(errors, cfg->path, p->line, "parameter '%s' (path): empty path", p->name);
            return NULL;
        }
        text = absolute = resolve_path(cfg, text);
    }
    g_autoptr(GError) err = NULL;
    kz_param_value *v = g_new0(kz_param_value, 1);
    if (!kz_param_parse(spec->type, text, v, &err)) {
        add_error(errors, cfg->path, p->line, "parameter '%s' (%s): %s", p->name, kz_param_type_name(spec->type),
                  err->message);
        g_free(v);
        return NULL;
    }
    return v;
}

GHashTable *kz_config_resolve_params(const kz_config *cfg, const kz_config_instance *inst,
                                     const kz_component_info *comp, GPtrArray *errors)
{
    guint before = errors->len;
    GHashTable *values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    /* every name written in the file, valid or not: a parameter that is
     * given but wrong is reported once, not also as missing */
    g_autoptr(GHashTable) given = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < inst->params->len; i++) {
        const kz_config_param *p = inst->params->pdata[i];
        const kz_param_info *spec = find_spec(comp, p->name);
        if (spec == NULL) {
            g_autofree char *known = known_params(comp);
            add_error(errors, cfg->path, p->line, "unknown parameter '%s' for component '%s' (%s)", p->name, comp->name,
                      known);
            continue;
        }
        if (!g_hash_table_add(given, p->name)) {
            add_error(errors, cfg->path, p->line, "parameter '%s' is given twice", p->name);
            continue;
        }
        kz_param_value *v = resolve_one(cfg, p, spec, errors);
        if (v != NULL)
            g_hash_table_insert(values, g_strdup(p->name), v);
    }
    for (guint i = 0; i < comp->params->len; i++) {
        const kz_param_info *spec = comp->params->pdata[i];
        if (g_hash_table_contains(given, spec->name))
            continue;
        if (spec->default_value != NULL) {
            kz_param_value *v = g_new0(kz_param_value, 1);
            g_autofree char *dflt =
                spec->type == KZ_PARAM_PATH ? resolve_path(cfg, spec->default_value) : g_strdup(spec->default_value);
            if (kz_param_parse(spec->type, dflt, v, NULL))
                g_hash_table_insert(values, g_strdup(spec->name), v);
            else
                g_free(v); /* the loader checked defaults: cannot happen */
        } else if (spec->required) {
            add_error(errors, cfg->path, inst->line, "instance '%s': missing required parameter '%s' (%s: %s)",
                      inst->name, spec->name, kz_param_type_name(spec->type), spec->help);
        }
    }
    if (errors->len > before) {
        g_hash_table_unref(values);
        return NULL;
    }
    return values;
}

GHashTable *kz_config_instance_params(const kz_config *cfg, const kz_config_instance *inst, const kz_registry *reg,
                                      const kz_component_info **comp_out, GPtrArray *errors)
{
    const kz_component_info *comp = kz_registry_find_component(reg, inst->component);
    if (comp == NULL) {
        add_error(errors, cfg->path, inst->line, "instance '%s': unknown component '%s' (no loaded plugin provides it)",
                  inst->name, inst->component);
        return NULL;
    }
    if (comp->kind != inst->kind) {
        add_error(errors, cfg->path, inst->line, "instance '%s': component '%s' is a %s, not a %s", inst->name,
                  inst->component, kz_component_kind_name(comp->kind), kz_component_kind_name(inst->kind));
        return NULL;
    }
    if (comp_out != NULL)
        *comp_out = comp;
    return kz_config_resolve_params(cfg, inst, comp, errors);
}

gboolean kz_config_check_instances(const kz_config *cfg, const kz_registry *reg, GPtrArray *errors)
{
    guint before = errors->len;
    for (guint i = 0; i < cfg->instances->len; i++) {
        GHashTable *values = kz_config_instance_params(cfg, cfg->instances->pdata[i], reg, NULL, errors);
        if (values != NULL)
            g_hash_table_unref(values);
    }
    return errors->len == before;
}
