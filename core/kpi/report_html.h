/*
 * core/kpi/report_html.h — the KPI report as one self-contained HTML file:
 * inline CSS and SVG charts, no script, no external asset.
 */
#ifndef KZ_REPORT_HTML_H
#define KZ_REPORT_HTML_H

#include <glib.h>

#include "kpi/kpi.h"

/* A KPI value as people read it ("12.5%", "1234.00 USD", "-" when undefined). */
char *kz_report_value_text(kz_kpi_unit unit, double v, const char *currency);

/* Appends the report to `out`. */
void kz_report_html(GString *out, const kz_kpi_report *r);

#endif
