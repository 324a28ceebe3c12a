/*
 * bench/logit_fit.c — times the `logistic` scorer's train() on a CSV, for
 * bench/logistic_fit.sh, outside the host: it dlopens the plugin, calls
 * kz_plugin_entry and drives the component through a minimal kz_host of
 * its own (parameters, errors, memory; no store), as a host would.
 *
 *   logit_fit PLUGIN.so FILE.csv RUNS
 *
 * FILE.csv has a header row and no quoting; the column `churn` (0/1) is
 * the outcome and every other column a term, in file order: numeric when
 * its first value parses as a number, else categorical (its distinct
 * values sorted by byte order, as the host sorts a dictionary). Reading
 * the file is not timed. train() runs RUNS times on the same instance;
 * each run is timed with CLOCK_MONOTONIC and the best is reported. Prints:
 *
 *   seconds 0.123456          the best run
 *   runs 0.12 0.13 ...        every run
 *   accounts N
 *   iterations K
 *   deviance D
 *   coef NAME ESTIMATE        per term, 15 significant digits
 *
 * Exits 0 on success, 1 with a message when something fails, 2 on bad
 * arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <kizuna/kizuna.h>

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a minimal host ------------------------------------------------------- */

struct kz_ctx {
    const char *terms;
    char error[1024];
};

static void host_log(kz_ctx *ctx, int level, const char *fmt, ...)
{
    (void)ctx;
    if (level > KZ_LOG_WARNING)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void host_set_error(kz_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
}

static const char *host_instance_name(kz_ctx *ctx)
{
    (void)ctx;
    return "bench";
}

static int host_param_string(kz_ctx *ctx, const char *name, const char **out)
{
    if (strcmp(name, "terms") != 0)
        return KZ_ERR_NOT_FOUND;
    *out = ctx->terms;
    return KZ_OK;
}

/* Every other parameter takes its default: the plugin applies it. */
static int host_param_int(kz_ctx *ctx, const char *name, int64_t *out)
{
    (void)ctx, (void)name, (void)out;
    return KZ_ERR_NOT_FOUND;
}

static int host_param_double(kz_ctx *ctx, const char *name, double *out)
{
    (void)ctx, (void)name, (void)out;
    return KZ_ERR_NOT_FOUND;
}

static int host_param_bool(kz_ctx *ctx, const char *name, int *out)
{
    (void)ctx, (void)name, (void)out;
    return KZ_ERR_NOT_FOUND;
}

static int host_param_duration(kz_ctx *ctx, const char *name, int64_t *out_ms)
{
    (void)ctx, (void)name, (void)out_ms;
    return KZ_ERR_NOT_FOUND;
}

/* No store, as during `kizuna check`. */
static int host_state_get(kz_ctx *ctx, const char *key, void **out, size_t *len)
{
    (void)ctx, (void)key, (void)out, (void)len;
    return KZ_ERR_UNSUPPORTED;
}

static int host_state_set(kz_ctx *ctx, const char *key, const void *data, size_t len)
{
    (void)ctx, (void)key, (void)data, (void)len;
    return KZ_ERR_UNSUPPORTED;
}

static int host_state_delete(kz_ctx *ctx, const char *key)
{
    (void)ctx, (void)key;
    return KZ_ERR_UNSUPPORTED;
}

static kz_time host_now(kz_ctx *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (kz_time)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const void *host_extension(kz_ctx *ctx, const char *id)
{
    (void)ctx, (void)id;
    return NULL;
}

static const kz_host host = {
    .size = sizeof(kz_host),
    .abi_major = KZ_ABI_MAJOR,
    .abi_minor = KZ_ABI_MINOR,
    .host_version = "bench",
    .log = host_log,
    .set_error = host_set_error,
    .instance_name = host_instance_name,
    .param_string = host_param_string,
    .param_int = host_param_int,
    .param_double = host_param_double,
    .param_bool = host_param_bool,
    .param_duration = host_param_duration,
    .state_get = host_state_get,
    .state_set = host_state_set,
    .state_delete = host_state_delete,
    .now = host_now,
    .alloc_mem = malloc,
    .realloc_mem = realloc,
    .free_mem = free,
    .extension = host_extension,
};

/* ---- the CSV -------------------------------------------------------------- */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("logit_fit: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void *must(void *p)
{
    if (p == NULL)
        die("out of memory");
    return p;
}

/* One column of the file, as the host would hand it over. */
typedef struct {
    char *name;
    int categorical;
    double *values; /* numeric */
    int32_t *codes; /* categorical */
    char **levels;  /* categorical, sorted */
    uint32_t n_levels;
    char **raw; /* categorical, while reading: each row's text */
} csv_column;

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits `line` at commas in place; returns the number of fields. */
static size_t split(char *line, char **fields, size_t max)
{
    size_t n = 0;
    for (char *p = line;; p++) {
        if (n < max)
            fields[n] = p;
        n++;
        p = strchr(p, ',');
        if (p == NULL)
            return n;
        *p = '\0';
    }
}

/* Reads FILE.csv into columns; the churn column goes to *labels. */
static csv_column *read_csv(const char *path, size_t *n_cols, size_t *n_rows, double **labels, size_t *label_col)
{
    FILE *in = fopen(path, "r");
    if (in == NULL)
        die("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    if (getline(&line, &cap, in) < 0)
        die("%s is empty", path);
    line[strcspn(line, "\r\n")] = '\0';
    char *fields[64];
    const size_t n = split(line, fields, 64);
    if (n > 64)
        die("%s has more than 64 columns", path);
    csv_column *cols = must(calloc(n, sizeof *cols));
    *label_col = n;
    for (size_t c = 0; c < n; c++) {
        cols[c].name = must(strdup(fields[c]));
        if (strcmp(fields[c], "churn") == 0)
            *label_col = c;
    }
    if (*label_col == n)
        die("%s has no column 'churn'", path);

    size_t rows = 0, row_cap = 1 << 16;
    *labels = must(malloc(sizeof(double) * row_cap));
    for (size_t c = 0; c < n; c++) {
        cols[c].values = must(malloc(sizeof(double) * row_cap));
        cols[c].raw = must(malloc(sizeof(char *) * row_cap));
    }
    while (getline(&line, &cap, in) >= 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        if (split(line, fields, 64) != n)
            die("%s: row %zu does not have %zu fields", path, rows + 1, n);
        if (rows == row_cap) {
            row_cap *= 2;
            *labels = must(realloc(*labels, sizeof(double) * row_cap));
            for (size_t c = 0; c < n; c++) {
                cols[c].values = must(realloc(cols[c].values, sizeof(double) * row_cap));
                cols[c].raw = must(realloc(cols[c].raw, sizeof(char *) * row_cap));
            }
        }
        for (size_t c = 0; c < n; c++) {
            char *end;
            const double v = strtod(fields[c], &end);
            if (rows == 0)
                cols[c].categorical = *end != '\0' || end == fields[c];
            if (c == *label_col)
                (*labels)[rows] = v;
            else if (cols[c].categorical)
                cols[c].raw[rows] = must(strdup(fields[c]));
            else
                cols[c].values[rows] = *end == '\0' && end != fields[c] ? v : 0.0 / 0.0;
        }
        rows++;
    }
    free(line);
    fclose(in);

    /* Categorical columns: a sorted dictionary and codes into it. */
    for (size_t c = 0; c < n; c++) {
        csv_column *col = &cols[c];
        if (!col->categorical || c == *label_col)
            continue;
        char **sorted = must(malloc(sizeof(char *) * rows));
        memcpy(sorted, col->raw, sizeof(char *) * rows);
        qsort(sorted, rows, sizeof(char *), by_string);
        col->levels = must(malloc(sizeof(char *) * rows));
        for (size_t i = 0; i < rows; i++)
            if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
                col->levels[col->n_levels++] = must(strdup(sorted[i]));
        free(sorted);
        col->codes = must(malloc(sizeof(int32_t) * rows));
        for (size_t i = 0; i < rows; i++) {
            char **hit = bsearch(&col->raw[i], col->levels, col->n_levels, sizeof(char *), by_string);
            col->codes[i] = (int32_t)(hit - col->levels);
            free(col->raw[i]);
        }
    }
    for (size_t c = 0; c < n; c++) {
        free(cols[c].raw);
        cols[c].raw = NULL;
    }
    *n_cols = n;
    *n_rows = rows;
    return cols;
}

/* ---- timing --------------------------------------------------------------- */

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void result_free(kz_train_result *res)
{
    for (uint32_t j = 0; j < res->n_terms; j++)
        free((void *)res->terms[j].name);
    free(res->terms);
    free(res->model);
}

int main(int argc, char **argv)
{
    char *end = NULL;
    const long runs = argc == 4 ? strtol(argv[3], &end, 10) : 0;
    if (argc != 4 || *end != '\0' || runs < 1 || runs > 100) {
        fprintf(stderr, "usage: logit_fit PLUGIN.so FILE.csv RUNS   (RUNS from 1 to 100)\n");
        return 2;
    }
    void *handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL)
        die("%s", dlerror());
    kz_plugin_entry_fn entry;
    *(void **)&entry = dlsym(handle, KZ_PLUGIN_ENTRY_SYMBOL);
    if (entry == NULL)
        die("%s exports no %s", argv[1], KZ_PLUGIN_ENTRY_SYMBOL);
    const kz_scorer_vtable *vt = NULL;
    for (const kz_component *const *c = entry()->components; *c != NULL; c++)
        if ((*c)->kind == KZ_COMPONENT_SCORER && strcmp((*c)->name, "logistic") == 0)
            vt = (*c)->vtable;
    if (vt == NULL)
        die("%s has no scorer 'logistic'", argv[1]);

    size_t n_cols, n_rows, label_col;
    double *labels;
    csv_column *cols = read_csv(argv[2], &n_cols, &n_rows, &labels, &label_col);
    if (n_rows > UINT32_MAX)
        die("too many rows");

    /* Every column but churn is a term, in file order. */
    kz_column *columns = must(calloc(n_cols, sizeof *columns));
    const kz_column **ptrs = must(calloc(n_cols, sizeof *ptrs));
    size_t terms_len = 1, n_terms = 0;
    for (size_t c = 0; c < n_cols; c++)
        terms_len += strlen(cols[c].name) + 3;
    char *terms = must(calloc(1, terms_len));
    for (size_t c = 0; c < n_cols; c++) {
        if (c == label_col)
            continue;
        const csv_column *col = &cols[c];
        columns[n_terms] = (kz_column){sizeof(kz_column), col->categorical ? KZ_COLUMN_CATEGORICAL : KZ_COLUMN_DOUBLE,
                                       col->name,         col->categorical ? NULL : col->values,
                                       col->codes,        (const char *const *)col->levels,
                                       col->n_levels,     0};
        ptrs[n_terms] = &columns[n_terms];
        if (n_terms++ > 0)
            strcat(terms, " + ");
        strcat(terms, col->name);
    }

    struct kz_ctx ctx = {terms, ""};
    void *self = NULL;
    if (vt->create(&host, &ctx, &self) != KZ_OK)
        die("create: %s", ctx.error);
    /* prepare() sees no values, as from the host. */
    kz_column *layout = must(calloc(n_terms, sizeof *layout));
    const kz_column **layout_ptrs = must(calloc(n_terms, sizeof *layout_ptrs));
    for (size_t t = 0; t < n_terms; t++) {
        layout[t] = columns[t];
        layout[t].values = NULL;
        layout[t].codes = NULL;
        layout_ptrs[t] = &layout[t];
    }
    if (vt->prepare(self, (uint32_t)n_terms, layout_ptrs) != KZ_OK)
        die("prepare: %s", ctx.error);

    const kz_train_set set = {sizeof set, (uint32_t)n_rows, (uint32_t)n_terms, 0, ptrs, labels, NULL};
    kz_train_result res;
    double best = 0;
    char times[2048] = "";
    for (long r = 0; r < runs; r++) {
        if (r > 0)
            result_free(&res);
        memset(&res, 0, sizeof res);
        res.size = sizeof res;
        const double t0 = seconds_now();
        const int rc = vt->train(self, &set, &res);
        const double dt = seconds_now() - t0;
        if (rc != KZ_OK)
            die("train: %s", ctx.error);
        if (r == 0 || dt < best)
            best = dt;
        snprintf(times + strlen(times), sizeof times - strlen(times), " %.6f", dt);
    }
    printf("seconds %.6f\nruns%s\naccounts %zu\niterations %u\ndeviance %.15g\n", best, times, n_rows, res.iterations,
           res.deviance);
    for (uint32_t j = 0; j < res.n_terms; j++)
        printf("coef %s %.15g\n", res.terms[j].name, res.terms[j].estimate);
    result_free(&res);
    vt->destroy(self);
    return 0;
}
