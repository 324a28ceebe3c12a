/*
 * core/kpi/kpi.h — the CS KPIs over a period, for the whole book and by a
 * cut (segment, tier, region, team, CSM). Every formula is in
 * docs/kpis.md; this computes them in one pass over the accounts in id
 * order, merging the other tables' rows by account as it goes, so memory
 * stays bounded by the number of groups, not of accounts.
 */
#ifndef KZ_KPI_H
#define KZ_KPI_H

#include <glib.h>
#include <sqlite3.h>

#include "config.h"

typedef enum {
    KZ_KPI_BY_NONE,
    KZ_KPI_BY_SEGMENT,
    KZ_KPI_BY_TIER,
    KZ_KPI_BY_REGION,
    KZ_KPI_BY_TEAM,
    KZ_KPI_BY_CSM
} kz_kpi_by;

/* "segment" -> KZ_KPI_BY_SEGMENT ...; -1 when not a cut. */
int kz_kpi_by_from_name(const char *name);
const char *kz_kpi_by_name(kz_kpi_by by);

typedef enum { KZ_KPI_COUNT, KZ_KPI_MONEY, KZ_KPI_RATIO, KZ_KPI_DAYS, KZ_KPI_SCORE } kz_kpi_unit;

/* The KPIs, in report order. */
typedef enum {
    KZ_KPI_COHORT,            /* accounts active at the period's start */
    KZ_KPI_LOGO_CHURNED,      /* ... of which have no MRR at its end */
    KZ_KPI_LOGO_CHURN,        /* churned / cohort */
    KZ_KPI_LOGO_RETENTION,    /* 1 - logo churn */
    KZ_KPI_MRR_START,         /* the cohort's MRR at the start */
    KZ_KPI_EXPANSION,         /* its growth, account by account */
    KZ_KPI_CONTRACTION,       /* its shrinking, of accounts still paying */
    KZ_KPI_CHURNED_MRR,       /* the start MRR of the churned accounts */
    KZ_KPI_GRR,               /* (start - contraction - churned) / start */
    KZ_KPI_NRR,               /* (start + expansion - contraction - churned) / start */
    KZ_KPI_NEW_ACCOUNTS,      /* paying at the end, not at the start */
    KZ_KPI_ACTIVE_END,        /* accounts paying at the end */
    KZ_KPI_MRR_END,           /* everyone's MRR at the end */
    KZ_KPI_ARPA,              /* MRR at the end / accounts paying then */
    KZ_KPI_RENEWALS_DUE,      /* renewal dates in the period */
    KZ_KPI_RENEWED,           /* ... still paying on the date */
    KZ_KPI_NOT_RENEWED,       /* ... not paying on the date */
    KZ_KPI_RENEWALS_PENDING,  /* ... whose date is after the as-of */
    KZ_KPI_RENEWAL_RATE,      /* renewed / (renewed + not renewed) */
    KZ_KPI_RENEWAL_RATE_MRR,  /* the same weighted by the MRR that came due */
    KZ_KPI_EXPANDED,          /* cohort accounts whose MRR grew */
    KZ_KPI_UPSELL_RATE,       /* expanded / cohort */
    KZ_KPI_CSQLS,             /* accounts that entered the expansion phase */
    KZ_KPI_CSQLS_WON,         /* ... whose MRR then grew by the end */
    KZ_KPI_EXPANSION_SUCCESS, /* won / CSQLs */
    KZ_KPI_ONBOARDING_STARTED,
    KZ_KPI_ONBOARDING_DONE, /* ... onboarded within the onboarding phase's due */
    KZ_KPI_ONBOARDING_RATE,
    KZ_KPI_TIME_TO_VALUE, /* median days, contract start to onboarding success */
    KZ_KPI_MAU,           /* distinct users in the period's last 30 days */
    KZ_KPI_DAU,           /* distinct users a day, averaged over those days */
    KZ_KPI_STICKINESS,    /* DAU / MAU */
    KZ_KPI_NPS_ANSWERS,
    KZ_KPI_NPS, /* % promoters (9-10) - % detractors (0-6) */
    KZ_KPI_CSAT_ANSWERS,
    KZ_KPI_CSAT,    /* % of answers 4 or 5 */
    KZ_KPI_TOUCHES, /* touches written in the period */
    KZ_KPI_TOUCHES_DELIVERED,
    KZ_KPI_TASKS_DONE,       /* tasks done in the period */
    KZ_KPI_FEATURE_REQUESTS, /* feature-request tickets opened in the period */
    KZ_KPI_N
} kz_kpi;

typedef struct {
    const char *key;   /* JSON and CSV name */
    const char *label; /* for people */
    kz_kpi_unit unit;
    const char *section;
} kz_kpi_info;

const kz_kpi_info *kz_kpi_info_of(kz_kpi k);

/* Counts by name (a channel, a grade, a CSM, a tier) of one group. */
typedef struct {
    char *name;
    double v[4]; /* meaning per table: see kz_kpi_group */
} kz_kpi_row;

typedef struct {
    char *name;            /* the group's value of the cut, "all" for the book */
    double v[KZ_KPI_N];    /* NaN: not defined (nothing to divide by) */
    GPtrArray *grades_end; /* kz_kpi_row*: v[0] accounts in the grade at the end, v[1] at the start */
    GPtrArray *touches;    /* kz_kpi_row* by channel: v[0] written, v[1] delivered, v[2] dead, v[3] waiting */
} kz_kpi_group;

typedef struct {
    gint64 from_us, to_us, as_of_us;
    char *currency; /* money is in this currency's major units */
    kz_kpi_by by;
    kz_kpi_group *all;
    GPtrArray *groups;   /* kz_kpi_group*, by name; empty without a cut */
    GPtrArray *months;   /* kz_kpi_row*: "YYYY-MM", v[0] GRR, v[1] NRR, v[2] start MRR, v[3] cohort */
    GPtrArray *movement; /* kz_kpi_row*: "FROM>TO" grade at the start and at the end, v[0] accounts */
    GPtrArray *phases;   /* kz_kpi_row*: phase, v[0] accounts in it now (the funnel) */
    GPtrArray *by_tier;  /* kz_kpi_row*: tier, v[0] touches written, v[1] delivered, v[2] tasks done */
    GPtrArray *by_csm;   /* kz_kpi_row*: CSM, the same */
    GPtrArray *features; /* kz_kpi_row*: tag, v[0] requests, v[1] accounts, v[2] their ARR */
    GPtrArray *at_risk;  /* kz_kpi_at_risk*, the largest first */
    gint64 health_run_end, health_run_start; /* the score runs read, 0 = none */
} kz_kpi_report;

typedef struct {
    char *id, *name, *owner, *grade, *currency;
    double score, arr;  /* arr in the report currency */
    char *top_measures; /* "nps -30.0, ...": what pulls its score below the book's most (see explain_at_risk) */
    gint64 position;    /* in the roster of the run at the period's end */
} kz_kpi_at_risk;

/* Computes the report over [from_us, to_us) from the store `db`; renewals
 * after as_of_us are pending. NULL (error set) when the data cannot be
 * reported: money in a currency without a rate, a period that ends before
 * it starts. */
kz_kpi_report *kz_kpi_compute(sqlite3 *db, const kz_config *cfg, gint64 from_us, gint64 to_us, gint64 as_of_us,
                              kz_kpi_by by, GError **error);
void kz_kpi_report_free(kz_kpi_report *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_kpi_report, kz_kpi_report_free)

/* Parses "2026-Q3", "2026-07" or "2026" into [from, to). */
gboolean kz_kpi_parse_period(const char *text, gint64 *from_us, gint64 *to_us);

#endif
