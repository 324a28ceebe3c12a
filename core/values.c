/*
 * core/values.c — see values.h.
 */
#include "values.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gboolean kz_time_parse(const char *text, gint64 *out_us)
{
    if (text == NULL)
        return FALSE;
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
    g_autoptr(GDateTime) t = NULL;
    int y = 0, m = 0, d = 0, n = 0;
    if (strlen(text) == 10 && sscanf(text, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10 && text[4] == '-' &&
        text[7] == '-' && g_ascii_isdigit(text[0]) && g_ascii_isdigit(text[5]) && g_ascii_isdigit(text[8])) {
        if (y < 1 || !g_date_valid_dmy((GDateDay)d, (GDateMonth)m, (GDateYear)y))
            return FALSE;
        t = g_date_time_new(utc, y, m, d, 0, 0, 0);
    } else {
        t = g_date_time_new_from_iso8601(text, utc);
    }
    if (t == NULL)
        return FALSE;
    *out_us = g_date_time_to_unix(t) * G_USEC_PER_SEC + g_date_time_get_microsecond(t);
    return TRUE;
}

char *kz_time_format(gint64 us)
{
    gint64 sec = us / G_USEC_PER_SEC, frac = us % G_USEC_PER_SEC;
    if (frac < 0) { /* floor, for times before 1970 */
        sec -= 1;
        frac += G_USEC_PER_SEC;
    }
    g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(sec);
    if (t == NULL)
        return g_strdup_printf("%" G_GINT64_FORMAT, us);
    g_autofree char *base = g_date_time_format(t, "%Y-%m-%dT%H:%M:%S");
    if (frac == 0)
        return g_strdup_printf("%sZ", base);
    return g_strdup_printf("%s.%06dZ", base, (int)frac);
}

char *kz_double_format(double d)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    for (int precision = 15; precision <= 17; precision++) {
        char fmt[8];
        g_snprintf(fmt, sizeof fmt, "%%.%dg", precision);
        g_ascii_formatd(buf, sizeof buf, fmt, d);
        if (g_ascii_strtod(buf, NULL) == d)
            break;
    }
    return g_strdup(buf);
}

#define CODE_STRING(c) #c,
static const char *const digits0[] = {KZ_CURRENCIES_0_DIGITS(CODE_STRING)};
static const char *const digits3[] = {KZ_CURRENCIES_3_DIGITS(CODE_STRING)};
static const char *const digits4[] = {KZ_CURRENCIES_4_DIGITS(CODE_STRING)};

static gboolean listed(const char *code, const char *const *list, gsize n)
{
    for (gsize i = 0; i < n; i++)
        if (strcmp(code, list[i]) == 0)
            return TRUE;
    return FALSE;
}

int kz_currency_digits(const char *code)
{
    if (code == NULL)
        return 2;
    if (listed(code, digits0, G_N_ELEMENTS(digits0)))
        return 0;
    if (listed(code, digits3, G_N_ELEMENTS(digits3)))
        return 3;
    if (listed(code, digits4, G_N_ELEMENTS(digits4)))
        return 4;
    return 2;
}

char *kz_money_format(gint64 minor, const char *currency)
{
    int digits = kz_currency_digits(currency);
    guint64 magnitude = minor < 0 ? (guint64)0 - (guint64)minor : (guint64)minor;
    guint64 unit = 1;
    for (int i = 0; i < digits; i++)
        unit *= 10;
    GString *s = g_string_new(minor < 0 ? "-" : "");
    g_string_append_printf(s, "%" G_GUINT64_FORMAT, magnitude / unit);
    if (digits > 0)
        g_string_append_printf(s, ".%0*" G_GUINT64_FORMAT, digits, magnitude % unit);
    if (currency != NULL)
        g_string_append_printf(s, " %s", currency);
    return g_string_free(s, FALSE);
}
