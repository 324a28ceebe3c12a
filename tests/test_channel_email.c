/*
 * tests/test_channel_email.c — the bundled `email` channel, loaded from the
 * build's plugin directory, against a real SMTP server on loopback
 * (tests/servers/smtp_server.py, aiosmtpd), which stores every message it
 * accepts as JSON decoded by Python's email package.
 *
 * Proves: a UTF-8 touch arrives once, to exactly its recipient, with
 * subject, body, sender and idempotency headers intact as a mail reader
 * decodes them, in 7-bit CRLF form; a 300-character subject folds and
 * still round-trips; a repeated key gives the same Message-ID; SMTP 4xx
 * and a dead server are retryable, 5xx and unsendable touches permanent;
 * CR/LF in header text is refused, not injected; STARTTLS with a login
 * and smtps:// work with a ca_file, and an untrusted certificate, a wrong
 * password or a server without STARTTLS when it is required all stop the
 * mail; create() refuses bad parameters without connecting anywhere.
 */
#include "instance.h"
#include "params.h"
#include "registry.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define SENDER     "cs@kizuna.example"
#define SENT_AT_US 1700000000000000LL /* Tue, 14 Nov 2023 22:13:20 UTC */
#define LOGIN_USER "kizuna"
#define LOGIN_PASS "s3cret pass"

/* How a test's server runs. */
typedef struct {
    const char *tls;          /* NULL (plain SMTP), "starttls" or "smtps" */
    gboolean require_login;   /* LOGIN_USER / LOGIN_PASS, over TLS */
    const char *idle_timeout; /* seconds before it closes an idle connection; NULL = 300 */
} server_mode;

static const server_mode plain_server = {NULL, FALSE, NULL};
static const server_mode starttls_login_server = {"starttls", TRUE, NULL};
static const server_mode smtps_server = {"smtps", FALSE, NULL};
static const server_mode impatient_server = {NULL, FALSE, "0.5"};

/* The python3 that runs the server, found once in main(); NULL = none. */
static char *python;

typedef struct {
    char *dir;     /* private temp directory: the port file and out/ */
    char *out_dir; /* where the server writes one JSON file per message */
    char *cert;    /* the server's self-signed certificate, for TLS modes */
    GPid pid;      /* the SMTP server */
    int port;
    kz_registry *reg;
} fixture;

/* ---- the server ------------------------------------------------------------- */

/* Appends copies of its NULL-terminated string arguments to `argv`. */
static void add_args(GPtrArray *argv, ...) G_GNUC_NULL_TERMINATED;
static void add_args(GPtrArray *argv, ...)
{
    va_list ap;
    va_start(ap, argv);
    for (const char *arg; (arg = va_arg(ap, const char *)) != NULL;)
        g_ptr_array_add(argv, g_strdup(arg));
    va_end(ap);
}

/* Runs `argv` (a NULL-terminated GPtrArray) to its end; TRUE when it exits
 * with 0. Its stderr lands in *errors when that is not NULL. */
static gboolean run_command(GPtrArray *argv, char **errors)
{
    int status = 0;
    GSpawnFlags flags = G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL;
    if (errors == NULL)
        flags |= G_SPAWN_STDERR_TO_DEV_NULL;
    return g_spawn_sync(NULL, (char **)argv->pdata, NULL, flags, NULL, NULL, NULL, errors, &status, NULL) &&
           g_spawn_check_wait_status(status, NULL);
}

static gboolean has_aiosmtpd(const char *interpreter)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    add_args(argv, interpreter, "-c", "import aiosmtpd", NULL);
    g_ptr_array_add(argv, NULL);
    return run_command(argv, NULL);
}

/* A python3 that can import aiosmtpd, or NULL. PATH's first, then the
 * system's: a version manager's python3 (pyenv) can shadow the Debian
 * interpreter that python3-aiosmtpd installs into. */
static char *find_python(void)
{
    g_autofree char *on_path = g_find_program_in_path("python3");
    const char *candidates[] = {on_path, "/usr/bin/python3"};
    for (guint i = 0; i < G_N_ELEMENTS(candidates); i++)
        if (candidates[i] != NULL && has_aiosmtpd(candidates[i]))
            return g_strdup(candidates[i]);
    return NULL;
}

/* In the server's process before exec: die with the test, so a failed
 * assertion cannot leave a server holding ctest's output pipe open. */
static void die_with_parent(gpointer unused)
{
    (void)unused;
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
}

/* Waits up to 10 s for the server to write its port, failing at once if
 * it exits first. */
static int wait_for_port(GPid pid, const char *port_file)
{
    for (int i = 0; i < 1000; i++) {
        g_autofree char *text = NULL;
        if (g_file_get_contents(port_file, &text, NULL, NULL))
            return atoi(text);
        int status = 0;
        g_assert_cmpint(waitpid(pid, &status, WNOHANG), ==, 0); /* the server died: see its stderr above */
        g_usleep(10000);
    }
    g_assert_not_reached();
}

/* A self-signed certificate for 127.0.0.1 in f->dir; returns the key's path. */
static char *make_certificate(fixture *f)
{
    f->cert = g_build_filename(f->dir, "cert.pem", NULL);
    char *key = g_build_filename(f->dir, "key.pem", NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    add_args(argv, "openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", NULL);
    add_args(argv, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", NULL);
    add_args(argv, "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", f->cert, NULL);
    g_ptr_array_add(argv, NULL);
    g_autofree char *errors = NULL;
    if (!run_command(argv, &errors))
        g_error("openssl req failed: %s", errors != NULL ? errors : "cannot run openssl");
    return key;
}

static void server_start(fixture *f, gconstpointer data)
{
    const server_mode *mode = data;
    f->dir = kz_test_tmpdir();
    f->out_dir = g_build_filename(f->dir, "out", NULL);
    g_assert_cmpint(g_mkdir(f->out_dir, 0755), ==, 0);
    g_autofree char *port_file = g_build_filename(f->dir, "port", NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    add_args(argv, python, KZ_TEST_SERVERS_DIR "/smtp_server.py", port_file, f->out_dir, NULL);
    if (mode->tls != NULL) {
        g_autofree char *key = make_certificate(f);
        add_args(argv, "--tls", mode->tls, "--cert", f->cert, "--key", key, NULL);
    }
    if (mode->require_login)
        add_args(argv, "--auth", LOGIN_USER ":" LOGIN_PASS, NULL);
    if (mode->idle_timeout != NULL)
        add_args(argv, "--idle-timeout", mode->idle_timeout, NULL);
    g_ptr_array_add(argv, NULL);
    g_autoptr(GError) err = NULL;
    g_spawn_async(NULL, (char **)argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent, NULL, &f->pid, &err);
    g_assert_no_error(err);
    f->port = wait_for_port(f->pid, port_file);
    g_assert_cmpint(f->port, >, 0);
    f->reg = kz_registry_new();
    g_assert_cmpuint(kz_registry_scan_dir(f->reg, KZ_BUNDLED_PLUGIN_DIR, TRUE), >=, 1);
}

/* Stops the server and checks that it exits cleanly on SIGTERM. */
static void server_stop(fixture *f, gconstpointer unused)
{
    (void)unused;
    int status = 0;
    g_assert_cmpint(kill(f->pid, SIGTERM), ==, 0);
    g_assert_cmpint(waitpid(f->pid, &status, 0), ==, f->pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    g_spawn_close_pid(f->pid);
    kz_registry_free(f->reg);
    kz_test_rmtree(f->dir);
    g_free(f->cert);
    g_free(f->out_dir);
    g_free(f->dir);
}

/* How many messages the server has stored. */
static guint stored_count(const fixture *f)
{
    g_autoptr(GDir) dir = g_dir_open(f->out_dir, 0, NULL);
    g_assert_nonnull(dir);
    guint n = 0;
    for (const char *name; (name = g_dir_read_name(dir)) != NULL;)
        n += g_str_has_suffix(name, ".json");
    return n;
}

/* The n-th stored message (1-based); the parser owns the object. */
static JsonObject *stored_message(const fixture *f, guint n, JsonParser *parser)
{
    g_autofree char *name = g_strdup_printf("%04u.json", n);
    g_autofree char *path = g_build_filename(f->out_dir, name, NULL);
    g_autoptr(GError) err = NULL;
    g_assert_true(json_parser_load_from_file(parser, path, &err));
    g_assert_no_error(err);
    return json_node_get_object(json_parser_get_root(parser));
}

static const char *header(JsonObject *msg, const char *name)
{
    JsonObject *headers = json_object_get_object_member(msg, "headers");
    return json_object_has_member(headers, name) ? json_object_get_string_member(headers, name) : NULL;
}

/* ---- the channel ------------------------------------------------------------ */

/* Typed parameters from name/value pairs (NULL-terminated), with the
 * spec's defaults for the rest, as the stack config would give them. */
static GHashTable *email_params(const kz_component_info *comp, const char *const *pairs)
{
    GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    for (guint i = 0; i < comp->params->len; i++) {
        const kz_param_info *spec = comp->params->pdata[i];
        const char *text = spec->default_value;
        for (const char *const *p = pairs; p[0] != NULL; p += 2)
            if (strcmp(p[0], spec->name) == 0)
                text = p[1];
        if (text == NULL)
            continue;
        kz_param_value *v = g_new0(kz_param_value, 1);
        g_assert_true(kz_param_parse(spec->type, text, v, NULL));
        g_hash_table_insert(params, g_strdup(spec->name), v);
    }
    for (const char *const *p = pairs; p[0] != NULL; p += 2)
        g_assert_true(g_hash_table_contains(params, p[0])); /* a typo would test nothing */
    return params;
}

/* An email instance, or NULL with *err set when create() refuses. */
static kz_instance *email_instance_with(const fixture *f, const char *const *pairs, GError **err)
{
    const kz_component_info *comp = kz_registry_find_component(f->reg, "email");
    g_assert_nonnull(comp);
    g_assert_cmpint(comp->kind, ==, KZ_COMPONENT_CHANNEL);
    g_assert_cmpuint(comp->vt.channel.tiers, ==, KZ_TIER_MASK_ALL);
    return kz_instance_create(comp, "mail", email_params(comp, pairs), NULL, err);
}

/* An instance that create() accepts. */
static kz_instance *email_instance_from(const fixture *f, const char *const *pairs)
{
    g_autoptr(GError) err = NULL;
    kz_instance *inst = email_instance_with(f, pairs, &err);
    g_assert_no_error(err);
    return inst;
}

/* An instance sending through `port` on loopback, plain SMTP. */
static kz_instance *email_instance(const fixture *f, int port)
{
    g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%d", port);
    const char *const pairs[] = {
        "url",     url,  "from", SENDER, "from_name", "Kizuna サクセス", "reply_to", "help@kizuna.example",
        "timeout", "5s", NULL};
    return email_instance_from(f, pairs);
}

static kz_touch touch_for(const kz_recipient *to, const char *key, const char *subject, const char *body)
{
    const kz_touch t = {.size = sizeof t,
                        .attempt = 1,
                        .idempotency_key = key,
                        .playbook = "red-alert",
                        .trigger = "grade:red",
                        .account_id = "acct-1",
                        .account_name = "Acme",
                        .recipient = to,
                        .subject = subject,
                        .body = body,
                        .created = SENT_AT_US,
                        .due = KZ_TIME_NONE};
    return t;
}

static int deliver(kz_instance *inst, const kz_touch *t, kz_delivery *result)
{
    kz_instance_begin_call(inst);
    return kz_instance_component(inst)->vt.channel.deliver(kz_instance_self(inst), t, result);
}

/* Delivers a touch to `email`, expecting `want`; returns the error
 * message the channel set (empty on success). */
static char *deliver_expecting(kz_instance *inst, const char *email, const char *subject, int want)
{
    const kz_recipient to = {sizeof to, 0, "c1", "Aiko", email, "admin"};
    const kz_touch t = touch_for(email != NULL ? &to : NULL, "red-alert:acct-1:9", subject, "body");
    kz_delivery result = {sizeof result, 0, 0, ""};
    int rc = deliver(inst, &t, &result);
    g_assert_cmpint(rc, ==, want);
    if (rc == KZ_OK)
        return g_strdup("");
    g_autoptr(GError) err = NULL;
    kz_instance_fail(inst, rc, "deliver", &err);
    g_test_message("%s", err->message);
    return g_strdup(err->message);
}

/* `text` with every "\n" written "\r\n". */
static char *with_crlf(const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    return g_strjoinv("\r\n", lines);
}

/* One RFC 2047 word: "=?UTF-8?B?...?=", at most 75 characters, whose
 * text alone is valid UTF-8 (RFC 2047 5: a character may not straddle
 * two words, though lenient readers such as Python's forgive it). */
static void assert_encoded_word(const char *word, gsize len)
{
    static const char prefix[] = "=?UTF-8?B?";
    g_assert_cmpuint(len, <=, 75);
    g_assert_true(g_str_has_prefix(word, prefix));
    g_autofree char *b64 = g_strndup(word + strlen(prefix), len - strlen(prefix) - 2);
    gsize n = 0;
    g_autofree guchar *text = g_base64_decode(b64, &n);
    g_assert_true(g_utf8_validate((const char *)text, (gssize)n, NULL));
}

/* The raw message is 7-bit, every line ends in CRLF, no header line
 * passes 78 columns (RFC 5322 2.1.1) and every encoded word is sound. */
static void assert_well_formed(const char *raw)
{
    const char *head_end = strstr(raw, "\r\n\r\n");
    g_assert_nonnull(head_end);
    for (const char *p = raw; *p != '\0'; p++) {
        g_assert_cmpuint((unsigned char)*p, <, 0x80);
        if (*p == '\n')
            g_assert_true(p > raw && p[-1] == '\r');
    }
    g_autofree char *head = g_strndup(raw, (gsize)(head_end - raw));
    g_auto(GStrv) lines = g_strsplit(head, "\r\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_assert_cmpuint(strlen(lines[i]), <=, 78);
        for (const char *w = strstr(lines[i], "=?"); w != NULL;) {
            const char *end = strstr(w + 2, "?=");
            g_assert_nonnull(end);
            assert_encoded_word(w, (gsize)(end + 2 - w));
            w = strstr(end + 2, "=?");
        }
    }
}

/* ---- tests ------------------------------------------------------------------ */

static void test_email_delivers_utf8_message_once(fixture *f, gconstpointer unused)
{
    (void)unused;
    const char *key = "red-alert:acct-1:7";
    const char *subject = "健康スコアが下がりました — Acme";
    const char *body = "Acme様\n\n健康スコアが 72 から 41 に下がりました。\nÇa va? — Kizuna\n";
    const kz_recipient to = {sizeof to, 0, "c1", "Aiko 佐藤", "aiko@example.jp", "admin"};
    const kz_touch t = touch_for(&to, key, subject, body);
    kz_delivery result = {sizeof result, 0, 0, ""};
    g_autoptr(kz_instance) inst = email_instance(f, f->port);
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_OK);
    /* ':' is not allowed in a Message-ID: it travels as '=' */
    g_assert_cmpstr(result.receipt, ==, "<red-alert=acct-1=7@kizuna.example>");

    g_assert_cmpuint(stored_count(f), ==, 1);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *msg = stored_message(f, 1, parser);
    g_assert_cmpstr(json_object_get_string_member(msg, "mail_from"), ==, SENDER);
    JsonArray *rcpts = json_object_get_array_member(msg, "rcpt_tos");
    g_assert_cmpuint(json_array_get_length(rcpts), ==, 1);
    g_assert_cmpstr(json_array_get_string_element(rcpts, 0), ==, "aiko@example.jp");
    g_assert_cmpstr(header(msg, "To"), ==, "Aiko 佐藤 <aiko@example.jp>");
    g_assert_cmpstr(header(msg, "From"), ==, "Kizuna サクセス <" SENDER ">");
    g_assert_cmpstr(header(msg, "Reply-To"), ==, "help@kizuna.example");
    g_assert_cmpstr(header(msg, "Subject"), ==, subject);
    g_assert_cmpstr(header(msg, "Date"), ==, "Tue, 14 Nov 2023 22:13:20 +0000");
    g_assert_cmpstr(header(msg, "Message-ID"), ==, result.receipt);
    g_assert_cmpstr(header(msg, "X-Kizuna-Idempotency-Key"), ==, key);
    g_assert_cmpstr(header(msg, "X-Kizuna-Playbook"), ==, "red-alert");
    g_assert_cmpstr(header(msg, "X-Kizuna-Account"), ==, "acct-1");
    g_assert_cmpstr(header(msg, "MIME-Version"), ==, "1.0");
    g_assert_cmpstr(header(msg, "Content-Transfer-Encoding"), ==, "base64");
    g_assert_cmpstr(json_object_get_string_member(msg, "content_type"), ==, "text/plain");
    g_assert_cmpstr(json_object_get_string_member(msg, "charset"), ==, "utf-8");
    /* text travels in canonical form: every line break CRLF (RFC 2046 4.1.1) */
    g_autofree char *canonical_body = with_crlf(body);
    g_assert_cmpstr(json_object_get_string_member(msg, "body"), ==, canonical_body);
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(msg, "defects")), ==, 0);
    JsonObject *counts = json_object_get_object_member(msg, "header_counts");
    g_assert_cmpint(json_object_get_int_member(counts, "To"), ==, 1);
    g_assert_cmpint(json_object_get_int_member(counts, "Subject"), ==, 1);
    assert_well_formed(json_object_get_string_member(msg, "raw"));
}

/* 300 characters mixing ASCII, CJK (3 bytes) and an emoji (4 bytes), so
 * encoded words must split between characters of every width. */
static char *long_subject(void)
{
    GString *s = g_string_new(NULL);
    const char *pieces[] = {"Acme ", "健康スコア", "📉", " — ", "renewal at risk; ", "ç"};
    for (guint i = 0; g_utf8_strlen(s->str, -1) < 300; i++)
        g_string_append(s, pieces[i % G_N_ELEMENTS(pieces)]);
    while (g_utf8_strlen(s->str, -1) > 300)
        g_string_truncate(s, (gsize)(g_utf8_prev_char(s->str + s->len) - s->str));
    return g_string_free(s, FALSE);
}

static void test_email_long_subject_round_trips(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autofree char *subject = long_subject();
    g_assert_cmpint(g_utf8_strlen(subject, -1), ==, 300);
    const kz_recipient to = {sizeof to, 0, "c1", NULL, "aiko@example.jp", "admin"};
    const kz_touch t = touch_for(&to, "k-long", subject, "");
    kz_delivery result = {sizeof result, 0, 0, ""};
    g_autoptr(kz_instance) inst = email_instance(f, f->port);
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_OK);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *msg = stored_message(f, 1, parser);
    g_assert_cmpstr(header(msg, "Subject"), ==, subject);
    g_assert_cmpstr(header(msg, "To"), ==, "aiko@example.jp");
    g_assert_cmpstr(json_object_get_string_member(msg, "body"), ==, "");
    assert_well_formed(json_object_get_string_member(msg, "raw"));
}

/* SMTP cannot dedupe, so a retried touch may arrive twice; both copies
 * must carry the same ids for the receiver to drop one. */
static void test_email_same_key_same_message_id(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autoptr(kz_instance) inst = email_instance(f, f->port);
    g_autofree char *first = deliver_expecting(inst, "aiko@example.jp", "one", KZ_OK);
    g_autofree char *second = deliver_expecting(inst, "aiko@example.jp", "one", KZ_OK);
    g_assert_cmpstr(first, ==, second);
    g_assert_cmpuint(stored_count(f), ==, 2);
    g_autoptr(JsonParser) p1 = json_parser_new();
    g_autoptr(JsonParser) p2 = json_parser_new();
    JsonObject *m1 = stored_message(f, 1, p1);
    JsonObject *m2 = stored_message(f, 2, p2);
    g_assert_cmpstr(header(m1, "Message-ID"), ==, "<red-alert=acct-1=9@kizuna.example>");
    g_assert_cmpstr(header(m2, "Message-ID"), ==, header(m1, "Message-ID"));
    g_assert_cmpstr(header(m2, "X-Kizuna-Idempotency-Key"), ==, "red-alert:acct-1:9");
}

static void test_email_smtp_4xx_is_retryable(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autoptr(kz_instance) inst = email_instance(f, f->port);
    g_autofree char *why = deliver_expecting(inst, "tempfail@example.jp", "s", KZ_ERR_RETRY);
    g_assert_nonnull(strstr(why, "tempfail@example.jp"));
    g_assert_nonnull(strstr(why, "451 4.3.0 Mailbox busy"));
    g_autofree char *server = g_strdup_printf("127.0.0.1:%d", f->port);
    g_assert_nonnull(strstr(why, server));
    g_assert_cmpuint(stored_count(f), ==, 0);
    /* the instance recovers: the next touch goes through */
    g_autofree char *ok = deliver_expecting(inst, "aiko@example.jp", "s", KZ_OK);
    g_assert_cmpstr(ok, ==, "");
    g_assert_cmpuint(stored_count(f), ==, 1);
}

static void test_email_smtp_5xx_is_permanent(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autoptr(kz_instance) inst = email_instance(f, f->port);
    g_autofree char *why = deliver_expecting(inst, "reject@example.jp", "s", KZ_ERR_PERMANENT);
    g_assert_nonnull(strstr(why, "reject@example.jp"));
    g_assert_nonnull(strstr(why, "550 5.1.1 No such user"));
    g_assert_cmpuint(stored_count(f), ==, 0);
}

static void test_email_without_recipient_is_permanent(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autoptr(kz_instance) inst = email_instance(f, f->port);
    g_autofree char *none = deliver_expecting(inst, NULL, "s", KZ_ERR_PERMANENT);
    g_assert_nonnull(strstr(none, "no recipient"));
    g_autofree char *empty = deliver_expecting(inst, "", "s", KZ_ERR_PERMANENT);
    g_assert_nonnull(strstr(empty, "no recipient"));
    g_autofree char *bad = deliver_expecting(inst, "not an address", "s", KZ_ERR_PERMANENT);
    g_assert_nonnull(strstr(bad, "not an address"));
    g_assert_cmpuint(stored_count(f), ==, 0);
}

static void test_email_header_injection_is_refused(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autoptr(kz_instance) inst = email_instance(f, f->port);
    g_autofree char *subject = deliver_expecting(inst, "aiko@example.jp", "Hi\r\nBcc: x@y", KZ_ERR_PERMANENT);
    g_assert_nonnull(strstr(subject, "subject"));
    g_autofree char *address = deliver_expecting(inst, "aiko@example.jp\r\nBcc: x@y", "Hi", KZ_ERR_PERMANENT);
    g_assert_nonnull(strstr(address, "recipient address"));
    const kz_recipient to = {sizeof to, 0, "c1", "Aiko\nBcc: x@y", "aiko@example.jp", "admin"};
    const kz_touch t = touch_for(&to, "k-name", "Hi", "body");
    kz_delivery result = {sizeof result, 0, 0, ""};
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_ERR_PERMANENT);
    g_assert_cmpuint(stored_count(f), ==, 0);
}

/* The instance keeps its connection for the next touch; one the server
 * has closed meanwhile must not cost that touch. */
static void test_email_survives_server_closing_idle_connection(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autoptr(kz_instance) inst = email_instance(f, f->port);
    g_autofree char *first = deliver_expecting(inst, "aiko@example.jp", "one", KZ_OK);
    g_usleep(G_USEC_PER_SEC); /* twice the server's idle timeout */
    g_autofree char *second = deliver_expecting(inst, "aiko@example.jp", "two", KZ_OK);
    g_assert_cmpuint(stored_count(f), ==, 2);
}

/* A port nobody listens on: bound, then closed again. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(fd, >=, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&addr, &len), ==, 0);
    close(fd);
    return ntohs(addr.sin_port);
}

static void test_email_dead_server_is_retryable(fixture *f, gconstpointer unused)
{
    (void)unused;
    int port = closed_port();
    g_autoptr(kz_instance) inst = email_instance(f, port); /* create() connects nowhere: it succeeds */
    g_autofree char *why = deliver_expecting(inst, "aiko@example.jp", "s", KZ_ERR_RETRY);
    g_autofree char *server = g_strdup_printf("127.0.0.1:%d", port);
    g_assert_nonnull(strstr(why, server));
    g_assert_nonnull(strstr(why, "aiko@example.jp"));
}

static void test_email_starttls_with_login_delivers(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%d", f->port);
    const char *const pairs[] = {"url",      url,        "from",    SENDER,     "tls",
                                 "starttls", "ca_file",  f->cert,   "username", LOGIN_USER,
                                 "password", LOGIN_PASS, "timeout", "5s",       NULL};
    g_autoptr(kz_instance) inst = email_instance_from(f, pairs);
    g_autofree char *why = deliver_expecting(inst, "aiko@example.jp", "über TLS", KZ_OK);
    g_assert_cmpuint(stored_count(f), ==, 1);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_assert_cmpstr(header(stored_message(f, 1, parser), "Subject"), ==, "über TLS");
}

/* The login is the instance's, not the touch's: retry until it is fixed. */
static void test_email_refused_login_is_retryable(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%d", f->port);
    const char *const wrong[] = {"url",      url,         "from",    SENDER,     "tls",
                                 "starttls", "ca_file",   f->cert,   "username", LOGIN_USER,
                                 "password", "Wr0ngPa55", "timeout", "5s",       NULL};
    g_autoptr(kz_instance) inst = email_instance_from(f, wrong);
    g_autofree char *why = deliver_expecting(inst, "aiko@example.jp", "s", KZ_ERR_RETRY);
    g_assert_nonnull(strstr(why, "refused the login: 535"));
    g_assert_null(strstr(why, "Wr0ngPa55")); /* never the password */
    const char *const none[] = {"url",     url,     "from",    SENDER, "tls", "starttls",
                                "ca_file", f->cert, "timeout", "5s",   NULL};
    g_autoptr(kz_instance) anonymous = email_instance_from(f, none);
    g_autofree char *why_not = deliver_expecting(anonymous, "aiko@example.jp", "s", KZ_ERR_RETRY);
    g_assert_nonnull(strstr(why_not, "refused the login: 530"));
    g_assert_cmpuint(stored_count(f), ==, 0);
}

static void test_email_untrusted_certificate_is_retryable(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%d", f->port);
    const char *const pairs[] = {"url",      url,        "from",     SENDER,    "tls", "starttls", "username",
                                 LOGIN_USER, "password", LOGIN_PASS, "timeout", "5s",  NULL};
    g_autoptr(kz_instance) inst = email_instance_from(f, pairs); /* no ca_file: the system's CAs */
    g_autofree char *why = deliver_expecting(inst, "aiko@example.jp", "s", KZ_ERR_RETRY);
    g_assert_nonnull(strstr(why, "certificate"));
    g_assert_cmpuint(stored_count(f), ==, 0);
}

static void test_email_smtps_delivers(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autofree char *url = g_strdup_printf("smtps://127.0.0.1:%d", f->port);
    const char *const pairs[] = {"url", url, "from", SENDER, "ca_file", f->cert, "timeout", "5s", NULL};
    g_autoptr(kz_instance) inst = email_instance_from(f, pairs);
    g_autofree char *why = deliver_expecting(inst, "aiko@example.jp", "s", KZ_OK);
    g_assert_cmpuint(stored_count(f), ==, 1);
}

/* tls=starttls must not fall back to plain text when the server has no STARTTLS. */
static void test_email_required_starttls_is_enforced(fixture *f, gconstpointer unused)
{
    (void)unused;
    g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%d", f->port);
    const char *const pairs[] = {"url", url, "from", SENDER, "tls", "starttls", "timeout", "5s", NULL};
    g_autoptr(kz_instance) inst = email_instance_from(f, pairs);
    g_autofree char *why = deliver_expecting(inst, "aiko@example.jp", "s", KZ_ERR_RETRY);
    g_assert_nonnull(strstr(why, "STARTTLS"));
    g_assert_cmpuint(stored_count(f), ==, 0);
}

/* create() with `pairs` fails with a message containing `want`. */
static void assert_create_fails(const fixture *f, const char *const *pairs, const char *want)
{
    g_autoptr(GError) err = NULL;
    kz_instance *inst = email_instance_with(f, pairs, &err);
    g_assert_null(inst);
    g_assert_nonnull(err);
    if (strstr(err->message, want) == NULL)
        g_error("create error '%s' does not mention '%s'", err->message, want);
}

static void test_email_create_refuses_bad_params(fixture *f, gconstpointer unused)
{
    (void)unused;
    const char *const no_from[] = {"url", "smtp://127.0.0.1:25", NULL};
    assert_create_fails(f, no_from, "parameter 'from' is required");
    const char *const http[] = {"url", "http://127.0.0.1:25", "from", SENDER, NULL};
    assert_create_fails(f, http, "must start with smtp:// or smtps://, not 'http'");
    const char *const bad_tls[] = {"url", "smtp://127.0.0.1:25", "from", SENDER, "tls", "maybe", NULL};
    assert_create_fails(f, bad_tls, "parameter 'tls' must be none, starttls or try, got 'maybe'");
    const char *const plain_smtps[] = {"url", "smtps://127.0.0.1:465", "from", SENDER, "tls", "none", NULL};
    assert_create_fails(f, plain_smtps, "smtps:// url is always TLS");
    const char *const bad_from[] = {"url", "smtp://127.0.0.1:25", "from", "Kizuna <cs@kizuna.example>", NULL};
    assert_create_fails(f, bad_from, "parameter 'from' must be an address");
    const char *const user_in_url[] = {"url", "smtp://me:pw@127.0.0.1:25", "from", SENDER, NULL};
    assert_create_fails(f, user_in_url, "must not carry a user or password");
    const char *const half_login[] = {"url", "smtp://127.0.0.1:25", "from", SENDER, "username", "me", NULL};
    assert_create_fails(f, half_login, "give both or neither");
}

static void skip_without_aiosmtpd(void)
{
    g_test_skip("no python3 with aiosmtpd (Debian: python3-aiosmtpd)");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    python = find_python();
    if (python == NULL) {
        g_test_add_func("/channel/email/smtp-server", skip_without_aiosmtpd);
        return g_test_run();
    }
    struct {
        const char *path;
        const server_mode *server;
        void (*test)(fixture *, gconstpointer);
    } tests[] = {
        {"/channel/email/delivers-utf8-message-once", &plain_server, test_email_delivers_utf8_message_once},
        {"/channel/email/long-subject-round-trips", &plain_server, test_email_long_subject_round_trips},
        {"/channel/email/same-key-same-message-id", &plain_server, test_email_same_key_same_message_id},
        {"/channel/email/smtp-4xx-is-retryable", &plain_server, test_email_smtp_4xx_is_retryable},
        {"/channel/email/smtp-5xx-is-permanent", &plain_server, test_email_smtp_5xx_is_permanent},
        {"/channel/email/without-recipient-is-permanent", &plain_server, test_email_without_recipient_is_permanent},
        {"/channel/email/header-injection-is-refused", &plain_server, test_email_header_injection_is_refused},
        {"/channel/email/dead-server-is-retryable", &plain_server, test_email_dead_server_is_retryable},
        {"/channel/email/survives-server-closing-idle-connection", &impatient_server,
         test_email_survives_server_closing_idle_connection},
        {"/channel/email/starttls-with-login-delivers", &starttls_login_server,
         test_email_starttls_with_login_delivers},
        {"/channel/email/refused-login-is-retryable", &starttls_login_server, test_email_refused_login_is_retryable},
        {"/channel/email/untrusted-certificate-is-retryable", &starttls_login_server,
         test_email_untrusted_certificate_is_retryable},
        {"/channel/email/smtps-delivers", &smtps_server, test_email_smtps_delivers},
        {"/channel/email/required-starttls-is-enforced", &plain_server, test_email_required_starttls_is_enforced},
        {"/channel/email/create-refuses-bad-params", &plain_server, test_email_create_refuses_bad_params},
    };
    for (guint i = 0; i < G_N_ELEMENTS(tests); i++)
        g_test_add(tests[i].path, fixture, tests[i].server, server_start, tests[i].test, server_stop);
    int rc = g_test_run();
    g_free(python);
    return rc;
}
