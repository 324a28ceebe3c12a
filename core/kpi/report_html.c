/*
 * core/kpi/report_html.c — see report_html.h. Every number shown is also
 * in a data-value attribute with its unformatted value, so a test can
 * check the page against the JSON report.
 */
#include "kpi/report_html.h"

#include <math.h>
#include <string.h>

#include "values.h"

char *kz_report_value_text(kz_kpi_unit unit, double v, const char *currency)
{
    if (isnan(v))
        return g_strdup("-");
    switch (unit) {
    case KZ_KPI_COUNT: return g_strdup_printf("%.0f", v);
    case KZ_KPI_MONEY: return g_strdup_printf("%.2f %s", v, currency);
    case KZ_KPI_RATIO: return g_strdup_printf("%.1f%%", 100 * v);
    case KZ_KPI_DAYS: return g_strdup_printf("%.1f days", v);
    case KZ_KPI_SCORE: return g_strdup_printf("%.1f", v);
    }
    return g_strdup("?");
}

static const char *const palette[] = {"#c0392b", "#e0a800", "#27ae60", "#2e86c1", "#8e44ad", "#16a085", "#7f8c8d"};

static void esc(GString *o, const char *text)
{
    g_autofree char *e = g_markup_escape_text(text != NULL ? text : "", -1);
    g_string_append(o, e);
}

/* A number for SVG and data-value: shortest exact form, "" for NaN. */
static void num(GString *o, double v)
{
    if (isnan(v))
        return;
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append(o, g_ascii_dtostr(buf, sizeof buf, v));
}

static void coord(GString *o, double v)
{
    g_string_append_printf(o, "%.1f", v);
}

/* A KPI as a table cell: formatted, with its raw value for machines. */
static void kpi_cell(GString *o, const kz_kpi_report *r, const char *group, kz_kpi k, double v)
{
    const kz_kpi_info *i = kz_kpi_info_of(k);
    g_autofree char *text = kz_report_value_text(i->unit, v, r->currency);
    g_string_append_printf(o, "<td class=\"n\" data-group=\"");
    esc(o, group);
    g_string_append_printf(o, "\" data-kpi=\"%s\" data-value=\"", i->key);
    num(o, v);
    g_string_append(o, "\">");
    esc(o, text);
    g_string_append(o, "</td>");
}

/* Horizontal bars: one per row, value v[col], labelled. Each value's
 * text carries data-chart, data-key (the row's name) and data-value. */
static void hbars(GString *o, const char *chart, const char *title, const GPtrArray *rows, int col,
                  const char *unit_label)
{
    double max = 0;
    for (guint i = 0; i < rows->len; i++)
        max = MAX(max, ((const kz_kpi_row *)rows->pdata[i])->v[col]);
    const double w = 520, label = 150, bar_h = 22, h = 30 + bar_h * MAX(rows->len, 1);
    g_string_append_printf(o, "<figure data-chart=\"%s\"><figcaption>", chart);
    esc(o, title);
    g_string_append_printf(o,
                           "</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"%.0f\" "
                           "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">",
                           w + label + 80, h, w + label + 80, h);
    if (rows->len == 0)
        g_string_append(o, "<text x=\"10\" y=\"20\">nothing to show</text>");
    for (guint i = 0; i < rows->len; i++) {
        const kz_kpi_row *row = rows->pdata[i];
        double len = max > 0 ? w * row->v[col] / max : 0, y = 10 + i * bar_h;
        g_string_append(o, "<text x=\"");
        coord(o, label - 6);
        g_string_append(o, "\" y=\"");
        coord(o, y + 15);
        g_string_append(o, "\" text-anchor=\"end\">");
        esc(o, row->name);
        g_string_append_printf(o, "</text><rect x=\"%.0f\" y=\"", label);
        coord(o, y + 2);
        g_string_append(o, "\" width=\"");
        coord(o, len);
        g_string_append_printf(o, "\" height=\"%.0f\" fill=\"%s\"/><text x=\"", bar_h - 6,
                               palette[i % G_N_ELEMENTS(palette)]);
        coord(o, label + len + 6);
        g_string_append(o, "\" y=\"");
        coord(o, y + 15);
        g_string_append_printf(o, "\" data-chart=\"%s\" data-key=\"", chart);
        esc(o, row->name);
        g_string_append(o, "\" data-value=\"");
        num(o, row->v[col]);
        g_string_append_printf(o, "\">%.0f%s</text>", row->v[col], unit_label);
    }
    g_string_append(o, "</svg></figure>\n");
}

/* GRR and NRR by month as two lines over a percent axis. */
static void months_chart(GString *o, const kz_kpi_report *r)
{
    const double w = 640, h = 240, left = 50, top = 20, bottom = 40, right = 40;
    double lo = 1, hi = 1;
    for (guint i = 0; i < r->months->len; i++) {
        const kz_kpi_row *m = r->months->pdata[i];
        for (int k = 0; k < 2; k++)
            if (!isnan(m->v[k])) {
                lo = MIN(lo, m->v[k]);
                hi = MAX(hi, m->v[k]);
            }
    }
    /* the axis: the 100% line and every value, in round steps of at most
     * six intervals (1, 2, 5, 10, 20, 25, 50 or 100 points) */
    static const double steps[] = {0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1};
    double step = 1;
    for (guint i = 0; i < G_N_ELEMENTS(steps); i++)
        if ((ceil(hi / steps[i]) - floor(lo / steps[i])) <= 6) {
            step = steps[i];
            break;
        }
    lo = floor(lo / step) * step;
    hi = ceil(hi / step) * step;
    if (hi - lo < step / 2)
        hi = lo + step;
    const int ticks = (int)lround((hi - lo) / step);
    const guint n = r->months->len;
    const double plot_w = w - left - right, plot_h = h - top - bottom;
#define X(i) (left + (n > 1 ? plot_w * (i) / (n - 1) : plot_w / 2))
#define Y(v) (top + plot_h * (hi - (v)) / (hi - lo))
    g_string_append_printf(o,
                           "<figure data-chart=\"months\"><figcaption>GRR and NRR by month</figcaption><svg "
                           "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"%.0f\" height=\"%.0f\" "
                           "viewBox=\"0 0 %.0f %.0f\">",
                           w, h, w, h);
    for (int t = 0; t <= ticks; t++) {
        double v = lo + step * t, y = Y(v);
        g_string_append_printf(o, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", left,
                               w - right, y, y);
        g_string_append_printf(o, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.0f%%</text>", left - 6, y + 4,
                               100 * v);
    }
    static const char *const names[] = {"GRR", "NRR"}, *const colors[] = {"#2e86c1", "#27ae60"};
    for (int k = 0; k < 2; k++) {
        /* NRR dashed: where the two lines meet, both still show */
        g_string_append_printf(o, "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"%s\"%s points=\"", colors[k],
                               k == 1 ? " stroke-dasharray=\"6 4\"" : "");
        for (guint i = 0; i < n; i++) {
            const kz_kpi_row *m = r->months->pdata[i];
            if (!isnan(m->v[k]))
                g_string_append_printf(o, "%.1f,%.1f ", X(i), Y(m->v[k]));
        }
        g_string_append(o, "\"/>");
        for (guint i = 0; i < n; i++) {
            const kz_kpi_row *m = r->months->pdata[i];
            if (isnan(m->v[k]))
                continue;
            g_string_append_printf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\" data-month=\"", X(i),
                                   Y(m->v[k]), colors[k]);
            esc(o, m->name);
            g_string_append_printf(o, "\" data-kpi=\"%s\" data-value=\"", k == 0 ? "grr" : "nrr");
            num(o, m->v[k]);
            g_string_append_printf(o, "\"><title>%s %s: %.1f%%</title></circle>", names[k], m->name, 100 * m->v[k]);
        }
        /* the legend: a swatch of the line's colour, then its name */
        g_string_append_printf(o,
                               "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                               "<text x=\"%.0f\" y=\"%.0f\">%s</text>",
                               left + 70 * k, h - 12, colors[k], left + 18 + 70 * k, h - 6, names[k]);
    }
    for (guint i = 0; i < n; i++)
        g_string_append_printf(o, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>", X(i), h - bottom + 16,
                               ((const kz_kpi_row *)r->months->pdata[i])->name);
    g_string_append(o, "</svg></figure>\n");
#undef X
#undef Y
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}"
    ".tiles{display:flex;flex-wrap:wrap;gap:10px}.tile{border:1px solid #ddd;border-radius:6px;padding:8px 12px;"
    "min-width:130px}.tile b{display:block;font-size:20px}table{border-collapse:collapse;margin:8px 0}"
    "td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}td.n{text-align:right}"
    "figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}svg text{font-size:12px;fill:#333}";

void kz_report_html(GString *o, const kz_kpi_report *r)
{
    g_autofree char *from = kz_time_format(r->from_us), *last = kz_time_format(r->to_us - 1),
                    *as_of = kz_time_format(r->as_of_us);
    from[10] = last[10] = '\0';
    g_string_append_printf(o,
                           "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                           "<title>Kizuna KPIs %s .. %s</title><style>%s</style></head><body>\n",
                           from, last, css);
    g_string_append_printf(o,
                           "<h1>Customer Success KPIs, %s .. %s</h1><p>As of %s. Money in %s (MRR). Formulas: "
                           "docs/kpis.md.</p>\n",
                           from, last, as_of, r->currency);

    static const kz_kpi tiles[] = {
        KZ_KPI_LOGO_RETENTION,  KZ_KPI_GRR,           KZ_KPI_NRR,        KZ_KPI_RENEWAL_RATE,
        KZ_KPI_MRR_END,         KZ_KPI_ARPA,          KZ_KPI_NPS,        KZ_KPI_CSAT,
        KZ_KPI_ONBOARDING_RATE, KZ_KPI_TIME_TO_VALUE, KZ_KPI_STICKINESS, KZ_KPI_FEATURE_REQUESTS};
    g_string_append(o, "<div class=\"tiles\">");
    for (guint i = 0; i < G_N_ELEMENTS(tiles); i++) {
        const kz_kpi_info *info = kz_kpi_info_of(tiles[i]);
        g_autofree char *v = kz_report_value_text(info->unit, r->all->v[tiles[i]], r->currency);
        g_string_append(o, "<div class=\"tile\">");
        esc(o, info->label);
        g_string_append_printf(o, "<b data-kpi=\"%s\" data-value=\"", info->key);
        num(o, r->all->v[tiles[i]]);
        g_string_append(o, "\">");
        esc(o, v);
        g_string_append(o, "</b></div>");
    }
    g_string_append(o, "</div>\n<h2>Health</h2>\n");
    hbars(o, "health_end", "Accounts per health grade at the end of the period", r->all->grades_end, 0, "");
    if (r->health_run_start != 0)
        hbars(o, "health_start", "... and at its start", r->all->grades_end, 1, "");
    g_string_append(o, "<h2>Lifecycle</h2>\n");
    hbars(o, "phases", "Phase funnel: accounts in each phase now", r->phases, 0, "");
    g_string_append(o, "<h2>Revenue retention</h2>\n");
    months_chart(o, r);
    g_string_append(o, "<h2>At-risk accounts</h2>\n<table><tr><th>account</th><th>owner</th><th>grade</th>"
                       "<th>score</th><th>ARR</th><th>what pulls it down (below the book's mean)</th></tr>\n");
    for (guint i = 0; i < r->at_risk->len; i++) {
        const kz_kpi_at_risk *a = r->at_risk->pdata[i];
        g_string_append(o, "<tr data-account=\"");
        esc(o, a->id);
        g_string_append(o, "\"><td>");
        esc(o, a->id);
        g_string_append(o, " ");
        esc(o, a->name);
        g_string_append(o, "</td><td>");
        esc(o, a->owner != NULL ? a->owner : "(none)");
        g_string_append(o, "</td><td>");
        esc(o, a->grade);
        g_string_append(o, "</td><td class=\"n\" data-field=\"score\" data-value=\"");
        num(o, a->score);
        g_string_append_printf(o, "\">%.1f</td><td class=\"n\" data-field=\"arr\" data-value=\"", a->score);
        num(o, a->arr);
        g_string_append_printf(o, "\">%.2f %s</td><td>", a->arr, r->currency);
        esc(o, a->top_measures);
        g_string_append(o, "</td></tr>\n");
    }
    if (r->at_risk->len == 0)
        g_string_append(o, "<tr><td colspan=\"6\">none in the worst grade</td></tr>\n");
    g_string_append(o, "</table>\n<h2>Activity</h2>\n");
    hbars(o, "touches", "Touches by channel (written in the period)", r->all->touches, 0, "");

    g_string_append(o, "<h2>Every KPI</h2>\n<table><tr><th>KPI</th><th>all</th>");
    for (guint g = 0; g < r->groups->len; g++) {
        g_string_append(o, "<th>");
        esc(o, ((const kz_kpi_group *)r->groups->pdata[g])->name);
        g_string_append(o, "</th>");
    }
    g_string_append(o, "</tr>\n");
    for (int k = 0; k < KZ_KPI_N; k++) {
        g_string_append(o, "<tr><td>");
        esc(o, kz_kpi_info_of(k)->label);
        g_string_append(o, "</td>");
        kpi_cell(o, r, "all", k, r->all->v[k]);
        for (guint g = 0; g < r->groups->len; g++) {
            const kz_kpi_group *grp = r->groups->pdata[g];
            kpi_cell(o, r, grp->name, k, grp->v[k]);
        }
        g_string_append(o, "</tr>\n");
    }
    g_string_append(o, "</table>\n");
    if (r->features->len > 0) {
        g_string_append(o, "<h2>Feature requests</h2>\n<table><tr><th>tag</th><th>requests</th><th>accounts</th>"
                           "<th>their ARR</th></tr>\n");
        for (guint i = 0; i < r->features->len; i++) {
            const kz_kpi_row *f = r->features->pdata[i];
            g_string_append(o, "<tr data-tag=\"");
            esc(o, f->name);
            g_string_append(o, "\"><td>");
            esc(o, f->name);
            static const char *const fields[] = {"requests", "accounts", "arr"};
            for (int c = 0; c < 3; c++) {
                g_string_append_printf(o, "</td><td class=\"n\" data-field=\"%s\" data-value=\"", fields[c]);
                num(o, f->v[c]);
                g_string_append_printf(o, "\">%.*f%s%s", c == 2 ? 2 : 0, f->v[c], c == 2 ? " " : "",
                                       c == 2 ? r->currency : "");
            }
            g_string_append(o, "</td></tr>\n");
        }
        g_string_append(o, "</table>\n");
    }
    g_string_append(o, "</body></html>\n");
}
