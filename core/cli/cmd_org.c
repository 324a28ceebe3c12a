/*
 * core/cli/cmd_org.c — `kizuna lifecycle` (phases and touch tiers),
 * `kizuna assign` (owners through the organization model), `kizuna org
 * simulate` (every configured model side by side, nothing stored), and
 * the lifecycle part of `kizuna account ID`.
 */
#include "cli.h"

#include "../errors.h"
#include "../org/assign.h"
#include "../org/lifecycle.h"
#include "../score/measures.h"
#include "../stack.h"
#include "../values.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reason_names[] = {"", "no_team", "no_capacity", "excluded"};

static char *day_of(gint64 us)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(us / G_USEC_PER_SEC);
    return g_date_time_format(dt, "%Y-%m-%d");
}

/* Evaluates the lifecycle as of `as_of`; prints why not. */
static gboolean run_lifecycle(kz_store *store, const kz_config *cfg, gint64 as_of, kz_lifecycle_summary *sum)
{
    g_autoptr(GError) err = NULL;
    if (kz_lifecycle_run(store, cfg, as_of, sum, &err))
        return TRUE;
    fprintf(stderr, "kizuna: lifecycle: %s\n", err->message);
    return FALSE;
}

/* ---- kizuna lifecycle -------------------------------------------------- */

static void summary_text(const kz_lifecycle_summary *s)
{
    g_autofree char *day = day_of(s->as_of_us);
    kz_cli_print("lifecycle as of %s: %u accounts, %u phase changes, %u tier changes, %u successes, %u newly "
                 "overdue%s\n",
                 day, s->accounts, s->phase_changes, s->tier_changes, s->successes, s->new_overdue,
                 s->repeated ? " (evaluated before: nothing new)" : "");
    GString *line = g_string_new("  phases:");
    for (int p = KZ_PHASE_ONBOARDING; p <= KZ_PHASE_CHURNED; p++)
        g_string_append_printf(line, " %s %u", kz_phase_name(p), s->per_phase[p]);
    g_string_append_printf(line, ", none %u; overdue %u\n  tiers:", s->per_phase[0], s->overdue);
    for (int t = KZ_TIER_HIGH; t >= KZ_TIER_TECH; t--)
        g_string_append_printf(line, " %s %u", kz_tier_name(t), s->per_tier[t]);
    g_string_append_printf(line, ", none %u\n", s->per_tier[0]);
    kz_cli_print("%s", line->str);
    g_string_free(line, TRUE);
}

static int list_accounts(kz_store *store, gint64 as_of, gboolean overdue_only, JsonBuilder *b)
{
    sqlite3 *db = kz_store_db(store);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT a.id, st.phase, st.phase_since_us, st.success_us, st.overdue_since_us, st.tier,"
                           " ow.owner, ow.team FROM accounts AS a LEFT JOIN account_state AS st ON st.account_id = a.id"
                           " LEFT JOIN kz_owners AS ow ON ow.account_id = a.id WHERE ?1 = 0 OR st.overdue_since_us IS "
                           "NOT NULL ORDER BY a.id",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "kizuna: %s\n", sqlite3_errmsg(db));
        return KZ_EXIT_INTERNAL;
    }
    sqlite3_bind_int(st, 1, overdue_only);
    if (b != NULL) {
        json_builder_set_member_name(b, "accounts");
        json_builder_begin_array(b);
    } else {
        kz_cli_print("\n%-16s %-11s %7s %-8s %-8s %-16s %s\n", "ACCOUNT", "PHASE", "DAYS", "TIER", "SUCCESS", "OWNER",
                     "OVERDUE");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *phase = kz_phase_name(sqlite3_column_int(st, 1));
        gboolean has_since = sqlite3_column_type(st, 2) != SQLITE_NULL;
        gint64 since = sqlite3_column_int64(st, 2);
        gboolean success = sqlite3_column_type(st, 3) != SQLITE_NULL;
        gboolean overdue = sqlite3_column_type(st, 4) != SQLITE_NULL;
        const char *tier = kz_tier_name(sqlite3_column_int(st, 5));
        const char *owner = (const char *)sqlite3_column_text(st, 6);
        if (b != NULL) {
            json_builder_begin_object(b);
            kz_cli_json_str(b, "id", id);
            kz_cli_json_str(b, "phase", phase);
            if (has_since)
                kz_cli_json_time(b, "phase_since", since);
            if (success)
                kz_cli_json_time(b, "success", sqlite3_column_int64(st, 3));
            kz_cli_json_bool(b, "overdue", overdue);
            if (overdue)
                kz_cli_json_time(b, "overdue_since", sqlite3_column_int64(st, 4));
            kz_cli_json_str(b, "tier", tier);
            kz_cli_json_str(b, "owner", owner);
            kz_cli_json_str(b, "team", (const char *)sqlite3_column_text(st, 7));
            json_builder_end_object(b);
        } else {
            g_autofree char *days =
                has_since ? g_strdup_printf("%" G_GINT64_FORMAT, (as_of - since) / KZ_DAY_US) : g_strdup("-");
            kz_cli_print("%-16s %-11s %7s %-8s %-8s %-16s %s\n", id, phase != NULL ? phase : "-", days,
                         tier != NULL ? tier : "-", success ? "yes" : "-", owner != NULL ? owner : "-",
                         overdue ? "OVERDUE" : "");
        }
    }
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "kizuna: %s\n", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return KZ_EXIT_INTERNAL;
    }
    sqlite3_finalize(st);
    if (b != NULL)
        json_builder_end_array(b);
    return KZ_EXIT_OK;
}

/* A store that cannot be read is the host's failure (3); a config, a
 * model or an answer that does not fit is the input's (1). */
static int failed_exit(const GError *err)
{
    return g_error_matches(err, KZ_ERROR, KZ_ERROR_STORE) ? KZ_EXIT_INTERNAL : KZ_EXIT_FAILED;
}

int kz_cmd_lifecycle(int argc, char **argv)
{
    gboolean json = FALSE, overdue = FALSE;
    g_autofree char *as_of_text = NULL;
    const GOptionEntry entries[] = {
        {"as-of", 0, 0, G_OPTION_ARG_STRING, &as_of_text, "Evaluate as of this day (default: today)", "DATE"},
        {"overdue", 0, 0, G_OPTION_ARG_NONE, &overdue, "List only the accounts past their phase's due window", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Write JSON", NULL},
        G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "", "Evaluate the lifecycle phase and touch tier of every account, and list them.",
                      entries))
        return KZ_EXIT_USAGE;
    gint64 as_of = 0;
    if (!kz_cli_parse_as_of(as_of_text, &as_of))
        return KZ_EXIT_USAGE;
    g_autoptr(kz_config) cfg = NULL;
    g_autoptr(kz_registry) reg = NULL;
    g_autoptr(kz_store) store = NULL;
    if (!kz_cli_load_stack(&cfg, &reg, &store))
        return KZ_EXIT_FAILED;
    if (cfg->phases == NULL && cfg->tier_rules == NULL) {
        fprintf(stderr, "kizuna: %s has neither <lifecycle> nor <tiers>: nothing to evaluate\n", cfg->path);
        return KZ_EXIT_FAILED;
    }
    kz_lifecycle_summary sum;
    if (!run_lifecycle(store, cfg, as_of, &sum))
        return KZ_EXIT_FAILED;
    if (!json) {
        summary_text(&sum);
        return list_accounts(store, as_of, overdue, NULL);
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    kz_cli_json_time(b, "as_of", as_of);
    kz_cli_json_int(b, "accounts", sum.accounts);
    kz_cli_json_int(b, "phase_changes", sum.phase_changes);
    kz_cli_json_int(b, "tier_changes", sum.tier_changes);
    kz_cli_json_int(b, "successes", sum.successes);
    kz_cli_json_int(b, "new_overdue", sum.new_overdue);
    kz_cli_json_int(b, "overdue", sum.overdue);
    kz_cli_json_bool(b, "repeated", sum.repeated);
    json_builder_set_member_name(b, "phases");
    json_builder_begin_object(b);
    for (int p = KZ_PHASE_NONE; p <= KZ_PHASE_CHURNED; p++)
        kz_cli_json_int(b, p == 0 ? "none" : kz_phase_name(p), sum.per_phase[p]);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "tiers");
    json_builder_begin_object(b);
    for (int t = KZ_TIER_NONE; t <= KZ_TIER_HIGH; t++)
        kz_cli_json_int(b, t == 0 ? "none" : kz_tier_name(t), sum.per_tier[t]);
    json_builder_end_object(b);
    int rc = list_accounts(store, as_of, overdue, b);
    json_builder_end_object(b);
    if (rc == KZ_EXIT_OK)
        kz_cli_print_json(json_builder_get_root(b));
    return rc;
}

/* ---- the organization model -------------------------------------------- */

/* The orgmodel instance `name` of the stack, created; prints why not. */
static kz_instance *create_model(const kz_config *cfg, const kz_registry *reg, kz_store *store, const char *name)
{
    const kz_config_instance *ci = kz_config_find_instance(cfg, name);
    if (ci == NULL || ci->kind != KZ_COMPONENT_ORGMODEL) {
        fprintf(stderr, "%s:%u: <organization model=\"%s\">: no <orgmodel name=\"%s\"> in <orgmodels>\n", cfg->path,
                cfg->org->line, name, name);
        return NULL;
    }
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    kz_instance *inst = kz_stack_create_instance(cfg, reg, ci, store, errors);
    for (guint i = 0; i < errors->len; i++)
        fprintf(stderr, "%s\n", (char *)errors->pdata[i]);
    return inst;
}

/* Makes sure phases and tiers are today's before owners follow them. */
static gboolean lifecycle_current(kz_store *store, const kz_config *cfg)
{
    if (cfg->phases == NULL && cfg->tier_rules == NULL)
        return TRUE;
    gint64 today = kz_measures_default_as_of(kz_host_now());
    if (kz_lifecycle_last_as_of(kz_store_db(store)) >= today)
        return TRUE;
    kz_lifecycle_summary sum;
    return run_lifecycle(store, cfg, today, &sum);
}

static void shortfall_json(JsonBuilder *b, const kz_org_book *book, const kz_org_outcome *o)
{
    json_builder_set_member_name(b, "shortfall");
    json_builder_begin_object(b);
    for (guint t = 0; t < book->n_teams; t++)
        if (o->shortfall[t] > 0)
            kz_cli_json_int(b, book->teams[t]->id, o->shortfall[t]);
    json_builder_end_object(b);
}

static void unassigned_json(JsonBuilder *b, const kz_org_outcome *o)
{
    json_builder_set_member_name(b, "unassigned");
    json_builder_begin_object(b);
    for (int r = 1; r <= KZ_UNASSIGNED_EXCLUDED; r++)
        kz_cli_json_int(b, reason_names[r], o->unassigned[r]);
    json_builder_end_object(b);
}

static GString *shortfall_text(const kz_org_book *book, const kz_org_outcome *o)
{
    GString *s = g_string_new(NULL);
    for (guint t = 0; t < book->n_teams; t++)
        if (o->shortfall[t] > 0)
            g_string_append_printf(s, "%s%s needs %u more CSM%s", s->len ? ", " : "", book->teams[t]->id,
                                   o->shortfall[t], o->shortfall[t] == 1 ? "" : "s");
    return s;
}

/* The changes against the stored owners, as a JSON array or (at most
 * `max_lines`) text lines. */
static void changes_out(const kz_org *org, const kz_org_outcome *o, JsonBuilder *b, guint max_lines)
{
    const kz_org_book *book = &org->book;
    guint shown = 0, total = 0;
    if (b != NULL) {
        json_builder_set_member_name(b, "changes");
        json_builder_begin_array(b);
    }
    for (guint i = 0; i < book->n_accounts; i++) {
        const char *was = org->stored_owner->pdata[i];
        const char *was_team = org->stored_team->pdata[i];
        int32_t c = o->owner[i];
        const char *to = c >= 0 ? book->csms[c]->id : NULL;
        const char *to_team = c >= 0 ? book->teams[book->csms[c]->team]->id : NULL;
        if (g_strcmp0(was, to) == 0 && g_strcmp0(was_team, to_team) == 0)
            continue;
        total++;
        gboolean handoff = was_team != NULL && to_team != NULL && strcmp(was_team, to_team) != 0;
        if (b != NULL) {
            json_builder_begin_object(b);
            kz_cli_json_str(b, "account", book->account_ids[i]);
            kz_cli_json_str(b, "from", was);
            kz_cli_json_str(b, "to", to);
            kz_cli_json_str(b, "from_team", was_team);
            kz_cli_json_str(b, "to_team", to_team);
            kz_cli_json_bool(b, "handoff", handoff);
            if (c < 0)
                kz_cli_json_str(b, "unassigned", reason_names[o->reason[i]]);
            json_builder_end_object(b);
        } else if (shown++ < max_lines) {
            kz_cli_print("  %-16s %s%s%s -> %s%s%s%s%s\n", book->account_ids[i], was != NULL ? was : "(none)",
                         was_team != NULL ? "@" : "", was_team != NULL ? was_team : "",
                         to != NULL ? to : "(none: ", to_team != NULL ? "@" : "",
                         to_team != NULL ? to_team : reason_names[o->reason[i]], to == NULL ? ")" : "",
                         handoff ? "  hand-off" : "");
        }
    }
    if (b != NULL)
        json_builder_end_array(b);
    else if (total > max_lines)
        kz_cli_print("  ... and %u more (--json lists every change)\n", total - max_lines);
}

int kz_cmd_assign(int argc, char **argv)
{
    gboolean json = FALSE, dry_run = FALSE;
    const GOptionEntry entries[] = {
        {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run, "Show what would change; store nothing", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Write JSON", NULL},
        G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "", "Assign an owner to every account through the organization model.", entries))
        return KZ_EXIT_USAGE;
    g_autoptr(kz_config) cfg = NULL;
    g_autoptr(kz_registry) reg = NULL;
    g_autoptr(kz_store) store = NULL;
    if (!kz_cli_load_stack(&cfg, &reg, &store))
        return KZ_EXIT_FAILED;
    g_autoptr(GError) err = NULL;
    if (cfg->org == NULL) {
        fprintf(stderr, "kizuna: %s has no <organization>: nobody to assign accounts to\n", cfg->path);
        return KZ_EXIT_FAILED;
    }
    if (!dry_run && !lifecycle_current(store, cfg))
        return KZ_EXIT_FAILED;
    g_autoptr(kz_instance) inst = create_model(cfg, reg, store, cfg->org->model);
    if (inst == NULL)
        return KZ_EXIT_FAILED;
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(kz_org) org = kz_org_load(store, cfg, &err);
    gint64 t1 = g_get_monotonic_time();
    g_autoptr(kz_org_outcome) o = org != NULL ? kz_org_assign(org, &org->book, inst, &err) : NULL;
    if (o == NULL) {
        fprintf(stderr, "kizuna: assign: %s\n", err->message);
        return failed_exit(err);
    }
    g_debug("assign: the book of %u accounts read in %.2f s; %s answered in %.2f s", org->book.n_accounts,
            (t1 - t0) / 1e6, o->model, (g_get_monotonic_time() - t1) / 1e6);
    if (!dry_run && !kz_org_store(store, org, o, &err)) {
        fprintf(stderr, "kizuna: assign: %s\n", err->message);
        return failed_exit(err); /* 1: another assignment came first */
    }
    const kz_org_book *book = &org->book;
    if (json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        kz_cli_json_str(b, "model", o->model);
        kz_cli_json_bool(b, "dry_run", dry_run);
        kz_cli_json_int(b, "accounts", book->n_accounts);
        kz_cli_json_int(b, "assigned", o->assigned);
        kz_cli_json_int(b, "kept", o->kept);
        kz_cli_json_int(b, "new", o->newly);
        kz_cli_json_int(b, "moved", o->moved);
        kz_cli_json_int(b, "unowned", o->unowned);
        kz_cli_json_int(b, "handoffs", o->handoffs);
        unassigned_json(b, o);
        shortfall_json(b, book, o);
        changes_out(org, o, b, 0);
        json_builder_end_object(b);
        kz_cli_print_json(json_builder_get_root(b));
        return KZ_EXIT_OK;
    }
    kz_cli_print("%s%s: %u accounts, %u assigned (%u kept, %u new, %u moved, %u hand-offs), %u left without an "
                 "owner\n",
                 dry_run ? "dry run, nothing stored: " : "", o->model, book->n_accounts, o->assigned, o->kept, o->newly,
                 o->moved, o->handoffs, o->unowned);
    kz_cli_print("  unassigned: %u no team covers them, %u no capacity left, %u excluded (churned or no tier)\n",
                 o->unassigned[KZ_UNASSIGNED_NO_TEAM], o->unassigned[KZ_UNASSIGNED_NO_CAPACITY],
                 o->unassigned[KZ_UNASSIGNED_EXCLUDED]);
    g_autoptr(GString) sf = shortfall_text(book, o);
    if (sf->len > 0)
        kz_cli_print("  shortfall: %s\n", sf->str);
    changes_out(org, o, NULL, 20);
    return KZ_EXIT_OK;
}

gboolean kz_cli_assign_stage(const kz_config *cfg, const kz_registry *reg, kz_store *store, guint counts[4])
{
    g_autoptr(kz_instance) inst = create_model(cfg, reg, store, cfg->org->model);
    if (inst == NULL)
        return FALSE;
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_org) org = kz_org_load(store, cfg, &err);
    g_autoptr(kz_org_outcome) o = org != NULL ? kz_org_assign(org, &org->book, inst, &err) : NULL;
    if (o == NULL || !kz_org_store(store, org, o, &err)) {
        fprintf(stderr, "kizuna: assign: %s\n", err->message);
        return FALSE;
    }
    counts[0] = o->assigned;
    counts[1] = o->newly;
    counts[2] = o->moved;
    counts[3] = o->unowned;
    return TRUE;
}

/* ---- kizuna org simulate ----------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;
    return x < y ? -1 : x > y;
}

/* min/median/max of accounts per CSM, over the CSMs that may hold `tier`
 * (0: all tiers, over every CSM). */
static void per_csm_stats(const kz_org_book *book, const kz_org_outcome *o, int tier, guint32 out[3])
{
    g_autofree guint32 *v = g_new(guint32, MAX(book->n_csms, 1));
    guint n = 0;
    for (guint c = 0; c < book->n_csms; c++) {
        const guint32 *pc = &o->per_csm[(gsize)c * 4];
        if (tier == 0)
            v[n++] = pc[1] + pc[2] + pc[3];
        else if (book->csms[c]->capacity[tier] > 0)
            v[n++] = pc[tier];
    }
    out[0] = out[1] = out[2] = 0;
    if (n == 0)
        return;
    qsort(v, n, sizeof *v, cmp_u32);
    out[0] = v[0];
    out[1] = v[(n - 1) / 2];
    out[2] = v[n - 1];
}

typedef struct sim {
    kz_org_outcome *o;
    guint handoff_accounts, handoff_max;
    double handoff_mean;
    guint32 *team_tier; /* n_teams * 4 accounts */
} sim;

static void sim_clear(sim *s)
{
    kz_org_outcome_free(s->o);
    g_free(s->team_tier);
}

static gboolean simulate_one(const kz_config *cfg, const kz_registry *reg, kz_org *org, const char *name, sim *s)
{
    const kz_org_book *book = &org->book;
    g_autoptr(kz_instance) inst = create_model(cfg, reg, NULL, name);
    if (inst == NULL)
        return FALSE;
    g_autoptr(GError) err = NULL;
    s->o = kz_org_assign(org, book, inst, &err);
    g_autofree guint8 *hand = g_new0(guint8, MAX(book->n_accounts, 1));
    if (s->o == NULL || !kz_org_lifecycle_handoffs(org, inst, hand, &err)) {
        fprintf(stderr, "kizuna: org simulate: %s\n", err->message);
        return FALSE;
    }
    guint64 sum = 0, counted = 0;
    for (guint i = 0; i < book->n_accounts; i++) {
        if (book->account_phase[i] == KZ_PHASE_CHURNED)
            continue;
        counted++;
        sum += hand[i];
        s->handoff_accounts += hand[i] > 0;
        s->handoff_max = MAX(s->handoff_max, hand[i]);
    }
    s->handoff_mean = counted > 0 ? (double)sum / (double)counted : 0;
    s->team_tier = g_new0(guint32, (gsize)MAX(book->n_teams, 1) * 4);
    for (guint i = 0; i < book->n_accounts; i++)
        if (s->o->owner[i] >= 0)
            s->team_tier[(gsize)book->csms[s->o->owner[i]]->team * 4 + book->account_tier[i]]++;
    return TRUE;
}

static void simulate_json(const kz_org_book *book, const sim *sims, guint n)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    kz_cli_json_int(b, "accounts", book->n_accounts);
    kz_cli_json_int(b, "csms", book->n_csms);
    json_builder_set_member_name(b, "models");
    json_builder_begin_array(b);
    for (guint m = 0; m < n; m++) {
        const sim *s = &sims[m];
        json_builder_begin_object(b);
        kz_cli_json_str(b, "model", s->o->model);
        kz_cli_json_int(b, "assigned", s->o->assigned);
        unassigned_json(b, s->o);
        shortfall_json(b, book, s->o);
        json_builder_set_member_name(b, "accounts_per_csm");
        json_builder_begin_object(b);
        for (int t = 0; t <= KZ_TIER_HIGH; t++) {
            guint32 st[3];
            per_csm_stats(book, s->o, t, st);
            json_builder_set_member_name(b, t == 0 ? "all" : kz_tier_name(t));
            json_builder_begin_object(b);
            kz_cli_json_int(b, "min", st[0]);
            kz_cli_json_int(b, "median", st[1]);
            kz_cli_json_int(b, "max", st[2]);
            json_builder_end_object(b);
        }
        json_builder_end_object(b);
        json_builder_set_member_name(b, "lifecycle_handoffs");
        json_builder_begin_object(b);
        kz_cli_json_double(b, "per_account", s->handoff_mean);
        kz_cli_json_int(b, "max", s->handoff_max);
        kz_cli_json_int(b, "accounts", s->handoff_accounts);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "teams");
        json_builder_begin_object(b);
        for (guint t = 0; t < book->n_teams; t++) {
            json_builder_set_member_name(b, book->teams[t]->id);
            json_builder_begin_object(b);
            for (int k = KZ_TIER_TECH; k <= KZ_TIER_HIGH; k++)
                kz_cli_json_int(b, kz_tier_name(k), s->team_tier[(gsize)t * 4 + k]);
            json_builder_end_object(b);
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    kz_cli_print_json(json_builder_get_root(b));
}

/* One row of the side-by-side table. */
static void row(const char *label, GPtrArray *cells)
{
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "%-28s", label);
    for (guint i = 0; i < cells->len; i++)
        g_string_append_printf(s, " %18s", (char *)cells->pdata[i]);
    kz_cli_print("%s\n", s->str);
    g_string_free(s, TRUE);
    g_ptr_array_set_size(cells, 0);
}

static void simulate_text(const kz_org_book *book, const sim *sims, guint n)
{
    g_autoptr(GPtrArray) c = g_ptr_array_new_with_free_func(g_free);
    kz_cli_print("%u accounts, %u CSMs in %u teams; nothing is stored\n\n", book->n_accounts, book->n_csms,
                 book->n_teams);
    for (guint m = 0; m < n; m++)
        g_ptr_array_add(c, g_strdup(sims[m].o->model));
    row("", c);
    for (guint m = 0; m < n; m++)
        g_ptr_array_add(c, g_strdup_printf("%u", sims[m].o->assigned));
    row("assigned", c);
    for (int r = 1; r <= KZ_UNASSIGNED_EXCLUDED; r++) {
        for (guint m = 0; m < n; m++)
            g_ptr_array_add(c, g_strdup_printf("%u", sims[m].o->unassigned[r]));
        g_autofree char *label = g_strdup_printf("unassigned: %s", reason_names[r]);
        row(label, c);
    }
    for (guint m = 0; m < n; m++) {
        guint total = 0;
        for (guint t = 0; t < book->n_teams; t++)
            total += sims[m].o->shortfall[t];
        g_ptr_array_add(c, g_strdup_printf("%u", total));
    }
    row("shortfall (CSMs)", c);
    for (int t = 0; t <= KZ_TIER_HIGH; t++) {
        for (guint m = 0; m < n; m++) {
            guint32 st[3];
            per_csm_stats(book, sims[m].o, t, st);
            g_ptr_array_add(c, g_strdup_printf("%u/%u/%u", st[0], st[1], st[2]));
        }
        g_autofree char *label = g_strdup_printf("per CSM %s min/med/max", t == 0 ? "all" : kz_tier_name(t));
        row(label, c);
    }
    for (guint m = 0; m < n; m++)
        g_ptr_array_add(c, g_strdup_printf("%.2f (max %u)", sims[m].handoff_mean, sims[m].handoff_max));
    row("hand-offs per account", c);
    for (guint t = 0; t < book->n_teams; t++) {
        for (guint m = 0; m < n; m++) {
            const guint32 *tt = &sims[m].team_tier[(gsize)t * 4];
            g_ptr_array_add(c, g_strdup_printf("%u/%u/%u", tt[KZ_TIER_HIGH], tt[KZ_TIER_LOW], tt[KZ_TIER_TECH]));
        }
        g_autofree char *label = g_strdup_printf("team %s h/l/t", book->teams[t]->id);
        row(label, c);
    }
    for (guint m = 0; m < n; m++) {
        g_autoptr(GString) sf = shortfall_text(book, sims[m].o);
        if (sf->len > 0)
            kz_cli_print("%s: %s\n", sims[m].o->model, sf->str);
    }
}

int kz_cmd_org(int argc, char **argv)
{
    gboolean json = FALSE;
    const GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &json, "Write JSON", NULL}, G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "simulate",
                      "org simulate: run every configured organization model on the current book of business and "
                      "compare them side by side; nothing is stored.",
                      entries))
        return KZ_EXIT_USAGE;
    if (argc != 2 || strcmp(argv[1], "simulate") != 0) {
        fprintf(stderr, "kizuna: usage: kizuna org simulate [--json]\n");
        return KZ_EXIT_USAGE;
    }
    g_autoptr(kz_config) cfg = NULL;
    g_autoptr(kz_registry) reg = NULL;
    g_autoptr(kz_store) store = NULL;
    if (!kz_cli_load_stack(&cfg, &reg, &store))
        return KZ_EXIT_FAILED;
    if (cfg->org == NULL) {
        fprintf(stderr, "kizuna: %s has no <organization>: nothing to simulate\n", cfg->path);
        return KZ_EXIT_FAILED;
    }
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_org) org = kz_org_load(store, cfg, &err);
    if (org == NULL) {
        fprintf(stderr, "kizuna: org simulate: %s\n", err->message);
        return failed_exit(err);
    }
    g_autoptr(GArray) sims = g_array_new(FALSE, TRUE, sizeof(sim));
    g_array_set_clear_func(sims, (GDestroyNotify)sim_clear);
    for (guint i = 0; i < cfg->instances->len; i++) {
        const kz_config_instance *ci = cfg->instances->pdata[i];
        if (ci->kind != KZ_COMPONENT_ORGMODEL)
            continue;
        g_array_set_size(sims, sims->len + 1);
        if (!simulate_one(cfg, reg, org, ci->name, &g_array_index(sims, sim, sims->len - 1)))
            return KZ_EXIT_FAILED;
    }
    if (sims->len == 0) {
        fprintf(stderr, "kizuna: %s declares no <orgmodel>: nothing to simulate\n", cfg->path);
        return KZ_EXIT_FAILED;
    }
    if (json)
        simulate_json(&org->book, (const sim *)(void *)sims->data, sims->len);
    else
        simulate_text(&org->book, (const sim *)(void *)sims->data, sims->len);
    return KZ_EXIT_OK;
}

/* ---- kizuna account ID -------------------------------------------------- */

static gboolean show_state(sqlite3 *db, const char *id, JsonBuilder *b);
static gboolean show_history(sqlite3 *db, const char *id, gint64 recent, JsonBuilder *b);

gboolean kz_cli_show_state(const char *id, gint64 recent, JsonBuilder *b)
{
    g_autoptr(kz_config) cfg = NULL;
    sqlite3 *db = NULL;
    if (!kz_cli_open_readonly(&cfg, &db))
        return FALSE;
    if (db == NULL)
        return TRUE;
    gboolean ok = show_state(db, id, b) && show_history(db, id, recent, b);
    sqlite3_close(db);
    return ok;
}

/* One entry of an account's history: a state_changes row (change.run
 * is then its id), or an owner change of owner_changes. */
typedef struct history_entry {
    kz_owner_change change;
    char *what;
    gint64 stored_us; /* when its run stored it: the order of the history */
    int source;       /* 0: state_changes (the lifecycle's come first at one time), 1: owner_changes */
} history_entry;

static void history_entry_free(gpointer p)
{
    history_entry *e = p;
    kz_owner_change_clear(&e->change);
    g_free(e->what);
    g_free(e);
}

static gint history_order(gconstpointer a, gconstpointer b)
{
    const history_entry *x = *(const history_entry *const *)a, *y = *(const history_entry *const *)b;
    if (x->stored_us != y->stored_us)
        return x->stored_us < y->stored_us ? -1 : 1;
    if (x->source != y->source)
        return x->source - y->source;
    return x->change.run < y->change.run ? -1 : x->change.run > y->change.run;
}

static char *column_dup(sqlite3_stmt *st, int col)
{
    return g_strdup((const char *)sqlite3_column_text(st, col));
}

/* The account's phase, tier, success, overdue and owner changes in the
 * order they were stored, oldest first: the latest `recent` of them, as
 * member "history" of `b` ({"total", "items"}) or printed. Each shows
 * its own time: for the lifecycle's, the end of the day evaluated (an
 * evaluation at noon records the next midnight), for an owner change the
 * moment of the assignment; so a hand-off comes after the phase change
 * that caused it, though its time is earlier. */
static gboolean show_history(sqlite3 *db, const char *id, gint64 recent, JsonBuilder *b)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT c.time_us, c.id, c.what, c.from_value, c.to_value, c.from_team, c.to_team,"
                           " c.handoff, coalesce(CASE WHEN c.what = 'owner' THEN a.time_us ELSE l.time_us END,"
                           " c.time_us) FROM state_changes AS c LEFT JOIN lifecycle_runs AS l ON l.id = c.run"
                           " LEFT JOIN assign_runs AS a ON a.id = c.run WHERE c.account_id = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "kizuna: reading the account's history: %s\n", sqlite3_errmsg(db));
        return FALSE;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(history_entry_free);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        history_entry *e = g_new0(history_entry, 1);
        e->change.time_us = sqlite3_column_int64(st, 0);
        e->change.run = sqlite3_column_int64(st, 1);
        e->what = column_dup(st, 2);
        e->change.from = column_dup(st, 3);
        e->change.to = column_dup(st, 4);
        e->change.from_team = column_dup(st, 5);
        e->change.to_team = column_dup(st, 6);
        e->change.handoff = sqlite3_column_int(st, 7) != 0;
        e->stored_us = sqlite3_column_int64(st, 8);
        g_ptr_array_add(all, e);
    }
    if (rc != SQLITE_DONE)
        fprintf(stderr, "kizuna: reading the account's history: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return FALSE;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) owners = kz_org_owner_history(db, id, &err);
    if (owners == NULL) {
        fprintf(stderr, "kizuna: %s\n", err->message);
        return FALSE;
    }
    for (guint k = 0; k < owners->len; k++) {
        kz_owner_change *c = owners->pdata[k];
        history_entry *e = g_new0(history_entry, 1);
        e->change = *c; /* the strings move */
        *c = (kz_owner_change){0};
        e->stored_us = e->change.time_us;
        e->what = g_strdup("owner");
        e->source = 1;
        g_ptr_array_add(all, e);
    }
    g_ptr_array_sort(all, history_order);
    guint first = recent < (gint64)all->len ? all->len - (guint)recent : 0;
    if (b != NULL) {
        json_builder_set_member_name(b, "history");
        json_builder_begin_object(b);
        kz_cli_json_int(b, "total", all->len);
        json_builder_set_member_name(b, "items");
        json_builder_begin_array(b);
    } else if (all->len == 0) {
        return TRUE; /* never looked at: the lifecycle part said so */
    } else if (first == 0) {
        kz_cli_print("\nHistory: %u\n", all->len);
    } else {
        kz_cli_print("\nHistory: %u (latest %u)\n", all->len, all->len - first);
    }
    for (guint k = first; k < all->len; k++) {
        const history_entry *e = all->pdata[k];
        const kz_owner_change *c = &e->change;
        gboolean owner = strcmp(e->what, "owner") == 0;
        if (b != NULL) {
            json_builder_begin_object(b);
            kz_cli_json_time(b, "time", c->time_us);
            kz_cli_json_time(b, "stored", e->stored_us);
            kz_cli_json_str(b, "what", e->what);
            kz_cli_json_str(b, "from", c->from);
            kz_cli_json_str(b, "to", c->to);
            if (owner) {
                kz_cli_json_str(b, "from_team", c->from_team);
                kz_cli_json_str(b, "to_team", c->to_team);
                kz_cli_json_bool(b, "handoff", c->handoff);
            }
            json_builder_end_object(b);
            continue;
        }
        g_autofree char *day = day_of(c->time_us);
        g_autofree char *teams = NULL;
        if (owner && g_strcmp0(c->from_team, c->to_team) != 0)
            teams = g_strdup_printf("  (team %s > %s%s)", c->from_team != NULL ? c->from_team : "-",
                                    c->to_team != NULL ? c->to_team : "-", c->handoff ? ", hand-off" : "");
        kz_cli_print("  %s  %-8s %s > %s%s\n", day, e->what, c->from != NULL ? c->from : "-",
                     c->to != NULL ? c->to : "-", teams != NULL ? teams : "");
    }
    if (b != NULL) {
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    return TRUE;
}

static gboolean show_state(sqlite3 *db, const char *id, JsonBuilder *b)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT st.phase, st.phase_since_us, st.success_us, st.overdue_since_us, st.tier, ow.owner,"
                           " ow.team, ow.unassigned, st.account_id IS NOT NULL OR ow.account_id IS NOT NULL"
                           " FROM accounts AS a LEFT JOIN account_state AS st ON st.account_id = a.id"
                           " LEFT JOIN kz_owners AS ow ON ow.account_id = a.id WHERE a.id = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "kizuna: %s\n", sqlite3_errmsg(db));
        return FALSE;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        fprintf(stderr, "kizuna: %s\n", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return FALSE;
    }
    if (rc == SQLITE_DONE || !sqlite3_column_int(st, 8)) { /* neither the lifecycle nor an assignment saw it */
        sqlite3_finalize(st);
        if (b != NULL) {
            json_builder_set_member_name(b, "lifecycle");
            json_builder_add_null_value(b);
        }
        return TRUE;
    }
    const char *phase = kz_phase_name(sqlite3_column_int(st, 0));
    const char *tier = kz_tier_name(sqlite3_column_int(st, 4));
    const char *owner = (const char *)sqlite3_column_text(st, 5);
    const char *team = (const char *)sqlite3_column_text(st, 6);
    gboolean has_since = sqlite3_column_type(st, 1) != SQLITE_NULL;
    gboolean success = sqlite3_column_type(st, 2) != SQLITE_NULL;
    gboolean overdue = sqlite3_column_type(st, 3) != SQLITE_NULL;
    int why = sqlite3_column_int(st, 7);
    if (b != NULL) {
        json_builder_set_member_name(b, "lifecycle");
        json_builder_begin_object(b);
        kz_cli_json_str(b, "phase", phase);
        if (has_since)
            kz_cli_json_time(b, "phase_since", sqlite3_column_int64(st, 1));
        if (success)
            kz_cli_json_time(b, "success", sqlite3_column_int64(st, 2));
        kz_cli_json_bool(b, "overdue", overdue);
        kz_cli_json_str(b, "tier", tier);
        kz_cli_json_str(b, "owner", owner);
        kz_cli_json_str(b, "team", team);
        kz_cli_json_str(b, "unassigned", owner == NULL && why > 0 && why <= 3 ? reason_names[why] : NULL);
        json_builder_end_object(b);
    } else {
        g_autofree char *since = has_since ? day_of(sqlite3_column_int64(st, 1)) : NULL;
        kz_cli_print("\nLifecycle\n  phase     %s%s%s%s%s\n  tier      %s\n  owner     %s%s%s%s\n",
                     phase != NULL ? phase : "-", since != NULL ? " since " : "", since != NULL ? since : "",
                     success ? " (success reached)" : "", overdue ? "  OVERDUE" : "", tier != NULL ? tier : "-",
                     owner != NULL ? owner : "-", team != NULL ? " (team " : "", team != NULL ? team : "",
                     team != NULL ? ")" : "");
        if (owner == NULL && why > 0 && why <= 3)
            kz_cli_print("  unassigned: %s\n", reason_names[why]);
    }
    sqlite3_finalize(st);
    return TRUE;
}
