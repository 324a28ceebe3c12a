/*
 * plugins/xml/xml_source.c — the `xml` source: reads one XML file and
 * emits one row (KZ_ENTITY_ROW) per record element, in batches of the
 * sink's batch_hint; the stack config's <map> elements turn rows into
 * accounts, contacts, ... (the host does that, not this plugin).
 * xml_record.c turns bytes into rows; this file owns the file, the
 * batches and the cursor.
 *
 * Cursor: a streaming parser cannot start in the middle of a document, so
 * the cursor names the file's content and counts records:
 *
 *   xml1 records=N end=0|1 size=S mtime=SEC.NSEC inode=I head=H conf=C
 *
 * N records (rows and rejected records alike, in document order) are
 * stored; end=1 says the file was read to its end. H is a hash of the
 * file's first 4 KiB, C one of the `path` and `record` parameters. When
 * size, mtime, inode, H and C all match the file as it is now, a pull
 * parses from the start and passes over the first N records without
 * emitting them, or does nothing at all when end=1. When any differs, the
 * file (or what a record is) has changed: the pull reads it from the
 * start, and the host's upserts make rows it had already stored harmless.
 * A cursor this source did not write also means "from the start".
 */
#define _POSIX_C_SOURCE 200809L
#include "arena.h"
#include "xml_record.h"

#include <errno.h>
#include <fcntl.h>
#include <kizuna/kizuna.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_RECORD "1048576"
#define MIN_MAX_RECORD     64
#define MAX_MAX_RECORD     (1LL << 30)
#define DEFAULT_BATCH      1000u
#define BATCH_BYTES        (16u << 20) /* a batch ends early when its rows hold this much */
#define READ_BYTES         (64u * 1024u)
#define HEAD_BYTES         4096
#define MAX_WARNINGS       10

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    char *path;
    char *record;
    size_t max_record;
} xml_source;

/* What the cursor remembers of the file (see the top of this file). */
typedef struct {
    long long size;
    long long mtime_s;
    long mtime_ns;
    unsigned long long inode;
    unsigned long long head;
    unsigned long long conf;
} file_identity;

/* One pull in progress: the batch being filled and where it stands. */
typedef struct {
    xml_source *src;
    const kz_sink *sink;
    file_identity id;
    xml_arena arena; /* the memory of the rows in `rows` */
    kz_row *rows;
    size_t n_rows, rows_cap;
    size_t n_rejects; /* rejected since the last batch */
    uint32_t batch_max;
    uint64_t records;   /* records passed so far: the cursor's N */
    uint64_t committed; /* N of the last cursor the sink took */
    int sink_status;    /* the sink's answer when it was not KZ_OK */
    unsigned warnings;
    char cursor[256];
} pull_run;

static void xml_destroy(void *self)
{
    xml_source *src = self;
    free(src->path);
    free(src->record);
    src->host->free_mem(src);
}

static int xml_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    const char *path = NULL, *record = NULL;
    int64_t max_record = 0;
    if (host->param_string(ctx, "path", &path) != KZ_OK || path[0] == '\0') {
        host->set_error(ctx, "parameter 'path' is required");
        return KZ_ERR_INVALID;
    }
    if (host->param_string(ctx, "record", &record) != KZ_OK) {
        host->set_error(ctx, "parameter 'record' is required: the path of the record element, e.g. "
                             "/export/accounts/account, or its name");
        return KZ_ERR_INVALID;
    }
    const char *problem = xml_record_pattern_problem(record);
    if (problem != NULL) {
        host->set_error(ctx, "parameter 'record' ('%s') %s", record, problem);
        return KZ_ERR_INVALID;
    }
    if (host->param_int(ctx, "max_record_size", &max_record) != KZ_OK)
        max_record = strtoll(DEFAULT_MAX_RECORD, NULL, 10);
    if (max_record < MIN_MAX_RECORD || max_record > MAX_MAX_RECORD) {
        host->set_error(ctx, "parameter 'max_record_size' must be between %d and %lld bytes", MIN_MAX_RECORD,
                        MAX_MAX_RECORD);
        return KZ_ERR_INVALID;
    }
    xml_source *src = host->alloc_mem(sizeof *src);
    if (src == NULL)
        return KZ_ERR_NOMEM;
    memset(src, 0, sizeof *src);
    src->host = host;
    src->ctx = ctx;
    src->max_record = (size_t)max_record;
    src->path = strdup(path);
    src->record = strdup(record);
    if (src->path == NULL || src->record == NULL) {
        xml_destroy(src);
        return KZ_ERR_NOMEM;
    }
    *self = src;
    return KZ_OK;
}

/* ---- the cursor -------------------------------------------------------- */

/* Fills `id` from the open file. KZ_OK, or a failure with the error set. */
static int identify(const xml_source *src, int fd, file_identity *id)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        src->host->set_error(src->ctx, "cannot stat %s: %s", src->path, strerror(errno));
        return KZ_ERR;
    }
    if (!S_ISREG(st.st_mode)) {
        src->host->set_error(src->ctx, "%s is not a regular file", src->path);
        return KZ_ERR_INVALID;
    }
    unsigned char head[HEAD_BYTES];
    size_t have = 0;
    while (have < sizeof head) {
        ssize_t n = pread(fd, head + have, sizeof head - have, (off_t)have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            src->host->set_error(src->ctx, "cannot read %s: %s", src->path, strerror(errno));
            return KZ_ERR;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    *id = (file_identity){
        .size = (long long)st.st_size,
        .mtime_s = (long long)st.st_mtim.tv_sec,
        .mtime_ns = (long)st.st_mtim.tv_nsec,
        .inode = (unsigned long long)st.st_ino,
        .head = xml_hash(XML_HASH_SEED, head, have),
        /* everything that changes which rows a file makes: a new limit
         * re-reads the records an old one rejected */
        .conf = xml_hash(
            xml_hash(xml_hash(XML_HASH_SEED, src->path, strlen(src->path) + 1), src->record, strlen(src->record) + 1),
            &src->max_record, sizeof src->max_record),
    };
    return KZ_OK;
}

static void format_cursor(pull_run *run, int end)
{
    const file_identity *id = &run->id;
    snprintf(run->cursor, sizeof run->cursor,
             "xml1 records=%llu end=%d size=%lld mtime=%lld.%09ld inode=%llu head=%016llx conf=%016llx",
             (unsigned long long)run->records, end, id->size, id->mtime_s, id->mtime_ns, id->inode, id->head, id->conf);
}

/* Reads a cursor written by format_cursor. 0 on success, -1 otherwise. */
static int parse_cursor(const char *text, file_identity *id, uint64_t *records, int *end)
{
    unsigned long long n = 0;
    int consumed = -1;
    if (sscanf(text, "xml1 records=%llu end=%d size=%lld mtime=%lld.%ld inode=%llu head=%llx conf=%llx%n", &n, end,
               &id->size, &id->mtime_s, &id->mtime_ns, &id->inode, &id->head, &id->conf, &consumed) != 8 ||
        consumed < 0 || text[consumed] != '\0' || (*end != 0 && *end != 1))
        return -1;
    *records = n;
    return 0;
}

static int same_file(const file_identity *a, const file_identity *b)
{
    return a->size == b->size && a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns && a->inode == b->inode &&
           a->head == b->head && a->conf == b->conf;
}

/* ---- batches ----------------------------------------------------------- */

/* Emits the rows gathered so far (maybe none) with the cursor that is
 * true once they are stored, then frees their memory. */
static int flush(pull_run *run, int end)
{
    format_cursor(run, end);
    kz_batch batch = {sizeof batch, KZ_ENTITY_ROW, (uint32_t)run->n_rows, sizeof(kz_row), run->rows, run->cursor};
    int rc = run->sink->emit(run->sink, &batch);
    run->n_rows = 0;
    run->n_rejects = 0;
    xml_arena_reset(&run->arena);
    if (rc != KZ_OK) {
        run->sink_status = rc;
        return rc;
    }
    run->committed = run->records;
    return KZ_OK;
}

static int on_row(void *user, const kz_row *row)
{
    pull_run *run = user;
    if (run->n_rows == run->rows_cap) {
        size_t cap = run->rows_cap ? run->rows_cap * 2 : 64;
        kz_row *p = realloc(run->rows, cap * sizeof *p);
        if (p == NULL)
            return KZ_ERR_NOMEM;
        run->rows = p;
        run->rows_cap = cap;
    }
    run->rows[run->n_rows++] = *row;
    run->records++;
    if (run->n_rows >= run->batch_max || run->arena.bytes + run->n_rows * sizeof(kz_row) >= BATCH_BYTES)
        return flush(run, 0);
    return KZ_OK;
}

static int on_reject(void *user, const kz_reject *reject)
{
    pull_run *run = user;
    run->records++;
    run->n_rejects++;
    int rc = run->sink->reject(run->sink, reject);
    if (rc != KZ_OK) {
        run->sink_status = rc;
        return rc;
    }
    /* a file of rejected records still moves on in batches: the host holds
     * rejects until the next batch, and the arena keeps what they used */
    if (run->n_rejects >= run->batch_max || run->arena.bytes >= BATCH_BYTES)
        return flush(run, 0);
    return KZ_OK;
}

static void on_warning(void *user, const char *message)
{
    pull_run *run = user;
    const xml_source *src = run->src;
    if (run->warnings < MAX_WARNINGS)
        src->host->log(src->ctx, KZ_LOG_WARNING, "%s", message);
    else if (run->warnings == MAX_WARNINGS)
        src->host->log(src->ctx, KZ_LOG_WARNING, "%s: more warnings not shown", src->path);
    run->warnings++;
}

/* ---- pull -------------------------------------------------------------- */

/* Where to start, from the stored cursor: the records to pass over, or
 * UINT64_MAX when the file was read to its end and has not changed. */
static uint64_t resume_point(const xml_source *src, const char *cursor, const file_identity *now)
{
    if (cursor == NULL)
        return 0;
    file_identity was;
    uint64_t records = 0;
    int end = 0;
    if (parse_cursor(cursor, &was, &records, &end) != 0) {
        src->host->log(src->ctx, KZ_LOG_WARNING,
                       "cursor '%.80s' is not an xml source cursor: reading %s from the start", cursor, src->path);
        return 0;
    }
    if (!same_file(&was, now)) {
        src->host->log(src->ctx, KZ_LOG_INFO, "%s has changed since the last run: reading it from the start",
                       src->path);
        return 0;
    }
    if (end)
        return UINT64_MAX;
    return records;
}

/* Feeds the whole file to the reader. Returns the reader's status, or
 * KZ_ERR with the error set when the file cannot be read. */
static int parse_file(xml_source *src, int fd, xml_reader *reader)
{
    char *buf = malloc(READ_BYTES);
    if (buf == NULL)
        return KZ_ERR_NOMEM;
    int status = KZ_OK;
    for (;;) {
        ssize_t n = read(fd, buf, READ_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            src->host->set_error(src->ctx, "cannot read %s: %s", src->path, strerror(errno));
            status = KZ_ERR;
            break;
        }
        status = xml_reader_feed(reader, buf, (size_t)n, n == 0);
        if (status != KZ_OK || n == 0)
            break;
    }
    free(buf);
    return status;
}

static int xml_pull(void *self, const char *cursor, const kz_sink *sink)
{
    xml_source *src = self;
    int fd = open(src->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        src->host->set_error(src->ctx, "cannot open %s: %s", src->path, strerror(err));
        return err == ENOENT ? KZ_ERR_RETRY : KZ_ERR; /* an export may not have arrived yet */
    }
    pull_run run = {.src = src, .sink = sink, .sink_status = KZ_OK};
    int rc = identify(src, fd, &run.id);
    uint64_t start = rc == KZ_OK ? resume_point(src, cursor, &run.id) : 0;
    if (rc != KZ_OK || start == UINT64_MAX) {
        close(fd);
        return rc; /* failed, or read to the end and unchanged: nothing new */
    }
    run.records = run.committed = start;
    run.batch_max = KZ_HAS_FIELD(sink, kz_sink, batch_hint) && sink->batch_hint > 0 ? sink->batch_hint : DEFAULT_BATCH;
    if (start > 0)
        src->host->log(src->ctx, KZ_LOG_DEBUG, "%s: passing over the %llu records stored before", src->path,
                       (unsigned long long)start);

    xml_reader_options opts = {src->path, src->record, src->max_record, start};
    xml_record_sink records = {on_row, on_reject, on_warning, &run};
    xml_reader *reader = xml_reader_new(&opts, &records, &run.arena);
    int status = reader != NULL ? parse_file(src, fd, reader) : KZ_ERR_NOMEM;
    close(fd);

    if (run.sink_status != KZ_OK) {
        status = run.sink_status == KZ_ERR_STOP ? KZ_OK : run.sink_status; /* the host's own word */
    } else if (status == KZ_OK) {
        status = flush(&run, 1); /* the end: also moves the cursor past trailing rejects */
        if (status == KZ_ERR_STOP)
            status = KZ_OK;
    } else {
        /* Store what was read before the failure, then say what failed. */
        if (run.n_rows > 0 || run.records != run.committed) {
            int rc2 = flush(&run, 0);
            if (rc2 != KZ_OK && rc2 != KZ_ERR_STOP)
                status = rc2;
        }
        const char *why = reader != NULL ? xml_reader_error(reader) : NULL;
        if (run.sink_status != KZ_OK && run.sink_status != KZ_ERR_STOP)
            why = NULL; /* storing failed: that is the failure to report, and the host has it */
        if (why != NULL)
            src->host->set_error(src->ctx, "%s", why);
        else if (status == KZ_ERR_NOMEM)
            src->host->set_error(src->ctx, "%s: out of memory", src->path);
    }
    xml_reader_free(reader);
    xml_arena_free(&run.arena);
    free(run.rows);
    return status;
}

static const kz_param_spec xml_params[] = {
    KZ_PARAM(KZ_PARAM_PATH, "path", KZ_PARAM_REQUIRED, NULL, "the XML file to read"),
    KZ_PARAM(KZ_PARAM_STRING, "record", KZ_PARAM_REQUIRED, NULL,
             "the record element: an absolute path (/export/accounts/account), or a name or path end "
             "(account, accounts/account) matching anywhere"),
    KZ_PARAM(KZ_PARAM_INT, "max_record_size", 0, DEFAULT_MAX_RECORD,
             "bytes of field names and text one record may hold; bigger records are rejected"),
    KZ_PARAM_END,
};

static const kz_source_vtable xml_vtable = {
    .size = sizeof(kz_source_vtable),
    .entities = KZ_ENTITY_MASK(KZ_ENTITY_ROW),
    .create = xml_create,
    .destroy = xml_destroy,
    .pull = xml_pull,
};

static const kz_component xml_component = {
    .size = sizeof(kz_component),
    .kind = KZ_COMPONENT_SOURCE,
    .name = "xml",
    .summary = "Reads records from an XML file as rows (streaming; DTDs refused)",
    .params = xml_params,
    .vtable = &xml_vtable,
};

KZ_PLUGIN_DEFINE("org.kizuna.xml", "XML source", KZ_PLUGIN_VERSION, "Kizuna project", "Apache-2.0",
                 "Reads XML exports record by record", &xml_component)
