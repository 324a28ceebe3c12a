/*
 * core/score/health.c — see health.h. Scorers see the measures a batch of
 * BATCH accounts at a time, as column arrays that point straight into the
 * measure set (no copy); their outputs land in whole-book arrays, which
 * the store takes as BLOBs without another copy.
 */
#include "health.h"

#include "../errors.h"
#include "../expr/expr_sql.h"
#include "../params.h"
#include "../stack.h"
#include "../values.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>

#define BATCH           65536u
#define MAX_MODEL_BYTES (1024 * 1024) /* plugin state values are at most 1 MiB */

typedef struct {
    const kz_config_use *use;
    kz_instance *inst;
    const kz_scorer_vtable *vt;
    guint8 setup[32];  /* digest of its plugin, version and resolved parameters */
    GChecksum *fitted; /* what its fits this run returned, kept or not (NULL: none) */
    gboolean warned;   /* about a score out of its range, once */
} scorer_ref;

struct kz_health {
    const kz_config *cfg;
    kz_store *store;
    GArray *scorers; /* scorer_ref */
    /* the columns of the last prepare: views into the measure set */
    kz_column *columns;
    const kz_column **column_ptrs;
    const char **levels;
    guint n_columns;
};

gboolean kz_health_check(const kz_config *cfg, GPtrArray *errors)
{
    guint before = errors->len;
    kz_measures_check(cfg, errors);
    const kz_config_health *h = cfg->health;
    if (h == NULL)
        return errors->len == before;
    for (guint i = 0; i < h->uses->len; i++) {
        const kz_config_use *u = h->uses->pdata[i];
        const kz_config_instance *inst = kz_config_find_instance(cfg, u->scorer);
        if (inst == NULL || inst->kind != KZ_COMPONENT_SCORER)
            kz_config_error(errors, cfg, u->line, "<use scorer=\"%s\">: no scorer instance of that name in <scorers>",
                            u->scorer);
        if (u->fit && h->label == NULL)
            kz_config_error(errors, cfg, u->line,
                            "scorer '%s' is fitted to the label (fit=\"true\") but <health> has no label=\"EXPR\"",
                            u->scorer);
    }
    if (h->label != NULL) {
        g_autoptr(GError) err = NULL;
        g_autoptr(kz_expr) expr = kz_expr_parse(h->label, &err);
        g_autoptr(kz_expr_sql) sql = expr != NULL ? kz_expr_sql_compile(expr, kz_expr_account_scope(), 1, &err) : NULL;
        if (sql == NULL)
            kz_config_error(errors, cfg, h->line, "<health label=\"%s\">: %s", h->label, err->message);
    }
    return errors->len == before;
}

/* ---- lifetime ---------------------------------------------------------- */

void kz_health_free(kz_health *h)
{
    if (h == NULL)
        return;
    for (guint i = 0; i < h->scorers->len; i++) {
        scorer_ref *s = &g_array_index(h->scorers, scorer_ref, i);
        kz_instance_destroy(s->inst);
        if (s->fitted != NULL)
            g_checksum_free(s->fitted);
    }
    g_array_unref(h->scorers);
    g_free(h->columns);
    g_free(h->column_ptrs);
    g_free(h->levels);
    g_free(h);
}

static int g_strcmp0_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What a scorer's scores follow from besides its model: its plugin and
 * version and its parameters as resolved (an env= parameter by its value). */
static gboolean setup_digest(const kz_config *cfg, const kz_registry *reg, const kz_config_instance *ci, guint8 *out,
                             GPtrArray *errors)
{
    const kz_component_info *comp = NULL;
    g_autoptr(GHashTable) params = kz_config_instance_params(cfg, ci, reg, &comp, errors);
    if (params == NULL)
        return FALSE;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree char *head = g_strdup_printf("%s/%s/%s", comp->plugin->id, comp->plugin->version, comp->name);
    g_checksum_update(sum, (const guchar *)head, (gssize)strlen(head) + 1);
    g_autofree gpointer *names = g_hash_table_get_keys_as_array(params, NULL);
    guint n = g_hash_table_size(params);
    qsort(names, n, sizeof *names, g_strcmp0_ptr);
    for (guint i = 0; i < n; i++) {
        const kz_param_value *v = g_hash_table_lookup(params, names[i]);
        g_checksum_update(sum, (const guchar *)names[i], (gssize)strlen(names[i]) + 1);
        g_checksum_update(sum, (const guchar *)v->text, (gssize)strlen(v->text) + 1);
    }
    gsize len = 32;
    g_checksum_get_digest(sum, out, &len);
    return TRUE;
}

kz_health *kz_health_new(const kz_config *cfg, const kz_registry *reg, kz_store *store, gboolean refit,
                         GPtrArray *errors)
{
    if (cfg->health == NULL) {
        g_ptr_array_add(errors, g_strdup_printf("%s: the stack config has no health model (<health>)", cfg->path));
        return NULL;
    }
    if (!kz_health_check(cfg, errors))
        return NULL;
    g_autoptr(kz_health) h = g_new0(kz_health, 1);
    h->cfg = cfg;
    h->store = store;
    h->scorers = g_array_new(FALSE, TRUE, sizeof(scorer_ref));
    for (guint i = 0; i < cfg->health->uses->len; i++) {
        const kz_config_use *u = cfg->health->uses->pdata[i];
        const kz_config_instance *ci = kz_config_find_instance(cfg, u->scorer);
        scorer_ref s = {u, NULL, NULL, {0}, NULL, FALSE};
        if (!setup_digest(cfg, reg, ci, s.setup, errors))
            return NULL;
        guint before = errors->len;
        s.inst = kz_stack_create_instance(cfg, reg, ci, store, errors);
        if (s.inst == NULL && refit && u->fit && store != NULL) {
            /* a kept model the plugin cannot read is what --refit replaces */
            g_ptr_array_set_size(errors, before);
            if (kz_store_state_delete(store, ci->name, "model", NULL) >= KZ_OK)
                s.inst = kz_stack_create_instance(cfg, reg, ci, store, errors);
        }
        if (s.inst == NULL)
            return NULL;
        s.vt = &kz_instance_component(s.inst)->vt.scorer;
        g_array_append_val(h->scorers, s);
    }
    return g_steal_pointer(&h);
}

void kz_fit_report_free(kz_fit_report *r)
{
    if (r == NULL)
        return;
    g_free(r->scorer);
    for (guint i = 0; r->terms != NULL && i < r->terms->len; i++)
        g_free(g_array_index(r->terms, kz_fit_term, i).name);
    if (r->terms != NULL)
        g_array_unref(r->terms);
    g_free(r->note);
    g_free(r);
}

void kz_health_scores_free(kz_health_scores *s)
{
    if (s == NULL)
        return;
    for (guint i = 0; i < s->scorers->len; i++) {
        kz_scorer_scores *o = s->scorers->pdata[i];
        g_free(o->scorer);
        g_free(o->scores);
        g_free(o->health);
        g_free(o->grades);
        g_free(o->baseline);
        for (guint c = 0; o->contributions != NULL && c < s->n_columns; c++)
            g_free(o->contributions[c]);
        g_free(o->contributions);
        g_free(o);
    }
    g_ptr_array_unref(s->scorers);
    g_free(s->health);
    g_free(s->grades);
    g_free(s);
}

const char *kz_health_grade_name(const kz_config *cfg, guint8 g)
{
    if (cfg->health == NULL || g >= cfg->health->grades->len)
        return "";
    return ((kz_config_grade *)cfg->health->grades->pdata[g])->name;
}

/* ---- labels ------------------------------------------------------------ */

double *kz_health_labels(const char *store_path, const char *label, const kz_roster *roster, gint64 as_of_us,
                         GError **error)
{
    g_autoptr(kz_expr) expr = kz_expr_parse(label, error);
    if (expr == NULL)
        return NULL;
    g_autoptr(kz_expr_sql) where = kz_expr_sql_compile(expr, kz_expr_account_scope(), 1, error);
    if (where == NULL)
        return NULL;
    sqlite3 *db = kz_store_open_readonly(store_path, error);
    if (db == NULL)
        return NULL;
    kz_expr_sql_restrict(db, kz_expr_customer_policy());
    g_autofree char *sql = g_strdup_printf("SELECT a.id FROM accounts AS a WHERE %s ORDER BY a.id", where->where);
    sqlite3_stmt *st = kz_expr_sql_prepare(db, sql, where, error);
    double *labels = NULL;
    if (st != NULL) {
        labels = g_new0(double, MAX(roster->n, 1));
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            gint64 at = kz_roster_find(roster, (const char *)sqlite3_column_text(st, 0));
            if (at >= 0)
                labels[at] = 1;
        }
        if (rc != SQLITE_DONE) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "label: %s", sqlite3_errmsg(db));
            g_clear_pointer(&labels, g_free);
        }
        sqlite3_finalize(st);
    }
    st = labels != NULL
             ? kz_expr_sql_prepare(db, "SELECT a.id FROM accounts AS a WHERE a.contract_start_us >= ?1", NULL, error)
             : NULL;
    if (st != NULL) { /* not a customer yet at the as-of */
        sqlite3_bind_int64(st, 1, as_of_us);
        while (sqlite3_step(st) == SQLITE_ROW) {
            gint64 at = kz_roster_find(roster, (const char *)sqlite3_column_text(st, 0));
            if (at >= 0)
                labels[at] = NAN;
        }
        sqlite3_finalize(st);
    } else {
        g_clear_pointer(&labels, g_free);
    }
    sqlite3_close(db);
    return labels;
}

/* ---- prepare, calibrate, fit ------------------------------------------ */

static gboolean has_model(kz_health *h, const scorer_ref *s)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    return h->store != NULL &&
           kz_store_state_get(h->store, kz_instance_name(s->inst), "model", &data, &len, NULL) == KZ_OK;
}

static void free_train_result(kz_train_result *r)
{
    const kz_host *host = kz_host_get();
    for (uint32_t i = 0; r->terms != NULL && i < r->n_terms; i++)
        host->free_mem((void *)r->terms[i].name);
    host->free_mem(r->terms);
    host->free_mem(r->model);
}

/* Trains scorer `s` on the whole set with `labels` (NULL: a calibration). */
static gboolean train(kz_health *h, scorer_ref *s, const kz_measure_set *set, const double *labels, gboolean keep,
                      GPtrArray *fits, GError **error)
{
    guint n = set->roster->n;
    g_autofree double *nan_labels = NULL;
    if (labels == NULL) {
        nan_labels = g_new(double, MAX(n, 1));
        for (guint i = 0; i < n; i++)
            nan_labels[i] = NAN;
    }
    kz_train_set ts = {sizeof ts, n, h->n_columns, 0, h->column_ptrs, labels ? labels : nan_labels, NULL};
    kz_train_result r = {.size = sizeof r};
    kz_instance_begin_call(s->inst);
    int rc = s->vt->train(kz_instance_self(s->inst), &ts, &r);
    if (rc != KZ_OK) {
        free_train_result(&r);
        return kz_instance_fail(s->inst, rc, labels ? "fitting to the label" : "calibrating", error);
    }
    if (labels != NULL && r.model != NULL) { /* scores follow this model from now on, kept or not */
        if (s->fitted == NULL)
            s->fitted = g_checksum_new(G_CHECKSUM_SHA256);
        g_checksum_update(s->fitted, r.model, (gssize)r.model_len);
    }
    if (labels != NULL) {
        kz_fit_report *f = g_new0(kz_fit_report, 1);
        f->scorer = g_strdup(kz_instance_name(s->inst));
        f->fitted = TRUE;
        f->iterations = r.iterations;
        f->converged = r.converged == 1;
        f->deviance = r.deviance;
        f->terms = g_array_new(FALSE, FALSE, sizeof(kz_fit_term));
        for (uint32_t i = 0; r.terms != NULL && i < r.n_terms; i++) {
            kz_fit_term t = {g_strdup(r.terms[i].name), r.terms[i].estimate, r.terms[i].std_error};
            g_array_append_val(f->terms, t);
        }
        if (keep && r.model != NULL && r.model_len <= MAX_MODEL_BYTES && h->store != NULL) {
            g_autoptr(GError) err = NULL;
            if (kz_store_state_set(h->store, f->scorer, "model", r.model, (gsize)r.model_len, kz_host_now(), &err) !=
                KZ_OK) {
                kz_fit_report_free(f);
                free_train_result(&r);
                g_propagate_error(error, g_steal_pointer(&err));
                return FALSE;
            }
            f->kept = TRUE;
        } else if (keep) {
            f->note = r.model == NULL ? g_strdup("the scorer returned no model to keep")
                                      : g_strdup_printf("the model (%" G_GUINT64_FORMAT " bytes) is over 1 MiB",
                                                        (guint64)r.model_len);
        }
        if (fits != NULL)
            g_ptr_array_add(fits, f);
        else
            kz_fit_report_free(f);
    }
    free_train_result(&r);
    return TRUE;
}

/* Points the column views at `set` and tells every scorer. */
static gboolean prepare_columns(kz_health *h, const kz_measure_set *set, GError **error)
{
    guint nc = set->columns->len, n_levels = 0;
    for (guint c = 0; c < nc; c++) {
        const kz_measure_column *mc = set->columns->pdata[c];
        n_levels += mc->levels != NULL ? mc->levels->len : 0;
    }
    g_free(h->columns);
    g_free(h->column_ptrs);
    g_free(h->levels);
    h->columns = g_new0(kz_column, MAX(nc, 1));
    h->column_ptrs = g_new0(const kz_column *, MAX(nc, 1));
    h->levels = g_new0(const char *, MAX(n_levels, 1));
    h->n_columns = nc;
    const char **levels = h->levels;
    for (guint c = 0; c < nc; c++) {
        const kz_measure_column *mc = set->columns->pdata[c];
        kz_measure_column_view(mc, &h->columns[c], levels);
        levels += mc->levels != NULL ? mc->levels->len : 0;
        h->column_ptrs[c] = &h->columns[c];
    }
    /* prepare() sees the layout only */
    g_autofree kz_column *layout = g_memdup2(h->columns, sizeof(kz_column) * MAX(nc, 1));
    g_autofree const kz_column **layout_ptrs = g_new0(const kz_column *, MAX(nc, 1));
    for (guint c = 0; c < nc; c++) {
        layout[c].values = NULL;
        layout[c].codes = NULL;
        layout_ptrs[c] = &layout[c];
    }
    for (guint i = 0; i < h->scorers->len; i++) {
        scorer_ref *s = &g_array_index(h->scorers, scorer_ref, i);
        kz_instance_begin_call(s->inst);
        int rc = s->vt->prepare(kz_instance_self(s->inst), nc, layout_ptrs);
        if (rc != KZ_OK)
            return kz_instance_fail(s->inst, rc, "preparing for the measures", error);
    }
    return TRUE;
}

gboolean kz_health_prepare(kz_health *h, const kz_measure_set *set, const double *labels, gboolean refit, gboolean keep,
                           GPtrArray *fits, GError **error)
{
    if (!prepare_columns(h, set, error))
        return FALSE;
    for (guint i = 0; i < h->scorers->len; i++) {
        scorer_ref *s = &g_array_index(h->scorers, scorer_ref, i);
        if (s->vt->train == NULL)
            continue;
        if (!train(h, s, set, NULL, FALSE, NULL, error))
            return FALSE;
        if (!s->use->fit || (!refit && has_model(h, s)))
            continue;
        if (labels == NULL) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID,
                        "scorer '%s' is fitted to the label and has no model yet, but no label was given",
                        s->use->scorer);
            return FALSE;
        }
        if (!train(h, s, set, labels, keep, fits, error))
            return FALSE;
    }
    return TRUE;
}

gboolean kz_health_fit_all(kz_health *h, const kz_measure_set *set, const double *labels, gboolean keep,
                           GPtrArray *fits, GError **error)
{
    for (guint i = 0; i < h->scorers->len; i++) {
        scorer_ref *s = &g_array_index(h->scorers, scorer_ref, i);
        if (s->vt->train != NULL && !train(h, s, set, labels, keep, fits, error))
            return FALSE;
    }
    return TRUE;
}

/* ---- scoring ----------------------------------------------------------- */

static guint8 grade_of(const kz_config_health *hc, double score)
{
    if (isnan(score))
        return KZ_GRADE_NONE;
    for (guint g = 0; g < hc->grades->len; g++)
        if (score < ((kz_config_grade *)hc->grades->pdata[g])->below)
            return (guint8)g;
    return (guint8)(hc->grades->len - 1);
}

/* Scores the whole set with scorer `s` into `o`, BATCH accounts a call. */
static gboolean score_one(kz_health *h, const scorer_ref *s, const kz_roster *roster, gboolean explain,
                          kz_scorer_scores *o, GError **error)
{
    guint n = roster->n;
    guint nc = h->n_columns;
    g_autofree kz_column *cols = g_new0(kz_column, MAX(nc, 1));
    g_autofree const kz_column **ptrs = g_new0(const kz_column *, MAX(nc, 1));
    g_autofree double *scratch = explain ? g_new(double, (gsize)MAX(nc, 1) * BATCH) : NULL;
    for (guint c = 0; c < nc; c++)
        ptrs[c] = &cols[c];
    for (guint off = 0; off < n; off += BATCH) {
        guint len = MIN(BATCH, n - off);
        for (guint c = 0; c < nc; c++) {
            cols[c] = h->columns[c];
            cols[c].values = cols[c].values != NULL ? cols[c].values + off : NULL;
            cols[c].codes = cols[c].codes != NULL ? cols[c].codes + off : NULL;
        }
        kz_score_batch b = {.size = sizeof b,
                            .n_accounts = len,
                            .n_columns = nc,
                            .account_ids = roster->ids + off,
                            .columns = ptrs,
                            .scores = o->scores + off,
                            .contributions = scratch,
                            .baseline = explain ? o->baseline + off : NULL};
        kz_instance_begin_call(s->inst);
        int rc = s->vt->score(kz_instance_self(s->inst), &b);
        if (rc != KZ_OK)
            return kz_instance_fail(s->inst, rc, "scoring", error);
        for (guint c = 0; explain && c < nc; c++)
            memcpy(o->contributions[c] + off, scratch + (gsize)c * len, len * sizeof(double));
    }
    return TRUE;
}

/* The digest of everything a run's scores follow from. */
static void model_digest(kz_health *h, const kz_measure_set *set, guint8 *out)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(sum, set->digest, 32);
    const kz_config_health *hc = h->cfg->health;
    for (guint g = 0; g < hc->grades->len; g++) {
        const kz_config_grade *gr = hc->grades->pdata[g];
        g_checksum_update(sum, (const guchar *)gr->name, (gssize)strlen(gr->name) + 1);
        g_checksum_update(sum, (const guchar *)&gr->below, sizeof gr->below);
    }
    for (guint i = 0; i < h->scorers->len; i++) {
        scorer_ref *s = &g_array_index(h->scorers, scorer_ref, i);
        const kz_config_instance *ci = kz_config_find_instance(h->cfg, s->use->scorer);
        g_autofree char *head = g_strdup_printf("%s/%.17g", ci->name, s->use->weight);
        g_checksum_update(sum, (const guchar *)head, (gssize)strlen(head) + 1);
        g_checksum_update(sum, s->setup, sizeof s->setup);
        if (s->fitted != NULL) { /* fitted in this run: kept or not, its scores follow it */
            guint8 fitted[32];
            gsize flen = 32;
            g_autoptr(GChecksum) copy = g_checksum_copy(s->fitted);
            g_checksum_get_digest(copy, fitted, &flen);
            g_checksum_update(sum, fitted, sizeof fitted);
        }
        g_autofree char *model = NULL;
        gsize len = 0;
        if (h->store != NULL && kz_store_state_get(h->store, ci->name, "model", &model, &len, NULL) == KZ_OK)
            g_checksum_update(sum, (const guchar *)model, (gssize)len);
    }
    gsize dlen = 32;
    g_checksum_get_digest(sum, out, &dlen);
}

kz_health_scores *kz_health_score(kz_health *h, const kz_measure_set *set, gboolean explain, GError **error)
{
    const kz_config_health *hc = h->cfg->health;
    guint n = set->roster->n, nc = h->n_columns;
    g_autoptr(kz_health_scores) out = g_new0(kz_health_scores, 1);
    out->n = n;
    out->n_columns = nc;
    out->scorers = g_ptr_array_new();
    out->health = g_new(double, MAX(n, 1));
    out->grades = g_new(guint8, MAX(n, 1));
    g_autofree double *weight_sum = g_new0(double, MAX(n, 1));
    memset(out->health, 0, sizeof(double) * MAX(n, 1));
    for (guint i = 0; i < h->scorers->len; i++) {
        scorer_ref *s = &g_array_index(h->scorers, scorer_ref, i);
        kz_scorer_scores *o = g_new0(kz_scorer_scores, 1);
        g_ptr_array_add(out->scorers, o);
        o->scorer = g_strdup(kz_instance_name(s->inst));
        o->output = (int)s->vt->output;
        o->weight = s->use->weight;
        o->scores = g_new(double, MAX(n, 1));
        o->health = g_new(double, MAX(n, 1));
        o->grades = g_new(guint8, MAX(n, 1));
        if (explain) {
            o->baseline = g_new(double, MAX(n, 1));
            o->contributions = g_new0(double *, MAX(nc, 1));
            for (guint c = 0; c < nc; c++)
                o->contributions[c] = g_new(double, MAX(n, 1));
        }
        if (!score_one(h, s, set->roster, explain, o, error))
            return NULL;
        gboolean prob = o->output == KZ_SCORE_PROBABILITY;
        for (guint a = 0; a < n; a++) {
            double v = o->scores[a];
            double hv = prob ? 100.0 * (1.0 - v) : v;
            if (!isnan(hv) && !(hv >= 0 && hv <= 100)) { /* a scorer out of its range: unscored, and said */
                if (!s->warned)
                    g_warning("scorer '%s' gave account '%s' the score %g, outside its range: the account counts "
                              "as unscored by it",
                              o->scorer, set->roster->ids[a], v);
                s->warned = TRUE;
                hv = NAN;
            }
            o->health[a] = hv;
            o->grades[a] = grade_of(hc, hv);
            if (!isnan(hv)) {
                out->health[a] += o->weight * hv;
                weight_sum[a] += o->weight;
            }
        }
    }
    for (guint a = 0; a < n; a++) {
        out->health[a] = weight_sum[a] > 0 ? out->health[a] / weight_sum[a] : NAN;
        out->grades[a] = grade_of(hc, out->health[a]);
    }
    model_digest(h, set, out->digest);
    return g_steal_pointer(&out);
}

/* ---- the score history ------------------------------------------------- */

/* Binds n doubles as a little-endian BLOB: without a copy on a
 * little-endian machine. */
static void bind_doubles(sqlite3_stmt *st, int i, const double *v, guint n)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
    sqlite3_bind_blob64(st, i, v, (sqlite3_uint64)n * sizeof(double), SQLITE_STATIC);
#else
    void *blob = g_malloc(MAX(n, 1) * sizeof(double));
    kz_blob_put_doubles(blob, v, n);
    sqlite3_bind_blob64(st, i, blob, (sqlite3_uint64)n * sizeof(double), g_free);
#endif
}

static gboolean put_column(sqlite3 *db, sqlite3_stmt *st, gint64 run, const char *scorer, const char *what,
                           const double *doubles, const guint8 *bytes, guint n, GError **error)
{
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, scorer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, what, -1, SQLITE_TRANSIENT);
    if (doubles != NULL)
        bind_doubles(st, 4, doubles, n);
    else
        sqlite3_bind_blob64(st, 4, bytes, n, SQLITE_STATIC);
    gboolean ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ok || kz_sql_fail(db, error, "storing scores");
}

/* A run with the same digest and as-of, if there is one: its scores are
 * these. *run_id 0 when there is none. */
static gboolean same_run(sqlite3 *db, const guint8 *digest, gint64 as_of, gint64 *run_id, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id FROM score_runs WHERE digest = ?1 AND as_of_us = ?2 ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "reading score runs");
    sqlite3_bind_blob(st, 1, digest, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, as_of);
    int rc = sqlite3_step(st);
    *run_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE || kz_sql_fail(db, error, "reading score runs");
}

static gboolean insert_run(sqlite3 *db, const kz_config_health *hc, const kz_measure_set *set,
                           const kz_health_scores *scores, gint64 *run_id, GError **error)
{
    g_autoptr(GString) grades = g_string_new("[");
    for (guint g = 0; g < hc->grades->len; g++) {
        char *q = sqlite3_mprintf("%s\"%w\"", g ? "," : "", ((kz_config_grade *)hc->grades->pdata[g])->name);
        g_string_append(grades, q);
        sqlite3_free(q);
    }
    g_string_append_c(grades, ']');
    g_autoptr(GString) outputs = g_string_new("{");
    for (guint i = 0; i < scores->scorers->len; i++) {
        const kz_scorer_scores *o = scores->scorers->pdata[i];
        char *q = sqlite3_mprintf("%s\"%w\":\"%s\"", i ? "," : "", o->scorer,
                                  o->output == KZ_SCORE_PROBABILITY ? "probability" : "health");
        g_string_append(outputs, q);
        sqlite3_free(q);
    }
    g_string_append_c(outputs, '}');
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO score_runs (time_us, as_of_us, roster, digest, grades, outputs) VALUES (?1, "
                           "?2, ?3, ?4, ?5, ?6)",
                           -1, &st, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "storing a score run");
    sqlite3_bind_int64(st, 1, kz_host_now());
    sqlite3_bind_int64(st, 2, set->as_of_us);
    sqlite3_bind_int64(st, 3, set->roster->id);
    sqlite3_bind_blob(st, 4, scores->digest, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, grades->str, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, outputs->str, -1, SQLITE_STATIC);
    gboolean ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    *run_id = sqlite3_last_insert_rowid(db);
    return ok || kz_sql_fail(db, error, "storing a score run");
}

static gboolean insert_columns(sqlite3 *db, const kz_measure_set *set, const kz_health_scores *scores, gint64 run,
                               GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO score_columns (run, scorer, what, vals) VALUES (?1, ?2, ?3, ?4)", -1, &st,
                           NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "storing scores");
    guint n = scores->n;
    gboolean ok = put_column(db, st, run, "", "score", scores->health, NULL, n, error) &&
                  put_column(db, st, run, "", "grade", NULL, scores->grades, n, error);
    for (guint i = 0; ok && i < scores->scorers->len; i++) {
        const kz_scorer_scores *o = scores->scorers->pdata[i];
        ok = put_column(db, st, run, o->scorer, "score", o->scores, NULL, n, error) &&
             put_column(db, st, run, o->scorer, "grade", NULL, o->grades, n, error);
        if (ok && o->baseline != NULL)
            ok = put_column(db, st, run, o->scorer, "baseline", o->baseline, NULL, n, error);
        for (guint c = 0; ok && o->contributions != NULL && c < scores->n_columns; c++) {
            g_autofree char *what = g_strdup_printf("c:%s", ((kz_measure_column *)set->columns->pdata[c])->name);
            ok = put_column(db, st, run, o->scorer, what, o->contributions[c], NULL, n, error);
        }
    }
    sqlite3_finalize(st);
    return ok;
}

/* The history window: runs as of more than `history_us` before the newest
 * as-of go (a back-dated run never pushes the newer ones out), and their
 * columns with them. */
static gboolean prune_runs(sqlite3 *db, gint64 history_us, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "DELETE FROM score_runs WHERE as_of_us < (SELECT MAX(as_of_us) FROM score_runs) - ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "dropping old score runs");
    sqlite3_bind_int64(st, 1, history_us);
    gboolean ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return (ok || kz_sql_fail(db, error, "dropping old score runs")) &&
           kz_sql_exec(db, "DELETE FROM score_columns WHERE run NOT IN (SELECT id FROM score_runs)", error);
}

/* FALSE (error set) when the history window dropped run `run` at once:
 * a run as of before the window of the newest is not kept. */
static gboolean run_kept(sqlite3 *db, gint64 run, gint64 as_of, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM score_runs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "reading score runs");
    sqlite3_bind_int64(st, 1, run);
    gboolean kept = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!kept) {
        g_autofree char *day = kz_time_format(as_of);
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID,
                    "a run as of %.10s is older than the history the health model keeps (history= before the "
                    "newest run): not stored",
                    day);
    }
    return kept;
}

gboolean kz_health_save(kz_health *h, const kz_measure_set *set, const kz_health_scores *scores, gint64 *run_id,
                        gboolean *stored, GError **error)
{
    sqlite3 *db = kz_store_db(h->store);
    *stored = FALSE;
    if (set->roster->id == 0) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "scores of measures that were not stored cannot be kept");
        return FALSE;
    }
    if (!kz_sql_exec(db, "BEGIN IMMEDIATE", error))
        return FALSE;
    gboolean ok = same_run(db, scores->digest, set->as_of_us, run_id, error);
    gboolean insert = ok && *run_id == 0; /* else the same measures and model: the same scores, kept already */
    if (insert)
        ok = insert_run(db, h->cfg->health, set, scores, run_id, error) &&
             insert_columns(db, set, scores, *run_id, error) && prune_runs(db, h->cfg->health->history_us, error) &&
             run_kept(db, *run_id, set->as_of_us, error);
    if (!ok || !kz_sql_exec(db, "COMMIT", error)) {
        kz_sql_exec(db, "ROLLBACK", NULL);
        return FALSE;
    }
    *stored = insert;
    return TRUE;
}

/* ---- one account ------------------------------------------------------- */

void kz_account_health_free(kz_account_health *a)
{
    if (a == NULL)
        return;
    for (guint i = 0; i < a->scorers->len; i++) {
        kz_account_scorer *s = a->scorers->pdata[i];
        g_free(s->scorer);
        g_free(s->grade);
        for (guint c = 0; c < s->contributions->len; c++)
            g_free(g_array_index(s->contributions, kz_contribution, c).measure);
        g_array_unref(s->contributions);
        g_free(s);
    }
    g_ptr_array_unref(a->scorers);
    g_free(a);
}

/* Reads `width` bytes at `index` of score_columns row `rowid` without
 * loading the whole BLOB. */
static gboolean read_at(sqlite3 *db, gint64 rowid, gint64 index, int width, void *out)
{
    sqlite3_blob *blob = NULL;
    if (sqlite3_blob_open(db, "main", "score_columns", "vals", rowid, 0, &blob) != SQLITE_OK) {
        sqlite3_blob_close(blob);
        return FALSE;
    }
    gboolean ok = (index + 1) * width <= sqlite3_blob_bytes(blob) &&
                  sqlite3_blob_read(blob, out, width, (int)(index * width)) == SQLITE_OK;
    sqlite3_blob_close(blob);
    return ok;
}

static double read_double_at(sqlite3 *db, gint64 rowid, gint64 index)
{
    guint8 raw[8];
    double v = NAN;
    if (read_at(db, rowid, index, 8, raw))
        kz_blob_get_doubles(&v, raw, 1);
    return v;
}

static int by_magnitude(gconstpointer a, gconstpointer b)
{
    double x = fabs(((const kz_contribution *)a)->value), y = fabs(((const kz_contribution *)b)->value);
    return (x < y) - (x > y);
}

static kz_account_scorer *account_scorer(GPtrArray *scorers, const char *name)
{
    for (guint i = 0; i < scorers->len; i++) {
        kz_account_scorer *s = scorers->pdata[i];
        if (strcmp(s->scorer, name) == 0)
            return s;
    }
    kz_account_scorer *s = g_new0(kz_account_scorer, 1);
    s->scorer = g_strdup(name);
    s->score = s->baseline = NAN;
    s->grade = g_strdup("");
    s->contributions = g_array_new(FALSE, FALSE, sizeof(kz_contribution));
    g_ptr_array_add(scorers, s);
    return s;
}

/* The run's position of `id`: -1 when it is not in the run's roster. */
static gint64 position_in_run(sqlite3 *db, gint64 roster_id, const char *id, GError **error)
{
    g_autoptr(kz_roster) roster = kz_roster_load(db, roster_id, error);
    return roster != NULL ? kz_roster_find(roster, id) : -1;
}

static double combined_score(sqlite3 *db, gint64 run, gint64 at)
{
    sqlite3_stmt *st = NULL;
    double v = NAN;
    if (sqlite3_prepare_v2(db, "SELECT id FROM score_columns WHERE run = ?1 AND scorer = '' AND what = 'score'", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = read_double_at(db, sqlite3_column_int64(st, 0), at);
    }
    sqlite3_finalize(st);
    return v;
}

/* The scores at roster position `at` of run `run`, which was as of
 * `as_of_us`, stored at `time_us`, with grade names `grades`. */
static kz_account_health *account_at(sqlite3 *db, gint64 run, gint64 as_of_us, gint64 time_us, char **grades,
                                     const char *outputs, gint64 at, GError **error)
{
    g_autoptr(kz_account_health) a = g_new0(kz_account_health, 1);
    a->scorers = g_ptr_array_new();
    a->run = run;
    a->as_of_us = as_of_us;
    a->time_us = time_us;
    a->trend = NAN;
    account_scorer(a->scorers, ""); /* the combined score comes first */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, scorer, what FROM score_columns WHERE run = ?1 ORDER BY id", -1, &st,
                           NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading scores");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, a->run);
    while (sqlite3_step(st) == SQLITE_ROW) {
        gint64 rowid = sqlite3_column_int64(st, 0);
        kz_account_scorer *s = account_scorer(a->scorers, (const char *)sqlite3_column_text(st, 1));
        const char *what = (const char *)sqlite3_column_text(st, 2);
        if (strcmp(what, "score") == 0) {
            s->score = read_double_at(db, rowid, at);
        } else if (strcmp(what, "baseline") == 0) {
            s->baseline = read_double_at(db, rowid, at);
        } else if (strcmp(what, "grade") == 0) {
            guint8 g = KZ_GRADE_NONE;
            read_at(db, rowid, at, 1, &g);
            g_free(s->grade);
            s->grade = g_strdup(grades != NULL && g < g_strv_length(grades) ? grades[g] : "");
        } else if (g_str_has_prefix(what, "c:")) {
            kz_contribution c = {g_strdup(what + 2), read_double_at(db, rowid, at)};
            g_array_append_val(s->contributions, c);
        }
    }
    sqlite3_finalize(st);
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *kinds = NULL;
    if (outputs != NULL && json_parser_load_from_data(p, outputs, -1, NULL) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
        kinds = json_node_get_object(json_parser_get_root(p));
    for (guint i = 0; i < a->scorers->len; i++) {
        kz_account_scorer *s = a->scorers->pdata[i];
        g_array_sort(s->contributions, by_magnitude);
        const char *kind = kinds != NULL && json_object_has_member(kinds, s->scorer)
                               ? json_object_get_string_member(kinds, s->scorer)
                               : NULL;
        s->output = kind == NULL ? 0 : strcmp(kind, "probability") == 0 ? KZ_SCORE_PROBABILITY : KZ_SCORE_HEALTH;
    }
    return g_steal_pointer(&a);
}

/* The grade names of a run, from its JSON array; NULL when unreadable. */
static char **run_grades(const char *json)
{
    g_autoptr(JsonParser) p = json_parser_new();
    if (json == NULL || !json_parser_load_from_data(p, json, -1, NULL) ||
        !JSON_NODE_HOLDS_ARRAY(json_parser_get_root(p)))
        return NULL;
    JsonArray *arr = json_node_get_array(json_parser_get_root(p));
    char **grades = g_new0(char *, json_array_get_length(arr) + 1);
    for (guint i = 0; i < json_array_get_length(arr); i++)
        grades[i] = g_strdup(json_array_get_string_element(arr, i));
    return grades;
}

kz_account_health *kz_health_account_at(sqlite3 *db, gint64 run, gint64 at, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT as_of_us, time_us, grades, outputs FROM score_runs WHERE id = ?1", -1, &st,
                           NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading score runs");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, run);
    kz_account_health *a = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        g_auto(GStrv) grades = run_grades((const char *)sqlite3_column_text(st, 2));
        a = account_at(db, run, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), grades,
                       (const char *)sqlite3_column_text(st, 3), at, error);
    }
    sqlite3_finalize(st);
    return a;
}

kz_account_health *kz_health_account(sqlite3 *db, const char *id, gint64 trend_us, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            db,
            "SELECT id, as_of_us, time_us, roster, grades, outputs FROM score_runs ORDER BY as_of_us DESC, id DESC "
            "LIMIT 1",
            -1, &st, NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading score runs");
        return NULL;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return NULL;
    }
    gint64 run = sqlite3_column_int64(st, 0), as_of_us = sqlite3_column_int64(st, 1),
           time_us = sqlite3_column_int64(st, 2), roster = sqlite3_column_int64(st, 3);
    g_auto(GStrv) grades = run_grades((const char *)sqlite3_column_text(st, 4));
    g_autofree char *outputs = g_strdup((const char *)sqlite3_column_text(st, 5));
    sqlite3_finalize(st);
    gint64 at = position_in_run(db, roster, id, error);
    if (at < 0)
        return NULL;
    g_autoptr(kz_account_health) a = account_at(db, run, as_of_us, time_us, grades, outputs, at, error);
    if (a == NULL)
        return NULL;

    a->trend = NAN;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, as_of_us, roster FROM score_runs WHERE as_of_us <= ?1 ORDER BY as_of_us DESC, "
                           "id DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a->as_of_us - trend_us);
        if (sqlite3_step(st) == SQLITE_ROW) {
            gint64 then_at = position_in_run(db, sqlite3_column_int64(st, 2), id, NULL);
            double then = then_at >= 0 ? combined_score(db, sqlite3_column_int64(st, 0), then_at) : NAN;
            double now = ((kz_account_scorer *)a->scorers->pdata[0])->score;
            if (!isnan(then) && !isnan(now)) {
                a->trend = now - then;
                a->trend_as_of_us = sqlite3_column_int64(st, 1);
            }
        }
    }
    sqlite3_finalize(st);
    return g_steal_pointer(&a);
}
