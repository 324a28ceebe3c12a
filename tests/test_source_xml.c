/*
 * tests/test_source_xml.c — the bundled `xml` source, loaded from the
 * build's plugin directory through the host's loader and driven through
 * its vtable with a sink that records what it gets: field naming (paths,
 * attributes, indexes, escapes, CDATA, CRLF, encodings), the cursor (a
 * second pull of an unchanged file emits nothing, a changed file is read
 * again, a resumed pull emits exactly the rest), malformed input (file:line
 * and the rows before it), over-size records, DTD attacks refused without
 * touching the files they name, libxml2 global defaults changed by the host
 * ignored, and bounded memory on a large file.
 */
#include "instance.h"
#include "params.h"
#include "registry.h"
#include "rowsink.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libxml/globals.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* ---- the plugin -------------------------------------------------------- */

static kz_registry *load_xml(void)
{
    return load_bundled("xml");
}

/* An instance reading `path`; `max_record` NULL for the default. On a
 * refused create, NULL with the message in *error. */
static kz_instance *xml_instance_full(const kz_registry *reg, const char *path, const char *record,
                                      const char *max_record, GError **error)
{
    GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)kz_param_value_free);
    put_param(params, KZ_PARAM_PATH, "path", path);
    put_param(params, KZ_PARAM_STRING, "record", record);
    if (max_record != NULL)
        put_param(params, KZ_PARAM_INT, "max_record_size", max_record);
    return kz_instance_create(kz_registry_find_component(reg, "xml"), "export", params, NULL, error);
}

static kz_instance *xml_instance(const kz_registry *reg, const char *path, const char *record)
{
    g_autoptr(GError) err = NULL;
    kz_instance *inst = xml_instance_full(reg, path, record, NULL, &err);
    g_assert_no_error(err);
    return inst;
}

static char *data_file(const char *name)
{
    return g_build_filename(KZ_TEST_DATA_DIR, "xml", name, NULL);
}

/* ---- field naming ------------------------------------------------------ */

static void test_fields_paths_attributes_escapes(void)
{
    g_autoptr(kz_registry) reg = load_xml();
    g_autofree char *path = data_file("accounts.xml");
    g_autoptr(kz_instance) inst = xml_instance(reg, path, "/export/accounts/account");
    g_autoptr(recorder) rec = recorder_new(100);
    g_assert_cmpint(pull(inst, NULL, rec, NULL), ==, KZ_OK);
    g_assert_cmpuint(rec->rows->len, ==, 2); /* not the archived one: the path is absolute */

    rec_row *a1 = row_at(rec, 0);
    g_autofree char *d1 = dump(a1);
    g_assert_cmpstr(d1, ==,
                    "@id=a1|@crm:tier=gold|name=Acme & Co <Ltd> \u263A|address/@country=JP|address/city=東京"
                    "|address/street=1-2-3 <Chiyoda> & more|phone=+81 3 1234|phone[2]=+81 3 5678"
                    "|contact/@role=admin|contact/email=a@acme.jp|contact[2]/@role=billing"
                    "|contact[2]/email=b@acme.jp|note=Renewal  please|note/b=soon|empty=|blank="
                    "|crm:owner=csm-7|text=  keep  \n  spaces |text/@lang=en");
    /* where things are: the record's start tag, each element's start tag */
    g_assert_cmpstr(a1->file, ==, path);
    g_assert_cmpuint(a1->line, ==, 5);
    g_assert_cmpuint(a1->column, ==, 5);
    g_assert_cmpuint(field(a1, "@id")->line, ==, 5);
    g_assert_cmpuint(field(a1, "name")->line, ==, 6);
    g_assert_cmpuint(field(a1, "name")->column, ==, 7);
    g_assert_cmpuint(field(a1, "address/city")->line, ==, 8);
    g_assert_cmpuint(field(a1, "address/city")->column, ==, 9);
    g_assert_cmpuint(field(a1, "phone[2]")->line, ==, 12);
    g_assert_cmpuint(field(a1, "crm:owner")->line, ==, 18);
    g_assert_cmpuint(field(a1, "text")->line, ==, 19); /* a start tag over two lines: where it begins */
    g_assert_cmpuint(field(a1, "text")->column, ==, 7);
    /* origin.raw: the record as read, re-serialised */
    g_assert_true(g_str_has_prefix(a1->raw, "<account id=\"a1\" crm:tier=\"gold\">"));
    g_assert_nonnull(strstr(a1->raw, "<name>Acme &amp; Co &lt;Ltd&gt; \u263A</name>"));
    g_assert_nonnull(strstr(a1->raw, "<street><![CDATA[1-2-3 <Chiyoda> & more]]></street>"));
    g_assert_nonnull(strstr(a1->raw, "<empty/>"));
    g_assert_true(g_str_has_suffix(a1->raw, "</account>"));

    rec_row *a2 = row_at(rec, 1);
    g_autofree char *d2 = dump(a2);
    g_assert_cmpstr(d2, ==, "@id=a2|@note=x & y & z \"q\" &#38; <|name=Beta");
    g_assert_cmpstr(a2->raw, ==,
                    "<account id=\"a2\" note=\"x &amp; y &amp; z &quot;q&quot; &amp;#38; &lt;\"><name>Beta</name>"
                    "</account>");
    g_assert_cmpuint(a2->line, ==, 23);
    /* consecutive rows share their field names (the host maps them once) */
    g_assert_true(field(a1, "name")->name_ptr == field(a2, "name")->name_ptr);
    g_assert_true(field(a1, "@id")->name_ptr == field(a2, "@id")->name_ptr);
}

static void test_record_patterns(void)
{
    g_autoptr(kz_registry) reg = load_xml();
    g_autofree char *path = data_file("accounts.xml");
    struct {
        const char *record;
        const char *ids;
    } cases[] = {
        {"account", "a1,a2,old"},           /* any element of that name */
        {"archive/account", "old"},         /* any whose path ends so */
        {"/export/archive/account", "old"}, /* exactly that path */
        {"/account", ""},                   /* the root is <export> */
        {"export", "-"},                    /* the root itself: one row */
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(kz_instance) inst = xml_instance(reg, path, cases[i].record);
        g_autoptr(recorder) rec = recorder_new(100);
        g_assert_cmpint(pull(inst, NULL, rec, NULL), ==, KZ_OK);
        GString *ids = g_string_new(NULL);
        for (guint r = 0; r < rec->rows->len; r++) {
            const char *id = value(row_at(rec, r), "@id");
            g_string_append_printf(ids, "%s%s", r ? "," : "", id ? id : "-");
        }
        g_assert_cmpstr(ids->str, ==, cases[i].ids);
        g_string_free(ids, TRUE);
    }
    /* the root as the record: nested records are plain fields of it */
    g_autoptr(kz_instance) inst = xml_instance(reg, path, "export");
    g_autoptr(recorder) rec = recorder_new(100);
    g_assert_cmpint(pull(inst, NULL, rec, NULL), ==, KZ_OK);
    g_assert_cmpstr(value(row_at(rec, 0), "accounts/account[2]/name"), ==, "Beta");
    g_assert_cmpstr(value(row_at(rec, 0), "archive/account/@id"), ==, "old");
}

static void test_crlf_bom_and_encodings(void)
{
    g_autoptr(kz_registry) reg = load_xml();
    g_autofree char *dir = kz_test_tmpdir();

    g_autofree char *crlf = kz_test_write(dir, "crlf.xml",
                                          "<?xml version=\"1.0\"?>\r\n<rows>\r\n  <row n=\"1\">\r\n"
                                          "    <text>line one\r\nline two</text>\r\n  </row>\r\n"
                                          "  <row n=\"2\"\r\n     m=\"a\r\nb\"><text>x</text></row>\r\n</rows>\r\n");
    g_autoptr(kz_instance) i1 = xml_instance(reg, crlf, "row");
    g_autoptr(recorder) r1 = recorder_new(100);
    g_assert_cmpint(pull(i1, NULL, r1, NULL), ==, KZ_OK);
    g_assert_cmpuint(r1->rows->len, ==, 2);
    g_assert_cmpstr(value(row_at(r1, 0), "text"), ==, "line one\nline two"); /* XML's line-end rule */
    g_assert_cmpuint(row_at(r1, 0)->line, ==, 3);
    g_assert_cmpuint(field(row_at(r1, 0), "text")->line, ==, 4);
    g_assert_cmpuint(field(row_at(r1, 0), "text")->column, ==, 5);
    g_assert_cmpuint(row_at(r1, 1)->line, ==, 7);
    g_assert_cmpuint(row_at(r1, 1)->column, ==, 3);
    g_assert_cmpstr(value(row_at(r1, 1), "@m"), ==, "a b"); /* attribute value normalisation */

    /* UTF-8 with a byte order mark; columns count characters */
    g_autofree char *bom = kz_test_write(dir, "bom.xml", "\xEF\xBB\xBF<行><row><name>ç</name><x>y</x></row></行>");
    g_autoptr(kz_instance) i2 = xml_instance(reg, bom, "/行/row");
    g_autoptr(recorder) r2 = recorder_new(100);
    g_assert_cmpint(pull(i2, NULL, r2, NULL), ==, KZ_OK);
    g_assert_cmpuint(r2->rows->len, ==, 1);
    g_assert_cmpstr(value(row_at(r2, 0), "name"), ==, "ç");
    g_assert_cmpuint(row_at(r2, 0)->line, ==, 1);
    g_assert_cmpuint(row_at(r2, 0)->column, ==, 4);
    g_assert_cmpuint(field(row_at(r2, 0), "x")->column, ==, 23);

    /* a declared legacy encoding arrives as UTF-8 */
    g_autofree char *latin1 =
        kz_test_write(dir, "latin1.xml",
                      "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n"
                      "<rows><row city=\"K\xf6ln\"><name>Caf\xe9 M\xfcller</name></row></rows>\n");
    g_autoptr(kz_instance) i3 = xml_instance(reg, latin1, "row");
    g_autoptr(recorder) r3 = recorder_new(100);
    g_assert_cmpint(pull(i3, NULL, r3, NULL), ==, KZ_OK);
    g_assert_cmpstr(value(row_at(r3, 0), "name"), ==, "Café Müller");
    g_assert_cmpstr(value(row_at(r3, 0), "@city"), ==, "Köln");

    /* UTF-16 with a byte order mark */
    const char *u16 = "<rows>\n<row k=\"é\"><name>東京</name></row>\n</rows>\n";
    g_autofree gunichar2 *units = g_utf8_to_utf16(u16, -1, NULL, NULL, NULL);
    GByteArray *bytes = g_byte_array_new();
    g_byte_array_append(bytes, (const guint8 *)"\xFF\xFE", 2);
    for (const gunichar2 *u = units; *u != 0; u++) {
        guint8 le[2] = {(guint8)(*u & 0xFF), (guint8)(*u >> 8)};
        g_byte_array_append(bytes, le, 2);
    }
    g_autofree char *utf16 = g_build_filename(dir, "utf16.xml", NULL);
    g_assert_true(g_file_set_contents(utf16, (const char *)bytes->data, bytes->len, NULL));
    g_byte_array_unref(bytes);
    g_autoptr(kz_instance) i5 = xml_instance(reg, utf16, "row");
    g_autoptr(recorder) r5 = recorder_new(100);
    g_assert_cmpint(pull(i5, NULL, r5, NULL), ==, KZ_OK);
    g_autofree char *d5 = dump(row_at(r5, 0));
    g_assert_cmpstr(d5, ==, "@k=é|name=東京");
    g_assert_cmpuint(row_at(r5, 0)->line, ==, 2);

    /* bytes that are not UTF-8 in a UTF-8 document: the pull fails at their line */
    g_autofree char *bad = kz_test_write(
        dir, "bad-utf8.xml", "<rows>\n<row><name>ok</name></row>\n<row><name>\xff\xfe</name></row>\n</rows>\n");
    g_autoptr(kz_instance) i4 = xml_instance(reg, bad, "row");
    g_autoptr(recorder) r4 = recorder_new(100);
    g_autofree char *msg = NULL;
    g_assert_cmpint(pull(i4, NULL, r4, &msg), ==, KZ_ERR_INVALID);
    g_autofree char *where = g_strdup_printf("%s:3: ", bad);
    g_assert_nonnull(strstr(msg, where));
    g_assert_cmpuint(r4->rows->len, ==, 1);
    kz_test_rmtree(dir);
}

/* ---- the cursor -------------------------------------------------------- */

/* <rows> of `n` records <r id="FIRST+i"><v>i</v></r>, one per line. */
static char *write_records(const char *dir, const char *name, guint n, guint first)
{
    GString *s = g_string_new("<?xml version=\"1.0\"?>\n<rows>\n");
    for (guint i = 0; i < n; i++)
        g_string_append_printf(s, "  <r id=\"%u\"><v>%u</v></r>\n", first + i, i);
    g_string_append(s, "</rows>\n");
    char *path = kz_test_write(dir, name, s->str);
    g_string_free(s, TRUE);
    return path;
}

static char *ids_of(recorder *rec)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < rec->rows->len; i++)
        g_string_append_printf(s, "%s%s", i ? "," : "", value(row_at(rec, i), "@id"));
    return g_string_free(s, FALSE);
}

static void test_cursor_skips_what_is_stored(void)
{
    g_autoptr(kz_registry) reg = load_xml();
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *path = write_records(dir, "ten.xml", 10, 1);
    g_autoptr(kz_instance) inst = xml_instance(reg, path, "r");

    g_autoptr(recorder) first = recorder_new(4);
    g_assert_cmpint(pull(inst, NULL, first, NULL), ==, KZ_OK);
    g_assert_cmpuint(first->rows->len, ==, 10);
    g_assert_cmpuint(first->batch_sizes->len, ==, 3); /* 4 + 4 + 2, the last one says "end" */
    g_assert_cmpuint(g_array_index(first->batch_sizes, guint32, 0), ==, 4);
    g_assert_cmpuint(g_array_index(first->batch_sizes, guint32, 2), ==, 2);
    g_assert_true(g_str_has_prefix(first->cursors->pdata[0], "xml1 records=4 end=0 "));
    g_assert_true(g_str_has_prefix(last_cursor(first), "xml1 records=10 end=1 "));

    /* unchanged and read to the end: nothing at all */
    g_autoptr(recorder) second = recorder_new(4);
    g_assert_cmpint(pull(inst, last_cursor(first), second, NULL), ==, KZ_OK);
    g_assert_cmpuint(second->batch_sizes->len, ==, 0);
    g_assert_cmpuint(second->rejects->len, ==, 0);

    /* a batch boundary at the very end: a last batch of no rows moves the cursor to "end" */
    g_autoptr(recorder) fives = recorder_new(5);
    g_assert_cmpint(pull(inst, NULL, fives, NULL), ==, KZ_OK);
    g_assert_cmpuint(fives->batch_sizes->len, ==, 3);
    g_assert_cmpuint(g_array_index(fives->batch_sizes, guint32, 2), ==, 0);
    g_assert_true(g_str_has_prefix(last_cursor(fives), "xml1 records=10 end=1 "));

    /* the file changes (same size even, rewritten in place): read again from the start */
    g_autofree char *old_cursor = g_strdup(last_cursor(first));
    g_usleep(20000);
    g_autofree char *again = write_records(dir, "ten.xml", 10, 101);
    g_assert_cmpstr(again, ==, path);
    g_autoptr(recorder) third = recorder_new(4);
    g_assert_cmpint(pull(inst, old_cursor, third, NULL), ==, KZ_OK);
    g_autofree char *ids = ids_of(third);
    g_assert_cmpstr(ids, ==, "101,102,103,104,105,106,107,108,109,110");

    /* a cursor this source did not write: from the start, too */
    g_autoptr(recorder) fourth = recorder_new(100);
    g_assert_cmpint(pull(inst, "a:42", fourth, NULL), ==, KZ_OK);
    g_assert_cmpuint(fourth->rows->len, ==, 10);

    /* another record pattern over the same file does not trust the count */
    g_autoptr(kz_instance) other = xml_instance(reg, path, "/rows/r");
    g_autoptr(recorder) fifth = recorder_new(100);
    g_assert_cmpint(pull(other, last_cursor(third), fifth, NULL), ==, KZ_OK);
    g_assert_cmpuint(fifth->rows->len, ==, 10);
    kz_test_rmtree(dir);
}

static void test_resume_emits_exactly_the_rest(void)
{
    g_autoptr(kz_registry) reg = load_xml();
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *path = write_records(dir, "ten.xml", 10, 1);
    g_autoptr(kz_instance) inst = xml_instance(reg, path, "r");

    /* the host takes two batches, then stops the run (as a kill would) */
    g_autoptr(recorder) cut = recorder_new(3);
    cut->accept_batches = 2;
    g_assert_cmpint(pull(inst, NULL, cut, NULL), ==, KZ_OK);
    g_autofree char *ids1 = ids_of(cut);
    g_assert_cmpstr(ids1, ==, "1,2,3,4,5,6");
    g_assert_true(g_str_has_prefix(last_cursor(cut), "xml1 records=6 end=0 "));

    g_autoptr(recorder) rest = recorder_new(3);
    g_assert_cmpint(pull(inst, last_cursor(cut), rest, NULL), ==, KZ_OK);
    g_autofree char *ids2 = ids_of(rest);
    g_assert_cmpstr(ids2, ==, "7,8,9,10");
    g_assert_true(g_str_has_prefix(rest->cursors->pdata[0], "xml1 records=9 end=0 "));
    g_assert_true(g_str_has_prefix(last_cursor(rest), "xml1 records=10 end=1 "));

    /* from the first batch's cursor of a full run */
    g_autoptr(recorder) full = recorder_new(3);
    g_assert_cmpint(pull(inst, NULL, full, NULL), ==, KZ_OK);
    g_autoptr(recorder) from3 = recorder_new(100);
    g_assert_cmpint(pull(inst, full->cursors->pdata[0], from3, NULL), ==, KZ_OK);
    g_autofree char *ids3 = ids_of(from3);
    g_assert_cmpstr(ids3, ==, "4,5,6,7,8,9,10");

    /* a failing store: the pull returns the sink's failure as it is */
    g_autoptr(recorder) broken = recorder_new(3);
    broken->accept_batches = 1;
    broken->fail_status = KZ_ERR;
    g_assert_cmpint(pull(inst, NULL, broken, NULL), ==, KZ_ERR);
    g_assert_cmpuint(broken->rows->len, ==, 3);
    kz_test_rmtree(dir);
}

/* ---- bad input --------------------------------------------------------- */

static void test_malformed_fails_at_its_line_after_the_good_rows(void)
{
    g_autoptr(kz_registry) reg = load_xml();
    g_autofree char *path = data_file("malformed.xml");
    g_autoptr(kz_instance) inst = xml_instance(reg, path, "account");
    g_autoptr(recorder) rec = recorder_new(2);
    g_autofree char *msg = NULL;
    g_assert_cmpint(pull(inst, NULL, rec, &msg), ==, KZ_ERR_INVALID);
    g_autofree char *where = g_strdup_printf("%s:5: ", path);
    g_assert_nonnull(strstr(msg, where));
    g_assert_nonnull(strstr(msg, "mismatch"));
    g_test_message("%s", msg);
    g_autofree char *ids = ids_of(rec);
    g_assert_cmpstr(ids, ==, "1,2,3");
    g_assert_true(g_str_has_prefix(last_cursor(rec), "xml1 records=3 end=0 "));

    /* the next run fails the same way, without emitting the good rows again */
    g_autoptr(recorder) again = recorder_new(2);
    g_autofree char *msg2 = NULL;
    g_assert_cmpint(pull(inst, last_cursor(rec), again, &msg2), ==, KZ_ERR_INVALID);
    g_assert_nonnull(strstr(msg2, where));
    g_assert_cmpuint(again->rows->len, ==, 0);

    g_autofree char *dir = kz_test_tmpdir();
    struct {
        const char *text, *line, *words;
    } cases[] = {
        {"<rows>\n<r><v>1</v></r>\n<r><v>2</v>", ":3: ", "1"},                   /* cut short */
        {"<rows>\n<r><v>1</v></r>\n<r><v>&nbsp;</v></r>\n</rows>", ":3: ", "1"}, /* undeclared entity */
        {"<rows>\n<r><v>1</v></r>\n</rows>\n<rows/>", ":4: ", "1"},              /* two roots */
        {"", ":1: ", ""},                                                        /* empty */
        {"<rows><r a='1' a='2'/></rows>", ":1: ", ""},                           /* attribute twice */
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = g_strdup_printf("bad%u.xml", i);
        g_autofree char *file = kz_test_write(dir, name, cases[i].text);
        g_autoptr(kz_instance) bad = xml_instance(reg, file, "r");
        g_autoptr(recorder) r = recorder_new(100);
        g_autofree char *m = NULL;
        g_assert_cmpint(pull(bad, NULL, r, &m), ==, KZ_ERR_INVALID);
        g_autofree char *at = g_strconcat(file, cases[i].line, NULL);
        if (strstr(m, at) == NULL)
            g_error("case %u: '%s' does not name %s", i, m, at);
        GString *got = g_string_new(NULL);
        for (guint k = 0; k < r->rows->len; k++)
            g_string_append_printf(got, "%s%s", k ? "," : "", value(row_at(r, k), "v"));
        g_assert_cmpstr(got->str, ==, cases[i].words);
        g_string_free(got, TRUE);
    }
    kz_test_rmtree(dir);
}

static void test_oversized_record_is_rejected(void)
{
    g_autoptr(kz_registry) reg = load_xml();
    g_autofree char *dir = kz_test_tmpdir();
    GString *s = g_string_new("<rows>\n<r id=\"1\"><v>small</v></r>\n<r id=\"2\">\n  <v>");
    for (int i = 0; i < 5000; i++)
        g_string_append_c(s, 'a' + i % 26);
    g_string_append(s, "</v>\n</r>\n<r id=\"3\"><v>small too</v></r>\n</rows>\n");
    g_autofree char *path = kz_test_write(dir, "big.xml", s->str);
    g_string_free(s, TRUE);

    g_autoptr(GError) err = NULL;
    g_autoptr(kz_instance) inst = xml_instance_full(reg, path, "r", "1024", &err);
    g_assert_no_error(err);
    g_autoptr(recorder) rec = recorder_new(100);
    g_assert_cmpint(pull(inst, NULL, rec, NULL), ==, KZ_OK);
    g_autofree char *ids = ids_of(rec);
    g_assert_cmpstr(ids, ==, "1,3");
    g_assert_cmpuint(rec->rejects->len, ==, 1);
    const char *reject = rec->rejects->pdata[0];
    g_assert_true(g_str_has_prefix(reject, "3:1: record is larger than max_record_size (1024 bytes"));
    g_assert_nonnull(strstr(reject, "| <r id=\"2\">\n  <v>abcdef"));
    g_assert_cmpuint(strlen(strstr(reject, "| ") + 2), <=, 2048);
    g_assert_true(g_str_has_prefix(last_cursor(rec), "xml1 records=3 end=1 "));

    /* raising the limit re-reads the file: the cursor covers max_record_size */
    g_autoptr(kz_instance) wider = xml_instance_full(reg, path, "r", "8192", &err);
    g_assert_no_error(err);
    g_autoptr(recorder) again = recorder_new(100);
    g_assert_cmpint(pull(wider, last_cursor(rec), again, NULL), ==, KZ_OK);
    g_autofree char *all = ids_of(again);
    g_assert_cmpstr(all, ==, "1,2,3");
    kz_test_rmtree(dir);
}

static void test_many_rejects_move_in_batches(void)
{
    /* a file of nothing but rejected records still goes to the host in
     * batches (without rows), so neither side holds them all */
    g_autoptr(kz_registry) reg = load_xml();
    g_autofree char *dir = kz_test_tmpdir();
    GString *s = g_string_new("<rows>\n");
    for (int i = 0; i < 2500; i++)
        g_string_append_printf(s, "<r id=\"%d\"><v>%0200d</v></r>\n", i, i);
    g_string_append(s, "</rows>\n");
    g_autofree char *path = kz_test_write(dir, "rejects.xml", s->str);
    g_string_free(s, TRUE);
    g_autoptr(GError) err = NULL;
    g_autoptr(kz_instance) inst = xml_instance_full(reg, path, "r", "100", &err);
    g_assert_no_error(err);
    g_autoptr(recorder) rec = recorder_new(1000);
    g_assert_cmpint(pull(inst, NULL, rec, NULL), ==, KZ_OK);
    g_assert_cmpuint(rec->rows->len, ==, 0);
    g_assert_cmpuint(rec->rejects->len, ==, 2500);
    g_assert_cmpuint(rec->batch_sizes->len, >=, 3); /* 1000, 2000, and the end */
    g_assert_true(g_str_has_prefix(rec->cursors->pdata[0], "xml1 records=1000 end=0 "));
    kz_test_rmtree(dir);
}

static void test_bad_parameters_and_files(void)
{
    g_autoptr(kz_registry) reg = load_xml();
    const char *records[] = {"", "/", "a//b", "a/", "//a", "a/@id", "a[2]", "a b"};
    for (guint i = 0; i < G_N_ELEMENTS(records); i++) {
        g_autoptr(GError) err = NULL;
        kz_instance *inst = xml_instance_full(reg, "/tmp/x.xml", records[i], NULL, &err);
        g_assert_null(inst);
        g_assert_nonnull(strstr(err->message, "parameter 'record'"));
    }
    g_autoptr(GError) err = NULL;
    g_assert_null(xml_instance_full(reg, "/tmp/x.xml", "r", "10", &err));
    g_assert_nonnull(strstr(err->message, "max_record_size"));

    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *missing = g_build_filename(dir, "not-yet.xml", NULL);
    g_autoptr(kz_instance) a = xml_instance(reg, missing, "r");
    g_autoptr(recorder) rec = recorder_new(10);
    g_autofree char *msg = NULL;
    g_assert_cmpint(pull(a, NULL, rec, &msg), ==, KZ_ERR_RETRY); /* an export not delivered yet */
    g_assert_nonnull(strstr(msg, "cannot open"));
    g_autoptr(kz_instance) b = xml_instance(reg, dir, "r");
    g_autofree char *msg2 = NULL;
    g_assert_cmpint(pull(b, NULL, rec, &msg2), ==, KZ_ERR_INVALID);
    g_assert_nonnull(strstr(msg2, "not a regular file"));
    kz_test_rmtree(dir);
}

/* ---- DTD attacks ------------------------------------------------------- */

static void test_billion_laughs_is_refused_at_once(void)
{
    if (!g_test_subprocess()) { /* a fresh process, so VmHWM measures only this */
        g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
        g_test_trap_assert_passed();
        return;
    }
    g_autoptr(kz_registry) reg = load_xml();
    g_autofree char *laughs = data_file("billion-laughs.xml");
    g_autofree char *quadratic_dir = kz_test_tmpdir();
    GString *q = g_string_new("<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY a \"");
    for (int i = 0; i < 50000; i++)
        g_string_append_c(q, 'a');
    g_string_append(q, "\">]>\n<r><rec><v>");
    for (int i = 0; i < 50000; i++)
        g_string_append(q, "&a;");
    g_string_append(q, "</v></rec></r>\n");
    g_autofree char *quadratic = kz_test_write(quadratic_dir, "quadratic.xml", q->str);
    g_string_free(q, TRUE);

    const char *files[] = {laughs, quadratic};
    for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autoptr(kz_instance) inst = xml_instance(reg, files[i], "rec");
        g_autoptr(recorder) rec = recorder_new(100);
        g_autofree char *msg = NULL;
        gint64 hwm = vm_hwm_kib();
        gint64 t0 = g_get_monotonic_time();
        g_assert_cmpint(pull(inst, NULL, rec, &msg), ==, KZ_ERR_INVALID);
        gint64 elapsed_us = g_get_monotonic_time() - t0;
        gint64 grown_kib = vm_hwm_kib() - hwm;
        g_test_message("%s: %s (%" G_GINT64_FORMAT " us, VmHWM +%" G_GINT64_FORMAT " KiB)", files[i], msg, elapsed_us,
                       grown_kib);
        g_autofree char *where = g_strdup_printf("%s:2: document type declaration <!DOCTYPE", files[i]);
        g_assert_nonnull(strstr(msg, where));
        g_assert_cmpuint(rec->rows->len, ==, 0);
        g_assert_cmpint(elapsed_us, <, G_USEC_PER_SEC);
#if !defined(__SANITIZE_ADDRESS__)
        g_assert_cmpint(grown_kib, <, 4096);
#endif
    }
    kz_test_rmtree(quadratic_dir);
}

static gboolean contains_in_any(recorder *rec, const char *msg, const char *needle)
{
    if (msg != NULL && strstr(msg, needle) != NULL)
        return TRUE;
    for (guint i = 0; i < rec->rows->len; i++) {
        g_autofree char *d = dump(row_at(rec, i));
        if (strstr(d, needle) != NULL || strstr(row_at(rec, i)->raw, needle) != NULL)
            return TRUE;
    }
    for (guint i = 0; i < rec->rejects->len; i++)
        if (strstr(rec->rejects->pdata[i], needle) != NULL)
            return TRUE;
    return FALSE;
}

/* Whether the inotify descriptor has seen the watched file opened or read. */
static gboolean was_touched(int fd)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    gboolean touched = FALSE;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & (IN_OPEN | IN_ACCESS))
                touched = TRUE;
            p += sizeof *ev + ev->len;
        }
    g_assert_true(n < 0 && errno == EAGAIN);
    return touched;
}

static void test_external_entities_are_refused_unread(void)
{
    g_autoptr(kz_registry) reg = load_xml();
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *secret_text = g_strdup_printf("KIZUNA-SECRET-%08x", g_random_int());
    g_autofree char *secret = kz_test_write(dir, "secret.txt", secret_text);
    g_autofree char *secret_dtd = kz_test_write(dir, "secret.dtd", "<!ENTITY leak SYSTEM \"secret.txt\">");
    struct {
        const char *name, *text, *expect;
    } cases[] = {
        {"passwd.xml",
         "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
         "<r><rec><v>&x;</v></rec></r>\n",
         ":2: document type declaration <!DOCTYPE r>"},
        {"file.xml",
         "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file://%s\">]>\n"
         "<r><rec><v>&x;</v></rec></r>\n",
         ":2: document type declaration"},
        {"relative.xml", "<!DOCTYPE r [\n<!ENTITY x SYSTEM \"secret.txt\">\n]>\n<r><rec><v>&x;</v></rec></r>\n",
         ":1: document type declaration"},
        {"param.xml",
         "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY %% p SYSTEM \"file://%s\"> %%p;]>\n"
         "<r><rec><v>x</v></rec></r>\n",
         ":2: document type declaration"},
        {"external-dtd.xml",
         "<?xml version=\"1.0\"?>\n<!DOCTYPE r SYSTEM \"secret.dtd\">\n"
         "<r><rec><v>&leak;</v></rec></r>\n",
         ":2: document type declaration"},
        {"no-doctype.xml", "<r>\n<rec><v>&x;</v></rec></r>\n", ":2: Entity 'x' not defined"},
    };
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    g_assert_cmpint(in, >=, 0);
    g_assert_cmpint(inotify_add_watch(in, secret, IN_OPEN | IN_ACCESS), >=, 0);
    g_assert_cmpint(inotify_add_watch(in, secret_dtd, IN_OPEN | IN_ACCESS), >=, 0);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = g_strdup_printf(cases[i].text, secret);
        g_autofree char *path = kz_test_write(dir, cases[i].name, text);
        g_assert_false(was_touched(in));
        g_autoptr(kz_instance) inst = xml_instance(reg, path, "rec");
        g_autoptr(recorder) rec = recorder_new(100);
        g_autofree char *msg = NULL;
        g_assert_cmpint(pull(inst, NULL, rec, &msg), ==, KZ_ERR_INVALID);
        g_test_message("%s: %s", cases[i].name, msg);
        g_autofree char *where = g_strconcat(path, cases[i].expect, NULL);
        if (strstr(msg, where) == NULL)
            g_error("%s: '%s' does not say '%s'", cases[i].name, msg, where);
        g_assert_cmpuint(rec->rows->len, ==, 0);
        g_assert_false(contains_in_any(rec, msg, secret_text));
        g_assert_false(contains_in_any(rec, msg, "root:"));
        g_assert_false(was_touched(in)); /* never opened, let alone read */
    }

    /* XInclude is not processed: the include element is just an element */
    g_autofree char *xinclude =
        kz_test_write(dir, "xinclude.xml",
                      "<r xmlns:xi=\"http://www.w3.org/2001/XInclude\"><rec><xi:include href=\"secret.txt\" "
                      "parse=\"text\"/></rec></r>\n");
    g_autoptr(kz_instance) inst = xml_instance(reg, xinclude, "rec");
    g_autoptr(recorder) rec = recorder_new(100);
    g_assert_cmpint(pull(inst, NULL, rec, NULL), ==, KZ_OK);
    g_autofree char *d = dump(row_at(rec, 0));
    g_assert_cmpstr(d, ==, "xi:include=|xi:include/@href=secret.txt|xi:include/@parse=text");
    g_assert_false(contains_in_any(rec, NULL, secret_text));
    g_assert_false(was_touched(in));

    /* the watch does see an open: the checks above are not vacuous */
    g_autofree char *contents = NULL;
    g_assert_true(g_file_get_contents(secret, &contents, NULL, NULL));
    g_assert_true(was_touched(in));
    close(in);
    kz_test_rmtree(dir);
}

/* The plugin runs inside the host, which may have changed libxml2's global
 * defaults: the plugin's parser ignores them. */
static void test_host_libxml2_defaults_do_not_leak_in(void)
{
    if (!g_test_subprocess()) { /* the globals stay changed in that process only */
        g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
        g_test_trap_assert_passed();
        return;
    }
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    xmlInitParser();
    xmlSubstituteEntitiesDefault(1);
    xmlLoadExtDtdDefaultValue = XML_DETECT_IDS | XML_COMPLETE_ATTRS;
    xmlDoValidityCheckingDefaultValue = 1;
    xmlKeepBlanksDefault(0);
    G_GNUC_END_IGNORE_DEPRECATIONS
    test_fields_paths_attributes_escapes();
    test_external_entities_are_refused_unread();
    test_billion_laughs_is_refused_at_once();
}

/* ---- a large file ------------------------------------------------------ */

#define LARGE_RECORDS 200000u
#define GIANT_AT      100000u /* a record of 20 MB of text, rejected */

typedef struct {
    guint64 next_id;
    guint32 max_batch;
} large_check;

static void check_large_row(recorder *rec, const kz_row *row)
{
    large_check *c = rec->check_data;
    if (c->next_id == GIANT_AT)
        c->next_id++;
    g_assert_cmpuint(row->n_fields, ==, 5);
    g_assert_cmpstr(row->fields[0].name, ==, "@id");
    g_assert_cmpuint(g_ascii_strtoull(row->fields[0].value, NULL, 10), ==, c->next_id);
    g_assert_cmpstr(row->fields[3].name, ==, "contact/email");
    /* one record a line from line 4, after the giant record's 20480 lines of text */
    g_assert_cmpuint(row->origin.line, ==, c->next_id + 4 + (c->next_id > GIANT_AT ? 20 * 1024 : 0));
    c->next_id++;
}

static void test_large_file_in_bounded_memory(void)
{
    if (!g_test_subprocess()) {
        g_test_trap_subprocess(NULL, 600 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
        g_test_trap_assert_passed();
        return;
    }
    g_autoptr(kz_registry) reg = load_xml();
    g_autofree char *dir = kz_test_tmpdir();
    g_autofree char *path = g_build_filename(dir, "large.xml", NULL);
    FILE *f = fopen(path, "w");
    g_assert_nonnull(f);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<export>\n<accounts>\n", f);
    for (guint i = 0; i < LARGE_RECORDS; i++) {
        if (i == GIANT_AT) {
            fprintf(f, "<account id=\"%u\"><name>", i);
            for (int k = 0; k < 20 * 1024; k++)
                fprintf(f, "%01023d\n", k);
            fputs("</name></account>\n", f);
            continue;
        }
        fprintf(f,
                "<account id=\"%u\" region=\"%s\"><name>Company %u &amp; Sons</name><contact><email>ceo%u@example.com"
                "</email></contact><notes>Quarterly review; renewal in %u days; 健康スコア %u</notes></account>\n",
                i, i % 2 ? "emea" : "apac", i, i, i % 365, i % 100);
    }
    fputs("</accounts>\n</export>\n", f);
    g_assert_cmpint(fclose(f), ==, 0);
    GStatBuf st;
    g_assert_cmpint(g_stat(path, &st), ==, 0);

    g_autoptr(kz_instance) inst = xml_instance(reg, path, "/export/accounts/account");
    g_autoptr(recorder) rec = recorder_new(1000);
    rec->keep_rows = FALSE;
    large_check check = {0, 0};
    rec->check = check_large_row;
    rec->check_data = &check;
    gint64 hwm = vm_hwm_kib();
    gint64 t0 = g_get_monotonic_time();
    g_assert_cmpint(pull(inst, NULL, rec, NULL), ==, KZ_OK);
    gint64 elapsed_ms = (g_get_monotonic_time() - t0) / 1000;
    gint64 grown_kib = vm_hwm_kib() - hwm;
    g_test_message("%u records, %lld MB: %" G_GINT64_FORMAT " ms, %u batches, VmHWM +%" G_GINT64_FORMAT " KiB",
                   LARGE_RECORDS, (long long)st.st_size >> 20, elapsed_ms, rec->batch_sizes->len, grown_kib);
    g_assert_cmpuint(rec->n_rows, ==, LARGE_RECORDS - 1);
    g_assert_cmpuint(check.next_id, ==, LARGE_RECORDS);
    g_assert_cmpuint(rec->rejects->len, ==, 1);
    g_assert_nonnull(strstr(rec->rejects->pdata[0], "max_record_size"));
    for (guint i = 0; i < rec->batch_sizes->len; i++)
        g_assert_cmpuint(g_array_index(rec->batch_sizes, guint32, i), <=, 1000);
    g_assert_cmpuint(rec->batch_sizes->len, >=, (LARGE_RECORDS - 1) / 1000);
    g_assert_true(g_str_has_prefix(last_cursor(rec), "xml1 records=200000 end=1 "));
    /* a tree of this file would take hundreds of MB; the reader keeps one
     * batch of rows and one record */
    g_assert_cmpint(st.st_size, >, 50 << 20);
#if !defined(__SANITIZE_ADDRESS__) /* ASan keeps freed memory in quarantine */
    g_assert_cmpint(grown_kib, <, 32 * 1024);
#endif
    kz_test_rmtree(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/source/xml/fields", test_fields_paths_attributes_escapes);
    g_test_add_func("/source/xml/record-patterns", test_record_patterns);
    g_test_add_func("/source/xml/crlf-bom-encodings", test_crlf_bom_and_encodings);
    g_test_add_func("/source/xml/cursor", test_cursor_skips_what_is_stored);
    g_test_add_func("/source/xml/resume", test_resume_emits_exactly_the_rest);
    g_test_add_func("/source/xml/malformed", test_malformed_fails_at_its_line_after_the_good_rows);
    g_test_add_func("/source/xml/oversized-record", test_oversized_record_is_rejected);
    g_test_add_func("/source/xml/many-rejects-in-batches", test_many_rejects_move_in_batches);
    g_test_add_func("/source/xml/bad-parameters", test_bad_parameters_and_files);
    g_test_add_func("/source/xml/billion-laughs", test_billion_laughs_is_refused_at_once);
    g_test_add_func("/source/xml/external-entities", test_external_entities_are_refused_unread);
    g_test_add_func("/source/xml/host-libxml2-defaults", test_host_libxml2_defaults_do_not_leak_in);
    g_test_add_func("/source/xml/large-file", test_large_file_in_bounded_memory);
    return g_test_run();
}
