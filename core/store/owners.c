/*
 * core/store/owners.c — the current owners as columns, and the kz_owners
 * virtual table over them (owners.h).
 */
#include "owners.h"

#include "errors.h"
#include "store.h"

#include <kizuna/orgmodel.h>
#include <sqlite3.h>
#include <string.h>

void kz_owners_free(kz_owners *o)
{
    if (o == NULL)
        return;
    g_free(o->ids);
    g_free(o->codes);
    g_free(o->since_us);
    g_free(o->reasons);
    g_free(o->pair_owner);
    g_free(o->pair_team);
    g_free(o->ids_buf);
    g_free(o->pairs_buf);
    g_free(o);
}

/* Splits the `len` bytes of `buf` (each string NUL-terminated) into
 * `out`; FALSE when the last one has no NUL. */
static gboolean split_strings(char *buf, gsize len, GPtrArray *out)
{
    gsize at = 0;
    while (at < len) {
        char *end = memchr(buf + at, '\0', len - at);
        if (end == NULL)
            return FALSE;
        g_ptr_array_add(out, buf + at);
        at = (gsize)(end - buf) + 1;
    }
    return TRUE;
}

static gboolean damaged(GError **error, gint64 run, const char *why)
{
    g_autofree char *by = run > 0 ? g_strdup_printf(" (written by assign run %" G_GINT64_FORMAT ")", run) : NULL;
    g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "store: the current owners%s are damaged: %s", by ? by : "", why);
    return FALSE;
}

/* Fills `o` from the columns of the row `st` is on; FALSE (error set,
 * saying what is wrong) when they do not hold what n says. */
static gboolean decode(kz_owners *o, sqlite3_stmt *st, GError **error)
{
    o->present = TRUE;
    o->run = sqlite3_column_int64(st, 0);
    gint64 n = sqlite3_column_int64(st, 1);
    gsize ids_len = (gsize)sqlite3_column_bytes(st, 2), pairs_len = (gsize)sqlite3_column_bytes(st, 3);
    if (n < 0 || n > G_MAXINT32 || (gsize)n > ids_len)
        return damaged(error, o->run, "n is not a count of its ids");
    o->n = (guint)n;
    if ((gsize)sqlite3_column_bytes(st, 4) != o->n * 4u || (gsize)sqlite3_column_bytes(st, 5) != o->n * 8u ||
        (gsize)sqlite3_column_bytes(st, 6) != o->n)
        return damaged(error, o->run, "a column is not n values long");
    o->ids_buf = g_memdup2(sqlite3_column_blob(st, 2), ids_len);
    o->pairs_buf = g_memdup2(sqlite3_column_blob(st, 3), pairs_len);
    g_autoptr(GPtrArray) ids = g_ptr_array_sized_new(o->n + 1);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    if (!split_strings(o->ids_buf, ids_len, ids) || ids->len != o->n)
        return damaged(error, o->run, "the ids are not n NUL-terminated strings");
    for (guint i = 1; i < o->n; i++)
        if (strcmp(ids->pdata[i - 1], ids->pdata[i]) >= 0)
            return damaged(error, o->run, "the ids are not in byte order");
    if (!split_strings(o->pairs_buf, pairs_len, names) || names->len % 2 != 0)
        return damaged(error, o->run, "the owners are not (CSM, team) pairs of NUL-terminated strings");
    o->n_pairs = names->len / 2;
    o->pair_owner = g_new(const char *, MAX(o->n_pairs, 1));
    o->pair_team = g_new(const char *, MAX(o->n_pairs, 1));
    for (guint p = 0; p < o->n_pairs; p++) {
        const char *owner = names->pdata[2 * p], *team = names->pdata[2 * p + 1];
        if (*owner == '\0')
            return damaged(error, o->run, "an owner has no CSM id");
        o->pair_owner[p] = owner;
        o->pair_team[p] = *team != '\0' ? team : NULL;
    }
    o->ids = (const char **)g_ptr_array_steal(ids, NULL);
    o->codes = g_new(gint32, MAX(o->n, 1));
    o->since_us = g_new(gint64, MAX(o->n, 1));
    o->reasons = g_malloc0(MAX(o->n, 1));
    if (o->n > 0)
        memcpy(o->reasons, sqlite3_column_blob(st, 6), o->n);
    const guint8 *codes = sqlite3_column_blob(st, 4), *since = sqlite3_column_blob(st, 5);
    for (guint i = 0; i < o->n; i++) {
        guint32 c;
        guint64 t;
        memcpy(&c, codes + (gsize)i * 4, sizeof c);
        memcpy(&t, since + (gsize)i * 8, sizeof t);
        o->codes[i] = (gint32)GUINT32_FROM_LE(c);
        o->since_us[i] = (gint64)GUINT64_FROM_LE(t);
        if (o->codes[i] < -1 || o->codes[i] >= (gint64)o->n_pairs)
            return damaged(error, o->run, "a code names no owner");
        if (o->reasons[i] > KZ_UNASSIGNED_EXCLUDED || (o->reasons[i] != 0 && o->codes[i] >= 0))
            return damaged(error, o->run, "an unassigned reason is not one, or is given for an owned account");
    }
    return TRUE;
}

kz_owners *kz_owners_read(sqlite3 *db, GError **error)
{
    g_autoptr(kz_owners) o = g_new0(kz_owners, 1);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT coalesce(run, 0), n, ids, owners, codes, since, reasons FROM current_owners"
                           " WHERE id = 1",
                           -1, &st, NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading the current owners");
        return NULL;
    }
    int rc = sqlite3_step(st);
    gboolean ok = rc == SQLITE_DONE || (rc == SQLITE_ROW && decode(o, st, error));
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        kz_sql_fail(db, error, "reading the current owners");
    sqlite3_finalize(st);
    if (!ok || (rc != SQLITE_DONE && rc != SQLITE_ROW))
        return NULL;
    if (o->pair_owner == NULL) {
        o->pair_owner = g_new(const char *, 1);
        o->pair_team = g_new(const char *, 1);
    }
    return g_steal_pointer(&o);
}

gint64 kz_owners_find(const kz_owners *o, const char *id, guint *hint)
{
    guint h = hint != NULL ? *hint : 0;
    for (guint k = h; k < o->n && k <= h + 1; k++) {
        int c = strcmp(o->ids[k], id);
        if (c == 0) {
            if (hint != NULL)
                *hint = k + 1;
            return k;
        }
        if (c > 0 && k == h && (k == 0 || strcmp(o->ids[k - 1], id) < 0))
            return -1; /* between the last one found and the next */
    }
    guint lo = 0, hi = o->n;
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        int c = strcmp(o->ids[mid], id);
        if (c == 0) {
            if (hint != NULL)
                *hint = mid + 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (hint != NULL)
        *hint = lo;
    return -1;
}

/* A zero-length blob, not NULL, when there are no bytes. */
static void bind_bytes(sqlite3_stmt *st, int at, const void *data, gsize len)
{
    if (len > 0)
        sqlite3_bind_blob64(st, at, data, len, SQLITE_STATIC);
    else
        sqlite3_bind_zeroblob(st, at, 0);
}

gboolean kz_owners_write(sqlite3 *db, const kz_owners *o, GError **error)
{
    g_autoptr(GByteArray) ids = g_byte_array_new(), pairs = g_byte_array_new();
    g_autofree guint32 *codes = g_new(guint32, MAX(o->n, 1));
    g_autofree guint64 *since = g_new(guint64, MAX(o->n, 1));
    for (guint i = 0; i < o->n; i++) {
        if (i > 0 && strcmp(o->ids[i - 1], o->ids[i]) >= 0) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE,
                        "storing the current owners: account '%s' is not after '%s' in byte order", o->ids[i],
                        o->ids[i - 1]);
            return FALSE;
        }
        if (o->codes[i] < -1 || o->codes[i] >= (gint64)o->n_pairs) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "storing the current owners: account '%s' has owner %d of %u",
                        o->ids[i], o->codes[i], o->n_pairs);
            return FALSE;
        }
        g_byte_array_append(ids, (const guint8 *)o->ids[i], (guint)strlen(o->ids[i]) + 1);
        codes[i] = GUINT32_TO_LE((guint32)o->codes[i]);
        since[i] = GUINT64_TO_LE((guint64)o->since_us[i]);
    }
    for (guint p = 0; p < o->n_pairs; p++) {
        const char *team = o->pair_team[p] != NULL ? o->pair_team[p] : "";
        g_byte_array_append(pairs, (const guint8 *)o->pair_owner[p], (guint)strlen(o->pair_owner[p]) + 1);
        g_byte_array_append(pairs, (const guint8 *)team, (guint)strlen(team) + 1);
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO current_owners (id, run, n, ids, owners, codes, since, reasons)"
                           " VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "storing the current owners");
    if (o->run > 0)
        sqlite3_bind_int64(st, 1, o->run);
    sqlite3_bind_int64(st, 2, o->n);
    bind_bytes(st, 3, ids->data, ids->len);
    bind_bytes(st, 4, pairs->data, pairs->len);
    bind_bytes(st, 5, codes, (gsize)o->n * 4);
    bind_bytes(st, 6, since, (gsize)o->n * 8);
    bind_bytes(st, 7, o->reasons, o->n);
    gboolean ok = sqlite3_step(st) == SQLITE_DONE || kz_sql_fail(db, error, "storing the current owners");
    sqlite3_finalize(st);
    return ok;
}

/* ---- the kz_owners virtual table ---------------------------------------- */

enum { COL_ACCOUNT, COL_OWNER, COL_TEAM, COL_SINCE, COL_UNASSIGNED };

/* idxNum: a scan of every account, or the one account_id names */
enum { PLAN_SCAN = 0, PLAN_ID = 1 };

/* The table keeps its connection, which SQLite does not hand the cursor. */
typedef struct owners_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
} owners_vtab;

typedef struct owners_cursor {
    sqlite3_vtab_cursor base;
    kz_owners *o; /* read at the first filter, kept for the statement's life */
    guint at, end, hint;
} owners_cursor;

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
    (void)aux, (void)argc, (void)argv, (void)err;
    int rc = sqlite3_declare_vtab(
        db, "CREATE TABLE x (account_id TEXT, owner TEXT, team TEXT, since_us INTEGER, unassigned INTEGER)");
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
    owners_vtab *vt = sqlite3_malloc(sizeof *vt);
    if (vt == NULL)
        return SQLITE_NOMEM;
    memset(vt, 0, sizeof *vt);
    vt->db = db;
    *out = &vt->base;
    return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

static int vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    for (int k = 0; k < info->nConstraint; k++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[k];
        const char *coll = sqlite3_vtab_collation(info, k);
        /* the ids are in byte order: a lookup answers BINARY equality */
        if (c->usable && c->iColumn == COL_ACCOUNT && c->op == SQLITE_INDEX_CONSTRAINT_EQ &&
            (coll == NULL || sqlite3_stricmp(coll, "BINARY") == 0)) {
            info->aConstraintUsage[k].argvIndex = 1;
            /* SQLite tests the row found again, with its own affinity
             * rules: a lookup by the value's text finds the candidate */
            info->aConstraintUsage[k].omit = 0;
            info->idxNum = PLAN_ID;
            info->estimatedCost = 20;
            info->estimatedRows = 1;
            info->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
            return SQLITE_OK;
        }
    }
    info->idxNum = PLAN_SCAN;
    info->estimatedCost = 1e6;
    info->estimatedRows = 1000000;
    if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == COL_ACCOUNT && !info->aOrderBy[0].desc)
        info->orderByConsumed = 1; /* the ids are in byte order, the BINARY collation's */
    return SQLITE_OK;
}

static int vt_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    owners_cursor *c = g_new0(owners_cursor, 1);
    *out = &c->base;
    return SQLITE_OK;
}

static int vt_close(sqlite3_vtab_cursor *cur)
{
    owners_cursor *c = (owners_cursor *)cur;
    kz_owners_free(c->o);
    g_free(c);
    return SQLITE_OK;
}

static sqlite3 *cursor_db(owners_cursor *c)
{
    return ((owners_vtab *)c->base.pVtab)->db;
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str, int argc, sqlite3_value **argv)
{
    (void)idx_str, (void)argc;
    owners_cursor *c = (owners_cursor *)cur;
    if (c->o == NULL) {
        g_autoptr(GError) err = NULL;
        c->o = kz_owners_read(cursor_db(c), &err);
        if (c->o == NULL) {
            sqlite3_free(cur->pVtab->zErrMsg);
            cur->pVtab->zErrMsg = sqlite3_mprintf("%s", err->message);
            return SQLITE_ERROR;
        }
    }
    c->at = 0;
    c->end = c->o->n;
    if (idx == PLAN_ID) {
        const char *id = sqlite3_value_type(argv[0]) != SQLITE_NULL ? (const char *)sqlite3_value_text(argv[0]) : NULL;
        gint64 k = id != NULL ? kz_owners_find(c->o, id, &c->hint) : -1;
        c->at = k >= 0 ? (guint)k : 0;
        c->end = k >= 0 ? (guint)k + 1 : 0;
    }
    return SQLITE_OK;
}

static int vt_next(sqlite3_vtab_cursor *cur)
{
    ((owners_cursor *)cur)->at++;
    return SQLITE_OK;
}

static int vt_eof(sqlite3_vtab_cursor *cur)
{
    owners_cursor *c = (owners_cursor *)cur;
    return c->at >= c->end;
}

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    owners_cursor *c = (owners_cursor *)cur;
    const kz_owners *o = c->o;
    gint32 code = o->codes[c->at];
    const char *text = NULL;
    switch (col) {
    case COL_ACCOUNT: text = o->ids[c->at]; break;
    case COL_OWNER: text = code >= 0 ? o->pair_owner[code] : NULL; break;
    case COL_TEAM: text = code >= 0 ? o->pair_team[code] : NULL; break;
    case COL_SINCE:
        if (o->since_us[c->at] != 0)
            sqlite3_result_int64(ctx, o->since_us[c->at]);
        return SQLITE_OK;
    case COL_UNASSIGNED: sqlite3_result_int(ctx, o->reasons[c->at]); return SQLITE_OK;
    default: return SQLITE_OK;
    }
    if (text != NULL)
        sqlite3_result_text(ctx, text, -1, SQLITE_TRANSIENT);
    return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid)
{
    *rowid = ((owners_cursor *)cur)->at;
    return SQLITE_OK;
}

static const sqlite3_module owners_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only: there is no CREATE VIRTUAL TABLE of it */
    .xConnect = vt_connect,
    .xBestIndex = vt_best_index,
    .xDisconnect = vt_disconnect,
    .xDestroy = vt_disconnect,
    .xOpen = vt_open,
    .xClose = vt_close,
    .xFilter = vt_filter,
    .xNext = vt_next,
    .xEof = vt_eof,
    .xColumn = vt_column,
    .xRowid = vt_rowid,
};

int kz_owners_register(sqlite3 *db)
{
    return sqlite3_create_module_v2(db, "kz_owners", &owners_module, NULL, NULL);
}
