/*
 * core/play/playbook.h — playbooks and the outbox (docs/playbooks.md).
 *
 * Checked at config load (playbook.c), evaluated into the outbox
 * (evaluate.c) and delivered from it (outbox.c).
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

/* What one evaluation of the playbooks did (or, dry, would do). */
typedef struct kz_play_summary {
    gint64 as_of_us;
    gint64 score_run;    /* the score run it read, 0 = none */
    guint matched;       /* account and occurrence pairs whose trigger and who= held */
    guint written;       /* new touches in the outbox */
    guint already;       /* occurrences already in the outbox (their touches were kept) */
    guint cooling;       /* occurrences left out: the playbook's cooldown for the account */
    guint nobody;        /* occurrences left out: no owner, or no contact in the roles */
    guint other_tier;    /* occurrences left out: the channel does not serve the account's tier */
    guint *per_playbook; /* new touches, by playbook in config order */
    guint n_playbooks;
} kz_play_summary;

void kz_play_summary_clear(kz_play_summary *s);

/* Evaluates every playbook as of `as_of_us` (the lifecycle's evaluation
 * the account states come from) in one transaction: account grades are
 * brought up to date, and every account whose trigger and who= hold gets
 * one touch per recipient, keyed by playbook, account, occurrence and
 * recipient, rendered and written as pending. `dry_run` rolls it all back
 * after counting. `reg` tells which tiers each channel serves. */
gboolean kz_playbooks_evaluate(kz_store *store, const kz_config *cfg, const kz_registry *reg, gint64 as_of_us,
                               gboolean dry_run, kz_play_summary *out, GError **error);

/* What one delivery pass did. */
typedef struct kz_deliver_summary {
    guint attempted;
    guint delivered;
    guint retrying;  /* failed, tried again later */
    guint dead;      /* dead-lettered in this pass */
    guint unstarted; /* left pending: their channel instance could not be created */
} kz_deliver_summary;

/* Delivers every touch that is due (pending, retry or cut short while
 * sending) at the host clock's now, highest priority first, one process
 * at a time (kz_store_deliver_lock). Attempts are committed as 'sending'
 * before the channel sees them, a batch of touches in one transaction, and
 * each outcome after its attempt in its own, so a kill at any point leaves
 * the touch to be tried again with the same key. The task channel writes
 * its task and the outcome in the batch's transaction. Channel errors are
 * not failures of the pass; a store error is. */
gboolean kz_outbox_deliver(kz_store *store, const kz_config *cfg, const kz_registry *reg, kz_deliver_summary *out,
                           GPtrArray *problems, GError **error);

/* Makes a dead or retrying touch due again now with its attempts reset
 * (`kizuna touches retry ID`). FALSE with an error when there is no such
 * touch or it was delivered. */
gboolean kz_outbox_retry(kz_store *store, gint64 id, GError **error);

G_END_DECLS

#endif
