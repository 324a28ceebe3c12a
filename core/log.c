/*
 * core/log.c — see log.h. The secret list is global and append-only: a
 * secret seen once stays masked for the life of the process.
 */
#include "log.h"

#include <kizuna/common.h>
#include <stdio.h>
#include <string.h>

static int log_level = KZ_LOG_WARNING;
static GPtrArray *secrets; /* char*, guarded by secrets_lock */
static GMutex secrets_lock;
static gsize initialised;

int kz_log_level(void)
{
    return log_level;
}

void kz_log_add_secret(const char *value)
{
    if (value == NULL || strlen(value) < 3)
        return;
    g_mutex_lock(&secrets_lock);
    if (secrets == NULL)
        secrets = g_ptr_array_new_with_free_func(g_free);
    gboolean known = FALSE;
    for (guint i = 0; i < secrets->len && !known; i++)
        known = strcmp(secrets->pdata[i], value) == 0;
    if (!known)
        g_ptr_array_add(secrets, g_strdup(value));
    g_mutex_unlock(&secrets_lock);
}

char *kz_log_redact(const char *text)
{
    if (text == NULL)
        return NULL;
    GString *out = g_string_new(text);
    g_mutex_lock(&secrets_lock);
    for (guint i = 0; secrets != NULL && i < secrets->len; i++)
        g_string_replace(out, secrets->pdata[i], "********", 0);
    g_mutex_unlock(&secrets_lock);
    return g_string_free(out, FALSE);
}

static const char *level_name(int level)
{
    switch (level) {
    case KZ_LOG_ERROR: return "error";
    case KZ_LOG_WARNING: return "warning";
    case KZ_LOG_INFO: return "info";
    default: return "debug";
    }
}

void kz_log_write(int level, const char *instance, const char *message)
{
    if (level > log_level)
        return;
    g_autofree char *safe = kz_log_redact(message);
    if (instance != NULL)
        fprintf(stderr, "kizuna: %s: [%s] %s\n", level_name(level), instance, safe);
    else
        fprintf(stderr, "kizuna: %s: %s\n", level_name(level), safe);
}

static GLogWriterOutput glib_writer(GLogLevelFlags flags, const GLogField *fields, gsize n_fields, gpointer user_data)
{
    (void)user_data;
    const char *message = NULL;
    for (gsize i = 0; i < n_fields; i++)
        if (strcmp(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
    int level = KZ_LOG_DEBUG;
    if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        level = KZ_LOG_ERROR;
    else if (flags & G_LOG_LEVEL_WARNING)
        level = KZ_LOG_WARNING;
    else if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
        level = KZ_LOG_INFO;
    kz_log_write(level, NULL, message != NULL ? message : "(no message)");
    return G_LOG_WRITER_HANDLED;
}

static int parse_level(const char *s, int fallback)
{
    if (s == NULL)
        return fallback;
    if (g_ascii_strcasecmp(s, "error") == 0)
        return KZ_LOG_ERROR;
    if (g_ascii_strcasecmp(s, "warning") == 0)
        return KZ_LOG_WARNING;
    if (g_ascii_strcasecmp(s, "info") == 0)
        return KZ_LOG_INFO;
    if (g_ascii_strcasecmp(s, "debug") == 0)
        return KZ_LOG_DEBUG;
    return fallback;
}

void kz_log_init(int level)
{
    log_level = parse_level(g_getenv("KIZUNA_LOG_LEVEL"), level);
    if (g_once_init_enter(&initialised)) {
        g_log_set_writer_func(glib_writer, NULL, NULL);
        g_once_init_leave(&initialised, 1);
    }
}
