/*
 * core/score/backtest.c — see backtest.h. One sort of the evaluated
 * accounts by risk gives every figure: ranks for the AUC, the head for the
 * lift, equal slices for the calibration table.
 */
#include "backtest.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    double risk, score;
    double label;
    guint8 grade;
} entry;

static int by_risk(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return (x->risk > y->risk) - (x->risk < y->risk);
}

void kz_backtest_free(kz_backtest *b)
{
    if (b == NULL)
        return;
    g_array_unref(b->bands);
    g_array_unref(b->calibration);
    g_free(b);
}

/* The evaluated accounts, least risky first; *unscored counts the rest. */
static entry *collect(const double *scores, gboolean probability, const double *labels, const guint8 *grades, guint n,
                      guint *m, guint *unscored)
{
    entry *e = g_new(entry, MAX(n, 1));
    *m = *unscored = 0;
    for (guint i = 0; i < n; i++) {
        if (isnan(labels[i]))
            continue;
        if (isnan(scores[i])) {
            (*unscored)++;
            continue;
        }
        entry *x = &e[(*m)++];
        x->score = scores[i];
        x->risk = probability ? scores[i] : -scores[i];
        x->label = labels[i];
        x->grade = grades != NULL ? grades[i] : 255;
    }
    qsort(e, *m, sizeof *e, by_risk);
    return e;
}

/* Mann-Whitney over average ranks of tied risks. */
static double auc_sorted(const entry *e, guint m, guint *positives)
{
    double rank_sum = 0;
    guint pos = 0;
    for (guint i = 0; i < m;) {
        guint j = i;
        while (j < m && e[j].risk == e[i].risk)
            j++;
        double avg_rank = (i + 1 + j) / 2.0; /* ranks i+1 .. j */
        for (guint k = i; k < j; k++)
            if (e[k].label > 0.5) {
                rank_sum += avg_rank;
                pos++;
            }
        i = j;
    }
    *positives = pos;
    double neg = (double)m - pos;
    if (pos == 0 || neg == 0)
        return NAN;
    return (rank_sum - (double)pos * (pos + 1) / 2.0) / ((double)pos * neg);
}

double kz_backtest_auc(const double *scores, gboolean probability, const double *labels, guint n)
{
    guint m, unscored, pos;
    g_autofree entry *e = collect(scores, probability, labels, NULL, n, &m, &unscored);
    return auc_sorted(e, m, &pos);
}

kz_backtest *kz_backtest_evaluate(const double *scores, gboolean probability, const double *labels,
                                  const guint8 *grades, guint n_grades, guint n)
{
    kz_backtest *b = g_new0(kz_backtest, 1);
    b->bands = g_array_new(FALSE, TRUE, sizeof(kz_band_metric));
    b->calibration = g_array_new(FALSE, TRUE, sizeof(kz_calibration_bin));
    guint m;
    g_autofree entry *e = collect(scores, probability, labels, grades, n, &m, &b->unscored);
    b->evaluated = m;
    b->auc = auc_sorted(e, m, &b->positives);
    double rate = m > 0 ? (double)b->positives / m : NAN;

    guint top = (m + 9) / 10, top_pos = 0;
    for (guint k = 0; k < top; k++)
        top_pos += e[m - 1 - k].label > 0.5;
    b->lift_top_decile = top > 0 && rate > 0 ? ((double)top_pos / top) / rate : NAN;

    for (guint g = 0; grades != NULL && g + 1 < n_grades; g++) {
        kz_band_metric bm = {g, 0, 0, NAN, NAN};
        for (guint k = 0; k < m; k++)
            if (e[k].grade <= g) {
                bm.flagged++;
                bm.positives_flagged += e[k].label > 0.5;
            }
        if (bm.flagged > 0)
            bm.precision = (double)bm.positives_flagged / bm.flagged;
        if (b->positives > 0)
            bm.recall = (double)bm.positives_flagged / b->positives;
        g_array_append_val(b->bands, bm);
    }

    for (guint d = 0; d < 10 && m > 0; d++) {
        guint from = (guint)((guint64)m * d / 10), to = (guint)((guint64)m * (d + 1) / 10);
        kz_calibration_bin bin = {0, 0, 0, NAN, NAN};
        double score_sum = 0;
        for (guint k = from; k < to; k++) {
            bin.accounts++;
            bin.positives += e[k].label > 0.5;
            score_sum += e[k].score;
        }
        if (bin.accounts == 0)
            continue;
        bin.mean_score = score_sum / bin.accounts;
        bin.mean_probability = probability ? bin.mean_score : NAN;
        bin.observed_rate = (double)bin.positives / bin.accounts;
        g_array_append_val(b->calibration, bin);
    }
    return b;
}
