/*
 * core/score/health.h — the scorer runtime and the health model.
 *
 * The health model of the stack config (<health>) names scorer instances,
 * their weights and the grade bands. The runtime hands every scorer the
 * measure columns in batches, and combines their outputs into one health
 * score per account:
 *
 *   health of a scorer  = its score (health scorers, 0..100), or
 *                         100 * (1 - p) (churn-probability scorers)
 *   combined health     = sum of weight * health over the scorers that
 *                         scored the account / sum of their weights
 *   grade               = the first band whose bound is above the score
 *
 * An account no scorer could score is unscored (NaN, no grade). Each run
 * is kept in the score history (score_runs, score_columns: columnar, like
 * the measures), with every scorer's score, grade, baseline and
 * per-measure contributions; a run over the same measures with the same
 * model is not stored twice.
 */
#ifndef KZ_CORE_HEALTH_H
#define KZ_CORE_HEALTH_H

#include "config.h"
#include "instance.h"
#include "measures.h"
#include "registry.h"

#include <sqlite3.h>

G_BEGIN_DECLS

#define KZ_GRADE_NONE 255 /* the grade of an unscored account */

/* Checks the <health> section against the rest of the config: every used
 * scorer is a <scorers> instance, a scorer with fit="true" has a label to
 * fit to, the label is a valid expression over accounts. Measures are
 * checked too (kz_measures_check). One "file:line: message" per problem. */
gboolean kz_health_check(const kz_config *cfg, GPtrArray *errors);

/* What one scorer made of a measure set. */
typedef struct kz_scorer_scores {
    char *scorer;           /* the instance */
    int output;             /* enum kz_scorer_output */
    double *scores;         /* n: its own output (health or probability); NaN = unscored */
    double *health;         /* n: as health (0..100) */
    guint8 *grades;         /* n */
    double *baseline;       /* n, or NULL without explanations */
    double **contributions; /* per measure column: n each, or NULL */
    double weight;
} kz_scorer_scores;

typedef struct kz_health_scores {
    guint n;
    guint n_columns;
    GPtrArray *scorers; /* kz_scorer_scores*, in <health> order */
    double *health;     /* n: combined */
    guint8 *grades;     /* n */
    guint8 digest[32];  /* measures + model: equal digests, equal scores */
} kz_health_scores;

void kz_health_scores_free(kz_health_scores *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_health_scores, kz_health_scores_free)

typedef struct kz_health kz_health;

/* Creates the scorer instances of the health model (with `store` for
 * their state). With `refit`, a scorer with fit="true" whose kept model
 * it cannot load starts without it (the model is dropped: it is about to
 * be fitted again). NULL after appending one line per problem. */
kz_health *kz_health_new(const kz_config *cfg, const kz_registry *reg, kz_store *store, gboolean refit,
                         GPtrArray *errors);
void kz_health_free(kz_health *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_health, kz_health_free)

/* Labels of every account of `roster` for expression `label` (1 where it
 * holds, else 0), evaluated read-only on the store at `store_path`. An
 * account whose contract starts at or after `as_of_us` was no customer
 * yet: its label is unknown (NaN). */
double *kz_health_labels(const char *store_path, const char *label, const kz_roster *roster, gint64 as_of_us,
                         GError **error);

/* What a fit learned, for people. */
typedef struct kz_fit_report {
    char *scorer;
    gboolean fitted; /* FALSE: the scorer does not learn */
    guint iterations;
    gboolean converged;
    double deviance;
    GArray *terms; /* kz_fit_term */
    gboolean kept; /* the model was kept in the store */
    char *note;    /* why it was not kept, or NULL */
} kz_fit_report;

typedef struct kz_fit_term {
    char *name;
    double estimate;
    double std_error;
} kz_fit_term;

void kz_fit_report_free(kz_fit_report *r);

/* Prepares every scorer for `set` and calibrates the learning ones. Then
 * the scorers with fit="true" that have no kept model (all of them, with
 * `refit`) are fitted to `labels` (NULL: no label; they fail) and their
 * models kept when `keep`. A fit that is refused fails the call; the
 * scorer keeps its old model. Appends a kz_fit_report per fit to `fits`
 * (may be NULL). */
gboolean kz_health_prepare(kz_health *h, const kz_measure_set *set, const double *labels, gboolean refit, gboolean keep,
                           GPtrArray *fits, GError **error);

/* Fits every scorer that learns (not only those with fit="true") to
 * `labels`, keeping the models when `keep`: `kizuna backtest --fit`. */
gboolean kz_health_fit_all(kz_health *h, const kz_measure_set *set, const double *labels, gboolean keep,
                           GPtrArray *fits, GError **error);

/* Scores `set` with every scorer of the model (after kz_health_prepare).
 * `explain`: keep baselines and contributions. */
kz_health_scores *kz_health_score(kz_health *h, const kz_measure_set *set, gboolean explain, GError **error);

/* Stores `scores` as a run of the score history unless the latest run has
 * the same digest (then *run_id is that run and *stored FALSE), and drops
 * runs older than the model's history window. */
gboolean kz_health_save(kz_health *h, const kz_measure_set *set, const kz_health_scores *scores, gint64 *run_id,
                        gboolean *stored, GError **error);

/* One account in the latest score run (`kizuna account ID`). */
typedef struct kz_contribution {
    char *measure;
    double value;
} kz_contribution;

typedef struct kz_account_scorer {
    char *scorer; /* "" for the health model's combined score */
    double score;
    char *grade;           /* "" when unscored */
    double baseline;       /* NaN when the run kept none */
    GArray *contributions; /* kz_contribution, largest |value| first */
    int output;            /* enum kz_scorer_output; 0 for a run stored before the store kept it */
} kz_account_scorer;

typedef struct kz_account_health {
    gint64 run, as_of_us, time_us;
    GPtrArray *scorers;    /* kz_account_scorer*: the combined score first */
    double trend;          /* the combined score's change since trend_as_of_us, or NaN */
    gint64 trend_as_of_us; /* the as-of of the run compared with, or 0 */
} kz_account_health;

void kz_account_health_free(kz_account_health *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_account_health, kz_account_health_free)

/* Reads account `id` from the latest score run (the newest as-of, then the
 * last stored) on `db`, and its trend: the
 * change of its combined score since the latest run as of at least
 * `trend_us` before. NULL without an error when there is no run or the
 * account is not in it. */
kz_account_health *kz_health_account(sqlite3 *db, const char *id, gint64 trend_us, GError **error);

/* The account at position `at` of run `run`'s roster, with no trend (the
 * KPI report's at-risk accounts, found by walking the roster). NULL
 * without an error when there is no such run. */
kz_account_health *kz_health_account_at(sqlite3 *db, gint64 run, gint64 at, GError **error);

/* The grade names, worst first, and the name of grade `g` ("" for none). */
const char *kz_health_grade_name(const kz_config *cfg, guint8 g);

G_END_DECLS

#endif
