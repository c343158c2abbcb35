/* A key's siblings: superseding by deps, the winner rule, the etcd view, purging a stable tombstone. */
#include "causal/key.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"

static int cmp_u64(uint64_t a, uint64_t b) {
  return a < b ? -1 : a > b;
}

int lkv_causal_sibling_cmp(const lkv_causal_sibling_t *a, const lkv_causal_sibling_t *b) {
  int c = lkv_causal_hlc_cmp(&a->hlc, &b->hlc);
  if (c) return c;
  c = cmp_u64(a->origin, b->origin);
  return c ? c : cmp_u64(a->seq, b->seq);
}

int lkv_causal_key_init(lkv_causal_key_t *k, const uint8_t *key, size_t key_len) {
  memset(k, 0, sizeof(*k));
  k->key = malloc(key_len ? key_len : 1);
  if (!k->key) return LKV_ENOMEM;
  memcpy(k->key, key, key_len);
  k->key_len = key_len;
  return 0;
}

const lkv_causal_sibling_t *lkv_causal_key_winner(const lkv_causal_key_t *k) {
  const lkv_causal_sibling_t *w = NULL;
  for (size_t i = 0; i < k->n; i++)
    if (!w || lkv_causal_sibling_cmp(&k->sib[i], w) > 0) w = &k->sib[i];
  return w;
}

/* Moves the etcd view after the winner changed from (was, was_live) at revision rev. */
static void follow_winner(lkv_causal_key_t *k, uint64_t was_origin, uint64_t was_seq, int was_live,
                          uint64_t rev) {
  const lkv_causal_sibling_t *w = lkv_causal_key_winner(k);
  int live = w && !w->tombstone;
  if (w && w->origin == was_origin && w->seq == was_seq && live == was_live) return;
  if (!live) {
    k->create_rev = k->mod_rev = k->version = 0;
    return;
  }
  if (!was_live) {
    k->create_rev = rev;
    k->version = 0;
  }
  k->mod_rev = rev;
  k->version++;
}

int lkv_causal_key_apply(lkv_causal_key_t *k, const lkv_causal_write_t *w) {
  uint8_t *value = NULL;
  if (w->value_len) {
    value = malloc(w->value_len);
    if (!value) return LKV_ENOMEM;
    memcpy(value, w->value, w->value_len);
  }
  if (lkv_grow((void **)&k->sib, &k->cap, k->n + 1, sizeof(k->sib[0]))) {
    free(value);
    return LKV_ENOMEM;
  }
  const lkv_causal_sibling_t *old = lkv_causal_key_winner(k);
  uint64_t was_origin = old ? old->origin : 0, was_seq = old ? old->seq : 0;
  int was_live = old && !old->tombstone;
  size_t kept = 0;
  for (size_t i = 0; i < k->n; i++) {
    lkv_causal_sibling_t *s = &k->sib[i];
    int same = s->origin == w->origin && s->seq == w->seq;
    if (same || lkv_causal_vv_covers(w->deps, s->origin, s->seq)) {
      free(s->value);
      continue;
    }
    k->sib[kept++] = *s;
  }
  k->n = kept;
  k->sib[k->n++] = (lkv_causal_sibling_t){.origin = w->origin,
                                          .seq = w->seq,
                                          .hlc = w->hlc,
                                          .tombstone = w->tombstone,
                                          .value = value,
                                          .value_len = w->value_len,
                                          .lease = w->lease,
                                          .rev = w->rev};
  follow_winner(k, was_origin, was_seq, was_live, w->rev);
  return 0;
}

int lkv_causal_key_replace(lkv_causal_key_t *k, lkv_causal_key_t *from, uint64_t rev) {
  const lkv_causal_sibling_t *old = lkv_causal_key_winner(k);
  uint64_t was_origin = old ? old->origin : 0, was_seq = old ? old->seq : 0;
  int was_live = old && !old->tombstone;
  lkv_causal_sibling_t *sib = malloc((from->n ? from->n : 1) * sizeof(*sib));
  if (!sib) return LKV_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < k->n; i++) { /* the siblings kept first, in their order of application */
    for (size_t j = 0; j < from->n; j++) {
      lkv_causal_sibling_t *s = &from->sib[j];
      if (s->seq && s->origin == k->sib[i].origin && s->seq == k->sib[i].seq) {
        sib[n] = *s;
        sib[n++].rev = k->sib[i].rev;
        s->seq = 0, s->value = NULL; /* moved */
      }
    }
    free(k->sib[i].value);
  }
  int changed = n != k->n || n != from->n;
  for (size_t j = 0; j < from->n; j++)
    if (from->sib[j].seq) {
      sib[n] = from->sib[j];
      sib[n++].rev = rev;
    }
  free(k->sib);
  k->sib = sib, k->n = n, k->cap = from->n ? from->n : 1;
  free(from->sib);
  from->sib = NULL, from->n = from->cap = 0;
  follow_winner(k, was_origin, was_seq, was_live, rev);
  return changed;
}

int lkv_causal_key_sole_tombstone(const lkv_causal_key_t *k) {
  return k->n == 1 && k->sib[0].tombstone;
}

int lkv_causal_key_purge(lkv_causal_key_t *k) {
  if (!lkv_causal_key_sole_tombstone(k)) return LKV_EINVAL;
  free(k->sib[0].value);
  k->n = 0;
  return 0;
}

void lkv_causal_key_free(lkv_causal_key_t *k) {
  for (size_t i = 0; i < k->n; i++) free(k->sib[i].value);
  free(k->sib);
  free(k->key);
  memset(k, 0, sizeof(*k));
}
