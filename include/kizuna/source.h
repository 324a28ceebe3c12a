/*
 * kizuna/source.h — the source component: brings customer data (CRM,
 * helpdesk, product usage, billing, surveys) into the store.
 *
 * Flow: the host creates an instance, then calls pull() with the cursor it
 * stored after the last batch of the previous run (NULL on the first run).
 * The source reads from where the cursor points and hands records to the
 * host's sink in batches; each batch carries the cursor that is true once
 * the batch is stored. The host commits a batch and its cursor in one
 * transaction, so a run killed at any point resumes from the last committed
 * batch without losing or duplicating records.
 */
#ifndef KIZUNA_SOURCE_H
#define KIZUNA_SOURCE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kinds of record a source can emit; one kind per batch. */
enum kz_entity {
    KZ_ENTITY_ACCOUNT = 1,
    KZ_ENTITY_CONTACT = 2,
    KZ_ENTITY_USAGE_EVENT = 3,
    KZ_ENTITY_TICKET = 4,
    KZ_ENTITY_SUBSCRIPTION = 5,
    KZ_ENTITY_SURVEY_ANSWER = 6,
    /* Since 1.1: an untyped row of named text fields (kz_row), for sources
     * that read files or feeds whose layout only the company knows (CSV,
     * XML, JSON exports). The host turns each row into records of the
     * entities named by the instance's <map> elements in the stack config,
     * with the types, date formats and value maps given there, and
     * quarantines what does not convert. A source emitting rows declares
     * KZ_ENTITY_MASK(KZ_ENTITY_ROW) and never needs to know the mapping. */
    KZ_ENTITY_ROW = 7,
    /* Since 1.2: a customer success manager (kz_csm), the people the
     * organization model assigns accounts to. */
    KZ_ENTITY_CSM = 8
};
#define KZ_ENTITY_MASK(e) (1u << (e))

/* Where a record came from, for quarantine messages: "file:line:column".
 * Every field may be NULL/0 when the source has no such notion. A frozen
 * struct (records embed it): it never grows. */
typedef struct kz_origin {
    const char *file; /* path or URL of the input */
    const char *raw;  /* the input text of the record; the host keeps a bounded copy */
    uint32_t line;    /* 1-based line (or record number) where the record starts; 0 = unknown */
    uint32_t column;  /* 1-based column (CSV field, XML column) of the problem; 0 = unknown */
} kz_origin;

/* How the host stores records (all entities):
 *  - Upsert by natural key: the record's id; for usage events and survey
 *    answers without an id, a hash of every field the source gave (account,
 *    user, time to the microsecond, name, quantity, traits / account,
 *    contact, time, kind, score, comment), so two identical events are one.
 *  - Absent means "not supplied": NULL strings, KZ_INT_NONE numbers,
 *    KZ_TIME_NONE times and NaN doubles leave the stored value as it is,
 *    so several sources can fill one account (the CRM its name and owner,
 *    billing its ARR). Traits merge by name.
 *  - Every reserved_ field must be 0; a record the host cannot take (bad
 *    key, unknown enum value, invalid UTF-8, over-long field, unknown
 *    account) is quarantined with its origin, never stored half.
 * Arrays inside records (traits, tags) are frozen structs: they never grow.
 * Fields are arranged so that no record has trailing padding on any
 * target (tests/abi_layout.c). */

/* An account: one customer company. Money is integer minor units (cents)
 * with an ISO 4217 currency; absent numbers are KZ_INT_NONE, absent times
 * KZ_TIME_NONE, absent strings NULL. */
typedef struct kz_account {
    const char *id; /* natural key in the company's systems; required */
    const char *name;
    const char *region;  /* e.g. "emea", "hokkaido" */
    const char *segment; /* e.g. "enterprise", "smb" */
    const char *plan;
    int64_t arr_minor;    /* annual recurring revenue in minor units */
    const char *currency; /* ISO 4217, e.g. "EUR" */
    kz_time contract_start;
    kz_time renewal_date;
    const char *owner;      /* CSM id the CRM names as owner, if any */
    const kz_trait *traits; /* company-specific fields */
    uint32_t n_traits;
    uint32_t reserved_;
    kz_origin origin;
} kz_account;

/* A person at an account. */
typedef struct kz_contact {
    const char *id;         /* required */
    const char *account_id; /* required */
    const char *name;
    const char *email;
    const char *role; /* e.g. "admin", "champion", "billing": playbooks address contacts by role */
    const char *phone;
    const kz_trait *traits;
    uint32_t n_traits;
    uint32_t reserved_;
    kz_origin origin;
} kz_contact;

/* One thing a user did in the product (a login, a feature used). */
typedef struct kz_usage_event {
    kz_time time;           /* required */
    double quantity;        /* e.g. minutes, seats, API calls; NaN = absent */
    const char *id;         /* the source's event id, or NULL: the host keys by a content hash */
    const char *account_id; /* required */
    const char *user_id;
    const char *name;    /* required: "login", "report.export", ... */
    const char *product; /* for companies selling several products (cross-sell), or NULL */
    const kz_trait *traits;
    uint32_t n_traits;
    uint32_t reserved_;
    kz_origin origin;
} kz_usage_event;

enum kz_ticket_priority {
    KZ_PRIORITY_NONE = 0,
    KZ_PRIORITY_LOW = 1,
    KZ_PRIORITY_NORMAL = 2,
    KZ_PRIORITY_HIGH = 3,
    KZ_PRIORITY_URGENT = 4
};
enum kz_ticket_status {
    KZ_TICKET_STATUS_NONE = 0,
    KZ_TICKET_NEW = 1,
    KZ_TICKET_OPEN = 2,
    KZ_TICKET_PENDING = 3,
    KZ_TICKET_SOLVED = 4,
    KZ_TICKET_CLOSED = 5
};
enum kz_ticket_kind {
    KZ_TICKET_KIND_NONE = 0,
    KZ_TICKET_QUESTION = 1,
    KZ_TICKET_INCIDENT = 2,
    KZ_TICKET_PROBLEM = 3,
    KZ_TICKET_TASK = 4,
    KZ_TICKET_FEATURE_REQUEST = 5
};

/* A helpdesk ticket. Feature requests are tickets of kind
 * KZ_TICKET_FEATURE_REQUEST; their tags name the feature. */
typedef struct kz_ticket {
    kz_time opened;         /* required */
    kz_time closed;         /* KZ_TIME_NONE while open */
    const char *id;         /* required */
    const char *account_id; /* required */
    const char *contact_id;
    const char *subject;
    const char *const *tags; /* n_tags; for feature requests, the features asked for */
    const kz_trait *traits;
    uint32_t priority; /* enum kz_ticket_priority */
    uint32_t status;   /* enum kz_ticket_status */
    uint32_t kind;     /* enum kz_ticket_kind */
    uint32_t n_tags;
    uint32_t n_traits;
    uint32_t reserved_;
    kz_origin origin;
} kz_ticket;

enum kz_subscription_status {
    KZ_SUBSCRIPTION_STATUS_NONE = 0,
    KZ_SUBSCRIPTION_TRIALING = 1,
    KZ_SUBSCRIPTION_ACTIVE = 2,
    KZ_SUBSCRIPTION_PAST_DUE = 3,
    KZ_SUBSCRIPTION_CANCELED = 4,
    KZ_SUBSCRIPTION_ENDED = 5
};

/* One billing period of an account's subscription: the ground for GRR/NRR. */
typedef struct kz_subscription {
    const char *id;         /* required */
    const char *account_id; /* required */
    const char *plan;
    kz_time period_start; /* required */
    kz_time period_end;   /* KZ_TIME_NONE = open-ended */
    int64_t mrr_minor;    /* monthly recurring revenue, minor units; required */
    const char *currency; /* ISO 4217 */
    uint32_t status;      /* enum kz_subscription_status */
    uint32_t reserved_;
    const kz_trait *traits;
    uint32_t n_traits;
    uint32_t reserved2_;
    kz_origin origin;
} kz_subscription;

enum kz_survey_kind { KZ_SURVEY_NONE = 0, KZ_SURVEY_NPS = 1, KZ_SURVEY_CSAT = 2 };

/* An answer to an NPS (0-10) or CSAT survey. */
typedef struct kz_survey_answer {
    kz_time time;           /* required */
    double score;           /* required: NPS 0..10; CSAT 1..5 */
    const char *id;         /* NULL: the host keys by a content hash */
    const char *account_id; /* required */
    const char *contact_id;
    const char *comment;
    uint32_t kind; /* enum kz_survey_kind; required */
    uint32_t reserved_;
    kz_origin origin;
} kz_survey_answer;

enum kz_csm_status { KZ_CSM_STATUS_NONE = 0, KZ_CSM_ACTIVE = 1, KZ_CSM_INACTIVE = 2 };

/* A CSM (since 1.2): one person who owns accounts, as an HR system or the
 * CRM's user list knows them. The host merges these with the CSMs of the
 * stack config's <organization> (the config's entry wins for an id given
 * in both); `team` must name a team of that <organization>. An inactive
 * CSM (left, on leave) owns nothing: the next assignment moves their
 * accounts. Capacities count accounts per touch tier: KZ_INT_NONE =
 * absent (the stored value stays; never given = 0), KZ_CSM_UNLIMITED = no
 * limit (a pooled tech-touch desk). */
#define KZ_CSM_UNLIMITED INT64_C(4294967295) /* = KZ_CAPACITY_UNLIMITED of orgmodel.h */
typedef struct kz_csm {
    int64_t capacity_high;
    int64_t capacity_low;
    int64_t capacity_tech;
    const char *id; /* required: the name accounts' owners use */
    const char *name;
    const char *email;
    const char *team;          /* a team id of <organization> */
    const char *region;        /* for area teams, or NULL */
    const char *manager;       /* the id of their lead, for escalations, or NULL */
    const char *const *skills; /* n_skills, e.g. "japanese", "healthcare" */
    const kz_trait *traits;
    uint32_t n_skills;
    uint32_t status; /* enum kz_csm_status; NONE = absent (a new CSM is active) */
    uint32_t n_traits;
    uint32_t reserved_;
    kz_origin origin;
} kz_csm;

/* One named text field of a row (since 1.1). Frozen: it never grows. */
typedef struct kz_field {
    const char *name;  /* CSV: the header cell; XML: the path below the record element */
    const char *value; /* the text as read (quotes and entities resolved); NULL = absent */
    uint32_t line;     /* where the value starts, for quarantine messages; 0 = unknown */
    uint32_t column;   /* CSV: 1-based field number; XML: column of the element */
} kz_field;

/* An untyped row (since 1.1): entity KZ_ENTITY_ROW. The field names of
 * consecutive rows are usually the same pointers (a CSV header), which
 * lets the host resolve its mapping once; nothing requires it. A name
 * given twice in one row: the first one counts. */
typedef struct kz_row {
    const kz_field *fields;
    uint32_t n_fields;
    uint32_t reserved_;
    kz_origin origin; /* origin.line: where the row starts; origin.raw: its text */
} kz_row;

/* A batch of records of one entity kind. `records` points at `count`
 * structs of the entity's type laid out `record_size` bytes apart
 * (record_size = sizeof(kz_account) etc. as the plugin was built), so a
 * struct that grows in a later minor keeps older plugins working; a
 * record_size below the 1.0 size is refused (emit returns KZ_ERR_INVALID).
 * `count` may be 0: a batch that only moves the cursor (past rows that
 * were all rejected, say). A source that makes several entities from one
 * input row (accounts and contacts from one CRM report line) emits one
 * batch per entity and sets the cursor on the last of them only. */
typedef struct kz_batch {
    uint32_t size;   /* sizeof(kz_batch) */
    uint32_t entity; /* enum kz_entity */
    uint32_t count;
    uint32_t record_size;
    const void *records;
    /* The cursor that is true once this batch is stored (e.g. a byte
     * offset, a page token, an updated-since time), or NULL to leave the
     * stored cursor as it is. Opaque to the host; at most 4096 bytes. */
    const char *cursor;
} kz_batch;

/* An input record the source could not parse or validate. The host stores
 * it in the quarantine with its origin and reason, keyed by (instance,
 * entity, origin file, origin line): rejecting the same row again replaces
 * the entry, and storing a record from that row later clears it. */
typedef struct kz_reject {
    uint32_t size;      /* sizeof(kz_reject) */
    uint32_t entity;    /* enum kz_entity, or 0 when unknown */
    const char *reason; /* one line: what is wrong and where (column, field) */
    kz_origin origin;
} kz_reject;

/* Where a source delivers records. Owned by the host, valid during pull(),
 * and called only from the thread running pull().
 * emit() and reject() return KZ_OK, or KZ_ERR_STOP when the host wants the
 * pull to end (the source returns KZ_OK promptly), or another failure,
 * which the source returns as is. emit() copies what it needs before it
 * returns: the batch's memory, field names included, is the source's again.
 *
 * For a plugin built against 1.1 or later, emit() may return before the
 * batch is stored: the host stores batches in order, each in one
 * transaction with its cursor, while the source reads the next. A source
 * that must know its data is stored before it acts upstream (acknowledges
 * a queue, marks records exported) calls flush(). Plugin state written
 * after an emit() is written only once that batch is stored, and not at
 * all if storing it failed (the state call then fails). A plugin built
 * against 1.0 gets the 1.0 behaviour: emit() returns once the batch is
 * stored. */
typedef struct kz_sink {
    uint32_t size; /* sizeof(kz_sink) as the host was built */
    uint32_t reserved_;
    int (*emit)(const struct kz_sink *sink, const kz_batch *batch);
    int (*reject)(const struct kz_sink *sink, const kz_reject *reject);
    /* Rejects are stored together with the next emitted batch, or at the
     * end of the pull when no batch follows. Preferred batch size in
     * records: a hint, not a limit. */
    uint32_t batch_hint;
    uint32_t reserved2_;
    /* Since 1.1 (check with KZ_HAS_FIELD): waits until every batch emitted
     * so far is stored. KZ_OK, or KZ_ERR_STOP when storing one failed (the
     * source returns KZ_OK promptly; the host reports the failure). */
    int (*flush)(const struct kz_sink *sink);
} kz_sink;

/* The source vtable. Required: size, entities, create, destroy, pull. */
typedef struct kz_source_vtable {
    uint32_t size; /* sizeof(kz_source_vtable) */
    /* The entities this source may emit: KZ_ENTITY_MASK(KZ_ENTITY_ACCOUNT) | ... */
    uint32_t entities;

    /* Creates an instance. The host's services and the instance's context
     * stay valid until destroy. Must not reach the upstream or write
     * anything (`kizuna check` creates every instance to validate it). On
     * failure, say why with set_error and leave *self unset. */
    int (*create)(const kz_host *host, kz_ctx *ctx, void **self);
    void (*destroy)(void *self);

    /* Reads what is new since `cursor` (NULL: from the beginning) and hands
     * it to the sink. Returns KZ_OK when everything available was emitted
     * or the sink asked to stop; KZ_ERR_RETRY when the upstream is
     * temporarily unavailable; another failure otherwise. */
    int (*pull)(void *self, const char *cursor, const kz_sink *sink);

    /* Optional (NULL = absent): checks that the upstream is reachable and
     * the credentials work, without reading data. */
    int (*probe)(void *self);
} kz_source_vtable;

#ifdef __cplusplus
}
#endif
#endif /* KIZUNA_SOURCE_H */
