/*
 * core/registry.h — the plugin registry: finds plugin files in the search
 * directories, loads and checks each one (loader.c), and keeps the host's
 * own copy of every accepted plugin and component. Refused files are kept
 * too, each with its path and a one-line reason, so `kizuna plugins` and
 * `kizuna check` can show them. Plugins are never unloaded.
 */
#ifndef KZ_CORE_REGISTRY_H
#define KZ_CORE_REGISTRY_H

#include <glib.h>
#include <kizuna/plugin.h>

G_BEGIN_DECLS

/* A parameter spec as the host keeps it (copied out of the plugin). */
typedef struct kz_param_info {
    int type; /* enum kz_param_type */
    char *name;
    gboolean required;
    char *default_value; /* NULL = none */
    char *help;
} kz_param_info;

typedef struct kz_plugin kz_plugin;

/* One accepted component. The vtable is the host's copy: the bytes the
 * plugin's `size` covered, and zeros (absent callbacks) beyond. */
typedef struct kz_component_info {
    kz_plugin *plugin;
    int kind; /* enum kz_component_kind */
    char *name;
    char *summary;
    GPtrArray *params;   /* kz_param_info* */
    guint32 vtable_size; /* the size the plugin declared */
    union {
        kz_source_vtable source;
        kz_scorer_vtable scorer;
        kz_channel_vtable channel;
        kz_orgmodel_vtable orgmodel;
    } vt;
} kz_component_info;

/* One accepted plugin. */
struct kz_plugin {
    char *path; /* canonical path of the file */
    char *id, *name, *version, *vendor, *license, *summary, *url;
    guint abi_major, abi_minor;
    GPtrArray *components; /* kz_component_info* */
    GPtrArray *notes;      /* char*: components skipped because they need a newer minor */
    void *handle;          /* lt_dlhandle, kept open for the life of the process */
};

/* A file that was not loaded, and why. */
typedef struct kz_refusal {
    char *path;
    char *reason; /* one line */
} kz_refusal;

typedef struct kz_registry kz_registry;

kz_registry *kz_registry_new(void);
void kz_registry_free(kz_registry *reg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_registry, kz_registry_free)

/* Loads every plugin file (*.so) in `dir`, in name order. A missing
 * directory is not an error when `must_exist` is FALSE. A directory
 * writable by others refuses every plugin in it. Returns the number of
 * plugins accepted. */
guint kz_registry_scan_dir(kz_registry *reg, const char *dir, gboolean must_exist);

/* Loads one file. Returns the plugin, or NULL with the refusal recorded. */
kz_plugin *kz_registry_load_file(kz_registry *reg, const char *path);

/* The search order: `config_dirs` (may be NULL), then each entry of
 * KIZUNA_PLUGIN_PATH, then the installed default directory. Directories
 * that resolve to the same place are scanned once. */
void kz_registry_scan_search_path(kz_registry *reg, const char *const *config_dirs);

/* The installed default plugin directory (relative to the executable, so
 * the build tree and any install prefix both work). Owned by the callee. */
const char *kz_registry_default_dir(void);

const GPtrArray *kz_registry_plugins(const kz_registry *reg);  /* kz_plugin* */
const GPtrArray *kz_registry_refusals(const kz_registry *reg); /* kz_refusal* */

/* The component called `name`, or NULL. */
const kz_component_info *kz_registry_find_component(const kz_registry *reg, const char *name);

/* "source", "scorer", "channel", "orgmodel", or NULL. */
const char *kz_component_kind_name(int kind);
int kz_component_kind_from_name(const char *name);

G_END_DECLS

#endif
