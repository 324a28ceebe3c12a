/*
 * core/sync/sync.c — see sync.h.
 *
 * The sink the source sees is the first member of a sync_run, so the
 * callbacks recover their run from the sink pointer. Records are copied
 * out of the plugin's memory only as far as its record_size covers
 * (copy_record), validated, and upserted with prepared statements whose
 * DO UPDATE ... WHERE clause fires only when a value really differs: the
 * statement's change count then tells "updated" from "unchanged" without
 * reading the row back. Absent fields (NULL, KZ_INT_NONE, KZ_TIME_NONE,
 * NaN) keep the stored value (coalesce), as source.h promises.
 */
#include "sync.h"

#include "../errors.h"
#include "../log.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>

#define SYNC_CACHE_KIB        65536 /* SQLite page cache during a sync: 64 MiB at most */
#define SYNC_CHECKPOINT_PAGES 16384 /* WAL pages between checkpoints during a sync (64 MiB) */
#define SYNC_BATCH_HINT       65536 /* records per batch (one transaction each) */
#define SYNC_SORT_CACHE_KIB   16384 /* page cache while the deferred index is built */
#define SYNC_BULK_MIN         50000 /* events in a first batch that make an initial load */
#define MAX_RAW_BYTES         2048  /* of a quarantined record's raw text, kept */
#define MAX_CURSOR_BYTES      4096

static const char *const entity_names[KZ_SYNC_ENTITIES] = {
    "unknown", "account", "contact", "usage_event", "ticket", "subscription", "survey_answer", "row", "csm"};

const char *kz_entity_name(guint entity)
{
    return entity < KZ_SYNC_ENTITIES ? entity_names[entity] : "unknown";
}

void kz_sync_report_clear(kz_sync_report *report)
{
    g_clear_pointer(&report->cursor, g_free);
    memset(report->entity, 0, sizeof report->entity);
    report->batches = 0;
}

enum {
    ST_EXISTS_ACCOUNT,
    ST_ACCOUNT,
    ST_TRAIT,
    ST_CONTACT_EXISTS,
    ST_CONTACT,
    ST_EVENT,
    ST_EVENT_UPDATE,
    ST_TICKET_EXISTS,
    ST_TICKET,
    ST_SUB_EXISTS,
    ST_SUB,
    ST_SURVEY,
    ST_SURVEY_UPDATE,
    ST_CSM_EXISTS,
    ST_CSM,
    ST_QUARANTINE,
    ST_UNQUARANTINE,
    ST_CURSOR_GET,
    ST_CURSOR_SET,
    ST_GENERATION,
    ST_COUNT
};

/* The statements, prepared once per sync. Upserts write only when a
 * supplied value differs from the stored one ("coalesce(excluded.x, x) IS
 * NOT x"), and keep the stored value where the source supplied none. */
// clang-format off
static const char *const sql[ST_COUNT] = {
    [ST_EXISTS_ACCOUNT] =
        "SELECT 1 FROM accounts WHERE id = ?1",
    [ST_ACCOUNT] =
        "INSERT INTO accounts (id, name, region, segment, plan, arr_minor, currency, contract_start_us, "
        "renewal_date_us, crm_owner, source, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11, ?12) ON CONFLICT (id) DO UPDATE SET name = coalesce(excluded.name, name), region = "
        "coalesce(excluded.region, region), segment = coalesce(excluded.segment, segment), plan = "
        "coalesce(excluded.plan, plan), arr_minor = coalesce(excluded.arr_minor, arr_minor), currency = "
        "coalesce(excluded.currency, currency), contract_start_us = coalesce(excluded.contract_start_us, "
        "contract_start_us), renewal_date_us = coalesce(excluded.renewal_date_us, renewal_date_us), "
        "crm_owner = coalesce(excluded.crm_owner, crm_owner), source = excluded.source, updated_us = "
        "excluded.updated_us WHERE coalesce(excluded.name, name) IS NOT name OR coalesce(excluded.region, "
        "region) IS NOT region OR coalesce(excluded.segment, segment) IS NOT segment OR "
        "coalesce(excluded.plan, plan) IS NOT plan OR coalesce(excluded.arr_minor, arr_minor) IS NOT "
        "arr_minor OR coalesce(excluded.currency, currency) IS NOT currency OR "
        "coalesce(excluded.contract_start_us, contract_start_us) IS NOT contract_start_us OR "
        "coalesce(excluded.renewal_date_us, renewal_date_us) IS NOT renewal_date_us OR "
        "coalesce(excluded.crm_owner, crm_owner) IS NOT crm_owner",
    [ST_TRAIT] =
        "INSERT INTO account_traits (account_id, name, value, type) VALUES (?1, ?2, ?3, ?4) ON CONFLICT "
        "(account_id, name) DO UPDATE SET value = excluded.value, type = excluded.type WHERE value IS NOT "
        "excluded.value OR type IS NOT excluded.type",
    [ST_CONTACT_EXISTS] =
        "SELECT 1 FROM contacts WHERE id = ?1",
    [ST_CONTACT] =
        "INSERT INTO contacts (id, account_id, name, email, role, phone, traits, source, updated_us) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO UPDATE SET account_id = "
        "coalesce(excluded.account_id, account_id), name = coalesce(excluded.name, name), email = "
        "coalesce(excluded.email, email), role = coalesce(excluded.role, role), phone = "
        "coalesce(excluded.phone, phone), traits = json_patch(coalesce(traits, '{}'), "
        "coalesce(excluded.traits, '{}')), source = excluded.source, updated_us = excluded.updated_us "
        "WHERE coalesce(excluded.account_id, account_id) IS NOT account_id OR coalesce(excluded.name, "
        "name) IS NOT name OR coalesce(excluded.email, email) IS NOT email OR coalesce(excluded.role, "
        "role) IS NOT role OR coalesce(excluded.phone, phone) IS NOT phone OR json_patch(coalesce(traits, "
        "'{}'), coalesce(excluded.traits, '{}')) IS NOT coalesce(traits, '{}')",
    [ST_EVENT] =
        "INSERT OR IGNORE INTO usage_events (key, account_id, user_id, time_us, name, quantity, product, "
        "traits, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_EVENT_UPDATE] =
        "UPDATE usage_events SET account_id = ?2, user_id = ?3, time_us = ?4, name = ?5, quantity = ?6, "
        "product = ?7, traits = ?8, source = ?9 WHERE key = ?1 AND (account_id IS NOT ?2 OR user_id IS "
        "NOT ?3 OR time_us IS NOT ?4 OR name IS NOT ?5 OR quantity IS NOT ?6 OR product IS NOT ?7 OR "
        "traits IS NOT ?8)",
    [ST_TICKET_EXISTS] =
        "SELECT 1 FROM tickets WHERE id = ?1",
    [ST_TICKET] =
        "INSERT INTO tickets (id, account_id, contact_id, opened_us, closed_us, priority, status, kind, "
        "subject, tags, traits, source, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
        "?12, ?13) ON CONFLICT (id) DO UPDATE SET account_id = coalesce(excluded.account_id, account_id), "
        "contact_id = coalesce(excluded.contact_id, contact_id), opened_us = coalesce(excluded.opened_us, "
        "opened_us), closed_us = coalesce(excluded.closed_us, closed_us), priority = "
        "coalesce(excluded.priority, priority), status = coalesce(excluded.status, status), kind = "
        "coalesce(excluded.kind, kind), subject = coalesce(excluded.subject, subject), tags = "
        "coalesce(excluded.tags, tags), traits = json_patch(coalesce(traits, '{}'), "
        "coalesce(excluded.traits, '{}')), source = excluded.source, updated_us = excluded.updated_us "
        "WHERE coalesce(excluded.account_id, account_id) IS NOT account_id OR "
        "coalesce(excluded.contact_id, contact_id) IS NOT contact_id OR coalesce(excluded.opened_us, "
        "opened_us) IS NOT opened_us OR coalesce(excluded.closed_us, closed_us) IS NOT closed_us OR "
        "coalesce(excluded.priority, priority) IS NOT priority OR coalesce(excluded.status, status) IS "
        "NOT status OR coalesce(excluded.kind, kind) IS NOT kind OR coalesce(excluded.subject, subject) "
        "IS NOT subject OR coalesce(excluded.tags, tags) IS NOT tags OR json_patch(coalesce(traits, "
        "'{}'), coalesce(excluded.traits, '{}')) IS NOT coalesce(traits, '{}')",
    [ST_SUB_EXISTS] =
        "SELECT 1 FROM subscriptions WHERE id = ?1",
    [ST_SUB] =
        "INSERT INTO subscriptions (id, account_id, plan, period_start_us, period_end_us, mrr_minor, "
        "currency, status, traits, source, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11) ON CONFLICT (id) DO UPDATE SET account_id = coalesce(excluded.account_id, account_id), plan "
        "= coalesce(excluded.plan, plan), period_start_us = coalesce(excluded.period_start_us, "
        "period_start_us), period_end_us = coalesce(excluded.period_end_us, period_end_us), mrr_minor = "
        "coalesce(excluded.mrr_minor, mrr_minor), currency = coalesce(excluded.currency, currency), "
        "status = coalesce(excluded.status, status), traits = json_patch(coalesce(traits, '{}'), "
        "coalesce(excluded.traits, '{}')), source = excluded.source, updated_us = excluded.updated_us "
        "WHERE coalesce(excluded.account_id, account_id) IS NOT account_id OR coalesce(excluded.plan, "
        "plan) IS NOT plan OR coalesce(excluded.period_start_us, period_start_us) IS NOT period_start_us "
        "OR coalesce(excluded.period_end_us, period_end_us) IS NOT period_end_us OR "
        "coalesce(excluded.mrr_minor, mrr_minor) IS NOT mrr_minor OR coalesce(excluded.currency, "
        "currency) IS NOT currency OR coalesce(excluded.status, status) IS NOT status OR "
        "json_patch(coalesce(traits, '{}'), coalesce(excluded.traits, '{}')) IS NOT coalesce(traits, "
        "'{}')",
    [ST_SURVEY] =
        "INSERT OR IGNORE INTO survey_answers (key, account_id, contact_id, time_us, kind, score, "
        "comment, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_SURVEY_UPDATE] =
        "UPDATE survey_answers SET account_id = ?2, contact_id = ?3, time_us = ?4, kind = ?5, score = ?6, "
        "comment = ?7, source = ?8 WHERE key = ?1 AND (account_id IS NOT ?2 OR contact_id IS NOT ?3 OR "
        "time_us IS NOT ?4 OR kind IS NOT ?5 OR score IS NOT ?6 OR comment IS NOT ?7)",
    [ST_CSM_EXISTS] =
        "SELECT 1 FROM csms WHERE id = ?1",
    [ST_CSM] =
        "INSERT INTO csms (id, name, email, team, region, manager, skills, capacity_high, capacity_low, "
        "capacity_tech, status, traits, source, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "?10, coalesce(?11, 1), ?12, ?13, ?14) ON CONFLICT (id) DO UPDATE SET name = coalesce(excluded.name, "
        "name), email = coalesce(excluded.email, email), team = coalesce(excluded.team, team), region = "
        "coalesce(excluded.region, region), manager = coalesce(excluded.manager, manager), skills = "
        "coalesce(excluded.skills, skills), capacity_high = coalesce(excluded.capacity_high, capacity_high), "
        "capacity_low = coalesce(excluded.capacity_low, capacity_low), capacity_tech = "
        "coalesce(excluded.capacity_tech, capacity_tech), status = coalesce(?11, status), traits = "
        "json_patch(coalesce(traits, '{}'), coalesce(excluded.traits, '{}')), source = excluded.source, "
        "updated_us = excluded.updated_us WHERE coalesce(excluded.name, name) IS NOT name OR "
        "coalesce(excluded.email, email) IS NOT email OR coalesce(excluded.team, team) IS NOT team OR "
        "coalesce(excluded.region, region) IS NOT region OR coalesce(excluded.manager, manager) IS NOT "
        "manager OR coalesce(excluded.skills, skills) IS NOT skills OR coalesce(excluded.capacity_high, "
        "capacity_high) IS NOT capacity_high OR coalesce(excluded.capacity_low, capacity_low) IS NOT "
        "capacity_low OR coalesce(excluded.capacity_tech, capacity_tech) IS NOT capacity_tech OR "
        "coalesce(?11, status) IS NOT status OR json_patch(coalesce(traits, '{}'), "
        "coalesce(excluded.traits, '{}')) IS NOT coalesce(traits, '{}')",
    [ST_QUARANTINE] =
        "INSERT INTO quarantine (instance, entity, file, line, column_no, raw, reason, first_seen_us, "
        "last_seen_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) ON CONFLICT (instance, entity, file, "
        "line) DO UPDATE SET column_no = excluded.column_no, raw = excluded.raw, reason = "
        "excluded.reason, last_seen_us = excluded.last_seen_us",
    [ST_UNQUARANTINE] =
        "DELETE FROM quarantine WHERE instance = ?1 AND entity = ?2 AND file = ?3 AND line = ?4",
    [ST_CURSOR_GET] =
        "SELECT cursor FROM source_cursors WHERE instance = ?1",
    [ST_CURSOR_SET] =
        "INSERT INTO source_cursors (instance, cursor, updated_us) VALUES (?1, ?2, ?3) ON CONFLICT "
        "(instance) DO UPDATE SET cursor = excluded.cursor, updated_us = excluded.updated_us",
    [ST_GENERATION] =
        "INSERT INTO data_generations (entity, generation) VALUES (?1, 1) ON CONFLICT (entity) DO UPDATE "
        "SET generation = generation + 1",
};
// clang-format on

/* A validated event waiting to be written: its key and traits made. */
typedef struct {
    const kz_usage_event *e;
    guint8 hash[16];
    const void *key;
    gsize key_len;
    char *traits; /* JSON, or NULL */
} ready_event;

#define EVENT_CHUNK 16 /* events per INSERT statement */

typedef struct {
    kz_sink sink; /* first: the plugin's sink pointer is the run's */
    kz_store *store;
    sqlite3 *db;
    kz_instance *source;
    kz_mapping *mapping; /* rows -> records, or NULL */
    const char *instance;
    sqlite3_stmt *st[ST_COUNT];
    kz_sync_report *report;
    GError *error;          /* writer: the first store failure (the pull is then stopped) */
    GError *source_error;   /* reader: the first thing the source got wrong */
    gint writer_failed;     /* atomic: `error` is set, nothing more is stored */
    gboolean source_failed; /* reader: `source_error` is set, nothing more is taken */
    gboolean emit_waits;    /* a 1.0 plugin: emit() returns once its batch is stored */
    GPtrArray *rejects;     /* reader: kz_reject copies (pending_reject*) waiting for the next batch */
    GAsyncQueue *jobs;      /* reader -> writer */
    GMutex flight_lock;
    GCond flight_cond;
    guint in_flight;                /* jobs queued or being written */
    GHashTable *accounts;           /* account ids known to exist: saves a lookup per event; cleared on rollback */
    guint32 batch_records;          /* records (or rows) in the batch being stored */
    gboolean bulk_checked;          /* the initial-load question was asked */
    gboolean events_deferred;       /* the events index was dropped for an initial load: build it at the end */
    gboolean rollback_journal;      /* the store left WAL mode for the rest of that load */
    gboolean quarantined;           /* the quarantine may hold entries of this instance */
    sqlite3_stmt *events_multi;     /* EVENT_CHUNK events in one INSERT */
    ready_event chunk[EVENT_CHUNK]; /* validated events waiting for it */
    guint n_chunk;
    guint chunk_fallbacks; /* in this job: chunks that had a key already stored */
    gint64 now;
} sync_run;

typedef struct {
    guint entity;
    char *file, *raw, *reason;
    guint32 line, column;
} pending_reject;

static void pending_reject_free(pending_reject *r)
{
    g_free(r->file);
    g_free(r->raw);
    g_free(r->reason);
    g_free(r);
}

typedef enum { OUT_INSERTED, OUT_UPDATED, OUT_UNCHANGED, OUT_INVALID, OUT_FAILED } outcome;

/* ---- binding ---------------------------------------------------------------- */

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_int(sqlite3_stmt *st, int i, gint64 v)
{
    if (v != KZ_INT_NONE)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_double(sqlite3_stmt *st, int i, double v)
{
    if (!isnan(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* Runs a bound write statement; returns its change count, or -1 with
 * run->error set. Resets the statement either way. */
static int step_write(sync_run *run, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int changes = rc == SQLITE_DONE ? sqlite3_changes(run->db) : -1;
    if (rc != SQLITE_DONE && run->error == NULL)
        g_set_error(&run->error, KZ_ERROR, KZ_ERROR_STORE, "store: %s", sqlite3_errmsg(run->db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return changes;
}

/* Runs a bound "SELECT 1 ... WHERE key" statement: 1 found, 0 not, -1 error. */
static int step_exists(sync_run *run, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found < 0 && run->error == NULL)
        g_set_error(&run->error, KZ_ERROR, KZ_ERROR_STORE, "store: %s", sqlite3_errmsg(run->db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return found;
}

static gboolean exec(sync_run *run, const char *statement)
{
    char *msg = NULL;
    if (sqlite3_exec(run->db, statement, NULL, NULL, &msg) == SQLITE_OK)
        return TRUE;
    if (run->error == NULL)
        g_set_error(&run->error, KZ_ERROR, KZ_ERROR_STORE, "store: %s: %s", statement, msg);
    sqlite3_free(msg);
    return FALSE;
}

/* ---- validation ------------------------------------------------------------- */

/* Checks one text field: present when required, valid UTF-8, not over-long.
 * On a problem sets *reason (newly allocated) and returns FALSE. */
static gboolean check_text(const char *field, const char *value, gboolean required, char **reason)
{
    if (value == NULL || value[0] == '\0') {
        if (required)
            *reason = g_strdup_printf("missing %s", field);
        return !required;
    }
    g_autofree char *why = kz_text_problem(value);
    if (why != NULL)
        *reason = g_strdup_printf("%s %s", field, why);
    return why == NULL;
}

static gboolean check_currency(const char *currency, char **reason)
{
    if (currency == NULL)
        return TRUE;
    if (strlen(currency) != 3 || !g_ascii_isupper(currency[0]) || !g_ascii_isupper(currency[1]) ||
        !g_ascii_isupper(currency[2])) {
        g_autofree char *shown = g_utf8_make_valid(currency, MIN((gssize)strlen(currency), 16));
        *reason = g_strdup_printf("currency '%s' is not an ISO 4217 code such as EUR", shown);
        return FALSE;
    }
    return TRUE;
}

static gboolean check_traits(const kz_trait *traits, guint32 n, char **reason)
{
    if (n > 0 && traits == NULL) {
        *reason = g_strdup_printf("%u traits announced but none given", n);
        return FALSE;
    }
    for (guint32 i = 0; i < n; i++) {
        if (!check_text("trait name", traits[i].name, TRUE, reason))
            return FALSE;
        const kz_value *v = &traits[i].value;
        if (v->type > KZ_VALUE_TIME || v->reserved_ != 0) {
            *reason = g_strdup_printf("trait '%s' has unknown value type %u", traits[i].name, v->type);
            return FALSE;
        }
        if (v->type == KZ_VALUE_STRING && !check_text(traits[i].name, v->u.s, FALSE, reason))
            return FALSE;
        if (v->type == KZ_VALUE_DOUBLE && !isfinite(v->u.d)) {
            *reason = g_strdup_printf("trait '%s' is not a finite number", traits[i].name);
            return FALSE;
        }
    }
    return TRUE;
}

/* The account an event, ticket... belongs to must exist (in the store or
 * earlier in this transaction). */
#define MAX_CACHED_ACCOUNTS 1000000

static void remember_account(sync_run *run, const char *id)
{
    if (g_hash_table_size(run->accounts) >= MAX_CACHED_ACCOUNTS)
        g_hash_table_remove_all(run->accounts); /* bounded: start over */
    g_hash_table_add(run->accounts, g_strdup(id));
}

static gboolean check_account(sync_run *run, const char *account_id, char **reason, gboolean *failed)
{
    if (!check_text("account id", account_id, TRUE, reason))
        return FALSE;
    if (g_hash_table_contains(run->accounts, account_id))
        return TRUE;
    sqlite3_bind_text(run->st[ST_EXISTS_ACCOUNT], 1, account_id, -1, SQLITE_STATIC);
    int found = step_exists(run, run->st[ST_EXISTS_ACCOUNT]);
    if (found < 0) {
        *failed = TRUE;
        return FALSE;
    }
    if (found == 0) {
        g_autofree char *shown = g_utf8_make_valid(account_id, -1);
        *reason = g_strdup_printf("unknown account '%s'", shown);
        return FALSE;
    }
    remember_account(run, account_id);
    return TRUE;
}

/* ---- traits as JSON (contacts, tickets, subscriptions, events) -------------- */

static char *traits_json(const kz_trait *traits, guint32 n)
{
    if (n == 0)
        return NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    for (guint32 i = 0; i < n; i++) {
        const kz_value *v = &traits[i].value;
        json_builder_set_member_name(b, traits[i].name);
        switch (v->type) {
        case KZ_VALUE_STRING: json_builder_add_string_value(b, v->u.s); break;
        case KZ_VALUE_INT:
        case KZ_VALUE_TIME: json_builder_add_int_value(b, v->u.i); break;
        case KZ_VALUE_DOUBLE: json_builder_add_double_value(b, v->u.d); break;
        case KZ_VALUE_BOOL: json_builder_add_boolean_value(b, v->u.b != 0); break;
        default: json_builder_add_null_value(b);
        }
    }
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

static char *tags_json(const char *const *tags, guint32 n)
{
    if (n == 0)
        return NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    for (guint32 i = 0; i < n; i++)
        json_builder_add_string_value(b, tags[i]);
    json_builder_end_array(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

/* A key for records without an id: SHA-256 over every field, each written
 * with a type tag and its length, so no two different records collide by
 * concatenation. 16 bytes are kept. */
typedef struct {
    GChecksum *sum;
} key_hash;

static void hash_text(key_hash *h, const char *s)
{
    guint32 len = s != NULL ? (guint32)strlen(s) : G_MAXUINT32;
    g_checksum_update(h->sum, (const guchar *)"s", 1);
    g_checksum_update(h->sum, (const guchar *)&len, sizeof len);
    if (s != NULL)
        g_checksum_update(h->sum, (const guchar *)s, len);
}

static void hash_bytes(key_hash *h, char tag, const void *p, gsize n)
{
    g_checksum_update(h->sum, (const guchar *)&tag, 1);
    g_checksum_update(h->sum, p, n);
}

static void hash_traits(key_hash *h, const kz_trait *traits, guint32 n)
{
    hash_bytes(h, 'n', &n, sizeof n);
    for (guint32 i = 0; i < n; i++) {
        hash_text(h, traits[i].name);
        hash_bytes(h, 'v', &traits[i].value.type, sizeof traits[i].value.type);
        if (traits[i].value.type == KZ_VALUE_STRING)
            hash_text(h, traits[i].value.u.s);
        else
            hash_bytes(h, 'u', &traits[i].value.u, sizeof traits[i].value.u);
    }
}

static void hash_finish(key_hash *h, guint8 out[16])
{
    guint8 full[32];
    gsize len = sizeof full;
    g_checksum_get_digest(h->sum, full, &len);
    memcpy(out, full, 16);
    g_checksum_free(h->sum);
}

/* ---- one record of each entity ---------------------------------------------- */

/* Inserted, updated or unchanged from an exists-check and a change count. */
static outcome upsert_outcome(int existed, int changes)
{
    if (existed < 0 || changes < 0)
        return OUT_FAILED;
    return !existed ? OUT_INSERTED : changes > 0 ? OUT_UPDATED : OUT_UNCHANGED;
}

static outcome store_account(sync_run *run, const kz_account *a, char **reason)
{
    if (!check_text("account id", a->id, TRUE, reason) || !check_text("name", a->name, FALSE, reason) ||
        !check_text("region", a->region, FALSE, reason) || !check_text("segment", a->segment, FALSE, reason) ||
        !check_text("plan", a->plan, FALSE, reason) || !check_text("owner", a->owner, FALSE, reason) ||
        !check_currency(a->currency, reason) || !check_traits(a->traits, a->n_traits, reason))
        return OUT_INVALID;
    if (a->reserved_ != 0) {
        *reason = g_strdup("reserved_ is not 0");
        return OUT_INVALID;
    }
    if (a->arr_minor != KZ_INT_NONE && a->arr_minor < 0) {
        *reason = g_strdup_printf("ARR is negative (%" G_GINT64_FORMAT ")", a->arr_minor);
        return OUT_INVALID;
    }
    sqlite3_bind_text(run->st[ST_EXISTS_ACCOUNT], 1, a->id, -1, SQLITE_STATIC);
    int existed = step_exists(run, run->st[ST_EXISTS_ACCOUNT]);
    sqlite3_stmt *st = run->st[ST_ACCOUNT];
    bind_text(st, 1, a->id);
    bind_text(st, 2, a->name);
    bind_text(st, 3, a->region);
    bind_text(st, 4, a->segment);
    bind_text(st, 5, a->plan);
    bind_int(st, 6, a->arr_minor);
    bind_text(st, 7, a->currency);
    bind_int(st, 8, a->contract_start);
    bind_int(st, 9, a->renewal_date);
    bind_text(st, 10, a->owner);
    bind_text(st, 11, run->instance);
    sqlite3_bind_int64(st, 12, run->now);
    int changes = step_write(run, st);
    for (guint32 i = 0; i < a->n_traits && changes >= 0; i++) {
        const kz_trait *t = &a->traits[i];
        sqlite3_stmt *ts = run->st[ST_TRAIT];
        sqlite3_bind_text(ts, 1, a->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ts, 2, t->name, -1, SQLITE_STATIC);
        switch (t->value.type) {
        case KZ_VALUE_STRING: bind_text(ts, 3, t->value.u.s); break;
        case KZ_VALUE_INT:
        case KZ_VALUE_TIME: sqlite3_bind_int64(ts, 3, t->value.u.i); break;
        case KZ_VALUE_DOUBLE: sqlite3_bind_double(ts, 3, t->value.u.d); break;
        case KZ_VALUE_BOOL: sqlite3_bind_int(ts, 3, t->value.u.b != 0); break;
        default: sqlite3_bind_null(ts, 3);
        }
        sqlite3_bind_int(ts, 4, (int)t->value.type);
        int c = step_write(run, ts);
        changes = c < 0 ? -1 : changes + c;
    }
    outcome out = upsert_outcome(existed, changes);
    if (out != OUT_FAILED && !g_hash_table_contains(run->accounts, a->id))
        remember_account(run, a->id);
    return out;
}

static outcome store_contact(sync_run *run, const kz_contact *c, char **reason, gboolean *failed)
{
    if (!check_text("contact id", c->id, TRUE, reason) || !check_text("name", c->name, FALSE, reason) ||
        !check_text("email", c->email, FALSE, reason) || !check_text("role", c->role, FALSE, reason) ||
        !check_text("phone", c->phone, FALSE, reason) || !check_traits(c->traits, c->n_traits, reason) ||
        !check_account(run, c->account_id, reason, failed))
        return *failed ? OUT_FAILED : OUT_INVALID;
    sqlite3_bind_text(run->st[ST_CONTACT_EXISTS], 1, c->id, -1, SQLITE_STATIC);
    int existed = step_exists(run, run->st[ST_CONTACT_EXISTS]);
    g_autofree char *traits = traits_json(c->traits, c->n_traits);
    sqlite3_stmt *st = run->st[ST_CONTACT];
    bind_text(st, 1, c->id);
    bind_text(st, 2, c->account_id);
    bind_text(st, 3, c->name);
    bind_text(st, 4, c->email);
    bind_text(st, 5, c->role);
    bind_text(st, 6, c->phone);
    bind_text(st, 7, traits);
    bind_text(st, 8, run->instance);
    sqlite3_bind_int64(st, 9, run->now);
    return upsert_outcome(existed, step_write(run, st));
}

/* An initial load of many events (an empty table, a big first batch)
 * goes faster without the (account, time) index, which is then built once
 * by sorting instead of by a random insert per event. Dropped inside the
 * batch's transaction: a rollback restores it; kz_store_open() re-creates
 * it if the process dies before the end of the sync. */
static void maybe_defer_events_index(sync_run *run)
{
    run->bulk_checked = TRUE;
    if (run->batch_records < SYNC_BULK_MIN)
        return;
    sqlite3_stmt *q = NULL;
    gboolean empty = FALSE;
    if (sqlite3_prepare_v2(run->db, "SELECT NOT EXISTS (SELECT 1 FROM usage_events)", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        empty = sqlite3_column_int(q, 0) != 0;
    sqlite3_finalize(q);
    if (!empty || !kz_store_bulk_begin(run->store))
        return;
    if (sqlite3_exec(run->db, "DROP INDEX IF EXISTS " KZ_STORE_EVENTS_INDEX, NULL, NULL, NULL) != SQLITE_OK) {
        kz_store_bulk_end(run->store);
    } else {
        g_debug("sync %s: initial load of usage events, building their index at the end", run->instance);
        run->events_deferred = TRUE;
    }
}

/* Validates an event and makes its key: the source's id, or for an event
 * without one the time (big-endian, so a log appends at the end of the
 * key's B-tree) followed by 8 bytes of a SHA-256 over every field. */
static outcome event_prepare(sync_run *run, const kz_usage_event *e, ready_event *r, char **reason, gboolean *failed)
{
    if (!run->bulk_checked)
        maybe_defer_events_index(run);
    if (!check_text("event id", e->id, FALSE, reason) || !check_text("user id", e->user_id, FALSE, reason) ||
        !check_text("event name", e->name, TRUE, reason) || !check_text("product", e->product, FALSE, reason) ||
        !check_traits(e->traits, e->n_traits, reason) || !check_account(run, e->account_id, reason, failed))
        return *failed ? OUT_FAILED : OUT_INVALID;
    if (e->time == KZ_TIME_NONE) {
        *reason = g_strdup("missing time");
        return OUT_INVALID;
    }
    if (isinf(e->quantity)) {
        *reason = g_strdup("quantity is not a finite number");
        return OUT_INVALID;
    }
    r->e = e;
    if (e->id != NULL && e->id[0] != '\0') {
        r->key = e->id;
        r->key_len = strlen(e->id);
    } else {
        key_hash h = {g_checksum_new(G_CHECKSUM_SHA256)};
        hash_text(&h, e->account_id);
        hash_text(&h, e->user_id);
        hash_bytes(&h, 't', &e->time, sizeof e->time);
        hash_text(&h, e->name);
        hash_bytes(&h, 'q', &e->quantity, sizeof e->quantity);
        hash_text(&h, e->product);
        hash_traits(&h, e->traits, e->n_traits);
        guint8 digest[16];
        hash_finish(&h, digest);
        guint64 t = GUINT64_TO_BE((guint64)e->time ^ ((guint64)1 << 63)); /* sorts as the signed time */
        memcpy(r->hash, &t, 8);
        memcpy(r->hash + 8, digest, 8);
        r->key = r->hash;
        r->key_len = sizeof r->hash;
    }
    r->traits = traits_json(e->traits, e->n_traits);
    return OUT_INSERTED; /* ready */
}

static void bind_event(sync_run *run, sqlite3_stmt *st, int base, const ready_event *r)
{
    const kz_usage_event *e = r->e;
    sqlite3_bind_blob(st, base + 1, r->key, (int)r->key_len, SQLITE_STATIC);
    bind_text(st, base + 2, e->account_id);
    bind_text(st, base + 3, e->user_id);
    sqlite3_bind_int64(st, base + 4, e->time);
    bind_text(st, base + 5, e->name);
    bind_double(st, base + 6, e->quantity);
    bind_text(st, base + 7, e->product);
    bind_text(st, base + 8, r->traits);
    sqlite3_bind_text(st, base + 9, run->instance, -1, SQLITE_STATIC);
}

/* Inserts one prepared event; on a key already stored, updates only what
 * differs. */
static outcome event_write(sync_run *run, const ready_event *r)
{
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && r->key == r->hash)
            return OUT_UNCHANGED; /* hash-keyed: same key, same content */
        sqlite3_stmt *st = run->st[pass == 0 ? ST_EVENT : ST_EVENT_UPDATE];
        bind_event(run, st, 0, r);
        int changes = step_write(run, st);
        if (changes < 0)
            return OUT_FAILED;
        if (changes > 0)
            return pass == 0 ? OUT_INSERTED : OUT_UPDATED;
    }
    return OUT_UNCHANGED;
}

static outcome store_event(sync_run *run, const kz_usage_event *e, char **reason, gboolean *failed)
{
    ready_event r = {0};
    outcome out = event_prepare(run, e, &r, reason, failed);
    if (out == OUT_INSERTED)
        out = event_write(run, &r);
    g_free(r.traits);
    return out;
}

static outcome store_ticket(sync_run *run, const kz_ticket *t, char **reason, gboolean *failed)
{
    if (!check_text("ticket id", t->id, TRUE, reason) || !check_text("contact id", t->contact_id, FALSE, reason) ||
        !check_text("subject", t->subject, FALSE, reason) || !check_traits(t->traits, t->n_traits, reason) ||
        !check_account(run, t->account_id, reason, failed))
        return *failed ? OUT_FAILED : OUT_INVALID;
    if (t->opened == KZ_TIME_NONE) {
        *reason = g_strdup("missing opened time");
        return OUT_INVALID;
    }
    if (t->priority > KZ_PRIORITY_URGENT || t->status > KZ_TICKET_CLOSED || t->kind > KZ_TICKET_FEATURE_REQUEST ||
        t->reserved_ != 0) {
        *reason = g_strdup_printf("unknown priority %u, status %u or kind %u", t->priority, t->status, t->kind);
        return OUT_INVALID;
    }
    if (t->n_tags > 0 && t->tags == NULL) {
        *reason = g_strdup("tags announced but none given");
        return OUT_INVALID;
    }
    for (guint32 i = 0; i < t->n_tags; i++)
        if (!check_text("tag", t->tags[i], TRUE, reason))
            return OUT_INVALID;
    sqlite3_bind_text(run->st[ST_TICKET_EXISTS], 1, t->id, -1, SQLITE_STATIC);
    int existed = step_exists(run, run->st[ST_TICKET_EXISTS]);
    g_autofree char *tags = tags_json(t->tags, t->n_tags);
    g_autofree char *traits = traits_json(t->traits, t->n_traits);
    sqlite3_stmt *st = run->st[ST_TICKET];
    bind_text(st, 1, t->id);
    bind_text(st, 2, t->account_id);
    bind_text(st, 3, t->contact_id);
    sqlite3_bind_int64(st, 4, t->opened);
    bind_int(st, 5, t->closed);
    sqlite3_bind_int(st, 6, (int)t->priority);
    sqlite3_bind_int(st, 7, (int)t->status);
    sqlite3_bind_int(st, 8, (int)t->kind);
    bind_text(st, 9, t->subject);
    bind_text(st, 10, tags);
    bind_text(st, 11, traits);
    bind_text(st, 12, run->instance);
    sqlite3_bind_int64(st, 13, run->now);
    return upsert_outcome(existed, step_write(run, st));
}

static outcome store_subscription(sync_run *run, const kz_subscription *s, char **reason, gboolean *failed)
{
    if (!check_text("subscription id", s->id, TRUE, reason) || !check_text("plan", s->plan, FALSE, reason) ||
        !check_currency(s->currency, reason) || !check_traits(s->traits, s->n_traits, reason) ||
        !check_account(run, s->account_id, reason, failed))
        return *failed ? OUT_FAILED : OUT_INVALID;
    if (s->period_start == KZ_TIME_NONE || s->mrr_minor == KZ_INT_NONE) {
        *reason = g_strdup(s->period_start == KZ_TIME_NONE ? "missing period start" : "missing MRR");
        return OUT_INVALID;
    }
    if (s->mrr_minor < 0 || (s->period_end != KZ_TIME_NONE && s->period_end < s->period_start)) {
        *reason = g_strdup(s->mrr_minor < 0 ? "MRR is negative" : "period ends before it starts");
        return OUT_INVALID;
    }
    if (s->status > KZ_SUBSCRIPTION_ENDED || s->reserved_ != 0 || s->reserved2_ != 0) {
        *reason = g_strdup_printf("unknown subscription status %u", s->status);
        return OUT_INVALID;
    }
    sqlite3_bind_text(run->st[ST_SUB_EXISTS], 1, s->id, -1, SQLITE_STATIC);
    int existed = step_exists(run, run->st[ST_SUB_EXISTS]);
    g_autofree char *traits = traits_json(s->traits, s->n_traits);
    sqlite3_stmt *st = run->st[ST_SUB];
    bind_text(st, 1, s->id);
    bind_text(st, 2, s->account_id);
    bind_text(st, 3, s->plan);
    sqlite3_bind_int64(st, 4, s->period_start);
    bind_int(st, 5, s->period_end);
    sqlite3_bind_int64(st, 6, s->mrr_minor);
    bind_text(st, 7, s->currency);
    sqlite3_bind_int(st, 8, (int)s->status);
    bind_text(st, 9, traits);
    bind_text(st, 10, run->instance);
    sqlite3_bind_int64(st, 11, run->now);
    return upsert_outcome(existed, step_write(run, st));
}

static outcome store_survey(sync_run *run, const kz_survey_answer *a, char **reason, gboolean *failed)
{
    if (!check_text("answer id", a->id, FALSE, reason) || !check_text("contact id", a->contact_id, FALSE, reason) ||
        !check_text("comment", a->comment, FALSE, reason) || !check_account(run, a->account_id, reason, failed))
        return *failed ? OUT_FAILED : OUT_INVALID;
    if (a->time == KZ_TIME_NONE) {
        *reason = g_strdup("missing time");
        return OUT_INVALID;
    }
    gboolean nps = a->kind == KZ_SURVEY_NPS, csat = a->kind == KZ_SURVEY_CSAT;
    if ((!nps && !csat) || a->reserved_ != 0) {
        *reason = g_strdup_printf("unknown survey kind %u", a->kind);
        return OUT_INVALID;
    }
    if (isnan(a->score) || (nps && (a->score < 0 || a->score > 10)) || (csat && (a->score < 1 || a->score > 5))) {
        *reason = g_strdup_printf("%s score %g is outside %s", nps ? "NPS" : "CSAT", a->score, nps ? "0..10" : "1..5");
        return OUT_INVALID;
    }
    guint8 key[16];
    const void *key_data = a->id;
    gsize key_len = a->id != NULL ? strlen(a->id) : 0;
    if (key_len == 0) {
        key_hash h = {g_checksum_new(G_CHECKSUM_SHA256)};
        hash_text(&h, a->account_id);
        hash_text(&h, a->contact_id);
        hash_bytes(&h, 't', &a->time, sizeof a->time);
        hash_bytes(&h, 'k', &a->kind, sizeof a->kind);
        hash_bytes(&h, 's', &a->score, sizeof a->score);
        hash_text(&h, a->comment);
        hash_finish(&h, key);
        key_data = key;
        key_len = sizeof key;
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && key_data == key)
            return OUT_UNCHANGED; /* hash-keyed: same key, same content */
        sqlite3_stmt *st = run->st[pass == 0 ? ST_SURVEY : ST_SURVEY_UPDATE];
        sqlite3_bind_blob(st, 1, key_data, (int)key_len, SQLITE_STATIC);
        bind_text(st, 2, a->account_id);
        bind_text(st, 3, a->contact_id);
        sqlite3_bind_int64(st, 4, a->time);
        sqlite3_bind_int(st, 5, (int)a->kind);
        sqlite3_bind_double(st, 6, a->score);
        bind_text(st, 7, a->comment);
        bind_text(st, 8, run->instance);
        int changes = step_write(run, st);
        if (changes < 0)
            return OUT_FAILED;
        if (changes > 0)
            return pass == 0 ? OUT_INSERTED : OUT_UPDATED;
    }
    return OUT_UNCHANGED;
}

/* ---- quarantine ------------------------------------------------------------- */

/* A capacity: absent, a count, or unlimited (anything from
 * KZ_CSM_UNLIMITED up reads as unlimited). */
static gboolean check_capacity(const char *tier, int64_t *capacity, char **reason)
{
    if (*capacity == KZ_INT_NONE)
        return TRUE;
    if (*capacity < 0) {
        *reason = g_strdup_printf("%s-touch capacity is negative (%" G_GINT64_FORMAT ")", tier, (gint64)*capacity);
        return FALSE;
    }
    *capacity = MIN(*capacity, KZ_CSM_UNLIMITED);
    return TRUE;
}

static outcome store_csm(sync_run *run, const kz_csm *c, char **reason)
{
    kz_csm v = *c;
    if (!check_text("CSM id", c->id, TRUE, reason) || !check_text("name", c->name, FALSE, reason) ||
        !check_text("email", c->email, FALSE, reason) || !check_text("team", c->team, FALSE, reason) ||
        !check_text("region", c->region, FALSE, reason) || !check_text("manager", c->manager, FALSE, reason) ||
        !check_traits(c->traits, c->n_traits, reason) || !check_capacity("high", &v.capacity_high, reason) ||
        !check_capacity("low", &v.capacity_low, reason) || !check_capacity("tech", &v.capacity_tech, reason))
        return OUT_INVALID;
    if (c->n_skills > 0 && c->skills == NULL) {
        *reason = g_strdup_printf("%u skills announced but none given", c->n_skills);
        return OUT_INVALID;
    }
    for (guint32 i = 0; i < c->n_skills; i++)
        if (!check_text("skill", c->skills[i], TRUE, reason))
            return OUT_INVALID;
    if (c->status > KZ_CSM_INACTIVE || c->reserved_ != 0) {
        *reason = g_strdup_printf("unknown CSM status %u", c->status);
        return OUT_INVALID;
    }
    sqlite3_bind_text(run->st[ST_CSM_EXISTS], 1, c->id, -1, SQLITE_STATIC);
    int existed = step_exists(run, run->st[ST_CSM_EXISTS]);
    g_autofree char *skills = tags_json(c->skills, c->n_skills);
    g_autofree char *traits = traits_json(c->traits, c->n_traits);
    sqlite3_stmt *st = run->st[ST_CSM];
    bind_text(st, 1, c->id);
    bind_text(st, 2, c->name);
    bind_text(st, 3, c->email);
    bind_text(st, 4, c->team);
    bind_text(st, 5, c->region);
    bind_text(st, 6, c->manager);
    bind_text(st, 7, skills);
    bind_int(st, 8, v.capacity_high);
    bind_int(st, 9, v.capacity_low);
    bind_int(st, 10, v.capacity_tech);
    if (c->status == KZ_CSM_STATUS_NONE)
        sqlite3_bind_null(st, 11);
    else
        sqlite3_bind_int(st, 11, (int)c->status);
    bind_text(st, 12, traits);
    bind_text(st, 13, run->instance);
    sqlite3_bind_int64(st, 14, run->now);
    return upsert_outcome(existed, step_write(run, st));
}
/* A bounded, valid-UTF-8 copy of a record's raw text. */
static char *bounded_raw(const char *raw)
{
    if (raw == NULL)
        return NULL;
    gsize n = strnlen(raw, MAX_RAW_BYTES + 1);
    g_autofree char *valid = g_utf8_make_valid(raw, (gssize)MIN(n, (gsize)MAX_RAW_BYTES));
    if (n <= MAX_RAW_BYTES)
        return g_steal_pointer(&valid);
    return g_strconcat(valid, "…", NULL);
}

static gboolean quarantine(sync_run *run, guint entity, const kz_origin *o, const char *reason)
{
    g_autofree char *raw = bounded_raw(o->raw);
    g_autofree char *file = g_utf8_make_valid(o->file != NULL ? o->file : "", -1);
    sqlite3_stmt *st = run->st[ST_QUARANTINE];
    sqlite3_bind_text(st, 1, run->instance, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)entity);
    sqlite3_bind_text(st, 3, file, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, o->line);
    sqlite3_bind_int64(st, 5, o->column);
    bind_text(st, 6, raw);
    sqlite3_bind_text(st, 7, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, run->now);
    run->quarantined = TRUE;
    return step_write(run, st) >= 0;
}

/* A record from this origin is stored now: its old quarantine entry goes. */
static gboolean unquarantine(sync_run *run, guint entity, const kz_origin *o)
{
    if (!run->quarantined || o->file == NULL || o->line == 0)
        return TRUE;
    sqlite3_stmt *st = run->st[ST_UNQUARANTINE];
    sqlite3_bind_text(st, 1, run->instance, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)entity);
    sqlite3_bind_text(st, 3, o->file, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, o->line);
    return step_write(run, st) >= 0;
}

static gboolean flush_rejects(sync_run *run, const GPtrArray *rejects, kz_sync_counts *counts)
{
    for (guint i = 0; i < rejects->len; i++) {
        const pending_reject *r = rejects->pdata[i];
        kz_origin o = {r->file, r->raw, r->line, r->column};
        if (!quarantine(run, r->entity, &o, r->reason))
            return FALSE;
        counts[r->entity].read++;
        counts[r->entity].quarantined++;
    }
    return TRUE;
}

/* ---- the sink ---------------------------------------------------------------- */

typedef union {
    kz_account account;
    kz_contact contact;
    kz_usage_event event;
    kz_ticket ticket;
    kz_subscription subscription;
    kz_survey_answer survey;
    kz_csm csm;
} any_record;

static const gsize record_sizes[KZ_SYNC_ENTITIES] = {0,
                                                     sizeof(kz_account),
                                                     sizeof(kz_contact),
                                                     sizeof(kz_usage_event),
                                                     sizeof(kz_ticket),
                                                     sizeof(kz_subscription),
                                                     sizeof(kz_survey_answer),
                                                     sizeof(kz_row),
                                                     sizeof(kz_csm)};

/* Stores one record (already copied into host memory); the origin says
 * where it came from. */
static outcome store_record(sync_run *run, guint entity, const any_record *rec, const kz_origin **origin, char **reason)
{
    gboolean failed = FALSE;
    switch (entity) {
    case KZ_ENTITY_ACCOUNT: *origin = &rec->account.origin; return store_account(run, &rec->account, reason);
    case KZ_ENTITY_CONTACT: *origin = &rec->contact.origin; return store_contact(run, &rec->contact, reason, &failed);
    case KZ_ENTITY_USAGE_EVENT: *origin = &rec->event.origin; return store_event(run, &rec->event, reason, &failed);
    case KZ_ENTITY_TICKET: *origin = &rec->ticket.origin; return store_ticket(run, &rec->ticket, reason, &failed);
    case KZ_ENTITY_SUBSCRIPTION:
        *origin = &rec->subscription.origin;
        return store_subscription(run, &rec->subscription, reason, &failed);
    case KZ_ENTITY_CSM: *origin = &rec->csm.origin; return store_csm(run, &rec->csm, reason);
    default: *origin = &rec->survey.origin; return store_survey(run, &rec->survey, reason, &failed);
    }
}

static int sink_fail(sync_run *run, int status, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Stores one record and counts the outcome; a record that fails
 * validation goes to the quarantine. FALSE on a store failure
 * (run->error set). */
static gboolean store_counted(sync_run *run, guint entity, const any_record *rec, kz_sync_counts *counts)
{
    const kz_origin *origin = NULL;
    g_autofree char *reason = NULL;
    outcome out = store_record(run, entity, rec, &origin, &reason);
    kz_sync_counts *c = &counts[entity];
    c->read++;
    switch (out) {
    case OUT_INSERTED: c->inserted++; break;
    case OUT_UPDATED: c->updated++; break;
    case OUT_UNCHANGED: c->unchanged++; break;
    case OUT_INVALID: c->quarantined++; return quarantine(run, entity, origin, reason);
    case OUT_FAILED: return FALSE;
    }
    return unquarantine(run, entity, origin);
}

/* ---- the pipeline -------------------------------------------------------------
 *
 * The source reads on the caller's thread while a writer thread stores:
 * sink_emit() copies each batch into a job (a row batch mapped into its
 * records on the way), and the writer stores the jobs in order, each in
 * one transaction with its cursor. At most JOBS_IN_FLIGHT jobs wait, so
 * memory stays bounded; reading and mapping the next batch overlaps with
 * storing the last one. */

#define JOBS_IN_FLIGHT 2
#define ARENA_BLOCK    (1024 * 1024)

/* A job's memory: strings and arrays copied out of the plugin's batch. */
typedef struct {
    GPtrArray *blocks;
    char *cur;
    gsize left;
} arena;

static void *arena_alloc(arena *a, gsize n)
{
    n = (n + 7) & ~(gsize)7;
    if (n > a->left) {
        gsize size = MAX(n, (gsize)ARENA_BLOCK);
        a->cur = g_malloc(size);
        a->left = size;
        g_ptr_array_add(a->blocks, a->cur);
    }
    void *p = a->cur;
    a->cur += n;
    a->left -= n;
    return p;
}

static char *arena_strn(arena *a, const char *s, gsize max)
{
    if (s == NULL)
        return NULL;
    gsize n = strnlen(s, max);
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *arena_str(arena *a, const char *s)
{
    return arena_strn(a, s, G_MAXSIZE);
}

static void copy_origin(arena *a, kz_origin *o)
{
    o->file = arena_str(a, o->file);
    o->raw = arena_strn(a, o->raw, MAX_RAW_BYTES + 1); /* enough to show it was cut */
}

static const kz_trait *copy_traits(arena *a, const kz_trait *traits, guint32 n)
{
    if (traits == NULL || n == 0)
        return traits; /* validation says what is wrong with n > 0 and none */
    gsize bytes;
    if (!g_size_checked_mul(&bytes, n, sizeof(kz_trait)))
        return NULL; /* not a real count (32-bit): quarantined as "announced but none given" */
    kz_trait *copy = arena_alloc(a, bytes);
    for (guint32 i = 0; i < n; i++) {
        copy[i] = traits[i];
        copy[i].name = arena_str(a, traits[i].name);
        if (traits[i].value.type == KZ_VALUE_STRING)
            copy[i].value.u.s = arena_str(a, traits[i].value.u.s);
    }
    return copy;
}

/* Makes a record (already copied by value) own copies of everything it
 * points to. */
static void copy_record(arena *a, guint entity, any_record *r)
{
#define S(field) (field) = arena_str(a, (field))
    switch (entity) {
    case KZ_ENTITY_ACCOUNT:
        S(r->account.id), S(r->account.name), S(r->account.region), S(r->account.segment), S(r->account.plan);
        S(r->account.currency), S(r->account.owner);
        r->account.traits = copy_traits(a, r->account.traits, r->account.n_traits);
        copy_origin(a, &r->account.origin);
        break;
    case KZ_ENTITY_CONTACT:
        S(r->contact.id), S(r->contact.account_id), S(r->contact.name), S(r->contact.email), S(r->contact.role);
        S(r->contact.phone);
        r->contact.traits = copy_traits(a, r->contact.traits, r->contact.n_traits);
        copy_origin(a, &r->contact.origin);
        break;
    case KZ_ENTITY_USAGE_EVENT:
        S(r->event.id), S(r->event.account_id), S(r->event.user_id), S(r->event.name), S(r->event.product);
        r->event.traits = copy_traits(a, r->event.traits, r->event.n_traits);
        copy_origin(a, &r->event.origin);
        break;
    case KZ_ENTITY_TICKET:
        S(r->ticket.id), S(r->ticket.account_id), S(r->ticket.contact_id), S(r->ticket.subject);
        gsize tag_bytes;
        if (!g_size_checked_mul(&tag_bytes, r->ticket.n_tags, sizeof(char *)))
            r->ticket.tags = NULL; /* not a real count (32-bit): quarantined */
        else if (r->ticket.tags != NULL && r->ticket.n_tags > 0) {
            const char **tags = arena_alloc(a, tag_bytes);
            for (guint32 i = 0; i < r->ticket.n_tags; i++)
                tags[i] = arena_str(a, r->ticket.tags[i]);
            r->ticket.tags = tags;
        }
        r->ticket.traits = copy_traits(a, r->ticket.traits, r->ticket.n_traits);
        copy_origin(a, &r->ticket.origin);
        break;
    case KZ_ENTITY_SUBSCRIPTION:
        S(r->subscription.id), S(r->subscription.account_id), S(r->subscription.plan), S(r->subscription.currency);
        r->subscription.traits = copy_traits(a, r->subscription.traits, r->subscription.n_traits);
        copy_origin(a, &r->subscription.origin);
        break;
    case KZ_ENTITY_CSM: {
        S(r->csm.id), S(r->csm.name), S(r->csm.email), S(r->csm.team), S(r->csm.region), S(r->csm.manager);
        gsize skill_bytes;
        if (!g_size_checked_mul(&skill_bytes, r->csm.n_skills, sizeof(char *)))
            r->csm.skills = NULL; /* not a real count (32-bit): quarantined */
        else if (r->csm.skills != NULL && r->csm.n_skills > 0) {
            const char **skills = arena_alloc(a, skill_bytes);
            for (guint32 i = 0; i < r->csm.n_skills; i++)
                skills[i] = arena_str(a, r->csm.skills[i]);
            r->csm.skills = skills;
        }
        r->csm.traits = copy_traits(a, r->csm.traits, r->csm.n_traits);
        copy_origin(a, &r->csm.origin);
        break;
    }
    default:
        S(r->survey.id), S(r->survey.account_id), S(r->survey.contact_id), S(r->survey.comment);
        copy_origin(a, &r->survey.origin);
    }
#undef S
}

typedef enum {
    ITEM_RECORD,  /* store `rec` */
    ITEM_INVALID, /* a row that did not convert: quarantine `reason` at `at` */
    ITEM_ROW_READ /* a row that read: its old "row" quarantine entry goes */
} item_kind;

typedef struct {
    guint32 kind, entity;
    char *reason;
    kz_origin at;
    any_record rec;
} item;

typedef struct {
    GArray *items;      /* item */
    GPtrArray *rejects; /* pending_reject*, stored before the items */
    char *cursor;       /* or NULL: the stored cursor stays */
    guint32 batch_records;
    gboolean is_batch; /* FALSE: only the rejects left at the end of a pull */
    arena mem;
} job;

static job *job_new(sync_run *run, const char *cursor, guint32 batch_records)
{
    job *j = g_new0(job, 1);
    j->items = g_array_sized_new(FALSE, FALSE, sizeof(item), MAX(batch_records, 1));
    j->rejects = g_steal_pointer(&run->rejects);
    run->rejects = g_ptr_array_new_with_free_func((GDestroyNotify)pending_reject_free);
    j->mem.blocks = g_ptr_array_new_with_free_func(g_free);
    j->cursor = arena_str(&j->mem, cursor);
    j->batch_records = batch_records;
    j->is_batch = TRUE;
    return j;
}

static void job_free(job *j)
{
    g_array_unref(j->items);
    g_ptr_array_unref(j->rejects);
    g_ptr_array_unref(j->mem.blocks);
    g_free(j);
}

static item *job_add(job *j, item_kind kind, guint entity)
{
    g_array_set_size(j->items, j->items->len + 1);
    item *it = &g_array_index(j->items, item, j->items->len - 1);
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->entity = entity;
    return it;
}

/* One row: every map of the instance makes one record of its entity from
 * it, or one reason why not. */
static void map_row(sync_run *run, job *j, const kz_row *row)
{
    if (row->reserved_ != 0 || (row->n_fields > 0 && row->fields == NULL)) {
        item *it = job_add(j, ITEM_INVALID, KZ_ENTITY_ROW);
        it->reason = arena_str(&j->mem, "the source emitted a malformed row");
        it->at = row->origin;
        copy_origin(&j->mem, &it->at);
        return;
    }
    kz_mapping_begin_row(run->mapping, row);
    item *read = job_add(j, ITEM_ROW_READ, KZ_ENTITY_ROW);
    read->at = row->origin;
    copy_origin(&j->mem, &read->at);
    for (guint m = 0; m < kz_mapping_count(run->mapping); m++) {
        guint entity = kz_mapping_entity(run->mapping, m);
        if (!kz_mapping_applies(run->mapping, m, row))
            continue;
        item *it = job_add(j, ITEM_RECORD, entity);
        g_autofree char *reason = NULL;
        guint32 column = 0;
        if (kz_mapping_convert(run->mapping, m, row, &it->rec, &reason, &column)) {
            copy_record(&j->mem, entity, &it->rec);
            continue;
        }
        it->kind = ITEM_INVALID;
        it->reason = arena_str(&j->mem, reason);
        it->at = row->origin;
        it->at.column = column;
        copy_origin(&j->mem, &it->at);
    }
}

/* Writes the waiting events. A full chunk goes in one INSERT OR IGNORE.
 * When it stored fewer rows than it was given (a re-read, a duplicate in
 * the input), every event of the chunk is then written alone, which tells
 * updated from unchanged: each row the INSERT stored comes out of that
 * pass as unchanged (it is the first of its key in the chunk, so what is
 * stored is itself), so `stored` of the unchanged are counted as inserted
 * instead. After two such chunks a job writes one by one: it is a re-read.
 *
 * No savepoint around the chunk: one would make SQLite copy every page the
 * INSERT touches into the statement journal first (16 KiB per chunk, most
 * of the writer's system time on a big load). A failed INSERT fails the
 * job, which rolls back its whole transaction. */
static gboolean flush_events(sync_run *run, kz_sync_counts *counts)
{
    guint n = run->n_chunk;
    run->n_chunk = 0;
    kz_sync_counts *c = &counts[KZ_ENTITY_USAGE_EVENT];
    gboolean ok = TRUE, done = FALSE;
    guint64 stored = 0;
    if (n == EVENT_CHUNK && run->chunk_fallbacks < 2) {
        for (guint i = 0; i < n; i++)
            bind_event(run, run->events_multi, (int)i * 9, &run->chunk[i]);
        int changes = step_write(run, run->events_multi);
        ok = changes >= 0;
        stored = ok ? (guint64)changes : 0;
        done = stored == n;
        if (ok && !done)
            run->chunk_fallbacks++;
    }
    kz_sync_counts alone = {0};
    for (guint i = 0; i < n; i++) {
        ready_event *r = &run->chunk[i];
        if (ok && !done) {
            alone.read++;
            switch (event_write(run, r)) {
            case OUT_INSERTED: alone.inserted++; break;
            case OUT_UPDATED: alone.updated++; break;
            case OUT_UNCHANGED: alone.unchanged++; break;
            default: ok = FALSE;
            }
        }
        g_clear_pointer(&r->traits, g_free);
    }
    if (!ok)
        return FALSE;
    if (done) {
        alone.read = alone.inserted = n;
    } else {
        guint64 fresh = MIN(stored, alone.unchanged); /* all of stored: see above */
        alone.unchanged -= fresh;
        alone.inserted += fresh;
    }
    c->read += alone.read;
    c->inserted += alone.inserted;
    c->updated += alone.updated;
    c->unchanged += alone.unchanged;
    return TRUE;
}

/* Validates an event and adds it to the chunk (quarantined if invalid). */
static gboolean buffer_event(sync_run *run, const kz_usage_event *e, kz_sync_counts *counts)
{
    ready_event *r = &run->chunk[run->n_chunk];
    memset(r, 0, sizeof *r);
    g_autofree char *reason = NULL;
    gboolean failed = FALSE;
    outcome out = event_prepare(run, e, r, &reason, &failed);
    if (out == OUT_FAILED)
        return FALSE;
    if (out == OUT_INVALID) {
        counts[KZ_ENTITY_USAGE_EVENT].read++;
        counts[KZ_ENTITY_USAGE_EVENT].quarantined++;
        return quarantine(run, KZ_ENTITY_USAGE_EVENT, &e->origin, reason);
    }
    /* stored in this transaction (or none is): its old entry goes now, in
     * order with any quarantine entry made after it for the same line */
    if (!unquarantine(run, KZ_ENTITY_USAGE_EVENT, &e->origin)) {
        g_clear_pointer(&r->traits, g_free);
        return FALSE;
    }
    run->n_chunk++;
    return run->n_chunk < EVENT_CHUNK || flush_events(run, counts);
}

/* Sets the store's journal mode; TRUE if it is now `mode`. */
static gboolean journal_mode(sync_run *run, const char *mode)
{
    g_autofree char *pragma = g_strdup_printf("PRAGMA journal_mode = %s", mode);
    sqlite3_stmt *st = NULL;
    gboolean done = FALSE;
    if (sqlite3_prepare_v2(run->db, pragma, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        done = g_ascii_strcasecmp((const char *)sqlite3_column_text(st, 0), mode) == 0;
    sqlite3_finalize(st);
    return done;
}

/* The rest of an initial load of events (the first batch is stored, the
 * events index is dropped, this process holds the bulk lock) goes faster
 * with a rollback journal than with the WAL: SQLite journals only the
 * pages that existed when a transaction began, so the new pages of the
 * load are written once, into the database, where the WAL would write
 * each of them twice (to the log, then to the database at a checkpoint).
 * Each batch is still one transaction; a process killed inside one leaves
 * a hot journal that the next opener rolls back, and kz_store_open() puts
 * the store back in WAL mode. If another connection has the store open,
 * SQLite refuses the switch and the load goes on in WAL mode. */
static void leave_wal_for_load(sync_run *run)
{
    run->rollback_journal = TRUE;     /* asked once */
    sqlite3_busy_timeout(run->db, 0); /* another connection open: refused at once */
    gboolean left = journal_mode(run, "truncate");
    sqlite3_busy_timeout(run->db, KZ_STORE_BUSY_MS);
    if (left) {
        /* NORMAL is safe against a power loss with a WAL, not quite with a
         * rollback journal: FULL syncs the journal's header too */
        exec(run, "PRAGMA synchronous = FULL");
        g_debug("sync %s: the rest of the initial load goes through a rollback journal", run->instance);
    } else
        journal_mode(run, "wal"); /* whatever the refusal left, WAL it is */
}

/* Stores one job in one transaction; FALSE (run->error set) on a store
 * failure, after a rollback. */
static gboolean write_job(sync_run *run, const job *j)
{
    kz_sync_counts counts[KZ_SYNC_ENTITIES] = {{0}};
    if (run->events_deferred && !run->rollback_journal)
        leave_wal_for_load(run);
    if (!exec(run, "BEGIN IMMEDIATE"))
        return FALSE;
    run->batch_records = j->batch_records;
    run->chunk_fallbacks = 0;
    gboolean ok = flush_rejects(run, j->rejects, counts);
    for (guint i = 0; ok && i < j->items->len; i++) {
        const item *it = &g_array_index(j->items, item, i);
        if (it->kind == ITEM_RECORD && it->entity == KZ_ENTITY_USAGE_EVENT) {
            ok = buffer_event(run, &it->rec.event, counts);
            continue;
        }
        if (it->kind == ITEM_ROW_READ) { /* another entity's entry: no need to write the events first */
            ok = unquarantine(run, KZ_ENTITY_ROW, &it->at);
            continue;
        }
        ok = flush_events(run, counts); /* in order with the rest */
        if (ok && it->kind == ITEM_RECORD) {
            ok = store_counted(run, it->entity, &it->rec, counts);
        } else if (ok) {
            counts[it->entity].read++;
            counts[it->entity].quarantined++;
            ok = quarantine(run, it->entity, &it->at, it->reason);
        }
    }
    if (ok)
        ok = flush_events(run, counts);
    for (guint i = 0; i < run->n_chunk; i++) /* after a failure */
        g_clear_pointer(&run->chunk[i].traits, g_free);
    run->n_chunk = 0;
    /* what the batch changed moves on, for the measures that read it */
    for (int e = KZ_ENTITY_ACCOUNT; ok && e < KZ_SYNC_ENTITIES; e++)
        if (e != KZ_ENTITY_ROW && counts[e].inserted + counts[e].updated > 0) {
            sqlite3_stmt *st = run->st[ST_GENERATION];
            sqlite3_bind_int(st, 1, e);
            ok = step_write(run, st) >= 0;
        }
    if (ok && j->cursor != NULL) {
        sqlite3_stmt *st = run->st[ST_CURSOR_SET];
        sqlite3_bind_text(st, 1, run->instance, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, j->cursor, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, run->now);
        ok = step_write(run, st) >= 0;
    }
    if (!ok || !exec(run, "COMMIT")) {
        exec(run, "ROLLBACK");
        g_hash_table_remove_all(run->accounts); /* some may have been rolled back */
        return FALSE;
    }
    /* committed: only now do the counts and the cursor count */
    kz_sync_report *report = run->report;
    for (guint e = 0; e < KZ_SYNC_ENTITIES; e++) {
        report->entity[e].read += counts[e].read;
        report->entity[e].inserted += counts[e].inserted;
        report->entity[e].updated += counts[e].updated;
        report->entity[e].unchanged += counts[e].unchanged;
        report->entity[e].quarantined += counts[e].quarantined;
    }
    if (!j->is_batch)
        return TRUE;
    report->batches++;
    if (j->cursor != NULL) {
        g_free(report->cursor);
        report->cursor = g_strdup(j->cursor);
    }
    return TRUE;
}

static gpointer writer_main(gpointer data)
{
    sync_run *run = data;
    for (;;) {
        job *j = g_async_queue_pop(run->jobs);
        if (j == (job *)run) /* the end */
            break;
        gboolean stored = FALSE;
        if (!g_atomic_int_get(&run->writer_failed)) {
            kz_store_lock(run->store);
            stored = write_job(run, j);
            if (!stored)
                g_atomic_int_set(&run->writer_failed, 1);
            kz_store_unlock(run->store);
        }
        gboolean batch = j->is_batch;
        job_free(j);
        g_mutex_lock(&run->flight_lock);
        run->in_flight--;
        g_cond_broadcast(&run->flight_cond);
        g_mutex_unlock(&run->flight_lock);
        /* outside the lock and the count: the callback may call anything */
        if (stored && batch && run->report->on_batch != NULL)
            run->report->on_batch(run->report, run->report->on_batch_data);
    }
    return NULL;
}

/* Waits until fewer than `limit` jobs are queued or being written. */
static void wait_in_flight(sync_run *run, guint limit)
{
    g_mutex_lock(&run->flight_lock);
    while (run->in_flight >= limit && run->in_flight > 0)
        g_cond_wait(&run->flight_cond, &run->flight_lock);
    g_mutex_unlock(&run->flight_lock);
}

static void submit(sync_run *run, job *j)
{
    wait_in_flight(run, JOBS_IN_FLIGHT);
    g_mutex_lock(&run->flight_lock);
    run->in_flight++;
    g_mutex_unlock(&run->flight_lock);
    g_async_queue_push(run->jobs, j);
}

/* Everything emitted so far is stored: TRUE, or FALSE when storing failed.
 * The store's plugin-state barrier, and the sink's flush(). */
static gboolean drain(gpointer data)
{
    sync_run *run = data;
    wait_in_flight(run, 1);
    return !g_atomic_int_get(&run->writer_failed);
}

static int sink_flush(const kz_sink *sink)
{
    return drain((gpointer)sink) ? KZ_OK : KZ_ERR_STOP;
}

/* Nothing more is taken once either side failed. */
static gboolean stopped(sync_run *run)
{
    return run->source_failed || g_atomic_int_get(&run->writer_failed);
}

/* ---- the sink (the reader's side) ------------------------------------------------- */

static int sink_fail(sync_run *run, int status, const char *fmt, ...)
{
    if (run->source_error == NULL) {
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_set_error(&run->source_error, KZ_ERROR, KZ_ERROR_PLUGIN, "instance '%s': %s", run->instance, msg);
    }
    run->source_failed = TRUE; /* the batches taken before are still stored */
    return status;
}

static int sink_emit(const kz_sink *sink, const kz_batch *batch)
{
    sync_run *run = (sync_run *)sink;
    if (stopped(run))
        return KZ_ERR_STOP;
    if (batch == NULL || batch->size < offsetof(kz_batch, cursor) + sizeof batch->cursor)
        return sink_fail(run, KZ_ERR_INVALID, "emitted a batch whose size is too small");
    guint entity = batch->entity;
    if (entity < KZ_ENTITY_ACCOUNT || entity >= KZ_SYNC_ENTITIES ||
        !(kz_instance_component(run->source)->vt.source.entities & KZ_ENTITY_MASK(entity)))
        return sink_fail(run, KZ_ERR_INVALID, "emitted entity %u, which it does not declare", entity);
    if (batch->count > 0 && (batch->records == NULL || batch->record_size < record_sizes[entity]))
        return sink_fail(run, KZ_ERR_INVALID, "emitted %s records of size %u (at least %zu)", kz_entity_name(entity),
                         batch->record_size, record_sizes[entity]);
    if (batch->cursor != NULL &&
        (strlen(batch->cursor) > MAX_CURSOR_BYTES || !g_utf8_validate(batch->cursor, -1, NULL)))
        return sink_fail(run, KZ_ERR_INVALID, "emitted a cursor that is over %d bytes or not UTF-8", MAX_CURSOR_BYTES);
    if (entity == KZ_ENTITY_ROW && (run->mapping == NULL || kz_mapping_count(run->mapping) == 0))
        return sink_fail(run, KZ_ERR_INVALID,
                         "emits rows, but the stack config gives no <map> saying which records they make");

    job *j = job_new(run, batch->cursor, batch->count);
    if (entity == KZ_ENTITY_ROW)
        kz_mapping_forget_layout(run->mapping);
    for (guint32 i = 0; i < batch->count; i++) {
        const void *src = (const char *)batch->records + (gsize)i * batch->record_size;
        gsize n = MIN((gsize)batch->record_size, record_sizes[entity]);
        if (entity == KZ_ENTITY_ROW) {
            kz_row row;
            memset(&row, 0, sizeof row);
            memcpy(&row, src, n);
            map_row(run, j, &row);
            continue;
        }
        item *it = job_add(j, ITEM_RECORD, entity);
        memcpy(&it->rec, src, n);
        copy_record(&j->mem, entity, &it->rec);
    }
    submit(run, j);
    if (run->emit_waits && !drain(run))
        return KZ_ERR_STOP;
    return KZ_OK;
}

static int sink_reject(const kz_sink *sink, const kz_reject *r)
{
    sync_run *run = (sync_run *)sink;
    if (stopped(run))
        return KZ_ERR_STOP;
    if (r == NULL || r->size < offsetof(kz_reject, origin) + sizeof r->origin)
        return sink_fail(run, KZ_ERR_INVALID, "rejected a record with a reject struct that is too small");
    pending_reject *p = g_new0(pending_reject, 1);
    p->entity = r->entity < KZ_SYNC_ENTITIES ? r->entity : 0;
    p->file = g_strdup(r->origin.file);
    p->raw = bounded_raw(r->origin.raw);
    p->reason = g_utf8_make_valid(r->reason != NULL ? r->reason : "rejected by the source", -1);
    p->line = r->origin.line;
    p->column = r->origin.column;
    g_ptr_array_add(run->rejects, p);
    return KZ_OK;
}

/* Runs the source's pull with the writer thread beside it; returns the
 * pull's status once everything it emitted is stored (or failed). */
static int pull_through_writer(sync_run *run, const kz_component_info *comp, const char *cursor)
{
    run->jobs = g_async_queue_new();
    g_mutex_init(&run->flight_lock);
    g_cond_init(&run->flight_cond);
    GThread *writer = g_thread_new("kizuna-sync", writer_main, run);
    kz_store_set_state_barrier(run->store, drain, run);
    kz_instance_begin_call(run->source);
    int rc = comp->vt.source.pull(kz_instance_self(run->source), cursor, &run->sink);
    /* rejects after the last batch are stored too, even after the pull failed */
    if (!stopped(run) && run->rejects->len > 0) {
        job *j = job_new(run, NULL, 0);
        j->is_batch = FALSE;
        submit(run, j);
    }
    g_async_queue_push(run->jobs, run); /* the end */
    g_thread_join(writer);
    kz_store_set_state_barrier(run->store, NULL, NULL);
    g_async_queue_unref(run->jobs);
    g_mutex_clear(&run->flight_lock);
    g_cond_clear(&run->flight_cond);
    return rc;
}

gboolean kz_sync_source(kz_store *store, kz_instance *source, kz_mapping *mapping, kz_sync_report *report,
                        GError **error)
{
    const kz_component_info *comp = kz_instance_component(source);
    g_return_val_if_fail(comp->kind == KZ_COMPONENT_SOURCE, FALSE);
    sync_run run = {
        .sink = {.size = sizeof(kz_sink),
                 .emit = sink_emit,
                 .reject = sink_reject,
                 .batch_hint = SYNC_BATCH_HINT,
                 .flush = sink_flush},
        .store = store,
        .db = kz_store_db(store),
        .source = source,
        .mapping = mapping,
        .instance = kz_instance_name(source),
        .report = report,
        .rejects = g_ptr_array_new_with_free_func((GDestroyNotify)pending_reject_free),
        .accounts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        .quarantined = TRUE,
        .emit_waits = comp->plugin->abi_minor < 1, /* 1.0: emit() returned once stored */
        .now = kz_host_now(),
    };
    gboolean ok = TRUE;
    for (int i = 0; i < ST_COUNT && ok; i++)
        if (sqlite3_prepare_v3(run.db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &run.st[i], NULL) != SQLITE_OK) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "store: preparing statement %d: %s", i,
                        sqlite3_errmsg(run.db));
            ok = FALSE;
        }
    if (ok) {
        GString *multi = g_string_new("INSERT OR IGNORE INTO usage_events (key, account_id, user_id, time_us, name, "
                                      "quantity, product, traits, source) VALUES ");
        for (int i = 0; i < EVENT_CHUNK; i++)
            g_string_append(multi, i == 0 ? "(?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?)");
        if (sqlite3_prepare_v3(run.db, multi->str, -1, SQLITE_PREPARE_PERSISTENT, &run.events_multi, NULL) !=
            SQLITE_OK) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE, "store: preparing the event insert: %s",
                        sqlite3_errmsg(run.db));
            ok = FALSE;
        }
        g_string_free(multi, TRUE);
    }
    g_autofree char *cursor = NULL;
    if (ok) {
        /* a bulk load wants its indexes in memory: a bounded page cache,
         * whatever the input's size */
        exec(&run, "PRAGMA cache_size = -" G_STRINGIFY(SYNC_CACHE_KIB));
        /* fewer, larger checkpoints: each copies a hot index page once,
         * not once per few batches */
        exec(&run, "PRAGMA wal_autocheckpoint = " G_STRINGIFY(SYNC_CHECKPOINT_PAGES));
        /* the sync checks every reference itself (check_account, with its
         * cache) before it writes; SQLite's own check would look each
         * account up a second time per event */
        exec(&run, "PRAGMA foreign_keys = OFF");
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(run.db, "SELECT EXISTS (SELECT 1 FROM quarantine WHERE instance = ?1)", -1, &q, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_text(q, 1, run.instance, -1, SQLITE_STATIC);
            if (sqlite3_step(q) == SQLITE_ROW)
                run.quarantined = sqlite3_column_int(q, 0) != 0;
        }
        sqlite3_finalize(q);
        sqlite3_bind_text(run.st[ST_CURSOR_GET], 1, run.instance, -1, SQLITE_STATIC);
        if (sqlite3_step(run.st[ST_CURSOR_GET]) == SQLITE_ROW)
            cursor = g_strdup((const char *)sqlite3_column_text(run.st[ST_CURSOR_GET], 0));
        sqlite3_reset(run.st[ST_CURSOR_GET]);
        g_debug("sync %s from cursor %s", run.instance, cursor != NULL ? cursor : "(start)");
        int rc = pull_through_writer(&run, comp, cursor);
        if (report->cursor == NULL && cursor != NULL) /* nothing new: the stored cursor still holds */
            report->cursor = g_strdup(cursor);
        if (run.error != NULL || run.source_error != NULL) {
            g_propagate_error(error,
                              run.error != NULL ? g_steal_pointer(&run.error) : g_steal_pointer(&run.source_error));
            ok = FALSE;
        } else if (rc != KZ_OK) {
            ok = kz_instance_fail(source, rc, "pull", error);
        }
    }
    if (run.events_deferred) { /* after a failure too: the index must not stay missing */
        GError *saved = g_steal_pointer(&run.error);
        /* sorting in small runs that stay in the CPU's caches, on two
         * threads, is faster than in a few big ones, and keeps memory flat */
        exec(&run, "PRAGMA threads = 2");
        exec(&run, "PRAGMA cache_size = -" G_STRINGIFY(SYNC_SORT_CACHE_KIB));
        gint64 t0 = g_get_monotonic_time();
        if (!exec(&run, KZ_STORE_EVENTS_INDEX_SQL) && ok) {
            g_propagate_error(error, g_steal_pointer(&run.error));
            ok = FALSE;
        }
        g_debug("sync %s: the usage events' index took %.2f s", run.instance, (g_get_monotonic_time() - t0) / 1e6);
        if (run.rollback_journal)
            exec(&run, "PRAGMA synchronous = NORMAL"); /* kz_store_open()'s */
        if (run.rollback_journal && !journal_mode(&run, "wal"))
            g_warning("store %s: cannot go back to WAL mode (%s); the next open will",
                      sqlite3_db_filename(run.db, "main"), sqlite3_errmsg(run.db));
        g_clear_error(&run.error);
        run.error = saved;
        kz_store_bulk_end(store);
    }
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(run.st[i]);
    sqlite3_finalize(run.events_multi);
    exec(&run, "PRAGMA foreign_keys = ON");
    exec(&run, "PRAGMA wal_autocheckpoint = 1000");
    exec(&run, "PRAGMA cache_size = -2000"); /* SQLite's defaults, for whatever the caller does next */
    exec(&run, "PRAGMA threads = 0");
    g_ptr_array_unref(run.rejects);
    g_hash_table_unref(run.accounts);
    g_clear_error(&run.error);
    g_clear_error(&run.source_error);
    return ok;
}
