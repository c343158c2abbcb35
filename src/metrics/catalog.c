/* The process's standard metrics, registered once: names, types and help texts as etcd 3.4 has them. */
#include "metrics/catalog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include "metrics/process.h"

typedef struct def_s {
  size_t field; /* offset of the lkv_metric_t * in the catalog */
  lkv_metric_desc_t d;
} def_t;

#define F(field) offsetof(lkv_metrics_catalog_t, field)
#define COUNTER(field, name, help)                        \
  {                                                       \
    F(field), {                                           \
      name, help, LKV_METRIC_COUNTER, NULL, 0, 0, NULL, 0 \
    }                                                     \
  }
#define GAUGE(field, name, help)                        \
  {                                                     \
    F(field), {                                         \
      name, help, LKV_METRIC_GAUGE, NULL, 0, 0, NULL, 0 \
    }                                                   \
  }
#define HISTOGRAM(field, name, help, bounds, n_bounds)               \
  {                                                                  \
    F(field), {                                                      \
      name, help, LKV_METRIC_HISTOGRAM, NULL, 0, 0, bounds, n_bounds \
    }                                                                \
  }
#define DISK_HISTOGRAM(field, name, help) \
  HISTOGRAM(field, name, help, lkv_metrics_disk_buckets, LKV_METRICS_DISK_BUCKETS)

#define LABELLED(field, name, help, type, label, n, bounds, n_bounds) \
  {                                                                   \
    F(field), {                                                       \
      name, help, type, label, 1, n, bounds, n_bounds                 \
    }                                                                 \
  }

static const char *const version_label[] = {"server_version"};
static const char *const part_label[] = {"part"};
static const char *const direction_label[] = {"direction"};
static const char *const to_label[] = {"To"};
static const char *const from_label[] = {"From"};
static const char *const member_label[] = {"member"};

static const def_t defs[] = {
    GAUGE(has_leader, "etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not."),
    GAUGE(is_leader, "etcd_server_is_leader",
          "Whether or not this member is a leader. 1 if is, 0 otherwise."),
    COUNTER(leader_changes, "etcd_server_leader_changes_seen_total", "The number of leader changes seen."),
    GAUGE(proposals_committed, "etcd_server_proposals_committed_total",
          "The total number of consensus proposals committed."),
    GAUGE(proposals_applied, "etcd_server_proposals_applied_total",
          "The total number of consensus proposals applied."),
    GAUGE(proposals_pending, "etcd_server_proposals_pending",
          "The current number of pending proposals to commit."),
    COUNTER(proposals_failed, "etcd_server_proposals_failed_total",
            "The total number of failed proposals seen."),
    COUNTER(health_success, "etcd_server_health_success", "The total number of successful health checks"),
    COUNTER(health_failures, "etcd_server_health_failures", "The total number of failed health checks"),
    LABELLED(server_version, "etcd_server_version",
             "Which version is running. 1 for 'server_version' label with current version.", LKV_METRIC_GAUGE,
             version_label, 1, NULL, 0),
    GAUGE(quota_bytes, "etcd_server_quota_backend_bytes", "Current backend storage quota size in bytes."),
    DISK_HISTOGRAM(wal_fsync, "etcd_disk_wal_fsync_duration_seconds",
                   "The latency distributions of fsync called by WAL."),
    DISK_HISTOGRAM(backend_commit, "etcd_disk_backend_commit_duration_seconds",
                   "The latency distributions of commit called by backend."),
    HISTOGRAM(defrag_seconds, "etcd_disk_backend_defrag_duration_seconds",
              "The latency distribution of backend defragmentation.", lkv_metrics_defrag_buckets,
              LKV_METRICS_DEFRAG_BUCKETS),
    GAUGE(defrag_running, "etcd_disk_defrag_inflight",
          "Whether or not defrag is active on the member. 1 means active, 0 means not."),
    COUNTER(client_grpc_sent, "etcd_network_client_grpc_sent_bytes_total",
            "The total number of bytes sent to grpc clients."),
    COUNTER(client_grpc_received, "etcd_network_client_grpc_received_bytes_total",
            "The total number of bytes received from grpc clients."),
    LABELLED(peer_rtt, "etcd_network_peer_round_trip_time_seconds", "Round-Trip-Time histogram between peers",
             LKV_METRIC_HISTOGRAM, to_label, LKV_METRICS_MAX_PEERS, lkv_metrics_rtt_buckets,
             LKV_METRICS_RTT_BUCKETS),
    LABELLED(peer_sent, "etcd_network_peer_sent_bytes_total", "The total number of bytes sent to peers.",
             LKV_METRIC_COUNTER, to_label, LKV_METRICS_MAX_PEERS, NULL, 0),
    LABELLED(peer_received, "etcd_network_peer_received_bytes_total",
             "The total number of bytes received from peers.", LKV_METRIC_COUNTER, from_label,
             LKV_METRICS_MAX_PEERS, NULL, 0),
    LABELLED(peer_failures, "etcd_network_peer_sent_failures_total",
             "The total number of send failures from peers.", LKV_METRIC_COUNTER, to_label,
             LKV_METRICS_MAX_PEERS, NULL, 0),
    GAUGE(db_size, "etcd_mvcc_db_total_size_in_bytes",
          "Total size of the underlying database physically allocated in bytes."),
    GAUGE(db_size_legacy, "etcd_debugging_mvcc_db_total_size_in_bytes",
          "Total size of the underlying database physically allocated in bytes."),
    GAUGE(db_in_use, "etcd_mvcc_db_total_size_in_use_in_bytes",
          "Total size of the underlying database logically in use in bytes."),
    GAUGE(keys_total, "etcd_debugging_mvcc_keys_total", "Total number of keys."),
    COUNTER(put_total, "etcd_mvcc_put_total", "Total number of puts seen by this member."),
    COUNTER(delete_total, "etcd_mvcc_delete_total", "Total number of deletes seen by this member."),
    COUNTER(range_total, "etcd_mvcc_range_total", "Total number of ranges seen by this member."),
    COUNTER(txn_total, "etcd_mvcc_txn_total", "Total number of txns seen by this member."),
    GAUGE(watchers, "etcd_debugging_mvcc_watcher_total", "Total number of watchers."),
    GAUGE(slow_watchers, "etcd_debugging_mvcc_slow_watcher_total", "Total number of unsynced slow watchers."),
    COUNTER(lease_granted, "etcd_debugging_lease_granted_total", "The total number of granted leases."),
    COUNTER(lease_revoked, "etcd_debugging_lease_revoked_total", "The total number of revoked leases."),
    COUNTER(lease_renewed, "etcd_debugging_lease_renewed_total",
            "The number of renewed leases seen by the leader."),
    {F(lease_ttl),
     {"etcd_debugging_lease_ttl_total", "Bucketed histogram of lease TTLs.", LKV_METRIC_HISTOGRAM, NULL, 0, 0,
      lkv_metrics_ttl_buckets, LKV_METRICS_TTL_BUCKETS}},
    GAUGE(ledger_size, "ledgerkv_ledger_size", "Records in the verifiable ledger's Merkle tree."),
    COUNTER(ledger_signed_heads, "ledgerkv_ledger_signed_heads_total",
            "Signed tree heads this member produced since it started."),
    COUNTER(receipts_served, "ledgerkv_ledger_receipts_served_total",
            "Receipts (inclusion proofs under a signed tree head) served to clients."),
    GAUGE(pool_threads, "ledgerkv_pool_threads", "Request-serving loop threads."),
    GAUGE(pool_running, "ledgerkv_pool_running_threads",
          "Request-serving loop threads the worker pool lets run at once right now."),
    LABELLED(pool_changes, "ledgerkv_pool_limit_changes_total",
             "Decisions of the worker pool that changed how many loop threads may run at once: park (fewer) "
             "or unpark (more).",
             LKV_METRIC_COUNTER, direction_label, LKV_METRIC_POOL_DIRECTIONS, NULL, 0),
    COUNTER(pool_gate_wait, "ledgerkv_pool_gate_wait_seconds_total",
            "Time loop threads with work waited at the worker pool's gate while parked."),
    LABELLED(disk_bytes, "ledgerkv_disk_bytes",
             "Disk space the data dir's parts take (allocated blocks): the store, the Raft log, the ledger.",
             LKV_METRIC_GAUGE, part_label, LKV_METRIC_DISK_PARTS, NULL, 0),
    GAUGE(disk_free, "ledgerkv_disk_free_bytes",
          "Free space on the data dir's file system; below --disk-reserve-bytes writes raise NOSPACE."),
    COUNTER(defrag_reclaimed, "ledgerkv_defrag_reclaimed_bytes_total",
            "Bytes the defragments gave back: the store file's size before each one less its size after."),
    LABELLED(causal_last_heard, "ledgerkv_causal_peer_last_heard_seconds",
             "Causal mode: seconds since this member last heard from a peer (a hello, a vector or an event; "
             "counted from its start when never).",
             LKV_METRIC_GAUGE, member_label, LKV_METRICS_MAX_PEERS, NULL, 0),
    GAUGE(causal_silent, "ledgerkv_causal_silent_peers",
          "Causal mode: peers silent for longer than --experimental-causal-silent-after."),
    COUNTER(causal_snaps_sent, "ledgerkv_causal_snapshots_sent_total",
            "Causal mode: snapshot transfers this member started to a member that lacked events "
            "it had compacted."),
    COUNTER(causal_snaps_installed, "ledgerkv_causal_snapshots_installed_total",
            "Causal mode: snapshots this member installed (made durable) from another member."),
    GAUGE(resident_memory, "process_resident_memory_bytes", "Resident memory size in bytes."),
    GAUGE(virtual_memory, "process_virtual_memory_bytes", "Virtual memory size in bytes."),
    COUNTER(cpu_seconds, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds."),
    GAUGE(open_fds, "process_open_fds", "Number of open file descriptors."),
    GAUGE(max_fds, "process_max_fds", "Maximum number of open file descriptors."),
    GAUGE(start_time, "process_start_time_seconds", "Start time of the process since unix epoch in seconds."),
};

static lkv_metrics_catalog_t catalog;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void register_all(void) {
  lkv_metrics_t *reg = lkv_metrics_global();
  if (!reg) return;
  for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
    lkv_metric_t *m;
    if (lkv_metrics_add(reg, &defs[i].d, &m) == 0)
      *(lkv_metric_t **)(void *)((char *)&catalog + defs[i].field) = m;
  }
  static const char *const parts[LKV_METRIC_DISK_PARTS] = {"store", "raft_log", "ledger"};
  for (size_t i = 0; i < LKV_METRIC_DISK_PARTS; i++) lkv_metric_label(catalog.disk_bytes, i, &parts[i]);
  static const char *const directions[LKV_METRIC_POOL_DIRECTIONS] = {"park", "unpark"};
  for (size_t i = 0; i < LKV_METRIC_POOL_DIRECTIONS; i++)
    lkv_metric_label(catalog.pool_changes, i, &directions[i]);
  lkv__metrics_process_start(reg, &catalog);
}

const lkv_metrics_catalog_t *lkv_metrics_catalog(void) {
  pthread_once(&once, register_all);
  return &catalog;
}

/* Members seen, in series order; a member keeps its series for the process's life (as etcd's vectors). */
static pthread_mutex_t peers_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t peer_ids[LKV_METRICS_MAX_PEERS];
static _Atomic size_t n_peers;

long lkv_metrics_peer_series(uint64_t id) {
  const lkv_metrics_catalog_t *c = lkv_metrics_catalog();
  if (!c->peer_rtt || !c->peer_sent || !c->peer_received || !c->peer_failures) return -1;
  size_t n = atomic_load(&n_peers);
  for (size_t i = 0; i < n; i++)
    if (atomic_load(&peer_ids[i]) == id) return (long)i;
  long found = -1;
  pthread_mutex_lock(&peers_mu);
  n = atomic_load(&n_peers);
  for (size_t i = 0; i < n && found < 0; i++)
    if (atomic_load(&peer_ids[i]) == id) found = (long)i;
  if (found < 0 && n < LKV_METRICS_MAX_PEERS) {
    char hex[17];
    snprintf(hex, sizeof(hex), "%" PRIx64, id);
    const char *v[] = {hex};
    lkv_metric_label(c->peer_rtt, n, v);
    lkv_metric_label(c->peer_sent, n, v);
    lkv_metric_label(c->peer_received, n, v);
    lkv_metric_label(c->peer_failures, n, v);
    atomic_store(&peer_ids[n], id);
    atomic_store(&n_peers, n + 1); /* after the id: a reader that sees the count sees the id */
    found = (long)n;
  }
  pthread_mutex_unlock(&peers_mu);
  return found;
}

long lkv_metrics_causal_peer_series(uint64_t id) {
  long series = lkv_metrics_peer_series(id);
  if (series >= 0) {
    char hex[17];
    snprintf(hex, sizeof(hex), "%" PRIx64, id);
    const char *v[] = {hex};
    lkv_metric_label(catalog.causal_last_heard, (size_t)series, v); /* LKV_EINVAL once labelled: kept */
  }
  return series;
}

void lkv_metrics_catalog_version(const char *version) {
  const char *values[] = {version};
  if (lkv_metric_label(LKV_METRIC(server_version), 0, values) == 0)
    lkv_metric_set(catalog.server_version, 0, 1);
}
