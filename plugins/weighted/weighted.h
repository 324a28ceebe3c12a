/*
 * plugins/weighted/weighted.h — the parts of the `weighted` scorer that its
 * source files share: the configured measures (a wt_model), the percentile
 * reference of a measure, and the entry points of the measure/model text
 * (measures.c), the references (reference.c) and the outcome fit (fit.c).
 * Private to the plugin: nothing here crosses the ABI.
 */
#ifndef KZ_WEIGHTED_H
#define KZ_WEIGHTED_H

#include <kizuna/kizuna.h>

#include <stddef.h>
#include <stdint.h>

/* How a measure's raw value becomes a normalized value n in 0..1, where 1
 * is healthy. */
enum wt_norm {
    WT_BAND = 1,      /* n = clamp((x - low) / (high - low), 0, 1) */
    WT_PERCENTILE = 2 /* n = mid-rank percentile of x in the reference (1 - that when desc) */
};

/* The reference distribution of a percentile measure, as knots: distinct
 * values in ascending order, each with how many reference values lie
 * below it and at or below it. Holding every distinct value (at most
 * WT_MAX_KNOTS of them) makes percentiles exact; otherwise the knots are
 * quantiles and a value between two knots is interpolated. */
#define WT_MAX_KNOTS 1001
typedef struct wt_reference {
    uint64_t n_values; /* the finite values it was learned from */
    uint32_t n_knots;  /* 1..WT_MAX_KNOTS */
    double *value;     /* n_knots, strictly ascending; value[0] the minimum, the last the maximum */
    uint64_t *below;   /* n_knots: reference values < value[k] */
    uint64_t *upto;    /* n_knots: reference values <= value[k] */
    /* Derived by wt_reference_derive(), for scoring without a division: */
    double *mid;   /* n_knots: (below + upto) / 2 / n_values, the percentile at the knot */
    double *after; /* n_knots: upto / n_values, the percentile just above the knot */
    double *slope; /* n_knots - 1 (and one unused): percentile per unit of value from knot k to k+1 */
} wt_reference;

/* One configured measure. */
typedef struct wt_measure {
    char *name;
    double weight;        /* > 0 from the parameter; >= 0 from a trained model */
    int norm;             /* enum wt_norm */
    int desc;             /* WT_PERCENTILE: percentile=desc, a lower value is healthier */
    double low, high;     /* WT_BAND, as written; low > high means lower is better */
    double scale, offset; /* WT_BAND: n = clamp(x * scale + offset, 0, 1) */
    wt_reference *ref;    /* WT_PERCENTILE: NULL until calibrated */
} wt_measure;

/* The measures a scorer instance scores with, in configuration order. */
typedef struct wt_model {
    uint32_t n;
    wt_measure *m;
} wt_model;

/* ---- measures.c: the `measures` parameter and the model text ---------- */

/* Parses the `measures` parameter (entries separated by newlines or ';').
 * On failure returns KZ_ERR_INVALID (or KZ_ERR_NOMEM) with a message such
 * as "measures entry 2 (open_tickets): band 5..5 is empty" in why[]; `out`
 * is then empty. Numbers are read in the C locale whatever the host's. */
int wt_parse_measures(const char *text, wt_model *out, char *why, size_t why_len);

/* Parses a model written by wt_format_model (the first `len` bytes of
 * `text`). Failures as for wt_parse_measures, with the line named. */
int wt_parse_model(const char *text, size_t len, wt_model *out, char *why, size_t why_len);

/* Writes `model` as text ("kizuna-weighted 1", the measure entries in the
 * parameter's syntax, then the percentile references), allocated with
 * host->alloc_mem; *len excludes the NUL terminator. NULL when out of memory. */
char *wt_format_model(const wt_model *model, const kz_host *host, size_t *len);

/* A deep copy of `from` into `to`. KZ_OK or KZ_ERR_NOMEM (then `to` is empty). */
int wt_model_copy(wt_model *to, const wt_model *from);

/* Frees what `model` holds and leaves it empty. */
void wt_model_clear(wt_model *model);

/* Sum of the weights. */
double wt_model_total_weight(const wt_model *model);

/* ---- reference.c: percentile references -------------------------------- */

/* Learns a reference from the finite ones of `n` values. Returns
 * KZ_OK with *out set, KZ_ERR_NOT_FOUND when none is finite, or
 * KZ_ERR_NOMEM. */
int wt_reference_learn(const double *values, size_t n, wt_reference **out);

/* An empty reference with room for `n_knots` knots (to be filled by the
 * model reader), or NULL when out of memory. */
wt_reference *wt_reference_new(uint64_t n_values, uint32_t n_knots);

/* Computes mid, after and slope from value, below and upto. */
void wt_reference_derive(wt_reference *ref);

wt_reference *wt_reference_copy(const wt_reference *ref);
void wt_reference_free(wt_reference *ref);

/* The mid-rank percentile of x in `ref`: the fraction of reference values
 * below x plus half of those equal to it, interpolated between knots. NaN
 * in gives an unspecified value out (the caller masks missing values).
 * Inline: the scoring kernel calls it once per value. */
static inline double wt_percentile(const wt_reference *ref, double x)
{
    /* k = the number of knots <= x */
    uint32_t lo = 0, hi = ref->n_knots;
    while (lo < hi) {
        uint32_t m = lo + (hi - lo) / 2;
        if (ref->value[m] <= x)
            lo = m + 1;
        else
            hi = m;
    }
    if (lo == 0)
        return 0.0; /* below the minimum */
    const uint32_t k = lo - 1;
    if (ref->value[k] == x)
        return ref->mid[k];
    if (k + 1 == ref->n_knots)
        return 1.0; /* above the maximum */
    return ref->after[k] + (x - ref->value[k]) * ref->slope[k];
}

/* ---- fit.c: the outcome fit ------------------------------------------- */

/* What wt_fit_logistic found. */
typedef struct wt_fit {
    double *beta;        /* 1 + p: the intercept, then one coefficient per column */
    uint32_t iterations; /* Newton steps taken */
    int converged;
    double deviance; /* -2 log-likelihood at beta (without the penalty) */
} wt_fit;

/* Fits P(y = 1) = 1 / (1 + exp(-(b0 + z . b))) by Newton's method (IRLS)
 * with the penalty lambda/2 * |b|^2 on the coefficients (not on the
 * intercept). `z` is n rows of p values, row-major, none missing; y is 0
 * or 1; `a` the row weights (> 0). On KZ_OK fills `fit` (beta allocated
 * with malloc: free it); KZ_ERR_INVALID with why[] when the system is
 * singular; KZ_ERR_NOMEM. */
int wt_fit_logistic(const double *z, const double *y, const double *a, size_t n, uint32_t p, double lambda, wt_fit *fit,
                    char *why, size_t why_len);

#endif
