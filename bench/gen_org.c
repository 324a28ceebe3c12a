/*
 * bench/gen_org.c — writes a deterministic synthetic book of business for
 * bench/assign.sh: N accounts with what the lifecycle, the touch tiers and
 * the organization models read, as CSV.
 *
 *   gen_org N OUT_DIR TODAY
 *
 * OUT_DIR/accounts.csv
 *   id,region,plan,arr,currency,contract_start,renewal_date,status,signal
 *   acct-0000001,tokyo,starter,4210,USD,2024-05-17,2026-05-17,active,
 *
 *   id              acct- and a 7-digit sequence number, in id order
 *   region          one of 10 regions, skewed (tokyo 20% down to sao-paulo
 *                   4%); 0.2% of the accounts have none
 *   plan, arr       5% enterprise, ARR 100,000 to 2,000,000 (log-uniform);
 *                   25% business, ARR 10,000 to 99,999; 70% starter, ARR
 *                   600 to 9,999 (whole dollars, USD): with the tier rules
 *                   "arr >= 100000 high, plan = 'business' low, else tech"
 *                   the tiers split 5% / 25% / 70%
 *   contract_start  uniform over the 3 years (1,095 days) up to TODAY
 *                   (TODAY itself included)
 *   renewal_date    the first anniversary (365-day years) of the contract
 *                   start after TODAY: 1 to 365 days ahead, uniform
 *   status          "cancelled" for 2% of the accounts, else "active"
 *   signal          "expansion" for 15% of the accounts, else empty
 *
 * TODAY is YYYY-MM-DD, the day the benchmark evaluates the lifecycle. The
 * same arguments give byte-identical files (splitmix64 with a fixed seed).
 * Exits 0 on success, 1 with a message on stderr when it cannot write, 2
 * on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_ACCOUNTS 9999999 /* acct-NNNNNNN */

#define GEN_NAME     "gen_org"
#define GEN_RNG_SEED 0x4B5A4F5247ull /* "KZORG" */
#include "gen_common.h"

#define CONTRACT_DAYS 1095 /* 3 years of contract starts */
#define YEAR_DAYS     365

/* Regions and their share of the book, in per mille (the rest, 2 per
 * mille, has no region). */
static const char *const regions[] = {"tokyo",  "osaka",     "seoul",   "singapore", "sydney",
                                      "london", "frankfurt", "newyork", "chicago",   "saopaulo"};
static const unsigned region_permille[] = {200, 120, 100, 100, 80, 120, 80, 110, 48, 40};

int main(int argc, char **argv)
{
    long long n_accounts = 0;
    int64_t today = 0;
    if (argc != 4 || !parse_count(argv[1], MAX_ACCOUNTS, &n_accounts) || !parse_day(argv[3], &today)) {
        fprintf(stderr, "usage: gen_org N OUT_DIR TODAY   (1 <= N <= %d, TODAY as YYYY-MM-DD)\n", MAX_ACCOUNTS);
        return 2;
    }
    out_file o;
    out_open(&o, argv[2], "accounts.csv");
    char *p = out_reserve(&o), *start = p;
    p = put_str(p, "id,region,plan,arr,currency,contract_start,renewal_date,status,signal\n");
    o.len += (size_t)(p - start);

    for (long long a = 0; a < n_accounts; a++) {
        p = out_reserve(&o);
        start = p;
        p = put_str(p, "acct-");
        p = put_padded(p, (uint64_t)a + 1, 7);
        *p++ = ',';
        unsigned r = rng_below(1000), acc = 0;
        for (size_t k = 0; k < sizeof regions / sizeof *regions; k++) {
            acc += region_permille[k];
            if (r < acc) {
                p = put_str(p, regions[k]);
                break;
            }
        }
        const double u = rng_unit();
        uint64_t arr;
        if (u < 0.05) {
            p = put_str(p, ",enterprise,");
            arr = (uint64_t)llround(100000.0 * exp(rng_unit() * log(20.0))); /* 100,000 .. 2,000,000 */
            if (arr < 100000)
                arr = 100000;
        } else if (u < 0.30) {
            p = put_str(p, ",business,");
            arr = 10000 + rng_below(90000);
        } else {
            p = put_str(p, ",starter,");
            arr = 600 + rng_below(9400);
        }
        p = put_uint(p, arr);
        p = put_str(p, ",USD,");
        const int64_t since = (int64_t)rng_below(CONTRACT_DAYS); /* days before today: 0 .. 1094 */
        const int64_t contract = today - since;
        p = put_date(p, contract);
        *p++ = ',';
        p = put_date(p, contract + YEAR_DAYS * (since / YEAR_DAYS + 1));
        p = put_str(p, rng_below(100) < 2 ? ",cancelled," : ",active,");
        if (rng_below(100) < 15)
            p = put_str(p, "expansion");
        *p++ = '\n';
        o.len += (size_t)(p - start);
    }
    out_close(&o);
    return 0;
}
