/* The durable log as the Raft core's storage: a 3-member cluster in one process whose members persist every
 * ready batch in their own log on disk, restart from it (lkv_wal_open's restore into lkv_raft_new),
 * compact it behind snapshots, and still agree on every committed entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>
#include <inttypes.h>

#include "raft/codec.h"
#include "wal_testutil.h"

#define N 3
#define MAX_QUEUE 4096

typedef struct {
  lkv_raft_id_t id;
  lkv_raft_t *r; /* NULL while down */
  lkv_raft_config_t cfg;
  uint64_t rng;
  wt_log_t log;
  uint64_t applied;
  uint64_t restarts;
  int stopped; /* its log is closed */
} node_t;

typedef struct {
  uint8_t *buf; /* an encoded message: members only ever see what went through the codec */
  size_t len;
} wire_t;

static node_t nodes[N];
static uint64_t snapshots_installed;

/* Flushes are no-ops here: members restart without a power cut, so the page cache keeps everything, and
 * ten thousand fdatasyncs would only slow the test down (the crash test covers durability). */
static int no_sync(void *arg, int fd) {
  (void)arg;
  (void)fd;
  return 0;
}

static const lkv_wal_ops_t fast_ops = {
    .pwrite = NULL, .fdatasync = no_sync, .fsync = no_sync, .fallocate = NULL};
static wire_t queue[MAX_QUEUE];
static size_t n_queue;

static uint64_t next_rand(void *arg) {
  uint64_t *s = arg;
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void send(const lkv_raft_msg_t *m) {
  if (n_queue == MAX_QUEUE) return; /* a full network drops */
  size_t len = lkv_raft_msg_size(m);
  uint8_t *buf = malloc(len);
  assert_non_null(buf);
  assert_int_equal(lkv_raft_msg_encode(m, buf, len), len);
  queue[n_queue++] = (wire_t){buf, len};
}

/* The member's own snapshot at its applied index, saved in its log, then both logs compacted behind it. */
static void snapshot_and_compact(node_t *n) {
  lkv_raft_status_t st;
  lkv_raft_entry_t e;
  lkv_raft_status(n->r, &st);
  if (n->applied < st.snapshot_index + 40 || lkv_raft_entry(n->r, n->applied, &e)) return;
  lkv_raft_snapshot_meta_t meta = {.index = n->applied, .term = e.term, .conf = st.conf};
  assert_int_equal(lkv_raft_set_snapshot(n->r, &meta), 0);
  assert_int_equal(lkv_wal_save(n->log.w, NULL, &meta, NULL, 0), 0);
  uint64_t keep_from = n->applied - 20;
  assert_int_equal(lkv_raft_compact(n->r, keep_from), 0);
  assert_int_equal(lkv_wal_compact(n->log.w, keep_from), 0);
}

/* Handles every ready batch as raft.h's contract says, with the log as the durable store. */
static void handle(node_t *n) {
  lkv_raft_ready_t rd;
  while (n->r && lkv_raft_ready(n->r, &rd)) {
    for (size_t i = 0; i < rd.n_msgs; i++) send(&rd.msgs[i]);
    assert_int_equal(lkv_wal_save(n->log.w, rd.has_hard_state ? &rd.hard_state : NULL,
                                  rd.has_snapshot ? &rd.snapshot.meta : NULL, rd.entries, rd.n_entries),
                     0);
    for (size_t i = 0; i < rd.n_msgs_after_persist; i++) send(&rd.msgs_after_persist[i]);
    if (rd.has_snapshot) {
      n->applied = rd.snapshot.meta.index;
      snapshots_installed++;
    }
    for (size_t i = 0; i < rd.n_committed; i++) {
      if (rd.committed[i].type == LKV_RAFT_ENTRY_CONF_CHANGE)
        assert_int_equal(lkv_raft_apply_conf_change(n->r, &rd.committed[i], 1, NULL), 0);
      n->applied = rd.committed[i].index;
    }
    assert_int_equal(lkv_raft_advance(n->r, &rd), 0);
    snapshot_and_compact(n);
  }
}

static void deliver_all(void) {
  for (size_t i = 0; i < n_queue; i++) {
    lkv_raft_msg_t m;
    lkv_raft_entry_t *ents = NULL;
    assert_int_equal(lkv_raft_msg_decode(queue[i].buf, queue[i].len, &m, &ents), 0);
    node_t *to = &nodes[m.to - 1];
    if (to->r) {
      assert_int_equal(lkv_raft_step(to->r, &m), 0);
      if (m.type == LKV_RAFT_MSG_SNAP) lkv_raft_report_snapshot(nodes[m.from - 1].r, m.to, 1);
    }
    free(ents);
    free(queue[i].buf);
  }
  n_queue = 0;
}

/* Starts (or restarts) member n from what its log recovered. */
static void start(node_t *n) {
  if (n->stopped) {
    n->stopped = 0;
    assert_int_equal(lkv_wal_open(n->log.dir, &n->log.opt, &n->log.w, &n->log.r), 0);
    n->restarts++;
  }
  assert_int_equal(lkv_raft_new(&n->cfg, &n->log.r, &n->r), 0);
  n->applied = n->log.r.snapshot.index;
}

static void stop(node_t *n) {
  lkv_raft_free(n->r);
  lkv_wal_close(n->log.w);
  n->r = NULL;
  n->stopped = 1;
}

static node_t *leader(void) {
  for (int i = 0; i < N; i++) {
    lkv_raft_status_t st;
    if (!nodes[i].r) continue;
    lkv_raft_status(nodes[i].r, &st);
    if (st.role == LKV_RAFT_LEADER) return &nodes[i];
  }
  return NULL;
}

static void round_trip(void) {
  for (int k = 0; k < 4; k++) {
    for (int i = 0; i < N; i++) handle(&nodes[i]);
    deliver_all();
  }
}

/* Every pair of members holds the same entry at every index both still hold up to the lower commit. */
static uint64_t check_agreement(void) {
  uint64_t min_commit = UINT64_MAX;
  for (int a = 0; a < N; a++) {
    lkv_raft_status_t sa;
    lkv_raft_status(nodes[a].r, &sa);
    if (sa.hard_state.commit < min_commit) min_commit = sa.hard_state.commit;
    for (int b = a + 1; b < N; b++) {
      lkv_raft_status_t sb;
      lkv_raft_status(nodes[b].r, &sb);
      uint64_t hi = sa.hard_state.commit < sb.hard_state.commit ? sa.hard_state.commit : sb.hard_state.commit;
      for (uint64_t i = 1; i <= hi; i++) {
        lkv_raft_entry_t ea, eb;
        if (lkv_raft_entry(nodes[a].r, i, &ea) || lkv_raft_entry(nodes[b].r, i, &eb)) continue;
        assert_int_equal(ea.term, eb.term);
        assert_int_equal(ea.len, eb.len);
        if (ea.len) assert_memory_equal(ea.data, eb.data, ea.len);
      }
    }
  }
  return min_commit;
}

static void test_cluster_on_durable_logs(void **state) {
  (void)state;
  lkv_raft_id_t voters[N] = {1, 2, 3};
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < N; i++) {
    node_t *n = &nodes[i];
    memset(n, 0, sizeof(*n));
    n->id = (lkv_raft_id_t)(i + 1);
    n->rng = 1000 + (uint64_t)i;
    lkv_wal_ops_t *ops = malloc(sizeof(*ops));
    assert_non_null(ops);
    *ops = lkv_wal_default_ops;
    ops->fdatasync = fast_ops.fdatasync;
    ops->fsync = fast_ops.fsync;
    wt_start(&n->log, (lkv_wal_options_t){.segment_size = 16384, .ops = ops});
    lkv_raft_config_default(&n->cfg, n->id, next_rand, &n->rng);
    start(n);
    assert_int_equal(lkv_raft_bootstrap(n->r, voters, N), 0);
  }
  uint64_t proposed = 0;
  node_t *down = NULL;
  for (int step = 0; step < 1500; step++) {
    for (int i = 0; i < N; i++)
      if (nodes[i].r) lkv_raft_tick(nodes[i].r);
    node_t *l = leader();
    if (l) {
      for (int k = 0; k < 3; k++) {
        char data[64];
        int len = snprintf(data, sizeof(data), "entry %" PRIu64 " from step %d", proposed, step);
        if (lkv_raft_propose(l->r, (const uint8_t *)data, (size_t)len, NULL, NULL) == 0) proposed++;
      }
    }
    round_trip();
    /* A follower is down for a while: the others compact past it, so it comes back by a snapshot. */
    if (step % 211 == 100) {
      node_t *l2 = leader();
      down = &nodes[(l2 ? l2->id : 1) % N];
      if (down->r) stop(down);
    }
    if (step % 211 == 180 && down && !down->r) start(down);
    /* A member restarts from its log now and then: everything it acknowledged must come back. */
    if (step % 97 == 50) {
      node_t *n = &nodes[next_rand(&rng) % N];
      lkv_raft_status_t before, after;
      if (!n->r) continue;
      lkv_raft_status(n->r, &before);
      stop(n);
      start(n);
      lkv_raft_status(n->r, &after);
      assert_int_equal(after.last_index, before.last_index);
      assert_int_equal(after.hard_state.term, before.hard_state.term);
      assert_int_equal(after.hard_state.vote, before.hard_state.vote);
      assert_int_equal(after.hard_state.commit, before.hard_state.commit);
      assert_int_equal(after.snapshot_index, before.snapshot_index);
    }
  }
  for (int i = 0; i < N; i++)
    if (!nodes[i].r) start(&nodes[i]);
  for (int k = 0; k < 50; k++) {
    for (int i = 0; i < N; i++) lkv_raft_tick(nodes[i].r);
    round_trip();
  }
  uint64_t commit = check_agreement();
  fprintf(stderr,
          "cluster on durable logs: %" PRIu64 " proposals, all members committed >= %" PRIu64 ", %" PRIu64
          " snapshots installed\n",
          proposed, commit, snapshots_installed);
  assert_true(commit > 1000);
  assert_true(snapshots_installed > 0);
  for (int i = 0; i < N; i++) {
    assert_true(nodes[i].restarts > 0);
    free((void *)nodes[i].log.opt.ops);
    assert_true(lkv_wal_first_segment(nodes[i].log.w) > 1); /* compaction removed segments */
    lkv_raft_free(nodes[i].r);
    wt_finish(&nodes[i].log);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cluster_on_durable_logs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
