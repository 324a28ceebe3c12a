/*
 * kizuna/common.h — the parts of the Kizuna plugin ABI that every component
 * kind shares: version numbers, export macros, status codes, time and value
 * types, parameter specs and the host services table.
 *
 * ABI rules (read these before changing anything in include/kizuna/):
 *  - Every struct that crosses the ABI begins with `uint32_t size`, set by
 *    whoever fills the struct to sizeof() of the struct as *it* was built.
 *    The reader uses only fields that lie wholly inside `size`; a field past
 *    `size` is absent (NULL / 0). Minor versions only add fields at the end.
 *  - A change that cannot follow that rule bumps KZ_ABI_MAJOR; the host then
 *    refuses plugins built for another major.
 *  - No GLib, SQLite or other library type appears here: plugins need only
 *    these headers and a C11 compiler.
 *  - No struct has trailing padding on any target (fields are ordered so;
 *    tests/abi_layout.c checks x86_64, i386, armv7 and aarch64), so a field
 *    added later never lands inside an older build's sizeof.
 *  - Every reserved_ field is 0; the host refuses anything else, so those
 *    bits can be given a meaning later. Likewise unknown flag bits.
 *  - A value of an enum that the reader does not know (a newer minor may
 *    add one) is refused by the reader or treated as the enum's NONE; a
 *    status code the reader does not know is treated as KZ_ERR.
 *  - Strings are UTF-8 and NUL-terminated. Unless a comment says otherwise,
 *    memory passed into a callback is owned by the caller and valid only for
 *    the duration of the call.
 *
 * Threads: the host never calls into one instance from two threads at
 * once; different instances may be called on different threads at the
 * same time. kz_host services that take a kz_ctx may be called only from
 * the thread running a callback of that instance (create and destroy
 * included), never from a plugin's own threads; alloc_mem, realloc_mem,
 * free_mem and now may be called from any thread at any time.
 */
#ifndef KIZUNA_COMMON_H
#define KIZUNA_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. A plugin records the values it was built
 * with in its descriptor; the host refuses any other major.
 * History: 1.0 the first ABI. 1.1 adds the row entity (KZ_ENTITY_ROW,
 * kz_field, kz_row in source.h) for sources whose layout the stack
 * config maps, and kz_sink.flush (emit() may return before a batch is
 * stored); a 1.0 plugin loads and runs unchanged, its emit() still
 * returning once the batch is stored. 1.2 adds the CSM entity
 * (KZ_ENTITY_CSM, kz_csm in source.h), so the people who own accounts can
 * come from an HR system or the CRM's users; older plugins are unaffected. */
#define KZ_ABI_MAJOR 1
#define KZ_ABI_MINOR 2

/* Marks the one symbol a plugin exports. Plugins are built with hidden
 * visibility (the SDK does that), so nothing else leaks out of them. */
#if defined(_WIN32)
#define KZ_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define KZ_EXPORT __attribute__((visibility("default")))
#else
#define KZ_EXPORT
#endif

/* True when `field` of the struct at `p` (of type `type`) lies wholly within
 * the size its owner declared. Use it before reading or writing any field
 * added after 1.0 in a struct the other side made (a newer plugin writing
 * an output field that an older host's struct lacks would write out of
 * bounds). */
#define KZ_HAS_FIELD(p, type, field)                                                                                   \
    ((p) != NULL && (size_t)(p)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

#if defined(__GNUC__)
#define KZ_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define KZ_PRINTF(fmt, args)
#endif

/* ---- status codes ------------------------------------------------------ */

/* Every callback that can fail returns one of these. Say why through
 * kz_host.set_error() before returning a failure. */
enum kz_status {
    KZ_OK = 0,
    KZ_ERR = -1,             /* failed; see the message set with set_error */
    KZ_ERR_RETRY = -2,       /* transient failure: the same call may succeed later */
    KZ_ERR_PERMANENT = -3,   /* will fail again with the same input: do not retry */
    KZ_ERR_INVALID = -4,     /* the input or parameters are wrong */
    KZ_ERR_NOMEM = -5,       /* out of memory */
    KZ_ERR_UNSUPPORTED = -6, /* the operation is not implemented by this component */
    KZ_ERR_NOT_FOUND = -7,   /* the named parameter, key or record does not exist */
    KZ_ERR_STOP = -8         /* the host asks the plugin to stop (sink only) */
};

/* ---- time and values --------------------------------------------------- */

/* Microseconds since 1970-01-01T00:00:00Z. All Kizuna times are UTC. */
typedef int64_t kz_time;
#define KZ_TIME_NONE INT64_MIN /* an absent time */
#define KZ_INT_NONE  INT64_MIN /* an absent integer (money, counts) */

enum kz_value_type {
    KZ_VALUE_NULL = 0,
    KZ_VALUE_STRING = 1,
    KZ_VALUE_INT = 2,
    KZ_VALUE_DOUBLE = 3,
    KZ_VALUE_BOOL = 4,
    KZ_VALUE_TIME = 5
};

/* One typed value, e.g. a company-specific account trait. Frozen (it sits
 * in fixed-stride arrays): it never grows. Money is carried as an INT of
 * minor units with the currency in a separate field or trait. */
typedef struct kz_value {
    uint32_t type; /* enum kz_value_type */
    uint32_t reserved_;
    union {
        const char *s; /* KZ_VALUE_STRING */
        int64_t i;     /* KZ_VALUE_INT */
        double d;      /* KZ_VALUE_DOUBLE */
        int32_t b;     /* KZ_VALUE_BOOL: 0 or 1 */
        kz_time t;     /* KZ_VALUE_TIME */
    } u;
} kz_value;

/* A named value ("industry" = "retail"). Frozen like kz_value. */
typedef struct kz_trait {
    const char *name;
    kz_value value;
} kz_trait;

/* ---- parameters -------------------------------------------------------- */

enum kz_param_type {
    KZ_PARAM_STRING = 1,
    KZ_PARAM_INT = 2, /* 64-bit signed, decimal */
    KZ_PARAM_DOUBLE = 3,
    KZ_PARAM_BOOL = 4,     /* true/false, yes/no, on/off, 1/0 */
    KZ_PARAM_DURATION = 5, /* "250ms", "30s", "5m", "2h", "7d", combinations "1h30m" */
    KZ_PARAM_SECRET = 6,   /* a string the host never prints or logs */
    KZ_PARAM_PATH = 7      /* a file or directory; the host makes a relative path absolute
                            * against the stack config's directory */
};

enum kz_param_flags {
    KZ_PARAM_REQUIRED = 1u << 0 /* the stack config must give a value */
};

/* One parameter a component accepts. A component lists them in an array
 * ended by an entry whose `name` is NULL; every entry of one array has the
 * same `size` (they are one C array), so the host steps through it by the
 * first entry's size. The host validates the stack config against these
 * specs before any instance exists; the plugin reads the values with the
 * kz_host.param_* services. */
typedef struct kz_param_spec {
    uint32_t size;    /* sizeof(kz_param_spec) */
    uint32_t type;    /* enum kz_param_type */
    const char *name; /* [a-z][a-z0-9_]*, unique within the component */
    uint32_t flags;   /* enum kz_param_flags */
    uint32_t reserved_;
    const char *default_value; /* text parsed as `type`, or NULL for none; must be NULL for secrets */
    const char *help;          /* one line for `kizuna plugins` */
} kz_param_spec;

/* Convenience initialisers for a parameter table. */
#define KZ_PARAM(type_, name_, flags_, default_, help_)                                                                \
    {                                                                                                                  \
        sizeof(kz_param_spec), (type_), (name_), (flags_), 0, (default_), (help_)                                      \
    }
#define KZ_PARAM_END                                                                                                   \
    {                                                                                                                  \
        sizeof(kz_param_spec), 0, NULL, 0, 0, NULL, NULL                                                               \
    }

/* ---- host services ----------------------------------------------------- */

/* An instance of a component as the host sees it: the handle through which
 * the plugin reaches its parameters, state and log. Opaque; owned by the
 * host; valid from the component's create/open callback until its
 * destroy/close callback returns. */
typedef struct kz_ctx kz_ctx;

enum kz_log_level { KZ_LOG_ERROR = 1, KZ_LOG_WARNING = 2, KZ_LOG_INFO = 3, KZ_LOG_DEBUG = 4 };

/* What the host offers a plugin. Handed to every create callback with the
 * instance's kz_ctx; it and every pointer in it stay valid for the life of
 * the process. Fields after `size` may be read only if KZ_HAS_FIELD says so,
 * so a plugin built against a newer minor still runs on an older host. */
typedef struct kz_host {
    uint32_t size;            /* sizeof(kz_host) as the host was built */
    uint16_t abi_major;       /* the host's KZ_ABI_MAJOR */
    uint16_t abi_minor;       /* the host's KZ_ABI_MINOR */
    const char *host_version; /* the Kizuna release, e.g. "0.1.0" */

    /* Writes one log line tagged with the instance name. Secret parameter
     * values are masked by the host even if a plugin passes them here. */
    void (*log)(kz_ctx *ctx, int level, const char *fmt, ...) KZ_PRINTF(3, 4);

    /* Records why the current callback failed; the host shows the message
     * with the instance name. The last message set before a callback
     * returns a failure wins. */
    void (*set_error)(kz_ctx *ctx, const char *fmt, ...) KZ_PRINTF(2, 3);

    /* The instance's name as the stack config gives it; valid for the
     * life of the instance. */
    const char *(*instance_name)(kz_ctx *ctx);

    /* Typed parameters, already validated against the component's specs,
     * with defaults applied. They return KZ_OK, or KZ_ERR_NOT_FOUND when the
     * parameter has no value (not given and no default), or KZ_ERR_INVALID
     * when `name` is not a parameter of this type. Strings stay owned by the
     * host and valid for the life of the instance. param_string also reads
     * KZ_PARAM_SECRET and KZ_PARAM_PATH parameters (paths arrive absolute).
     * Durations are in milliseconds. */
    int (*param_string)(kz_ctx *ctx, const char *name, const char **out);
    int (*param_int)(kz_ctx *ctx, const char *name, int64_t *out);
    int (*param_double)(kz_ctx *ctx, const char *name, double *out);
    int (*param_bool)(kz_ctx *ctx, const char *name, int *out);
    int (*param_duration)(kz_ctx *ctx, const char *name, int64_t *out_ms);

    /* Persistent per-instance state: small blobs by key (a model's weights,
     * a token's expiry), kept in the store across runs. state_get returns
     * KZ_ERR_NOT_FOUND when the key has no value; on KZ_OK, *out is a copy
     * that the caller frees with free_mem (NUL-terminated for convenience,
     * the terminator not counted in *len). While the host only checks a
     * stack (`kizuna check`) there is no store: these return
     * KZ_ERR_UNSUPPORTED, and create() must treat that as "no state yet".
     * state_set and state_delete commit at once, outside any sync batch
     * (a source's cursor travels with its batches instead, see source.h).
     * Keys are 1 to 64 bytes of [a-z0-9._-]; values at most 1 MiB; other
     * keys or sizes return KZ_ERR_INVALID. */
    int (*state_get)(kz_ctx *ctx, const char *key, void **out, size_t *len);
    int (*state_set)(kz_ctx *ctx, const char *key, const void *data, size_t len);
    int (*state_delete)(kz_ctx *ctx, const char *key);

    /* The host's clock (UTC). Tests and backfills may pin it, so plugins use
     * this rather than time(). */
    kz_time (*now)(kz_ctx *ctx);

    /* Memory that crosses the ABI in the plugin-to-host direction, and
     * memory the host hands over (state_get), uses these. They behave like
     * malloc/realloc/free; alloc_mem returns NULL on failure. */
    void *(*alloc_mem)(size_t n);
    void *(*realloc_mem)(void *p, size_t n);
    void (*free_mem)(void *p);

    /* Optional host capabilities by reverse-DNS id, CLAP style: returns a
     * struct whose layout the id's documentation defines, or NULL when the
     * host does not offer it. Such a struct begins with uint32_t size and
     * follows every rule above. None are defined in 1.0. */
    const void *(*extension)(kz_ctx *ctx, const char *id);
} kz_host;

#ifdef __cplusplus
}
#endif
#endif /* KIZUNA_COMMON_H */
