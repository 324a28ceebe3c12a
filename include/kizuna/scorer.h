/*
 * kizuna/scorer.h — the scorer component: turns an account's measures into
 * a health score (0-100, higher is healthier) or a churn probability, with
 * an explanation of how much each measure contributed.
 *
 * Scoring is batched and columnar: the host hands a batch of N accounts as
 * one array per measure, and the scorer writes one array of N scores and
 * one array of N contributions per measure. The cost of crossing the ABI is
 * paid per batch, never per value.
 */
#ifndef KIZUNA_SCORER_H
#define KIZUNA_SCORER_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum kz_column_type {
    KZ_COLUMN_DOUBLE = 1,     /* numeric measure; NaN = missing */
    KZ_COLUMN_CATEGORICAL = 2 /* dictionary-coded text (plan, region); code -1 = missing */
};

/* One measure for every account of a batch. A categorical column's
 * dictionary (levels) is the column's whole dictionary: the same, in the
 * same order, in prepare(), in every batch and in every train set of a
 * run, so codes mean the same thing everywhere (dummy coding needs a
 * stable reference level). */
typedef struct kz_column {
    uint32_t size;        /* sizeof(kz_column) */
    uint32_t type;        /* enum kz_column_type */
    const char *name;     /* the measure's name in the stack config */
    const double *values; /* KZ_COLUMN_DOUBLE: n_accounts values; NULL in prepare() */
    const int32_t *codes; /* KZ_COLUMN_CATEGORICAL: n_accounts codes into levels, -1 = missing; NULL in prepare() */
    const char *const *levels; /* KZ_COLUMN_CATEGORICAL: the distinct values, sorted by byte order */
    uint32_t n_levels;
    uint32_t reserved_;
} kz_column;

/* What the host asks the scorer to do with a batch. Input arrays are owned
 * by the host and read-only; output arrays are owned by the host and sized
 * by it, the scorer fills them. An account's score must depend only on
 * that account's values and the scorer's own state (parameters, trained
 * model): never on the other accounts of the batch, so that how the host
 * cuts batches cannot change a score. */
typedef struct kz_score_batch {
    uint32_t size; /* sizeof(kz_score_batch) */
    uint32_t n_accounts;
    uint32_t n_columns;
    uint32_t reserved_;
    const char *const *account_ids;  /* n_accounts, for messages */
    const kz_column *const *columns; /* n_columns, in the order prepare() saw */
    double *scores;                  /* out: n_accounts; NaN when the scorer cannot score an account */
    /* out: n_columns * n_accounts, column-major: the contribution of column
     * c to account i is contributions[c * n_accounts + i]. NULL when the
     * host does not want explanations for this batch. */
    double *contributions;
    /* out: n_accounts: the part of each score no column explains (a
     * logistic model's intercept, a weighted scorer's 0). With
     * explanations, baseline[i] + the sum over c of contributions = the
     * score (health), or its log-odds (probability). NULL exactly when
     * contributions is NULL. */
    double *baseline;
} kz_score_batch;

/* Labelled history for training: the same columns, plus the outcome per
 * account (1 = churned / positive, 0 = retained, NaN = unknown: skip).
 * Owned by the host, valid during train().
 *
 * A set whose labels are all NaN is a calibration: the host hands the
 * whole book of business so the scorer can learn what needs no outcome
 * (the reference distribution of a percentile-normalized measure) while
 * keeping what it has learned from outcomes before. A scorer that needs
 * outcomes and has nothing to calibrate returns KZ_OK and changes
 * nothing; the host calibrates every learning scorer before it scores,
 * and does not keep what a calibration returns. */
typedef struct kz_train_set {
    uint32_t size; /* sizeof(kz_train_set) */
    uint32_t n_accounts;
    uint32_t n_columns;
    uint32_t reserved_;
    const kz_column *const *columns;
    const double *labels;
    const double *weights; /* NULL = every account weighs 1 */
} kz_train_set;

/* One fitted term of a trained model, as the scorer reports it: a measure,
 * a level of a categorical measure ("plan=pro"), or "(intercept)". */
typedef struct kz_train_term {
    const char *name; /* allocated with kz_host.alloc_mem */
    double estimate;  /* coefficient or weight */
    double std_error; /* NaN when the method has none */
} kz_train_term;

/* What train() learned. Owned by the host and zeroed before the call but
 * for `size`; the scorer fills it, allocating every pointer with
 * kz_host.alloc_mem, and the host frees them with free_mem. */
typedef struct kz_train_result {
    uint32_t size; /* sizeof(kz_train_result) as the host was built */
    uint32_t n_terms;
    kz_train_term *terms; /* n_terms, for people: `kizuna backtest --fit` shows them */
    uint32_t iterations;  /* of the fitting method, 0 when it has none */
    int32_t converged;    /* 1 when the method converged */
    double deviance;      /* residual deviance (-2 log-likelihood), or NaN */
    /* The model as the scorer itself reads it back: the host decides
     * whether to keep it (plugin state key "model", so at most 1 MiB: a
     * larger model is reported but not kept), and create() loads it from
     * there with state_get. */
    void *model;
    uint64_t model_len;
} kz_train_result;

enum kz_scorer_output {
    KZ_SCORE_HEALTH = 1,     /* 0..100, higher is healthier */
    KZ_SCORE_PROBABILITY = 2 /* 0..1 probability of churn, higher is riskier */
};

/* The scorer vtable. Required: size, output, create, destroy, prepare, score. */
typedef struct kz_scorer_vtable {
    uint32_t size;   /* sizeof(kz_scorer_vtable) */
    uint32_t output; /* enum kz_scorer_output */

    /* Creates an instance from its parameters; must not reach outside
     * systems or write anything (`kizuna check` creates every instance to
     * validate it). On failure, say why with set_error. */
    int (*create)(const kz_host *host, kz_ctx *ctx, void **self);
    void (*destroy)(void *self);

    /* Tells the scorer the columns the batches will carry (names, types
     * and categorical levels; values and codes are NULL here) before the
     * first score() or train(). The scorer maps them to its own inputs and
     * may refuse (KZ_ERR_INVALID, with set_error naming the measure) when a
     * measure it needs is missing or of a type it does not know. The host
     * may call prepare() again; the new layout replaces the old one. */
    int (*prepare)(void *self, uint32_t n_columns, const kz_column *const *columns);

    /* Scores one batch. Contributions, when requested, add up to the score
     * (or, for a probability, to its log-odds) so the host can explain it. */
    int (*score)(void *self, kz_score_batch *batch);

    /* Optional (NULL = the scorer does not learn): fits the scorer to
     * labelled history, scores this instance's later batches with the new
     * model, and reports it in `result`. It persists nothing itself: the
     * host decides whether the model is kept (kz_train_result.model).
     * Fails with KZ_ERR_INVALID and a message when the data cannot be
     * fitted (separable, rank-deficient), leaving the old model in use. */
    int (*train)(void *self, const kz_train_set *set, kz_train_result *result);
} kz_scorer_vtable;

#ifdef __cplusplus
}
#endif
#endif /* KIZUNA_SCORER_H */
