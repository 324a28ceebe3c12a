/*
 * core/loader.h — opens one plugin file and checks what it declares.
 * The registry decides what to do with the result; the loader knows
 * nothing of other plugins (duplicates are the registry's business).
 */
#ifndef KZ_CORE_LOADER_H
#define KZ_CORE_LOADER_H

#include "registry.h"

G_BEGIN_DECLS

/* Opens `path` (RTLD_NOW, local scope), calls its entry and checks the
 * descriptor, every component and vtable and parameter table. Returns the
 * host's copy of the plugin, or NULL with a one-line reason in *reason
 * (newly allocated). The shared object stays loaded either way once it
 * was opened: code that ran is never unmapped. */
kz_plugin *kz_loader_load(const char *path, char **reason);

/* Whether `path` (a file or directory) is writable by users other than
 * its owner and group; sets *reason when it is. */
gboolean kz_loader_writable_by_others(const char *path, char **reason);

void kz_plugin_free(kz_plugin *plugin);

G_END_DECLS

#endif
