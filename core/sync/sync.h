/*
 * core/sync/sync.h — the sync stage: pulls a source instance through the
 * source vtable and stores what it emits. Owns the entity tables of the
 * store (accounts, contacts, usage_events, tickets, subscriptions,
 * survey_answers), the quarantine and the source cursors.
 *
 * Each batch the source emits is validated record by record and stored in
 * one transaction together with the cursor it carries, so a sync killed at
 * any point resumes from the last committed batch without losing or
 * duplicating anything. A record that fails validation goes to the
 * quarantine with its origin and reason, never half into the tables.
 */
#ifndef KZ_CORE_SYNC_H
#define KZ_CORE_SYNC_H

#include "../instance.h"
#include "../store/store.h"
#include "mapping.h"

#include <glib.h>

G_BEGIN_DECLS

/* Per entity: read = inserted + updated + unchanged + quarantined, always. */
typedef struct kz_sync_counts {
    guint64 read, inserted, updated, unchanged, quarantined;
} kz_sync_counts;

/* Index 0: rejects whose entity the source did not know; 1..6 and 8 the
 * entities; 7 (KZ_ENTITY_ROW): rows the source could not read at all
 * (read = quarantined there: a row that is read becomes entities). */
#define KZ_SYNC_ENTITIES (KZ_ENTITY_CSM + 1)

typedef struct kz_sync_report kz_sync_report;
struct kz_sync_report {
    kz_sync_counts entity[KZ_SYNC_ENTITIES]; /* indexed by enum kz_entity */
    guint64 batches;
    char *cursor; /* the cursor stored at the end (also when nothing was new), or NULL */
    /* Set by the caller (may be NULL): called after each committed batch,
     * e.g. for a progress line, on the sync's writer thread (no lock held;
     * the report is not written meanwhile). */
    void (*on_batch)(const kz_sync_report *report, gpointer data);
    gpointer on_batch_data;
};

void kz_sync_report_clear(kz_sync_report *report);

/* Pulls `source` (an instance of a source component, created with
 * `store`) from its stored cursor and stores everything it emits. Rows
 * (KZ_ENTITY_ROW) become records through `mapping` (NULL when the
 * instance's config has no <map>: a source emitting rows then fails).
 * Returns FALSE with `error` set when the source or the store fails; the
 * batches committed before the failure stay stored, with their cursor. */
gboolean kz_sync_source(kz_store *store, kz_instance *source, kz_mapping *mapping, kz_sync_report *report,
                        GError **error);

/* "account", "contact", ... for enum kz_entity (index 0: "unknown"). */
const char *kz_entity_name(guint entity);

G_END_DECLS

#endif
