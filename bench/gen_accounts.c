/*
 * bench/gen_accounts.c — writes a deterministic synthetic book of business
 * for bench/score_accounts.sh: N accounts, each with one numeric value per
 * measure, as CSV.
 *
 *   gen_accounts N OUT_DIR LOW..HIGH [LOW..HIGH ...]
 *
 * OUT_DIR/accounts.csv   id,m1,m2,...,mK     (one column per band given, K <= 64)
 *                        acct-0000001,37.125,12.5,...
 *
 * Each band is the one the weighted scorer normalizes that measure with
 * (clamp((x - LOW) / (HIGH - LOW), 0, 1); LOW > HIGH when less is
 * healthier). Values spread over the band and a quarter of its width
 * beyond each end, so that some are clamped at 0 and some at 1. Each
 * account has a latent health h, uniform in [0, 1); its value of measure
 * k sits at 0.65 h + 0.35 u_k (u_k uniform) of the way from the unhealthy
 * end to the healthy one, so the measures of one account agree more often
 * than not and the weighted scores cover the whole 0..100 range (every
 * grade is well populated). No value is missing.
 *
 * Values are fixed-point decimals with as many decimals as give about
 * 10^5 steps over the range (a 0..100 band: 3 decimals; 0..1: 5), written
 * without exponent, so every parser (strtod, SQLite's) reads the same
 * double. Ids are acct- and a 7-digit sequence number, in id order.
 *
 * The same arguments give byte-identical files (splitmix64 with a fixed
 * seed). Writing goes through one 1 MiB buffer with hand-rolled
 * formatting, no printf per field: a million accounts take well under a
 * second. Exits 0 on success, 1 with a message on stderr when it cannot
 * write, 2 on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ACCOUNTS 9999999 /* acct-NNNNNNN */
#define MAX_MEASURES 64

#define GEN_NAME     "gen_accounts"
#define GEN_RNG_SEED 0x4B5A53434F5245ull      /* "KZSCORE" */
#define GEN_ROW_MAX  (16 + MAX_MEASURES * 32) /* the most one row can take */
#include "gen_common.h"

/* ticks / 10^decimals as a plain decimal: "-3.25", "0.00125", "40" */
static char *put_fixed(char *p, int64_t ticks, int decimals, uint64_t pow10)
{
    if (ticks < 0) {
        *p++ = '-';
        ticks = -ticks;
    }
    uint64_t t = (uint64_t)ticks;
    p = put_uint(p, t / pow10);
    if (decimals > 0) {
        *p++ = '.';
        p = put_padded(p, t % pow10, decimals);
    }
    return p;
}

/* ---- the data ---------------------------------------------------------------- */

typedef struct {
    int decimals;
    uint64_t pow10;       /* 10^decimals */
    int64_t worst, range; /* in ticks: the unhealthy end, and healthy end - unhealthy end (signed) */
} measure;

/* The whole of [s, stop) as a finite number (copied first: strtod would
 * read "0." of "0..100"). */
static int parse_double(const char *s, const char *stop, double *out)
{
    char buf[64];
    size_t len = (size_t)(stop - s);
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* "LOW..HIGH" into m: the value range and its fixed-point format. */
static int parse_band(const char *text, measure *m)
{
    const char *dots = strstr(text, "..");
    double low, high;
    if (dots == NULL || !parse_double(text, dots, &low) || !parse_double(dots + 2, dots + strlen(dots), &high) ||
        low == high || fabs(low) > 1e9 || fabs(high) > 1e9)
        return 0;
    const double width = high - low; /* signed: the healthy direction */
    const double worst = low - 0.25 * width, best = high + 0.25 * width;
    /* about 10^5 steps over the range, 0 to 9 decimals */
    int d = (int)ceil(5.0 - log10(fabs(best - worst)));
    m->decimals = d < 0 ? 0 : d > 9 ? 9 : d;
    m->pow10 = 1;
    for (int i = 0; i < m->decimals; i++)
        m->pow10 *= 10;
    m->worst = llround(worst * (double)m->pow10);
    m->range = llround(best * (double)m->pow10) - m->worst;
    return 1;
}

int main(int argc, char **argv)
{
    long long n_accounts = 0;
    if (argc < 4 || argc - 3 > MAX_MEASURES || !parse_count(argv[1], MAX_ACCOUNTS, &n_accounts)) {
        fprintf(stderr,
                "usage: gen_accounts N OUT_DIR LOW..HIGH [LOW..HIGH ...]   (1 <= N <= %d, 1 to %d bands: one "
                "measure each)\n",
                MAX_ACCOUNTS, MAX_MEASURES);
        return 2;
    }
    const char *dir = argv[2];
    const int n_measures = argc - 3;
    measure measures[MAX_MEASURES];
    for (int k = 0; k < n_measures; k++)
        if (!parse_band(argv[3 + k], &measures[k])) {
            fprintf(stderr, "gen_accounts: band %d '%s' is not LOW..HIGH (two different numbers within 1e9)\n", k + 1,
                    argv[3 + k]);
            return 2;
        }

    out_file o;
    out_open(&o, dir, "accounts.csv");
    char *p = out_reserve(&o), *start = p;
    p = put_str(p, "id");
    for (int k = 0; k < n_measures; k++) {
        p = put_str(p, ",m");
        p = put_uint(p, (uint64_t)k + 1);
    }
    *p++ = '\n';
    o.len += (size_t)(p - start);

    for (long long a = 0; a < n_accounts; a++) {
        p = out_reserve(&o);
        start = p;
        p = put_str(p, "acct-");
        p = put_padded(p, (uint64_t)a + 1, 7);
        const double h = rng_unit();
        for (int k = 0; k < n_measures; k++) {
            const measure *m = &measures[k];
            const double at = 0.65 * h + 0.35 * rng_unit(); /* 0 = the unhealthy end, 1 = the healthy one */
            *p++ = ',';
            p = put_fixed(p, m->worst + llround(at * (double)m->range), m->decimals, m->pow10);
        }
        *p++ = '\n';
        o.len += (size_t)(p - start);
    }
    out_close(&o);
    return 0;
}
