/*
 * plugins/logistic/fit.c — see fit.h.
 *
 * Every Newton step is one pass over the design, in blocks of BLOCK_ROWS
 * rows that stay in cache: the linear predictor eta, the fitted
 * probability mu, the deviance, the working weights W = w mu (1 - mu), and
 * the block's share of the normal equations X'WX b = X'(W eta + w (y - mu)).
 * That is the IRLS form of the step: it never divides by W, so an account
 * whose fitted probability is numerically 0 or 1 costs nothing and breaks
 * nothing. The p x p system is solved by Cholesky; p is small, the rows
 * are many. The pass that finds the deviance converged also gives the
 * Fisher information at the estimate, for the standard errors.
 *
 * Conditioning: columns 1..p-1 are centered and scaled to unit variance
 * first (a constant column becomes all zeros); the estimate and its
 * covariance are mapped back to the columns' own scale at the end.
 *
 * Threads: the rows are cut into chunks of CHUNK_ROWS, and the threads (up
 * to one per online CPU, at most MAX_THREADS, the caller's included) take
 * chunks as they come. Each chunk writes its own partial sums, which are
 * then added in chunk order: the result does not depend on the number of
 * threads or on which thread ran which chunk. The threads call nothing of
 * the host.
 *
 * Refusals:
 *  - rank: the first factorization (at the starting weights, which are all
 *    well inside (0, 1/4]) marks a column whose Cholesky pivot is at most
 *    RANK_TOLERANCE of its diagonal, i.e. whose share not explained by the
 *    columns before it is that small: it is constant or collinear with them.
 *  - separation: when the iterations stop, converged or not, the next
 *    Newton step is computed but not taken. If it would push an account
 *    whose fitted probability is already within 1e-4 of 0 or 1 further out
 *    by more than DIVERGING_STEP in log-odds, the coefficients are
 *    diverging and the likelihood has no maximum (perfect or quasi
 *    separation). After a regular fit has converged, that step moves no
 *    account's log-odds measurably. A factorization that loses rank after
 *    the first step (the weights of the separated accounts vanish) is
 *    separation too.
 *  - no convergence within max_iterations without those signs.
 */
#define _POSIX_C_SOURCE 200809L
#include "fit.h"

#include <kizuna/common.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK_ROWS     256  /* rows per block: a block of every column stays in L1/L2 */
#define CHUNK_ROWS     4096 /* rows per work item of a thread: 16 blocks */
#define MAX_THREADS    8
#define RANK_TOLERANCE 1e-10 /* 1 - R^2 of a column on the columns before it */
#define DIVERGING_STEP 0.01  /* log-odds an account may still move in the step not taken */
#define EXTREME_ETA    9.21  /* |log-odds| beyond which a probability is within 1e-4 of 0 or 1 */

/* Per-row values of one block, private to a thread. */
typedef struct {
    double *eta;  /* linear predictor */
    double *step; /* change of eta in the step not taken */
    double *wt;   /* working weights */
    double *r;    /* W eta + w (y - mu) */
    double *wx;   /* p columns times the working weights, BLOCK_ROWS apart */
} block_scratch;

#define SCRATCH_DOUBLES(p) ((4 + (size_t)(p)) * BLOCK_ROWS)
#define SUMS_DOUBLES(p)    ((size_t)(p) * (p) + (p) + 1) /* X'WX, rhs, deviance */

/* One parallel step of the fit: a function run for every item (a chunk of
 * rows, or a column), and what the items read and write. */
typedef struct job job;
typedef void (*job_fn)(job *jb, unsigned thread, size_t item);
struct job {
    job_fn fn;
    size_t n_items;
    atomic_size_t next; /* the next item to take */
    const logit_design *d;
    const double *beta;  /* accumulate: the coefficients, NULL = R's starting point; diverging: from */
    const double *delta; /* diverging: the step */
    double *scratch;     /* SCRATCH_DOUBLES(p) per thread */
    double *sums;        /* accumulate: SUMS_DOUBLES(p) per chunk */
    size_t *counts;      /* diverging: per chunk */
    double *center, *scale;
    unsigned char *constant; /* standardize: per column */
};

typedef struct {
    job *jb;
    unsigned thread;
} worker;

static void run_items(job *jb, unsigned thread)
{
    for (size_t item; (item = atomic_fetch_add(&jb->next, 1)) < jb->n_items;)
        jb->fn(jb, thread, item);
}

static void *worker_main(void *arg)
{
    const worker *w = arg;
    run_items(w->jb, w->thread);
    return NULL;
}

/* Runs fn for items 0..n_items-1 on up to n_threads threads, the caller's
 * included, and returns when all are done. An item writes only its own
 * results. A thread that cannot be started leaves its share to the others. */
static void run_job(job *jb, job_fn fn, size_t n_items, unsigned n_threads)
{
    pthread_t tids[MAX_THREADS];
    worker workers[MAX_THREADS];
    unsigned started = 0;
    jb->fn = fn;
    jb->n_items = n_items;
    atomic_store(&jb->next, 0);
    for (unsigned t = 1; t < n_threads && t < n_items; t++) {
        workers[started] = (worker){jb, t};
        if (pthread_create(&tids[started], NULL, worker_main, &workers[started]) != 0)
            break;
        started++;
    }
    run_items(jb, 0);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
}

static block_scratch thread_scratch(const job *jb, unsigned thread)
{
    double *base = jb->scratch + thread * SCRATCH_DOUBLES(jb->d->p);
    return (block_scratch){base, base + BLOCK_ROWS, base + 2 * BLOCK_ROWS, base + 3 * BLOCK_ROWS,
                           base + 4 * BLOCK_ROWS};
}

/* A dot product with four partial sums: one sum would be a chain of
 * dependent additions, bound by their latency. */
static double dot(const double *a, const double *b, size_t m)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= m; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < m; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* Adds a block's share of X'WX to the lower triangle of h: the sums over
 * the block's m rows of wx[j][i] * x[k][i] for k <= j. It takes two j and
 * two k at a time, over two rows at a time: eight independent sums per
 * step, so that neither loads nor the latency of additions bind. An odd
 * last j or k is paired with itself and the extra sums are dropped. */
static void add_gram(const logit_design *d, const double *wx, size_t start, size_t m, double *h)
{
    const uint32_t p = d->p;
    for (uint32_t j = 0; j < p; j += 2) {
        const uint32_t j1 = j + 1 < p ? j + 1 : j;
        const double *a0 = wx + (size_t)j * BLOCK_ROWS, *a1 = wx + (size_t)j1 * BLOCK_ROWS;
        for (uint32_t k = 0; k <= j; k += 2) {
            const uint32_t k1 = k + 1 < p ? k + 1 : k;
            const double *b0 = d->x + (size_t)k * d->n + start, *b1 = d->x + (size_t)k1 * d->n + start;
            double s00 = 0, s01 = 0, s10 = 0, s11 = 0, t00 = 0, t01 = 0, t10 = 0, t11 = 0;
            size_t i = 0;
            for (; i + 2 <= m; i += 2) {
                s00 += a0[i] * b0[i];
                s01 += a0[i] * b1[i];
                s10 += a1[i] * b0[i];
                s11 += a1[i] * b1[i];
                t00 += a0[i + 1] * b0[i + 1];
                t01 += a0[i + 1] * b1[i + 1];
                t10 += a1[i + 1] * b0[i + 1];
                t11 += a1[i + 1] * b1[i + 1];
            }
            if (i < m) {
                s00 += a0[i] * b0[i];
                s01 += a0[i] * b1[i];
                s10 += a1[i] * b0[i];
                s11 += a1[i] * b1[i];
            }
            h[(size_t)j * p + k] += s00 + t00;
            if (k1 != k && k1 <= j)
                h[(size_t)j * p + k1] += s01 + t01;
            if (j1 != j) {
                h[(size_t)j1 * p + k] += s10 + t10;
                h[(size_t)j1 * p + k1] += s11 + t11;
            }
        }
    }
}

/* out[i] = sum over j of coef[j] * x[j][start + i], for m rows; two
 * columns at a time, to halve the loads and stores of out. */
static void linear_predictor(const logit_design *d, const double *coef, size_t start, size_t m, double *out)
{
    for (size_t i = 0; i < m; i++)
        out[i] = coef[0]; /* column 0 is all ones */
    uint32_t j = 1;
    for (; j + 1 < d->p; j += 2) {
        const double *x0 = d->x + (size_t)j * d->n + start, *x1 = x0 + d->n;
        const double c0 = coef[j], c1 = coef[j + 1];
        for (size_t i = 0; i < m; i++)
            out[i] += c0 * x0[i] + c1 * x1[i];
    }
    if (j < d->p) {
        const double *x0 = d->x + (size_t)j * d->n + start;
        const double c0 = coef[j];
        for (size_t i = 0; i < m; i++)
            out[i] += c0 * x0[i];
    }
}

/* Centers and scales column `item` + 1 in place so that
 * x_std = (x - center) / scale has mean 0 and variance 1. A constant
 * column becomes all zeros and is marked in `constant`. */
static void standardize_column(job *jb, unsigned thread, size_t item)
{
    (void)thread;
    const logit_design *d = jb->d;
    const size_t j = item + 1;
    double *col = d->x + j * d->n;
    double lo = col[0], hi = col[0], sum = 0;
    for (size_t i = 0; i < d->n; i++) {
        sum += col[i];
        lo = col[i] < lo ? col[i] : lo;
        hi = col[i] > hi ? col[i] : hi;
    }
    const double mean = sum / (double)d->n, range = hi - lo;
    double ss = 0;
    if (range > 0)
        for (size_t i = 0; i < d->n; i++) {
            const double z = (col[i] - mean) / range; /* scaled by the range: no overflow or underflow */
            ss += z * z;
        }
    const double sd = range * sqrt(ss / (double)d->n);
    const int constant = !(sd > 0 && isfinite(sd));
    jb->constant[j] = (unsigned char)constant;
    jb->center[j] = constant ? 0 : mean;
    jb->scale[j] = constant ? 1 : sd;
    const double inv = 1.0 / jb->scale[j];
    for (size_t i = 0; i < d->n; i++)
        col[i] = constant ? 0 : (col[i] - mean) * inv;
}

/* One chunk of a pass, at the (standardized) coefficients jb->beta, or
 * at R's starting fitted values when that is NULL: the chunk's deviance
 * and its share of the lower triangle of X'WX and of X'(W eta + w (y - mu)),
 * the normal equations whose solution is the next iterate. */
static void accumulate_chunk(job *jb, unsigned thread, size_t item)
{
    const logit_design *d = jb->d;
    const uint32_t p = d->p;
    const block_scratch s = thread_scratch(jb, thread);
    double *h = jb->sums + item * SUMS_DOUBLES(p), *rhs = h + (size_t)p * p;
    memset(h, 0, sizeof(double) * SUMS_DOUBLES(p));
    double dev = 0;
    const size_t end = (item + 1) * CHUNK_ROWS < d->n ? (item + 1) * CHUNK_ROWS : d->n;
    for (size_t start = item * CHUNK_ROWS; start < end; start += BLOCK_ROWS) {
        const size_t m = end - start < BLOCK_ROWS ? end - start : BLOCK_ROWS;
        const double *y = d->y + start;
        const double *w = d->w != NULL ? d->w + start : NULL;
        if (jb->beta != NULL)
            linear_predictor(d, jb->beta, start, m, s.eta);
        else
            for (size_t i = 0; i < m; i++) {
                const double wi = w != NULL ? w[i] : 1.0;
                const double mu = (wi * y[i] + 0.5) / (wi + 1.0);
                s.eta[i] = log(mu / (1.0 - mu));
            }
        double block_dev = 0;
        for (size_t i = 0; i < m; i++) {
            const double eta = s.eta[i], wi = w != NULL ? w[i] : 1.0;
            /* With e = exp(-|eta|) nothing overflows: mu and 1 - mu are
             * 1/(1+e) and e/(1+e), in the order of eta's sign. */
            const double e = exp(-fabs(eta));
            const double inv = 1.0 / (1.0 + e);
            const double mu = eta >= 0 ? inv : e * inv;
            /* A row's deviance is 2w log(1 + exp(-eta)) when y = 1 and
             * 2w log(1 + exp(eta)) when y = 0; log(1 + exp(t)) is
             * max(t, 0) + log1p(exp(-|t|)). */
            const double t = y[i] > 0.5 ? -eta : eta;
            block_dev += wi * ((t > 0 ? t : 0) + log1p(e));
            const double wt = wi * e * inv * inv; /* w mu (1 - mu) */
            s.wt[i] = wt;
            s.r[i] = wt * eta + wi * (y[i] - mu);
        }
        dev += 2.0 * block_dev;
        for (uint32_t j = 0; j < p; j++) {
            const double *xj = d->x + (size_t)j * d->n + start;
            double *wxj = s.wx + (size_t)j * BLOCK_ROWS;
            for (size_t i = 0; i < m; i++)
                wxj[i] = s.wt[i] * xj[i];
            rhs[j] += dot(xj, s.r, m);
        }
        add_gram(d, s.wx, start, m, h);
    }
    rhs[p] = dev;
}

/* One pass over every row (see accumulate_chunk): returns the deviance,
 * and sets the lower triangle of h (p x p, row-major) and rhs to the sums
 * over the chunks, added in chunk order. */
static double accumulate(job *jb, const double *beta, unsigned n_threads, double *h, double *rhs)
{
    const uint32_t p = jb->d->p;
    const size_t n_chunks = (jb->d->n + CHUNK_ROWS - 1) / CHUNK_ROWS;
    jb->beta = beta;
    run_job(jb, accumulate_chunk, n_chunks, n_threads);
    double dev = 0;
    memset(h, 0, sizeof(double) * p * p);
    memset(rhs, 0, sizeof(double) * p);
    for (size_t c = 0; c < n_chunks; c++) {
        const double *part = jb->sums + c * SUMS_DOUBLES(p);
        for (size_t k = 0; k < (size_t)p * p; k++)
            h[k] += part[k];
        for (uint32_t j = 0; j < p; j++)
            rhs[j] += part[(size_t)p * p + j];
        dev += part[(size_t)p * p + p];
    }
    return dev;
}

/* Factors the symmetric matrix whose lower triangle is in `a` (p x p,
 * row-major) as L L', in place. A column whose pivot is at most
 * RANK_TOLERANCE times its diagonal is marked in `deficient` and left
 * out (its row and column of L are zero), so that every such column is
 * found. Returns the rank. */
static uint32_t cholesky(double *a, uint32_t p, unsigned char *deficient)
{
    uint32_t rank = 0;
    for (uint32_t j = 0; j < p; j++) {
        double *row = a + (size_t)j * p;
        const double diag = row[j];
        double pivot = diag;
        for (uint32_t k = 0; k < j; k++)
            pivot -= row[k] * row[k];
        deficient[j] = !(pivot > RANK_TOLERANCE * diag);
        if (deficient[j]) {
            for (uint32_t k = 0; k <= j; k++)
                row[k] = 0;
            for (uint32_t i = j + 1; i < p; i++)
                a[(size_t)i * p + j] = 0;
            continue;
        }
        row[j] = sqrt(pivot);
        for (uint32_t i = j + 1; i < p; i++) {
            double *other = a + (size_t)i * p;
            double v = other[j];
            for (uint32_t k = 0; k < j; k++)
                v -= other[k] * row[k];
            other[j] = v / row[j];
        }
        rank++;
    }
    return rank;
}

/* Solves L L' x = b with the factor of a full-rank cholesky(). */
static void cholesky_solve(const double *l, uint32_t p, const double *b, double *x)
{
    for (uint32_t i = 0; i < p; i++) {
        double v = b[i];
        for (uint32_t k = 0; k < i; k++)
            v -= l[(size_t)i * p + k] * x[k];
        x[i] = v / l[(size_t)i * p + i];
    }
    for (uint32_t i = p; i-- > 0;) {
        double v = x[i];
        for (uint32_t k = i + 1; k < p; k++)
            v -= l[(size_t)k * p + i] * x[k];
        x[i] = v / l[(size_t)i * p + i];
    }
}

/* Counts the accounts of one chunk that the Newton step jb->delta from
 * jb->beta would push further toward a fitted probability of 0 or 1
 * although theirs is already within 1e-4 of it (see the top of the file). */
static void diverging_chunk(job *jb, unsigned thread, size_t item)
{
    const logit_design *d = jb->d;
    const block_scratch s = thread_scratch(jb, thread);
    const size_t end = (item + 1) * CHUNK_ROWS < d->n ? (item + 1) * CHUNK_ROWS : d->n;
    size_t count = 0;
    for (size_t start = item * CHUNK_ROWS; start < end; start += BLOCK_ROWS) {
        const size_t m = end - start < BLOCK_ROWS ? end - start : BLOCK_ROWS;
        linear_predictor(d, jb->beta, start, m, s.eta);
        linear_predictor(d, jb->delta, start, m, s.step);
        for (size_t i = 0; i < m; i++)
            count += fabs(s.eta[i]) > EXTREME_ETA && s.eta[i] * s.step[i] > 0 && fabs(s.step[i]) > DIVERGING_STEP;
    }
    jb->counts[item] = count;
}

/* Appends to the message in `buf`, truncating. */
static void append(char *buf, size_t len, const char *fmt, ...) KZ_PRINTF(3, 4);
static void append(char *buf, size_t len, const char *fmt, ...)
{
    const size_t at = strlen(buf);
    if (at + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + at, len - at, fmt, ap);
    va_end(ap);
}

/* "term x2 is collinear with the others (rank 3 of 4): drop it". */
static void rank_message(const logit_design *d, const unsigned char *deficient, const unsigned char *constant,
                         uint32_t rank, char *why, size_t len)
{
    why[0] = '\0';
    for (uint32_t j = 0; j < d->p; j++)
        if (deficient[j])
            append(why, len, "%sterm %s is %s", why[0] != '\0' ? "; " : "", d->names[j],
                   constant[j] ? "constant" : "collinear with the others");
    append(why, len, " (rank %u of %u): drop %s", rank, d->p, d->p - rank > 1 ? "them" : "it");
}

/* The column the step `delta` moves most, on the standardized scale: the
 * one whose coefficient diverges first. */
static uint32_t steepest(const double *delta, uint32_t p)
{
    uint32_t best = 0;
    for (uint32_t j = 1; j < p; j++)
        if (best == 0 || fabs(delta[j]) > fabs(delta[best]))
            best = j;
    return best;
}

int logit_fit(const logit_design *d, uint32_t max_iterations, double tolerance, logit_estimate *est, char *why,
              size_t why_len)
{
    const uint32_t p = d->p;
    int rc = KZ_ERR_NOMEM;
    double *center = malloc(sizeof(double) * p), *scale = malloc(sizeof(double) * p);
    double *h = malloc(sizeof(double) * p * p), *l = malloc(sizeof(double) * p * p);
    double *cov = malloc(sizeof(double) * p * p);
    double *rhs = malloc(sizeof(double) * p), *beta = malloc(sizeof(double) * p), *next = malloc(sizeof(double) * p);
    unsigned char *constant = malloc(p), *deficient = malloc(p);
    const size_t n_chunks = (d->n + CHUNK_ROWS - 1) / CHUNK_ROWS;
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const unsigned n_threads = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (unsigned)cpus;
    double *scratch = malloc(sizeof(double) * SCRATCH_DOUBLES(p) * n_threads);
    double *sums = malloc(sizeof(double) * SUMS_DOUBLES(p) * n_chunks);
    size_t *counts = malloc(sizeof(size_t) * n_chunks);
    if (center == NULL || scale == NULL || h == NULL || l == NULL || cov == NULL || rhs == NULL || beta == NULL ||
        next == NULL || constant == NULL || deficient == NULL || scratch == NULL || sums == NULL || counts == NULL)
        goto done;
    job jb = {.d = d,
              .scratch = scratch,
              .sums = sums,
              .counts = counts,
              .center = center,
              .scale = scale,
              .constant = constant};
    why[0] = '\0';
    rc = KZ_ERR_INVALID;
    center[0] = 0;
    scale[0] = 1;
    constant[0] = 0;
    run_job(&jb, standardize_column, p - 1, n_threads);

    /* Each pass is followed by the factorization of its X'WX: it gives the
     * next step, or, once the iterations stop, the step not taken and the
     * covariance of the estimate. */
    double dev = accumulate(&jb, NULL, n_threads, h, rhs), dev_old;
    memcpy(l, h, sizeof(double) * p * p);
    uint32_t rank = cholesky(l, p, deficient);
    if (rank < p) {
        rank_message(d, deficient, constant, rank, why, why_len);
        goto done;
    }
    uint32_t iterations = 0;
    int converged = 0;
    for (;;) {
        cholesky_solve(l, p, rhs, beta);
        iterations++;
        dev_old = dev;
        dev = accumulate(&jb, beta, n_threads, h, rhs);
        memcpy(l, h, sizeof(double) * p * p);
        if (cholesky(l, p, deficient) < p) {
            uint32_t j = 0;
            while (!deficient[j])
                j++;
            snprintf(why, why_len,
                     "the outcome is separable: the fit lost all information on %s as fitted probabilities went "
                     "to 0 or 1; drop or merge terms",
                     d->names[j]);
            goto done;
        }
        if (fabs(dev - dev_old) / (fabs(dev) + 0.1) < tolerance) {
            converged = 1;
            break;
        }
        if (iterations >= max_iterations)
            break;
    }

    /* The step not taken. */
    cholesky_solve(l, p, rhs, next);
    for (uint32_t j = 0; j < p; j++)
        next[j] -= beta[j];
    jb.beta = beta;
    jb.delta = next;
    run_job(&jb, diverging_chunk, n_chunks, n_threads);
    size_t diverging = 0;
    for (size_t c = 0; c < n_chunks; c++)
        diverging += counts[c];
    if (diverging > 0) {
        snprintf(why, why_len,
                 "the outcome is separable: the coefficients diverge (most of all that of %s) and %zu account%s "
                 "fitted probabilities of 0 or 1; drop or merge terms",
                 d->names[steepest(next, p)], diverging, diverging == 1 ? " gets" : "s get");
        goto done;
    }
    if (!converged) {
        snprintf(why, why_len,
                 "the fit did not converge in %u iterations (the deviance still changes by %.3g relative, "
                 "tolerance %.3g): raise max_iterations",
                 iterations, fabs(dev - dev_old) / (fabs(dev) + 0.1), tolerance);
        goto done;
    }

    /* The covariance on the standardized scale is the inverse of X'WX;
     * column j is the solution for the j-th unit vector. */
    for (uint32_t j = 0; j < p; j++) {
        memset(next, 0, sizeof(double) * p);
        next[j] = 1;
        cholesky_solve(l, p, next, cov + (size_t)j * p);
    }
    /* Back to the columns' own scale: beta_j / scale_j, and the intercept
     * a'beta with a = (1, -center_j / scale_j ...), its variance a' cov a. */
    double *a = next;
    a[0] = 1;
    for (uint32_t j = 1; j < p; j++) {
        a[j] = -center[j] / scale[j];
        est->beta[j] = beta[j] / scale[j];
        est->std_error[j] = sqrt(cov[(size_t)j * p + j]) / scale[j];
    }
    double intercept = 0, var = 0;
    for (uint32_t j = 0; j < p; j++) {
        intercept += a[j] * beta[j];
        for (uint32_t k = 0; k < p; k++)
            var += a[j] * a[k] * cov[(size_t)j * p + k];
    }
    est->beta[0] = intercept;
    est->std_error[0] = sqrt(var);
    est->iterations = iterations;
    est->deviance = dev;
    rc = KZ_OK;
done:
    free(center);
    free(scale);
    free(h);
    free(l);
    free(cov);
    free(rhs);
    free(beta);
    free(next);
    free(constant);
    free(deficient);
    free(scratch);
    free(sums);
    free(counts);
    return rc;
}
