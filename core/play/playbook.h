/*
 * core/play/playbook.h — playbooks and the outbox (docs/playbooks.md).
 *
 * This part checks playbooks at config load; evaluating them and the
 * outbox's delivery come next (migration 5 already holds their tables).
 *
 * A playbook says who (a condition over the account), when (a trigger:
 * entering a phase, tier or grade, becoming overdue, a number of days
 * before a date, a score drop), how (a <channel> instance) and what (a
 * subject and body template). Evaluating the playbooks writes one touch
 * per account, trigger occurrence and recipient into the outbox, keyed so
 * that the same occurrence never makes a second touch; delivering walks
 * the outbox and hands each due touch to its channel, recording every
 * attempt. A touch is marked as being sent, committed, then delivered: a
 * crash in between sends it again with the same key, which a receiver
 * that honours the key drops, so nothing is lost and nothing is acted on
 * twice.
 */
#ifndef KZ_CORE_PLAYBOOK_H
#define KZ_CORE_PLAYBOOK_H

#include "config.h"
#include "registry.h"
#include "store/store.h"

#include <glib.h>

G_BEGIN_DECLS

/* The channel component that the host itself provides: tasks for the
 * owning CSM, written to the store in the delivery's transaction. */
#define KZ_TASK_CHANNEL "task"

/* Checks every playbook: its channel is a <channel>, its condition and
 * templates name fields that exist, its trigger's grade is a grade of the
 * health model. One "file:line: message" per problem. Needs no store. */
gboolean kz_playbooks_check(const kz_config *cfg, GPtrArray *errors);

G_END_DECLS

#endif
