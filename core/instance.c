/*
 * core/instance.c — see instance.h. The kz_host callbacks below are the
 * only way a plugin reaches the host; each one checks its arguments, since
 * a plugin's bugs must not become the host's crashes.
 */
#include "instance.h"

#include "errors.h"
#include "log.h"
#include "params.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef KZ_VERSION
#define KZ_VERSION "0.0.0"
#endif

struct kz_ctx {
    char *name;
    const kz_component_info *component;
    GHashTable *params; /* name -> kz_param_value* */
    kz_store *store;    /* borrowed; may be NULL */
    char *error;        /* last message from set_error */
    void *self;         /* the plugin's instance */
};

static gint64 pinned_now;

void kz_host_set_clock(gint64 now_us)
{
    pinned_now = now_us;
}

gint64 kz_host_now(void)
{
    return pinned_now != 0 ? pinned_now : g_get_real_time();
}

const char *kz_status_name(int status)
{
    switch (status) {
    case KZ_OK: return "ok";
    case KZ_ERR: return "failed";
    case KZ_ERR_RETRY: return "retryable failure";
    case KZ_ERR_PERMANENT: return "permanent failure";
    case KZ_ERR_INVALID: return "invalid input";
    case KZ_ERR_NOMEM: return "out of memory";
    case KZ_ERR_UNSUPPORTED: return "not supported";
    case KZ_ERR_NOT_FOUND: return "not found";
    case KZ_ERR_STOP: return "stopped";
    default: return "unknown status";
    }
}

/* ---- the services --------------------------------------------------------- */

static void host_log(kz_ctx *ctx, int level, const char *fmt, ...)
{
    if (fmt == NULL || level > kz_log_level())
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    kz_log_write(CLAMP(level, KZ_LOG_ERROR, KZ_LOG_DEBUG), ctx != NULL ? ctx->name : NULL, msg);
}

static void host_set_error(kz_ctx *ctx, const char *fmt, ...)
{
    if (ctx == NULL || fmt == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_free(ctx->error);
    ctx->error = msg;
}

static const char *host_instance_name(kz_ctx *ctx)
{
    return ctx != NULL ? ctx->name : NULL;
}

#define TYPE_BIT(t) (1u << (t))

/* Finds parameter `name` declared with one of the types in the mask `want`. */
static int lookup(kz_ctx *ctx, const char *name, unsigned want, const kz_param_value **out)
{
    if (ctx == NULL || name == NULL || out == NULL)
        return KZ_ERR_INVALID;
    const kz_param_info *spec = NULL;
    for (guint i = 0; i < ctx->component->params->len && spec == NULL; i++) {
        const kz_param_info *p = ctx->component->params->pdata[i];
        if (strcmp(p->name, name) == 0)
            spec = p;
    }
    if (spec == NULL || (TYPE_BIT(spec->type) & want) == 0)
        return KZ_ERR_INVALID;
    *out = ctx->params != NULL ? g_hash_table_lookup(ctx->params, name) : NULL;
    return *out != NULL ? KZ_OK : KZ_ERR_NOT_FOUND;
}

static int host_param_string(kz_ctx *ctx, const char *name, const char **out)
{
    const kz_param_value *v;
    int rc = lookup(ctx, name, TYPE_BIT(KZ_PARAM_STRING) | TYPE_BIT(KZ_PARAM_SECRET) | TYPE_BIT(KZ_PARAM_PATH), &v);
    if (rc == KZ_OK)
        *out = v->text;
    return rc;
}

static int host_param_int(kz_ctx *ctx, const char *name, int64_t *out)
{
    const kz_param_value *v;
    int rc = lookup(ctx, name, TYPE_BIT(KZ_PARAM_INT), &v);
    if (rc == KZ_OK)
        *out = v->u.i;
    return rc;
}

static int host_param_double(kz_ctx *ctx, const char *name, double *out)
{
    const kz_param_value *v;
    int rc = lookup(ctx, name, TYPE_BIT(KZ_PARAM_DOUBLE), &v);
    if (rc == KZ_OK)
        *out = v->u.d;
    return rc;
}

static int host_param_bool(kz_ctx *ctx, const char *name, int *out)
{
    const kz_param_value *v;
    int rc = lookup(ctx, name, TYPE_BIT(KZ_PARAM_BOOL), &v);
    if (rc == KZ_OK)
        *out = v->u.b ? 1 : 0;
    return rc;
}

static int host_param_duration(kz_ctx *ctx, const char *name, int64_t *out_ms)
{
    const kz_param_value *v;
    int rc = lookup(ctx, name, TYPE_BIT(KZ_PARAM_DURATION), &v);
    if (rc == KZ_OK)
        *out_ms = v->u.i;
    return rc;
}

static int no_store(kz_ctx *ctx)
{
    host_set_error(ctx, "this host runs without a store: no persistent state");
    return KZ_ERR_UNSUPPORTED;
}

static int state_error(kz_ctx *ctx, GError *err)
{
    host_log(ctx, KZ_LOG_ERROR, "%s", err->message);
    host_set_error(ctx, "%s", err->message);
    g_error_free(err);
    return KZ_ERR;
}

#define STATE_MAX_VALUE (1u << 20)

/* Keys are 1 to 64 bytes of [a-z0-9._-] (common.h). */
static gboolean valid_state_key(kz_ctx *ctx, const char *key)
{
    gsize n = key != NULL ? strlen(key) : 0;
    gboolean ok = n >= 1 && n <= 64;
    for (gsize i = 0; ok && i < n; i++)
        ok = g_ascii_islower(key[i]) || g_ascii_isdigit(key[i]) || key[i] == '.' || key[i] == '_' || key[i] == '-';
    if (!ok)
        host_set_error(ctx, "state key '%s' is not 1 to 64 bytes of [a-z0-9._-]", key != NULL ? key : "(null)");
    return ok;
}

static int host_state_get(kz_ctx *ctx, const char *key, void **out, size_t *len)
{
    if (ctx == NULL || out == NULL || len == NULL || !valid_state_key(ctx, key))
        return KZ_ERR_INVALID;
    if (ctx->store == NULL)
        return no_store(ctx);
    GError *err = NULL;
    char *data = NULL;
    gsize n = 0;
    int rc = kz_store_state_get(ctx->store, ctx->name, key, &data, &n, &err);
    if (rc == KZ_ERR)
        return state_error(ctx, err);
    if (rc == KZ_OK) {
        *out = data; /* g_malloc'd: freed by host_free_mem (g_free == free) */
        *len = n;
    }
    return rc;
}

static int host_state_set(kz_ctx *ctx, const char *key, const void *data, size_t len)
{
    if (ctx == NULL || (data == NULL && len > 0) || !valid_state_key(ctx, key))
        return KZ_ERR_INVALID;
    if (len > STATE_MAX_VALUE) {
        host_set_error(ctx, "state value of %zu bytes for key '%s' is over the 1 MiB limit", len, key);
        return KZ_ERR_INVALID;
    }
    if (ctx->store == NULL)
        return no_store(ctx);
    GError *err = NULL;
    if (kz_store_state_set(ctx->store, ctx->name, key, data, len, kz_host_now(), &err) != KZ_OK)
        return state_error(ctx, err);
    return KZ_OK;
}

static int host_state_delete(kz_ctx *ctx, const char *key)
{
    if (ctx == NULL || !valid_state_key(ctx, key))
        return KZ_ERR_INVALID;
    if (ctx->store == NULL)
        return no_store(ctx);
    GError *err = NULL;
    int rc = kz_store_state_delete(ctx->store, ctx->name, key, &err);
    return rc == KZ_ERR ? state_error(ctx, err) : rc;
}

static kz_time host_now(kz_ctx *ctx)
{
    (void)ctx;
    return kz_host_now();
}

static void *host_alloc_mem(size_t n)
{
    return g_try_malloc(n);
}

static void *host_realloc_mem(void *p, size_t n)
{
    return g_try_realloc(p, n);
}

static void host_free_mem(void *p)
{
    g_free(p);
}

static const void *host_extension(kz_ctx *ctx, const char *id)
{
    (void)ctx;
    (void)id;
    return NULL; /* none defined in ABI 1.0 */
}

static const kz_host host_table = {
    .size = sizeof(kz_host),
    .abi_major = KZ_ABI_MAJOR,
    .abi_minor = KZ_ABI_MINOR,
    .host_version = KZ_VERSION,
    .log = host_log,
    .set_error = host_set_error,
    .instance_name = host_instance_name,
    .param_string = host_param_string,
    .param_int = host_param_int,
    .param_double = host_param_double,
    .param_bool = host_param_bool,
    .param_duration = host_param_duration,
    .state_get = host_state_get,
    .state_set = host_state_set,
    .state_delete = host_state_delete,
    .now = host_now,
    .alloc_mem = host_alloc_mem,
    .realloc_mem = host_realloc_mem,
    .free_mem = host_free_mem,
    .extension = host_extension,
};

const kz_host *kz_host_get(void)
{
    return &host_table;
}

/* ---- instances ------------------------------------------------------------ */

const char *kz_instance_name(const kz_instance *inst)
{
    return inst->name;
}

const kz_component_info *kz_instance_component(const kz_instance *inst)
{
    return inst->component;
}

void *kz_instance_self(const kz_instance *inst)
{
    return inst->self;
}

void kz_instance_begin_call(kz_instance *inst)
{
    g_clear_pointer(&inst->error, g_free);
}

gboolean kz_instance_fail(kz_instance *inst, int status, const char *what, GError **error)
{
    g_autofree char *msg = kz_log_redact(inst->error != NULL ? inst->error : kz_status_name(status));
    g_set_error(error, KZ_ERROR, KZ_ERROR_PLUGIN, "instance '%s' (component %s of %s): %s: %s", inst->name,
                inst->component->name, inst->component->plugin->id, what, msg);
    return FALSE;
}

static void free_instance(kz_instance *inst)
{
    g_free(inst->name);
    g_free(inst->error);
    if (inst->params != NULL)
        g_hash_table_unref(inst->params);
    g_free(inst);
}

kz_instance *kz_instance_create(const kz_component_info *comp, const char *name, GHashTable *params, kz_store *store,
                                GError **error)
{
    kz_instance *inst = g_new0(kz_instance, 1);
    inst->name = g_strdup(name);
    inst->component = comp;
    inst->params = params;
    inst->store = store;
    int (*create)(const kz_host *, kz_ctx *, void **) = NULL;
    switch (comp->kind) {
    case KZ_COMPONENT_SOURCE: create = comp->vt.source.create; break;
    case KZ_COMPONENT_SCORER: create = comp->vt.scorer.create; break;
    case KZ_COMPONENT_CHANNEL: create = comp->vt.channel.create; break;
    case KZ_COMPONENT_ORGMODEL: create = comp->vt.orgmodel.create; break;
    }
    int rc = create(&host_table, inst, &inst->self);
    if (rc != KZ_OK) {
        kz_instance_fail(inst, rc, "create", error);
        free_instance(inst);
        return NULL;
    }
    return inst;
}

void kz_instance_destroy(kz_instance *inst)
{
    if (inst == NULL)
        return;
    const kz_component_info *comp = inst->component;
    void (*destroy)(void *) = NULL;
    switch (comp->kind) {
    case KZ_COMPONENT_SOURCE: destroy = comp->vt.source.destroy; break;
    case KZ_COMPONENT_SCORER: destroy = comp->vt.scorer.destroy; break;
    case KZ_COMPONENT_CHANNEL: destroy = comp->vt.channel.destroy; break;
    case KZ_COMPONENT_ORGMODEL: destroy = comp->vt.orgmodel.destroy; break;
    }
    if (inst->self != NULL)
        destroy(inst->self);
    free_instance(inst);
}
