/*
 * sdk/examples/demo/gen_demo.c — writes the demo company: Nimbus Boards, a
 * fictional work-management SaaS, with a year of its customers' history as
 * the exports of its CRM, billing, product analytics, helpdesk, survey tool
 * and HR system, plus the stack config that reads them (docs/demo.md).
 *
 *   kz_gen_demo [--accounts N] [--seed S] [--end YYYY-MM-DD] [--template FILE] OUTDIR
 *
 * OUTDIR/kizuna.xml            a copy of FILE (default: sdk/examples/demo/kizuna.xml)
 * OUTDIR/data/accounts.csv     CRM: one row per account, its state at --end
 * OUTDIR/data/contacts.csv     CRM: 2 to 6 contacts per account, with roles
 * OUTDIR/data/subscriptions.csv billing: one row per plan/seat period
 * OUTDIR/data/usage.csv        product analytics: weekly rollups per account
 * OUTDIR/data/tickets.xml      helpdesk export
 * OUTDIR/data/surveys.csv      NPS waves and CSAT after tickets
 * OUTDIR/data/csms.csv         HR: the CS team, staffed to the book
 *
 * The model. Each account has a latent engagement e in [0, 1] per week,
 * following a trajectory (stable, growing, declining, a shock such as the
 * champion leaving, or an onboarding ramp that may stall). Weekly usage
 * (active users, seat utilization, the features used) follows e; so do
 * tickets (more and hotter when e is low) and NPS answers. At each monthly
 * (Starter) or annual (other plans) renewal point the account cancels with
 * a probability that rises with low and falling engagement, hot and open
 * tickets and a low NPS; otherwise it may expand or contract. A cancelled
 * account's usage, tickets and answers stop.
 *
 * Determinism: the same arguments give byte-identical files. Randomness is
 * splitmix64 (bench/gen_common.h), reseeded per account from the seed and
 * the account number, so account N is the same company whatever --accounts
 * is. No rand(), no clock, no locale; exponentials are computed here from
 * + - * / only, so no libm difference can change an output.
 *
 * Memory is bounded: accounts are simulated one at a time and every file is
 * written as it goes, so 100,000 accounts take the same memory as 2,000.
 * Exits 0 on success, 1 when it cannot write, 2 on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GEN_NAME     "kz_gen_demo"
#define GEN_RNG_SEED 0x4E494D4255535ull /* reseeded per account below */
#define GEN_ROW_MAX  4096               /* the longest row (a ticket record) is well under this */
#include "gen_common.h"

#ifndef KZ_DEMO_TEMPLATE
#define KZ_DEMO_TEMPLATE "sdk/examples/demo/kizuna.xml"
#endif

#define DEFAULT_ACCOUNTS 2000
#define DEFAULT_SEED     20261031ull
#define DEFAULT_END      "2026-10-31"
#define MAX_ACCOUNTS     999999 /* ACC-NNNNNN */
#define WEEKS            52     /* the history: 52 weeks ending on --end */
#define MAX_OPEN         128    /* open tickets followed per account */

/* ---- deterministic arithmetic ------------------------------------------------- */

/* e^x from + - * / and exact scaling (floor, ldexp), the same on every libm */
static double det_exp(double x)
{
    if (x < -700)
        return 0;
    if (x > 700)
        x = 700;
    double k = floor(x * 1.4426950408889634 + 0.5);
    double r = x - k * 0.6931471803691238 - k * 1.9082149292705877e-10;
    double term = 1, sum = 1;
    for (int n = 1; n <= 14; n++) {
        term *= r / n;
        sum += term;
    }
    return ldexp(sum, (int)k);
}

static double sigmoid(double x)
{
    return 1 / (1 + det_exp(-x));
}

/* about normal, mean 0 and standard deviation 1 (Irwin-Hall of 3). Every
 * draw is its own statement here and below: the order in which C evaluates
 * the operands of + or the arguments of a call is unspecified, and
 * compilers differ, so two draws in one expression would make the output
 * depend on the compiler. */
static double rng_noise(void)
{
    double sum = rng_unit();
    sum += rng_unit();
    sum += rng_unit();
    return (sum - 1.5) * 2;
}

static int rng_chance(double p)
{
    return rng_unit() < p;
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Poisson with a small mean, by inversion */
static int rng_poisson(double mean)
{
    double limit = det_exp(-mean), p = rng_unit();
    int k = 0;
    while (p > limit && k < 50) {
        p *= rng_unit();
        k++;
    }
    return k;
}

static unsigned pick(const unsigned *weights, unsigned n)
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

#define COUNT(a)     (sizeof(a) / sizeof((a)[0]))
#define PICK_FROM(a) ((a)[rng_below((uint32_t)COUNT(a))])

/* a 64-bit mixer (murmur3's finalizer) for seeding one stream per account */
static uint64_t mix64(uint64_t z)
{
    z ^= z >> 33;
    z *= 0xFF51AFD7ED558CCDull;
    z ^= z >> 33;
    z *= 0xC4CEB9FE1A85EC53ull;
    return z ^ (z >> 33);
}

/* ---- days ---------------------------------------------------------------------- */

/* `months` months after `day`, the day of month clamped (Jan 31 + 1 = Feb 28) */
static int64_t add_months(int64_t day, int64_t months)
{
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);
    int64_t total = y * 12 + (m - 1) + months;
    y = total / 12;
    m = (int)(total % 12) + 1;
    if (d > days_in_month(y, m))
        d = days_in_month(y, m);
    return days_from_civil(y, m, d);
}

/* "YYYY-MM-DDTHH:MM:00Z" for a day and a minute of it */
static char *put_time(char *p, int64_t day, int minute)
{
    p = put_date(p, day);
    *p++ = 'T';
    p = put_padded(p, (uint64_t)(minute / 60), 2);
    *p++ = ':';
    p = put_padded(p, (uint64_t)(minute % 60), 2);
    return put_str(p, ":00Z");
}

/* YYYY-MM-DD with a real date into *days; 0 when s is not one */
static int parse_date(const char *s, int64_t *days)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1980 || y > 2200 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return 0;
    *days = days_from_civil(y, m, d);
    return 1;
}

/* ---- text output ----------------------------------------------------------------- */

/* a CSV field, quoted when it holds a comma, a quote or a line end */
static char *put_csv(char *p, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL)
        return put_str(p, s);
    *p++ = '"';
    for (; *s != '\0'; s++) {
        if (*s == '"')
            *p++ = '"';
        *p++ = *s;
    }
    *p++ = '"';
    return p;
}

/* XML character data or an attribute value, escaped */
static char *put_xml(char *p, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&': p = put_str(p, "&amp;"); break;
        case '<': p = put_str(p, "&lt;"); break;
        case '>': p = put_str(p, "&gt;"); break;
        case '"': p = put_str(p, "&quot;"); break;
        default: *p++ = *s;
        }
    }
    return p;
}

/* an amount of minor units in the major units of a currency with `decimals` */
static char *put_money(char *p, int64_t minor, int decimals)
{
    if (decimals == 0)
        return put_uint(p, (uint64_t)minor);
    p = put_uint(p, (uint64_t)(minor / 100));
    *p++ = '.';
    return put_padded(p, (uint64_t)(minor % 100), 2);
}

/* tenths as a decimal: 438 -> "43.8", 0 -> "0" */
static char *put_tenths(char *p, unsigned tenths)
{
    p = put_uint(p, tenths / 10);
    if (tenths % 10 != 0) {
        *p++ = '.';
        *p++ = (char)('0' + tenths % 10);
    }
    return p;
}

/* the account id: ACC-000042 */
static char *put_account(char *p, uint32_t n)
{
    p = put_str(p, "ACC-");
    return put_padded(p, n, 6);
}

static void out_text(out_file *o, const char *s)
{
    char *p = out_reserve(o);
    char *end = put_str(p, s);
    o->len += (size_t)(end - p);
}

/* ---- the company's world ------------------------------------------------------- */

enum { R_NA, R_EMEA, R_APAC, R_LATAM, N_REGIONS };
static const char *const region_ids[N_REGIONS] = {"na", "emea", "apac", "latam"};

enum { CUR_USD, CUR_EUR, CUR_GBP, CUR_JPY };
static const struct {
    const char *code;
    int decimals;
    double usd_per_minor;  /* for the segment, which the CRM keeps in USD */
    int64_t seat_price[4]; /* list price per seat and month, minor units, by plan */
} currencies[] = {
    {"USD", 2, 0.01, {800, 1600, 3200, 4800}},
    {"EUR", 2, 0.0108, {800, 1600, 3200, 4800}},
    {"GBP", 2, 0.0127, {700, 1400, 2800, 4200}},
    {"JPY", 0, 1.0 / 150, {1200, 2400, 4800, 7200}},
};

/* name pools: Latin America and North America share one */
enum { POOL_AMERICAS, POOL_EUROPE, POOL_JAPAN, POOL_ASIA };

static const struct {
    const char *code, *dial; /* ISO 3166 code, calling code */
    int region;
    unsigned weight;
    int currency;
    int pool;
    const char *legal[3]; /* company suffixes */
} countries[] = {
    {"US", "+1", R_NA, 32, CUR_USD, POOL_AMERICAS, {"Inc.", "LLC", "Corp."}},
    {"CA", "+1", R_NA, 6, CUR_USD, POOL_AMERICAS, {"Inc.", "Ltd.", "Inc."}},
    {"DE", "+49", R_EMEA, 9, CUR_EUR, POOL_EUROPE, {"GmbH", "AG", "GmbH"}},
    {"FR", "+33", R_EMEA, 6, CUR_EUR, POOL_EUROPE, {"SAS", "SA", "SARL"}},
    {"GB", "+44", R_EMEA, 7, CUR_GBP, POOL_EUROPE, {"Ltd", "PLC", "Ltd"}},
    {"NL", "+31", R_EMEA, 3, CUR_EUR, POOL_EUROPE, {"B.V.", "B.V.", "N.V."}},
    {"SE", "+46", R_EMEA, 2, CUR_EUR, POOL_EUROPE, {"AB", "AB", "AB"}},
    {"ES", "+34", R_EMEA, 2, CUR_EUR, POOL_EUROPE, {"S.L.", "S.A.", "S.L."}},
    {"IT", "+39", R_EMEA, 2, CUR_EUR, POOL_EUROPE, {"S.r.l.", "S.p.A.", "S.r.l."}},
    {"PL", "+48", R_EMEA, 1, CUR_EUR, POOL_EUROPE, {"sp. z o.o.", "S.A.", "sp. z o.o."}},
    {"JP", "+81", R_APAC, 9, CUR_JPY, POOL_JAPAN, {"K.K.", "G.K.", "K.K."}},
    {"AU", "+61", R_APAC, 4, CUR_USD, POOL_ASIA, {"Pty Ltd", "Pty Ltd", "Ltd"}},
    {"SG", "+65", R_APAC, 3, CUR_USD, POOL_ASIA, {"Pte. Ltd.", "Pte. Ltd.", "Ltd."}},
    {"KR", "+82", R_APAC, 2, CUR_USD, POOL_ASIA, {"Co., Ltd.", "Co., Ltd.", "Inc."}},
    {"IN", "+91", R_APAC, 2, CUR_USD, POOL_ASIA, {"Pvt. Ltd.", "Pvt. Ltd.", "Ltd."}},
    {"BR", "+55", R_LATAM, 4, CUR_USD, POOL_AMERICAS, {"Ltda.", "S.A.", "Ltda."}},
    {"MX", "+52", R_LATAM, 3, CUR_USD, POOL_AMERICAS, {"S.A. de C.V.", "S. de R.L.", "S.A. de C.V."}},
    {"AR", "+54", R_LATAM, 1, CUR_USD, POOL_AMERICAS, {"S.A.", "S.R.L.", "S.A."}},
    {"CL", "+56", R_LATAM, 1, CUR_USD, POOL_AMERICAS, {"SpA", "S.A.", "SpA"}},
    {"CO", "+57", R_LATAM, 1, CUR_USD, POOL_AMERICAS, {"S.A.S.", "S.A.", "S.A.S."}},
};
#define N_COUNTRIES COUNT(countries)

/* a word as shown, and as it goes into e-mail addresses and domains */
typedef struct {
    const char *text, *ascii;
} word;

static const word given_names[][20] = {
    [POOL_AMERICAS] = {{"James", "james"},         {"María", "maria"},     {"José", "jose"},     {"Emily", "emily"},
                       {"Michael", "michael"},     {"Sofía", "sofia"},     {"Lucas", "lucas"},   {"Ana", "ana"},
                       {"Chloé", "chloe"},         {"Noah", "noah"},       {"Olivia", "olivia"}, {"Mateo", "mateo"},
                       {"Camila", "camila"},       {"Ethan", "ethan"},     {"Zoë", "zoe"},       {"Liam", "liam"},
                       {"Valentina", "valentina"}, {"Gabriel", "gabriel"}, {"João", "joao"},     {"Daniel", "daniel"}},
    [POOL_EUROPE] = {{"Lukas", "lukas"},         {"Émilie", "emilie"}, {"Søren", "soren"},   {"Anna", "anna"},
                     {"Łukasz", "lukasz"},       {"Inès", "ines"},     {"Matteo", "matteo"}, {"Freya", "freya"},
                     {"Jürgen", "jurgen"},       {"Oskar", "oskar"},   {"Amélie", "amelie"}, {"Björn", "bjorn"},
                     {"Elif", "elif"},           {"Sara", "sara"},     {"Jan", "jan"},       {"Ólafur", "olafur"},
                     {"Charlotte", "charlotte"}, {"Hugo", "hugo"},     {"Zoë", "zoe"},       {"Niamh", "niamh"}},
    [POOL_JAPAN] = {{"花子", "hanako"}, {"健太", "kenta"}, {"美咲", "misaki"}, {"翔", "sho"},        {"陽菜", "hina"},
                    {"大輝", "daiki"},  {"結衣", "yui"},   {"蓮", "ren"},      {"さくら", "sakura"}, {"拓海", "takumi"},
                    {"葵", "aoi"},      {"悠真", "yuma"},  {"愛子", "aiko"},   {"誠", "makoto"},     {"由美", "yumi"},
                    {"直樹", "naoki"},  {"恵", "megumi"},  {"浩", "hiroshi"},  {"真央", "mao"},      {"亮", "ryo"}},
    [POOL_ASIA] = {{"Priya", "priya"}, {"Arjun", "arjun"},      {"Wei", "wei"},         {"Mei", "mei"},
                   {"Jack", "jack"},   {"Chloe", "chloe"},      {"Min-jun", "minjun"},  {"Ji-woo", "jiwoo"},
                   {"Aarav", "aarav"}, {"Siti", "siti"},        {"Olivia", "olivia"},   {"Ravi", "ravi"},
                   {"Hana", "hana"},   {"Seo-yeon", "seoyeon"}, {"Lachlan", "lachlan"}, {"Ananya", "ananya"},
                   {"Jun", "jun"},     {"Li Na", "lina"},       {"Tom", "tom"},         {"Isla", "isla"}},
};
static const word family_names[][20] = {
    [POOL_AMERICAS] =
        {{"Smith", "smith"}, {"Johnson", "johnson"},   {"García", "garcia"},       {"Martínez", "martinez"},
         {"Brown", "brown"}, {"Nguyễn", "nguyen"},     {"Patel", "patel"},         {"O'Brien", "obrien"},
         {"Silva", "silva"}, {"Santos", "santos"},     {"Hernández", "hernandez"}, {"Rodríguez", "rodriguez"},
         {"Lee", "lee"},     {"Williams", "williams"}, {"Pérez", "perez"},         {"Gómez", "gomez"},
         {"Kim", "kim"},     {"Walker", "walker"},     {"Costa", "costa"},         {"Muñoz", "munoz"}},
    [POOL_EUROPE] = {{"Müller", "mueller"},      {"Schmidt", "schmidt"},     {"Dubois", "dubois"},
                     {"Jensen", "jensen"},       {"Kowalski", "kowalski"},   {"Rossi", "rossi"},
                     {"Andersson", "andersson"}, {"Fernández", "fernandez"}, {"Öztürk", "ozturk"},
                     {"Nowak", "nowak"},         {"Janssen", "janssen"},     {"Bernard", "bernard"},
                     {"Fischer", "fischer"},     {"Lefèvre", "lefevre"},     {"Nielsen", "nielsen"},
                     {"Ferrari", "ferrari"},     {"Wójcik", "wojcik"},       {"de Vries", "devries"},
                     {"Yılmaz", "yilmaz"},       {"O'Connor", "oconnor"}},
    [POOL_JAPAN] = {{"佐藤", "sato"},      {"鈴木", "suzuki"},    {"高橋", "takahashi"}, {"田中", "tanaka"},
                    {"伊藤", "ito"},       {"渡辺", "watanabe"},  {"山本", "yamamoto"},  {"中村", "nakamura"},
                    {"小林", "kobayashi"}, {"加藤", "kato"},      {"吉田", "yoshida"},   {"山田", "yamada"},
                    {"佐々木", "sasaki"},  {"山口", "yamaguchi"}, {"松本", "matsumoto"}, {"井上", "inoue"},
                    {"木村", "kimura"},    {"林", "hayashi"},     {"清水", "shimizu"},   {"森", "mori"}},
    [POOL_ASIA] = {{"Tan", "tan"},   {"Lim", "lim"},     {"Wong", "wong"}, {"Sharma", "sharma"}, {"Singh", "singh"},
                   {"Kim", "kim"},   {"Park", "park"},   {"Chen", "chen"}, {"Nguyen", "nguyen"}, {"Taylor", "taylor"},
                   {"Iyer", "iyer"}, {"Lee", "lee"},     {"Choi", "choi"}, {"Wilson", "wilson"}, {"Gupta", "gupta"},
                   {"Ng", "ng"},     {"Zhang", "zhang"}, {"Kaur", "kaur"}, {"Cho", "cho"},       {"Murphy", "murphy"}},
};

/* a person's name in the order of their language: family name first in Japanese */
static char *put_person(char *p, int pool, const word *given, const word *family)
{
    p = put_str(p, pool == POOL_JAPAN ? family->text : given->text);
    *p++ = ' ';
    return put_str(p, pool == POOL_JAPAN ? given->text : family->text);
}

static const word company_first[] = {
    {"Northwind", "northwind"}, {"Bluebird", "bluebird"}, {"Cobalt", "cobalt"},         {"Aurora", "aurora"},
    {"Summit", "summit"},       {"Harbor", "harbor"},     {"Maple", "maple"},           {"Evergreen", "evergreen"},
    {"Nordlicht", "nordlicht"}, {"Solaris", "solaris"},   {"Kestrel", "kestrel"},       {"Juniper", "juniper"},
    {"Meridian", "meridian"},   {"Atlas", "atlas"},       {"Pinnacle", "pinnacle"},     {"Riverstone", "riverstone"},
    {"Øresund", "oresund"},     {"Élan", "elan"},         {"Brücke", "bruecke"},        {"Café Lumière", "cafelumiere"},
    {"Tidewater", "tidewater"}, {"Granite", "granite"},   {"Lighthouse", "lighthouse"}, {"Copperleaf", "copperleaf"},
    {"Helios", "helios"},       {"Vega", "vega"},         {"Sierra", "sierra"},         {"Quill", "quill"},
};
static const word company_second[] = {
    {"Logistics", "logistics"},
    {"Analytics", "analytics"},
    {"Health", "health"},
    {"Foods", "foods"},
    {"Robotics", "robotics"},
    {"Media", "media"},
    {"Finance", "finance"},
    {"Energy", "energy"},
    {"Retail", "retail"},
    {"Software", "software"},
    {"Travel", "travel"},
    {"Systems", "systems"},
    {"Labs", "labs"},
    {"Dynamics", "dynamics"},
    {"Studio", "studio"},
    {"Works", "works"},
    {"Consulting", "consulting"},
    {"Architects", "architects"},
    {"Bau", "bau"},
    {"Technik", "technik"},
};
static const word japan_first[] = {{"さくら", "sakura"}, {"ひかり", "hikari"}, {"富士", "fuji"},
                                   {"青空", "aozora"},   {"大和", "yamato"},   {"みどり", "midori"}};
static const word japan_second[] = {{"物流", "butsuryu"}, {"製作所", "seisakusho"},  {"ソフト", "soft"},
                                    {"商事", "shoji"},    {"システムズ", "systems"}, {"フーズ", "foods"}};

static const char *const industries[] = {
    "Software",           "Retail",    "Manufacturing", "Healthcare",    "Logistics",
    "Financial Services", "Education", "Media",         "Public Sector", "Hospitality"};

/* plans: seats log-uniform from seats_lo to seats_lo * e^seats_span */
enum { PLAN_STARTER, PLAN_TEAM, PLAN_BUSINESS, PLAN_ENTERPRISE, N_PLANS };
static const struct {
    const char *name;
    unsigned weight;
    int seats_lo, seats_hi;
    double seats_span;         /* ln(seats_hi / seats_lo) */
    double adopt_lo, adopt_hi; /* share of the seats an engaged account uses */
    double ticket_size;        /* relative ticket volume */
    double max_discount;       /* enterprise deals are discounted */
    double churn_bias;         /* small plans leave more easily */
} plans[N_PLANS] = {
    {"Starter", 40, 2, 15, 2.0149030205, 0.75, 1.00, 0.6, 0.00, 0.35},
    {"Team", 33, 8, 60, 2.0149030205, 0.60, 0.90, 0.9, 0.00, 0.00},
    {"Business", 21, 25, 300, 2.4849066498, 0.45, 0.80, 1.4, 0.15, -0.25},
    {"Enterprise", 6, 150, 2500, 2.8134107168, 0.35, 0.70, 2.4, 0.35, -0.60},
};

/* features of the product: used in a week when engagement clears the bar */
static const struct {
    const char *name;
    double bar;
    int min_plan;
} features[] = {
    {"boards", 0.04, PLAN_STARTER},      {"reports", 0.30, PLAN_STARTER},      {"dashboards", 0.42, PLAN_STARTER},
    {"automations", 0.52, PLAN_STARTER}, {"integrations", 0.62, PLAN_STARTER}, {"api", 0.70, PLAN_BUSINESS},
};
#define N_FEATURES COUNT(features)

enum { SEG_SMB, SEG_MID, SEG_ENT };
static const char *const segments[] = {"smb", "mid-market", "enterprise"};

/* tickets */
enum { K_QUESTION, K_INCIDENT, K_PROBLEM, K_TASK, K_FEATURE, N_KINDS };
static const char *const kind_names[N_KINDS] = {"Question", "Incident", "Problem", "Task", "Feature Request"};
enum { P_LOW, P_NORMAL, P_HIGH, P_URGENT };
static const char *const priority_names[] = {"Low", "Medium", "High", "Urgent"};
static const unsigned priority_weights[N_KINDS][4] = {
    {35, 55, 9, 1}, {5, 40, 38, 17}, {8, 47, 35, 10}, {30, 62, 8, 0}, {70, 30, 0, 0},
};
static const int resolve_hours[] = {96, 40, 20, 6}; /* typical, by priority */
static const char *const subjects[N_KINDS][6] = {
    {"How do I share a board with a guest?", "Export to CSV: column order?", "SSO setup question",
     "Where did our archived boards go?", "Can we change the workspace owner?", "Permissions for contractors"},
    {"Dashboards not loading", "Login fails with SSO", "Slack sync stopped", "API returns 502 errors",
     "Notifications delayed by hours", "Mobile app crashes on start"},
    {"Large reports time out", "Automations run twice", "Numbers differ between reports & dashboards",
     "Recurring sync conflicts", "Search misses recent items", "Slow boards with > 5,000 cards"},
    {"Please add 10 seats", "Update our billing contact", "Change invoice address", "Remove a departed admin",
     "Enable SSO for a second domain", "Renewal quote, please"},
    {"Gantt view for boards", "Dark mode", "Custom fields in reports", "日本語のPDFエクスポート",
     "Export <table> views as Excel", "Hardware keys for 2FA"},
};
static const char *const tags[N_KINDS][3] = {
    {"how-to", "how-to,sharing", "sso,how-to"},
    {"outage", "sso,login", "integrations,slack"},
    {"performance", "automations,bug", "reports,bug"},
    {"billing", "billing,seats", "admin"},
    {"feature-request", "feature-request,reports", "feature-request,security"},
};

static const char *const nps_comments[3][4] = {
    {"Too many outages lately.", "We barely use it since our champion left.",
     "Support takes days to answer, \"urgent\" means nothing.", "Hard to onboard new staff,\nthe UI is confusing."},
    {"Good, but reports could be faster.", "Solid product; pricing is a bit high.",
     "Würde mir mehr Integrationen wünschen.", "OK for boards, we do not use much else."},
    {"Love the automations: saves us hours every week.", "Great support team, thank you!", "素晴らしいツールです。",
     "Très pratique pour toute l'équipe."},
};

/* ---- the simulation of one account ----------------------------------------------- */

enum { TRAJ_STABLE, TRAJ_GROWING, TRAJ_DECLINING, TRAJ_SHOCK };

typedef struct {
    int64_t opened, closed; /* days; closed > end: still open at the end */
    int hot;
} open_ticket;

typedef struct {
    out_file accounts, contacts, subscriptions, usage, tickets, surveys, csms;
    int64_t start_day, end_day; /* the history: the 52 weeks from start_day to end_day */
    uint64_t seed;
    uint32_t n_accounts;
    uint64_t next_ticket;
    /* what was written, for the summary */
    uint64_t n_contacts, n_subscriptions, n_usage, n_tickets, n_surveys, n_cancelled, n_csms;
    /* the book at the end, for staffing: live accounts by region and tier */
    uint32_t live[N_REGIONS][3];
} world;

typedef struct {
    uint32_t n;
    int country, region, currency, industry, plan, seats, segment;
    double discount, adopt;
    int64_t contract_start, renewal, cancelled_on;
    /* engagement */
    int trajectory, is_new, stalled;
    double base, slope, ramp, shock, noise, e;
    int turn_week;
    int uses_feature[N_FEATURES];
    double history[WEEKS]; /* e by week */
    double utilization[WEEKS];
    int hot_by_week[WEEKS];
    int nps_last;
    int n_answers;
    open_ticket open[MAX_OPEN];
    int n_open;
    /* the running subscription */
    int sub_no, sub_plan, sub_seats;
    int64_t sub_start, sub_mrr;
    int past_due;
    /* contacts: 0 admin, 1 champion, 2 billing, then others */
    int n_contacts;
    char domain[64];
} account;

static int64_t account_mrr(const account *a, int plan, int seats)
{
    double list = (double)currencies[a->currency].seat_price[plan] * seats;
    double mrr = list * (1 - a->discount);
    if (currencies[a->currency].decimals == 0)
        return (int64_t)(mrr / 10 + 0.5) * 10; /* whole tens of yen */
    return (int64_t)(mrr + 0.5);
}

static int segment_of(const account *a)
{
    double arr_usd = (double)a->sub_mrr * 12 * currencies[a->currency].usd_per_minor;
    return arr_usd >= 75000 ? SEG_ENT : arr_usd >= 8000 ? SEG_MID : SEG_SMB;
}

static void write_subscription(world *w, account *a, int64_t end, const char *status)
{
    out_file *o = &w->subscriptions;
    char *p = out_reserve(o), *s = p;
    p = put_str(p, "SUB-");
    p = put_padded(p, a->n, 6);
    *p++ = '-';
    p = put_uint(p, (uint64_t)a->sub_no);
    *p++ = ',';
    p = put_account(p, a->n);
    *p++ = ',';
    p = put_str(p, plans[a->sub_plan].name);
    *p++ = ',';
    p = put_uint(p, (uint64_t)a->sub_seats);
    *p++ = ',';
    p = put_money(p, a->sub_mrr, currencies[a->currency].decimals);
    *p++ = ',';
    p = put_str(p, currencies[a->currency].code);
    *p++ = ',';
    p = put_date(p, a->sub_start);
    *p++ = ',';
    if (end >= 0)
        p = put_date(p, end);
    *p++ = ',';
    p = put_str(p, status);
    *p++ = '\n';
    o->len += (size_t)(p - s);
    w->n_subscriptions++;
}

/* The plan or seats change on `day`: the running subscription ends there
 * and a new one starts. */
static void change_subscription(world *w, account *a, int64_t day, int plan, int seats)
{
    if (plan == a->sub_plan && seats == a->sub_seats)
        return;
    if (day > a->sub_start)
        write_subscription(w, a, day, "ended");
    a->sub_no++;
    a->sub_plan = a->plan = plan;
    a->sub_seats = a->seats = seats;
    a->sub_start = day;
    a->sub_mrr = account_mrr(a, plan, seats);
}

static void write_contacts(world *w, account *a)
{
    static const char *const roles[] = {"admin", "champion", "billing", "executive", "user", "user"};
    const int pool = countries[a->country].pool;
    a->n_contacts = 2 + (a->seats > 10) + (a->seats > 60) + (a->seats > 200) + (int)rng_below(2);
    for (int c = 0; c < a->n_contacts; c++) {
        const word *given = &given_names[pool][rng_below(20)];
        const word *family = &family_names[pool][rng_below(20)];
        out_file *o = &w->contacts;
        char *p = out_reserve(o), *s = p;
        p = put_str(p, "C-");
        p = put_padded(p, a->n, 6);
        *p++ = '-';
        p = put_uint(p, (uint64_t)c + 1);
        *p++ = ',';
        p = put_account(p, a->n);
        *p++ = ',';
        p = put_person(p, pool, given, family);
        *p++ = ',';
        p = put_str(p, given->ascii);
        *p++ = '.';
        p = put_str(p, family->ascii);
        *p++ = '@';
        p = put_str(p, a->domain);
        *p++ = ',';
        p = put_str(p, roles[c < 6 ? c : 5]);
        *p++ = ',';
        if (rng_chance(0.6)) {
            p = put_str(p, countries[a->country].dial);
            p = put_str(p, " 555 ");
            p = put_padded(p, rng_below(10000), 4);
        }
        *p++ = '\n';
        o->len += (size_t)(p - s);
        w->n_contacts++;
    }
}

/* The account's name (into `name`) and its e-mail domain. */
static void make_company(account *a, char *name, size_t cap)
{
    const int pool = countries[a->country].pool;
    const char *legal = countries[a->country].legal[rng_below(3)];
    if (pool == POOL_JAPAN && rng_chance(0.5)) {
        const word *f = &PICK_FROM(japan_first), *s = &PICK_FROM(japan_second);
        snprintf(name, cap, "%s%s株式会社", f->text, s->text);
        snprintf(a->domain, sizeof a->domain, "%s-%s.example", f->ascii, s->ascii);
    } else if (rng_chance(0.04)) {
        /* a partnership: "Schmidt, Rossi & Partners" (a comma for the CSV) */
        const word *f1 = &family_names[pool][rng_below(20)], *f2 = &family_names[pool][rng_below(20)];
        snprintf(name, cap, "%s, %s & Partners", f1->text, f2->text);
        snprintf(a->domain, sizeof a->domain, "%s-%s.example", f1->ascii, f2->ascii);
    } else {
        const word *f = &PICK_FROM(company_first), *s = &PICK_FROM(company_second);
        snprintf(name, cap, "%s %s %s", f->text, s->text, legal);
        snprintf(a->domain, sizeof a->domain, "%s-%s.example", f->ascii, s->ascii);
    }
}

/* Latent engagement in week `wk`. */
static double engagement(account *a, int wk, int64_t week_end)
{
    double level = a->base;
    switch (a->trajectory) {
    case TRAJ_GROWING: level += a->slope * wk; break;
    case TRAJ_DECLINING:
        if (wk > a->turn_week)
            level -= a->slope * (wk - a->turn_week);
        break;
    case TRAJ_SHOCK:
        if (wk >= a->turn_week)
            level -= a->shock - a->slope * (wk - a->turn_week);
        break;
    default: break;
    }
    if (a->is_new) {
        double weeks_in = (double)(week_end - a->contract_start) / 7.0 + 1;
        double ramp = 1 - det_exp(-a->ramp * weeks_in);
        level *= ramp;
    }
    a->noise = 0.7 * a->noise + 0.05 * rng_noise();
    return clamp(level + a->noise, 0.0, 1.0);
}

static double mean_history(const double *h, int from, int to)
{
    double sum = 0;
    int n = 0;
    for (int i = from < 0 ? 0 : from; i <= to; i++)
        if (h[i] >= 0) {
            sum += h[i];
            n++;
        }
    return n > 0 ? sum / n : -1;
}

static int open_tickets_at(const account *a, int64_t day, int *hot)
{
    int open = 0;
    *hot = 0;
    for (int i = 0; i < a->n_open; i++)
        if (a->open[i].opened <= day && a->open[i].closed > day) {
            open++;
            *hot += a->open[i].hot;
        }
    return open;
}

/* The churn risk at a renewal point, as log-odds. */
static double churn_logit(const account *a, int wk, int64_t day)
{
    double now = mean_history(a->history, wk - 3, wk);
    double before = mean_history(a->history, wk - 15, wk - 11);
    if (now < 0)
        now = a->base;
    double decline = before >= 0 && before > now ? before - now : 0;
    int hot90 = 0;
    for (int i = wk - 12; i <= wk; i++)
        if (i >= 0)
            hot90 += a->hot_by_week[i];
    int hot_open = 0, open = open_tickets_at(a, day, &hot_open);
    double logit = -3.1 + 7.0 * (0.45 - now) + 6.0 * decline + 0.3 * hot90 + 0.15 * open + 0.4 * hot_open +
                   plans[a->plan].churn_bias;
    if (a->nps_last >= 0)
        logit += a->nps_last <= 6 ? 0.7 : a->nps_last >= 9 ? -0.5 : 0;
    return logit;
}

/* A renewal point on `day`, in week `wk`: the account cancels, or may grow
 * or shrink. Annual points may change the plan; monthly ones (Starter) only
 * cancel, or (other plans) add seats mid-term. Returns 1 when it cancels. */
static int renewal_point(world *w, account *a, int wk, int64_t day, int annual)
{
    double logit = churn_logit(a, wk, day);
    double p = annual ? sigmoid(logit) : a->plan == PLAN_STARTER ? sigmoid(logit - 2.3) : 0;
    if (rng_chance(p)) {
        write_subscription(w, a, day, "canceled");
        a->cancelled_on = day;
        a->renewal = day;
        return 1;
    }
    double now = mean_history(a->history, wk - 3, wk);
    double util = mean_history(a->utilization, wk - 3, wk);
    int plan = a->plan, seats = a->seats;
    if (annual) {
        if (now > 0.6 && util > 0.6 && rng_chance(0.55)) {
            seats = (int)(seats * (1.15 + 0.45 * rng_unit()) + 0.5);
            if (seats > plans[plan].seats_hi && plan < PLAN_ENTERPRISE)
                plan++;
            else if (now > 0.75 && plan < PLAN_BUSINESS && rng_chance(0.25))
                plan++;
        } else if (now < 0.35 && rng_chance(0.45)) {
            seats = (int)(seats * (0.6 + 0.25 * rng_unit()) + 0.5);
            if (rng_chance(0.3) && plan > PLAN_STARTER)
                plan--;
        }
        if (seats < plans[plan].seats_lo)
            seats = plans[plan].seats_lo;
    } else if (a->plan != PLAN_STARTER && util > 0.8 && rng_chance(0.07)) {
        seats = (int)(seats * (1.1 + 0.2 * rng_unit()) + 0.5);
    }
    change_subscription(w, a, day, plan, seats);
    return 0;
}

/* One usage row. Its id, NNNNNN-WW-M (account, week, metric), grows with
 * every row of the file, as a warehouse export's row numbers do: the
 * store's key B-tree then takes the rows in order. */
static void write_usage_row(world *w, const account *a, int wk, int metric, int64_t day, const char *name,
                            unsigned value, int tenths)
{
    out_file *o = &w->usage;
    char *p = out_reserve(o), *s = p;
    p = put_padded(p, a->n, 6);
    *p++ = '-';
    p = put_padded(p, (uint64_t)wk, 2);
    *p++ = '-';
    *p++ = (char)('0' + metric);
    *p++ = ',';
    p = put_account(p, a->n);
    *p++ = ',';
    p = put_date(p, day);
    *p++ = ',';
    p = put_str(p, name);
    *p++ = ',';
    p = tenths ? put_tenths(p, value) : put_uint(p, value);
    *p++ = '\n';
    o->len += (size_t)(p - s);
    w->n_usage++;
}

/* One week of product usage: active users, seat utilization, the features used. */
static void write_usage(world *w, account *a, int wk, int64_t week_end, double e)
{
    double users = a->seats * a->adopt * e * (0.9 + 0.2 * rng_unit());
    unsigned wau = (unsigned)(users + 0.5);
    if (wau > (unsigned)a->seats)
        wau = (unsigned)a->seats;
    unsigned tenths = (unsigned)((double)wau * 1000.0 / a->seats + 0.5);
    a->utilization[wk] = (double)wau / a->seats;
    write_usage_row(w, a, wk, 0, week_end, "active_users", wau, 0);
    write_usage_row(w, a, wk, 1, week_end, "seat_utilization", tenths, 1);
    if (wau == 0)
        return;
    for (unsigned f = 0; f < N_FEATURES; f++) {
        if (!a->uses_feature[f] || a->plan < features[f].min_plan)
            continue;
        if (e + 0.12 * rng_noise() < features[f].bar)
            continue;
        double share = (1.05 - features[f].bar) * (0.5 + 0.5 * rng_unit());
        unsigned n = (unsigned)(wau * share + 0.5);
        write_usage_row(w, a, wk, 2 + (int)f, week_end, features[f].name, n > 0 ? n : 1, 0);
    }
}

static void write_survey(world *w, account *a, int64_t day, int minute, int contact, const char *kind, int score,
                         const char *comment)
{
    out_file *o = &w->surveys;
    char *p = out_reserve(o), *s = p;
    p = put_str(p, "R-");
    p = put_padded(p, a->n, 6);
    *p++ = '-';
    p = put_uint(p, (uint64_t)++a->n_answers);
    *p++ = ',';
    p = put_account(p, a->n);
    *p++ = ',';
    p = put_str(p, "C-");
    p = put_padded(p, a->n, 6);
    *p++ = '-';
    p = put_uint(p, (uint64_t)contact + 1);
    *p++ = ',';
    p = put_time(p, day, minute);
    *p++ = ',';
    p = put_str(p, kind);
    *p++ = ',';
    p = put_uint(p, (uint64_t)score);
    *p++ = ',';
    if (comment != NULL)
        p = put_csv(p, comment);
    *p++ = '\n';
    o->len += (size_t)(p - s);
    w->n_surveys++;
}

/* The tickets opened in one week, up to `stop` (exclusive: the account
 * cancels then). */
static void write_tickets(world *w, account *a, int wk, int64_t week_start, int64_t stop, double e)
{
    double rate = 0.05 * plans[a->plan].ticket_size * (1 + 2.2 * (1 - e) * (1 - e));
    if (a->is_new && week_start - a->contract_start < 42)
        rate += 0.15; /* onboarding questions */
    if (a->trajectory == TRAJ_SHOCK && wk == a->turn_week)
        rate += 1.0;
    int n = rng_poisson(rate);
    for (int t = 0; t < n; t++) {
        int64_t opened = week_start + rng_below(7);
        if (opened >= stop || opened < a->contract_start || opened > w->end_day)
            continue;
        int minute = 60 * (int)(1 + rng_below(22));
        minute += (int)rng_below(60);
        unsigned kind_w[N_KINDS] = {40, (unsigned)(12 + 20 * (1 - e)), (unsigned)(10 + 14 * (1 - e)), 8,
                                    (unsigned)(6 + 22 * e)};
        int kind = (int)pick(kind_w, N_KINDS);
        int prio = (int)pick(priority_weights[kind], 4);
        if (prio < P_URGENT && kind != K_FEATURE && rng_chance(0.25 * (1 - e)))
            prio++;
        /* hours to a solution: mostly quick, some long, some stuck */
        double u = rng_unit();
        double hours = resolve_hours[prio] * (0.15 + 2.5 * u * u) * (kind == K_PROBLEM ? 2.5 : 1);
        if (rng_chance(0.04 + 0.12 * (1 - e)))
            hours += 24.0 * (20 + rng_below(80));
        if (kind == K_FEATURE)
            hours = rng_chance(0.3) ? 24.0 * (5 + rng_below(60)) : 1e9; /* most stay open */
        int64_t close_minutes = (int64_t)(minute + hours * 60);
        int64_t closed = opened + close_minutes / 1440;
        int close_minute = (int)(close_minutes % 1440);
        int is_open = closed > w->end_day;
        int hot = prio >= P_HIGH;
        if (hot)
            a->hot_by_week[wk]++;
        if (a->n_open < MAX_OPEN && closed > week_start)
            a->open[a->n_open++] = (open_ticket){opened, is_open ? INT64_MAX : closed, hot};

        out_file *o = &w->tickets;
        char *p = out_reserve(o), *s = p;
        p = put_str(p, "  <ticket id=\"T-");
        p = put_uint(p, w->next_ticket++);
        p = put_str(p, "\" priority=\"");
        p = put_str(p, priority_names[prio]);
        p = put_str(p, "\">\n    <account>");
        p = put_account(p, a->n);
        p = put_str(p, "</account>\n    <requester>C-");
        p = put_padded(p, a->n, 6);
        *p++ = '-';
        p = put_uint(p, 1 + rng_below((uint32_t)a->n_contacts));
        p = put_str(p, "</requester>\n    <subject>");
        p = put_xml(p, subjects[kind][rng_below(6)]);
        p = put_str(p, "</subject>\n    <type>");
        p = put_str(p, kind_names[kind]);
        p = put_str(p, "</type>\n    <status>");
        const char *status;
        if (!is_open)
            status = rng_chance(0.7) ? "Solved" : "Closed";
        else if (kind == K_FEATURE)
            status = "On hold";
        else if (w->end_day - opened < 2)
            status = "New";
        else
            status = rng_chance(0.6) ? "Open" : "Pending";
        p = put_str(p, status);
        p = put_str(p, "</status>\n    <created_at>");
        p = put_time(p, opened, minute);
        p = put_str(p, "</created_at>\n");
        if (!is_open) {
            p = put_str(p, "    <solved_at>");
            p = put_time(p, closed, close_minute);
            p = put_str(p, "</solved_at>\n");
        }
        p = put_str(p, "    <tags>");
        p = put_str(p, tags[kind][rng_below(3)]);
        p = put_str(p, "</tags>\n  </ticket>\n");
        o->len += (size_t)(p - s);
        w->n_tickets++;

        /* a CSAT answer for some solved tickets */
        if (!is_open && closed + 1 <= w->end_day && closed + 1 < stop && rng_chance(0.2)) {
            double speed = hours < 24 ? 1 : hours < 96 ? 0.6 : 0.1;
            int csat = (int)clamp(1 + 4 * (0.5 * e + 0.5 * speed) + 0.8 * rng_noise() + 0.5, 1, 5);
            int at = 600 + (int)rng_below(480), by = (int)rng_below((uint32_t)a->n_contacts);
            write_survey(w, a, closed + 1, at, by, "CSAT", csat, NULL);
        }
    }
    /* forget tickets closed long ago */
    for (int i = 0; i < a->n_open;)
        if (a->open[i].closed < week_start - 120)
            a->open[i] = a->open[--a->n_open];
        else
            i++;
}

/* The NPS wave of week `wk`: the admin and the champion may answer. */
static void write_nps(world *w, account *a, int wk, int64_t week_start, int64_t stop, double e)
{
    int hot_recent = 0;
    for (int i = wk - 6; i <= wk; i++)
        if (i >= 0)
            hot_recent += a->hot_by_week[i];
    for (int c = 0; c < 2 && c < a->n_contacts; c++) {
        if (!rng_chance(0.35))
            continue;
        int64_t day = week_start + rng_below(7);
        if (day >= stop || day > w->end_day || day < a->contract_start + 28)
            continue;
        double raw = 3.7 + 7.0 * e + 1.2 * rng_noise() - 0.8 * hot_recent;
        int score = (int)clamp(raw + 0.5, 0, 10);
        const char *comment = NULL;
        if (rng_chance(0.3))
            comment = nps_comments[score <= 6 ? 0 : score <= 8 ? 1 : 2][rng_below(4)];
        write_survey(w, a, day, 480 + (int)rng_below(600), c, "NPS", score, comment);
        a->nps_last = score;
    }
}

static void write_account_row(world *w, const account *a, const char *name)
{
    out_file *o = &w->accounts;
    char *p = out_reserve(o), *s = p;
    p = put_account(p, a->n);
    *p++ = ',';
    p = put_csv(p, name);
    *p++ = ',';
    p = put_str(p, region_ids[a->region]);
    *p++ = ',';
    p = put_str(p, countries[a->country].code);
    *p++ = ',';
    p = put_str(p, segments[a->segment]);
    *p++ = ',';
    p = put_str(p, plans[a->plan].name);
    *p++ = ',';
    p = put_uint(p, (uint64_t)a->seats);
    *p++ = ',';
    p = put_money(p, a->sub_mrr * 12, currencies[a->currency].decimals);
    *p++ = ',';
    p = put_str(p, currencies[a->currency].code);
    *p++ = ',';
    p = put_date(p, a->contract_start);
    *p++ = ',';
    p = put_date(p, a->renewal);
    *p++ = ',';
    p = put_str(p, a->cancelled_on >= 0 ? "cancelled" : "active");
    *p++ = ',';
    if (a->cancelled_on >= 0)
        p = put_date(p, a->cancelled_on);
    *p++ = ',';
    p = put_str(p, industries[a->industry]);
    *p++ = '\n';
    o->len += (size_t)(p - s);
}

static void simulate_account(world *w, uint32_t n)
{
    static account a; /* large (the open tickets): one, reused */
    memset(&a, 0, sizeof a);
    rng_state = mix64(w->seed ^ mix64(0x4B5A000000000000ull + n));
    a.n = n;
    a.cancelled_on = -1;
    a.nps_last = -1;

    unsigned country_w[N_COUNTRIES];
    for (unsigned i = 0; i < N_COUNTRIES; i++)
        country_w[i] = countries[i].weight;
    a.country = (int)pick(country_w, N_COUNTRIES);
    a.region = countries[a.country].region;
    a.currency = countries[a.country].currency;
    a.industry = (int)rng_below(COUNT(industries));
    unsigned plan_w[N_PLANS];
    for (int i = 0; i < N_PLANS; i++)
        plan_w[i] = plans[i].weight;
    a.plan = (int)pick(plan_w, N_PLANS);
    a.seats = (int)(plans[a.plan].seats_lo * det_exp(rng_unit() * plans[a.plan].seats_span) + 0.5);
    a.discount = plans[a.plan].max_discount * rng_unit();
    a.adopt = plans[a.plan].adopt_lo + (plans[a.plan].adopt_hi - plans[a.plan].adopt_lo) * rng_unit();
    char name[256];
    make_company(&a, name, sizeof name);

    /* when the contract started: most before the history, some during it,
     * a few signed but starting after it */
    double u = rng_unit();
    if (u < 0.80)
        a.contract_start = w->start_day - 1 - rng_below(5 * 365);
    else if (u < 0.995) {
        a.contract_start = w->start_day + rng_below(WEEKS * 7);
        a.is_new = 1;
    } else
        a.contract_start = w->end_day + 1 + rng_below(45);

    /* engagement: a level and a trajectory */
    if (rng_chance(0.15)) {
        a.base = 0.12 + 0.3 * rng_unit(); /* a weak fit */
    } else {
        a.base = rng_unit();
        a.base = 0.3 + 0.65 * (a.base + rng_unit()) / 2;
    }
    unsigned traj_w[] = {55, 15, 20, 10};
    a.trajectory = (int)pick(traj_w, 4);
    a.turn_week = (int)rng_below(WEEKS);
    switch (a.trajectory) {
    case TRAJ_GROWING: a.slope = 0.003 + 0.008 * rng_unit(); break;
    case TRAJ_DECLINING: a.slope = 0.008 + 0.02 * rng_unit(); break;
    case TRAJ_SHOCK:
        a.shock = 0.25 + 0.3 * rng_unit();
        a.slope = rng_chance(0.5) ? 0.006 * rng_unit() : 0;
        break;
    default: break;
    }
    if (a.is_new) {
        a.stalled = rng_chance(0.15);
        a.ramp = a.stalled ? 0.02 + 0.03 * rng_unit() : 0.2 + 0.4 * rng_unit();
    }
    for (unsigned f = 0; f < N_FEATURES; f++)
        a.uses_feature[f] = f == 0 || rng_chance(0.85);
    for (int i = 0; i < WEEKS; i++)
        a.history[i] = a.utilization[i] = -1;

    write_contacts(w, &a);

    a.sub_no = 1;
    a.sub_plan = a.plan;
    a.sub_seats = a.seats;
    a.sub_start = a.contract_start;
    a.sub_mrr = account_mrr(&a, a.plan, a.seats);

    /* monthly renewal points from the contract start; every twelfth is annual */
    int64_t month = 1;
    while (add_months(a.contract_start, month) < w->start_day)
        month++;

    for (int wk = 0; wk < WEEKS && a.cancelled_on < 0; wk++) {
        int64_t week_start = w->start_day + 7 * wk, week_end = week_start + 6;
        if (a.contract_start > week_end)
            continue;
        double e = engagement(&a, wk, week_end);
        a.history[wk] = e;
        a.e = e;
        /* renewal points this week come first: a cancellation stops the week */
        int64_t stop = INT64_MAX;
        for (int64_t day; (day = add_months(a.contract_start, month)) <= week_end; month++) {
            if (renewal_point(w, &a, wk, day, month % 12 == 0)) {
                stop = day;
                break;
            }
        }
        if (stop == INT64_MAX)
            write_usage(w, &a, wk, week_end, e);
        write_tickets(w, &a, wk, week_start, stop, e);
        if (wk % 13 == 5)
            write_nps(w, &a, wk, week_start, stop, e);
    }

    if (a.cancelled_on < 0) {
        /* still a customer: the running subscription, the next renewal */
        int64_t k = 1;
        while (add_months(a.contract_start, 12 * k) <= w->end_day)
            k++;
        a.renewal = add_months(a.contract_start, 12 * k);
        a.past_due = a.contract_start <= w->end_day && rng_chance(0.015 + 0.05 * (1 - a.e));
        write_subscription(w, &a, -1, a.past_due ? "past_due" : "active");
    } else {
        w->n_cancelled++;
    }
    a.segment = segment_of(&a);
    if (a.cancelled_on < 0)
        w->live[a.region][a.segment]++;
    write_account_row(w, &a, name);
}

/* ---- the CS team -------------------------------------------------------------------- */

static void write_csm(world *w, const char *id, int pool, const word *given, const word *family, const char *team,
                      const char *region, const char *manager, const char *skills, const char *high, const char *low,
                      const char *tech, int active)
{
    out_file *o = &w->csms;
    char *p = out_reserve(o), *s = p;
    p = put_str(p, id);
    *p++ = ',';
    p = put_person(p, pool, given, family);
    *p++ = ',';
    p = put_str(p, given->ascii);
    *p++ = '.';
    p = put_str(p, family->ascii);
    p = put_str(p, "@nimbusboards.example,");
    p = put_str(p, team);
    *p++ = ',';
    p = put_str(p, region);
    *p++ = ',';
    p = put_str(p, manager);
    *p++ = ',';
    p = put_csv(p, skills);
    *p++ = ',';
    p = put_str(p, high);
    *p++ = ',';
    p = put_str(p, low);
    *p++ = ',';
    p = put_str(p, tech);
    *p++ = ',';
    p = put_str(p, active ? "yes" : "no");
    *p++ = '\n';
    o->len += (size_t)(p - s);
    w->n_csms++;
}

/* Staff each region for the book: enterprise CSMs hold 8 high-touch
 * accounts, commercial CSMs 55 low-touch ones; APAC is one commercial CSM
 * short (it is hiring), and one EMEA CSM has left. A cross-area digital
 * team owns every tech-touch account. */
static void write_team(world *w)
{
    static const int pool_of_region[N_REGIONS] = {POOL_AMERICAS, POOL_EUROPE, POOL_JAPAN, POOL_AMERICAS};
    static const char *const skills_of_region[N_REGIONS] = {"english;spanish", "german;french", "japanese;english",
                                                            "spanish;portuguese"};
    out_text(&w->csms,
             "Employee ID,Full Name,Email,Team,Region,Manager,Skills,High Touch,Low Touch,Tech Touch,Active\n");
    for (int r = 0; r < N_REGIONS; r++) {
        rng_state = mix64(w->seed ^ mix64(0x43534D0000000000ull + (uint64_t)r));
        uint32_t high = w->live[r][SEG_ENT], low = w->live[r][SEG_MID];
        uint32_t n_ent = (high + 7) / 8, n_com = (low + 54) / 55;
        if (r == R_APAC && n_com > 1)
            n_com--;
        if (n_ent == 0)
            n_ent = 1;
        if (n_com == 0)
            n_com = 1;
        char lead[32];
        snprintf(lead, sizeof lead, "csm-%s-01", region_ids[r]);
        for (uint32_t i = 0; i < n_ent + n_com; i++) {
            char id[32];
            snprintf(id, sizeof id, "csm-%s-%02u", region_ids[r], i + 1);
            int ent = i < n_ent;
            const word *given = &given_names[pool_of_region[r]][rng_below(20)];
            const word *family = &family_names[pool_of_region[r]][rng_below(20)];
            write_csm(w, id, pool_of_region[r], given, family, region_ids[r], region_ids[r], i == 0 ? "" : lead,
                      skills_of_region[r], ent ? "8" : "", ent ? "" : "55", "", 1);
        }
        if (r == R_EMEA) {
            char id[32];
            snprintf(id, sizeof id, "csm-%s-%02u", region_ids[r], n_ent + n_com + 1);
            write_csm(w, id, POOL_EUROPE, &given_names[POOL_EUROPE][3], &family_names[POOL_EUROPE][5], "emea", "emea",
                      lead, "italian", "8", "", "", 0);
        }
    }
    rng_state = mix64(w->seed ^ mix64(0x4449474954414Cull));
    uint32_t n_digital = 1 + w->n_accounts / 2500;
    for (uint32_t i = 0; i < n_digital; i++) {
        char id[32];
        snprintf(id, sizeof id, "csm-digital-%02u", i + 1);
        int pool = (int)rng_below(4);
        const word *given = &given_names[pool][rng_below(20)];
        const word *family = &family_names[pool][rng_below(20)];
        write_csm(w, id, pool, given, family, "digital", "global", i == 0 ? "" : "csm-digital-01",
                  "webinars;lifecycle-email", "", "", "unlimited", 1);
    }
}

/* ---- main ---------------------------------------------------------------------------- */

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die("cannot create", path);
}

static void copy_template(const char *from, const char *dir)
{
    FILE *in = fopen(from, "rb");
    if (in == NULL)
        die("cannot open the stack config template", from);
    out_file o;
    out_open(&o, dir, "kizuna.xml");
    size_t n;
    while ((n = fread(o.buf, 1, OUT_BUFFER_BYTES, in)) > 0) {
        o.len = n;
        out_flush(&o);
    }
    if (ferror(in))
        die("cannot read", from);
    fclose(in);
    out_close(&o);
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: kz_gen_demo [--accounts N] [--seed S] [--end YYYY-MM-DD] [--template FILE] OUTDIR\n"
            "  writes the demo company (a year of history ending on --end) into OUTDIR/data/\n"
            "  and its stack config to OUTDIR/kizuna.xml\n"
            "  --accounts N    accounts, 1 to %d (default %d)\n"
            "  --seed S        the random seed, a whole number (default %llu)\n"
            "  --end DATE      the last day of the history (default %s)\n"
            "  --template FILE the stack config to copy (default %s)\n",
            MAX_ACCOUNTS, DEFAULT_ACCOUNTS, (unsigned long long)DEFAULT_SEED, DEFAULT_END, KZ_DEMO_TEMPLATE);
}

int main(int argc, char **argv)
{
    long long n_accounts = DEFAULT_ACCOUNTS;
    uint64_t seed = DEFAULT_SEED;
    const char *end_text = DEFAULT_END, *template_path = KZ_DEMO_TEMPLATE, *outdir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "--accounts") == 0 && value != NULL) {
            if (!parse_count(value, MAX_ACCOUNTS, &n_accounts)) {
                fprintf(stderr, GEN_NAME ": --accounts must be a whole number from 1 to %d, not '%s'\n", MAX_ACCOUNTS,
                        value);
                return 2;
            }
            i++;
        } else if (strcmp(arg, "--seed") == 0 && value != NULL) {
            char *endp = NULL;
            errno = 0;
            unsigned long long v = strtoull(value, &endp, 10);
            if (errno != 0 || endp == value || *endp != '\0' || value[0] == '-') {
                fprintf(stderr, GEN_NAME ": --seed must be a whole number, not '%s'\n", value);
                return 2;
            }
            seed = v;
            i++;
        } else if (strcmp(arg, "--end") == 0 && value != NULL) {
            end_text = value;
            i++;
        } else if (strcmp(arg, "--template") == 0 && value != NULL) {
            template_path = value;
            i++;
        } else if (arg[0] == '-' || outdir != NULL) {
            usage(stderr);
            return 2;
        } else {
            outdir = arg;
        }
    }
    world *w = calloc(1, sizeof *w);
    if (outdir == NULL || w == NULL) {
        free(w);
        usage(stderr);
        return 2;
    }
    if (!parse_date(end_text, &w->end_day)) {
        fprintf(stderr, GEN_NAME ": --end must be a date YYYY-MM-DD, not '%s'\n", end_text);
        free(w);
        return 2;
    }
    w->start_day = w->end_day - (WEEKS * 7 - 1);
    w->seed = seed;
    w->n_accounts = (uint32_t)n_accounts;
    w->next_ticket = 100001;

    make_dir(outdir);
    size_t dlen = strlen(outdir) + sizeof "/data";
    char *data = malloc(dlen);
    if (data == NULL)
        die("out of memory for", outdir);
    snprintf(data, dlen, "%s/data", outdir);
    make_dir(data);
    copy_template(template_path, outdir);

    out_open(&w->accounts, data, "accounts.csv");
    out_open(&w->contacts, data, "contacts.csv");
    out_open(&w->subscriptions, data, "subscriptions.csv");
    out_open(&w->usage, data, "usage.csv");
    out_open(&w->tickets, data, "tickets.xml");
    out_open(&w->surveys, data, "surveys.csv");
    out_open(&w->csms, data, "csms.csv");
    out_text(&w->accounts, "Account ID,Account Name,Region,Country,Segment,Plan,Seats,ARR,Currency,Contract Start,"
                           "Renewal Date,Status,Cancelled On,Industry\n");
    out_text(&w->contacts, "Contact ID,Account ID,Name,Email,Role,Phone\n");
    out_text(&w->subscriptions, "subscription_id,customer_id,plan,seats,mrr,currency,period_start,period_end,status\n");
    out_text(&w->usage, "row_id,account_id,week_ending,metric,value\n");
    out_text(&w->surveys, "Response ID,Account,Contact,Submitted At,Survey,Score,Comment\n");
    {
        char head[160], *p = head;
        p = put_str(p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- Nimbus Boards helpdesk: tickets to ");
        p = put_date(p, w->end_day);
        p = put_str(p, " -->\n<tickets>\n");
        *p = '\0';
        out_text(&w->tickets, head);
    }

    for (uint32_t n = 1; n <= w->n_accounts; n++)
        simulate_account(w, n);
    out_text(&w->tickets, "</tickets>\n");
    write_team(w);

    out_close(&w->accounts);
    out_close(&w->contacts);
    out_close(&w->subscriptions);
    out_close(&w->usage);
    out_close(&w->tickets);
    out_close(&w->surveys);
    out_close(&w->csms);

    printf("%s: %u accounts (%llu cancelled in the year), %llu contacts, %llu subscriptions, %llu usage rows, "
           "%llu tickets, %llu survey answers, %llu CSMs\n",
           outdir, w->n_accounts, (unsigned long long)w->n_cancelled, (unsigned long long)w->n_contacts,
           (unsigned long long)w->n_subscriptions, (unsigned long long)w->n_usage, (unsigned long long)w->n_tickets,
           (unsigned long long)w->n_surveys, (unsigned long long)w->n_csms);
    free(data);
    free(w);
    return 0;
}
