/* The server's command line: etcd's flag names and defaults, parsed into lkv_config_t. */
#ifndef LKV_SERVER_CONFIG_H
#define LKV_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cluster/initial_cluster.h"
#include "server/compactor_policy.h"

/*
 * Flags follow etcd's spelling and Go's flag package syntax: "--flag value", "--flag=value", "-flag value"
 * and "-flag=value" are the same; a boolean flag takes no separate value ("--version", "--version=false");
 * "--" ends the flags. Numbers are plain decimal integers. A later occurrence of a flag replaces an
 * earlier one.
 */

/* One client URL: http://host:port or https://host:port, nothing after the port. */
typedef struct lkv_config_url_s {
  char *url;      /* the URL as given, surrounding white space trimmed */
  int tls;        /* 1 for https:// */
  char host[256]; /* listen URLs: a numeric IPv4 or IPv6 address without brackets ("localhost" becomes
                   * "127.0.0.1"), ready for bind; advertise URLs: the host as given, brackets removed */
  int port;       /* 0..65535; 0 (listen only) asks the kernel for a free port */
} lkv_config_url_t;

/* The cluster this member belongs to, from etcd's cluster flags (checked together as etcd does). */
typedef struct lkv_config_cluster_s {
  lkv_cluster_initial_t initial;      /* --initial-cluster, or this member alone at its advertised peer
                                       * URLs; every member's id computed (cluster/initial_cluster.h) */
  uint64_t cluster_id;                /* of a cluster founded with initial and --initial-cluster-token */
  uint64_t member_id;                 /* this member's (--name's) id */
  int existing;                       /* --initial-cluster-state existing: join a running cluster */
  int causal;                         /* --consistency=causal (docs/causal.md): server/member_causal.h */
  uint64_t causal_silent_after_ms;    /* --experimental-causal-silent-after, 0 (default): an hour */
  uint64_t causal_log_events;         /* --experimental-causal-log-events (default 10000; 0: never compact) */
  uint64_t peer_queue_bytes;          /* --experimental-peer-queue-bytes (0: the transport's 64 MiB) */
  int force_new_cluster;              /* --force-new-cluster: restart as the only member (raft_node.h) */
  int strict_reconfig_check;          /* --strict-reconfig-check, default true: etcd's checks before
                                       * membership changes (raft_node.h) */
  int initial_corrupt_check;          /* --experimental-initial-corrupt-check (server/corrupt.h) */
  uint64_t corrupt_check_ms;          /* --experimental-corrupt-check-time, 0 (default): no periodic check */
  uint64_t causal_check_ms;           /* --causal-check-time, default 5 minutes; 0: none (causal mode) */
  int causal_check_given;             /* --causal-check-time was given (refused in Raft mode) */
  unsigned heartbeat_ms;              /* --heartbeat-interval, default 100 */
  unsigned election_ms;               /* --election-timeout, default 1000 */
  uint64_t snapshot_count;            /* --snapshot-count, default 100000: applied entries between
                                       * checkpoints (the Raft snapshots; 0 counts as the default) */
  lkv_config_url_t *listen_peer_urls; /* --listen-peer-urls (default http://localhost:2380), ready for */
  size_t n_listen_peer_urls;          /* bind; parsed only for a cluster of several members */
} lkv_config_cluster_t;

/* etcd's TLS flags of one side (config_tls.c), the client's or the peers' (--peer-... and the experimental
 * SAN switch); a string not given or empty is NULL. The client side takes effect on the https:// listen
 * URLs, the peer side on https:// peer URLs, listened on or dialed, as in etcd. */
typedef struct lkv_config_tls_s {
  char *cert_file;        /* --cert-file, --peer-cert-file */
  char *key_file;         /* --key-file, --peer-key-file */
  char *trusted_ca_file;  /* --(peer-)trusted-ca-file: client certificates are then required, as in etcd */
  char *crl_file;         /* --client-crl-file, --peer-crl-file */
  char *allowed_hostname; /* --client-cert-allowed-hostname, --peer-cert-allowed-hostname */
  char *allowed_cn;       /* --peer-cert-allowed-cn (peers only) */
  char *cipher_suites;    /* --cipher-suites (both sides), Go's names (checked when parsed) */
  int client_cert_auth;   /* --client-cert-auth, --peer-client-cert-auth */
  int auto_tls;           /* --(peer-)auto-tls, and no certificate files: a self-signed certificate in
                           * <data-dir>/fixtures/client or fixtures/peer (server/tls_setup.h) */
  int skip_san;           /* --experimental-peer-skip-client-san-verification (peers only) */
} lkv_config_tls_t;

/* ledgerkv's per-client rate limits (--rate-limit-*, server/config_rate_limit.h; ratelimit/ratelimit.h). */
typedef struct lkv_config_rate_limit_s {
  uint64_t requests;       /* --rate-limit-requests: a second per identity, 0 (default): no limit */
  uint64_t burst;          /* --rate-limit-burst: 0 (default): one second's worth */
  uint64_t bytes;          /* --rate-limit-bytes: request bytes a second per identity, 0 (default): none */
  uint64_t bytes_burst;    /* --rate-limit-bytes-burst: 0 (default): one second's worth */
  uint64_t max_identities; /* --rate-limit-max-identities, default 10000 */
  int by;                  /* --rate-limit-by: an lkv_ratelimit_by_t, default user (then cn, address) */
  char *exempt;            /* --rate-limit-exempt, default "LeaseKeepAlive"; never NULL after parsing */
  char *file;              /* --rate-limit-file: re-read on SIGHUP; NULL when not given */
} lkv_config_rate_limit_t;

/* etcd's default lifetime of a JWT token (its ttl option). */
#define LKV_CONFIG_JWT_TTL_S 300

/* --auth-token: etcd's simple tokens (the default), or JWT ones with its options. */
typedef struct lkv_config_auth_token_s {
  int jwt;           /* "jwt,...": JWT tokens */
  char *pub_key;     /* pub-key=, NULL when not given */
  char *priv_key;    /* priv-key=, NULL when not given (then tokens are verified, never signed) */
  char *sign_method; /* sign-method= (RS256, PS384, ES512...), NULL when not given */
  int64_t ttl_s;     /* ttl= in seconds, default LKV_CONFIG_JWT_TTL_S */
} lkv_config_auth_token_t;

typedef struct lkv_config_s {
  char *name;     /* --name, default "default"; never empty */
  char *data_dir; /* --data-dir, default "<name>.ledgerkv" */
  char *wal_dir;  /* --wal-dir: the Raft log's directory, default "<data-dir>/member/wal"
                   * (never NULL after parsing) */
  lkv_config_url_t *listen_client_urls;    /* --listen-client-urls, default http://127.0.0.1:2379; */
  size_t n_listen_client_urls;             /* at least one, no two with the same host and port */
  lkv_config_url_t *advertise_client_urls; /* --advertise-client-urls, default: a copy of the listen URLs */
  size_t n_advertise_client_urls;          /* (then possibly port 0: the caller substitutes the bound port) */
  lkv_config_url_t *listen_metrics_urls;   /* --listen-metrics-urls: where /metrics and /health are served */
  size_t n_listen_metrics_urls;            /* besides (https://: client TLS flags); none by default */
  int metrics_extensive;                   /* --metrics extensive (default basic): gRPC handling times */
  char **cors;                         /* --cors: origins allowed by the HTTP answers' CORS headers ("*": */
  size_t n_cors;                       /* any; the default); as given, compared with Origin */
  char **host_whitelist;               /* --host-whitelist: Host names served over cleartext HTTP/1.1 */
  size_t n_host_whitelist;             /* ("*": any, the default; an empty value too) */
  uint64_t max_request_bytes;          /* --max-request-bytes, default 1572864, 1..4294967295 */
  uint64_t max_txn_ops;                /* --max-txn-ops, default 128, 1..4294967295 */
  uint32_t max_concurrent_streams;     /* --max-concurrent-streams, default 4294967295 (etcd's); 0: none
                                        * advertised, as grpc-go */
  uint64_t grpc_keepalive_min_time_ms; /* --grpc-keepalive-min-time, default 5s; <= 0 given: grpc-go's 5m */
  uint64_t grpc_keepalive_interval_ms; /* --grpc-keepalive-interval, default 2h, and */
  uint64_t grpc_keepalive_timeout_ms;  /* --grpc-keepalive-timeout, default 20s; either <= 0 given: both
                                        * grpc-go's (2h, 20s). Never 0 after parsing */
  uint64_t bcrypt_cost;                /* --bcrypt-cost, default 10; outside 4..31 it is 10, with etcd's
                                        * warning */
  uint64_t auth_token_ttl;             /* --auth-token-ttl in seconds, default 300 (0: the default) */
  lkv_config_auth_token_t auth_token;  /* --auth-token, default simple */
  int64_t quota_backend_bytes;         /* --quota-backend-bytes; 0 given means the default, 2 GiB, and is
                                        * stored as such: this field is never 0 after parsing */
  uint64_t disk_reserve_bytes;         /* --disk-reserve-bytes (ledgerkv's own), default 128 MiB (two Raft
                                        * log segments); 0: no disk alarm */
  int worker_threads;                  /* --worker-threads (ledgerkv's own), 0..1024; 0 means size the
                                        * pool from the CPU budget (src/pool/cpu_budget.h) */
  uint64_t watch_progress_notify_ms;   /* --experimental-watch-progress-notify-interval, a Go duration
                                        * (default 10m); 0 or negative given means the default, as in
                                        * etcd; stored in milliseconds, never 0 after parsing */
  int enable_web_view;                 /* --enable-web-view (default false): the page at /ui/ */
  int cpu_neighbour_aware;             /* --cpu-neighbour-aware (default false): park threads while
                                        * neighbours use our CPUs (src/pool/controller.h) */
  unsigned cpu_sample_ms;              /* --cpu-sample-interval, 1ms..1m, default 100ms */
  int cpu_overcommit_percent;          /* --cpu-overcommit-percent, 100..1000, default 100 */
  int ledger;                          /* --ledger (ledgerkv's own, default true): keep the verifiable
                                        * ledger in <data-dir>/ledger (docs/ledger.md) */
  unsigned ledger_sign_ms;             /* --ledger-sign-interval, 1ms..1m, default 100ms */
  uint64_t snapshot_catchup_entries;   /* --experimental-snapshot-catchup-entries (default 5000) */
  unsigned ledger_checkpoint_s;        /* --ledger-checkpoint-interval in seconds, 0 (none) or 1s..24h,
                                        * default 5m: how often the store is copied for rebuilds */
  uint64_t ledger_retention_records;   /* --ledger-retention: keep at least this many of the newest
                                        * records (0: no limit by count) */
  uint64_t ledger_retention_bytes;     /* --ledger-retention: keep the newest records within this many
                                        * bytes of ledger.log (0: no limit by size); both 0 keep all */
  lkv_compaction_mode_t auto_compaction_mode; /* --auto-compaction-mode (default periodic); OFF when
                                               * --auto-compaction-retention is 0 (the default) */
  int64_t auto_compaction_retention;          /* --auto-compaction-retention as etcd reads it: periodic, in
                                               * milliseconds (a duration, or a whole number of hours);
                                               * revision, the revisions to keep */
  uint64_t auto_compaction_check_ms;          /* --auto-compaction-revision-interval (ledgerkv's own), default
                                               * 5m, etcd 3.4's fixed interval: how often revision mode looks */
  lkv_config_cluster_t cluster;               /* the cluster flags */
  lkv_config_tls_t client_tls;                /* the client TLS flags */
  lkv_config_tls_t peer_tls;                  /* the peer TLS flags */
  lkv_config_rate_limit_t rate_limit;         /* the rate limit flags */
  char **warnings;                            /* one line each for the etcd flags accepted without effect, */
  size_t n_warnings;                          /* ignored inputs, unrecognized ETCD_* variables; printed on
                                               * stderr by lkv_config_parse too */
} lkv_config_t;

#define LKV_CONFIG_DEFAULT_QUOTA_BYTES ((int64_t)2 * 1024 * 1024 * 1024)

/* lkv_config_parse's positive result: --help or --version was printed on stdout; exit with status 0. */
#define LKV_CONFIG_PRINTED 1

/* Parses etcd's start-up inputs into *cfg, after filling every default: the command line, then for each
 * flag not given there its ETCD_<FLAG_NAME> environment variable (a variable shadowed by a given flag is an
 * error, an unrecognized ETCD_ variable a warning, as in etcd); or, when --config-file (or
 * ETCD_CONFIG_FILE) names a YAML file, that file alone, as etcd does. Every etcd 3.4 flag is known: those
 * ledgerkv implements take effect, those without effect on a single node are accepted with a warning
 * (cfg->warnings, also printed on stderr), the rest are refused with the reason (src/server/config_etcd.c).
 * cfg: out, overwritten (any previous contents are not freed). Holds memory only after a 0 return; free
 *      it then with lkv_config_free.
 * argc, argv: in, the program's arguments; argv[0] (the program name) is skipped. Not retained.
 * err, errlen: out, on LKV_EINVAL or LKV_ENOMEM a one-line message naming the flag and the bad value
 *      (errlen may be 0 to skip it).
 * Returns 0 when the server should start with cfg; LKV_CONFIG_PRINTED when --help/-h was seen (usage is
 * printed at once, before later flags are looked at, as Go does) or --version was given on an otherwise
 * valid command line (versions printed); LKV_EINVAL for inputs to reject (unknown flag, missing value,
 * malformed number or URL, unsupported scheme, positional argument, refused flag, shadowed environment
 * variable, unreadable or malformed config file); LKV_ENOMEM.
 * On every nonzero return cfg holds nothing to free. */
int lkv_config_parse(lkv_config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/* Prints every flag with its default and a one-line description (what --help prints) to f. */
void lkv_config_usage(FILE *f);

/* Prints ledgerkv's version, the etcd API version it speaks and the etcd version it reports (what
 * --version prints) to f. */
void lkv_config_version(FILE *f);

/* Frees what lkv_config_parse allocated and zeroes cfg. cfg may be NULL or already freed (zeroed). */
void lkv_config_free(lkv_config_t *cfg);

#endif
