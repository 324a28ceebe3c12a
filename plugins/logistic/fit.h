/*
 * plugins/logistic/fit.h — the numerical core of the logistic scorer: the
 * maximum-likelihood fit of a binomial logit model to a dense design
 * matrix (the estimate R's glm(family = binomial) gives), and the
 * refusals of data that has no such estimate: rank deficiency and
 * (quasi-)separation. It knows nothing of measures, columns or the
 * scorer's model format; logistic.c builds the design and keeps the
 * result.
 */
#ifndef KZ_LOGISTIC_FIT_H
#define KZ_LOGISTIC_FIT_H

#include <stddef.h>
#include <stdint.h>

/* The data of one fit: n rows by p coefficients, n >= p >= 1. */
typedef struct logit_design {
    size_t n;
    uint32_t p;
    /* Column-major, column j at x + j * n; column 0 is all ones (the
     * intercept). The fit centers and scales columns 1..p-1 in place for
     * conditioning, so x is scratch once logit_fit() has run. */
    double *x;
    const double *y;          /* n outcomes, each 0 or 1 */
    const double *w;          /* n prior weights > 0 and finite, or NULL for 1 each */
    const char *const *names; /* p column names, for messages: "(intercept)", "age", "plan=pro" */
} logit_design;

/* What a successful fit found, on the columns' own scale. */
typedef struct logit_estimate {
    double *beta;        /* p coefficients; allocated by the caller */
    double *std_error;   /* p standard errors from the inverse Fisher information; allocated by the caller */
    uint32_t iterations; /* Newton (IRLS) steps taken, as R counts them */
    double deviance;     /* residual deviance at beta */
} logit_estimate;

/* Fits the model by Newton-Raphson (IRLS) from R's starting point
 * mu = (w*y + 0.5) / (w + 1), until the relative change of the deviance
 * |dev - dev_old| / (|dev| + 0.1) falls below `tolerance` (R's rule), in
 * at most `max_iterations` steps. Returns KZ_OK with `est` filled;
 * KZ_ERR_INVALID with a sentence in `why` (naming the columns concerned)
 * when the design is rank-deficient, the outcome is separable or the fit
 * does not converge; KZ_ERR_NOMEM when out of memory. */
int logit_fit(const logit_design *d, uint32_t max_iterations, double tolerance, logit_estimate *est, char *why,
              size_t why_len);

#endif
