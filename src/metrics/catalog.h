/* The process's standard metrics: etcd's names where the meaning is the same, and ledgerkv's own. */
#ifndef LKV_METRICS_CATALOG_H
#define LKV_METRICS_CATALOG_H

#include "metrics/metrics.h"

/*
 * One set per process, registered in lkv_metrics_global() at the first lkv_metrics_catalog() call, as
 * etcd's are package globals: the modules where the events happen update them directly (docs/metrics.md
 * lists each with its meaning). A field is NULL only if its registration failed (out of memory); the update
 * functions accept NULL, so callers never check.
 */
typedef struct lkv_metrics_catalog_s {
  /* Raft / replication (scrape-time gauges set by the server's collector, counters where they happen). */
  lkv_metric_t *has_leader;          /* etcd_server_has_leader */
  lkv_metric_t *is_leader;           /* etcd_server_is_leader */
  lkv_metric_t *leader_changes;      /* etcd_server_leader_changes_seen_total */
  lkv_metric_t *proposals_committed; /* etcd_server_proposals_committed_total (a gauge in etcd) */
  lkv_metric_t *proposals_applied;   /* etcd_server_proposals_applied_total (a gauge in etcd) */
  lkv_metric_t *proposals_pending;   /* etcd_server_proposals_pending */
  lkv_metric_t *proposals_failed;    /* etcd_server_proposals_failed_total */
  lkv_metric_t *health_success;      /* etcd_server_health_success */
  lkv_metric_t *health_failures;     /* etcd_server_health_failures */
  lkv_metric_t *server_version;      /* etcd_server_version{server_version} */
  lkv_metric_t *quota_bytes;         /* etcd_server_quota_backend_bytes */
  /* Disk. */
  lkv_metric_t *wal_fsync;      /* etcd_disk_wal_fsync_duration_seconds */
  lkv_metric_t *backend_commit; /* etcd_disk_backend_commit_duration_seconds */
  lkv_metric_t *defrag_seconds; /* etcd_disk_backend_defrag_duration_seconds (mvcc/defrag.c) */
  lkv_metric_t *defrag_running; /* etcd_disk_defrag_inflight */
  /* Network. */
  lkv_metric_t *client_grpc_sent;     /* etcd_network_client_grpc_sent_bytes_total */
  lkv_metric_t *client_grpc_received; /* etcd_network_client_grpc_received_bytes_total */
  /* Peers, one series per member (lkv_metrics_peer_series gives it): */
  lkv_metric_t *peer_rtt;      /* etcd_network_peer_round_trip_time_seconds{To} (server/peer_probe.c) */
  lkv_metric_t *peer_sent;     /* etcd_network_peer_sent_bytes_total{To} (the peer transport's counts) */
  lkv_metric_t *peer_received; /* etcd_network_peer_received_bytes_total{From} */
  lkv_metric_t *peer_failures; /* etcd_network_peer_sent_failures_total{To} */
  /* MVCC. */
  lkv_metric_t *db_size;        /* etcd_mvcc_db_total_size_in_bytes */
  lkv_metric_t *db_size_legacy; /* etcd_debugging_mvcc_db_total_size_in_bytes (the dashboard's name) */
  lkv_metric_t *db_in_use;      /* etcd_mvcc_db_total_size_in_use_in_bytes */
  lkv_metric_t *keys_total;     /* etcd_debugging_mvcc_keys_total */
  lkv_metric_t *put_total;      /* etcd_mvcc_put_total */
  lkv_metric_t *delete_total;   /* etcd_mvcc_delete_total */
  lkv_metric_t *range_total;    /* etcd_mvcc_range_total */
  lkv_metric_t *txn_total;      /* etcd_mvcc_txn_total */
  /* Watch and lease. */
  lkv_metric_t *watchers;      /* etcd_debugging_mvcc_watcher_total */
  lkv_metric_t *slow_watchers; /* etcd_debugging_mvcc_slow_watcher_total */
  lkv_metric_t *lease_granted; /* etcd_debugging_lease_granted_total */
  lkv_metric_t *lease_revoked; /* etcd_debugging_lease_revoked_total */
  lkv_metric_t *lease_renewed; /* etcd_debugging_lease_renewed_total */
  lkv_metric_t *lease_ttl;     /* etcd_debugging_lease_ttl_total: a histogram of granted TTLs */
  /* ledgerkv's own. */
  lkv_metric_t *ledger_size;         /* ledgerkv_ledger_size: records in the ledger's tree */
  lkv_metric_t *ledger_signed_heads; /* ledgerkv_ledger_signed_heads_total */
  lkv_metric_t *receipts_served;     /* ledgerkv_ledger_receipts_served_total */
  lkv_metric_t *pool_threads;        /* ledgerkv_pool_threads */
  lkv_metric_t *pool_running;        /* ledgerkv_pool_running_threads */
  lkv_metric_t *pool_changes;        /* ledgerkv_pool_limit_changes_total{direction}: LKV_METRIC_POOL_* */
  lkv_metric_t *pool_gate_wait;      /* ledgerkv_pool_gate_wait_seconds_total */
  lkv_metric_t *disk_bytes;          /* ledgerkv_disk_bytes{part}: series LKV_METRIC_DISK_* */
  lkv_metric_t *disk_free;           /* ledgerkv_disk_free_bytes */
  lkv_metric_t *defrag_reclaimed;    /* ledgerkv_defrag_reclaimed_bytes_total (mvcc/defrag.c) */
  /* Causal mode (server/metrics_collect.c): a peer's series is lkv_metrics_peer_series's, labelled there. */
  lkv_metric_t *causal_last_heard;      /* ledgerkv_causal_peer_last_heard_seconds{member} */
  lkv_metric_t *causal_silent;          /* ledgerkv_causal_silent_peers */
  lkv_metric_t *causal_snaps_sent;      /* ledgerkv_causal_snapshots_sent_total (replication/causal_snap.c) */
  lkv_metric_t *causal_snaps_installed; /* ledgerkv_causal_snapshots_installed_total (idem) */
  /* The process (scrape-time, from /proc: metrics/process.c). */
  lkv_metric_t *resident_memory; /* process_resident_memory_bytes */
  lkv_metric_t *virtual_memory;  /* process_virtual_memory_bytes */
  lkv_metric_t *cpu_seconds;     /* process_cpu_seconds_total */
  lkv_metric_t *open_fds;        /* process_open_fds */
  lkv_metric_t *max_fds;         /* process_max_fds */
  lkv_metric_t *start_time;      /* process_start_time_seconds */
} lkv_metrics_catalog_t;

/* ledgerkv_disk_bytes's series: what the data dir holds, by part. */
enum { LKV_METRIC_DISK_STORE, LKV_METRIC_DISK_RAFT_LOG, LKV_METRIC_DISK_LEDGER, LKV_METRIC_DISK_PARTS };

/* ledgerkv_pool_limit_changes_total's series: the worker pool parked threads (lowered the limit of threads
 * running at once) or let parked ones run again. */
enum { LKV_METRIC_POOL_PARK, LKV_METRIC_POOL_UNPARK, LKV_METRIC_POOL_DIRECTIONS };

/* Series per peer family: members beyond this many (over the process's life) get no series. */
#define LKV_METRICS_MAX_PEERS 64

/* The series of member id in the peer families, labelled at its first call with the id in hex as etcd
 * prints it (types.ID: lowercase, no leading zeros). Returns the series, or -1 when the families are full
 * (more than LKV_METRICS_MAX_PEERS members seen) or were not registered; an update with -1 converted to
 * size_t is ignored (out of range). Any thread; takes a mutex only on a member's first call. */
long lkv_metrics_peer_series(uint64_t id);

/* lkv_metrics_peer_series, and the causal family (ledgerkv_causal_peer_last_heard_seconds) labelled at that
 * series too (only causal members call it, so that family stays empty in Raft mode). The scrape's collector
 * only (it is the family's only writer). */
long lkv_metrics_causal_peer_series(uint64_t id);

/* The catalog, registered (with the process collector) at the first call. Never NULL: when the registry
 * cannot be allocated every field is NULL. Any thread; after the first call it costs one load. */
const lkv_metrics_catalog_t *lkv_metrics_catalog(void);

/* Shorthand for call sites: lkv_metric_inc(LKV_METRIC(put_total), 0). */
#define LKV_METRIC(field) (lkv_metrics_catalog()->field)

/* Sets etcd_server_version's one series to version ("3.4.23"). Once; later calls are ignored. */
void lkv_metrics_catalog_version(const char *version);

#endif
