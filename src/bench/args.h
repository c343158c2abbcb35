/* The bench configuration: workloads, flags and their parsing (`ledgerkv bench WORKLOAD [flags]`). */
#ifndef LKV_BENCH_ARGS_H
#define LKV_BENCH_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
  LKV_BENCH_PUT,             /* KV.Put of one key */
  LKV_BENCH_RANGE,           /* KV.Range of --range-keys consecutive keys, linearizable or serializable */
  LKV_BENCH_TXN_PUT,         /* KV.Txn with --txn-ops puts */
  LKV_BENCH_TXN_MIXED,       /* KV.Txn, each one range or one put (--rw-ratio reads per write) */
  LKV_BENCH_WATCH,           /* puts observed by --watchers watch streams: put-to-event latency */
  LKV_BENCH_LEASE_KEEPALIVE, /* LeaseKeepAlive round trips, one lease and stream per client */
  LKV_BENCH_RECEIPT,         /* ledgerkvpb.Ledger/GetReceipt of a random revision a signed head covers */
  LKV_BENCH_VERIFY           /* receipts fetched once, then verified offline (no network while timed) */
} lkv_bench_workload_t;

/* verify: --key-space is lowered to this many receipts (each holds room for 65 proof hashes, ~2.3 KiB). */
#define LKV_BENCH_VERIFY_MAX_RECEIPTS 10000

typedef struct lkv_bench_endpoint_s {
  char *host; /* numeric address or name, without brackets */
  int port;
} lkv_bench_endpoint_t;

typedef struct lkv_bench_config_s {
  lkv_bench_workload_t workload;
  lkv_bench_endpoint_t *endpoints; /* connections go round-robin over these */
  size_t n_endpoints;
  int conns;            /* TCP connections (HTTP/2 sessions), spread over the threads */
  int clients;          /* requests in flight at most (closed loop: each client waits for its answer) */
  int threads;          /* client threads, each with its own event loop */
  uint64_t total;       /* requests to send; 0: until the duration ends */
  uint64_t duration_ms; /* 0: until total is reached */
  double rate;          /* requests per second offered (open loop); 0: closed loop */
  size_t key_size;      /* bytes per key: the key number in decimal, zero-padded */
  size_t val_size;      /* bytes per value */
  uint64_t key_space;   /* distinct keys; verify: receipts to fetch (at most LKV_BENCH_VERIFY_MAX_RECEIPTS) */
  int sequential_keys;  /* key = request number mod key_space, instead of uniformly random */
  int serializable;     /* range: serializable instead of linearizable */
  uint64_t range_keys;  /* range: consecutive keys per request, [key, key + range_keys); below key_space */
  double rw_ratio;      /* txn-mixed: reads per write */
  int txn_ops;          /* txn-put: puts per transaction */
  int watchers;         /* watch: watch streams, each watching every bench key */
  int64_t lease_ttl;    /* lease-keepalive: TTL in seconds of the leases granted */
  int json;             /* print the report as JSON (stdout) */
  int progress;         /* print a progress line every second (stderr) */
} lkv_bench_config_t;

/* Returned by lkv_bench_args_parse when --help was given (usage printed to stdout). */
#define LKV_BENCH_ARGS_HELP 1

/* Parses argv[0] = workload name, then flags ("--flag value" or "--flag=value"), into cfg (overwritten;
 * free with lkv_bench_args_free on success). Durations take a unit (ms, s, m, h; none means seconds).
 * Returns 0; LKV_BENCH_ARGS_HELP for -h/--help (cfg then needs no free); LKV_EINVAL with a one-line
 * explanation in err (errlen bytes, NUL-terminated) for an unknown workload or flag, a bad value, or an
 * inconsistent combination (e.g. --threads above --conns, --key-size too small for --key-space, verify
 * with --rate or with more than one endpoint);
 * LKV_ENOMEM. */
int lkv_bench_args_parse(lkv_bench_config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/* Releases what lkv_bench_args_parse allocated. */
void lkv_bench_args_free(lkv_bench_config_t *cfg);

/* Writes the usage text (workloads, flags, defaults) to f. */
void lkv_bench_args_usage(FILE *f);

/* The workload's command-line name ("txn-mixed"); static storage. */
const char *lkv_bench_workload_name(lkv_bench_workload_t w);

/* Parses a duration ("1.5s", "250ms", "2m", "1h"; a bare number is seconds) into *ms. Returns 0 or
 * LKV_EINVAL (empty, negative, unknown unit, trailing garbage, overflow). */
int lkv_bench_parse_duration(const char *s, uint64_t *ms);

#endif
