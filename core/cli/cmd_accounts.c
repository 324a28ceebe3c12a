/*
 * core/cli/cmd_accounts.c — the read commands: `kizuna accounts` (accounts
 * filtered by an expression, as a table, JSON or Kizuna's CSV export) and
 * `kizuna account ID` (one account with its traits, contacts and latest
 * events, tickets, subscriptions and survey answers).
 *
 * Both only read. They open the store read-only and restrict the
 * connection (expr_sql.h) so that nothing but a SELECT of the customer
 * tables can even be prepared; the `--where` expression reaches SQL only
 * as a compiled condition with bound values.
 */
#include "cli.h"

#include "../config.h"
#include "../expr/expr_sql.h"
#include "../store/store.h"
#include "../values.h"

#include <kizuna/common.h>
#include <stdio.h>
#include <string.h>

/* Opens the store the stack config names, read-only and restricted to
 * the customer tables. Prints why not and returns NULL when it cannot. */
static sqlite3 *open_store(void)
{
    const char *path = kz_cli_config_path();
    if (path == NULL) {
        fprintf(stderr, "kizuna: no stack config: give --config FILE, set KIZUNA_CONFIG, or add ./kizuna.xml\n");
        return NULL;
    }
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kz_config) cfg = kz_config_load(path, errors);
    for (guint i = 0; i < errors->len; i++)
        fprintf(stderr, "%s\n", (char *)errors->pdata[i]);
    if (cfg == NULL)
        return NULL;
    if (cfg->store_path == NULL) {
        fprintf(stderr, "kizuna: %s: the stack config names no store (<store path=\"...\"/>)\n", cfg->path);
        return NULL;
    }
    g_autoptr(GError) err = NULL;
    sqlite3 *db = kz_store_open_readonly(cfg->store_path, &err);
    if (db == NULL) {
        fprintf(stderr, "kizuna: %s\n", err->message);
        return NULL;
    }
    kz_expr_sql_restrict(db, kz_expr_customer_policy());
    return db;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql, const kz_expr_sql *where)
{
    g_autoptr(GError) err = NULL;
    sqlite3_stmt *st = kz_expr_sql_prepare(db, sql, where, &err);
    if (st == NULL)
        fprintf(stderr, "kizuna: %s\n", err->message);
    return st;
}

/* ---- values ------------------------------------------------------------ */

/* Column kinds beyond enum kz_value_type: JSON text; an enum's number;
 * money in minor units, followed by the column of its currency. */
enum { COL_JSON = 100, COL_ENUM = 101, COL_MONEY = 102 };

/* Column `col` of `st` holding a value of `type` as text (CSV, the text
 * output), or NULL when it is NULL. */
static char *value_text(sqlite3_stmt *st, int col, int type)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    switch (type) {
    case KZ_VALUE_INT: return g_strdup_printf("%" G_GINT64_FORMAT, (gint64)sqlite3_column_int64(st, col));
    case KZ_VALUE_DOUBLE: return kz_double_format(sqlite3_column_double(st, col));
    case KZ_VALUE_BOOL: return g_strdup(sqlite3_column_int64(st, col) != 0 ? "true" : "false");
    case KZ_VALUE_TIME: return kz_time_format(sqlite3_column_int64(st, col));
    default: return g_strdup((const char *)sqlite3_column_text(st, col));
    }
}

/* The same value in JSON: times as ISO 8601 strings, JSON text parsed. */
static void value_json(JsonBuilder *b, sqlite3_stmt *st, int col, int type)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        json_builder_add_null_value(b);
        return;
    }
    switch (type) {
    case KZ_VALUE_INT:
    case COL_MONEY: json_builder_add_int_value(b, sqlite3_column_int64(st, col)); return;
    case KZ_VALUE_DOUBLE: json_builder_add_double_value(b, sqlite3_column_double(st, col)); return;
    case KZ_VALUE_BOOL: json_builder_add_boolean_value(b, sqlite3_column_int64(st, col) != 0); return;
    case COL_JSON: {
        JsonNode *node = json_from_string((const char *)sqlite3_column_text(st, col), NULL);
        if (node != NULL) {
            json_builder_add_value(b, node);
            return;
        }
        break; /* not JSON after all: as a string */
    }
    default: break;
    }
    g_autofree char *text = value_text(st, col, type);
    json_builder_add_string_value(b, text);
}

static const char *const type_names[] = {"null", "string", "int", "double", "bool", "time"};

static const char *type_name(int type)
{
    return type >= 0 && type < (int)G_N_ELEMENTS(type_names) ? type_names[type] : "unknown";
}

/* ---- accounts ---------------------------------------------------------- */

/* The columns of an account, in the order of ACCOUNT_SELECT. The first
 * CSV_COLUMNS are the fixed columns of the CSV export. */
static const struct {
    const char *name;
    int type;
} account_columns[] = {
    {"id", KZ_VALUE_STRING},       {"name", KZ_VALUE_STRING},         {"region", KZ_VALUE_STRING},
    {"segment", KZ_VALUE_STRING},  {"plan", KZ_VALUE_STRING},         {"arr_minor", KZ_VALUE_INT},
    {"currency", KZ_VALUE_STRING}, {"contract_start", KZ_VALUE_TIME}, {"renewal_date", KZ_VALUE_TIME},
    {"owner", KZ_VALUE_STRING},    {"source", KZ_VALUE_STRING},       {"updated", KZ_VALUE_TIME},
};
enum { COL_ID, COL_NAME, COL_REGION, COL_SEGMENT, COL_PLAN, COL_ARR, COL_CURRENCY, COL_START, COL_RENEWAL, COL_OWNER };
#define CSV_COLUMNS 10
#define ACCOUNT_SELECT                                                                                                 \
    "SELECT a.id, a.name, a.region, a.segment, a.plan, a.arr_minor, a.currency, a.contract_start_us, "                 \
    "a.renewal_date_us, a.crm_owner, a.source, a.updated_us FROM accounts AS a"
#define TRAITS_SELECT "SELECT name, value, type FROM account_traits WHERE account_id = ?1 ORDER BY name"

/* Adds the account at the current row of `st` as a JSON object, with its
 * traits (read through `traits`, TRAITS_SELECT). */
static void account_json(JsonBuilder *b, sqlite3_stmt *st, sqlite3_stmt *traits)
{
    json_builder_begin_object(b);
    for (gsize i = 0; i < G_N_ELEMENTS(account_columns); i++) {
        json_builder_set_member_name(b, account_columns[i].name);
        value_json(b, st, (int)i, account_columns[i].type);
    }
    json_builder_set_member_name(b, "traits");
    json_builder_begin_object(b);
    sqlite3_bind_text(traits, 1, (const char *)sqlite3_column_text(st, COL_ID), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(traits) == SQLITE_ROW) {
        json_builder_set_member_name(b, (const char *)sqlite3_column_text(traits, 0));
        value_json(b, traits, 1, sqlite3_column_int(traits, 2));
    }
    sqlite3_reset(traits);
    json_builder_end_object(b);
    json_builder_end_object(b);
}

/* The trait columns of the CSV export for the accounts `select_ids`
 * selects: one per (name, type) present, ordered by name then type.
 * Returns "trait.NAME:TYPE" headers and fills `index` ("TYPE\tNAME" ->
 * column position after the fixed columns). */
static GPtrArray *csv_trait_columns(sqlite3 *db, const char *select_ids, const kz_expr_sql *where, gint64 limit,
                                    guint limit_param, GHashTable *index)
{
    g_autofree char *sql = g_strdup_printf("SELECT DISTINCT tc.name, tc.type FROM account_traits AS tc WHERE "
                                           "tc.account_id IN (%s) ORDER BY tc.name, tc.type",
                                           select_ids);
    sqlite3_stmt *st = prepare(db, sql, where);
    if (st == NULL)
        return NULL;
    if (limit >= 0)
        sqlite3_bind_int64(st, (int)limit_param, limit);
    GPtrArray *headers = g_ptr_array_new_with_free_func(g_free);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int type = sqlite3_column_int(st, 1);
        if (type == KZ_VALUE_NULL)
            continue; /* carries no value */
        g_hash_table_insert(index, g_strdup_printf("%d\t%s", type, name), GUINT_TO_POINTER(headers->len));
        g_ptr_array_add(headers, g_strdup_printf("trait.%s:%s", name, type_name(type)));
    }
    sqlite3_finalize(st);
    return headers;
}

/* One account as a CSV line: the fixed columns, then its traits placed
 * by `index`. */
static void csv_account(GString *line, sqlite3_stmt *st, sqlite3_stmt *traits, GHashTable *index, guint n_traits)
{
    for (int i = 0; i < CSV_COLUMNS; i++) {
        g_autofree char *text = value_text(st, i, account_columns[i].type);
        kz_cli_csv_field(line, text);
    }
    g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_set_size(cells, (gint)n_traits);
    sqlite3_bind_text(traits, 1, (const char *)sqlite3_column_text(st, COL_ID), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(traits) == SQLITE_ROW) {
        int type = sqlite3_column_int(traits, 2);
        g_autofree char *key = g_strdup_printf("%d\t%s", type, (const char *)sqlite3_column_text(traits, 0));
        gpointer at = NULL;
        if (g_hash_table_lookup_extended(index, key, NULL, &at))
            cells->pdata[GPOINTER_TO_UINT(at)] = value_text(traits, 1, type);
    }
    sqlite3_reset(traits);
    for (guint i = 0; i < n_traits; i++)
        kz_cli_csv_field(line, cells->pdata[i]);
    kz_cli_csv_end_line(line);
}

/* The text table: one row per account, columns as wide as their widest cell. */
static const char *const table_headings[] = {"ID", "NAME", "REGION", "SEGMENT", "PLAN", "ARR", "RENEWAL", "OWNER"};

static char **table_row(sqlite3_stmt *st)
{
    char **row = g_new0(char *, G_N_ELEMENTS(table_headings) + 1);
    const int text_columns[] = {COL_ID, COL_NAME, COL_REGION, COL_SEGMENT, COL_PLAN};
    for (gsize i = 0; i < G_N_ELEMENTS(text_columns); i++)
        row[i] = value_text(st, text_columns[i], KZ_VALUE_STRING);
    if (sqlite3_column_type(st, COL_ARR) != SQLITE_NULL)
        row[5] =
            kz_money_format(sqlite3_column_int64(st, COL_ARR), (const char *)sqlite3_column_text(st, COL_CURRENCY));
    row[6] = value_text(st, COL_RENEWAL, KZ_VALUE_TIME);
    if (row[6] != NULL && g_str_has_suffix(row[6], "T00:00:00Z"))
        row[6][10] = '\0'; /* a date */
    row[7] = value_text(st, COL_OWNER, KZ_VALUE_STRING);
    for (gsize i = 0; i < G_N_ELEMENTS(table_headings); i++)
        if (row[i] == NULL)
            row[i] = g_strdup("-");
    return row;
}

static void print_table(GPtrArray *rows)
{
    gsize n = G_N_ELEMENTS(table_headings);
    glong width[G_N_ELEMENTS(table_headings)];
    for (gsize c = 0; c < n; c++)
        width[c] = g_utf8_strlen(table_headings[c], -1);
    for (guint r = 0; r < rows->len; r++)
        for (gsize c = 0; c < n; c++)
            width[c] = MAX(width[c], g_utf8_strlen(((char **)rows->pdata[r])[c], -1));
    g_autoptr(GString) line = g_string_new(NULL);
    for (guint r = 0; r <= rows->len; r++) {
        const char *const *cells = r == 0 ? table_headings : (const char *const *)rows->pdata[r - 1];
        g_string_truncate(line, 0);
        for (gsize c = 0; c < n; c++) {
            g_string_append(line, cells[c]);
            if (c + 1 < n)
                for (glong pad = g_utf8_strlen(cells[c], -1); pad < width[c] + 2; pad++)
                    g_string_append_c(line, ' ');
        }
        kz_cli_print("%s\n", line->str);
    }
    kz_cli_print("%u account%s\n", rows->len, rows->len == 1 ? "" : "s");
}

int kz_cmd_accounts(int argc, char **argv)
{
    gboolean json = FALSE, csv = FALSE;
    char *where_opt = NULL;
    gint64 limit = G_MININT64; /* not given */
    const GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
        {"csv", 0, 0, G_OPTION_ARG_NONE, &csv, "Print Kizuna's CSV export (RFC 4180, with traits)", NULL},
        /* FILENAME: taken as bytes whatever the locale; the parser checks UTF-8 */
        {"where", 'w', 0, G_OPTION_ARG_FILENAME, &where_opt, "Only accounts for which EXPR holds (docs/cli.md)",
         "EXPR"},
        {"limit", 'n', 0, G_OPTION_ARG_INT64, &limit, "At most N accounts", "N"},
        G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "accounts", "List accounts, ordered by id.", entries))
        return KZ_EXIT_USAGE;
    g_autofree char *where_text = where_opt;
    if (argc != 1 || (json && csv)) {
        fprintf(stderr, "kizuna: usage: kizuna accounts [--json|--csv] [--where EXPR] [--limit N]\n");
        return KZ_EXIT_USAGE;
    }
    if (limit != G_MININT64 && limit < 0) {
        fprintf(stderr, "kizuna: --limit must be 0 or more\n");
        return KZ_EXIT_USAGE;
    }
    if (limit == G_MININT64)
        limit = -1; /* no limit */
    g_autoptr(kz_expr_sql) where = NULL;
    if (where_text != NULL) {
        g_autoptr(GError) err = NULL;
        g_autoptr(kz_expr) expr = kz_expr_parse(where_text, &err);
        if (expr != NULL)
            where = kz_expr_sql_compile(expr, kz_expr_account_scope(), 1, &err);
        if (where == NULL) {
            fprintf(stderr, "kizuna: --where: %s\n", err->message);
            return KZ_EXIT_USAGE;
        }
    }
    sqlite3 *db = open_store();
    if (db == NULL)
        return KZ_EXIT_FAILED;
    guint limit_param = where != NULL ? where->first_param + where->params->len : 1;
    g_autofree char *condition = where != NULL ? g_strdup_printf(" WHERE %s", where->where) : g_strdup("");
    g_autofree char *limit_sql = limit >= 0 ? g_strdup_printf(" LIMIT ?%u", limit_param) : g_strdup("");
    g_autofree char *sql = g_strdup_printf(ACCOUNT_SELECT "%s ORDER BY a.id%s", condition, limit_sql);
    g_autofree char *ids = g_strdup_printf("SELECT a.id FROM accounts AS a%s ORDER BY a.id%s", condition, limit_sql);

    int exit_code = KZ_EXIT_OK;
    g_autoptr(GHashTable) index = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) trait_headers = csv ? csv_trait_columns(db, ids, where, limit, limit_param, index) : NULL;
    sqlite3_stmt *st = csv && trait_headers == NULL ? NULL : prepare(db, sql, where);
    sqlite3_stmt *traits = st != NULL ? prepare(db, TRAITS_SELECT, NULL) : NULL;
    if (traits == NULL) {
        sqlite3_finalize(st);
        sqlite3_close(db);
        return KZ_EXIT_INTERNAL;
    }
    if (limit >= 0)
        sqlite3_bind_int64(st, (int)limit_param, limit);

    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GString) line = g_string_new(NULL);
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    if (json)
        json_builder_begin_array(b);
    if (csv) {
        for (int i = 0; i < CSV_COLUMNS; i++)
            kz_cli_csv_field(line, account_columns[i].name);
        for (guint i = 0; i < trait_headers->len; i++)
            kz_cli_csv_field(line, trait_headers->pdata[i]);
        kz_cli_csv_end_line(line);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (json)
            account_json(b, st, traits);
        else if (csv)
            csv_account(line, st, traits, index, trait_headers->len);
        else
            g_ptr_array_add(rows, table_row(st));
    }
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "kizuna: reading accounts: %s\n", sqlite3_errmsg(db));
        exit_code = KZ_EXIT_INTERNAL;
    } else if (json) {
        json_builder_end_array(b);
        kz_cli_print_json(json_builder_get_root(b));
    } else if (!csv) {
        print_table(rows);
    }
    sqlite3_finalize(traits);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return exit_code;
}

/* ---- one account ------------------------------------------------------- */

typedef struct {
    const char *sql;          /* the column in the section's table */
    const char *name;         /* its JSON member */
    int type;                 /* enum kz_value_type, COL_JSON, COL_ENUM or COL_MONEY */
    const char *const *names; /* COL_ENUM: the names of 0, 1, ... */
} detail_column;

/* What the account's other tables show: the `recent` latest rows by
 * `order` (all rows when `all`), and how many there are. */
typedef struct {
    const char *member; /* JSON member; in the text, with _ as a space */
    const char *table;
    const char *order;
    gboolean all;
    const detail_column *columns;
    gsize n_columns;
} detail_section;

static const char *const ticket_priorities[] = {"none", "low", "normal", "high", "urgent", NULL};
static const char *const ticket_statuses[] = {"none", "new", "open", "pending", "solved", "closed", NULL};
static const char *const ticket_kinds[] = {"none", "question", "incident", "problem", "task", "feature_request", NULL};
static const char *const subscription_statuses[] = {"none",     "trialing", "active", "past_due",
                                                    "canceled", "ended",    NULL};
static const char *const survey_kinds[] = {"none", "nps", "csat", NULL};

static const detail_column contact_columns[] = {
    {"id", "id", KZ_VALUE_STRING, NULL},       {"name", "name", KZ_VALUE_STRING, NULL},
    {"role", "role", KZ_VALUE_STRING, NULL},   {"email", "email", KZ_VALUE_STRING, NULL},
    {"phone", "phone", KZ_VALUE_STRING, NULL}, {"traits", "traits", COL_JSON, NULL},
};
static const detail_column event_columns[] = {
    {"time_us", "time", KZ_VALUE_TIME, NULL},      {"name", "name", KZ_VALUE_STRING, NULL},
    {"user_id", "user_id", KZ_VALUE_STRING, NULL}, {"quantity", "quantity", KZ_VALUE_DOUBLE, NULL},
    {"product", "product", KZ_VALUE_STRING, NULL}, {"traits", "traits", COL_JSON, NULL},
};
static const detail_column ticket_columns[] = {
    {"id", "id", KZ_VALUE_STRING, NULL},
    {"opened_us", "opened", KZ_VALUE_TIME, NULL},
    {"closed_us", "closed", KZ_VALUE_TIME, NULL},
    {"status", "status", COL_ENUM, ticket_statuses},
    {"priority", "priority", COL_ENUM, ticket_priorities},
    {"kind", "kind", COL_ENUM, ticket_kinds},
    {"subject", "subject", KZ_VALUE_STRING, NULL},
    {"contact_id", "contact_id", KZ_VALUE_STRING, NULL},
    {"tags", "tags", COL_JSON, NULL},
    {"traits", "traits", COL_JSON, NULL},
};
static const detail_column subscription_columns[] = {
    {"id", "id", KZ_VALUE_STRING, NULL},
    {"period_start_us", "period_start", KZ_VALUE_TIME, NULL},
    {"period_end_us", "period_end", KZ_VALUE_TIME, NULL},
    {"status", "status", COL_ENUM, subscription_statuses},
    {"plan", "plan", KZ_VALUE_STRING, NULL},
    {"mrr_minor", "mrr_minor", COL_MONEY, NULL},
    {"currency", "currency", KZ_VALUE_STRING, NULL},
    {"traits", "traits", COL_JSON, NULL},
};
static const detail_column survey_columns[] = {
    {"time_us", "time", KZ_VALUE_TIME, NULL},
    {"kind", "kind", COL_ENUM, survey_kinds},
    {"score", "score", KZ_VALUE_DOUBLE, NULL},
    {"comment", "comment", KZ_VALUE_STRING, NULL},
    {"contact_id", "contact_id", KZ_VALUE_STRING, NULL},
};

static const detail_section sections[] = {
    {"contacts", "contacts", "id", TRUE, contact_columns, G_N_ELEMENTS(contact_columns)},
    {"usage_events", "usage_events", "time_us DESC, name", FALSE, event_columns, G_N_ELEMENTS(event_columns)},
    {"tickets", "tickets", "opened_us DESC, id", FALSE, ticket_columns, G_N_ELEMENTS(ticket_columns)},
    {"subscriptions", "subscriptions", "period_start_us DESC, id", FALSE, subscription_columns,
     G_N_ELEMENTS(subscription_columns)},
    {"survey_answers", "survey_answers", "time_us DESC", FALSE, survey_columns, G_N_ELEMENTS(survey_columns)},
};

static char *detail_text(sqlite3_stmt *st, int col, const detail_column *c)
{
    if (c->type == COL_ENUM && sqlite3_column_type(st, col) != SQLITE_NULL) {
        gint64 v = sqlite3_column_int64(st, col);
        for (gint64 i = 0; c->names[i] != NULL; i++)
            if (i == v)
                return g_strdup(c->names[i]);
    }
    return value_text(st, col, c->type == COL_ENUM ? KZ_VALUE_INT : c->type);
}

/* Text of column `col`, and of the currency after it for money (*used: how many columns it took). */
static char *detail_text_line(sqlite3_stmt *st, int col, const detail_column *c, int *used)
{
    *used = 1;
    if (c->type != COL_MONEY)
        return detail_text(st, col, c);
    *used = 2;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    return kz_money_format(sqlite3_column_int64(st, col), (const char *)sqlite3_column_text(st, col + 1));
}

/* Reads one section for account `id`: JSON into `b` as {"total", "items"},
 * or text lines. FALSE on a store error (printed). */
static gboolean show_section(sqlite3 *db, const detail_section *s, const char *id, gint64 recent, JsonBuilder *b)
{
    g_autofree char *count_sql = g_strdup_printf("SELECT count(*) FROM %s WHERE account_id = ?1", s->table);
    GString *sql = g_string_new("SELECT ");
    for (gsize i = 0; i < s->n_columns; i++)
        g_string_append_printf(sql, "%s%s", i > 0 ? ", " : "", s->columns[i].sql);
    g_string_append_printf(sql, " FROM %s WHERE account_id = ?1 ORDER BY %s%s", s->table, s->order,
                           s->all ? "" : " LIMIT ?2");
    g_autofree char *rows_sql = g_string_free(sql, FALSE);
    sqlite3_stmt *count = prepare(db, count_sql, NULL);
    sqlite3_stmt *rows = count != NULL ? prepare(db, rows_sql, NULL) : NULL;
    if (rows == NULL) {
        sqlite3_finalize(count);
        return FALSE;
    }
    sqlite3_bind_text(count, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(rows, 1, id, -1, SQLITE_STATIC);
    if (!s->all)
        sqlite3_bind_int64(rows, 2, recent);
    gint64 total = sqlite3_step(count) == SQLITE_ROW ? sqlite3_column_int64(count, 0) : 0;
    g_autofree char *heading = g_strdelimit(g_strdup(s->member), "_", ' ');
    if (b != NULL) {
        json_builder_set_member_name(b, s->member);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "total");
        json_builder_add_int_value(b, total);
        json_builder_set_member_name(b, "items");
        json_builder_begin_array(b);
    } else if (s->all || total <= recent) {
        kz_cli_print("%s: %" G_GINT64_FORMAT "\n", heading, total);
    } else {
        kz_cli_print("%s: %" G_GINT64_FORMAT " (latest %" G_GINT64_FORMAT ")\n", heading, total, recent);
    }
    int rc;
    while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
        if (b != NULL) {
            json_builder_begin_object(b);
            for (gsize i = 0; i < s->n_columns; i++) {
                const detail_column *c = &s->columns[i];
                json_builder_set_member_name(b, c->name);
                if (c->type == COL_ENUM) {
                    g_autofree char *name = detail_text(rows, (int)i, c);
                    if (name != NULL)
                        json_builder_add_string_value(b, name);
                    else
                        json_builder_add_null_value(b);
                } else {
                    value_json(b, rows, (int)i, c->type);
                }
            }
            json_builder_end_object(b);
            continue;
        }
        g_autoptr(GString) line = g_string_new(NULL);
        for (int i = 0, used = 1; i < (int)s->n_columns; i += used) {
            g_autofree char *text = detail_text_line(rows, i, &s->columns[i], &used);
            if (text != NULL)
                g_string_append_printf(line, "  %s", text);
        }
        kz_cli_print("%s\n", line->str);
    }
    if (b != NULL) {
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    if (rc != SQLITE_DONE)
        fprintf(stderr, "kizuna: reading %s: %s\n", s->table, sqlite3_errmsg(db));
    sqlite3_finalize(rows);
    sqlite3_finalize(count);
    return rc == SQLITE_DONE;
}

static void account_text(sqlite3_stmt *st, sqlite3_stmt *traits)
{
    g_autofree char *name = value_text(st, COL_NAME, KZ_VALUE_STRING);
    kz_cli_print("%s  %s\n", (const char *)sqlite3_column_text(st, COL_ID), name != NULL ? name : "-");
    for (gsize i = COL_REGION; i < G_N_ELEMENTS(account_columns); i++) {
        g_autofree char *text = NULL;
        if (i == COL_CURRENCY)
            continue; /* shown with arr */
        if (i == COL_ARR && sqlite3_column_type(st, COL_ARR) != SQLITE_NULL)
            text =
                kz_money_format(sqlite3_column_int64(st, COL_ARR), (const char *)sqlite3_column_text(st, COL_CURRENCY));
        else
            text = value_text(st, (int)i, account_columns[i].type);
        kz_cli_print("  %-16s %s\n", i == COL_ARR ? "arr" : account_columns[i].name, text != NULL ? text : "-");
    }
    sqlite3_bind_text(traits, 1, (const char *)sqlite3_column_text(st, COL_ID), -1, SQLITE_TRANSIENT);
    GString *lines = g_string_new(NULL);
    guint n = 0;
    while (sqlite3_step(traits) == SQLITE_ROW) {
        int type = sqlite3_column_int(traits, 2);
        g_autofree char *text = value_text(traits, 1, type);
        g_string_append_printf(lines, "  %-16s %-7s %s\n", (const char *)sqlite3_column_text(traits, 0),
                               type_name(type), text != NULL ? text : "-");
        n++;
    }
    sqlite3_reset(traits);
    g_autofree char *all = g_string_free(lines, FALSE);
    kz_cli_print("traits: %u\n%s", n, all);
}

int kz_cmd_account(int argc, char **argv)
{
    gboolean json = FALSE;
    gint64 recent = 20;
    const GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
                                    {"recent", 'n', 0, G_OPTION_ARG_INT64, &recent,
                                     "How many of the latest events, tickets, subscriptions, survey answers and "
                                     "lifecycle changes to show (default 20)",
                                     "N"},
                                    G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(
            &argc, &argv, "account ID",
            "Show one account with its lifecycle and its history, health, traits, contacts and latest activity.",
            entries))
        return KZ_EXIT_USAGE;
    if (argc != 2) {
        fprintf(stderr, "kizuna: usage: kizuna account ID [--json] [--recent N]\n");
        return KZ_EXIT_USAGE;
    }
    if (recent < 0) {
        fprintf(stderr, "kizuna: --recent must be 0 or more\n");
        return KZ_EXIT_USAGE;
    }
    const char *id = argv[1];
    sqlite3 *db = open_store();
    if (db == NULL)
        return KZ_EXIT_FAILED;
    sqlite3_stmt *st = prepare(db, ACCOUNT_SELECT " WHERE a.id = ?1", NULL);
    sqlite3_stmt *traits = st != NULL ? prepare(db, TRAITS_SELECT, NULL) : NULL;
    if (traits == NULL) {
        sqlite3_finalize(st);
        sqlite3_close(db);
        return KZ_EXIT_INTERNAL;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int exit_code = KZ_EXIT_OK;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        g_autofree char *shown = g_utf8_make_valid(id, -1);
        fprintf(stderr, "kizuna: no account '%s' in the store\n", shown);
        exit_code = KZ_EXIT_FAILED;
    } else if (rc != SQLITE_ROW) {
        fprintf(stderr, "kizuna: reading account: %s\n", sqlite3_errmsg(db));
        exit_code = KZ_EXIT_INTERNAL;
    } else {
        g_autoptr(JsonBuilder) b = json ? json_builder_new() : NULL;
        if (json) {
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "account");
            account_json(b, st, traits);
        } else {
            account_text(st, traits);
        }
        if (!kz_cli_show_state(id, recent, b) || !kz_cli_show_health(id, b))
            exit_code = KZ_EXIT_INTERNAL;
        for (gsize i = 0; i < G_N_ELEMENTS(sections) && exit_code == KZ_EXIT_OK; i++)
            if (!show_section(db, &sections[i], id, recent, b))
                exit_code = KZ_EXIT_INTERNAL;
        if (json && exit_code == KZ_EXIT_OK) {
            json_builder_end_object(b);
            kz_cli_print_json(json_builder_get_root(b));
        }
    }
    sqlite3_finalize(traits);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return exit_code;
}
