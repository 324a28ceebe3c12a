/*
 * tests/test_config.c — the stack config: every kind of error carries the
 * file and the line where it is, and a valid file resolves to typed
 * parameters with defaults applied and secrets read from the environment.
 */
#include "config.h"
#include "params.h"
#include "registry.h"
#include "stack.h"
#include "testutil.h"

#include <string.h>

static kz_registry *good_registry(void)
{
    kz_registry *reg = kz_registry_new();
    g_autofree char *dir = g_build_filename(KZ_TEST_PLUGIN_DIR, "good", NULL);
    g_assert_cmpuint(kz_registry_scan_dir(reg, dir, TRUE), ==, 1);
    return reg;
}

/* Writes `text` to a config file, loads and checks it against the good
 * plugin, and returns the errors. */
static GPtrArray *errors_of(const char *text, char **path_out)
{
    g_autofree char *dir = kz_test_tmpdir();
    char *path = kz_test_write(dir, "stack.xml", text);
    GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kz_config) cfg = kz_config_load(path, errors);
    if (cfg != NULL) {
        g_autoptr(kz_registry) reg = good_registry();
        kz_config_check_instances(cfg, reg, errors);
    }
    for (guint i = 0; i < errors->len; i++)
        g_test_message("error: %s", (char *)errors->pdata[i]);
    kz_test_rmtree(dir); /* the errors keep the path as text only */
    *path_out = path;
    return errors;
}

/* Asserts an error "PATH:LINE: ...needle..." exists. */
static void assert_error_at(const GPtrArray *errors, const char *path, guint line, const char *needle)
{
    g_autofree char *prefix = g_strdup_printf("%s:%u: ", path, line);
    for (guint i = 0; i < errors->len; i++) {
        const char *e = errors->pdata[i];
        if (g_str_has_prefix(e, prefix) && strstr(e, needle) != NULL)
            return;
    }
    for (guint i = 0; i < errors->len; i++)
        g_printerr("  got: %s\n", (char *)errors->pdata[i]);
    g_error("no error '%s%s'", prefix, needle);
}

static void test_config_malformed_xml(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GPtrArray) errors = errors_of("<kizuna version=\"1\">\n"
                                            "  <store path=\"x.db\">\n"
                                            "</kizuna>\n",
                                            &path);
    g_assert_cmpuint(errors->len, >=, 1);
    assert_error_at(errors, path, 3, "mismatch");
}

static void test_config_schema_violation(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GPtrArray) errors = errors_of("<kizuna version=\"1\">\n"
                                            "  <store path=\"x.db\"/>\n"
                                            "  <scorers>\n"
                                            "    <scorer name=\"Bad Name\" component=\"test-score\"/>\n"
                                            "  </scorers>\n"
                                            "</kizuna>\n",
                                            &path);
    assert_error_at(errors, path, 4, "scorer");
}

static void test_config_unknown_element(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GPtrArray) errors = errors_of("<kizuna version=\"1\">\n"
                                            "\n"
                                            "  <stroe path=\"x.db\"/>\n"
                                            "</kizuna>\n",
                                            &path);
    assert_error_at(errors, path, 3, "stroe");
}

static const char *const instance_errors_xml =
    "<kizuna version=\"1\">\n"                                         /* 1 */
    "  <scorers>\n"                                                    /* 2 */
    "    <scorer name=\"health\" component=\"test-score\">\n"          /* 3 */
    "      <param name=\"label\">x</param>\n"                          /* 4 */
    "      <param name=\"limt\">5</param>\n"                           /* 5: unknown */
    "      <param name=\"limit\">five</param>\n"                       /* 6: wrong type */
    "      <param name=\"timeout\">30 parsecs</param>\n"               /* 7: wrong type */
    "      <param name=\"enabled\">maybe</param>\n"                    /* 8: wrong type */
    "    </scorer>\n"                                                  /* 9 */
    "    <scorer name=\"second\" component=\"test-score\"/>\n"         /* 10: missing label */
    "    <scorer name=\"third\" component=\"no-such-thing\"/>\n"       /* 11: unknown component */
    "    <scorer name=\"fourth\" component=\"test-score\">\n"          /* 12 */
    "      <param name=\"label\">x</param>\n"                          /* 13 */
    "      <param name=\"api_key\" env=\"KZ_TEST_UNSET_VARIABLE\"/>\n" /* 14: env unset */
    "    </scorer>\n"                                                  /* 15 */
    "    <scorer name=\"health\" component=\"test-score\"/>\n"         /* 16: duplicate name */
    "  </scorers>\n"                                                   /* 17 */
    "  <channels>\n"                                                   /* 18 */
    "    <channel name=\"wrongkind\" component=\"test-score\"/>\n"     /* 19: kind */
    "  </channels>\n"                                                  /* 20 */
    "</kizuna>\n";

static void test_config_duplicate_instance(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GPtrArray) errors = errors_of(instance_errors_xml, &path);
    /* duplicate names are found while reading the file, before the rest */
    assert_error_at(errors, path, 16, "instance name 'health' is already used at line 3");
}

static void test_config_parameter_errors(void)
{
    g_autofree char *dir = kz_test_tmpdir();
    /* the same instances without the duplicate, so checking goes on */
    g_autofree char *text = g_strdup(instance_errors_xml);
    char *dup = strstr(text, "    <scorer name=\"health\" component=\"test-score\"/>\n");
    memcpy(dup + 18, "other1", 6);
    g_autofree char *path = kz_test_write(dir, "stack.xml", text);
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kz_config) cfg = kz_config_load(path, errors);
    g_assert_nonnull(cfg);
    g_autoptr(kz_registry) reg = good_registry();
    g_unsetenv("KZ_TEST_UNSET_VARIABLE");
    g_assert_false(kz_config_check_instances(cfg, reg, errors));
    assert_error_at(errors, path, 5, "unknown parameter 'limt' for component 'test-score' (known: label, limit");
    assert_error_at(errors, path, 6, "parameter 'limit' (int): expected an integer, got 'five'");
    assert_error_at(errors, path, 7, "parameter 'timeout' (duration): expected a duration");
    assert_error_at(errors, path, 8, "parameter 'enabled' (bool): expected true/false");
    assert_error_at(errors, path, 10, "instance 'second': missing required parameter 'label'");
    assert_error_at(errors, path, 11, "unknown component 'no-such-thing'");
    assert_error_at(errors, path, 14, "environment variable KZ_TEST_UNSET_VARIABLE is not set");
    assert_error_at(errors, path, 16, "instance 'other1': missing required parameter 'label'");
    assert_error_at(errors, path, 19, "component 'test-score' is a scorer, not a channel");
    g_assert_cmpuint(errors->len, ==, 9);
    kz_test_rmtree(dir);
}

static void test_config_doctype_refused(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GPtrArray) errors = errors_of("<?xml version=\"1.0\"?>\n"
                                            "<!DOCTYPE kizuna [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
                                            "<kizuna version=\"1\"><store path=\"&x;\"/></kizuna>\n",
                                            &path);
    /* libxml2 itself refuses the external entity; the file is never read */
    g_assert_nonnull(kz_test_find(errors, "external entity"));
    g_assert_null(kz_test_find(errors, "root:"));

    g_autofree char *path2 = NULL;
    g_autoptr(GPtrArray) errors2 = errors_of("<?xml version=\"1.0\"?>\n"
                                             "<!DOCTYPE kizuna [<!ENTITY x \"plugins\">]>\n"
                                             "<kizuna version=\"1\"><plugins><dir>&x;</dir></plugins></kizuna>\n",
                                             &path2);
    assert_error_at(errors2, path2, 2, "a DOCTYPE is not allowed in a stack config");
}

/* A parameter given but wrong is reported once: an unset env= for a
 * required parameter is not also "missing"; white space around typed
 * values is fine; a relative path is resolved against the config. */
static void test_config_each_problem_once(void)
{
    g_autofree char *dir = kz_test_tmpdir();
    g_unsetenv("KZ_TEST_UNSET_LABEL");
    g_autofree char *path = kz_test_write(dir, "stack.xml",
                                          "<kizuna version=\"1\">\n"
                                          "  <scorers>\n"
                                          "    <scorer name=\"health\" component=\"test-score\">\n"
                                          "      <param name=\"label\" env=\"KZ_TEST_UNSET_LABEL\"/>\n"
                                          "      <param name=\"limit\"> 12 </param>\n"
                                          "      <param name=\"data_dir\">in/here</param>\n"
                                          "    </scorer>\n"
                                          "  </scorers>\n"
                                          "</kizuna>\n");
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kz_config) cfg = kz_config_load(path, errors);
    g_assert_nonnull(cfg);
    g_autoptr(kz_registry) reg = good_registry();
    g_assert_false(kz_config_check_instances(cfg, reg, errors));
    assert_error_at(errors, path, 4, "environment variable KZ_TEST_UNSET_LABEL is not set");
    g_assert_cmpuint(errors->len, ==, 1);

    g_setenv("KZ_TEST_UNSET_LABEL", "Health", TRUE);
    g_autoptr(GHashTable) values = kz_config_instance_params(cfg, cfg->instances->pdata[0], reg, NULL, errors);
    g_unsetenv("KZ_TEST_UNSET_LABEL");
    g_assert_nonnull(values);
    g_assert_cmpint(((kz_param_value *)g_hash_table_lookup(values, "limit"))->u.i, ==, 12);
    g_autofree char *real_dir = g_canonicalize_filename(dir, NULL);
    g_autofree char *want = g_build_filename(real_dir, "in/here", NULL);
    g_assert_cmpstr(((kz_param_value *)g_hash_table_lookup(values, "data_dir"))->text, ==, want);
    kz_test_rmtree(dir);
}

static void test_config_section_twice(void)
{
    g_autofree char *path = NULL;
    g_autoptr(GPtrArray) errors = errors_of("<kizuna version=\"1\">\n"
                                            "  <store path=\"a.db\"/>\n"
                                            "  <store path=\"b.db\"/>\n"
                                            "</kizuna>\n",
                                            &path);
    assert_error_at(errors, path, 3, "<store> is given twice (first at line 2)");
}

static void test_config_missing_file(void)
{
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    g_assert_null(kz_config_load("/nonexistent/stack.xml", errors));
    g_assert_cmpuint(errors->len, >=, 1);
    g_assert_true(g_str_has_prefix(errors->pdata[0], "/nonexistent/stack.xml:"));
}

static void test_config_valid_resolves(void)
{
    g_autofree char *dir = kz_test_tmpdir();
    g_setenv("KZ_TEST_SECRET", "s3cr3t-from-env", TRUE);
    g_autofree char *path = kz_test_write(dir, "stack.xml",
                                          "<kizuna version=\"1\">\n"
                                          "  <store path=\"data/kizuna.db\"/>\n"
                                          "  <plugins><dir>plugins</dir><dir>/opt/kz</dir></plugins>\n"
                                          "  <scorers>\n"
                                          "    <scorer name=\"health\" component=\"test-score\">\n"
                                          "      <param name=\"label\">Health</param>\n"
                                          "      <param name=\"timeout\">1h30m</param>\n"
                                          "      <param name=\"api_key\" env=\"KZ_TEST_SECRET\"/>\n"
                                          "    </scorer>\n"
                                          "  </scorers>\n"
                                          "</kizuna>\n");
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kz_config) cfg = kz_config_load(path, errors);
    g_assert_nonnull(cfg);
    g_autofree char *real_dir = g_canonicalize_filename(dir, NULL);
    g_autofree char *want_store = g_build_filename(real_dir, "data/kizuna.db", NULL);
    g_assert_cmpstr(cfg->store_path, ==, want_store);
    const char *const *dirs = kz_config_plugin_dirs(cfg);
    g_assert_true(g_str_has_suffix(dirs[0], "/plugins"));
    g_assert_cmpstr(dirs[1], ==, "/opt/kz");
    g_assert_null(dirs[2]);

    g_autoptr(kz_registry) reg = good_registry();
    g_assert_true(kz_config_check_instances(cfg, reg, errors));
    const kz_config_instance *inst = kz_config_find_instance(cfg, "health");
    g_assert_nonnull(inst);
    g_assert_cmpuint(inst->line, ==, 5);
    g_autoptr(GHashTable) values =
        kz_config_resolve_params(cfg, inst, kz_registry_find_component(reg, "test-score"), errors);
    g_assert_nonnull(values);
    g_assert_cmpstr(((kz_param_value *)g_hash_table_lookup(values, "label"))->text, ==, "Health");
    g_assert_cmpint(((kz_param_value *)g_hash_table_lookup(values, "timeout"))->u.i, ==, 5400000);
    g_assert_cmpint(((kz_param_value *)g_hash_table_lookup(values, "limit"))->u.i, ==, 10); /* default */
    g_assert_cmpfloat(((kz_param_value *)g_hash_table_lookup(values, "ratio"))->u.d, ==, 0.5);
    g_assert_true(((kz_param_value *)g_hash_table_lookup(values, "enabled"))->u.b);
    g_assert_cmpstr(((kz_param_value *)g_hash_table_lookup(values, "api_key"))->text, ==, "s3cr3t-from-env");
    /* a relative path default is made absolute against the config's directory */
    g_autofree char *want_data = g_build_filename(real_dir, "data", NULL);
    g_assert_cmpstr(((kz_param_value *)g_hash_table_lookup(values, "data_dir"))->text, ==, want_data);
    g_assert_cmpuint(errors->len, ==, 0);
    kz_test_rmtree(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/config/malformed-xml", test_config_malformed_xml);
    g_test_add_func("/config/schema-violation", test_config_schema_violation);
    g_test_add_func("/config/unknown-element", test_config_unknown_element);
    g_test_add_func("/config/duplicate-instance", test_config_duplicate_instance);
    g_test_add_func("/config/parameter-errors", test_config_parameter_errors);
    g_test_add_func("/config/doctype-refused", test_config_doctype_refused);
    g_test_add_func("/config/section-twice", test_config_section_twice);
    g_test_add_func("/config/each-problem-once", test_config_each_problem_once);
    g_test_add_func("/config/missing-file", test_config_missing_file);
    g_test_add_func("/config/valid-resolves", test_config_valid_resolves);
    return g_test_run();
}
