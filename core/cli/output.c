/*
 * core/cli/output.c — option parsing and output helpers shared by the
 * commands. Everything printed passes through the log's secret masking.
 */
#include "cli.h"

#include "../instance.h"
#include "../log.h"
#include "../score/measures.h"
#include "../values.h"

#include <math.h>
#include <stdio.h>

gboolean kz_cli_parse(int *argc, char ***argv, const char *params, const char *summary, const GOptionEntry *entries)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(params);
    g_option_context_set_summary(ctx, summary);
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, argc, argv, &err)) {
        fprintf(stderr, "kizuna: %s\n", err->message);
        return FALSE;
    }
    return TRUE;
}

void kz_cli_print_json(JsonNode *root)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, root);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    g_autofree char *safe = kz_log_redact(text);
    fputs(safe, stdout);
    fputc('\n', stdout);
    json_node_unref(root);
}

void kz_cli_print(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *safe = kz_log_redact(text);
    fputs(safe, stdout);
}

/* One RFC 4180 field: quoted when it holds a comma, quote, CR, LF or
 * outer blanks; an absent value is an empty field, an empty string "". */
void kz_cli_csv_field(GString *line, const char *value)
{
    if (line->len > 0)
        g_string_append_c(line, ',');
    if (value == NULL)
        return;
    gsize n = strlen(value);
    if (n > 0 && strpbrk(value, ",\"\r\n") == NULL && value[0] != ' ' && value[n - 1] != ' ') {
        g_string_append(line, value);
        return;
    }
    g_string_append_c(line, '"');
    for (const char *c = value; *c != '\0'; c++) {
        if (*c == '"')
            g_string_append_c(line, '"');
        g_string_append_c(line, *c);
    }
    g_string_append_c(line, '"');
}

void kz_cli_csv_end_line(GString *line)
{
    g_string_append(line, "\r\n");
    kz_cli_print("%s", line->str);
    g_string_truncate(line, 0);
}

/* --as-of DATE: windows end when DATE begins (a time counts as its day). */
gboolean kz_cli_parse_as_of(const char *text, gint64 *as_of)
{
    if (text == NULL) {
        *as_of = kz_measures_default_as_of(kz_host_now());
        return TRUE;
    }
    gint64 t = 0;
    if (!kz_time_parse(text, &t)) {
        fprintf(stderr, "kizuna: --as-of '%s' is not a date (2026-01-31)\n", text);
        return FALSE;
    }
    *as_of = kz_measures_default_as_of(t) - KZ_DAY_US;
    if (*as_of > kz_measures_default_as_of(kz_host_now())) {
        fprintf(stderr, "kizuna: --as-of '%s' is after today: measures cannot see the future\n", text);
        return FALSE;
    }
    return TRUE;
}

void kz_cli_json_str(JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name(b, name);
    if (v != NULL)
        json_builder_add_string_value(b, v);
    else
        json_builder_add_null_value(b);
}

void kz_cli_json_int(JsonBuilder *b, const char *name, gint64 v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

void kz_cli_json_bool(JsonBuilder *b, const char *name, gboolean v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_boolean_value(b, v);
}

void kz_cli_json_double(JsonBuilder *b, const char *name, double v)
{
    json_builder_set_member_name(b, name);
    if (isfinite(v))
        json_builder_add_double_value(b, v);
    else
        json_builder_add_null_value(b);
}

void kz_cli_json_time(JsonBuilder *b, const char *name, gint64 us)
{
    g_autofree char *t = kz_time_format(us);
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, t);
}
