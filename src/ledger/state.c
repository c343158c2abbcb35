/* The STATE record's body: building it, reading it, and its rules (state.h, docs/ledger.md §3). */
#include "ledger/state.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"
#include "ledger/internal.h"

#define LEASE_LEN 16
#define KEY_FIXED 48 /* key_len (4) ‖ five i64 ‖ value_len (4) */
#define COUNTS_LEN 8 /* n_leases ‖ n_keys */

static int reserve(lkv_ledger_state_t *s, size_t need) {
  if (need > LKV_LEDGER_ENTRY_MAX - LKV_LEDGER_ENTRY_HEADER_LEN - COUNTS_LEN - s->len) return LKV_EINVAL;
  return lkv_grow((void **)&s->buf, &s->cap, s->len + need, 1);
}

int lkv_ledger_state_lease(lkv_ledger_state_t *s, int64_t id, int64_t ttl) {
  if (id == 0 || s->n_keys || s->n_leases == UINT32_MAX ||
      (s->n_leases && (int64_t)lkv__get_be64(s->buf + s->len - LEASE_LEN) >= id))
    return LKV_EINVAL;
  int rc = reserve(s, LEASE_LEN);
  if (rc) return rc;
  lkv__put_be64(s->buf + s->len, (uint64_t)id);
  lkv__put_be64(s->buf + s->len + 8, (uint64_t)ttl);
  s->len += LEASE_LEN;
  s->n_leases++;
  return 0;
}

/* The rules of one key, given the previous key's (mod, sub) (first: whether there is none). */
static int key_ok(const lkv_ledger_state_key_t *k, int first, int64_t prev_mod, int64_t prev_sub) {
  if (k->key_len == 0 || k->create_revision < 1 || k->create_revision > k->mod_revision || k->mod_sub < 0 ||
      k->version < 1)
    return 0;
  return first || k->mod_revision > prev_mod || (k->mod_revision == prev_mod && k->mod_sub > prev_sub);
}

int lkv_ledger_state_key(lkv_ledger_state_t *s, const lkv_ledger_state_key_t *k) {
  if (!key_ok(k, s->n_keys == 0, s->last_mod, s->last_sub) || s->n_keys == UINT32_MAX ||
      k->key_len > UINT32_MAX || k->value_len > UINT32_MAX || k->key_len > LKV_LEDGER_ENTRY_MAX ||
      k->value_len > LKV_LEDGER_ENTRY_MAX)
    return LKV_EINVAL;
  int rc = reserve(s, KEY_FIXED + k->key_len + k->value_len);
  if (rc) return rc;
  uint8_t *p = s->buf + s->len;
  lkv__put_be32(p, (uint32_t)k->key_len);
  memcpy(p + 4, k->key, k->key_len);
  p += 4 + k->key_len;
  const int64_t nums[5] = {k->create_revision, k->mod_revision, k->mod_sub, k->version, k->lease};
  for (int i = 0; i < 5; i++) lkv__put_be64(p + 8 * i, (uint64_t)nums[i]);
  lkv__put_be32(p + 40, (uint32_t)k->value_len);
  if (k->value_len) memcpy(p + 44, k->value, k->value_len);
  s->len += KEY_FIXED + k->key_len + k->value_len;
  s->n_keys++;
  s->last_mod = k->mod_revision;
  s->last_sub = k->mod_sub;
  return 0;
}

void lkv_ledger_state_entry(const lkv_ledger_state_t *s, int64_t revision, lkv_ledger_entry_t *e) {
  *e = (lkv_ledger_entry_t){.kind = LKV_LEDGER_STATE,
                            .revision = revision,
                            .ops = s->buf,
                            .ops_len = s->len,
                            .n_ops = s->n_keys,
                            .n_leases = s->n_leases};
  lkv_ledger_claims_digest(NULL, 0, NULL, 0, e->claims); /* no client asked for it */
}

void lkv_ledger_state_free(lkv_ledger_state_t *s) {
  free(s->buf);
  memset(s, 0, sizeof(*s));
}

void lkv_ledger_state_begin(const lkv_ledger_entry_t *e, lkv_ledger_state_iter_t *it) {
  it->p = e->ops;
  it->left = e->ops_len;
  it->leases = e->n_leases;
  it->keys = e->n_ops;
}

int lkv_ledger_state_next_lease(lkv_ledger_state_iter_t *it, int64_t *id, int64_t *ttl) {
  if (it->leases == 0) return 0;
  if (it->left < LEASE_LEN) return LKV_ECORRUPT;
  *id = (int64_t)lkv__get_be64(it->p);
  *ttl = (int64_t)lkv__get_be64(it->p + 8);
  it->p += LEASE_LEN;
  it->left -= LEASE_LEN;
  it->leases--;
  return 1;
}

int lkv_ledger_state_next_key(lkv_ledger_state_iter_t *it, lkv_ledger_state_key_t *k) {
  if (it->leases) return LKV_ECORRUPT; /* leases come first */
  if (it->keys == 0) return it->left == 0 ? 0 : LKV_ECORRUPT;
  if (it->left < KEY_FIXED) return LKV_ECORRUPT;
  const uint8_t *p = it->p;
  size_t klen = lkv__get_be32(p);
  if (klen > it->left - KEY_FIXED) return LKV_ECORRUPT;
  k->key = p + 4;
  k->key_len = klen;
  p += 4 + klen;
  int64_t *nums[5] = {&k->create_revision, &k->mod_revision, &k->mod_sub, &k->version, &k->lease};
  for (int i = 0; i < 5; i++) *nums[i] = (int64_t)lkv__get_be64(p + 8 * i);
  size_t vlen = lkv__get_be32(p + 40);
  if (vlen > it->left - KEY_FIXED - klen) return LKV_ECORRUPT;
  k->value = p + 44;
  k->value_len = vlen;
  it->p = p + 44 + vlen;
  it->left -= KEY_FIXED + klen + vlen;
  it->keys--;
  return 1;
}

int lkv_ledger_state_check(const lkv_ledger_entry_t *e) {
  lkv_ledger_state_iter_t it;
  lkv_ledger_state_key_t k;
  int64_t id, ttl, prev_id = 0, prev_mod = 0, prev_sub = 0;
  int rc, first = 1;
  if (e->revision < 1) return LKV_ECORRUPT;
  lkv_ledger_state_begin(e, &it);
  while ((rc = lkv_ledger_state_next_lease(&it, &id, &ttl)) == 1) {
    if (id == 0 || (!first && id <= prev_id)) return LKV_ECORRUPT;
    prev_id = id;
    first = 0;
  }
  if (rc) return rc;
  first = 1;
  while ((rc = lkv_ledger_state_next_key(&it, &k)) == 1) {
    if (!key_ok(&k, first, prev_mod, prev_sub) || k.mod_revision > e->revision) return LKV_ECORRUPT;
    prev_mod = k.mod_revision;
    prev_sub = k.mod_sub;
    first = 0;
  }
  return rc;
}
