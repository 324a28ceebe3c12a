/*
 * plugins/webhook/webhook_channel.c — the `webhook` channel: POSTs every
 * touch to one HTTP(S) endpoint, as a JSON object or as a Slack
 * incoming-webhook message.
 *
 * Each request carries the touch's idempotency key (so the receiver can
 * drop the retries it already acted on) and an HMAC-SHA256 signature over
 * a timestamp and the body (so it can tell the request came from this
 * stack, unaltered and recent). The receiver's answer becomes one of the
 * outbox's three outcomes: 2xx delivered; 408, 425, 429, 5xx and transport
 * failures retried, with the receiver's Retry-After as the hint; every
 * other answer dead-lettered. Redirects are never followed: a signed body
 * goes only where the stack config says.
 *
 * Data in: the instance's parameters (create) and one kz_touch per
 * deliver(). Data out: one POST per deliver(), nothing stored locally.
 */
#include <kizuna/kizuna.h>

#include <curl/curl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 10000
/* A deliver() call holds an outbox worker for up to this long. */
#define MAX_TIMEOUT_MS (10 * 60 * 1000)
/* How much of a failed response's body an error message quotes. */
#define BODY_EXCERPT_MAX 200
/* A longer Retry-After is taken as a day, so that a misconfigured
 * receiver cannot park a touch for months. */
#define MAX_RETRY_AFTER_S (24 * 60 * 60)
/* kz_touch.idempotency_key's documented limit. */
#define MAX_KEY_LEN 128

enum webhook_format { FORMAT_JSON, FORMAT_SLACK };

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    CURL *curl;      /* kept across touches so the connection is reused */
    char *url;       /* as configured, credentials included: only for curl */
    char *shown_url; /* url without credentials, query or fragment: for messages */
    char *secret;    /* the HMAC key; wiped on destroy */
    char *ca_file;   /* NULL = the system's CA store */
    int format;      /* enum webhook_format */
    long timeout_ms;
    char curl_error[CURL_ERROR_SIZE];
} webhook_channel;

/* What one HTTP response said, as curl's callbacks collect it. */
typedef struct {
    char request_id[sizeof(((kz_delivery *)0)->receipt)];
    char retry_after[64];
    char body[BODY_EXCERPT_MAX + 1]; /* the first bytes of the body, NUL-terminated */
    size_t body_len;                 /* bytes in `body` */
    size_t body_total;               /* bytes the receiver sent */
} webhook_response;

/* Records a message with set_error and returns `status`, so that failure
 * paths read `return fail(ch, KZ_ERR_..., "...")`. */
G_GNUC_PRINTF(3, 4) static int fail(const webhook_channel *ch, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ch->host->set_error(ch->ctx, "%s", msg);
    return status;
}

/* Overwrites a string that held a secret before it is freed, so that it
 * does not linger in freed memory; volatile keeps the compiler from
 * dropping stores to memory that is about to be freed. */
static void wipe(char *s)
{
    if (s == NULL)
        return;
    for (volatile char *p = s; *p != '\0'; p++)
        *p = '\0';
}

/* ---- parameters ----------------------------------------------------------- */

/* `url` with user, password, query and fragment removed: the form error
 * messages show, since those parts often carry tokens. Returns NULL when
 * curl cannot parse `url` (no host, a space, a bad port). Caller frees. */
static char *url_without_secrets(const char *url)
{
    static const CURLUPart hidden[] = {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS, CURLUPART_QUERY,
                                       CURLUPART_FRAGMENT};
    CURLU *u = curl_url();
    if (u == NULL)
        return NULL;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    for (size_t i = 0; uc == CURLUE_OK && i < G_N_ELEMENTS(hidden); i++)
        uc = curl_url_set(u, hidden[i], NULL, 0);
    char *shown = NULL;
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_URL, &shown, 0);
    char *result = uc == CURLUE_OK ? g_strdup(shown) : NULL;
    curl_free(shown);
    curl_url_cleanup(u);
    return result;
}

static int read_url(webhook_channel *ch)
{
    const char *url = NULL;
    if (ch->host->param_string(ch->ctx, "url", &url) != KZ_OK || url[0] == '\0')
        return fail(ch, KZ_ERR_INVALID, "parameter 'url' is required");
    const char *scheme = g_uri_peek_scheme(url); /* lower case, or NULL */
    if (scheme == NULL)
        return fail(ch, KZ_ERR_INVALID, "parameter 'url' must start with http:// or https://");
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        return fail(ch, KZ_ERR_INVALID, "parameter 'url' must start with http:// or https://, not '%s:'", scheme);
    ch->shown_url = url_without_secrets(url);
    if (ch->shown_url == NULL)
        return fail(ch, KZ_ERR_INVALID,
                    "parameter 'url' is not a valid %s URL (does it name a host? are spaces percent-encoded?)", scheme);
    ch->url = g_strdup(url);
    return KZ_OK;
}

static int read_secret(webhook_channel *ch)
{
    const char *secret = NULL;
    if (ch->host->param_string(ch->ctx, "secret", &secret) != KZ_OK || secret[0] == '\0')
        return fail(ch, KZ_ERR_INVALID, "parameter 'secret' is required: receivers verify the signature with it");
    ch->secret = g_strdup(secret);
    return KZ_OK;
}

static int read_format(webhook_channel *ch)
{
    const char *format = NULL;
    if (ch->host->param_string(ch->ctx, "format", &format) != KZ_OK || strcmp(format, "json") == 0)
        ch->format = FORMAT_JSON;
    else if (strcmp(format, "slack") == 0)
        ch->format = FORMAT_SLACK;
    else
        return fail(ch, KZ_ERR_INVALID, "parameter 'format' must be json or slack, not '%s'", format);
    return KZ_OK;
}

static int read_timeout(webhook_channel *ch)
{
    int64_t ms = DEFAULT_TIMEOUT_MS;
    ch->host->param_duration(ch->ctx, "timeout", &ms); /* not given: the default */
    if (ms <= 0 || ms > MAX_TIMEOUT_MS)
        return fail(ch, KZ_ERR_INVALID, "parameter 'timeout' must be between 1ms and 10m, not %lld ms", (long long)ms);
    ch->timeout_ms = (long)ms;
    return KZ_OK;
}

static int read_ca_file(webhook_channel *ch)
{
    const char *path = NULL;
    if (ch->host->param_string(ch->ctx, "ca_file", &path) != KZ_OK)
        return KZ_OK; /* the system's CA store */
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR) || g_access(path, R_OK) != 0)
        return fail(ch, KZ_ERR_INVALID, "parameter 'ca_file': %s is not a readable file", path);
    ch->ca_file = g_strdup(path);
    return KZ_OK;
}

/* ---- instances ------------------------------------------------------------ */

static void webhook_destroy(void *self)
{
    webhook_channel *ch = self;
    if (ch->curl != NULL)
        curl_easy_cleanup(ch->curl);
    wipe(ch->secret);
    wipe(ch->url);
    g_free(ch->secret);
    g_free(ch->url);
    g_free(ch->shown_url);
    g_free(ch->ca_file);
    g_free(ch);
    curl_global_cleanup(); /* balances the curl_global_init of create */
}

/* Validates the parameters and prepares a curl handle; connects nowhere. */
static int webhook_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    /* Reference-counted by libcurl, so every instance (and any other
     * plugin using curl) can init and clean up on its own. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        host->set_error(ctx, "cannot initialise libcurl");
        return KZ_ERR;
    }
    webhook_channel *ch = g_new0(webhook_channel, 1);
    ch->host = host;
    ch->ctx = ctx;
    int rc = read_url(ch);
    if (rc == KZ_OK)
        rc = read_secret(ch);
    if (rc == KZ_OK)
        rc = read_format(ch);
    if (rc == KZ_OK)
        rc = read_timeout(ch);
    if (rc == KZ_OK)
        rc = read_ca_file(ch);
    if (rc == KZ_OK && (ch->curl = curl_easy_init()) == NULL)
        rc = fail(ch, KZ_ERR_NOMEM, "cannot create a curl handle");
    if (rc != KZ_OK) {
        webhook_destroy(ch);
        return rc;
    }
    *self = ch;
    return KZ_OK;
}

/* ---- the request body ----------------------------------------------------- */

/* A node holding `o`, whose reference it takes. */
static JsonNode *object_node(JsonObject *o)
{
    JsonNode *node = json_node_init_object(json_node_alloc(), o);
    json_object_unref(o);
    return node;
}

static JsonNode *null_node(void)
{
    return json_node_init_null(json_node_alloc());
}

/* A JSON string, or null for NULL. Text that is not valid UTF-8 is
 * repaired rather than sent as invalid JSON. */
static JsonNode *string_node(const char *s)
{
    if (s == NULL)
        return null_node();
    if (g_utf8_validate(s, -1, NULL))
        return json_node_init_string(json_node_alloc(), s);
    g_autofree char *valid = g_utf8_make_valid(s, -1);
    return json_node_init_string(json_node_alloc(), valid);
}

/* ISO 8601 in UTC, to the second, with microseconds only when there are
 * some: "2023-11-14T22:13:20Z", "2023-11-14T22:13:20.123456Z". NULL for
 * KZ_TIME_NONE and for times outside the years 1 to 9999. Caller frees. */
static char *format_time(kz_time t)
{
    if (t == KZ_TIME_NONE)
        return NULL;
    int64_t seconds = t / G_USEC_PER_SEC, micros = t % G_USEC_PER_SEC;
    if (micros < 0) { /* before 1970: C division truncates toward zero */
        seconds -= 1;
        micros += G_USEC_PER_SEC;
    }
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(seconds);
    if (dt == NULL)
        return NULL;
    g_autofree char *whole = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
    if (micros == 0)
        return g_strconcat(whole, "Z", NULL);
    return g_strdup_printf("%s.%06lldZ", whole, (long long)micros);
}

static JsonNode *time_node(kz_time t)
{
    g_autofree char *text = format_time(t);
    return string_node(text);
}

/* A trait's value as the JSON type closest to it. Absent values (NULL,
 * KZ_INT_NONE, NaN, which JSON cannot carry) and types this plugin does
 * not know become null. */
static JsonNode *value_node(const kz_value *v)
{
    switch (v->type) {
    case KZ_VALUE_STRING: return string_node(v->u.s);
    case KZ_VALUE_INT: return v->u.i == KZ_INT_NONE ? null_node() : json_node_init_int(json_node_alloc(), v->u.i);
    case KZ_VALUE_DOUBLE: return isfinite(v->u.d) ? json_node_init_double(json_node_alloc(), v->u.d) : null_node();
    case KZ_VALUE_BOOL: return json_node_init_boolean(json_node_alloc(), v->u.b != 0);
    case KZ_VALUE_TIME: return time_node(v->u.t);
    default: return null_node();
    }
}

/* touch->fields as one object. A name given twice keeps its first value,
 * as the host does with a row's fields. */
static JsonNode *fields_node(const kz_touch *t)
{
    JsonObject *fields = json_object_new();
    for (uint32_t i = 0; t->fields != NULL && i < t->n_fields; i++) {
        const kz_trait *f = &t->fields[i];
        if (f->name != NULL && !json_object_has_member(fields, f->name))
            json_object_set_member(fields, f->name, value_node(&f->value));
    }
    return object_node(fields);
}

static JsonNode *account_node(const kz_touch *t)
{
    JsonObject *account = json_object_new();
    json_object_set_member(account, "id", string_node(t->account_id));
    json_object_set_member(account, "name", string_node(t->account_name));
    return object_node(account);
}

static JsonNode *recipient_node(const kz_recipient *r)
{
    if (r == NULL)
        return null_node();
    JsonObject *recipient = json_object_new();
    json_object_set_member(recipient, "id", string_node(r->id));
    json_object_set_member(recipient, "name", string_node(r->name));
    json_object_set_member(recipient, "email", string_node(r->email));
    json_object_set_member(recipient, "role", string_node(r->role));
    return object_node(recipient);
}

/* Serialises `root` compactly and frees it. Caller frees the text. */
static char *generate_json(JsonNode *root)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    char *text = json_generator_to_data(gen, NULL);
    json_node_free(root);
    return text;
}

/* The body of format "json": the whole touch. Caller frees. */
static char *json_body(const kz_touch *t)
{
    JsonObject *o = json_object_new();
    json_object_set_member(o, "idempotency_key", string_node(t->idempotency_key));
    json_object_set_member(o, "playbook", string_node(t->playbook));
    json_object_set_member(o, "trigger", string_node(t->trigger));
    json_object_set_member(o, "account", account_node(t));
    json_object_set_member(o, "owner", string_node(t->owner_id));
    json_object_set_member(o, "recipient", recipient_node(t->recipient));
    json_object_set_member(o, "subject", string_node(t->subject));
    json_object_set_member(o, "body", string_node(t->body));
    json_object_set_member(o, "fields", fields_node(t));
    json_object_set_member(o, "created", time_node(t->created));
    json_object_set_member(o, "due", time_node(t->due));
    json_object_set_int_member(o, "attempt", t->attempt);
    return generate_json(object_node(o));
}

/* Slack reads &, < and > as the start of entities and links, so its
 * message format asks for exactly these three to be escaped. */
static void append_slack_escaped(GString *out, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&': g_string_append(out, "&amp;"); break;
        case '<': g_string_append(out, "&lt;"); break;
        case '>': g_string_append(out, "&gt;"); break;
        default: g_string_append_c(out, *s);
        }
    }
}

/* The body of format "slack": {"text": "*subject*\nbody"}. Caller frees. */
static char *slack_body(const kz_touch *t)
{
    g_autoptr(GString) text = g_string_new(NULL);
    if (t->subject != NULL && t->subject[0] != '\0') {
        g_string_append_c(text, '*');
        append_slack_escaped(text, t->subject);
        g_string_append_c(text, '*');
    }
    if (t->body != NULL && t->body[0] != '\0') {
        if (text->len > 0)
            g_string_append_c(text, '\n');
        append_slack_escaped(text, t->body);
    }
    JsonObject *o = json_object_new();
    json_object_set_member(o, "text", string_node(text->str));
    return generate_json(object_node(o));
}

/* ---- the request ---------------------------------------------------------- */

/* The host promises keys of at most 128 bytes of [A-Za-z0-9._:-]. A key
 * outside that promise could break or inject a header, so it is refused
 * rather than trusted. */
static gboolean key_is_usable(const char *key)
{
    if (key == NULL || key[0] == '\0' || strlen(key) > MAX_KEY_LEN)
        return FALSE;
    for (const char *p = key; *p != '\0'; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != ':' && *p != '-')
            return FALSE;
    return TRUE;
}

/* "sha256=" + lowercase hex HMAC-SHA256(secret, timestamp "." body).
 * The timestamp is inside the MAC so that a receiver can refuse an old
 * request replayed with a fresh timestamp header. Caller frees. */
static char *sign(const char *secret, const char *timestamp, const char *body)
{
    g_autoptr(GHmac) mac = g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)secret, strlen(secret));
    g_hmac_update(mac, (const guchar *)timestamp, -1);
    g_hmac_update(mac, (const guchar *)".", 1);
    g_hmac_update(mac, (const guchar *)body, -1);
    return g_strconcat("sha256=", g_hmac_get_string(mac), NULL);
}

/* The request's header list, or NULL when out of memory. Caller frees
 * with curl_slist_free_all. */
static struct curl_slist *request_headers(const char *key, const char *timestamp, const char *signature)
{
    g_autofree char *key_line = g_strconcat("Idempotency-Key: ", key, NULL);
    g_autofree char *timestamp_line = g_strconcat("X-Kizuna-Timestamp: ", timestamp, NULL);
    g_autofree char *signature_line = g_strconcat("X-Kizuna-Signature: ", signature, NULL);
    const char *lines[] = {
        "Content-Type: application/json",
        key_line,
        timestamp_line,
        signature_line,
        /* curl would otherwise send "Expect: 100-continue" with bodies
         * over 1 MiB and wait a second for a 100 that many receivers never send */
        "Expect:",
    };
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(lines); i++) {
        struct curl_slist *longer = curl_slist_append(list, lines[i]);
        if (longer == NULL) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = longer;
    }
    return list;
}

/* Keeps the first BODY_EXCERPT_MAX bytes of the response body for error
 * messages. The rest is still read, so that the connection stays usable. */
static size_t keep_body_excerpt(char *data, size_t size, size_t n, void *user)
{
    webhook_response *resp = user;
    size_t len = size * n;
    size_t take = MIN(len, BODY_EXCERPT_MAX - resp->body_len);
    memcpy(resp->body + resp->body_len, data, take);
    resp->body_len += take;
    resp->body[resp->body_len] = '\0';
    resp->body_total += len;
    return len;
}

/* If `line` (not NUL-terminated) is header `name`, copies its value,
 * trimmed and cut to fit `out`, with anything but printable ASCII made '?'
 * (the value ends up in logs and in the outbox's receipt). */
static void copy_header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t name_len = strlen(name);
    if (len <= name_len || line[name_len] != ':' || g_ascii_strncasecmp(line, name, name_len) != 0)
        return;
    const char *start = line + name_len + 1, *end = line + len;
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && g_ascii_isspace(end[-1]))
        end--;
    size_t n = MIN((size_t)(end - start), cap - 1);
    for (size_t i = 0; i < n; i++)
        out[i] = g_ascii_isprint(start[i]) ? start[i] : '?';
    out[n] = '\0';
}

static size_t note_header(char *line, size_t size, size_t n, void *user)
{
    webhook_response *resp = user;
    size_t len = size * n;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* the status line of a new response (after a 1xx): forget the last one's headers */
        resp->request_id[0] = '\0';
        resp->retry_after[0] = '\0';
        return len;
    }
    copy_header_value(line, len, "X-Request-Id", resp->request_id, sizeof resp->request_id);
    copy_header_value(line, len, "Retry-After", resp->retry_after, sizeof resp->retry_after);
    return len;
}

/* Sets every option of one POST on the instance's handle, after a reset so
 * that nothing of the previous touch carries over but its connection. */
static CURLcode prepare_post(webhook_channel *ch, const char *body, struct curl_slist *headers, webhook_response *resp)
{
    CURL *c = ch->curl;
    curl_easy_reset(c);
    ch->curl_error[0] = '\0';
    CURLcode cc = curl_easy_setopt(c, CURLOPT_URL, ch->url);
    /* no SIGALRM for DNS timeouts: the host is multi-threaded */
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_POST, 1L);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_USERAGENT, "kizuna-webhook/" KZ_PLUGIN_VERSION);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ch->timeout_ms);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ch->timeout_ms);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ch->curl_error);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body_excerpt);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, note_header);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    if (cc == CURLE_OK && ch->ca_file != NULL)
        cc = curl_easy_setopt(c, CURLOPT_CAINFO, ch->ca_file);
    return cc;
}

/* ---- the response --------------------------------------------------------- */

/* The outbox's outcome for an HTTP status. */
static int outcome_of_status(long status)
{
    if (status >= 200 && status <= 299)
        return KZ_OK;
    if (status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599))
        return KZ_ERR_RETRY; /* the receiver is busy, down or timed out: it may work later */
    if (status >= 300 && status <= 499)
        return KZ_ERR_PERMANENT; /* the same request would be refused or redirected again */
    return KZ_ERR_RETRY;         /* not an HTTP final status: a broken receiver or proxy, which may recover */
}

/* Retry-After (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) in
 * milliseconds, at most a day; 0 (the host's backoff) when absent or
 * unreadable. An HTTP-date is measured against the real clock, not the
 * host's (which tests and backfills may pin): it is the receiver's clock. */
static int64_t retry_after_ms(const char *value)
{
    int64_t seconds = 0;
    guint64 delay = 0;
    if (value[0] == '\0')
        return 0;
    if (g_ascii_isdigit(value[0])) {
        if (!g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT64, &delay, NULL))
            return 0;
        seconds = (int64_t)MIN(delay, (guint64)MAX_RETRY_AFTER_S);
    } else {
        time_t when = curl_getdate(value, NULL);
        if (when == -1)
            return 0;
        seconds = (int64_t)when - g_get_real_time() / G_USEC_PER_SEC;
    }
    return CLAMP(seconds, 0, MAX_RETRY_AFTER_S) * 1000;
}

/* The response body as a message can quote it: valid UTF-8, control
 * characters as spaces, "..." when cut, "(empty body)" when empty.
 * Caller frees. */
static char *body_excerpt(const webhook_response *resp)
{
    if (resp->body_total == 0)
        return g_strdup("(empty body)");
    char *text = g_utf8_make_valid(resp->body, (gssize)resp->body_len);
    for (char *p = text; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    if (resp->body_total > resp->body_len) {
        char *cut = g_strconcat(text, "...", NULL);
        g_free(text);
        text = cut;
    }
    return text;
}

/* Turns the receiver's answer into the outcome, the receipt and the hint. */
static int report_response(webhook_channel *ch, long status, const webhook_response *resp, kz_delivery *result)
{
    int outcome = outcome_of_status(status);
    if (outcome == KZ_OK) {
        g_strlcpy(result->receipt, resp->request_id, sizeof result->receipt);
        ch->host->log(ch->ctx, KZ_LOG_DEBUG, "POST %s: HTTP %ld, request id '%s'", ch->shown_url, status,
                      resp->request_id);
        return KZ_OK;
    }
    if (outcome == KZ_ERR_RETRY)
        result->retry_after_ms = retry_after_ms(resp->retry_after);
    g_autofree char *excerpt = body_excerpt(resp);
    const char *note =
        status >= 300 && status <= 399 ? " (redirects are not followed: set url to the final address)" : "";
    return fail(ch, outcome, "POST %s: HTTP %ld%s: %s", ch->shown_url, status, note, excerpt);
}

/* ---- delivery ------------------------------------------------------------- */

static int webhook_deliver(void *self, const kz_touch *touch, kz_delivery *result)
{
    webhook_channel *ch = self;
    if (!key_is_usable(touch->idempotency_key))
        return fail(ch, KZ_ERR_PERMANENT, "touch has no usable idempotency key; not sent to %s", ch->shown_url);

    g_autofree char *body = ch->format == FORMAT_SLACK ? slack_body(touch) : json_body(touch);
    /* The real clock, not the host's: receivers compare the timestamp with
     * their own clock to refuse stale requests. */
    char timestamp[24];
    g_snprintf(timestamp, sizeof timestamp, "%lld", (long long)(g_get_real_time() / G_USEC_PER_SEC));
    g_autofree char *signature = sign(ch->secret, timestamp, body);
    struct curl_slist *headers = request_headers(touch->idempotency_key, timestamp, signature);
    if (headers == NULL)
        return fail(ch, KZ_ERR_NOMEM, "out of memory preparing the POST to %s", ch->shown_url);

    webhook_response resp = {0};
    CURLcode cc = prepare_post(ch, body, headers, &resp);
    if (cc != CURLE_OK) {
        curl_slist_free_all(headers);
        return fail(ch, KZ_ERR, "cannot prepare the POST to %s: %s", ch->shown_url, curl_easy_strerror(cc));
    }
    cc = curl_easy_perform(ch->curl);
    curl_slist_free_all(headers);
    if (cc != CURLE_OK) /* refused, unresolvable, TLS, timed out: the receiver may be back later */
        return fail(ch, KZ_ERR_RETRY, "POST %s failed: %s", ch->shown_url,
                    ch->curl_error[0] != '\0' ? ch->curl_error : curl_easy_strerror(cc));
    long status = 0;
    curl_easy_getinfo(ch->curl, CURLINFO_RESPONSE_CODE, &status);
    return report_response(ch, status, &resp, result);
}

static const kz_param_spec webhook_params[] = {
    KZ_PARAM(KZ_PARAM_STRING, "url", KZ_PARAM_REQUIRED, NULL,
             "the http:// or https:// address touches are POSTed to; redirects are not followed"),
    KZ_PARAM(KZ_PARAM_SECRET, "secret", KZ_PARAM_REQUIRED, NULL,
             "HMAC-SHA256 key for the X-Kizuna-Signature header, shared with the receiver"),
    KZ_PARAM(KZ_PARAM_STRING, "format", 0, "json",
             "json (the whole touch as one object) or slack ({\"text\": ...} for Slack incoming webhooks)"),
    KZ_PARAM(KZ_PARAM_DURATION, "timeout", 0, "10s", "how long one request may take, connecting included (max 10m)"),
    KZ_PARAM(KZ_PARAM_PATH, "ca_file", 0, NULL, "PEM file of CA certificates to trust instead of the system's"),
    KZ_PARAM_END,
};

static const kz_channel_vtable webhook_vtable = {
    .size = sizeof(kz_channel_vtable),
    .tiers = KZ_TIER_MASK_ALL, /* any tier may notify another system */
    .create = webhook_create,
    .destroy = webhook_destroy,
    .deliver = webhook_deliver,
};

static const kz_component webhook_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_CHANNEL,
    .name = "webhook",
    .summary = "POSTs touches as signed JSON to an HTTP(S) endpoint (or a Slack incoming webhook)",
    .params = webhook_params,
    .vtable = &webhook_vtable,
};

KZ_PLUGIN_DEFINE("org.kizuna.webhook", "Webhook channel", KZ_PLUGIN_VERSION, "Kizuna project", "Apache-2.0",
                 "Delivers touches as signed HTTP POSTs", &webhook_component)
