/* Version vectors: sorted (origin, seq) entries; compare, merge and the per-origin ranges one side lacks. */
#include "causal/vv.h"

#include <string.h>

#include "common/error.h"
#include "common/le.h"

void lkv_causal_vv_init(lkv_causal_vv_t *v) {
  v->n = 0;
}

/* Index of origin in v, or of where it would be inserted (*found says which). */
static uint32_t find(const lkv_causal_vv_t *v, uint64_t origin, int *found) {
  uint32_t lo = 0, hi = v->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (v->e[mid].origin < origin)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < v->n && v->e[lo].origin == origin;
  return lo;
}

uint64_t lkv_causal_vv_get(const lkv_causal_vv_t *v, uint64_t origin) {
  int found;
  uint32_t i = find(v, origin, &found);
  return found ? v->e[i].seq : 0;
}

int lkv_causal_vv_set(lkv_causal_vv_t *v, uint64_t origin, uint64_t seq) {
  if (origin == 0) return LKV_EINVAL;
  int found;
  uint32_t i = find(v, origin, &found);
  if (found) {
    if (seq) {
      v->e[i].seq = seq;
    } else {
      memmove(&v->e[i], &v->e[i + 1], (v->n - i - 1) * sizeof(v->e[0]));
      v->n--;
    }
    return 0;
  }
  if (!seq) return 0;
  if (v->n == LKV_CAUSAL_MAX_ORIGINS) return LKV_ENOSPC;
  memmove(&v->e[i + 1], &v->e[i], (v->n - i) * sizeof(v->e[0]));
  v->e[i].origin = origin;
  v->e[i].seq = seq;
  v->n++;
  return 0;
}

int lkv_causal_vv_covers(const lkv_causal_vv_t *v, uint64_t origin, uint64_t seq) {
  return seq <= lkv_causal_vv_get(v, origin);
}

/* A walk over the union of two vectors' origins, in order, with each side's sequence (0 when absent). */
typedef struct {
  const lkv_causal_vv_t *a, *b;
  uint32_t i, j;
} walk_t;

static int walk_next(walk_t *w, uint64_t *origin, uint64_t *sa, uint64_t *sb) {
  const lkv_causal_vv_t *a = w->a, *b = w->b;
  if (w->i >= a->n && w->j >= b->n) return 0;
  *sa = *sb = 0;
  if (w->j >= b->n || (w->i < a->n && a->e[w->i].origin < b->e[w->j].origin)) {
    *origin = a->e[w->i].origin;
    *sa = a->e[w->i++].seq;
  } else if (w->i >= a->n || b->e[w->j].origin < a->e[w->i].origin) {
    *origin = b->e[w->j].origin;
    *sb = b->e[w->j++].seq;
  } else {
    *origin = a->e[w->i].origin;
    *sa = a->e[w->i++].seq;
    *sb = b->e[w->j++].seq;
  }
  return 1;
}

lkv_causal_order_t lkv_causal_vv_compare(const lkv_causal_vv_t *a, const lkv_causal_vv_t *b) {
  int a_more = 0, b_more = 0;
  walk_t w = {a, b, 0, 0};
  uint64_t origin, sa, sb;
  while (walk_next(&w, &origin, &sa, &sb)) {
    a_more |= sa > sb;
    b_more |= sb > sa;
  }
  if (a_more && b_more) return LKV_CAUSAL_CONCURRENT;
  if (a_more) return LKV_CAUSAL_AFTER;
  if (b_more) return LKV_CAUSAL_BEFORE;
  return LKV_CAUSAL_EQUAL;
}

int lkv_causal_vv_leq(const lkv_causal_vv_t *a, const lkv_causal_vv_t *b) {
  lkv_causal_order_t o = lkv_causal_vv_compare(a, b);
  return o == LKV_CAUSAL_EQUAL || o == LKV_CAUSAL_BEFORE;
}

int lkv_causal_vv_merge(lkv_causal_vv_t *into, const lkv_causal_vv_t *from) {
  lkv_causal_vv_t out;
  out.n = 0;
  walk_t w = {into, from, 0, 0};
  uint64_t origin, sa, sb;
  while (walk_next(&w, &origin, &sa, &sb)) {
    if (out.n == LKV_CAUSAL_MAX_ORIGINS) return LKV_ENOSPC;
    out.e[out.n].origin = origin;
    out.e[out.n++].seq = sa > sb ? sa : sb;
  }
  *into = out;
  return 0;
}

size_t lkv_causal_vv_missing(const lkv_causal_vv_t *mine, const lkv_causal_vv_t *other,
                             lkv_causal_range_t *out, size_t cap) {
  size_t n = 0;
  walk_t w = {mine, other, 0, 0};
  uint64_t origin, sm, so;
  while (walk_next(&w, &origin, &sm, &so)) {
    if (sm <= so) continue;
    if (n < cap) out[n] = (lkv_causal_range_t){.origin = origin, .from = so, .to = sm};
    n++;
  }
  return n;
}

size_t lkv_causal_vv_encoded_size(const lkv_causal_vv_t *v) {
  return 4 + (size_t)v->n * 16;
}

void lkv_causal_vv_encode(const lkv_causal_vv_t *v, uint8_t *out) {
  lkv_le32_put(out, v->n);
  for (uint32_t i = 0; i < v->n; i++) {
    lkv_le64_put(out + 4 + 16 * i, v->e[i].origin);
    lkv_le64_put(out + 12 + 16 * i, v->e[i].seq);
  }
}

int lkv_causal_vv_decode(const uint8_t *buf, size_t len, lkv_causal_vv_t *v, size_t *used) {
  if (len < 4) return LKV_EBADMSG;
  uint32_t n = lkv_le32_get(buf);
  if (n > LKV_CAUSAL_MAX_ORIGINS || (len - 4) / 16 < n) return LKV_EBADMSG;
  for (uint32_t i = 0; i < n; i++) {
    v->e[i].origin = lkv_le64_get(buf + 4 + 16 * i);
    v->e[i].seq = lkv_le64_get(buf + 12 + 16 * i);
    if (v->e[i].origin == 0 || v->e[i].seq == 0) return LKV_EBADMSG;
    if (i && v->e[i].origin <= v->e[i - 1].origin) return LKV_EBADMSG;
  }
  v->n = n;
  *used = 4 + (size_t)n * 16;
  return 0;
}
