/*
 * core/cli/cmd_run.c — `kizuna run` (the whole job: sync, measures and
 * score, lifecycle and tiers, assignment, playbooks, delivery, and a
 * summary), `kizuna touches` (the outbox) and `kizuna tasks` (the task
 * channel's to-dos for CSMs).
 */
#include "cli.h"

#include "../errors.h"
#include "../instance.h"
#include "../org/lifecycle.h"
#include "../play/playbook.h"
#include "../score/health.h"
#include "../score/measures.h"
#include "../stack.h"
#include "../sync/sync.h"
#include "../values.h"

#include <kizuna/channel.h>
#include <kizuna/orgmodel.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* The stages of a run, in order, for their timings. */
enum { ST_SYNC, ST_SCORE, ST_LIFECYCLE, ST_ASSIGN, ST_PLAYBOOKS, ST_DELIVER, ST_N };
static const char *const stage_names[ST_N] = {"sync", "score", "lifecycle", "assign", "playbooks", "deliver"};

/* What the stages of one run did. */
typedef struct run_report {
    gint64 as_of;
    gboolean dry_run;
    kz_sync_counts sync;   /* summed over sources and entities */
    guint sources, failed; /* failed: sources and stages that failed */
    gint64 score_run;
    guint per_grade[KZ_CONFIG_MAX_GRADES + 1]; /* by grade index; the unscored last */
    GPtrArray *worst;                          /* account ids in the worst grade */
    kz_lifecycle_summary lifecycle;
    gboolean assigned;
    guint assign[4]; /* assigned, new, moved, unowned */
    kz_play_summary play;
    kz_deliver_summary deliver;
    gint64 stage_us[ST_N]; /* wall time of each stage; -1: not run */
} run_report;

/* Starts timing stage `s`; stage_end() stops it. */
static gint64 stage_start(void)
{
    return g_get_monotonic_time();
}

static void stage_end(run_report *r, int s, gint64 t0)
{
    r->stage_us[s] = g_get_monotonic_time() - t0;
}

static void add_counts(kz_sync_counts *sum, const kz_sync_counts *c)
{
    sum->read += c->read;
    sum->inserted += c->inserted;
    sum->updated += c->updated;
    sum->unchanged += c->unchanged;
    sum->quarantined += c->quarantined;
}

static gboolean stage_sync(const kz_config *cfg, const kz_registry *reg, kz_store *store, run_report *r)
{
    gboolean ok = TRUE;
    for (guint i = 0; i < cfg->instances->len; i++) {
        const kz_config_instance *ci = cfg->instances->pdata[i];
        if (ci->kind != KZ_COMPONENT_SOURCE)
            continue;
        kz_sync_report report = {0};
        r->sources++;
        if (!kz_cli_sync_one(cfg, reg, store, ci, FALSE, &report)) {
            r->failed++;
            ok = FALSE;
        }
        for (guint e = 0; e < KZ_SYNC_ENTITIES; e++)
            add_counts(&r->sync, &report.entity[e]);
        kz_sync_report_clear(&report);
    }
    return ok;
}

/* Every stage in order; a failed stage stops the stages that need it. */
static gboolean run_stages(kz_config *cfg, kz_registry *reg, kz_store *store, run_report *r)
{
    g_autoptr(GError) err = NULL;
    /* a source that failed leaves the store as it was: the rest of the job
     * still runs on what is there, and the run fails at the end */
    for (int s = 0; s < ST_N; s++)
        r->stage_us[s] = -1;
    gint64 t0 = stage_start();
    gboolean ok = stage_sync(cfg, reg, store, r);
    stage_end(r, ST_SYNC, t0);
    if (cfg->health != NULL) {
        t0 = stage_start();
        if (!kz_cli_score_stage(cfg, reg, store, r->as_of, &r->score_run, r->per_grade, r->worst))
            return FALSE;
        stage_end(r, ST_SCORE, t0);
    }
    if (cfg->phases != NULL || cfg->tier_rules != NULL) {
        t0 = stage_start();
        if (!kz_lifecycle_run(store, cfg, r->as_of, &r->lifecycle, &err)) {
            fprintf(stderr, "kizuna: lifecycle: %s\n", err->message);
            return FALSE;
        }
        stage_end(r, ST_LIFECYCLE, t0);
    }
    if (cfg->org != NULL) {
        t0 = stage_start();
        if (!kz_cli_assign_stage(cfg, reg, store, r->assign))
            return FALSE;
        r->assigned = TRUE;
        stage_end(r, ST_ASSIGN, t0);
    }
    t0 = stage_start();
    if (!kz_playbooks_evaluate(store, cfg, reg, r->as_of, r->dry_run, &r->play, &err)) {
        fprintf(stderr, "kizuna: playbooks: %s\n", err->message);
        return FALSE;
    }
    stage_end(r, ST_PLAYBOOKS, t0);
    if (r->dry_run)
        return ok;
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    t0 = stage_start();
    gboolean delivered = kz_outbox_deliver(store, cfg, reg, &r->deliver, problems, &err);
    stage_end(r, ST_DELIVER, t0);
    for (guint i = 0; i < problems->len; i++)
        fprintf(stderr, "kizuna: deliver: %s\n", (char *)problems->pdata[i]);
    if (!delivered) {
        fprintf(stderr, "kizuna: deliver: %s\n", err->message);
        return FALSE;
    }
    return ok;
}

/* ---- the summary -------------------------------------------------------- */

static const char *grade_name(const kz_config *cfg, guint g)
{
    return kz_health_grade_name(cfg, (guint8)g);
}

/* The largest accounts of the worst grade, with ARR and owner. */
static sqlite3_stmt *at_risk_query(sqlite3 *db, const GPtrArray *ids)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    for (guint i = 0; i < ids->len; i++)
        json_builder_add_string_value(b, ids->pdata[i]);
    json_builder_end_array(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    g_autofree char *json = json_generator_to_data(gen, NULL);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT a.id, a.name, a.arr_minor, a.currency, ow.owner FROM json_each(?1) AS j"
                           " JOIN accounts AS a ON a.id = j.value LEFT JOIN kz_owners AS ow ON ow.account_id = a.id"
                           " ORDER BY a.arr_minor DESC NULLS LAST, a.id LIMIT 5",
                           -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, json, -1, SQLITE_TRANSIENT);
    return st;
}

/* The ARR of the accounts `ids`, per currency: "1200.00 EUR + 300.00 USD". */
static char *worst_arr(sqlite3 *db, const GPtrArray *ids)
{
    GString *list = g_string_new("[");
    for (guint i = 0; i < ids->len; i++) {
        char *q = sqlite3_mprintf("%s\"%w\"", i ? "," : "", (char *)ids->pdata[i]);
        g_string_append(list, q);
        sqlite3_free(q);
    }
    g_string_append_c(list, ']');
    GString *out = g_string_new(NULL);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT currency, sum(arr_minor) FROM accounts WHERE id IN (SELECT value FROM json_each(?1))"
                           " AND arr_minor IS NOT NULL GROUP BY currency ORDER BY sum(arr_minor) DESC",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, list->str, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            g_autofree char *money =
                kz_money_format(sqlite3_column_int64(st, 1), (const char *)sqlite3_column_text(st, 0));
            g_string_append_printf(out, "%s%s", out->len > 0 ? " + " : "", money);
        }
    }
    sqlite3_finalize(st);
    g_string_free(list, TRUE);
    return g_string_free(out, FALSE);
}

/* Touches by channel and status, the whole outbox. */
static sqlite3_stmt *touch_counts(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT channel, count(*) FILTER (WHERE status = 'delivered'),"
                           " count(*) FILTER (WHERE status IN ('pending', 'sending')),"
                           " count(*) FILTER (WHERE status = 'retry'), count(*) FILTER (WHERE status = 'dead')"
                           " FROM touches GROUP BY channel ORDER BY channel",
                           -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

static void report_text(const kz_config *cfg, sqlite3 *db, const run_report *r)
{
    g_autofree char *day = kz_time_format(r->as_of);
    day[10] = '\0';
    kz_cli_print("kizuna run as of %s%s\n", day, r->dry_run ? " (dry run: no touch written or delivered)" : "");
    kz_cli_print("  sync       %u sources: read %" G_GUINT64_FORMAT ", inserted %" G_GUINT64_FORMAT
                 ", updated %" G_GUINT64_FORMAT ", unchanged %" G_GUINT64_FORMAT ", quarantined %" G_GUINT64_FORMAT
                 "%s\n",
                 r->sources, r->sync.read, r->sync.inserted, r->sync.updated, r->sync.unchanged, r->sync.quarantined,
                 r->failed > 0 ? " (a source failed: see above)" : "");
    if (r->score_run > 0)
        kz_cli_print("  score      run %" G_GINT64_FORMAT "\n", r->score_run);
    if (cfg->phases != NULL || cfg->tier_rules != NULL)
        kz_cli_print("  lifecycle  %u accounts: %u phase changes, %u tier changes, %u newly overdue\n",
                     r->lifecycle.accounts, r->lifecycle.phase_changes, r->lifecycle.tier_changes,
                     r->lifecycle.new_overdue);
    if (r->assigned)
        kz_cli_print("  assign     %u owned (%u new, %u moved), %u without an owner\n", r->assign[0], r->assign[1],
                     r->assign[2], r->assign[3]);
    if (cfg->playbooks != NULL) {
        kz_cli_print("  playbooks  %u new touches; %u already in the outbox, %u cooling down, %u with nobody to "
                     "address, %u in a tier the channel does not serve\n",
                     r->play.written, r->play.already, r->play.cooling, r->play.nobody, r->play.other_tier);
        for (guint i = 0; i < r->play.n_playbooks; i++)
            if (r->play.per_playbook[i] > 0)
                kz_cli_print("             %-20s %u\n", ((kz_config_playbook *)cfg->playbooks->pdata[i])->name,
                             r->play.per_playbook[i]);
    }
    if (!r->dry_run)
        kz_cli_print("  deliver    %u attempted: %u delivered, %u to retry, %u dead-lettered\n", r->deliver.attempted,
                     r->deliver.delivered, r->deliver.retrying, r->deliver.dead);
    GString *took = g_string_new(NULL);
    for (int s = 0; s < ST_N; s++)
        if (r->stage_us[s] >= 0)
            g_string_append_printf(took, "%s %s %.2f s", took->len ? "," : "", stage_names[s], r->stage_us[s] / 1e6);
    kz_cli_print("  took      %s\n", took->str);
    g_string_free(took, TRUE);
    if (cfg->phases != NULL) {
        GString *line = g_string_new("accounts by phase:");
        for (int p = KZ_PHASE_ONBOARDING; p <= KZ_PHASE_CHURNED; p++)
            g_string_append_printf(line, " %s %u,", kz_phase_name(p), r->lifecycle.per_phase[p]);
        g_string_append_printf(line, " none %u (overdue %u)", r->lifecycle.per_phase[0], r->lifecycle.overdue);
        kz_cli_print("%s\n", line->str);
        g_string_free(line, TRUE);
    }
    if (cfg->tier_rules != NULL)
        kz_cli_print("accounts by tier: high %u, low %u, tech %u, none %u\n", r->lifecycle.per_tier[KZ_TIER_HIGH],
                     r->lifecycle.per_tier[KZ_TIER_LOW], r->lifecycle.per_tier[KZ_TIER_TECH], r->lifecycle.per_tier[0]);
    if (r->score_run > 0) {
        GString *line = g_string_new("accounts by grade:");
        for (guint g = 0; g < cfg->health->grades->len; g++)
            g_string_append_printf(line, "%s %s %u", g ? "," : "", grade_name(cfg, g), r->per_grade[g]);
        g_string_append_printf(line, ", unscored %u", r->per_grade[KZ_CONFIG_MAX_GRADES]);
        kz_cli_print("%s\n", line->str);
        g_string_free(line, TRUE);
        g_autofree char *money = worst_arr(db, r->worst);
        kz_cli_print("at risk (grade %s): %u accounts%s%s\n", grade_name(cfg, 0), r->worst->len,
                     money[0] != '\0' ? ", ARR " : "", money);
        sqlite3_stmt *st = at_risk_query(db, r->worst);
        while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
            g_autofree char *a = kz_money_format(sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 3));
            const char *owner = (const char *)sqlite3_column_text(st, 4);
            kz_cli_print("  %-12s %-32s %16s  owner %s\n", sqlite3_column_text(st, 0),
                         sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "",
                         sqlite3_column_type(st, 2) == SQLITE_NULL ? "-" : a, owner != NULL ? owner : "(none)");
        }
        sqlite3_finalize(st);
    }
    sqlite3_stmt *st = touch_counts(db);
    kz_cli_print("touches by channel (the whole outbox):%s\n",
                 st != NULL && sqlite3_step(st) == SQLITE_ROW ? "" : " none yet");
    if (st != NULL)
        sqlite3_reset(st);
    while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
        kz_cli_print("  %-16s delivered %d, pending %d, retry %d, dead %d\n", sqlite3_column_text(st, 0),
                     sqlite3_column_int(st, 1), sqlite3_column_int(st, 2), sqlite3_column_int(st, 3),
                     sqlite3_column_int(st, 4));
    sqlite3_finalize(st);
}

static void report_json(const kz_config *cfg, sqlite3 *db, const run_report *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    kz_cli_json_time(b, "as_of", r->as_of);
    kz_cli_json_bool(b, "dry_run", r->dry_run);
    json_builder_set_member_name(b, "sync");
    json_builder_begin_object(b);
    kz_cli_json_int(b, "sources", r->sources);
    kz_cli_json_int(b, "failed", r->failed);
    kz_cli_json_int(b, "read", (gint64)r->sync.read);
    kz_cli_json_int(b, "inserted", (gint64)r->sync.inserted);
    kz_cli_json_int(b, "updated", (gint64)r->sync.updated);
    kz_cli_json_int(b, "unchanged", (gint64)r->sync.unchanged);
    kz_cli_json_int(b, "quarantined", (gint64)r->sync.quarantined);
    json_builder_end_object(b);
    kz_cli_json_int(b, "score_run", r->score_run);
    if (cfg->phases != NULL || cfg->tier_rules != NULL) {
        json_builder_set_member_name(b, "phases");
        json_builder_begin_object(b);
        for (int p = KZ_PHASE_ONBOARDING; p <= KZ_PHASE_CHURNED; p++)
            kz_cli_json_int(b, kz_phase_name(p), r->lifecycle.per_phase[p]);
        kz_cli_json_int(b, "none", r->lifecycle.per_phase[0]);
        json_builder_end_object(b);
        kz_cli_json_int(b, "overdue", r->lifecycle.overdue);
        json_builder_set_member_name(b, "tiers");
        json_builder_begin_object(b);
        for (int t = KZ_TIER_TECH; t <= KZ_TIER_HIGH; t++)
            kz_cli_json_int(b, kz_tier_name(t), r->lifecycle.per_tier[t]);
        kz_cli_json_int(b, "none", r->lifecycle.per_tier[0]);
        json_builder_end_object(b);
    }
    if (r->score_run > 0) {
        json_builder_set_member_name(b, "grades");
        json_builder_begin_object(b);
        for (guint g = 0; g < cfg->health->grades->len; g++)
            kz_cli_json_int(b, grade_name(cfg, g), r->per_grade[g]);
        kz_cli_json_int(b, "unscored", r->per_grade[KZ_CONFIG_MAX_GRADES]);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "at_risk");
        json_builder_begin_object(b);
        kz_cli_json_str(b, "grade", grade_name(cfg, 0));
        kz_cli_json_int(b, "accounts", r->worst->len);
        g_autofree char *money = worst_arr(db, r->worst);
        kz_cli_json_str(b, "arr", money);
        json_builder_end_object(b);
    }
    if (r->assigned) {
        json_builder_set_member_name(b, "assign");
        json_builder_begin_object(b);
        kz_cli_json_int(b, "owned", r->assign[0]);
        kz_cli_json_int(b, "new", r->assign[1]);
        kz_cli_json_int(b, "moved", r->assign[2]);
        kz_cli_json_int(b, "unowned", r->assign[3]);
        json_builder_end_object(b);
    }
    json_builder_set_member_name(b, "playbooks");
    json_builder_begin_object(b);
    kz_cli_json_int(b, "matched", r->play.matched);
    kz_cli_json_int(b, "written", r->play.written);
    kz_cli_json_int(b, "already", r->play.already);
    kz_cli_json_int(b, "cooling", r->play.cooling);
    kz_cli_json_int(b, "nobody", r->play.nobody);
    kz_cli_json_int(b, "other_tier", r->play.other_tier);
    json_builder_set_member_name(b, "by_playbook");
    json_builder_begin_object(b);
    for (guint i = 0; i < r->play.n_playbooks; i++)
        kz_cli_json_int(b, ((kz_config_playbook *)cfg->playbooks->pdata[i])->name, r->play.per_playbook[i]);
    json_builder_end_object(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "deliver");
    json_builder_begin_object(b);
    kz_cli_json_int(b, "attempted", r->deliver.attempted);
    kz_cli_json_int(b, "delivered", r->deliver.delivered);
    kz_cli_json_int(b, "retrying", r->deliver.retrying);
    kz_cli_json_int(b, "dead", r->deliver.dead);
    kz_cli_json_int(b, "unstarted", r->deliver.unstarted);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "seconds"); /* per stage that ran */
    json_builder_begin_object(b);
    for (int s = 0; s < ST_N; s++)
        if (r->stage_us[s] >= 0)
            kz_cli_json_double(b, stage_names[s], r->stage_us[s] / 1e6);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "touches_by_channel");
    json_builder_begin_object(b);
    sqlite3_stmt *st = touch_counts(db);
    while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
        json_builder_set_member_name(b, (const char *)sqlite3_column_text(st, 0));
        json_builder_begin_object(b);
        kz_cli_json_int(b, "delivered", sqlite3_column_int(st, 1));
        kz_cli_json_int(b, "pending", sqlite3_column_int(st, 2));
        kz_cli_json_int(b, "retry", sqlite3_column_int(st, 3));
        kz_cli_json_int(b, "dead", sqlite3_column_int(st, 4));
        json_builder_end_object(b);
    }
    sqlite3_finalize(st);
    json_builder_end_object(b);
    json_builder_end_object(b);
    kz_cli_print_json(json_builder_get_root(b));
}

int kz_cmd_run(int argc, char **argv)
{
    gboolean json = FALSE, dry_run = FALSE;
    char *as_of_opt = NULL;
    const GOptionEntry entries[] = {
        {"as-of", 0, 0, G_OPTION_ARG_STRING, &as_of_opt, "Evaluate as of DATE (default: the end of today)", "DATE"},
        {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
         "Bring the store up to date, evaluate the playbooks, but write no touch and deliver nothing", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the summary as JSON", NULL},
        G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "",
                      "The whole job: sync, measures and score, lifecycle and tiers, assignment, playbooks and "
                      "delivery, then a summary.",
                      entries))
        return KZ_EXIT_USAGE;
    g_autofree char *as_of_text = as_of_opt;
    run_report r = {0};
    if (!kz_cli_parse_as_of(as_of_text, &r.as_of))
        return KZ_EXIT_USAGE;
    r.dry_run = dry_run;
    g_autoptr(kz_config) cfg = NULL;
    g_autoptr(kz_registry) reg = NULL;
    g_autoptr(kz_store) store = NULL;
    if (!kz_cli_load_stack(&cfg, &reg, &store))
        return KZ_EXIT_FAILED;
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    if (!kz_stack_check(cfg, reg, errors)) {
        for (guint i = 0; i < errors->len; i++)
            fprintf(stderr, "%s\n", (char *)errors->pdata[i]);
        return KZ_EXIT_FAILED;
    }
    r.worst = g_ptr_array_new_with_free_func(g_free);
    gboolean ok = run_stages(cfg, reg, store, &r);
    if (json)
        report_json(cfg, kz_store_db(store), &r);
    else
        report_text(cfg, kz_store_db(store), &r);
    g_ptr_array_unref(r.worst);
    kz_play_summary_clear(&r.play);
    return ok ? KZ_EXIT_OK : KZ_EXIT_FAILED;
}

/* ---- kizuna touches ----------------------------------------------------- */

static const char *const statuses[] = {"pending", "sending", "retry", "delivered", "dead", NULL};

static char *time_text(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? g_strdup("-") : kz_time_format(sqlite3_column_int64(st, col));
}

static int touches_retry(kz_store *store, const char *id_text)
{
    gint64 id = 0;
    if (id_text == NULL || !g_ascii_string_to_signed(id_text, 10, 1, G_MAXINT64, &id, NULL)) {
        fprintf(stderr, "kizuna: touches retry ID: give the touch's number (kizuna touches lists them)\n");
        return KZ_EXIT_USAGE;
    }
    g_autoptr(GError) err = NULL;
    if (!kz_outbox_retry(store, id, &err)) {
        fprintf(stderr, "kizuna: touches retry: %s\n", err->message);
        return KZ_EXIT_FAILED;
    }
    kz_cli_print("touch %" G_GINT64_FORMAT " is pending again; the next `kizuna run` delivers it\n", id);
    return KZ_EXIT_OK;
}

static void touch_events_json(JsonBuilder *b, sqlite3 *db, gint64 id)
{
    sqlite3_stmt *st = NULL;
    json_builder_set_member_name(b, "events");
    json_builder_begin_array(b);
    if (sqlite3_prepare_v2(db,
                           "SELECT time_us, status, attempt, message FROM touch_events WHERE touch_id = ?1"
                           " ORDER BY time_us, rowid",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_builder_begin_object(b);
            kz_cli_json_time(b, "time", sqlite3_column_int64(st, 0));
            kz_cli_json_str(b, "status", (const char *)sqlite3_column_text(st, 1));
            kz_cli_json_int(b, "attempt", sqlite3_column_int64(st, 2));
            kz_cli_json_str(b, "message", (const char *)sqlite3_column_text(st, 3));
            json_builder_end_object(b);
        }
    }
    sqlite3_finalize(st);
    json_builder_end_array(b);
}

int kz_cmd_touches(int argc, char **argv)
{
    gboolean json = FALSE, events = FALSE;
    char *status = NULL, *playbook = NULL;
    gint limit = 50;
    const GOptionEntry entries[] = {
        {"status", 's', 0, G_OPTION_ARG_STRING, &status, "Only touches in this status",
         "pending|sending|retry|delivered|dead"},
        {"playbook", 'p', 0, G_OPTION_ARG_STRING, &playbook, "Only touches of this playbook", "NAME"},
        {"limit", 'l', 0, G_OPTION_ARG_INT, &limit, "At most N touches, newest first (0: all; default 50)", "N"},
        {"events", 0, 0, G_OPTION_ARG_NONE, &events, "With --json: every status change of each touch", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
        G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "[retry ID]",
                      "List the outbox: every touch the playbooks made, its status and attempts. `touches retry ID` "
                      "makes a dead or retrying touch due again.",
                      entries))
        return KZ_EXIT_USAGE;
    g_autofree char *status_opt = status, *playbook_opt = playbook;
    if (status_opt != NULL && !g_strv_contains(statuses, status_opt)) {
        fprintf(stderr, "kizuna: touches --status %s: one of pending, sending, retry, delivered, dead\n", status_opt);
        return KZ_EXIT_USAGE;
    }
    if (argc > 1 && strcmp(argv[1], "retry") != 0) {
        fprintf(stderr, "kizuna: touches: unknown argument '%s' (touches [retry ID])\n", argv[1]);
        return KZ_EXIT_USAGE;
    }
    g_autoptr(kz_config) cfg = NULL;
    g_autoptr(kz_registry) reg = NULL;
    g_autoptr(kz_store) store = NULL;
    if (!kz_cli_load_stack(&cfg, &reg, &store))
        return KZ_EXIT_FAILED;
    if (argc > 1)
        return touches_retry(store, argc > 2 ? argv[2] : NULL);
    sqlite3 *db = kz_store_db(store);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, status, attempts, channel, playbook, account_id, coalesce(recipient_email,"
                           " recipient_name, recipient_id), subject, key, created_us, next_attempt_us, done_us,"
                           " last_error, receipt, trigger FROM touches WHERE (?1 IS NULL OR status = ?1)"
                           " AND (?2 IS NULL OR playbook = ?2) ORDER BY id DESC LIMIT ?3",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "kizuna: touches: %s\n", sqlite3_errmsg(db));
        return KZ_EXIT_INTERNAL;
    }
    sqlite3_bind_text(st, 1, status_opt, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, playbook_opt, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    guint n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        n++;
        const char *s = (const char *)sqlite3_column_text(st, 1);
        if (json) {
            json_builder_begin_object(b);
            kz_cli_json_int(b, "id", sqlite3_column_int64(st, 0));
            kz_cli_json_str(b, "status", s);
            kz_cli_json_int(b, "attempts", sqlite3_column_int64(st, 2));
            kz_cli_json_str(b, "channel", (const char *)sqlite3_column_text(st, 3));
            kz_cli_json_str(b, "playbook", (const char *)sqlite3_column_text(st, 4));
            kz_cli_json_str(b, "account", (const char *)sqlite3_column_text(st, 5));
            kz_cli_json_str(b, "recipient", (const char *)sqlite3_column_text(st, 6));
            kz_cli_json_str(b, "subject", (const char *)sqlite3_column_text(st, 7));
            kz_cli_json_str(b, "key", (const char *)sqlite3_column_text(st, 8));
            kz_cli_json_str(b, "trigger", (const char *)sqlite3_column_text(st, 14));
            kz_cli_json_time(b, "created", sqlite3_column_int64(st, 9));
            if (strcmp(s, "retry") == 0 || strcmp(s, "pending") == 0)
                kz_cli_json_time(b, "next_attempt", sqlite3_column_int64(st, 10));
            if (sqlite3_column_type(st, 11) != SQLITE_NULL)
                kz_cli_json_time(b, "done", sqlite3_column_int64(st, 11));
            kz_cli_json_str(b, "last_error", (const char *)sqlite3_column_text(st, 12));
            kz_cli_json_str(b, "receipt", (const char *)sqlite3_column_text(st, 13));
            if (events)
                touch_events_json(b, db, sqlite3_column_int64(st, 0));
            json_builder_end_object(b);
            continue;
        }
        g_autofree char *next = time_text(st, 10);
        const char *err = (const char *)sqlite3_column_text(st, 12);
        kz_cli_print("%6lld %-9s %2d  %-12s %-18s %-10s %-28s %s%s%s%s\n", (long long)sqlite3_column_int64(st, 0), s,
                     sqlite3_column_int(st, 2), sqlite3_column_text(st, 3), sqlite3_column_text(st, 4),
                     sqlite3_column_text(st, 5),
                     sqlite3_column_text(st, 6) != NULL ? (const char *)sqlite3_column_text(st, 6) : "-",
                     sqlite3_column_text(st, 7), strcmp(s, "retry") == 0 ? "  (next " : "",
                     strcmp(s, "retry") == 0 ? next : "", strcmp(s, "retry") == 0 ? ")" : "");
        if (err != NULL && strcmp(s, "delivered") != 0)
            kz_cli_print("         %s\n", err);
    }
    sqlite3_finalize(st);
    json_builder_end_array(b);
    if (json)
        kz_cli_print_json(json_builder_get_root(b));
    else if (n == 0)
        kz_cli_print("no touches%s%s\n", status_opt != NULL ? " with status " : "",
                     status_opt != NULL ? status_opt : "");
    return KZ_EXIT_OK;
}

/* ---- kizuna tasks ------------------------------------------------------- */

/* `tasks done ID`: an open task done now; once. */
static int task_done(sqlite3 *db, const char *id_text)
{
    gint64 id = 0;
    if (!g_ascii_string_to_signed(id_text, 10, 1, G_MAXINT64, &id, NULL)) {
        fprintf(stderr, "kizuna: tasks done ID: give the task's number (kizuna tasks lists them)\n");
        return KZ_EXIT_USAGE;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "UPDATE tasks SET status = 'done', done_us = ?2 WHERE id = ?1 AND status = 'open' "
                           "RETURNING id",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "kizuna: tasks done: %s\n", sqlite3_errmsg(db));
        return KZ_EXIT_INTERNAL;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, kz_host_now());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) {
        kz_cli_print("task %" G_GINT64_FORMAT " is done\n", id);
        return KZ_EXIT_OK;
    }
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "kizuna: tasks done: %s\n", sqlite3_errmsg(db));
        return KZ_EXIT_INTERNAL;
    }
    fprintf(stderr, "kizuna: tasks done %" G_GINT64_FORMAT ": no open task with that number\n", id);
    return KZ_EXIT_FAILED;
}

int kz_cmd_tasks(int argc, char **argv)
{
    gboolean json = FALSE, all = FALSE;
    char *csm = NULL;
    const GOptionEntry entries[] = {{"csm", 0, 0, G_OPTION_ARG_STRING, &csm,
                                     "Only this CSM's tasks (an id; 'none' for the unassigned queue)", "ID"},
                                    {"all", 'a', 0, G_OPTION_ARG_NONE, &all, "Also the tasks that are done", NULL},
                                    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
                                    G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "[done ID]",
                      "List the tasks the task channel made for CSMs, by due date. `tasks done ID` marks one done "
                      "(it then counts in the report's activity KPIs).",
                      entries))
        return KZ_EXIT_USAGE;
    g_autofree char *csm_opt = csm;
    if (argc > 1 && (strcmp(argv[1], "done") != 0 || argc != 3)) {
        fprintf(stderr, "kizuna: tasks: unknown argument '%s' (tasks [done ID])\n", argv[1]);
        return KZ_EXIT_USAGE;
    }
    g_autoptr(kz_config) cfg = NULL;
    g_autoptr(kz_registry) reg = NULL;
    g_autoptr(kz_store) store = NULL;
    if (!kz_cli_load_stack(&cfg, &reg, &store))
        return KZ_EXIT_FAILED;
    sqlite3 *db = kz_store_db(store);
    if (argc == 3)
        return task_done(db, argv[2]);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT t.id, t.csm, t.account_id, a.name, t.playbook, t.title, t.body, t.created_us,"
                           " t.due_us, t.status FROM tasks AS t LEFT JOIN accounts AS a ON a.id = t.account_id"
                           " WHERE (?1 IS NULL OR (?1 = 'none' AND t.csm IS NULL) OR t.csm = ?1)"
                           " AND (?2 OR t.status = 'open') ORDER BY t.due_us IS NULL, t.due_us, t.id",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "kizuna: tasks: %s\n", sqlite3_errmsg(db));
        return KZ_EXIT_INTERNAL;
    }
    sqlite3_bind_text(st, 1, csm_opt, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, all);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    guint n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        n++;
        if (json) {
            json_builder_begin_object(b);
            kz_cli_json_int(b, "id", sqlite3_column_int64(st, 0));
            kz_cli_json_str(b, "csm", (const char *)sqlite3_column_text(st, 1));
            kz_cli_json_str(b, "account", (const char *)sqlite3_column_text(st, 2));
            kz_cli_json_str(b, "account_name", (const char *)sqlite3_column_text(st, 3));
            kz_cli_json_str(b, "playbook", (const char *)sqlite3_column_text(st, 4));
            kz_cli_json_str(b, "title", (const char *)sqlite3_column_text(st, 5));
            kz_cli_json_str(b, "body", (const char *)sqlite3_column_text(st, 6));
            kz_cli_json_time(b, "created", sqlite3_column_int64(st, 7));
            if (sqlite3_column_type(st, 8) != SQLITE_NULL)
                kz_cli_json_time(b, "due", sqlite3_column_int64(st, 8));
            kz_cli_json_str(b, "status", (const char *)sqlite3_column_text(st, 9));
            json_builder_end_object(b);
            continue;
        }
        g_autofree char *due = time_text(st, 8);
        if (strlen(due) > 10)
            due[10] = '\0';
        kz_cli_print("%5lld  due %-10s  %-10s %-10s %s\n", (long long)sqlite3_column_int64(st, 0), due,
                     sqlite3_column_text(st, 1) != NULL ? (const char *)sqlite3_column_text(st, 1) : "(none)",
                     sqlite3_column_text(st, 2), sqlite3_column_text(st, 5));
    }
    sqlite3_finalize(st);
    json_builder_end_array(b);
    if (json)
        kz_cli_print_json(json_builder_get_root(b));
    else if (n == 0)
        kz_cli_print("no open tasks%s%s\n", csm_opt != NULL ? " for " : "", csm_opt != NULL ? csm_opt : "");
    return KZ_EXIT_OK;
}
