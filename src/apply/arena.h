/* A bump allocator for the short-lived objects of one request (response messages, copied kvs). */
#ifndef LKV_APPLY_ARENA_H
#define LKV_APPLY_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct lkv__arena_chunk_s lkv__arena_chunk_t;

/* Allocations come from chunks that grow geometrically; everything is released at once by
 * lkv__arena_free. The first chunk lives inside the arena itself, so small requests do not call malloc. */
typedef struct lkv__arena_s {
  lkv__arena_chunk_t *chunks; /* malloc'd chunks, newest first */
  uint8_t *pos, *end;         /* free space in the current chunk */
  size_t next_size;
  _Alignas(16) uint8_t first[2048];
} lkv__arena_t;

void lkv__arena_init(lkv__arena_t *a);
/* Returns n bytes aligned to 16, or NULL when out of memory. Not zeroed. */
void *lkv__arena_alloc(lkv__arena_t *a, size_t n);
/* Returns n zeroed bytes, or NULL. */
void *lkv__arena_zalloc(lkv__arena_t *a, size_t n);
/* Copies n bytes of p (n may be 0: returns a non-NULL pointer). NULL when out of memory. */
void *lkv__arena_dup(lkv__arena_t *a, const void *p, size_t n);
/* Releases every allocation. The arena may be reused after lkv__arena_init. */
void lkv__arena_free(lkv__arena_t *a);

#endif
