/* libFuzzer target for the Raft codecs: whatever a decoder accepts re-encodes to the same bytes and decodes
 * to the same value again. How to build and run it: docs/testing.md (fuzzing). */
#include "fuzz.h"
#include "raft/codec.h"

static int same_conf(const lkv_raft_conf_state_t *a, const lkv_raft_conf_state_t *b) {
  return a->n_voters == b->n_voters && a->n_learners == b->n_learners &&
         memcmp(a->voters, b->voters, a->n_voters * sizeof(a->voters[0])) == 0 &&
         memcmp(a->learners, b->learners, a->n_learners * sizeof(a->learners[0])) == 0;
}

static int same_msg(const lkv_raft_msg_t *a, const lkv_raft_msg_t *b) {
  if (a->type != b->type || a->reject != b->reject || a->flags != b->flags || a->from != b->from ||
      a->to != b->to || a->term != b->term || a->log_term != b->log_term || a->index != b->index ||
      a->commit != b->commit || a->reject_hint != b->reject_hint || a->n_entries != b->n_entries)
    return 0;
  for (size_t i = 0; i < a->n_entries; i++) {
    const lkv_raft_entry_t *x = &a->entries[i], *y = &b->entries[i];
    if (x->term != y->term || x->index != y->index || x->type != y->type ||
        !lkv_fuzz_same_bytes(x->data, x->len, y->data, y->len))
      return 0;
  }
  return a->snapshot.meta.index == b->snapshot.meta.index && a->snapshot.meta.term == b->snapshot.meta.term &&
         same_conf(&a->snapshot.meta.conf, &b->snapshot.meta.conf) &&
         lkv_fuzz_same_bytes(a->snapshot.data, a->snapshot.len, b->snapshot.data, b->snapshot.len) &&
         lkv_fuzz_same_bytes(a->context, a->context_len, b->context, b->context_len);
}

static void fuzz_msg(const uint8_t *data, size_t size) {
  lkv_raft_msg_t m, m2;
  lkv_raft_entry_t *es, *es2;
  if (lkv_raft_msg_decode(data, size, &m, &es) != 0) {
    lkv_fuzz_require(es == NULL);
    return;
  }
  size_t n = lkv_raft_msg_size(&m);
  lkv_fuzz_require(n == size);
  uint8_t *out = malloc(n);
  lkv_fuzz_require(out != NULL);
  lkv_fuzz_require(lkv_raft_msg_encode(&m, out, n - 1) == 0);
  lkv_fuzz_require(lkv_raft_msg_encode(&m, out, n) == n);
  lkv_fuzz_require(memcmp(out, data, n) == 0);
  lkv_fuzz_require(lkv_raft_msg_decode(out, n, &m2, &es2) == 0);
  lkv_fuzz_require(same_msg(&m, &m2));
  free(es2);
  free(out);
  free(es);
}

static void fuzz_conf_change(const uint8_t *data, size_t size) {
  lkv_raft_conf_change_t cc, cc2;
  if (lkv_raft_conf_change_decode(data, size, &cc) != 0) return;
  uint8_t *out = malloc(size);
  lkv_fuzz_require(out != NULL);
  lkv_fuzz_require(lkv_raft_conf_change_size(&cc) == size &&
                   lkv_raft_conf_change_encode(&cc, out, size) == size);
  lkv_fuzz_require(memcmp(out, data, size) == 0);
  lkv_fuzz_require(lkv_raft_conf_change_decode(out, size, &cc2) == 0);
  lkv_fuzz_require(cc.type == cc2.type && cc.node == cc2.node &&
                   lkv_fuzz_same_bytes(cc.context, cc.context_len, cc2.context, cc2.context_len));
  free(out);
}

static void fuzz_snapshot_meta(const uint8_t *data, size_t size) {
  lkv_raft_snapshot_meta_t meta, meta2;
  if (lkv_raft_snapshot_meta_decode(data, size, &meta) != 0) return;
  uint8_t *out = malloc(size);
  lkv_fuzz_require(out != NULL);
  lkv_fuzz_require(lkv_raft_snapshot_meta_size(&meta) == size &&
                   lkv_raft_snapshot_meta_encode(&meta, out, size) == size);
  lkv_fuzz_require(memcmp(out, data, size) == 0);
  lkv_fuzz_require(lkv_raft_snapshot_meta_decode(out, size, &meta2) == 0);
  lkv_fuzz_require(meta.index == meta2.index && meta.term == meta2.term &&
                   same_conf(&meta.conf, &meta2.conf));
  free(out);
}

static void fuzz_hard_state(const uint8_t *data, size_t size) {
  lkv_raft_hard_state_t hs, hs2;
  uint8_t out[LKV_RAFT_HARD_STATE_SIZE];
  if (lkv_raft_hard_state_decode(data, size, &hs) != 0) return;
  lkv_raft_hard_state_encode(&hs, out);
  lkv_fuzz_require(size == sizeof(out) && memcmp(out, data, size) == 0);
  lkv_fuzz_require(lkv_raft_hard_state_decode(out, sizeof(out), &hs2) == 0);
  lkv_fuzz_require(hs.term == hs2.term && hs.vote == hs2.vote && hs.commit == hs2.commit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_msg(data, size);
  fuzz_conf_change(data, size);
  fuzz_snapshot_meta(data, size);
  fuzz_hard_state(data, size);
  return 0;
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  uint8_t buf[512];
  lkv_raft_conf_change_t cc = {
      .type = LKV_RAFT_CC_ADD_LEARNER, .node = 9, .context = (const uint8_t *)"ctx", .context_len = 3};
  add(arg, buf, lkv_raft_conf_change_encode(&cc, buf, sizeof(buf)));
  const lkv_raft_entry_t es[] = {
      {.term = 2, .index = 5, .type = LKV_RAFT_ENTRY_NORMAL, .data = (const uint8_t *)"put", .len = 3},
      {.term = 2, .index = 6, .type = LKV_RAFT_ENTRY_CONF_CHANGE, .data = buf, .len = 3}};
  lkv_raft_msg_t app = {.type = LKV_RAFT_MSG_APP,
                        .from = 1,
                        .to = 2,
                        .term = 2,
                        .log_term = 1,
                        .index = 4,
                        .commit = 4,
                        .entries = es,
                        .n_entries = 2};
  uint8_t msg[512];
  add(arg, msg, lkv_raft_msg_encode(&app, msg, sizeof(msg)));
  lkv_raft_msg_t hb = {.type = LKV_RAFT_MSG_HEARTBEAT,
                       .from = 1,
                       .to = 3,
                       .term = 2,
                       .commit = 6,
                       .context = (const uint8_t *)"read",
                       .context_len = 4};
  add(arg, msg, lkv_raft_msg_encode(&hb, msg, sizeof(msg)));
  lkv_raft_msg_t snap = {
      .type = LKV_RAFT_MSG_SNAP,
      .from = 1,
      .to = 2,
      .term = 3,
      .snapshot = {.meta = {.index = 10,
                            .term = 3,
                            .conf = {.voters = {1, 2}, .n_voters = 2, .learners = {9}, .n_learners = 1}}}};
  add(arg, msg, lkv_raft_msg_encode(&snap, msg, sizeof(msg)));
  add(arg, msg, lkv_raft_snapshot_meta_encode(&snap.snapshot.meta, msg, sizeof(msg)));
  lkv_raft_hard_state_t hs = {.term = 3, .vote = 1, .commit = 6};
  lkv_raft_hard_state_encode(&hs, msg);
  add(arg, msg, LKV_RAFT_HARD_STATE_SIZE);
}
