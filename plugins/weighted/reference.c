/*
 * plugins/weighted/reference.c — percentile references: what a calibration
 * learns for a percentile-normalized measure, so that score() can place a
 * value in the book of business without seeing the book again.
 *
 * The reference is a set of knots taken from the sorted finite values:
 * every distinct value when there are at most WT_MAX_KNOTS of them (then
 * percentiles are exact mid-ranks), otherwise the values at 1001 evenly
 * spaced ranks, the minimum and the maximum included. Each knot keeps the
 * exact counts of values below it and at or below it, so a value equal to
 * a knot gets its exact mid-rank and one between two knots is interpolated
 * linearly. Each account counts once: account weights do not enter a
 * reference (they are for the outcome fit).
 */
#include "weighted.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One allocation: the struct, then its six arrays of n_knots. */
static size_t reference_bytes(uint32_t n_knots)
{
    return sizeof(wt_reference) + (size_t)n_knots * (4 * sizeof(double) + 2 * sizeof(uint64_t));
}

static void point_arrays(wt_reference *ref)
{
    char *p = (char *)(ref + 1);
    const size_t n = ref->n_knots;
    ref->value = (double *)p;
    ref->mid = ref->value + n;
    ref->after = ref->mid + n;
    ref->slope = ref->after + n;
    ref->below = (uint64_t *)(ref->slope + n);
    ref->upto = ref->below + n;
}

wt_reference *wt_reference_new(uint64_t n_values, uint32_t n_knots)
{
    wt_reference *ref = calloc(1, reference_bytes(n_knots));
    if (ref == NULL)
        return NULL;
    ref->n_values = n_values;
    ref->n_knots = n_knots;
    point_arrays(ref);
    return ref;
}

wt_reference *wt_reference_copy(const wt_reference *ref)
{
    wt_reference *copy = malloc(reference_bytes(ref->n_knots));
    if (copy == NULL)
        return NULL;
    memcpy(copy, ref, reference_bytes(ref->n_knots));
    point_arrays(copy);
    return copy;
}

void wt_reference_free(wt_reference *ref)
{
    free(ref);
}

void wt_reference_derive(wt_reference *ref)
{
    const double n = (double)ref->n_values;
    const uint32_t last = ref->n_knots - 1;
    for (uint32_t k = 0; k <= last; k++) {
        ref->mid[k] = ((double)ref->below[k] + (double)ref->upto[k]) / (2 * n);
        ref->after[k] = (double)ref->upto[k] / n;
    }
    for (uint32_t k = 0; k < last; k++)
        ref->slope[k] = ((double)ref->below[k + 1] / n - ref->after[k]) / (ref->value[k + 1] - ref->value[k]);
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The number of the n sorted values that are < x (or <= x when `upto`). */
static uint64_t rank_of(const double *sorted, size_t n, double x, int upto)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (sorted[m] < x || (upto && sorted[m] == x))
            lo = m + 1;
        else
            hi = m;
    }
    return lo;
}

int wt_reference_learn(const double *values, size_t n, wt_reference **out)
{
    double *sorted = malloc((n > 0 ? n : 1) * sizeof *sorted);
    if (sorted == NULL)
        return KZ_ERR_NOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(values[i]))
            sorted[m++] = values[i];
    if (m == 0) {
        free(sorted);
        return KZ_ERR_NOT_FOUND;
    }
    qsort(sorted, m, sizeof *sorted, compare_doubles);

    /* Knots at ranks round(k * (m - 1) / steps), k = 0..steps: every value
     * when m <= WT_MAX_KNOTS; repeated values give one knot. */
    const uint64_t steps = m - 1 < WT_MAX_KNOTS - 1 ? m - 1 : WT_MAX_KNOTS - 1;
    uint32_t n_knots = 0;
    double knot[WT_MAX_KNOTS];
    for (uint64_t k = 0; k <= steps; k++) {
        const double v = sorted[steps == 0 ? 0 : ((m - 1) * k + steps / 2) / steps];
        if (n_knots == 0 || v > knot[n_knots - 1])
            knot[n_knots++] = v;
    }
    wt_reference *ref = wt_reference_new(m, n_knots);
    if (ref == NULL) {
        free(sorted);
        return KZ_ERR_NOMEM;
    }
    for (uint32_t k = 0; k < n_knots; k++) {
        ref->value[k] = knot[k];
        ref->below[k] = rank_of(sorted, m, knot[k], 0);
        ref->upto[k] = rank_of(sorted, m, knot[k], 1);
    }
    free(sorted);
    wt_reference_derive(ref);
    *out = ref;
    return KZ_OK;
}
