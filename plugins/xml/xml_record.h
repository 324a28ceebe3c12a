/*
 * plugins/xml/xml_record.h — the record reader: takes the bytes of an XML
 * document in chunks and hands back one kz_row per record element (or a
 * kz_reject for a record it cannot take). It knows nothing of files,
 * cursors or batches; xml_source.c does.
 *
 * Field naming, for a record element R:
 *  - an element below R is named by its path from R: "name",
 *    "address/city". A second, third, ... element of the same name under
 *    the same parent gets an index: "phone", "phone[2]", "phone[3]"; the
 *    index carries into the paths below it ("contact[2]/email").
 *  - an element gives a field when it has no child elements (its text, ""
 *    when empty) or when it has text of its own besides white space (mixed
 *    content: its own text pieces joined, without its children's text).
 *    R itself is named ".".
 *  - an attribute is "@name" on R and "PATH/@name" below it. Namespace
 *    declarations are not fields. Names are qualified names as written
 *    ("dc:title").
 *  - values are the text as read: entities and character references
 *    resolved, CDATA taken as text, line ends normalised to "\n" by XML's
 *    rules; nothing is trimmed.
 *  - line and column are those of the element's start tag (for an
 *    attribute, of the element that carries it).
 */
#ifndef KZ_XML_RECORD_H
#define KZ_XML_RECORD_H

#include "arena.h"

#include <kizuna/kizuna.h>
#include <stdint.h>

/* The first bytes of a record kept as origin.raw. */
#define XML_RAW_MAX 2048

typedef struct xml_reader xml_reader;

/* Where the reader delivers records. The row's memory (names, values,
 * field array, raw) lies in the arena given to xml_reader_new and is the
 * callee's from then on: the reader keeps no pointer into the arena
 * between records, so the callee may reset the arena during the call.
 * A callback returns KZ_OK to go on; anything else stops the parse, and
 * xml_reader_feed returns that status. */
typedef struct xml_record_sink {
    int (*row)(void *user, const kz_row *row);
    int (*reject)(void *user, const kz_reject *reject); /* entity KZ_ENTITY_ROW */
    void (*warn)(void *user, const char *message);      /* a non-fatal parser message */
    void *user;
} xml_record_sink;

typedef struct xml_reader_options {
    const char *file;   /* for messages and origin.file; must outlive the reader */
    const char *record; /* the record pattern: "/a/b/rec" (absolute) or "b/rec", "rec" (any
                         * element whose path ends so) */
    size_t max_record;  /* bytes of field names and values one record may hold */
    uint64_t skip;      /* records to pass over without delivering them (a resumed run) */
} xml_reader_options;

/* FNV-1a, 64 bits: `h` is XML_HASH_SEED or an earlier result, to hash
 * several pieces as one. For hash tables and the cursor's file identity;
 * not for anything an attacker must not collide. */
#define XML_HASH_SEED 0xcbf29ce484222325ull
uint64_t xml_hash(uint64_t h, const void *data, size_t n);

/* Checks a record pattern: NULL when usable, else why not (a static
 * string). */
const char *xml_record_pattern_problem(const char *record);

/* A reader, or NULL when out of memory or the pattern is unusable (check
 * it first). `sink` and `arena` must outlive the reader. */
xml_reader *xml_reader_new(const xml_reader_options *opts, const xml_record_sink *sink, xml_arena *arena);

void xml_reader_free(xml_reader *r);

/* Parses the next `n` bytes; `last` is nonzero for the final call (n may
 * be 0). Returns KZ_OK to be fed more; a sink callback's status when that
 * stopped the parse; KZ_ERR_INVALID when the document is refused or not
 * well-formed (xml_reader_error says "FILE:LINE: ..."); KZ_ERR_NOMEM.
 * After a status other than KZ_OK, do not feed again. */
int xml_reader_feed(xml_reader *r, const char *data, size_t n, int last);

/* Why the last feed failed, for host->set_error; NULL if it did not. */
const char *xml_reader_error(const xml_reader *r);

#endif
