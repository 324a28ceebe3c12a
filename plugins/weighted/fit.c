/*
 * plugins/weighted/fit.c — the outcome fit behind train(): a logistic
 * regression of churn on the normalized measures, by Newton's method
 * (iteratively reweighted least squares) with a small ridge penalty.
 *
 * The penalty keeps the problem strictly convex, so the fit has one
 * answer even when a measure separates the outcomes or two measures are
 * collinear; each step is halved until the penalized objective does not
 * rise, so every iteration makes progress. The system is small (one row
 * and column per measure plus the intercept) and solved by Cholesky.
 */
#include "weighted.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITERATIONS 100
#define MAX_HALVINGS   40
#define TOLERANCE      1e-10 /* relative change of the objective that ends the fit */

/* log(1 + exp(eta)) without overflow. */
static double softplus(double eta)
{
    return eta > 0 ? eta + log1p(exp(-eta)) : log1p(exp(eta));
}

/* The penalized objective sum a (softplus(eta) - y eta) + lambda/2 |b|^2
 * at beta (1 + p values), and, when grad is not NULL, its gradient and
 * Hessian (q x q, q = 1 + p, row-major). *loss gets the unpenalized part. */
static double evaluate(const double *z, const double *y, const double *a, size_t n, uint32_t p, double lambda,
                       const double *beta, double *loss, double *grad, double *hess)
{
    const uint32_t q = p + 1;
    if (grad != NULL) {
        memset(grad, 0, q * sizeof *grad);
        memset(hess, 0, (size_t)q * q * sizeof *hess);
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const double *row = z + i * p;
        double eta = beta[0];
        for (uint32_t j = 0; j < p; j++)
            eta += beta[j + 1] * row[j];
        sum += a[i] * (softplus(eta) - y[i] * eta);
        if (grad == NULL)
            continue;
        const double mu = 1 / (1 + exp(-eta));
        const double r = a[i] * (mu - y[i]);
        const double w = a[i] * mu * (1 - mu);
        grad[0] += r;
        hess[0] += w;
        for (uint32_t j = 0; j < p; j++) {
            grad[j + 1] += r * row[j];
            const double wj = w * row[j];
            hess[j + 1] += wj; /* row 0: the intercept */
            for (uint32_t k = 0; k <= j; k++)
                hess[(size_t)(j + 1) * q + k + 1] += wj * row[k];
        }
    }
    double penalty = 0;
    for (uint32_t j = 1; j < q; j++)
        penalty += beta[j] * beta[j];
    if (grad != NULL) {
        for (uint32_t j = 1; j < q; j++) {
            grad[j] += lambda * beta[j];
            hess[(size_t)j * q + j] += lambda;
            hess[(size_t)j * q] = hess[j];
            for (uint32_t k = j + 1; k < q; k++)
                hess[(size_t)j * q + k] = hess[(size_t)k * q + j];
        }
    }
    *loss = sum;
    return sum + lambda / 2 * penalty;
}

/* Solves h x = g for symmetric positive definite h (q x q, destroyed).
 * Returns 0 when h is not positive definite. */
static int cholesky_solve(double *h, uint32_t q, const double *g, double *x)
{
    for (uint32_t j = 0; j < q; j++) {
        double d = h[(size_t)j * q + j];
        for (uint32_t k = 0; k < j; k++)
            d -= h[(size_t)j * q + k] * h[(size_t)j * q + k];
        if (!(d > 0))
            return 0;
        d = sqrt(d);
        h[(size_t)j * q + j] = d;
        for (uint32_t i = j + 1; i < q; i++) {
            double s = h[(size_t)i * q + j];
            for (uint32_t k = 0; k < j; k++)
                s -= h[(size_t)i * q + k] * h[(size_t)j * q + k];
            h[(size_t)i * q + j] = s / d;
        }
    }
    for (uint32_t i = 0; i < q; i++) { /* L u = g */
        double s = g[i];
        for (uint32_t k = 0; k < i; k++)
            s -= h[(size_t)i * q + k] * x[k];
        x[i] = s / h[(size_t)i * q + i];
    }
    for (uint32_t i = q; i-- > 0;) { /* L' x = u */
        double s = x[i];
        for (uint32_t k = i + 1; k < q; k++)
            s -= h[(size_t)k * q + i] * x[k];
        x[i] = s / h[(size_t)i * q + i];
    }
    return 1;
}

int wt_fit_logistic(const double *z, const double *y, const double *a, size_t n, uint32_t p, double lambda, wt_fit *fit,
                    char *why, size_t why_len)
{
    const uint32_t q = p + 1;
    double *beta = calloc(q, sizeof *beta);
    double *trial = malloc(q * sizeof *trial);
    double *step = malloc(q * sizeof *step);
    double *grad = malloc(q * sizeof *grad);
    double *hess = malloc((size_t)q * q * sizeof *hess);
    int rc = beta != NULL && trial != NULL && step != NULL && grad != NULL && hess != NULL ? KZ_OK : KZ_ERR_NOMEM;
    *fit = (wt_fit){0};
    if (rc == KZ_OK) {
        /* Start from the intercept-only model: the log-odds of the churn rate. */
        double sa = 0, sy = 0;
        for (size_t i = 0; i < n; i++) {
            sa += a[i];
            sy += a[i] * y[i];
        }
        beta[0] = log(sy / (sa - sy));
        double loss = 0, trial_loss = 0; /* unpenalized, at beta and at trial */
        double objective = evaluate(z, y, a, n, p, lambda, beta, &loss, grad, hess);
        while (!fit->converged && fit->iterations < MAX_ITERATIONS) {
            if (!cholesky_solve(hess, q, grad, step)) {
                snprintf(why, why_len, "the fit is singular at iteration %u", fit->iterations + 1);
                rc = KZ_ERR_INVALID;
                break;
            }
            double t = 1, next = 0;
            for (int h = 0; h <= MAX_HALVINGS; h++, t /= 2) {
                for (uint32_t j = 0; j < q; j++)
                    trial[j] = beta[j] - t * step[j];
                next = evaluate(z, y, a, n, p, lambda, trial, &trial_loss, NULL, NULL);
                if (next <= objective)
                    break;
            }
            fit->iterations++;
            if (!(next <= objective)) {
                fit->converged = 1; /* no step lowers the objective: at the minimum to rounding */
                break;
            }
            memcpy(beta, trial, q * sizeof *beta);
            fit->converged = objective - next <= TOLERANCE * (fabs(next) + 0.1);
            objective = evaluate(z, y, a, n, p, lambda, beta, &loss, grad, hess);
        }
        fit->deviance = 2 * loss;
    }
    free(trial);
    free(step);
    free(grad);
    free(hess);
    if (rc != KZ_OK)
        free(beta);
    else
        fit->beta = beta;
    return rc;
}
