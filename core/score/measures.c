/*
 * core/score/measures.c — see measures.h. Each kind is one aggregate
 * query ordered by account id, walked in step with the roster (also in id
 * order), so a rollup is a handful of index scans and no per-account
 * lookups. The columns then go to the store as one BLOB each.
 */
#include "measures.h"

#include "../errors.h"
#include "../values.h"

#include <kizuna/source.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>

typedef enum { WINDOW_NONE, WINDOW_REQUIRED, WINDOW_OPTIONAL } window_rule;

/* What each kind reads and how it treats an account with nothing to read. */
typedef struct {
    const char *name;
    window_rule window;
    gboolean event_filter;    /* takes event= */
    gboolean priority_filter; /* takes priority= */
    unsigned inputs;          /* KZ_ENTITY_MASK of the entities it reads */
    double none;              /* the value when the account has no rows: 0 or NaN */
} kind_info;

#define M(e) KZ_ENTITY_MASK(KZ_ENTITY_##e)
static const kind_info kinds[] = {
    {"field", WINDOW_NONE, FALSE, FALSE, M(ACCOUNT), NAN},
    {"trait", WINDOW_NONE, FALSE, FALSE, M(ACCOUNT), NAN},
    {"count", WINDOW_REQUIRED, TRUE, FALSE, M(USAGE_EVENT), 0},
    {"active_users", WINDOW_REQUIRED, TRUE, FALSE, M(USAGE_EVENT), 0},
    {"distinct_events", WINDOW_REQUIRED, TRUE, FALSE, M(USAGE_EVENT), 0},
    {"sum", WINDOW_REQUIRED, TRUE, FALSE, M(USAGE_EVENT), 0},
    {"avg", WINDOW_REQUIRED, TRUE, FALSE, M(USAGE_EVENT), NAN},
    {"stickiness", WINDOW_REQUIRED, TRUE, FALSE, M(USAGE_EVENT), NAN},
    {"open_tickets", WINDOW_NONE, FALSE, TRUE, M(TICKET), 0},
    {"oldest_open_ticket", WINDOW_NONE, FALSE, TRUE, M(TICKET), 0},
    {"latest_nps", WINDOW_OPTIONAL, FALSE, FALSE, M(SURVEY_ANSWER), NAN},
    {"latest_csat", WINDOW_OPTIONAL, FALSE, FALSE, M(SURVEY_ANSWER), NAN},
    {"days_to_renewal", WINDOW_NONE, FALSE, FALSE, M(ACCOUNT), NAN},
    {"mrr_change", WINDOW_REQUIRED, FALSE, FALSE, M(SUBSCRIPTION), NAN},
};
#undef M

/* Account fields a `field` measure can read: SQL over `accounts`, and
 * whether the value is a category. */
typedef struct {
    const char *name;
    const char *sql;
    gboolean categorical;
} field_info;

static const field_info fields[] = {
    {"name", "name", TRUE},
    {"region", "region", TRUE},
    {"segment", "segment", TRUE},
    {"plan", "plan", TRUE},
    {"currency", "currency", TRUE},
    {"owner", "crm_owner", TRUE},
    {"arr", "arr_minor", FALSE},                    /* major units of its currency */
    {"contract_start", "contract_start_us", FALSE}, /* days since */
    {"renewal_date", "renewal_date_us", FALSE},     /* days until */
};

static const struct {
    const char *name;
    int value;
} priorities[] = {
    {"none", KZ_PRIORITY_NONE}, {"low", KZ_PRIORITY_LOW},       {"normal", KZ_PRIORITY_NORMAL},
    {"high", KZ_PRIORITY_HIGH}, {"urgent", KZ_PRIORITY_URGENT},
};

static const kind_info *find_kind(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(kinds); i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}

static const field_info *find_field(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(fields); i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static int priority_value(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(priorities); i++)
        if (g_ascii_strcasecmp(priorities[i].name, name) == 0)
            return priorities[i].value;
    return -1;
}

static void add_error(GPtrArray *errors, const kz_config *cfg, const kz_config_measure *m, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static void add_error(GPtrArray *errors, const kz_config *cfg, const kz_config_measure *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    kz_config_error(errors, cfg, m->line, "measure '%s': %s", m->name, msg);
}

gboolean kz_measures_check(const kz_config *cfg, GPtrArray *errors)
{
    guint before = errors->len;
    for (guint i = 0; i < cfg->measures->len; i++) {
        const kz_config_measure *m = cfg->measures->pdata[i];
        const kind_info *k = find_kind(m->kind);
        if (k == NULL) { /* the schema lists the kinds: only a stale schema gets here */
            add_error(errors, cfg, m, "unknown kind '%s'", m->kind);
            continue;
        }
        if (k->window == WINDOW_REQUIRED && m->window == NULL)
            add_error(errors, cfg, m, "kind %s needs a window (window=\"30d\")", m->kind);
        if (k->window == WINDOW_NONE && m->window != NULL)
            add_error(errors, cfg, m, "kind %s has no window", m->kind);
        if (!k->event_filter && m->event != NULL)
            add_error(errors, cfg, m, "event= applies to usage-event kinds, not %s", m->kind);
        if (!k->priority_filter && m->priority != NULL)
            add_error(errors, cfg, m, "priority= applies to open_tickets and oldest_open_ticket, not %s", m->kind);
        gboolean is_field = strcmp(m->kind, "field") == 0, is_trait = strcmp(m->kind, "trait") == 0;
        if (is_field && m->field == NULL)
            add_error(errors, cfg, m, "kind field needs field=\"NAME\"");
        if (is_field && m->field != NULL && find_field(m->field) == NULL) {
            g_autoptr(GString) known = g_string_new(NULL);
            for (gsize f = 0; f < G_N_ELEMENTS(fields); f++)
                g_string_append_printf(known, "%s%s", f ? ", " : "", fields[f].name);
            add_error(errors, cfg, m, "unknown account field '%s' (known: %s)", m->field, known->str);
        }
        if (!is_field && m->field != NULL)
            add_error(errors, cfg, m, "field= applies to kind field only");
        if (is_trait && m->trait == NULL)
            add_error(errors, cfg, m, "kind trait needs trait=\"NAME\"");
        if (!is_trait && m->trait != NULL)
            add_error(errors, cfg, m, "trait= applies to kind trait only");
        if (m->priority != NULL) {
            g_auto(GStrv) names = g_strsplit(m->priority, "|", -1);
            for (char **p = names; *p != NULL; p++)
                if (priority_value(g_strstrip(*p)) < 0)
                    add_error(errors, cfg, m, "unknown priority '%s' (none, low, normal, high, urgent)", *p);
        }
        if (m->event != NULL) {
            g_auto(GStrv) names = g_strsplit(m->event, "|", -1);
            for (char **p = names; *p != NULL; p++)
                if (*g_strstrip(*p) == '\0')
                    add_error(errors, cfg, m, "event=\"%s\" has an empty event name", m->event);
        }
        if (m->window != NULL && m->window_us % KZ_DAY_US != 0)
            add_error(errors, cfg, m, "window=\"%s\": windows are whole days (\"30d\", \"4w\")", m->window);
    }
    return errors->len == before;
}

gint64 kz_measures_default_as_of(gint64 now_us)
{
    gint64 day = now_us >= 0 ? now_us / KZ_DAY_US : -((-now_us + KZ_DAY_US - 1) / KZ_DAY_US);
    return (day + 1) * KZ_DAY_US;
}

/* ---- columnar BLOBs ---------------------------------------------------- */

void kz_blob_put_doubles(void *dst, const double *src, gsize n)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
    if (n > 0) /* an empty blob reads back as NULL */
        memcpy(dst, src, n * sizeof(double));
#else
    guint64 *out = dst;
    for (gsize i = 0; i < n; i++) {
        guint64 v;
        memcpy(&v, &src[i], sizeof v);
        out[i] = GUINT64_TO_LE(v);
    }
#endif
}

void kz_blob_get_doubles(double *dst, const void *src, gsize n)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
    if (n > 0) /* an empty blob reads back as NULL */
        memcpy(dst, src, n * sizeof(double));
#else
    const guint64 *in = src;
    for (gsize i = 0; i < n; i++) {
        guint64 v = GUINT64_FROM_LE(in[i]);
        memcpy(&dst[i], &v, sizeof v);
    }
#endif
}

static void put_codes(void *dst, const gint32 *src, gsize n)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
    if (n > 0)
        memcpy(dst, src, n * sizeof(gint32));
#else
    gint32 *out = dst;
    for (gsize i = 0; i < n; i++)
        out[i] = GINT32_TO_LE(src[i]);
#endif
}

static void get_codes(gint32 *dst, const void *src, gsize n)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
    if (n > 0)
        memcpy(dst, src, n * sizeof(gint32));
#else
    const gint32 *in = src;
    for (gsize i = 0; i < n; i++)
        dst[i] = GINT32_FROM_LE(in[i]);
#endif
}

/* ---- rosters ----------------------------------------------------------- */

void kz_roster_free(kz_roster *r)
{
    if (r == NULL)
        return;
    g_free(r->blob);
    g_free(r->ids);
    g_free(r);
}

gint64 kz_roster_find(const kz_roster *r, const char *id)
{
    guint lo = 0, hi = r->n;
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        int c = strcmp(r->ids[mid], id);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Points ids[] into blob; FALSE when the blob does not hold n ids. */
static gboolean roster_index(kz_roster *r)
{
    r->ids = g_new(const char *, MAX(r->n, 1));
    gsize at = 0;
    for (guint i = 0; i < r->n; i++) {
        const char *end = at < r->blob_len ? memchr(r->blob + at, '\0', r->blob_len - at) : NULL;
        if (end == NULL)
            return FALSE;
        r->ids[i] = r->blob + at;
        at = (gsize)(end - r->blob) + 1;
    }
    return at == r->blob_len;
}

kz_roster *kz_roster_load(sqlite3 *db, gint64 id, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT n, ids, digest, generation FROM rosters WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK) {
        kz_sql_fail(db, error, "reading a roster");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    kz_roster *r = NULL;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 2) == 32) {
        r = g_new0(kz_roster, 1);
        r->id = id;
        gint64 n = sqlite3_column_int64(st, 0);
        r->blob_len = (gsize)sqlite3_column_bytes(st, 1);
        r->n = n >= 0 && (guint64)n <= r->blob_len ? (guint)n : G_MAXUINT; /* each id takes a byte at least */
        r->blob = g_memdup2(sqlite3_column_blob(st, 1), r->blob_len);
        memcpy(r->digest, sqlite3_column_blob(st, 2), 32);
        r->generation = sqlite3_column_int64(st, 3);
        if (r->n == G_MAXUINT || !roster_index(r)) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "store: roster %" G_GINT64_FORMAT " is damaged", id);
            g_clear_pointer(&r, kz_roster_free);
        }
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "store: roster %" G_GINT64_FORMAT " is missing", id);
    } else {
        kz_sql_fail(db, error, "reading a roster");
    }
    sqlite3_finalize(st);
    return r;
}

/* The accounts now, in id order. */
static kz_roster *roster_read(sqlite3 *db, gint64 generation, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id FROM accounts ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading accounts");
        return NULL;
    }
    g_autoptr(GByteArray) blob = g_byte_array_new();
    guint n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        g_byte_array_append(blob, sqlite3_column_text(st, 0), (guint)sqlite3_column_bytes(st, 0) + 1);
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        kz_sql_fail(db, error, "reading accounts");
        return NULL;
    }
    kz_roster *r = g_new0(kz_roster, 1);
    r->n = n;
    r->blob_len = blob->len;
    r->blob = (char *)g_byte_array_steal(blob, NULL);
    r->generation = generation;
    roster_index(r);
    gsize dlen = 32;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(sum, (const guchar *)r->blob, (gssize)r->blob_len);
    g_checksum_get_digest(sum, r->digest, &dlen);
    return r;
}

/* Stores `r` unless a roster with its digest is there; sets r->id. */
static gboolean roster_save(sqlite3 *db, kz_roster *r, gint64 now_us, GError **error)
{
    sqlite3_stmt *st = NULL;
    gboolean ok =
        sqlite3_prepare_v2(db,
                           "INSERT INTO rosters (n, ids, digest, generation, created_us) VALUES (?1, ?2, ?3, ?4, ?5) "
                           "ON CONFLICT (digest) DO UPDATE SET generation = excluded.generation RETURNING id",
                           -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_int64(st, 1, r->n);
        if (r->blob_len > 0)
            sqlite3_bind_blob64(st, 2, r->blob, r->blob_len, SQLITE_STATIC);
        else /* no accounts: an empty BLOB, not NULL */
            sqlite3_bind_zeroblob(st, 2, 0);
        sqlite3_bind_blob(st, 3, r->digest, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, r->generation);
        sqlite3_bind_int64(st, 5, now_us);
        ok = sqlite3_step(st) == SQLITE_ROW;
        if (ok)
            r->id = sqlite3_column_int64(st, 0);
        ok = sqlite3_step(st) == SQLITE_DONE && ok;
    }
    if (!ok)
        kz_sql_fail(db, error, "storing a roster");
    sqlite3_finalize(st);
    return ok;
}

/* ---- computing one measure -------------------------------------------- */

void kz_measure_column_view(const kz_measure_column *c, kz_column *out, const char **levels_out)
{
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    out->type = (uint32_t)c->type;
    out->name = c->name;
    out->values = c->values;
    out->codes = c->codes;
    if (c->type == KZ_COLUMN_CATEGORICAL) {
        for (guint i = 0; i < c->levels->len; i++)
            levels_out[i] = c->levels->pdata[i];
        out->levels = levels_out;
        out->n_levels = c->levels->len;
    }
}

static void column_free(kz_measure_column *c)
{
    g_free(c->name);
    g_free(c->values);
    g_free(c->codes);
    if (c->levels != NULL)
        g_ptr_array_unref(c->levels);
    g_free(c);
}

static kz_measure_column *column_new_double(const char *name, guint n, double fill)
{
    kz_measure_column *c = g_new0(kz_measure_column, 1);
    c->name = g_strdup(name);
    c->type = KZ_COLUMN_DOUBLE;
    c->values = g_new(double, MAX(n, 1));
    for (guint i = 0; i < n; i++)
        c->values[i] = fill;
    return c;
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Turns text values (NULL = missing) into codes over sorted levels. */
static kz_measure_column *column_categorical(const char *name, guint n, char **texts)
{
    kz_measure_column *c = g_new0(kz_measure_column, 1);
    c->name = g_strdup(name);
    c->type = KZ_COLUMN_CATEGORICAL;
    c->codes = g_new(gint32, MAX(n, 1));
    c->levels = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < n; i++)
        if (texts[i] != NULL && g_hash_table_add(seen, texts[i]))
            g_ptr_array_add(c->levels, g_strdup(texts[i]));
    g_ptr_array_sort(c->levels, cmp_str);
    g_hash_table_remove_all(seen);
    g_autoptr(GHashTable) code = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint l = 0; l < c->levels->len; l++)
        g_hash_table_insert(code, c->levels->pdata[l], GINT_TO_POINTER(l + 1));
    for (guint i = 0; i < n; i++)
        c->codes[i] = texts[i] != NULL ? GPOINTER_TO_INT(g_hash_table_lookup(code, texts[i])) - 1 : -1;
    return c;
}

/* Walks query rows (account id first, in id order) in step with the roster. */
typedef struct {
    const kz_roster *roster;
    guint pos;
} walker;

static gint64 walk_to(walker *w, const char *id)
{
    if (id == NULL)
        return -1;
    while (w->pos < w->roster->n) {
        int c = strcmp(w->roster->ids[w->pos], id);
        if (c == 0)
            return w->pos;
        if (c > 0)
            return -1; /* not in the roster (cannot happen within one transaction) */
        w->pos++;
    }
    return -1;
}

/* Binds "a|b|c" as consecutive text parameters from `first`, returns the
 * SQL list "?N, ?N+1, ..." */
static char *in_list(const char *names, int first, GPtrArray *binds)
{
    g_auto(GStrv) parts = g_strsplit(names, "|", -1);
    GString *sql = g_string_new(NULL);
    int n = 0;
    for (char **p = parts; *p != NULL; p++) {
        g_strstrip(*p);
        if (**p == '\0')
            continue;
        g_string_append_printf(sql, "%s?%d", n ? ", " : "", first + n);
        g_ptr_array_add(binds, g_strdup(*p));
        n++;
    }
    return g_string_free(sql, FALSE);
}

typedef struct {
    sqlite3 *db;
    const kz_roster *roster;
    gint64 as_of;
} rollup_ctx;

/* Runs `sql` (rows: account id, value) and writes value into c->values at
 * the account's position; a NULL value leaves the fill. Parameters: ?1 =
 * window start, ?2 = as-of, ?3 = window days, then `binds` (text, or
 * integers for priorities when `int_binds`). */
static gboolean fill_double(rollup_ctx *x, const char *sql, gint64 start, double days, GPtrArray *binds,
                            gboolean int_binds, kz_measure_column *c, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK)
        return kz_sql_fail(x->db, error, c->name);
    int n_params = sqlite3_bind_parameter_count(st);
    if (n_params >= 1)
        sqlite3_bind_int64(st, 1, start);
    if (n_params >= 2)
        sqlite3_bind_int64(st, 2, x->as_of);
    if (n_params >= 3)
        sqlite3_bind_double(st, 3, days);
    for (guint i = 0; binds != NULL && i < binds->len; i++) {
        if (int_binds)
            sqlite3_bind_int(st, 4 + (int)i, GPOINTER_TO_INT(binds->pdata[i]));
        else
            sqlite3_bind_text(st, 4 + (int)i, binds->pdata[i], -1, SQLITE_STATIC);
    }
    walker w = {x->roster, 0};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        gint64 at = walk_to(&w, (const char *)sqlite3_column_text(st, 0));
        if (at >= 0 && sqlite3_column_type(st, 1) != SQLITE_NULL)
            c->values[at] = sqlite3_column_double(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || kz_sql_fail(x->db, error, c->name);
}

static kz_measure_column *compute_field(rollup_ctx *x, const kz_config_measure *m, GError **error)
{
    const field_info *f = find_field(m->field);
    guint n = x->roster->n;
    g_autofree char *sql = g_strdup_printf("SELECT id, %s, currency FROM accounts ORDER BY id", f->sql);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK) {
        kz_sql_fail(x->db, error, m->name);
        return NULL;
    }
    kz_measure_column *c = NULL;
    char **texts = NULL;
    if (f->categorical)
        texts = g_new0(char *, MAX(n, 1));
    else
        c = column_new_double(m->name, n, NAN);
    walker w = {x->roster, 0};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        gint64 at = walk_to(&w, (const char *)sqlite3_column_text(st, 0));
        if (at < 0 || sqlite3_column_type(st, 1) == SQLITE_NULL)
            continue;
        if (f->categorical) {
            texts[at] = g_strdup((const char *)sqlite3_column_text(st, 1));
        } else if (strcmp(f->name, "arr") == 0) {
            double scale = pow(10, kz_currency_digits((const char *)sqlite3_column_text(st, 2)));
            c->values[at] = (double)sqlite3_column_int64(st, 1) / scale;
        } else {
            double days = (double)(sqlite3_column_int64(st, 1) - x->as_of) / (double)KZ_DAY_US;
            c->values[at] = strcmp(f->name, "contract_start") == 0 ? -days : days;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        kz_sql_fail(x->db, error, m->name);
    if (f->categorical) {
        if (rc == SQLITE_DONE)
            c = column_categorical(m->name, n, texts);
        for (guint i = 0; i < n; i++)
            g_free(texts[i]);
        g_free(texts);
    } else if (rc != SQLITE_DONE) {
        g_clear_pointer(&c, column_free);
    }
    return c;
}

/* A trait is numeric when every value it holds is (int, double, bool as
 * 0/1, time as days before the as-of); one text value makes it a category
 * of the values' text. */
static kz_measure_column *compute_trait(rollup_ctx *x, const kz_config_measure *m, GError **error)
{
    guint n = x->roster->n;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(x->db,
                           "SELECT account_id, value, type FROM account_traits WHERE name = ?1 ORDER BY account_id", -1,
                           &st, NULL) != SQLITE_OK) {
        kz_sql_fail(x->db, error, m->name);
        return NULL;
    }
    sqlite3_bind_text(st, 1, m->trait, -1, SQLITE_STATIC);
    double *values = g_new(double, MAX(n, 1));
    char **texts = g_new0(char *, MAX(n, 1));
    gboolean categorical = FALSE;
    for (guint i = 0; i < n; i++)
        values[i] = NAN;
    walker w = {x->roster, 0};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        gint64 at = walk_to(&w, (const char *)sqlite3_column_text(st, 0));
        int type = sqlite3_column_int(st, 2);
        if (at < 0 || type == KZ_VALUE_NULL || sqlite3_column_type(st, 1) == SQLITE_NULL)
            continue;
        texts[at] = g_strdup((const char *)sqlite3_column_text(st, 1));
        if (type == KZ_VALUE_STRING)
            categorical = TRUE;
        else if (type == KZ_VALUE_TIME)
            values[at] = (double)(x->as_of - sqlite3_column_int64(st, 1)) / (double)KZ_DAY_US;
        else
            values[at] = sqlite3_column_double(st, 1);
    }
    sqlite3_finalize(st);
    kz_measure_column *c = NULL;
    if (rc != SQLITE_DONE) {
        kz_sql_fail(x->db, error, m->name);
    } else if (categorical) {
        c = column_categorical(m->name, n, texts);
    } else {
        c = g_new0(kz_measure_column, 1);
        c->name = g_strdup(m->name);
        c->type = KZ_COLUMN_DOUBLE;
        c->values = g_steal_pointer(&values);
    }
    for (guint i = 0; i < n; i++)
        g_free(texts[i]);
    g_free(texts);
    g_free(values);
    return c;
}

static kz_measure_column *compute(rollup_ctx *x, const kz_config_measure *m, GError **error)
{
    const kind_info *k = find_kind(m->kind);
    if (strcmp(k->name, "field") == 0)
        return compute_field(x, m, error);
    if (strcmp(k->name, "trait") == 0)
        return compute_trait(x, m, error);

    gint64 start = m->window != NULL ? x->as_of - m->window_us : G_MININT64;
    double days = (double)m->window_us / (double)KZ_DAY_US;
    g_autoptr(GPtrArray) binds = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) prio = g_ptr_array_new();
    g_autofree char *filter = NULL;
    if (m->event != NULL) {
        g_autofree char *list = in_list(m->event, 4, binds);
        filter = g_strdup_printf(" AND name IN (%s)", list);
    }
    if (m->priority != NULL) {
        g_auto(GStrv) parts = g_strsplit(m->priority, "|", -1);
        GString *list = g_string_new(NULL);
        for (char **p = parts; *p != NULL; p++) {
            g_string_append_printf(list, "%s?%u", prio->len ? ", " : "", 4 + prio->len);
            g_ptr_array_add(prio, GINT_TO_POINTER(priority_value(g_strstrip(*p))));
        }
        filter = g_strdup_printf(" AND priority IN (%s)", list->str);
        g_string_free(list, TRUE);
    }
    const char *f = filter != NULL ? filter : "";
    /* tickets open at ?2: opened before it and not closed by then; a
     * ticket solved or closed without a closing time counts as closed */
    g_autofree char *open_where = g_strdup_printf("FROM tickets WHERE opened_us < ?2 AND (closed_us >= ?2 OR "
                                                  "(closed_us IS NULL AND status NOT IN (%d, %d)))",
                                                  KZ_TICKET_SOLVED, KZ_TICKET_CLOSED);
    g_autofree char *sql = NULL;
    const char *kind = k->name;
    /* an aggregate over each account's usage events in [?1, ?2) */
    g_autofree char *usage = NULL;
    if (strcmp(kind, "count") == 0)
        usage = g_strdup("COUNT(*)");
    else if (strcmp(kind, "active_users") == 0)
        usage = g_strdup("COUNT(DISTINCT user_id)");
    else if (strcmp(kind, "distinct_events") == 0)
        usage = g_strdup("COUNT(DISTINCT name)");
    else if (strcmp(kind, "sum") == 0)
        usage = g_strdup("TOTAL(quantity)");
    else if (strcmp(kind, "avg") == 0)
        usage = g_strdup("AVG(quantity)");
    else if (strcmp(kind, "stickiness") == 0)
        /* average daily active users over the window / its active users */
        usage = g_strdup_printf("COUNT(DISTINCT printf('%%d/%%s', (time_us - ?1) / %" G_GINT64_FORMAT
                                ", user_id)) / ?3 / NULLIF(COUNT(DISTINCT user_id), 0)",
                                KZ_DAY_US);
    if (usage != NULL)
        /* One index seek per account to its window, not a scan of every
         * event in the store filtered by time: a year of history with a
         * 28-day window reads a thirteenth of it (8x faster at 100,000
         * accounts and 22 million events, docs/performance.md). */
        sql =
            g_strdup_printf("SELECT id, (SELECT %s FROM usage_events WHERE account_id = accounts.id AND time_us >= ?1 "
                            "AND time_us < ?2%s%s) FROM accounts ORDER BY id",
                            usage, strcmp(kind, "stickiness") == 0 ? " AND user_id IS NOT NULL" : "", f);
    else if (strcmp(kind, "open_tickets") == 0)
        sql =
            g_strdup_printf("SELECT account_id, COUNT(*) %s%s GROUP BY account_id ORDER BY account_id", open_where, f);
    else if (strcmp(kind, "oldest_open_ticket") == 0)
        sql = g_strdup_printf("SELECT account_id, (?2 - MIN(opened_us)) / %" G_GINT64_FORMAT
                              ".0 %s%s GROUP BY account_id ORDER BY account_id",
                              KZ_DAY_US, open_where, f);
    else if (strcmp(kind, "latest_nps") == 0 || strcmp(kind, "latest_csat") == 0)
        /* the account's last answer in the window (of two at the same
         * instant, the one with the greater key: any rule, but one) */
        sql =
            g_strdup_printf("SELECT id, (SELECT score FROM survey_answers WHERE account_id = accounts.id AND kind = %d "
                            "AND time_us >= ?1 AND time_us < ?2 ORDER BY time_us DESC, key DESC LIMIT 1) FROM accounts "
                            "ORDER BY id",
                            strcmp(kind, "latest_nps") == 0 ? KZ_SURVEY_NPS : KZ_SURVEY_CSAT);
    else if (strcmp(kind, "days_to_renewal") == 0)
        sql = g_strdup_printf("SELECT id, (renewal_date_us - ?2) / %" G_GINT64_FORMAT ".0 FROM accounts ORDER BY id",
                              KZ_DAY_US);
    else if (strcmp(kind, "mrr_change") == 0)
        /* MRR of the subscriptions running at the window's start and at its
         * last instant (trials bring none), as a relative change */
        sql = g_strdup_printf(
            "SELECT account_id, (now - start) / NULLIF(start, 0) FROM (SELECT account_id, "
            "TOTAL(CASE WHEN period_start_us <= ?1 AND (period_end_us IS NULL OR period_end_us > ?1) THEN mrr_minor "
            "END) AS start, TOTAL(CASE WHEN period_start_us <= ?2 - 1 AND (period_end_us IS NULL OR period_end_us >= "
            "?2) THEN mrr_minor END) AS now FROM subscriptions WHERE status != %d GROUP BY account_id) ORDER BY "
            "account_id",
            KZ_SUBSCRIPTION_TRIALING);
    kz_measure_column *c = column_new_double(m->name, x->roster->n, k->none);
    gboolean ok = prio->len ? fill_double(x, sql, start, days, prio, TRUE, c, error)
                            : fill_double(x, sql, start, days, binds, FALSE, c, error);
    if (!ok)
        g_clear_pointer(&c, column_free);
    return c;
}

/* ---- the rollup -------------------------------------------------------- */

/* Everything that makes a measure's values what they are, but the data. */
static char *definition(const kz_config_measure *m)
{
    return g_strdup_printf("kind=%s;window=%" G_GINT64_FORMAT ";field=%s;trait=%s;event=%s;priority=%s", m->kind,
                           m->window_us, m->field ? m->field : "", m->trait ? m->trait : "", m->event ? m->event : "",
                           m->priority ? m->priority : "");
}

static gint64 inputs_of(const kz_config_measure *m, const gint64 *generation)
{
    const kind_info *k = find_kind(m->kind);
    gint64 sum = 0;
    for (int e = KZ_ENTITY_ACCOUNT; e <= KZ_ENTITY_SURVEY_ANSWER; e++)
        if (k->inputs & KZ_ENTITY_MASK(e))
            sum += generation[e];
    return sum;
}

void kz_measure_set_free(kz_measure_set *set)
{
    if (set == NULL)
        return;
    kz_roster_free(set->roster);
    g_ptr_array_unref(set->columns);
    g_free(set);
}

const kz_measure_column *kz_measure_set_find(const kz_measure_set *set, const char *name)
{
    for (guint i = 0; i < set->columns->len; i++) {
        const kz_measure_column *c = set->columns->pdata[i];
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

static gboolean read_generations(sqlite3 *db, gint64 *generation, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT entity, generation FROM data_generations", -1, &st, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "reading data generations");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int e = sqlite3_column_int(st, 0);
        if (e >= KZ_ENTITY_ACCOUNT && e <= KZ_ENTITY_SURVEY_ANSWER)
            generation[e] = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || kz_sql_fail(db, error, "reading data generations");
}

/* The roster for this rollup: the latest stored one when the accounts have
 * not changed since it was read, else the accounts now. */
static kz_roster *current_roster(sqlite3 *db, gint64 generation, GError **error)
{
    sqlite3_stmt *st = NULL;
    gint64 id = 0;
    if (sqlite3_prepare_v2(db, "SELECT id FROM rosters WHERE generation = ?1 ORDER BY id DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading rosters");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, generation);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id > 0 ? kz_roster_load(db, id, error) : roster_read(db, generation, error);
}

/* The levels of a stored categorical column (a JSON array of strings), or
 * NULL when the text is not one. */
static GPtrArray *read_levels(const char *json)
{
    g_autoptr(JsonParser) p = json_parser_new();
    if (json == NULL || !json_parser_load_from_data(p, json, -1, NULL) ||
        !JSON_NODE_HOLDS_ARRAY(json_parser_get_root(p)))
        return NULL;
    JsonArray *a = json_node_get_array(json_parser_get_root(p));
    GPtrArray *levels = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
            g_ptr_array_unref(levels);
            return NULL;
        }
        g_ptr_array_add(levels, g_strdup(json_node_get_string(e)));
    }
    return levels;
}

/* The stored column `name` when it was computed from the same roster,
 * definition, as-of and inputs; NULL (no error) when it is stale or absent. */
static kz_measure_column *load_column(sqlite3 *db, const char *name, const kz_roster *roster, const char *def,
                                      gint64 as_of, gint64 inputs, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT type, vals, levels FROM measure_columns WHERE name = ?1 AND roster = ?2 AND "
                           "definition = ?3 AND as_of_us = ?4 AND inputs = ?5",
                           -1, &st, NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading measures");
        return NULL;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, roster->id);
    sqlite3_bind_text(st, 3, def, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, as_of);
    sqlite3_bind_int64(st, 5, inputs);
    kz_measure_column *c = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        int type = sqlite3_column_int(st, 0);
        gsize bytes = (gsize)sqlite3_column_bytes(st, 1);
        const void *blob = sqlite3_column_blob(st, 1);
        c = g_new0(kz_measure_column, 1);
        c->name = g_strdup(name);
        c->type = type;
        if (type == KZ_COLUMN_DOUBLE && bytes == roster->n * sizeof(double)) {
            c->values = g_new(double, MAX(roster->n, 1));
            kz_blob_get_doubles(c->values, blob, roster->n);
        } else if (type == KZ_COLUMN_CATEGORICAL && bytes == roster->n * sizeof(gint32)) {
            c->codes = g_new(gint32, MAX(roster->n, 1));
            get_codes(c->codes, blob, roster->n);
            c->levels = read_levels((const char *)sqlite3_column_text(st, 2));
            for (guint i = 0; c->levels != NULL && i < roster->n; i++)
                if (c->codes[i] < -1 || c->codes[i] >= (gint32)c->levels->len)
                    g_clear_pointer(&c->levels, g_ptr_array_unref);
            if (c->levels == NULL)
                g_clear_pointer(&c, column_free); /* damaged: compute it again */
        } else {
            g_clear_pointer(&c, column_free); /* damaged: compute it again */
        }
    }
    sqlite3_finalize(st);
    return c;
}

static gboolean save_column(sqlite3 *db, const kz_measure_column *c, const kz_roster *roster, const char *def,
                            gint64 as_of, gint64 inputs, gint64 now_us, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO measure_columns (name, roster, type, vals, levels, definition, as_of_us, "
                           "inputs, computed_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (name) DO "
                           "UPDATE SET roster = excluded.roster, type = excluded.type, vals = excluded.vals, levels = "
                           "excluded.levels, definition = excluded.definition, as_of_us = excluded.as_of_us, inputs = "
                           "excluded.inputs, computed_us = excluded.computed_us",
                           -1, &st, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "storing measures");
    gsize bytes = roster->n * (c->type == KZ_COLUMN_DOUBLE ? sizeof(double) : sizeof(gint32));
    void *blob = g_malloc(MAX(bytes, 1));
    g_autofree char *levels = NULL;
    if (c->type == KZ_COLUMN_DOUBLE) {
        kz_blob_put_doubles(blob, c->values, roster->n);
    } else {
        put_codes(blob, c->codes, roster->n);
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_array(b);
        for (guint i = 0; i < c->levels->len; i++)
            json_builder_add_string_value(b, c->levels->pdata[i]);
        json_builder_end_array(b);
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        levels = json_to_string(root, FALSE);
    }
    sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, roster->id);
    sqlite3_bind_int(st, 3, c->type);
    sqlite3_bind_blob64(st, 4, blob, bytes, g_free);
    if (levels != NULL)
        sqlite3_bind_text(st, 5, levels, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, def, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, as_of);
    sqlite3_bind_int64(st, 8, inputs);
    sqlite3_bind_int64(st, 9, now_us);
    gboolean ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok || kz_sql_fail(db, error, "storing measures");
}

/* Measures no longer configured, and rosters nothing refers to, go; never
 * `keep`, the roster of this rollup (a score run may refer to it next). */
static gboolean prune(sqlite3 *db, const kz_config *cfg, gint64 keep, GError **error)
{
    g_autoptr(GString) sql = g_string_new("DELETE FROM measure_columns WHERE name NOT IN (");
    for (guint i = 0; i < cfg->measures->len; i++) {
        char *q = sqlite3_mprintf("%s%Q", i ? ", " : "", ((kz_config_measure *)cfg->measures->pdata[i])->name);
        g_string_append(sql, q);
        sqlite3_free(q);
    }
    g_string_append_printf(sql,
                           ");DELETE FROM rosters WHERE id != %" G_GINT64_FORMAT
                           " AND id NOT IN (SELECT roster FROM measure_columns) AND id NOT IN (SELECT roster FROM "
                           "score_runs)",
                           keep);
    return kz_sql_exec(db, sql->str, error);
}

kz_measure_set *kz_measures_rollup(kz_store *store, const kz_config *cfg, gint64 as_of_us, gboolean store_it,
                                   GError **error)
{
    sqlite3 *db = kz_store_db(store);
    gint64 now = g_get_real_time();
    if (!kz_sql_exec(db, store_it ? "BEGIN IMMEDIATE" : "BEGIN", error))
        return NULL;
    gint64 generation[KZ_ENTITY_SURVEY_ANSWER + 1] = {0};
    g_autoptr(kz_measure_set) set = g_new0(kz_measure_set, 1);
    set->as_of_us = as_of_us;
    set->columns = g_ptr_array_new_with_free_func((GDestroyNotify)column_free);
    gboolean ok = read_generations(db, generation, error) &&
                  (set->roster = current_roster(db, generation[KZ_ENTITY_ACCOUNT], error)) != NULL;
    if (ok && store_it && set->roster->id == 0)
        ok = roster_save(db, set->roster, now, error);
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    if (ok) {
        g_checksum_update(sum, set->roster->digest, 32);
        g_checksum_update(sum, (const guchar *)&as_of_us, sizeof as_of_us);
    }
    rollup_ctx x = {db, set->roster, as_of_us};
    for (guint i = 0; ok && i < cfg->measures->len; i++) {
        const kz_config_measure *m = cfg->measures->pdata[i];
        g_autofree char *def = definition(m);
        gint64 inputs = inputs_of(m, generation);
        kz_measure_column *c = NULL;
        if (set->roster->id > 0)
            c = load_column(db, m->name, set->roster, def, as_of_us, inputs, error);
        if (c == NULL && (c = compute(&x, m, error)) != NULL) {
            c->computed = TRUE;
            if (store_it)
                ok = save_column(db, c, set->roster, def, as_of_us, inputs, now, error);
        }
        if (c == NULL)
            ok = FALSE;
        else
            g_ptr_array_add(set->columns, c);
        g_checksum_update(sum, (const guchar *)def, (gssize)strlen(def) + 1);
        g_checksum_update(sum, (const guchar *)m->name, (gssize)strlen(m->name) + 1);
        g_checksum_update(sum, (const guchar *)&inputs, sizeof inputs);
    }
    if (ok && store_it)
        ok = prune(db, cfg, set->roster->id, error);
    if (!ok || !kz_sql_exec(db, "COMMIT", error)) {
        kz_sql_exec(db, "ROLLBACK", NULL);
        return NULL;
    }
    gsize dlen = 32;
    g_checksum_get_digest(sum, set->digest, &dlen);
    return g_steal_pointer(&set);
}
