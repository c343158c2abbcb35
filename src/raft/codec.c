/* The Raft codecs (codec.h): byte layouts of messages, membership changes, hard state, snapshot metadata. */
#include "raft/codec.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/varint.h"

/*
 * Byte layouts (version 1). u8 is one byte, u64le eight bytes little-endian, var an LEB128 varint in its
 * shortest form (common/varint.h; padded or over-64-bit varints are refused, so every value has exactly
 * one encoding and decode → encode gives back the input bytes). Every form starts with its version byte;
 * a decoder refuses other versions, unknown enum values and flag bits, node id 0, lengths or counts that
 * overrun the input, and trailing bytes (LKV_EBADMSG).
 *
 * Hard state (LKV_RAFT_HARD_STATE_SIZE = 25 bytes; fixed width so the durable log can rewrite it in place):
 *   u8 version | u64le term | u64le vote | u64le commit
 *
 * Conf state (inside snapshot metadata; no version byte of its own):
 *   var n_voters | var voter × n_voters | var n_learners | var learner × n_learners
 *   n_voters + n_learners <= LKV_RAFT_MAX_MEMBERS; ids non-zero; no id twice in either list or in both.
 *
 * Snapshot metadata (durable log):
 *   u8 version | var index | var term | conf state
 *
 * Conf change (the data of a LKV_RAFT_ENTRY_CONF_CHANGE entry):
 *   u8 version | u8 type (lkv_raft_conf_change_type_t) | var node (non-zero) | var context_len | context
 *
 * Message:
 *   u8 version | u8 type (LKV_RAFT_MSG_APP..LKV_RAFT_MSG_TIMEOUT_NOW) | u8 flags (LKV_RAFT_MSG_FLAG_*) |
 *   u8 parts (0x1 reject, 0x2 entries follow, 0x4 snapshot follows, 0x8 context follows) |
 *   var from | var to (both non-zero) | var term | var log_term | var index | var commit | var reject_hint |
 *   [entries]  var n (>= 1) | n × (var term | var index | u8 type | var len | data)
 *   [snapshot] var index | var term | conf state | var data_len | data     (not all zero)
 *   [context]  var len (>= 1) | context
 *   A part is present exactly when it is non-empty, which keeps the encoding unique; the codec checks
 *   form only (which message types carry which parts, and entry contiguity, are the core's to check).
 */

#define CODEC_VERSION 1

enum {
  PART_REJECT = 0x1,
  PART_ENTRIES = 0x2,
  PART_SNAPSHOT = 0x4,
  PART_CONTEXT = 0x8,
  PART_ALL = 0xf,
};

#define MSG_FLAGS_KNOWN LKV_RAFT_MSG_FLAG_TRANSFER
#define MIN_ENTRY_BYTES 4 /* term, index, type and length take at least one byte each */

/* ---- writing: callers size the output first, so the writers never check room ---- */

static uint8_t *put_u8(uint8_t *p, uint8_t v) {
  *p = v;
  return p + 1;
}

static uint8_t *put_var(uint8_t *p, uint64_t v) {
  return p + lkv_varint_put(p, v);
}

static uint8_t *put_bytes(uint8_t *p, const uint8_t *src, size_t n) {
  if (n) memcpy(p, src, n);
  return p + n;
}

static uint8_t *put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
  return p + 8;
}

/* ---- reading: a cursor whose first failure sticks, so decoders check once per step, not per field ---- */

typedef struct {
  const uint8_t *p;
  const uint8_t *end;
  int bad;
} reader_t;

/* len == 0 may come with buf == NULL, and NULL + 0 is undefined: the cursor starts empty then. */
static reader_t reader(const uint8_t *buf, size_t len) {
  reader_t r = {buf, len ? buf + len : buf, 0};
  return r;
}

static size_t left(const reader_t *r) {
  return (size_t)(r->end - r->p);
}

static uint8_t get_u8(reader_t *r) {
  if (r->bad || r->p == r->end) {
    r->bad = 1;
    return 0;
  }
  return *r->p++;
}

static uint64_t get_var(reader_t *r) {
  uint64_t v = 0;
  size_t n = r->bad ? 0 : lkv_varint_get(r->p, left(r), &v);
  if (n == 0) {
    r->bad = 1;
    return 0;
  }
  r->p += n;
  return v;
}

/* A length-prefixed byte string; *out points into the input (NULL when empty). */
static size_t get_bytes(reader_t *r, const uint8_t **out) {
  uint64_t n = get_var(r);
  *out = NULL;
  if (r->bad || n > left(r)) {
    r->bad = 1;
    return 0;
  }
  if (n) *out = r->p;
  r->p += n;
  return (size_t)n;
}

static uint64_t get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* ---- hard state ---- */

void lkv_raft_hard_state_encode(const lkv_raft_hard_state_t *hs, uint8_t out[LKV_RAFT_HARD_STATE_SIZE]) {
  uint8_t *p = put_u8(out, CODEC_VERSION);
  p = put_le64(p, hs->term);
  p = put_le64(p, hs->vote);
  put_le64(p, hs->commit);
}

int lkv_raft_hard_state_decode(const uint8_t *buf, size_t len, lkv_raft_hard_state_t *hs) {
  if (len != LKV_RAFT_HARD_STATE_SIZE || buf[0] != CODEC_VERSION) return LKV_EBADMSG;
  hs->term = get_le64(buf + 1);
  hs->vote = get_le64(buf + 9);
  hs->commit = get_le64(buf + 17);
  return 0;
}

/* ---- conf state and snapshot metadata ---- */

static size_t ids_size(const lkv_raft_id_t *ids, uint32_t n) {
  assert(n <= LKV_RAFT_MAX_MEMBERS);
  size_t s = lkv_varint_size(n);
  for (uint32_t i = 0; i < n; i++) s += lkv_varint_size(ids[i]);
  return s;
}

static uint8_t *put_ids(uint8_t *p, const lkv_raft_id_t *ids, uint32_t n) {
  p = put_var(p, n);
  for (uint32_t i = 0; i < n; i++) p = put_var(p, ids[i]);
  return p;
}

static int has_id(const lkv_raft_id_t *ids, uint32_t n, lkv_raft_id_t id) {
  for (uint32_t i = 0; i < n; i++)
    if (ids[i] == id) return 1;
  return 0;
}

/* Reads one id list; other (n_other ids) is the list already read, which may not share an id with it, and
 * the two together may not exceed LKV_RAFT_MAX_MEMBERS (the limit is on the cluster, not on each list). */
static uint32_t get_ids(reader_t *r, lkv_raft_id_t *ids, const lkv_raft_id_t *other, uint32_t n_other) {
  uint64_t n = get_var(r);
  if (r->bad || n > LKV_RAFT_MAX_MEMBERS - n_other) {
    r->bad = 1;
    return 0;
  }
  for (uint32_t i = 0; i < (uint32_t)n; i++) {
    lkv_raft_id_t id = get_var(r);
    if (r->bad || id == LKV_RAFT_NONE || has_id(ids, i, id) || has_id(other, n_other, id)) {
      r->bad = 1;
      return 0;
    }
    ids[i] = id;
  }
  return (uint32_t)n;
}

static size_t meta_body_size(const lkv_raft_snapshot_meta_t *meta) {
  return lkv_varint_size(meta->index) + lkv_varint_size(meta->term) +
         ids_size(meta->conf.voters, meta->conf.n_voters) +
         ids_size(meta->conf.learners, meta->conf.n_learners);
}

static uint8_t *put_meta_body(uint8_t *p, const lkv_raft_snapshot_meta_t *meta) {
  p = put_var(p, meta->index);
  p = put_var(p, meta->term);
  p = put_ids(p, meta->conf.voters, meta->conf.n_voters);
  return put_ids(p, meta->conf.learners, meta->conf.n_learners);
}

static void get_meta_body(reader_t *r, lkv_raft_snapshot_meta_t *meta) {
  meta->index = get_var(r);
  meta->term = get_var(r);
  meta->conf.n_voters = get_ids(r, meta->conf.voters, NULL, 0);
  meta->conf.n_learners = get_ids(r, meta->conf.learners, meta->conf.voters, meta->conf.n_voters);
}

size_t lkv_raft_snapshot_meta_size(const lkv_raft_snapshot_meta_t *meta) {
  return 1 + meta_body_size(meta);
}

size_t lkv_raft_snapshot_meta_encode(const lkv_raft_snapshot_meta_t *meta, uint8_t *buf, size_t cap) {
  size_t n = lkv_raft_snapshot_meta_size(meta);
  if (n > cap) return 0;
  put_meta_body(put_u8(buf, CODEC_VERSION), meta);
  return n;
}

int lkv_raft_snapshot_meta_decode(const uint8_t *buf, size_t len, lkv_raft_snapshot_meta_t *meta) {
  reader_t r = reader(buf, len);
  memset(meta, 0, sizeof(*meta));
  if (get_u8(&r) != CODEC_VERSION) return LKV_EBADMSG;
  get_meta_body(&r, meta);
  if (!r.bad && r.p == r.end) return 0;
  memset(meta, 0, sizeof(*meta));
  return LKV_EBADMSG;
}

/* ---- conf change ---- */

size_t lkv_raft_conf_change_size(const lkv_raft_conf_change_t *cc) {
  return 2 + lkv_varint_size(cc->node) + lkv_varint_size(cc->context_len) + cc->context_len;
}

size_t lkv_raft_conf_change_encode(const lkv_raft_conf_change_t *cc, uint8_t *buf, size_t cap) {
  size_t n = lkv_raft_conf_change_size(cc);
  if (n > cap) return 0;
  uint8_t *p = put_u8(buf, CODEC_VERSION);
  p = put_u8(p, cc->type);
  p = put_var(p, cc->node);
  p = put_var(p, cc->context_len);
  put_bytes(p, cc->context, cc->context_len);
  return n;
}

int lkv_raft_conf_change_decode(const uint8_t *buf, size_t len, lkv_raft_conf_change_t *cc) {
  reader_t r = reader(buf, len);
  memset(cc, 0, sizeof(*cc));
  if (get_u8(&r) != CODEC_VERSION) return LKV_EBADMSG;
  cc->type = get_u8(&r);
  cc->node = get_var(&r);
  cc->context_len = get_bytes(&r, &cc->context);
  if (!r.bad && r.p == r.end && cc->type <= LKV_RAFT_CC_REMOVE_NODE && cc->node != LKV_RAFT_NONE) return 0;
  memset(cc, 0, sizeof(*cc));
  return LKV_EBADMSG;
}

/* ---- message ---- */

static int snapshot_empty(const lkv_raft_snapshot_t *s) {
  return s->meta.index == 0 && s->meta.term == 0 && s->meta.conf.n_voters == 0 &&
         s->meta.conf.n_learners == 0 && s->len == 0;
}

static uint8_t msg_parts(const lkv_raft_msg_t *m) {
  return (uint8_t)((m->reject ? PART_REJECT : 0) | (m->n_entries ? PART_ENTRIES : 0) |
                   (snapshot_empty(&m->snapshot) ? 0 : PART_SNAPSHOT) | (m->context_len ? PART_CONTEXT : 0));
}

static size_t entry_size(const lkv_raft_entry_t *e) {
  return lkv_varint_size(e->term) + lkv_varint_size(e->index) + 1 + lkv_varint_size(e->len) + e->len;
}

size_t lkv_raft_msg_size(const lkv_raft_msg_t *m) {
  size_t n = 4 + lkv_varint_size(m->from) + lkv_varint_size(m->to) + lkv_varint_size(m->term) +
             lkv_varint_size(m->log_term) + lkv_varint_size(m->index) + lkv_varint_size(m->commit) +
             lkv_varint_size(m->reject_hint);
  if (m->n_entries) {
    n += lkv_varint_size(m->n_entries);
    for (size_t i = 0; i < m->n_entries; i++) n += entry_size(&m->entries[i]);
  }
  if (!snapshot_empty(&m->snapshot))
    n += meta_body_size(&m->snapshot.meta) + lkv_varint_size(m->snapshot.len) + m->snapshot.len;
  if (m->context_len) n += lkv_varint_size(m->context_len) + m->context_len;
  return n;
}

size_t lkv_raft_msg_encode(const lkv_raft_msg_t *m, uint8_t *buf, size_t cap) {
  size_t n = lkv_raft_msg_size(m);
  if (n > cap) return 0;
  uint8_t parts = msg_parts(m);
  uint8_t *p = put_u8(buf, CODEC_VERSION);
  p = put_u8(p, m->type);
  p = put_u8(p, m->flags);
  p = put_u8(p, parts);
  p = put_var(p, m->from);
  p = put_var(p, m->to);
  p = put_var(p, m->term);
  p = put_var(p, m->log_term);
  p = put_var(p, m->index);
  p = put_var(p, m->commit);
  p = put_var(p, m->reject_hint);
  if (parts & PART_ENTRIES) {
    p = put_var(p, m->n_entries);
    for (size_t i = 0; i < m->n_entries; i++) {
      const lkv_raft_entry_t *e = &m->entries[i];
      p = put_var(p, e->term);
      p = put_var(p, e->index);
      p = put_u8(p, e->type);
      p = put_var(p, e->len);
      p = put_bytes(p, e->data, e->len);
    }
  }
  if (parts & PART_SNAPSHOT) {
    p = put_meta_body(p, &m->snapshot.meta);
    p = put_var(p, m->snapshot.len);
    p = put_bytes(p, m->snapshot.data, m->snapshot.len);
  }
  if (parts & PART_CONTEXT) {
    p = put_var(p, m->context_len);
    p = put_bytes(p, m->context, m->context_len);
  }
  assert((size_t)(p - buf) == n);
  return n;
}

/* Reads the entries part into a malloc'd array. The count is checked against the bytes left before
 * allocating, so a forged count cannot make the decoder allocate more than the input justifies. */
static int get_entries(reader_t *r, lkv_raft_msg_t *m, lkv_raft_entry_t **entries) {
  uint64_t n = get_var(r);
  if (r->bad || n == 0 || n > left(r) / MIN_ENTRY_BYTES) return LKV_EBADMSG;
  lkv_raft_entry_t *es = malloc((size_t)n * sizeof(*es));
  if (!es) return LKV_ENOMEM;
  *entries = es;
  for (size_t i = 0; i < (size_t)n; i++) {
    es[i].term = get_var(r);
    es[i].index = get_var(r);
    es[i].type = get_u8(r);
    es[i].len = get_bytes(r, &es[i].data);
    if (r->bad || es[i].type > LKV_RAFT_ENTRY_CONF_CHANGE) return LKV_EBADMSG;
  }
  m->entries = es;
  m->n_entries = (size_t)n;
  return 0;
}

static int decode_msg(reader_t *r, lkv_raft_msg_t *m, lkv_raft_entry_t **entries) {
  if (get_u8(r) != CODEC_VERSION) return LKV_EBADMSG;
  m->type = get_u8(r);
  m->flags = get_u8(r);
  uint8_t parts = get_u8(r);
  if (r->bad || m->type < LKV_RAFT_MSG_APP || m->type > LKV_RAFT_MSG_TIMEOUT_NOW ||
      (m->flags & ~MSG_FLAGS_KNOWN) || (parts & ~PART_ALL))
    return LKV_EBADMSG;
  m->reject = (parts & PART_REJECT) ? 1 : 0;
  m->from = get_var(r);
  m->to = get_var(r);
  m->term = get_var(r);
  m->log_term = get_var(r);
  m->index = get_var(r);
  m->commit = get_var(r);
  m->reject_hint = get_var(r);
  if (r->bad || m->from == LKV_RAFT_NONE || m->to == LKV_RAFT_NONE) return LKV_EBADMSG;
  if (parts & PART_ENTRIES) {
    int rc = get_entries(r, m, entries);
    if (rc) return rc;
  }
  if (parts & PART_SNAPSHOT) {
    get_meta_body(r, &m->snapshot.meta);
    m->snapshot.len = get_bytes(r, &m->snapshot.data);
    if (r->bad || snapshot_empty(&m->snapshot)) return LKV_EBADMSG;
  }
  if (parts & PART_CONTEXT) {
    m->context_len = get_bytes(r, &m->context);
    if (r->bad || m->context_len == 0) return LKV_EBADMSG;
  }
  return r->p == r->end ? 0 : LKV_EBADMSG;
}

int lkv_raft_msg_decode(const uint8_t *buf, size_t len, lkv_raft_msg_t *m, lkv_raft_entry_t **entries) {
  reader_t r = reader(buf, len);
  memset(m, 0, sizeof(*m));
  *entries = NULL;
  int rc = decode_msg(&r, m, entries);
  if (rc) {
    free(*entries);
    *entries = NULL;
    memset(m, 0, sizeof(*m));
  }
  return rc;
}
