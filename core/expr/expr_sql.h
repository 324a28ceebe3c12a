/*
 * core/expr/expr_sql.h — runs expressions (expr.h) in the store: checks a
 * tree against a scope (the fields one row offers), compiles it into an
 * SQL condition with bound parameters, and prepares the statement around
 * it so that nothing but a read can run.
 *
 * No text of the expression is ever copied into SQL: a field becomes SQL
 * that the host wrote (its kz_expr_field), and trait names and literals
 * become bound parameters. Reading only is then enforced three more times:
 * kz_expr_sql_prepare() refuses anything but one read-only statement,
 * kz_expr_sql_restrict() installs an authorizer that denies everything but
 * SELECT, reading named tables and calling a few functions, and callers
 * open the store read-only (kz_store_open_readonly).
 *
 * Meaning (docs/cli.md, "Expressions", is the user's version):
 *  - Types are checked before anything runs: numbers (integers and
 *    decimals) compare with numbers, strings with strings, times with times
 *    (a 'string' compared with a time must be a date), true/false with
 *    true/false. A trait has no type of its own: it takes the type of what
 *    it is compared with, and an account whose trait holds another type
 *    counts as not having it.
 *  - Missing values (null fields, absent traits) never make a condition
 *    unknown: `=` and `!=` treat null as a value (region != 'emea' holds for
 *    an account without a region; region = null is region IS NULL), while
 *    <, <=, >, >=, BETWEEN, LIKE and CONTAINS with a missing operand are
 *    false. NOT turns true into false and false into true.
 *  - `/` always divides as decimals. LIKE is SQL LIKE (% and _, ASCII case
 *    insensitive); CONTAINS is a case-insensitive (ASCII) substring test.
 */
#ifndef KZ_CORE_EXPR_SQL_H
#define KZ_CORE_EXPR_SQL_H

#include "expr.h"

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* One field a scope offers. */
typedef struct kz_expr_field {
    const char *name; /* as written in expressions */
    const char *sql;  /* its value in SQL over the scope's row; host text, never user text */
    int type;         /* enum kz_value_type of the value */
    const char *help; /* one line, for documentation */
} kz_expr_field;

/* What a bare name and trait.NAME mean for one kind of row. */
typedef struct kz_expr_scope {
    const char *row; /* "account": for messages */
    const kz_expr_field *fields;
    gsize n_fields;
    /* SQL selecting one trait's value for the row, up to the bound name:
     * "SELECT t.value FROM account_traits AS t WHERE t.account_id = a.id AND t.name = " */
    const char *trait_select;
    const char *trait_type; /* the column of that SELECT holding the enum kz_value_type */
} kz_expr_scope;

/* Accounts, as the row `a` of `FROM accounts AS a`: id, name, region,
 * segment, plan, arr (ARR in major units of the currency, a decimal),
 * arr_minor, currency, contract_start, renewal_date, owner; traits from
 * account_traits. */
const kz_expr_scope *kz_expr_account_scope(void);

/* A compiled condition. */
typedef struct kz_expr_sql {
    char *where;       /* SQL that is 1 or 0 for a row, never NULL */
    GArray *params;    /* kz_expr_value, bound in order to ?first_param, ?first_param + 1, ... */
    guint first_param; /* so a caller can put the condition inside a larger statement */
} kz_expr_sql;

/* Checks `expr` against `scope` and compiles it. Fails with
 * KZ_ERROR_INVALID and "column N: ..." on an unknown field, on operands
 * whose types do not fit, or when the whole is not a condition. */
kz_expr_sql *kz_expr_sql_compile(const kz_expr *expr, const kz_expr_scope *scope, guint first_param, GError **error);
void kz_expr_sql_free(kz_expr_sql *sql);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_expr_sql, kz_expr_sql_free)

/* Binds the parameters of `sql` to `st`; returns the SQLite status. */
int kz_expr_sql_bind(const kz_expr_sql *sql, sqlite3_stmt *st);

/* What statements prepared on a restricted connection may do. Both lists
 * are NULL-terminated and must outlive the connection. */
typedef struct kz_expr_sql_policy {
    const char *const *tables;    /* the tables of "main" that may be read */
    const char *const *functions; /* functions beyond the compiler's own (like, instr, lower); may be NULL */
} kz_expr_sql_policy;

/* Installs an authorizer on `db` that lets statements prepared from now on
 * only SELECT, read the policy's tables and call the allowed functions.
 * Anything else (writes, PRAGMA, ATTACH, transactions, other tables such as
 * plugin_state) fails to prepare with "not authorized". */
void kz_expr_sql_restrict(sqlite3 *db, const kz_expr_sql_policy *policy);

/* The policy of commands that read the customer tables with an expression
 * (`kizuna accounts --where`, the label of a backtest): those tables and
 * count(), nothing else. */
const kz_expr_sql_policy *kz_expr_customer_policy(void);

/* Prepares `select` (a whole statement; `where` may be NULL) on `db` and
 * binds `where`'s parameters. Refuses, with KZ_ERROR_STORE, a text that is
 * not exactly one statement or a statement that is not read-only. The
 * caller finalizes the statement. */
sqlite3_stmt *kz_expr_sql_prepare(sqlite3 *db, const char *select, const kz_expr_sql *where, GError **error);

G_END_DECLS

#endif
