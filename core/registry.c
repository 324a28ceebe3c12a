/*
 * core/registry.c — see registry.h. Owns the list of accepted plugins, the
 * list of refusals, and the index of components by name. Duplicate plugin
 * ids and component names are resolved first come, first served, in search
 * order: the later file is refused and names the earlier one.
 */
#include "registry.h"

#include "loader.h"
#include "preflight.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct kz_registry {
    GPtrArray *plugins;     /* kz_plugin*, owned */
    GPtrArray *refusals;    /* kz_refusal*, owned */
    GHashTable *components; /* name -> kz_component_info* (borrowed from plugins) */
    GHashTable *plugin_ids; /* id -> kz_plugin* (borrowed) */
    GHashTable *seen_paths; /* canonical path -> TRUE: files and dirs already scanned */
};

static void refusal_free(kz_refusal *r)
{
    g_free(r->path);
    g_free(r->reason);
    g_free(r);
}

kz_registry *kz_registry_new(void)
{
    kz_registry *reg = g_new0(kz_registry, 1);
    reg->plugins = g_ptr_array_new_with_free_func((GDestroyNotify)kz_plugin_free);
    reg->refusals = g_ptr_array_new_with_free_func((GDestroyNotify)refusal_free);
    reg->components = g_hash_table_new(g_str_hash, g_str_equal);
    reg->plugin_ids = g_hash_table_new(g_str_hash, g_str_equal);
    reg->seen_paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return reg;
}

void kz_registry_free(kz_registry *reg)
{
    if (reg == NULL)
        return;
    g_hash_table_unref(reg->components);
    g_hash_table_unref(reg->plugin_ids);
    g_hash_table_unref(reg->seen_paths);
    g_ptr_array_unref(reg->plugins);
    g_ptr_array_unref(reg->refusals);
    g_free(reg);
}

const GPtrArray *kz_registry_plugins(const kz_registry *reg)
{
    return reg->plugins;
}

const GPtrArray *kz_registry_refusals(const kz_registry *reg)
{
    return reg->refusals;
}

const kz_component_info *kz_registry_find_component(const kz_registry *reg, const char *name)
{
    return name != NULL ? g_hash_table_lookup(reg->components, name) : NULL;
}

static const char *const kind_names[] = {NULL, "source", "scorer", "channel", "orgmodel"};

const char *kz_component_kind_name(int kind)
{
    return kind >= KZ_COMPONENT_SOURCE && kind <= KZ_COMPONENT_ORGMODEL ? kind_names[kind] : NULL;
}

int kz_component_kind_from_name(const char *name)
{
    for (int k = KZ_COMPONENT_SOURCE; k <= KZ_COMPONENT_ORGMODEL; k++)
        if (name != NULL && strcmp(kind_names[k], name) == 0)
            return k;
    return 0;
}

static void refuse(kz_registry *reg, const char *path, char *reason /* taken */)
{
    kz_refusal *r = g_new0(kz_refusal, 1);
    r->path = g_strdup(path);
    r->reason = reason;
    g_ptr_array_add(reg->refusals, r);
    g_info("plugin %s refused: %s", path, reason); /* commands print refusals themselves */
}

/* The canonical form of `path`, or a copy of it when it cannot be resolved. */
static char *canonical(const char *path)
{
    char buf[PATH_MAX];
    return realpath(path, buf) != NULL ? g_strdup(buf) : g_canonicalize_filename(path, NULL);
}

/* Loads `real` (canonical, not seen before) unless the preflight found
 * that loading it kills or hangs a process (`crash_reason`, taken). */
static kz_plugin *load_checked(kz_registry *reg, const char *real, char *crash_reason)
{
    g_hash_table_add(reg->seen_paths, g_strdup(real));
    if (crash_reason != NULL) {
        refuse(reg, real, crash_reason);
        return NULL;
    }
    char *reason = NULL;
    kz_plugin *plugin = kz_loader_load(real, &reason);
    if (plugin == NULL) {
        refuse(reg, real, reason);
        return NULL;
    }
    const kz_plugin *other = g_hash_table_lookup(reg->plugin_ids, plugin->id);
    if (other != NULL) {
        refuse(reg, real,
               g_strdup_printf("duplicate plugin id '%s' (already loaded from %s)", plugin->id, other->path));
        kz_plugin_free(plugin);
        return NULL;
    }
    for (guint i = 0; i < plugin->components->len; i++) {
        const kz_component_info *c = plugin->components->pdata[i];
        const kz_component_info *clash = g_hash_table_lookup(reg->components, c->name);
        if (clash != NULL) {
            refuse(reg, real,
                   g_strdup_printf("duplicate component name '%s' (already provided by plugin %s, %s)", c->name,
                                   clash->plugin->id, clash->plugin->path));
            kz_plugin_free(plugin);
            return NULL;
        }
    }
    g_ptr_array_add(reg->plugins, plugin);
    g_hash_table_insert(reg->plugin_ids, plugin->id, plugin);
    for (guint i = 0; i < plugin->components->len; i++) {
        kz_component_info *c = plugin->components->pdata[i];
        g_hash_table_insert(reg->components, c->name, c);
    }
    g_debug("plugin %s %s loaded from %s", plugin->id, plugin->version, plugin->path);
    return plugin;
}

/* Preflights `reals` (canonical paths) in a child, then loads each. */
static guint load_all(kz_registry *reg, GPtrArray *reals)
{
    g_autoptr(GPtrArray) crashes = kz_preflight_run((const char *const *)reals->pdata, reals->len);
    guint accepted = 0;
    for (guint i = 0; i < reals->len; i++)
        if (load_checked(reg, reals->pdata[i], g_steal_pointer(&crashes->pdata[i])) != NULL)
            accepted++;
    return accepted;
}

kz_plugin *kz_registry_load_file(kz_registry *reg, const char *path)
{
    g_autofree char *real = canonical(path);
    if (g_hash_table_contains(reg->seen_paths, real))
        return NULL; /* the same file through another directory entry */
    g_autoptr(GPtrArray) one = g_ptr_array_new();
    g_ptr_array_add(one, real);
    if (load_all(reg, one) == 0)
        return NULL;
    return g_ptr_array_index(reg->plugins, reg->plugins->len - 1);
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

guint kz_registry_scan_dir(kz_registry *reg, const char *dir, gboolean must_exist)
{
    g_autofree char *real = canonical(dir);
    if (g_hash_table_contains(reg->seen_paths, real))
        return 0;
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) d = g_dir_open(real, 0, &err);
    if (d == NULL) {
        if (must_exist || !g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            refuse(reg, real, g_strdup_printf("cannot read plugin directory: %s", err->message));
        return 0;
    }
    g_hash_table_add(reg->seen_paths, g_strdup(real));

    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL)
        if (g_str_has_suffix(name, "." G_MODULE_SUFFIX) || g_str_has_suffix(name, ".so"))
            g_ptr_array_add(names, g_build_filename(real, name, NULL));
    g_ptr_array_sort(names, compare_names);

    char *why = NULL;
    if (names->len > 0 && kz_loader_writable_by_others(real, &why)) {
        for (guint i = 0; i < names->len; i++)
            refuse(reg, names->pdata[i], g_strdup(why));
        g_free(why);
        return 0;
    }
    g_autoptr(GPtrArray) reals = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < names->len; i++) {
        char *file = canonical(names->pdata[i]);
        if (g_hash_table_contains(reg->seen_paths, file) ||
            g_ptr_array_find_with_equal_func(reals, file, g_str_equal, NULL))
            g_free(file); /* the same file through another directory entry */
        else
            g_ptr_array_add(reals, file);
    }
    return load_all(reg, reals);
}

const char *kz_registry_default_dir(void)
{
    static char *dir;
    static gsize done;
    if (g_once_init_enter(&done)) {
        g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
        g_autofree char *bindir = exe != NULL ? g_path_get_dirname(exe) : g_strdup(KZ_INSTALL_BINDIR);
        char *joined = g_build_filename(bindir, KZ_PLUGIN_RELDIR, NULL);
        dir = canonical(joined);
        g_free(joined);
        g_once_init_leave(&done, 1);
    }
    return dir;
}

void kz_registry_scan_search_path(kz_registry *reg, const char *const *config_dirs)
{
    for (guint i = 0; config_dirs != NULL && config_dirs[i] != NULL; i++)
        kz_registry_scan_dir(reg, config_dirs[i], TRUE);
    const char *env = g_getenv("KIZUNA_PLUGIN_PATH");
    if (env != NULL) {
        g_auto(GStrv) parts = g_strsplit(env, G_SEARCHPATH_SEPARATOR_S, -1);
        for (guint i = 0; parts[i] != NULL; i++)
            if (parts[i][0] != '\0')
                kz_registry_scan_dir(reg, parts[i], TRUE);
    }
    kz_registry_scan_dir(reg, kz_registry_default_dir(), FALSE);
}
