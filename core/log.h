/*
 * core/log.h — the host's log: one line per message on stderr, filtered by
 * level, with every registered secret masked before anything is written.
 * Core code logs through GLib (g_message, g_warning, g_debug...) under the
 * "kizuna" domain; plugins reach the same writer through kz_host.log.
 */
#ifndef KZ_CORE_LOG_H
#define KZ_CORE_LOG_H

#include <glib.h>

G_BEGIN_DECLS

/* Installs the writer. `level` is a kz_log_level (1 error .. 4 debug);
 * KIZUNA_LOG_LEVEL (error, warning, info, debug) overrides it. Idempotent. */
void kz_log_init(int level);

/* The level in force. */
int kz_log_level(void);

/* Registers a secret value: from now on it is replaced by "********"
 * wherever it would appear in a log line. Values shorter than 3 bytes are
 * ignored (masking them would garble unrelated text). */
void kz_log_add_secret(const char *value);

/* Returns a newly allocated copy of `text` with every registered secret
 * masked. Used by anything that prints text built from configuration. */
char *kz_log_redact(const char *text);

/* Writes one line for `instance` (may be NULL) at `level`. */
void kz_log_write(int level, const char *instance, const char *message);

G_END_DECLS

#endif
