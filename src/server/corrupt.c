/* etcd 3.4's corruption checks: the one before serving, and the leader's periodic one that raises
 * CORRUPT. */
#include "server/corrupt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/ids.h"
#include "common/error.h"
#include "common/sleeper.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "ledger/frontier.h"
#include "snapshot/snapshot.h"

static uint64_t self_id(lkv_replicator_t *r) {
  lkv_replication_status_t st;
  lkv_replicator_status(r, &st);
  return st.member_id;
}

/* Logs a peer that could not be compared, as etcd 3.4's CheckInitialHashKV words it. */
static void log_unchecked(const char *me, const lkv__peer_hash_t *p, int64_t rev) {
  char peer[LKV_CLUSTER_ID_HEX_LEN];
  lkv_cluster_id_format(p->id, peer);
  if (p->err == LKV_EFUTUREREV)
    fprintf(stderr,
            "ledgerkv: %s cannot check the hash of peer %s at revision %lld: peer is lagging behind\n", me,
            peer, (long long)rev);
  else if (p->err == LKV_ECOMPACTED)
    fprintf(stderr,
            "ledgerkv: %s cannot check the hash of peer %s at revision %lld: local node is lagging behind\n",
            me, peer, (long long)rev);
  else
    fprintf(stderr, "ledgerkv: %s cannot check the hash of peer %s: it did not answer\n", me, peer);
}

/* A peer's latest signed head against this member's tree at its size (ledgerkv's own check: every member's
 * tree holds the same entries). Returns 1 on a different root, logged, 0 on the same; -1 when there is
 * nothing to compare: no head, or one beyond this tree or below its retained base. */
static int root_mismatch(lkv_ledger_t *ledger, const lkv__peer_hash_t *p) {
  lkv_ledger_frontier_t f;
  if (!ledger || !p->has_head || lkv_ledger_frontier_at(ledger, p->tree_size, &f) != 0) return -1;
  lkv_merkle_hash_t root;
  lkv_ledger_frontier_root(&f, &root);
  if (memcmp(root.b, p->root.b, LKV_MERKLE_HASH_LEN) == 0) return 0;
  char peer[LKV_CLUSTER_ID_HEX_LEN];
  lkv_cluster_id_format(p->id, peer);
  fprintf(stderr, "ledgerkv: ledger root at tree size %llu from member %s differs from this member's\n",
          (unsigned long long)p->tree_size, peer);
  return 1;
}

int lkv__corrupt_initial_check(lkv_mvcc_t *store, lkv_ledger_t *ledger, lkv_replicator_t *r,
                               lkv__peer_hash_svc_t *svc, unsigned timeout_ms, char *err, size_t errlen) {
  char me[LKV_CLUSTER_ID_HEX_LEN];
  lkv_cluster_id_format(self_id(r), me);
  fprintf(stderr, "ledgerkv: %s starting initial corruption check with timeout %ums...\n", me, timeout_ms);
  lkv_snapshot_hash_t h;
  int rc = lkv__peer_hash_local(store, 0, &h);
  if (rc) {
    snprintf(err, errlen, "%s failed to fetch hash (%s)", me, lkv_strerror(rc));
    return rc;
  }
  lkv__peer_hash_t *peers;
  size_t n;
  rc = lkv__peer_hashes(r, svc, self_id(r), h.revision, ledger != NULL, timeout_ms, &peers, &n);
  if (rc) {
    snprintf(err, errlen, "%s failed to fetch the peers' hashes (%s)", me, lkv_strerror(rc));
    return rc;
  }
  int mismatch = 0;
  for (size_t i = 0; i < n; i++) {
    const lkv__peer_hash_t *p = &peers[i];
    char peer[LKV_CLUSTER_ID_HEX_LEN];
    lkv_cluster_id_format(p->id, peer);
    if (p->err) {
      log_unchecked(me, p, h.revision);
    } else if (p->hash != h.hash && p->compact_revision == h.compact_revision) {
      fprintf(stderr,
              "ledgerkv: %s's hash %u != %s's hash %u (revision %lld, peer revision %lld, compact revision "
              "%lld)\n",
              me, h.hash, peer, p->hash, (long long)h.revision, (long long)p->revision,
              (long long)h.compact_revision);
      mismatch++;
    } else if (p->hash != h.hash) {
      fprintf(stderr,
              "ledgerkv: %s cannot check hash of peer(%s): peer has a different compact revision %lld "
              "(revision:%lld)\n",
              me, peer, (long long)p->compact_revision, (long long)h.revision);
    }
    /* The ledger too: a member whose history was rewritten can hold the same store as its peers. */
    int roots = root_mismatch(ledger, p);
    if (roots > 0)
      mismatch++;
    else if (roots < 0 && ledger && p->has_head)
      fprintf(stderr,
              "ledgerkv: %s cannot check the ledger root of peer %s at tree size %llu: outside this member's "
              "ledger\n",
              me, peer, (unsigned long long)p->tree_size);
  }
  free(peers);
  if (mismatch) {
    snprintf(err, errlen, "%s found data inconsistency with peers", me);
    return LKV_ECORRUPT;
  }
  fprintf(stderr, "ledgerkv: %s succeeded on initial corruption checking: no corruption\n", me);
  return 0;
}

struct lkv__corrupt_checker_s {
  lkv_mvcc_t *store;
  lkv_ledger_t *ledger; /* NULL: no ledger roots to compare */
  lkv_replicator_t *r;
  lkv__peer_hash_svc_t *svc;
  uint64_t interval_ms;
  unsigned timeout_ms;
  pthread_t thread;
  lkv_sleeper_t sleeper;
};

/* etcd's mismatch(): CORRUPT for member 0, since it is not clear whose data is wrong. */
static void raise_corrupt(lkv__corrupt_checker_t *c) {
  Etcdserverpb__AlarmRequest alarm = ETCDSERVERPB__ALARM_REQUEST__INIT;
  alarm.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
  alarm.alarm = ETCDSERVERPB__ALARM_TYPE__CORRUPT;
  alarm.memberid = 0;
  lkv_proposal_t p = {.req = {.kind = LKV_OP_ALARM, .msg = &alarm.base, .no_claims = 1}};
  int rc = lkv_replicator_propose_wait(c->r, &p);
  if (rc) fprintf(stderr, "ledgerkv: failed to activate the CORRUPT alarm: %s\n", lkv_strerror(rc));
}

/* One follower's answer against the leader's hashes (h before the barrier, h2 after). Returns 1 on a
 * mismatch, logged in etcd 3.4's words. */
static int peer_mismatch(const lkv__peer_hash_t *p, const lkv_snapshot_hash_t *h,
                         const lkv_snapshot_hash_t *h2) {
  char peer[LKV_CLUSTER_ID_HEX_LEN];
  lkv_cluster_id_format(p->id, peer);
  int bad = 0;
  if (p->revision > h2->revision) {
    fprintf(stderr, "ledgerkv: revision %lld from member %s, expected at most %lld\n", (long long)p->revision,
            peer, (long long)h2->revision);
    bad = 1;
  }
  if (p->compact_revision > h2->compact_revision) {
    fprintf(stderr, "ledgerkv: compact revision %lld from member %s, expected at most %lld\n",
            (long long)p->compact_revision, peer, (long long)h2->compact_revision);
    bad = 1;
  }
  if (p->compact_revision == h->compact_revision && p->hash != h->hash) {
    fprintf(stderr, "ledgerkv: hash %u at revision %lld from member %s, expected hash %u\n", p->hash,
            (long long)h->revision, peer, h->hash);
    bad = 1;
  }
  return bad;
}

/* etcd's checkHashKV. Returns 0 or why the round could not be made. */
static int check(lkv__corrupt_checker_t *c) {
  lkv_snapshot_hash_t h, h2;
  int rc = lkv__peer_hash_local(c->store, 0, &h);
  if (rc) return rc;
  lkv__peer_hash_t *peers;
  size_t n;
  rc =
      lkv__peer_hashes(c->r, c->svc, self_id(c->r), h.revision, c->ledger != NULL, c->timeout_ms, &peers, &n);
  if (rc) return rc;
  rc = lkv_replicator_read_barrier_wait(c->r);
  if (rc == 0) rc = lkv__peer_hash_local(c->store, 0, &h2);
  if (rc) {
    free(peers);
    return rc;
  }
  int mismatch = 0;
  if (h2.hash != h.hash && h2.revision == h.revision && h2.compact_revision == h.compact_revision) {
    fprintf(stderr, "ledgerkv: mismatched hashes %u and %u for revision %lld\n", h.hash, h2.hash,
            (long long)h.revision);
    mismatch = 1;
  }
  size_t checked = 0;
  for (size_t i = 0; i < n; i++) {
    if (peers[i].err) continue;
    checked++;
    mismatch |= peer_mismatch(&peers[i], &h, &h2);
  }
  size_t roots = 0;
  for (size_t i = 0; i < n; i++) {
    int m = root_mismatch(c->ledger, &peers[i]);
    if (m >= 0) roots++;
    if (m > 0) mismatch = 1;
  }
  free(peers);
  if (mismatch) raise_corrupt(c);
  fprintf(
      stderr,
      "ledgerkv: finished peer corruption check (number of peers checked: %zu, ledger roots compared: %zu)\n",
      checked, roots);
  return 0;
}

static void *checker_main(void *arg) {
  lkv__corrupt_checker_t *c = arg;
  fprintf(stderr, "ledgerkv: enabled corruption checking with %llums interval\n",
          (unsigned long long)c->interval_ms);
  while (!lkv_sleeper_sleep_ms(&c->sleeper, c->interval_ms)) {
    lkv_replication_status_t st;
    lkv_replicator_status(c->r, &st);
    if (st.leader == 0 || st.leader != st.member_id) continue;
    int rc = check(c);
    if (rc) fprintf(stderr, "ledgerkv: failed to check hash KV: %s\n", lkv_strerror(rc));
  }
  return NULL;
}

int lkv__corrupt_checker_start(lkv__corrupt_checker_t **out, lkv_mvcc_t *store, lkv_ledger_t *ledger,
                               lkv_replicator_t *r, lkv__peer_hash_svc_t *svc, uint64_t interval_ms,
                               unsigned timeout_ms) {
  lkv__corrupt_checker_t *c = calloc(1, sizeof(*c));
  if (!c) return LKV_ENOMEM;
  *c = (lkv__corrupt_checker_t){.store = store,
                                .ledger = ledger,
                                .r = r,
                                .svc = svc,
                                .interval_ms = interval_ms,
                                .timeout_ms = timeout_ms};
  if (lkv_sleeper_init(&c->sleeper) != 0) goto err_after_alloc;
  if (pthread_create(&c->thread, NULL, checker_main, c) != 0) goto err_after_sleeper;
  *out = c;
  return 0;
err_after_sleeper:
  lkv_sleeper_destroy(&c->sleeper);
err_after_alloc:
  free(c);
  return LKV_ENOMEM;
}

void lkv__corrupt_checker_stop(lkv__corrupt_checker_t *c) {
  if (!c) return;
  lkv_sleeper_stop(&c->sleeper);
  pthread_join(c->thread, NULL);
  lkv_sleeper_destroy(&c->sleeper);
  free(c);
}
