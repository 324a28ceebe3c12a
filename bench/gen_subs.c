/*
 * bench/gen_subs.c — writes a deterministic synthetic company for
 * bench/report.sh: N accounts with three years of subscription history, a
 * year of survey answers, two years of helpdesk tickets and two months of
 * product usage for a few of them, as CSV, so that every part of
 * `kizuna report` has work.
 *
 *   gen_subs N OUT_DIR END_DAY
 *
 * END_DAY (YYYY-MM-DD) is the last day of the data: nothing starts, ends,
 * is answered, opened or used after it. The history window is the 1,095
 * days up to END_DAY (END_DAY itself included).
 *
 * OUT_DIR/accounts.csv
 *   id,name,region,segment,currency,arr,contract_start,renewal_date
 *   acct-0000001,Aoki Logistics,dach,smb,EUR,7260,2025-03-14,2027-03-14
 *
 *   id              acct- and a 7-digit sequence number, in id order
 *   name            two words from fixed lists (not unique)
 *   region          8 regions: dach 22%, france 16%, benelux 13%, nordics
 *                   12%, iberia 12% (EUR), uk 5% (GBP), us-east 12%,
 *                   us-west 8% (USD)
 *   segment         smb 70%, mid 22%, ent 8%
 *   currency        the region's: EUR 75%, USD 20%, GBP 5%
 *   arr             12 x the MRR of the account's last subscription, in
 *                   whole major units
 *   contract_start  85% uniform over the history window, 15% up to 4
 *                   years before it
 *   renewal_date    the first yearly anniversary (calendar years; 29
 *                   February falls on 28 February) of the contract start
 *                   after END_DAY; for an account that cancelled, the
 *                   anniversary it cancelled on (the renewal it lost)
 *
 * OUT_DIR/subscriptions.csv
 *   id,account,mrr,currency,start,end,status
 *   sub-00000001,acct-0000001,605,EUR,2025-03-14,2025-11-02,ended
 *
 *   Each account's history is simulated from its contract start: the
 *   first subscription starts on it (its MRR log-uniform per segment: smb
 *   100-2,000, mid 2,000-10,000, ent 10,000-125,000); plan changes come
 *   as a Poisson process (1.8 a year, at least 30 days apart), each an
 *   upgrade (65%, x1.10-1.60) or a downgrade (35%, x0.60-0.95): the
 *   running subscription ends "ended" and the next one starts the same
 *   day; on each contract anniversary the account cancels with
 *   probability 10%: its subscription ends that day, "canceled", and the
 *   account stays gone. The last subscription of a paying account has no
 *   end and is "active". Only subscriptions that end inside the window
 *   (or are still running) are written, at most 5 per account (after the
 *   fifth no more plan changes). 8% of the accounts that started inside
 *   the window had a 14-day trial first ("trialing", ended by the
 *   contract start); half of the accounts whose contract started in the
 *   last 14 days are still in trial: their one subscription is
 *   "trialing" with no end. About 3 subscriptions per account.
 *
 * OUT_DIR/surveys.csv
 *   id,account,time,kind,score
 *   srv-00000001,acct-0000001,2026-02-11T14:03:27Z,nps,9
 *
 *   0, 1 or 2 answers per account (30/45/25%) while it was a customer in
 *   the last 365 days: NPS (70%; 45% promoters 9-10, 30% passives 7-8,
 *   25% detractors 0-6) or CSAT 1-5 (40/35/12/8/5% for 5 down to 1).
 *
 * OUT_DIR/tickets.csv
 *   id,account,opened,kind,status,tags,subject
 *   tkt-00000001,acct-0000001,2025-12-01T09:12:44Z,feature_request,open,"export,sso",Export to CSV
 *
 *   0-3 tickets per account (60/28/9/3%) while it was a customer in the
 *   last 730 days: 55% feature requests with 1-3 distinct tags of 40
 *   (skewed: the first ones much more often), quoted when there are
 *   several; the rest questions, incidents and problems with at most
 *   one tag. About 0.3 feature requests per account.
 *
 * OUT_DIR/usage.csv
 *   id,account,user,time,event
 *   ev-000000001,acct-0000042,user-03,2026-09-01T10:21:07Z,login
 *
 *   For 1% of the accounts that pay at END_DAY: 1-6 users, each active on
 *   a day of the last 61 days with its own probability (5-60%), 1 or 2
 *   events on an active day (70/30%): about 90 events per such account.
 *
 * Every file is in account order. The same arguments give byte-identical
 * files (splitmix64 with a fixed seed). Exits 0 on success, 1 with a
 * message on stderr when it cannot write, 2 on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_ACCOUNTS 9999999 /* acct-NNNNNNN */

#define GEN_NAME     "gen_subs"
#define GEN_RNG_SEED 0x4B5A53554253ull /* "KZSUBS" */
#include "gen_common.h"

#define WINDOW_DAYS    1095 /* the history window: 3 years up to END_DAY */
#define OLDER_DAYS     1461 /* contract starts before the window: up to 4 years before it */
#define CHANGES_PER_YR 1.8  /* plan changes a year */
#define MIN_GAP_DAYS   30   /* between two plan changes */
#define CANCEL_PERCENT 10   /* per contract anniversary */
#define MAX_PERIODS    5    /* subscriptions written per account */
#define TRIAL_DAYS     14
#define SURVEY_DAYS    365
#define TICKET_DAYS    730
#define USAGE_DAYS     61
#define DAY_SECONDS    86400

/* ---- dates: days since 1970-01-01 (Howard Hinnant's algorithms) ------------- */

/* The k-th yearly anniversary of day `z` (29 February: 28 February in a
 * common year, as GLib's g_date_time_add_years has it). */
static int64_t anniversary(int64_t z, int k)
{
    int64_t y;
    int m, d;
    civil_from_days(z, &y, &m, &d);
    y += k;
    if (m == 2 && d == 29 && !is_leap(y))
        d = 28;
    return days_from_civil(y, m, d);
}

/* day `z` at `sec` seconds after midnight, as YYYY-MM-DDTHH:MM:SSZ */
static char *put_time(char *p, int64_t z, unsigned sec)
{
    p = put_date(p, z);
    *p++ = 'T';
    p = put_padded(p, sec / 3600, 2);
    *p++ = ':';
    p = put_padded(p, sec / 60 % 60, 2);
    *p++ = ':';
    p = put_padded(p, sec % 60, 2);
    *p++ = 'Z';
    return p;
}

/* ---- what an account is made of ------------------------------------------------ */

static const char *const regions[] = {"dach", "france", "benelux", "nordics", "iberia", "uk", "us-east", "us-west"};
static const char *const region_currency[] = {"EUR", "EUR", "EUR", "EUR", "EUR", "GBP", "USD", "USD"};
static const unsigned region_permille[] = {220, 160, 130, 120, 120, 50, 120, 80};

static const char *const name_first[] = {
    "Aoki",  "Berg",   "Costa",  "Dahl",   "Eder",  "Faure",  "Gruber", "Hayashi", "Ito",    "Jansen", "Kato",
    "Lind",  "Moreau", "Nagy",   "Ortega", "Petit", "Quinn",  "Roth",   "Sato",    "Takeda", "Ueda",   "Vogel",
    "Weber", "Xavier", "Yamada", "Zeller", "Alder", "Brandt", "Clarke", "Duarte",  "Engel",  "Fischer"};
static const char *const name_second[] = {"Logistics", "Foods",    "Labs",      "Systems",  "Retail",   "Energy",
                                          "Media",     "Health",   "Capital",   "Robotics", "Textiles", "Travel",
                                          "Software",  "Partners", "Analytics", "Motors",   "Pharma",   "Studio",
                                          "Networks",  "Holdings", "Works",     "Optics",   "Farms",    "Security"};

static const char *const tags[] = {
    "export",        "sso",           "api",       "reporting", "dashboards",     "mobile",      "integrations",
    "permissions",   "audit-log",     "webhooks",  "bulk-edit", "search",         "dark-mode",   "salesforce",
    "slack",         "hubspot",       "billing",   "invoices",  "localization",   "2fa",         "scim",
    "custom-fields", "workflows",     "templates", "calendar",  "offline",        "performance", "import",
    "pdf",           "notifications", "analytics", "gdpr",      "data-residency", "sandbox",     "roles",
    "email",         "forms",         "charts",    "zapier",    "teams"};
#define N_TAGS (sizeof tags / sizeof *tags)
static const char *const feature_subjects[] = {"Please add this",     "Would help our team", "Missing for rollout",
                                               "Asked by our admins", "Blocking expansion",  "Nice to have"};
static const char *const other_subjects[] = {"How do I configure this", "Login problem",    "Slow page",
                                             "Data looks wrong",        "Invoice question", "Sync failed"};
static const char *const other_kinds[] = {"question", "question", "question", "incident", "incident", "problem"};
static const char *const statuses_open[] = {"new", "open", "pending"};
static const char *const statuses_done[] = {"solved", "closed"};
static const char *const events[] = {"login",       "view_dashboard", "run_report", "export",
                                     "invite_user", "edit_record",    "search",     "comment"};

static uint64_t n_subs, n_surveys, n_tickets, n_events;

/* log-uniform in [lo, hi], rounded */
static uint64_t log_uniform(double lo, double hi)
{
    return (uint64_t)llround(lo * exp(rng_unit() * log(hi / lo)));
}

/* ---- one account ------------------------------------------------------------- */

typedef struct {
    out_file *subs;
    const char *id; /* "acct-NNNNNNN" */
    const char *currency;
    int64_t window_start; /* first day of the history window */
    int written;          /* subscriptions written */
} sub_writer;

/* One subscription row; end < 0: no end. */
static void write_sub(sub_writer *w, uint64_t mrr, int64_t start, int64_t end, const char *status)
{
    out_file *o = w->subs;
    char *p = out_reserve(o), *s = p;
    p = put_str(p, "sub-");
    p = put_padded(p, ++n_subs, 8);
    *p++ = ',';
    p = put_str(p, w->id);
    *p++ = ',';
    p = put_uint(p, mrr);
    *p++ = ',';
    p = put_str(p, w->currency);
    *p++ = ',';
    p = put_date(p, start);
    *p++ = ',';
    if (end >= 0)
        p = put_date(p, end);
    *p++ = ',';
    p = put_str(p, status);
    *p++ = '\n';
    o->len += (size_t)(p - s);
    w->written++;
}

/* Simulates the account's subscriptions from `contract` to `end_day` and
 * writes those the window holds. Returns the MRR of the last one; sets
 * *gone to the day it cancelled (or -1). */
static uint64_t subscriptions(sub_writer *w, int64_t contract, int64_t end_day, uint64_t mrr, int64_t *gone)
{
    *gone = -1;
    if (contract > end_day - TRIAL_DAYS && rng_below(2) == 0) {
        write_sub(w, mrr, contract, -1, "trialing"); /* still in trial */
        return mrr;
    }
    if (contract - TRIAL_DAYS >= w->window_start && rng_below(100) < 8)
        write_sub(w, mrr, contract - TRIAL_DAYS, contract, "trialing");
    int64_t start = contract, now = contract;
    int k = 1; /* the next anniversary */
    int64_t next_ann = anniversary(contract, k);
    int can_change = 1;
    for (;;) {
        const int64_t gap = MIN_GAP_DAYS + (int64_t)(-log(1.0 - rng_unit()) * 365.0 / CHANGES_PER_YR);
        const int64_t change = can_change ? now + gap : INT64_MAX;
        if (next_ann <= end_day && next_ann <= change) {
            if (rng_below(100) < CANCEL_PERCENT) {
                if (next_ann > w->window_start)
                    write_sub(w, mrr, start, next_ann, "canceled");
                *gone = next_ann;
                return mrr;
            }
            now = next_ann; /* memoryless: draw the next change from here */
            next_ann = anniversary(contract, ++k);
            continue;
        }
        if (change > end_day)
            break;
        /* a plan change: the running subscription ends, the next starts */
        if (change > w->window_start) {
            if (w->written + 2 >= MAX_PERIODS)
                can_change = 0; /* the next one is the last to be written */
            write_sub(w, mrr, start, change, "ended");
        }
        const double f = rng_below(100) < 65 ? 1.10 + 0.50 * rng_unit() : 0.60 + 0.35 * rng_unit();
        mrr = (uint64_t)llround((double)mrr * f);
        if (mrr < 10)
            mrr = 10;
        start = now = change;
    }
    write_sub(w, mrr, start, -1, "active");
    return mrr;
}

int main(int argc, char **argv)
{
    long long n_accounts = 0;
    int64_t end_day = 0;
    if (argc != 4 || !parse_count(argv[1], MAX_ACCOUNTS, &n_accounts) || !parse_day(argv[3], &end_day)) {
        fprintf(stderr, "usage: gen_subs N OUT_DIR END_DAY   (1 <= N <= %d, END_DAY as YYYY-MM-DD)\n", MAX_ACCOUNTS);
        return 2;
    }
    const int64_t window_start = end_day - (WINDOW_DAYS - 1);
    out_file acc, sub, srv, tkt, use;
    out_open(&acc, argv[2], "accounts.csv");
    out_open(&sub, argv[2], "subscriptions.csv");
    out_open(&srv, argv[2], "surveys.csv");
    out_open(&tkt, argv[2], "tickets.csv");
    out_open(&use, argv[2], "usage.csv");
    struct {
        out_file *o;
        const char *head;
    } heads[] = {{&acc, "id,name,region,segment,currency,arr,contract_start,renewal_date\n"},
                 {&sub, "id,account,mrr,currency,start,end,status\n"},
                 {&srv, "id,account,time,kind,score\n"},
                 {&tkt, "id,account,opened,kind,status,tags,subject\n"},
                 {&use, "id,account,user,time,event\n"}};
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
        char *p = out_reserve(heads[i].o), *s = p;
        p = put_str(p, heads[i].head);
        heads[i].o->len += (size_t)(p - s);
    }

    char id[16] = "acct-";
    for (long long a = 0; a < n_accounts; a++) {
        put_padded(id + 5, (uint64_t)a + 1, 7);
        id[12] = '\0';

        /* who the account is */
        unsigned r = rng_below(1000), acc_pm = 0;
        size_t region = 0;
        for (size_t k = 0; k < sizeof regions / sizeof *regions; k++) {
            acc_pm += region_permille[k];
            if (r < acc_pm) {
                region = k;
                break;
            }
        }
        const char *name1 = name_first[rng_below(sizeof name_first / sizeof *name_first)];
        const char *name2 = name_second[rng_below(sizeof name_second / sizeof *name_second)];
        const unsigned seg = rng_below(100);
        const char *segment = seg < 70 ? "smb" : seg < 92 ? "mid" : "ent";
        uint64_t mrr = seg < 70   ? log_uniform(100, 2000)
                       : seg < 92 ? log_uniform(2000, 10000)
                                  : log_uniform(10000, 125000);
        const int64_t since =
            rng_below(100) < 85 ? (int64_t)rng_below(WINDOW_DAYS) : WINDOW_DAYS + (int64_t)rng_below(OLDER_DAYS);
        const int64_t contract = end_day - since;

        /* its subscriptions */
        sub_writer w = {&sub, id, region_currency[region], window_start, 0};
        int64_t gone;
        mrr = subscriptions(&w, contract, end_day, mrr, &gone);
        int k = 1;
        while (anniversary(contract, k) <= end_day)
            k++;
        const int64_t renewal = gone >= 0 ? gone : anniversary(contract, k);
        /* the days it was a customer: [contract, last) */
        const int64_t last = gone >= 0 ? gone : end_day + 1;

        char *p = out_reserve(&acc), *s = p;
        p = put_str(p, id);
        *p++ = ',';
        p = put_str(p, name1);
        *p++ = ' ';
        p = put_str(p, name2);
        *p++ = ',';
        p = put_str(p, regions[region]);
        *p++ = ',';
        p = put_str(p, segment);
        *p++ = ',';
        p = put_str(p, region_currency[region]);
        *p++ = ',';
        p = put_uint(p, 12 * mrr);
        *p++ = ',';
        p = put_date(p, contract);
        *p++ = ',';
        p = put_date(p, renewal);
        *p++ = '\n';
        acc.len += (size_t)(p - s);

        /* survey answers in the last year */
        const unsigned su = rng_below(100);
        const int n_answers = su < 30 ? 0 : su < 75 ? 1 : 2;
        int64_t lo = contract > end_day - (SURVEY_DAYS - 1) ? contract : end_day - (SURVEY_DAYS - 1);
        for (int i = 0; i < n_answers && lo < last; i++) {
            const int64_t day = lo + (int64_t)rng_below((uint32_t)(last - lo));
            const int nps = rng_below(100) < 70;
            const unsigned q = rng_below(100);
            unsigned score;
            if (nps)
                score = q < 45 ? 9 + rng_below(2) : q < 75 ? 7 + rng_below(2) : rng_below(7);
            else
                score = q < 40 ? 5 : q < 75 ? 4 : q < 87 ? 3 : q < 95 ? 2 : 1;
            p = out_reserve(&srv);
            s = p;
            p = put_str(p, "srv-");
            p = put_padded(p, ++n_surveys, 8);
            *p++ = ',';
            p = put_str(p, id);
            *p++ = ',';
            p = put_time(p, day, rng_below(DAY_SECONDS));
            p = put_str(p, nps ? ",nps," : ",csat,");
            p = put_uint(p, score);
            *p++ = '\n';
            srv.len += (size_t)(p - s);
        }

        /* helpdesk tickets in the last two years */
        const unsigned tu = rng_below(100);
        const int n_tk = tu < 60 ? 0 : tu < 88 ? 1 : tu < 97 ? 2 : 3;
        lo = contract > end_day - (TICKET_DAYS - 1) ? contract : end_day - (TICKET_DAYS - 1);
        for (int i = 0; i < n_tk && lo < last; i++) {
            const int64_t day = lo + (int64_t)rng_below((uint32_t)(last - lo));
            const int feature = rng_below(100) < 55;
            p = out_reserve(&tkt);
            s = p;
            p = put_str(p, "tkt-");
            p = put_padded(p, ++n_tickets, 8);
            *p++ = ',';
            p = put_str(p, id);
            *p++ = ',';
            p = put_time(p, day, rng_below(DAY_SECONDS));
            *p++ = ',';
            p = put_str(p, feature ? "feature_request" : other_kinds[rng_below(6)]);
            *p++ = ',';
            p = put_str(p,
                        end_day - day < 30 && rng_below(2) ? statuses_open[rng_below(3)] : statuses_done[rng_below(2)]);
            *p++ = ',';
            /* tags: a feature request 1-3 distinct (skewed to the first), another ticket 0 or 1 */
            const unsigned nu = rng_below(100);
            const int n_tags = feature ? (nu < 60 ? 1 : nu < 90 ? 2 : 3) : (nu < 50 ? 0 : 1);
            size_t picked[3];
            int got = 0;
            while (got < n_tags) {
                const double u = rng_unit();
                const size_t t = (size_t)(u * u * (double)N_TAGS);
                int dup = 0;
                for (int j = 0; j < got; j++)
                    dup |= picked[j] == t;
                if (!dup)
                    picked[got++] = t;
            }
            if (n_tags > 1)
                *p++ = '"';
            for (int j = 0; j < n_tags; j++) {
                if (j > 0)
                    *p++ = ',';
                p = put_str(p, tags[picked[j]]);
            }
            if (n_tags > 1)
                *p++ = '"';
            *p++ = ',';
            p = put_str(p, feature ? feature_subjects[rng_below(6)] : other_subjects[rng_below(6)]);
            *p++ = '\n';
            tkt.len += (size_t)(p - s);
        }

        /* product usage in the last 61 days, for 1% of the paying accounts */
        if (gone < 0 && rng_below(100) == 0) {
            const unsigned users = 1 + rng_below(6);
            double p_active[6];
            for (unsigned u = 0; u < users; u++)
                p_active[u] = 0.05 + 0.55 * rng_unit();
            const int64_t first = contract > end_day - (USAGE_DAYS - 1) ? contract : end_day - (USAGE_DAYS - 1);
            for (int64_t day = first; day <= end_day; day++) {
                for (unsigned u = 0; u < users; u++) {
                    if (rng_unit() >= p_active[u])
                        continue;
                    const int n_ev = rng_below(100) < 70 ? 1 : 2;
                    for (int e = 0; e < n_ev; e++) {
                        p = out_reserve(&use);
                        s = p;
                        p = put_str(p, "ev-");
                        p = put_padded(p, ++n_events, 9);
                        *p++ = ',';
                        p = put_str(p, id);
                        p = put_str(p, ",user-");
                        p = put_padded(p, u + 1, 2);
                        *p++ = ',';
                        p = put_time(p, day, 6 * 3600 + rng_below(15 * 3600));
                        *p++ = ',';
                        p = put_str(p, events[rng_below(sizeof events / sizeof *events)]);
                        *p++ = '\n';
                        use.len += (size_t)(p - s);
                    }
                }
            }
        }
    }
    out_close(&acc);
    out_close(&sub);
    out_close(&srv);
    out_close(&tkt);
    out_close(&use);
    return 0;
}
