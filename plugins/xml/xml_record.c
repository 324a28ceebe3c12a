/*
 * plugins/xml/xml_record.c — the record reader (see xml_record.h): XML
 * bytes in, one kz_row per record element out.
 *
 * It drives libxml2's push parser with SAX2 callbacks on a parser context
 * of its own, so no tree is ever built and no libxml2 global (error
 * handlers, entity loader, defaults) is read or changed: the plugin runs
 * inside the host, which uses libxml2 for its own config. Memory is one
 * record's fields (capped by max_record), the names of the elements open
 * around it, a table of interned field names (capped) and libxml2's own
 * buffers (which it caps at 10 MB without XML_PARSE_HUGE, never set here).
 *
 * Security: the context gets XML_PARSE_NONET and none of NOENT, DTDLOAD,
 * DTDATTR, DTDVALID, XINCLUDE or HUGE. The internalSubset callback fires
 * as soon as the parser has read "<!DOCTYPE name ...", before any
 * declaration inside it, and stops the parser: no entity is ever declared,
 * so no entity is expanded (billion laughs) and no external entity or DTD
 * is opened (XXE). getEntity and resolveEntity answer "none" as a second
 * line of defence; a reference to anything but the five predefined
 * entities is then a well-formedness error.
 */
#define _POSIX_C_SOURCE 200809L
#include "xml_record.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTERN_SLOTS     8192u /* power of two; at most half are used */
#define INTERN_MAX_NAME  256u  /* longer names are not interned */
#define INTERN_MAX_BYTES (256u * 1024u)

/* A growable byte buffer, NUL-terminated when non-empty. */
typedef struct {
    char *data;
    size_t len, cap;
} xbuf;

/* One element open inside the record being built. */
typedef struct {
    const char *path;  /* its field name ("." for the record element) */
    size_t path_len;   /* strlen(path) */
    size_t text_start; /* where its own text begins in reader->text */
    size_t slot;       /* index of its own field in reader->fields */
    int has_child;     /* a child element was seen */
    int has_text;      /* text of its own other than white space was seen */
} open_elem;

/* How many elements of one name one parent had so far in this record. The
 * key is the field name of the first of them, which is also the unindexed
 * path the later ones share. A slot is live only when gen == reader->gen,
 * so starting a record forgets the table in O(1). */
typedef struct {
    const char *key;
    uint64_t hash;
    uint32_t count;
    uint32_t gen;
} sibling_slot;

/* A field name shared by every row that uses it (see field_name). */
typedef struct {
    char *name; /* owned; NULL = free slot */
    uint64_t hash;
} intern_slot;

struct xml_reader {
    xml_reader_options opts;
    xml_record_sink sink;
    xml_arena *arena;
    xmlParserCtxtPtr ctxt; /* created by the first feed */
    int status;            /* KZ_OK until something stops the parse */
    char *error;           /* why, for KZ_ERR_INVALID and KZ_ERR_NOMEM */

    /* The record pattern. */
    char *pattern;
    char **steps;
    size_t n_steps;
    int absolute;

    /* Qualified names of the elements open outside any record. */
    xbuf outer;
    size_t *outer_at;
    size_t outer_n, outer_cap;

    /* The record being read. depth counts its open elements, itself
     * included (0: outside any record); `open` mirrors them only while
     * building, which stops for a skipped or an oversized record. */
    uint64_t seen; /* records started so far */
    size_t depth;
    int building, oversized;
    open_elem *open;
    size_t n_open, open_cap;
    kz_field *fields;
    size_t n_fields, fields_cap;
    xbuf text;                     /* the open elements' own text, stacked */
    xbuf scratch;                  /* a field name being built */
    xbuf qname;                    /* prefix:local being built */
    size_t bytes;                  /* field names and values held by the record */
    uint32_t line, column;         /* of the element being opened */
    uint32_t rec_line, rec_column; /* of the record's start tag */
    char raw[XML_RAW_MAX + 1];     /* origin.raw so far, NUL-terminated */
    size_t raw_len;
    int raw_full;     /* raw reached XML_RAW_MAX: the rest is dropped */
    int raw_tag_open; /* raw ends in a start tag not yet closed by ">" or "/>" */

    sibling_slot *sib;
    size_t sib_cap, sib_used;
    uint32_t gen;

    intern_slot *names;
    size_t names_n, names_bytes;
};

/* ---- small helpers ----------------------------------------------------- */

uint64_t xml_hash(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int xbuf_put(xbuf *b, const char *s, size_t n)
{
    if (n > SIZE_MAX / 2 - b->len)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int is_xml_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_xml_space((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Stops the parse with `status`; the first reason given wins. */
static void fail(xml_reader *r, int status, const char *fmt, ...) KZ_PRINTF(3, 4);
static void fail(xml_reader *r, int status, const char *fmt, ...)
{
    if (r->status == KZ_OK) {
        r->status = status;
        if (fmt != NULL) {
            va_list ap;
            va_start(ap, fmt);
            char tmp[1];
            int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
            va_end(ap);
            if (n >= 0 && (r->error = malloc((size_t)n + 1)) != NULL) {
                va_start(ap, fmt);
                vsnprintf(r->error, (size_t)n + 1, fmt, ap);
                va_end(ap);
            }
        }
    }
    if (r->ctxt != NULL)
        xmlStopParser(r->ctxt);
}

static void fail_nomem(xml_reader *r)
{
    fail(r, KZ_ERR_NOMEM, "%s: out of memory", r->opts.file);
}

/* Line and column (1-based, in characters) of the '<' that starts the
 * markup the parser has just read. During a startElementNs or
 * internalSubset callback the whole tag is still in the input buffer and
 * `cur` points into it, at or before its end; a start tag holds no '<'
 * after its first byte. Column 0 when the line's start has left the
 * buffer. */
static void markup_position(const xml_reader *r, uint32_t *line, uint32_t *column)
{
    *line = 0;
    *column = 0;
    const xmlParserInput *in = r->ctxt != NULL ? r->ctxt->input : NULL;
    if (in == NULL || in->base == NULL || in->cur == NULL || in->cur < in->base || in->line <= 0)
        return;
    const xmlChar *lt = in->cur;
    while (lt > in->base && *lt != '<')
        lt--;
    if (*lt != '<') {
        *line = (uint32_t)in->line;
        return;
    }
    int newlines = 0;
    for (const xmlChar *p = lt; p < in->cur; p++)
        newlines += *p == '\n';
    *line = in->line > newlines ? (uint32_t)(in->line - newlines) : 1;
    const xmlChar *bol = lt;
    while (bol > in->base && bol[-1] != '\n')
        bol--;
    if (bol == in->base && in->consumed != 0)
        return; /* the line began in data the parser has dropped */
    if (bol == in->base && lt - bol >= 3 && bol[0] == 0xEF && bol[1] == 0xBB && bol[2] == 0xBF)
        bol += 3; /* a byte order mark is not a column */
    uint32_t col = 1;
    for (const xmlChar *p = bol; p < lt; p++)
        col += (*p & 0xC0) != 0x80;
    *column = col;
}

/* ---- origin.raw: the record re-serialised, its first XML_RAW_MAX bytes -- */

static void raw_put(xml_reader *r, const char *s, size_t n)
{
    if (r->raw_full)
        return;
    size_t room = XML_RAW_MAX - r->raw_len;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* do not cut a character in two */
        r->raw_full = 1;
    }
    memcpy(r->raw + r->raw_len, s, n);
    r->raw_len += n;
    r->raw[r->raw_len] = '\0';
}

static void raw_escaped(xml_reader *r, const char *s, size_t n, int in_attribute)
{
    size_t from = 0;
    for (size_t i = 0; i < n && !r->raw_full; i++) {
        const char *esc = NULL;
        switch (s[i]) {
        case '&': esc = "&amp;"; break;
        case '<': esc = "&lt;"; break;
        case '>': esc = "&gt;"; break;
        case '"': esc = in_attribute ? "&quot;" : NULL; break;
        default: break;
        }
        if (esc == NULL)
            continue;
        raw_put(r, s + from, i - from);
        raw_put(r, esc, strlen(esc));
        from = i + 1;
    }
    raw_put(r, s + from, n - from);
}

/* Ends a start tag left open: ">" when content follows. */
static void raw_close_tag(xml_reader *r)
{
    if (r->raw_tag_open) {
        raw_put(r, ">", 1);
        r->raw_tag_open = 0;
    }
}

/* ---- names ------------------------------------------------------------- */

/* "prefix:local" or "local", in r->qname (valid until the next call). */
static const char *qualified(xml_reader *r, const xmlChar *local, const xmlChar *prefix, size_t *len)
{
    r->qname.len = 0;
    if (prefix != NULL) {
        if (xbuf_put(&r->qname, (const char *)prefix, strlen((const char *)prefix)) != 0 ||
            xbuf_put(&r->qname, ":", 1) != 0)
            return NULL;
    }
    if (xbuf_put(&r->qname, (const char *)local, strlen((const char *)local)) != 0)
        return NULL;
    *len = r->qname.len;
    return r->qname.data;
}

/* A stable copy of field name `s`: shared by every row that uses the same
 * name (so the host resolves its mapping once) while the intern table has
 * room, else a copy in the arena. NULL when out of memory. */
static const char *field_name(xml_reader *r, const char *s, size_t n)
{
    uint64_t h = xml_hash(XML_HASH_SEED, s, n);
    if (r->names != NULL) {
        for (size_t i = (size_t)h & (INTERN_SLOTS - 1);; i = (i + 1) & (INTERN_SLOTS - 1)) {
            intern_slot *slot = &r->names[i];
            if (slot->name == NULL)
                break;
            if (slot->hash == h && strncmp(slot->name, s, n) == 0 && slot->name[n] == '\0')
                return slot->name;
        }
    }
    if (n <= INTERN_MAX_NAME && r->names_n < INTERN_SLOTS / 2 && r->names_bytes + n + 1 <= INTERN_MAX_BYTES) {
        if (r->names == NULL && (r->names = calloc(INTERN_SLOTS, sizeof *r->names)) == NULL)
            return NULL;
        size_t i = (size_t)h & (INTERN_SLOTS - 1);
        while (r->names[i].name != NULL)
            i = (i + 1) & (INTERN_SLOTS - 1);
        char *copy = malloc(n + 1);
        if (copy == NULL)
            return NULL;
        memcpy(copy, s, n);
        copy[n] = '\0';
        r->names[i] = (intern_slot){copy, h};
        r->names_n++;
        r->names_bytes += n + 1;
        return copy;
    }
    return xml_arena_strndup(r->arena, s, n);
}

/* Counts one more element whose unindexed path is `s`; returns how many
 * there are now (1 for the first), 0 when out of memory. On the first,
 * `name` becomes the key. */
static uint32_t sibling_count(xml_reader *r, const char *s, size_t n, const char **name)
{
    uint64_t h = xml_hash(XML_HASH_SEED, s, n);
    if (r->sib_cap > 0) {
        for (size_t i = (size_t)h & (r->sib_cap - 1);; i = (i + 1) & (r->sib_cap - 1)) {
            sibling_slot *slot = &r->sib[i];
            if (slot->gen != r->gen)
                break;
            if (slot->hash == h && strncmp(slot->key, s, n) == 0 && slot->key[n] == '\0')
                return ++slot->count;
        }
    }
    if ((r->sib_used + 1) * 2 > r->sib_cap) {
        size_t cap = r->sib_cap ? r->sib_cap * 2 : 64;
        sibling_slot *grown = calloc(cap, sizeof *grown);
        if (grown == NULL)
            return 0;
        for (size_t i = 0; i < r->sib_cap; i++) {
            if (r->sib[i].gen != r->gen)
                continue;
            size_t j = (size_t)r->sib[i].hash & (cap - 1);
            while (grown[j].gen == r->gen)
                j = (j + 1) & (cap - 1);
            grown[j] = r->sib[i];
        }
        free(r->sib);
        r->sib = grown;
        r->sib_cap = cap;
    }
    *name = field_name(r, s, n);
    if (*name == NULL)
        return 0;
    size_t i = (size_t)h & (r->sib_cap - 1);
    while (r->sib[i].gen == r->gen)
        i = (i + 1) & (r->sib_cap - 1);
    r->sib[i] = (sibling_slot){*name, h, 1, r->gen};
    r->sib_used++;
    return 1;
}

/* ---- building a record ------------------------------------------------- */

/* Charges `n` bytes to the record; past max_record the record stops being
 * built and will be rejected. Returns nonzero while still building. */
static int charge(xml_reader *r, size_t n)
{
    r->bytes += n;
    if (r->bytes > r->opts.max_record) {
        r->oversized = 1;
        r->building = 0;
    }
    return r->building;
}

/* Appends a field; returns its index, or SIZE_MAX when out of memory. */
static size_t add_field(xml_reader *r, const char *name, const char *value)
{
    if (r->n_fields == r->fields_cap) {
        size_t cap = r->fields_cap ? r->fields_cap * 2 : 32;
        kz_field *p = realloc(r->fields, cap * sizeof *p);
        if (p == NULL) {
            fail_nomem(r);
            return SIZE_MAX;
        }
        r->fields = p;
        r->fields_cap = cap;
    }
    r->fields[r->n_fields] = (kz_field){name, value, r->line, r->column};
    return r->n_fields++;
}

/* The value of an attribute as the parser hands it over: [v, end). With
 * entity substitution off, libxml2 keeps a '&' that came from "&amp;" or
 * "&#38;" as the text "&#38;" (for a tree builder to resolve later), so
 * turn that back into '&'. Every other reference arrives resolved. */
static const char *attribute_value(xml_reader *r, const xmlChar *v, const xmlChar *end, size_t *len)
{
    const char *s = (const char *)v;
    size_t n = (size_t)(end - v);
    if (r->ctxt->replaceEntities || memchr(s, '&', n) == NULL) {
        *len = n;
        return xml_arena_strndup(r->arena, s, n);
    }
    char *out = xml_arena_alloc(r->arena, n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '&' && n - i >= 5 && memcmp(s + i, "&#38;", 5) == 0) {
            out[o++] = '&';
            i += 4;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

/* Whether the record being read gets origin.raw: yes unless skipped. */
static int raw_on(const xml_reader *r)
{
    return r->building || r->oversized;
}

/* Writes a start tag to raw and leaves it open ("/>" or ">" follows).
 * Attribute values are written as the parser hands them over, with the
 * "&#38;" that stands for '&' (see attribute_value) written as "&amp;". */
static void raw_start_tag(xml_reader *r, const char *qname, size_t qlen, int nb_namespaces, const xmlChar **namespaces,
                          int nb_attributes, const xmlChar **attributes)
{
    raw_close_tag(r);
    raw_put(r, "<", 1);
    raw_put(r, qname, qlen);
    for (int i = 0; i < nb_namespaces; i++) {
        const xmlChar *prefix = namespaces[2 * i], *uri = namespaces[2 * i + 1];
        raw_put(r, " xmlns", 6);
        if (prefix != NULL) {
            raw_put(r, ":", 1);
            raw_put(r, (const char *)prefix, strlen((const char *)prefix));
        }
        raw_put(r, "=\"", 2);
        if (uri != NULL)
            raw_escaped(r, (const char *)uri, strlen((const char *)uri), 1);
        raw_put(r, "\"", 1);
    }
    for (int i = 0; i < nb_attributes && !r->raw_full; i++) {
        const xmlChar **a = attributes + 5 * i; /* local, prefix, URI, value, end */
        raw_put(r, " ", 1);
        if (a[1] != NULL) {
            raw_put(r, (const char *)a[1], strlen((const char *)a[1]));
            raw_put(r, ":", 1);
        }
        raw_put(r, (const char *)a[0], strlen((const char *)a[0]));
        raw_put(r, "=\"", 2);
        const char *v = (const char *)a[3];
        size_t n = (size_t)(a[4] - a[3]), from = 0;
        for (size_t k = 0; k < n && !r->ctxt->replaceEntities; k++) {
            if (v[k] == '&' && n - k >= 5 && memcmp(v + k, "&#38;", 5) == 0) {
                raw_escaped(r, v + from, k - from, 1);
                raw_put(r, "&amp;", 5);
                from = k + 5;
                k += 4;
            }
        }
        raw_escaped(r, v + from, n - from, 1);
        raw_put(r, "\"", 1);
    }
    r->raw_tag_open = 1;
}

static void raw_end_tag(xml_reader *r, const xmlChar *local, const xmlChar *prefix)
{
    if (r->raw_tag_open) {
        raw_put(r, "/>", 2);
        r->raw_tag_open = 0;
        return;
    }
    raw_put(r, "</", 2);
    if (prefix != NULL) {
        raw_put(r, (const char *)prefix, strlen((const char *)prefix));
        raw_put(r, ":", 1);
    }
    raw_put(r, (const char *)local, strlen((const char *)local));
    raw_put(r, ">", 1);
}

/* Adds a field for each attribute of the element whose field name is
 * `path` ("." for the record). */
static void add_attributes(xml_reader *r, const char *path, int nb_attributes, const xmlChar **attributes)
{
    for (int i = 0; i < nb_attributes && r->building; i++) {
        const xmlChar **a = attributes + 5 * i; /* local, prefix, URI, value, end */
        size_t qlen = 0, vlen = 0;
        const char *q = qualified(r, a[0], a[1], &qlen);
        r->scratch.len = 0;
        if (q == NULL ||
            (strcmp(path, ".") != 0 &&
             (xbuf_put(&r->scratch, path, strlen(path)) != 0 || xbuf_put(&r->scratch, "/", 1) != 0)) ||
            xbuf_put(&r->scratch, "@", 1) != 0 || xbuf_put(&r->scratch, q, qlen) != 0) {
            fail_nomem(r);
            return;
        }
        const char *value = attribute_value(r, a[3], a[4], &vlen);
        const char *name = value != NULL ? field_name(r, r->scratch.data, r->scratch.len) : NULL;
        if (name == NULL) {
            fail_nomem(r);
            return;
        }
        if (charge(r, r->scratch.len + vlen))
            add_field(r, name, value);
    }
}

/* Pushes an open element whose own field is `name` (already charged). */
static int push_open(xml_reader *r, const char *name, size_t name_len)
{
    if (r->n_open == r->open_cap) {
        size_t cap = r->open_cap ? r->open_cap * 2 : 16;
        open_elem *p = realloc(r->open, cap * sizeof *p);
        if (p == NULL) {
            fail_nomem(r);
            return -1;
        }
        r->open = p;
        r->open_cap = cap;
    }
    size_t slot = add_field(r, name, NULL);
    if (slot == SIZE_MAX)
        return -1;
    r->open[r->n_open++] = (open_elem){name, name_len, r->text.len, slot, 0, 0};
    return 0;
}

static void begin_record(xml_reader *r, const char *qname, size_t qlen, int nb_namespaces, const xmlChar **namespaces,
                         int nb_attributes, const xmlChar **attributes)
{
    r->seen++;
    r->depth = 1;
    r->building = r->seen > r->opts.skip;
    r->oversized = 0;
    if (!r->building)
        return; /* stored by an earlier run */
    r->bytes = 0;
    r->n_fields = 0;
    r->n_open = 0;
    r->text.len = 0;
    r->raw_len = 0;
    r->raw_full = 0;
    r->raw_tag_open = 0;
    r->raw[0] = '\0';
    if (++r->gen == 0) { /* wrapped: forget every slot for real */
        memset(r->sib, 0, r->sib_cap * sizeof *r->sib);
        r->gen = 1;
    }
    r->sib_used = 0;
    markup_position(r, &r->line, &r->column);
    r->rec_line = r->line;
    r->rec_column = r->column;
    raw_start_tag(r, qname, qlen, nb_namespaces, namespaces, nb_attributes, attributes);
    if (!charge(r, 1) || push_open(r, ".", 1) != 0)
        return;
    add_attributes(r, ".", nb_attributes, attributes);
}

/* An element inside the record being built: its field (the path, indexed
 * when a same-named sibling came before) and its attributes' fields.
 * `qname` is in r->qname. */
static void begin_child(xml_reader *r, const char *qname, size_t qlen, int nb_attributes, const xmlChar **attributes)
{
    open_elem *parent = &r->open[r->n_open - 1];
    parent->has_child = 1;
    r->scratch.len = 0;
    int at_record = r->n_open == 1;
    if ((!at_record &&
         (xbuf_put(&r->scratch, parent->path, parent->path_len) != 0 || xbuf_put(&r->scratch, "/", 1) != 0)) ||
        xbuf_put(&r->scratch, qname, qlen) != 0) {
        fail_nomem(r);
        return;
    }
    const char *name = NULL;
    uint32_t n = sibling_count(r, r->scratch.data, r->scratch.len, &name);
    if (n == 0) {
        fail_nomem(r);
        return;
    }
    if (n > 1) {
        char index[16];
        int k = snprintf(index, sizeof index, "[%u]", n);
        if (xbuf_put(&r->scratch, index, (size_t)k) != 0 ||
            (name = field_name(r, r->scratch.data, r->scratch.len)) == NULL) {
            fail_nomem(r);
            return;
        }
    }
    size_t name_len = r->scratch.len;
    if (!charge(r, name_len))
        return;
    markup_position(r, &r->line, &r->column);
    if (push_open(r, name, name_len) != 0)
        return;
    add_attributes(r, name, nb_attributes, attributes);
}

/* The record element has ended: hand its row (or its rejection) over. */
static void end_record(xml_reader *r)
{
    int building = r->building, oversized = r->oversized;
    r->building = 0;
    r->oversized = 0;
    r->n_open = 0;
    r->text.len = 0;
    if (oversized) {
        char reason[160];
        snprintf(reason, sizeof reason,
                 "record is larger than max_record_size (%zu bytes of field names and text); not read",
                 r->opts.max_record);
        kz_reject rej = {sizeof rej, KZ_ENTITY_ROW, reason, {r->opts.file, r->raw, r->rec_line, r->rec_column}};
        r->n_fields = 0;
        int rc = r->sink.reject(r->sink.user, &rej);
        if (rc != KZ_OK)
            fail(r, rc, NULL);
        return;
    }
    if (!building)
        return; /* skipped */
    size_t n = 0;
    for (size_t i = 0; i < r->n_fields; i++)
        n += r->fields[i].value != NULL;
    kz_field *fields = n > 0 ? xml_arena_alloc(r->arena, n * sizeof *fields) : NULL;
    char *raw = xml_arena_strndup(r->arena, r->raw, r->raw_len);
    if ((n > 0 && fields == NULL) || raw == NULL) {
        fail_nomem(r);
        return;
    }
    n = 0;
    for (size_t i = 0; i < r->n_fields; i++)
        if (r->fields[i].value != NULL)
            fields[n++] = r->fields[i];
    r->n_fields = 0;
    kz_row row = {fields, (uint32_t)n, 0, {r->opts.file, raw, r->rec_line, r->rec_column}};
    int rc = r->sink.row(r->sink.user, &row);
    if (rc != KZ_OK)
        fail(r, rc, NULL);
}

/* ---- SAX callbacks ----------------------------------------------------- */

/* Does the element just pushed on the outer stack start a record? */
static int outer_matches(const xml_reader *r)
{
    if (r->absolute ? r->outer_n != r->n_steps : r->outer_n < r->n_steps)
        return 0;
    size_t first = r->outer_n - r->n_steps;
    for (size_t i = 0; i < r->n_steps; i++)
        if (strcmp(r->outer.data + r->outer_at[first + i], r->steps[i]) != 0)
            return 0;
    return 1;
}

static void on_start(void *user, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri, int nb_namespaces,
                     const xmlChar **namespaces, int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    xml_reader *r = user;
    (void)uri;
    (void)nb_defaulted; /* only a DTD defaults attributes, and there is none */
    if (r->status != KZ_OK)
        return;
    size_t qlen = 0;
    const char *qname = qualified(r, local, prefix, &qlen);
    if (qname == NULL) {
        fail_nomem(r);
        return;
    }
    if (r->depth > 0) { /* inside a record */
        r->depth++;
        if (raw_on(r))
            raw_start_tag(r, qname, qlen, nb_namespaces, namespaces, nb_attributes, attributes);
        if (r->building)
            begin_child(r, qname, qlen, nb_attributes, attributes);
        return;
    }
    if (r->outer_n == r->outer_cap) {
        size_t cap = r->outer_cap ? r->outer_cap * 2 : 16;
        size_t *p = realloc(r->outer_at, cap * sizeof *p);
        if (p == NULL) {
            fail_nomem(r);
            return;
        }
        r->outer_at = p;
        r->outer_cap = cap;
    }
    r->outer_at[r->outer_n++] = r->outer.len;
    if (xbuf_put(&r->outer, qname, qlen + 1) != 0) { /* with its NUL */
        fail_nomem(r);
        return;
    }
    if (outer_matches(r))
        begin_record(r, qname, qlen, nb_namespaces, namespaces, nb_attributes, attributes);
}

static void on_end(void *user, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    xml_reader *r = user;
    (void)uri;
    if (r->status != KZ_OK)
        return;
    if (r->depth <= 1 && r->outer_n > 0) /* outside a record, or the record itself */
        r->outer.len = r->outer_at[--r->outer_n];
    if (r->depth == 0)
        return;
    r->depth--;
    if (r->building) {
        open_elem *e = &r->open[--r->n_open];
        size_t len = r->text.len - e->text_start;
        if (!e->has_child || e->has_text) {
            char *value = xml_arena_strndup(r->arena, r->text.data != NULL ? r->text.data + e->text_start : "", len);
            if (value == NULL) {
                fail_nomem(r);
                return;
            }
            r->fields[e->slot].value = value;
        }
        r->text.len = e->text_start;
    }
    if (raw_on(r))
        raw_end_tag(r, local, prefix);
    if (r->depth == 0)
        end_record(r);
}

static void add_text(xml_reader *r, const xmlChar *s, int len, int cdata)
{
    if (r->status != KZ_OK || r->depth == 0 || !raw_on(r) || len <= 0)
        return;
    if (r->building && charge(r, (size_t)len)) {
        if (xbuf_put(&r->text, (const char *)s, (size_t)len) != 0) {
            fail_nomem(r);
            return;
        }
        open_elem *e = &r->open[r->n_open - 1];
        if (!e->has_text && !all_space((const char *)s, (size_t)len))
            e->has_text = 1;
    }
    raw_close_tag(r);
    if (cdata) {
        raw_put(r, "<![CDATA[", 9);
        raw_put(r, (const char *)s, (size_t)len);
        raw_put(r, "]]>", 3);
    } else {
        raw_escaped(r, (const char *)s, (size_t)len, 0);
    }
}

static void on_characters(void *user, const xmlChar *s, int len)
{
    add_text(user, s, len, 0);
}

static void on_cdata(void *user, const xmlChar *s, int len)
{
    add_text(user, s, len, 1);
}

/* The first thing the parser reports of a DOCTYPE, before it reads any
 * declaration inside it: refuse the document here. */
static void on_doctype(void *user, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
    xml_reader *r = user;
    (void)external_id;
    (void)system_id;
    uint32_t line = 0, column = 0;
    markup_position(r, &line, &column);
    fail(r, KZ_ERR_INVALID,
         "%s:%u: document type declaration <!DOCTYPE %s> refused: a DTD can declare entities "
         "(entity expansion, external files), so the xml source reads only documents without one",
         r->opts.file, line, name != NULL ? (const char *)name : "");
}

static void on_entity_decl(void *user, const xmlChar *name, int type, const xmlChar *public_id,
                           const xmlChar *system_id, xmlChar *content)
{
    xml_reader *r = user;
    (void)type;
    (void)public_id;
    (void)system_id;
    (void)content;
    fail(r, KZ_ERR_INVALID, "%s: entity declaration '%s' refused", r->opts.file,
         name != NULL ? (const char *)name : "");
}

static xmlEntityPtr on_get_entity(void *user, const xmlChar *name)
{
    (void)user;
    (void)name;
    return NULL; /* none declared: the parser resolves only the predefined five */
}

static xmlParserInputPtr on_resolve_entity(void *user, const xmlChar *public_id, const xmlChar *system_id)
{
    xml_reader *r = user;
    (void)public_id;
    fail(r, KZ_ERR_INVALID, "%s: external entity '%s' refused", r->opts.file,
         system_id != NULL ? (const char *)system_id : "");
    return NULL;
}

static void on_error(void *user, xmlErrorPtr e)
{
    xml_reader *r = user;
    if (e == NULL || e->level == XML_ERR_NONE)
        return;
    char msg[512];
    snprintf(msg, sizeof msg, "%s:%d: %s", r->opts.file, e->line, e->message != NULL ? e->message : "parse error");
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    if (e->level == XML_ERR_FATAL) {
        if (e->int2 > 0 && n + 24 < sizeof msg)
            snprintf(msg + n, sizeof msg - n, " (column %d)", e->int2);
        fail(r, KZ_ERR_INVALID, "%s", msg);
    } else if (r->sink.warn != NULL && r->status == KZ_OK) {
        r->sink.warn(r->sink.user, msg);
    }
}

/* ---- the reader -------------------------------------------------------- */

const char *xml_record_pattern_problem(const char *record)
{
    if (record == NULL || record[0] == '\0')
        return "is empty";
    if (strcmp(record, "/") == 0)
        return "names no element";
    const char *body = record[0] == '/' ? record + 1 : record;
    if (body[0] == '/' || strstr(body, "//") != NULL || body[strlen(body) - 1] == '/')
        return "has an empty step ('//' or a '/' at the end)";
    for (const char *p = body; *p != '\0'; p++)
        if (*p == '@' || *p == '[' || *p == ']' || *p == '*' || is_xml_space((unsigned char)*p))
            return "may hold only element names separated by '/' (no '@', '[', ']', '*' or white space)";
    return NULL;
}

xml_reader *xml_reader_new(const xml_reader_options *opts, const xml_record_sink *sink, xml_arena *arena)
{
    if (xml_record_pattern_problem(opts->record) != NULL)
        return NULL;
    xml_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->opts = *opts;
    r->sink = *sink;
    r->arena = arena;
    r->status = KZ_OK;
    r->absolute = opts->record[0] == '/';
    r->pattern = strdup(opts->record + r->absolute);
    size_t n = 1;
    for (const char *p = r->pattern; p != NULL && *p != '\0'; p++)
        n += *p == '/';
    r->steps = r->pattern != NULL ? calloc(n, sizeof *r->steps) : NULL;
    if (r->steps == NULL) {
        xml_reader_free(r);
        return NULL;
    }
    for (char *p = r->pattern, *slash; p != NULL; p = slash != NULL ? slash + 1 : NULL) {
        slash = strchr(p, '/');
        if (slash != NULL)
            *slash = '\0';
        r->steps[r->n_steps++] = p;
    }
    return r;
}

void xml_reader_free(xml_reader *r)
{
    if (r == NULL)
        return;
    if (r->ctxt != NULL)
        xmlFreeParserCtxt(r->ctxt);
    if (r->names != NULL)
        for (size_t i = 0; i < INTERN_SLOTS; i++)
            free(r->names[i].name);
    free(r->names);
    free(r->sib);
    free(r->open);
    free(r->fields);
    free(r->text.data);
    free(r->scratch.data);
    free(r->qname.data);
    free(r->outer.data);
    free(r->outer_at);
    free(r->steps);
    free(r->pattern);
    free(r->error);
    free(r);
}

/* Creates the parser context with the first bytes of the document (which
 * let libxml2 detect the encoding). */
static int start_parser(xml_reader *r, const char *data, int n)
{
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_characters;
    sax.ignorableWhitespace = on_characters;
    sax.cdataBlock = on_cdata;
    sax.internalSubset = on_doctype;
    sax.entityDecl = on_entity_decl;
    sax.getEntity = on_get_entity;
    sax.getParameterEntity = on_get_entity;
    sax.resolveEntity = on_resolve_entity;
    sax.serror = on_error;

    xmlInitParser(); /* does nothing when the host has done it already */
    r->ctxt = xmlCreatePushParserCtxt(&sax, r, data, n, r->opts.file);
    if (r->ctxt == NULL) {
        fail_nomem(r);
        return r->status;
    }
    /* Only NONET on; entity substitution, DTD loading, DTD attributes,
     * validation, XInclude and XML_PARSE_HUGE off, whatever libxml2's
     * global defaults are (the host may have changed them).
     * xmlCtxtUseOptions resets the context's fields but leaves the bits
     * that those defaults set in ctxt->options, which the parser also
     * consults, so clear them too. */
    xmlCtxtUseOptions(r->ctxt, XML_PARSE_NONET);
    r->ctxt->options &= ~(XML_PARSE_NOENT | XML_PARSE_DTDLOAD | XML_PARSE_DTDATTR | XML_PARSE_DTDVALID |
                          XML_PARSE_NOBLANKS | XML_PARSE_XINCLUDE | XML_PARSE_HUGE);
    return KZ_OK;
}

int xml_reader_feed(xml_reader *r, const char *data, size_t n, int last)
{
    if (r->status != KZ_OK)
        return r->status;
    if (r->ctxt == NULL) {
        int first = n < 4 ? (int)n : 4;
        if (start_parser(r, data, first) != KZ_OK)
            return r->status;
        data += first;
        n -= (size_t)first;
    }
    do {
        int chunk = n > (1u << 20) ? 1 << 20 : (int)n;
        int done = last && (size_t)chunk == n;
        int rc = xmlParseChunk(r->ctxt, data, chunk, done);
        if (r->status == KZ_OK && rc != XML_ERR_OK && !r->ctxt->wellFormed)
            fail(r, KZ_ERR_INVALID, "%s:%d: not well-formed XML (libxml2 error %d)", r->opts.file,
                 r->ctxt->input != NULL ? r->ctxt->input->line : 0, rc);
        data += chunk;
        n -= (size_t)chunk;
    } while (n > 0 && r->status == KZ_OK);
    return r->status;
}

const char *xml_reader_error(const xml_reader *r)
{
    return r->error;
}
