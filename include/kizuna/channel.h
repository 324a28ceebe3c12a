/*
 * kizuna/channel.h — the channel component: delivers one touch (an email,
 * a webhook call, a task for a CSM) to the outside world.
 *
 * The host writes every touch to its outbox before calling deliver(), and
 * calls deliver() again after a crash or a retryable failure. Every touch
 * carries an idempotency key that stays the same across those attempts; a
 * channel that passes it on (as a header, a message id) lets the receiver
 * drop duplicates, so a touch is acted on exactly once.
 */
#ifndef KIZUNA_CHANNEL_H
#define KIZUNA_CHANNEL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Touch tiers, from DOMAIN.md: how personal the channel is. */
enum kz_tier {
    KZ_TIER_NONE = 0,
    KZ_TIER_TECH = 1, /* automated, one-to-many: email campaigns, in-app */
    KZ_TIER_LOW = 2,  /* pooled CSMs, webinars, periodic check-ins */
    KZ_TIER_HIGH = 3  /* a dedicated CSM: tasks for a person */
};

/* A person the touch is addressed to (a contact of the account in the
 * playbook's role, or the owning CSM). */
typedef struct kz_recipient {
    uint32_t size; /* sizeof(kz_recipient) */
    uint32_t reserved_;
    const char *id; /* contact or CSM id */
    const char *name;
    const char *email;
    const char *role;
} kz_recipient;

/* One touch to deliver. Owned by the host, valid during deliver(). */
typedef struct kz_touch {
    uint32_t size;               /* sizeof(kz_touch) */
    uint32_t attempt;            /* 1 on the first delivery attempt */
    const char *idempotency_key; /* stable across attempts and crashes */
    const char *playbook;        /* the playbook that triggered it */
    const char *trigger;         /* what happened, e.g. "grade:red" */
    const char *account_id;
    const char *account_name;
    const char *owner_id; /* owning CSM, or NULL */
    const kz_recipient *const *recipients;
    uint32_t n_recipients;
    uint32_t reserved_;
    const char *subject;    /* rendered template */
    const char *body;       /* rendered template, text/plain UTF-8 */
    const kz_trait *fields; /* the values the template saw (account, measures, score) */
    uint32_t n_fields;
    uint32_t reserved2_;
    kz_time created; /* when the playbook fired */
    kz_time due;     /* for tasks: when it should be done; KZ_TIME_NONE = none */
} kz_touch;

/* What deliver() reports besides its status code. Owned by the host and
 * zeroed before the call; the channel fills what it knows. */
typedef struct kz_delivery {
    uint32_t size; /* sizeof(kz_delivery) as the host was built */
    uint32_t reserved_;
    int64_t retry_after_ms; /* with KZ_ERR_RETRY: the receiver's hint, 0 = host's backoff */
    char receipt[128];      /* the receiver's id for the message, NUL-terminated, may be empty */
} kz_delivery;

/* The channel vtable. Required: size, tier, create, destroy, deliver.
 * deliver() returns KZ_OK when the receiver accepted the touch,
 * KZ_ERR_RETRY for a transient failure (timeout, 5xx, 4xx SMTP reply),
 * KZ_ERR_PERMANENT when retrying cannot help (4xx HTTP, rejected address);
 * any message goes through set_error. */
typedef struct kz_channel_vtable {
    uint32_t size; /* sizeof(kz_channel_vtable) */
    uint32_t tier; /* enum kz_tier: the tier this channel serves */

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
