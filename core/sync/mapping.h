/*
 * core/sync/mapping.h — turns the untyped rows of a row source (csv, xml;
 * KZ_ENTITY_ROW) into typed records, as the <map> elements of the source's
 * instance in the stack config say: which input field fills which record
 * field or trait, with types, time formats, value maps, templates,
 * constants and defaults, starting from a preset where one is named.
 *
 * A mapping is compiled once per sync (config errors come out as
 * "file:line: message") and then converts rows: for each row, each map
 * yields one record or one reason why the row cannot become that record
 * (with the input column), which the sync stage quarantines.
 */
#ifndef KZ_CORE_SYNC_MAPPING_H
#define KZ_CORE_SYNC_MAPPING_H

#include "../config.h"

#include <glib.h>
#include <kizuna/source.h>

G_BEGIN_DECLS

typedef struct kz_mapping kz_mapping;

/* Compiles the <map> elements of `inst` (which may have none: the result
 * then has no maps). Returns NULL after appending one "file:line: message"
 * per problem to `errors`. */
kz_mapping *kz_mapping_compile(const kz_config *cfg, const kz_config_instance *inst, GPtrArray *errors);
void kz_mapping_free(kz_mapping *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_mapping, kz_mapping_free)

guint kz_mapping_count(const kz_mapping *m);
/* The entity (enum kz_entity) map `i` makes. */
guint kz_mapping_entity(const kz_mapping *m, guint i);

/* Forgets the layout of field names resolved last: name pointers are
 * compared from row to row, and a source's names may be freed (and their
 * addresses reused) once the batch they came in is handed over. Called at
 * the start of every batch. */
void kz_mapping_forget_layout(kz_mapping *m);

/* Starts a row: finds the mapped input fields in it (once per layout of
 * field names) and forgets the previous row's converted values. */
void kz_mapping_begin_row(kz_mapping *m, const kz_row *row);

/* FALSE when map i has a `when` condition that the row begun last does
 * not meet: the row makes no record of that map (and is not counted). */
gboolean kz_mapping_applies(const kz_mapping *m, guint i, const kz_row *row);

/* Fills `record` (a kz_account, kz_contact, ... of map i's entity, as
 * large as the host's struct) from the row begun last. Strings point
 * into the row or into the mapping, valid until the next begin_row.
 * Returns TRUE, or FALSE with *reason (newly allocated, one line naming
 * the input column) and *column (1-based, 0 when unknown) set. */
gboolean kz_mapping_convert(kz_mapping *m, guint i, const kz_row *row, void *record, char **reason, guint32 *column);

/* A text value longer than this is quarantined as over-long. */
#define KZ_MAX_FIELD_BYTES 4096

/* NULL when `value` is valid UTF-8 of at most KZ_MAX_FIELD_BYTES; else
 * why not, newly allocated ("is not valid UTF-8 (byte 3)"). */
char *kz_text_problem(const char *value);

/* Parses a time the way a <field format=...> does: format NULL or
 * "iso8601" (2026-01-31, 2026-01-31T09:30:00Z, ...+09:00, fractions),
 * "epoch", "epoch_ms", "epoch_us", or a strptime(3) pattern read as UTC.
 * Exposed for tests. */
gboolean kz_mapping_parse_time(const char *text, const char *format, gint64 *out_us);

G_END_DECLS

#endif
