/*
 * core/score/backtest.h — how well a score foretold an outcome: the
 * figures of `kizuna backtest` (docs/scoring.md gives their definitions).
 *
 *  - AUC: the chance that a random positive account is ranked riskier
 *    than a random negative one (ties count half): the Mann-Whitney
 *    statistic over average ranks.
 *  - Lift in the riskiest decile: the positive rate among the riskiest
 *    tenth of the accounts (ceil(n / 10), riskiest first) over the rate
 *    among all.
 *  - Per grade band (all but the best): the accounts graded that band or
 *    worse are flagged; precision = positives flagged / flagged, recall =
 *    positives flagged / positives.
 *  - Calibration: the accounts in ten equal groups by risk, each with its
 *    mean score, mean predicted probability (probability scorers) and
 *    observed positive rate.
 *
 * Risk orders accounts: a churn probability as it is, a health score
 * reversed. Unscored accounts (NaN) and accounts without a label are left
 * out and counted.
 */
#ifndef KZ_CORE_BACKTEST_H
#define KZ_CORE_BACKTEST_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct kz_band_metric {
    guint grade; /* flagged: this grade or worse */
    guint flagged, positives_flagged;
    double precision, recall; /* NaN when undefined */
} kz_band_metric;

typedef struct kz_calibration_bin {
    guint accounts, positives;
    double mean_score;
    double mean_probability; /* NaN for a health score */
    double observed_rate;
} kz_calibration_bin;

typedef struct kz_backtest {
    guint evaluated, positives, unscored;
    double auc, lift_top_decile;
    GArray *bands;       /* kz_band_metric, worst grade first */
    GArray *calibration; /* kz_calibration_bin, least risky first */
} kz_backtest;

void kz_backtest_free(kz_backtest *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_backtest, kz_backtest_free)

/* Evaluates `scores` (n; health 0..100 when !probability, else churn
 * probabilities) against `labels` (1, 0, or NaN = unknown). `grades` (n,
 * 255 = none) index `n_grades` bands; may be NULL. */
kz_backtest *kz_backtest_evaluate(const double *scores, gboolean probability, const double *labels,
                                  const guint8 *grades, guint n_grades, guint n);

/* The AUC alone (for `--fit`'s before and after). */
double kz_backtest_auc(const double *scores, gboolean probability, const double *labels, guint n);

G_END_DECLS

#endif
