/*
 * core/play/evaluate.c — the playbooks evaluated into the outbox
 * (playbook.h, docs/playbooks.md).
 *
 * One evaluation is one transaction: the health of the latest score run
 * goes into temp.pb_health, account_grades learns which accounts changed
 * grade, and then each playbook is one SELECT over the accounts whose
 * trigger and who= hold. Each such account and trigger occurrence makes
 * one touch per recipient, rendered here and inserted with its
 * idempotency key; a key already in the outbox is left alone, so
 * evaluating again (after a crash, or on the next run) adds nothing for an
 * occurrence already handled.
 */
#include "playbook.h"

#include "errors.h"
#include "instance.h"
#include "play_internal.h"
#include "score/measures.h"
#include "values.h"

#include <json-glib/json-glib.h>
#include <kizuna/channel.h>
#include <kizuna/orgmodel.h>
#include <math.h>
#include <string.h>

#define KZ_KEY_MAX 128 /* kz_touch.idempotency_key */

void kz_play_summary_clear(kz_play_summary *s)
{
    g_free(s->per_playbook);
    memset(s, 0, sizeof *s);
}

/* ---- the health the playbooks see -------------------------------------- */

/* Reads the vals BLOB of one column of `run` into a new buffer of `n`
 * elements of `width` bytes; NULL when the run lacks it. */
static void *run_column(sqlite3 *db, gint64 run, const char *what, guint n, gsize width)
{
    sqlite3_stmt *st = NULL;
    void *out = NULL;
    if (sqlite3_prepare_v2(db, "SELECT vals FROM score_columns WHERE run = ?1 AND scorer = '' AND what = ?2", -1, &st,
                           NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, what, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && (gsize)sqlite3_column_bytes(st, 0) == n * width) {
        out = g_malloc(MAX(n * width, 1));
        memcpy(out, sqlite3_column_blob(st, 0), n * width);
    }
    sqlite3_finalize(st);
    return out;
}

typedef struct run_info {
    gint64 id, as_of, roster;
    char *grades; /* JSON array */
} run_info;

static gboolean find_run(sqlite3 *db, const char *where, gint64 a, gint64 b, run_info *out)
{
    g_autofree char *sql = g_strdup_printf("SELECT id, as_of_us, roster, grades FROM score_runs WHERE %s", where);
    sqlite3_stmt *st = NULL;
    gboolean found = FALSE;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return FALSE;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    if (sqlite3_step(st) == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        out->as_of = sqlite3_column_int64(st, 1);
        out->roster = sqlite3_column_int64(st, 2);
        out->grades = g_strdup((const char *)sqlite3_column_text(st, 3));
        found = TRUE;
    }
    sqlite3_finalize(st);
    return found;
}

/* The longest window of the drop triggers, 0 without one. */
static gint64 drop_window(const kz_config *cfg)
{
    gint64 w = 0;
    for (guint i = 0; i < cfg->playbooks->len; i++) {
        const kz_config_playbook *pb = cfg->playbooks->pdata[i];
        if (pb->trigger == KZ_TRIGGER_DROP)
            w = MAX(w, pb->window_us);
    }
    return w;
}

/* temp.pb_health (account_id, score, grade, before, run_as_of): the health
 * score and grade of the latest score run as of `as_of`, and the score of
 * the run a drop trigger compares with (the newest at least a window
 * older, else the oldest before the latest). Empty without a run. */
static gboolean load_health(sqlite3 *db, const kz_config *cfg, gint64 as_of, gint64 *run_id, GError **error)
{
    if (!kz_sql_exec(db,
                     "DROP TABLE IF EXISTS temp.pb_health;"
                     "CREATE TEMP TABLE pb_health (account_id TEXT PRIMARY KEY NOT NULL, score REAL, grade TEXT,"
                     " before REAL, run_as_of INTEGER NOT NULL)",
                     error))
        return FALSE;
    run_info latest = {0}, older = {0};
    if (cfg->health == NULL ||
        !find_run(db, "as_of_us <= ?1 ORDER BY as_of_us DESC, id DESC LIMIT 1", as_of, 0, &latest)) {
        *run_id = 0;
        return TRUE;
    }
    *run_id = latest.id;
    gint64 window = drop_window(cfg);
    gboolean with_older =
        window > 0 &&
        (find_run(db, "as_of_us <= ?1 - ?2 ORDER BY as_of_us DESC, id DESC LIMIT 1", latest.as_of, window, &older) ||
         find_run(db, "as_of_us < ?1 ORDER BY as_of_us, id LIMIT 1", latest.as_of, 0, &older));
    g_autoptr(kz_roster) roster = kz_roster_load(db, latest.roster, error);
    g_autoptr(kz_roster) older_roster = roster != NULL && with_older ? kz_roster_load(db, older.roster, error) : NULL;
    gboolean ok = roster != NULL && (!with_older || older_roster != NULL);
    g_autofree double *score = ok ? run_column(db, latest.id, "score", roster->n, sizeof(double)) : NULL;
    g_autofree guint8 *grade = ok ? run_column(db, latest.id, "grade", roster->n, 1) : NULL;
    g_autofree double *before =
        ok && with_older ? run_column(db, older.id, "score", older_roster->n, sizeof(double)) : NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonArray *names = NULL;
    if (ok && json_parser_load_from_data(parser, latest.grades, -1, NULL) &&
        JSON_NODE_HOLDS_ARRAY(json_parser_get_root(parser)))
        names = json_node_get_array(json_parser_get_root(parser));
    sqlite3_stmt *ins = NULL;
    if (ok && (score == NULL || grade == NULL || names == NULL)) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "score run %" G_GINT64_FORMAT " lacks its health columns",
                    latest.id);
        ok = FALSE;
    }
    if (ok &&
        sqlite3_prepare_v2(db, "INSERT INTO temp.pb_health VALUES (?1, ?2, ?3, ?4, ?5)", -1, &ins, NULL) != SQLITE_OK)
        ok = kz_sql_fail(db, error, "preparing the playbooks' health");
    for (guint a = 0; ok && a < roster->n; a++) {
        double s[1];
        kz_blob_get_doubles(s, score + a, 1);
        sqlite3_bind_text(ins, 1, roster->ids[a], -1, SQLITE_STATIC);
        if (isfinite(s[0]))
            sqlite3_bind_double(ins, 2, s[0]);
        else
            sqlite3_bind_null(ins, 2);
        if (grade[a] < json_array_get_length(names))
            sqlite3_bind_text(ins, 3, json_array_get_string_element(names, grade[a]), -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(ins, 3);
        gint64 o = before != NULL ? kz_roster_find(older_roster, roster->ids[a]) : -1;
        double b[1] = {NAN};
        if (o >= 0)
            kz_blob_get_doubles(b, before + o, 1);
        if (isfinite(b[0]))
            sqlite3_bind_double(ins, 4, b[0]);
        else
            sqlite3_bind_null(ins, 4);
        sqlite3_bind_int64(ins, 5, latest.as_of);
        if (sqlite3_step(ins) != SQLITE_DONE)
            ok = kz_sql_fail(db, error, "writing the playbooks' health");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    g_free(latest.grades);
    g_free(older.grades);
    /* a grade held since the run that first gave it */
    return ok && kz_sql_exec(db,
                             "INSERT INTO account_grades (account_id, grade, since_us)"
                             " SELECT account_id, grade, run_as_of FROM temp.pb_health WHERE grade IS NOT NULL"
                             " ORDER BY account_id"
                             " ON CONFLICT (account_id) DO UPDATE SET grade = excluded.grade, since_us = "
                             "excluded.since_us WHERE grade != excluded.grade",
                             error);
}

/* ---- one playbook's SELECT --------------------------------------------- */

/* Columns of every playbook's SELECT, then the template measures. */
enum {
    C_ID,
    C_NAME,
    C_REGION,
    C_SEGMENT,
    C_PLAN,
    C_ARR,
    C_CURRENCY,
    C_START,
    C_RENEWAL,
    C_PHASE,
    C_TIER,
    C_OWNER,
    C_SCORE,
    C_GRADE,
    C_OCCURRENCE,
    C_MEASURES
};

static int phase_of(const char *name)
{
    for (int p = KZ_PHASE_ONBOARDING; p <= KZ_PHASE_CHURNED; p++)
        if (strcmp(kz_phase_name(p), name) == 0)
            return p;
    return -1;
}

static int tier_of(const char *name)
{
    for (int t = KZ_TIER_TECH; t <= KZ_TIER_HIGH; t++)
        if (strcmp(kz_tier_name(t), name) == 0)
            return t;
    return -1;
}

/* The trigger as a condition and as the occurrence's date, both SQL. */
static void trigger_sql(const kz_config_playbook *pb, gint64 as_of, GString *cond, GString *occ)
{
    switch (pb->trigger) {
    case KZ_TRIGGER_PHASE:
        g_string_append_printf(cond, "st.phase = %d", phase_of(pb->trigger_value));
        g_string_append(occ, "st.phase_since_us");
        break;
    case KZ_TRIGGER_TIER:
        g_string_append_printf(cond, "st.tier = %d", tier_of(pb->trigger_value));
        g_string_append(occ, "st.tier_since_us");
        break;
    case KZ_TRIGGER_OVERDUE:
        g_string_append(cond, "st.overdue_since_us IS NOT NULL");
        g_string_append(occ, "st.overdue_since_us");
        break;
    case KZ_TRIGGER_GRADE: {
        char *q = sqlite3_mprintf("ph.grade = %Q", pb->trigger_value);
        g_string_append(cond, q);
        sqlite3_free(q);
        g_string_append(occ, "(SELECT since_us FROM account_grades WHERE account_id = a.id)");
        break;
    }
    case KZ_TRIGGER_BEFORE: {
        const char *col =
            strcmp(pb->trigger_value, "contract_start") == 0 ? "a.contract_start_us" : "a.renewal_date_us";
        g_string_append_printf(cond, "%s > %" G_GINT64_FORMAT " AND %s - %" G_GINT64_FORMAT " <= %" G_GINT64_FORMAT,
                               col, as_of, col, pb->days * KZ_DAY_US, as_of);
        g_string_append(occ, col);
        break;
    }
    case KZ_TRIGGER_DROP:
        g_string_append_printf(cond, "ph.before - ph.score >= %.17g", pb->points);
        g_string_append(occ, "ph.run_as_of");
        break;
    default: g_string_append(cond, "0"); g_string_append(occ, "NULL");
    }
}

typedef struct tmpl_scan {
    const kz_account_scope *scope;
    const kz_config *cfg;
    GPtrArray *names; /* measure names the templates read, in first-use order */
} tmpl_scan;

static void scan_measure(const char *name, gpointer data)
{
    tmpl_scan *ts = data;
    if (g_str_has_prefix(name, "measure.") && !g_ptr_array_find_with_equal_func(ts->names, name + 8, g_str_equal, NULL))
        g_ptr_array_add(ts->names, g_strdup(name + 8));
}

/* One playbook, ready to run. */
typedef struct play {
    const kz_config_playbook *pb;
    guint index;           /* in the config */
    kz_expr_sql *who;      /* or NULL */
    GPtrArray *measures;   /* template measure names: columns C_MEASURES.. */
    const char *component; /* of its channel */
    guint32 tiers;         /* the channel's KZ_TIER_MASK bits */
    char *roles_sql;       /* to=ROLES: "'a','b'" */
} play;

static void play_free(play *p)
{
    kz_expr_sql_free(p->who);
    g_ptr_array_unref(p->measures);
    g_free(p->roles_sql);
    g_free(p);
}

static int by_priority(gconstpointer a, gconstpointer b)
{
    const play *x = *(play *const *)a, *y = *(play *const *)b;
    if (x->pb->priority != y->pb->priority)
        return x->pb->priority > y->pb->priority ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* ---- touches ------------------------------------------------------------ */

/* A name and value a template can read; text is what it renders as. */
typedef struct field {
    const char *name;
    char *text; /* NULL: absent (renders empty, sent as null) */
    int type;   /* KZ_VALUE_STRING, _INT or _DOUBLE */
    double d;
} field;

static void field_clear(gpointer p)
{
    g_free(((field *)p)->text);
}

static void put_text(GArray *f, const char *name, const char *text)
{
    field x = {name, g_strdup(text), KZ_VALUE_STRING, 0};
    g_array_append_val(f, x);
}

static void put_column(GArray *f, const char *name, sqlite3_stmt *st, int col)
{
    put_text(f, name, sqlite3_column_type(st, col) == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(st, col));
}

static void put_date(GArray *f, const char *name, sqlite3_stmt *st, int col)
{
    char *text = NULL;
    if (sqlite3_column_type(st, col) != SQLITE_NULL) {
        g_autofree char *iso = kz_time_format(sqlite3_column_int64(st, col));
        text = g_strndup(iso, 10);
    }
    field x = {name, text, KZ_VALUE_STRING, 0};
    g_array_append_val(f, x);
}

static void put_number(GArray *f, const char *name, sqlite3_stmt *st, int col, const char *format)
{
    field x = {name, NULL, KZ_VALUE_DOUBLE, 0};
    if (sqlite3_column_type(st, col) != SQLITE_NULL) {
        x.d = sqlite3_column_double(st, col);
        x.text = x.d == floor(x.d) && fabs(x.d) < 1e15 ? g_strdup_printf("%.0f", x.d) : g_strdup_printf(format, x.d);
    }
    g_array_append_val(f, x);
}

static const field *find_field(const GArray *f, const char *name)
{
    for (guint i = 0; i < f->len; i++)
        if (strcmp(g_array_index(f, field, i).name, name) == 0)
            return &g_array_index(f, field, i);
    return NULL;
}

typedef struct render {
    const GArray *fields;
    GString *out;
} render;

/* Renders `tmpl`: each {name} by its field's text, "{{" as "{". The
 * template was checked at load, so every brace is closed. */
static char *render_template(const char *tmpl, const GArray *fields)
{
    GString *out = g_string_new(NULL);
    for (const char *p = tmpl; *p != '\0'; p++) {
        if (p[0] == '{' && p[1] == '{') {
            g_string_append_c(out, '{');
            p++;
            continue;
        }
        const char *end = *p == '{' ? strchr(p, '}') : NULL;
        if (end == NULL) {
            g_string_append_c(out, *p);
            continue;
        }
        g_autofree char *name = g_strstrip(g_strndup(p + 1, (gsize)(end - p - 1)));
        const field *f = find_field(fields, name);
        if (f != NULL && f->text != NULL)
            g_string_append(out, f->text);
        p = end;
    }
    return g_string_free(out, FALSE);
}

static char *fields_json(const GArray *fields)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    for (guint i = 0; i < fields->len; i++) {
        const field *f = &g_array_index(fields, field, i);
        json_builder_set_member_name(b, f->name);
        if (f->text == NULL)
            json_builder_add_null_value(b);
        else if (f->type == KZ_VALUE_DOUBLE)
            json_builder_add_double_value(b, f->d);
        else
            json_builder_add_string_value(b, f->text);
    }
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

static gboolean key_char(char c)
{
    return g_ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
}

/* Appends `part` to a key: characters outside [A-Za-z0-9._-] become '-'.
 * TRUE when none had to. */
static gboolean key_part(GString *key, const char *part)
{
    gboolean clean = TRUE;
    if (key->len > 0)
        g_string_append_c(key, ':');
    for (const char *p = part; *p != '\0'; p++) {
        clean = clean && key_char(*p);
        g_string_append_c(key, key_char(*p) ? *p : '-');
    }
    return clean;
}

/* The idempotency key of a touch: playbook:account:occurrence[:recipient].
 * When the account or recipient id has other characters than
 * [A-Za-z0-9._-], or the key would pass 128 bytes, those two parts become
 * one hash of their exact text, so two ids never share a key. */
static char *touch_key(const char *playbook, const char *account, const char *occurrence, const char *recipient)
{
    GString *key = g_string_new(NULL);
    gboolean clean = key_part(key, playbook);
    clean = key_part(key, account) && clean;
    clean = key_part(key, occurrence) && clean;
    if (recipient != NULL)
        clean = key_part(key, recipient) && clean;
    if (clean && key->len <= KZ_KEY_MAX)
        return g_string_free(key, FALSE);
    g_autofree char *who = g_strconcat(account, "\n", recipient != NULL ? recipient : "", NULL);
    g_autofree char *hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, who, -1);
    g_string_truncate(key, 0);
    key_part(key, playbook);
    key_part(key, occurrence);
    g_string_append_printf(key, ":h%.40s", hash);
    if (key->len > KZ_KEY_MAX) /* a playbook name of ~80 characters */
        g_string_erase(key, 0, (gssize)(key->len - KZ_KEY_MAX));
    return g_string_free(key, FALSE);
}

/* Prepared statements of one evaluation. */
typedef struct eval {
    sqlite3 *db;
    const kz_config *cfg;
    gint64 now, as_of;
    sqlite3_stmt *seen, *cooling, *owner, *insert, *event;
    kz_play_summary *sum;
} eval;

typedef struct recipient {
    char *id, *name, *email, *role;
} recipient;

static void recipient_clear(gpointer p)
{
    recipient *r = p;
    g_free(r->id);
    g_free(r->name);
    g_free(r->email);
    g_free(r->role);
}
static void recipient_free_contents(recipient *r)
{
    recipient_clear(r);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(recipient, recipient_free_contents)

static char *column_dup(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NULL : g_strdup((const char *)sqlite3_column_text(st, col));
}

/* The owner's name and email: the store's CSM record, else the config's. */
static void owner_fields(eval *ev, const char *owner, GArray *f, recipient *r)
{
    g_autofree char *name = NULL, *email = NULL;
    if (owner != NULL) {
        sqlite3_bind_text(ev->owner, 1, owner, -1, SQLITE_STATIC);
        if (sqlite3_step(ev->owner) == SQLITE_ROW) {
            name = column_dup(ev->owner, 0);
            email = column_dup(ev->owner, 1);
        }
        sqlite3_reset(ev->owner);
        for (guint i = 0; ev->cfg->org != NULL && i < ev->cfg->org->csms->len; i++) {
            const kz_config_csm *c = ev->cfg->org->csms->pdata[i];
            if (strcmp(c->id, owner) == 0 && c->name != NULL) {
                g_free(name);
                name = g_strdup(c->name);
            }
        }
    }
    put_text(f, "owner.id", owner);
    put_text(f, "owner.name", name != NULL ? name : owner);
    put_text(f, "owner.email", email);
    if (owner != NULL)
        *r = (recipient){g_strdup(owner), g_strdup(name != NULL ? name : owner), g_steal_pointer(&email),
                         g_strdup("csm")};
}

/* The contacts of `account` in the playbook's roles. */
static GArray *contacts_of(sqlite3 *db, const play *p, const char *account, GError **error)
{
    GArray *out = g_array_new(FALSE, TRUE, sizeof(recipient));
    g_array_set_clear_func(out, recipient_clear);
    g_autofree char *sql = g_strdup_printf(
        "SELECT id, name, email, role FROM contacts WHERE account_id = ?1 AND role IN (%s) ORDER BY id", p->roles_sql);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading the contacts of a playbook");
        g_array_unref(out);
        return NULL;
    }
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        recipient r = {column_dup(st, 0), column_dup(st, 1), column_dup(st, 2), column_dup(st, 3)};
        g_array_append_val(out, r);
    }
    sqlite3_finalize(st);
    return out;
}

static gboolean step_done(eval *ev, sqlite3_stmt *st, const char *what, GError **error)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || kz_sql_fail(ev->db, error, what);
}

/* Writes one touch unless its key is there; TRUE on success. */
static gboolean write_touch(eval *ev, const play *p, const char *account, const char *owner, const char *trigger,
                            const char *key, const recipient *r, GArray *f, GError **error)
{
    const kz_config_playbook *pb = p->pb;
    guint base = f->len;
    if (r != NULL && kz_play_to_contacts(pb)) {
        put_text(f, "contact.id", r->id);
        put_text(f, "contact.name", r->name);
        put_text(f, "contact.email", r->email);
        put_text(f, "contact.role", r->role);
    }
    g_autofree char *subject = render_template(pb->subject, f);
    g_autofree char *body = render_template(pb->body, f);
    g_autofree char *json = fields_json(f);
    g_array_remove_range(f, base, f->len - base);
    sqlite3_stmt *st = ev->insert;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pb->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, pb->channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, trigger, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, r ? r->id : NULL, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, r ? r->name : NULL, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, r ? r->email : NULL, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, r ? r->role : NULL, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, body, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, json, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 14, pb->priority);
    sqlite3_bind_int64(st, 15, ev->now);
    if (pb->due_us > 0)
        sqlite3_bind_int64(st, 16, ev->now + pb->due_us);
    else
        sqlite3_bind_null(st, 16);
    if (!step_done(ev, st, "writing a touch", error))
        return FALSE;
    sqlite3_clear_bindings(st);
    if (sqlite3_changes(ev->db) == 0) {
        ev->sum->already++;
        return TRUE;
    }
    sqlite3_bind_int64(ev->event, 1, sqlite3_last_insert_rowid(ev->db));
    sqlite3_bind_int64(ev->event, 2, ev->now);
    sqlite3_bind_text(ev->event, 3, trigger, -1, SQLITE_STATIC);
    if (!step_done(ev, ev->event, "recording a touch", error))
        return FALSE;
    ev->sum->written++;
    ev->sum->per_playbook[p->index]++;
    return TRUE;
}

/* Has this occurrence been handled: a touch of the playbook for the
 * account whose key holds the occurrence ("tier-high.20261014") between
 * colons? GLOB's special characters cannot be in a key. */
static gboolean occurrence_seen(eval *ev, const play *p, const char *account, const char *occurrence)
{
    g_autofree char *inside = g_strdup_printf("*:%s:*", occurrence), *last = g_strdup_printf("*:%s", occurrence);
    sqlite3_bind_text(ev->seen, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(ev->seen, 2, p->pb->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(ev->seen, 3, inside, -1, SQLITE_STATIC);
    sqlite3_bind_text(ev->seen, 4, last, -1, SQLITE_STATIC);
    gboolean seen = sqlite3_step(ev->seen) == SQLITE_ROW;
    sqlite3_reset(ev->seen);
    return seen;
}

static gboolean cooling(eval *ev, const play *p, const char *account)
{
    if (p->pb->cooldown_us <= 0)
        return FALSE;
    sqlite3_bind_text(ev->cooling, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(ev->cooling, 2, p->pb->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ev->cooling, 3, ev->now - p->pb->cooldown_us);
    gboolean found = sqlite3_step(ev->cooling) == SQLITE_ROW;
    sqlite3_reset(ev->cooling);
    return found;
}

static char *trigger_text(const kz_config_playbook *pb)
{
    switch (pb->trigger) {
    case KZ_TRIGGER_PHASE: return g_strdup_printf("phase:%s", pb->trigger_value);
    case KZ_TRIGGER_TIER: return g_strdup_printf("tier:%s", pb->trigger_value);
    case KZ_TRIGGER_OVERDUE: return g_strdup("overdue");
    case KZ_TRIGGER_GRADE: return g_strdup_printf("grade:%s", pb->trigger_value);
    case KZ_TRIGGER_BEFORE: return g_strdup_printf("before:%s:%" G_GINT64_FORMAT "d", pb->trigger_value, pb->days);
    default: return g_strdup_printf("drop:%g", pb->points);
    }
}

/* The occurrence's part of the key: the trigger, then its date, and the
 * time when it is not a midnight ("grade-red.20261014"). */
static char *occurrence_text(const kz_config_playbook *pb, gint64 us)
{
    g_autofree char *iso = kz_time_format(us);
    GString *s = g_string_new(NULL);
    for (const char *c = iso; *c != '\0' && *c != 'Z' && *c != '.'; c++)
        if (*c != '-' && *c != ':')
            g_string_append_c(s, *c);
    if (g_str_has_suffix(s->str, "T000000"))
        g_string_truncate(s, s->len - 7);
    g_autofree char *trigger = trigger_text(pb);
    for (char *c = trigger; *c != '\0'; c++)
        if (*c == ':')
            *c = '-';
    g_string_prepend_c(s, '.');
    g_string_prepend(s, trigger);
    return g_string_free(s, FALSE);
}

static gboolean run_play(eval *ev, const play *p, GError **error)
{
    const kz_config_playbook *pb = p->pb;
    g_autoptr(GString) sql = g_string_new(NULL);
    g_autoptr(GString) cond = g_string_new(NULL), occ = g_string_new(NULL);
    trigger_sql(pb, ev->as_of, cond, occ);
    g_string_append_printf(sql,
                           "SELECT a.id, a.name, a.region, a.segment, a.plan, a.arr_minor, a.currency,"
                           " a.contract_start_us, a.renewal_date_us, st.phase, st.tier, ow.owner, ph.score, ph.grade,"
                           " coalesce(%s, %" G_GINT64_FORMAT ")",
                           occ->str, ev->as_of);
    for (guint m = 0; m < p->measures->len; m++)
        g_string_append_printf(sql, ", lm.m_%s", (char *)p->measures->pdata[m]);
    g_string_append_printf(sql,
                           " FROM accounts AS a LEFT JOIN account_state AS st ON st.account_id = a.id"
                           " LEFT JOIN kz_owners AS ow ON ow.account_id = a.id"
                           " LEFT JOIN temp.lc_measures AS lm ON lm.account_id = a.id"
                           " LEFT JOIN temp.pb_health AS ph ON ph.account_id = a.id WHERE (%s)",
                           cond->str);
    if (p->who != NULL)
        g_string_append_printf(sql, " AND (%s)", p->who->where);
    g_string_append(sql, " ORDER BY a.id");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ev->db, sql->str, -1, &st, NULL) != SQLITE_OK ||
        (p->who != NULL && kz_expr_sql_bind(p->who, st) != SQLITE_OK)) {
        kz_sql_fail(ev->db, error, "preparing a playbook");
        g_prefix_error(error, "playbook '%s': ", pb->name);
        sqlite3_finalize(st);
        return FALSE;
    }
    g_autofree char *trigger = trigger_text(pb);
    g_autoptr(GArray) f = g_array_new(FALSE, TRUE, sizeof(field));
    g_array_set_clear_func(f, field_clear);
    gboolean ok = TRUE;
    int rc;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *account = (const char *)sqlite3_column_text(st, C_ID);
        int tier = sqlite3_column_int(st, C_TIER);
        ev->sum->matched++;
        if (tier != KZ_TIER_NONE && (p->tiers & KZ_TIER_MASK(tier)) == 0) {
            ev->sum->other_tier++;
            continue;
        }
        g_autofree char *occurrence = occurrence_text(pb, sqlite3_column_int64(st, C_OCCURRENCE));
        g_autofree char *base = touch_key(pb->name, account, occurrence, NULL);
        if (occurrence_seen(ev, p, account, occurrence)) {
            ev->sum->already++;
            continue;
        }
        if (cooling(ev, p, account)) {
            ev->sum->cooling++;
            continue;
        }
        g_autofree char *owner = column_dup(st, C_OWNER);
        g_array_set_size(f, 0);
        put_column(f, "account.id", st, C_ID);
        put_column(f, "account.name", st, C_NAME);
        put_column(f, "account.region", st, C_REGION);
        put_column(f, "account.segment", st, C_SEGMENT);
        put_column(f, "account.plan", st, C_PLAN);
        /* ARR in major units with the currency's digits, without its code */
        g_autofree char *arr = NULL;
        if (sqlite3_column_type(st, C_ARR) != SQLITE_NULL) {
            arr = kz_money_format(sqlite3_column_int64(st, C_ARR), (const char *)sqlite3_column_text(st, C_CURRENCY));
            char *space = strchr(arr, ' ');
            if (space != NULL)
                *space = '\0';
        }
        put_text(f, "account.arr", arr);
        put_column(f, "account.currency", st, C_CURRENCY);
        put_date(f, "account.contract_start", st, C_START);
        put_date(f, "account.renewal_date", st, C_RENEWAL);
        int phase = sqlite3_column_int(st, C_PHASE);
        put_text(f, "account.phase", phase > 0 ? kz_phase_name(phase) : NULL);
        put_text(f, "account.tier", tier > 0 ? kz_tier_name(tier) : NULL);
        g_auto(recipient) csm = {0};
        owner_fields(ev, owner, f, &csm);
        put_number(f, "score.health", st, C_SCORE, "%.1f");
        put_column(f, "score.grade", st, C_GRADE);
        for (guint m = 0; m < p->measures->len; m++) {
            g_autofree char *name = g_strconcat("measure.", (char *)p->measures->pdata[m], NULL);
            put_number(f, g_intern_string(name), st, C_MEASURES + (int)m, "%.2f");
        }
        put_text(f, "playbook", pb->name);
        put_text(f, "trigger", trigger);
        if (kz_play_to_contacts(pb)) {
            g_autoptr(GArray) rs = contacts_of(ev->db, p, account, error);
            ok = rs != NULL;
            if (ok && rs->len == 0)
                ev->sum->nobody++;
            for (guint i = 0; ok && i < rs->len; i++) {
                const recipient *r = &g_array_index(rs, recipient, i);
                g_autofree char *key = touch_key(pb->name, account, occurrence, r->id);
                ok = write_touch(ev, p, account, owner, trigger, key, r, f, error);
            }
        } else if (strcmp(pb->to, "owner") == 0 && owner == NULL && strcmp(p->component, KZ_TASK_CHANNEL) != 0) {
            ev->sum->nobody++; /* a task without an owner waits in the unassigned queue; a message cannot */
        } else {
            gboolean to_owner = strcmp(pb->to, "owner") == 0 && owner != NULL;
            ok = write_touch(ev, p, account, owner, trigger, base, to_owner ? &csm : NULL, f, error);
        }
    }
    if (ok && rc != SQLITE_DONE)
        ok = kz_sql_fail(ev->db, error, "evaluating a playbook");
    sqlite3_finalize(st);
    return ok;
}

/* ---- the evaluation ---------------------------------------------------- */

static GPtrArray *prepare_plays(const kz_config *cfg, const kz_registry *reg, gint64 as_of, GHashTable *used,
                                GError **error)
{
    g_autoptr(kz_account_scope) scope = kz_play_scope(cfg, as_of);
    g_autoptr(GPtrArray) plays = g_ptr_array_new_with_free_func((GDestroyNotify)play_free);
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < cfg->playbooks->len; i++) {
        const kz_config_playbook *pb = cfg->playbooks->pdata[i];
        play *p = g_new0(play, 1);
        p->pb = pb;
        p->index = i;
        p->measures = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(plays, p);
        p->who = kz_play_compile_who(cfg, pb, scope, 1, names, errors);
        tmpl_scan ts = {scope, cfg, p->measures};
        kz_play_each_placeholder(pb->subject, scan_measure, &ts, NULL);
        kz_play_each_placeholder(pb->body, scan_measure, &ts, NULL);
        for (guint m = 0; m < p->measures->len; m++)
            g_hash_table_add(names, g_strdup(p->measures->pdata[m]));
        const kz_config_instance *ci = kz_config_find_instance(cfg, pb->channel);
        p->component = ci != NULL ? ci->component : KZ_TASK_CHANNEL;
        const kz_component_info *comp = ci != NULL ? kz_registry_find_component(reg, ci->component) : NULL;
        p->tiers = comp != NULL && comp->kind == KZ_COMPONENT_CHANNEL ? comp->vt.channel.tiers : KZ_TIER_MASK_ALL;
        if (kz_play_to_contacts(pb)) {
            g_auto(GStrv) roles = g_strsplit(pb->to, "|", -1);
            GString *in = g_string_new(NULL);
            for (guint r = 0; roles[r] != NULL; r++) {
                char *q = sqlite3_mprintf("%s%Q", r ? ", " : "", g_strstrip(roles[r]));
                g_string_append(in, q);
                sqlite3_free(q);
            }
            p->roles_sql = g_string_free(in, FALSE);
        }
    }
    if (errors->len > 0) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "%s", (char *)errors->pdata[0]);
        return NULL;
    }
    /* the measures conditions and templates read, by their config entries */
    GHashTableIter it;
    gpointer name;
    g_hash_table_iter_init(&it, names);
    while (g_hash_table_iter_next(&it, &name, NULL))
        for (guint m = 0; m < cfg->measures->len; m++) {
            kz_config_measure *cm = cfg->measures->pdata[m];
            if (strcmp(cm->name, name) == 0)
                g_hash_table_insert(used, cm->name, cm);
        }
    g_ptr_array_sort(plays, by_priority);
    return g_steal_pointer(&plays);
}

static void eval_clear(eval *ev)
{
    sqlite3_finalize(ev->seen);
    sqlite3_finalize(ev->cooling);
    sqlite3_finalize(ev->owner);
    sqlite3_finalize(ev->insert);
    sqlite3_finalize(ev->event);
}

static gboolean eval_prepare(eval *ev, GError **error)
{
    sqlite3 *db = ev->db;
    if (sqlite3_prepare_v2(db,
                           "SELECT 1 FROM touches WHERE account_id = ?1 AND playbook = ?2"
                           " AND (key GLOB ?3 OR key GLOB ?4) LIMIT 1",
                           -1, &ev->seen, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT 1 FROM touches WHERE account_id = ?1 AND playbook = ?2 AND created_us > ?3 LIMIT 1",
                           -1, &ev->cooling, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT name, email FROM csms WHERE id = ?1", -1, &ev->owner, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO touches (key, playbook, channel, account_id, trigger, owner, recipient_id,"
                           " recipient_name, recipient_email, recipient_role, subject, body, fields, priority,"
                           " created_us, due_us, status, attempts, next_attempt_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
                           " ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 'pending', 0, ?15)"
                           " ON CONFLICT (key) DO NOTHING",
                           -1, &ev->insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO touch_events (touch_id, time_us, status, attempt, message)"
                           " VALUES (?1, ?2, 'pending', 0, ?3)",
                           -1, &ev->event, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "preparing the outbox");
    return TRUE;
}

gboolean kz_playbooks_evaluate(kz_store *store, const kz_config *cfg, const kz_registry *reg, gint64 as_of_us,
                               gboolean dry_run, kz_play_summary *out, GError **error)
{
    memset(out, 0, sizeof *out);
    out->as_of_us = as_of_us;
    if (cfg->playbooks == NULL || cfg->playbooks->len == 0)
        return TRUE;
    out->n_playbooks = cfg->playbooks->len;
    out->per_playbook = g_new0(guint, out->n_playbooks);
    g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GPtrArray) plays = prepare_plays(cfg, reg, as_of_us, used, error);
    /* the measures first: they commit their own rollup */
    if (plays == NULL || !kz_account_measures_load(store, cfg, as_of_us, used, error))
        return FALSE;
    sqlite3 *db = kz_store_db(store);
    if (!kz_sql_exec(db, "BEGIN IMMEDIATE", error))
        return FALSE;
    eval ev = {db, cfg, kz_host_now(), as_of_us, NULL, NULL, NULL, NULL, NULL, out};
    gboolean ok = load_health(db, cfg, as_of_us, &out->score_run, error) && eval_prepare(&ev, error);
    for (guint i = 0; ok && i < plays->len; i++)
        ok = run_play(&ev, plays->pdata[i], error);
    eval_clear(&ev);
    if (!ok || dry_run) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return ok;
    }
    return kz_sql_exec(db, "COMMIT", error);
}
