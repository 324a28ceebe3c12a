/*
 * plugins/log/log_channel.c — the `log` channel: appends every touch as
 * one JSON object per line to a file, instead of sending it. For dry runs,
 * audits, and as the smallest real channel to read.
 *
 * Delivery is idempotent by key: the file is scanned once at create time
 * for the keys it already holds, and a touch whose key is there is
 * acknowledged without a second line. Each line is written with one
 * write() on a file opened O_APPEND and then fsync()ed (unless
 * fsync=false), so a crash leaves either the whole line or none.
 */
#define _POSIX_C_SOURCE 200809L
#include <kizuna/kizuna.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    char *path;
    int fsync_each;
    char **keys; /* keys already in the file, for idempotency */
    size_t n_keys, cap_keys;
} log_channel;

/* A growable byte buffer for building one line. */
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} buf;

static void buf_put(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_str(buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* Appends `s` as a JSON string (RFC 8259 escaping), or null. */
static void buf_json(buf *b, const char *s)
{
    if (s == NULL) {
        buf_str(b, "null");
        return;
    }
    buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        char esc[8];
        switch (*p) {
        case '"': buf_put(b, "\\\"", 2); break;
        case '\\': buf_put(b, "\\\\", 2); break;
        case '\n': buf_put(b, "\\n", 2); break;
        case '\r': buf_put(b, "\\r", 2); break;
        case '\t': buf_put(b, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                buf_str(b, esc);
            } else {
                buf_put(b, (const char *)p, 1);
            }
        }
    }
    buf_put(b, "\"", 1);
}

static int remember_key(log_channel *ch, const char *key)
{
    if (ch->n_keys == ch->cap_keys) {
        size_t cap = ch->cap_keys ? ch->cap_keys * 2 : 64;
        char **p = realloc(ch->keys, cap * sizeof *p);
        if (p == NULL)
            return KZ_ERR_NOMEM;
        ch->keys = p;
        ch->cap_keys = cap;
    }
    ch->keys[ch->n_keys] = strdup(key);
    if (ch->keys[ch->n_keys] == NULL)
        return KZ_ERR_NOMEM;
    ch->n_keys++;
    return KZ_OK;
}

static int seen_key(const log_channel *ch, const char *key)
{
    for (size_t i = 0; i < ch->n_keys; i++)
        if (strcmp(ch->keys[i], key) == 0)
            return 1;
    return 0;
}

/* Reads the keys of the lines already in the file (written by us: the key
 * is the first member, "{\"key\":\"...\""). */
static int load_keys(log_channel *ch)
{
    FILE *f = fopen(ch->path, "r");
    if (f == NULL)
        return errno == ENOENT ? KZ_OK : KZ_ERR;
    char *line = NULL;
    size_t cap = 0;
    int rc = KZ_OK;
    while (rc == KZ_OK && getline(&line, &cap, f) > 0) {
        static const char prefix[] = "{\"key\":\"";
        if (strncmp(line, prefix, sizeof prefix - 1) != 0)
            continue;
        char *start = line + sizeof prefix - 1;
        char *end = strchr(start, '"');
        if (end == NULL)
            continue;
        *end = '\0';
        rc = remember_key(ch, start);
    }
    free(line);
    fclose(f);
    return rc;
}

static void log_destroy(void *self)
{
    log_channel *ch = self;
    for (size_t i = 0; i < ch->n_keys; i++)
        free(ch->keys[i]);
    free(ch->keys);
    free(ch->path);
    ch->host->free_mem(ch);
}

static int log_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    const char *path = NULL;
    int fsync_each = 1;
    if (host->param_string(ctx, "path", &path) != KZ_OK || path[0] == '\0') {
        host->set_error(ctx, "parameter 'path' is required");
        return KZ_ERR_INVALID;
    }
    host->param_bool(ctx, "fsync", &fsync_each);
    log_channel *ch = host->alloc_mem(sizeof *ch);
    if (ch == NULL)
        return KZ_ERR_NOMEM;
    memset(ch, 0, sizeof *ch);
    ch->host = host;
    ch->ctx = ctx;
    ch->fsync_each = fsync_each;
    ch->path = strdup(path);
    if (ch->path == NULL || load_keys(ch) != KZ_OK) {
        host->set_error(ctx, "cannot read %s: %s", path, strerror(errno));
        log_destroy(ch);
        return KZ_ERR;
    }
    *self = ch;
    return KZ_OK;
}

static int log_deliver(void *self, const kz_touch *touch, kz_delivery *result)
{
    log_channel *ch = self;
    (void)result;
    if (touch->idempotency_key == NULL || strchr(touch->idempotency_key, '"') != NULL ||
        strchr(touch->idempotency_key, '\\') != NULL) {
        ch->host->set_error(ch->ctx, "touch has no usable idempotency key");
        return KZ_ERR_PERMANENT;
    }
    if (seen_key(ch, touch->idempotency_key))
        return KZ_OK; /* delivered before: acknowledge, do not repeat */

    buf b = {0};
    buf_str(&b, "{\"key\":");
    buf_json(&b, touch->idempotency_key);
    buf_str(&b, ",\"playbook\":");
    buf_json(&b, touch->playbook);
    buf_str(&b, ",\"trigger\":");
    buf_json(&b, touch->trigger);
    buf_str(&b, ",\"account\":");
    buf_json(&b, touch->account_id);
    buf_str(&b, ",\"owner\":");
    buf_json(&b, touch->owner_id);
    buf_str(&b, ",\"to\":");
    const kz_recipient *to = touch->recipient;
    buf_json(&b, to == NULL ? NULL : to->email != NULL ? to->email : to->id);
    buf_str(&b, ",\"subject\":");
    buf_json(&b, touch->subject);
    buf_str(&b, ",\"body\":");
    buf_json(&b, touch->body);
    char created[64]; /* ",\"created_us\":" + 20 digits + "}\n" fits with room */
    snprintf(created, sizeof created, ",\"created_us\":%lld}\n", (long long)touch->created);
    buf_str(&b, created);
    if (b.failed) {
        free(b.data);
        return KZ_ERR_NOMEM;
    }

    int rc = KZ_OK;
    int fd = open(ch->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || (ch->fsync_each && fsync(fd) != 0)) {
        ch->host->set_error(ch->ctx, "cannot append to %s: %s", ch->path, strerror(errno));
        rc = KZ_ERR_RETRY;
    }
    if (fd >= 0)
        close(fd);
    free(b.data);
    if (rc == KZ_OK)
        rc = remember_key(ch, touch->idempotency_key);
    return rc;
}

static const kz_param_spec log_params[] = {
    KZ_PARAM(KZ_PARAM_PATH, "path", KZ_PARAM_REQUIRED, NULL, "file the touches are appended to (JSON lines)"),
    KZ_PARAM(KZ_PARAM_BOOL, "fsync", 0, "true", "flush every touch to disk before acknowledging it"),
    KZ_PARAM_END,
};

static const kz_channel_vtable log_vtable = {
    .size = sizeof(kz_channel_vtable),
    .tiers = KZ_TIER_MASK_ALL, /* a dry run stands in for any tier */
    .create = log_create,
    .destroy = log_destroy,
    .deliver = log_deliver,
};

static const kz_component log_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_CHANNEL,
    .name = "log",
    .summary = "Appends touches to a file as JSON lines (dry runs, audits)",
    .params = log_params,
    .vtable = &log_vtable,
};

KZ_PLUGIN_DEFINE("org.kizuna.log", "Log channel", KZ_PLUGIN_VERSION, "Kizuna project", "Apache-2.0",
                 "Writes touches to a file instead of sending them", &log_component)
