/* The server's collector: the gauges read at each scrape (leadership, store sizes, keys, ledger, disk, pool).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "common/fs.h"
#include "metrics/catalog.h"
#include "replication/causal_node.h"
#include "server/metrics_internal.h"

/* Live keys: a count-only range over the whole key space (one read snapshot; O(keys) per scrape). */
static void count_keys(lkv_mvcc_t *store, const lkv_metrics_catalog_t *c) {
  lkv_mvcc_txn_t *t;
  if (lkv_mvcc_read_begin(store, &t) != 0) return;
  static const uint8_t all = 0;
  lkv_mvcc_range_t q = {
      .key = &all, .key_len = 1, .end = &all, .end_len = 1, .flags = LKV_MVCC_RANGE_COUNT_ONLY};
  size_t n;
  if (lkv_mvcc_range(t, &q, NULL, NULL, &n) == 0) lkv_metric_set(c->keys_total, 0, (double)n);
  lkv_mvcc_txn_end(t);
}

/* The data dir's parts (server.c and member.c lay them out) and the free space beside them. */
static void disk_usage(const lkv__metrics_http_options_t *o, const lkv_metrics_catalog_t *c) {
  char store[PATH_MAX], ledger[PATH_MAX];
  snprintf(store, sizeof(store), "%s/member/db", o->data_dir);
  snprintf(ledger, sizeof(ledger), "%s/ledger", o->data_dir);
  const char *parts[LKV_METRIC_DISK_PARTS];
  parts[LKV_METRIC_DISK_STORE] = store;
  parts[LKV_METRIC_DISK_RAFT_LOG] = o->wal_dir;
  parts[LKV_METRIC_DISK_LEDGER] = ledger;
  uint64_t bytes;
  for (size_t i = 0; i < LKV_METRIC_DISK_PARTS; i++)
    if (lkv_fs_tree_bytes(parts[i], &bytes) == 0) lkv_metric_set(c->disk_bytes, i, (double)bytes);
  if (lkv_fs_free_bytes(o->data_dir, &bytes) == 0) lkv_metric_set(c->disk_free, 0, (double)bytes);
}

/* Causal mode: how long each peer has been quiet, and how many are silent (as the last tick saw them). */
static void causal_peers(lkv_replicator_t *r, const lkv_metrics_catalog_t *c) {
  lkv_causal_node_peer_t p[LKV_CAUSAL_MAX_ORIGINS];
  uint64_t now;
  size_t n = lkv_causal_node_peers(r, p, &now), silent = 0;
  if (!now) return; /* no tick yet */
  for (size_t i = 0; i < n; i++) {
    long series = lkv_metrics_causal_peer_series(p[i].id);
    if (series >= 0) lkv_metric_set(c->causal_last_heard, (size_t)series, (double)p[i].quiet_ms / 1000.0);
    silent += p[i].silent != 0;
  }
  lkv_metric_set(c->causal_silent, 0, (double)silent);
}

void lkv__metrics_collect(void *arg) {
  lkv__metrics_http_t *m = arg;
  const lkv_metrics_catalog_t *c = lkv_metrics_catalog();
  lkv_replication_status_t st;
  lkv_replicator_status(m->o.replicator, &st);
  lkv_metric_set(c->has_leader, 0, st.leader != 0);
  lkv_metric_set(c->is_leader, 0, st.leader != 0 && st.leader == st.member_id);
  lkv_metric_set(c->proposals_committed, 0, (double)st.commit_index); /* etcd's gauges: the Raft indices */
  lkv_metric_set(c->proposals_applied, 0, (double)st.applied_index);
  lkv_mvcc_stat_t ms;
  if (lkv_mvcc_stat(m->o.store, &ms) == 0) {
    lkv_metric_set(c->db_size, 0, (double)ms.db_size);
    lkv_metric_set(c->db_size_legacy, 0, (double)ms.db_size);
    lkv_metric_set(c->db_in_use, 0, (double)ms.db_size_in_use);
    lkv_metric_set(c->quota_bytes, 0, (double)ms.quota_bytes);
  }
  count_keys(m->o.store, c);
  lkv_ledger_signed_head_t h;
  if (m->o.ledger && lkv_ledger_latest_head(m->o.ledger, &h) == 0)
    lkv_metric_set(c->ledger_size, 0, (double)h.head.tree_size);
  disk_usage(&m->o, c);
  if (m->o.causal) causal_peers(m->o.replicator, c);
  lkv_metric_set(c->pool_threads, 0, m->o.threads);
  lkv_metric_set(c->pool_running, 0, lkv_pool_active(m->o.pool));
  lkv_cpu_gate_t *g = lkv_pool_gate(m->o.pool);
  lkv_metric_set(c->pool_changes, LKV_METRIC_POOL_PARK, (double)atomic_load(&g->lowered));
  lkv_metric_set(c->pool_changes, LKV_METRIC_POOL_UNPARK, (double)atomic_load(&g->raised));
  lkv_metric_set(c->pool_gate_wait, 0, (double)lkv_cpu_gate_waited_ns(g) / 1e9);
}
