/*
 * bench/gen_common.h — what the data generators of bench/ (gen_events.c,
 * gen_accounts.c, gen_logit.c) have in common, as static inline helpers:
 * each generator is one file that the benchmark script builds on its own
 * with `cc -std=c11 -O2`, so the shared code is a header, not a library.
 *
 * It holds
 *   - the deterministic randomness: splitmix64 from a fixed seed (each
 *     generator its own), so that the same arguments give byte-identical
 *     files on every machine;
 *   - the buffered CSV output: one 1 MiB buffer per file, filled with
 *     hand-rolled formatting (put_str, put_padded, put_uint), no printf per
 *     field, so that millions of rows take seconds;
 *   - parse_count, for the count arguments.
 *
 * Before including it, a generator defines
 *   GEN_NAME      its name as a string literal, the prefix of its messages
 *   GEN_RNG_SEED  the seed of its random sequence
 *   GEN_ROW_MAX   (optional, default 256) the most bytes one row can take:
 *                 out_reserve flushes when the buffer has less room left
 * and _POSIX_C_SOURCE, as the generators do. Messages go to stderr; a
 * failure to write exits 1.
 */
#ifndef KIZUNA_BENCH_GEN_COMMON_H
#define KIZUNA_BENCH_GEN_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(GEN_NAME) || !defined(GEN_RNG_SEED)
#error "define GEN_NAME and GEN_RNG_SEED before including gen_common.h"
#endif
#ifndef GEN_ROW_MAX
#define GEN_ROW_MAX 256
#endif

#define OUT_BUFFER_BYTES (1u << 20)

/* ---- deterministic randomness ---------------------------------------------- */

static uint64_t rng_state = GEN_RNG_SEED;

/* the next 64 bits of splitmix64 */
static inline uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) with 53 bits */
static inline double rng_unit(void)
{
    return (double)(rng_next() >> 11) * 0x1.0p-53;
}

/* uniform in [0, n) for n > 0 (the tiny modulo bias does not matter here) */
static inline uint32_t rng_below(uint32_t n)
{
    return (uint32_t)(rng_next() % n);
}

/* ---- buffered output --------------------------------------------------------- */

typedef struct {
    FILE *file;
    const char *path;
    char *buf;
    size_t len;
} out_file;

static inline void die(const char *what, const char *path)
{
    fprintf(stderr, GEN_NAME ": %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static inline void out_open(out_file *o, const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    o->buf = malloc(OUT_BUFFER_BYTES);
    if (path == NULL || o->buf == NULL) {
        fputs(GEN_NAME ": out of memory\n", stderr);
        exit(1);
    }
    snprintf(path, n, "%s/%s", dir, name);
    o->path = path;
    o->len = 0;
    o->file = fopen(path, "wb");
    if (o->file == NULL)
        die("cannot create", path);
}

static inline void out_flush(out_file *o)
{
    if (o->len > 0 && fwrite(o->buf, 1, o->len, o->file) != o->len)
        die("cannot write", o->path);
    o->len = 0;
}

static inline void out_close(out_file *o)
{
    out_flush(o);
    if (fclose(o->file) != 0)
        die("cannot write", o->path);
    free(o->buf);
    free((char *)o->path);
}

/* Room for one row (GEN_ROW_MAX bytes); write it at the pointer returned
 * and add its length to o->len. */
static inline char *out_reserve(out_file *o)
{
    if (OUT_BUFFER_BYTES - o->len < GEN_ROW_MAX)
        out_flush(o);
    return o->buf + o->len;
}

static inline char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* v in exactly `width` digits, zero-padded (v < 10^width) */
static inline char *put_padded(char *p, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

static inline char *put_uint(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* ---- dates: days since 1970-01-01 in the proleptic Gregorian calendar
 * (the civil-from-days algorithms of H. Hinnant) ----------------------- */

static inline int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static inline void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static inline int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static inline int days_in_month(int64_t y, int m)
{
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 ? 28 + is_leap(y) : len[m - 1];
}

/* "YYYY-MM-DD" into days since 1970-01-01; 0 when it is not one. */
static inline int parse_day(const char *s, int64_t *out)
{
    unsigned y, m, d;
    char tail;
    if (sscanf(s, "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3 || y < 1900 || y > 9000 || m < 1 || m > 12 || d < 1 ||
        d > (unsigned)days_in_month(y, (int)m))
        return 0;
    *out = days_from_civil(y, (int)m, (int)d);
    return 1;
}

/* "YYYY-MM-DD" of day `z` into p, 10 bytes */
static inline char *put_date(char *p, int64_t z)
{
    int64_t y;
    int m, d;
    civil_from_days(z, &y, &m, &d);
    p = put_padded(p, (uint64_t)y, 4);
    *p++ = '-';
    p = put_padded(p, (uint64_t)m, 2);
    *p++ = '-';
    return put_padded(p, (uint64_t)d, 2);
}

/* ---- arguments --------------------------------------------------------------- */

/* s as a whole number from 1 to max into *out; 0 when it is not one. */
static inline int parse_count(const char *s, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > max)
        return 0;
    *out = v;
    return 1;
}

#endif
