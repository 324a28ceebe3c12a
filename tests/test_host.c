/*
 * tests/test_host.c — what a plugin gets from the host: typed parameters
 * (and refusals of the wrong type), persistent state in a real store,
 * the clock, secret masking; and the store's own rules (migrations, a
 * newer store refused, integrity). Also the parameter parsers.
 */
#include "config.h"
#include "errors.h"
#include "instance.h"
#include "log.h"
#include "params.h"
#include "registry.h"
#include "store/store.h"
#include "testutil.h"

#include <sqlite3.h>
#include <string.h>

static void test_params_parse(void)
{
    kz_param_value v;
    g_autoptr(GError) err = NULL;
    g_assert_true(kz_param_parse(KZ_PARAM_DURATION, "1h30m", &v, NULL));
    g_assert_cmpint(v.u.i, ==, 5400000);
    kz_param_value_clear(&v);
    g_assert_true(kz_param_parse(KZ_PARAM_DURATION, "250ms", &v, NULL));
    g_assert_cmpint(v.u.i, ==, 250);
    kz_param_value_clear(&v);
    g_assert_true(kz_param_parse(KZ_PARAM_DURATION, "7d", &v, NULL));
    g_assert_cmpint(v.u.i, ==, 7 * 86400000LL);
    kz_param_value_clear(&v);
    g_assert_false(kz_param_parse(KZ_PARAM_DURATION, "30", &v, &err)); /* a unit is required */
    g_assert_error(err, KZ_ERROR, KZ_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_false(kz_param_parse(KZ_PARAM_DURATION, "99999999999999999999d", &v, &err));
    g_clear_error(&err);
    g_assert_false(kz_param_parse(KZ_PARAM_INT, "12abc", &v, &err));
    g_clear_error(&err);
    g_assert_false(kz_param_parse(KZ_PARAM_INT, "99999999999999999999", &v, &err)); /* overflow */
    g_clear_error(&err);
    g_assert_true(kz_param_parse(KZ_PARAM_INT, " 5\n", &v, NULL)); /* XML indentation around a number */
    g_assert_cmpint(v.u.i, ==, 5);
    g_assert_cmpstr(v.text, ==, "5");
    kz_param_value_clear(&v);
    g_assert_false(kz_param_parse(KZ_PARAM_INT, "5 5", &v, &err));
    g_clear_error(&err);
    g_assert_true(kz_param_parse(KZ_PARAM_STRING, " kept ", &v, NULL)); /* strings are taken as is */
    g_assert_cmpstr(v.text, ==, " kept ");
    kz_param_value_clear(&v);
    g_assert_true(kz_param_parse(KZ_PARAM_INT, "-42", &v, NULL));
    g_assert_cmpint(v.u.i, ==, -42);
    kz_param_value_clear(&v);
    g_assert_false(kz_param_parse(KZ_PARAM_DOUBLE, "nan", &v, &err));
    g_clear_error(&err);
    g_assert_true(kz_param_parse(KZ_PARAM_DOUBLE, "1e-3", &v, NULL));
    g_assert_cmpfloat(v.u.d, ==, 1e-3);
    kz_param_value_clear(&v);
    for (const char *const *t = (const char *const[]){"true", "YES", "on", "1", NULL}; *t; t++) {
        g_assert_true(kz_param_parse(KZ_PARAM_BOOL, *t, &v, NULL));
        g_assert_true(v.u.b);
        kz_param_value_clear(&v);
    }
    g_assert_false(kz_param_parse(KZ_PARAM_BOOL, "maybe", &v, &err));
}

static const kz_component_info *good_component(kz_registry **reg_out)
{
    kz_registry *reg = kz_registry_new();
    g_autofree char *dir = g_build_filename(KZ_TEST_PLUGIN_DIR, "good", NULL);
    g_assert_cmpuint(kz_registry_scan_dir(reg, dir, TRUE), ==, 1);
    *reg_out = reg;
    return kz_registry_find_component(reg, "test-score");
}

static GHashTable *params_of(const char *const *kv)
{
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    for (; kv[0] != NULL; kv += 3) {
        kz_param_value *v = g_new0(kz_param_value, 1);
        g_assert_true(kz_param_parse(atoi(kv[1]), kv[2], v, NULL));
        g_hash_table_insert(t, g_strdup(kv[0]), v);
    }
    return t;
}

static void test_host_params_and_state(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = good_component(&reg);
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *db = g_build_filename(dir, "kizuna.db", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_store) store = kz_store_open(db, &err);
    g_assert_no_error(err);

    const char *kv[] = {"label", "1", "Health", "limit", "2", "7", "timeout", "5", "2m", NULL};
    kz_instance *inst = kz_instance_create(comp, "health", params_of(kv), store, &err);
    g_assert_no_error(err);
    const kz_host *host = kz_host_get();
    g_assert_cmpuint(host->size, ==, sizeof(kz_host));
    g_assert_cmpuint(host->abi_major, ==, KZ_ABI_MAJOR);

    const char *s = NULL;
    int64_t i = 0, ms = 0;
    double d = 0;
    int b = 0;
    g_assert_cmpint(host->param_string(inst, "label", &s), ==, KZ_OK);
    g_assert_cmpstr(s, ==, "Health");
    g_assert_cmpint(host->param_int(inst, "limit", &i), ==, KZ_OK);
    g_assert_cmpint(i, ==, 7);
    g_assert_cmpint(host->param_duration(inst, "timeout", &ms), ==, KZ_OK);
    g_assert_cmpint(ms, ==, 120000);
    /* declared but given no value and no default */
    g_assert_cmpint(host->param_string(inst, "api_key", &s), ==, KZ_ERR_NOT_FOUND);
    /* wrong type or unknown name: refused, not guessed */
    g_assert_cmpint(host->param_double(inst, "limit", &d), ==, KZ_ERR_INVALID);
    g_assert_cmpint(host->param_bool(inst, "nonexistent", &b), ==, KZ_ERR_INVALID);
    g_assert_cmpstr(host->instance_name(inst), ==, "health");

    /* state: round trip, overwrite, delete, and it persists in the store */
    void *data = NULL;
    size_t len = 0;
    g_assert_cmpint(host->state_get(inst, "model", &data, &len), ==, KZ_ERR_NOT_FOUND);
    g_assert_cmpint(host->state_set(inst, "model", "v1", 2), ==, KZ_OK);
    g_assert_cmpint(host->state_set(inst, "model", "weights-v2", 10), ==, KZ_OK);
    g_assert_cmpint(host->state_get(inst, "model", &data, &len), ==, KZ_OK);
    g_assert_cmpuint(len, ==, 10);
    g_assert_cmpstr(data, ==, "weights-v2");
    host->free_mem(data);
    /* keys and sizes outside the contract are refused, not stored */
    g_assert_cmpint(host->state_set(inst, "Bad Key", "x", 1), ==, KZ_ERR_INVALID);
    g_assert_cmpint(host->state_set(inst, "", "x", 1), ==, KZ_ERR_INVALID);
    g_autofree char *big = g_malloc0((1u << 20) + 1);
    g_assert_cmpint(host->state_set(inst, "big", big, (1u << 20) + 1), ==, KZ_ERR_INVALID);
    g_assert_cmpint(host->state_set(inst, "cursor", "42", 2), ==, KZ_OK);
    g_assert_cmpint(host->state_delete(inst, "cursor"), ==, KZ_OK);
    g_assert_cmpint(host->state_delete(inst, "cursor"), ==, KZ_ERR_NOT_FOUND);
    kz_instance_destroy(inst);
    kz_store_close(g_steal_pointer(&store));

    g_autoptr(kz_store) again = kz_store_open(db, &err);
    g_assert_no_error(err);
    g_autofree char *kept = NULL;
    gsize n = 0;
    g_assert_cmpint(kz_store_state_get(again, "health", "model", &kept, &n, &err), ==, KZ_OK);
    g_assert_cmpstr(kept, ==, "weights-v2");
    g_assert_true(kz_store_integrity_check(again, &err));
    kz_test_rmtree(dir);
}

static void test_host_clock_and_errors(void)
{
    g_autoptr(kz_registry) reg = NULL;
    const kz_component_info *comp = good_component(&reg);
    g_autoptr(GError) err = NULL;
    /* create() refuses a negative limit with its own message */
    const char *kv[] = {"label", "1", "x", "limit", "2", "-1", NULL};
    g_assert_null(kz_instance_create(comp, "neg", params_of(kv), NULL, &err));
    g_assert_error(err, KZ_ERROR, KZ_ERROR_PLUGIN);
    g_assert_nonnull(strstr(err->message, "instance 'neg' (component test-score of org.kizuna.test.good): create: "
                                          "limit must not be negative, got -1"));
    g_clear_error(&err);

    const char *ok[] = {"label", "1", "x", NULL};
    kz_instance *inst = kz_instance_create(comp, "clock", params_of(ok), NULL, &err);
    g_assert_no_error(err);
    kz_host_set_clock(1700000000000000LL);
    g_assert_cmpint(kz_host_get()->now(inst), ==, 1700000000000000LL);
    kz_host_set_clock(0);
    g_assert_cmpint(kz_host_get()->now(inst), >, 1700000000000000LL);
    /* without a store, state is unsupported (as during `kizuna check`) */
    void *data = NULL;
    size_t len = 0;
    g_assert_cmpint(kz_host_get()->state_get(inst, "k", &data, &len), ==, KZ_ERR_UNSUPPORTED);
    kz_instance_destroy(inst);
}

static void test_log_masks_secrets(void)
{
    kz_log_add_secret("hunter2-secret");
    kz_log_add_secret("ab"); /* too short to mask safely: ignored */
    g_autofree char *masked = kz_log_redact("token=hunter2-secret; again hunter2-secret; ab");
    g_assert_cmpstr(masked, ==, "token=********; again ********; ab");
}

static void test_store_refuses_newer_schema(void)
{
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *db = g_build_filename(dir, "kizuna.db", NULL);
    g_autoptr(GError) err = NULL;
    kz_store *store = kz_store_open(db, &err);
    g_assert_no_error(err);
    g_assert_cmpint(kz_store_schema_version(store), ==, kz_store_schema_latest());
    /* as if a newer Kizuna had migrated it further */
    g_assert_cmpint(sqlite3_exec(kz_store_db(store), "PRAGMA user_version = 999", NULL, NULL, NULL), ==, SQLITE_OK);
    kz_store_close(store);
    g_assert_null(kz_store_open(db, &err));
    g_assert_error(err, KZ_ERROR, KZ_ERROR_VERSION);
    g_assert_nonnull(strstr(err->message, "schema version 999, written by a newer Kizuna"));
    g_clear_error(&err);
    /* a file that is not a database */
    g_autofree char *junk = kz_test_write(dir, "junk.db", "this is not a database, it is only some text......");
    g_assert_null(kz_store_open(junk, &err));
    g_assert_error(err, KZ_ERROR, KZ_ERROR_STORE);
    kz_test_rmtree(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    kz_log_init(1);
    g_test_add_func("/params/parse", test_params_parse);
    g_test_add_func("/host/params-and-state", test_host_params_and_state);
    g_test_add_func("/host/clock-and-errors", test_host_clock_and_errors);
    g_test_add_func("/log/masks-secrets", test_log_masks_secrets);
    g_test_add_func("/store/refuses-newer-schema", test_store_refuses_newer_schema);
    return g_test_run();
}
