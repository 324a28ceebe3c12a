/*
 * core/cli/cmd_sync.c — `kizuna sync` (pull every source of the stack into
 * the store) and `kizuna quarantine` (what was rejected, where and why).
 */
#include "cli.h"

#include "../stack.h"
#include "../sync/sync.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

gboolean kz_cli_load_stack(kz_config **cfg, kz_registry **reg, kz_store **store)
{
    const char *path = kz_cli_config_path();
    if (path == NULL) {
        fprintf(stderr, "kizuna: no stack config: give --config FILE, set KIZUNA_CONFIG, or add ./kizuna.xml\n");
        return FALSE;
    }
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    *cfg = kz_config_load(path, errors);
    for (guint i = 0; i < errors->len; i++)
        fprintf(stderr, "%s\n", (char *)errors->pdata[i]);
    if (*cfg == NULL)
        return FALSE;
    *reg = kz_stack_registry(*cfg);
    g_autoptr(GError) err = NULL;
    *store = kz_stack_open_store(*cfg, &err);
    if (*store == NULL)
        fprintf(stderr, "kizuna: %s\n", err->message);
    return *store != NULL;
}

gboolean kz_cli_open_readonly(kz_config **cfg, sqlite3 **db)
{
    const char *path = kz_cli_config_path();
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    *db = NULL;
    *cfg = path != NULL ? kz_config_load(path, errors) : NULL;
    if (*cfg == NULL || (*cfg)->store_path == NULL)
        return TRUE; /* the account part already said why */
    g_autoptr(GError) err = NULL;
    *db = kz_store_open_readonly((*cfg)->store_path, &err);
    if (*db == NULL)
        fprintf(stderr, "kizuna: %s\n", err->message);
    return *db != NULL;
}

/* The progress line of a sync on a terminal: rewritten in place at most
 * five times a second, erased when the source is done. */
typedef struct {
    const char *name;
    gint64 started_us, shown_us;
    gboolean shown;
} progress;

static void show_progress(const kz_sync_report *r, gpointer data)
{
    progress *p = data;
    gint64 now = g_get_monotonic_time();
    if (now - p->shown_us < G_USEC_PER_SEC / 5)
        return;
    p->shown_us = now;
    p->shown = TRUE;
    guint64 read = 0, quarantined = 0;
    for (guint e = 0; e < KZ_SYNC_ENTITIES; e++) {
        read += r->entity[e].read;
        quarantined += r->entity[e].quarantined;
    }
    double secs = (double)(now - p->started_us) / G_USEC_PER_SEC;
    fprintf(stderr, "\r\033[K%s: %" G_GUINT64_FORMAT " records read, %" G_GUINT64_FORMAT " quarantined (%.0f/s)",
            p->name, read, quarantined, secs > 0 ? (double)read / secs : 0.0);
    fflush(stderr);
}

static void counts_json(JsonBuilder *b, const kz_sync_counts *c)
{
    const struct {
        const char *name;
        guint64 value;
    } fields[] = {{"read", c->read},
                  {"inserted", c->inserted},
                  {"updated", c->updated},
                  {"unchanged", c->unchanged},
                  {"quarantined", c->quarantined}};
    json_builder_begin_object(b);
    for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
        json_builder_set_member_name(b, fields[i].name);
        json_builder_add_int_value(b, (gint64)fields[i].value);
    }
    json_builder_end_object(b);
}

gboolean kz_cli_sync_one(const kz_config *cfg, const kz_registry *reg, kz_store *store, const void *config_instance,
                         gboolean quiet, void *sync_report)
{
    const kz_config_instance *ci = config_instance;
    kz_sync_report *report = sync_report;
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kz_mapping) mapping = kz_mapping_compile(cfg, ci, errors);
    kz_instance *inst = mapping != NULL ? kz_stack_create_instance(cfg, reg, ci, store, errors) : NULL;
    progress prog = {ci->name, g_get_monotonic_time(), g_get_monotonic_time(), FALSE};
    if (!quiet && isatty(STDERR_FILENO)) {
        report->on_batch = show_progress;
        report->on_batch_data = &prog;
    }
    g_autoptr(GError) serr = NULL;
    gboolean ok = inst != NULL && kz_sync_source(store, inst, mapping, report, &serr);
    report->on_batch = NULL;
    if (prog.shown)
        fputs("\r\033[K", stderr);
    kz_instance_destroy(inst);
    for (guint j = 0; j < errors->len; j++)
        fprintf(stderr, "%s\n", (char *)errors->pdata[j]);
    if (serr != NULL)
        fprintf(stderr, "kizuna: sync %s: %s\n", ci->name, serr->message);
    return ok;
}

int kz_cmd_sync(int argc, char **argv)
{
    gboolean json = FALSE;
    char *only = NULL;
    const GOptionEntry entries[] = {
        {"source", 's', 0, G_OPTION_ARG_STRING, &only, "Sync only this source instance", "NAME"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
        G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "sync", "Pull every source of the stack into the store.", entries))
        return KZ_EXIT_USAGE;
    g_autofree char *only_name = only;
    g_autoptr(kz_config) cfg = NULL;
    g_autoptr(kz_registry) reg = NULL;
    g_autoptr(kz_store) store = NULL;
    if (!kz_cli_load_stack(&cfg, &reg, &store))
        return KZ_EXIT_FAILED;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "sources");
    json_builder_begin_array(b);
    int exit_code = KZ_EXIT_OK;
    guint matched = 0;
    for (guint i = 0; i < cfg->instances->len; i++) {
        const kz_config_instance *ci = cfg->instances->pdata[i];
        if (ci->kind != KZ_COMPONENT_SOURCE || (only_name != NULL && strcmp(only_name, ci->name) != 0))
            continue;
        matched++;
        kz_sync_report report = {0};
        gboolean ok = kz_cli_sync_one(cfg, reg, store, ci, json, &report);
        if (!ok)
            exit_code = KZ_EXIT_FAILED;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, ci->name);
        json_builder_set_member_name(b, "ok");
        json_builder_add_boolean_value(b, ok);
        json_builder_set_member_name(b, "cursor");
        if (report.cursor != NULL)
            json_builder_add_string_value(b, report.cursor);
        else
            json_builder_add_null_value(b);
        json_builder_set_member_name(b, "entities");
        json_builder_begin_object(b);
        for (guint e = 0; e < KZ_SYNC_ENTITIES; e++) {
            const kz_sync_counts *c = &report.entity[e];
            if (c->read == 0)
                continue;
            json_builder_set_member_name(b, kz_entity_name(e));
            counts_json(b, c);
            if (!json)
                kz_cli_print("%-16s %-14s read %-9" G_GUINT64_FORMAT " inserted %-9" G_GUINT64_FORMAT
                             " updated %-9" G_GUINT64_FORMAT " unchanged %-9" G_GUINT64_FORMAT
                             " quarantined %" G_GUINT64_FORMAT "\n",
                             ci->name, kz_entity_name(e), c->read, c->inserted, c->updated, c->unchanged,
                             c->quarantined);
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
        if (!json && ok && report.batches == 0)
            kz_cli_print("%-16s nothing new\n", ci->name);
        kz_sync_report_clear(&report);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    if (only_name != NULL && matched == 0) {
        fprintf(stderr, "kizuna: the stack config has no source instance '%s'\n", only_name);
        return KZ_EXIT_FAILED;
    }
    if (json)
        kz_cli_print_json(json_builder_get_root(b));
    return exit_code;
}

int kz_cmd_quarantine(int argc, char **argv)
{
    gboolean json = FALSE;
    const GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL}, G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "quarantine", "List the input records that sync rejected, and why.", entries))
        return KZ_EXIT_USAGE;
    g_autoptr(kz_config) cfg = NULL;
    g_autoptr(kz_registry) reg = NULL;
    g_autoptr(kz_store) store = NULL;
    if (!kz_cli_load_stack(&cfg, &reg, &store))
        return KZ_EXIT_FAILED;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(kz_store_db(store),
                           "SELECT instance, entity, file, line, column_no, reason, raw FROM quarantine"
                           " ORDER BY instance, file, line, entity",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "kizuna: %s\n", sqlite3_errmsg(kz_store_db(store)));
        return KZ_EXIT_INTERNAL;
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    guint n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *instance = (const char *)sqlite3_column_text(st, 0);
        const char *entity = kz_entity_name((guint)sqlite3_column_int(st, 1));
        const char *file = (const char *)sqlite3_column_text(st, 2);
        gint64 line = sqlite3_column_int64(st, 3), column = sqlite3_column_int64(st, 4);
        const char *reason = (const char *)sqlite3_column_text(st, 5);
        const char *raw = (const char *)sqlite3_column_text(st, 6);
        n++;
        if (!json) {
            g_autofree char *where =
                column > 0 ? g_strdup_printf("%s:%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT, file, line, column)
                           : g_strdup_printf("%s:%" G_GINT64_FORMAT, file, line);
            kz_cli_print("%s: %s %s: %s\n", where, instance, entity, reason);
            continue;
        }
        json_builder_begin_object(b);
        const struct {
            const char *k, *v;
        } fields[] = {{"source", instance}, {"entity", entity}, {"file", file}, {"reason", reason}, {"raw", raw}};
        for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
            json_builder_set_member_name(b, fields[i].k);
            if (fields[i].v != NULL)
                json_builder_add_string_value(b, fields[i].v);
            else
                json_builder_add_null_value(b);
        }
        json_builder_set_member_name(b, "line");
        json_builder_add_int_value(b, line);
        json_builder_set_member_name(b, "column");
        json_builder_add_int_value(b, column);
        json_builder_end_object(b);
    }
    sqlite3_finalize(st);
    json_builder_end_array(b);
    if (json)
        kz_cli_print_json(json_builder_get_root(b));
    else
        kz_cli_print("%u record%s in quarantine\n", n, n == 1 ? "" : "s");
    return KZ_EXIT_OK;
}
