/*
 * bench/score_kernel.c — times the `weighted` scorer's score() kernel, for
 * bench/score_kernel.sh: ACCOUNTS accounts (default 1 000 000) x 10 double
 * measures, scored with contributions in batches of 65 536 accounts, as
 * the host scores a book of business.
 *
 *   score_kernel PLUGIN [ACCOUNTS [RUNS]]
 *
 * PLUGIN is the built plugin (build/lib/kizuna/plugins/weighted.so). The
 * measures are generated in memory with a fixed seed (splitmix64): values
 * spread over each band and beyond it, about 2% of them NaN (missing).
 * The instance has 10 band measures, five higher-is-better and five
 * lower-is-better. The output buffers (scores, 10 x 65 536 contributions,
 * baselines) are allocated and written once before timing and reused by
 * every batch, as the host reuses them. Each run scores every account;
 * the best of RUNS (default 5) runs is printed in milliseconds, with every
 * run's figure on stderr.
 *
 * The plugin is loaded with dlopen() and driven through its entry symbol
 * with a minimal kz_host filled here, rather than through kizuna-core's
 * registry: the figure is then the plugin's kernel and the ABI crossing
 * per batch, nothing of the host, and the program needs no GLib, SQLite
 * or build-tree library, only the SDK headers.
 *
 * Before timing, one untimed pass checks every batch: each scored
 * account's contributions add up to its score within 1e-9, each unscored
 * one (NaN) has only zero contributions, and baselines are 0. Exits 0 on
 * success, 1 when the plugin fails to load, create, prepare or score or a
 * check fails, 2 on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <kizuna/kizuna.h>

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_MEASURES 10
#define BATCH      65536u

/* ---- a minimal host ----------------------------------------------------------- */

/* The 10 band measures: five higher-is-better, five lower-is-better. */
static const struct {
    const char *name;
    double weight, low, high;
} measures[N_MEASURES] = {
    {"logins", 3, 0, 30},         {"active_users", 2.5, 0, 200},
    {"feature_use", 2, 0, 1},     {"session_minutes", 1.5, 5, 120},
    {"nps", 1, -100, 100},        {"open_tickets", 2, 10, 0},
    {"p1_tickets", 1.5, 3, 0},    {"days_overdue", 1, 60, 0},
    {"churn_signals", 0.5, 5, 0}, {"seats_unused", 1, 0.9, 0.1},
};

static char measures_param[1024]; /* the `measures` parameter, written from measures[] */

static void host_log(kz_ctx *ctx, int level, const char *fmt, ...)
{
    (void)ctx;
    if (level > KZ_LOG_WARNING)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("score_kernel: plugin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static char last_error[1024];

static void host_set_error(kz_ctx *ctx, const char *fmt, ...)
{
    (void)ctx;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

static const char *host_instance_name(kz_ctx *ctx)
{
    (void)ctx;
    return "bench";
}

static int host_param_string(kz_ctx *ctx, const char *name, const char **out)
{
    (void)ctx;
    if (strcmp(name, "measures") != 0)
        return KZ_ERR_INVALID;
    *out = measures_param;
    return KZ_OK;
}

static int host_param_int(kz_ctx *ctx, const char *name, int64_t *out)
{
    (void)ctx, (void)name, (void)out;
    return KZ_ERR_INVALID;
}

static int host_param_double(kz_ctx *ctx, const char *name, double *out)
{
    (void)ctx;
    if (strcmp(name, "min_coverage") != 0)
        return KZ_ERR_INVALID;
    *out = 0.5;
    return KZ_OK;
}

static int host_param_bool(kz_ctx *ctx, const char *name, int *out)
{
    (void)ctx, (void)name, (void)out;
    return KZ_ERR_INVALID;
}

static int host_param_duration(kz_ctx *ctx, const char *name, int64_t *out_ms)
{
    (void)ctx, (void)name, (void)out_ms;
    return KZ_ERR_INVALID;
}

/* No store, as under `kizuna check`: no kept model. */
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

/* ---- data ------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *state) /* [0, 1) */
{
    return (double)(splitmix64(state) >> 11) * 0x1.0p-53;
}

/* n values of a measure banded low..high: spread from 20% of the band
 * below it to 20% above it (so some clamp), 2% NaN. */
static double *generate(uint32_t n, double low, double high, uint64_t *seed)
{
    double *v = malloc((size_t)n * sizeof *v);
    if (v == NULL)
        return NULL;
    const double lo = fmin(low, high), span = fabs(high - low);
    for (uint32_t i = 0; i < n; i++)
        v[i] = uniform(seed) < 0.02 ? NAN : lo - 0.2 * span + 1.4 * span * uniform(seed);
    return v;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("score_kernel: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* ---- the run ---------------------------------------------------------------------- */

typedef struct {
    const kz_scorer_vtable *vt;
    void *self;
    uint32_t n_accounts;
    double *values[N_MEASURES];
    const char *names[N_MEASURES];
    double *scores, *contributions, *baseline; /* one batch, reused */
} bench;

/* Scores the accounts [from, from + n) into the reused buffers. */
static int score_batch(bench *b, uint32_t from, uint32_t n)
{
    kz_column cols[N_MEASURES];
    const kz_column *ptr[N_MEASURES];
    for (int c = 0; c < N_MEASURES; c++) {
        cols[c] = (kz_column){
            .size = sizeof(kz_column), .type = KZ_COLUMN_DOUBLE, .name = b->names[c], .values = b->values[c] + from};
        ptr[c] = &cols[c];
    }
    kz_score_batch batch = {.size = sizeof batch,
                            .n_accounts = n,
                            .n_columns = N_MEASURES,
                            .columns = ptr,
                            .scores = b->scores,
                            .contributions = b->contributions,
                            .baseline = b->baseline};
    return b->vt->score(b->self, &batch);
}

/* The untimed pass: every batch's contributions add up to its scores. */
static int check(bench *b, uint32_t *unscored)
{
    *unscored = 0;
    for (uint32_t from = 0; from < b->n_accounts; from += BATCH) {
        const uint32_t n = b->n_accounts - from < BATCH ? b->n_accounts - from : BATCH;
        if (score_batch(b, from, n) != KZ_OK)
            return die("score() failed: %s", last_error);
        for (uint32_t i = 0; i < n; i++) {
            double sum = b->baseline[i];
            for (int c = 0; c < N_MEASURES; c++)
                sum += b->contributions[(size_t)c * n + i];
            const double s = b->scores[i];
            if (isnan(s) ? sum != 0 : !(fabs(sum - s) <= 1e-9 && s >= 0 && s <= 100))
                return die("check failed: account %u: score %.17g, contributions add up to %.17g", from + i, s, sum);
            *unscored += isnan(s);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: score_kernel PLUGIN [ACCOUNTS [RUNS]]\n");
        return 2;
    }
    long accounts = argc > 2 ? strtol(argv[2], NULL, 10) : 1000000;
    long runs = argc > 3 ? strtol(argv[3], NULL, 10) : 5;
    if (accounts < 1 || accounts > 100000000 || runs < 1 || runs > 1000) {
        fprintf(stderr, "score_kernel: ACCOUNTS must be 1..100000000 and RUNS 1..1000\n");
        return 2;
    }

    void *handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL)
        return die("cannot load %s: %s", argv[1], dlerror());
    kz_plugin_entry_fn entry;
    *(void **)&entry = dlsym(handle, KZ_PLUGIN_ENTRY_SYMBOL); /* POSIX's way to a function pointer */
    if (entry == NULL)
        return die("%s has no %s", argv[1], KZ_PLUGIN_ENTRY_SYMBOL);
    const kz_plugin_descriptor *d = entry();
    if (d->abi_major != KZ_ABI_MAJOR)
        return die("%s is built for ABI %u, this program for %u", argv[1], d->abi_major, KZ_ABI_MAJOR);
    const kz_component *comp = NULL;
    for (const kz_component *const *c = d->components; *c != NULL && comp == NULL; c++)
        if ((*c)->kind == KZ_COMPONENT_SCORER && strcmp((*c)->name, "weighted") == 0)
            comp = *c;
    if (comp == NULL)
        return die("%s has no 'weighted' scorer", argv[1]);

    size_t used = 0;
    for (int c = 0; c < N_MEASURES; c++)
        used += (size_t)snprintf(measures_param + used, sizeof measures_param - used, "%s weight=%g band=%g..%g\n",
                                 measures[c].name, measures[c].weight, measures[c].low, measures[c].high);
    bench b = {.vt = comp->vtable, .n_accounts = (uint32_t)accounts};
    if (b.vt->create(&host, NULL, &b.self) != KZ_OK)
        return die("create() failed: %s", last_error);

    uint64_t seed = 20240501;
    for (int c = 0; c < N_MEASURES; c++) {
        b.names[c] = measures[c].name;
        b.values[c] = generate(b.n_accounts, measures[c].low, measures[c].high, &seed);
        if (b.values[c] == NULL)
            return die("out of memory");
    }

    kz_column layout[N_MEASURES];
    const kz_column *layout_ptr[N_MEASURES];
    for (int c = 0; c < N_MEASURES; c++) {
        layout[c] = (kz_column){.size = sizeof(kz_column), .type = KZ_COLUMN_DOUBLE, .name = b.names[c]};
        layout_ptr[c] = &layout[c];
    }
    if (b.vt->prepare(b.self, N_MEASURES, layout_ptr) != KZ_OK)
        return die("prepare() failed: %s", last_error);

    /* The reused output buffers, written once so their pages exist. */
    b.scores = malloc(BATCH * sizeof(double));
    b.contributions = malloc((size_t)N_MEASURES * BATCH * sizeof(double));
    b.baseline = malloc(BATCH * sizeof(double));
    if (b.scores == NULL || b.contributions == NULL || b.baseline == NULL)
        return die("out of memory");
    memset(b.scores, 0, BATCH * sizeof(double));
    memset(b.contributions, 0, (size_t)N_MEASURES * BATCH * sizeof(double));
    memset(b.baseline, 0, BATCH * sizeof(double));

    uint32_t unscored = 0;
    if (check(&b, &unscored) != 0)
        return 1;
    fprintf(stderr,
            "score_kernel: checked %u accounts x %d measures: contributions add up to every score; %u unscored "
            "(too many missing values)\n",
            b.n_accounts, N_MEASURES, unscored);

    double best = INFINITY;
    for (long r = 0; r < runs; r++) {
        const double t0 = now_ms();
        for (uint32_t from = 0; from < b.n_accounts; from += BATCH)
            if (score_batch(&b, from, b.n_accounts - from < BATCH ? b.n_accounts - from : BATCH) != KZ_OK)
                return die("score() failed: %s", last_error);
        const double ms = now_ms() - t0;
        fprintf(stderr, "score_kernel: run %ld: %.2f ms\n", r + 1, ms);
        best = fmin(best, ms);
    }
    fprintf(stderr, "score_kernel: best of %ld: %.2f ms for %u accounts x %d measures (%.2f ns per value)\n", runs,
            best, b.n_accounts, N_MEASURES, best * 1e6 / ((double)b.n_accounts * N_MEASURES));
    printf("%.2f\n", best);

    b.vt->destroy(b.self);
    for (int c = 0; c < N_MEASURES; c++)
        free(b.values[c]);
    free(b.scores);
    free(b.contributions);
    free(b.baseline);
    return 0;
}
