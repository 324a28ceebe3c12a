/*
 * core/cli/cmd_report.c — `kizuna report` (the KPIs of core/kpi as text,
 * JSON, CSV or one self-contained HTML file) and `kizuna feedback` (the
 * feature requests, for the product team).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"
#include "instance.h"
#include "kpi/kpi.h"
#include "kpi/report_html.h"
#include "registry.h"
#include "store/store.h"
#include "score/health.h"
#include "values.h"

#define DAY_US G_GINT64_CONSTANT(86400000000)

/* --period P, or --from D [--to D] (both days included; without --to,
 * through the as-of's day), or the last whole quarter before the as-of.
 * Prints why and returns FALSE. */
static gboolean parse_period(const char *period, const char *from, const char *to, gint64 as_of, gint64 *f, gint64 *t)
{
    if (period != NULL && (from != NULL || to != NULL)) {
        fprintf(stderr, "kizuna: give --period or --from/--to, not both\n");
        return FALSE;
    }
    if (period != NULL) {
        if (!kz_kpi_parse_period(period, f, t)) {
            fprintf(stderr, "kizuna: --period %s: a quarter (2026-Q3), a month (2026-07) or a year (2026)\n", period);
            return FALSE;
        }
        return TRUE;
    }
    if (from != NULL || to != NULL) {
        if (from == NULL || !kz_time_parse(from, f)) {
            fprintf(stderr, "kizuna: --from %s: a date (2026-07-01) is needed with --to\n", from ? from : "missing");
            return FALSE;
        }
        if (to == NULL) {
            /* through the as-of's day, as --to would: a score run as of
             * the end of today is the state at the period's end */
            *t = as_of >= 0 ? (as_of + DAY_US - 1) / DAY_US * DAY_US : as_of;
        } else if (!kz_time_parse(to, t)) {
            fprintf(stderr, "kizuna: --to %s: not a date (2026-09-30)\n", to);
            return FALSE;
        } else {
            *t += DAY_US; /* the whole last day */
        }
        if (*t <= *f) {
            fprintf(stderr, "kizuna: --to must not come before --from\n");
            return FALSE;
        }
        return TRUE;
    }
    /* the last whole quarter before the as-of */
    g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc((as_of - 1) / G_USEC_PER_SEC);
    int q = (g_date_time_get_month(d) - 1) / 3, y = g_date_time_get_year(d);
    if (q == 0) {
        q = 4;
        y--;
    }
    g_autofree char *text = g_strdup_printf("%d-Q%d", y, q);
    return kz_kpi_parse_period(text, f, t);
}

/* ---- values as text ------------------------------------------------------ */

static char *day_text(gint64 us)
{
    g_autofree char *t = kz_time_format(us);
    return g_strndup(t, 10);
}

static void text_report(GString *o, const kz_kpi_report *r)
{
    g_autofree char *from = day_text(r->from_us), *last = day_text(r->to_us - 1), *as_of = kz_time_format(r->as_of_us);
    g_string_append_printf(o, "KPIs %s .. %s (as of %s; money in %s, MRR)\n", from, last, as_of, r->currency);
    const char *section = NULL;
    for (int k = 0; k < KZ_KPI_N; k++) {
        const kz_kpi_info *i = kz_kpi_info_of(k);
        if (section == NULL || strcmp(section, i->section) != 0)
            g_string_append_printf(o, "\n%s\n", section = i->section);
        g_autofree char *v = kz_report_value_text(i->unit, r->all->v[k], r->currency);
        g_string_append_printf(o, "  %-32s %s\n", i->label, v);
    }
    if (r->all->grades_end->len > 0) {
        g_string_append(o, "\nhealth (accounts per grade: at the end, at the start)\n");
        for (guint i = 0; i < r->all->grades_end->len; i++) {
            const kz_kpi_row *g = r->all->grades_end->pdata[i];
            g_autofree char *start = isnan(g->v[1]) ? g_strdup("-") : g_strdup_printf("%.0f", g->v[1]);
            g_string_append_printf(o, "  %-12s %8.0f %8s\n", g->name, g->v[0], start);
        }
    }
    if (r->all->touches->len > 0) {
        g_string_append(o, "\ntouches by channel (written, delivered, dead, waiting)\n");
        for (guint i = 0; i < r->all->touches->len; i++) {
            const kz_kpi_row *c = r->all->touches->pdata[i];
            g_string_append_printf(o, "  %-16s %8.0f %8.0f %8.0f %8.0f\n", c->name, c->v[0], c->v[1], c->v[2], c->v[3]);
        }
    }
    if (r->features->len > 0) {
        g_string_append_printf(o, "\nfeature requests by tag (requests, accounts, their ARR in %s)\n", r->currency);
        for (guint i = 0; i < r->features->len && i < 10; i++) {
            const kz_kpi_row *f = r->features->pdata[i];
            g_string_append_printf(o, "  %-24s %6.0f %6.0f %14.2f\n", f->name, f->v[0], f->v[1], f->v[2]);
        }
    }
    if (r->by != KZ_KPI_BY_NONE) {
        static const kz_kpi headline[] = {KZ_KPI_COHORT,  KZ_KPI_LOGO_CHURN,   KZ_KPI_GRR, KZ_KPI_NRR,
                                          KZ_KPI_MRR_END, KZ_KPI_RENEWAL_RATE, KZ_KPI_NPS};
        g_string_append_printf(o, "\nby %s\n  %-20s", kz_kpi_by_name(r->by), kz_kpi_by_name(r->by));
        for (guint k = 0; k < G_N_ELEMENTS(headline); k++)
            g_string_append_printf(o, " %14s", kz_kpi_info_of(headline[k])->key);
        g_string_append_c(o, '\n');
        for (guint i = 0; i < r->groups->len; i++) {
            const kz_kpi_group *g = r->groups->pdata[i];
            g_string_append_printf(o, "  %-20s", g->name);
            for (guint k = 0; k < G_N_ELEMENTS(headline); k++) {
                const kz_kpi_info *info = kz_kpi_info_of(headline[k]);
                g_autofree char *v = kz_report_value_text(info->unit == KZ_KPI_MONEY ? KZ_KPI_SCORE : info->unit,
                                                          g->v[headline[k]], r->currency);
                g_string_append_printf(o, " %14s", v);
            }
            g_string_append_c(o, '\n');
        }
    }
}

/* ---- JSON and CSV ------------------------------------------------------- */

static void json_kpis(JsonBuilder *b, const kz_kpi_group *g)
{
    json_builder_set_member_name(b, "kpis");
    json_builder_begin_object(b);
    for (int k = 0; k < KZ_KPI_N; k++)
        kz_cli_json_double(b, kz_kpi_info_of(k)->key, g->v[k]);
    json_builder_end_object(b);
}

/* rows as [{name, KEYS[0]: v[0], ...}] */
static void json_rows(JsonBuilder *b, const char *member, const GPtrArray *rows, const char *const *keys)
{
    json_builder_set_member_name(b, member);
    json_builder_begin_array(b);
    for (guint i = 0; i < rows->len; i++) {
        const kz_kpi_row *row = rows->pdata[i];
        json_builder_begin_object(b);
        kz_cli_json_str(b, "name", row->name);
        for (int k = 0; keys[k] != NULL; k++)
            kz_cli_json_double(b, keys[k], row->v[k]);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static JsonNode *json_report(const kz_kpi_report *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    kz_cli_json_time(b, "from", r->from_us);
    kz_cli_json_time(b, "to", r->to_us);
    kz_cli_json_time(b, "as_of", r->as_of_us);
    kz_cli_json_str(b, "currency", r->currency);
    kz_cli_json_str(b, "by", r->by != KZ_KPI_BY_NONE ? kz_kpi_by_name(r->by) : NULL);
    json_kpis(b, r->all);
    static const char *const grade_keys[] = {"end", "start", NULL};
    static const char *const touch_keys[] = {"written", "delivered", "dead", "waiting", NULL};
    json_rows(b, "health", r->all->grades_end, grade_keys);
    json_rows(b, "touches_by_channel", r->all->touches, touch_keys);
    if (r->by != KZ_KPI_BY_NONE) {
        json_builder_set_member_name(b, "groups");
        json_builder_begin_array(b);
        for (guint i = 0; i < r->groups->len; i++) {
            const kz_kpi_group *g = r->groups->pdata[i];
            json_builder_begin_object(b);
            kz_cli_json_str(b, "name", g->name);
            json_kpis(b, g);
            json_rows(b, "health", g->grades_end, grade_keys);
            json_rows(b, "touches_by_channel", g->touches, touch_keys);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    static const char *const month_keys[] = {"grr", "nrr", "mrr_start", "cohort", NULL};
    static const char *const one_key[] = {"accounts", NULL};
    static const char *const activity_keys[] = {"touches", "delivered", "tasks_done", NULL};
    static const char *const feature_keys[] = {"requests", "accounts", "arr", NULL};
    json_rows(b, "months", r->months, month_keys);
    json_rows(b, "health_movement", r->movement, one_key);
    json_rows(b, "phases", r->phases, one_key);
    json_rows(b, "activity_by_tier", r->by_tier, activity_keys);
    json_rows(b, "activity_by_csm", r->by_csm, activity_keys);
    json_rows(b, "feature_requests", r->features, feature_keys);
    json_builder_set_member_name(b, "at_risk");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->at_risk->len; i++) {
        const kz_kpi_at_risk *a = r->at_risk->pdata[i];
        json_builder_begin_object(b);
        kz_cli_json_str(b, "id", a->id);
        kz_cli_json_str(b, "name", a->name);
        kz_cli_json_str(b, "owner", a->owner);
        kz_cli_json_str(b, "grade", a->grade);
        kz_cli_json_double(b, "score", a->score);
        kz_cli_json_double(b, "arr", a->arr);
        kz_cli_json_str(b, "top_measures", a->top_measures);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static void csv_number(GString *line, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    kz_cli_csv_field(line, isnan(v) ? NULL : g_ascii_dtostr(buf, sizeof buf, v));
}

/* Long form, one value a line: group, kpi, value (empty when undefined). */
static void csv_report(GString *o, const kz_kpi_report *r)
{
    g_autofree char *from = day_text(r->from_us), *last = day_text(r->to_us - 1);
    GString *line = g_string_new(NULL);
    const char *head[] = {"from", "to", "currency", "cut", "group", "kpi", "value"};
    for (guint i = 0; i < G_N_ELEMENTS(head); i++)
        kz_cli_csv_field(line, head[i]);
    g_string_append(o, line->str);
    g_string_append(o, "\r\n");
    g_string_truncate(line, 0);
    for (guint gi = 0; gi <= r->groups->len; gi++) {
        const kz_kpi_group *g = gi == 0 ? r->all : r->groups->pdata[gi - 1];
        for (int k = 0; k < KZ_KPI_N; k++) {
            kz_cli_csv_field(line, from);
            kz_cli_csv_field(line, last);
            kz_cli_csv_field(line, r->currency);
            kz_cli_csv_field(line, gi == 0 ? "all" : kz_kpi_by_name(r->by));
            kz_cli_csv_field(line, g->name);
            kz_cli_csv_field(line, kz_kpi_info_of(k)->key);
            csv_number(line, g->v[k]);
            g_string_append(o, line->str);
            g_string_append(o, "\r\n");
            g_string_truncate(line, 0);
        }
    }
    g_string_free(line, TRUE);
}

static gboolean write_out(const char *path, const GString *o)
{
    if (path == NULL) {
        fwrite(o->str, 1, o->len, stdout);
        return TRUE;
    }
    g_autoptr(GError) err = NULL;
    if (!g_file_set_contents(path, o->str, (gssize)o->len, &err)) {
        fprintf(stderr, "kizuna: -o %s: %s\n", path, err->message);
        return FALSE;
    }
    return TRUE;
}

/* The config and the store, read-only, or FALSE after saying why. */
static gboolean open_store(kz_config **cfg, sqlite3 **db)
{
    if (!kz_cli_open_readonly(cfg, db))
        return FALSE;
    if (*db == NULL) {
        fprintf(stderr, "kizuna: no store to report on: run `kizuna sync` (or `kizuna run`) first\n");
        g_clear_pointer(cfg, kz_config_free);
        return FALSE;
    }
    return TRUE;
}

int kz_cmd_report(int argc, char **argv)
{
    char *period = NULL, *from = NULL, *to = NULL, *by = NULL, *format = NULL, *out = NULL, *as_of_opt = NULL;
    const GOptionEntry entries[] = {
        {"period", 'p', 0, G_OPTION_ARG_STRING, &period, "A quarter, month or year: 2026-Q3, 2026-07, 2026", "P"},
        {"from", 0, 0, G_OPTION_ARG_STRING, &from, "The first day of the period", "DATE"},
        {"to", 0, 0, G_OPTION_ARG_STRING, &to, "The last day of the period (default: the as-of)", "DATE"},
        {"by", 0, 0, G_OPTION_ARG_STRING, &by, "Also per group of a cut", "segment|tier|region|team|csm"},
        {"format", 'f', 0, G_OPTION_ARG_STRING, &format, "Output format (default text)", "text|json|csv|html"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Write to FILE, not standard output", "FILE"},
        {"as-of", 0, 0, G_OPTION_ARG_STRING, &as_of_opt, "Renewals after DATE are not yet decided (default: today)",
         "DATE"},
        G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "",
                      "The CS KPIs over a period (default: the last whole quarter): retention, GRR/NRR, renewals, "
                      "expansion, onboarding, engagement, NPS/CSAT, health, activity and feedback (docs/kpis.md).",
                      entries))
        return KZ_EXIT_USAGE;
    g_autofree char *period_opt = period, *from_opt = from, *to_opt = to, *by_opt = by, *format_opt = format,
                    *out_opt = out, *as_of_text = as_of_opt;
    if (argc > 1) {
        fprintf(stderr, "kizuna: report: unexpected argument '%s'\n", argv[1]);
        return KZ_EXIT_USAGE;
    }
    const char *fmt = format_opt != NULL ? format_opt : "text";
    static const char *const formats[] = {"text", "json", "csv", "html", NULL};
    if (!g_strv_contains(formats, fmt)) {
        fprintf(stderr, "kizuna: report --format %s: one of text, json, csv, html\n", fmt);
        return KZ_EXIT_USAGE;
    }
    int cut = by_opt != NULL ? kz_kpi_by_from_name(by_opt) : KZ_KPI_BY_NONE;
    if (cut < 0) {
        fprintf(stderr, "kizuna: report --by %s: one of segment, tier, region, team, csm\n", by_opt);
        return KZ_EXIT_USAGE;
    }
    gint64 as_of = 0, f = 0, t = 0;
    if (as_of_text != NULL) {
        if (!kz_cli_parse_as_of(as_of_text, &as_of))
            return KZ_EXIT_USAGE;
    } else {
        as_of = kz_host_now();
    }
    if (!parse_period(period_opt, from_opt, to_opt, as_of, &f, &t))
        return KZ_EXIT_USAGE;
    g_autoptr(kz_config) cfg = NULL;
    sqlite3 *db = NULL;
    if (!open_store(&cfg, &db))
        return KZ_EXIT_FAILED;
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_kpi_report) r = kz_kpi_compute(db, cfg, f, t, as_of, (kz_kpi_by)cut, &err);
    if (r == NULL) {
        sqlite3_close(db);
        fprintf(stderr, "kizuna: report: %s\n", err->message);
        return KZ_EXIT_FAILED;
    }
    GString *o = g_string_new(NULL);
    if (strcmp(fmt, "text") == 0) {
        text_report(o, r);
    } else if (strcmp(fmt, "json") == 0) {
        JsonNode *root = json_report(r);
        g_autoptr(JsonGenerator) gen = json_generator_new();
        json_generator_set_pretty(gen, TRUE);
        json_generator_set_root(gen, root);
        g_autofree char *text = json_generator_to_data(gen, NULL);
        g_string_append(o, text);
        g_string_append_c(o, '\n');
        json_node_unref(root);
    } else if (strcmp(fmt, "csv") == 0) {
        csv_report(o, r);
    } else {
        kz_report_html(o, r);
    }
    sqlite3_close(db);
    gboolean ok = write_out(out_opt, o);
    g_string_free(o, TRUE);
    return ok ? KZ_EXIT_OK : KZ_EXIT_FAILED;
}

/* ---- kizuna feedback ---------------------------------------------------- */

int kz_cmd_feedback(int argc, char **argv)
{
    char *period = NULL, *from = NULL, *to = NULL, *out = NULL;
    gboolean csv = FALSE, json = FALSE;
    const GOptionEntry entries[] = {
        {"period", 'p', 0, G_OPTION_ARG_STRING, &period, "A quarter, month or year (default: everything)", "P"},
        {"from", 0, 0, G_OPTION_ARG_STRING, &from, "The first day", "DATE"},
        {"to", 0, 0, G_OPTION_ARG_STRING, &to, "The last day", "DATE"},
        {"csv", 0, 0, G_OPTION_ARG_NONE, &csv, "One CSV line per request and tag, for the product team", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Write to FILE", "FILE"},
        G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "",
                      "The feature requests customers made (helpdesk tickets of kind feature request), counted by "
                      "tag with the accounts asking and their ARR; --csv lists every request.",
                      entries))
        return KZ_EXIT_USAGE;
    g_autofree char *period_opt = period, *from_opt = from, *to_opt = to, *out_opt = out;
    gint64 f = G_MININT64 / 2, t = G_MAXINT64 / 2;
    if ((period_opt != NULL || from_opt != NULL || to_opt != NULL) &&
        !parse_period(period_opt, from_opt, to_opt, kz_host_now(), &f, &t))
        return KZ_EXIT_USAGE;
    g_autoptr(kz_config) cfg = NULL;
    sqlite3 *db = NULL;
    if (!open_store(&cfg, &db))
        return KZ_EXIT_FAILED;
    GString *o = g_string_new(NULL);
    gboolean ok = TRUE;
    if (csv) {
        /* every request, with each of its tags on a line of its own */
        sqlite3_stmt *st = NULL;
        ok = sqlite3_prepare_v2(db,
                                "SELECT t.id, t.opened_us, coalesce(j.value, '(untagged)'), t.account_id, a.name,"
                                " a.arr_minor, a.currency, t.status, t.subject FROM tickets AS t"
                                " LEFT JOIN json_each(CASE WHEN json_valid(t.tags) THEN t.tags END) AS j"
                                " LEFT JOIN accounts AS a ON a.id = t.account_id"
                                " WHERE t.kind = 5 AND t.opened_us >= ?1 AND t.opened_us < ?2"
                                " ORDER BY t.opened_us, t.id, j.key",
                                -1, &st, NULL) == SQLITE_OK;
        if (ok) {
            sqlite3_bind_int64(st, 1, f);
            sqlite3_bind_int64(st, 2, t);
            GString *line = g_string_new(NULL);
            const char *head[] = {"ticket", "opened",   "tag",    "account", "account_name",
                                  "arr",    "currency", "status", "subject"};
            for (guint i = 0; i < G_N_ELEMENTS(head); i++)
                kz_cli_csv_field(line, head[i]);
            g_string_append(o, line->str);
            g_string_append(o, "\r\n");
            g_string_truncate(line, 0);
            static const char *const statuses[] = {"", "new", "open", "pending", "solved", "closed"};
            while (sqlite3_step(st) == SQLITE_ROW) {
                g_autofree char *opened = day_text(sqlite3_column_int64(st, 1));
                const char *cur = (const char *)sqlite3_column_text(st, 6);
                g_autofree char *arr = sqlite3_column_type(st, 5) == SQLITE_NULL
                                           ? NULL
                                           : kz_money_format(sqlite3_column_int64(st, 5), cur != NULL ? cur : "USD");
                int status = sqlite3_column_int(st, 7);
                kz_cli_csv_field(line, (const char *)sqlite3_column_text(st, 0));
                kz_cli_csv_field(line, opened);
                kz_cli_csv_field(line, (const char *)sqlite3_column_text(st, 2));
                kz_cli_csv_field(line, (const char *)sqlite3_column_text(st, 3));
                kz_cli_csv_field(line, (const char *)sqlite3_column_text(st, 4));
                kz_cli_csv_field(line, arr);
                kz_cli_csv_field(line, cur);
                kz_cli_csv_field(line, status >= 0 && status < (int)G_N_ELEMENTS(statuses) ? statuses[status] : "");
                kz_cli_csv_field(line, (const char *)sqlite3_column_text(st, 8));
                g_string_append(o, line->str);
                g_string_append(o, "\r\n");
                g_string_truncate(line, 0);
            }
            g_string_free(line, TRUE);
        }
        sqlite3_finalize(st);
        if (!ok)
            fprintf(stderr, "kizuna: feedback: %s\n", sqlite3_errmsg(db));
    } else {
        g_autoptr(GError) err = NULL;
        g_autoptr(kz_kpi_report) r = kz_kpi_compute(db, cfg, f, t, G_MAXINT64 / 2, KZ_KPI_BY_NONE, &err);
        if (r == NULL) {
            fprintf(stderr, "kizuna: feedback: %s\n", err->message);
            ok = FALSE;
        } else if (json) {
            g_autoptr(JsonBuilder) b = json_builder_new();
            json_builder_begin_object(b);
            kz_cli_json_str(b, "currency", r->currency);
            static const char *const keys[] = {"requests", "accounts", "arr", NULL};
            json_rows(b, "tags", r->features, keys);
            json_builder_end_object(b);
            JsonNode *root = json_builder_get_root(b);
            g_autoptr(JsonGenerator) gen = json_generator_new();
            json_generator_set_pretty(gen, TRUE);
            json_generator_set_root(gen, root);
            g_autofree char *text = json_generator_to_data(gen, NULL);
            g_string_append_printf(o, "%s\n", text);
            json_node_unref(root);
        } else if (r->features->len == 0) {
            g_string_append(o, "no feature requests\n");
        } else {
            g_string_append_printf(o, "%-28s %9s %9s %16s\n", "tag", "requests", "accounts", "ARR");
            for (guint i = 0; i < r->features->len; i++) {
                const kz_kpi_row *row = r->features->pdata[i];
                g_string_append_printf(o, "%-28s %9.0f %9.0f %12.2f %s\n", row->name, row->v[0], row->v[1], row->v[2],
                                       r->currency);
            }
        }
    }
    sqlite3_close(db);
    ok = ok && write_out(out_opt, o);
    g_string_free(o, TRUE);
    return ok ? KZ_EXIT_OK : KZ_EXIT_FAILED;
}
