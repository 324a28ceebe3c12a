/*
 * core/kpi/kpi.c — the CS KPIs of docs/kpis.md.
 *
 * One read transaction. The accounts are read in id order, with their
 * cut (segment, tier, ...); every other table is read by a cursor ordered
 * by account id and merged in as the walk reaches each account, so each
 * account's subscriptions, renewals, surveys, touches and requests are
 * folded into its group's sums and then forgotten. Ratios are formed at
 * the end from the sums, so a group's rate is never an average of rates.
 */
#include "kpi/kpi.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "errors.h"
#include "score/health.h"
#include "score/measures.h"
#include "store/owners.h"
#include "store/store.h"
#include "values.h"

#define DAY_US           G_GINT64_CONSTANT(86400000000)
#define KZ_KPI_WINDOW_US 2592000000000 /* the 30 days of MAU and DAU, in SQL too */
G_STATIC_ASSERT(KZ_KPI_WINDOW_US == 30 * DAY_US);
#define MAX_MONTHS 120

static const kz_kpi_info infos[KZ_KPI_N] = {
    [KZ_KPI_COHORT] = {"cohort", "Accounts at the start", KZ_KPI_COUNT, "retention"},
    [KZ_KPI_LOGO_CHURNED] = {"logos_churned", "Accounts churned", KZ_KPI_COUNT, "retention"},
    [KZ_KPI_LOGO_CHURN] = {"logo_churn", "Logo churn", KZ_KPI_RATIO, "retention"},
    [KZ_KPI_LOGO_RETENTION] = {"logo_retention", "Logo retention", KZ_KPI_RATIO, "retention"},
    [KZ_KPI_MRR_START] = {"mrr_start", "MRR at the start (cohort)", KZ_KPI_MONEY, "revenue"},
    [KZ_KPI_EXPANSION] = {"expansion_mrr", "Expansion MRR", KZ_KPI_MONEY, "revenue"},
    [KZ_KPI_CONTRACTION] = {"contraction_mrr", "Contraction MRR", KZ_KPI_MONEY, "revenue"},
    [KZ_KPI_CHURNED_MRR] = {"churned_mrr", "Churned MRR", KZ_KPI_MONEY, "revenue"},
    [KZ_KPI_GRR] = {"grr", "Gross revenue retention (GRR)", KZ_KPI_RATIO, "revenue"},
    [KZ_KPI_NRR] = {"nrr", "Net revenue retention (NRR)", KZ_KPI_RATIO, "revenue"},
    [KZ_KPI_NEW_ACCOUNTS] = {"new_accounts", "New paying accounts", KZ_KPI_COUNT, "revenue"},
    [KZ_KPI_ACTIVE_END] = {"accounts_end", "Paying accounts at the end", KZ_KPI_COUNT, "revenue"},
    [KZ_KPI_MRR_END] = {"mrr_end", "MRR at the end", KZ_KPI_MONEY, "revenue"},
    [KZ_KPI_ARPA] = {"arpa", "Average MRR per account", KZ_KPI_MONEY, "revenue"},
    [KZ_KPI_RENEWALS_DUE] = {"renewals_due", "Renewals due", KZ_KPI_COUNT, "renewal"},
    [KZ_KPI_RENEWED] = {"renewed", "Renewed", KZ_KPI_COUNT, "renewal"},
    [KZ_KPI_NOT_RENEWED] = {"not_renewed", "Not renewed", KZ_KPI_COUNT, "renewal"},
    [KZ_KPI_RENEWALS_PENDING] = {"renewals_pending", "Not yet decided", KZ_KPI_COUNT, "renewal"},
    [KZ_KPI_RENEWAL_RATE] = {"renewal_rate", "Renewal rate (logos)", KZ_KPI_RATIO, "renewal"},
    [KZ_KPI_RENEWAL_RATE_MRR] = {"renewal_rate_mrr", "Renewal rate (revenue)", KZ_KPI_RATIO, "renewal"},
    [KZ_KPI_EXPANDED] = {"expanded", "Accounts that expanded", KZ_KPI_COUNT, "expansion"},
    [KZ_KPI_UPSELL_RATE] = {"upsell_rate", "Upsell/cross-sell rate", KZ_KPI_RATIO, "expansion"},
    [KZ_KPI_CSQLS] = {"csqls", "CS-qualified leads", KZ_KPI_COUNT, "expansion"},
    [KZ_KPI_CSQLS_WON] = {"csqls_won", "CS-qualified leads won", KZ_KPI_COUNT, "expansion"},
    [KZ_KPI_EXPANSION_SUCCESS] = {"expansion_success", "Expansion success rate", KZ_KPI_RATIO, "expansion"},
    [KZ_KPI_ONBOARDING_STARTED] = {"onboarding_started", "Onboardings started", KZ_KPI_COUNT, "onboarding"},
    [KZ_KPI_ONBOARDING_DONE] = {"onboarding_done", "... completed in time", KZ_KPI_COUNT, "onboarding"},
    [KZ_KPI_ONBOARDING_RATE] = {"onboarding_rate", "Onboarding completion rate", KZ_KPI_RATIO, "onboarding"},
    [KZ_KPI_TIME_TO_VALUE] = {"time_to_value", "Time to value (median)", KZ_KPI_DAYS, "onboarding"},
    [KZ_KPI_MAU] = {"mau", "Monthly active users", KZ_KPI_COUNT, "engagement"},
    [KZ_KPI_DAU] = {"dau", "Daily active users (mean)", KZ_KPI_SCORE, "engagement"},
    [KZ_KPI_STICKINESS] = {"stickiness", "Stickiness (DAU/MAU)", KZ_KPI_RATIO, "engagement"},
    [KZ_KPI_NPS_ANSWERS] = {"nps_answers", "NPS answers", KZ_KPI_COUNT, "voice"},
    [KZ_KPI_NPS] = {"nps", "NPS", KZ_KPI_SCORE, "voice"},
    [KZ_KPI_CSAT_ANSWERS] = {"csat_answers", "CSAT answers", KZ_KPI_COUNT, "voice"},
    [KZ_KPI_CSAT] = {"csat", "CSAT (4-5 of 5)", KZ_KPI_RATIO, "voice"},
    [KZ_KPI_TOUCHES] = {"touches", "Touches", KZ_KPI_COUNT, "activity"},
    [KZ_KPI_TOUCHES_DELIVERED] = {"touches_delivered", "Touches delivered", KZ_KPI_COUNT, "activity"},
    [KZ_KPI_TASKS_DONE] = {"tasks_done", "Tasks done", KZ_KPI_COUNT, "activity"},
    [KZ_KPI_FEATURE_REQUESTS] = {"feature_requests", "Feature requests", KZ_KPI_COUNT, "feedback"},
};

const kz_kpi_info *kz_kpi_info_of(kz_kpi k)
{
    return &infos[k];
}

static const char *const by_names[] = {"none", "segment", "tier", "region", "team", "csm"};

int kz_kpi_by_from_name(const char *name)
{
    for (guint i = 1; i < G_N_ELEMENTS(by_names); i++)
        if (strcmp(name, by_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *kz_kpi_by_name(kz_kpi_by by)
{
    return by_names[by];
}

/* ---- periods ------------------------------------------------------------ */

static gint64 utc_us(int y, int m, int d)
{
    g_autoptr(GDateTime) t = g_date_time_new_utc(y, m, d, 0, 0, 0);
    return g_date_time_to_unix(t) * G_USEC_PER_SEC;
}

/* The first instant of the month `months` after (y, m). */
static gint64 month_start(int y, int m, int months)
{
    int k = (y * 12 + (m - 1)) + months;
    return utc_us(k / 12, k % 12 + 1, 1);
}

gboolean kz_kpi_parse_period(const char *text, gint64 *from_us, gint64 *to_us)
{
    int y = 0, n = 0;
    char tail = 0;
    if (sscanf(text, "%4d-Q%1d%c", &y, &n, &tail) == 2 && n >= 1 && n <= 4 && y >= 1900) {
        *from_us = month_start(y, 3 * n - 2, 0);
        *to_us = month_start(y, 3 * n - 2, 3);
        return TRUE;
    }
    if (sscanf(text, "%4d-%2d%c", &y, &n, &tail) == 2 && n >= 1 && n <= 12 && y >= 1900 && strlen(text) == 7) {
        *from_us = month_start(y, n, 0);
        *to_us = month_start(y, n, 1);
        return TRUE;
    }
    if (sscanf(text, "%4d%c", &y, &tail) == 1 && y >= 1900 && strlen(text) == 4) {
        *from_us = month_start(y, 1, 0);
        *to_us = month_start(y, 1, 12);
        return TRUE;
    }
    return FALSE;
}

/* ---- money ------------------------------------------------------------- */

typedef struct {
    const kz_config *cfg;
    const char *currency; /* the report's */
    GHashTable *scales;   /* currency -> double*: major report units per minor unit */
} money;

/* The report currency: the config's, else the one currency in the store.
 * NULL (error set) when the store holds several and the config names none. */
static char *report_currency(sqlite3 *db, const kz_config *cfg, GError **error)
{
    if (cfg->kpis.currency != NULL)
        return g_strdup(cfg->kpis.currency);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT currency FROM subscriptions WHERE currency IS NOT NULL UNION "
                           "SELECT currency FROM accounts WHERE currency IS NOT NULL ORDER BY 1",
                           -1, &st, NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "finding the currencies");
        return NULL;
    }
    GString *all = g_string_new(NULL);
    char *one = NULL;
    guint n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 0);
        g_string_append_printf(all, "%s%s", n++ ? ", " : "", c);
        if (one == NULL)
            one = g_strdup(c);
    }
    sqlite3_finalize(st);
    if (n > 1) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID,
                    "%s: the store holds money in %s: name the report currency and the rates into it "
                    "(<kpis currency=\"...\"><rate currency=\"...\" value=\"...\"/></kpis>, docs/kpis.md)",
                    cfg->path, all->str);
        g_free(one);
        one = NULL;
    }
    g_string_free(all, TRUE);
    return one != NULL ? one : (n == 0 ? g_strdup("USD") : NULL);
}

/* Report units per minor unit of `currency` (NULL: the report currency's);
 * NAN when there is no rate. */
static double scale_of(money *m, const char *currency)
{
    if (currency == NULL)
        currency = m->currency;
    double *s = g_hash_table_lookup(m->scales, currency);
    if (s != NULL)
        return *s;
    double rate = NAN;
    if (strcmp(currency, m->currency) == 0)
        rate = 1;
    else if (g_hash_table_contains(m->cfg->kpis.rates, currency))
        rate = *(double *)g_hash_table_lookup(m->cfg->kpis.rates, currency);
    s = g_new(double, 1);
    *s = rate / pow(10, kz_currency_digits(currency));
    g_hash_table_insert(m->scales, g_strdup(currency), s);
    return *s;
}

static gboolean no_rate(money *m, const char *what, const char *id, const char *currency, GError **error)
{
    g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID,
                "%s %s is in %s, which has no rate into the report currency %s: add <rate currency=\"%s\" "
                "value=\"...\"/> to <kpis> in %s (docs/kpis.md)",
                what, id, currency, m->currency, currency, m->cfg->path);
    return FALSE;
}

/* ---- groups ------------------------------------------------------------- */

typedef struct {
    kz_kpi_group *g;
    GArray *ttv;          /* double: days to value of the accounts onboarded in the period */
    GHashTable *channels; /* name -> kz_kpi_row* (also in g->touches) */
    GHashTable *grades;   /* name -> kz_kpi_row* (also in g->grades_end) */
    double nps_promoters, nps_detractors, csat_good, dau_days;
    double renewed_mrr, due_mrr;
} group_acc;

static kz_kpi_row *row_new(const char *name)
{
    kz_kpi_row *r = g_new0(kz_kpi_row, 1);
    r->name = g_strdup(name);
    return r;
}

static void row_free(kz_kpi_row *r)
{
    g_free(r->name);
    g_free(r);
}

/* The row `name` of `table`, made (and appended to `rows`) at first use. */
static kz_kpi_row *row_of(GHashTable *table, GPtrArray *rows, const char *name)
{
    kz_kpi_row *r = g_hash_table_lookup(table, name);
    if (r == NULL) {
        r = row_new(name);
        g_ptr_array_add(rows, r);
        g_hash_table_insert(table, r->name, r);
    }
    return r;
}

static group_acc *group_new(const char *name)
{
    group_acc *a = g_new0(group_acc, 1);
    a->g = g_new0(kz_kpi_group, 1);
    a->g->name = g_strdup(name);
    a->g->grades_end = g_ptr_array_new_with_free_func((GDestroyNotify)row_free);
    a->g->touches = g_ptr_array_new_with_free_func((GDestroyNotify)row_free);
    a->ttv = g_array_new(FALSE, FALSE, sizeof(double));
    a->channels = g_hash_table_new(g_str_hash, g_str_equal);
    a->grades = g_hash_table_new(g_str_hash, g_str_equal);
    return a;
}

static void group_free(kz_kpi_group *g)
{
    if (g == NULL)
        return;
    g_free(g->name);
    g_ptr_array_unref(g->grades_end);
    g_ptr_array_unref(g->touches);
    g_free(g);
}

static int cmp_double(gconstpointer a, gconstpointer b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double ratio(double num, double den)
{
    return den > 0 ? num / den : NAN;
}

static int cmp_row_name(gconstpointer a, gconstpointer b)
{
    return strcmp((*(kz_kpi_row *const *)a)->name, (*(kz_kpi_row *const *)b)->name);
}

/* Forms the group's ratios from its sums, and frees the accumulator. */
static kz_kpi_group *group_finish(group_acc *a)
{
    double *v = a->g->v;
    v[KZ_KPI_LOGO_CHURN] = ratio(v[KZ_KPI_LOGO_CHURNED], v[KZ_KPI_COHORT]);
    v[KZ_KPI_LOGO_RETENTION] = v[KZ_KPI_COHORT] > 0 ? 1 - v[KZ_KPI_LOGO_CHURN] : NAN;
    double start = v[KZ_KPI_MRR_START];
    v[KZ_KPI_GRR] = ratio(start - v[KZ_KPI_CONTRACTION] - v[KZ_KPI_CHURNED_MRR], start);
    v[KZ_KPI_NRR] = ratio(start + v[KZ_KPI_EXPANSION] - v[KZ_KPI_CONTRACTION] - v[KZ_KPI_CHURNED_MRR], start);
    v[KZ_KPI_ARPA] = ratio(v[KZ_KPI_MRR_END], v[KZ_KPI_ACTIVE_END]);
    v[KZ_KPI_RENEWAL_RATE] = ratio(v[KZ_KPI_RENEWED], v[KZ_KPI_RENEWED] + v[KZ_KPI_NOT_RENEWED]);
    v[KZ_KPI_RENEWAL_RATE_MRR] = ratio(a->renewed_mrr, a->due_mrr);
    v[KZ_KPI_UPSELL_RATE] = ratio(v[KZ_KPI_EXPANDED], v[KZ_KPI_COHORT]);
    v[KZ_KPI_EXPANSION_SUCCESS] = ratio(v[KZ_KPI_CSQLS_WON], v[KZ_KPI_CSQLS]);
    v[KZ_KPI_ONBOARDING_RATE] = ratio(v[KZ_KPI_ONBOARDING_DONE], v[KZ_KPI_ONBOARDING_STARTED]);
    v[KZ_KPI_TIME_TO_VALUE] = NAN;
    if (a->ttv->len > 0) {
        g_array_sort(a->ttv, cmp_double);
        const double *d = (const double *)a->ttv->data;
        guint n = a->ttv->len;
        v[KZ_KPI_TIME_TO_VALUE] = n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
    }
    v[KZ_KPI_DAU] = v[KZ_KPI_MAU] > 0 ? a->dau_days / 30 : NAN;
    v[KZ_KPI_STICKINESS] = ratio(v[KZ_KPI_DAU], v[KZ_KPI_MAU]);
    v[KZ_KPI_NPS] = ratio(100 * (a->nps_promoters - a->nps_detractors), v[KZ_KPI_NPS_ANSWERS]);
    v[KZ_KPI_CSAT] = ratio(a->csat_good, v[KZ_KPI_CSAT_ANSWERS]);
    g_ptr_array_sort(a->g->touches, cmp_row_name);
    kz_kpi_group *g = a->g;
    g_array_unref(a->ttv);
    g_hash_table_unref(a->channels);
    g_hash_table_unref(a->grades);
    g_free(a);
    return g;
}

/* ---- cursors: a table's rows in account order, merged into the walk ---- */

typedef struct {
    sqlite3_stmt *st;
    gboolean row; /* st holds a row */
    char *failed; /* why a step failed (the cursor then ends), or NULL */
} cursor;

static void cursor_step(cursor *c)
{
    int rc = sqlite3_step(c->st);
    c->row = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && c->failed == NULL)
        c->failed = g_strdup(sqlite3_errmsg(sqlite3_db_handle(c->st)));
}

static gboolean cursor_open(sqlite3 *db, cursor *c, const char *sql, gint64 a, gint64 b, GError **error)
{
    if (sqlite3_prepare_v2(db, sql, -1, &c->st, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, sql);
    int n = sqlite3_bind_parameter_count(c->st);
    if (n >= 1)
        sqlite3_bind_int64(c->st, 1, a);
    if (n >= 2)
        sqlite3_bind_int64(c->st, 2, b);
    cursor_step(c);
    return TRUE;
}

/* TRUE when the cursor's current row belongs to account `id` (column 0),
 * after skipping rows of accounts before it. */
static gboolean cursor_at(cursor *c, const char *id)
{
    while (c->row) {
        int d = strcmp((const char *)sqlite3_column_text(c->st, 0), id);
        if (d == 0)
            return TRUE;
        if (d > 0)
            return FALSE;
        cursor_step(c);
    }
    return FALSE;
}

static void cursor_next(cursor *c)
{
    cursor_step(c);
}

static void cursor_close(cursor *c)
{
    sqlite3_finalize(c->st);
    c->st = NULL;
    g_clear_pointer(&c->failed, g_free);
}

/* ---- one account's subscriptions ---------------------------------------- */

typedef struct {
    gint64 start, end; /* end G_MAXINT64 when open */
    double mrr;        /* report currency */
} sub;

/* MRR running at instant t. */
static double mrr_at(const GArray *subs, gint64 t)
{
    double sum = 0;
    for (guint i = 0; i < subs->len; i++) {
        const sub *s = &g_array_index(subs, sub, i);
        if (s->start <= t && t < s->end)
            sum += s->mrr;
    }
    return sum;
}

/* GDate's Julian day of 1970-01-01 (day 1 is 0001-01-01). */
#define UNIX_EPOCH_JULIAN 719163

/* The renewal dates of an account in [from, to), the latest first: its
 * renewal date and each yearly anniversary before it (at the same time of
 * day; February 29 on February 28 in other years), back to its contract
 * start (exclusive). GDate, not GDateTime: no allocation per date. */
static guint renewal_dates(gint64 renewal, gint64 contract_start, gint64 from, gint64 to, gint64 *out, guint max)
{
    gint64 day = renewal >= 0 ? renewal / DAY_US : -((-renewal + DAY_US - 1) / DAY_US);
    gint64 time_of_day = renewal - day * DAY_US;
    if (day + UNIX_EPOCH_JULIAN < 1 || day + UNIX_EPOCH_JULIAN > G_MAXUINT32)
        return 0;
    GDate r;
    g_date_clear(&r, 1);
    g_date_set_julian(&r, (guint32)(day + UNIX_EPOCH_JULIAN));
    guint n = 0;
    for (guint k = 0; n < max && k < 200 && k < g_date_get_year(&r); k++) {
        GDate d = r;
        g_date_subtract_years(&d, k);
        gint64 t = ((gint64)g_date_get_julian(&d) - UNIX_EPOCH_JULIAN) * DAY_US + time_of_day;
        if (t < from || (contract_start != G_MININT64 && t <= contract_start))
            break;
        if (t < to)
            out[n++] = t;
    }
    return n;
}

/* ---- the walk ----------------------------------------------------------- */

typedef struct {
    const char *start, *end; /* grade names of the runs read, or NULL */
    kz_kpi_row *row;
} move_row;

enum {
    CUR_SUBS,
    CUR_SURVEYS,
    CUR_CSQL,
    CUR_ONBOARDED,
    CUR_TOUCHES,
    CUR_TASKS,
    CUR_REQUESTS,
    CUR_USAGE,
    CUR_STATE,
    CUR_N
};

typedef struct {
    sqlite3 *db;
    const kz_config *cfg;
    kz_kpi_report *r;
    money m;
    GHashTable *groups; /* name -> group_acc* */
    group_acc *all;
    GHashTable *tiers, *csms, *features, *movement, *phases; /* name -> kz_kpi_row* */
    GHashTable *account_tags; /* the tags (kz_kpi_row* in features) one account asked for */
    gint64 onboarding_due;    /* 0: none */
    guint n_months;
    gint64 month[MAX_MONTHS + 1];
    gint64 month_points[2 * MAX_MONTHS]; /* each month's first instant and last, ascending */
    double month_start[MAX_MONTHS], month_end[MAX_MONTHS], month_kept[MAX_MONTHS], month_cohort[MAX_MONTHS];
    /* the health runs at the end and at the start: grade per roster position */
    kz_roster *roster_end, *roster_start;
    guint8 *grade_end, *grade_start;
    char **grade_names_end, **grade_names_start;
    guint roster_end_pos, roster_start_pos;
    cursor cur[CUR_N];
    kz_owners *owners; /* the current owners, looked up in the walk's id order */
    guint owners_hint;
    GHashTable *users;  /* one account's active users: user id -> days bitmask */
    move_row moves[64]; /* health movement rows by (start, end) grade name pointer */
    guint n_moves;
} walk;

/* A group's health rows in the runs' order of grades (the worst first,
 * as the health model lists them), so every grade shows, even at 0. */
static void seed_grades(walk *w, group_acc *a)
{
    for (char **names = w->grade_names_end; names != NULL && *names != NULL; names++)
        row_of(a->grades, a->g->grades_end, *names);
    for (char **names = w->grade_names_start; names != NULL && *names != NULL; names++)
        row_of(a->grades, a->g->grades_end, *names);
}

static group_acc *group_for(walk *w, const char *name)
{
    if (w->r->by == KZ_KPI_BY_NONE)
        return NULL;
    group_acc *a = g_hash_table_lookup(w->groups, name);
    if (a == NULL) {
        a = group_new(name);
        seed_grades(w, a);
        g_hash_table_insert(w->groups, a->g->name, a);
    }
    return a;
}

/* Adds `x` to KPI `k` of the book and of the account's group. */
#define ADD(k, x)                                                                                                      \
    do {                                                                                                               \
        double x_ = (x);                                                                                               \
        w->all->g->v[k] += x_;                                                                                         \
        if (ga != NULL)                                                                                                \
            ga->g->v[k] += x_;                                                                                         \
    } while (0)

/* The grade of `id` in a run read into (roster, grades), walking `pos`
 * forward (ids come in order); NULL when unscored or not in the run. */
static const char *grade_in(const kz_roster *roster, const guint8 *grades, char **names, guint *pos, const char *id)
{
    if (roster == NULL)
        return NULL;
    while (*pos < roster->n && strcmp(roster->ids[*pos], id) < 0)
        (*pos)++;
    if (*pos >= roster->n || strcmp(roster->ids[*pos], id) != 0)
        return NULL;
    guint8 g = grades[*pos];
    return g < g_strv_length(names) ? names[g] : NULL;
}

static char *subscription_id(sqlite3 *db, sqlite3_int64 rowid)
{
    sqlite3_stmt *st = NULL;
    char *id = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id FROM subscriptions WHERE rowid = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, rowid);
        if (sqlite3_step(st) == SQLITE_ROW)
            id = g_strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return id != NULL ? id : g_strdup_printf("#%lld", (long long)rowid);
}

static gboolean read_subscriptions(walk *w, const char *id, const char *account_currency, GArray *subs, GError **error)
{
    g_array_set_size(subs, 0);
    cursor *c = &w->cur[CUR_SUBS];
    for (; cursor_at(c, id); cursor_next(c)) {
        const char *cur = (const char *)sqlite3_column_text(c->st, 4);
        if (cur == NULL)
            cur = account_currency;
        double scale = scale_of(&w->m, cur);
        if (isnan(scale)) {
            /* the cursor reads the index alone: the id from the table */
            g_autofree char *sub_id = subscription_id(w->db, sqlite3_column_int64(c->st, 5));
            return no_rate(&w->m, "subscription", sub_id, cur, error);
        }
        sub s = {sqlite3_column_int64(c->st, 1),
                 sqlite3_column_type(c->st, 2) == SQLITE_NULL ? G_MAXINT64 : sqlite3_column_int64(c->st, 2),
                 (double)sqlite3_column_int64(c->st, 3) * scale};
        g_array_append_val(subs, s);
    }
    return TRUE;
}

/* mrr_at() at every point of w->month_points: each subscription added,
 * in order, to the points it runs at (the same sums, without a pass over
 * every subscription for every point). */
static void mrr_by_month(const walk *w, const GArray *subs, double *at)
{
    const guint np = 2 * w->n_months;
    const gint64 *p = w->month_points;
    memset(at, 0, np * sizeof *at);
    for (guint i = 0; i < subs->len; i++) {
        const sub *s = &g_array_index(subs, sub, i);
        guint lo = 0, hi = np; /* the first point at or after its start */
        while (lo < hi) {
            guint mid = (lo + hi) / 2;
            if (p[mid] < s->start)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (guint k = lo; k < np && p[k] < s->end; k++)
            at[k] += s->mrr;
    }
}

/* One account: columns of the accounts query (see kz_kpi_compute). */
static gboolean account(walk *w, sqlite3_stmt *st, GArray *subs, GError **error)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *group = (const char *)sqlite3_column_text(st, 1);
    const char *currency = (const char *)sqlite3_column_text(st, 2);
    gint64 contract_start = sqlite3_column_type(st, 3) == SQLITE_NULL ? G_MININT64 : sqlite3_column_int64(st, 3);
    gboolean has_renewal = sqlite3_column_type(st, 4) != SQLITE_NULL;
    gint64 renewal = sqlite3_column_int64(st, 4);
    /* phase, tier and owner: the lifecycle's and the assignment's */
    int tier = 0, phase = 0;
    const char *owner = NULL, *team = NULL;
    cursor *c = &w->cur[CUR_STATE];
    if (cursor_at(c, id)) {
        tier = sqlite3_column_int(c->st, 1);
        phase = sqlite3_column_int(c->st, 2);
    }
    gint64 k = kz_owners_find(w->owners, id, &w->owners_hint);
    gint32 code = k >= 0 ? w->owners->codes[k] : -1;
    if (code >= 0) {
        owner = w->owners->pair_owner[code];
        team = w->owners->pair_team[code];
    }
    const kz_kpi_report *r = w->r;
    const gint64 from = r->from_us, to = r->to_us;
    const char *tier_name = tier > 0 ? kz_tier_name(tier) : "(none)";
    if (r->by == KZ_KPI_BY_TIER)
        group = tier > 0 ? tier_name : NULL;
    else if (r->by == KZ_KPI_BY_TEAM)
        group = team;
    else if (r->by == KZ_KPI_BY_CSM)
        group = owner;
    group_acc *ga = group_for(w, group != NULL ? group : "(none)");
    const char *csm = owner != NULL ? owner : "(none)";

    /* revenue: MRR at the start and at the last instant of the period */
    if (!read_subscriptions(w, id, currency, subs, error))
        return FALSE;
    double s = mrr_at(subs, from), e = mrr_at(subs, to - 1);
    if (s > 0) {
        ADD(KZ_KPI_COHORT, 1);
        ADD(KZ_KPI_MRR_START, s);
        if (e <= 0) {
            ADD(KZ_KPI_LOGO_CHURNED, 1);
            ADD(KZ_KPI_CHURNED_MRR, s);
        } else if (e < s) {
            ADD(KZ_KPI_CONTRACTION, s - e);
        } else if (e > s) {
            ADD(KZ_KPI_EXPANSION, e - s);
            ADD(KZ_KPI_EXPANDED, 1);
        }
    } else if (e > 0) {
        ADD(KZ_KPI_NEW_ACCOUNTS, 1);
    }
    if (e > 0) {
        ADD(KZ_KPI_ACTIVE_END, 1);
        ADD(KZ_KPI_MRR_END, e);
    }
    double at[2 * MAX_MONTHS];
    mrr_by_month(w, subs, at);
    for (guint i = 0; i < w->n_months; i++) {
        double ms = at[2 * i];
        if (ms <= 0)
            continue;
        double me = at[2 * i + 1];
        w->month_cohort[i] += 1;
        w->month_start[i] += ms;
        w->month_end[i] += me;
        w->month_kept[i] += MIN(ms, me);
    }

    /* renewals due in the period: decided by whether the account pays on the date */
    gint64 due[64];
    guint n_due = has_renewal ? renewal_dates(renewal, contract_start, from, to, due, G_N_ELEMENTS(due)) : 0;
    for (guint i = 0; i < n_due; i++) {
        ADD(KZ_KPI_RENEWALS_DUE, 1);
        if (due[i] > r->as_of_us) {
            ADD(KZ_KPI_RENEWALS_PENDING, 1);
            continue;
        }
        double came_due = mrr_at(subs, due[i] - 1);
        w->all->due_mrr += came_due;
        if (ga != NULL)
            ga->due_mrr += came_due;
        if (mrr_at(subs, due[i]) > 0) {
            ADD(KZ_KPI_RENEWED, 1);
            w->all->renewed_mrr += came_due;
            if (ga != NULL)
                ga->renewed_mrr += came_due;
        } else {
            ADD(KZ_KPI_NOT_RENEWED, 1);
        }
    }

    /* CS-qualified leads: entered the expansion phase in the period; won
     * when the MRR at the end passes the MRR on entering */
    c = &w->cur[CUR_CSQL];
    if (cursor_at(c, id)) {
        gint64 entered = sqlite3_column_int64(c->st, 1);
        ADD(KZ_KPI_CSQLS, 1);
        if (e > mrr_at(subs, entered))
            ADD(KZ_KPI_CSQLS_WON, 1);
    }

    /* onboarding: started = contract start in the period; done = its
     * success within the onboarding phase's due (or by the period's end) */
    c = &w->cur[CUR_ONBOARDED];
    gint64 success = cursor_at(c, id) ? sqlite3_column_int64(c->st, 1) : G_MAXINT64;
    if (contract_start >= from && contract_start < to) {
        ADD(KZ_KPI_ONBOARDING_STARTED, 1);
        gint64 limit = w->onboarding_due > 0 ? MIN(contract_start + w->onboarding_due, to) : to;
        if (success < limit)
            ADD(KZ_KPI_ONBOARDING_DONE, 1);
    }
    if (success >= from && success < to && contract_start != G_MININT64 && success >= contract_start) {
        double days = (double)(success - contract_start) / (double)DAY_US;
        g_array_append_val(w->all->ttv, days);
        if (ga != NULL)
            g_array_append_val(ga->ttv, days);
    }

    /* engagement: the users with events in the last 30 days of the period
     * (MAU) and their user-days (one bit per day; DAU = user-days / 30) */
    g_hash_table_remove_all(w->users);
    const gint64 window = w->r->to_us - 30 * DAY_US;
    for (c = &w->cur[CUR_USAGE]; cursor_at(c, id); cursor_next(c)) {
        const char *user = (const char *)sqlite3_column_text(c->st, 1);
        guint32 day = 1u << (guint)((sqlite3_column_int64(c->st, 2) - window) / DAY_US);
        gpointer days = NULL;
        if (g_hash_table_lookup_extended(w->users, user, NULL, &days))
            g_hash_table_insert(w->users, g_strdup(user), GUINT_TO_POINTER(GPOINTER_TO_UINT(days) | day));
        else
            g_hash_table_insert(w->users, g_strdup(user), GUINT_TO_POINTER(day));
    }
    double mau = g_hash_table_size(w->users), dau_days = 0;
    GHashTableIter ui;
    gpointer days;
    g_hash_table_iter_init(&ui, w->users);
    while (g_hash_table_iter_next(&ui, NULL, &days))
        dau_days += __builtin_popcount(GPOINTER_TO_UINT(days));
    ADD(KZ_KPI_MAU, mau);
    w->all->dau_days += dau_days;
    if (ga != NULL)
        ga->dau_days += dau_days;

    /* voice: NPS and CSAT answers of the period */
    double v[5] = {0}; /* NPS answers, promoters, detractors; CSAT answers, satisfied */
    gboolean answered = FALSE;
    for (c = &w->cur[CUR_SURVEYS]; cursor_at(c, id); cursor_next(c)) {
        double score = sqlite3_column_double(c->st, 2);
        answered = TRUE;
        if (sqlite3_column_int(c->st, 1) == KZ_SURVEY_NPS) {
            v[0] += 1;
            v[1] += score >= 9;
            v[2] += score <= 6;
        } else {
            v[3] += 1;
            v[4] += score >= 4;
        }
    }
    if (answered) {
        ADD(KZ_KPI_NPS_ANSWERS, v[0]);
        ADD(KZ_KPI_CSAT_ANSWERS, v[3]);
        w->all->nps_promoters += v[1];
        w->all->nps_detractors += v[2];
        w->all->csat_good += v[4];
        if (ga != NULL) {
            ga->nps_promoters += v[1];
            ga->nps_detractors += v[2];
            ga->csat_good += v[4];
        }
    }

    /* activity: touches written in the period, by channel and status */
    kz_kpi_row *t_row = row_of(w->tiers, r->by_tier, tier_name);
    kz_kpi_row *c_row = row_of(w->csms, r->by_csm, csm);
    for (c = &w->cur[CUR_TOUCHES]; cursor_at(c, id); cursor_next(c)) {
        const char *channel = (const char *)sqlite3_column_text(c->st, 1);
        const char *status = (const char *)sqlite3_column_text(c->st, 2);
        gboolean delivered = strcmp(status, "delivered") == 0, dead = strcmp(status, "dead") == 0;
        group_acc *targets[2] = {w->all, ga};
        for (int i = 0; i < 2; i++) {
            if (targets[i] == NULL)
                continue;
            kz_kpi_row *ch = row_of(targets[i]->channels, targets[i]->g->touches, channel);
            ch->v[0] += 1;
            ch->v[delivered ? 1 : dead ? 2 : 3] += 1;
        }
        ADD(KZ_KPI_TOUCHES, 1);
        ADD(KZ_KPI_TOUCHES_DELIVERED, delivered);
        t_row->v[0] += 1;
        c_row->v[0] += 1;
        t_row->v[1] += delivered;
        c_row->v[1] += delivered;
    }
    for (c = &w->cur[CUR_TASKS]; cursor_at(c, id); cursor_next(c)) {
        ADD(KZ_KPI_TASKS_DONE, 1);
        t_row->v[2] += 1;
        /* a task counts for the CSM who did it, who may not own the account now */
        const char *doer = (const char *)sqlite3_column_text(c->st, 1);
        row_of(w->csms, r->by_csm, doer != NULL ? doer : "(none)")->v[2] += 1;
    }

    /* feedback: feature requests opened in the period, by tag (the
     * cursor gives a row per tag of each request, a request's together;
     * one with no tag comes as "(untagged)") */
    g_hash_table_remove_all(w->account_tags);
    sqlite3_int64 ticket = -1;
    for (c = &w->cur[CUR_REQUESTS]; cursor_at(c, id); cursor_next(c)) {
        if (sqlite3_column_int64(c->st, 1) != ticket) {
            ticket = sqlite3_column_int64(c->st, 1);
            ADD(KZ_KPI_FEATURE_REQUESTS, 1);
        }
        const char *tag = (const char *)sqlite3_column_text(c->st, 2);
        kz_kpi_row *f = row_of(w->features, r->features, tag != NULL ? tag : "(untagged)");
        f->v[0] += 1;
        if (g_hash_table_add(w->account_tags, f)) {
            double arr_scale = scale_of(&w->m, currency);
            if (isnan(arr_scale))
                return no_rate(&w->m, "account", id, currency, error);
            f->v[1] += 1;
            f->v[2] += (double)sqlite3_column_int64(st, 5) * arr_scale;
        }
    }

    /* health: the grade at the end and at the start, and the move */
    const char *g_end = grade_in(w->roster_end, w->grade_end, w->grade_names_end, &w->roster_end_pos, id);
    const char *g_start = grade_in(w->roster_start, w->grade_start, w->grade_names_start, &w->roster_start_pos, id);
    group_acc *targets[2] = {w->all, ga};
    for (int i = 0; i < 2; i++) {
        if (targets[i] == NULL)
            continue;
        if (g_end != NULL)
            row_of(targets[i]->grades, targets[i]->g->grades_end, g_end)->v[0] += 1;
        if (g_start != NULL)
            row_of(targets[i]->grades, targets[i]->g->grades_end, g_start)->v[1] += 1;
    }
    if (g_end != NULL || g_start != NULL) {
        /* the few (start, end) pairs of grade names, by pointer */
        kz_kpi_row *move = NULL;
        for (guint i = 0; i < w->n_moves && move == NULL; i++)
            if (w->moves[i].start == g_start && w->moves[i].end == g_end)
                move = w->moves[i].row;
        if (move == NULL) {
            g_autofree char *name = g_strdup_printf("%s>%s", g_start ? g_start : "(none)", g_end ? g_end : "(none)");
            move = row_of(w->movement, r->movement, name);
            if (w->n_moves < G_N_ELEMENTS(w->moves))
                w->moves[w->n_moves++] = (move_row){g_start, g_end, move};
        }
        move->v[0] += 1;
    }
    if (phase > 0)
        row_of(w->phases, r->phases, kz_phase_name(phase))->v[0] += 1;

    /* at risk: in the worst grade at the end, the largest by ARR kept */
    if (g_end != NULL && w->grade_names_end[0] != NULL && strcmp(g_end, w->grade_names_end[0]) == 0) {
        double scale = scale_of(&w->m, currency);
        if (isnan(scale))
            return no_rate(&w->m, "account", id, currency, error);
        kz_kpi_at_risk *a = g_new0(kz_kpi_at_risk, 1);
        a->id = g_strdup(id);
        a->name = g_strdup((const char *)sqlite3_column_text(st, 6));
        a->owner = owner != NULL ? g_strdup(owner) : NULL;
        a->grade = g_strdup(g_end);
        a->currency = g_strdup(currency);
        a->arr = (double)sqlite3_column_int64(st, 5) * scale;
        a->score = NAN;
        a->position = w->roster_end_pos; /* where grade_in found it */
        g_ptr_array_add(r->at_risk, a);
    }
    return TRUE;
}

/* ---- health runs -------------------------------------------------------- */

/* The grades of the latest score run as of `as_of` (the as-of at or
 * before it): roster, grade per position, grade names. FALSE (error set)
 * on a broken run; TRUE with *roster NULL when there is none. */
static gboolean load_grades(sqlite3 *db, gint64 as_of, gint64 *run, kz_roster **roster, guint8 **grades, char ***names,
                            GError **error)
{
    sqlite3_stmt *st = NULL;
    *roster = NULL;
    *run = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT r.id, r.roster, r.grades, c.vals FROM score_runs AS r JOIN score_columns AS c ON "
                           "c.run = r.id AND c.scorer = '' AND c.what = 'grade' WHERE r.as_of_us <= ?1 "
                           "ORDER BY r.as_of_us DESC, r.id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "finding the score run");
    sqlite3_bind_int64(st, 1, as_of);
    gboolean ok = TRUE;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *run = sqlite3_column_int64(st, 0);
        *roster = kz_roster_load(db, sqlite3_column_int64(st, 1), error);
        g_autoptr(JsonParser) p = json_parser_new();
        const char *json = (const char *)sqlite3_column_text(st, 2);
        ok = *roster != NULL && json_parser_load_from_data(p, json, -1, NULL) &&
             JSON_NODE_HOLDS_ARRAY(json_parser_get_root(p)) && (gsize)sqlite3_column_bytes(st, 3) == (*roster)->n;
        if (ok) {
            JsonArray *a = json_node_get_array(json_parser_get_root(p));
            *names = g_new0(char *, json_array_get_length(a) + 1);
            for (guint i = 0; i < json_array_get_length(a); i++)
                (*names)[i] = g_strdup(json_array_get_string_element(a, i));
            *grades = g_memdup2(sqlite3_column_blob(st, 3), MAX((*roster)->n, 1));
        } else if (*roster != NULL) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "score run %" G_GINT64_FORMAT " has a broken grade column",
                        *run);
            g_clear_pointer(roster, kz_roster_free);
        }
    }
    sqlite3_finalize(st);
    return ok;
}

/* ---- the report --------------------------------------------------------- */

static void at_risk_free(kz_kpi_at_risk *a)
{
    g_free(a->id);
    g_free(a->name);
    g_free(a->owner);
    g_free(a->grade);
    g_free(a->currency);
    g_free(a->top_measures);
    g_free(a);
}

void kz_kpi_report_free(kz_kpi_report *r)
{
    if (r == NULL)
        return;
    g_free(r->currency);
    group_free(r->all);
    g_ptr_array_unref(r->groups);
    g_ptr_array_unref(r->months);
    g_ptr_array_unref(r->movement);
    g_ptr_array_unref(r->phases);
    g_ptr_array_unref(r->by_tier);
    g_ptr_array_unref(r->by_csm);
    g_ptr_array_unref(r->features);
    g_ptr_array_unref(r->at_risk);
    g_free(r);
}

static int cmp_at_risk(gconstpointer a, gconstpointer b)
{
    const kz_kpi_at_risk *x = *(kz_kpi_at_risk *const *)a, *y = *(kz_kpi_at_risk *const *)b;
    if (x->arr != y->arr)
        return x->arr < y->arr ? 1 : -1;
    return strcmp(x->id, y->id);
}

static int cmp_feature(gconstpointer a, gconstpointer b)
{
    const kz_kpi_row *x = *(kz_kpi_row *const *)a, *y = *(kz_kpi_row *const *)b;
    if (x->v[0] != y->v[0])
        return x->v[0] < y->v[0] ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int cmp_group(gconstpointer a, gconstpointer b)
{
    return strcmp((*(kz_kpi_group *const *)a)->name, (*(kz_kpi_group *const *)b)->name);
}

/* Column `what` of `scorer` in run `run`, as doubles (NULL when absent). */
static double *read_column(sqlite3 *db, gint64 run, const char *scorer, const char *what, gsize *n)
{
    sqlite3_stmt *st = NULL;
    double *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, "SELECT vals FROM score_columns WHERE run = ?1 AND scorer = ?2 AND what = ?3", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run);
        sqlite3_bind_text(st, 2, scorer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, what, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *n = (gsize)sqlite3_column_bytes(st, 0) / 8;
            out = g_new(double, MAX(*n, 1));
            kz_blob_get_doubles(out, sqlite3_column_blob(st, 0), *n);
        }
    }
    sqlite3_finalize(st);
    return out;
}

/* The mean of `scorer`'s contribution column `what` in run `run` over the
 * accounts it scored (an unscored account's contributions are 0); NaN
 * when none. */
static double column_mean(sqlite3 *db, gint64 run, const char *scorer, const char *what)
{
    gsize n = 0, n_scores = 0;
    g_autofree double *vals = read_column(db, run, scorer, what, &n);
    g_autofree double *scores = read_column(db, run, scorer, "score", &n_scores);
    double sum = 0, count = 0;
    for (gsize i = 0; vals != NULL && scores != NULL && i < MIN(n, n_scores); i++)
        if (!isnan(scores[i]) && !isnan(vals[i])) {
            sum += vals[i];
            count++;
        }
    return count > 0 ? sum / count : NAN;
}

typedef struct {
    const char *measure;
    double pull; /* below 0: pulls the account's health below the book's */
} pull;

static int by_pull(gconstpointer a, gconstpointer b)
{
    double x = ((const pull *)a)->pull, y = ((const pull *)b)->pull;
    return (x > y) - (x < y);
}

/* The at-risk accounts' score and what pulls it down, from the run that
 * graded them (the period's end): each measure's contribution less its
 * mean over the book in that run (the other way round for a churn
 * probability's log-odds), the three lowest below 0. For a run stored
 * before the store kept its scorers' outputs, the three largest
 * contributions instead, as `kizuna account` shows them. */
static void explain_at_risk(sqlite3 *db, kz_kpi_report *r)
{
    g_autoptr(GHashTable) means = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (guint i = 0; i < r->at_risk->len; i++) {
        kz_kpi_at_risk *a = r->at_risk->pdata[i];
        g_autoptr(kz_account_health) h = kz_health_account_at(db, r->health_run_end, a->position, NULL);
        if (h == NULL || h->scorers->len == 0)
            continue;
        const kz_account_scorer *s = h->scorers->pdata[0];
        a->score = s->score;
        /* the combined score's contributions, else its first scorer's */
        const kz_account_scorer *by = s;
        if ((by->contributions == NULL || by->contributions->len == 0) && h->scorers->len > 1)
            by = h->scorers->pdata[1];
        GString *top = g_string_new(NULL);
        guint n = by->contributions != NULL ? by->contributions->len : 0;
        if (by->output == 0) {
            for (guint j = 0; j < n && j < 3; j++) {
                const kz_contribution *c = &g_array_index(by->contributions, kz_contribution, j);
                g_string_append_printf(top, "%s%s %.1f", top->len ? ", " : "", c->measure, c->value);
            }
            a->top_measures = g_string_free(top, FALSE);
            continue;
        }
        g_autoptr(GArray) pulls = g_array_new(FALSE, FALSE, sizeof(pull));
        for (guint j = 0; j < n; j++) {
            const kz_contribution *c = &g_array_index(by->contributions, kz_contribution, j);
            g_autofree char *key = g_strdup_printf("%s\n%s", by->scorer, c->measure);
            double *mean = g_hash_table_lookup(means, key);
            if (mean == NULL) {
                g_autofree char *what = g_strconcat("c:", c->measure, NULL);
                mean = g_new(double, 1);
                *mean = column_mean(db, r->health_run_end, by->scorer, what);
                g_hash_table_insert(means, g_steal_pointer(&key), mean);
            }
            double d = by->output == KZ_SCORE_PROBABILITY ? *mean - c->value : c->value - *mean;
            if (!isnan(d) && d < 0)
                g_array_append_val(pulls, ((pull){c->measure, d}));
        }
        g_array_sort(pulls, by_pull);
        for (guint j = 0; j < pulls->len && j < 3; j++) {
            const pull *p = &g_array_index(pulls, pull, j);
            g_string_append_printf(top, "%s%s %.*f", top->len ? ", " : "", p->measure,
                                   by->output == KZ_SCORE_PROBABILITY ? 2 : 1, p->pull);
        }
        a->top_measures = g_string_free(top, FALSE);
    }
}

kz_kpi_report *kz_kpi_compute(sqlite3 *db, const kz_config *cfg, gint64 from_us, gint64 to_us, gint64 as_of_us,
                              kz_kpi_by by, GError **error)
{
    if (to_us <= from_us) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "the period ends before it starts");
        return NULL;
    }
    g_autofree char *currency = report_currency(db, cfg, error);
    if (currency == NULL)
        return NULL;
    kz_kpi_report *r = g_new0(kz_kpi_report, 1);
    r->from_us = from_us;
    r->to_us = to_us;
    r->as_of_us = as_of_us;
    r->by = by;
    r->currency = g_steal_pointer(&currency);
    r->groups = g_ptr_array_new_with_free_func((GDestroyNotify)group_free);
    r->months = g_ptr_array_new_with_free_func((GDestroyNotify)row_free);
    r->movement = g_ptr_array_new_with_free_func((GDestroyNotify)row_free);
    r->phases = g_ptr_array_new_with_free_func((GDestroyNotify)row_free);
    r->by_tier = g_ptr_array_new_with_free_func((GDestroyNotify)row_free);
    r->by_csm = g_ptr_array_new_with_free_func((GDestroyNotify)row_free);
    r->features = g_ptr_array_new_with_free_func((GDestroyNotify)row_free);
    r->at_risk = g_ptr_array_new_with_free_func((GDestroyNotify)at_risk_free);

    walk w = {.db = db, .cfg = cfg, .r = r};
    w.m = (money){cfg, r->currency, g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free)};
    w.groups = g_hash_table_new(g_str_hash, g_str_equal);
    w.all = group_new("all");
    w.tiers = g_hash_table_new(g_str_hash, g_str_equal);
    w.csms = g_hash_table_new(g_str_hash, g_str_equal);
    w.features = g_hash_table_new(g_str_hash, g_str_equal);
    w.movement = g_hash_table_new(g_str_hash, g_str_equal);
    w.phases = g_hash_table_new(g_str_hash, g_str_equal);
    w.users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    w.account_tags = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (guint i = 0; cfg->phases != NULL && i < cfg->phases->len; i++) {
        const kz_config_phase *p = cfg->phases->pdata[i];
        if (p->phase == kz_phase_from_name("onboarding"))
            w.onboarding_due = p->due_us;
    }
    /* the months of the period, each from its first instant (the first
     * from the period's start, the last to its end) */
    g_autoptr(GDateTime) f = g_date_time_new_from_unix_utc(from_us / G_USEC_PER_SEC);
    w.month[0] = from_us;
    for (int k = 1; w.n_months < MAX_MONTHS; k++) {
        gint64 next = month_start(g_date_time_get_year(f), g_date_time_get_month(f), k);
        w.month[++w.n_months] = MIN(next, to_us);
        if (next >= to_us)
            break;
    }
    for (guint i = 0; i < w.n_months; i++) {
        w.month_points[2 * i] = w.month[i];
        w.month_points[2 * i + 1] = w.month[i + 1] - 1;
    }

    gboolean ok = kz_sql_exec(db, "BEGIN", error);
    gboolean in_txn = ok;
    /* a run as of T measured everything before T: the state at the
     * period's end is the run as of its end, at its start the run as of
     * its start */
    ok = ok && load_grades(db, to_us, &r->health_run_end, &w.roster_end, &w.grade_end, &w.grade_names_end, error);
    ok = ok &&
         load_grades(db, from_us, &r->health_run_start, &w.roster_start, &w.grade_start, &w.grade_names_start, error);
    if (ok && w.roster_start != NULL && r->health_run_start == r->health_run_end) {
        /* no run before the period: no start grades to move from */
        g_clear_pointer(&w.roster_start, kz_roster_free);
        r->health_run_start = 0;
    }
    if (ok)
        seed_grades(&w, w.all);
    if (ok)
        ok = (w.owners = kz_owners_read(db, error)) != NULL;
    static const char *const cursor_sql[CUR_N] = {
        /* the subscriptions that run at some instant the walk asks about:
         * from the period's start less 1 us (a renewal due on its first
         * day) to its end (a CS-qualified lead of its last instant) */
        [CUR_SUBS] = "SELECT account_id, period_start_us, period_end_us, mrr_minor, currency, rowid FROM subscriptions "
                     "WHERE status != 1 AND period_start_us <= ?2 AND (period_end_us IS NULL OR period_end_us >= ?1) "
                     "ORDER BY account_id",
        /* counted in C: cheaper than SQL's aggregates over the index */
        [CUR_SURVEYS] = "SELECT account_id, kind, score FROM survey_answers WHERE time_us >= ?1 AND time_us < ?2 "
                        "AND kind IN (1, 2) ORDER BY account_id",
        [CUR_CSQL] = "SELECT account_id, MIN(time_us) FROM state_changes WHERE what = 'phase' AND "
                     "to_value = 'expansion' AND time_us > ?1 AND time_us <= ?2 GROUP BY account_id "
                     "ORDER BY account_id",
        [CUR_ONBOARDED] = "SELECT account_id, MIN(time_us) FROM state_changes WHERE what = 'success' AND "
                          "to_value = 'onboarding' GROUP BY account_id ORDER BY account_id",
        [CUR_TOUCHES] = "SELECT account_id, channel, status FROM touches WHERE created_us >= ?1 AND "
                        "created_us < ?2 ORDER BY account_id",
        [CUR_TASKS] = "SELECT account_id, csm FROM tasks WHERE status = 'done' AND done_us >= ?1 AND done_us < ?2 "
                      "ORDER BY account_id",
        /* one row per tag (a request's rows in a run: the join's inner
         * loop), a NULL tag for a request with none */
        [CUR_REQUESTS] = "SELECT t.account_id, t.rowid, CASE WHEN j.type = 'text' THEN j.value END FROM tickets AS t "
                         "LEFT JOIN json_each(CASE WHEN json_valid(t.tags) THEN t.tags END) AS j WHERE t.kind = 5 AND "
                         "t.opened_us >= ?1 AND t.opened_us < ?2 "
                         "ORDER BY t.account_id",
        /* each account's index range seeks its window: no pass over the
         * events of other times, nothing for an account without any */
        /* merged, not joined: one pass instead of a lookup per account */
        [CUR_STATE] = "SELECT account_id, tier, phase FROM account_state ORDER BY account_id",
        [CUR_USAGE] = "SELECT a.id, u.user_id, u.time_us FROM accounts AS a JOIN usage_events AS u "
                      "ON u.account_id = a.id AND u.time_us >= ?2 - " G_STRINGIFY(
                          KZ_KPI_WINDOW_US) " AND u.time_us "
                                            "< ?2 AND u.user_id IS NOT NULL ORDER BY a.id",
    };
    G_STATIC_ASSERT(KZ_SUBSCRIPTION_TRIALING == 1 && KZ_SURVEY_NPS == 1 && KZ_SURVEY_CSAT == 2 &&
                    KZ_TICKET_FEATURE_REQUEST == 5);
    for (int i = 0; ok && i < CUR_N; i++)
        ok = cursor_open(db, &w.cur[i], cursor_sql[i], from_us, to_us, error);

    /* the cut by a field of the account; by tier from CUR_STATE, by team or owner from w.owners */
    static const char *const group_sql[] = {"NULL", "a.segment", "NULL", "a.region", "NULL", "NULL"};
    g_autofree char *sql =
        g_strdup_printf("SELECT a.id, %s, a.currency, a.contract_start_us, a.renewal_date_us, a.arr_minor, a.name "
                        "FROM accounts AS a ORDER BY a.id",
                        group_sql[by]);
    sqlite3_stmt *st = NULL;
    if (ok && sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        ok = kz_sql_fail(db, error, "reading the accounts");
    if (ok) {
        sqlite3_bind_int64(st, 1, from_us);
        sqlite3_bind_int64(st, 2, to_us);
    }
    g_autoptr(GArray) subs = g_array_new(FALSE, FALSE, sizeof(sub));
    int rc = SQLITE_DONE;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ok = account(&w, st, subs, error);
    if (ok && rc != SQLITE_DONE)
        ok = kz_sql_fail(db, error, "reading the accounts");
    sqlite3_finalize(st);
    /* a table whose read failed half-way would count as empty from there */
    for (int i = 0; ok && i < CUR_N; i++)
        if (w.cur[i].failed != NULL) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "store: %s: %s", cursor_sql[i], w.cur[i].failed);
            ok = FALSE;
        }
    for (int i = 0; i < CUR_N; i++)
        cursor_close(&w.cur[i]);
    if (ok) {
        g_ptr_array_sort(r->at_risk, cmp_at_risk);
        if (r->at_risk->len > 10)
            g_ptr_array_set_size(r->at_risk, 10);
        explain_at_risk(db, r);
    }
    if (in_txn)
        kz_sql_exec(db, "COMMIT", NULL);

    for (guint i = 0; i < w.n_months; i++) {
        g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(w.month[i] / G_USEC_PER_SEC);
        kz_kpi_row *m = row_new(NULL);
        m->name = g_date_time_format(t, "%Y-%m");
        m->v[0] = ratio(w.month_kept[i], w.month_start[i]);
        m->v[1] = ratio(w.month_end[i], w.month_start[i]);
        m->v[2] = w.month_start[i];
        m->v[3] = w.month_cohort[i];
        g_ptr_array_add(r->months, m);
    }
    r->all = group_finish(w.all);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, w.groups);
    while (g_hash_table_iter_next(&it, NULL, &value))
        g_ptr_array_add(r->groups, group_finish(value));
    g_ptr_array_sort(r->groups, cmp_group);
    if (r->health_run_start == 0) /* no run that old: the start is unknown, not 0 */
        for (guint i = 0; i <= r->groups->len; i++) {
            const kz_kpi_group *g = i < r->groups->len ? r->groups->pdata[i] : r->all;
            for (guint j = 0; j < g->grades_end->len; j++)
                ((kz_kpi_row *)g->grades_end->pdata[j])->v[1] = NAN;
        }
    g_ptr_array_sort(r->features, cmp_feature);
    g_ptr_array_sort(r->movement, cmp_row_name);
    g_ptr_array_sort(r->by_tier, cmp_row_name);
    g_ptr_array_sort(r->by_csm, cmp_row_name);

    g_hash_table_unref(w.m.scales);
    g_hash_table_unref(w.groups);
    g_hash_table_unref(w.tiers);
    g_hash_table_unref(w.csms);
    g_hash_table_unref(w.features);
    g_hash_table_unref(w.movement);
    g_hash_table_unref(w.phases);
    g_hash_table_unref(w.users);
    g_hash_table_unref(w.account_tags);
    kz_roster_free(w.roster_end);
    kz_roster_free(w.roster_start);
    kz_owners_free(w.owners);
    g_free(w.grade_end);
    g_free(w.grade_start);
    g_strfreev(w.grade_names_end);
    g_strfreev(w.grade_names_start);
    if (!ok) {
        kz_kpi_report_free(r);
        return NULL;
    }
    return r;
}
