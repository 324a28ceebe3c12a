/*
 * tests/test_loader.c — the loader and registry: every refusal reason,
 * each with its reason while a good plugin beside it still loads; files
 * and directories writable by others; compatibility across 1.x minors;
 * search order and duplicates across directories.
 */
#include "config.h"
#include "instance.h"
#include "registry.h"
#include "testutil.h"

#include <math.h>
#include <unistd.h>
#include <string.h>

static const char *plugin_dir(const char *sub)
{
    static char buf[4096];
    g_snprintf(buf, sizeof buf, "%s/%s", KZ_TEST_PLUGIN_DIR, sub);
    return buf;
}

/* Copies the good test plugin into `dir` as `name`; returns the new path. */
static char *copy_good_plugin(const char *dir, const char *name)
{
    g_autofree char *from = g_build_filename(plugin_dir("good"), "good.so", NULL);
    char *to = g_build_filename(dir, name, NULL);
    kz_test_copy(from, to);
    return to;
}

static const kz_refusal *refusal_for(const kz_registry *reg, const char *file)
{
    const GPtrArray *refused = kz_registry_refusals(reg);
    for (guint i = 0; i < refused->len; i++) {
        const kz_refusal *r = refused->pdata[i];
        if (g_str_has_suffix(r->path, file))
            return r;
    }
    return NULL;
}

static void assert_refused(const kz_registry *reg, const char *file, const char *reason)
{
    const kz_refusal *r = refusal_for(reg, file);
    if (r == NULL)
        g_error("%s was not refused", file);
    if (strstr(r->reason, reason) == NULL)
        g_error("%s refused for '%s', expected '%s'", file, r->reason, reason);
    g_assert_true(g_path_is_absolute(r->path));
}

/* One broken plugin per refusal reason, in one directory with a good one. */
static void test_loader_refuses_each_broken_plugin(void)
{
    g_autofree char *dir = kz_test_tmpdir();
    g_autoptr(GDir) d = g_dir_open(plugin_dir("refusals"), 0, NULL);
    g_assert_nonnull(d);
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL) {
        g_autofree char *from = g_build_filename(plugin_dir("refusals"), name, NULL);
        g_autofree char *to = g_build_filename(dir, name, NULL);
        kz_test_copy(from, to);
    }
    g_autofree char *junk = kz_test_write(dir, "not_elf.so", "this is text, not ELF\n");
    g_chmod(junk, 0644);

    g_autoptr(kz_registry) reg = kz_registry_new();
    guint accepted = kz_registry_scan_dir(reg, dir, TRUE);

    g_assert_cmpuint(accepted, ==, 1);
    const kz_plugin *good = g_ptr_array_index(kz_registry_plugins(reg), 0);
    g_assert_cmpstr(good->id, ==, "org.kizuna.test.good");
    g_assert_nonnull(kz_registry_find_component(reg, "test-score"));
    g_assert_nonnull(kz_registry_find_component(reg, "test-channel"));

    assert_refused(reg, "/not_elf.so", "not a loadable shared object");
    assert_refused(reg, "/no_entry.so", "no entry symbol 'kz_plugin_entry'");
    assert_refused(reg, "/abi_major2.so", "built for plugin ABI 2.0; this host speaks ABI 1.x");
    assert_refused(reg, "/small_descriptor.so", "descriptor size");
    assert_refused(reg, "/small_vtable.so", "scorer vtable size");
    assert_refused(reg, "/missing_field.so", "missing required descriptor field 'vendor'");
    assert_refused(reg, "/missing_callback.so", "required scorer callback 'score' is missing");
    assert_refused(reg, "/dup_id.so", "duplicate plugin id 'org.kizuna.test.good'");
    assert_refused(reg, "/dup_component.so", "duplicate component name 'test-score'");
    assert_refused(reg, "/unknown_kind.so", "unknown component kind 9");
    assert_refused(reg, "/undefined_symbol.so", "undefined symbol: kz_test_symbol_nobody_defines");
    assert_refused(reg, "/bad_param.so", "secret parameter 'token' must not have a default");
    assert_refused(reg, "/bad_flags.so", "parameter 'name' has unknown flags 0x20");
    assert_refused(reg, "/csm_too_early.so", "component 'early-csm': source declares unknown entities (mask 0x100)");
    g_assert_cmpuint(kz_registry_refusals(reg)->len, ==, 14);
    /* the refused plugins' components are not reachable */
    g_assert_null(kz_registry_find_component(reg, "dup-id-score"));
    g_assert_null(kz_registry_find_component(reg, "abi2-score"));
    kz_test_rmtree(dir);
}

static void test_loader_refuses_file_writable_by_others(void)
{
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *to = copy_good_plugin(dir, "good.so");
    g_assert_cmpint(g_chmod(to, 0666), ==, 0);
    g_autoptr(kz_registry) reg = kz_registry_new();
    g_assert_cmpuint(kz_registry_scan_dir(reg, dir, TRUE), ==, 0);
    assert_refused(reg, "/good.so", "is writable by others (mode 0666)");
    kz_test_rmtree(dir);
}

/* Code another user can rewrite is refused, and so is code below a
 * directory anyone may rename things in. */
static void test_loader_refuses_foreign_owner_and_open_ancestor(void)
{
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *to = copy_good_plugin(dir, "good.so");
    if (geteuid() == 0) {
        g_assert_cmpint(chown(to, 65534, 65534), ==, 0);
        g_autoptr(kz_registry) reg = kz_registry_new();
        g_assert_null(kz_registry_load_file(reg, to));
        assert_refused(reg, "/good.so", "belongs to uid 65534, neither root nor this process's user");
        g_assert_cmpint(chown(to, 0, 0), ==, 0);
    } else {
        g_test_message("not root: the foreign-owner case needs chown, skipped");
    }
    /* dir/inner/good.so with dir world-writable (no sticky bit) */
    g_autofree char *inner = g_build_filename(dir, "inner", NULL);
    g_assert_cmpint(g_mkdir(inner, 0755), ==, 0);
    g_autofree char *deep = copy_good_plugin(inner, "good.so");
    g_assert_cmpint(g_chmod(dir, 0777), ==, 0);
    g_autoptr(kz_registry) reg = kz_registry_new();
    g_assert_cmpuint(kz_registry_scan_dir(reg, inner, TRUE), ==, 0);
    assert_refused(reg, "/inner/good.so", "is writable by others without the sticky bit (mode 0777)");
    /* with the sticky bit (as /tmp has) the ancestor is safe */
    g_assert_cmpint(g_chmod(dir, 01777), ==, 0);
    g_autoptr(kz_registry) ok = kz_registry_new();
    g_assert_cmpuint(kz_registry_scan_dir(ok, inner, TRUE), ==, 1);
    g_chmod(dir, 0755);
    kz_test_rmtree(dir);
}

static void test_loader_refuses_directory_writable_by_others(void)
{
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *to = copy_good_plugin(dir, "good.so");
    g_assert_cmpint(g_chmod(dir, 0777), ==, 0);
    g_autoptr(kz_registry) reg = kz_registry_new();
    g_assert_cmpuint(kz_registry_scan_dir(reg, dir, TRUE), ==, 0);
    assert_refused(reg, "/good.so", "directory");
    assert_refused(reg, "/good.so", "is writable by others (mode 0777)");
    /* loading the file directly is refused for the same reason */
    g_autoptr(kz_registry) reg2 = kz_registry_new();
    g_assert_null(kz_registry_load_file(reg2, to));
    assert_refused(reg2, "/good.so", "writable by others");
    kz_test_rmtree(dir);
}

/* Scores one batch of three accounts through a component's vtable. */
static void score_three(const kz_component_info *comp)
{
    g_autoptr(GError) err = NULL;
    kz_instance *inst = kz_instance_create(comp, "compat", NULL, NULL, &err);
    g_assert_no_error(err);
    const kz_scorer_vtable *vt = &comp->vt.scorer;
    const double values[3] = {1, 2.5, NAN};
    const kz_column col = {sizeof col, KZ_COLUMN_DOUBLE, "logins", values, NULL, NULL, 0, 0};
    const kz_column *cols[] = {&col};
    const char *ids[] = {"a", "b", "c"};
    double scores[3], contrib[3], baseline[3] = {-1, -1, -1};
    kz_score_batch batch = {sizeof batch, 3, 1, 0, ids, cols, scores, contrib, baseline};
    g_assert_cmpint(vt->prepare(kz_instance_self(inst), 1, cols), ==, KZ_OK);
    g_assert_cmpint(vt->score(kz_instance_self(inst), &batch), ==, KZ_OK);
    g_assert_cmpfloat(scores[0], ==, 10.0);
    g_assert_cmpfloat(scores[1], ==, 25.0);
    g_assert_true(isnan(scores[2]));
    g_assert_cmpfloat(contrib[1], ==, 25.0);
    g_assert_cmpfloat(baseline[1] + contrib[1], ==, scores[1]); /* explanations add up */
    kz_instance_destroy(inst);
}

/* A plugin from an older 1.x: smaller descriptor and vtable load, and the
 * fields past their size are absent even though the bytes there hold
 * values. */
static void test_loader_accepts_older_minor(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    g_autofree char *path = g_build_filename(plugin_dir("compat"), "old_minor.so", NULL);
    const kz_plugin *p = kz_registry_load_file(reg, path);
    g_assert_nonnull(p);
    g_assert_cmpstr(p->id, ==, "org.kizuna.test.old");
    g_assert_null(p->url); /* past the declared size: never read */
    const kz_component_info *c = kz_registry_find_component(reg, "old-score");
    g_assert_nonnull(c);
    g_assert_cmpuint(c->vtable_size, ==, offsetof(kz_scorer_vtable, train));
    g_assert_null(c->vt.scorer.train); /* absent, not the plugin's trap */
    score_three(c);
}

/* A plugin from a newer 1.x: larger structs load, the tail is ignored. */
static void test_loader_accepts_newer_minor(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    g_autofree char *path = g_build_filename(plugin_dir("compat"), "new_minor.so", NULL);
    const kz_plugin *p = kz_registry_load_file(reg, path);
    g_assert_nonnull(p);
    g_assert_cmpuint(p->abi_major, ==, KZ_ABI_MAJOR);
    g_assert_cmpuint(p->abi_minor, ==, KZ_ABI_MINOR + 1);
    g_assert_cmpstr(p->url, ==, "https://example.org/new");
    const kz_component_info *c = kz_registry_find_component(reg, "new-score");
    g_assert_nonnull(c);
    g_assert_cmpuint(c->vtable_size, >, sizeof(kz_scorer_vtable));
    score_three(c);
    /* its component of a kind from the future is skipped, with a note */
    g_assert_null(kz_registry_find_component(reg, "future-thing"));
    g_assert_cmpuint(p->components->len, ==, 1);
    g_assert_cmpuint(p->notes->len, ==, 1);
    g_autofree char *note = g_strdup_printf("component 'future-thing' skipped: it needs plugin ABI %d.%d (unknown "
                                            "component kind 5); this host speaks %d.%d",
                                            KZ_ABI_MAJOR, KZ_ABI_MINOR + 1, KZ_ABI_MAJOR, KZ_ABI_MINOR);
    g_assert_nonnull(strstr(p->notes->pdata[0], note));
}

/* Config directories come before KIZUNA_PLUGIN_PATH; the same id found
 * again later is refused as a duplicate that names the first. */
static void test_loader_search_order(void)
{
    g_autofree char *first = kz_test_tmpdir();
    g_autofree char *second = kz_test_tmpdir();
    g_autofree char *in_first = copy_good_plugin(first, "good.so");
    g_autofree char *in_second = copy_good_plugin(second, "also_good.so");
    g_setenv("KIZUNA_PLUGIN_PATH", second, TRUE);
    const char *dirs[] = {first, first /* listed twice: scanned once */, NULL};
    g_autoptr(kz_registry) reg = kz_registry_new();
    kz_registry_scan_search_path(reg, dirs);
    g_unsetenv("KIZUNA_PLUGIN_PATH");
    g_assert_cmpuint(kz_registry_plugins(reg)->len, >=, 1);
    const kz_component_info *c = kz_registry_find_component(reg, "test-score");
    g_assert_nonnull(c);
    g_assert_true(g_str_has_prefix(c->plugin->path, first));
    assert_refused(reg, "/also_good.so", "duplicate plugin id 'org.kizuna.test.good' (already loaded from");
    kz_test_rmtree(first);
    kz_test_rmtree(second);
}

static void test_loader_missing_config_dir_is_refused(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    kz_registry_scan_dir(reg, "/nonexistent/kizuna/plugins", TRUE);
    assert_refused(reg, "/nonexistent/kizuna/plugins", "cannot read plugin directory");
    g_autoptr(kz_registry) quiet = kz_registry_new();
    kz_registry_scan_dir(quiet, "/nonexistent/kizuna/plugins", FALSE);
    g_assert_cmpuint(kz_registry_refusals(quiet)->len, ==, 0);
}

/* A file that crashes or hangs while loading is refused; the host lives
 * on and the good plugin beside it loads. The timeout leaves a crash
 * time to be reported as one even under AddressSanitizer on a busy
 * machine (its SEGV report, symbolized, took over 500 ms there). */
static void test_loader_survives_crash_and_hang(void)
{
    g_setenv("KIZUNA_PLUGIN_LOAD_TIMEOUT_MS", "3000", TRUE);
    g_autoptr(kz_registry) reg = kz_registry_new();
    guint accepted = kz_registry_scan_dir(reg, plugin_dir("crash"), TRUE);
    g_unsetenv("KIZUNA_PLUGIN_LOAD_TIMEOUT_MS");
    g_assert_cmpuint(accepted, ==, 1);
    g_assert_nonnull(kz_registry_find_component(reg, "test-score"));
    assert_refused(reg, "/crash_on_load.so", "crashed while loading: killed by signal");
    assert_refused(reg, "/hang_on_load.so", "did not finish loading within 3000 ms: killed");
    g_assert_cmpuint(kz_registry_refusals(reg)->len, ==, 2);
}

/* Two plugins that export the same symbol each call their own copy. */
static void test_loader_plugins_do_not_share_symbols(void)
{
    g_autoptr(kz_registry) reg = kz_registry_new();
    g_assert_cmpuint(kz_registry_scan_dir(reg, plugin_dir("bundled"), TRUE), ==, 2);
    for (int v = 1; v <= 2; v++) {
        g_autofree char *name = g_strdup_printf("bundled-%d", v);
        const kz_component_info *c = kz_registry_find_component(reg, name);
        g_assert_nonnull(c);
        g_autoptr(GError) err = NULL;
        kz_instance *inst = kz_instance_create(c, name, NULL, NULL, &err);
        g_assert_no_error(err);
        const double values[1] = {0};
        const kz_column col = {sizeof col, KZ_COLUMN_DOUBLE, "m", values, NULL, NULL, 0, 0};
        const kz_column *cols[] = {&col};
        const char *ids[] = {"a"};
        double score = 0;
        kz_score_batch batch = {sizeof batch, 1, 1, 0, ids, cols, &score, NULL, NULL};
        g_assert_cmpint(c->vt.scorer.score(kz_instance_self(inst), &batch), ==, KZ_OK);
        g_assert_cmpfloat(score, ==, v);
        kz_instance_destroy(inst);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/loader/refuses-each-broken-plugin", test_loader_refuses_each_broken_plugin);
    g_test_add_func("/loader/refuses-file-writable-by-others", test_loader_refuses_file_writable_by_others);
    g_test_add_func("/loader/refuses-directory-writable-by-others", test_loader_refuses_directory_writable_by_others);
    g_test_add_func("/loader/refuses-foreign-owner-and-open-ancestor",
                    test_loader_refuses_foreign_owner_and_open_ancestor);
    g_test_add_func("/loader/accepts-older-minor", test_loader_accepts_older_minor);
    g_test_add_func("/loader/accepts-newer-minor", test_loader_accepts_newer_minor);
    g_test_add_func("/loader/search-order", test_loader_search_order);
    g_test_add_func("/loader/survives-crash-and-hang", test_loader_survives_crash_and_hang);
    g_test_add_func("/loader/plugins-do-not-share-symbols", test_loader_plugins_do_not_share_symbols);
    g_test_add_func("/loader/missing-config-dir", test_loader_missing_config_dir_is_refused);
    return g_test_run();
}
