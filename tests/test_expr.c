/*
 * tests/test_expr.c — the expression language and its SQL compiler: the
 * parser's precedence and every error with its column; the checker's type
 * errors; what conditions select in a real store (fields, traits, dates,
 * IN, BETWEEN, LIKE, CONTAINS, arithmetic, missing values); and that
 * nothing written as an expression can do anything but read — injection
 * attempts are refused or harmless, and each guard (read-only statement,
 * authorizer, read-only connection) holds on its own.
 */
#include "errors.h"
#include "expr/expr.h"
#include "expr/expr_sql.h"
#include "store/store.h"
#include "testutil.h"

#include <kizuna/common.h>
#include <sqlite3.h>
#include <string.h>

/* ---- parsing ----------------------------------------------------------- */

static char *parsed(const char *text)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_expr) e = kz_expr_parse(text, &err);
    g_assert_no_error(err);
    g_assert_nonnull(e);
    char *out = kz_expr_to_string(e);
    /* what to_string writes parses back to the same tree */
    g_autoptr(kz_expr) again = kz_expr_parse(out, &err);
    g_assert_no_error(err);
    g_autofree char *out2 = kz_expr_to_string(again);
    g_assert_cmpstr(out, ==, out2);
    return out;
}

static void test_expr_parse_precedence(void)
{
    const struct {
        const char *text, *tree;
    } cases[] = {
        {"a = 1 or b = 2 and c = 3", "((a = 1) OR ((b = 2) AND (c = 3)))"},
        {"(a = 1 OR b = 2) AND c = 3", "(((a = 1) OR (b = 2)) AND (c = 3))"},
        {"NOT a = 1 AND b = 2", "((NOT (a = 1)) AND (b = 2))"},
        {"not not a = 1", "(NOT (NOT (a = 1)))"},
        {"arr + 2 * 3 > -4", "((arr + (2 * 3)) > -4)"},
        {"x - 1 - 2 = x / 2 / 3", "(((x - 1) - 2) = ((x / 2) / 3))"},
        {"-(x) < - 2.5", "((-x) < -2.5)"},
        {"1.5e3 = 1500", "(1500.0 = 1500)"},
        {"x <> 1", "(x != 1)"},
        {"region NOT IN ('a', 'b') AND x in (1)", "((region NOT IN ('a', 'b')) AND (x IN (1)))"},
        {"arr between 1 and 2 and x = 1", "((arr BETWEEN 1 AND 2) AND (x = 1))"},
        {"arr NOT BETWEEN 1 + 1 AND 2 * 2", "(arr NOT BETWEEN (1 + 1) AND (2 * 2))"},
        {"x is not null or y IS NULL", "((x IS NOT NULL) OR (y IS NULL))"},
        {"name not like 'A%' and name contains 'it''s'", "((name NOT LIKE 'A%') AND (name CONTAINS 'it''s'))"},
        {"trait.tier = 'gold'", "(trait.tier = 'gold')"},
        {"TRAITS.\"nps score\" >= 9", "(trait.\"nps score\" >= 9)"},
        {"trait.in = 1 and trait.\"say \"\"hi\"\"\" = ''", "((trait.\"in\" = 1) AND (trait.\"say \"\"hi\"\"\" = ''))"},
        {"date('2026-01-31') < renewal_date", "(date('2026-01-31') < renewal_date)"},
        {"DATE('2026-01-31T09:30:00+09:00') = x", "(date('2026-01-31T00:30:00Z') = x)"},
        {"true AND NOT false OR null IS NULL", "((true AND (NOT false)) OR (null IS NULL))"},
        {"\tregion\n=\r'x'  ", "(region = 'x')"},
        {"trait.vip", "trait.vip"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *tree = parsed(cases[i].text);
        g_assert_cmpstr(tree, ==, cases[i].tree);
    }
    /* nodes know their column: the operator's for operators */
    g_autoptr(kz_expr) e = kz_expr_parse("name = 'é' AND arr > 1", NULL);
    g_assert_nonnull(e);
    g_assert_cmpuint(e->kind, ==, KZ_EXPR_AND);
    g_assert_cmpuint(e->column, ==, 12);
    const kz_expr *cmp = e->args->pdata[1];
    g_assert_cmpuint(cmp->column, ==, 20);
    g_assert_cmpuint(((const kz_expr *)cmp->args->pdata[0])->column, ==, 16);
}

static void test_expr_parse_errors(void)
{
    g_autofree char *long_text = g_strnfill(KZ_EXPR_MAX_LENGTH + 1, ' ');
    GString *nested = g_string_new(NULL);
    for (int i = 0; i < KZ_EXPR_MAX_DEPTH + 1; i++)
        g_string_append_c(nested, '(');
    g_string_append(nested, "x = 1");
    for (int i = 0; i < KZ_EXPR_MAX_DEPTH + 1; i++)
        g_string_append_c(nested, ')');
    g_autofree char *nested_text = g_string_free(nested, FALSE);
#define VALUE_EXPECTED                                                                                                 \
    "expected a value (a field, trait.NAME, a number, a 'string', true, false, null, "                                 \
    "date('YYYY-MM-DD') or '('), got "
    const struct {
        const char *text, *message;
    } cases[] = {
        {"region == 'x'", "column 8: unknown operator '=='; expected =, !=, <>, <, <=, >, >="},
        {"a === b", "column 3: unknown operator '==='; expected =, !=, <>, <, <=, >, >="},
        {"a =< b", "column 3: unknown operator '=<'; expected =, !=, <>, <, <=, >, >="},
        {"a && b", "column 3: unknown operator '&&'; write AND"},
        {"a || b", "column 3: unknown operator '||'; write OR"},
        {"! a = 1", "column 1: unknown operator '!'; write NOT, or != for not equal"},
        {"", "column 1: the expression is empty; expected a condition such as region = 'emea'"},
        {"   ", "column 4: the expression is empty; expected a condition such as region = 'emea'"},
        {"region = ", "column 10: " VALUE_EXPECTED "the end of the expression"},
        {"region = AND", "column 10: " VALUE_EXPECTED "AND"},
        {"(region = 'x'", "column 14: expected ')' to close the '(' at column 1, got the end of the expression"},
        {"region = 'x')", "column 13: unexpected ')': no '(' is open"},
        {"region = 'x' segment = 'y'",
         "column 14: unexpected 'segment'; expected AND, OR or the end of the expression"},
        {"region 'x'", "column 8: unexpected 'x'; expected an operator (=, !=, <>, <, <=, >, >=, IS, IN, BETWEEN, "
                       "LIKE, CONTAINS, +, -, *, /), AND, OR or the end of the expression"},
        {"a = 1 = 2", "column 7: unexpected '=': comparisons do not chain; join them with AND"},
        {"region IN 'x'", "column 11: expected '(' after IN, as in region IN ('emea', 'apac'), got 'x'"},
        {"region IN ('a' 'b')", "column 16: expected ',' or ')' in the IN list, got 'b'"},
        {"region IN ()", "column 12: " VALUE_EXPECTED "')'"},
        {"arr BETWEEN 1 OR 2",
         "column 15: expected AND between the bounds of BETWEEN, as in arr BETWEEN 1000 AND 5000, got OR"},
        {"region IS 'x'", "column 11: expected NULL or NOT NULL after IS, got 'x'"},
        {"region IS NOT 5", "column 15: expected NULL after IS NOT, got '5'"},
        {"region NOT = 'x'", "column 12: expected IN, BETWEEN, LIKE or CONTAINS after NOT, got '='"},
        {"trait. = 1", "column 8: expected a trait name after 'trait.', got '='"},
        {"traits.5 = 1", "column 8: expected a trait name after 'traits.', got '5'"},
        {"trait.\"\" = 1", "column 7: a trait name cannot be empty"},
        {"name = 'it", "column 8: unterminated string: a string ends with ' (write '' for a quote inside it)"},
        {"trait.\"x = 1",
         "column 7: unterminated quoted name: it ends with \" (write \"\" for a double quote inside it)"},
        {"region = \"emea\"",
         "column 10: a \"quoted\" name can only follow trait.; strings take single quotes: 'text'"},
        {"12abc = 1", "column 1: '12abc' is not a number"},
        {"x = 1.2.3", "column 5: '1.2.3' is not a number"},
        {"99999999999999999999 = 1",
         "column 1: integer 99999999999999999999 is out of range (at most 9223372036854775807)"},
        {"date(2026) < x", "column 6: expected a quoted date such as date('2026-01-31'), got '2026'"},
        {"date('2026-01-31', 'x') < x",
         "column 18: expected ')' after the date: date() takes one quoted date, got ','"},
        {"date('2026-02-30') < x", "column 6: '2026-02-30' is not a date; expected YYYY-MM-DD or an ISO 8601 time "
                                   "such as 2026-01-31T09:00:00Z"},
        {"sleep(10) = 1", "column 1: unknown function 'sleep'; the only function is date('YYYY-MM-DD')"},
        {"id = 'x'; DROP TABLE accounts", "column 9: unexpected ';': an expression is one condition, not a statement"},
        {"name = 'é' AND x ~ 1", "column 18: unexpected character '~'"}, /* characters, not bytes */
        {"région = 1", "column 2: unexpected character 'é': names are ASCII; put a trait name with other characters "
                       "in double quotes, as in trait.\"é\""},
        {"trait.\"日本\" = 'x'", NULL},
        {"x = 1 /* c */", "column 8: " VALUE_EXPECTED "'*'"},
        {"x = '\x01'", NULL}, /* a control character inside a string is just text */
        {"x = 1\x01", "column 6: unexpected character U+0001"},
        {"a = '\xff'", "column 6: the expression is not valid UTF-8"},
        {long_text, "column 1: the expression is longer than 16384 bytes"},
        {nested_text, "column 101: the expression is nested too deeply (more than 100 levels)"},
    };
#undef VALUE_EXPECTED
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(kz_expr) e = kz_expr_parse(cases[i].text, &err);
        if (cases[i].message == NULL) {
            g_assert_no_error(err);
            continue;
        }
        g_assert_null(e);
        g_assert_error(err, KZ_ERROR, KZ_ERROR_INVALID);
        g_assert_cmpstr(err->message, ==, cases[i].message);
    }

    /* a long chain of alternatives is refused with a hint, not a crash */
    GString *chain = g_string_new("id = 'a0'");
    for (int i = 1; i <= KZ_EXPR_MAX_DEPTH; i++)
        g_string_append_printf(chain, " OR id = 'a%d'", i);
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_expr) e = kz_expr_parse(chain->str, &err);
    g_string_free(chain, TRUE);
    g_assert_null(e);
    g_assert_nonnull(strstr(err->message, "nested too deeply (more than 100 levels); for a long list of alternatives "
                                          "use IN (...)"));
}

/* ---- checking ---------------------------------------------------------- */

static void test_expr_compile_errors(void)
{
    const struct {
        const char *text, *message;
    } cases[] = {
        {"regoin = 'x'", "column 1: unknown field 'regoin'; account fields are id, name, region, segment, plan, arr, "
                         "arr_minor, currency, contract_start, renewal_date, owner; a trait is written trait.regoin"},
        {"Region = 'x'", NULL}, /* filled below: field names are case-sensitive */
        {"region = 5", "column 8: cannot compare region (a string) with 5 (a number)"},
        {"arr > 'x'", "column 5: cannot compare arr (a number) with 'x' (a string)"},
        {"contract_start = 5", "column 16: cannot compare contract_start (a time) with 5 (a number)"},
        {"renewal_date < 'soon'", "column 16: 'soon' is not a date; expected YYYY-MM-DD or an ISO 8601 time such as "
                                  "2026-01-31T09:00:00Z"},
        {"region < null", "column 8: null has no order; test a missing value with IS NULL or IS NOT NULL"},
        {"arr BETWEEN null AND 5", "column 5: null has no order; test a missing value with IS NULL or IS NOT NULL"},
        {"region IN ('a', 1)", "column 8: cannot compare region (a string) with 1 (a number)"},
        {"arr BETWEEN 1 AND 'x'", "column 5: cannot compare arr (a number) with 'x' (a string)"},
        {"region + 1 = 2", "column 8: + needs numbers; region is a string"},
        {"-name = 1", "column 1: - needs numbers; name is a string"},
        {"arr * null = 1", "column 5: * needs numbers, not null"},
        {"trait.x + 'a' = 1", "column 9: + needs numbers; 'a' is a string"},
        {"(region = 'x') + 1 = 2", "column 16: + needs numbers; (region = 'x') is true or false"},
        {"arr LIKE 'x'", "column 5: LIKE needs strings; arr is a number"},
        {"name CONTAINS 5", "column 6: CONTAINS needs strings; 5 is a number"},
        {"region", "column 1: expected a condition such as region = 'emea', got region (a string)"},
        {"arr + 1", "column 5: expected a condition such as region = 'emea', got (arr + 1) (a number)"},
        {"region = 'x' AND 5", "column 18: expected a condition such as region = 'emea', got 5 (a number)"},
        {"NOT renewal_date", "column 5: expected a condition such as region = 'emea', got renewal_date (a time)"},
        {"null", "column 1: expected a condition such as region = 'emea', got null"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(kz_expr) e = kz_expr_parse(cases[i].text, &err);
        g_assert_no_error(err);
        g_autoptr(kz_expr_sql) sql = kz_expr_sql_compile(e, kz_expr_account_scope(), 1, &err);
        g_assert_null(sql);
        g_assert_error(err, KZ_ERROR, KZ_ERROR_INVALID);
        if (cases[i].message != NULL)
            g_assert_cmpstr(err->message, ==, cases[i].message);
        else
            g_assert_true(g_str_has_prefix(err->message, "column 1: unknown field 'Region'"));
    }
}

/* Literals and trait names never appear in the SQL: they are parameters,
 * numbered from first_param. */
static void test_expr_compile_binds_everything(void)
{
    g_autoptr(kz_expr) e =
        kz_expr_parse("name = 'x''; DROP TABLE accounts; --' AND trait.\"a'b\" > 5 AND arr_minor IN (1, 2)", NULL);
    g_assert_nonnull(e);
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_expr_sql) sql = kz_expr_sql_compile(e, kz_expr_account_scope(), 3, &err);
    g_assert_no_error(err);
    g_assert_null(strstr(sql->where, "DROP"));
    g_assert_null(strstr(sql->where, "a'b"));
    g_assert_null(strchr(sql->where, ';'));
    g_assert_nonnull(strstr(sql->where, "?3"));
    g_assert_nonnull(strstr(sql->where, "?7"));
    g_assert_null(strstr(sql->where, "?8"));
    g_assert_cmpuint(sql->params->len, ==, 5);
    g_assert_cmpuint(sql->first_param, ==, 3);
    const kz_expr_value *v = &g_array_index(sql->params, kz_expr_value, 0);
    g_assert_cmpint(v->type, ==, KZ_VALUE_STRING);
    g_assert_cmpstr(v->u.s, ==, "x'; DROP TABLE accounts; --");
}

/* ---- running against a store ------------------------------------------- */

typedef struct {
    char *dir, *path;
    sqlite3 *db; /* read-only and restricted, as the commands open it */
} fixture;

static const char *const tables[] = {"accounts", "account_traits", NULL};
static const kz_expr_sql_policy policy = {tables, NULL};

#define JAN_2025 "1735689600000000" /* 2025-01-01T00:00:00Z */
#define FEB_2025 "1738368000000000" /* 2025-02-01T00:00:00Z */
#define JAN_2026 "1769817600000000" /* 2026-01-31T00:00:00Z */
#define JUN_2026 "1782777600000000" /* 2026-06-30T00:00:00Z */

static void setup(fixture *f, gconstpointer data)
{
    (void)data;
    f->dir = kz_test_tmpdir();
    f->path = g_build_filename(f->dir, "kizuna.db", NULL);
    g_autoptr(GError) err = NULL;
    kz_store *store = kz_store_open(f->path, &err);
    g_assert_no_error(err);
    /* the rows the sync stage would store (core/sync/sync.c), written directly */
    const char *rows =
        "INSERT INTO accounts (id, name, region, segment, plan, arr_minor, currency, contract_start_us, "
        "renewal_date_us, crm_owner, source, updated_us) VALUES "
        "('a1', 'Acme Corp', 'emea', 'enterprise', 'pro', 1200000, 'EUR', " JAN_2025 ", " JAN_2026 ", 'csm-1', 't', 0),"
        "('a2', 'Beta GmbH', 'emea', 'smb', 'basic', 250000, 'EUR', NULL, " JUN_2026 ", NULL, 't', 0),"
        "('a3', 'Gamma KK', 'hokkaido', 'enterprise', NULL, 5000000, 'JPY', NULL, NULL, NULL, 't', 0),"
        "('a4', 'Robert''); DROP TABLE accounts; --', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 't', 0);"
        "INSERT INTO account_traits (account_id, name, value, type) VALUES "
        "('a1', 'tier', 'gold', 1), ('a1', 'seats', 120, 2), ('a1', 'nps', 8.5, 3), ('a1', 'vip', 1, 4),"
        "('a1', 'onboarded', " FEB_2025 ", 5),"
        "('a2', 'tier', 'silver', 1), ('a2', 'seats', '40', 1), ('a2', 'vip', 0, 4),"
        "('a3', 'seats', 15, 2), ('a3', 'nps score', 9, 2), ('a3', '担当', 'yamada', 1);";
    g_assert_cmpint(sqlite3_exec(kz_store_db(store), rows, NULL, NULL, NULL), ==, SQLITE_OK);
    kz_store_close(store);
    f->db = kz_store_open_readonly(f->path, &err);
    g_assert_no_error(err);
    kz_expr_sql_restrict(f->db, &policy);
}

static gint64 count_rows(const char *path, const char *query)
{
    sqlite3 *db = NULL;
    g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
    sqlite3_stmt *st = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(db, query, -1, &st, NULL), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
    gint64 n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void teardown(fixture *f, gconstpointer data)
{
    (void)data;
    sqlite3_close(f->db);
    /* whatever ran, the store is whole */
    g_assert_cmpint(count_rows(f->path, "SELECT count(*) FROM accounts"), ==, 4);
    g_assert_cmpint(count_rows(f->path, "SELECT count(*) FROM account_traits"), ==, 11);
    g_assert_cmpint(count_rows(f->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'accounts'"), ==, 1);
    g_autoptr(GError) err = NULL;
    kz_store *store = kz_store_open(f->path, &err);
    g_assert_no_error(err);
    g_assert_true(kz_store_integrity_check(store, &err));
    kz_store_close(store);
    kz_test_rmtree(f->dir);
    g_free(f->path);
    g_free(f->dir);
}

/* The ids of the accounts `text` selects, "a1,a3", or NULL with `error`. */
static char *select_ids(fixture *f, const char *text, GError **error)
{
    g_autoptr(kz_expr) e = kz_expr_parse(text, error);
    if (e == NULL)
        return NULL;
    g_autoptr(kz_expr_sql) where = kz_expr_sql_compile(e, kz_expr_account_scope(), 1, error);
    if (where == NULL)
        return NULL;
    g_autofree char *sql = g_strdup_printf("SELECT a.id FROM accounts AS a WHERE %s ORDER BY a.id", where->where);
    sqlite3_stmt *st = kz_expr_sql_prepare(f->db, sql, where, error);
    if (st == NULL)
        return NULL;
    GString *ids = g_string_new(NULL);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_string_append_printf(ids, "%s%s", ids->len > 0 ? "," : "", sqlite3_column_text(st, 0));
    g_assert_cmpint(rc, ==, SQLITE_DONE);
    sqlite3_finalize(st);
    return g_string_free(ids, FALSE);
}

static void assert_selects(fixture *f, const char *text, const char *ids)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *got = select_ids(f, text, &err);
    g_assert_no_error(err);
    if (g_strcmp0(got, ids) != 0)
        g_error("%s: selected '%s', expected '%s'", text, got, ids);
}

static void test_expr_selects(fixture *f, gconstpointer data)
{
    (void)data;
    const struct {
        const char *text, *ids;
    } cases[] = {
        /* fields; a missing value is a value for = and != */
        {"region = 'emea'", "a1,a2"},
        {"region != 'emea'", "a3,a4"},
        {"NOT region = 'emea'", "a3,a4"},
        {"region = null", "a4"},
        {"region IS NULL", "a4"},
        {"region is not null", "a1,a2,a3"},
        {"owner != 'csm-1'", "a2,a3,a4"},
        {"id = 'a1' OR id = 'a2' AND region = 'hokkaido'", "a1"},
        {"segment = 'enterprise' AND (region = 'hokkaido' OR owner = 'csm-1')", "a1,a3"},
        {"true", "a1,a2,a3,a4"},
        {"false", ""},
        {"name = 'Robert''); DROP TABLE accounts; --'", "a4"},
        /* IN */
        {"region IN ('emea', 'hokkaido')", "a1,a2,a3"},
        {"region NOT IN ('emea')", "a3,a4"},
        {"region IN ('emea', null)", "a1,a2,a4"},
        {"region IN (null)", "a4"},
        /* numbers; arr is in major units of each currency (JPY has none) */
        {"arr > 10000", "a1,a3"},
        {"arr = 2500", "a2"},
        {"arr = 12000.0", "a1"},
        {"currency = 'JPY' AND arr = 5000000", "a3"},
        {"arr_minor = 250000", "a2"},
        {"arr < 100", ""},
        {"NOT arr < 100", "a1,a2,a3,a4"},
        {"arr BETWEEN 2000 AND 13000", "a1,a2"},
        {"arr NOT BETWEEN 2000 AND 13000", "a3,a4"},
        {"arr_minor / 100 = 12000", "a1"},
        {"arr_minor / 3 > 1000000", "a3"},
        {"arr_minor * 2 - 500000 = 0", "a2"},
        {"-arr_minor < -1000000", "a1,a3"},
        /* times: date() literals, or strings that are dates */
        {"renewal_date < date('2026-03-01')", "a1"},
        {"renewal_date < '2026-03-01'", "a1"},
        {"'2026-03-01' > renewal_date", "a1"},
        {"renewal_date BETWEEN '2026-01-01' AND date('2026-12-31')", "a1,a2"},
        {"renewal_date >= date('2026-06-30T00:00:00Z')", "a2"},
        {"renewal_date = date('2026-06-30T09:00:00+09:00')", "a2"},
        {"contract_start = date('2025-01-01')", "a1"},
        {"contract_start IN ('2025-01-01', '2024-01-01')", "a1"},
        {"renewal_date IS NULL", "a3,a4"},
        /* strings */
        {"name LIKE 'a%'", "a1"},
        {"name LIKE '%k_'", "a3"},
        {"name CONTAINS 'gmbh'", "a2"},
        {"name NOT CONTAINS 'o'", "a2,a3"},
        {"name CONTAINS ''''", "a4"},
        /* traits take the type of what they are compared with */
        {"trait.tier = 'gold'", "a1"},
        {"traits.tier in ('gold', 'silver')", "a1,a2"},
        {"trait.tier IS NULL", "a3,a4"},
        {"trait.tier != 'gold'", "a2,a3,a4"},
        {"trait.seats > 50", "a1"},
        {"trait.seats >= 15", "a1,a3"},
        {"trait.seats = '40'", "a2"},
        {"trait.seats IS NOT NULL", "a1,a2,a3"},
        {"trait.seats * 2 = 240", "a1"},
        {"trait.nps > 8", "a1"},
        {"trait.\"nps score\" = 9", "a3"},
        {"trait.\"担当\" = 'yamada'", "a3"},
        {"trait.vip", "a1"},
        {"NOT trait.vip", "a2,a3,a4"},
        {"trait.vip = false", "a2"},
        {"trait.onboarded < date('2025-06-01')", "a1"},
        {"trait.onboarded BETWEEN date('2025-01-01') AND date('2025-12-31')", "a1"},
        {"trait.tier CONTAINS 'OL'", "a1"},
        {"trait.nosuch = 1 OR trait.nosuch IS NULL", "a1,a2,a3,a4"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        assert_selects(f, cases[i].text, cases[i].ids);
}

/* Attempts to get anything but a read through an expression: refused, or
 * harmless because the text stays data. teardown() checks the store. */
static void test_expr_refuses_injection(fixture *f, gconstpointer data)
{
    (void)data;
    const struct {
        const char *text;
        const char *error; /* a prefix of the error, or NULL: it runs and selects `ids` */
        const char *ids;
    } cases[] = {
        {"id = 'x'; DROP TABLE accounts", "column 9: unexpected ';'", NULL},
        {"1=1) OR (1=1", "column 4: unexpected ')': no '(' is open", NULL},
        {"id = 'x' OR 1=1 --", "column 19: expected a value", NULL},
        {"id = 'x' -- AND 1=0", "column 13: expected a value", NULL}, /* reads as 'x' - (- ...) */
        {"id = 'x' /* comment */", "column 11: expected a value", NULL},
        {"id = 'a1'')--", "column 6: unterminated string", NULL},
        {"id IN (SELECT id FROM accounts)", "column 15: expected ',' or ')' in the IN list, got 'id'", NULL},
        {"(SELECT 1) = 1", "column 9: expected ')' to close the '(' at column 1, got '1'", NULL},
        {"load_extension('x') = 1", "column 1: unknown function 'load_extension'", NULL},
        {"randomblob(1000000000) = 1", "column 1: unknown function 'randomblob'", NULL},
        {"sqlite_version() = ''", "column 1: unknown function 'sqlite_version'", NULL},
        {"id = 'x' UNION SELECT name FROM sqlite_schema", "column 10: unexpected 'UNION'", NULL},
        {"rowid = 1", "column 1: unknown field 'rowid'", NULL},
        {"a.id = 'a1'", "column 2: unexpected '.'", NULL},
        {"\"id\" = 'a1'", "column 1: a \"quoted\" name can only follow trait.", NULL},
        {"id = 'x'' OR ''1''=''1'", NULL, ""},
        {"id = 'a1'' --'", NULL, ""},
        {"name = 'x''); DELETE FROM accounts; --'", NULL, ""},
        {"trait.\"x') OR 1=1; DROP TABLE account_traits; --\" IS NULL", NULL, "a1,a2,a3,a4"},
        {"name LIKE '%'' OR 1=1 --'", NULL, ""},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *ids = select_ids(f, cases[i].text, &err);
        if (cases[i].error == NULL) {
            g_assert_no_error(err);
            g_assert_cmpstr(ids, ==, cases[i].ids);
            continue;
        }
        g_assert_null(ids);
        g_assert_nonnull(err);
        if (!g_str_has_prefix(err->message, cases[i].error))
            g_error("%s: error '%s', expected '%s...'", cases[i].text, err->message, cases[i].error);
    }
}

static void assert_refused(sqlite3 *db, const char *sql, const char *why)
{
    g_autoptr(GError) err = NULL;
    sqlite3_stmt *st = kz_expr_sql_prepare(db, sql, NULL, &err);
    if (st != NULL)
        g_error("'%s' was prepared", sql);
    g_assert_error(err, KZ_ERROR, KZ_ERROR_STORE);
    if (strstr(err->message, why) == NULL)
        g_error("'%s': error '%s' lacks '%s'", sql, err->message, why);
}

/* Each guard below the grammar holds on its own. */
static void test_expr_guards(fixture *f, gconstpointer data)
{
    (void)data;
    /* the authorizer: only SELECT, reads of the policy's tables, allowed functions */
    const char *denied[] = {
        "DELETE FROM accounts",
        "DROP TABLE accounts",
        "INSERT INTO accounts (id, source, updated_us) VALUES ('x', 'x', 0)",
        "UPDATE accounts SET name = 'x'",
        "PRAGMA writable_schema = 1",
        "PRAGMA user_version",
        "ATTACH DATABASE ':memory:' AS other",
        "BEGIN",
        "CREATE TEMP TABLE x (a)",
        "SELECT hex(name) FROM accounts",
        "SELECT load_extension('x')",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(denied); i++)
        assert_refused(f->db, denied[i], "not authorized");
    const char *other_tables[] = {"SELECT value FROM plugin_state", "SELECT cursor FROM source_cursors",
                                  "SELECT sql FROM sqlite_schema", "SELECT reason FROM quarantine"};
    for (gsize i = 0; i < G_N_ELEMENTS(other_tables); i++)
        assert_refused(f->db, other_tables[i], "is prohibited");
    /* one statement, all of it */
    assert_refused(f->db, "SELECT id FROM accounts; DELETE FROM accounts", "more than one statement");
    assert_refused(f->db, "SELECT id FROM accounts; SELECT id FROM accounts", "more than one statement");
    assert_refused(f->db, "", "empty");
    g_autoptr(GError) err = NULL;
    sqlite3_stmt *ok =
        kz_expr_sql_prepare(f->db, "SELECT lower(name) FROM accounts WHERE name LIKE 'a%'  ", NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(sqlite3_step(ok), ==, SQLITE_ROW);
    sqlite3_finalize(ok);

    /* without the authorizer, kz_expr_sql_prepare still refuses a write... */
    sqlite3 *plain = NULL;
    g_assert_cmpint(sqlite3_open_v2(f->path, &plain, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
    assert_refused(plain, "DELETE FROM accounts", "it would write");
    assert_refused(plain, "SELECT 1; DROP TABLE accounts", "more than one statement");
    /* ...and the read-only connection refuses to run one at all */
    char *msg = NULL;
    g_assert_cmpint(sqlite3_exec(plain, "DELETE FROM accounts", NULL, NULL, &msg) & 0xff, ==, SQLITE_READONLY);
    sqlite3_free(msg);
    sqlite3_close(plain);

    /* kz_store_open_readonly opens nothing that is not there, and no other schema */
    g_autofree char *missing = g_build_filename(f->dir, "missing.db", NULL);
    g_assert_null(kz_store_open_readonly(missing, &err));
    g_assert_error(err, KZ_ERROR, KZ_ERROR_STORE);
    g_assert_false(g_file_test(missing, G_FILE_TEST_EXISTS));
    g_clear_error(&err);
    g_autofree char *empty = kz_test_write(f->dir, "empty.db", "");
    g_assert_null(kz_store_open_readonly(empty, &err));
    g_assert_error(err, KZ_ERROR, KZ_ERROR_VERSION);
    g_assert_nonnull(strstr(err->message, "run kizuna sync to upgrade it"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/expr/parse/precedence", test_expr_parse_precedence);
    g_test_add_func("/expr/parse/errors", test_expr_parse_errors);
    g_test_add_func("/expr/compile/errors", test_expr_compile_errors);
    g_test_add_func("/expr/compile/binds-everything", test_expr_compile_binds_everything);
    g_test_add("/expr/run/selects", fixture, NULL, setup, test_expr_selects, teardown);
    g_test_add("/expr/run/refuses-injection", fixture, NULL, setup, test_expr_refuses_injection, teardown);
    g_test_add("/expr/run/guards", fixture, NULL, setup, test_expr_guards, teardown);
    return g_test_run();
}
