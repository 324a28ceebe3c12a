/*
 * tests/rowsink.h — for the tests of row sources (csv, xml): a kz_sink
 * that records the rows, rejects and cursors a source emits, and the
 * helpers to create a bundled source's instance and pull it.
 */
#ifndef KZ_TEST_ROWSINK_H
#define KZ_TEST_ROWSINK_H

#include "instance.h"
#include "params.h"
#include "registry.h"

#include <string.h>

/* ---- a sink that records ----------------------------------------------- */

typedef struct {
    char *name, *value;
    guint line, column;
    const char *name_ptr; /* as emitted, to compare identity only */
} rec_field;

typedef struct {
    GArray *fields; /* rec_field */
    char *file, *raw;
    guint line, column;
} rec_row;

typedef struct recorder recorder;
struct recorder {
    kz_sink sink;        /* first: the callbacks cast back */
    GPtrArray *rows;     /* rec_row*, when keep_rows */
    GPtrArray *cursors;  /* char*, one per accepted batch */
    GArray *batch_sizes; /* guint32 */
    GPtrArray *rejects;  /* char*: "LINE:COLUMN: reason | raw" */
    gboolean keep_rows;
    gboolean allow_absent; /* fields with a NULL value (recorded as NULL) */
    guint accept_batches;  /* emit returns KZ_ERR_STOP once this many were taken (0: never) */
    int fail_status;       /* with accept_batches: answer this instead of KZ_ERR_STOP */
    guint64 n_rows;
    void (*check)(recorder *rec, const kz_row *row); /* for rows not kept */
    void *check_data;
};

static inline void rec_row_free(rec_row *row)
{
    for (guint i = 0; i < row->fields->len; i++) {
        rec_field *f = &g_array_index(row->fields, rec_field, i);
        g_free(f->name);
        g_free(f->value);
    }
    g_array_unref(row->fields);
    g_free(row->file);
    g_free(row->raw);
    g_free(row);
}

static inline int rec_emit(const kz_sink *sink, const kz_batch *batch)
{
    recorder *rec = (recorder *)sink;
    if (rec->accept_batches > 0 && rec->batch_sizes->len >= rec->accept_batches)
        return rec->fail_status != KZ_OK ? rec->fail_status : KZ_ERR_STOP; /* not stored */
    g_assert_cmpuint(batch->size, ==, sizeof(kz_batch));
    g_assert_cmpuint(batch->entity, ==, KZ_ENTITY_ROW);
    g_assert_cmpuint(batch->record_size, ==, sizeof(kz_row));
    g_assert_nonnull(batch->cursor);
    g_assert_cmpuint(strlen(batch->cursor), <=, 4096);
    g_array_append_val(rec->batch_sizes, batch->count);
    g_ptr_array_add(rec->cursors, g_strdup(batch->cursor));
    for (guint32 i = 0; i < batch->count; i++) {
        const kz_row *row = (const kz_row *)((const char *)batch->records + (gsize)i * batch->record_size);
        g_assert_cmpuint(row->reserved_, ==, 0);
        g_assert_true(row->n_fields == 0 || row->fields != NULL);
        rec->n_rows++;
        if (rec->check != NULL)
            rec->check(rec, row);
        if (!rec->keep_rows)
            continue;
        rec_row *r = g_new0(rec_row, 1);
        r->fields = g_array_new(FALSE, TRUE, sizeof(rec_field));
        for (guint32 k = 0; k < row->n_fields; k++) {
            const kz_field *f = &row->fields[k];
            g_assert_nonnull(f->name);
            g_assert_true(f->value != NULL || rec->allow_absent);
            g_assert_true(f->value == NULL || g_utf8_validate(f->value, -1, NULL));
            rec_field copy = {g_strdup(f->name), g_strdup(f->value), f->line, f->column, f->name};
            g_array_append_val(r->fields, copy);
        }
        r->file = g_strdup(row->origin.file);
        r->raw = g_strdup(row->origin.raw);
        r->line = row->origin.line;
        r->column = row->origin.column;
        g_ptr_array_add(rec->rows, r);
    }
    return KZ_OK;
}

static inline int rec_reject(const kz_sink *sink, const kz_reject *reject)
{
    recorder *rec = (recorder *)sink;
    g_assert_cmpuint(reject->entity, ==, KZ_ENTITY_ROW);
    g_ptr_array_add(rec->rejects, g_strdup_printf("%u:%u: %s | %s", reject->origin.line, reject->origin.column,
                                                  reject->reason, reject->origin.raw ? reject->origin.raw : ""));
    return KZ_OK;
}

static inline recorder *recorder_new(guint32 batch_hint)
{
    recorder *rec = g_new0(recorder, 1);
    rec->sink = (kz_sink){sizeof(kz_sink), 0, rec_emit, rec_reject, batch_hint, 0, NULL};
    rec->rows = g_ptr_array_new_with_free_func((GDestroyNotify)rec_row_free);
    rec->cursors = g_ptr_array_new_with_free_func(g_free);
    rec->batch_sizes = g_array_new(FALSE, FALSE, sizeof(guint32));
    rec->rejects = g_ptr_array_new_with_free_func(g_free);
    rec->keep_rows = TRUE;
    return rec;
}

static inline void recorder_free(recorder *rec)
{
    g_ptr_array_unref(rec->rows);
    g_ptr_array_unref(rec->cursors);
    g_array_unref(rec->batch_sizes);
    g_ptr_array_unref(rec->rejects);
    g_free(rec);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(recorder, recorder_free)

static inline rec_row *row_at(recorder *rec, guint i)
{
    g_assert_cmpuint(i, <, rec->rows->len);
    return rec->rows->pdata[i];
}

static inline const rec_field *field(const rec_row *row, const char *name)
{
    for (guint i = 0; i < row->fields->len; i++) {
        const rec_field *f = &g_array_index(row->fields, rec_field, i);
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

static inline const char *value(const rec_row *row, const char *name)
{
    const rec_field *f = field(row, name);
    return f != NULL ? f->value : NULL;
}

/* "name=value|name=value..." in the order emitted. */
static inline char *dump(const rec_row *row)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < row->fields->len; i++) {
        const rec_field *f = &g_array_index(row->fields, rec_field, i);
        g_string_append_printf(s, "%s%s=%s", i ? "|" : "", f->name, f->value != NULL ? f->value : "(absent)");
    }
    return g_string_free(s, FALSE);
}

static inline const char *last_cursor(recorder *rec)
{
    g_assert_cmpuint(rec->cursors->len, >, 0);
    return rec->cursors->pdata[rec->cursors->len - 1];
}

static inline void put_param(GHashTable *params, int type, const char *name, const char *text)
{
    kz_param_value *v = g_new0(kz_param_value, 1);
    g_assert_true(kz_param_parse(type, text, v, NULL));
    g_hash_table_insert(params, g_strdup(name), v);
}

/* Pulls from `cursor` into `rec`; on failure *message (if given) holds the
 * host's error text, which includes the plugin's message. */
static inline int pull(kz_instance *inst, const char *cursor, recorder *rec, char **message)
{
    kz_instance_begin_call(inst);
    int rc = kz_instance_component(inst)->vt.source.pull(kz_instance_self(inst), cursor, &rec->sink);
    if (rc != KZ_OK && message != NULL) {
        g_autoptr(GError) err = NULL;
        kz_instance_fail(inst, rc, "pull", &err);
        *message = g_strdup(err->message);
    }
    return rc;
}

/* The process's peak resident memory (VmHWM), in KiB. */
static inline gint64 vm_hwm_kib(void)
{
    g_autofree char *status = NULL;
    g_assert_true(g_file_get_contents("/proc/self/status", &status, NULL, NULL));
    const char *p = strstr(status, "VmHWM:");
    g_assert_nonnull(p);
    return g_ascii_strtoll(p + 6, NULL, 10);
}

/* Loads the bundled plugin NAME.so from the build's plugin directory. */
static inline kz_registry *load_bundled(const char *name)
{
    kz_registry *reg = kz_registry_new();
    g_autofree char *file = g_strdup_printf("%s.so", name);
    g_autofree char *so = g_build_filename(KZ_BUNDLED_PLUGIN_DIR, file, NULL);
    g_assert_nonnull(kz_registry_load_file(reg, so));
    const kz_component_info *comp = kz_registry_find_component(reg, name);
    g_assert_nonnull(comp);
    g_assert_cmpint(comp->kind, ==, KZ_COMPONENT_SOURCE);
    g_assert_cmpuint(comp->vt.source.entities, ==, KZ_ENTITY_MASK(KZ_ENTITY_ROW));
    return reg;
}

#endif
