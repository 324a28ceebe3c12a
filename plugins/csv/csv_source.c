/*
 * plugins/csv/csv_source.c — the `csv` source: reads a CSV file (RFC 4180:
 * quoted fields with embedded delimiters, quotes and newlines; CRLF, LF or
 * CR line ends; a UTF-8 byte order mark) and emits each record as a row
 * (KZ_ENTITY_ROW) whose fields are named by the header. The stack
 * config's <map> elements say which records the rows make; this plugin
 * knows nothing of accounts or events.
 *
 * Streaming: the file is read in 256 KiB blocks and rows are emitted in
 * batches of the sink's batch_hint, so memory is bounded by the batch and
 * the longest allowed row (max_row_bytes), whatever the file's size.
 *
 * Cursor: "csv1:OFFSET:LINE:HASH" — the byte offset and line after the
 * last row of the batch, and a 64-bit hash of every byte before OFFSET.
 * A later pull re-hashes that prefix (fast: no parsing) and resumes at
 * OFFSET when it is unchanged — an appended file reads only its new
 * rows, an unchanged one nothing — and reads from the start otherwise
 * (the host's upserts make a re-read idempotent). A pull killed after any
 * batch resumes after the last one the host committed.
 */
#define _POSIX_C_SOURCE 200809L
#include <kizuna/kizuna.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK_BYTES   (256 * 1024)
#define RAW_KEEP      2048               /* of a row's text, kept for the quarantine */
#define BATCH_BYTES   (16 * 1024 * 1024) /* a batch ends early at this much row text */
#define CURSOR_PREFIX "csv1:"

/* ---- a 64-bit streaming hash of the file prefix -------------------------------- */

/* Word-at-a-time multiply-rotate hash: not cryptographic, it only has to
 * notice that a file was edited. Consumes input in any split. */
typedef struct {
    uint64_t h;
    uint64_t total;
    unsigned char tail[8];
    unsigned n_tail;
} prefix_hash;

static uint64_t mix(uint64_t h, uint64_t w)
{
    h ^= w * 0x9E3779B97F4A7C15ull;
    h = (h << 27) | (h >> 37);
    return h * 0xC2B2AE3D27D4EB4Full + 0x165667B19E3779F9ull;
}

static void hash_init(prefix_hash *ph)
{
    memset(ph, 0, sizeof *ph);
    ph->h = 0x27D4EB2F165667C5ull;
}

static void hash_update(prefix_hash *ph, const unsigned char *p, size_t n)
{
    ph->total += n;
    if (ph->n_tail > 0) {
        size_t take = 8 - ph->n_tail < n ? 8 - ph->n_tail : n;
        memcpy(ph->tail + ph->n_tail, p, take);
        ph->n_tail += (unsigned)take;
        p += take;
        n -= take;
        if (ph->n_tail < 8)
            return;
        uint64_t w;
        memcpy(&w, ph->tail, 8);
        ph->h = mix(ph->h, w);
        ph->n_tail = 0;
    }
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        ph->h = mix(ph->h, w);
    }
    memcpy(ph->tail, p, n);
    ph->n_tail = (unsigned)n;
}

static uint64_t hash_value(const prefix_hash *ph)
{
    uint64_t w = 0;
    memcpy(&w, ph->tail, ph->n_tail);
    uint64_t h = mix(mix(ph->h, w), ph->total);
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    return h ^ (h >> 33);
}

/* ---- the instance ----------------------------------------------------------------- */

typedef struct {
    size_t off; /* into arena; SIZE_MAX = absent */
    uint32_t line, column;
} pending_field;

typedef struct {
    size_t first_field; /* into fields */
    uint32_t n_fields;
    uint32_t line;
    size_t raw_off;
    char *bad; /* why the row cannot be read, or NULL */
} pending_row;

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    char *path;
    char delimiter;
    int header;
    size_t max_row;

    /* reading */
    int fd;
    unsigned char *block;
    size_t block_len, block_pos;
    uint64_t block_start; /* file offset of block[0] */
    int eof;
    uint32_t line; /* line of the next byte */
    prefix_hash hash;
    uint64_t hashed; /* bytes of the file fed to `hash` */
    int held;        /* the last record had no line end: the cursor goes before it */
    uint64_t held_at;
    uint32_t held_line;

    /* the header */
    char **names;
    uint32_t n_names;

    /* the batch being built: values and raw text live in one arena,
     * addressed by offset until the batch is emitted */
    char *arena;
    size_t arena_len, arena_cap;
    pending_field *pf;
    size_t n_pf, cap_pf;
    pending_row *pr;
    size_t n_pr, cap_pr;
    kz_field *fields;
    size_t cap_fields;
    kz_row *rows;
    size_t cap_rows;
    int oom;
} csv_source;

static void *grow(csv_source *s, void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * elem);
    if (q == NULL) {
        s->oom = 1;
        return p;
    }
    *cap = n;
    return q;
}

static int arena_put(csv_source *s, const void *data, size_t n)
{
    size_t cap = s->arena_cap;
    s->arena = grow(s, s->arena, &cap, s->arena_len + n + 1, 1);
    if (s->oom)
        return -1;
    s->arena_cap = cap;
    memcpy(s->arena + s->arena_len, data, n);
    s->arena_len += n;
    return 0;
}

/* ---- the parser --------------------------------------------------------------------- */

enum { ST_FIELD_START, ST_UNQUOTED, ST_QUOTED, ST_QUOTE_IN_QUOTED };

/* What one record parses into before it is split into a row. */
typedef struct {
    size_t row_start_arena; /* arena length when the record began */
    size_t first_pf;
    size_t bytes; /* value bytes so far */
    uint32_t line;
    uint64_t start; /* file offset of its first byte */
    int ended;      /* 1 when a line end closed it; 0 when the file did */
    unsigned char raw[RAW_KEEP + 1];
    size_t raw_len;
    char *bad;
} record;

static void record_bad(record *r, char *why)
{
    if (r->bad == NULL)
        r->bad = why;
    else
        free(why);
}

static char *fmt(const char *f, ...) KZ_PRINTF(1, 2);
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (out != NULL) {
        va_start(ap, f);
        vsnprintf(out, (size_t)n + 1, f, ap);
        va_end(ap);
    }
    return out;
}

static int fill(csv_source *s)
{
    if (s->eof)
        return 0;
    /* everything in the block has been consumed: hash it before it goes */
    hash_update(&s->hash, s->block + (s->hashed - s->block_start), s->block_len - (s->hashed - s->block_start));
    s->hashed = s->block_start + s->block_len;
    s->block_start += s->block_len;
    s->block_pos = 0;
    s->block_len = 0;
    for (;;) {
        ssize_t n = read(s->fd, s->block, BLOCK_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s->host->set_error(s->ctx, "%s: cannot read: %s", s->path, strerror(errno));
            return -1;
        }
        if (n == 0)
            s->eof = 1;
        s->block_len = (size_t)n;
        return (int)n;
    }
}

/* Next byte, or -1 at the end of the file, -2 on a read error. */
static inline int next_byte(csv_source *s)
{
    if (s->block_pos == s->block_len) {
        int n = fill(s);
        if (n <= 0)
            return n == 0 ? -1 : -2;
    }
    return s->block[s->block_pos++];
}

static inline int peek_byte(csv_source *s)
{
    if (s->block_pos == s->block_len) {
        int n = fill(s);
        if (n <= 0)
            return n == 0 ? -1 : -2;
    }
    return s->block[s->block_pos];
}

static uint64_t position(const csv_source *s)
{
    return s->block_start + s->block_pos;
}

static int field_begin(csv_source *s, record *r, uint32_t column)
{
    size_t cap = s->cap_pf;
    s->pf = grow(s, s->pf, &cap, s->n_pf + 1, sizeof *s->pf);
    if (s->oom)
        return -1;
    s->cap_pf = cap;
    s->pf[s->n_pf++] = (pending_field){s->arena_len, s->line, column};
    (void)r;
    return 0;
}

static inline int put_value(csv_source *s, record *r, unsigned char c)
{
    if (++r->bytes > s->max_row) {
        if (r->bad == NULL)
            r->bad = fmt("the row is longer than max_row_bytes (%zu bytes)", s->max_row);
        return 0; /* keep parsing to the end of the record, storing nothing */
    }
    if (c == '\0') {
        record_bad(r, fmt("column %zu contains a NUL byte", s->n_pf - r->first_pf));
        return 0;
    }
    if (s->arena_len + 2 > s->arena_cap) {
        size_t cap = s->arena_cap;
        s->arena = grow(s, s->arena, &cap, s->arena_len + 2, 1);
        if (s->oom)
            return -1;
        s->arena_cap = cap;
    }
    s->arena[s->arena_len++] = (char)c;
    return 0;
}

static int field_end(csv_source *s)
{
    size_t cap = s->arena_cap;
    s->arena = grow(s, s->arena, &cap, s->arena_len + 1, 1);
    if (s->oom)
        return -1;
    s->arena_cap = cap;
    s->arena[s->arena_len++] = '\0';
    return 0;
}

/* A delimiter: the next field begins. Delimiters count towards
 * max_row_bytes too, so a line of a billion commas is refused, not held. */
static int next_field(csv_source *s, record *r, uint32_t *column)
{
    if (++r->bytes > s->max_row) {
        if (r->bad == NULL)
            r->bad = fmt("the row is longer than max_row_bytes (%zu bytes)", s->max_row);
        return 0;
    }
    return field_end(s) < 0 || field_begin(s, r, ++*column) < 0 ? -1 : 0;
}

/* Parses one record. Returns 1 when a record was read, 0 at the end of
 * the file, -1 on a failure (set_error called). Blank lines are skipped. */
static int parse_record(csv_source *s, record *r)
{
    r->row_start_arena = s->arena_len;
    r->first_pf = s->n_pf;
    r->bytes = 0;
    r->raw_len = 0;
    r->bad = NULL;
    int state = ST_FIELD_START;
    uint32_t column = 1;
    uint32_t quote_line = 0;
    int c;
    /* skip blank lines */
    for (;;) {
        c = peek_byte(s);
        if (c == -2)
            return -1;
        if (c == -1)
            return 0;
        if (c != '\n' && c != '\r')
            break;
        s->block_pos++;
        if (c == '\r' && peek_byte(s) == '\n')
            s->block_pos++;
        s->line++;
    }
    r->line = s->line;
    r->start = position(s);
    r->ended = 0;
    if (field_begin(s, r, column) < 0)
        return -1;
    for (;;) {
        c = next_byte(s);
        if (c == -2)
            return -1;
        int kept = c >= 0 && r->raw_len < RAW_KEEP;
        if (kept)
            r->raw[r->raw_len++] = (unsigned char)c;
        if (c == -1) {
            if (state == ST_QUOTED)
                record_bad(r, fmt("column %u: the quoted field opened on line %u is not closed", column, quote_line));
            break;
        }
        if (c == '\n' || c == '\r') {
            if (state == ST_QUOTED) {
                if (c == '\n')
                    s->line++;
                else if (peek_byte(s) != '\n')
                    s->line++; /* a lone CR ends a line too */
                if (put_value(s, r, (unsigned char)c) < 0)
                    return -1;
                continue;
            }
            if (c == '\r' && peek_byte(s) == '\n')
                s->block_pos++;
            s->line++;
            if (kept)
                r->raw_len--; /* the line end is not part of the record's text */
            r->ended = 1;
            break;
        }
        switch (state) {
        case ST_FIELD_START:
            if (c == '"') {
                state = ST_QUOTED;
                quote_line = s->line;
                continue;
            }
            state = ST_UNQUOTED;
            /* fall through */
        case ST_UNQUOTED:
            if (c == (unsigned char)s->delimiter) {
                if (next_field(s, r, &column) < 0)
                    return -1;
                state = ST_FIELD_START;
            } else if (put_value(s, r, (unsigned char)c) < 0) {
                return -1;
            }
            break;
        case ST_QUOTED:
            if (c == '"')
                state = ST_QUOTE_IN_QUOTED;
            else if (put_value(s, r, (unsigned char)c) < 0)
                return -1;
            break;
        case ST_QUOTE_IN_QUOTED:
            if (c == '"') {
                state = ST_QUOTED; /* "" is one quote */
                if (put_value(s, r, '"') < 0)
                    return -1;
            } else if (c == (unsigned char)s->delimiter) {
                if (next_field(s, r, &column) < 0)
                    return -1;
                state = ST_FIELD_START;
            } else {
                record_bad(r, fmt("column %u: '%c' after the closing quote (a quote inside a quoted field is "
                                  "written \"\")",
                                  column, c >= 0x20 && c < 0x7f ? c : '?'));
                state = ST_UNQUOTED;
            }
            break;
        }
    }
    if (field_end(s) < 0)
        return -1;
    /* the record's text, bounded, after its values */
    r->raw[r->raw_len] = '\0';
    return 1;
}

/* ---- batches ------------------------------------------------------------------------ */

/* Feeds bytes [from, to) of the file to `h`, reading them again (pread,
 * so the reading position stays). 0 when they cannot be read. */
static int hash_file(csv_source *s, prefix_hash *h, uint64_t from, uint64_t to)
{
    unsigned char *buf = malloc(BLOCK_BYTES);
    int ok = buf != NULL;
    while (ok && from < to) {
        size_t want = (size_t)((to - from) < BLOCK_BYTES ? to - from : BLOCK_BYTES);
        ssize_t n = pread(s->fd, buf, want, (off_t)from);
        ok = n > 0;
        if (ok) {
            hash_update(h, buf, (size_t)n);
            from += (uint64_t)n;
        }
    }
    free(buf);
    return ok;
}

static void batch_reset(csv_source *s)
{
    for (size_t i = 0; i < s->n_pr; i++)
        free(s->pr[i].bad);
    s->n_pr = 0;
    s->n_pf = 0;
    s->arena_len = 0;
}

/* Emits the rows built so far (and the rejects among them) with the
 * cursor of the current position. */
static int emit_batch(csv_source *s, const kz_sink *sink)
{
    /* the cursor: hash exactly the bytes before the current position */
    uint64_t pos = position(s);
    hash_update(&s->hash, s->block + (s->hashed - s->block_start), (size_t)(pos - s->hashed));
    s->hashed = pos;
    uint64_t at = pos, hash = hash_value(&s->hash);
    uint32_t line = s->line;
    if (s->held) {
        /* the file ended inside its last record: it may still be being
         * written, so the cursor stays before it and the next pull reads
         * it again (complete by then, or as it is) */
        prefix_hash h;
        hash_init(&h);
        at = s->held_at;
        line = s->held_line;
        if (!hash_file(s, &h, 0, at)) {
            s->host->set_error(s->ctx, "%s: cannot read: %s", s->path, strerror(errno));
            return KZ_ERR;
        }
        hash = hash_value(&h);
    }
    char cursor[96];
    snprintf(cursor, sizeof cursor, CURSOR_PREFIX "%" PRIu64 ":%" PRIu32 ":%016" PRIx64, at, line, hash);

    size_t capf = s->cap_fields, capr = s->cap_rows;
    s->fields = grow(s, s->fields, &capf, s->n_pf + 1, sizeof *s->fields);
    s->rows = grow(s, s->rows, &capr, s->n_pr + 1, sizeof *s->rows);
    if (s->oom)
        return KZ_ERR_NOMEM;
    s->cap_fields = capf;
    s->cap_rows = capr;
    size_t n_rows = 0;
    for (size_t i = 0; i < s->n_pr; i++) {
        const pending_row *p = &s->pr[i];
        kz_origin origin = {s->path, s->arena + p->raw_off, p->line, 0};
        if (p->bad != NULL) {
            kz_reject rej = {sizeof rej, KZ_ENTITY_ROW, p->bad, origin};
            int rc = sink->reject(sink, &rej);
            if (rc != KZ_OK)
                return rc;
            continue;
        }
        for (uint32_t f = 0; f < p->n_fields; f++) {
            const pending_field *pf = &s->pf[p->first_field + f];
            const char *value = pf->off == SIZE_MAX ? NULL : s->arena + pf->off;
            s->fields[p->first_field + f] = (kz_field){s->names[f], value, pf->line, pf->column};
        }
        s->rows[n_rows++] = (kz_row){s->fields + p->first_field, p->n_fields, 0, origin};
    }
    kz_batch batch = {sizeof batch, KZ_ENTITY_ROW, (uint32_t)n_rows, sizeof(kz_row), s->rows, cursor};
    int rc = sink->emit(sink, &batch);
    batch_reset(s);
    return rc;
}

static void free_names(csv_source *s)
{
    for (uint32_t i = 0; i < s->n_names; i++)
        free(s->names[i]);
    free(s->names);
    s->names = NULL;
    s->n_names = 0;
}

/* A UTF-8 byte order mark (Excel, Salesforce) at the start of the file is
 * not part of the first value. */
static void skip_bom(csv_source *s)
{
    if (peek_byte(s) == 0xEF && s->block_len - s->block_pos >= 3 && s->block[s->block_pos + 1] == 0xBB &&
        s->block[s->block_pos + 2] == 0xBF)
        s->block_pos += 3;
}

/* Back to the start of the file (after its BOM), hashing afresh. */
static int rewind_file(csv_source *s)
{
    if (lseek(s->fd, 0, SEEK_SET) < 0) {
        s->host->set_error(s->ctx, "%s: cannot seek: %s", s->path, strerror(errno));
        return -1;
    }
    s->block_start = s->block_len = s->block_pos = 0;
    s->hashed = 0;
    s->eof = 0;
    s->line = 1;
    hash_init(&s->hash);
    skip_bom(s);
    return 0;
}

/* Reads the header record into s->names (a pull reads it afresh). */
static int read_header(csv_source *s)
{
    record r;
    int rc = parse_record(s, &r);
    if (rc <= 0) {
        if (rc == 0)
            s->host->set_error(s->ctx, "%s: the file is empty: expected a header line", s->path);
        return KZ_ERR_INVALID;
    }
    if (r.bad != NULL) {
        s->host->set_error(s->ctx, "%s:%u: the header cannot be read: %s", s->path, r.line, r.bad);
        free(r.bad);
        return KZ_ERR_INVALID;
    }
    free_names(s);
    s->n_names = (uint32_t)(s->n_pf - r.first_pf);
    s->names = calloc(s->n_names, sizeof *s->names);
    for (uint32_t i = 0; s->names != NULL && i < s->n_names; i++) {
        s->names[i] = s->header ? strdup(s->arena + s->pf[r.first_pf + i].off) : NULL;
        if (!s->header) {
            char num[16];
            snprintf(num, sizeof num, "%u", i + 1);
            s->names[i] = strdup(num);
        }
        if (s->names[i] == NULL)
            s->oom = 1;
    }
    if (s->names == NULL || s->oom)
        return KZ_ERR_NOMEM;
    /* the header is not a row; without one, the first record is data: read it again */
    s->n_pf = r.first_pf;
    s->arena_len = r.row_start_arena;
    if (!s->header && rewind_file(s) < 0)
        return KZ_ERR;
    return KZ_OK;
}

/* Parses "csv1:OFFSET:LINE:HASH"; 0 when it is not such a cursor. */
static int parse_cursor(const char *cursor, uint64_t *off, uint32_t *line, uint64_t *hash)
{
    if (cursor == NULL || strncmp(cursor, CURSOR_PREFIX, strlen(CURSOR_PREFIX)) != 0)
        return 0;
    return sscanf(cursor + strlen(CURSOR_PREFIX), "%" SCNu64 ":%" SCNu32 ":%" SCNx64, off, line, hash) == 3;
}

/* After the header: if the cursor's prefix of the file is unchanged,
 * skip to it (hashing on the way) and return 1; else rewind to just
 * after the header and return 0. */
static int try_resume(csv_source *s, const char *cursor)
{
    uint64_t off, want;
    uint32_t line;
    if (!parse_cursor(cursor, &off, &line, &want))
        return 0;
    struct stat st;
    uint64_t here = position(s);
    if (fstat(s->fd, &st) != 0 || (uint64_t)st.st_size < off || off < here)
        return 0;
    prefix_hash h = s->hash; /* has seen the file up to s->hashed */
    if (!hash_file(s, &h, s->hashed, off) || hash_value(&h) != want) {
        s->host->log(s->ctx, KZ_LOG_INFO, "%s changed since the last sync: reading it from the start", s->path);
        return 0;
    }
    if (lseek(s->fd, (off_t)off, SEEK_SET) < 0)
        return 0;
    s->hash = h;
    s->hashed = off;
    s->block_start = off;
    s->block_len = s->block_pos = 0;
    s->eof = 0;
    s->line = line;
    return 1;
}

static int csv_pull(void *self, const char *cursor, const kz_sink *sink)
{
    csv_source *s = self;
    s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
        s->host->set_error(s->ctx, "%s: cannot open: %s", s->path, strerror(errno));
        return errno == ENOENT ? KZ_ERR_INVALID : KZ_ERR_RETRY;
    }
    batch_reset(s);
    s->held = 0;
    int rc = rewind_file(s) < 0 ? KZ_ERR : read_header(s);
    if (rc == KZ_OK)
        try_resume(s, cursor);
    size_t batch_rows = sink->batch_hint > 0 ? sink->batch_hint : 4096;
    record *r = malloc(sizeof *r);
    if (r == NULL)
        rc = KZ_ERR_NOMEM;
    while (rc == KZ_OK) {
        int got = parse_record(s, r);
        if (got < 0) {
            rc = s->oom ? KZ_ERR_NOMEM : KZ_ERR;
            break;
        }
        if (got == 0)
            break;
        if (!r->ended) {
            s->held = 1;
            s->held_at = r->start;
            s->held_line = r->line;
        }
        uint32_t n = (uint32_t)(s->n_pf - r->first_pf);
        if (r->bad == NULL && n > s->n_names)
            r->bad = fmt("the row has %u fields, the header %u: column %u has no name", n, s->n_names, s->n_names + 1);
        /* a short row (exports often drop empty trailing fields): the
         * missing fields are absent */
        for (; n < s->n_names && r->bad == NULL; n++) {
            size_t cap = s->cap_pf;
            s->pf = grow(s, s->pf, &cap, s->n_pf + 1, sizeof *s->pf);
            if (s->oom)
                break;
            s->cap_pf = cap;
            s->pf[s->n_pf++] = (pending_field){SIZE_MAX, r->line, n + 1};
        }
        size_t raw_off = s->arena_len;
        if (r->raw_len == RAW_KEEP && arena_put(s, r->raw, r->raw_len) == 0)
            arena_put(s, "\xe2\x80\xa6", 3); /* … */
        else if (r->raw_len < RAW_KEEP)
            arena_put(s, r->raw, r->raw_len);
        field_end(s);
        size_t cap = s->cap_pr;
        s->pr = grow(s, s->pr, &cap, s->n_pr + 1, sizeof *s->pr);
        if (s->oom) {
            free(r->bad);
            rc = KZ_ERR_NOMEM;
            break;
        }
        s->cap_pr = cap;
        s->pr[s->n_pr++] = (pending_row){r->first_pf, n, r->line, raw_off, r->bad};
        if (s->n_pr >= batch_rows || s->arena_len >= BATCH_BYTES)
            rc = emit_batch(s, sink);
    }
    if (rc == KZ_OK && (s->n_pr > 0 || position(s) != s->hashed))
        rc = emit_batch(s, sink);
    if (rc == KZ_ERR_STOP)
        rc = KZ_OK;
    if (s->oom && rc == KZ_OK)
        rc = KZ_ERR_NOMEM;
    free(r);
    batch_reset(s);
    close(s->fd);
    s->fd = -1;
    return rc;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void csv_destroy(void *self)
{
    csv_source *s = self;
    if (s == NULL)
        return;
    batch_reset(s);
    free_names(s);
    free(s->path);
    free(s->block);
    free(s->arena);
    free(s->pf);
    free(s->pr);
    free(s->fields);
    free(s->rows);
    free(s);
}

static int csv_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    const char *path = NULL, *delim = NULL;
    int header = 1;
    int64_t max_row = 0;
    if (host->param_string(ctx, "path", &path) != KZ_OK || host->param_string(ctx, "delimiter", &delim) != KZ_OK ||
        host->param_bool(ctx, "header", &header) != KZ_OK || host->param_int(ctx, "max_row_bytes", &max_row) != KZ_OK)
        return KZ_ERR_INVALID;
    char d = delim[0];
    if (strcmp(delim, "tab") == 0 || strcmp(delim, "\\t") == 0)
        d = '\t';
    else if (strlen(delim) != 1 || d == '"' || d == '\r' || d == '\n')
        d = 0;
    if (d == 0) {
        host->set_error(ctx, "delimiter '%s' must be one character other than a quote or a line end (or \"tab\")",
                        delim);
        return KZ_ERR_INVALID;
    }
    if (max_row < 64 || max_row > (int64_t)1 << 30) {
        host->set_error(ctx, "max_row_bytes must be between 64 and 1073741824, not %" PRId64, max_row);
        return KZ_ERR_INVALID;
    }
    csv_source *s = calloc(1, sizeof *s);
    if (s == NULL)
        return KZ_ERR_NOMEM;
    s->host = host;
    s->ctx = ctx;
    s->path = strdup(path);
    s->delimiter = d;
    s->header = header;
    s->max_row = (size_t)max_row;
    s->fd = -1;
    s->block = malloc(BLOCK_BYTES);
    if (s->path == NULL || s->block == NULL) {
        csv_destroy(s);
        return KZ_ERR_NOMEM;
    }
    *self = s;
    return KZ_OK;
}

static int csv_probe(void *self)
{
    csv_source *s = self;
    if (access(s->path, R_OK) != 0) {
        s->host->set_error(s->ctx, "%s: %s", s->path, strerror(errno));
        return KZ_ERR_INVALID;
    }
    return KZ_OK;
}

static const kz_param_spec csv_params[] = {
    KZ_PARAM(KZ_PARAM_PATH, "path", KZ_PARAM_REQUIRED, NULL, "the CSV file (UTF-8, with or without a BOM)"),
    KZ_PARAM(KZ_PARAM_STRING, "delimiter", 0, ",", "field delimiter: one character, or \"tab\""),
    KZ_PARAM(KZ_PARAM_BOOL, "header", 0, "true",
             "the first line names the columns (false: columns are named 1, 2, 3, ...)"),
    KZ_PARAM(KZ_PARAM_INT, "max_row_bytes", 0, "1048576", "a longer row is quarantined, not read"),
    KZ_PARAM_END,
};

static const kz_source_vtable csv_vtable = {
    .size = sizeof(kz_source_vtable),
    .entities = KZ_ENTITY_MASK(KZ_ENTITY_ROW),
    .create = csv_create,
    .destroy = csv_destroy,
    .pull = csv_pull,
    .probe = csv_probe,
};

static const kz_component csv_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_SOURCE,
    .name = "csv",
    .summary = "Reads a CSV file (RFC 4180) as rows; the stack config's <map> makes them records",
    .params = csv_params,
    .vtable = &csv_vtable,
};

KZ_PLUGIN_DEFINE("org.kizuna.csv", "CSV source", KZ_PLUGIN_VERSION, "Kizuna project", "Apache-2.0",
                 "Reads CRM, helpdesk, usage and billing exports in CSV", &csv_component)
