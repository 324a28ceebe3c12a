/*
 * bench/gen_events.c — writes a deterministic synthetic usage log for
 * bench/sync_events.sh: ACCOUNTS accounts and N usage events as CSV.
 *
 *   gen_events N ACCOUNTS OUT_DIR
 *
 * OUT_DIR/accounts.csv   id,name,region,plan
 *                        acc-000001,Northwind Analytics 1,EMEA,growth
 * OUT_DIR/events.csv     event_id,time,account_id,user_id,event,quantity
 *                        ev-000000000001,2025-11-01T00:00:03Z,acc-000417,u-000417-12,page_view,
 *
 * Event ids are a zero-padded sequence in time order (as ULIDs or
 * Snowflake ids sort), so the file is in key order, as an export or a log
 * is. Times are ISO 8601 UTC with seconds, spread evenly over one year
 * from 2025-11-01 and never decreasing. Accounts are skewed: the account of
 * an event is rank floor(ACCOUNTS * u^3) for a uniform u, through a fixed
 * shuffle of the ranks, so about 22% of the events fall on 1% of the
 * accounts. Each account has 1 to 60 users (u-<account number>-<n>).
 * Event names come from a weighted table of 30 product events; some carry
 * a quantity (12.5, 250), the rest leave it empty.
 *
 * The same arguments give byte-identical files (splitmix64 with a fixed
 * seed). Writing goes through one 1 MiB buffer with hand-rolled
 * formatting, no printf per field: 10 million rows take a few seconds.
 * Exits 0 on success, 1 with a message on stderr when it cannot write,
 * 2 on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_NAME     "gen_events"
#define GEN_RNG_SEED 0x4B495A554E41ull /* "KIZUNA" */
#define GEN_ROW_MAX  256               /* every row written here is well under 256 bytes */
#include "gen_common.h"

#define YEAR_SECONDS (365LL * 86400)
#define START_UNIX   1761955200LL /* 2025-11-01T00:00:00Z */
#define MAX_ACCOUNTS 999999       /* acc-NNNNNN */
#define MAX_EVENTS   999999999999LL

/* ---- the data ---------------------------------------------------------------- */

/* Product events and their relative frequency; quantity_kind says what
 * the quantity column holds for that event. */
enum { Q_NONE, Q_COUNT, Q_TENTHS, Q_HUNDREDTHS };

static const struct {
    const char *name;
    unsigned weight;
    int quantity_kind;
    unsigned quantity_max; /* in the unit of quantity_kind */
} event_kinds[] = {
    {"login", 120, Q_NONE, 0},
    {"logout", 60, Q_NONE, 0},
    {"page_view", 300, Q_NONE, 0},
    {"dashboard_view", 90, Q_NONE, 0},
    {"search", 80, Q_NONE, 0},
    {"report_view", 50, Q_NONE, 0},
    {"report_create", 12, Q_NONE, 0},
    {"report_export", 15, Q_COUNT, 5000},
    {"project_create", 6, Q_NONE, 0},
    {"task_create", 45, Q_NONE, 0},
    {"task_complete", 40, Q_NONE, 0},
    {"comment_add", 35, Q_NONE, 0},
    {"file_upload", 20, Q_TENTHS, 5000},
    {"file_download", 18, Q_TENTHS, 5000},
    {"api_call", 70, Q_COUNT, 2000},
    {"workflow_run", 25, Q_TENTHS, 6000},
    {"data_sync", 10, Q_COUNT, 100000},
    {"storage_used_gb", 4, Q_HUNDREDTHS, 200000},
    {"session_minutes", 30, Q_TENTHS, 4800},
    {"invite_sent", 4, Q_NONE, 0},
    {"invite_accepted", 3, Q_NONE, 0},
    {"seat_added", 2, Q_COUNT, 20},
    {"seat_removed", 1, Q_COUNT, 10},
    {"integration_connect", 2, Q_NONE, 0},
    {"integration_error", 3, Q_NONE, 0},
    {"settings_update", 5, Q_NONE, 0},
    {"notification_sent", 25, Q_NONE, 0},
    {"alert_created", 4, Q_NONE, 0},
    {"billing_view", 2, Q_NONE, 0},
    {"onboarding_step", 3, Q_COUNT, 12},
};
#define N_EVENT_KINDS (sizeof event_kinds / sizeof event_kinds[0])

static const char *const name_first[] = {
    "Northwind", "Bluebird", "Acme",   "Globex",    "Initech",  "Umbrella", "Stark", "Wayne",     "Hooli",   "Pied",
    "Vandelay",  "Soylent",  "Tyrell", "Cyberdyne", "Aperture", "Oscorp",   "Wonka", "Gringotts", "Monarch", "Massive"};
static const char *const name_second[] = {"Analytics", "Logistics", "Health",  "Labs",     "Foods",
                                          "Robotics",  "Media",     "Finance", "Energy",   "Retail",
                                          "Software",  "Travel",    "Systems", "Partners", "Dynamics"};
static const char *const regions[] = {"NA", "EMEA", "APAC", "LATAM"};
static const unsigned region_weights[] = {45, 30, 18, 7};
static const char *const plans[] = {"free", "starter", "growth", "enterprise"};
static const unsigned plan_weights[] = {30, 35, 25, 10};

static unsigned pick_weighted(const unsigned *weights, unsigned n)
{
    unsigned total = 0;
    for (unsigned i = 0; i < n; i++)
        total += weights[i];
    unsigned r = rng_below(total);
    for (unsigned i = 0; i < n; i++) {
        if (r < weights[i])
            return i;
        r -= weights[i];
    }
    return n - 1;
}

/* Writes "YYYY-MM-DD" for days since 1970-01-01 (Howard Hinnant's
 * civil_from_days), into p[0..9]. */
static void format_date(char *p, int64_t days)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    put_padded(p, (uint64_t)y, 4);
    p[4] = '-';
    put_padded(p + 5, m, 2);
    p[7] = '-';
    put_padded(p + 8, d, 2);
}

int main(int argc, char **argv)
{
    long long n_events = 0, n_accounts = 0;
    if (argc != 4 || !parse_count(argv[1], MAX_EVENTS, &n_events) || !parse_count(argv[2], MAX_ACCOUNTS, &n_accounts)) {
        fprintf(stderr, "usage: gen_events N ACCOUNTS OUT_DIR   (1 <= N <= %lld, 1 <= ACCOUNTS <= %d)\n", MAX_EVENTS,
                MAX_ACCOUNTS);
        return 2;
    }
    const char *dir = argv[3];
    uint32_t accounts = (uint32_t)n_accounts;

    /* accounts, and each one's user count */
    uint32_t *users = malloc(accounts * sizeof *users);
    uint32_t *by_rank = malloc(accounts * sizeof *by_rank);
    if (users == NULL || by_rank == NULL) {
        fputs("gen_events: out of memory\n", stderr);
        return 1;
    }
    out_file o;
    out_open(&o, dir, "accounts.csv");
    memcpy(out_reserve(&o), "id,name,region,plan\n", 20);
    o.len += 20;
    for (uint32_t a = 0; a < accounts; a++) {
        char *p = out_reserve(&o), *start = p;
        p = put_str(p, "acc-");
        p = put_padded(p, a + 1, 6);
        *p++ = ',';
        p = put_str(p, name_first[rng_below(sizeof name_first / sizeof name_first[0])]);
        *p++ = ' ';
        p = put_str(p, name_second[rng_below(sizeof name_second / sizeof name_second[0])]);
        *p++ = ' ';
        p = put_uint(p, a + 1);
        *p++ = ',';
        p = put_str(p, regions[pick_weighted(region_weights, 4)]);
        *p++ = ',';
        p = put_str(p, plans[pick_weighted(plan_weights, 4)]);
        *p++ = '\n';
        o.len += (size_t)(p - start);
        users[a] = 1 + rng_below(60);
        by_rank[a] = a;
    }
    out_close(&o);

    /* busiest first: rank r is account by_rank[r], a fixed shuffle */
    for (uint32_t i = accounts - 1; i > 0; i--) {
        uint32_t j = rng_below(i + 1), t = by_rank[i];
        by_rank[i] = by_rank[j];
        by_rank[j] = t;
    }

    /* event kinds by cumulative weight */
    unsigned cumulative[N_EVENT_KINDS], total_weight = 0;
    for (unsigned k = 0; k < N_EVENT_KINDS; k++)
        cumulative[k] = (total_weight += event_kinds[k].weight);

    out_open(&o, dir, "events.csv");
    static const char header[] = "event_id,time,account_id,user_id,event,quantity\n";
    memcpy(out_reserve(&o), header, sizeof header - 1);
    o.len += sizeof header - 1;
    int64_t day = -1;
    char date[10];
    /* evenly over the year: row i at START + floor(i * YEAR / N), kept as
     * offset + frac / N so that nothing overflows */
    const int64_t step = YEAR_SECONDS / n_events, step_frac = YEAR_SECONDS % n_events;
    int64_t offset = 0, frac = 0;
    for (long long i = 0; i < n_events; i++) {
        int64_t t = START_UNIX + offset;
        offset += step;
        if ((frac += step_frac) >= n_events) {
            frac -= n_events;
            offset++;
        }
        int64_t d = t / 86400, s = t % 86400;
        if (d != day) {
            format_date(date, d);
            day = d;
        }
        double u = rng_unit();
        uint32_t rank = (uint32_t)((double)accounts * u * u * u);
        if (rank >= accounts)
            rank = accounts - 1;
        uint32_t account = by_rank[rank] + 1;
        uint32_t user = 1 + rng_below(users[account - 1]);
        unsigned r = rng_below(total_weight), k = 0;
        while (r >= cumulative[k])
            k++;

        char *p = out_reserve(&o), *start = p;
        p = put_str(p, "ev-");
        p = put_padded(p, (uint64_t)i + 1, 12);
        *p++ = ',';
        memcpy(p, date, 10);
        p += 10;
        *p++ = 'T';
        p = put_padded(p, (uint64_t)(s / 3600), 2);
        *p++ = ':';
        p = put_padded(p, (uint64_t)(s / 60 % 60), 2);
        *p++ = ':';
        p = put_padded(p, (uint64_t)(s % 60), 2);
        p = put_str(p, "Z,acc-");
        p = put_padded(p, account, 6);
        p = put_str(p, ",u-");
        p = put_padded(p, account, 6);
        *p++ = '-';
        p = put_uint(p, user);
        *p++ = ',';
        p = put_str(p, event_kinds[k].name);
        *p++ = ',';
        if (event_kinds[k].quantity_kind != Q_NONE) {
            uint32_t q = 1 + rng_below(event_kinds[k].quantity_max);
            switch (event_kinds[k].quantity_kind) {
            case Q_COUNT: p = put_uint(p, q); break;
            case Q_TENTHS:
                p = put_uint(p, q / 10);
                if (q % 10 != 0) {
                    *p++ = '.';
                    *p++ = (char)('0' + q % 10);
                }
                break;
            default:
                p = put_uint(p, q / 100);
                *p++ = '.';
                p = put_padded(p, q % 100, 2);
                break;
            }
        }
        *p++ = '\n';
        o.len += (size_t)(p - start);
    }
    out_close(&o);
    free(users);
    free(by_rank);
    return 0;
}
