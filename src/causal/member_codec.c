/* The member's state codec: keys with their siblings and the removals, shared by the checkpoint
 * (member_compact.c) and the snapshot (member_snapshot.c); the layouts are in member_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "causal/member_internal.h"
#include "common/le.h"

#define SIB_FIXED (8 + 8 + 8 + 4 + 1 + 8 + 4) /* without the local revision */
#define KEY_FIXED (4 + 4)                     /* key_len and n, without the view */
#define LOCAL_SIB 8                           /* the sibling's revision */
#define LOCAL_KEY 24                          /* create_rev, mod_rev, version */

const uint8_t *lkv__causal_take(lkv__causal_reader_t *r, size_t n) {
  if (r->bad || (size_t)(r->end - r->p) < n) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t *at = r->p;
  r->p += n;
  return at;
}

uint64_t lkv__causal_take64(lkv__causal_reader_t *r) {
  const uint8_t *p = lkv__causal_take(r, 8);
  return p ? lkv_le64_get(p) : 0;
}

uint32_t lkv__causal_take32(lkv__causal_reader_t *r) {
  const uint8_t *p = lkv__causal_take(r, 4);
  return p ? lkv_le32_get(p) : 0;
}

void lkv__causal_take_vv(lkv__causal_reader_t *r, lkv_causal_vv_t *v) {
  size_t used;
  if (r->bad || lkv_causal_vv_decode(r->p, (size_t)(r->end - r->p), v, &used)) {
    r->bad = 1;
    return;
  }
  r->p += used;
}

size_t lkv__causal_keys_size(const lkv_causal_member_t *m, int flags) {
  int local = (flags & LKV__CAUSAL_LOCAL) != 0;
  size_t size = 4;
  for (size_t i = 0; i < m->keys.n; i++) {
    const lkv_causal_key_t *k = m->keys.v[i];
    size += KEY_FIXED + (local ? LOCAL_KEY : 0) + k->key_len;
    for (size_t j = 0; j < k->n; j++) size += SIB_FIXED + (local ? LOCAL_SIB : 0) + k->sib[j].value_len;
  }
  return size;
}

uint8_t *lkv__causal_keys_put(const lkv_causal_member_t *m, uint8_t *p, int flags) {
  int local = (flags & LKV__CAUSAL_LOCAL) != 0;
  lkv_le32_put(p, (uint32_t)m->keys.n), p += 4;
  for (size_t i = 0; i < m->keys.n; i++) {
    const lkv_causal_key_t *k = m->keys.v[i];
    lkv_le32_put(p, (uint32_t)k->key_len), p += 4;
    memcpy(p, k->key, k->key_len), p += k->key_len;
    if (local)
      lkv_le64_put(p, k->create_rev), lkv_le64_put(p + 8, k->mod_rev), lkv_le64_put(p + 16, k->version),
          p += LOCAL_KEY;
    lkv_le32_put(p, (uint32_t)k->n), p += 4;
    for (size_t j = 0; j < k->n; j++) {
      const lkv_causal_sibling_t *s = &k->sib[j];
      lkv_le64_put(p, s->origin), lkv_le64_put(p + 8, s->seq), lkv_le64_put(p + 16, s->hlc.wall);
      lkv_le32_put(p + 24, s->hlc.logical);
      p[28] = (uint8_t)(s->tombstone != 0);
      lkv_le64_put(p + 29, (uint64_t)s->lease), p += 37;
      if (local) lkv_le64_put(p, s->rev), p += LOCAL_SIB;
      lkv_le32_put(p, (uint32_t)s->value_len), p += 4;
      if (s->value_len) memcpy(p, s->value, s->value_len), p += s->value_len;
    }
  }
  return p;
}

/* Reads one sibling into k; sets r->bad when it is malformed. */
static void take_sibling(lkv__causal_reader_t *r, lkv_causal_key_t *k, const lkv_causal_vv_t *vv,
                         uint64_t rev, int local) {
  const uint8_t *p = lkv__causal_take(r, 37);
  if (!p) return;
  lkv_causal_sibling_t s = {.origin = lkv_le64_get(p),
                            .seq = lkv_le64_get(p + 8),
                            .hlc = {.wall = lkv_le64_get(p + 16), .logical = lkv_le32_get(p + 24)},
                            .tombstone = p[28],
                            .lease = (int64_t)lkv_le64_get(p + 29)};
  if (local) s.rev = lkv__causal_take64(r);
  s.value_len = lkv__causal_take32(r);
  const uint8_t *v = lkv__causal_take(r, s.value_len);
  if (!v || s.tombstone > 1 || (s.tombstone && s.value_len) || (local && (s.rev == 0 || s.rev > rev)) ||
      !lkv_causal_vv_covers(vv, s.origin, s.seq) || s.seq == 0) {
    r->bad = 1;
    return;
  }
  if (s.value_len) {
    s.value = malloc(s.value_len);
    if (!s.value) abort();
    memcpy(s.value, v, s.value_len);
  }
  lkv__causal_room((void **)&k->sib, &k->cap, k->n, sizeof(k->sib[0]));
  k->sib[k->n++] = s;
}

/* Reads one key, appended to keys (names must come in increasing order). */
static void take_key(lkv__causal_reader_t *r, lkv__causal_keys_t *keys, const lkv_causal_vv_t *vv,
                     uint64_t rev, int local) {
  uint32_t klen = lkv__causal_take32(r);
  const uint8_t *name = lkv__causal_take(r, klen);
  if (!name || !klen || (keys->n && lkv__causal_name_cmp(keys->v[keys->n - 1], name, klen) >= 0)) {
    r->bad = 1;
    return;
  }
  lkv_causal_key_t *k = malloc(sizeof(*k));
  if (!k || lkv_causal_key_init(k, name, klen)) abort();
  *LKV__CAUSAL_PUSH(*keys) = k; /* freed with the table, even when what follows is bad */
  if (local)
    k->create_rev = lkv__causal_take64(r), k->mod_rev = lkv__causal_take64(r),
    k->version = lkv__causal_take64(r);
  uint32_t n = lkv__causal_take32(r);
  if (!local && !n) r->bad = 1; /* a snapshot's key has state */
  for (uint32_t j = 0; j < n && !r->bad; j++) take_sibling(r, k, vv, rev, local);
}

void lkv__causal_keys_take(lkv__causal_reader_t *r, lkv__causal_keys_t *keys, const lkv_causal_vv_t *vv,
                           uint64_t rev, int flags) {
  uint32_t n = lkv__causal_take32(r);
  for (uint32_t i = 0; i < n && !r->bad; i++) take_key(r, keys, vv, rev, (flags & LKV__CAUSAL_LOCAL) != 0);
}

void lkv__causal_keys_free(lkv__causal_keys_t *keys) {
  for (size_t i = 0; i < keys->n; i++) {
    lkv_causal_key_free(keys->v[i]);
    free(keys->v[i]);
  }
  free(keys->v);
  memset(keys, 0, sizeof(*keys));
}

size_t lkv__causal_removals_size(const lkv_causal_member_t *m) {
  return 4 + lkv__causal_removals_count(m) * 32;
}

uint8_t *lkv__causal_removals_put(const lkv_causal_member_t *m, uint8_t *p) {
  lkv_le32_put(p, (uint32_t)lkv__causal_removals_count(m)), p += 4;
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (m->removed[i]) {
      lkv_le64_put(p, m->members[i].id), lkv_le64_put(p + 8, m->cap[i]);
      lkv_le64_put(p + 16, m->removal[i].origin), lkv_le64_put(p + 24, m->removal[i].seq), p += 32;
    }
  return p;
}

size_t lkv__causal_removals_take(lkv__causal_reader_t *r, const lkv_causal_member_t *m,
                                 lkv__causal_removal_t *out) {
  uint32_t n = lkv__causal_take32(r);
  if (n > m->cfg.n_members) r->bad = 1;
  for (uint32_t i = 0; i < n && !r->bad; i++) {
    lkv__causal_removal_t x = {.id = lkv__causal_take64(r), .cap = lkv__causal_take64(r)};
    x.removal.origin = lkv__causal_take64(r), x.removal.seq = lkv__causal_take64(r);
    if (lkv__causal_index(m, x.id) < 0 || lkv__causal_index(m, x.removal.origin) < 0) r->bad = 1;
    for (uint32_t j = 0; j < i && !r->bad; j++)
      if (out[j].id == x.id) r->bad = 1;
    out[i] = x;
  }
  return r->bad ? 0 : n;
}
