/*
 * tests/test_source_csv.c — the bundled `csv` source, loaded from the
 * build's plugin directory and pulled with a recording sink: the
 * csv-spectrum suite against its expected JSON, RFC 4180 edge cases and
 * broken rows (each rejected with its line and reason while the rows
 * around it are read), the cursor (unchanged file: nothing; appended:
 * only the new rows; edited: read again; resumed: exactly the rest) and
 * bounded memory on a large file.
 */
#include "rowsink.h"
#include "testutil.h"

#include <json-glib/json-glib.h>
#include <stdio.h>

static kz_instance *csv_instance_full(const kz_registry *reg, const char *path, const char *delimiter,
                                      const char *max_row, const char *header, GError **error)
{
    GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    put_param(params, KZ_PARAM_PATH, "path", path);
    put_param(params, KZ_PARAM_STRING, "delimiter", delimiter != NULL ? delimiter : ",");
    put_param(params, KZ_PARAM_BOOL, "header", header);
    put_param(params, KZ_PARAM_INT, "max_row_bytes", max_row != NULL ? max_row : "1048576");
    return kz_instance_create(kz_registry_find_component(reg, "csv"), "csv", params, NULL, error);
}

static kz_instance *csv_instance_with(const kz_registry *reg, const char *path, const char *delimiter,
                                      const char *max_row, GError **error)
{
    return csv_instance_full(reg, path, delimiter, max_row, "true", error);
}

static kz_instance *csv_instance(const kz_registry *reg, const char *path)
{
    g_autoptr(GError) err = NULL;
    kz_instance *inst = csv_instance_with(reg, path, NULL, NULL, &err);
    g_assert_no_error(err);
    return inst;
}

static recorder *read_all(const kz_registry *reg, const char *path, const char *cursor)
{
    g_autoptr(kz_instance) inst = csv_instance(reg, path);
    recorder *rec = recorder_new(1000);
    rec->allow_absent = TRUE;
    g_assert_cmpint(pull(inst, cursor, rec, NULL), ==, KZ_OK);
    return rec;
}

/* ---- csv-spectrum ---------------------------------------------------------- */

/* The csv-spectrum suite in the shared test data (../shared/data beside the
 * repository; KZ_SHARED_DATA). NULL after skipping the test when it is
 * absent, unless KZ_REQUIRE_SHARED=1 makes that a failure. */
static char *spectrum_path(const char *dir, const char *name, const char *ext)
{
    const char *shared = g_getenv("KZ_SHARED_DATA");
    g_autofree char *root = g_build_filename(shared != NULL ? shared : "", "csv-spectrum", NULL);
    if (shared == NULL || !g_file_test(root, G_FILE_TEST_IS_DIR)) {
        g_assert_cmpstr(g_getenv("KZ_REQUIRE_SHARED"), !=, "1");
        g_test_skip("the shared test data (../shared/data) is not beside the repository");
        return NULL;
    }
    g_autofree char *file = g_strconcat(name, ext, NULL);
    return g_build_filename(root, dir, file, NULL);
}

/* Every row equals its JSON object: same members, same text. `skip` names
 * a member not compared (the upstream defect). */
static void check_against_json(const char *name, const char *skip)
{
    g_autoptr(kz_registry) reg = load_bundled("csv");
    g_autofree char *csv = spectrum_path("csvs", name, ".csv");
    g_autofree char *json = spectrum_path("json", name, ".json");
    if (csv == NULL)
        return;
    g_autoptr(recorder) rec = read_all(reg, csv, NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    g_assert_true(json_parser_load_from_file(parser, json, &err));
    g_assert_no_error(err);
    JsonNode *root = json_parser_get_root(parser);
    g_autoptr(JsonArray) one = NULL;
    JsonArray *expected;
    if (JSON_NODE_HOLDS_OBJECT(root)) { /* location_coordinates.json: one object, not an array */
        one = json_array_new();
        json_array_add_object_element(one, json_object_ref(json_node_get_object(root)));
        expected = one;
    } else {
        expected = json_node_get_array(root);
    }
    g_assert_cmpuint(rec->rejects->len, ==, 0);
    g_assert_cmpuint(rec->rows->len, ==, json_array_get_length(expected));
    for (guint i = 0; i < rec->rows->len; i++) {
        JsonObject *obj = json_array_get_object_element(expected, i);
        const rec_row *row = row_at(rec, i);
        g_assert_cmpuint(row->fields->len, ==, json_object_get_size(obj));
        g_autoptr(GList) members = json_object_get_members(obj);
        for (GList *m = members; m != NULL; m = m->next) {
            const char *member = m->data;
            if (skip != NULL && strcmp(member, skip) == 0)
                continue;
            g_assert_cmpstr(value(row, member), ==, json_object_get_string_member(obj, member));
        }
    }
}

static void test_spectrum(gconstpointer data)
{
    const char *name = data;
    /* SOURCE.md: location_coordinates.json's phone number does not match its CSV */
    check_against_json(name, strcmp(name, "location_coordinates") == 0 ? "Contact Phone Number" : NULL);
}

static void test_spectrum_defect_is_upstream(void)
{
    /* the CSV side of the defect: the file says 2095257564, and so do we */
    g_autoptr(kz_registry) reg = load_bundled("csv");
    g_autofree char *csv = spectrum_path("csvs", "location_coordinates", ".csv");
    if (csv == NULL)
        return;
    g_autoptr(recorder) rec = read_all(reg, csv, NULL);
    g_assert_cmpstr(value(row_at(rec, 0), "Contact Phone Number"), ==, "2095257564");
}

/* ---- edge cases and broken rows --------------------------------------------------- */

typedef struct {
    char *dir;
    kz_registry *reg;
} fixture;

static void setup(fixture *f, gconstpointer data)
{
    (void)data;
    f->dir = kz_test_tmpdir();
    f->reg = load_bundled("csv");
}

static void teardown(fixture *f, gconstpointer data)
{
    (void)data;
    kz_registry_free(f->reg);
    kz_test_rmtree(f->dir);
    g_free(f->dir);
}

static void test_bom_cr_blank_lines(fixture *f, gconstpointer data)
{
    (void)data;
    /* BOM, a quoted header cell, lone-CR line ends, blank lines, a quoted
     * field over two lines: rows keep the line they start on */
    g_autofree char *path = kz_test_write(f->dir, "a.csv",
                                          "\xef\xbb\xbf"
                                          "id,\"Account Name\"\r"
                                          "a1,Alpha\r"
                                          "\r"
                                          "a2,\"two\nlines\"\r"
                                          "a3,Gamma");
    g_autoptr(recorder) rec = read_all(f->reg, path, NULL);
    g_assert_cmpuint(rec->rows->len, ==, 3);
    g_assert_cmpstr(value(row_at(rec, 0), "id"), ==, "a1");
    g_assert_cmpstr(value(row_at(rec, 0), "Account Name"), ==, "Alpha");
    g_assert_cmpuint(row_at(rec, 0)->line, ==, 2);
    g_assert_cmpuint(row_at(rec, 1)->line, ==, 4);
    g_assert_cmpstr(value(row_at(rec, 1), "Account Name"), ==, "two\nlines");
    g_assert_cmpuint(row_at(rec, 2)->line, ==, 6);
    g_assert_cmpuint(field(row_at(rec, 2), "Account Name")->column, ==, 2);
    g_assert_cmpstr(row_at(rec, 2)->raw, ==, "a3,Gamma");
}

static void test_no_header(fixture *f, gconstpointer data)
{
    (void)data;
    /* without a header, columns are named 1, 2, ...; the BOM is still not data */
    g_autofree char *path = kz_test_write(f->dir, "h.csv",
                                          "\xef\xbb\xbf"
                                          "a1,Alpha\na2,Beta\n");
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_instance) inst = csv_instance_full(f->reg, path, NULL, NULL, "false", &err);
    g_assert_no_error(err);
    g_autoptr(recorder) rec = recorder_new(10);
    g_assert_cmpint(pull(inst, NULL, rec, NULL), ==, KZ_OK);
    g_assert_cmpuint(rec->rows->len, ==, 2);
    g_assert_cmpstr(value(row_at(rec, 0), "1"), ==, "a1");
    g_assert_cmpstr(value(row_at(rec, 0), "2"), ==, "Alpha");
    g_assert_cmpuint(row_at(rec, 0)->line, ==, 1);
    g_assert_cmpstr(value(row_at(rec, 1), "1"), ==, "a2");
    /* and the cursor holds: nothing new on a second pull */
    g_autoptr(recorder) again = recorder_new(10);
    g_assert_cmpint(pull(inst, last_cursor(rec), again, NULL), ==, KZ_OK);
    g_assert_cmpuint(again->rows->len, ==, 0);
}

static void test_broken_rows(fixture *f, gconstpointer data)
{
    (void)data;
    GString *text = g_string_new("a,b,c\n"
                                 "1,2,3\n"
                                 "4,\"x\"y,6\n" /* text after a closing quote */
                                 "7,8,9,10\n"   /* a field too many */
                                 "11,12\n"      /* short: c absent */
                                 "13,14,15\n");
    g_string_append_len(text, "16,1\0007,18\n", 10); /* a NUL byte */
    g_string_append(text, "19,20,\"never closed\n21,22,23\n");
    g_autofree char *path = g_build_filename(f->dir, "b.csv", NULL);
    g_assert_true(g_file_set_contents(path, text->str, (gssize)text->len, NULL));
    g_string_free(text, TRUE);
    g_autoptr(recorder) rec = read_all(f->reg, path, NULL);
    g_assert_cmpuint(rec->rows->len, ==, 3);
    g_assert_cmpstr(value(row_at(rec, 0), "a"), ==, "1");
    g_assert_cmpstr(value(row_at(rec, 1), "a"), ==, "11");
    g_assert_null(value(row_at(rec, 1), "c"));
    g_assert_nonnull(field(row_at(rec, 1), "c")); /* named, absent */
    g_assert_cmpstr(value(row_at(rec, 2), "a"), ==, "13");
    g_assert_cmpuint(rec->rejects->len, ==, 4);
    g_assert_true(g_str_has_prefix(rec->rejects->pdata[0], "3:0: column 2: 'y' after the closing quote"));
    g_assert_true(g_str_has_prefix(rec->rejects->pdata[1], "4:0: the row has 4 fields, the header 3"));
    g_assert_true(g_str_has_prefix(rec->rejects->pdata[2], "7:0: column 2 contains a NUL byte"));
    g_assert_true(
        g_str_has_prefix(rec->rejects->pdata[3], "8:0: column 3: the quoted field opened on line 8 is not closed"));
}

static void test_max_row_bytes_and_delimiter(fixture *f, gconstpointer data)
{
    (void)data;
    GString *text = g_string_new("id;note\n1;short\n2;");
    for (int i = 0; i < 200; i++)
        g_string_append_c(text, 'x');
    g_string_append(text, "\n3;\"semi;colon\"\n4;");
    for (int i = 0; i < 200; i++) /* delimiters count too: a line of them is no cheaper */
        g_string_append_c(text, ';');
    g_string_append_c(text, '\n');
    g_autofree char *path = kz_test_write(f->dir, "c.csv", text->str);
    g_string_free(text, TRUE);
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_instance) inst = csv_instance_with(f->reg, path, ";", "100", &err);
    g_assert_no_error(err);
    g_autoptr(recorder) rec = recorder_new(10);
    g_assert_cmpint(pull(inst, NULL, rec, NULL), ==, KZ_OK);
    g_assert_cmpuint(rec->rows->len, ==, 2);
    g_assert_cmpstr(value(row_at(rec, 1), "note"), ==, "semi;colon");
    g_assert_cmpuint(rec->rejects->len, ==, 2);
    g_assert_true(g_str_has_prefix(rec->rejects->pdata[0], "3:0: the row is longer than max_row_bytes (100 bytes)"));
    g_assert_true(g_str_has_prefix(rec->rejects->pdata[1], "5:0: the row is longer than max_row_bytes (100 bytes)"));
    /* a delimiter that cannot work is refused at create */
    g_autoptr(GError) bad = NULL;
    g_assert_null(csv_instance_with(f->reg, path, "\"", NULL, &bad));
    g_assert_nonnull(strstr(bad->message, "delimiter"));
}

static void test_empty_file_fails(fixture *f, gconstpointer data)
{
    (void)data;
    g_autofree char *path = kz_test_write(f->dir, "e.csv", "");
    g_autoptr(kz_instance) inst = csv_instance(f->reg, path);
    g_autoptr(recorder) rec = recorder_new(10);
    g_autofree char *msg = NULL;
    g_assert_cmpint(pull(inst, NULL, rec, &msg), ==, KZ_ERR_INVALID);
    g_assert_nonnull(strstr(msg, "the file is empty: expected a header line"));
    g_autofree char *missing = g_build_filename(f->dir, "missing.csv", NULL);
    g_autoptr(kz_instance) inst2 = csv_instance(f->reg, missing);
    g_autofree char *msg2 = NULL;
    g_assert_cmpint(pull(inst2, NULL, rec, &msg2), !=, KZ_OK);
    g_assert_nonnull(strstr(msg2, "cannot open"));
}

/* ---- the cursor ---------------------------------------------------------------- */

static void test_cursor(fixture *f, gconstpointer data)
{
    (void)data;
    g_autofree char *path = kz_test_write(f->dir, "d.csv", "id,v\n1,a\n2,b\n3,c\n4,d\n5,e\n");
    g_autoptr(recorder) first = read_all(f->reg, path, NULL);
    g_assert_cmpuint(first->rows->len, ==, 5);
    g_autofree char *cursor = g_strdup(last_cursor(first));

    /* unchanged: nothing at all */
    g_autoptr(recorder) again = read_all(f->reg, path, cursor);
    g_assert_cmpuint(again->rows->len, ==, 0);
    g_assert_cmpuint(again->batch_sizes->len, ==, 0);

    /* appended: only the new rows, with their true line numbers */
    FILE *fp = fopen(path, "a");
    fputs("6,f\n7,g\n", fp);
    fclose(fp);
    g_autoptr(recorder) appended = read_all(f->reg, path, cursor);
    g_assert_cmpuint(appended->rows->len, ==, 2);
    g_assert_cmpstr(value(row_at(appended, 0), "id"), ==, "6");
    g_assert_cmpuint(row_at(appended, 0)->line, ==, 7);

    /* edited before the cursor: everything again */
    g_free(kz_test_write(f->dir, "d.csv", "id,v\n1,a\n2,B\n3,c\n4,d\n5,e\n6,f\n7,g\n"));
    g_autoptr(recorder) edited = read_all(f->reg, path, last_cursor(appended));
    g_assert_cmpuint(edited->rows->len, ==, 7);
    g_assert_cmpstr(value(row_at(edited, 1), "v"), ==, "B");

    /* a cursor some other source wrote: from the start */
    g_autoptr(recorder) foreign = read_all(f->reg, path, "xml1 records=3");
    g_assert_cmpuint(foreign->rows->len, ==, 7);
}

static void test_unterminated_last_line(fixture *f, gconstpointer data)
{
    (void)data;
    /* the file ends inside a record: a writer may still be appending to
     * it, so it is read as it is but the cursor stays before it */
    g_autofree char *path = kz_test_write(f->dir, "u.csv", "id,v\n1,a\n2,b");
    g_autoptr(recorder) first = read_all(f->reg, path, NULL);
    g_assert_cmpuint(first->rows->len, ==, 2);
    g_assert_cmpstr(value(row_at(first, 1), "v"), ==, "b");
    FILE *fp = fopen(path, "a");
    fputs("c\n3,d\n", fp); /* the writer finishes line 3 and adds line 4 */
    fclose(fp);
    g_autoptr(recorder) next = read_all(f->reg, path, last_cursor(first));
    g_assert_cmpuint(next->rows->len, ==, 2);
    g_assert_cmpstr(value(row_at(next, 0), "v"), ==, "bc"); /* read again, complete */
    g_assert_cmpuint(row_at(next, 0)->line, ==, 3);
    g_assert_cmpstr(value(row_at(next, 1), "id"), ==, "3");
    g_autoptr(recorder) done = read_all(f->reg, path, last_cursor(next));
    g_assert_cmpuint(done->rows->len, ==, 0); /* terminated now: nothing new */
}

static void test_resume_after_stop(fixture *f, gconstpointer data)
{
    (void)data;
    GString *text = g_string_new("id,v\n");
    for (int i = 1; i <= 10; i++)
        g_string_append_printf(text, "%d,\"v\n%d\"\n", i, i); /* two lines each */
    g_autofree char *path = kz_test_write(f->dir, "r.csv", text->str);
    g_string_free(text, TRUE);
    g_autoptr(kz_instance) inst = csv_instance(f->reg, path);
    g_autoptr(recorder) rec = recorder_new(3);
    rec->accept_batches = 2; /* the host stores two batches, then asks to stop */
    g_assert_cmpint(pull(inst, NULL, rec, NULL), ==, KZ_OK);
    g_assert_cmpuint(rec->rows->len, ==, 6);
    g_autoptr(recorder) rest = recorder_new(3);
    g_assert_cmpint(pull(inst, last_cursor(rec), rest, NULL), ==, KZ_OK);
    g_assert_cmpuint(rest->rows->len, ==, 4);
    g_assert_cmpstr(value(row_at(rest, 0), "id"), ==, "7");
    g_assert_cmpuint(row_at(rest, 0)->line, ==, 14);
    g_assert_cmpstr(value(row_at(rest, 3), "v"), ==, "v\n10");
}

/* ---- bounded memory -------------------------------------------------------------- */

static void test_large_file_bounded_memory(fixture *f, gconstpointer data)
{
    (void)data;
    g_autofree char *path = g_build_filename(f->dir, "big.csv", NULL);
    FILE *fp = fopen(path, "w");
    fputs("event_id,time,account_id,name,quantity\n", fp);
    for (int i = 0; i < 400000; i++) /* about 24 MB */
        fprintf(fp, "ev-%09d,2026-01-01T00:00:%02dZ,acc-%05d,\"report, exported\",%d.5\n", i, i % 60, i % 977, i);
    fclose(fp);
    g_autoptr(kz_instance) inst = csv_instance(f->reg, path);
    g_autoptr(recorder) rec = recorder_new(4096);
    rec->keep_rows = FALSE;
    gint64 before = vm_hwm_kib();
    g_assert_cmpint(pull(inst, NULL, rec, NULL), ==, KZ_OK);
    g_assert_cmpuint(rec->n_rows, ==, 400000);
    g_assert_cmpuint(rec->batch_sizes->len, ==, (400000 + 4095) / 4096);
#if !defined(__SANITIZE_ADDRESS__) /* ASan keeps freed memory */
    g_assert_cmpint(vm_hwm_kib() - before, <, 8 * 1024);
#else
    (void)before;
#endif
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    static const char *const cases[] = {"comma_in_quotes", "empty",         "empty_crlf",
                                        "escaped_quotes",  "json",          "location_coordinates",
                                        "newlines",        "newlines_crlf", "quotes_and_newlines",
                                        "simple",          "simple_crlf",   "utf8"};
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = g_strdup_printf("/csv/spectrum/%s", cases[i]);
        g_test_add_data_func(name, cases[i], test_spectrum);
    }
    g_test_add_func("/csv/spectrum/defect-is-upstream", test_spectrum_defect_is_upstream);
    g_test_add("/csv/bom-cr-blank-lines", fixture, NULL, setup, test_bom_cr_blank_lines, teardown);
    g_test_add("/csv/no-header", fixture, NULL, setup, test_no_header, teardown);
    g_test_add("/csv/broken-rows", fixture, NULL, setup, test_broken_rows, teardown);
    g_test_add("/csv/max-row-bytes-delimiter", fixture, NULL, setup, test_max_row_bytes_and_delimiter, teardown);
    g_test_add("/csv/empty-or-missing-file", fixture, NULL, setup, test_empty_file_fails, teardown);
    g_test_add("/csv/cursor", fixture, NULL, setup, test_cursor, teardown);
    g_test_add("/csv/unterminated-last-line", fixture, NULL, setup, test_unterminated_last_line, teardown);
    g_test_add("/csv/resume-after-stop", fixture, NULL, setup, test_resume_after_stop, teardown);
    g_test_add("/csv/large-file-bounded-memory", fixture, NULL, setup, test_large_file_bounded_memory, teardown);
    return g_test_run();
}
