/*
 * core/values.h — how the core writes values as text and reads them back:
 * times as ISO 8601 UTC, doubles in their shortest exact form, money in
 * the major units of its currency. One place, so that the CLI's output,
 * Kizuna's CSV export and the expression language agree on every value.
 */
#ifndef KZ_CORE_VALUES_H
#define KZ_CORE_VALUES_H

#include <glib.h>

G_BEGIN_DECLS

/* Parses a date "2026-01-31" (midnight UTC) or an ISO 8601 / RFC 3339
 * time "2026-01-31T09:30:00Z", "2026-01-31 18:30:00.25+09:00" (T or a
 * space; seconds and a fraction optional; zone Z, +hh:mm, +hhmm, +hh, or
 * none for UTC; spaces around it allowed) into microseconds since the
 * epoch. FALSE when it is neither. The one ISO reader of the host: the CLI,
 * --where dates and the csv/xml mappings all use it. */
gboolean kz_time_parse(const char *text, gint64 *out_us);

/* Microseconds UTC as ISO 8601: "2026-01-31T00:00:00Z", with ".ffffff"
 * when there are microseconds; the plain number when the year is outside
 * 1..9999. Newly allocated. */
char *kz_time_format(gint64 us);

/* The shortest decimal text that reads back as exactly `d` ("0.1", "3",
 * "1e+20"). Newly allocated. */
char *kz_double_format(double d);

/* ISO 4217 currencies whose minor unit is not a hundredth (X-macro lists,
 * so C code and SQL text are written from the same table). Every other
 * code, and an absent currency, has 2 minor-unit digits. */
#define KZ_CURRENCIES_0_DIGITS(X)                                                                                      \
    X(BIF)                                                                                                             \
    X(CLP) X(DJF) X(GNF) X(ISK) X(JPY) X(KMF) X(KRW) X(PYG) X(RWF) X(UGX) X(UYI) X(VND) X(VUV) X(XAF) X(XOF) X(XPF)
#define KZ_CURRENCIES_3_DIGITS(X) X(BHD) X(IQD) X(JOD) X(KWD) X(LYD) X(OMR) X(TND)
#define KZ_CURRENCIES_4_DIGITS(X) X(CLF) X(UYW)

/* How many minor-unit digits `code` has: 0 for JPY, 3 for KWD, 2 for EUR,
 * unknown codes and NULL. */
int kz_currency_digits(const char *code);

/* An amount in minor units written in major units with its currency:
 * "1234.50 EUR", "120000 JPY", "12.00" (no currency). Newly allocated. */
char *kz_money_format(gint64 minor, const char *currency);

G_END_DECLS

#endif
