/* Growing a heap array by doubling (header-only): the one copy every module's dynamic arrays use. */
#ifndef LKV_COMMON_GROW_H
#define LKV_COMMON_GROW_H

#include <stddef.h>
#include <stdlib.h>

#include "common/error.h"

/* Makes *arr (of *cap elements of size bytes) hold at least need elements, doubling from 16. On failure
 * *arr and *cap are unchanged. Returns 0 or LKV_ENOMEM. */
static inline int lkv_grow(void **arr, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap * 2 : 16;
  while (n < need) n *= 2;
  void *p = realloc(*arr, n * size);
  if (!p) return LKV_ENOMEM;
  *arr = p;
  *cap = n;
  return 0;
}

#endif
