/*
 * core/values.c — see values.h.
 */
#include "values.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gint64 days_from_civil(gint64 y, unsigned m, unsigned d)
{
    y -= m <= 2;
    gint64 era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (gint64)doe - 719468;
}

static gboolean digits_at(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!g_ascii_isdigit(s[i]))
            return FALSE;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return TRUE;
}

/* Hand-written: this is the hot path of an event import (a GDateTime per
 * value would cost an allocation and a time-zone lookup). */
gboolean kz_time_parse(const char *s, gint64 *out)
{
    if (s == NULL)
        return FALSE;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h = 0, mi = 0, sec = 0;
    gint64 us = 0, offset = 0;
    while (g_ascii_isspace(*s))
        s++;
    if (!digits_at(s, 4, &y) || s[4] != '-' || !digits_at(s + 5, 2, &mo) || s[7] != '-' || !digits_at(s + 8, 2, &d))
        return FALSE;
    s += 10;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
        return FALSE;
    if (*s == 'T' || *s == 't' || (*s == ' ' && g_ascii_isdigit(s[1]))) {
        s++;
        if (!digits_at(s, 2, &h) || s[2] != ':' || !digits_at(s + 3, 2, &mi))
            return FALSE;
        s += 5;
        if (*s == ':') {
            if (!digits_at(s + 1, 2, &sec))
                return FALSE;
            s += 3;
            if (*s == '.' || *s == ',') {
                s++;
                int n = 0;
                gint64 scale = 100000;
                for (; g_ascii_isdigit(*s); s++, n++) {
                    us += (*s - '0') * scale;
                    scale /= 10;
                }
                if (n == 0)
                    return FALSE;
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return FALSE;
        if (sec == 60)
            sec = 59; /* a leap second: the last representable instant */
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int oh, om = 0;
            int sign = *s == '-' ? -1 : 1;
            if (!digits_at(s + 1, 2, &oh))
                return FALSE;
            s += 3;
            if (*s == ':')
                s++;
            if (g_ascii_isdigit(*s)) {
                if (!digits_at(s, 2, &om))
                    return FALSE;
                s += 2;
            }
            if (oh > 23 || om > 59)
                return FALSE;
            offset = sign * ((gint64)oh * 3600 + om * 60);
        }
    }
    while (g_ascii_isspace(*s))
        s++;
    if (*s != '\0')
        return FALSE;
    gint64 secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    *out = secs * G_USEC_PER_SEC + us;
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
