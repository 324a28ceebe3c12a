/*
 * plugins/logistic/model.h — a trained logistic model as the scorer keeps
 * it (an intercept and, per measure, its coefficients), and its byte
 * format: the blob train() reports as kz_train_result.model, which the
 * host keeps under the state key "model" and create() reads back.
 *
 * The format (version 1), little-endian, self-describing:
 *
 *   "KZLOGIT\0"                 8 bytes of magic
 *   u32 version                 1
 *   u32 n_inputs                measures, in the order of the `terms` parameter
 *   f64 intercept
 *   n_inputs times:
 *     str name                  the measure
 *     u32 n_levels              0 = numeric; else categorical with n_levels >= 2
 *     numeric:     f64 coefficient
 *     categorical: n_levels times (str level, f64 coefficient); the levels
 *                  are sorted by byte order, the first is the reference
 *                  and its coefficient is 0
 *   u64 FNV-1a hash of every byte before it
 *
 * where str is a u32 byte length (at least 1) and the UTF-8 bytes without
 * a NUL, and f64 the IEEE 754 bits as a u64, so coefficients round-trip
 * exactly.
 */
#ifndef KZ_LOGISTIC_MODEL_H
#define KZ_LOGISTIC_MODEL_H

#include <kizuna/common.h>

#include <stddef.h>
#include <stdint.h>

/* One measure of the model. */
typedef struct logit_input {
    char *name;        /* the measure's name (kz_column.name) */
    uint32_t n_levels; /* 0: numeric; else categorical, n_levels >= 2 */
    char **levels;     /* categorical: sorted by byte order; levels[0] is the reference */
    double *coefs;     /* numeric: 1 coefficient; categorical: one per level, coefs[0] = 0 */
} logit_input;

typedef struct logit_model {
    double intercept;
    uint32_t n_inputs;
    logit_input *inputs;
} logit_model;

/* A model with n_inputs zeroed inputs, or NULL when out of memory. */
logit_model *logit_model_new(uint32_t n_inputs);
void logit_model_free(logit_model *m);

/* The index of `level` among the levels of categorical input `in`, or -1
 * when the model never saw it. */
int32_t logit_model_find_level(const logit_input *in, const char *level);

/* Writes `m` in the format above into memory from host->alloc_mem (the
 * caller, or the host it hands the blob to, frees it with free_mem).
 * Returns KZ_OK or KZ_ERR_NOMEM. */
int logit_model_encode(const logit_model *m, const kz_host *host, void **out, uint64_t *out_len);

/* Reads a blob written by logit_model_encode() into *out. Returns KZ_OK;
 * KZ_ERR_INVALID with what is wrong with the blob in `why`; or
 * KZ_ERR_NOMEM. */
int logit_model_decode(const void *data, size_t len, logit_model **out, char *why, size_t why_len);

#endif
