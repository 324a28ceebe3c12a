/*
 * kizuna/channel.h — the channel component: delivers one touch (an email,
 * a webhook call, a task for a CSM) to the outside world.
 *
 * The host writes every touch to its outbox before calling deliver(), and
 * calls deliver() again after a crash or a retryable failure. Every touch
 * carries an idempotency key that stays the same across those attempts; a
 * channel that passes it on (as a header, a message id) lets the receiver
 * drop duplicates, so a touch is acted on exactly once.
 *
 * One touch, one recipient: when a playbook addresses several contacts,
 * the host makes one touch per contact, each with its own rendered
 * subject and body and its own key, so a failure for one person never
 * makes the others receive the message twice. Channels that address no
 * person (a webhook, a log) get touches with no recipient.
 */
#ifndef KIZUNA_CHANNEL_H
#define KIZUNA_CHANNEL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Touch tiers, from DOMAIN.md: how personal the contact is. The set of
 * tiers is fixed for ABI major 1. */
enum kz_tier {
    KZ_TIER_NONE = 0,
    KZ_TIER_TECH = 1, /* automated, one-to-many: email campaigns, in-app */
    KZ_TIER_LOW = 2,  /* pooled CSMs, webinars, periodic check-ins */
    KZ_TIER_HIGH = 3  /* a dedicated CSM: tasks for a person */
};
#define KZ_TIER_MASK(t)  (1u << (t))
#define KZ_TIER_MASK_ALL (KZ_TIER_MASK(KZ_TIER_TECH) | KZ_TIER_MASK(KZ_TIER_LOW) | KZ_TIER_MASK(KZ_TIER_HIGH))

/* The person a touch is addressed to: a contact of the account in the
 * playbook's role, or the owning CSM. */
typedef struct kz_recipient {
    uint32_t size;      /* sizeof(kz_recipient) */
    uint32_t reserved_; /* 0 */
    const char *id;     /* contact or CSM id */
    const char *name;
    const char *email;
    const char *role; /* e.g. "admin", "champion", "csm" */
} kz_recipient;

/* One touch to deliver. Owned by the host, valid during deliver(). */
typedef struct kz_touch {
    uint32_t size;    /* sizeof(kz_touch) */
    uint32_t attempt; /* 1 on the first delivery attempt; an attempt cut short by a crash counts */
    /* Stable across attempts and crashes; unique per playbook, account,
     * trigger occurrence and recipient. At most 128 bytes of
     * [A-Za-z0-9._:-], so it fits any header, id or file name as is. */
    const char *idempotency_key;
    const char *playbook; /* the playbook that triggered it */
    const char *trigger;  /* what happened, e.g. "grade:red" */
    const char *account_id;
    const char *account_name;
    const char *owner_id;          /* owning CSM, or NULL */
    const kz_recipient *recipient; /* NULL when the channel addresses no person */
    const char *subject;           /* rendered for this recipient */
    const char *body;              /* rendered for this recipient, text/plain UTF-8 */
    /* The values the template saw, named "account.<field>",
     * "measure.<name>", "score.<scorer>", "contact.<field>",
     * "owner.<field>": a webhook sends them as they are. */
    const kz_trait *fields;
    uint32_t n_fields;
    uint32_t reserved_; /* 0 */
    kz_time created;    /* when the playbook fired */
    kz_time due;        /* for tasks: when it should be done; KZ_TIME_NONE = none */
} kz_touch;

/* What deliver() reports besides its status code. Owned by the host and
 * zeroed before the call; the channel fills what it knows. */
typedef struct kz_delivery {
    uint32_t size; /* sizeof(kz_delivery) as the host was built */
    uint32_t reserved_;
    int64_t retry_after_ms; /* with KZ_ERR_RETRY: the receiver's hint, 0 = the host's backoff */
    /* The receiver's id for the message (SMTP queue id, HTTP request id),
     * NUL-terminated; a longer id is cut to 127 bytes. May stay empty. */
    char receipt[128];
} kz_delivery;

/* The channel vtable. Required: size, tiers, create, destroy, deliver.
 *
 * deliver() returns:
 *   KZ_OK             the receiver accepted the touch (or had it already:
 *                     a duplicate key is success);
 *   KZ_ERR_RETRY      transient (timeout, HTTP 5xx, SMTP 4xx): retried
 *                     with backoff;
 *   KZ_ERR_PERMANENT  retrying cannot help (HTTP 4xx, address rejected):
 *                     dead-lettered;
 * and, with a message through set_error for either. KZ_ERR_INVALID is
 * treated as permanent; KZ_ERR, KZ_ERR_NOMEM and any code the host does
 * not know are treated as retryable. */
typedef struct kz_channel_vtable {
    uint32_t size;  /* sizeof(kz_channel_vtable) */
    uint32_t tiers; /* KZ_TIER_MASK() bits of the tiers this channel serves; not 0 */

    /* Creates an instance from its parameters; must not reach outside
     * systems or write anything (`kizuna check` creates every instance to
     * validate it). On failure, say why with set_error. */
    int (*create)(const kz_host *host, kz_ctx *ctx, void **self);
    void (*destroy)(void *self);
    int (*deliver)(void *self, const kz_touch *touch, kz_delivery *result);
} kz_channel_vtable;

#ifdef __cplusplus
}
#endif
#endif /* KIZUNA_CHANNEL_H */
