/*
 * core/params.h — parameter values: parsing text from the stack config
 * into the types of enum kz_param_type, with errors that say what was
 * expected. Used by the config checker and by the host services.
 */
#ifndef KZ_CORE_PARAMS_H
#define KZ_CORE_PARAMS_H

#include <glib.h>
#include <kizuna/common.h>

G_BEGIN_DECLS

/* A parsed parameter value. `text` is the value as written (or as read
 * from the environment), owned by the struct. */
typedef struct kz_param_value {
    int type; /* enum kz_param_type */
    char *text;
    union {
        gint64 i;   /* INT; DURATION in milliseconds */
        double d;   /* DOUBLE */
        gboolean b; /* BOOL */
    } u;
} kz_param_value;

/* Parses `text` as `type` into `out` (text copied; white space around a
 * number, flag or duration is ignored). On failure returns FALSE and sets
 * `error` to a message such as "expected an integer, got 'abc'". */
gboolean kz_param_parse(int type, const char *text, kz_param_value *out, GError **error);

void kz_param_value_clear(kz_param_value *v);
void kz_param_value_free(kz_param_value *v);

/* "string", "int", ... for messages and JSON. */
const char *kz_param_type_name(int type);

/* Parses a duration such as "1h30m" or "250ms" into milliseconds. */
gboolean kz_duration_parse(const char *text, gint64 *out_ms, GError **error);

G_END_DECLS

#endif
