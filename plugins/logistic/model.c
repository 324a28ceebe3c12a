/*
 * plugins/logistic/model.c — see model.h. The reader trusts nothing: every
 * length is checked against the bytes left, the hash must match, and the
 * model must make sense (finite coefficients, at least two levels per
 * categorical measure, levels in strict byte order, a 0 reference), so a
 * damaged or foreign blob is refused rather than scored with.
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_MAGIC     "KZLOGIT" /* with its NUL: 8 bytes */
#define MODEL_MAGIC_LEN 8
#define MODEL_VERSION   1

logit_model *logit_model_new(uint32_t n_inputs)
{
    logit_model *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->inputs = calloc(n_inputs > 0 ? n_inputs : 1, sizeof *m->inputs);
    if (m->inputs == NULL) {
        free(m);
        return NULL;
    }
    m->n_inputs = n_inputs;
    return m;
}

void logit_model_free(logit_model *m)
{
    if (m == NULL)
        return;
    for (uint32_t t = 0; t < m->n_inputs; t++) {
        logit_input *in = &m->inputs[t];
        free(in->name);
        if (in->levels != NULL)
            for (uint32_t l = 0; l < in->n_levels; l++)
                free(in->levels[l]);
        free(in->levels);
        free(in->coefs);
    }
    free(m->inputs);
    free(m);
}

int32_t logit_model_find_level(const logit_input *in, const char *level)
{
    uint32_t lo = 0, hi = in->n_levels;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(level, in->levels[mid]);
        if (cmp == 0)
            return (int32_t)mid;
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* ---- writing --------------------------------------------------------------- */

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static unsigned char *put_f64(unsigned char *p, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return put_u64(p, bits);
}

static unsigned char *put_str(unsigned char *p, const char *s)
{
    const size_t n = strlen(s);
    p = put_u32(p, (uint32_t)n);
    memcpy(p, s, n);
    return p + n;
}

int logit_model_encode(const logit_model *m, const kz_host *host, void **out, uint64_t *out_len)
{
    size_t len = MODEL_MAGIC_LEN + 4 + 4 + 8 + 8;
    for (uint32_t t = 0; t < m->n_inputs; t++) {
        const logit_input *in = &m->inputs[t];
        len += 4 + strlen(in->name) + 4;
        if (in->n_levels == 0)
            len += 8;
        for (uint32_t l = 0; l < in->n_levels; l++)
            len += 4 + strlen(in->levels[l]) + 8;
    }
    unsigned char *buf = host->alloc_mem(len);
    if (buf == NULL)
        return KZ_ERR_NOMEM;
    unsigned char *p = buf;
    memcpy(p, MODEL_MAGIC, MODEL_MAGIC_LEN);
    p = put_u32(p + MODEL_MAGIC_LEN, MODEL_VERSION);
    p = put_u32(p, m->n_inputs);
    p = put_f64(p, m->intercept);
    for (uint32_t t = 0; t < m->n_inputs; t++) {
        const logit_input *in = &m->inputs[t];
        p = put_str(p, in->name);
        p = put_u32(p, in->n_levels);
        if (in->n_levels == 0)
            p = put_f64(p, in->coefs[0]);
        for (uint32_t l = 0; l < in->n_levels; l++)
            p = put_f64(put_str(p, in->levels[l]), in->coefs[l]);
    }
    put_u64(p, fnv1a(buf, len - 8));
    *out = buf;
    *out_len = len;
    return KZ_OK;
}

/* ---- reading --------------------------------------------------------------- */

/* A read cursor; `bad` is set by the first read past the end. */
typedef struct {
    const unsigned char *p;
    size_t left;
    int bad;
} reader;

static uint64_t get_u64(reader *r)
{
    if (r->bad || r->left < 8) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    r->left -= 8;
    return v;
}

static uint32_t get_u32(reader *r)
{
    if (r->bad || r->left < 4) {
        r->bad = 1;
        return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    r->left -= 4;
    return v;
}

static double get_f64(reader *r)
{
    uint64_t bits = get_u64(r);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* A copy of the next string, or NULL (r->bad set when the blob is at fault). */
static char *get_str(reader *r)
{
    const uint32_t n = get_u32(r);
    if (r->bad || n == 0 || n > r->left || memchr(r->p, '\0', n) != NULL) {
        r->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (s != NULL) {
        memcpy(s, r->p, n);
        s[n] = '\0';
    }
    r->p += n;
    r->left -= n;
    return s;
}

/* Reads one input into `in`. Returns KZ_OK, KZ_ERR_INVALID with `why`
 * set, or KZ_ERR_NOMEM. */
static int read_input(reader *r, logit_input *in, char *why, size_t why_len)
{
    in->name = get_str(r);
    const uint32_t n_levels = get_u32(r);
    if (r->bad) {
        snprintf(why, why_len, "it is truncated");
        return KZ_ERR_INVALID;
    }
    if (in->name == NULL)
        return KZ_ERR_NOMEM;
    if (n_levels == 1 || n_levels > r->left / (4 + 1 + 8)) { /* each level takes at least 13 bytes */
        snprintf(why, why_len, "measure '%s' has %u levels", in->name, n_levels);
        return KZ_ERR_INVALID;
    }
    in->coefs = malloc(sizeof(double) * (n_levels > 0 ? n_levels : 1));
    if (in->coefs == NULL)
        return KZ_ERR_NOMEM;
    if (n_levels == 0)
        in->coefs[0] = get_f64(r);
    else {
        in->levels = calloc(n_levels, sizeof(char *));
        if (in->levels == NULL)
            return KZ_ERR_NOMEM;
        in->n_levels = n_levels;
        for (uint32_t l = 0; l < n_levels && !r->bad; l++) {
            in->levels[l] = get_str(r);
            in->coefs[l] = get_f64(r);
            if (!r->bad && in->levels[l] == NULL)
                return KZ_ERR_NOMEM;
            if (!r->bad && l > 0 && strcmp(in->levels[l - 1], in->levels[l]) >= 0) {
                snprintf(why, why_len, "the levels of measure '%s' are not in byte order", in->name);
                return KZ_ERR_INVALID;
            }
        }
        if (!r->bad && in->coefs[0] != 0) {
            snprintf(why, why_len, "the reference level of measure '%s' has a coefficient", in->name);
            return KZ_ERR_INVALID;
        }
    }
    if (r->bad) {
        snprintf(why, why_len, "it is truncated");
        return KZ_ERR_INVALID;
    }
    for (uint32_t l = 0; l < (n_levels > 0 ? n_levels : 1); l++)
        if (!isfinite(in->coefs[l])) {
            snprintf(why, why_len, "measure '%s' has a coefficient that is not a finite number", in->name);
            return KZ_ERR_INVALID;
        }
    return KZ_OK;
}

int logit_model_decode(const void *data, size_t len, logit_model **out, char *why, size_t why_len)
{
    const unsigned char *bytes = data;
    if (len < MODEL_MAGIC_LEN + 4 || memcmp(bytes, MODEL_MAGIC, MODEL_MAGIC_LEN) != 0) {
        snprintf(why, why_len, "it is not a logistic model");
        return KZ_ERR_INVALID;
    }
    reader r = {bytes + MODEL_MAGIC_LEN, len - MODEL_MAGIC_LEN, 0};
    const uint32_t version = get_u32(&r);
    if (version != MODEL_VERSION) {
        snprintf(why, why_len, "it has format version %u, this plugin reads version %u", version, MODEL_VERSION);
        return KZ_ERR_INVALID;
    }
    if (len < MODEL_MAGIC_LEN + 4 + 4 + 8 + 8) {
        snprintf(why, why_len, "it is truncated");
        return KZ_ERR_INVALID;
    }
    reader tail = {bytes + len - 8, 8, 0};
    if (get_u64(&tail) != fnv1a(bytes, len - 8)) {
        snprintf(why, why_len, "its checksum does not match (damaged or truncated)");
        return KZ_ERR_INVALID;
    }
    r.left -= 8; /* the hash */
    const uint32_t n_inputs = get_u32(&r);
    if (n_inputs == 0 || n_inputs > r.left / (4 + 1 + 4)) { /* each input takes at least 9 bytes */
        snprintf(why, why_len, "it has %u measures", n_inputs);
        return KZ_ERR_INVALID;
    }
    logit_model *m = logit_model_new(n_inputs);
    if (m == NULL)
        return KZ_ERR_NOMEM;
    int rc = KZ_ERR_INVALID;
    m->intercept = get_f64(&r);
    if (!isfinite(m->intercept)) {
        snprintf(why, why_len, "its intercept is not a finite number");
        goto fail;
    }
    for (uint32_t t = 0; t < n_inputs; t++)
        if ((rc = read_input(&r, &m->inputs[t], why, why_len)) != KZ_OK)
            goto fail;
    if (r.left != 0) {
        snprintf(why, why_len, "it has %zu bytes after the last measure", r.left);
        rc = KZ_ERR_INVALID;
        goto fail;
    }
    *out = m;
    return KZ_OK;
fail:
    logit_model_free(m);
    return rc;
}
