/*
 * bench/gen_logit.c — writes a deterministic synthetic churn history for
 * bench/logistic_fit.sh: N accounts with 10 measures and a churn outcome
 * drawn from a known logistic model, as CSV.
 *
 *   gen_logit N OUT.csv
 *
 * Columns: usage,age,spend,tickets,trend,seats,sso,tenure,region,plan,churn
 *
 *   usage    standard normal
 *   age      normal, mean 50, sd 10
 *   spend    uniform 0..1000
 *   tickets  a count: floor of an exponential with mean 3
 *   trend    normal, sd 0.01 (a tiny scale, for conditioning)
 *   seats    log-normal
 *   sso      0 or 1 (30% 1)
 *   tenure   2 * age + normal noise with sd 20 (correlated with age)
 *   region   categorical: east, north, west (3 levels)
 *   plan     categorical: basic, enterprise, pro, trial (4 levels)
 *   churn    1 with probability 1 / (1 + exp(-eta)), eta from TRUE_* below
 *
 * Levels are lower-case ASCII words, so R's factor() (which sorts in the
 * locale's order) and Kizuna (byte order) pick the same reference level.
 * Numbers are written with 6 significant digits, so both readers parse
 * the same doubles. The same arguments give byte-identical files
 * (splitmix64 with a fixed seed). Exits 0 on success, 1 with a message on
 * stderr when it cannot write, 2 on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define GEN_NAME     "gen_logit"
#define GEN_RNG_SEED 0x6b697a756e61ULL /* "kizuna" */
#include "gen_common.h"

#define MAX_ROWS 100000000L

static const char *const regions[] = {"east", "north", "west"};
static const char *const plans[] = {"basic", "enterprise", "pro", "trial"};

/* The true model: log-odds of churn. */
static const double TRUE_INTERCEPT = -1.0;
static const double TRUE_NUMERIC[8] = {0.8, -0.02, -0.0015, 0.25, 30.0, -0.1, -0.6, 0.004};
static const double TRUE_REGION[3] = {0, 0.3, -0.2};     /* east is the reference */
static const double TRUE_PLAN[4] = {0, -0.7, -0.4, 0.9}; /* basic is the reference */

/* Uniform in (0, 1): never 0, so its logarithm is finite. */
static double uniform(void)
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void)
{
    return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long n = argc == 3 ? strtol(argv[1], &end, 10) : 0;
    if (argc != 3 || *end != '\0' || n < 1 || n > MAX_ROWS) {
        fprintf(stderr, "usage: gen_logit N OUT.csv   (N from 1 to %ld)\n", MAX_ROWS);
        return 2;
    }
    FILE *out = fopen(argv[2], "w");
    if (out == NULL) {
        perror(argv[2]);
        return 1;
    }
    fputs("usage,age,spend,tickets,trend,seats,sso,tenure,region,plan,churn\n", out);
    for (long i = 0; i < n; i++) {
        double x[8];
        x[0] = normal();
        x[1] = 50 + 10 * normal();
        x[2] = 1000 * uniform();
        x[3] = floor(-3 * log(uniform()));
        x[4] = 0.01 * normal();
        x[5] = exp(1 + 0.5 * normal());
        x[6] = uniform() < 0.3;
        x[7] = 2 * x[1] + 20 * normal();
        const int region = (int)(uniform() * 3), plan = (int)(uniform() * 4);
        /* The model sees what the file holds: round first. */
        char text[8][32];
        double eta = TRUE_INTERCEPT + TRUE_REGION[region] + TRUE_PLAN[plan];
        for (int j = 0; j < 8; j++) {
            snprintf(text[j], sizeof text[j], "%.6g", x[j]);
            eta += TRUE_NUMERIC[j] * strtod(text[j], NULL);
        }
        const int churn = uniform() < 1 / (1 + exp(-eta));
        fprintf(out, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%d\n", text[0], text[1], text[2], text[3], text[4], text[5],
                text[6], text[7], regions[region], plans[plan], churn);
    }
    if (fclose(out) != 0) {
        perror(argv[2]);
        return 1;
    }
    return 0;
}
