/*
 * plugins/email/email_channel.c — the `email` channel: sends each touch as
 * one plain-text email to its recipient through an SMTP server (libcurl).
 *
 * The message is built here in full: RFC 5322 headers with RFC 2047
 * encoded words for any non-ASCII text, a base64 UTF-8 body, CRLF line
 * endings throughout, so any server relays it as it is. SMTP cannot drop
 * a duplicate, so the touch's idempotency key goes into the Message-ID and
 * an X-Kizuna-Idempotency-Key header, the same on every attempt: a
 * receiver or MTA that dedupes by either sees the touch once.
 *
 * Replies map to the channel contract: accepted is KZ_OK, a 4xx reply or
 * a network failure is retried, a 5xx reply is dead-lettered.
 */
#define _POSIX_C_SOURCE 200809L
#include <kizuna/kizuna.h>

#include <curl/curl.h>
#include <glib.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#define LINE_LIMIT  78  /* RFC 5322 2.1.1: header lines SHOULD end by column 78 */
#define WORD_LIMIT  75  /* RFC 2047 2: an encoded word is at most 75 characters */
#define WORD_FRAME  12  /* strlen("=?UTF-8?B?") + strlen("?=") */
#define BASE64_LINE 76  /* RFC 2045 6.8: body lines of at most 76 characters */
#define REPLY_LIMIT 200 /* how much of a server reply an error message quotes */
#define KEY_LIMIT   128 /* channel.h: idempotency keys are at most 128 bytes */

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    /* Parameter values: owned by the host, valid for the instance's life. */
    const char *url, *from, *from_name, *reply_to, *username, *password, *ca_file;
    const char *from_domain; /* inside `from`: the right side of Message-IDs */
    char *server;            /* "host:port" for messages; owned */
    long use_ssl;            /* CURLUSESSL_* */
    long timeout_ms;
    CURL *curl; /* reused, so consecutive touches can share one connection */
} email_channel;

/* ---- libcurl setup ------------------------------------------------------ */

static gpointer init_curl(gpointer unused)
{
    (void)unused;
    return GINT_TO_POINTER(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
}

/* libcurl's process-wide setup, done once: instances may be created on
 * several threads, and older libcurl builds do not guard it themselves.
 * Plugins are never unloaded, so it is never undone. */
static gboolean curl_ready(void)
{
    static GOnce once = G_ONCE_INIT;
    return GPOINTER_TO_INT(g_once(&once, init_curl, NULL));
}

/* ---- text checks -------------------------------------------------------- */

static gboolean is_atext(char c)
{
    return g_ascii_isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static gboolean is_domain_char(char c)
{
    return g_ascii_isalnum(c) || c == '-';
}

/* True when [begin, end) is a dot-atom of characters that `allowed`
 * accepts: not empty, no leading, trailing or doubled dot. */
static gboolean is_dot_atom(const char *begin, const char *end, gboolean (*allowed)(char))
{
    if (begin == end || *begin == '.' || end[-1] == '.')
        return FALSE;
    for (const char *p = begin; p < end; p++)
        if (*p == '.' ? p[1] == '.' : !allowed(*p))
            return FALSE;
    return TRUE;
}

/* True for local@domain in plain ASCII. Narrower than RFC 5321 on purpose
 * (no quoted local parts, address literals or SMTPUTF8): what passes is
 * safe as it is in an SMTP command and in a header. */
static gboolean is_plain_address(const char *s)
{
    const char *at = strchr(s, '@');
    if (at == NULL || strchr(at + 1, '@') != NULL)
        return FALSE;
    return is_dot_atom(s, at, is_atext) && is_dot_atom(at + 1, at + strlen(at), is_domain_char);
}

/* True for a key as channel.h promises it: 1 to 128 bytes of [A-Za-z0-9._:-]. */
static gboolean is_usable_key(const char *key)
{
    if (key == NULL || key[0] == '\0' || strlen(key) > KEY_LIMIT)
        return FALSE;
    for (const char *p = key; *p != '\0'; p++)
        if (!g_ascii_isalnum(*p) && strchr("._:-", *p) == NULL)
            return FALSE;
    return TRUE;
}

/* True for text that may go into a header: valid UTF-8 without CR or LF,
 * which would end the header and let the text start one of its own. */
static gboolean is_header_safe(const char *s)
{
    return s == NULL || (strpbrk(s, "\r\n") == NULL && g_utf8_validate(s, -1, NULL));
}

/* True for text that can stand in a header as it is: printable ASCII, no
 * "=?" that a reader would take for an encoded word, and no space at
 * either end, which parsers drop. */
static gboolean is_plain_text(const char *s)
{
    size_t n = strlen(s);
    if (n > 0 && (s[0] == ' ' || s[n - 1] == ' '))
        return FALSE;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p > 0x7e)
            return FALSE;
    return strstr(s, "=?") == NULL;
}

/* ---- parameters ----------------------------------------------------------- */

/* Sets the instance's error and returns `status`. */
static int fail(const email_channel *ch, int status, const char *fmt, ...) KZ_PRINTF(3, 4);
static int fail(const email_channel *ch, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ch->host->set_error(ch->ctx, "%s", message);
    return status;
}

/* An optional string parameter, or NULL when absent or empty. */
static const char *optional_string(const email_channel *ch, const char *name)
{
    const char *value = NULL;
    if (ch->host->param_string(ch->ctx, name, &value) != KZ_OK || value == NULL || value[0] == '\0')
        return NULL;
    return value;
}

/* A part of a parsed URL as a GLib string, or NULL when it is absent. */
static char *url_part(CURLU *u, CURLUPart part, unsigned int flags)
{
    char *curl_text = NULL;
    if (curl_url_get(u, part, &curl_text, flags) != CURLUE_OK)
        return NULL;
    char *text = g_strdup(curl_text);
    curl_free(curl_text);
    return text;
}

/* Checks `url`: smtp:// or smtps://, a host, no user or password (those
 * belong in the parameters, where the password stays a secret). Keeps
 * "host:port" for messages and tells whether TLS is implicit (smtps). */
static int read_url(email_channel *ch, gboolean *implicit_tls)
{
    ch->url = optional_string(ch, "url");
    if (ch->url == NULL)
        return fail(ch, KZ_ERR_INVALID, "parameter 'url' is required (smtp://host:port or smtps://host:port)");
    gboolean smtp = g_ascii_strncasecmp(ch->url, "smtp://", 7) == 0;
    *implicit_tls = g_ascii_strncasecmp(ch->url, "smtps://", 8) == 0;
    if (!smtp && !*implicit_tls)
        return fail(ch, KZ_ERR_INVALID, "parameter 'url' must start with smtp:// or smtps://, not '%.*s'",
                    (int)strcspn(ch->url, ":/@"), ch->url);
    CURLU *u = curl_url();
    if (u == NULL)
        return fail(ch, KZ_ERR_NOMEM, "out of memory");
    int rc = KZ_OK;
    if (curl_url_set(u, CURLUPART_URL, ch->url, 0) != CURLUE_OK)
        rc = fail(ch, KZ_ERR_INVALID, "parameter 'url' is not a valid URL (smtp://host:port)");
    g_autofree char *user = rc == KZ_OK ? url_part(u, CURLUPART_USER, 0) : NULL;
    g_autofree char *host = rc == KZ_OK ? url_part(u, CURLUPART_HOST, 0) : NULL;
    g_autofree char *port = rc == KZ_OK ? url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT) : NULL;
    curl_url_cleanup(u);
    if (rc != KZ_OK)
        return rc;
    if (user != NULL)
        return fail(ch, KZ_ERR_INVALID,
                    "parameter 'url' must not carry a user or password: use 'username' and 'password'");
    if (host == NULL || host[0] == '\0')
        return fail(ch, KZ_ERR_INVALID, "parameter 'url' names no host (smtp://host:port)");
    ch->server = g_strdup_printf("%s:%s", host, port != NULL ? port : "?");
    return KZ_OK;
}

/* Maps `tls` to CURLOPT_USE_SSL. smtps:// is TLS from the first byte, so
 * it is always "all"; for smtp:// "try" (the default) takes STARTTLS when
 * the server offers it, "starttls" refuses a server that does not. */
static int read_tls(email_channel *ch, gboolean implicit_tls)
{
    const char *tls = optional_string(ch, "tls");
    if (tls == NULL || strcmp(tls, "try") == 0)
        ch->use_ssl = CURLUSESSL_TRY;
    else if (strcmp(tls, "starttls") == 0)
        ch->use_ssl = CURLUSESSL_ALL;
    else if (strcmp(tls, "none") == 0)
        ch->use_ssl = CURLUSESSL_NONE;
    else
        return fail(ch, KZ_ERR_INVALID, "parameter 'tls' must be none, starttls or try, got '%s'", tls);
    if (implicit_tls && ch->use_ssl == CURLUSESSL_NONE)
        return fail(ch, KZ_ERR_INVALID, "parameter 'tls' is none but an smtps:// url is always TLS");
    if (implicit_tls)
        ch->use_ssl = CURLUSESSL_ALL;
    return KZ_OK;
}

static int read_addresses(email_channel *ch)
{
    ch->from = optional_string(ch, "from");
    if (ch->from == NULL)
        return fail(ch, KZ_ERR_INVALID, "parameter 'from' is required (the sender's address)");
    if (!is_plain_address(ch->from))
        return fail(ch, KZ_ERR_INVALID, "parameter 'from' must be an address such as cs@example.com, got '%s'",
                    ch->from);
    ch->from_domain = strchr(ch->from, '@') + 1;
    ch->from_name = optional_string(ch, "from_name");
    if (!is_header_safe(ch->from_name))
        return fail(ch, KZ_ERR_INVALID, "parameter 'from_name' must be one line of UTF-8 text");
    ch->reply_to = optional_string(ch, "reply_to");
    if (ch->reply_to != NULL && !is_plain_address(ch->reply_to))
        return fail(ch, KZ_ERR_INVALID, "parameter 'reply_to' must be an address such as cs@example.com, got '%s'",
                    ch->reply_to);
    return KZ_OK;
}

static int read_credentials(email_channel *ch)
{
    ch->username = optional_string(ch, "username");
    ch->password = optional_string(ch, "password");
    if ((ch->username == NULL) != (ch->password == NULL))
        return fail(ch, KZ_ERR_INVALID, "parameters 'username' and 'password' go together: give both or neither");
    if (ch->username != NULL && ch->use_ssl == CURLUSESSL_NONE)
        ch->host->log(ch->ctx, KZ_LOG_WARNING, "tls is none: the SMTP password crosses the network in clear text");
    return KZ_OK;
}

static int read_transport(email_channel *ch)
{
    ch->ca_file = optional_string(ch, "ca_file");
    if (ch->ca_file != NULL && !g_file_test(ch->ca_file, G_FILE_TEST_IS_REGULAR))
        return fail(ch, KZ_ERR_INVALID, "parameter 'ca_file': no such file %s", ch->ca_file);
    int64_t timeout_ms = 30000; /* the spec's default, for a host that left it out */
    ch->host->param_duration(ch->ctx, "timeout", &timeout_ms);
    if (timeout_ms <= 0)
        return fail(ch, KZ_ERR_INVALID, "parameter 'timeout' must be longer than 0");
    ch->timeout_ms = (long)MIN(timeout_ms, (int64_t)LONG_MAX);
    return KZ_OK;
}

static int read_params(email_channel *ch)
{
    gboolean implicit_tls = FALSE;
    int rc = read_url(ch, &implicit_tls);
    if (rc == KZ_OK)
        rc = read_tls(ch, implicit_tls);
    if (rc == KZ_OK)
        rc = read_addresses(ch);
    if (rc == KZ_OK)
        rc = read_credentials(ch);
    if (rc == KZ_OK)
        rc = read_transport(ch);
    return rc;
}

static void email_destroy(void *self)
{
    email_channel *ch = self;
    if (ch->curl != NULL)
        curl_easy_cleanup(ch->curl);
    g_free(ch->server);
    g_free(ch);
}

/* Validates the parameters and makes the curl handle; connects nowhere. */
static int email_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    if (!curl_ready()) {
        host->set_error(ctx, "libcurl failed to initialise");
        return KZ_ERR;
    }
    email_channel *ch = g_new0(email_channel, 1);
    ch->host = host;
    ch->ctx = ctx;
    int rc = read_params(ch);
    if (rc == KZ_OK && (ch->curl = curl_easy_init()) == NULL)
        rc = fail(ch, KZ_ERR_NOMEM, "cannot create a libcurl handle");
    if (rc != KZ_OK) {
        email_destroy(ch);
        return rc;
    }
    *self = ch;
    return KZ_OK;
}

/* ---- the message ---------------------------------------------------------- */

/* How many bytes of whole UTF-8 characters from `p` fit in `capacity`. */
static size_t whole_chars(const char *p, size_t capacity)
{
    size_t n = 0;
    while (p[n] != '\0') {
        size_t next = (size_t)(g_utf8_next_char(p + n) - p);
        if (next > capacity)
            break;
        n = next;
    }
    return n;
}

/* How many bytes one encoded word starting at `column` can carry. */
static size_t word_capacity(size_t column)
{
    size_t room = column >= LINE_LIMIT ? 0 : MIN((size_t)WORD_LIMIT, LINE_LIMIT - column);
    return room <= WORD_FRAME ? 0 : (room - WORD_FRAME) / 4 * 3;
}

/* Appends `text` as RFC 2047 "=?UTF-8?B?...?=" words, each of whole
 * characters (a reader decodes words one by one) and at most 75
 * characters, one per line: the white space of the folds between
 * encoded words is not part of the text. Returns the column reached. */
static size_t put_encoded_words(GString *out, size_t column, const char *text)
{
    const char *p = text;
    while (*p != '\0') {
        size_t n = whole_chars(p, word_capacity(column));
        if (n == 0 && column > 1) { /* not one character fits here: go on a new line */
            g_string_append(out, "\r\n ");
            column = 1;
            continue;
        }
        g_autofree char *b64 = g_base64_encode((const guchar *)p, n);
        g_string_append_printf(out, "=?UTF-8?B?%s?=", b64);
        column += WORD_FRAME + strlen(b64);
        p += n;
        if (*p != '\0') {
            g_string_append(out, "\r\n ");
            column = 1;
        }
    }
    return column;
}

/* An unstructured header (Subject and the like): as it is when it is
 * plain and fits one line, else as encoded words. */
static void put_text_header(GString *out, const char *name, const char *value)
{
    g_string_append_printf(out, "%s: ", name);
    size_t column = strlen(name) + 2;
    if (is_plain_text(value) && column + strlen(value) <= LINE_LIMIT)
        g_string_append(out, value);
    else
        put_encoded_words(out, column, value);
    g_string_append(out, "\r\n");
}

/* A display name: a quoted string when it is plain ASCII, else encoded
 * words (RFC 2047 5(3) allows them in a phrase). Returns the column. */
static size_t put_display_name(GString *out, size_t column, const char *name)
{
    if (!is_plain_text(name) || column + strlen(name) + 2 > LINE_LIMIT)
        return put_encoded_words(out, column, name);
    size_t start = out->len;
    g_string_append_c(out, '"');
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            g_string_append_c(out, '\\');
        g_string_append_c(out, *p);
    }
    g_string_append_c(out, '"');
    return column + (out->len - start);
}

/* "Name: display <address>", or "Name: address" without a display name. */
static void put_mailbox_header(GString *out, const char *name, const char *display, const char *address)
{
    g_string_append_printf(out, "%s: ", name);
    if (display == NULL || display[0] == '\0') {
        g_string_append_printf(out, "%s\r\n", address);
        return;
    }
    size_t column = put_display_name(out, strlen(name) + 2, display);
    g_string_append(out, column + 1 + strlen(address) + 2 > LINE_LIMIT ? "\r\n " : " ");
    g_string_append_printf(out, "<%s>\r\n", address);
}

/* Date in RFC 5322 3.3 form, in English whatever the locale, UTC. */
static void put_date_header(GString *out, kz_time when)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t seconds = (time_t)(when / G_USEC_PER_SEC);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    g_string_append_printf(out, "Date: %s, %d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
                           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* When the playbook fired, or now when the touch does not say (or says
 * something outside years 1970 to 9999, which no Date header can hold). */
static kz_time touch_time(const email_channel *ch, const kz_touch *touch)
{
    const kz_time year_10000 = 253402300800LL * G_USEC_PER_SEC;
    if (touch->created >= 0 && touch->created < year_10000)
        return touch->created;
    return ch->host->now(ch->ctx);
}

/* `text` with every line break as CRLF: RFC 2046 4.1.1's canonical form,
 * which a base64 body must carry. */
static GString *canonical_lines(const char *text)
{
    GString *out = g_string_sized_new(strlen(text) + 64);
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\r' || *p == '\n') {
            g_string_append(out, "\r\n");
            if (p[0] == '\r' && p[1] == '\n')
                p++;
        } else {
            g_string_append_c(out, *p);
        }
    }
    return out;
}

/* The body base64-encoded in lines of 76: 8-bit UTF-8 then crosses
 * servers that speak only 7-bit, and no line nears SMTP's limit. */
static void put_body(GString *out, const char *body)
{
    g_autoptr(GString) text = canonical_lines(body);
    g_autofree char *b64 = g_base64_encode((const guchar *)text->str, text->len);
    for (size_t i = 0, n = strlen(b64); i < n; i += BASE64_LINE) {
        g_string_append_len(out, b64 + i, (gssize)MIN((size_t)BASE64_LINE, n - i));
        g_string_append(out, "\r\n");
    }
}

/* "<key@from-domain>", with the key's ':' written '=' and '.' written '+':
 * RFC 5322's id-left is a dot-atom, which has no ':' and no leading,
 * trailing or doubled '.', and a reader that meets one loses the id
 * (Python cuts "<a:b@c>" to "<a"). Neither '=' nor '+' can occur in a
 * key, so different keys still give different ids. Caller frees. */
static char *message_id_for(const email_channel *ch, const char *key)
{
    g_autofree char *left = g_strdelimit(g_strdelimit(g_strdup(key), ":", '='), ".", '+');
    return g_strdup_printf("<%s@%s>", left, ch->from_domain);
}

/* The whole message as it goes after DATA, CRLF line endings (libcurl
 * adds the dot-stuffing and the final "."). The touch passed
 * check_touch(). */
static GString *build_message(const email_channel *ch, const kz_touch *touch, const char *message_id)
{
    GString *out = g_string_sized_new(2048);
    put_date_header(out, touch_time(ch, touch));
    put_mailbox_header(out, "From", ch->from_name, ch->from);
    put_mailbox_header(out, "To", touch->recipient->name, touch->recipient->email);
    if (ch->reply_to != NULL)
        g_string_append_printf(out, "Reply-To: %s\r\n", ch->reply_to);
    put_text_header(out, "Subject", touch->subject != NULL ? touch->subject : "");
    g_string_append_printf(out, "Message-ID: %s\r\n", message_id);
    g_string_append(out, "MIME-Version: 1.0\r\n"
                         "Content-Type: text/plain; charset=UTF-8\r\n"
                         "Content-Transfer-Encoding: base64\r\n");
    g_string_append_printf(out, "X-Kizuna-Idempotency-Key: %s\r\n", touch->idempotency_key);
    if (touch->playbook != NULL)
        put_text_header(out, "X-Kizuna-Playbook", touch->playbook);
    if (touch->account_id != NULL)
        put_text_header(out, "X-Kizuna-Account", touch->account_id);
    g_string_append(out, "\r\n");
    put_body(out, touch->body != NULL ? touch->body : "");
    return out;
}

/* Refuses, as permanent, a touch that no retry can send: no usable key,
 * no address, invalid UTF-8, or a line break in text bound for a header
 * (it would let the text add headers of its own, such as Bcc). */
static int check_touch(const email_channel *ch, const kz_touch *touch)
{
    if (!is_usable_key(touch->idempotency_key))
        return fail(ch, KZ_ERR_PERMANENT, "touch has no usable idempotency key");
    const kz_recipient *to = touch->recipient;
    if (to == NULL || to->email == NULL || to->email[0] == '\0')
        return fail(ch, KZ_ERR_PERMANENT, "touch %s has no recipient with an email address", touch->idempotency_key);
    const struct {
        const char *what, *text;
    } header_texts[] = {{"recipient address", to->email},
                        {"recipient name", to->name},
                        {"subject", touch->subject},
                        {"playbook", touch->playbook},
                        {"account id", touch->account_id}};
    for (size_t i = 0; i < G_N_ELEMENTS(header_texts); i++)
        if (!is_header_safe(header_texts[i].text))
            return fail(ch, KZ_ERR_PERMANENT,
                        "touch %s: the %s holds a line break or invalid UTF-8 (refused: it would forge headers)",
                        touch->idempotency_key, header_texts[i].what);
    if (!is_plain_address(to->email))
        return fail(ch, KZ_ERR_PERMANENT, "touch %s: recipient address '%s' is not of the form local@domain (ASCII)",
                    touch->idempotency_key, to->email);
    if (touch->body != NULL && !g_utf8_validate(touch->body, -1, NULL))
        return fail(ch, KZ_ERR_PERMANENT, "touch %s: the body is not valid UTF-8", touch->idempotency_key);
    return KZ_OK;
}

/* ---- the SMTP transaction --------------------------------------------------- */

/* What one transfer reads and reports; lives on deliver()'s stack. */
typedef struct {
    const GString *message;
    size_t sent;
    GString *reply; /* the server's failing reply line, else its last one */
    char curl_error[CURL_ERROR_SIZE];
} transfer;

static size_t read_message(char *buffer, size_t size, size_t nitems, void *userdata)
{
    transfer *t = userdata;
    size_t n = MIN(size * nitems, t->message->len - t->sent);
    memcpy(buffer, t->message->str + t->sent, n);
    t->sent += n;
    return n;
}

/* libcurl hands every SMTP reply line here. Keeps the first 4xx or 5xx
 * line (what went wrong), else the last line, printable ASCII only, so
 * an error message can quote the server. */
static size_t keep_reply(char *line, size_t size, size_t nitems, void *userdata)
{
    transfer *t = userdata;
    size_t n = size * nitems;
    gboolean kept_failure = t->reply->len > 0 && (t->reply->str[0] == '4' || t->reply->str[0] == '5');
    if (kept_failure)
        return n;
    g_string_truncate(t->reply, 0);
    for (size_t i = 0; i < n && t->reply->len < REPLY_LIMIT && line[i] != '\r' && line[i] != '\n'; i++)
        g_string_append_c(t->reply, g_ascii_isprint(line[i]) ? line[i] : '?');
    return n;
}

/* curl_easy_setopt along a chain: the first failure sticks. */
#define SETOPT(rc, h, opt, val) ((rc) = (rc) != CURLE_OK ? (rc) : curl_easy_setopt((h), (opt), (val)))

static CURLcode set_server_options(const email_channel *ch)
{
    CURL *h = ch->curl;
    CURLcode rc = CURLE_OK;
    SETOPT(rc, h, CURLOPT_URL, ch->url);
    SETOPT(rc, h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    SETOPT(rc, h, CURLOPT_NOSIGNAL, 1L); /* the host's threads must not get SIGALRM */
    SETOPT(rc, h, CURLOPT_CONNECTTIMEOUT_MS, ch->timeout_ms);
    SETOPT(rc, h, CURLOPT_TIMEOUT_MS, ch->timeout_ms);
    SETOPT(rc, h, CURLOPT_USE_SSL, ch->use_ssl);
    if (ch->ca_file != NULL)
        SETOPT(rc, h, CURLOPT_CAINFO, ch->ca_file);
    if (ch->username != NULL) {
        SETOPT(rc, h, CURLOPT_USERNAME, ch->username);
        SETOPT(rc, h, CURLOPT_PASSWORD, ch->password);
    }
    return rc;
}

static CURLcode set_transfer_options(const email_channel *ch, struct curl_slist *rcpt, transfer *t)
{
    CURL *h = ch->curl;
    CURLcode rc = set_server_options(ch);
    SETOPT(rc, h, CURLOPT_MAIL_FROM, ch->from);
    SETOPT(rc, h, CURLOPT_MAIL_RCPT, rcpt);
    SETOPT(rc, h, CURLOPT_UPLOAD, 1L);
    SETOPT(rc, h, CURLOPT_READFUNCTION, read_message);
    SETOPT(rc, h, CURLOPT_READDATA, t);
    SETOPT(rc, h, CURLOPT_HEADERFUNCTION, keep_reply);
    SETOPT(rc, h, CURLOPT_HEADERDATA, t);
    SETOPT(rc, h, CURLOPT_ERRORBUFFER, t->curl_error);
    return rc;
}

/* True when the server refused the instance rather than the touch: a
 * wrong or missing login, or TLS it insists on (RFC 4954 530, 534, 535,
 * 538). Every touch would fail alike until the configuration is fixed. */
static gboolean is_login_refused(CURLcode rc, long code)
{
    return rc == CURLE_LOGIN_DENIED || code == 530 || code == 534 || code == 535 || code == 538;
}

/* Maps a failed transfer to the channel contract: a 5xx reply is the
 * server's final no to this touch (unknown mailbox, policy); a 4xx reply,
 * a timeout or a lost connection may pass later. A refused login is
 * retried too, so the touches wait for fixed credentials instead of being
 * dead-lettered one by one. */
static int report_failure(const email_channel *ch, const char *rcpt, CURLcode rc, long code, const transfer *t)
{
    const char *reply = t->reply->len > 0 ? t->reply->str : "(no reply text)";
    if (is_login_refused(rc, code))
        return fail(ch, KZ_ERR_RETRY,
                    "email to %s not sent: %s refused the login: %s (check username, password and tls; will retry)",
                    rcpt, ch->server, reply);
    if (code >= 500 && code <= 599)
        return fail(ch, KZ_ERR_PERMANENT, "email to %s refused by %s: %s (permanent, not retried)", rcpt, ch->server,
                    reply);
    if (code >= 400 && code <= 499)
        return fail(ch, KZ_ERR_RETRY, "email to %s deferred by %s: %s (will retry)", rcpt, ch->server, reply);
    return fail(ch, KZ_ERR_RETRY, "email to %s not sent: %s: %s (will retry)", rcpt, ch->server, t->curl_error);
}

/* Runs one SMTP transaction for `message` to `rcpt`. The handle is reset
 * before returning so it keeps no pointer into this stack frame (closing
 * its cached connection later still reads a reply). */
static int send_message(const email_channel *ch, const char *rcpt, const GString *message)
{
    g_autoptr(GString) reply = g_string_new(NULL);
    transfer t = {.message = message, .reply = reply};
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
    if (rcpts == NULL)
        return fail(ch, KZ_ERR_NOMEM, "out of memory");
    CURLcode rc = set_transfer_options(ch, rcpts, &t);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(ch->curl);
    else
        g_strlcpy(t.curl_error, curl_easy_strerror(rc), sizeof t.curl_error);
    long code = 0;
    curl_easy_getinfo(ch->curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_reset(ch->curl);
    curl_slist_free_all(rcpts);
    if (rc == CURLE_OK)
        return KZ_OK;
    if (t.curl_error[0] == '\0')
        g_strlcpy(t.curl_error, curl_easy_strerror(rc), sizeof t.curl_error);
    return report_failure(ch, rcpt, rc, code, &t);
}

/* Sends one touch as one email; on success the receipt is its Message-ID. */
static int email_deliver(void *self, const kz_touch *touch, kz_delivery *result)
{
    email_channel *ch = self;
    int rc = check_touch(ch, touch);
    if (rc != KZ_OK)
        return rc;
    g_autofree char *message_id = message_id_for(ch, touch->idempotency_key);
    g_autoptr(GString) message = build_message(ch, touch, message_id);
    rc = send_message(ch, touch->recipient->email, message);
    if (rc == KZ_OK && KZ_HAS_FIELD(result, kz_delivery, receipt))
        g_strlcpy(result->receipt, message_id, sizeof result->receipt);
    return rc;
}

static const kz_param_spec email_params[] = {
    KZ_PARAM(KZ_PARAM_STRING, "url", KZ_PARAM_REQUIRED, NULL, "SMTP server: smtp://host:port or smtps://host:port"),
    KZ_PARAM(KZ_PARAM_STRING, "from", KZ_PARAM_REQUIRED, NULL, "sender address (envelope and From header)"),
    KZ_PARAM(KZ_PARAM_STRING, "from_name", 0, NULL, "sender display name in the From header"),
    KZ_PARAM(KZ_PARAM_STRING, "reply_to", 0, NULL, "address for the Reply-To header"),
    KZ_PARAM(KZ_PARAM_STRING, "username", 0, NULL, "SMTP AUTH user (with password)"),
    KZ_PARAM(KZ_PARAM_SECRET, "password", 0, NULL, "SMTP AUTH password (with username)"),
    KZ_PARAM(KZ_PARAM_STRING, "tls", 0, "try",
             "for smtp://: none, starttls (required) or try (when offered); smtps:// is always TLS"),
    KZ_PARAM(KZ_PARAM_PATH, "ca_file", 0, NULL, "PEM file of CA certificates to verify the server with"),
    KZ_PARAM(KZ_PARAM_DURATION, "timeout", 0, "30s", "limit for one whole SMTP transaction"),
    KZ_PARAM_END,
};

static const kz_channel_vtable email_vtable = {
    .size = sizeof(kz_channel_vtable),
    .tiers = KZ_TIER_MASK_ALL, /* campaigns, pooled check-ins and a CSM's own mail alike */
    .create = email_create,
    .destroy = email_destroy,
    .deliver = email_deliver,
};

static const kz_component email_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_CHANNEL,
    .name = "email",
    .summary = "Sends each touch as a plain-text email over SMTP",
    .params = email_params,
    .vtable = &email_vtable,
};

KZ_PLUGIN_DEFINE("org.kizuna.email", "Email channel", KZ_PLUGIN_VERSION, "Kizuna project", "Apache-2.0",
                 "Sends touches as email through an SMTP server", &email_component)
