/*
 * core/org/lifecycle.c — phases and touch tiers (lifecycle.h). Every
 * condition of the config becomes one column of one SELECT over the
 * accounts; the phase rules then run in C over those booleans, and the
 * changes are written in the same transaction as the run that made them.
 */
#include "lifecycle.h"

#include "errors.h"
#include "expr/expr_sql.h"
#include "instance.h"
#include "score/measures.h"

#include <kizuna/orgmodel.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>

/* ---- the scope of lifecycle conditions --------------------------------- */

struct kz_account_scope {
    GArray *fields;       /* kz_expr_field */
    GPtrArray *strings;   /* SQL texts the fields point at */
    GHashTable *measures; /* name -> the measure's kz_config_measure*, for the fields that are measures */
    kz_expr_scope scope;
};
typedef kz_account_scope lc_scope;

void kz_account_scope_free(lc_scope *s)
{
    g_array_unref(s->fields);
    g_ptr_array_unref(s->strings);
    g_hash_table_unref(s->measures);
    g_free(s);
}
static void lc_scope_free(lc_scope *s)
{
    kz_account_scope_free(s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(lc_scope, lc_scope_free)

static gboolean has_field(const GArray *fields, const char *name)
{
    for (guint i = 0; i < fields->len; i++)
        if (strcmp(g_array_index(fields, kz_expr_field, i).name, name) == 0)
            return TRUE;
    return FALSE;
}

static void add_field(lc_scope *s, const char *name, char *sql, int type, const char *help)
{
    g_ptr_array_add(s->strings, sql);
    kz_expr_field f = {name, sql, type, help};
    g_array_append_val(s->fields, f);
}

/* Measures of these kinds are the account's own field or trait: a
 * condition reads that directly. */
static gboolean numeric_measure(const kz_config_measure *m)
{
    return strcmp(m->kind, "field") != 0 && strcmp(m->kind, "trait") != 0;
}

/* Fields: the account's, today, contract_days, renewal_days, the numeric
 * measures (a name an account field has keeps the field's meaning), and
 * with `with_phase` the phase of this evaluation. The SQL reads the row
 * `a` of accounts, `st` of account_state and `lm` of temp.lc_measures. */
static lc_scope *lc_scope_new(const kz_config *cfg, gint64 as_of_us, gboolean with_phase)
{
    const kz_expr_scope *acc = kz_expr_account_scope();
    lc_scope *s = g_new0(lc_scope, 1);
    s->fields = g_array_new(FALSE, FALSE, sizeof(kz_expr_field));
    s->strings = g_ptr_array_new_with_free_func(g_free);
    s->measures = g_hash_table_new(g_str_hash, g_str_equal);
    g_array_append_vals(s->fields, acc->fields, (guint)acc->n_fields);
    add_field(s, "today", g_strdup_printf("(%" G_GINT64_FORMAT ")", as_of_us), KZ_VALUE_TIME,
              "the day of the evaluation (its midnight UTC)");
    add_field(
        s, "contract_days",
        g_strdup_printf("((%" G_GINT64_FORMAT " - a.contract_start_us) / %" G_GINT64_FORMAT ")", as_of_us, KZ_DAY_US),
        KZ_VALUE_INT, "whole days since the contract started");
    add_field(
        s, "renewal_days",
        g_strdup_printf("((a.renewal_date_us - %" G_GINT64_FORMAT ") / %" G_GINT64_FORMAT ")", as_of_us, KZ_DAY_US),
        KZ_VALUE_INT, "whole days until the renewal date (negative once it has passed)");
    if (with_phase) {
        GString *sql = g_string_new("(CASE st.phase");
        for (int p = KZ_PHASE_ONBOARDING; p <= KZ_PHASE_CHURNED; p++)
            g_string_append_printf(sql, " WHEN %d THEN '%s'", p, kz_phase_name(p));
        g_string_append(sql, " END)");
        add_field(s, "phase", g_string_free(sql, FALSE), KZ_VALUE_STRING, "the lifecycle phase");
    }
    for (guint i = 0; i < cfg->measures->len; i++) {
        const kz_config_measure *m = cfg->measures->pdata[i];
        if (!numeric_measure(m) || has_field(s->fields, m->name))
            continue;
        add_field(s, m->name, g_strdup_printf("lm.m_%s", m->name), KZ_VALUE_DOUBLE, "a measure");
        g_hash_table_insert(s->measures, m->name, (gpointer)m);
    }
    s->scope = (kz_expr_scope){"account", (const kz_expr_field *)(void *)s->fields->data, s->fields->len,
                               acc->trait_select, acc->trait_type};
    return s;
}

kz_account_scope *kz_account_scope_new(const kz_config *cfg, gint64 as_of_us, gboolean with_phase)
{
    return lc_scope_new(cfg, as_of_us, with_phase);
}

void kz_account_scope_add(kz_account_scope *s, const char *name, char *sql, int type, const char *help)
{
    add_field(s, name, sql, type, help);
}

const kz_expr_scope *kz_account_scope_expr(kz_account_scope *s)
{
    s->scope.fields = (const kz_expr_field *)(void *)s->fields->data;
    s->scope.n_fields = s->fields->len;
    return &s->scope;
}

/* ---- conditions -------------------------------------------------------- */

/* One condition of the config, compiled. */
typedef struct cond {
    const char *what; /* "phase 'onboarding' enter" */
    kz_expr *expr;
    kz_expr_sql *sql;
} cond;

typedef struct cond_set {
    GPtrArray *conds; /* cond* */
    guint next_param;
    GHashTable *used_measures; /* name -> kz_config_measure*, referenced by some condition */
} cond_set;

static void cond_free(cond *c)
{
    kz_expr_free(c->expr);
    kz_expr_sql_free(c->sql);
    g_free((char *)c->what);
    g_free(c);
}

static void cond_set_init(cond_set *cs)
{
    cs->conds = g_ptr_array_new_with_free_func((GDestroyNotify)cond_free);
    cs->next_param = 1;
    cs->used_measures = g_hash_table_new(g_str_hash, g_str_equal);
}

static void cond_set_clear(cond_set *cs)
{
    g_ptr_array_unref(cs->conds);
    g_hash_table_unref(cs->used_measures);
}

static void collect_measures(const kz_expr *e, const lc_scope *s, GHashTable *used)
{
    if (e->kind == KZ_EXPR_FIELD) {
        gpointer m = g_hash_table_lookup(s->measures, e->name);
        if (m != NULL)
            g_hash_table_insert(used, e->name, m);
    }
    for (guint i = 0; e->args != NULL && i < e->args->len; i++)
        collect_measures(e->args->pdata[i], s, used);
}

void kz_account_scope_measures(const kz_account_scope *s, const kz_expr *e, GHashTable *used)
{
    collect_measures(e, s, used);
}

/* Compiles `text`; returns its index in the set, or -1 when `text` is NULL
 * or wrong (an error naming the file and line then). */
static int cond_add(cond_set *cs, const lc_scope *s, const kz_config *cfg, guint line, const char *what,
                    const char *text, GPtrArray *errors)
{
    if (text == NULL)
        return -1;
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_expr) expr = kz_expr_parse(text, &err);
    kz_expr_sql *sql = expr != NULL ? kz_expr_sql_compile(expr, &s->scope, cs->next_param, &err) : NULL;
    if (sql == NULL) {
        kz_config_error(errors, cfg, line, "%s=\"%s\": %s", what, text, err->message);
        return -1;
    }
    collect_measures(expr, s, cs->used_measures);
    cond *c = g_new0(cond, 1);
    c->what = g_strdup(what);
    c->expr = g_steal_pointer(&expr);
    c->sql = sql;
    cs->next_param += sql->params->len;
    g_ptr_array_add(cs->conds, c);
    return (int)cs->conds->len - 1;
}

/* Per phase: the condition indexes of enter, exit and success (-1: none). */
typedef struct phase_conds {
    const kz_config_phase *cfg; /* NULL: the phase is not configured */
    int enter, exit, success;
} phase_conds;

static void compile_phases(const kz_config *cfg, const lc_scope *s, cond_set *cs, phase_conds *pc, GPtrArray *errors)
{
    for (int p = 0; p <= KZ_PHASE_CHURNED; p++)
        pc[p] = (phase_conds){NULL, -1, -1, -1};
    for (guint i = 0; cfg->phases != NULL && i < cfg->phases->len; i++) {
        const kz_config_phase *ph = cfg->phases->pdata[i];
        phase_conds *c = &pc[ph->phase];
        c->cfg = ph;
        c->enter = cond_add(cs, s, cfg, ph->line, "enter", ph->enter, errors);
        c->exit = cond_add(cs, s, cfg, ph->line, "exit", ph->exit, errors);
        c->success = cond_add(cs, s, cfg, ph->line, "success", ph->success, errors);
        if (c->exit < 0 && ph->exit == NULL)
            c->exit = c->success; /* success is what ends a phase unless exit says otherwise */
    }
}

static void compile_tiers(const kz_config *cfg, const lc_scope *s, cond_set *cs, int *rule_cond, GPtrArray *errors)
{
    for (guint i = 0; cfg->tier_rules != NULL && i < cfg->tier_rules->len; i++) {
        const kz_config_tier_rule *r = cfg->tier_rules->pdata[i];
        rule_cond[i] = cond_add(cs, s, cfg, r->line, "when", r->when, errors);
    }
}

gboolean kz_lifecycle_check(const kz_config *cfg, GPtrArray *errors)
{
    guint before = errors->len;
    g_autoptr(lc_scope) s = lc_scope_new(cfg, 0, FALSE);
    g_autoptr(lc_scope) ts = lc_scope_new(cfg, 0, TRUE);
    cond_set cs;
    cond_set_init(&cs);
    phase_conds pc[KZ_PHASE_CHURNED + 1];
    compile_phases(cfg, s, &cs, pc, errors);
    g_autofree int *rules = g_new0(int, cfg->tier_rules != NULL ? cfg->tier_rules->len + 1 : 1);
    compile_tiers(cfg, ts, &cs, rules, errors);
    cond_set_clear(&cs);
    for (int p = KZ_PHASE_ONBOARDING; p <= KZ_PHASE_RENEWAL; p++) {
        const kz_config_phase *ph = pc[p].cfg;
        if (ph == NULL)
            continue;
        if (ph->next == KZ_PHASE_CHURNED)
            kz_config_error(errors, cfg, ph->line,
                            "phase '%s': next=\"churned\": an account churns by the enter= of phase 'churned', "
                            "not by finishing a phase",
                            kz_phase_name(p));
        else if (ph->next != 0 && pc[ph->next].cfg == NULL)
            kz_config_error(errors, cfg, ph->line, "phase '%s': next=\"%s\" is not a phase of this lifecycle",
                            kz_phase_name(p), kz_phase_name(ph->next));
        if (ph->due_us > 0 && ph->success == NULL)
            kz_config_error(errors, cfg, ph->line,
                            "phase '%s': due= needs success= (what must happen before it is due?)", kz_phase_name(p));
    }
    if (cfg->phases != NULL && pc[KZ_PHASE_ONBOARDING].cfg == NULL)
        kz_config_error(errors, cfg, ((kz_config_phase *)cfg->phases->pdata[0])->line,
                        "the lifecycle has no phase 'onboarding': where does a new account start?");
    return errors->len == before;
}

/* ---- the phase rules --------------------------------------------------- */

/* The condition values of one account: -1 not configured, else 0 or 1. */
static int holds(sqlite3_stmt *st, int first_col, int idx)
{
    return idx < 0 ? -1 : sqlite3_column_int(st, first_col + idx) != 0;
}

/* Where exit from `p` leads. */
static int next_phase(const phase_conds *pc, int p)
{
    if (pc[p].cfg->next != 0)
        return pc[p].cfg->next;
    if (p == KZ_PHASE_RENEWAL)
        return pc[KZ_PHASE_ADOPTION].cfg != NULL ? KZ_PHASE_ADOPTION : KZ_PHASE_RENEWAL;
    for (int q = p + 1; q <= KZ_PHASE_RENEWAL; q++)
        if (pc[q].cfg != NULL)
            return q;
    return p; /* the last phase: it stays */
}

/* One move of the rules from `p`, or `p` when none applies. */
static int step(const phase_conds *pc, sqlite3_stmt *st, int col, int p)
{
    if (pc[KZ_PHASE_CHURNED].cfg != NULL && p != KZ_PHASE_CHURNED && holds(st, col, pc[KZ_PHASE_CHURNED].enter) == 1)
        return KZ_PHASE_CHURNED;
    if (p == KZ_PHASE_CHURNED)
        return holds(st, col, pc[p].exit) == 1 ? KZ_PHASE_NONE : p;
    if (p == KZ_PHASE_NONE) {
        /* placed in the furthest phase it may enter; onboarding's enter
         * holds when not given */
        for (int q = KZ_PHASE_RENEWAL; q >= KZ_PHASE_ONBOARDING; q--) {
            if (pc[q].cfg == NULL)
                continue;
            int e = holds(st, col, pc[q].enter);
            if (e == 1 || (e < 0 && q == KZ_PHASE_ONBOARDING))
                return q;
        }
        return p;
    }
    if (pc[p].cfg == NULL) /* a phase the config dropped: start again */
        return KZ_PHASE_NONE;
    for (int q = KZ_PHASE_RENEWAL; q > p; q--)
        if (pc[q].cfg != NULL && holds(st, col, pc[q].enter) == 1)
            return q;
    return holds(st, col, pc[p].exit) == 1 ? next_phase(pc, p) : p;
}

/* ---- the store --------------------------------------------------------- */

/* A change of one account, kept until the SELECT is done. */
typedef struct change {
    char *account;
    const char *what; /* static */
    const char *from, *to;
} change;

typedef struct acct_state {
    char *id;
    int phase;
    gint64 since, success, overdue; /* 0 = NULL */
    gboolean dirty;
} acct_state;

static gint64 col_time(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, i);
}

static void bind_time(sqlite3_stmt *st, int i, gint64 t)
{
    if (t == 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, t);
}

gint64 kz_lifecycle_last_as_of(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    gint64 t = 0;
    if (sqlite3_prepare_v2(db, "SELECT max(as_of_us) FROM lifecycle_runs", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        t = col_time(st, 0);
    sqlite3_finalize(st);
    return t;
}

/* temp.lc_measures: one row per account with the measures conditions read. */
gboolean kz_account_measures_load(kz_store *store, const kz_config *cfg, gint64 as_of_us, GHashTable *used,
                                  GError **error)
{
    sqlite3 *db = kz_store_db(store);
    GString *create = g_string_new("DROP TABLE IF EXISTS temp.lc_measures;"
                                   "CREATE TEMP TABLE lc_measures (account_id TEXT PRIMARY KEY NOT NULL");
    GString *insert = g_string_new("INSERT INTO temp.lc_measures VALUES (?");
    g_autoptr(GPtrArray) cols = g_ptr_array_new();
    g_autoptr(kz_measure_set) set = NULL;
    if (g_hash_table_size(used) > 0) {
        set = kz_measures_rollup(store, cfg, as_of_us, TRUE, error);
        if (set == NULL) {
            g_string_free(create, TRUE);
            g_string_free(insert, TRUE);
            return FALSE;
        }
        for (guint i = 0; i < cfg->measures->len; i++) {
            const kz_config_measure *m = cfg->measures->pdata[i];
            if (g_hash_table_contains(used, m->name)) {
                g_string_append_printf(create, ", m_%s REAL", m->name);
                g_string_append(insert, ", ?");
                g_ptr_array_add(cols, (gpointer)kz_measure_set_find(set, m->name));
            }
        }
    }
    g_string_append(create, ") WITHOUT ROWID");
    g_string_append(insert, ")");
    g_autofree char *create_sql = g_string_free(create, FALSE);
    g_autofree char *insert_sql = g_string_free(insert, FALSE);
    if (!kz_sql_exec(db, create_sql, error))
        return FALSE;
    if (set == NULL)
        return TRUE;
    sqlite3_stmt *ins = NULL;
    if (sqlite3_prepare_v2(db, insert_sql, -1, &ins, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "preparing the lifecycle's measures");
    gboolean ok = kz_sql_exec(db, "BEGIN", error);
    for (guint r = 0; ok && r < set->roster->n; r++) {
        sqlite3_bind_text(ins, 1, set->roster->ids[r], -1, SQLITE_STATIC);
        for (guint c = 0; c < cols->len; c++) {
            const kz_measure_column *mc = cols->pdata[c];
            double v = mc->values[r];
            if (isnan(v))
                sqlite3_bind_null(ins, (int)c + 2);
            else
                sqlite3_bind_double(ins, (int)c + 2, v);
        }
        ok = sqlite3_step(ins) == SQLITE_DONE || kz_sql_fail(db, error, "loading the lifecycle's measures");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    if (!ok) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return FALSE;
    }
    return kz_sql_exec(db, "COMMIT", error);
}

/* "SELECT <head>, cond1, cond2, ... FROM accounts AS a LEFT JOIN ..." with
 * every condition bound. */
static sqlite3_stmt *prepare_select(sqlite3 *db, const char *head, const cond_set *cs, GError **error)
{
    GString *sql = g_string_new("SELECT ");
    g_string_append(sql, head);
    for (guint i = 0; i < cs->conds->len; i++)
        g_string_append_printf(sql, ", %s", ((cond *)cs->conds->pdata[i])->sql->where);
    g_string_append(sql, " FROM accounts AS a LEFT JOIN account_state AS st ON st.account_id = a.id"
                         " LEFT JOIN temp.lc_measures AS lm ON lm.account_id = a.id ORDER BY a.id");
    g_autofree char *text = g_string_free(sql, FALSE);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, text, -1, &st, NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "preparing the lifecycle's conditions");
        return NULL;
    }
    for (guint i = 0; i < cs->conds->len; i++)
        if (kz_expr_sql_bind(((cond *)cs->conds->pdata[i])->sql, st) != SQLITE_OK) {
            kz_sql_fail(db, error, "binding the lifecycle's conditions");
            sqlite3_finalize(st);
            return NULL;
        }
    return st;
}

typedef struct run_ctx {
    sqlite3 *db;
    gint64 as_of;
    gint64 run;
    GArray *changes; /* change */
    kz_lifecycle_summary *sum;
} run_ctx;

static void add_change(run_ctx *rc, const char *account, const char *what, const char *from, const char *to)
{
    change c = {g_strdup(account), what, from, to};
    g_array_append_val(rc->changes, c);
}

static void change_clear(change *c)
{
    g_free(c->account);
}

/* The phase rules over every account; the new states in `states`. */
static gboolean eval_phases(run_ctx *rc, const phase_conds *pc, const cond_set *cs, GArray *states, GError **error)
{
    sqlite3_stmt *st = prepare_select(
        rc->db, "a.id, st.phase, st.phase_since_us, st.success_us, st.overdue_since_us, a.contract_start_us", cs,
        error);
    if (st == NULL)
        return FALSE;
    const int col = 6;
    int rc_step;
    while ((rc_step = sqlite3_step(st)) == SQLITE_ROW) {
        acct_state s = {g_strdup((const char *)sqlite3_column_text(st, 0)),
                        sqlite3_column_int(st, 1),
                        col_time(st, 2),
                        col_time(st, 3),
                        col_time(st, 4),
                        FALSE};
        if (s.phase < KZ_PHASE_NONE || s.phase > KZ_PHASE_CHURNED)
            s.phase = KZ_PHASE_NONE;
        gint64 contract = col_time(st, 5);
        guint32 visited = KZ_PHASE_MASK(s.phase);
        int start = s.phase;
        for (;;) {
            int p = s.phase;
            /* success of the phase it is in, recorded once per stay */
            if (p != KZ_PHASE_NONE && pc[p].cfg != NULL && s.success == 0 && holds(st, col, pc[p].success) == 1) {
                s.success = rc->as_of;
                s.dirty = TRUE;
                add_change(rc, s.id, "success", NULL, kz_phase_name(p));
                rc->sum->successes++;
            }
            int q = step(pc, st, col, p);
            if (q == p || (q != KZ_PHASE_NONE && (visited & KZ_PHASE_MASK(q))))
                break;
            visited |= KZ_PHASE_MASK(q);
            s.phase = q;
            s.since = rc->as_of;
            s.success = 0;
            s.dirty = TRUE;
        }
        if (s.phase != start) {
            add_change(rc, s.id, "phase", kz_phase_name(start), kz_phase_name(s.phase));
            rc->sum->phase_changes++;
        }
        /* overdue: success not reached within the due window */
        const kz_config_phase *ph = s.phase != KZ_PHASE_NONE ? pc[s.phase].cfg : NULL;
        gint64 from = ph == NULL ? 0 : ph->due_from_contract ? contract : s.since;
        gboolean overdue = ph != NULL && ph->due_us > 0 && s.success == 0 && from != 0 && rc->as_of > from + ph->due_us;
        if (overdue && s.overdue == 0) {
            s.overdue = rc->as_of;
            s.dirty = TRUE;
            add_change(rc, s.id, "overdue", NULL, kz_phase_name(s.phase));
            rc->sum->new_overdue++;
        } else if (!overdue && s.overdue != 0) {
            s.overdue = 0;
            s.dirty = TRUE;
        }
        rc->sum->per_phase[s.phase]++;
        rc->sum->overdue += overdue;
        rc->sum->accounts++;
        g_array_append_val(states, s);
    }
    sqlite3_finalize(st);
    return rc_step == SQLITE_DONE || kz_sql_fail(rc->db, error, "evaluating the lifecycle");
}

/* Changes per INSERT statement: one statement of many rows costs SQLite
 * much less than as many single-row ones (a first evaluation records two
 * or three changes per account). OR FAIL, not the default ABORT: a
 * statement of many rows that may abort makes SQLite copy every page it
 * touches into a statement journal first, and a failure rolls the whole
 * evaluation back anyway. */
#define CHANGE_CHUNK 100
#define CHANGE_COLS  6

/* An INSERT of `rows` changes into state_changes. */
static sqlite3_stmt *prepare_changes(sqlite3 *db, guint rows)
{
    GString *sql =
        g_string_new("INSERT OR FAIL INTO state_changes (account_id, time_us, what, from_value, to_value, run) "
                     "VALUES ");
    for (guint r = 0; r < rows; r++)
        g_string_append(sql, r == 0 ? "(?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?)");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql->str, (int)sql->len, &st, NULL) != SQLITE_OK)
        st = NULL;
    g_string_free(sql, TRUE);
    return st;
}

static gboolean write_changes(run_ctx *rc, GError **error)
{
    sqlite3_stmt *one = prepare_changes(rc->db, 1), *many = one != NULL ? prepare_changes(rc->db, CHANGE_CHUNK) : NULL;
    if (many == NULL) {
        sqlite3_finalize(one);
        return kz_sql_fail(rc->db, error, "preparing state_changes");
    }
    gboolean ok = TRUE;
    guint n = rc->changes->len;
    for (guint i = 0; ok && i < n;) {
        /* whole chunks while they last, then one by one, in order */
        sqlite3_stmt *ins = n - i >= CHANGE_CHUNK ? many : one;
        guint rows = ins == many ? CHANGE_CHUNK : 1;
        for (guint r = 0; r < rows; r++, i++) {
            const change *c = &g_array_index(rc->changes, change, i);
            int at = (int)(r * CHANGE_COLS);
            sqlite3_bind_text(ins, at + 1, c->account, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, at + 2, rc->as_of);
            sqlite3_bind_text(ins, at + 3, c->what, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, at + 4, c->from, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, at + 5, c->to, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, at + 6, rc->run);
        }
        ok = sqlite3_step(ins) == SQLITE_DONE || kz_sql_fail(rc->db, error, "recording a change");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(one);
    sqlite3_finalize(many);
    return ok;
}

static gboolean write_phases(run_ctx *rc, GArray *states, GError **error)
{
    sqlite3_stmt *up = NULL;
    if (sqlite3_prepare_v2(rc->db,
                           "INSERT INTO account_state (account_id, phase, phase_since_us, success_us, overdue_since_us)"
                           " VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET phase = excluded.phase,"
                           " phase_since_us = excluded.phase_since_us, success_us = excluded.success_us,"
                           " overdue_since_us = excluded.overdue_since_us",
                           -1, &up, NULL) != SQLITE_OK)
        return kz_sql_fail(rc->db, error, "preparing account_state");
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < states->len; i++) {
        const acct_state *s = &g_array_index(states, acct_state, i);
        if (!s->dirty)
            continue;
        sqlite3_bind_text(up, 1, s->id, -1, SQLITE_STATIC);
        sqlite3_bind_int(up, 2, s->phase);
        bind_time(up, 3, s->since);
        bind_time(up, 4, s->success);
        bind_time(up, 5, s->overdue);
        ok = sqlite3_step(up) == SQLITE_DONE || kz_sql_fail(rc->db, error, "storing a phase");
        sqlite3_reset(up);
    }
    sqlite3_finalize(up);
    return ok;
}

/* The first tier rule that holds, for every account; changes stored. */
static gboolean eval_tiers(run_ctx *rc, const int *rule_cond, const cond_set *cs, const kz_config *cfg, GError **error)
{
    sqlite3_stmt *st = prepare_select(rc->db, "a.id, st.tier, st.account_id IS NOT NULL", cs, error);
    if (st == NULL)
        return FALSE;
    /* An account with a row (most: the phases wrote it) gets a plain
     * UPDATE, which finds the row with one lookup where an upsert looks
     * twice; the upsert is for the rest. */
    sqlite3_stmt *upd = NULL, *up = NULL;
    if (sqlite3_prepare_v2(rc->db, "UPDATE account_state SET tier = ?2, tier_since_us = ?3 WHERE account_id = ?1", -1,
                           &upd, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(rc->db,
                           "INSERT INTO account_state (account_id, tier, tier_since_us) VALUES (?, ?, ?)"
                           " ON CONFLICT (account_id) DO UPDATE SET tier = excluded.tier,"
                           " tier_since_us = excluded.tier_since_us",
                           -1, &up, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        sqlite3_finalize(upd);
        return kz_sql_fail(rc->db, error, "preparing account_state");
    }
    /* collected first: writing account_state while reading it would move
     * rows under the cursor */
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) tiers = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GByteArray) has_row = g_byte_array_new();
    int rc_step;
    while ((rc_step = sqlite3_step(st)) == SQLITE_ROW) {
        int old = sqlite3_column_int(st, 1), tier = KZ_TIER_NONE;
        for (guint i = 0; i < cfg->tier_rules->len && tier == KZ_TIER_NONE; i++)
            if (rule_cond[i] < 0 || sqlite3_column_int(st, 3 + rule_cond[i]) != 0)
                tier = ((kz_config_tier_rule *)cfg->tier_rules->pdata[i])->tier;
        rc->sum->per_tier[tier]++;
        if (tier == old)
            continue;
        const char *id = (const char *)sqlite3_column_text(st, 0);
        add_change(rc, id, "tier", kz_tier_name(old), kz_tier_name(tier));
        g_ptr_array_add(ids, g_strdup(id));
        g_array_append_val(tiers, tier);
        guint8 has = sqlite3_column_int(st, 2) != 0;
        g_byte_array_append(has_row, &has, 1);
        rc->sum->tier_changes++;
    }
    sqlite3_finalize(st);
    gboolean ok = rc_step == SQLITE_DONE || kz_sql_fail(rc->db, error, "evaluating the tiers");
    for (guint i = 0; ok && i < ids->len; i++) {
        /* the UPDATE, then the upsert if it found no row after all */
        for (int k = has_row->data[i] ? 0 : 1; k < 2; k++) {
            sqlite3_stmt *w = k == 0 ? upd : up;
            sqlite3_bind_text(w, 1, ids->pdata[i], -1, SQLITE_STATIC);
            sqlite3_bind_int(w, 2, g_array_index(tiers, int, i));
            sqlite3_bind_int64(w, 3, rc->as_of);
            ok = sqlite3_step(w) == SQLITE_DONE || kz_sql_fail(rc->db, error, "storing a tier");
            sqlite3_reset(w);
            if (!ok || sqlite3_changes(rc->db) > 0)
                break;
        }
    }
    sqlite3_finalize(upd);
    sqlite3_finalize(up);
    return ok;
}

static void state_clear(acct_state *s)
{
    g_free(s->id);
}

static gboolean run_locked(run_ctx *rc, const kz_config *cfg, const cond_set *pcs, const phase_conds *pc,
                           const cond_set *tcs, const int *rules, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(rc->db, "SELECT max(as_of_us), count(*) FILTER (WHERE as_of_us = ?) FROM lifecycle_runs", -1,
                           &st, NULL) != SQLITE_OK)
        return kz_sql_fail(rc->db, error, "reading lifecycle_runs");
    sqlite3_bind_int64(st, 1, rc->as_of);
    sqlite3_step(st);
    gint64 last = col_time(st, 0);
    rc->sum->repeated = sqlite3_column_int(st, 1) > 0;
    sqlite3_finalize(st);
    if (last > rc->as_of) {
        g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(last / G_USEC_PER_SEC);
        g_autofree char *day = g_date_time_format(dt, "%Y-%m-%d");
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID,
                    "the lifecycle was evaluated as of %s already: it moves forward in time only", day);
        return FALSE;
    }
    if (sqlite3_prepare_v2(rc->db,
                           "INSERT INTO lifecycle_runs (as_of_us, time_us, accounts, changes) VALUES (?, ?, 0, 0)", -1,
                           &st, NULL) != SQLITE_OK)
        return kz_sql_fail(rc->db, error, "preparing lifecycle_runs");
    sqlite3_bind_int64(st, 1, rc->as_of);
    sqlite3_bind_int64(st, 2, kz_host_now());
    gboolean ok = sqlite3_step(st) == SQLITE_DONE || kz_sql_fail(rc->db, error, "recording the run");
    sqlite3_finalize(st);
    if (!ok)
        return FALSE;
    rc->run = sqlite3_last_insert_rowid(rc->db);
    if (cfg->phases != NULL) {
        g_autoptr(GArray) states = g_array_new(FALSE, FALSE, sizeof(acct_state));
        g_array_set_clear_func(states, (GDestroyNotify)state_clear);
        if (!eval_phases(rc, pc, pcs, states, error) || !write_phases(rc, states, error))
            return FALSE;
    }
    if (cfg->tier_rules != NULL && !eval_tiers(rc, rules, tcs, cfg, error))
        return FALSE;
    if (!write_changes(rc, error))
        return FALSE;
    if (rc->sum->accounts == 0) /* tiers only */
        for (int t = 0; t <= KZ_TIER_HIGH; t++)
            rc->sum->accounts += rc->sum->per_tier[t];
    if (sqlite3_prepare_v2(rc->db, "UPDATE lifecycle_runs SET accounts = ?, changes = ? WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return kz_sql_fail(rc->db, error, "preparing lifecycle_runs");
    sqlite3_bind_int64(st, 1, rc->sum->accounts);
    sqlite3_bind_int64(st, 2, rc->changes->len);
    sqlite3_bind_int64(st, 3, rc->run);
    ok = sqlite3_step(st) == SQLITE_DONE || kz_sql_fail(rc->db, error, "recording the run");
    sqlite3_finalize(st);
    return ok;
}

gboolean kz_lifecycle_run(kz_store *store, const kz_config *cfg, gint64 as_of_us, kz_lifecycle_summary *out,
                          GError **error)
{
    memset(out, 0, sizeof *out);
    out->as_of_us = as_of_us;
    if (cfg->phases == NULL && cfg->tier_rules == NULL)
        return TRUE;
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(lc_scope) s = lc_scope_new(cfg, as_of_us, FALSE);
    g_autoptr(lc_scope) ts = lc_scope_new(cfg, as_of_us, TRUE);
    cond_set pcs, tcs;
    cond_set_init(&pcs);
    cond_set_init(&tcs);
    phase_conds pc[KZ_PHASE_CHURNED + 1];
    g_autofree int *rules = g_new0(int, cfg->tier_rules != NULL ? cfg->tier_rules->len + 1 : 1);
    gboolean ok = FALSE;
    if (kz_lifecycle_check(cfg, errors)) {
        compile_phases(cfg, s, &pcs, pc, errors);
        compile_tiers(cfg, ts, &tcs, rules, errors);
    }
    if (errors->len > 0) {
        g_ptr_array_add(errors, NULL);
        g_autofree char *all = g_strjoinv("\n", (char **)errors->pdata);
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "%s", all);
        goto out;
    }
    GHashTable *used = g_hash_table_new(g_str_hash, g_str_equal);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, pcs.used_measures);
    while (g_hash_table_iter_next(&it, &k, &v))
        g_hash_table_insert(used, k, v);
    g_hash_table_iter_init(&it, tcs.used_measures);
    while (g_hash_table_iter_next(&it, &k, &v))
        g_hash_table_insert(used, k, v);
    ok = kz_account_measures_load(store, cfg, as_of_us, used, error);
    g_hash_table_unref(used);
    if (!ok)
        goto out;
    sqlite3 *db = kz_store_db(store);
    run_ctx rc = {db, as_of_us, 0, g_array_new(FALSE, FALSE, sizeof(change)), out};
    g_array_set_clear_func(rc.changes, (GDestroyNotify)change_clear);
    kz_store_lock(store);
    ok = kz_sql_exec(db, "BEGIN IMMEDIATE", error);
    if (ok) {
        ok = run_locked(&rc, cfg, &pcs, pc, &tcs, rules, error);
        ok = ok ? kz_sql_exec(db, "COMMIT", error) : (sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), FALSE);
    }
    kz_store_unlock(store);
    g_array_unref(rc.changes);
    sqlite3_exec(db, "DROP TABLE IF EXISTS temp.lc_measures", NULL, NULL, NULL);
out:
    cond_set_clear(&pcs);
    cond_set_clear(&tcs);
    return ok;
}
