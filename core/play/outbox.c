/*
 * core/play/outbox.c — delivering the outbox (playbook.h).
 *
 * A touch moves pending -> sending -> delivered, or -> retry -> sending
 * ... -> dead. Before a channel sees a touch, the touch is marked
 * 'sending' with its attempt counted, and that is committed; the outcome
 * is committed after. A kill between the two leaves it 'sending': the next
 * pass tries it again with the same idempotency key, which a receiver that
 * honours the key drops. The task channel is the host's own: its task and
 * the touch's outcome are one transaction, so a task is never written
 * twice. Every status change is a row of touch_events.
 */
#include "playbook.h"

#include "errors.h"
#include "instance.h"
#include "stack.h"

#include <json-glib/json-glib.h>
#include <kizuna/channel.h>
#include <sqlite3.h>
#include <string.h>

/* touches claimed by one transaction */
#define CLAIM_BATCH 64

enum {
    T_ID,
    T_KEY,
    T_PLAYBOOK,
    T_CHANNEL,
    T_ACCOUNT,
    T_TRIGGER,
    T_OWNER,
    T_RID,
    T_RNAME,
    T_REMAIL,
    T_RROLE,
    T_SUBJECT,
    T_BODY,
    T_FIELDS,
    T_CREATED,
    T_DUE,
    T_ATTEMPTS,
    T_ACCOUNT_NAME,
    T_N
};

/* A touch's row, copied out of its statement: a statement still on its
 * row would hold a read transaction open across the delivery, and a write
 * begun on an older snapshot than another process's last commit fails at
 * once (SQLITE_BUSY, no busy wait) - a CSM closing a task would then stop
 * a run's delivery. */
typedef struct {
    sqlite3_value *v[T_N];
} touch_row;

static void touch_row_clear(touch_row *t)
{
    for (int i = 0; i < T_N; i++)
        sqlite3_value_free(t->v[i]);
}

static gboolean touch_row_copy(touch_row *t, sqlite3_stmt *st)
{
    gboolean ok = TRUE;
    for (int i = 0; i < T_N; i++)
        ok = (t->v[i] = sqlite3_value_dup(sqlite3_column_value(st, i))) != NULL && ok;
    return ok;
}

typedef struct deliverer {
    sqlite3 *db;
    const kz_config *cfg;
    const kz_registry *reg;
    kz_store *store;
    GHashTable *instances; /* channel name -> kz_instance*, or the task marker, or NULL when it failed */
    sqlite3_stmt *mark, *outcome, *event, *task;
    kz_deliver_summary *sum;
    GPtrArray *problems;
} deliverer;

static char task_marker;

static void deliverer_clear(deliverer *d)
{
    GHashTableIter it;
    gpointer inst;
    g_hash_table_iter_init(&it, d->instances);
    while (g_hash_table_iter_next(&it, NULL, &inst))
        if (inst != NULL && inst != &task_marker)
            kz_instance_destroy(inst);
    g_hash_table_unref(d->instances);
    sqlite3_finalize(d->mark);
    sqlite3_finalize(d->outcome);
    sqlite3_finalize(d->event);
    sqlite3_finalize(d->task);
}

/* The instance of channel `name`: created on first use; NULL (reported
 * once) when it cannot be. */
static gpointer channel_instance(deliverer *d, const char *name)
{
    gpointer inst;
    if (g_hash_table_lookup_extended(d->instances, name, NULL, &inst))
        return inst;
    const kz_config_instance *ci = kz_config_find_instance(d->cfg, name);
    inst = NULL;
    if (ci == NULL || ci->kind != KZ_COMPONENT_CHANNEL)
        g_ptr_array_add(d->problems, g_strdup_printf("channel '%s' is no longer a <channel> of the stack: its "
                                                     "touches stay pending",
                                                     name));
    else if (strcmp(ci->component, KZ_TASK_CHANNEL) == 0)
        inst = &task_marker;
    else
        inst = kz_stack_create_instance(d->cfg, d->reg, ci, d->store, d->problems);
    g_hash_table_insert(d->instances, g_strdup(name), inst);
    return inst;
}

static gboolean step(deliverer *d, sqlite3_stmt *st, const char *what, GError **error)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || kz_sql_fail(d->db, error, what);
}

static gboolean record(deliverer *d, gint64 id, gint64 now, const char *status, gint64 attempt, const char *message,
                       GError **error)
{
    sqlite3_bind_int64(d->event, 1, id);
    sqlite3_bind_int64(d->event, 2, now);
    sqlite3_bind_text(d->event, 3, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(d->event, 4, attempt);
    sqlite3_bind_text(d->event, 5, message, -1, SQLITE_TRANSIENT);
    return step(d, d->event, "recording a touch's status", error);
}

/* Sets the outcome of attempt `attempt` and records it, in the current
 * transaction. */
static gboolean set_outcome(deliverer *d, gint64 id, gint64 now, const char *status, gint64 attempt, gint64 next,
                            const char *error_text, const char *receipt, GError **error)
{
    sqlite3_stmt *st = d->outcome;
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, next);
    sqlite3_bind_text(st, 3, error_text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, receipt != NULL && receipt[0] != '\0' ? receipt : NULL, -1, SQLITE_TRANSIENT);
    if (strcmp(status, "delivered") == 0 || strcmp(status, "dead") == 0)
        sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int64(st, 6, id);
    sqlite3_bind_int64(st, 7, attempt);
    return step(d, st, "writing a touch's outcome", error) &&
           record(d, id, now, status, attempt, error_text != NULL ? error_text : receipt, error);
}

static gboolean in_transaction(deliverer *d, gboolean ok, GError **error)
{
    if (!ok) {
        sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
        return FALSE;
    }
    return kz_sql_exec(d->db, "COMMIT", error);
}

/* A task for the owner, and the touch delivered, in the current
 * transaction: the two are committed together or not at all. */
static gboolean deliver_task(deliverer *d, const touch_row *row, gint64 attempt, GError **error)
{
    gint64 id = sqlite3_value_int64(row->v[T_ID]), now = kz_host_now();
    sqlite3_stmt *st = d->task;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_value(st, 2, row->v[T_OWNER]);
    sqlite3_bind_value(st, 3, row->v[T_ACCOUNT]);
    sqlite3_bind_value(st, 4, row->v[T_PLAYBOOK]);
    sqlite3_bind_value(st, 5, row->v[T_SUBJECT]);
    sqlite3_bind_value(st, 6, row->v[T_BODY]);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_value(st, 8, row->v[T_DUE]);
    gboolean ok = step(d, st, "writing a task", error);
    g_autofree char *receipt = g_strdup_printf("task %" G_GINT64_FORMAT, (gint64)sqlite3_last_insert_rowid(d->db));
    return ok && set_outcome(d, id, now, "delivered", attempt, now, NULL, receipt, error);
}

/* The touch's fields, from their JSON object, as kz_traits pointing into
 * `parsed`. */
static GArray *touch_fields(const char *json, JsonParser *parsed)
{
    GArray *out = g_array_new(FALSE, TRUE, sizeof(kz_trait));
    if (json == NULL || !json_parser_load_from_data(parsed, json, -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parsed)))
        return out;
    JsonObject *o = json_node_get_object(json_parser_get_root(parsed));
    g_autoptr(GList) names = json_object_get_members(o);
    for (GList *l = names; l != NULL; l = l->next) {
        JsonNode *n = json_object_get_member(o, l->data);
        kz_trait t = {l->data, {0}};
        if (JSON_NODE_HOLDS_NULL(n)) {
            t.value.type = KZ_VALUE_NULL;
        } else if (json_node_get_value_type(n) == G_TYPE_DOUBLE || json_node_get_value_type(n) == G_TYPE_INT64) {
            t.value.type = KZ_VALUE_DOUBLE;
            t.value.u.d = json_node_get_double(n);
        } else {
            t.value.type = KZ_VALUE_STRING;
            t.value.u.s = json_node_get_string(n);
        }
        g_array_append_val(out, t);
    }
    return out;
}

/* The wait before attempt `attempts + 1`: the backoff doubled per failed
 * attempt, at most max_backoff; the receiver's hint when it gave one. */
static gint64 backoff(const kz_config_outbox *ob, gint64 attempts, gint64 retry_after_ms)
{
    if (retry_after_ms > 0)
        return retry_after_ms * 1000;
    gint64 wait = ob->backoff_us;
    for (gint64 i = 1; i < attempts && wait < ob->max_backoff_us; i++)
        wait *= 2;
    return MIN(wait, ob->max_backoff_us);
}

static const char *column_text(const touch_row *row, int col)
{
    return (const char *)sqlite3_value_text(row->v[col]);
}

/* 1. The attempt is counted ('sending') in the current transaction,
 * committed before the channel sees the touch. */
static gboolean claim(deliverer *d, const touch_row *row, GError **error)
{
    gint64 id = sqlite3_value_int64(row->v[T_ID]), now = kz_host_now();
    gint64 attempt = sqlite3_value_int64(row->v[T_ATTEMPTS]) + 1;
    sqlite3_bind_int64(d->mark, 1, now);
    sqlite3_bind_int64(d->mark, 2, id);
    sqlite3_bind_int64(d->mark, 3, attempt);
    return step(d, d->mark, "marking a touch as sending", error) && record(d, id, now, "sending", attempt, NULL, error);
}

/* 2. and 3.: the channel, then the outcome in its own transaction. */
static gboolean send_one(deliverer *d, gpointer inst, const touch_row *row, GError **error)
{
    gint64 id = sqlite3_value_int64(row->v[T_ID]);
    gint64 attempt = sqlite3_value_int64(row->v[T_ATTEMPTS]) + 1;
    g_autoptr(JsonParser) parsed = json_parser_new();
    g_autoptr(GArray) fields = touch_fields(column_text(row, T_FIELDS), parsed);
    kz_recipient r = {sizeof r,
                      0,
                      column_text(row, T_RID),
                      column_text(row, T_RNAME),
                      column_text(row, T_REMAIL),
                      column_text(row, T_RROLE)};
    kz_touch t = {sizeof t,
                  (uint32_t)attempt,
                  column_text(row, T_KEY),
                  column_text(row, T_PLAYBOOK),
                  column_text(row, T_TRIGGER),
                  column_text(row, T_ACCOUNT),
                  column_text(row, T_ACCOUNT_NAME),
                  column_text(row, T_OWNER),
                  r.id != NULL || r.email != NULL ? &r : NULL,
                  column_text(row, T_SUBJECT),
                  column_text(row, T_BODY),
                  (const kz_trait *)(void *)fields->data,
                  fields->len,
                  0,
                  sqlite3_value_int64(row->v[T_CREATED]),
                  sqlite3_value_type(row->v[T_DUE]) == SQLITE_NULL ? KZ_TIME_NONE : sqlite3_value_int64(row->v[T_DUE])};
    kz_delivery result = {sizeof result, 0, 0, {0}};
    const kz_component_info *comp = kz_instance_component(inst);
    kz_instance_begin_call(inst);
    int rc = comp->vt.channel.deliver(kz_instance_self(inst), &t, &result);
    result.receipt[sizeof result.receipt - 1] = '\0';
    g_autoptr(GError) why = NULL;
    if (rc != KZ_OK)
        kz_instance_fail(inst, rc, "deliver", &why);

    /* 3. its outcome */
    gint64 now = kz_host_now();
    const kz_config_outbox *ob = &d->cfg->outbox;
    const char *status = "delivered";
    gint64 next = now;
    if (rc == KZ_ERR_PERMANENT || rc == KZ_ERR_INVALID || (rc != KZ_OK && attempt >= ob->max_attempts)) {
        status = "dead";
        d->sum->dead++;
    } else if (rc != KZ_OK) {
        status = "retry";
        next = now + backoff(ob, attempt, result.retry_after_ms);
        d->sum->retrying++;
    } else {
        d->sum->delivered++;
    }
    if (!kz_sql_exec(d->db, "BEGIN IMMEDIATE", error))
        return FALSE;
    return in_transaction(
        d, set_outcome(d, id, now, status, attempt, next, why != NULL ? why->message : NULL, result.receipt, error),
        error);
}

static gboolean deliverer_prepare(deliverer *d, GError **error)
{
    if (sqlite3_prepare_v2(d->db,
                           "UPDATE touches SET status = 'sending', attempts = ?3, next_attempt_us = ?1 WHERE id = ?2",
                           -1, &d->mark, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(d->db,
                           "UPDATE touches SET status = ?1, next_attempt_us = ?2, last_error = ?3,"
                           " receipt = coalesce(?4, receipt), done_us = ?5, attempts = ?7 WHERE id = ?6",
                           -1, &d->outcome, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(d->db,
                           "INSERT INTO touch_events (touch_id, time_us, status, attempt, message)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &d->event, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(d->db,
                           "INSERT INTO tasks (touch_id, csm, account_id, playbook, title, body, created_us, due_us)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           -1, &d->task, NULL) != SQLITE_OK)
        return kz_sql_fail(d->db, error, "preparing the delivery");
    return TRUE;
}

/* The ids of the touches due at `now`, in delivery order: a pass delivers
 * what was due when it started, each touch once (a touch that failed
 * waits for a later pass, even with no backoff). */
static GArray *due_ids(sqlite3 *db, gint64 now, GError **error)
{
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(gint64));
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id FROM touches WHERE status IN ('pending', 'retry', 'sending')"
                           " AND next_attempt_us <= ?1 ORDER BY priority DESC, next_attempt_us, id",
                           -1, &st, NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading the outbox");
        g_array_unref(ids);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, now);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        gint64 id = sqlite3_column_int64(st, 0);
        g_array_append_val(ids, id);
    }
    if (rc != SQLITE_DONE) {
        kz_sql_fail(db, error, "reading the outbox");
        g_clear_pointer(&ids, g_array_unref);
    }
    sqlite3_finalize(st);
    return ids;
}

gboolean kz_outbox_deliver(kz_store *store, const kz_config *cfg, const kz_registry *reg, kz_deliver_summary *out,
                           GPtrArray *problems, GError **error)
{
    memset(out, 0, sizeof *out);
    deliverer d = {kz_store_db(store),
                   cfg,
                   reg,
                   store,
                   g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
                   NULL,
                   NULL,
                   NULL,
                   NULL,
                   out,
                   problems};
    /* one pass at a time over the outbox, across processes: what is due
     * is read under the lock, so a touch another pass delivered is not */
    gboolean waited = FALSE;
    int lock = kz_store_deliver_lock(store, &waited, error);
    if (lock < 0) {
        deliverer_clear(&d);
        return FALSE;
    }
    if (waited)
        g_ptr_array_add(problems, g_strdup("waited for another kizuna process delivering the outbox"));
    sqlite3_stmt *row = NULL;
    gboolean ok = deliverer_prepare(&d, error);
    /* still due: another process may have delivered it meanwhile */
    if (ok && sqlite3_prepare_v2(d.db,
                                 "SELECT t.id, t.key, t.playbook, t.channel, t.account_id, t.trigger, t.owner,"
                                 " t.recipient_id, t.recipient_name, t.recipient_email, t.recipient_role, t.subject,"
                                 " t.body, t.fields, t.created_us, t.due_us, t.attempts, a.name"
                                 " FROM touches AS t LEFT JOIN accounts AS a ON a.id = t.account_id"
                                 " WHERE t.id = ?1 AND t.status IN ('pending', 'retry', 'sending')",
                                 -1, &row, NULL) != SQLITE_OK)
        ok = kz_sql_fail(d.db, error, "reading the outbox");
    g_autoptr(GArray) ids = ok ? due_ids(d.db, kz_host_now(), error) : NULL;
    ok = ok && ids != NULL;
    /* in batches: one transaction claims a batch's touches (and delivers
     * its tasks, which need nothing outside the store), then each claimed
     * touch goes to its channel and has its outcome committed alone. A
     * kill leaves the batch's unsent touches 'sending', with an attempt
     * counted that did not happen; they go out on the next run, and only
     * the one in flight can reach its receiver twice. */
    for (guint i = 0; ok && i < ids->len; i += CLAIM_BATCH) {
        guint n = MIN(CLAIM_BATCH, ids->len - i), tasks = 0;
        touch_row batch[CLAIM_BATCH];
        gpointer insts[CLAIM_BATCH];
        memset(batch, 0, sizeof batch);
        ok = kz_sql_exec(d.db, "BEGIN IMMEDIATE", error);
        for (guint j = 0; ok && j < n; j++) {
            insts[j] = NULL;
            sqlite3_bind_int64(row, 1, g_array_index(ids, gint64, i + j));
            int rc = sqlite3_step(row); /* still due: inside the write transaction */
            if (rc == SQLITE_ROW && !touch_row_copy(&batch[j], row))
                ok = kz_sql_fail(d.db, error, "copying a touch");
            else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                ok = kz_sql_fail(d.db, error, "reading a touch");
            sqlite3_reset(row);
            if (!ok || rc != SQLITE_ROW)
                continue;
            gpointer inst = channel_instance(&d, column_text(&batch[j], T_CHANNEL));
            if (inst == NULL) {
                out->unstarted++;
                continue;
            }
            out->attempted++;
            if (inst == &task_marker) {
                ok = deliver_task(&d, &batch[j], sqlite3_value_int64(batch[j].v[T_ATTEMPTS]) + 1, error);
                tasks++;
            } else {
                ok = claim(&d, &batch[j], error);
                insts[j] = inst;
            }
        }
        ok = ok ? kz_sql_exec(d.db, "COMMIT", error) : (sqlite3_exec(d.db, "ROLLBACK", NULL, NULL, NULL), FALSE);
        if (ok)
            out->delivered += tasks;
        for (guint j = 0; ok && j < n; j++)
            if (insts[j] != NULL)
                ok = send_one(&d, insts[j], &batch[j], error);
        for (guint j = 0; j < n; j++)
            touch_row_clear(&batch[j]);
    }
    sqlite3_finalize(row);
    deliverer_clear(&d);
    kz_store_deliver_unlock(lock);
    return ok;
}

gboolean kz_outbox_retry(kz_store *store, gint64 id, GError **error)
{
    sqlite3 *db = kz_store_db(store);
    if (!kz_sql_exec(db, "BEGIN IMMEDIATE", error))
        return FALSE;
    sqlite3_stmt *st = NULL;
    g_autofree char *status = NULL;
    gint64 attempts = 0;
    if (sqlite3_prepare_v2(db, "SELECT status, attempts FROM touches WHERE id = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            status = g_strdup((const char *)sqlite3_column_text(st, 0));
            attempts = sqlite3_column_int64(st, 1);
        }
    }
    sqlite3_finalize(st);
    gboolean ok = TRUE;
    if (status == NULL) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "there is no touch %" G_GINT64_FORMAT, id);
        ok = FALSE;
    } else if (strcmp(status, "delivered") == 0) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "touch %" G_GINT64_FORMAT " was delivered: nothing to retry",
                    id);
        ok = FALSE;
    }
    gint64 now = kz_host_now();
    char *sql = sqlite3_mprintf("UPDATE touches SET status = 'pending', attempts = 0, next_attempt_us = %lld,"
                                " done_us = NULL WHERE id = %lld;"
                                "INSERT INTO touch_events (touch_id, time_us, status, attempt, message) VALUES"
                                " (%lld, %lld, 'pending', 0, 'retried by hand after %lld attempts (was %q)')",
                                (long long)now, (long long)id, (long long)id, (long long)now, (long long)attempts,
                                status != NULL ? status : "");
    ok = ok && kz_sql_exec(db, sql, error);
    sqlite3_free(sql);
    if (!ok) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return FALSE;
    }
    return kz_sql_exec(db, "COMMIT", error);
}
