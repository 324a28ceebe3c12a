/*
 * tests/test_channel_webhook.c — the bundled `webhook` channel, loaded
 * from the build's plugin directory, against a real HTTP server on
 * loopback (tests/servers/http_server.py). The server checks every
 * signature with its own HMAC and logs what it received, so these tests
 * assert what a receiver saw, not what the plugin meant to send: the JSON
 * and Slack bodies, the headers, one request per delivery, the mapping of
 * statuses and transport failures to retry or dead letter, Retry-After,
 * the timeout, and the parameter checks of create().
 */
#define _POSIX_C_SOURCE 200809L
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

#define SECRET "whsec-5b1f0c9e2a7d4386-test"

typedef struct {
    kz_registry *reg;
    char *dir;
    char *log_path; /* the server's JSON lines, one per request */
    GPid pid;
    int port;
} server_fixture;

/* ---- the server ----------------------------------------------------------- */

/* Waits up to `timeout_ms` for `pid` to exit; returns its wait status, or
 * -1 if it is still running. */
static int wait_for_exit(GPid pid, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        g_usleep(20 * 1000);
    }
    return -1;
}

/* The port the server wrote to `path`, waiting up to 10 s for it. */
static int wait_for_port(const server_fixture *f, const char *path)
{
    for (int waited = 0; waited < 10000; waited += 20) {
        g_autofree char *text = NULL;
        if (g_file_get_contents(path, &text, NULL, NULL))
            return atoi(text);
        g_assert_cmpint(waitpid(f->pid, NULL, WNOHANG), ==, 0); /* it died: see its stderr above */
        g_usleep(20 * 1000);
    }
    g_error("%s: the test server wrote no port within 10 s", path);
}

static void start_server(server_fixture *f, gconstpointer unused)
{
    g_autofree char *python = g_find_program_in_path("python3");
    if (python == NULL)
        g_error("python3 is needed to run the test servers in " KZ_TEST_SERVERS_DIR);
    f->reg = kz_registry_new();
    g_assert_cmpuint(kz_registry_scan_dir(f->reg, KZ_BUNDLED_PLUGIN_DIR, TRUE), >=, 1);
    f->dir = kz_test_tmpdir();
    f->log_path = g_build_filename(f->dir, "requests.jsonl", NULL);
    g_autofree char *port_path = g_build_filename(f->dir, "port", NULL);
    const char *argv[] = {python, KZ_TEST_SERVERS_DIR "/http_server.py", port_path, f->log_path, SECRET, NULL};
    g_autoptr(GError) err = NULL;
    g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &f->pid, &err);
    g_assert_no_error(err);
    f->port = wait_for_port(f, port_path);
    g_assert_cmpint(f->port, >, 0);
}

/* Stops the server and checks that it exits cleanly on SIGTERM. */
static void stop_server(server_fixture *f, gconstpointer unused)
{
    g_assert_cmpint(kill(f->pid, SIGTERM), ==, 0);
    int status = wait_for_exit(f->pid, 5000);
    if (status == -1) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
        g_error("the test server ignored SIGTERM");
    }
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    g_spawn_close_pid(f->pid);
    kz_registry_free(f->reg);
    kz_test_rmtree(f->dir);
    g_free(f->dir);
    g_free(f->log_path);
}

static char *server_url(const server_fixture *f, const char *path)
{
    return g_strdup_printf("http://127.0.0.1:%d%s", f->port, path);
}

/* The requests the server logged with Idempotency-Key `key` (all of them
 * for NULL), oldest first, as JsonObjects the array owns. */
static GPtrArray *requests_for(const server_fixture *f, const char *key)
{
    GPtrArray *found = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(f->log_path, &text, NULL, NULL))
        return found; /* no request yet */
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) err = NULL;
        g_assert_true(json_parser_load_from_data(parser, lines[i], -1, &err));
        JsonObject *request = json_node_get_object(json_parser_get_root(parser));
        JsonObject *headers = json_object_get_object_member(request, "headers");
        if (key == NULL || g_strcmp0(json_object_get_string_member(headers, "idempotency-key"), key) == 0)
            g_ptr_array_add(found, json_object_ref(request));
    }
    return found;
}

/* The one request the server logged for `key`. */
static JsonObject *only_request_for(const server_fixture *f, const char *key)
{
    g_autoptr(GPtrArray) requests = requests_for(f, key);
    g_assert_cmpuint(requests->len, ==, 1);
    return json_object_ref(requests->pdata[0]);
}

static const char *header(JsonObject *request, const char *name)
{
    JsonObject *headers = json_object_get_object_member(request, "headers");
    return json_object_get_string_member_with_default(headers, name, NULL);
}

/* The request's body, parsed: it must be one JSON object. */
static JsonObject *body_of(JsonObject *request)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    g_assert_true(json_parser_load_from_data(parser, json_object_get_string_member(request, "body"), -1, &err));
    g_assert_no_error(err);
    JsonNode *root = json_parser_get_root(parser);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
    return json_object_ref(json_node_get_object(root));
}

/* ---- the channel ---------------------------------------------------------- */

/* Creates a webhook instance from name/value pairs (a NULL value: not
 * given), typed by the component's own specs and with its defaults
 * applied, as the host resolves a stack config's <param>s. Returns NULL
 * with *error when create() refuses. */
static kz_instance *create_from_pairs(const server_fixture *f, va_list pairs, GError **error)
{
    const kz_component_info *comp = kz_registry_find_component(f->reg, "webhook");
    g_assert_nonnull(comp);
    g_assert_cmpint(comp->kind, ==, KZ_COMPONENT_CHANNEL);
    g_assert_cmpuint(comp->vt.channel.tiers, ==, KZ_TIER_MASK_ALL);
    g_autoptr(GHashTable) given = g_hash_table_new(g_str_hash, g_str_equal);
    for (const char *name; (name = va_arg(pairs, const char *)) != NULL;) {
        const char *value = va_arg(pairs, const char *);
        if (value != NULL)
            g_hash_table_insert(given, (gpointer)name, (gpointer)value);
    }

    GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    for (guint i = 0; i < comp->params->len; i++) {
        const kz_param_info *spec = comp->params->pdata[i];
        const char *text = g_hash_table_lookup(given, spec->name);
        g_hash_table_remove(given, spec->name);
        if (text == NULL)
            text = spec->default_value;
        if (text == NULL)
            continue;
        kz_param_value *v = g_new0(kz_param_value, 1);
        g_assert_true(kz_param_parse(spec->type, text, v, NULL));
        g_hash_table_insert(params, g_strdup(spec->name), v);
    }
    g_assert_cmpuint(g_hash_table_size(given), ==, 0); /* every name given is a parameter */
    return kz_instance_create(comp, "hook", params, NULL, error);
}

/* An instance with these name/value pairs (ended by NULL) that create() must accept. */
static kz_instance *webhook_new(const server_fixture *f, ...)
{
    g_autoptr(GError) err = NULL;
    va_list pairs;
    va_start(pairs, f);
    kz_instance *inst = create_from_pairs(f, pairs, &err);
    va_end(pairs);
    g_assert_no_error(err);
    return inst;
}

/* create()'s message for name/value pairs (ended by NULL) it must refuse. Caller frees. */
static char *create_error(const server_fixture *f, ...)
{
    g_autoptr(GError) err = NULL;
    va_list pairs;
    va_start(pairs, f);
    kz_instance *inst = create_from_pairs(f, pairs, &err);
    va_end(pairs);
    g_assert_null(inst);
    g_assert_nonnull(err);
    return g_strdup(err->message);
}

static const kz_trait touch_fields[] = {
    {"account.industry", {.type = KZ_VALUE_STRING, .u.s = "小売・流通"}},
    {"account.arr", {.type = KZ_VALUE_INT, .u.i = 1200000}},
    {"measure.logins_30d", {.type = KZ_VALUE_DOUBLE, .u.d = 12.5}},
    {"account.enterprise", {.type = KZ_VALUE_BOOL, .u.b = 1}},
    {"account.renewal", {.type = KZ_VALUE_TIME, .u.t = 1735689600000000LL}},
    {"score.health", {.type = KZ_VALUE_NULL}},
};

/* A touch like the host makes for a webhook: no recipient, no owner. */
static kz_touch make_touch(const char *key)
{
    return (kz_touch){.size = sizeof(kz_touch),
                      .attempt = 1,
                      .idempotency_key = key,
                      .playbook = "red-alert",
                      .trigger = "grade:red",
                      .account_id = "acct-1",
                      .account_name = "Acme 株式会社",
                      .subject = "Ça va? 健康スコアが下がりました",
                      .body = "Line one\nLine \"two\" \\ tab\t",
                      .fields = touch_fields,
                      .n_fields = G_N_ELEMENTS(touch_fields),
                      .created = 1700000000000000LL,
                      .due = KZ_TIME_NONE};
}

static int deliver(kz_instance *inst, const kz_touch *t, kz_delivery *result)
{
    *result = (kz_delivery){.size = sizeof *result};
    kz_instance_begin_call(inst);
    return kz_instance_component(inst)->vt.channel.deliver(kz_instance_self(inst), t, result);
}

/* The message of the last failure, as the host would show it. Caller frees. */
static char *error_of(kz_instance *inst, int status)
{
    g_autoptr(GError) err = NULL;
    kz_instance_fail(inst, status, "deliver", &err);
    return g_strdup(err->message);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        g_error("'%s' does not contain '%s'", haystack, needle);
}

static void assert_lacks(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) != NULL)
        g_error("'%s' contains '%s'", haystack, needle);
}

/* ---- the tests ------------------------------------------------------------ */

static void assert_signed_headers(JsonObject *request, const char *key)
{
    g_assert_true(json_object_get_boolean_member(request, "signature_valid"));
    g_assert_cmpstr(header(request, "idempotency-key"), ==, key);
    g_assert_cmpstr(header(request, "content-type"), ==, "application/json");
    g_assert_true(g_str_has_prefix(header(request, "user-agent"), "kizuna-webhook/"));
    g_assert_true(g_str_has_prefix(header(request, "x-kizuna-signature"), "sha256="));
    g_assert_cmpuint(strlen(header(request, "x-kizuna-signature")), ==, strlen("sha256=") + 64);
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    gint64 timestamp = g_ascii_strtoll(header(request, "x-kizuna-timestamp"), NULL, 10);
    g_assert_cmpint(timestamp, >=, now - 60);
    g_assert_cmpint(timestamp, <=, now + 1);
}

static void assert_touch_fields(JsonObject *fields)
{
    g_assert_cmpuint(json_object_get_size(fields), ==, G_N_ELEMENTS(touch_fields));
    g_assert_cmpstr(json_object_get_string_member(fields, "account.industry"), ==, "小売・流通");
    JsonNode *arr = json_object_get_member(fields, "account.arr");
    g_assert_cmpint(json_node_get_value_type(arr), ==, G_TYPE_INT64);
    g_assert_cmpint(json_node_get_int(arr), ==, 1200000);
    JsonNode *logins = json_object_get_member(fields, "measure.logins_30d");
    g_assert_cmpint(json_node_get_value_type(logins), ==, G_TYPE_DOUBLE);
    g_assert_cmpfloat(json_node_get_double(logins), ==, 12.5);
    g_assert_true(json_object_get_boolean_member(fields, "account.enterprise"));
    g_assert_cmpstr(json_object_get_string_member(fields, "account.renewal"), ==, "2025-01-01T00:00:00Z");
    g_assert_true(json_object_get_null_member(fields, "score.health"));
}

static void test_ok_delivers_signed_json(server_fixture *f, gconstpointer unused)
{
    g_autofree char *url = server_url(f, "/ok");
    g_autoptr(kz_instance) inst = webhook_new(f, "url", url, "secret", SECRET, NULL);
    kz_touch t = make_touch("red-alert:acct-1:1");
    kz_delivery result;
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_OK);

    g_autoptr(JsonObject) request = only_request_for(f, "red-alert:acct-1:1");
    g_assert_cmpstr(json_object_get_string_member(request, "path"), ==, "/ok");
    assert_signed_headers(request, "red-alert:acct-1:1");
    g_assert_cmpstr(result.receipt, ==, json_object_get_string_member(request, "request_id"));
    g_assert_cmpstr(result.receipt, ==, "req-red-alert:acct-1:1-1");

    g_autoptr(JsonObject) body = body_of(request);
    g_assert_cmpstr(json_object_get_string_member(body, "idempotency_key"), ==, "red-alert:acct-1:1");
    g_assert_cmpstr(json_object_get_string_member(body, "playbook"), ==, "red-alert");
    g_assert_cmpstr(json_object_get_string_member(body, "trigger"), ==, "grade:red");
    JsonObject *account = json_object_get_object_member(body, "account");
    g_assert_cmpstr(json_object_get_string_member(account, "id"), ==, "acct-1");
    g_assert_cmpstr(json_object_get_string_member(account, "name"), ==, "Acme 株式会社");
    g_assert_true(json_object_get_null_member(body, "owner"));
    g_assert_true(json_object_get_null_member(body, "recipient"));
    g_assert_cmpstr(json_object_get_string_member(body, "subject"), ==, "Ça va? 健康スコアが下がりました");
    g_assert_cmpstr(json_object_get_string_member(body, "body"), ==, "Line one\nLine \"two\" \\ tab\t");
    assert_touch_fields(json_object_get_object_member(body, "fields"));
    g_assert_cmpstr(json_object_get_string_member(body, "created"), ==, "2023-11-14T22:13:20Z");
    g_assert_true(json_object_get_null_member(body, "due"));
    g_assert_cmpint(json_object_get_int_member(body, "attempt"), ==, 1);
}

/* The members that are null above, when the touch has them. */
static void test_ok_sends_recipient_owner_and_due(server_fixture *f, gconstpointer unused)
{
    g_autofree char *url = server_url(f, "/ok");
    g_autoptr(kz_instance) inst = webhook_new(f, "url", url, "secret", SECRET, "format", "json", NULL);
    const kz_recipient r = {sizeof r, 0, "c1", "Aiko", "aiko@example.jp", "admin"};
    kz_touch t = make_touch("k2");
    t.recipient = &r;
    t.owner_id = "csm-7";
    t.due = 1700000000123456LL;
    t.attempt = 4;
    t.n_fields = 0;
    kz_delivery result;
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_OK);

    g_autoptr(JsonObject) request = only_request_for(f, "k2");
    g_autoptr(JsonObject) body = body_of(request);
    g_assert_cmpstr(json_object_get_string_member(body, "owner"), ==, "csm-7");
    JsonObject *to = json_object_get_object_member(body, "recipient");
    g_assert_cmpstr(json_object_get_string_member(to, "id"), ==, "c1");
    g_assert_cmpstr(json_object_get_string_member(to, "name"), ==, "Aiko");
    g_assert_cmpstr(json_object_get_string_member(to, "email"), ==, "aiko@example.jp");
    g_assert_cmpstr(json_object_get_string_member(to, "role"), ==, "admin");
    g_assert_cmpstr(json_object_get_string_member(body, "due"), ==, "2023-11-14T22:13:20.123456Z");
    g_assert_cmpint(json_object_get_int_member(body, "attempt"), ==, 4);
    g_assert_cmpuint(json_object_get_size(json_object_get_object_member(body, "fields")), ==, 0);
}

/* A body over curl's threshold for "Expect: 100-continue" (1 MiB) goes in
 * one request, without waiting for a 100 that many receivers never send. */
static void test_large_body_is_sent_whole(server_fixture *f, gconstpointer unused)
{
    g_autofree char *url = server_url(f, "/ok");
    g_autoptr(kz_instance) inst = webhook_new(f, "url", url, "secret", SECRET, NULL);
    g_autofree char *text = g_strnfill(2 * 1024 * 1024, 'a');
    kz_touch t = make_touch("large:1");
    t.body = text;
    kz_delivery result;
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_OK);
    g_autoptr(JsonObject) request = only_request_for(f, "large:1");
    g_assert_cmpstr(header(request, "expect"), ==, NULL);
    g_assert_true(json_object_get_boolean_member(request, "signature_valid"));
    g_autoptr(JsonObject) body = body_of(request);
    g_assert_cmpstr(json_object_get_string_member(body, "body"), ==, text);
}

static void test_flaky_retries_then_delivers(server_fixture *f, gconstpointer unused)
{
    g_autofree char *url = server_url(f, "/flaky");
    g_autoptr(kz_instance) inst = webhook_new(f, "url", url, "secret", SECRET, NULL);
    kz_touch t = make_touch("flaky:1");
    kz_delivery result;
    for (uint32_t attempt = 1; attempt <= 2; attempt++) {
        t.attempt = attempt;
        g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_ERR_RETRY);
        g_assert_cmpint(result.retry_after_ms, ==, 2000);
        g_autofree char *msg = error_of(inst, KZ_ERR_RETRY);
        assert_contains(msg, "HTTP 503");
        assert_contains(msg, "busy, try again");
    }
    t.attempt = 3;
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_OK);
    g_assert_cmpstr(result.receipt, ==, "req-flaky:1-3");

    g_autoptr(GPtrArray) requests = requests_for(f, "flaky:1");
    g_assert_cmpuint(requests->len, ==, 3); /* one request per attempt, all with the same key */
    for (guint i = 0; i < requests->len; i++) {
        g_assert_true(json_object_get_boolean_member(requests->pdata[i], "signature_valid"));
        g_autoptr(JsonObject) body = body_of(requests->pdata[i]);
        g_assert_cmpint(json_object_get_int_member(body, "attempt"), ==, i + 1);
    }
}

static void test_retry_after_date(server_fixture *f, gconstpointer unused)
{
    g_autofree char *url = server_url(f, "/busy");
    g_autoptr(kz_instance) inst = webhook_new(f, "url", url, "secret", SECRET, NULL);
    kz_touch t = make_touch("busy:1");
    kz_delivery result;
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_ERR_RETRY);
    /* an HTTP date two minutes ahead, to the second */
    g_assert_cmpint(result.retry_after_ms, >=, 110000);
    g_assert_cmpint(result.retry_after_ms, <=, 121000);
    g_autofree char *msg = error_of(inst, KZ_ERR_RETRY);
    assert_contains(msg, "HTTP 429");
}

/* Delivers one touch to `url`, expects a permanent failure and returns its message. */
static char *deliver_permanent(server_fixture *f, const char *url, const char *key)
{
    g_autoptr(kz_instance) inst = webhook_new(f, "url", url, "secret", SECRET, NULL);
    kz_touch t = make_touch(key);
    kz_delivery result;
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_ERR_PERMANENT);
    g_assert_cmpint(result.retry_after_ms, ==, 0);
    g_assert_cmpstr(result.receipt, ==, "");
    g_autoptr(GPtrArray) requests = requests_for(f, key);
    g_assert_cmpuint(requests->len, ==, 1); /* not retried, and a redirect not followed */
    return error_of(inst, KZ_ERR_PERMANENT);
}

static void test_client_errors_are_permanent(server_fixture *f, gconstpointer unused)
{
    /* credentials and query are sent, but never shown */
    g_autofree char *bad = g_strdup_printf("http://kz:hunter2@127.0.0.1:%d/bad?token=s3cr3t-token", f->port);
    g_autofree char *msg = deliver_permanent(f, bad, "bad:1");
    g_autofree char *shown = server_url(f, "/bad");
    assert_contains(msg, shown);
    assert_contains(msg, "HTTP 400");
    assert_contains(msg, "bad request: xxx");
    assert_lacks(msg, "hunter2");
    assert_lacks(msg, "s3cr3t");
    g_autofree char *quoted = g_strnfill(200 - strlen("bad request: "), 'x');
    g_autofree char *too_much = g_strnfill(200 - strlen("bad request: ") + 1, 'x');
    assert_contains(msg, quoted);
    assert_lacks(msg, too_much); /* about 200 bytes of the body, not all of it */

    g_autofree char *gone = server_url(f, "/gone");
    g_autofree char *gone_msg = deliver_permanent(f, gone, "gone:1");
    assert_contains(gone_msg, "HTTP 410");
    assert_contains(gone_msg, "this hook was deleted");

    g_autofree char *redirect = server_url(f, "/redirect");
    g_autofree char *redirect_msg = deliver_permanent(f, redirect, "redirect:1");
    assert_contains(redirect_msg, "HTTP 302");
}

static void test_slow_times_out(server_fixture *f, gconstpointer unused)
{
    g_autofree char *url = server_url(f, "/slow");
    g_autoptr(kz_instance) inst = webhook_new(f, "url", url, "secret", SECRET, "timeout", "1s", NULL);
    kz_touch t = make_touch("slow:1");
    kz_delivery result;
    gint64 start = g_get_monotonic_time();
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_ERR_RETRY);
    gint64 elapsed_ms = (g_get_monotonic_time() - start) / 1000;
    g_assert_cmpint(elapsed_ms, >=, 900);
    g_assert_cmpint(elapsed_ms, <, 2500); /* the server answers after 3 s */
    g_autofree char *msg = error_of(inst, KZ_ERR_RETRY);
    assert_contains(msg, url);
    assert_contains(msg, "timed out");
}

/* A loopback port nothing listens on: bound by us, then released. */
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

static void test_closed_port_is_retryable(server_fixture *f, gconstpointer unused)
{
    g_autofree char *url = g_strdup_printf("http://127.0.0.1:%d/ok", closed_port());
    g_autoptr(kz_instance) inst = webhook_new(f, "url", url, "secret", SECRET, NULL); /* create() connects nowhere */
    kz_touch t = make_touch("closed:1");
    kz_delivery result;
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_ERR_RETRY);
    g_assert_cmpint(result.retry_after_ms, ==, 0);
    g_autofree char *msg = error_of(inst, KZ_ERR_RETRY);
    assert_contains(msg, url);
}

static void test_slack_format(server_fixture *f, gconstpointer unused)
{
    g_autofree char *url = server_url(f, "/ok");
    g_autoptr(kz_instance) inst = webhook_new(f, "url", url, "secret", SECRET, "format", "slack", NULL);
    kz_touch t = make_touch("slack:1");
    t.subject = "Renewal <soon> & 健康";
    t.body = "Line <1> & 2\n<@U123>";
    kz_delivery result;
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_OK);

    g_autoptr(JsonObject) request = only_request_for(f, "slack:1");
    assert_signed_headers(request, "slack:1");
    g_autoptr(JsonObject) body = body_of(request);
    g_assert_cmpuint(json_object_get_size(body), ==, 1);
    g_assert_cmpstr(json_object_get_string_member(body, "text"), ==,
                    "*Renewal &lt;soon&gt; &amp; 健康*\nLine &lt;1&gt; &amp; 2\n&lt;@U123&gt;");
}

/* The server's verdict is a real check: a request signed with another
 * key is reported invalid (and still answered: the verdict is the receiver's business). */
static void test_wrong_secret_fails_verification(server_fixture *f, gconstpointer unused)
{
    g_autofree char *url = server_url(f, "/ok");
    g_autoptr(kz_instance) inst = webhook_new(f, "url", url, "secret", "not-the-shared-secret", NULL);
    kz_touch t = make_touch("wrong:1");
    kz_delivery result;
    g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_OK);
    g_autoptr(JsonObject) request = only_request_for(f, "wrong:1");
    g_assert_false(json_object_get_boolean_member(request, "signature_valid"));
}

static void test_touch_without_key_is_permanent(server_fixture *f, gconstpointer unused)
{
    g_autofree char *url = server_url(f, "/ok");
    g_autoptr(kz_instance) inst = webhook_new(f, "url", url, "secret", SECRET, NULL);
    const char *unusable[] = {NULL, "", "two\r\nX-Injected: 1", "ключ"};
    for (guint i = 0; i < G_N_ELEMENTS(unusable); i++) {
        kz_touch t = make_touch(unusable[i]);
        kz_delivery result;
        g_assert_cmpint(deliver(inst, &t, &result), ==, KZ_ERR_PERMANENT);
        g_autofree char *msg = error_of(inst, KZ_ERR_PERMANENT);
        assert_contains(msg, "idempotency key");
    }
    g_autoptr(GPtrArray) requests = requests_for(f, NULL);
    g_assert_cmpuint(requests->len, ==, 0); /* nothing was sent */
}

static void test_create_checks_params(server_fixture *f, gconstpointer unused)
{
    g_autofree char *url = server_url(f, "/ok");
    struct {
        const char *url, *secret, *name, *value, *expect;
    } cases[] = {
        {url, NULL, NULL, NULL, "parameter 'secret' is required"},
        {url, "", NULL, NULL, "parameter 'secret' is required"},
        {NULL, SECRET, NULL, NULL, "parameter 'url' is required"},
        {"ftp://127.0.0.1/hook", SECRET, NULL, NULL, "must start with http:// or https://, not 'ftp:'"},
        {"127.0.0.1/hook", SECRET, NULL, NULL, "must start with http:// or https://"},
        {"http://", SECRET, NULL, NULL, "is not a valid http URL"},
        {"https://exa mple.com/hook", SECRET, NULL, NULL, "is not a valid https URL"},
        {url, SECRET, "format", "xml", "parameter 'format' must be json or slack, not 'xml'"},
        {url, SECRET, "timeout", "0s", "parameter 'timeout' must be between"},
        {url, SECRET, "ca_file", "/nonexistent/ca.pem", "/nonexistent/ca.pem is not a readable file"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *msg =
            create_error(f, "url", cases[i].url, "secret", cases[i].secret, cases[i].name, cases[i].value, NULL);
        assert_contains(msg, cases[i].expect);
    }

    /* valid parameters: created without a single request */
    g_autofree char *ca = kz_test_write(f->dir, "ca.pem", "not checked until a TLS handshake\n");
    g_autoptr(kz_instance) inst =
        webhook_new(f, "url", url, "secret", SECRET, "format", "slack", "timeout", "1m30s", "ca_file", ca, NULL);
    g_autoptr(GPtrArray) requests = requests_for(f, NULL);
    g_assert_cmpuint(requests->len, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* the server is on loopback: a proxy from the environment must not intercept */
    g_setenv("no_proxy", "*", TRUE);
    g_setenv("NO_PROXY", "*", TRUE);
#define ADD(path, fn) g_test_add("/channel/webhook/" path, server_fixture, NULL, start_server, fn, stop_server)
    ADD("ok-delivers-signed-json", test_ok_delivers_signed_json);
    ADD("ok-sends-recipient-owner-and-due", test_ok_sends_recipient_owner_and_due);
    ADD("large-body-is-sent-whole", test_large_body_is_sent_whole);
    ADD("flaky-retries-then-delivers", test_flaky_retries_then_delivers);
    ADD("retry-after-date", test_retry_after_date);
    ADD("client-errors-are-permanent", test_client_errors_are_permanent);
    ADD("slow-times-out", test_slow_times_out);
    ADD("closed-port-is-retryable", test_closed_port_is_retryable);
    ADD("slack-format", test_slack_format);
    ADD("wrong-secret-fails-verification", test_wrong_secret_fails_verification);
    ADD("touch-without-key-is-permanent", test_touch_without_key_is_permanent);
    ADD("create-checks-params", test_create_checks_params);
#undef ADD
    return g_test_run();
}
