/* Bump allocation in growing chunks, released all at once (see arena.h). */
#include "apply/arena.h"

#include <stdlib.h>
#include <string.h>

struct lkv__arena_chunk_s {
  lkv__arena_chunk_t *next;
  _Alignas(16) uint8_t data[];
};

#define ARENA_MAX_CHUNK ((size_t)1 << 20)

void lkv__arena_init(lkv__arena_t *a) {
  a->chunks = NULL;
  a->pos = a->first;
  a->end = a->first + sizeof(a->first);
  a->next_size = 8192;
}

void *lkv__arena_alloc(lkv__arena_t *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  if ((size_t)(a->end - a->pos) < n) {
    size_t size = n > a->next_size ? n : a->next_size;
    lkv__arena_chunk_t *c = malloc(sizeof(*c) + size);
    if (!c) return NULL;
    c->next = a->chunks;
    a->chunks = c;
    a->pos = c->data;
    a->end = c->data + size;
    if (a->next_size < ARENA_MAX_CHUNK) a->next_size *= 2;
  }
  void *p = a->pos;
  a->pos += n;
  return p;
}

void *lkv__arena_zalloc(lkv__arena_t *a, size_t n) {
  void *p = lkv__arena_alloc(a, n);
  if (p) memset(p, 0, n);
  return p;
}

void *lkv__arena_dup(lkv__arena_t *a, const void *p, size_t n) {
  void *q = lkv__arena_alloc(a, n);
  if (q && n) memcpy(q, p, n);
  return q;
}

void lkv__arena_free(lkv__arena_t *a) {
  while (a->chunks) {
    lkv__arena_chunk_t *next = a->chunks->next;
    free(a->chunks);
    a->chunks = next;
  }
  a->pos = a->end = NULL;
}
