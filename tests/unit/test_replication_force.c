/* Tests for --force-new-cluster on a member's durable log (src/replication/raft_force.c): what is kept,
 * what is discarded, which membership changes are appended and committed, and when nothing is written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "raft/codec.h"
#include "replication/raft_internal.h"
#include "wal_testutil.h"

#define TERM 3

/* A log being built: its entries' data live in bufs until saved. */
typedef struct {
  wt_log_t log;
  lkv_raft_entry_t e[16];
  uint8_t bufs[16][64];
  size_t n;
  lkv_raft_snapshot_meta_t snap; /* the log starts after it (index 0: none) */
} plan_t;

static void conf(plan_t *p, uint8_t type, uint64_t node) {
  lkv_raft_conf_change_t cc = {.type = type, .node = node};
  size_t i = p->n++;
  size_t len = lkv_raft_conf_change_encode(&cc, p->bufs[i], sizeof(p->bufs[i]));
  assert_true(len > 0);
  p->e[i] = (lkv_raft_entry_t){.term = TERM,
                               .index = p->snap.index + i + 1,
                               .type = LKV_RAFT_ENTRY_CONF_CHANGE,
                               .data = p->bufs[i],
                               .len = len};
}

static void normal(plan_t *p) {
  size_t i = p->n++;
  p->bufs[i][0] = (uint8_t)i;
  p->e[i] = (lkv_raft_entry_t){.term = TERM, .index = p->snap.index + i + 1, .data = p->bufs[i], .len = 1};
}

/* Saves the planned entries with commit index commit and forces member self on the reopened log.
 * Returns force_alone's code; p->log.r is the log as it is afterwards. */
static int force(plan_t *p, uint64_t commit, uint64_t self, char *err, size_t errlen) {
  wt_start(&p->log, (lkv_wal_options_t){0});
  lkv_raft_hard_state_t hs = {.term = TERM, .vote = self, .commit = commit};
  if (p->n || p->snap.index) /* else: a log that was never written */
    assert_int_equal(lkv_wal_save(p->log.w, &hs, p->snap.index ? &p->snap : NULL, p->e, p->n), 0);
  wt_log_reopen(&p->log);
  lkv__raft_node_t n = {.wal = p->log.w, .o = {.member_id = self, .cluster_id = 9, .wal_dir = p->log.dir}};
  int rc = lkv__raft_node_force_alone(&n, &p->log.r, err, errlen);
  wt_log_reopen(&p->log);
  return rc;
}

/* Entry i of the log after forcing is a membership change of type on node, written by self. */
static void expect_change(const plan_t *p, size_t i, uint8_t type, uint64_t node, uint64_t self) {
  const lkv_raft_entry_t *e = &p->log.r.entries[i];
  assert_int_equal(e->index, p->snap.index + i + 1);
  assert_int_equal(e->term, TERM);
  assert_int_equal(e->type, LKV_RAFT_ENTRY_CONF_CHANGE);
  lkv_raft_conf_change_t cc;
  assert_int_equal(lkv_raft_conf_change_decode(e->data, e->len, &cc), 0);
  assert_int_equal(cc.type, type);
  assert_int_equal(cc.node, node);
  /* raft_conf.c's context (version 1, origin, seq 0, promote flag): validated when applied */
  uint8_t *want;
  size_t want_len;
  assert_int_equal(
      lkv__raft_node_conf_context(self, 0, type == LKV_RAFT_CC_ADD_NODE, NULL, 0, &want, &want_len), 0);
  assert_int_equal(cc.context_len, want_len);
  assert_memory_equal(cc.context, want, want_len);
  free(want);
}

/* The committed entries are kept; the uncommitted ones (a member being added among them) are replaced by
 * the removal of every other member the committed log names, committed. */
static void test_removes_the_others_and_discards_the_tail(void **state) {
  (void)state;
  plan_t p = {0};
  conf(&p, LKV_RAFT_CC_ADD_NODE, 1);
  conf(&p, LKV_RAFT_CC_ADD_NODE, 2);
  conf(&p, LKV_RAFT_CC_ADD_NODE, 3);
  normal(&p);
  conf(&p, LKV_RAFT_CC_ADD_LEARNER, 4);
  conf(&p, LKV_RAFT_CC_REMOVE_NODE, 3); /* index 6: removed before, still named (cancelled when applied) */
  normal(&p);                           /* 7: the commit index */
  normal(&p);                           /* 8, 9: uncommitted */
  conf(&p, LKV_RAFT_CC_ADD_NODE, 5);
  char err[256] = "";
  assert_int_equal(force(&p, 7, 1, err, sizeof(err)), 1);
  const lkv_raft_restore_t *r = &p.log.r;
  assert_int_equal(r->n_entries, 10);
  for (size_t i = 0; i < 7; i++) {
    assert_int_equal(r->entries[i].index, p.e[i].index);
    assert_int_equal(r->entries[i].len, p.e[i].len);
    assert_memory_equal(r->entries[i].data, p.e[i].data, p.e[i].len);
  }
  expect_change(&p, 7, LKV_RAFT_CC_REMOVE_NODE, 2, 1);
  expect_change(&p, 8, LKV_RAFT_CC_REMOVE_NODE, 3, 1);
  expect_change(&p, 9, LKV_RAFT_CC_REMOVE_NODE, 4, 1);
  assert_int_equal(r->hard_state.commit, 10);
  assert_int_equal(r->hard_state.term, TERM);
  assert_int_equal(r->hard_state.vote, 1);
  wt_finish(&p.log);
}

/* A learner is made a voter first: the core never has no voter in between. */
static void test_a_learner_is_promoted_first(void **state) {
  (void)state;
  plan_t p = {0};
  conf(&p, LKV_RAFT_CC_ADD_NODE, 10);
  conf(&p, LKV_RAFT_CC_ADD_NODE, 20);
  conf(&p, LKV_RAFT_CC_ADD_LEARNER, 30);
  char err[256] = "";
  assert_int_equal(force(&p, 3, 30, err, sizeof(err)), 1);
  assert_int_equal(p.log.r.n_entries, 6);
  expect_change(&p, 3, LKV_RAFT_CC_ADD_NODE, 30, 30);
  expect_change(&p, 4, LKV_RAFT_CC_REMOVE_NODE, 10, 30);
  expect_change(&p, 5, LKV_RAFT_CC_REMOVE_NODE, 20, 30);
  assert_int_equal(p.log.r.hard_state.commit, 6);
  wt_finish(&p.log);
}

/* The only voter already: nothing to write, unless an uncommitted tail must go (an empty entry, which the
 * state machine skips, replaces it). */
static void test_alone_already(void **state) {
  (void)state;
  plan_t p = {0};
  conf(&p, LKV_RAFT_CC_ADD_NODE, 7);
  normal(&p);
  char err[256] = "";
  assert_int_equal(force(&p, 2, 7, err, sizeof(err)), 0);
  assert_int_equal(p.log.r.n_entries, 2);
  assert_int_equal(p.log.r.hard_state.commit, 2);
  wt_finish(&p.log);
  assert_int_equal(force(&p, 1, 7, err, sizeof(err)), 1);
  assert_int_equal(p.log.r.n_entries, 2);
  const lkv_raft_entry_t *e = &p.log.r.entries[1];
  assert_int_equal(e->type, LKV_RAFT_ENTRY_NORMAL);
  assert_int_equal(e->len, 0);
  assert_int_equal(e->term, TERM);
  assert_int_equal(p.log.r.hard_state.commit, 2);
  wt_finish(&p.log);
}

/* A log compacted below a snapshot: the members are the snapshot's and those of the changes after it. */
static void test_log_starting_at_a_snapshot(void **state) {
  (void)state;
  plan_t p = {.snap = {.index = 40, .term = TERM, .conf = {.voters = {1, 2, 3}, .n_voters = 3}}};
  normal(&p);
  conf(&p, LKV_RAFT_CC_ADD_LEARNER, 4);
  char err[256] = "";
  assert_int_equal(force(&p, 42, 2, err, sizeof(err)), 1);
  assert_int_equal(p.log.r.snapshot.index, 40);
  assert_int_equal(p.log.r.n_entries, 5);
  expect_change(&p, 2, LKV_RAFT_CC_REMOVE_NODE, 1, 2);
  expect_change(&p, 3, LKV_RAFT_CC_REMOVE_NODE, 3, 2);
  expect_change(&p, 4, LKV_RAFT_CC_REMOVE_NODE, 4, 2);
  assert_int_equal(p.log.r.hard_state.commit, 45);
  wt_finish(&p.log);
}

/* A member the committed log does not count (removed, or never added) cannot become the cluster: refused
 * before anything is written. An empty log (a member that never started) is left alone, as etcd does. */
static void test_refusals_and_empty_log(void **state) {
  (void)state;
  plan_t p = {0};
  conf(&p, LKV_RAFT_CC_ADD_NODE, 1);
  conf(&p, LKV_RAFT_CC_ADD_NODE, 2);
  conf(&p, LKV_RAFT_CC_REMOVE_NODE, 2);
  char err[256] = "";
  assert_int_equal(force(&p, 3, 2, err, sizeof(err)), LKV_EINVAL);
  assert_non_null(strstr(err, "is not a member of the cluster its raft log records at commit index 3"));
  assert_int_equal(p.log.r.n_entries, 3);
  assert_int_equal(p.log.r.hard_state.commit, 3);
  wt_finish(&p.log);
  plan_t empty = {0};
  assert_int_equal(force(&empty, 0, 1, err, sizeof(err)), 0);
  assert_int_equal(empty.log.r.n_entries, 0);
  wt_finish(&empty.log);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_removes_the_others_and_discards_the_tail),
      cmocka_unit_test(test_a_learner_is_promoted_first),
      cmocka_unit_test(test_alone_already),
      cmocka_unit_test(test_log_starting_at_a_snapshot),
      cmocka_unit_test(test_refusals_and_empty_log),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
