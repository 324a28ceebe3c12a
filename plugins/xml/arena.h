/*
 * plugins/xml/arena.h — a bump allocator for the memory of one batch of
 * rows: field names, values, field arrays and raw text are carved out of
 * it while the batch fills, stay put until the sink's emit() returns, and
 * are then released all at once with xml_arena_reset().
 */
#ifndef KZ_XML_ARENA_H
#define KZ_XML_ARENA_H

#include <stddef.h>

typedef struct xml_arena_block xml_arena_block;

typedef struct xml_arena {
    xml_arena_block *head; /* the block being filled; older blocks follow */
    size_t bytes;          /* bytes handed out since the last reset */
} xml_arena;

/* `n` bytes aligned for any pointer or integer type, or NULL when out of
 * memory. Valid until the next xml_arena_reset() or xml_arena_free(). */
void *xml_arena_alloc(xml_arena *a, size_t n);

/* A NUL-terminated copy of the `n` bytes at `s`, or NULL when out of memory. */
char *xml_arena_strndup(xml_arena *a, const char *s, size_t n);

/* Forgets everything handed out; keeps one block for reuse. */
void xml_arena_reset(xml_arena *a);

/* Frees every block; the arena is empty and usable again. */
void xml_arena_free(xml_arena *a);

#endif
