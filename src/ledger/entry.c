/* Ledger entry codec, write-set builder and the leaf/claims digests (see entry.h for the layout). */
#include "ledger/entry.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ledger/internal.h"
#include "ledger/sha256.h"
#include "ledger/state.h"

/* The fixed part of the largest body (a signed tree head). */
#define BODY_HEAD_MAX LKV_LEDGER_SIGNED_HEAD_LEN
#define OP_MIN 6 /* type, key length, one key byte */
#define PUT_FIXED 28

static int kind_valid(unsigned k) {
  return k >= LKV_LEDGER_REVISION && k <= LKV_LEDGER_KIND_MAX;
}

static int has_ops(lkv_ledger_kind_t k) {
  return k == LKV_LEDGER_REVISION || k == LKV_LEDGER_LEASE_REVOKE || k == LKV_LEDGER_CAUSAL_EVENT;
}

/* The variable part between the body's fixed part and its ops: a CAUSAL_EVENT's event bytes. */
static size_t mid_len(const lkv_ledger_entry_t *e) {
  return e->kind == LKV_LEDGER_CAUSAL_EVENT ? e->event_len : 0;
}

/* Kinds whose body ends in the variable part e->ops/ops_len: write sets, and a STATE's leases and keys. */
static int has_tail(lkv_ledger_kind_t k) {
  return has_ops(k) || k == LKV_LEDGER_STATE;
}

/* Writes the body's fixed part (everything but the ops) into h; returns its length. */
static size_t body_head(const lkv_ledger_entry_t *e, uint8_t h[BODY_HEAD_MAX]) {
  switch (e->kind) {
    case LKV_LEDGER_REVISION:
      lkv__put_be32(h, e->n_ops);
      return 4;
    case LKV_LEDGER_COMPACTION:
      lkv__put_be64(h, (uint64_t)e->compact_revision);
      return 8;
    case LKV_LEDGER_LEASE_GRANT:
      lkv__put_be64(h, (uint64_t)e->lease_id);
      lkv__put_be64(h + 8, (uint64_t)e->lease_ttl);
      return 16;
    case LKV_LEDGER_LEASE_REVOKE:
      lkv__put_be64(h, (uint64_t)e->lease_id);
      lkv__put_be32(h + 8, e->n_ops);
      return 12;
    case LKV_LEDGER_SIGNED_TREE_HEAD:
      lkv_ledger_signed_head_encode(&e->sth, h);
      return BODY_HEAD_MAX;
    case LKV_LEDGER_STATE:
      lkv__put_be32(h, e->n_leases);
      lkv__put_be32(h + 4, e->n_ops);
      return 8;
    case LKV_LEDGER_CAUSAL_EVENT:
      lkv__put_be32(h, e->n_ops);
      lkv__put_be32(h + 4, (uint32_t)e->event_len);
      return 8;
  }
  return 0;
}

/* ---- write sets ---- */

void lkv_ledger_ws_init(lkv_ledger_ws_t *ws) {
  memset(ws, 0, sizeof(*ws));
}

/* Makes room for `need` more bytes and one more op. */
static int ws_reserve(lkv_ledger_ws_t *ws, size_t key_len, size_t value_len, size_t need) {
  if (key_len == 0 || key_len > UINT32_MAX || value_len > UINT32_MAX || ws->n_ops == UINT32_MAX ||
      need > LKV_LEDGER_ENTRY_MAX - ws->len)
    return LKV_EINVAL;
  if (ws->len + need <= ws->cap) return 0;
  size_t cap = ws->cap ? ws->cap : 256;
  while (cap < ws->len + need) cap *= 2;
  uint8_t *b = realloc(ws->buf, cap);
  if (!b) return LKV_ENOMEM;
  ws->buf = b;
  ws->cap = cap;
  return 0;
}

/* Writes type ‖ key_len ‖ key at the end of ws; returns the position after it. */
static uint8_t *ws_put_key(lkv_ledger_ws_t *ws, lkv_ledger_op_type_t type, const void *key, size_t key_len) {
  uint8_t *p = ws->buf + ws->len;
  p[0] = (uint8_t)type;
  lkv__put_be32(p + 1, (uint32_t)key_len);
  memcpy(p + 5, key, key_len);
  return p + 5 + key_len;
}

int lkv_ledger_ws_put(lkv_ledger_ws_t *ws, const void *key, size_t key_len, const void *value,
                      size_t value_len, int64_t create_revision, int64_t version, int64_t lease) {
  size_t need = 5 + key_len + PUT_FIXED + value_len;
  int rc = ws_reserve(ws, key_len, value_len, need);
  if (rc) return rc;
  uint8_t *p = ws_put_key(ws, LKV_LEDGER_OP_PUT, key, key_len);
  lkv__put_be64(p, (uint64_t)create_revision);
  lkv__put_be64(p + 8, (uint64_t)version);
  lkv__put_be64(p + 16, (uint64_t)lease);
  lkv__put_be32(p + 24, (uint32_t)value_len);
  if (value_len) memcpy(p + PUT_FIXED, value, value_len);
  ws->len += need;
  ws->n_ops++;
  return 0;
}

int lkv_ledger_ws_delete(lkv_ledger_ws_t *ws, const void *key, size_t key_len) {
  int rc = ws_reserve(ws, key_len, 0, 5 + key_len);
  if (rc) return rc;
  ws_put_key(ws, LKV_LEDGER_OP_DELETE, key, key_len);
  ws->len += 5 + key_len;
  ws->n_ops++;
  return 0;
}

void lkv_ledger_ws_reset(lkv_ledger_ws_t *ws) {
  ws->len = 0;
  ws->n_ops = 0;
}

void lkv_ledger_ws_free(lkv_ledger_ws_t *ws) {
  free(ws->buf);
  lkv_ledger_ws_init(ws);
}

void lkv_ledger_entry_set_ws(lkv_ledger_entry_t *e, const lkv_ledger_ws_t *ws) {
  e->ops = ws->buf;
  e->ops_len = ws->len;
  e->n_ops = ws->n_ops;
}

/* ---- ops ---- */

void lkv_ledger_ops_begin(const lkv_ledger_entry_t *e, lkv_ledger_op_iter_t *it) {
  int any = has_ops(e->kind);
  it->p = any ? e->ops : NULL;
  it->left = any ? e->ops_len : 0;
  it->remaining = any ? e->n_ops : 0;
}

int lkv_ledger_ops_next(lkv_ledger_op_iter_t *it, lkv_ledger_op_t *op) {
  if (it->remaining == 0) return it->left == 0 ? 0 : LKV_ECORRUPT;
  if (it->left < OP_MIN) return LKV_ECORRUPT;
  const uint8_t *p = it->p;
  size_t left = it->left - 5;
  uint8_t type = p[0];
  uint32_t key_len = lkv__get_be32(p + 1);
  if ((type != LKV_LEDGER_OP_PUT && type != LKV_LEDGER_OP_DELETE) || key_len == 0 || key_len > left)
    return LKV_ECORRUPT;
  memset(op, 0, sizeof(*op));
  op->type = (lkv_ledger_op_type_t)type;
  op->key = p + 5;
  op->key_len = key_len;
  p += 5 + key_len;
  left -= key_len;
  if (type == LKV_LEDGER_OP_PUT) {
    if (left < PUT_FIXED) return LKV_ECORRUPT;
    op->create_revision = (int64_t)lkv__get_be64(p);
    op->version = (int64_t)lkv__get_be64(p + 8);
    op->lease = (int64_t)lkv__get_be64(p + 16);
    uint32_t value_len = lkv__get_be32(p + 24);
    left -= PUT_FIXED;
    if (value_len > left) return LKV_ECORRUPT;
    op->value = p + PUT_FIXED;
    op->value_len = value_len;
    p += PUT_FIXED + value_len;
    left -= value_len;
  }
  it->p = p;
  it->left = left;
  it->remaining--;
  return 1;
}

/* Checks that e's ops are exactly n_ops well-formed ops filling ops_len (DELETEs only for a revoke). */
static int check_ops(const lkv_ledger_entry_t *e) {
  lkv_ledger_op_iter_t it;
  lkv_ledger_op_t op;
  int rc;
  if (e->kind == LKV_LEDGER_REVISION && e->n_ops == 0) return LKV_ECORRUPT;
  if (e->n_ops > e->ops_len / OP_MIN) return LKV_ECORRUPT;
  lkv_ledger_ops_begin(e, &it);
  while ((rc = lkv_ledger_ops_next(&it, &op)) == 1)
    if (e->kind == LKV_LEDGER_LEASE_REVOKE && op.type != LKV_LEDGER_OP_DELETE) return LKV_ECORRUPT;
  return rc;
}

/* ---- digests ---- */

void lkv_ledger_claims_digest(const void *req, size_t req_len, const void *resp, size_t resp_len,
                              uint8_t out[LKV_LEDGER_DIGEST_LEN]) {
  lkv__sha256_t st;
  uint8_t len[8];
  lkv__sha256_init(&st);
  lkv__put_be64(len, req_len);
  lkv__sha256_update(&st, len, 8);
  lkv__sha256_update(&st, req, req_len);
  lkv__put_be64(len, resp_len);
  lkv__sha256_update(&st, len, 8);
  lkv__sha256_update(&st, resp, resp_len);
  lkv__sha256_final(&st, out);
}

void lkv_ledger_entry_leaf(const lkv_ledger_entry_t *e, lkv_ledger_leaf_t *leaf) {
  uint8_t head[BODY_HEAD_MAX];
  lkv__sha256_t st;
  lkv__sha256_init(&st);
  lkv__sha256_update(&st, head, body_head(e, head));
  if (mid_len(e)) lkv__sha256_update(&st, e->event, e->event_len);
  if (has_tail(e->kind) && e->ops_len) lkv__sha256_update(&st, e->ops, e->ops_len);
  lkv__sha256_final(&st, leaf->ws_digest);
  leaf->kind = e->kind;
  leaf->revision = e->revision;
  memcpy(leaf->claims, e->claims, LKV_LEDGER_DIGEST_LEN);
}

void lkv_ledger_leaf_data(const lkv_ledger_leaf_t *leaf, uint8_t out[LKV_LEDGER_LEAF_DATA_LEN]) {
  out[0] = (uint8_t)leaf->kind;
  lkv__put_be64(out + 1, (uint64_t)leaf->revision);
  memcpy(out + 9, leaf->ws_digest, LKV_LEDGER_DIGEST_LEN);
  memcpy(out + 9 + LKV_LEDGER_DIGEST_LEN, leaf->claims, LKV_LEDGER_DIGEST_LEN);
}

void lkv_ledger_leaf_hash(const lkv_ledger_leaf_t *leaf, lkv_merkle_hash_t *out) {
  uint8_t data[LKV_LEDGER_LEAF_DATA_LEN];
  lkv_ledger_leaf_data(leaf, data);
  lkv_merkle_leaf_hash(data, sizeof(data), out);
}

/* ---- codec ---- */

size_t lkv_ledger_entry_size(const lkv_ledger_entry_t *e) {
  uint8_t head[BODY_HEAD_MAX];
  return LKV_LEDGER_ENTRY_HEADER_LEN + body_head(e, head) + mid_len(e) + (has_tail(e->kind) ? e->ops_len : 0);
}

int lkv_ledger_entry_encode(const lkv_ledger_entry_t *e, uint8_t *out, size_t cap, size_t *len) {
  uint8_t head[BODY_HEAD_MAX];
  if (!kind_valid(e->kind)) return LKV_EINVAL;
  if (has_ops(e->kind) && check_ops(e)) return LKV_EINVAL;
  if (e->kind == LKV_LEDGER_STATE && lkv_ledger_state_check(e)) return LKV_EINVAL;
  if (e->kind == LKV_LEDGER_SIGNED_TREE_HEAD && e->sth.head.revision != e->revision) return LKV_EINVAL;
  if (e->kind == LKV_LEDGER_CAUSAL_EVENT && (!e->event || !e->event_len)) return LKV_EINVAL;
  size_t hl = body_head(e, head), ml = mid_len(e), ol = has_tail(e->kind) ? e->ops_len : 0;
  if (ml > LKV_LEDGER_ENTRY_MAX || ol > LKV_LEDGER_ENTRY_MAX - LKV_LEDGER_ENTRY_HEADER_LEN - hl - ml)
    return LKV_EINVAL;
  size_t n = LKV_LEDGER_ENTRY_HEADER_LEN + hl + ml + ol;
  if (n > cap) return LKV_EMSGSIZE;
  out[0] = (uint8_t)e->kind;
  lkv__put_be64(out + 1, (uint64_t)e->revision);
  memcpy(out + 9, e->claims, LKV_LEDGER_DIGEST_LEN);
  memcpy(out + LKV_LEDGER_ENTRY_HEADER_LEN, head, hl);
  if (ml) memcpy(out + LKV_LEDGER_ENTRY_HEADER_LEN + hl, e->event, ml);
  if (ol) memcpy(out + LKV_LEDGER_ENTRY_HEADER_LEN + hl + ml, e->ops, ol);
  *len = n;
  return 0;
}

int lkv_ledger_entry_decode(const uint8_t *buf, size_t len, lkv_ledger_entry_t *out) {
  if (len < LKV_LEDGER_ENTRY_HEADER_LEN || len > LKV_LEDGER_ENTRY_MAX || !kind_valid(buf[0]))
    return LKV_ECORRUPT;
  memset(out, 0, sizeof(*out));
  out->kind = (lkv_ledger_kind_t)buf[0];
  out->revision = (int64_t)lkv__get_be64(buf + 1);
  memcpy(out->claims, buf + 9, LKV_LEDGER_DIGEST_LEN);
  const uint8_t *b = buf + LKV_LEDGER_ENTRY_HEADER_LEN;
  size_t bl = len - LKV_LEDGER_ENTRY_HEADER_LEN;
  lkv_ledger_signed_head_t *s = &out->sth;
  switch (out->kind) {
    case LKV_LEDGER_REVISION:
      if (bl < 4) return LKV_ECORRUPT;
      out->n_ops = lkv__get_be32(b);
      out->ops = b + 4;
      out->ops_len = bl - 4;
      return check_ops(out);
    case LKV_LEDGER_COMPACTION:
      if (bl != 8) return LKV_ECORRUPT;
      out->compact_revision = (int64_t)lkv__get_be64(b);
      return 0;
    case LKV_LEDGER_LEASE_GRANT:
      if (bl != 16) return LKV_ECORRUPT;
      out->lease_id = (int64_t)lkv__get_be64(b);
      out->lease_ttl = (int64_t)lkv__get_be64(b + 8);
      return 0;
    case LKV_LEDGER_LEASE_REVOKE:
      if (bl < 12) return LKV_ECORRUPT;
      out->lease_id = (int64_t)lkv__get_be64(b);
      out->n_ops = lkv__get_be32(b + 8);
      out->ops = b + 12;
      out->ops_len = bl - 12;
      return check_ops(out);
    case LKV_LEDGER_SIGNED_TREE_HEAD:
      if (bl != BODY_HEAD_MAX) return LKV_ECORRUPT;
      lkv_ledger_signed_head_decode(b, s);
      return s->head.revision == out->revision ? 0 : LKV_ECORRUPT;
    case LKV_LEDGER_STATE:
      if (bl < 8) return LKV_ECORRUPT;
      out->n_leases = lkv__get_be32(b);
      out->n_ops = lkv__get_be32(b + 4);
      out->ops = b + 8;
      out->ops_len = bl - 8;
      return lkv_ledger_state_check(out);
    case LKV_LEDGER_CAUSAL_EVENT:
      if (bl < 8) return LKV_ECORRUPT;
      out->n_ops = lkv__get_be32(b);
      out->event_len = lkv__get_be32(b + 4);
      if (out->event_len == 0 || out->event_len > bl - 8) return LKV_ECORRUPT;
      out->event = b + 8;
      out->ops = b + 8 + out->event_len;
      out->ops_len = bl - 8 - out->event_len;
      return check_ops(out);
  }
  return LKV_ECORRUPT;
}

int lkv_ledger_entry_is_revision(const lkv_ledger_entry_t *e) {
  return e->kind == LKV_LEDGER_REVISION || e->kind == LKV_LEDGER_CAUSAL_EVENT ||
         (e->kind == LKV_LEDGER_LEASE_REVOKE && e->n_ops > 0);
}
