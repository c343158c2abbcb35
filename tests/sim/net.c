/* The simulated network's queue: packets ordered by delivery time, then by send order (a binary heap). */
#include <stdlib.h>

#include "sim.h"

static int earlier(const lkv__sim_pkt_t *a, const lkv__sim_pkt_t *b) {
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

void lkv__sim_net_push(lkv__sim_net_t *n, const lkv__sim_pkt_t *p) {
  if (n->n == n->cap) {
    n->cap = n->cap ? n->cap * 2 : 256;
    n->heap = realloc(n->heap, n->cap * sizeof(*n->heap));
    if (!n->heap) abort();
  }
  size_t i = n->n++;
  n->heap[i] = *p;
  n->heap[i].seq = n->seq++;
  while (i > 0) {
    size_t up = (i - 1) / 2;
    if (!earlier(&n->heap[i], &n->heap[up])) break;
    lkv__sim_pkt_t t = n->heap[i];
    n->heap[i] = n->heap[up];
    n->heap[up] = t;
    i = up;
  }
}

int lkv__sim_net_pop(lkv__sim_net_t *n, lkv__sim_pkt_t *out) {
  if (!n->n) return 0;
  *out = n->heap[0];
  n->heap[0] = n->heap[--n->n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n->n && earlier(&n->heap[l], &n->heap[m])) m = l;
    if (r < n->n && earlier(&n->heap[r], &n->heap[m])) m = r;
    if (m == i) break;
    lkv__sim_pkt_t t = n->heap[i];
    n->heap[i] = n->heap[m];
    n->heap[m] = t;
    i = m;
  }
  return 1;
}

void lkv__sim_net_free(lkv__sim_net_t *n) {
  for (size_t i = 0; i < n->n; i++) free(n->heap[i].buf);
  free(n->heap);
  n->heap = NULL;
  n->n = n->cap = 0;
}
