/* Unit tests for the Raft codecs: round trips, exact sizes, truncations, refusals, a seeded mutation loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "common/varint.h"
#include "raft/codec.h"

/* ---- helpers ---- */

static int bytes_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* p (len bytes) lies inside buf: decoded pointers must borrow the input, never copy or run past it. */
static void assert_inside(const uint8_t *p, size_t len, const uint8_t *buf, size_t buf_len) {
  if (len == 0) return;
  assert_true(p >= buf && p + len <= buf + buf_len);
}

static void assert_conf_equal(const lkv_raft_conf_state_t *a, const lkv_raft_conf_state_t *b) {
  assert_int_equal(a->n_voters, b->n_voters);
  assert_int_equal(a->n_learners, b->n_learners);
  for (uint32_t i = 0; i < a->n_voters; i++) assert_int_equal(a->voters[i], b->voters[i]);
  for (uint32_t i = 0; i < a->n_learners; i++) assert_int_equal(a->learners[i], b->learners[i]);
}

static void assert_msg_equal(const lkv_raft_msg_t *a, const lkv_raft_msg_t *b) {
  assert_int_equal(a->type, b->type);
  assert_int_equal(a->reject, b->reject);
  assert_int_equal(a->flags, b->flags);
  assert_int_equal(a->from, b->from);
  assert_int_equal(a->to, b->to);
  assert_int_equal(a->term, b->term);
  assert_int_equal(a->log_term, b->log_term);
  assert_int_equal(a->index, b->index);
  assert_int_equal(a->commit, b->commit);
  assert_int_equal(a->reject_hint, b->reject_hint);
  assert_int_equal(a->n_entries, b->n_entries);
  for (size_t i = 0; i < a->n_entries; i++) {
    assert_int_equal(a->entries[i].term, b->entries[i].term);
    assert_int_equal(a->entries[i].index, b->entries[i].index);
    assert_int_equal(a->entries[i].type, b->entries[i].type);
    assert_true(bytes_equal(a->entries[i].data, a->entries[i].len, b->entries[i].data, b->entries[i].len));
  }
  assert_int_equal(a->snapshot.meta.index, b->snapshot.meta.index);
  assert_int_equal(a->snapshot.meta.term, b->snapshot.meta.term);
  assert_conf_equal(&a->snapshot.meta.conf, &b->snapshot.meta.conf);
  assert_true(bytes_equal(a->snapshot.data, a->snapshot.len, b->snapshot.data, b->snapshot.len));
  assert_true(bytes_equal(a->context, a->context_len, b->context, b->context_len));
}

/* Encodes m, checks the size contract, decodes it back, compares, and refuses every strict prefix and
 * the encoding with one byte appended. */
static void roundtrip_msg(const lkv_raft_msg_t *m) {
  size_t n = lkv_raft_msg_size(m);
  uint8_t *buf = malloc(n + 1);
  assert_non_null(buf);
  assert_int_equal(lkv_raft_msg_encode(m, buf, n - 1), 0);
  assert_int_equal(lkv_raft_msg_encode(m, buf, n), n);

  lkv_raft_msg_t d;
  lkv_raft_entry_t *es;
  assert_int_equal(lkv_raft_msg_decode(buf, n, &d, &es), 0);
  assert_msg_equal(m, &d);
  assert_true(m->n_entries ? es == d.entries : es == NULL);
  for (size_t i = 0; i < d.n_entries; i++) assert_inside(d.entries[i].data, d.entries[i].len, buf, n);
  assert_inside(d.snapshot.data, d.snapshot.len, buf, n);
  assert_inside(d.context, d.context_len, buf, n);
  free(es);

  for (size_t cut = 0; cut < n; cut++) {
    assert_int_equal(lkv_raft_msg_decode(buf, cut, &d, &es), LKV_EBADMSG);
    assert_null(es);
  }
  buf[n] = 0;
  assert_int_equal(lkv_raft_msg_decode(buf, n + 1, &d, &es), LKV_EBADMSG);
  free(buf);
}

/* A small byte builder for hand-made (often malformed) inputs. */
typedef struct {
  uint8_t b[512];
  size_t n;
} bb_t;

static void bb_u8(bb_t *w, uint8_t v) {
  w->b[w->n++] = v;
}

static void bb_var(bb_t *w, uint64_t v) {
  w->n += lkv_varint_put(w->b + w->n, v);
}

/* A message header with the given type, parts byte and from/to, all numbers 1. */
static void bb_msg_head(bb_t *w, uint8_t type, uint8_t parts, uint64_t from, uint64_t to) {
  bb_u8(w, 1);
  bb_u8(w, type);
  bb_u8(w, 0);
  bb_u8(w, parts);
  bb_var(w, from);
  bb_var(w, to);
  for (int i = 0; i < 5; i++) bb_var(w, 1);
}

static int decode_msg_rc(const bb_t *w) {
  lkv_raft_msg_t m;
  lkv_raft_entry_t *es;
  int rc = lkv_raft_msg_decode(w->b, w->n, &m, &es);
  free(es);
  return rc;
}

static const uint8_t payload[300] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const uint8_t ctx[] = "read-7";

/* ---- tests ---- */

static void test_varint_get_is_strict(void **state) {
  (void)state;
  uint8_t b[12];
  uint64_t v;
  const uint64_t vals[] = {0, 1, 127, 128, 300, UINT32_MAX, UINT64_MAX / 3, UINT64_MAX};
  for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
    size_t n = lkv_varint_put(b, vals[i]);
    assert_int_equal(lkv_varint_get(b, n, &v), n);
    assert_true(v == vals[i]);
    assert_int_equal(lkv_varint_get(b, n - 1, &v), 0);
  }
  const uint8_t padded[] = {0x80, 0x00}; /* 0 in two bytes */
  assert_int_equal(lkv_varint_get(padded, 2, &v), 0);
  const uint8_t padded2[] = {0x81, 0x80, 0x00};
  assert_int_equal(lkv_varint_get(padded2, 3, &v), 0);
  uint8_t over[11];
  memset(over, 0xff, 9);
  over[9] = 0x02; /* bit 64 */
  assert_int_equal(lkv_varint_get(over, 10, &v), 0);
  memset(over, 0x80, 11); /* eleven bytes */
  over[10] = 0x01;
  assert_int_equal(lkv_varint_get(over, 11, &v), 0);
}

static void test_hard_state(void **state) {
  (void)state;
  lkv_raft_hard_state_t hs = {.term = 0x0102030405060708ull, .vote = 3, .commit = UINT64_MAX}, d;
  uint8_t b[LKV_RAFT_HARD_STATE_SIZE + 1];
  lkv_raft_hard_state_encode(&hs, b);
  const uint8_t want[LKV_RAFT_HARD_STATE_SIZE] = {
      1, 8, 7, 6, 5, 4, 3, 2, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  assert_memory_equal(b, want, sizeof(want));
  assert_int_equal(lkv_raft_hard_state_decode(b, LKV_RAFT_HARD_STATE_SIZE, &d), 0);
  assert_true(d.term == hs.term && d.vote == hs.vote && d.commit == hs.commit);
  for (size_t cut = 0; cut < LKV_RAFT_HARD_STATE_SIZE; cut++)
    assert_int_equal(lkv_raft_hard_state_decode(b, cut, &d), LKV_EBADMSG);
  assert_int_equal(lkv_raft_hard_state_decode(b, LKV_RAFT_HARD_STATE_SIZE + 1, &d), LKV_EBADMSG);
  b[0] = 2;
  assert_int_equal(lkv_raft_hard_state_decode(b, LKV_RAFT_HARD_STATE_SIZE, &d), LKV_EBADMSG);
  assert_int_equal(lkv_raft_hard_state_decode(NULL, 0, &d), LKV_EBADMSG);
}

static void test_conf_change(void **state) {
  (void)state;
  for (uint8_t type = LKV_RAFT_CC_ADD_NODE; type <= LKV_RAFT_CC_REMOVE_NODE; type++) {
    for (int with_ctx = 0; with_ctx < 2; with_ctx++) {
      lkv_raft_conf_change_t cc = {.type = type, .node = with_ctx ? UINT64_MAX : 7}, d;
      if (with_ctx) {
        cc.context = payload;
        cc.context_len = sizeof(payload);
      }
      size_t n = lkv_raft_conf_change_size(&cc);
      uint8_t b[400];
      assert_int_equal(lkv_raft_conf_change_encode(&cc, b, n - 1), 0);
      assert_int_equal(lkv_raft_conf_change_encode(&cc, b, n), n);
      assert_int_equal(lkv_raft_conf_change_decode(b, n, &d), 0);
      assert_int_equal(d.type, type);
      assert_true(d.node == cc.node);
      assert_true(bytes_equal(d.context, d.context_len, cc.context, cc.context_len));
      assert_inside(d.context, d.context_len, b, n);
      for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(lkv_raft_conf_change_decode(b, cut, &d), LKV_EBADMSG);
      b[n] = 0;
      assert_int_equal(lkv_raft_conf_change_decode(b, n + 1, &d), LKV_EBADMSG);
    }
  }
  /* The exact layout (docs/raft.md): version, type, node, context length, context. */
  lkv_raft_conf_change_t cc = {
      .type = LKV_RAFT_CC_ADD_LEARNER, .node = 300, .context = ctx, .context_len = 2};
  uint8_t b[16];
  const uint8_t want[] = {1, 1, 0xac, 0x02, 2, 'r', 'e'};
  assert_int_equal(lkv_raft_conf_change_encode(&cc, b, sizeof(b)), sizeof(want));
  assert_memory_equal(b, want, sizeof(want));

  lkv_raft_conf_change_t d;
  const uint8_t bad_type[] = {1, 3, 5, 0};
  const uint8_t node_zero[] = {1, 0, 0, 0};
  const uint8_t bad_version[] = {2, 0, 5, 0};
  const uint8_t ctx_overrun[] = {1, 0, 5, 3, 'a', 'b'};
  const uint8_t padded_node[] = {1, 0, 0x85, 0x00, 0};
  assert_int_equal(lkv_raft_conf_change_decode(bad_type, sizeof(bad_type), &d), LKV_EBADMSG);
  assert_int_equal(lkv_raft_conf_change_decode(node_zero, sizeof(node_zero), &d), LKV_EBADMSG);
  assert_int_equal(lkv_raft_conf_change_decode(bad_version, sizeof(bad_version), &d), LKV_EBADMSG);
  assert_int_equal(lkv_raft_conf_change_decode(ctx_overrun, sizeof(ctx_overrun), &d), LKV_EBADMSG);
  assert_int_equal(lkv_raft_conf_change_decode(padded_node, sizeof(padded_node), &d), LKV_EBADMSG);
  const uint8_t ok[] = {1, 2, 5, 0};
  assert_int_equal(lkv_raft_conf_change_decode(ok, sizeof(ok), &d), 0);
  assert_true(d.type == LKV_RAFT_CC_REMOVE_NODE && d.node == 5 && d.context == NULL && d.context_len == 0);
}

static void fill_conf(lkv_raft_conf_state_t *c, uint32_t nv, uint32_t nl) {
  memset(c, 0, sizeof(*c));
  for (uint32_t i = 0; i < nv; i++) c->voters[c->n_voters++] = 1 + i * 1000003ull;
  for (uint32_t i = 0; i < nl; i++) c->learners[c->n_learners++] = UINT64_MAX - i;
}

static void test_snapshot_meta(void **state) {
  (void)state;
  const uint32_t shapes[][2] = {{0, 0},  {1, 0}, {3, 2}, {LKV_RAFT_MAX_MEMBERS, 0}, {0, LKV_RAFT_MAX_MEMBERS},
                                {16, 16}};
  for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
    lkv_raft_snapshot_meta_t meta = {.index = 1000 + s, .term = 7}, d;
    fill_conf(&meta.conf, shapes[s][0], shapes[s][1]);
    size_t n = lkv_raft_snapshot_meta_size(&meta);
    uint8_t b[700];
    assert_int_equal(lkv_raft_snapshot_meta_encode(&meta, b, n - 1), 0);
    assert_int_equal(lkv_raft_snapshot_meta_encode(&meta, b, n), n);
    assert_int_equal(lkv_raft_snapshot_meta_decode(b, n, &d), 0);
    assert_true(d.index == meta.index && d.term == meta.term);
    assert_conf_equal(&d.conf, &meta.conf);
    for (size_t cut = 0; cut < n; cut++)
      assert_int_equal(lkv_raft_snapshot_meta_decode(b, cut, &d), LKV_EBADMSG);
    b[n] = 0;
    assert_int_equal(lkv_raft_snapshot_meta_decode(b, n + 1, &d), LKV_EBADMSG);
  }

  lkv_raft_snapshot_meta_t d;
  bb_t w = {.n = 0};
  bb_u8(&w, 1), bb_var(&w, 5), bb_var(&w, 2), bb_var(&w, LKV_RAFT_MAX_MEMBERS + 1);
  for (int i = 0; i < LKV_RAFT_MAX_MEMBERS + 1; i++) bb_var(&w, (uint64_t)i + 1);
  bb_var(&w, 0);
  assert_int_equal(lkv_raft_snapshot_meta_decode(w.b, w.n, &d), LKV_EBADMSG); /* 33 voters */
  w.n = 0;
  bb_u8(&w, 1), bb_var(&w, 5), bb_var(&w, 2), bb_var(&w, 17);
  for (int i = 0; i < 17; i++) bb_var(&w, (uint64_t)i + 1);
  bb_var(&w, 16);
  for (int i = 0; i < 16; i++) bb_var(&w, (uint64_t)i + 100);
  assert_int_equal(lkv_raft_snapshot_meta_decode(w.b, w.n, &d), LKV_EBADMSG); /* 33 members in all */
  w.b[3] = 16, memmove(w.b + 4, w.b + 5, w.n - 5), w.n--;                     /* drop a voter: 32 members */
  assert_int_equal(lkv_raft_snapshot_meta_decode(w.b, w.n, &d), 0);
  assert_true(d.conf.n_voters == 16 && d.conf.n_learners == 16 && d.conf.learners[15] == 115);
  const uint8_t dup_voter[] = {1, 5, 2, 2, 4, 4, 0};
  const uint8_t zero_voter[] = {1, 5, 2, 2, 4, 0, 0};
  const uint8_t dup_learner[] = {1, 5, 2, 1, 4, 2, 6, 6};
  const uint8_t voter_and_learner[] = {1, 5, 2, 2, 4, 6, 1, 6};
  const uint8_t zero_learner[] = {1, 5, 2, 1, 4, 1, 0};
  const uint8_t count_overrun[] = {1, 5, 2, 3, 4, 6};
  const uint8_t ok[] = {1, 5, 2, 2, 4, 6, 1, 9};
  assert_int_equal(lkv_raft_snapshot_meta_decode(dup_voter, sizeof(dup_voter), &d), LKV_EBADMSG);
  assert_int_equal(lkv_raft_snapshot_meta_decode(zero_voter, sizeof(zero_voter), &d), LKV_EBADMSG);
  assert_int_equal(lkv_raft_snapshot_meta_decode(dup_learner, sizeof(dup_learner), &d), LKV_EBADMSG);
  assert_int_equal(lkv_raft_snapshot_meta_decode(voter_and_learner, sizeof(voter_and_learner), &d),
                   LKV_EBADMSG);
  assert_int_equal(lkv_raft_snapshot_meta_decode(zero_learner, sizeof(zero_learner), &d), LKV_EBADMSG);
  assert_int_equal(lkv_raft_snapshot_meta_decode(count_overrun, sizeof(count_overrun), &d), LKV_EBADMSG);
  assert_int_equal(lkv_raft_snapshot_meta_decode(ok, sizeof(ok), &d), 0);
  assert_true(d.index == 5 && d.term == 2 && d.conf.n_voters == 2 && d.conf.voters[1] == 6 &&
              d.conf.n_learners == 1 && d.conf.learners[0] == 9);
}

static lkv_raft_entry_t test_entries[3];

/* m of type, with the parts chosen by bits 0..2 of shape (entries, snapshot, context); numbers vary with
 * the type so small and ten-byte varints both appear. */
static void make_msg(lkv_raft_msg_t *m, uint8_t type, unsigned shape) {
  memset(m, 0, sizeof(*m));
  m->type = type;
  m->reject = type % 2;
  m->flags = (type == LKV_RAFT_MSG_VOTE || type == LKV_RAFT_MSG_PRE_VOTE) ? LKV_RAFT_MSG_FLAG_TRANSFER : 0;
  m->from = type;
  m->to = UINT64_MAX - type;
  m->term = (uint64_t)type << 40;
  m->log_term = type > 7 ? UINT64_MAX : 0;
  m->index = 127 + type;
  m->commit = 1;
  m->reject_hint = type * 1000;
  if (shape & 1) {
    test_entries[0] = (lkv_raft_entry_t){.term = 5, .index = 10, .type = LKV_RAFT_ENTRY_NORMAL};
    test_entries[1] = (lkv_raft_entry_t){.term = 5, .index = 11, .data = payload, .len = 128};
    test_entries[2] = (lkv_raft_entry_t){
        .term = 6, .index = 12, .type = LKV_RAFT_ENTRY_CONF_CHANGE, .data = payload + 1, .len = 3};
    m->entries = test_entries;
    m->n_entries = 1 + type % 3;
  }
  if (shape & 2) {
    m->snapshot.meta.index = 9000;
    m->snapshot.meta.term = 4;
    fill_conf(&m->snapshot.meta.conf, 3, type % 3);
    if (type % 2) {
      m->snapshot.data = payload;
      m->snapshot.len = sizeof(payload);
    }
  }
  if (shape & 4) {
    m->context = ctx;
    m->context_len = sizeof(ctx);
  }
}

static void test_msg_roundtrips(void **state) {
  (void)state;
  for (uint8_t type = LKV_RAFT_MSG_APP; type <= LKV_RAFT_MSG_TIMEOUT_NOW; type++) {
    for (unsigned shape = 0; shape < 8; shape++) {
      lkv_raft_msg_t m;
      make_msg(&m, type, shape);
      roundtrip_msg(&m);
    }
  }
  /* A snapshot with data only (zero metadata) is still a snapshot part. */
  lkv_raft_msg_t m = {.type = LKV_RAFT_MSG_SNAP, .from = 1, .to = 2};
  m.snapshot.data = payload;
  m.snapshot.len = 1;
  roundtrip_msg(&m);
  /* Many entries, each empty. */
  static lkv_raft_entry_t many[300];
  for (size_t i = 0; i < 300; i++) many[i] = (lkv_raft_entry_t){.term = 3, .index = 100 + i};
  m = (lkv_raft_msg_t){.type = LKV_RAFT_MSG_APP, .from = 1, .to = 2, .entries = many, .n_entries = 300};
  roundtrip_msg(&m);
}

static void test_msg_layout(void **state) {
  (void)state;
  /* A heartbeat with a context, byte by byte (docs/raft.md). */
  lkv_raft_msg_t m = {.type = LKV_RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 3, .commit = 200};
  m.context = ctx;
  m.context_len = 2;
  const uint8_t want[] = {1, LKV_RAFT_MSG_HEARTBEAT, 0, 0x8, 1, 2, 3, 0, 0, 0xc8, 0x01, 0, 2, 'r', 'e'};
  uint8_t b[32];
  assert_int_equal(lkv_raft_msg_encode(&m, b, sizeof(b)), sizeof(want));
  assert_memory_equal(b, want, sizeof(want));
  /* An append with one entry and reject set (parts 0x3). */
  lkv_raft_entry_t e = {.term = 2, .index = 9, .type = 1, .data = ctx, .len = 1};
  m = (lkv_raft_msg_t){
      .type = LKV_RAFT_MSG_APP, .reject = 1, .from = 1, .to = 2, .entries = &e, .n_entries = 1};
  const uint8_t want2[] = {1, LKV_RAFT_MSG_APP, 0, 0x3, 1, 2, 0, 0, 0, 0, 0, 1, 2, 9, 1, 1, 'r'};
  assert_int_equal(lkv_raft_msg_encode(&m, b, sizeof(b)), sizeof(want2));
  assert_memory_equal(b, want2, sizeof(want2));
}

static void test_msg_refusals(void **state) {
  (void)state;
  bb_t w;
#define RESET() (w.n = 0)
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_VOTE, 0, 1, 2);
  assert_int_equal(decode_msg_rc(&w), 0); /* the base case is valid */
  w.b[0] = 2;
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* version */
  RESET(), bb_msg_head(&w, 0, 0, 1, 2);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* type 0 */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_TIMEOUT_NOW + 1, 0, 1, 2);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* type 15 */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_VOTE, 0, 1, 2);
  w.b[2] = 0x2;
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* unknown flag */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_VOTE, 0x10, 1, 2);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* unknown part */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_VOTE, 0, 0, 2);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* from 0 */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_VOTE, 0, 1, 0);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* to 0 */

  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_APP, 0x2, 1, 2), bb_var(&w, 0);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* entries part with no entries */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_APP, 0x2, 1, 2), bb_var(&w, UINT64_MAX);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* a forged count: refused before allocating */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_APP, 0x2, 1, 2), bb_var(&w, 2);
  for (int i = 0; i < 4; i++) bb_u8(&w, 0); /* one entry's worth of bytes for two */
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG);
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_APP, 0x2, 1, 2), bb_var(&w, 1);
  bb_var(&w, 1), bb_var(&w, 1), bb_u8(&w, 2), bb_var(&w, 0);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* entry type 2 */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_APP, 0x2, 1, 2), bb_var(&w, 1);
  bb_var(&w, 1), bb_var(&w, 1), bb_u8(&w, 0), bb_var(&w, 5), bb_u8(&w, 'x');
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* entry data overruns */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_APP, 0x2, 1, 2), bb_var(&w, 1);
  bb_var(&w, 1), bb_var(&w, 1), bb_u8(&w, 0), bb_var(&w, 1), bb_u8(&w, 'x');
  assert_int_equal(decode_msg_rc(&w), 0); /* and the same, well formed */

  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_SNAP, 0x4, 1, 2);
  for (int i = 0; i < 5; i++) bb_var(&w, 0);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* snapshot part, all zero */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_SNAP, 0x4, 1, 2);
  bb_var(&w, 9), bb_var(&w, 2), bb_var(&w, 2), bb_var(&w, 3), bb_var(&w, 3), bb_var(&w, 0), bb_var(&w, 0);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* duplicate voter in the snapshot */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_SNAP, 0x4, 1, 2);
  bb_var(&w, 9), bb_var(&w, 2), bb_var(&w, 1), bb_var(&w, 3), bb_var(&w, 0), bb_var(&w, 4), bb_u8(&w, 'z');
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* snapshot data overruns */

  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_HEARTBEAT, 0x8, 1, 2), bb_var(&w, 0);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* context part, empty */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_HEARTBEAT, 0x8, 1, 2), bb_var(&w, 1);
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG); /* context overruns */
  RESET(), bb_msg_head(&w, LKV_RAFT_MSG_HEARTBEAT, 0, 1, 2);
  w.b[9] = 0x80, w.b[10] = 0x00, bb_var(&w, 1); /* commit written as a padded zero: a non-unique form */
  assert_int_equal(decode_msg_rc(&w), LKV_EBADMSG);
  w.b[9] = 0x00, w.b[10] = 0x01, w.n--; /* the same message in its one form */
  assert_int_equal(decode_msg_rc(&w), 0);
  assert_int_equal(lkv_raft_msg_decode(NULL, 0, &(lkv_raft_msg_t){0}, &(lkv_raft_entry_t *){NULL}),
                   LKV_EBADMSG);
#undef RESET
}

/* ---- the mutation loop ---- */

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

typedef struct {
  uint8_t b[1024];
  size_t n;
} sample_t;

/* Valid encodings of every form, the seeds the mutations start from. */
static size_t build_corpus(sample_t *out, size_t cap) {
  size_t k = 0;
  for (uint8_t type = LKV_RAFT_MSG_APP; type <= LKV_RAFT_MSG_TIMEOUT_NOW && k < cap; type++) {
    lkv_raft_msg_t m;
    make_msg(&m, type, type % 8);
    if (m.snapshot.len) m.snapshot.len = 20; /* keep samples small: mutations then hit headers more often */
    if (m.n_entries) test_entries[1].len = 16;
    out[k].n = lkv_raft_msg_encode(&m, out[k].b, sizeof(out[k].b));
    assert_true(out[k++].n > 0);
  }
  lkv_raft_conf_change_t cc = {.type = LKV_RAFT_CC_ADD_LEARNER, .node = 77, .context = ctx, .context_len = 4};
  out[k].n = lkv_raft_conf_change_encode(&cc, out[k].b, sizeof(out[k].b));
  k++;
  lkv_raft_snapshot_meta_t meta = {.index = 50, .term = 3};
  fill_conf(&meta.conf, 3, 2);
  out[k].n = lkv_raft_snapshot_meta_encode(&meta, out[k].b, sizeof(out[k].b));
  k++;
  lkv_raft_hard_state_t hs = {.term = 9, .vote = 2, .commit = 40};
  lkv_raft_hard_state_encode(&hs, out[k].b);
  out[k++].n = LKV_RAFT_HARD_STATE_SIZE;
  return k;
}

static void mutate(uint64_t *rng, uint8_t *b, size_t *n, size_t cap) {
  int ops = 1 + (int)(xorshift(rng) % 4);
  for (int o = 0; o < ops; o++) {
    uint64_t r = xorshift(rng);
    size_t at = *n ? (size_t)(r >> 8) % *n : 0;
    switch (r % 6) {
      case 0: /* flip a bit */
        if (*n) b[at] ^= (uint8_t)(1u << ((r >> 40) % 8));
        break;
      case 1: /* set a byte to an interesting value */
        if (*n) b[at] = (const uint8_t[]){0, 1, 0x7f, 0x80, 0xff, 32, 33}[(r >> 40) % 7];
        break;
      case 2: /* truncate */
        *n = at;
        break;
      case 3: /* insert a byte */
        if (*n < cap) {
          memmove(b + at + 1, b + at, *n - at);
          b[at] = (uint8_t)(r >> 48);
          (*n)++;
        }
        break;
      case 4: /* delete a byte */
        if (*n) {
          memmove(b + at, b + at + 1, *n - at - 1);
          (*n)--;
        }
        break;
      default: /* random byte */
        if (*n) b[at] = (uint8_t)(r >> 48);
        break;
    }
  }
}

/* Decodes b with every decoder. Whatever one accepts must re-encode to exactly b (encodings are unique),
 * so a decoder can neither accept garbage silently nor lose a field. Returns how many accepted. */
static int check_all_decoders(const uint8_t *b, size_t n) {
  int accepted = 0;
  uint8_t out[1100];
  lkv_raft_msg_t m;
  lkv_raft_entry_t *es;
  if (lkv_raft_msg_decode(b, n, &m, &es) == 0) {
    accepted++;
    assert_int_equal(lkv_raft_msg_size(&m), n);
    assert_int_equal(lkv_raft_msg_encode(&m, out, sizeof(out)), n);
    assert_memory_equal(out, b, n);
  } else {
    assert_null(es);
  }
  free(es);
  lkv_raft_conf_change_t cc;
  if (lkv_raft_conf_change_decode(b, n, &cc) == 0) {
    accepted++;
    assert_int_equal(lkv_raft_conf_change_encode(&cc, out, sizeof(out)), n);
    assert_memory_equal(out, b, n);
  }
  lkv_raft_snapshot_meta_t meta;
  if (lkv_raft_snapshot_meta_decode(b, n, &meta) == 0) {
    accepted++;
    assert_int_equal(lkv_raft_snapshot_meta_encode(&meta, out, sizeof(out)), n);
    assert_memory_equal(out, b, n);
  }
  lkv_raft_hard_state_t hs;
  if (lkv_raft_hard_state_decode(b, n, &hs) == 0) {
    accepted++;
    lkv_raft_hard_state_encode(&hs, out);
    assert_memory_equal(out, b, n);
  }
  return accepted;
}

static void test_mutations(void **state) {
  (void)state;
  static sample_t corpus[24];
  size_t k = build_corpus(corpus, 20);
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  size_t accepted = 0, refused = 0;
  for (int iter = 0; iter < 100000; iter++) {
    const sample_t *s = &corpus[xorshift(&rng) % k];
    /* Mutants live in an exactly sized heap block so ASan sees any read past the end. */
    uint8_t tmp[1024 + 8];
    size_t n = s->n;
    memcpy(tmp, s->b, n);
    mutate(&rng, tmp, &n, sizeof(tmp));
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    memcpy(b, tmp, n);
    if (check_all_decoders(b, n))
      accepted++;
    else
      refused++;
    free(b);
  }
  print_message("mutations: %zu accepted, %zu refused\n", accepted, refused);
  /* Both outcomes must be common, or the loop tested little (all refused: the mutations are too coarse). */
  assert_true(accepted > 1000);
  assert_true(refused > 10000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_varint_get_is_strict), cmocka_unit_test(test_hard_state),
      cmocka_unit_test(test_conf_change),          cmocka_unit_test(test_snapshot_meta),
      cmocka_unit_test(test_msg_roundtrips),       cmocka_unit_test(test_msg_layout),
      cmocka_unit_test(test_msg_refusals),         cmocka_unit_test(test_mutations),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
