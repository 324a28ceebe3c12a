/*
 * core/preflight.h — loads plugin files in a child process before the
 * host loads them itself, so that a file whose constructor or entry
 * crashes or hangs is refused with a reason instead of taking the host
 * down (GStreamer's plugin scanner does the same).
 */
#ifndef KZ_CORE_PREFLIGHT_H
#define KZ_CORE_PREFLIGHT_H

#include <glib.h>

G_BEGIN_DECLS

/* Loads each of `paths` (n of them) in a forked child, one after another.
 * Returns an array of n reasons: NULL where the child survived loading
 * the file (whether or not it accepted it), or a newly allocated one-line
 * reason where loading killed the child or did not finish within the
 * timeout. After a crash, a new child goes on with the next file.
 *
 * KIZUNA_PLUGIN_LOAD_TIMEOUT_MS sets the per-file timeout (default
 * 10000); KIZUNA_PLUGIN_PREFLIGHT=0 turns the whole check off (for
 * debugging a plugin under gdb), and every file passes. */
GPtrArray *kz_preflight_run(const char *const *paths, guint n);

G_END_DECLS

#endif
