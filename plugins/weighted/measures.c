/*
 * plugins/weighted/measures.c — the text forms of the weighted scorer's
 * configuration: the `measures` parameter and the trained model that the
 * host keeps in the instance's state.
 *
 * A `measures` entry is `NAME weight=W (band=LOW..HIGH | percentile |
 * percentile=desc)`; entries are separated by newlines or ';'. The model
 * text reuses that syntax, so a person can read a kept model:
 *
 *     kizuna-weighted 1
 *     measures 2
 *     active_users weight=2.4 band=0..50
 *     nps weight=0.6 percentile
 *     reference nps 1200 3          <- measure, values learned from, knots
 *     -40 0 10                      <- value, values below it, values at or below it
 *     10 500 800
 *     90 1190 1200
 *
 * Numbers are written with as few digits as read back to the same double,
 * and every number is read and written in the C locale (the kizuna command
 * runs under the user's locale, where the decimal point may be a comma).
 */
#define _POSIX_C_SOURCE 200809L
#include "weighted.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLANKS " \t\r"

/* Runs between c_numeric_enter() and c_numeric_leave() see the C locale's
 * numbers in strtod and printf, on this thread only. */
typedef struct {
    locale_t c, previous;
} c_numeric;

static int c_numeric_enter(c_numeric *l)
{
    l->c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (l->c == (locale_t)0)
        return KZ_ERR_NOMEM;
    l->previous = uselocale(l->c);
    return KZ_OK;
}

static void c_numeric_leave(c_numeric *l)
{
    uselocale(l->previous);
    freelocale(l->c);
}

static int KZ_PRINTF(3, 4) fail(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return KZ_ERR_INVALID;
}

/* A whole token as a finite double. */
static int parse_number(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v) || errno == ERANGE)
        return 0;
    *out = v;
    return 1;
}

/* A whole token as an unsigned decimal integer. */
static int parse_count(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return 0;
    *out = v;
    return 1;
}

/* Writes v with the fewest significant digits (15 to 17) that read back
 * as v. */
static void format_number(char *buf, size_t len, double v)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, len, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* weight=W: finite and above 0 (or 0 too, in a trained model). */
static int parse_weight(const char *text, int allow_zero, double *out, char *detail, size_t len)
{
    if (!parse_number(text, out))
        return fail(detail, len, "weight=%s is not a finite number", text);
    if (*out < 0 || (*out == 0 && !allow_zero))
        return fail(detail, len, "weight=%s must be above 0", text);
    return KZ_OK;
}

/* band=LOW..HIGH (writable text after "band="), either way round. */
static int parse_band(char *text, wt_measure *out, char *detail, size_t len)
{
    char *dots = strstr(text, "..");
    if (dots == NULL)
        return fail(detail, len, "band=%s is not LOW..HIGH", text);
    *dots = '\0';
    const char *low = text, *high = dots + 2;
    if (!parse_number(low, &out->low))
        return fail(detail, len, "band=%s..%s: '%s' is not a number", low, high, low);
    if (!parse_number(high, &out->high))
        return fail(detail, len, "band=%s..%s: '%s' is not a number", low, high, high);
    if (out->low == out->high)
        return fail(detail, len, "band %s..%s is empty", low, high);
    if (!isfinite(out->high - out->low))
        return fail(detail, len, "band %s..%s is too wide", low, high);
    /* n = (x - low) / (high - low) as one multiply-add per value */
    out->scale = 1.0 / (out->high - out->low);
    out->offset = -out->low * out->scale;
    out->norm = WT_BAND;
    return KZ_OK;
}

/* Parses one entry (a NUL-terminated, writable copy, not blank) into
 * `out`. `where` ("measures entry 2", "line 4") starts the message; the
 * measure's name follows it once known. A trained model may give a
 * measure weight 0. */
static int parse_entry(char *entry, const char *where, int allow_zero_weight, wt_measure *out, char *why,
                       size_t why_len)
{
    memset(out, 0, sizeof *out);
    char *save = NULL;
    char *tok = strtok_r(entry, BLANKS, &save);
    if (strchr(tok, '=') != NULL)
        return fail(why, why_len, "%s: starts with '%s', not a measure name", where, tok);
    const char *name = tok;
    int have_weight = 0;
    int rc = KZ_OK;
    char detail[200] = "";
    while (rc == KZ_OK && (tok = strtok_r(NULL, BLANKS, &save)) != NULL) {
        const int band = strncmp(tok, "band=", 5) == 0;
        const int percentile = strcmp(tok, "percentile") == 0 || strcmp(tok, "percentile=desc") == 0;
        if (strncmp(tok, "weight=", 7) == 0)
            rc = have_weight++ ? fail(detail, sizeof detail, "weight= is given twice")
                               : parse_weight(tok + 7, allow_zero_weight, &out->weight, detail, sizeof detail);
        else if ((band || percentile) && out->norm != 0)
            rc = (out->norm == WT_BAND) == band
                     ? fail(detail, sizeof detail, "%s is given twice", band ? "band=" : "percentile")
                     : fail(detail, sizeof detail, "has both band= and percentile: give one");
        else if (band)
            rc = parse_band(tok + 5, out, detail, sizeof detail);
        else if (percentile) {
            out->norm = WT_PERCENTILE;
            out->desc = tok[10] == '=';
        } else if (strncmp(tok, "percentile=", 11) == 0)
            rc = fail(detail, sizeof detail, "%s: write percentile (higher is healthier) or percentile=desc", tok);
        else
            rc = fail(detail, sizeof detail, "unknown option '%s' (expected weight=, band=, percentile)", tok);
    }
    if (rc == KZ_OK && !have_weight)
        rc = fail(detail, sizeof detail, "has no weight=");
    if (rc == KZ_OK && out->norm == 0)
        rc = fail(detail, sizeof detail, "needs band=LOW..HIGH or percentile");
    if (rc != KZ_OK)
        return fail(why, why_len, "%s (%s): %s", where, name, detail);
    out->name = strdup(name);
    return out->name != NULL ? KZ_OK : KZ_ERR_NOMEM;
}

static void free_measure(wt_measure *m)
{
    free(m->name);
    wt_reference_free(m->ref);
}

void wt_model_clear(wt_model *model)
{
    for (uint32_t k = 0; k < model->n; k++)
        free_measure(&model->m[k]);
    free(model->m);
    model->m = NULL;
    model->n = 0;
}

static int find_measure(const wt_model *model, const char *name)
{
    for (uint32_t k = 0; k < model->n; k++)
        if (strcmp(model->m[k].name, name) == 0)
            return (int)k;
    return -1;
}

/* Parses `entry` as the next measure of `model` (which has room for it). */
static int add_entry(wt_model *model, char *entry, const char *where, int allow_zero_weight, char *why, size_t why_len)
{
    wt_measure m;
    int rc = parse_entry(entry, where, allow_zero_weight, &m, why, why_len);
    if (rc != KZ_OK)
        return rc;
    int earlier = find_measure(model, m.name);
    if (earlier >= 0) {
        rc = fail(why, why_len, "%s (%s): measure '%s' is given twice (also entry %d)", where, m.name, m.name,
                  earlier + 1);
        free_measure(&m);
        return rc;
    }
    model->m[model->n++] = m;
    return KZ_OK;
}

static int is_blank(const char *s)
{
    return s[strspn(s, BLANKS)] == '\0';
}

int wt_parse_measures(const char *text, wt_model *out, char *why, size_t why_len)
{
    *out = (wt_model){0};
    c_numeric locale;
    if (c_numeric_enter(&locale) != KZ_OK)
        return KZ_ERR_NOMEM;
    size_t cap = 1;
    for (const char *p = text; *p != '\0'; p++)
        cap += *p == '\n' || *p == ';';
    char *copy = strdup(text);
    out->m = calloc(cap, sizeof *out->m);
    int rc = copy != NULL && out->m != NULL ? KZ_OK : KZ_ERR_NOMEM;
    char *save = NULL;
    for (char *entry = copy != NULL ? strtok_r(copy, "\n;", &save) : NULL; rc == KZ_OK && entry != NULL;
         entry = strtok_r(NULL, "\n;", &save)) {
        if (is_blank(entry))
            continue;
        char where[40];
        snprintf(where, sizeof where, "measures entry %u", out->n + 1);
        rc = add_entry(out, entry, where, 0, why, why_len);
    }
    if (rc == KZ_OK && out->n == 0)
        rc = fail(why, why_len, "parameter 'measures' names no measure");
    free(copy);
    c_numeric_leave(&locale);
    if (rc != KZ_OK)
        wt_model_clear(out);
    return rc;
}

/* ---- the model text ------------------------------------------------------ */

/* Splits off the next line of *rest (NULL when none is left). */
static char *next_line(char **rest)
{
    char *line = *rest;
    if (line == NULL)
        return NULL;
    char *nl = strchr(line, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *rest = nl[1] != '\0' ? nl + 1 : NULL; /* the text ends with its last line's '\n' */
    } else {
        *rest = NULL;
    }
    return line;
}

/* Reads the knots of one reference after its "reference" line. */
static int parse_knots(char **rest, uint32_t *line_no, const char *name, wt_reference *ref, char *why, size_t why_len)
{
    for (uint32_t k = 0; k < ref->n_knots; k++) {
        char *line = next_line(rest);
        ++*line_no;
        if (line == NULL)
            return fail(why, why_len, "line %u: the reference of '%s' stops after %u of %u knots", *line_no, name, k,
                        ref->n_knots);
        char *save = NULL;
        char *v = strtok_r(line, BLANKS, &save);
        char *b = strtok_r(NULL, BLANKS, &save);
        char *u = strtok_r(NULL, BLANKS, &save);
        if (v == NULL || b == NULL || u == NULL || strtok_r(NULL, BLANKS, &save) != NULL ||
            !parse_number(v, &ref->value[k]) || !parse_count(b, &ref->below[k]) || !parse_count(u, &ref->upto[k]))
            return fail(why, why_len, "line %u: expected a knot of '%s' (VALUE BELOW AT_OR_BELOW)", *line_no, name);
        const int ordered =
            k == 0 ? ref->below[k] == 0 : ref->value[k] > ref->value[k - 1] && ref->below[k] >= ref->upto[k - 1];
        if (!ordered || ref->upto[k] <= ref->below[k] || ref->upto[k] > ref->n_values ||
            (k + 1 == ref->n_knots && ref->upto[k] != ref->n_values))
            return fail(why, why_len, "line %u: knot %u of '%s' does not fit the knots around it", *line_no, k + 1,
                        name);
    }
    wt_reference_derive(ref);
    return KZ_OK;
}

/* Reads "reference NAME N_VALUES N_KNOTS" and its knots into `model`. */
static int parse_reference(char *line, char **rest, uint32_t *line_no, wt_model *model, char *why, size_t why_len)
{
    char *save = NULL;
    const char *word = strtok_r(line, BLANKS, &save);
    const char *name = strtok_r(NULL, BLANKS, &save);
    const char *nv = strtok_r(NULL, BLANKS, &save);
    const char *nk = strtok_r(NULL, BLANKS, &save);
    uint64_t n_values = 0, n_knots = 0;
    if (word == NULL || strcmp(word, "reference") != 0 || nk == NULL || strtok_r(NULL, BLANKS, &save) != NULL ||
        !parse_count(nv, &n_values) || !parse_count(nk, &n_knots))
        return fail(why, why_len, "line %u: expected 'reference NAME VALUES KNOTS'", *line_no);
    int k = find_measure(model, name);
    if (k < 0 || model->m[k].norm != WT_PERCENTILE)
        return fail(why, why_len, "line %u: a reference for '%s', which is not a percentile measure", *line_no, name);
    if (model->m[k].ref != NULL)
        return fail(why, why_len, "line %u: a second reference for '%s'", *line_no, name);
    if (n_knots < 1 || n_knots > WT_MAX_KNOTS || n_knots > n_values)
        return fail(why, why_len, "line %u: %llu knots for %llu values", *line_no, (unsigned long long)n_knots,
                    (unsigned long long)n_values);
    wt_reference *ref = wt_reference_new(n_values, (uint32_t)n_knots);
    if (ref == NULL)
        return KZ_ERR_NOMEM;
    int rc = parse_knots(rest, line_no, name, ref, why, why_len);
    if (rc != KZ_OK)
        wt_reference_free(ref);
    else
        model->m[k].ref = ref;
    return rc;
}

static int parse_model_text(char *text, wt_model *out, char *why, size_t why_len)
{
    char *rest = text;
    uint32_t line_no = 1;
    char *line = next_line(&rest);
    if (strncmp(line, "kizuna-weighted ", 16) == 0 && strcmp(line + 16, "1") != 0)
        return fail(why, why_len, "line 1: format version %.20s is not 1 (written by a newer plugin?)", line + 16);
    if (strcmp(line, "kizuna-weighted 1") != 0)
        return fail(why, why_len, "line 1 is not 'kizuna-weighted 1': not a model of this scorer");
    line = next_line(&rest);
    line_no++;
    uint64_t n = 0, lines_left = 1;
    for (const char *p = rest; p != NULL && *p != '\0'; p++)
        lines_left += *p == '\n';
    if (line == NULL || strncmp(line, "measures ", 9) != 0 || !parse_count(line + 9, &n) || n < 1 || n > lines_left)
        return fail(why, why_len, "line 2: expected 'measures N'");
    out->m = calloc(n, sizeof *out->m);
    if (out->m == NULL)
        return KZ_ERR_NOMEM;
    while (out->n < n) {
        line = next_line(&rest);
        line_no++;
        if (line == NULL || is_blank(line))
            return fail(why, why_len, "line %u: expected the entry of measure %u of %llu", line_no, out->n + 1,
                        (unsigned long long)n);
        char where[40];
        snprintf(where, sizeof where, "line %u", line_no);
        int rc = add_entry(out, line, where, 1, why, why_len);
        if (rc != KZ_OK)
            return rc;
    }
    if (!(wt_model_total_weight(out) > 0))
        return fail(why, why_len, "every weight is 0");
    while ((line = next_line(&rest)) != NULL) {
        line_no++;
        if (is_blank(line))
            continue;
        int rc = parse_reference(line, &rest, &line_no, out, why, why_len);
        if (rc != KZ_OK)
            return rc;
    }
    return KZ_OK;
}

int wt_parse_model(const char *text, size_t len, wt_model *out, char *why, size_t why_len)
{
    *out = (wt_model){0};
    if (memchr(text, '\0', len) != NULL)
        return fail(why, why_len, "it holds a NUL byte: not a model of this scorer");
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return KZ_ERR_NOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    c_numeric locale;
    int rc = c_numeric_enter(&locale);
    if (rc == KZ_OK) {
        rc = parse_model_text(copy, out, why, why_len);
        c_numeric_leave(&locale);
    }
    free(copy);
    if (rc != KZ_OK)
        wt_model_clear(out);
    return rc;
}

/* A text growing in memory from kz_host.alloc_mem, as the host frees it. */
typedef struct {
    const kz_host *host;
    char *data;
    size_t len, cap;
    int failed;
} text_buf;

static void KZ_PRINTF(2, 3) put(text_buf *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= t->cap - t->len) {
        size_t cap = t->cap * 2;
        while (cap <= t->len + (size_t)n)
            cap *= 2;
        char *p = t->host->realloc_mem(t->data, cap);
        if (p == NULL) {
            t->failed = 1;
            return;
        }
        t->data = p;
        t->cap = cap;
        va_start(ap, fmt);
        n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
    }
    if (n < 0)
        t->failed = 1;
    else
        t->len += (size_t)n;
}

static void put_model(text_buf *t, const wt_model *model)
{
    char a[32], b[32];
    put(t, "kizuna-weighted 1\nmeasures %u\n", model->n);
    for (uint32_t k = 0; k < model->n; k++) {
        const wt_measure *m = &model->m[k];
        format_number(a, sizeof a, m->weight);
        put(t, "%s weight=%s ", m->name, a);
        if (m->norm == WT_BAND) {
            format_number(a, sizeof a, m->low);
            format_number(b, sizeof b, m->high);
            put(t, "band=%s..%s\n", a, b);
        } else {
            put(t, "%s\n", m->desc ? "percentile=desc" : "percentile");
        }
    }
    for (uint32_t k = 0; k < model->n; k++) {
        const wt_reference *r = model->m[k].ref;
        if (r == NULL)
            continue;
        put(t, "reference %s %llu %u\n", model->m[k].name, (unsigned long long)r->n_values, r->n_knots);
        for (uint32_t j = 0; j < r->n_knots; j++) {
            format_number(a, sizeof a, r->value[j]);
            put(t, "%s %llu %llu\n", a, (unsigned long long)r->below[j], (unsigned long long)r->upto[j]);
        }
    }
}

char *wt_format_model(const wt_model *model, const kz_host *host, size_t *len)
{
    text_buf t = {.host = host, .cap = 4096};
    t.data = host->alloc_mem(t.cap);
    c_numeric locale;
    if (t.data == NULL || c_numeric_enter(&locale) != KZ_OK) {
        host->free_mem(t.data);
        return NULL;
    }
    put_model(&t, model);
    c_numeric_leave(&locale);
    if (t.failed) {
        host->free_mem(t.data);
        return NULL;
    }
    *len = t.len;
    return t.data;
}

int wt_model_copy(wt_model *to, const wt_model *from)
{
    *to = (wt_model){0};
    to->m = calloc(from->n, sizeof *to->m);
    if (to->m == NULL)
        return KZ_ERR_NOMEM;
    for (; to->n < from->n; to->n++) {
        const wt_measure *m = &from->m[to->n];
        wt_measure *c = &to->m[to->n];
        *c = *m;
        c->name = strdup(m->name);
        c->ref = m->ref != NULL ? wt_reference_copy(m->ref) : NULL;
        if (c->name == NULL || (m->ref != NULL && c->ref == NULL)) {
            to->n++; /* so that clearing frees what this measure got */
            wt_model_clear(to);
            return KZ_ERR_NOMEM;
        }
    }
    return KZ_OK;
}

double wt_model_total_weight(const wt_model *model)
{
    double total = 0;
    for (uint32_t k = 0; k < model->n; k++)
        total += model->m[k].weight;
    return total;
}
