/*
 * tests/test_sync.c — the sync stage with a generating source: counts add
 * up (read = inserted + updated + unchanged + quarantined), a re-sync of
 * unchanged input changes nothing, the cursor resumes where the last
 * committed batch ended, and every bad record lands in the quarantine
 * with its origin and reason, never in the tables.
 */
#include "instance.h"
#include "params.h"
#include "registry.h"
#include "store/store.h"
#include "sync/sync.h"
#include "testutil.h"

#include <sqlite3.h>
#include <string.h>

typedef struct {
    char *dir;
    kz_registry *reg;
    kz_store *store;
} fixture;

static void setup(fixture *f, gconstpointer data)
{
    (void)data;
    f->dir = kz_test_tmpdir();
    f->reg = kz_registry_new();
    g_autofree char *plugins = g_build_filename(KZ_TEST_PLUGIN_DIR, "source", NULL);
    g_assert_cmpuint(kz_registry_scan_dir(f->reg, plugins, TRUE), ==, 3); /* test-gen, test-ack, test-csm */
    g_autofree char *db = g_build_filename(f->dir, "kizuna.db", NULL);
    g_autoptr(GError) err = NULL;
    f->store = kz_store_open(db, &err);
    g_assert_no_error(err);
}

static void teardown(fixture *f, gconstpointer data)
{
    (void)data;
    g_autoptr(GError) err = NULL;
    g_assert_true(kz_store_integrity_check(f->store, &err)); /* after every test */
    kz_store_close(f->store);
    kz_registry_free(f->reg);
    kz_test_rmtree(f->dir);
    g_free(f->dir);
}

static kz_instance *gen(fixture *f, int accounts, int events, int batch, int bad)
{
    GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    const char *names[] = {"accounts", "events", "batch", "bad"};
    int values[] = {accounts, events, batch, bad};
    for (int i = 0; i < 4; i++) {
        kz_param_value *v = g_new0(kz_param_value, 1);
        g_autofree char *text = g_strdup_printf("%d", values[i]);
        g_assert_true(kz_param_parse(KZ_PARAM_INT, text, v, NULL));
        g_hash_table_insert(params, g_strdup(names[i]), v);
    }
    g_autoptr(GError) err = NULL;
    kz_instance *inst =
        kz_instance_create(kz_registry_find_component(f->reg, "test-gen"), "gen", params, f->store, &err);
    g_assert_no_error(err);
    return inst;
}

static gint64 count(fixture *f, const char *query)
{
    sqlite3_stmt *st = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(kz_store_db(f->store), query, -1, &st, NULL), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
    gint64 n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void assert_sums(const kz_sync_report *r)
{
    for (int e = 0; e < KZ_SYNC_ENTITIES; e++) {
        const kz_sync_counts *c = &r->entity[e];
        g_assert_cmpuint(c->read, ==, c->inserted + c->updated + c->unchanged + c->quarantined);
    }
}

static void sync_once(fixture *f, kz_instance *inst, kz_sync_report *r)
{
    g_autoptr(GError) err = NULL;
    memset(r, 0, sizeof *r);
    g_assert_true(kz_sync_source(f->store, inst, NULL, r, &err));
    g_assert_no_error(err);
    assert_sums(r);
}

static void test_sync_counts_and_resync(fixture *f, gconstpointer data)
{
    (void)data;
    kz_instance *inst = gen(f, 10, 3, 4, 0);
    kz_sync_report r;
    sync_once(f, inst, &r);
    g_assert_cmpuint(r.entity[KZ_ENTITY_ACCOUNT].inserted, ==, 10);
    g_assert_cmpuint(r.entity[KZ_ENTITY_USAGE_EVENT].inserted, ==, 30);
    g_assert_cmpstr(r.cursor, ==, "e:30");
    g_assert_cmpint(count(f, "SELECT count(*) FROM usage_events"), ==, 30);
    g_assert_cmpint(count(f, "SELECT sum(arr_minor) FROM accounts"), ==, 100000LL * 55);
    kz_sync_report_clear(&r);

    /* the cursor is at the end: nothing new is read */
    sync_once(f, inst, &r);
    g_assert_cmpuint(r.entity[KZ_ENTITY_ACCOUNT].read + r.entity[KZ_ENTITY_USAGE_EVENT].read, ==, 0);
    kz_sync_report_clear(&r);

    /* from the start again (cursor forgotten): everything is unchanged */
    sqlite3_exec(kz_store_db(f->store), "DELETE FROM source_cursors", NULL, NULL, NULL);
    sync_once(f, inst, &r);
    g_assert_cmpuint(r.entity[KZ_ENTITY_ACCOUNT].unchanged, ==, 10);
    g_assert_cmpuint(r.entity[KZ_ENTITY_USAGE_EVENT].unchanged, ==, 30);
    g_assert_cmpuint(r.entity[KZ_ENTITY_ACCOUNT].inserted + r.entity[KZ_ENTITY_ACCOUNT].updated, ==, 0);
    g_assert_cmpint(count(f, "SELECT count(*) FROM usage_events"), ==, 30);
    kz_sync_report_clear(&r);
    kz_instance_destroy(inst);

    /* more accounts later: the new ones are inserted, the stored ones untouched */
    sqlite3_exec(kz_store_db(f->store), "DELETE FROM source_cursors", NULL, NULL, NULL);
    inst = gen(f, 12, 0, 5, 0);
    sync_once(f, inst, &r);
    g_assert_cmpuint(r.entity[KZ_ENTITY_ACCOUNT].inserted, ==, 2);
    g_assert_cmpuint(r.entity[KZ_ENTITY_ACCOUNT].unchanged, ==, 10);
    kz_sync_report_clear(&r);
    kz_instance_destroy(inst);
}

static void test_sync_quarantines_bad_records(fixture *f, gconstpointer data)
{
    (void)data;
    kz_instance *inst = gen(f, 10, 2, 3, 5);
    kz_sync_report r;
    sync_once(f, inst, &r);
    /* accounts 4 and 9 have invalid UTF-8 names */
    g_assert_cmpuint(r.entity[KZ_ENTITY_ACCOUNT].inserted, ==, 8);
    g_assert_cmpuint(r.entity[KZ_ENTITY_ACCOUNT].quarantined, ==, 2);
    /* 20 events: 4 name an unknown account (i % 5 == 4); the source itself
     * rejected 4 more (i % 5 == 0), counted as read and quarantined; events
     * of the quarantined accounts 4 and 9 (8, 9, 18, 19) have no account */
    const kz_sync_counts *ev = &r.entity[KZ_ENTITY_USAGE_EVENT];
    g_assert_cmpuint(ev->read, ==, 24);
    g_assert_cmpuint(ev->quarantined, ==, 4 + 4 + 2);
    g_assert_cmpuint(ev->inserted, ==, 14);
    g_assert_cmpint(count(f, "SELECT count(*) FROM quarantine"), ==, 12);
    g_assert_cmpint(count(f, "SELECT count(*) FROM quarantine WHERE reason LIKE 'name is not valid UTF-8%'"), ==, 2);
    g_assert_cmpint(count(f, "SELECT count(*) FROM quarantine WHERE reason = 'unknown account ''no-such-2'''"), ==, 1);
    g_assert_cmpint(count(f, "SELECT count(*) FROM quarantine WHERE reason LIKE 'column 3: quantity%'"
                             " AND column_no = 3 AND raw = 'x,login,lots'"),
                    ==, 4);
    g_assert_cmpint(count(f, "SELECT count(*) FROM accounts WHERE id IN ('acct-4', 'acct-9')"), ==, 0);
    kz_sync_report_clear(&r);

    /* syncing the same bad input again replaces the entries, never adds */
    sqlite3_exec(kz_store_db(f->store), "DELETE FROM source_cursors", NULL, NULL, NULL);
    sync_once(f, inst, &r);
    g_assert_cmpint(count(f, "SELECT count(*) FROM quarantine"), ==, 12);
    kz_sync_report_clear(&r);
    kz_instance_destroy(inst);

    /* the input fixed: the rows are stored and leave the quarantine */
    sqlite3_exec(kz_store_db(f->store), "DELETE FROM source_cursors", NULL, NULL, NULL);
    inst = gen(f, 10, 2, 3, 0);
    sync_once(f, inst, &r);
    g_assert_cmpuint(r.entity[KZ_ENTITY_ACCOUNT].inserted, ==, 2);
    g_assert_cmpint(count(f, "SELECT count(*) FROM quarantine WHERE entity = 1"), ==, 0);
    g_assert_cmpint(count(f, "SELECT count(*) FROM accounts"), ==, 10);
    kz_sync_report_clear(&r);
    kz_instance_destroy(inst);
}

/* A 1.1 source may see emit() return before its batch is stored; after
 * flush(), or once a state write returns, everything it emitted is stored
 * (test-ack checks that through a connection of its own and fails the
 * pull otherwise). */
static void test_sync_flush_and_state(fixture *f, gconstpointer data)
{
    (void)data;
    GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    g_autofree char *db = g_build_filename(f->dir, "kizuna.db", NULL);
    kz_param_value *store = g_new0(kz_param_value, 1), *batches = g_new0(kz_param_value, 1);
    g_assert_true(kz_param_parse(KZ_PARAM_PATH, db, store, NULL));
    g_assert_true(kz_param_parse(KZ_PARAM_INT, "20", batches, NULL));
    g_hash_table_insert(params, g_strdup("store"), store);
    g_hash_table_insert(params, g_strdup("batches"), batches);
    g_autoptr(GError) err = NULL;
    kz_instance *inst =
        kz_instance_create(kz_registry_find_component(f->reg, "test-ack"), "ack", params, f->store, &err);
    g_assert_no_error(err);
    kz_sync_report r = {0};
    gboolean ok = kz_sync_source(f->store, inst, NULL, &r, &err);
    g_assert_no_error(err);
    g_assert_true(ok);
    g_assert_cmpuint(r.entity[KZ_ENTITY_ACCOUNT].inserted, ==, 10000);
    g_assert_cmpint(count(f, "SELECT count(*) FROM accounts"), ==, 10000);
    g_autofree char *acked = NULL;
    gsize len = 0;
    g_assert_cmpint(kz_store_state_get(f->store, "ack", "acked", &acked, &len, &err), ==, KZ_OK);
    g_assert_cmpstr(acked, ==, "10000");
    kz_sync_report_clear(&r);
    kz_instance_destroy(inst);
}

/* CSMs as typed records (ABI 1.2): stored with skills, traits and
 * capacities (above KZ_CSM_UNLIMITED reads as unlimited); a new CSM with
 * no status is active; the bad ones are quarantined with their reason; a
 * later record that only says "inactive" keeps everything else. */
static kz_instance *csm_source(fixture *f, gboolean leave)
{
    GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    kz_param_value *v = g_new0(kz_param_value, 1);
    g_assert_true(kz_param_parse(KZ_PARAM_BOOL, leave ? "true" : "false", v, NULL));
    g_hash_table_insert(params, g_strdup("leave"), v);
    g_autoptr(GError) err = NULL;
    kz_instance *inst =
        kz_instance_create(kz_registry_find_component(f->reg, "test-csm"), "hr", params, f->store, &err);
    g_assert_no_error(err);
    return inst;
}

static void test_sync_csm_records(fixture *f, gconstpointer data)
{
    (void)data;
    kz_instance *inst = csm_source(f, FALSE);
    kz_sync_report r;
    sync_once(f, inst, &r);
    const kz_sync_counts *c = &r.entity[KZ_ENTITY_CSM];
    g_assert_cmpuint(c->read, ==, 8);
    g_assert_cmpuint(c->inserted, ==, 4);
    g_assert_cmpuint(c->quarantined, ==, 4);
    g_assert_cmpint(count(f, "SELECT count(*) FROM csms WHERE id = 'ana' AND name = 'Ana Sato' AND email ="
                             " 'ana@example.com' AND team = 'adopt' AND region = 'apac' AND manager = 'mia'"
                             " AND skills = '[\"japanese\",\"healthcare\"]' AND capacity_high = 10"
                             " AND capacity_low = 40 AND capacity_tech = 4294967295 AND status = 1"
                             " AND json_extract(traits, '$.hired') = '2024-04-01' AND source = 'hr'"),
                    ==, 1);
    g_assert_cmpint(count(f, "SELECT count(*) FROM csms WHERE id = 'ben' AND status = 1 AND capacity_high IS NULL"), ==,
                    1);
    g_assert_cmpint(count(f, "SELECT status FROM csms WHERE id = 'cai'"), ==, KZ_CSM_INACTIVE);
    g_assert_cmpint(count(f, "SELECT count(*) FROM quarantine WHERE entity = 8 AND line = 6"
                             " AND reason = 'high-touch capacity is negative (-1)'"),
                    ==, 1);
    g_assert_cmpint(count(f, "SELECT count(*) FROM quarantine WHERE line = 7 AND reason = 'unknown CSM status 7'"), ==,
                    1);
    g_assert_cmpint(
        count(f, "SELECT count(*) FROM quarantine WHERE line = 8 AND reason = '3 skills announced but none given'"), ==,
        1);
    g_assert_cmpint(count(f, "SELECT count(*) FROM quarantine WHERE line = 9 AND reason = 'missing CSM id'"), ==, 1);
    kz_sync_report_clear(&r);

    /* the same records again: unchanged */
    sqlite3_exec(kz_store_db(f->store), "DELETE FROM source_cursors", NULL, NULL, NULL);
    sync_once(f, inst, &r);
    g_assert_cmpuint(r.entity[KZ_ENTITY_CSM].unchanged, ==, 4);
    kz_sync_report_clear(&r);
    kz_instance_destroy(inst);

    /* ana leaves: only her status changes */
    inst = csm_source(f, TRUE);
    sync_once(f, inst, &r);
    g_assert_cmpuint(r.entity[KZ_ENTITY_CSM].updated, ==, 1);
    g_assert_cmpint(count(f, "SELECT count(*) FROM csms WHERE id = 'ana' AND status = 2 AND team = 'adopt'"
                             " AND capacity_low = 40 AND name = 'Ana Sato'"),
                    ==, 1);
    kz_sync_report_clear(&r);
    kz_instance_destroy(inst);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/sync/flush-and-state-wait-for-the-store", fixture, NULL, setup, test_sync_flush_and_state, teardown);
    g_test_add("/sync/counts-and-resync", fixture, NULL, setup, test_sync_counts_and_resync, teardown);
    g_test_add("/sync/quarantines-bad-records", fixture, NULL, setup, test_sync_quarantines_bad_records, teardown);
    g_test_add("/sync/csm-records", fixture, NULL, setup, test_sync_csm_records, teardown);
    return g_test_run();
}
