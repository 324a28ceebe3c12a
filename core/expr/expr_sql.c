/*
 * core/expr/expr_sql.c — see expr_sql.h. Compiling is two walks over the
 * tree: type_of() checks a node and says what type it has, emit() writes
 * its SQL once everything under it is known to fit. Conditions are emitted
 * two-valued ("(x) IS 1") so SQL's NULL never leaks into AND, OR and NOT.
 */
#include "expr_sql.h"

#include "../errors.h"
#include "../values.h"

#include <kizuna/common.h>
#include <string.h>

/* ---- the account scope ------------------------------------------------- */

/* ARR in major units: minor units over 10^digits of the currency
 * (values.h). Each list ends in NULL, which matches nothing. */
#define SQL_CODE(c) "'" #c "', "
// clang-format off
static const char arr_major_sql[] =
    "(CAST(a.arr_minor AS REAL) / CASE"
    " WHEN a.currency IN (" KZ_CURRENCIES_0_DIGITS(SQL_CODE) "NULL) THEN 1"
    " WHEN a.currency IN (" KZ_CURRENCIES_3_DIGITS(SQL_CODE) "NULL) THEN 1000"
    " WHEN a.currency IN (" KZ_CURRENCIES_4_DIGITS(SQL_CODE) "NULL) THEN 10000"
    " ELSE 100 END)";
// clang-format on

static const kz_expr_field account_fields[] = {
    {"id", "a.id", KZ_VALUE_STRING, "the account's id in the company's systems"},
    {"name", "a.name", KZ_VALUE_STRING, "the company's name"},
    {"region", "a.region", KZ_VALUE_STRING, "e.g. emea, hokkaido"},
    {"segment", "a.segment", KZ_VALUE_STRING, "e.g. enterprise, smb"},
    {"plan", "a.plan", KZ_VALUE_STRING, "the plan the account is on"},
    {"arr", arr_major_sql, KZ_VALUE_DOUBLE, "annual recurring revenue in major units of its currency (1234.5)"},
    {"arr_minor", "a.arr_minor", KZ_VALUE_INT, "annual recurring revenue in minor units, as stored (123450)"},
    {"currency", "a.currency", KZ_VALUE_STRING, "ISO 4217 code of arr"},
    {"contract_start", "a.contract_start_us", KZ_VALUE_TIME, "when the contract started"},
    {"renewal_date", "a.renewal_date_us", KZ_VALUE_TIME, "when the contract renews"},
    {"owner", "a.crm_owner", KZ_VALUE_STRING, "the CSM the CRM names as owner"},
};

static const kz_expr_scope account_scope = {
    "account",
    account_fields,
    G_N_ELEMENTS(account_fields),
    "SELECT t.value FROM account_traits AS t WHERE t.account_id = a.id AND t.name = ",
    "t.type",
};

const kz_expr_scope *kz_expr_account_scope(void)
{
    return &account_scope;
}

/* ---- types ------------------------------------------------------------- */

/* What the checker knows about a node's value. */
typedef enum {
    T_ERROR = -1, /* the error is set */
    T_NULL,       /* the literal null */
    T_BOOL,
    T_NUMBER,
    T_STRING,
    T_TIME,
    T_ANY /* a trait: its type depends on the account */
} vtype;

static const char *const vtype_name[] = {"null", "true or false", "a number", "a string", "a time", "a trait"};

typedef struct {
    const kz_expr_scope *scope;
    GString *sql;
    GArray *params;
    guint next_param;
    GError **error;
} compiler;

static vtype fail(compiler *c, const kz_expr *at, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static vtype fail(compiler *c, const kz_expr *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(c->error, KZ_ERROR, KZ_ERROR_INVALID, "column %u: %s", at->column, msg);
    return T_ERROR;
}

static const kz_expr_field *find_field(const kz_expr_scope *scope, const char *name)
{
    for (gsize i = 0; i < scope->n_fields; i++)
        if (strcmp(scope->fields[i].name, name) == 0)
            return &scope->fields[i];
    return NULL;
}

static vtype of_value_type(int type)
{
    switch (type) {
    case KZ_VALUE_NULL: return T_NULL;
    case KZ_VALUE_BOOL: return T_BOOL;
    case KZ_VALUE_INT:
    case KZ_VALUE_DOUBLE: return T_NUMBER;
    case KZ_VALUE_TIME: return T_TIME;
    default: return T_STRING;
    }
}

static gboolean is_string_literal(const kz_expr *e)
{
    return e->kind == KZ_EXPR_LITERAL && e->value.type == KZ_VALUE_STRING;
}

static vtype type_of(compiler *c, const kz_expr *e);

/* "region (a string)" */
static char *shown(const kz_expr *e, vtype t)
{
    g_autofree char *text = kz_expr_describe(e);
    if (t == T_NULL)
        return g_steal_pointer(&text);
    return g_strdup_printf("%s (%s)", text, vtype_name[t]);
}

/* Checks that `l` and `r` may be compared (`ordered`: with <, BETWEEN)
 * and returns the type they are compared as: T_ANY when neither says. */
static vtype unify(compiler *c, const kz_expr *at, const kz_expr *l, vtype lt, const kz_expr *r, vtype rt,
                   gboolean ordered)
{
    if (lt == T_NULL || rt == T_NULL) {
        if (ordered)
            return fail(c, at, "null has no order; test a missing value with IS NULL or IS NOT NULL");
        return lt == T_NULL ? rt : lt;
    }
    if (lt == T_ANY)
        return rt;
    if (rt == T_ANY || lt == rt)
        return lt;
    /* a 'string' compared with a time is a date */
    const kz_expr *text = lt == T_TIME && is_string_literal(r) ? r : rt == T_TIME && is_string_literal(l) ? l : NULL;
    if (text != NULL) {
        gint64 us = 0;
        if (!kz_time_parse(text->value.u.s, &us))
            return fail(c, text,
                        "'%s' is not a date; expected YYYY-MM-DD or an ISO 8601 time such as 2026-01-31T09:00:00Z",
                        text->value.u.s);
        return T_TIME;
    }
    g_autofree char *ls = shown(l, lt);
    g_autofree char *rs = shown(r, rt);
    return fail(c, at, "cannot compare %s with %s", ls, rs);
}

/* Checks that `e` has type `want` (a trait may have any). */
static gboolean expect(compiler *c, const kz_expr *op, const char *what, const kz_expr *e, vtype want)
{
    vtype t = type_of(c, e);
    if (t == T_ERROR)
        return FALSE;
    if (t == want || t == T_ANY)
        return TRUE;
    const char *needs = want == T_NUMBER ? "numbers" : "strings";
    g_autofree char *text = kz_expr_describe(e);
    if (t == T_NULL)
        fail(c, op, "%s needs %s, not null", what, needs);
    else
        fail(c, op, "%s needs %s; %s is %s", what, needs, text, vtype_name[t]);
    return FALSE;
}

static gboolean expect_condition(compiler *c, const kz_expr *e)
{
    vtype t = type_of(c, e);
    if (t == T_ERROR)
        return FALSE;
    if (t == T_BOOL || t == T_ANY)
        return TRUE;
    g_autofree char *got = shown(e, t);
    fail(c, e, "expected a condition such as region = 'emea', got %s", got);
    return FALSE;
}

static const char *const arith_word[] = {"+", "-", "*", "/"};

static vtype type_of(compiler *c, const kz_expr *e)
{
    const kz_expr *a0 = e->args != NULL ? e->args->pdata[0] : NULL;
    switch (e->kind) {
    case KZ_EXPR_LITERAL: return of_value_type(e->value.type);
    case KZ_EXPR_FIELD: {
        const kz_expr_field *f = find_field(c->scope, e->name);
        if (f != NULL)
            return of_value_type(f->type);
        GString *known = g_string_new(NULL);
        for (gsize i = 0; i < c->scope->n_fields; i++)
            g_string_append_printf(known, "%s%s", i > 0 ? ", " : "", c->scope->fields[i].name);
        g_autofree char *list = g_string_free(known, FALSE);
        return fail(c, e, "unknown field '%s'; %s fields are %s; a trait is written trait.%s", e->name, c->scope->row,
                    list, e->name);
    }
    case KZ_EXPR_TRAIT: return T_ANY;
    case KZ_EXPR_NEGATE: return expect(c, e, "-", a0, T_NUMBER) ? T_NUMBER : T_ERROR;
    case KZ_EXPR_ARITH:
        return expect(c, e, arith_word[e->op], a0, T_NUMBER) &&
                       expect(c, e, arith_word[e->op], e->args->pdata[1], T_NUMBER)
                   ? T_NUMBER
                   : T_ERROR;
    case KZ_EXPR_LIKE:
    case KZ_EXPR_CONTAINS: {
        const char *word = e->kind == KZ_EXPR_LIKE ? "LIKE" : "CONTAINS";
        return expect(c, e, word, a0, T_STRING) && expect(c, e, word, e->args->pdata[1], T_STRING) ? T_BOOL : T_ERROR;
    }
    case KZ_EXPR_IS_NULL: return type_of(c, a0) == T_ERROR ? T_ERROR : T_BOOL;
    case KZ_EXPR_NOT: return expect_condition(c, a0) ? T_BOOL : T_ERROR;
    case KZ_EXPR_AND:
    case KZ_EXPR_OR: return expect_condition(c, a0) && expect_condition(c, e->args->pdata[1]) ? T_BOOL : T_ERROR;
    case KZ_EXPR_COMPARE:
    case KZ_EXPR_IN:
    case KZ_EXPR_BETWEEN: break;
    }
    /* comparisons: every other argument against the first */
    gboolean ordered =
        e->kind == KZ_EXPR_BETWEEN || (e->kind == KZ_EXPR_COMPARE && e->op != KZ_EXPR_EQ && e->op != KZ_EXPR_NE);
    vtype lt = type_of(c, a0);
    if (lt == T_ERROR)
        return T_ERROR;
    for (guint i = 1; i < e->args->len; i++) {
        const kz_expr *r = e->args->pdata[i];
        vtype rt = type_of(c, r);
        if (rt == T_ERROR || unify(c, e, a0, lt, r, rt, ordered) == T_ERROR)
            return T_ERROR;
    }
    return T_BOOL;
}

/* ---- emitting SQL ------------------------------------------------------ */

static void emit(compiler *c, const kz_expr *e, vtype want);

static void param(compiler *c, const kz_expr_value *v)
{
    kz_expr_value copy = *v;
    if (v->type == KZ_VALUE_STRING)
        copy.u.s = g_strdup(v->u.s);
    g_array_append_val(c->params, copy);
    g_string_append_printf(c->sql, "?%u", c->next_param++);
}

/* The type the arguments of a comparison are compared as, which a trait
 * among them takes: the one type the others agree on, T_TIME when the
 * others are times and dates written as strings (type_of() checked those),
 * else T_ANY (the trait is compared as it is stored). */
static vtype context_of(compiler *c, const GPtrArray *args)
{
    vtype found = T_ANY;
    gboolean mixed = FALSE, has_time = FALSE, all_times = TRUE;
    for (guint i = 0; i < args->len; i++) {
        const kz_expr *e = args->pdata[i];
        vtype t = type_of(c, e);
        if (t == T_ANY || t == T_NULL)
            continue;
        gint64 us = 0;
        if (t != T_TIME && !(is_string_literal(e) && kz_time_parse(e->value.u.s, &us)))
            all_times = FALSE;
        has_time = has_time || t == T_TIME;
        mixed = mixed || (found != T_ANY && found != t);
        found = t;
    }
    if (!mixed)
        return found;
    return has_time && all_times ? T_TIME : T_ANY;
}

/* `e` as SQL that is 1 or 0, never NULL. */
static void chain(compiler *c, const kz_expr *e, int kind);

static void condition(compiler *c, const kz_expr *e)
{
    switch (e->kind) {
    case KZ_EXPR_COMPARE:
    case KZ_EXPR_IS_NULL:
    case KZ_EXPR_IN:
    case KZ_EXPR_BETWEEN:
    case KZ_EXPR_LIKE:
    case KZ_EXPR_CONTAINS:
    case KZ_EXPR_NOT:
    case KZ_EXPR_AND:
    case KZ_EXPR_OR: emit(c, e, T_BOOL); return;
    default: /* a true/false value: a literal or a trait */
        g_string_append_c(c->sql, '(');
        emit(c, e, T_BOOL);
        g_string_append(c->sql, " IS 1)");
    }
}

static void emit_trait(compiler *c, const kz_expr *e, vtype want)
{
    kz_expr_value name = {.type = KZ_VALUE_STRING, .u.s = e->name};
    g_string_append_printf(c->sql, "(%s", c->scope->trait_select);
    param(c, &name);
    switch (want) {
    case T_NUMBER:
        g_string_append_printf(c->sql, " AND %s IN (%d, %d)", c->scope->trait_type, KZ_VALUE_INT, KZ_VALUE_DOUBLE);
        break;
    case T_STRING: g_string_append_printf(c->sql, " AND %s = %d", c->scope->trait_type, KZ_VALUE_STRING); break;
    case T_BOOL: g_string_append_printf(c->sql, " AND %s = %d", c->scope->trait_type, KZ_VALUE_BOOL); break;
    case T_TIME: g_string_append_printf(c->sql, " AND %s = %d", c->scope->trait_type, KZ_VALUE_TIME); break;
    default: break;
    }
    g_string_append_c(c->sql, ')');
}

static void emit_literal(compiler *c, const kz_expr *e, vtype want)
{
    if (e->value.type == KZ_VALUE_NULL) {
        g_string_append(c->sql, "NULL");
        return;
    }
    if (e->value.type == KZ_VALUE_STRING && want == T_TIME) {
        kz_expr_value t = {.type = KZ_VALUE_TIME};
        gboolean ok = kz_time_parse(e->value.u.s, &t.u.t);
        g_assert(ok); /* type_of() checked it */
        param(c, &t);
        return;
    }
    param(c, &e->value);
}

static const char *const cmp_sql[] = {"=", "<>", "<", "<=", ">", ">="};

static gboolean is_null_literal(const kz_expr *e)
{
    return e->kind == KZ_EXPR_LITERAL && e->value.type == KZ_VALUE_NULL;
}

/* `x IN (...)`: the items that are not null match by SQL IN, a null item
 * matches a missing value. */
static void emit_in(compiler *c, const kz_expr *e, vtype context)
{
    const kz_expr *l = e->args->pdata[0];
    guint values = 0;
    gboolean null_item = FALSE;
    for (guint i = 1; i < e->args->len; i++) {
        if (is_null_literal(e->args->pdata[i]))
            null_item = TRUE;
        else
            values++;
    }
    g_string_append(c->sql, e->negated ? "(NOT (" : "((");
    if (values > 0) {
        g_string_append(c->sql, "(");
        emit(c, l, context);
        g_string_append(c->sql, " IN (");
        guint n = 0;
        for (guint i = 1; i < e->args->len; i++) {
            if (is_null_literal(e->args->pdata[i]))
                continue;
            if (n++ > 0)
                g_string_append(c->sql, ", ");
            emit(c, e->args->pdata[i], context);
        }
        g_string_append(c->sql, ")) IS 1");
    }
    if (null_item) {
        g_string_append(c->sql, values > 0 ? " OR " : "");
        emit(c, l, T_ANY);
        g_string_append(c->sql, " IS NULL");
    }
    g_string_append(c->sql, "))");
}

static void emit(compiler *c, const kz_expr *e, vtype want)
{
    GString *s = c->sql;
    const kz_expr *a0 = e->args != NULL ? e->args->pdata[0] : NULL;
    const kz_expr *a1 = e->args != NULL && e->args->len > 1 ? e->args->pdata[1] : NULL;
    switch (e->kind) {
    case KZ_EXPR_LITERAL: emit_literal(c, e, want); return;
    case KZ_EXPR_FIELD: g_string_append(s, find_field(c->scope, e->name)->sql); return;
    case KZ_EXPR_TRAIT: emit_trait(c, e, want); return;
    case KZ_EXPR_NEGATE:
        g_string_append(s, "(-");
        emit(c, a0, T_NUMBER);
        g_string_append_c(s, ')');
        return;
    case KZ_EXPR_ARITH:
        g_string_append(s, e->op == KZ_EXPR_DIV ? "(CAST(" : "(");
        emit(c, a0, T_NUMBER);
        g_string_append_printf(s, "%s %s ", e->op == KZ_EXPR_DIV ? " AS REAL)" : "", arith_word[e->op]);
        emit(c, a1, T_NUMBER);
        g_string_append_c(s, ')');
        return;
    case KZ_EXPR_COMPARE: {
        vtype context = context_of(c, e->args);
        if (e->op == KZ_EXPR_EQ || e->op == KZ_EXPR_NE) {
            const char *is = e->op == KZ_EXPR_EQ ? " IS " : " IS NOT ";
            g_string_append_c(s, '(');
            if (is_null_literal(a0) || is_null_literal(a1)) {
                emit(c, is_null_literal(a0) ? a1 : a0, T_ANY);
                g_string_append_printf(s, "%sNULL", is);
            } else {
                emit(c, a0, context);
                g_string_append(s, is);
                emit(c, a1, context);
            }
            g_string_append_c(s, ')');
            return;
        }
        g_string_append(s, "((");
        emit(c, a0, context);
        g_string_append_printf(s, " %s ", cmp_sql[e->op]);
        emit(c, a1, context);
        g_string_append(s, ") IS 1)");
        return;
    }
    case KZ_EXPR_IS_NULL:
        g_string_append_c(s, '(');
        emit(c, a0, T_ANY);
        g_string_append(s, e->negated ? " IS NOT NULL)" : " IS NULL)");
        return;
    case KZ_EXPR_IN: emit_in(c, e, context_of(c, e->args)); return;
    case KZ_EXPR_BETWEEN: {
        vtype context = context_of(c, e->args);
        g_string_append(s, e->negated ? "(NOT ((" : "(((");
        emit(c, a0, context);
        g_string_append(s, " BETWEEN ");
        emit(c, a1, context);
        g_string_append(s, " AND ");
        emit(c, e->args->pdata[2], context);
        g_string_append(s, ") IS 1))");
        return;
    }
    case KZ_EXPR_LIKE:
    case KZ_EXPR_CONTAINS:
        g_string_append(s, e->negated ? "(NOT ((" : "(((");
        if (e->kind == KZ_EXPR_LIKE) {
            emit(c, a0, T_STRING);
            g_string_append(s, " LIKE ");
            emit(c, a1, T_STRING);
        } else {
            g_string_append(s, "instr(lower(");
            emit(c, a0, T_STRING);
            g_string_append(s, "), lower(");
            emit(c, a1, T_STRING);
            g_string_append(s, ")) > 0");
        }
        g_string_append(s, ") IS 1))");
        return;
    case KZ_EXPR_NOT: {
        /* every condition is 0 or 1, so NOT NOT x is x: a run of NOTs
         * becomes at most one (SQLite's parser stack is not deep) */
        gboolean negate = TRUE;
        const kz_expr *inner = a0;
        while (inner->kind == KZ_EXPR_NOT) {
            negate = !negate;
            inner = inner->args->pdata[0];
        }
        g_string_append(s, negate ? "(NOT " : "(");
        condition(c, inner);
        g_string_append_c(s, ')');
        return;
    }
    case KZ_EXPR_AND:
    case KZ_EXPR_OR:
        /* a chain of one operator is written flat: "(a OR b OR c)", which
         * SQLite parses at constant depth, not "((a OR b) OR c)" */
        g_string_append_c(s, '(');
        chain(c, e, e->kind);
        g_string_append_c(s, ')');
        return;
    }
}

static void chain(compiler *c, const kz_expr *e, int kind)
{
    if ((int)e->kind != kind) {
        condition(c, e);
        return;
    }
    chain(c, e->args->pdata[0], kind);
    g_string_append(c->sql, kind == KZ_EXPR_AND ? " AND " : " OR ");
    chain(c, e->args->pdata[1], kind);
}

static void clear_value(gpointer data)
{
    kz_expr_value *v = data;
    if (v->type == KZ_VALUE_STRING)
        g_free(v->u.s);
}

kz_expr_sql *kz_expr_sql_compile(const kz_expr *expr, const kz_expr_scope *scope, guint first_param, GError **error)
{
    g_return_val_if_fail(expr != NULL && scope != NULL && first_param >= 1, NULL);
    compiler c = {.scope = scope, .next_param = first_param, .error = error};
    if (!expect_condition(&c, expr))
        return NULL;
    kz_expr_sql *out = g_new0(kz_expr_sql, 1);
    out->first_param = first_param;
    out->params = g_array_new(FALSE, TRUE, sizeof(kz_expr_value));
    g_array_set_clear_func(out->params, clear_value);
    c.sql = g_string_new(NULL);
    c.params = out->params;
    condition(&c, expr);
    out->where = g_string_free(c.sql, FALSE);
    return out;
}

void kz_expr_sql_free(kz_expr_sql *sql)
{
    if (sql == NULL)
        return;
    g_free(sql->where);
    g_array_unref(sql->params);
    g_free(sql);
}

int kz_expr_sql_bind(const kz_expr_sql *sql, sqlite3_stmt *st)
{
    for (guint i = 0; i < sql->params->len; i++) {
        const kz_expr_value *v = &g_array_index(sql->params, kz_expr_value, i);
        int n = (int)(sql->first_param + i), rc = SQLITE_OK;
        switch (v->type) {
        case KZ_VALUE_STRING: rc = sqlite3_bind_text(st, n, v->u.s, -1, SQLITE_TRANSIENT); break;
        case KZ_VALUE_INT: rc = sqlite3_bind_int64(st, n, v->u.i); break;
        case KZ_VALUE_DOUBLE: rc = sqlite3_bind_double(st, n, v->u.d); break;
        case KZ_VALUE_BOOL: rc = sqlite3_bind_int(st, n, v->u.b ? 1 : 0); break;
        case KZ_VALUE_TIME: rc = sqlite3_bind_int64(st, n, v->u.t); break;
        default: rc = sqlite3_bind_null(st, n); break;
        }
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* ---- reading only ------------------------------------------------------ */

/* The functions emit() writes. */
static const char *const compiler_functions[] = {"like", "instr", "lower", NULL};

static gboolean listed(const char *const *list, const char *name)
{
    for (; list != NULL && *list != NULL && name != NULL; list++)
        if (g_ascii_strcasecmp(*list, name) == 0)
            return TRUE;
    return FALSE;
}

static int authorize(void *data, int action, const char *arg1, const char *arg2, const char *db, const char *trigger)
{
    const kz_expr_sql_policy *policy = data;
    (void)trigger;
    switch (action) {
    case SQLITE_SELECT: return SQLITE_OK;
    case SQLITE_READ: /* arg1: table, arg2: column */
        return db != NULL && strcmp(db, "main") == 0 && listed(policy->tables, arg1) ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_FUNCTION: /* arg2: function name */
        return listed(compiler_functions, arg2) || listed(policy->functions, arg2) ? SQLITE_OK : SQLITE_DENY;
    default: return SQLITE_DENY;
    }
}

void kz_expr_sql_restrict(sqlite3 *db, const kz_expr_sql_policy *policy)
{
    sqlite3_set_authorizer(db, authorize, (void *)policy);
}

sqlite3_stmt *kz_expr_sql_prepare(sqlite3 *db, const char *select, const kz_expr_sql *where, GError **error)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    if (sqlite3_prepare_v2(db, select, -1, &st, &tail) != SQLITE_OK) {
        if (strstr(sqlite3_errmsg(db), "parser stack overflow") != NULL) /* the input's shape, not the store */
            g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID,
                        "the expression is nested too deeply for the store to run; flatten it (a chain of "
                        "ORs of one field is better written with IN)");
        else
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "cannot prepare the query: %s", sqlite3_errmsg(db));
        return NULL;
    }
    while (tail != NULL && g_ascii_isspace(*tail))
        tail++;
    if (st == NULL || (tail != NULL && *tail != '\0') || !sqlite3_stmt_readonly(st)) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "refused the query: %s",
                    st == NULL                   ? "it is empty"
                    : !sqlite3_stmt_readonly(st) ? "it would write"
                                                 : "it is more than one statement");
        sqlite3_finalize(st);
        return NULL;
    }
    int rc = where != NULL ? kz_expr_sql_bind(where, st) : SQLITE_OK;
    if (rc != SQLITE_OK) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "cannot bind the query's values: %s", sqlite3_errstr(rc));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

static const char *const customer_tables[] = {"accounts", "account_traits", "contacts",       "usage_events",
                                              "tickets",  "subscriptions",  "survey_answers", NULL};
static const char *const customer_functions[] = {"count", NULL};
static const kz_expr_sql_policy customer_policy = {customer_tables, customer_functions};

const kz_expr_sql_policy *kz_expr_customer_policy(void)
{
    return &customer_policy;
}
