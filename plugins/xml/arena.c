/*
 * plugins/xml/arena.c — the batch arena (see arena.h). Blocks are 64 KiB,
 * or larger for one big request; a reset keeps the newest block so a
 * steady stream of batches does not call malloc for every row.
 */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_BYTES (64u * 1024u)
#define ALIGN       alignof(max_align_t)

struct xml_arena_block {
    xml_arena_block *next;
    size_t used, cap;
    alignas(max_align_t) char data[];
};

void *xml_arena_alloc(xml_arena *a, size_t n)
{
    size_t want = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (want < n)
        return NULL; /* overflow */
    xml_arena_block *b = a->head;
    if (b == NULL || b->cap - b->used < want) {
        size_t cap = want > BLOCK_BYTES ? want : BLOCK_BYTES;
        if (cap > SIZE_MAX - sizeof *b)
            return NULL;
        b = malloc(sizeof *b + cap);
        if (b == NULL)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += want;
    a->bytes += want;
    return p;
}

char *xml_arena_strndup(xml_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = xml_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void xml_arena_reset(xml_arena *a)
{
    xml_arena_block *keep = a->head;
    if (keep == NULL)
        return;
    xml_arena_block *b = keep->next;
    while (b != NULL) {
        xml_arena_block *next = b->next;
        free(b);
        b = next;
    }
    keep->next = NULL;
    keep->used = 0;
    a->bytes = 0;
    /* A block grown for one huge request is not worth keeping. */
    if (keep->cap > BLOCK_BYTES) {
        free(keep);
        a->head = NULL;
    }
}

void xml_arena_free(xml_arena *a)
{
    xml_arena_reset(a);
    free(a->head);
    a->head = NULL;
    a->bytes = 0;
}
