/*
 * core/sync/mapping.c — see mapping.h.
 *
 * Each entity has a table of the record fields a map can fill, with their
 * type and offset in the record struct, so one converter serves every
 * entity. Rules name their input by field name (a preset may give several
 * alternatives, the first present wins); the names are looked up once per
 * layout of a row, so a CSV file costs one lookup for all its rows.
 */
#define _GNU_SOURCE /* strptime, timegm */
#include "mapping.h"

#include "../values.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

/* ---- what each entity's records hold ---------------------------------------- */

typedef enum { T_STR, T_TIME, T_DOUBLE, T_INT, T_MONEY, T_ENUM, T_TAGS, T_CAPACITY } field_type;

typedef struct {
    const char *name;
    field_type type;
    size_t off;
    const char *const *enums; /* T_ENUM: names by value, [0] = NONE */
    size_t aux_off;           /* T_TAGS: n_tags; T_MONEY: the currency field */
    /* T_CAPACITY: a whole number, or "unlimited" */
} field_def;

typedef struct {
    guint entity;
    const char *name;
    const field_def *fields;
    gsize n_fields;
    gboolean has_traits;
    size_t traits_off, n_traits_off, origin_off;
    const char *const *required; /* each entry "a" or "a|b": one of them must be filled */
} entity_def;

static const char *const priorities[] = {"none", "low", "normal", "high", "urgent", NULL};
static const char *const ticket_statuses[] = {"none", "new", "open", "pending", "solved", "closed", NULL};
static const char *const ticket_kinds[] = {"none", "question", "incident", "problem", "task", "feature_request", NULL};
static const char *const sub_statuses[] = {"none", "trialing", "active", "past_due", "canceled", "ended", NULL};
static const char *const survey_kinds[] = {"none", "nps", "csat", NULL};
static const char *const csm_statuses[] = {"none", "active", "inactive", NULL};

/* Other spellings found in exports (Zendesk "hold", British "cancelled"). */
static const char *const enum_aliases[][2] = {
    {"medium", "normal"}, {"hold", "pending"}, {"on_hold", "pending"}, {"cancelled", "canceled"}};

// clang-format off
static const field_def account_fields[] = {
    {"id", T_STR, offsetof(kz_account, id), NULL, 0},
    {"name", T_STR, offsetof(kz_account, name), NULL, 0},
    {"region", T_STR, offsetof(kz_account, region), NULL, 0},
    {"segment", T_STR, offsetof(kz_account, segment), NULL, 0},
    {"plan", T_STR, offsetof(kz_account, plan), NULL, 0},
    {"arr", T_MONEY, offsetof(kz_account, arr_minor), NULL, offsetof(kz_account, currency)},
    {"arr_minor", T_INT, offsetof(kz_account, arr_minor), NULL, 0},
    {"currency", T_STR, offsetof(kz_account, currency), NULL, 0},
    {"contract_start", T_TIME, offsetof(kz_account, contract_start), NULL, 0},
    {"renewal_date", T_TIME, offsetof(kz_account, renewal_date), NULL, 0},
    {"owner", T_STR, offsetof(kz_account, owner), NULL, 0},
};
static const field_def contact_fields[] = {
    {"id", T_STR, offsetof(kz_contact, id), NULL, 0},
    {"account_id", T_STR, offsetof(kz_contact, account_id), NULL, 0},
    {"name", T_STR, offsetof(kz_contact, name), NULL, 0},
    {"email", T_STR, offsetof(kz_contact, email), NULL, 0},
    {"role", T_STR, offsetof(kz_contact, role), NULL, 0},
    {"phone", T_STR, offsetof(kz_contact, phone), NULL, 0},
};
static const field_def event_fields[] = {
    {"id", T_STR, offsetof(kz_usage_event, id), NULL, 0},
    {"account_id", T_STR, offsetof(kz_usage_event, account_id), NULL, 0},
    {"user_id", T_STR, offsetof(kz_usage_event, user_id), NULL, 0},
    {"time", T_TIME, offsetof(kz_usage_event, time), NULL, 0},
    {"name", T_STR, offsetof(kz_usage_event, name), NULL, 0},
    {"quantity", T_DOUBLE, offsetof(kz_usage_event, quantity), NULL, 0},
    {"product", T_STR, offsetof(kz_usage_event, product), NULL, 0},
};
static const field_def ticket_fields[] = {
    {"id", T_STR, offsetof(kz_ticket, id), NULL, 0},
    {"account_id", T_STR, offsetof(kz_ticket, account_id), NULL, 0},
    {"contact_id", T_STR, offsetof(kz_ticket, contact_id), NULL, 0},
    {"subject", T_STR, offsetof(kz_ticket, subject), NULL, 0},
    {"opened", T_TIME, offsetof(kz_ticket, opened), NULL, 0},
    {"closed", T_TIME, offsetof(kz_ticket, closed), NULL, 0},
    {"priority", T_ENUM, offsetof(kz_ticket, priority), priorities, 0},
    {"status", T_ENUM, offsetof(kz_ticket, status), ticket_statuses, 0},
    {"kind", T_ENUM, offsetof(kz_ticket, kind), ticket_kinds, 0},
    {"tags", T_TAGS, offsetof(kz_ticket, tags), NULL, offsetof(kz_ticket, n_tags)},
};
static const field_def subscription_fields[] = {
    {"id", T_STR, offsetof(kz_subscription, id), NULL, 0},
    {"account_id", T_STR, offsetof(kz_subscription, account_id), NULL, 0},
    {"plan", T_STR, offsetof(kz_subscription, plan), NULL, 0},
    {"period_start", T_TIME, offsetof(kz_subscription, period_start), NULL, 0},
    {"period_end", T_TIME, offsetof(kz_subscription, period_end), NULL, 0},
    {"mrr", T_MONEY, offsetof(kz_subscription, mrr_minor), NULL, offsetof(kz_subscription, currency)},
    {"mrr_minor", T_INT, offsetof(kz_subscription, mrr_minor), NULL, 0},
    {"currency", T_STR, offsetof(kz_subscription, currency), NULL, 0},
    {"status", T_ENUM, offsetof(kz_subscription, status), sub_statuses, 0},
};
static const field_def survey_fields[] = {
    {"id", T_STR, offsetof(kz_survey_answer, id), NULL, 0},
    {"account_id", T_STR, offsetof(kz_survey_answer, account_id), NULL, 0},
    {"contact_id", T_STR, offsetof(kz_survey_answer, contact_id), NULL, 0},
    {"time", T_TIME, offsetof(kz_survey_answer, time), NULL, 0},
    {"score", T_DOUBLE, offsetof(kz_survey_answer, score), NULL, 0},
    {"kind", T_ENUM, offsetof(kz_survey_answer, kind), survey_kinds, 0},
    {"comment", T_STR, offsetof(kz_survey_answer, comment), NULL, 0},
};
static const field_def csm_fields[] = {
    {"id", T_STR, offsetof(kz_csm, id), NULL, 0},
    {"name", T_STR, offsetof(kz_csm, name), NULL, 0},
    {"email", T_STR, offsetof(kz_csm, email), NULL, 0},
    {"team", T_STR, offsetof(kz_csm, team), NULL, 0},
    {"region", T_STR, offsetof(kz_csm, region), NULL, 0},
    {"manager", T_STR, offsetof(kz_csm, manager), NULL, 0},
    {"skills", T_TAGS, offsetof(kz_csm, skills), NULL, offsetof(kz_csm, n_skills)},
    {"high", T_CAPACITY, offsetof(kz_csm, capacity_high), NULL, 0},
    {"low", T_CAPACITY, offsetof(kz_csm, capacity_low), NULL, 0},
    {"tech", T_CAPACITY, offsetof(kz_csm, capacity_tech), NULL, 0},
    {"status", T_ENUM, offsetof(kz_csm, status), csm_statuses, 0},
};

static const char *const account_required[] = {"id", NULL};
static const char *const contact_required[] = {"id", "account_id", NULL};
static const char *const event_required[] = {"account_id", "time", "name", NULL};
static const char *const ticket_required[] = {"id", "account_id", "opened", NULL};
static const char *const subscription_required[] = {"id", "account_id", "period_start", "mrr|mrr_minor", NULL};
static const char *const survey_required[] = {"account_id", "time", "score", "kind", NULL};
static const char *const csm_required[] = {"id", NULL};

static const entity_def entities[] = {
    {KZ_ENTITY_ACCOUNT, "account", account_fields, G_N_ELEMENTS(account_fields), TRUE,
     offsetof(kz_account, traits), offsetof(kz_account, n_traits), offsetof(kz_account, origin), account_required},
    {KZ_ENTITY_CONTACT, "contact", contact_fields, G_N_ELEMENTS(contact_fields), TRUE,
     offsetof(kz_contact, traits), offsetof(kz_contact, n_traits), offsetof(kz_contact, origin), contact_required},
    {KZ_ENTITY_USAGE_EVENT, "usage_event", event_fields, G_N_ELEMENTS(event_fields), TRUE,
     offsetof(kz_usage_event, traits), offsetof(kz_usage_event, n_traits), offsetof(kz_usage_event, origin),
     event_required},
    {KZ_ENTITY_TICKET, "ticket", ticket_fields, G_N_ELEMENTS(ticket_fields), TRUE,
     offsetof(kz_ticket, traits), offsetof(kz_ticket, n_traits), offsetof(kz_ticket, origin), ticket_required},
    {KZ_ENTITY_SUBSCRIPTION, "subscription", subscription_fields, G_N_ELEMENTS(subscription_fields), TRUE,
     offsetof(kz_subscription, traits), offsetof(kz_subscription, n_traits), offsetof(kz_subscription, origin),
     subscription_required},
    {KZ_ENTITY_SURVEY_ANSWER, "survey_answer", survey_fields, G_N_ELEMENTS(survey_fields), FALSE, 0, 0,
     offsetof(kz_survey_answer, origin), survey_required},
    {KZ_ENTITY_CSM, "csm", csm_fields, G_N_ELEMENTS(csm_fields), TRUE, offsetof(kz_csm, traits),
     offsetof(kz_csm, n_traits), offsetof(kz_csm, origin), csm_required},
};

/* ---- presets ------------------------------------------------------------------ */

/* A preset rule: `from` lists alternatives separated by '|'. */
typedef struct {
    const char *entity;
    kz_config_rule_kind kind;
    const char *name, *type, *from, *template_text;
} preset_rule;

/* A preset's condition for an entity: the row makes one only when one of
 * these inputs is non-empty (a report row of an account without
 * contacts makes no contact). */
typedef struct {
    const char *entity, *when;
} preset_when;

/* A Salesforce report export ("Accounts with Contacts" and the like):
 * headers are field labels, prefixed with the object ("Account: Account
 * Name") when the report spans objects. Without an Account ID column the
 * account name is the key; without a Contact ID, the email. */
#define SF_ACCOUNT_KEY "Account: Account ID|Account ID|Account: Account Name|Account Name"
static const preset_rule salesforce[] = {
    {"account", KZ_RULE_FIELD, "id", NULL, SF_ACCOUNT_KEY, NULL},
    {"account", KZ_RULE_FIELD, "name", NULL, "Account: Account Name|Account Name", NULL},
    {"account", KZ_RULE_FIELD, "owner", NULL, "Account: Account Owner|Account Owner", NULL},
    {"account", KZ_RULE_FIELD, "region", NULL, "Account: Billing Country|Billing Country", NULL},
    {"account", KZ_RULE_TRAIT, "type", "string", "Account: Type|Account Type", NULL},
    {"account", KZ_RULE_TRAIT, "industry", "string", "Account: Industry|Industry", NULL},
    {"account", KZ_RULE_TRAIT, "phone", "string", "Account: Phone|Account Phone", NULL},
    {"account", KZ_RULE_TRAIT, "website", "string", "Account: Website|Website", NULL},
    {"contact", KZ_RULE_FIELD, "id", NULL, "Contact: Contact ID|Contact ID|Contact: Email|Email", NULL},
    {"contact", KZ_RULE_FIELD, "account_id", NULL, SF_ACCOUNT_KEY, NULL},
    {"contact", KZ_RULE_FIELD, "name", NULL, NULL,
     "{Contact: First Name|First Name} {Contact: Last Name|Last Name}"},
    {"contact", KZ_RULE_FIELD, "email", NULL, "Contact: Email|Email", NULL},
    {"contact", KZ_RULE_FIELD, "phone", NULL, "Contact: Phone|Phone", NULL},
    {"contact", KZ_RULE_TRAIT, "title", "string", "Contact: Title|Title", NULL},
};
static const preset_when salesforce_when[] = {
    {"contact", "Contact: Contact ID|Contact ID|Contact: Email|Email|Contact: First Name|First Name|"
                "Contact: Last Name|Last Name"},
};
// clang-format on

/* ---- compiled maps ------------------------------------------------------------- */

typedef struct {
    char **alts; /* input field names, first present wins */
    int index;   /* in the current row layout, or -1 */
} input_ref;

typedef struct {
    char *literal; /* NULL for a placeholder */
    input_ref ref;
    gboolean line; /* {#line} */
} segment;

typedef enum { SRC_FROM, SRC_TEMPLATE, SRC_VALUE, SRC_PREFIX } source_kind;

typedef struct {
    kz_config_rule_kind kind;
    const field_def *field; /* KZ_RULE_FIELD */
    char *trait_name;
    guint trait_type; /* enum kz_value_type */
    source_kind src;
    input_ref from;
    GArray *segments; /* segment */
    char *label;      /* how reasons name the input: the column or the template */
    char *value, *format, *dflt, *sep;
    char **vmap;  /* from, to, ..., NULL */
    GArray *hits; /* SRC_PREFIX: int indices in the row */
} rule;

typedef struct {
    const entity_def *def;
    GPtrArray *rules; /* rule* */
    input_ref *when;  /* one per alternative: the row needs one non-empty; NULL = every row */
    guint n_when;
} map;

struct kz_mapping {
    GPtrArray *maps;         /* map* */
    GPtrArray *layout;       /* the name pointers of the last resolved row */
    gboolean layout_valid;   /* FALSE: resolve the next row whatever its pointers */
    GPtrArray *scratch;      /* strings made for the current row */
    GArray *traits;          /* kz_trait, per convert */
    GPtrArray *tags;         /* char*, per convert */
    GPtrArray *prefix_names; /* char*, names of prefix traits, per row */
};

static void rule_free(rule *r)
{
    g_strfreev(r->from.alts);
    if (r->segments != NULL) {
        for (guint i = 0; i < r->segments->len; i++) {
            segment *s = &g_array_index(r->segments, segment, i);
            g_free(s->literal);
            g_strfreev(s->ref.alts);
        }
        g_array_unref(r->segments);
    }
    g_free(r->trait_name);
    g_free(r->label);
    g_free(r->value);
    g_free(r->format);
    g_free(r->dflt);
    g_free(r->sep);
    g_strfreev(r->vmap);
    if (r->hits != NULL)
        g_array_unref(r->hits);
    g_free(r);
}

static void map_free(map *m)
{
    for (guint i = 0; i < m->n_when; i++)
        g_strfreev(m->when[i].alts);
    g_free(m->when);
    g_ptr_array_unref(m->rules);
    g_free(m);
}

void kz_mapping_free(kz_mapping *m)
{
    if (m == NULL)
        return;
    g_ptr_array_unref(m->maps);
    g_ptr_array_unref(m->layout);
    g_ptr_array_unref(m->scratch);
    g_array_unref(m->traits);
    g_ptr_array_unref(m->tags);
    g_ptr_array_unref(m->prefix_names);
    g_free(m);
}

guint kz_mapping_count(const kz_mapping *m)
{
    return m->maps->len;
}

guint kz_mapping_entity(const kz_mapping *m, guint i)
{
    return ((const map *)m->maps->pdata[i])->def->entity;
}

static const entity_def *find_entity(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(entities); i++)
        if (strcmp(entities[i].name, name) == 0)
            return &entities[i];
    return NULL;
}

static const field_def *find_field(const entity_def *def, const char *name)
{
    for (gsize i = 0; i < def->n_fields; i++)
        if (strcmp(def->fields[i].name, name) == 0)
            return &def->fields[i];
    return NULL;
}

static char *field_list(const entity_def *def)
{
    GString *s = g_string_new(NULL);
    for (gsize i = 0; i < def->n_fields; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "", def->fields[i].name);
    return g_string_free(s, FALSE);
}

static gboolean valid_time_format(const char *format)
{
    return format == NULL || strcmp(format, "iso8601") == 0 || strcmp(format, "epoch") == 0 ||
           strcmp(format, "epoch_ms") == 0 || strcmp(format, "epoch_us") == 0 || strchr(format, '%') != NULL;
}

/* "{First Name|Given Name} {Last Name}": literals and placeholders; "{{"
 * and "}}" are literal braces; {#line} is the line the row starts on. */
static GArray *parse_template(const char *text, char **error)
{
    GArray *segs = g_array_new(FALSE, TRUE, sizeof(segment));
    GString *lit = g_string_new(NULL);
    const char *p = text;
    while (*p != '\0') {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            g_string_append_c(lit, p[0]);
            p += 2;
        } else if (p[0] == '}') {
            *error = g_strdup_printf("template '%s': '}' at character %ld closes nothing (write }} for a brace)", text,
                                     (long)(p - text) + 1);
            break;
        } else if (p[0] == '{') {
            const char *end = strchr(p, '}');
            if (end == NULL || end == p + 1) {
                *error = g_strdup_printf("template '%s': '{' at character %ld %s", text, (long)(p - text) + 1,
                                         end == NULL ? "is not closed" : "names no field");
                break;
            }
            if (lit->len > 0) {
                segment s = {.literal = g_strdup(lit->str)};
                g_array_append_val(segs, s);
                g_string_truncate(lit, 0);
            }
            g_autofree char *inner = g_strndup(p + 1, (gsize)(end - p - 1));
            segment s = {.ref = {.index = -1}};
            if (strcmp(inner, "#line") == 0)
                s.line = TRUE;
            else
                s.ref.alts = g_strsplit(inner, "|", -1);
            g_array_append_val(segs, s);
            p = end + 1;
        } else {
            g_string_append_c(lit, *p++);
        }
    }
    if (lit->len > 0) {
        segment s = {.literal = g_strdup(lit->str)};
        g_array_append_val(segs, s);
    }
    g_string_free(lit, TRUE);
    return segs;
}

static guint trait_type_of(const char *type)
{
    static const char *const names[] = {"null", "string", "int", "double", "bool", "time"};
    for (guint i = 1; i < G_N_ELEMENTS(names); i++)
        if (g_strcmp0(type, names[i]) == 0)
            return i;
    return 0;
}

/* Builds one compiled rule; NULL after an error. */
static rule *compile_rule(const kz_config *cfg, const entity_def *def, const kz_config_rule *cr, char **from_alts,
                          GPtrArray *errors)
{
    rule *r = g_new0(rule, 1);
    r->kind = cr->kind;
    r->from.index = -1;
    gboolean is_time = FALSE, is_tags = FALSE;
    if (cr->kind == KZ_RULE_FIELD) {
        r->field = find_field(def, cr->name);
        if (r->field == NULL) {
            g_autofree char *known = field_list(def);
            kz_config_error(errors, cfg, cr->line, "<field name=\"%s\">: %s has no such field (fields: %s)", cr->name,
                            def->name, known);
            rule_free(r);
            return NULL;
        }
        is_time = r->field->type == T_TIME;
        is_tags = r->field->type == T_TAGS;
    } else {
        if (!def->has_traits) {
            kz_config_error(errors, cfg, cr->line, "a %s has no traits", def->name);
            rule_free(r);
            return NULL;
        }
        r->trait_name = g_strdup(cr->name);
        r->trait_type = cr->kind == KZ_RULE_TRAIT ? trait_type_of(cr->type) : KZ_VALUE_STRING;
        is_time = r->trait_type == KZ_VALUE_TIME;
    }
    if (cr->kind == KZ_RULE_TRAITS_PREFIX) {
        r->src = SRC_PREFIX;
        r->hits = g_array_new(FALSE, FALSE, sizeof(int));
    } else if (from_alts != NULL || cr->from != NULL) {
        r->src = SRC_FROM;
        char *single[] = {cr->from, NULL};
        r->from.alts = g_strdupv(from_alts != NULL ? from_alts : single);
        r->label = g_strjoinv("|", r->from.alts);
    } else if (cr->template_text != NULL) {
        r->src = SRC_TEMPLATE;
        char *error = NULL;
        r->segments = parse_template(cr->template_text, &error);
        r->label = g_strdup(cr->template_text);
        if (error != NULL) {
            kz_config_error(errors, cfg, cr->line, "%s", error);
            g_free(error);
            rule_free(r);
            return NULL;
        }
    } else {
        r->src = SRC_VALUE;
        r->value = g_strdup(cr->value != NULL ? cr->value : "");
        r->label = g_strdup("value");
    }
    const char *what = cr->kind == KZ_RULE_FIELD ? "field" : "trait";
    if (cr->format != NULL && (!is_time || !valid_time_format(cr->format))) {
        kz_config_error(errors, cfg, cr->line,
                        is_time ? "<%s name=\"%s\">: format '%s' is none of iso8601, epoch, epoch_ms, epoch_us or a "
                                  "strptime pattern with %%"
                                : "<%s name=\"%s\">: format '%s' applies only to times",
                        what, cr->name, cr->format);
        rule_free(r);
        return NULL;
    }
    if (cr->separator != NULL && !is_tags) {
        kz_config_error(errors, cfg, cr->line, "<%s name=\"%s\">: separator applies only to tags", what, cr->name);
        rule_free(r);
        return NULL;
    }
    r->format = g_strdup(cr->format);
    r->dflt = g_strdup(cr->default_value);
    r->sep = g_strdup(cr->separator != NULL ? cr->separator : ",");
    if (cr->values != NULL && cr->values->len > 0) {
        r->vmap = g_new0(char *, cr->values->len + 1);
        for (guint i = 0; i < cr->values->len; i++)
            r->vmap[i] = g_strdup(cr->values->pdata[i]);
    }
    return r;
}

/* Same target: a user rule replaces the preset's rule for that field or trait. */
static gboolean same_target(const rule *a, const rule *b)
{
    if (a->kind != b->kind)
        return FALSE;
    if (a->kind == KZ_RULE_FIELD)
        return a->field == b->field;
    return g_strcmp0(a->trait_name, b->trait_name) == 0;
}

static void add_rule(map *m, rule *r)
{
    for (guint i = 0; i < m->rules->len; i++)
        if (same_target(m->rules->pdata[i], r)) {
            rule_free(m->rules->pdata[i]);
            m->rules->pdata[i] = r;
            return;
        }
    g_ptr_array_add(m->rules, r);
}

static void set_when(map *m, const char *when)
{
    for (guint i = 0; i < m->n_when; i++)
        g_strfreev(m->when[i].alts);
    g_free(m->when);
    g_auto(GStrv) alts = g_strsplit(when, "|", -1);
    m->n_when = g_strv_length(alts);
    m->when = g_new0(input_ref, m->n_when);
    for (guint i = 0; i < m->n_when; i++) {
        char *one[] = {alts[i], NULL};
        m->when[i] = (input_ref){g_strdupv(one), -1};
    }
}

static void add_preset(const kz_config *cfg, map *m, const char *preset, guint line, GPtrArray *errors)
{
    if (strcmp(preset, "kizuna") == 0) {
        /* Kizuna's own export (kizuna accounts --csv): columns named as
         * the fields, traits as "trait.NAME:TYPE" */
        for (gsize i = 0; i < m->def->n_fields; i++) {
            const field_def *f = &m->def->fields[i];
            if (f->type == T_MONEY)
                continue; /* the export writes minor units */
            kz_config_rule cr = {.kind = KZ_RULE_FIELD, .name = (char *)f->name, .from = (char *)f->name};
            rule *r = compile_rule(cfg, m->def, &cr, NULL, errors);
            if (r != NULL)
                add_rule(m, r);
        }
        if (m->def->has_traits) {
            kz_config_rule cr = {.kind = KZ_RULE_TRAITS_PREFIX, .name = "trait."};
            rule *r = compile_rule(cfg, m->def, &cr, NULL, errors);
            if (r != NULL)
                add_rule(m, r);
        }
        return;
    }
    gboolean any = FALSE;
    for (gsize i = 0; i < G_N_ELEMENTS(salesforce_when); i++)
        if (strcmp(salesforce_when[i].entity, m->def->name) == 0)
            set_when(m, salesforce_when[i].when);
    for (gsize i = 0; i < G_N_ELEMENTS(salesforce); i++) {
        const preset_rule *p = &salesforce[i];
        if (strcmp(p->entity, m->def->name) != 0)
            continue;
        any = TRUE;
        kz_config_rule cr = {.kind = p->kind,
                             .name = (char *)p->name,
                             .type = (char *)p->type,
                             .template_text = (char *)p->template_text};
        g_auto(GStrv) alts = p->from != NULL ? g_strsplit(p->from, "|", -1) : NULL;
        rule *r = compile_rule(cfg, m->def, &cr, alts, errors);
        if (r != NULL)
            add_rule(m, r);
    }
    if (!any)
        kz_config_error(errors, cfg, line, "the %s preset makes no %s (it makes accounts and contacts)", preset,
                        m->def->name);
}

static gboolean fills(const map *m, const char *field)
{
    for (guint i = 0; i < m->rules->len; i++) {
        const rule *r = m->rules->pdata[i];
        if (r->kind == KZ_RULE_FIELD && strcmp(r->field->name, field) == 0)
            return TRUE;
    }
    return FALSE;
}

kz_mapping *kz_mapping_compile(const kz_config *cfg, const kz_config_instance *inst, GPtrArray *errors)
{
    guint before = errors->len;
    kz_mapping *mapping = g_new0(kz_mapping, 1);
    mapping->maps = g_ptr_array_new_with_free_func((GDestroyNotify)map_free);
    mapping->layout = g_ptr_array_new();
    mapping->scratch = g_ptr_array_new_with_free_func(g_free);
    mapping->traits = g_array_new(FALSE, TRUE, sizeof(kz_trait));
    mapping->tags = g_ptr_array_new();
    mapping->prefix_names = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; inst->maps != NULL && i < inst->maps->len; i++) {
        const kz_config_map *cm = inst->maps->pdata[i];
        map *m = g_new0(map, 1);
        m->def = find_entity(cm->entity); /* the schema admits only known entities */
        m->rules = g_ptr_array_new_with_free_func((GDestroyNotify)rule_free);
        g_ptr_array_add(mapping->maps, m);
        if (cm->preset != NULL)
            add_preset(cfg, m, cm->preset, cm->line, errors);
        if (cm->when != NULL)
            set_when(m, cm->when);
        guint map_errors = errors->len;
        for (guint j = 0; j < cm->rules->len; j++) {
            rule *r = compile_rule(cfg, m->def, cm->rules->pdata[j], NULL, errors);
            if (r != NULL)
                add_rule(m, r);
        }
        /* what is required: only once the rules themselves are right */
        for (const char *const *req = m->def->required; errors->len == map_errors && *req != NULL; req++) {
            g_auto(GStrv) alts = g_strsplit(*req, "|", -1);
            gboolean ok = FALSE;
            for (char **a = alts; *a != NULL && !ok; a++)
                ok = fills(m, *a);
            if (!ok)
                kz_config_error(errors, cfg, cm->line, "<map entity=\"%s\">: nothing fills %s (required)", cm->entity,
                                *req);
        }
    }
    if (errors->len > before) {
        kz_mapping_free(mapping);
        return NULL;
    }
    return mapping;
}

/* ---- rows ------------------------------------------------------------------------- */

static int find_input(const kz_row *row, char *const *alts)
{
    for (char *const *a = alts; *a != NULL; a++)
        for (uint32_t i = 0; i < row->n_fields; i++)
            if (row->fields[i].name != NULL && strcmp(row->fields[i].name, *a) == 0)
                return (int)i;
    return -1;
}

static gboolean same_layout(const kz_mapping *m, const kz_row *row)
{
    if (!m->layout_valid || m->layout->len != row->n_fields)
        return FALSE;
    for (uint32_t i = 0; i < row->n_fields; i++)
        if (m->layout->pdata[i] != (gpointer)row->fields[i].name)
            return FALSE;
    return TRUE;
}

static void resolve(kz_mapping *m, const kz_row *row)
{
    g_ptr_array_set_size(m->layout, 0);
    m->layout_valid = TRUE;
    for (uint32_t i = 0; i < row->n_fields; i++)
        g_ptr_array_add(m->layout, (gpointer)row->fields[i].name);
    for (guint i = 0; i < m->maps->len; i++) {
        const map *mp = m->maps->pdata[i];
        for (guint w = 0; w < mp->n_when; w++)
            mp->when[w].index = find_input(row, mp->when[w].alts);
        for (guint j = 0; j < mp->rules->len; j++) {
            rule *r = mp->rules->pdata[j];
            if (r->src == SRC_FROM)
                r->from.index = find_input(row, r->from.alts);
            for (guint k = 0; r->segments != NULL && k < r->segments->len; k++) {
                segment *s = &g_array_index(r->segments, segment, k);
                if (s->ref.alts != NULL)
                    s->ref.index = find_input(row, s->ref.alts);
            }
            if (r->src == SRC_PREFIX) {
                g_array_set_size(r->hits, 0);
                gsize plen = strlen(r->trait_name);
                for (uint32_t f = 0; f < row->n_fields; f++) {
                    const char *name = row->fields[f].name;
                    if (name != NULL && strncmp(name, r->trait_name, plen) == 0 && name[plen] != '\0') {
                        int idx = (int)f;
                        g_array_append_val(r->hits, idx);
                    }
                }
            }
        }
    }
}

void kz_mapping_forget_layout(kz_mapping *m)
{
    g_ptr_array_set_size(m->layout, 0);
    m->layout_valid = FALSE;
}

void kz_mapping_begin_row(kz_mapping *m, const kz_row *row)
{
    g_ptr_array_set_size(m->scratch, 0);
    if (!same_layout(m, row))
        resolve(m, row);
}

/* ---- converting values -------------------------------------------------------------- */

static gboolean parse_int64(const char *s, gint64 *out)
{
    while (g_ascii_isspace(*s))
        s++;
    if (*s == '\0')
        return FALSE;
    char *end = NULL;
    errno = 0;
    gint64 v = g_ascii_strtoll(s, &end, 10);
    while (end != NULL && g_ascii_isspace(*end))
        end++;
    if (errno != 0 || end == NULL || *end != '\0' || v == KZ_INT_NONE)
        return FALSE;
    *out = v;
    return TRUE;
}

static gboolean parse_double(const char *s, double *out)
{
    while (g_ascii_isspace(*s))
        s++;
    if (*s == '\0')
        return FALSE;
    char *end = NULL;
    double v = g_ascii_strtod(s, &end);
    while (end != NULL && g_ascii_isspace(*end))
        end++;
    if (end == NULL || *end != '\0' || !isfinite(v))
        return FALSE;
    *out = v;
    return TRUE;
}

static gboolean parse_bool(const char *s, gint32 *out)
{
    static const char *const yes[] = {"true", "t", "yes", "y", "1"};
    static const char *const no[] = {"false", "f", "no", "n", "0"};
    g_autofree char *t = g_strstrip(g_strdup(s));
    for (gsize i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (g_ascii_strcasecmp(t, yes[i]) == 0) {
            *out = 1;
            return TRUE;
        }
        if (g_ascii_strcasecmp(t, no[i]) == 0) {
            *out = 0;
            return TRUE;
        }
    }
    return FALSE;
}

/* "1234.5" in a 2-digit currency -> 123450. No thousands separators, no
 * more decimals than the currency has: a value that would be rounded is
 * refused rather than changed. */
static gboolean parse_money(const char *s, int digits, gint64 *out, char **why)
{
    while (g_ascii_isspace(*s))
        s++;
    gboolean neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    gint64 v = 0;
    int frac = -1;
    gboolean any = FALSE;
    for (; *s != '\0' && !g_ascii_isspace(*s); s++) {
        if (*s == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (!g_ascii_isdigit(*s))
            return FALSE;
        if (frac >= 0 && ++frac > digits) {
            *why = g_strdup_printf("has more than %d decimal%s for its currency", digits, digits == 1 ? "" : "s");
            return FALSE;
        }
        if (v > (G_MAXINT64 - 9) / 10)
            return FALSE;
        v = v * 10 + (*s - '0');
        any = TRUE;
    }
    while (g_ascii_isspace(*s))
        s++;
    if (!any || *s != '\0')
        return FALSE;
    for (int i = MAX(frac, 0); i < digits; i++) {
        if (v > G_MAXINT64 / 10)
            return FALSE;
        v *= 10;
    }
    *out = neg ? -v : v;
    return TRUE;
}

gboolean kz_mapping_parse_time(const char *text, const char *format, gint64 *out_us)
{
    if (format == NULL || strcmp(format, "iso8601") == 0)
        return kz_time_parse(text, out_us);
    if (strcmp(format, "epoch") == 0) {
        double s;
        if (!parse_double(text, &s) || fabs(s) > 9.2e12)
            return FALSE;
        *out_us = (gint64)llround(s * 1e6);
        return TRUE;
    }
    if (strcmp(format, "epoch_ms") == 0 || strcmp(format, "epoch_us") == 0) {
        gint64 v;
        if (!parse_int64(text, &v))
            return FALSE;
        gboolean ms = format[6] == 'm';
        if (ms && (v > G_MAXINT64 / 1000 || v < -(G_MAXINT64 / 1000)))
            return FALSE;
        *out_us = ms ? v * 1000 : v;
        return TRUE;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(text, format, &tm);
    while (end != NULL && g_ascii_isspace(*end))
        end++;
    if (end == NULL || *end != '\0')
        return FALSE;
    long gmtoff = tm.tm_gmtoff;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_yday == 364))
        return FALSE;
    *out_us = ((gint64)t - gmtoff) * G_USEC_PER_SEC;
    return TRUE;
}

/* Matches an enum name: case, spaces and dashes do not matter. */
static gboolean parse_enum(const char *s, const char *const *names, guint32 *out)
{
    g_autofree char *t = g_ascii_strdown(s, -1);
    g_strstrip(t);
    for (char *p = t; *p != '\0'; p++)
        if (*p == ' ' || *p == '-')
            *p = '_';
    for (gsize i = 0; i < G_N_ELEMENTS(enum_aliases); i++)
        if (strcmp(t, enum_aliases[i][0]) == 0) {
            g_free(t);
            t = g_strdup(enum_aliases[i][1]);
            break;
        }
    for (guint32 v = 1; names[v] != NULL; v++)
        if (strcmp(t, names[v]) == 0) {
            *out = v;
            return TRUE;
        }
    return FALSE;
}

static char *enum_list(const char *const *names)
{
    GString *s = g_string_new(NULL);
    for (guint v = 1; names[v] != NULL; v++)
        g_string_append_printf(s, "%s%s", v > 1 ? ", " : "", names[v]);
    return g_string_free(s, FALSE);
}

/* The input value of a rule for this row (NULL = absent); *column is
 * where it came from. */
static const char *rule_input(kz_mapping *m, const rule *r, const kz_row *row, guint32 *column)
{
    *column = 0;
    switch (r->src) {
    case SRC_FROM:
        if (r->from.index < 0)
            return NULL;
        *column = row->fields[r->from.index].column;
        return row->fields[r->from.index].value;
    case SRC_VALUE: return r->value;
    case SRC_TEMPLATE: {
        GString *s = g_string_new(NULL);
        gboolean any = FALSE;
        for (guint k = 0; k < r->segments->len; k++) {
            const segment *seg = &g_array_index(r->segments, segment, k);
            if (seg->literal != NULL) {
                g_string_append(s, seg->literal);
            } else if (seg->line) {
                g_string_append_printf(s, "%u", row->origin.line);
                any = TRUE;
            } else if (seg->ref.index >= 0 && row->fields[seg->ref.index].value != NULL &&
                       row->fields[seg->ref.index].value[0] != '\0') {
                g_string_append(s, row->fields[seg->ref.index].value);
                if (*column == 0)
                    *column = row->fields[seg->ref.index].column;
                any = TRUE;
            }
        }
        if (!any) { /* every placeholder empty: the field is absent, not the literals */
            g_string_free(s, TRUE);
            return NULL;
        }
        char *text = g_strstrip(g_string_free(s, FALSE));
        g_ptr_array_add(m->scratch, text);
        return text;
    }
    case SRC_PREFIX: break;
    }
    return NULL;
}

static const char *apply_vmap(const rule *r, const char *value)
{
    for (char **p = r->vmap; p != NULL && p[0] != NULL && p[1] != NULL; p += 2)
        if (strcmp(p[0], value) == 0)
            return p[1];
    return value;
}

/* Reasons show the offending value bounded and as valid UTF-8. */
static char *shown(const char *value)
{
    gsize n = strlen(value);
    g_autofree char *valid = g_utf8_make_valid(value, (gssize)MIN(n, (gsize)40));
    return n > 40 ? g_strconcat(valid, "…", NULL) : g_steal_pointer(&valid);
}

char *kz_text_problem(const char *value)
{
    gsize n = strlen(value);
    if (n > KZ_MAX_FIELD_BYTES)
        return g_strdup_printf("is over-long (%zu bytes, at most %d)", n, KZ_MAX_FIELD_BYTES);
    const char *bad = NULL;
    if (!g_utf8_validate(value, (gssize)n, &bad))
        return g_strdup_printf("is not valid UTF-8 (byte %zu)", (gsize)(bad - value) + 1);
    return NULL;
}

static gboolean check_string(const char *value, char **why)
{
    *why = kz_text_problem(value);
    return *why == NULL;
}

#define AT(rec, off, type) (*(type *)((char *)(rec) + (off)))

/* Converts `value` into the rule's typed target (a record field or a
 * trait value). FALSE with *why set ("is not a number") on failure. */
static gboolean convert_value(kz_mapping *m, const rule *r, const char *value, void *rec, kz_value *trait, char **why)
{
    if (r->kind != KZ_RULE_FIELD) {
        trait->type = r->trait_type;
        switch (r->trait_type) {
        case KZ_VALUE_INT:
            if (parse_int64(value, &trait->u.i))
                return TRUE;
            *why = g_strdup("is not a whole number");
            return FALSE;
        case KZ_VALUE_DOUBLE:
            if (parse_double(value, &trait->u.d))
                return TRUE;
            *why = g_strdup("is not a number");
            return FALSE;
        case KZ_VALUE_BOOL:
            if (parse_bool(value, &trait->u.b))
                return TRUE;
            *why = g_strdup("is not true/false, yes/no or 1/0 (map other values with <value from= to=>)");
            return FALSE;
        case KZ_VALUE_TIME:
            if (kz_mapping_parse_time(value, r->format, &trait->u.t))
                return TRUE;
            *why = g_strdup_printf("is not a time in the format %s", r->format != NULL ? r->format : "iso8601");
            return FALSE;
        default:
            if (!check_string(value, why))
                return FALSE;
            trait->u.s = value;
            return TRUE;
        }
    }
    const field_def *f = r->field;
    switch (f->type) {
    case T_STR:
        if (!check_string(value, why))
            return FALSE;
        AT(rec, f->off, const char *) = value;
        return TRUE;
    case T_TIME:
        if (kz_mapping_parse_time(value, r->format, &AT(rec, f->off, gint64)))
            return TRUE;
        *why = g_strdup_printf("is not a time in the format %s", r->format != NULL ? r->format : "iso8601");
        return FALSE;
    case T_DOUBLE:
        if (parse_double(value, &AT(rec, f->off, double)))
            return TRUE;
        *why = g_strdup("is not a number");
        return FALSE;
    case T_INT:
        if (parse_int64(value, &AT(rec, f->off, gint64)))
            return TRUE;
        *why = g_strdup("is not a whole number");
        return FALSE;
    case T_CAPACITY: {
        gint64 *cap = &AT(rec, f->off, gint64);
        if (g_ascii_strcasecmp(value, "unlimited") == 0) {
            *cap = KZ_CSM_UNLIMITED;
            return TRUE;
        }
        if (parse_int64(value, cap) && *cap >= 0)
            return TRUE;
        *why = g_strdup("is not a capacity (a whole number of accounts, or unlimited)");
        return FALSE;
    }
    case T_MONEY: {
        const char *currency = AT(rec, f->aux_off, const char *);
        if (parse_money(value, kz_currency_digits(currency), &AT(rec, f->off, gint64), why))
            return TRUE;
        if (*why == NULL)
            *why = g_strdup("is not an amount such as 1234.50");
        return FALSE;
    }
    case T_ENUM: {
        if (parse_enum(value, f->enums, &AT(rec, f->off, guint32)))
            return TRUE;
        g_autofree char *names = enum_list(f->enums);
        *why = g_strdup_printf("is none of %s (map other values with <value from= to=>)", names);
        return FALSE;
    }
    case T_TAGS: {
        g_ptr_array_set_size(m->tags, 0);
        char **parts = g_strsplit(value, r->sep, -1);
        for (char **p = parts; *p != NULL; p++) {
            g_strstrip(*p);
            if (**p == '\0' || !check_string(*p, why)) {
                g_free(*p);
                if (*why != NULL) {
                    for (char **q = p + 1; *q != NULL; q++)
                        g_free(*q);
                    g_free(parts);
                    return FALSE;
                }
                continue;
            }
            g_ptr_array_add(m->scratch, *p);
            g_ptr_array_add(m->tags, *p);
        }
        g_free(parts);
        AT(rec, f->off, const char *const *) = (const char *const *)m->tags->pdata;
        AT(rec, f->aux_off, uint32_t) = m->tags->len;
        return TRUE;
    }
    }
    return FALSE;
}

static void init_record(const entity_def *def, void *rec, const kz_row *row)
{
    for (gsize i = 0; i < def->n_fields; i++) {
        const field_def *f = &def->fields[i];
        if (f->type == T_TIME || f->type == T_INT || f->type == T_MONEY || f->type == T_CAPACITY)
            AT(rec, f->off, gint64) = KZ_INT_NONE;
        else if (f->type == T_DOUBLE)
            AT(rec, f->off, double) = NAN;
    }
    AT(rec, def->origin_off, kz_origin) = row->origin;
}

static gboolean fail(const rule *r, const char *value, guint32 column, const char *why, char **reason,
                     guint32 *column_out)
{
    const char *what = r->kind == KZ_RULE_FIELD ? r->field->name : r->trait_name;
    g_autofree char *v = shown(value);
    if (column > 0)
        *reason = g_strdup_printf("column %u (%s): %s '%s' %s", column, r->label, what, v, why);
    else
        *reason = g_strdup_printf("%s (%s): '%s' %s", what, r->label, v, why);
    *column_out = column;
    return FALSE;
}

/* One rule: input, default, value map, type. */
static gboolean apply_rule(kz_mapping *m, const rule *r, const kz_row *row, void *rec, char **reason, guint32 *column)
{
    guint32 col = 0;
    const char *value = rule_input(m, r, row, &col);
    if (value == NULL || value[0] == '\0')
        value = r->dflt;
    if (value == NULL)
        return TRUE; /* absent: the stored value stays */
    value = apply_vmap(r, value);
    if (value[0] == '\0')
        return TRUE; /* mapped to nothing */
    kz_trait trait = {.name = r->trait_name};
    g_autofree char *why = NULL;
    if (!convert_value(m, r, value, rec, &trait.value, &why))
        return fail(r, value, col, why, reason, column);
    if (r->kind != KZ_RULE_FIELD)
        g_array_append_val(m->traits, trait);
    return TRUE;
}

/* Traits from every input field under a prefix: "trait.tier:string". */
static gboolean apply_prefix(kz_mapping *m, const rule *r, const kz_row *row, char **reason, guint32 *column)
{
    gsize plen = strlen(r->trait_name);
    for (guint i = 0; i < r->hits->len; i++) {
        const kz_field *f = &row->fields[g_array_index(r->hits, int, i)];
        if (f->value == NULL || f->value[0] == '\0')
            continue;
        const char *name = f->name + plen;
        const char *colon = strrchr(name, ':');
        guint type = colon != NULL ? trait_type_of(colon + 1) : KZ_VALUE_STRING;
        char *tname = g_strndup(name, colon != NULL && type != 0 ? (gsize)(colon - name) : strlen(name));
        g_ptr_array_add(m->scratch, tname);
        rule one = {.kind = KZ_RULE_TRAIT,
                    .trait_name = tname,
                    .trait_type = type != 0 ? type : KZ_VALUE_STRING,
                    .label = (char *)f->name};
        kz_trait trait = {.name = tname};
        g_autofree char *why = NULL;
        if (!convert_value(m, &one, f->value, NULL, &trait.value, &why))
            return fail(&one, f->value, f->column, why, reason, column);
        g_array_append_val(m->traits, trait);
    }
    return TRUE;
}

gboolean kz_mapping_applies(const kz_mapping *m, guint i, const kz_row *row)
{
    const map *mp = m->maps->pdata[i];
    if (mp->n_when == 0)
        return TRUE;
    for (guint w = 0; w < mp->n_when; w++) {
        int idx = mp->when[w].index;
        if (idx >= 0 && row->fields[idx].value != NULL && row->fields[idx].value[0] != '\0')
            return TRUE;
    }
    return FALSE;
}

gboolean kz_mapping_convert(kz_mapping *m, guint i, const kz_row *row, void *record, char **reason, guint32 *column)
{
    const map *mp = m->maps->pdata[i];
    const entity_def *def = mp->def;
    init_record(def, record, row);
    g_array_set_size(m->traits, 0);
    *column = 0;
    /* money last: its scale depends on the record's currency */
    for (int pass = 0; pass < 2; pass++)
        for (guint j = 0; j < mp->rules->len; j++) {
            const rule *r = mp->rules->pdata[j];
            gboolean money = r->kind == KZ_RULE_FIELD && r->field->type == T_MONEY;
            if (money != (pass == 1))
                continue;
            gboolean ok = r->src == SRC_PREFIX ? apply_prefix(m, r, row, reason, column)
                                               : apply_rule(m, r, row, record, reason, column);
            if (!ok)
                return FALSE;
        }
    if (def->has_traits && m->traits->len > 0) {
        AT(record, def->traits_off, const kz_trait *) = (const kz_trait *)m->traits->data;
        AT(record, def->n_traits_off, uint32_t) = m->traits->len;
    }
    return TRUE;
}
