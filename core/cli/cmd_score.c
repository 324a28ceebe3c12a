/*
 * core/cli/cmd_score.c — `kizuna measures` (roll up the measures),
 * `kizuna score` (score the book of business with the health model and
 * keep the run), `kizuna backtest` (how well each scorer foretold an
 * outcome, and with --fit what learning from it would gain), and the
 * health part of `kizuna account ID`.
 */
#include "cli.h"

#include "../errors.h"
#include "../instance.h"
#include "../score/backtest.h"
#include "../score/health.h"
#include "../stack.h"
#include "../values.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* The stack, its measures as of `as_of` (stored when `store_it`) and the
 * health model's scorers; prints why not and returns FALSE. */
typedef struct {
    kz_config *cfg;
    kz_registry *reg;
    kz_store *store;
    kz_measure_set *set;
    kz_health *health;
} session;

static void session_clear(session *s)
{
    kz_health_free(s->health);
    kz_measure_set_free(s->set);
    kz_store_close(s->store);
    kz_registry_free(s->reg);
    kz_config_free(s->cfg);
}

static gboolean session_open(session *s, gint64 as_of, gboolean store_it, gboolean with_health, gboolean refit)
{
    if (!kz_cli_load_stack(&s->cfg, &s->reg, &s->store))
        return FALSE;
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    if (with_health)
        s->health = kz_health_new(s->cfg, s->reg, s->store, refit, errors);
    else
        kz_measures_check(s->cfg, errors);
    for (guint i = 0; i < errors->len; i++)
        fprintf(stderr, "%s\n", (char *)errors->pdata[i]);
    if (errors->len > 0)
        return FALSE;
    g_autoptr(GError) err = NULL;
    s->set = kz_measures_rollup(s->store, s->cfg, as_of, store_it, &err);
    if (s->set == NULL)
        fprintf(stderr, "kizuna: measures: %s\n", err->message);
    return s->set != NULL;
}

/* ---- kizuna measures --------------------------------------------------- */

static void column_summary(const kz_measure_column *c, guint n, guint *present, double *mean, double *lo, double *hi)
{
    double sum = 0;
    *present = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (guint i = 0; i < n; i++) {
        if (c->type == KZ_COLUMN_CATEGORICAL) {
            *present += c->codes[i] >= 0;
            continue;
        }
        double v = c->values[i];
        if (isnan(v))
            continue;
        (*present)++;
        sum += v;
        *lo = MIN(*lo, v);
        *hi = MAX(*hi, v);
    }
    *mean = *present > 0 && c->type == KZ_COLUMN_DOUBLE ? sum / *present : NAN;
}

/* Every account with its measures: the columnar table as rows. */
static void measures_csv(const kz_measure_set *set)
{
    g_autoptr(GString) line = g_string_new(NULL);
    kz_cli_csv_field(line, "account");
    for (guint c = 0; c < set->columns->len; c++)
        kz_cli_csv_field(line, ((kz_measure_column *)set->columns->pdata[c])->name);
    kz_cli_csv_end_line(line);
    for (guint i = 0; i < set->roster->n; i++) {
        kz_cli_csv_field(line, set->roster->ids[i]);
        for (guint c = 0; c < set->columns->len; c++) {
            const kz_measure_column *col = set->columns->pdata[c];
            if (col->type == KZ_COLUMN_CATEGORICAL) {
                kz_cli_csv_field(line, col->codes[i] >= 0 ? col->levels->pdata[col->codes[i]] : NULL);
            } else {
                g_autofree char *v = isnan(col->values[i]) ? NULL : kz_double_format(col->values[i]);
                kz_cli_csv_field(line, v);
            }
        }
        kz_cli_csv_end_line(line);
    }
}

int kz_cmd_measures(int argc, char **argv)
{
    gboolean json = FALSE, csv = FALSE;
    char *as_of_opt = NULL;
    const GOptionEntry entries[] = {
        {"as-of", 0, 0, G_OPTION_ARG_STRING, &as_of_opt, "Windows end when DATE begins (default: the end of today)",
         "DATE"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
        {"csv", 0, 0, G_OPTION_ARG_NONE, &csv, "Print every account's measures as CSV (empty = missing)", NULL},
        G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "measures", "Roll up the measures of the stack config per account.", entries))
        return KZ_EXIT_USAGE;
    if (json && csv) {
        fprintf(stderr, "kizuna: usage: kizuna measures [--as-of DATE] [--json|--csv]\n");
        return KZ_EXIT_USAGE;
    }
    g_autofree char *as_of_text = as_of_opt;
    gint64 as_of = 0;
    if (!kz_cli_parse_as_of(as_of_text, &as_of))
        return KZ_EXIT_USAGE;
    session s = {0};
    gboolean ok = session_open(&s, as_of, TRUE, FALSE, FALSE);
    if (!ok) {
        session_clear(&s);
        return KZ_EXIT_FAILED;
    }
    if (csv) {
        measures_csv(s.set);
        session_clear(&s);
        return KZ_EXIT_OK;
    }
    guint n = s.set->roster->n;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    kz_cli_json_time(b, "as_of", as_of);
    kz_cli_json_int(b, "accounts", n);
    json_builder_set_member_name(b, "measures");
    json_builder_begin_array(b);
    g_autofree char *day = kz_time_format(as_of);
    if (!json)
        kz_cli_print("%u accounts, measures as of %s\n", n, day);
    for (guint i = 0; i < s.set->columns->len; i++) {
        const kz_measure_column *c = s.set->columns->pdata[i];
        const kz_config_measure *m = s.cfg->measures->pdata[i];
        guint present;
        double mean, lo, hi;
        column_summary(c, n, &present, &mean, &lo, &hi);
        json_builder_begin_object(b);
        kz_cli_json_str(b, "name", c->name);
        kz_cli_json_str(b, "kind", m->kind);
        kz_cli_json_str(b, "type", c->type == KZ_COLUMN_CATEGORICAL ? "categorical" : "number");
        kz_cli_json_bool(b, "computed", c->computed);
        kz_cli_json_int(b, "present", present);
        kz_cli_json_double(b, "mean", mean);
        kz_cli_json_double(b, "min", lo);
        kz_cli_json_double(b, "max", hi);
        if (c->type == KZ_COLUMN_CATEGORICAL) {
            kz_cli_json_int(b, "levels", c->levels->len);
        }
        json_builder_end_object(b);
        if (json)
            continue;
        if (c->type == KZ_COLUMN_CATEGORICAL)
            kz_cli_print("  %-24s %-18s %-9s present %-8u %u levels\n", c->name, m->kind,
                         c->computed ? "computed" : "unchanged", present, c->levels->len);
        else if (present > 0)
            kz_cli_print("  %-24s %-18s %-9s present %-8u mean %-10.4g min %-10.4g max %.4g\n", c->name, m->kind,
                         c->computed ? "computed" : "unchanged", present, mean, lo, hi);
        else
            kz_cli_print("  %-24s %-18s %-9s present 0\n", c->name, m->kind, c->computed ? "computed" : "unchanged");
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    if (json)
        kz_cli_print_json(json_builder_get_root(b));
    session_clear(&s);
    return KZ_EXIT_OK;
}

/* ---- kizuna score ------------------------------------------------------ */

static void fits_json(JsonBuilder *b, const GPtrArray *fits, const double *auc_before, const double *auc_after)
{
    json_builder_begin_array(b);
    for (guint i = 0; i < fits->len; i++) {
        const kz_fit_report *f = fits->pdata[i];
        json_builder_begin_object(b);
        kz_cli_json_str(b, "scorer", f->scorer);
        if (auc_before != NULL) {
            kz_cli_json_double(b, "auc_before", auc_before[i]);
            kz_cli_json_double(b, "auc_after", auc_after[i]);
        }
        kz_cli_json_int(b, "iterations", f->iterations);
        kz_cli_json_bool(b, "converged", f->converged);
        kz_cli_json_double(b, "deviance", f->deviance);
        kz_cli_json_bool(b, "kept", f->kept);
        if (f->note != NULL) {
            kz_cli_json_str(b, "note", f->note);
        }
        json_builder_set_member_name(b, "terms");
        json_builder_begin_array(b);
        for (guint t = 0; t < f->terms->len; t++) {
            const kz_fit_term *term = &g_array_index(f->terms, kz_fit_term, t);
            json_builder_begin_object(b);
            kz_cli_json_str(b, "name", term->name);
            json_builder_set_member_name(b, "estimate");
            json_builder_add_double_value(b, term->estimate);
            kz_cli_json_double(b, "std_error", term->std_error);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void fits_text(const GPtrArray *fits, const double *auc_before, const double *auc_after)
{
    for (guint i = 0; i < fits->len; i++) {
        const kz_fit_report *f = fits->pdata[i];
        kz_cli_print("fitted %s: %u iterations%s, deviance %.10g%s%s%s\n", f->scorer, f->iterations,
                     f->converged ? "" : " (not converged)", f->deviance, f->kept ? ", model kept" : "",
                     f->note != NULL ? ", not kept: " : "", f->note != NULL ? f->note : "");
        if (auc_before != NULL)
            kz_cli_print("  AUC %.5f before, %.5f after\n", auc_before[i], auc_after[i]);
        for (guint t = 0; t < f->terms->len; t++) {
            const kz_fit_term *term = &g_array_index(f->terms, kz_fit_term, t);
            if (isnan(term->std_error))
                kz_cli_print("  %-36s %.10g\n", term->name, term->estimate);
            else
                kz_cli_print("  %-36s %-18.10g (std. error %.6g)\n", term->name, term->estimate, term->std_error);
        }
    }
}

static double mean_of(const double *v, guint n, guint *present)
{
    double sum = 0;
    *present = 0;
    for (guint i = 0; i < n; i++)
        if (!isnan(v[i])) {
            sum += v[i];
            (*present)++;
        }
    return *present > 0 ? sum / *present : NAN;
}

static double *labels_for(const session *s, const char *label)
{
    g_autoptr(GError) err = NULL;
    double *labels = kz_health_labels(s->cfg->store_path, label, s->set->roster, s->set->as_of_us, &err);
    if (labels == NULL)
        fprintf(stderr, "kizuna: label '%s': %s\n", label, err->message);
    return labels;
}

static void score_print(const session *s, const kz_health_scores *scores, const GPtrArray *fits, gint64 as_of,
                        gint64 run, gboolean stored, gboolean json);

gboolean kz_cli_score_stage(struct kz_config *cfg, struct kz_registry *reg, struct kz_store *store, gint64 as_of,
                            gint64 *run, guint *per_grade, GPtrArray *worst)
{
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) fits = g_ptr_array_new_with_free_func((GDestroyNotify)kz_fit_report_free);
    g_autoptr(GError) err = NULL;
    session s = {cfg, reg, store, NULL, kz_health_new(cfg, reg, store, FALSE, errors)};
    for (guint i = 0; i < errors->len; i++)
        fprintf(stderr, "%s\n", (char *)errors->pdata[i]);
    g_autofree double *labels = NULL;
    g_autoptr(kz_health_scores) scores = NULL;
    gboolean stored = FALSE, ok = FALSE;
    if (s.health == NULL || errors->len > 0)
        goto out;
    if ((s.set = kz_measures_rollup(store, cfg, as_of, TRUE, &err)) == NULL) {
        fprintf(stderr, "kizuna: measures: %s\n", err->message);
        goto out;
    }
    if (cfg->health->label != NULL && (labels = labels_for(&s, cfg->health->label)) == NULL)
        goto out;
    /* explained, as `kizuna score` does: the run's scores are what
     * `kizuna account` and the report's at-risk table explain */
    ok = kz_health_prepare(s.health, s.set, labels, FALSE, TRUE, fits, &err) &&
         (scores = kz_health_score(s.health, s.set, TRUE, &err)) != NULL &&
         kz_health_save(s.health, s.set, scores, run, &stored, &err);
    if (!ok)
        fprintf(stderr, "kizuna: score: %s\n", err->message);
    for (guint a = 0; ok && a < scores->n; a++) {
        per_grade[MIN(scores->grades[a], KZ_CONFIG_MAX_GRADES)]++; /* KZ_GRADE_NONE: unscored, last */
        if (scores->grades[a] == 0)
            g_ptr_array_add(worst, g_strdup(s.set->roster->ids[a]));
    }
out:
    kz_health_free(s.health);
    kz_measure_set_free(s.set);
    return ok;
}

int kz_cmd_score(int argc, char **argv)
{
    gboolean json = FALSE, refit = FALSE;
    char *as_of_opt = NULL;
    const GOptionEntry entries[] = {
        {"as-of", 0, 0, G_OPTION_ARG_STRING, &as_of_opt, "Measures as of DATE (default: the end of today)", "DATE"},
        {"refit", 0, 0, G_OPTION_ARG_NONE, &refit, "Fit the scorers with fit=\"true\" again, even with a kept model",
         NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
        G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "score", "Score every account with the health model and keep the run.", entries))
        return KZ_EXIT_USAGE;
    g_autofree char *as_of_text = as_of_opt;
    gint64 as_of = 0;
    if (!kz_cli_parse_as_of(as_of_text, &as_of))
        return KZ_EXIT_USAGE;
    session s = {0};
    int exit_code = KZ_EXIT_FAILED;
    g_autoptr(GPtrArray) fits = g_ptr_array_new_with_free_func((GDestroyNotify)kz_fit_report_free);
    g_autofree double *labels = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_health_scores) scores = NULL;
    gint64 run = 0;
    gboolean stored = FALSE;
    if (!session_open(&s, as_of, TRUE, TRUE, refit))
        goto out;
    if (s.cfg->health->label != NULL && (labels = labels_for(&s, s.cfg->health->label)) == NULL)
        goto out;
    if (!kz_health_prepare(s.health, s.set, labels, refit, TRUE, fits, &err) ||
        (scores = kz_health_score(s.health, s.set, TRUE, &err)) == NULL ||
        !kz_health_save(s.health, s.set, scores, &run, &stored, &err)) {
        fprintf(stderr, "kizuna: score: %s\n", err->message);
        goto out;
    }
    exit_code = KZ_EXIT_OK;
    score_print(&s, scores, fits, as_of, run, stored, json);
out:
    session_clear(&s);
    return exit_code;
}

static void score_print(const session *s, const kz_health_scores *scores, const GPtrArray *fits, gint64 as_of,
                        gint64 run, gboolean stored, gboolean json)
{
    const kz_config_health *hc = s->cfg->health;
    guint n = scores->n;
    g_autofree guint *per_grade = g_new0(guint, hc->grades->len + 1);
    for (guint i = 0; i < n; i++)
        per_grade[MIN(scores->grades[i], hc->grades->len)]++;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    kz_cli_json_time(b, "as_of", as_of);
    kz_cli_json_int(b, "run", run);
    kz_cli_json_bool(b, "stored", stored);
    kz_cli_json_int(b, "accounts", n);
    json_builder_set_member_name(b, "grades");
    json_builder_begin_object(b);
    for (guint g = 0; g <= hc->grades->len; g++) {
        json_builder_set_member_name(b, g < hc->grades->len ? kz_health_grade_name(s->cfg, (guint8)g) : "unscored");
        json_builder_add_int_value(b, per_grade[g]);
    }
    json_builder_end_object(b);
    guint present;
    kz_cli_json_double(b, "mean", mean_of(scores->health, n, &present));
    json_builder_set_member_name(b, "scorers");
    json_builder_begin_array(b);
    g_autofree char *day = kz_time_format(as_of);
    if (!json) {
        kz_cli_print("%s %u accounts as of %s (run %" G_GINT64_FORMAT "%s)\n", stored ? "scored" : "unchanged:", n, day,
                     run, stored ? "" : ", the same measures and model as before");
        GString *line = g_string_new("grades:");
        for (guint g = 0; g <= hc->grades->len; g++)
            g_string_append_printf(line, " %s %u",
                                   g < hc->grades->len ? kz_health_grade_name(s->cfg, (guint8)g) : "unscored",
                                   per_grade[g]);
        kz_cli_print("%s\n", line->str);
        g_string_free(line, TRUE);
    }
    for (guint i = 0; i < scores->scorers->len; i++) {
        const kz_scorer_scores *o = scores->scorers->pdata[i];
        gboolean prob = o->output == KZ_SCORE_PROBABILITY;
        double mean = mean_of(o->scores, n, &present);
        json_builder_begin_object(b);
        kz_cli_json_str(b, "name", o->scorer);
        kz_cli_json_str(b, "output", prob ? "probability" : "health");
        kz_cli_json_int(b, "scored", present);
        kz_cli_json_double(b, "mean", mean);
        json_builder_end_object(b);
        if (!json)
            kz_cli_print("  %-20s %-11s scored %-8u mean %.4g\n", o->scorer, prob ? "probability" : "health", present,
                         mean);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "fits");
    fits_json(b, fits, NULL, NULL);
    json_builder_end_object(b);
    if (json)
        kz_cli_print_json(json_builder_get_root(b));
    else
        fits_text(fits, NULL, NULL);
}

/* ---- kizuna backtest --------------------------------------------------- */

static void backtest_json(JsonBuilder *b, const kz_config *cfg, const char *name, gboolean prob, const kz_backtest *bt)
{
    json_builder_begin_object(b);
    kz_cli_json_str(b, "name", name);
    kz_cli_json_str(b, "output", prob ? "probability" : "health");
    kz_cli_json_int(b, "evaluated", bt->evaluated);
    kz_cli_json_int(b, "unscored", bt->unscored);
    kz_cli_json_double(b, "auc", bt->auc);
    kz_cli_json_double(b, "lift_top_decile", bt->lift_top_decile);
    json_builder_set_member_name(b, "grades");
    json_builder_begin_array(b);
    for (guint i = 0; i < bt->bands->len; i++) {
        const kz_band_metric *m = &g_array_index(bt->bands, kz_band_metric, i);
        json_builder_begin_object(b);
        kz_cli_json_str(b, "grade", kz_health_grade_name(cfg, (guint8)m->grade));
        kz_cli_json_int(b, "flagged", m->flagged);
        kz_cli_json_int(b, "positives_flagged", m->positives_flagged);
        kz_cli_json_double(b, "precision", m->precision);
        kz_cli_json_double(b, "recall", m->recall);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "calibration");
    json_builder_begin_array(b);
    for (guint i = 0; i < bt->calibration->len; i++) {
        const kz_calibration_bin *c = &g_array_index(bt->calibration, kz_calibration_bin, i);
        json_builder_begin_object(b);
        kz_cli_json_int(b, "accounts", c->accounts);
        kz_cli_json_int(b, "positives", c->positives);
        kz_cli_json_double(b, "mean_score", c->mean_score);
        kz_cli_json_double(b, "mean_probability", c->mean_probability);
        kz_cli_json_double(b, "observed_rate", c->observed_rate);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

static void backtest_text(const kz_config *cfg, const char *name, const char *what, gboolean prob,
                          const kz_backtest *bt)
{
    kz_cli_print("\n%s (%s): AUC %.5f, lift in the riskiest decile %.2f", name, what, bt->auc, bt->lift_top_decile);
    if (bt->unscored > 0)
        kz_cli_print(", %u unscored left out", bt->unscored);
    kz_cli_print("\n");
    for (guint i = 0; i < bt->bands->len; i++) {
        const kz_band_metric *m = &g_array_index(bt->bands, kz_band_metric, i);
        kz_cli_print("  %-10s or worse: %6u flagged, precision %.3f, recall %.3f\n",
                     kz_health_grade_name(cfg, (guint8)m->grade), m->flagged, m->precision, m->recall);
    }
    kz_cli_print("  calibration, least risky first:\n    decile  accounts  mean score  predicted  observed\n");
    for (guint i = 0; i < bt->calibration->len; i++) {
        const kz_calibration_bin *c = &g_array_index(bt->calibration, kz_calibration_bin, i);
        g_autofree char *predicted = prob ? g_strdup_printf("%9.4f", c->mean_probability) : g_strdup("        -");
        kz_cli_print("    %6u  %8u  %10.4g  %s  %8.4f\n", i + 1, c->accounts, c->mean_score, predicted,
                     c->observed_rate);
    }
}

static void backtest_print(const session *s, const char *label, const double *labels, const kz_health_scores *scores,
                           const kz_health_scores *after, const GPtrArray *fits, const GPtrArray *refits, gint64 as_of,
                           gboolean fit, gboolean save, gboolean json);

int kz_cmd_backtest(int argc, char **argv)
{
    gboolean json = FALSE, fit = FALSE, save = FALSE;
    char *as_of_opt = NULL, *label_opt = NULL;
    const GOptionEntry entries[] = {
        {"label", 'l', 0, G_OPTION_ARG_STRING, &label_opt,
         "The outcome: an expression that holds for positive (churned) accounts (default: <health label=>)", "EXPR"},
        {"as-of", 0, 0, G_OPTION_ARG_STRING, &as_of_opt, "Measures as of DATE (default: the end of today)", "DATE"},
        {"fit", 0, 0, G_OPTION_ARG_NONE, &fit, "Fit every learning scorer to the label; show the AUC before and after",
         NULL},
        {"save", 0, 0, G_OPTION_ARG_NONE, &save, "With --fit: keep the fitted models for `kizuna score`", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
        G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "backtest", "Evaluate every scorer of the health model against an outcome.",
                      entries))
        return KZ_EXIT_USAGE;
    g_autofree char *as_of_text = as_of_opt, *label_text = label_opt;
    gint64 as_of = 0;
    if (!kz_cli_parse_as_of(as_of_text, &as_of))
        return KZ_EXIT_USAGE;
    if (save && !fit) {
        fprintf(stderr, "kizuna: --save keeps what --fit learns: give both\n");
        return KZ_EXIT_USAGE;
    }
    session s = {0};
    int exit_code = KZ_EXIT_FAILED;
    g_autoptr(GPtrArray) fits = g_ptr_array_new_with_free_func((GDestroyNotify)kz_fit_report_free);
    g_autoptr(GPtrArray) refits = g_ptr_array_new_with_free_func((GDestroyNotify)kz_fit_report_free);
    g_autofree double *labels = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_health_scores) scores = NULL;
    g_autoptr(kz_health_scores) after = NULL;
    gboolean today = as_of == kz_measures_default_as_of(kz_host_now());
    if (!session_open(&s, as_of, today, TRUE, FALSE))
        goto out;
    const char *label = label_text != NULL ? label_text : s.cfg->health->label;
    if (label == NULL) {
        fprintf(stderr, "kizuna: backtest: give --label EXPR (the stack config's <health> has no label)\n");
        goto out;
    }
    if ((labels = labels_for(&s, label)) == NULL)
        goto out;
    if (!kz_health_prepare(s.health, s.set, labels, FALSE, save, fits, &err) ||
        (scores = kz_health_score(s.health, s.set, FALSE, &err)) == NULL ||
        (fit && (!kz_health_fit_all(s.health, s.set, labels, save, refits, &err) ||
                 (after = kz_health_score(s.health, s.set, FALSE, &err)) == NULL))) {
        fprintf(stderr, "kizuna: backtest: %s\n", err->message);
        goto out;
    }
    exit_code = KZ_EXIT_OK;
    backtest_print(&s, label, labels, scores, after, fits, refits, as_of, fit, save, json);
out:
    session_clear(&s);
    return exit_code;
}

static void backtest_print(const session *s, const char *label, const double *labels, const kz_health_scores *scores,
                           const kz_health_scores *after, const GPtrArray *fits, const GPtrArray *refits, gint64 as_of,
                           gboolean fit, gboolean save, gboolean json)
{
    guint n = scores->n, n_grades = s->cfg->health->grades->len, positives = 0;
    for (guint i = 0; i < n; i++)
        positives += labels[i] > 0.5;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    kz_cli_json_time(b, "as_of", as_of);
    kz_cli_json_str(b, "label", label);
    kz_cli_json_int(b, "accounts", n);
    kz_cli_json_int(b, "positives", positives);
    g_autofree char *day = kz_time_format(as_of);
    if (!json)
        kz_cli_print("backtest of %u accounts as of %s against %s: %u positive (%.1f%%)\n", n, day, label, positives,
                     n > 0 ? 100.0 * positives / n : 0.0);
    json_builder_set_member_name(b, "scorers");
    json_builder_begin_array(b);
    {
        g_autoptr(kz_backtest) bt = kz_backtest_evaluate(scores->health, FALSE, labels, scores->grades, n_grades, n);
        backtest_json(b, s->cfg, "health", FALSE, bt);
        if (!json)
            backtest_text(s->cfg, "health", "the combined score", FALSE, bt);
    }
    for (guint i = 0; i < scores->scorers->len; i++) {
        const kz_scorer_scores *o = scores->scorers->pdata[i];
        gboolean prob = o->output == KZ_SCORE_PROBABILITY;
        g_autoptr(kz_backtest) bt = kz_backtest_evaluate(o->scores, prob, labels, o->grades, n_grades, n);
        backtest_json(b, s->cfg, o->scorer, prob, bt);
        if (!json)
            backtest_text(s->cfg, o->scorer, prob ? "churn probability" : "health score", prob, bt);
    }
    json_builder_end_array(b);
    if (fits->len > 0) { /* fit="true" scorers without a model, fitted to score at all */
        json_builder_set_member_name(b, "fitted_first");
        fits_json(b, fits, NULL, NULL);
        if (!json) {
            kz_cli_print("\n");
            fits_text(fits, NULL, NULL);
        }
    }
    if (fit) {
        g_autofree double *before = g_new(double, MAX(refits->len, 1));
        g_autofree double *after_auc = g_new(double, MAX(refits->len, 1));
        for (guint f = 0; f < refits->len; f++) {
            const kz_fit_report *r = refits->pdata[f];
            before[f] = after_auc[f] = NAN;
            for (guint i = 0; i < scores->scorers->len; i++) {
                const kz_scorer_scores *o = scores->scorers->pdata[i], *o2 = after->scorers->pdata[i];
                if (strcmp(o->scorer, r->scorer) != 0)
                    continue;
                gboolean prob = o->output == KZ_SCORE_PROBABILITY;
                before[f] = kz_backtest_auc(o->scores, prob, labels, n);
                after_auc[f] = kz_backtest_auc(o2->scores, prob, labels, n);
            }
        }
        json_builder_set_member_name(b, "fit");
        fits_json(b, refits, before, after_auc);
        if (!json) {
            kz_cli_print("\n");
            fits_text(refits, before, after_auc);
            if (!save)
                kz_cli_print("(proposals only: give --save to keep these models)\n");
        }
    }
    json_builder_end_object(b);
    if (json)
        kz_cli_print_json(json_builder_get_root(b));
}

/* ---- kizuna account ID: health ---------------------------------------- */

gboolean kz_cli_show_health(const char *id, JsonBuilder *b)
{
    g_autoptr(kz_config) cfg = NULL;
    sqlite3 *db = NULL;
    if (!kz_cli_open_readonly(&cfg, &db))
        return FALSE;
    if (db == NULL)
        return TRUE;
    g_autoptr(GError) err = NULL;
    gint64 trend_us = cfg->health != NULL ? cfg->health->trend_us : 30 * KZ_DAY_US;
    g_autoptr(kz_account_health) a = kz_health_account(db, id, trend_us, &err);
    sqlite3_close(db);
    if (a == NULL && err != NULL) {
        fprintf(stderr, "kizuna: health: %s\n", err->message);
        return FALSE;
    }
    if (b != NULL) {
        json_builder_set_member_name(b, "health");
        if (a == NULL) {
            json_builder_add_null_value(b);
            return TRUE;
        }
        json_builder_begin_object(b);
        kz_cli_json_int(b, "run", a->run);
        kz_cli_json_time(b, "as_of", a->as_of_us);
        const kz_account_scorer *h = a->scorers->pdata[0];
        kz_cli_json_double(b, "score", h->score);
        kz_cli_json_str(b, "grade", h->grade[0] != '\0' ? h->grade : NULL);
        kz_cli_json_double(b, "trend", a->trend);
        if (!isnan(a->trend))
            kz_cli_json_time(b, "trend_since", a->trend_as_of_us);
        json_builder_set_member_name(b, "scorers");
        json_builder_begin_array(b);
        for (guint i = 1; i < a->scorers->len; i++) {
            const kz_account_scorer *sc = a->scorers->pdata[i];
            json_builder_begin_object(b);
            kz_cli_json_str(b, "name", sc->scorer);
            kz_cli_json_double(b, "score", sc->score);
            kz_cli_json_str(b, "grade", sc->grade[0] != '\0' ? sc->grade : NULL);
            kz_cli_json_double(b, "baseline", sc->baseline);
            json_builder_set_member_name(b, "contributions");
            json_builder_begin_array(b);
            for (guint c = 0; c < sc->contributions->len; c++) {
                const kz_contribution *k = &g_array_index(sc->contributions, kz_contribution, c);
                json_builder_begin_object(b);
                kz_cli_json_str(b, "measure", k->measure);
                kz_cli_json_double(b, "value", k->value);
                json_builder_end_object(b);
            }
            json_builder_end_array(b);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        return TRUE;
    }
    if (a == NULL) {
        kz_cli_print("\nHealth: not scored yet (kizuna score)\n");
        return TRUE;
    }
    const kz_account_scorer *h = a->scorers->pdata[0];
    g_autofree char *day = kz_time_format(a->as_of_us);
    kz_cli_print("\nHealth: %.1f %s", h->score, h->grade[0] ? h->grade : "(unscored)");
    if (!isnan(a->trend)) {
        g_autofree char *since = kz_time_format(a->trend_as_of_us);
        kz_cli_print(", trend %+.1f since %.10s", a->trend, since);
    }
    kz_cli_print(" (run %" G_GINT64_FORMAT ", as of %.10s)\n", a->run, day);
    for (guint i = 1; i < a->scorers->len; i++) {
        const kz_account_scorer *sc = a->scorers->pdata[i];
        kz_cli_print("  %-20s %-10.4g %-8s", sc->scorer, sc->score, sc->grade);
        for (guint c = 0; c < MIN(3u, sc->contributions->len); c++) {
            const kz_contribution *k = &g_array_index(sc->contributions, kz_contribution, c);
            kz_cli_print("%s%s %+.3g", c ? ", " : " top: ", k->measure, k->value);
        }
        kz_cli_print("\n");
    }
    return TRUE;
}
