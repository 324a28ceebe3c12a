/*
 * tests/test_channel_log.c — the bundled `log` channel, loaded from the
 * build's plugin directory like any plugin: touches become JSON lines,
 * a touch delivered twice (same idempotency key) is written once, also
 * across a restart, and a touch without a usable key fails permanently.
 */
#include "instance.h"
#include "params.h"
#include "registry.h"
#include "testutil.h"

#include <json-glib/json-glib.h>
#include <string.h>

static kz_instance *log_instance(const kz_registry *reg, const char *path)
{
    const kz_component_info *comp = kz_registry_find_component(reg, "log");
    g_assert_nonnull(comp);
    g_assert_cmpint(comp->kind, ==, KZ_COMPONENT_CHANNEL);
    g_assert_cmpuint(comp->vt.channel.tiers, ==, KZ_TIER_MASK_ALL);
    GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    kz_param_value *v = g_new0(kz_param_value, 1);
    g_assert_true(kz_param_parse(KZ_PARAM_STRING, path, v, NULL));
    g_hash_table_insert(params, g_strdup("path"), v);
    v = g_new0(kz_param_value, 1);
    g_assert_true(kz_param_parse(KZ_PARAM_BOOL, "true", v, NULL));
    g_hash_table_insert(params, g_strdup("fsync"), v);
    g_autoptr(GError) err = NULL;
    kz_instance *inst = kz_instance_create(comp, "audit", params, NULL, &err);
    g_assert_no_error(err);
    return inst;
}

static int deliver(kz_instance *inst, const char *key, const char *subject)
{
    const kz_recipient r = {sizeof r, 0, "c1", "Aiko", "aiko@example.jp", "admin"};

    const kz_touch t = {.size = sizeof t,
                        .attempt = 1,
                        .idempotency_key = key,
                        .playbook = "red-alert",
                        .trigger = "grade:red",
                        .account_id = "acct-1",
                        .account_name = "Acme",
                        .recipient = &r,
                        .subject = subject,
                        .body = "Line one\nLine \"two\" \\ tab\t",
                        .created = 1700000000000000LL,
                        .due = KZ_TIME_NONE};
    kz_delivery result = {sizeof result, 0, 0, ""};
    kz_instance_begin_call(inst);
    return kz_instance_component(inst)->vt.channel.deliver(kz_instance_self(inst), &t, &result);
}

static void test_log_channel_delivers_once(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    g_assert_cmpuint(kz_registry_scan_dir(reg, KZ_BUNDLED_PLUGIN_DIR, TRUE), >=, 1);
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *path = g_build_filename(dir, "touches.jsonl", NULL);

    kz_instance *inst = log_instance(reg, path);
    g_assert_cmpint(deliver(inst, "pb1:acct-1:1", "Ça va? 健康スコア"), ==, KZ_OK);
    g_assert_cmpint(deliver(inst, "pb1:acct-1:1", "again"), ==, KZ_OK); /* same key: acknowledged */
    g_assert_cmpint(deliver(inst, "pb1:acct-1:2", "second"), ==, KZ_OK);
    g_assert_cmpint(deliver(inst, NULL, "no key"), ==, KZ_ERR_PERMANENT);
    kz_instance_destroy(inst);

    /* a restarted channel still knows what it delivered */
    inst = log_instance(reg, path);
    g_assert_cmpint(deliver(inst, "pb1:acct-1:2", "after restart"), ==, KZ_OK);
    g_assert_cmpint(deliver(inst, "pb1:acct-1:3", "third"), ==, KZ_OK);
    kz_instance_destroy(inst);

    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 4); /* 3 lines + the empty rest */
    const char *want_keys[] = {"pb1:acct-1:1", "pb1:acct-1:2", "pb1:acct-1:3"};
    for (guint i = 0; i < 3; i++) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) err = NULL;
        g_assert_true(json_parser_load_from_data(parser, lines[i], -1, &err));
        JsonObject *o = json_node_get_object(json_parser_get_root(parser));
        g_assert_cmpstr(json_object_get_string_member(o, "key"), ==, want_keys[i]);
        g_assert_cmpstr(json_object_get_string_member(o, "account"), ==, "acct-1");
        g_assert_cmpstr(json_object_get_string_member(o, "body"), ==, "Line one\nLine \"two\" \\ tab\t");
        g_assert_cmpstr(json_object_get_string_member(o, "to"), ==, "aiko@example.jp");
    }
    g_assert_nonnull(strstr(lines[0], "Ça va? 健康スコア"));
    kz_test_rmtree(dir);
}

static void test_log_channel_unwritable_is_retryable(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    kz_registry_scan_dir(reg, KZ_BUNDLED_PLUGIN_DIR, TRUE);
    kz_instance *inst = log_instance(reg, "/nonexistent-dir/touches.jsonl");
    g_assert_cmpint(deliver(inst, "k1", "s"), ==, KZ_ERR_RETRY);
    g_autoptr(GError) err = NULL;
    kz_instance_fail(inst, KZ_ERR_RETRY, "deliver", &err);
    g_assert_nonnull(strstr(err->message, "cannot append to /nonexistent-dir/touches.jsonl"));
    kz_instance_destroy(inst);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/channel/log/delivers-once", test_log_channel_delivers_once);
    g_test_add_func("/channel/log/unwritable-is-retryable", test_log_channel_unwritable_is_retryable);
    return g_test_run();
}
