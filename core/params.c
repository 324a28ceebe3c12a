/*
 * core/params.c — see params.h.
 */
#include "params.h"

#include "errors.h"

#include <errno.h>
#include <math.h>
#include <string.h>

const char *kz_param_type_name(int type)
{
    switch (type) {
    case KZ_PARAM_STRING: return "string";
    case KZ_PARAM_INT: return "int";
    case KZ_PARAM_DOUBLE: return "double";
    case KZ_PARAM_BOOL: return "bool";
    case KZ_PARAM_DURATION: return "duration";
    case KZ_PARAM_SECRET: return "secret";
    case KZ_PARAM_PATH: return "path";
    default: return NULL;
    }
}

gboolean kz_duration_parse(const char *text, gint64 *out_ms, GError **error)
{
    static const struct {
        const char *unit;
        gint64 ms;
    } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"w", 604800000},
    };
    const char *p = text;
    gint64 total = 0;
    gboolean any = FALSE;
    while (*p != '\0') {
        if (!g_ascii_isdigit(*p))
            goto bad;
        char *end = NULL;
        errno = 0;
        guint64 n = g_ascii_strtoull(p, &end, 10);
        if (errno != 0)
            goto bad;
        p = end;
        gint64 scale = 0;
        for (gsize i = 0; i < G_N_ELEMENTS(units); i++) {
            gsize len = strlen(units[i].unit);
            /* "m" must not swallow the "m" of "ms" */
            if (strncmp(p, units[i].unit, len) == 0 && !(len == 1 && p[0] == 'm' && p[1] == 's')) {
                scale = units[i].ms;
                p += len;
                break;
            }
        }
        if (scale == 0 || n > (guint64)(G_MAXINT64 / scale) || total > G_MAXINT64 - (gint64)n * scale)
            goto bad;
        total += (gint64)n * scale;
        any = TRUE;
    }
    if (!any)
        goto bad;
    *out_ms = total;
    return TRUE;
bad:
    g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID,
                "expected a duration such as 250ms, 30s, 5m, 2h, 7d or 1h30m, got '%s'", text);
    return FALSE;
}

gboolean kz_param_parse(int type, const char *raw, kz_param_value *out, GError **error)
{
    memset(out, 0, sizeof *out);
    /* numbers, flags and durations may be written with white space around
     * them (XML indentation); strings, secrets and paths are taken as is */
    g_autofree char *trimmed = NULL;
    const char *text = raw;
    if (type != KZ_PARAM_STRING && type != KZ_PARAM_SECRET && type != KZ_PARAM_PATH)
        text = trimmed = g_strstrip(g_strdup(raw));
    out->type = type;
    char *end = NULL;
    switch (type) {
    case KZ_PARAM_STRING:
    case KZ_PARAM_SECRET:
    case KZ_PARAM_PATH: break;
    case KZ_PARAM_INT:
        errno = 0;
        out->u.i = g_ascii_strtoll(text, &end, 10);
        if (*text == '\0' || *end != '\0' || errno != 0) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "expected an integer, got '%s'", text);
            return FALSE;
        }
        break;
    case KZ_PARAM_DOUBLE:
        errno = 0;
        out->u.d = g_ascii_strtod(text, &end);
        if (*text == '\0' || *end != '\0' || errno != 0 || !isfinite(out->u.d)) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "expected a number, got '%s'", text);
            return FALSE;
        }
        break;
    case KZ_PARAM_BOOL:
        if (g_ascii_strcasecmp(text, "true") == 0 || g_ascii_strcasecmp(text, "yes") == 0 ||
            g_ascii_strcasecmp(text, "on") == 0 || strcmp(text, "1") == 0)
            out->u.b = TRUE;
        else if (g_ascii_strcasecmp(text, "false") == 0 || g_ascii_strcasecmp(text, "no") == 0 ||
                 g_ascii_strcasecmp(text, "off") == 0 || strcmp(text, "0") == 0)
            out->u.b = FALSE;
        else {
            g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "expected true/false, yes/no, on/off or 1/0, got '%s'",
                        text);
            return FALSE;
        }
        break;
    case KZ_PARAM_DURATION:
        if (!kz_duration_parse(text, &out->u.i, error))
            return FALSE;
        break;
    default: g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "unknown parameter type %d", type); return FALSE;
    }
    out->text = g_strdup(text);
    return TRUE;
}

void kz_param_value_clear(kz_param_value *v)
{
    if (v == NULL)
        return;
    if (v->text != NULL && v->type == KZ_PARAM_SECRET)
        memset(v->text, 0, strlen(v->text)); /* do not leave secrets in freed memory */
    g_clear_pointer(&v->text, g_free);
}

void kz_param_value_free(kz_param_value *v)
{
    kz_param_value_clear(v);
    g_free(v);
}
