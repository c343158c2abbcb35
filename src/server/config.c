/* The command line: a table of the flags ledgerkv implements, Go flag-package syntax, defaults, and the
 * order of etcd's inputs (flags, then ETCD_* variables, or a --config-file alone). */
#include "server/config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/config_duration.h"
#include "server/config_etcd.h"
#include "server/config_internal.h"
#include "server/config_url.h"
#include "server/version.h"

#define DEFAULT_NAME "default"
#define DEFAULT_LISTEN_URLS "http://127.0.0.1:2379"
#define DEFAULT_PROGRESS_NOTIFY_MS (10u * 60u * 1000u)

extern char **environ;

typedef lkv__config_parse_t parse_t;

/* The C type of a numeric flag's field. */
typedef enum { NUM_U64, NUM_I64, NUM_INT } num_type_t;

typedef struct flag_s flag_t;
struct flag_s {
  const char *name;
  const char *def; /* default as the usage shows it; NULL for boolean flags */
  const char *help;
  int (*set)(parse_t *p, const flag_t *f, const char *value);
  size_t offset;     /* numeric and switch flags: the field in lkv_config_t */
  num_type_t type;   /* numeric flags: the field's type */
  uint64_t min, max; /* numeric flags: accepted range */
};

int lkv__config_fail(parse_t *p, const char *fmt, ...) {
  if (p->errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
  }
  return LKV_EINVAL;
}

#define fail lkv__config_fail

int lkv__config_nomem(parse_t *p) {
  if (p->errlen > 0) snprintf(p->err, p->errlen, "out of memory");
  return LKV_ENOMEM;
}

#define nomem lkv__config_nomem

static int replace_string(parse_t *p, char **field, const char *value) {
  char *copy = strdup(value);
  if (copy == NULL) return nomem(p);
  free(*field);
  *field = copy;
  return 0;
}

static int set_name(parse_t *p, const flag_t *f, const char *value) {
  if (value[0] == '\0') return fail(p, "--%s: must not be empty", f->name);
  return replace_string(p, &p->cfg->name, value);
}

/* An empty --data-dir means the default, as in etcd. */
static int set_data_dir(parse_t *p, const flag_t *f, const char *value) {
  (void)f;
  if (value[0] != '\0') return replace_string(p, &p->cfg->data_dir, value);
  free(p->cfg->data_dir);
  p->cfg->data_dir = NULL;
  return 0;
}

/* --wal-dir: the Raft log elsewhere (a dedicated disk, as etcd's); empty means the default. */
static int set_wal_dir(parse_t *p, const flag_t *f, const char *value) {
  (void)f;
  if (value[0] != '\0') return replace_string(p, &p->cfg->wal_dir, value);
  free(p->cfg->wal_dir);
  p->cfg->wal_dir = NULL;
  return 0;
}

static int set_urls(parse_t *p, const flag_t *f, const char *value, int for_listen, lkv_config_url_t **urls,
                    size_t *n) {
  char flag[64];
  snprintf(flag, sizeof(flag), "--%s", f->name);
  lkv_config_url_t *parsed;
  size_t count;
  int rc = lkv__config_urls_parse(flag, value, for_listen, &parsed, &count, p->err, p->errlen);
  if (rc != 0) return rc;
  lkv__config_urls_free(*urls, *n);
  *urls = parsed;
  *n = count;
  return 0;
}

static int set_listen(parse_t *p, const flag_t *f, const char *value) {
  return set_urls(p, f, value, 1, &p->cfg->listen_client_urls, &p->cfg->n_listen_client_urls);
}

/* etcd serves /metrics and /health there too; https:// with the client TLS flags (config_tls.c checks
 * them). Empty: none, etcd's default. */
static int set_metrics_listen(parse_t *p, const flag_t *f, const char *value) {
  if (value[0] == '\0') {
    lkv__config_urls_free(p->cfg->listen_metrics_urls, p->cfg->n_listen_metrics_urls);
    p->cfg->listen_metrics_urls = NULL;
    p->cfg->n_listen_metrics_urls = 0;
    return 0;
  }
  return set_urls(p, f, value, 1, &p->cfg->listen_metrics_urls, &p->cfg->n_listen_metrics_urls);
}

static int set_advertise(parse_t *p, const flag_t *f, const char *value) {
  p->advertise_set = 1;
  return set_urls(p, f, value, 0, &p->cfg->advertise_client_urls, &p->cfg->n_advertise_client_urls);
}

static int set_number(parse_t *p, const flag_t *f, const char *value) {
  const char *s = value;
  if (*s == '-') return fail(p, "--%s: invalid value \"%s\": must not be negative", f->name, value);
  if (*s == '\0') return fail(p, "--%s: invalid value \"\": expected an integer", f->name);
  uint64_t n = 0;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9')
      return fail(p, "--%s: invalid value \"%s\": expected an integer", f->name, value);
    unsigned d = (unsigned)(*s - '0');
    if (n > (UINT64_MAX - d) / 10)
      n = UINT64_MAX; /* saturate: reported as out of range below */
    else
      n = n * 10 + d;
  }
  if (n < f->min)
    return fail(p, "--%s: invalid value \"%s\": must be at least %llu", f->name, value,
                (unsigned long long)f->min);
  if (n > f->max)
    return fail(p, "--%s: invalid value \"%s\": must be at most %llu", f->name, value,
                (unsigned long long)f->max);
  char *field = (char *)p->cfg + f->offset;
  switch (f->type) {
    case NUM_U64:
      *(uint64_t *)(void *)field = n;
      break;
    case NUM_I64:
      *(int64_t *)(void *)field = (int64_t)n;
      break;
    case NUM_INT:
      *(int *)(void *)field = (int)n;
      break;
  }
  return 0;
}

/* etcd ignores a duration <= 0 and keeps its default; sub-millisecond values round up to 1 ms. */
static int set_progress_interval(parse_t *p, const flag_t *f, const char *value) {
  int64_t ns;
  if (lkv__config_duration_parse(value, &ns) != 0)
    return fail(p, "--%s: invalid value \"%s\": expected a duration such as 10m or 500ms", f->name, value);
  p->cfg->watch_progress_notify_ms = ns <= 0 ? DEFAULT_PROGRESS_NOTIFY_MS : ((uint64_t)ns + 999999) / 1000000;
  return 0;
}

/* Go's strconv.ParseBool spellings, so "--version=false" behaves as with etcd. Returns 0 or 1, or -1. */
static int parse_bool(const char *value) {
  static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
  static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
    if (strcmp(value, yes[i]) == 0) return 1;
    if (strcmp(value, no[i]) == 0) return 0;
  }
  return -1;
}

static int set_version(parse_t *p, const flag_t *f, const char *value) {
  int b = parse_bool(value);
  if (b < 0) return fail(p, "--%s: invalid value \"%s\": expected true or false", f->name, value);
  p->print_version = b;
  return 0;
}

/* A boolean flag of the config's int field at f->offset. */
static int set_switch(parse_t *p, const flag_t *f, const char *value) {
  int b = parse_bool(value);
  if (b < 0) return fail(p, "--%s: invalid value \"%s\": expected true or false", f->name, value);
  *(int *)((char *)p->cfg + f->offset) = b;
  return 0;
}

/* etcd's --metrics: "extensive" adds the gRPC handling-time histograms; any other value is the basic set,
 * as etcd takes it (no check). */
static int set_auth_token(parse_t *p, const flag_t *f, const char *value) {
  (void)f;
  return lkv__config_auth_token_set(p, value);
}

static int set_metrics(parse_t *p, const flag_t *f, const char *value) {
  (void)f;
  p->cfg->metrics_extensive = strcmp(value, "extensive") == 0;
  return 0;
}

static int set_sample_interval(parse_t *p, const flag_t *f, const char *value) {
  int64_t ns;
  if (lkv__config_duration_parse(value, &ns) != 0 || ns < 1000000 || ns > (int64_t)60 * 1000000000)
    return fail(p, "--%s: invalid value \"%s\": expected a duration from 1ms to 1m, such as 100ms", f->name,
                value);
  p->cfg->cpu_sample_ms = (unsigned)(ns / 1000000);
  return 0;
}

/* --causal-check-time: the causal members' corruption check period (docs/causal.md §6); 0 turns it off. */
static int set_causal_check_time(parse_t *p, const flag_t *f, const char *value) {
  int64_t ns;
  if (lkv__config_duration_parse(value, &ns) != 0 || ns < 0)
    return fail(p, "--%s: invalid value \"%s\": expected a duration such as 5m or 500ms (0: no check)",
                f->name, value);
  p->cfg->cluster.causal_check_ms = ((uint64_t)ns + 999999) / 1000000;
  p->cfg->cluster.causal_check_given = 1;
  return 0;
}

/* --consistency: raft (the default) or causal (issue 16, docs/causal.md), whose weaker guarantees are said
 * at every start. */
static int set_consistency(parse_t *p, const flag_t *f, const char *value) {
  p->cfg->cluster.causal = strcmp(value, "causal") == 0;
  if (p->cfg->cluster.causal)
    return lkv__config_warn(p,
                            "--%s=causal: every member accepts writes and replicates them in the "
                            "background: not linearizable (docs/causal.md)",
                            f->name);
  if (strcmp(value, "raft") == 0) return 0;
  return fail(p, "--%s: invalid value \"%s\": expected raft or causal", f->name, value);
}

/* A duration flag of at least 1ms into *ms; example is shown in the refusal. */
static int duration_ms(parse_t *p, const flag_t *f, const char *value, const char *example, uint64_t *ms) {
  int64_t ns;
  if (lkv__config_duration_parse(value, &ns) != 0 || ns < 1000000)
    return fail(p, "--%s: invalid value \"%s\": expected a duration of at least 1ms, such as %s", f->name,
                value, example);
  *ms = (uint64_t)ns / 1000000;
  return 0;
}

/* --experimental-causal-silent-after: how long a causal member waits before it reports a peer silent. */
static int set_silent_after(parse_t *p, const flag_t *f, const char *value) {
  return duration_ms(p, f, value, "1h", &p->cfg->cluster.causal_silent_after_ms);
}

static int set_ledger(parse_t *p, const flag_t *f, const char *value) {
  int b = parse_bool(value);
  if (b < 0) return fail(p, "--%s: invalid value \"%s\": expected true or false", f->name, value);
  p->cfg->ledger = b;
  return 0;
}

static int set_sign_interval(parse_t *p, const flag_t *f, const char *value) {
  int64_t ns;
  if (lkv__config_duration_parse(value, &ns) != 0 || ns < 1000000 || ns > (int64_t)60 * 1000000000)
    return fail(p, "--%s: invalid value \"%s\": expected a duration from 1ms to 1m, such as 100ms", f->name,
                value);
  p->cfg->ledger_sign_ms = (unsigned)(ns / 1000000);
  return 0;
}

static int set_checkpoint_interval(parse_t *p, const flag_t *f, const char *value) {
  int64_t ns;
  const int64_t second = 1000000000;
  if (lkv__config_duration_parse(value, &ns) != 0 || (ns != 0 && (ns < second || ns > 24 * 3600 * second)))
    return fail(p, "--%s: invalid value \"%s\": expected 0 or a duration from 1s to 24h, such as 5m", f->name,
                value);
  p->cfg->ledger_checkpoint_s = (unsigned)(ns / second);
  return 0;
}

static int set_revision_interval(parse_t *p, const flag_t *f, const char *value) {
  return duration_ms(p, f, value, "5m", &p->cfg->auto_compaction_check_ms);
}

/* "all", a number of records, or a size of ledger.log with a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB). */
static int set_ledger_retention(parse_t *p, const flag_t *f, const char *value) {
  static const struct {
    const char *unit;
    uint64_t scale;
  } units[] = {{"B", 1},
               {"KB", 1000},
               {"MB", 1000000},
               {"GB", 1000000000},
               {"TB", 1000000000000},
               {"KiB", 1ull << 10},
               {"MiB", 1ull << 20},
               {"GiB", 1ull << 30},
               {"TiB", 1ull << 40}};
  char *end;
  p->cfg->ledger_retention_records = p->cfg->ledger_retention_bytes = 0;
  if (strcmp(value, "all") == 0) return 0;
  errno = 0;
  unsigned long long n = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
  if (n > 0 && errno == 0 && *end == '\0') {
    p->cfg->ledger_retention_records = n;
    return 0;
  }
  for (size_t i = 0; n > 0 && errno == 0 && i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcmp(end, units[i].unit) || n > UINT64_MAX / units[i].scale) continue;
    p->cfg->ledger_retention_bytes = n * units[i].scale;
    return 0;
  }
  return fail(p, "--%s: invalid value \"%s\": expected all, a number of records (1000000) or a size (4GiB)",
              f->name, value);
}

/* --rate-limit-by, -exempt and -file (config_rate_limit.c). */
static int set_rate_limit(parse_t *p, const flag_t *f, const char *value) {
  return lkv__config_rate_limit_set(p, f->name, value);
}

static int set_config_file(parse_t *p, const flag_t *f, const char *value) {
  (void)f;
  if (value[0] == '\0') { /* empty: as not given, the flags and ETCD_* variables apply */
    free(p->config_file);
    p->config_file = NULL;
    return 0;
  }
  return replace_string(p, &p->config_file, value);
}

#define NUMBER(name, def, help, field, type, min, max) \
  { name, def, help, set_number, offsetof(lkv_config_t, field), type, min, max }

static const flag_t flags[] = {
    {"name", "'" DEFAULT_NAME "'", "Human-readable name for this member.", set_name, 0, 0, 0, 0},
    {"data-dir", "'${name}.ledgerkv'", "Path to the data directory.", set_data_dir, 0, 0, 0, 0},
    {"wal-dir", "''", "Path to the dedicated wal directory (the Raft log; default <data-dir>/member/wal).",
     set_wal_dir, 0, 0, 0, 0},
    {"listen-client-urls", "'" DEFAULT_LISTEN_URLS "'",
     "List of URLs to listen on for client traffic (http only; numeric IP or localhost).", set_listen, 0, 0,
     0, 0},
    {"advertise-client-urls", "the listen URLs",
     "List of this member's client URLs to advertise to the public.", set_advertise, 0, 0, 0, 0},
    {"listen-metrics-urls", "''",
     "List of URLs to listen on for the metrics and health endpoints (numeric IP or localhost).",
     set_metrics_listen, 0, 0, 0, 0},
    {"metrics", "'basic'",
     "Set level of detail for exported metrics, specify 'extensive' to include histogram metrics.",
     set_metrics, 0, 0, 0, 0},
    NUMBER("max-request-bytes", "'1572864'", "Maximum client request size in bytes the server will accept.",
           max_request_bytes, NUM_U64, 1, UINT32_MAX),
    NUMBER("max-txn-ops", "'128'", "Maximum number of operations permitted in a transaction.", max_txn_ops,
           NUM_U64, 1, UINT32_MAX),
    NUMBER("bcrypt-cost", "'10'", "Specify bcrypt algorithm cost factor for auth password hashing.",
           bcrypt_cost, NUM_U64, 0, UINT64_MAX), /* a Go uint: any value parses */
    {"auth-token", "'simple'",
     "Specify auth token specific options. 'simple', or 'jwt,pub-key=,priv-key=,sign-method=[,ttl=]'.",
     set_auth_token, 0, 0, 0, 0},
    NUMBER("auth-token-ttl", "'300'", "The lifetime in seconds of the auth token.", auth_token_ttl, NUM_U64,
           0, UINT32_MAX), /* 0: etcd's default, 300 */
    NUMBER("quota-backend-bytes", "'0'",
           "Raise alarms when backend size exceeds the given quota. 0 means use the default quota (2 GiB).",
           quota_backend_bytes, NUM_I64, 0, INT64_MAX),
    NUMBER(
        "disk-reserve-bytes", "'134217728'",
        "Raise the NOSPACE alarm (writes refused, as at the quota) when the data dir's file system has less "
        "free than this; the store, the Raft log and the ledger share it (0: off).",
        disk_reserve_bytes, NUM_U64, 0, UINT64_MAX),
    NUMBER("worker-threads", "'0'",
           "Request-serving threads; 0: one per CPU we may run on, as many running at once as the CPU "
           "budget (ledgerkv cpus) and the cgroup's throttling allow.",
           worker_threads, NUM_INT, 0, 1024),
    {"cpu-neighbour-aware", NULL,
     "Park request-serving threads while neighbours use our CPUs: yields CPU at our latency's cost (default "
     "false).",
     set_switch, offsetof(lkv_config_t, cpu_neighbour_aware), 0, 0, 0},
    {"enable-web-view", NULL,
     "Serve the live web view at /ui/ on the client URLs: keys under a prefix updated live, members, the "
     "ledger's head, receipts checked in the browser; read-only (default false).",
     set_switch, offsetof(lkv_config_t, enable_web_view), 0, 0, 0},
    {"cpu-sample-interval", "'100ms'", "How often the worker pool's controller samples CPU use.",
     set_sample_interval, 0, 0, 0, 0},
    NUMBER("cpu-overcommit-percent", "'100'",
           "Threads allowed to run, as a percentage of the CPUs left by the neighbours (100..1000).",
           cpu_overcommit_percent, NUM_INT, 100, 1000),
    {"experimental-watch-progress-notify-interval", "'10m0s'",
     "Duration of periodic watch progress notifications (at least 100ms).", set_progress_interval, 0, 0, 0,
     0},
    NUMBER("experimental-snapshot-catchup-entries", "'5000'",
           "Raft log entries a cluster member keeps below its snapshot for slow followers (etcd 3.5's flag).",
           snapshot_catchup_entries, NUM_U64, 1, UINT32_MAX),
    {"consistency", "'raft'",
     "How writes are replicated: raft (one order for the cluster, as etcd); causal (every member accepts "
     "writes through partitions and converges; docs/causal.md).",
     set_consistency, 0, 0, 0, 0},
    {"causal-check-time", "'5m0s'",
     "With --consistency=causal: how often members compare digests of their key states to find corruption "
     "(0: never; docs/causal.md).",
     set_causal_check_time, 0, 0, 0, 0},
    {"experimental-causal-silent-after", "'1h0m0s'",
     "Causal mode: a peer that sent nothing (hello, vector, event) for longer is reported silent (logged, "
     "metrics, Conflicts.ReplicationStatus).",
     set_silent_after, 0, 0, 0, 0},
    NUMBER(
        "experimental-causal-log-events", "'10000'",
        "Causal mode: once a member holds more events, those every member has (beyond the newest half) are "
        "compacted into a checkpoint kept in the store (0: never; docs/causal.md).",
        cluster.causal_log_events, NUM_U64, 0, UINT32_MAX),
    NUMBER("experimental-peer-queue-bytes", "'67108864'",
           "Payload bytes queued for one peer before more is refused (64 MiB; at least 8 MiB): a snapshot "
           "larger than this is streamed in chunks within it (docs/causal.md §7b, docs/cluster.md).",
           cluster.peer_queue_bytes, NUM_U64, 8u << 20, 1u << 30),
    {"ledger", NULL, "Keep the verifiable ledger of every change in <data-dir>/ledger (default true).",
     set_ledger, 0, 0, 0, 0},
    {"ledger-sign-interval", "'100ms'", "How often the ledger's tree head is signed (1ms..1m).",
     set_sign_interval, 0, 0, 0, 0},
    {"ledger-retention", "'4GiB'",
     "How much ledger history to keep: all, a number of records, or a size of ledger.log (4GiB); older "
     "records are dropped once a store checkpoint covers them (receipts already given still verify).",
     set_ledger_retention, 0, 0, 0, 0},
    {"ledger-checkpoint-interval", "'5m0s'",
     "How often the store is copied so that a rebuild after a machine crash replays the ledger from there "
     "(0: never).",
     set_checkpoint_interval, 0, 0, 0, 0},
    {"auto-compaction-revision-interval", "'5m0s'",
     "How often auto-compaction in revision mode compacts (etcd 3.4: every 5 minutes).",
     set_revision_interval, 0, 0, 0, 0},
    NUMBER("rate-limit-requests", "'0'",
           "Requests (messages) a second each client identity may send (0: no limit); see --rate-limit-by.",
           rate_limit.requests, NUM_U64, 0, UINT32_MAX),
    NUMBER("rate-limit-burst", "'0'", "Requests a client may send at once (0: --rate-limit-requests).",
           rate_limit.burst, NUM_U64, 0, UINT32_MAX),
    NUMBER("rate-limit-bytes", "'0'", "Request bytes a second each client identity may send (0: no limit).",
           rate_limit.bytes, NUM_U64, 0, UINT64_MAX / 2),
    NUMBER("rate-limit-bytes-burst", "'0'",
           "Request bytes a client may send at once (0: --rate-limit-bytes).", rate_limit.bytes_burst,
           NUM_U64, 0, UINT64_MAX / 2),
    {"rate-limit-by", "'user'",
     "What a client is for the rate limits: user (the authenticated user, else as cn), cn (the TLS client "
     "certificate's CN, else as address) or address (the remote IP address).",
     set_rate_limit, 0, 0, 0, 0},
    {"rate-limit-exempt", "'LeaseKeepAlive'",
     "Comma-separated gRPC methods never rate limited (Method, or package.Service/Method).", set_rate_limit,
     0, 0, 0, 0},
    NUMBER("rate-limit-max-identities", "'10000'",
           "Client identities the rate limiter keeps at most (the least recently seen make room).",
           rate_limit.max_identities, NUM_U64, 1, UINT32_MAX),
    {"rate-limit-file", "''",
     "A YAML file of rate-limit-* keys that override these flags, read at start and again on SIGHUP.",
     set_rate_limit, 0, 0, 0, 0},
    {"config-file", "''",
     "Path to a YAML configuration file (etcd's keys); when given, other flags and ETCD_* variables are "
     "ignored, as with etcd.",
     set_config_file, 0, 0, 0, 0},
    {"version", NULL, "Print the version and exit.", set_version, 0, 0, 0, 0},
};

static const flag_t *find_flag(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
    if (strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0) return &flags[i];
  }
  return NULL;
}

int lkv__config_own_flag(size_t i, const char **name, const char **def, const char **help) {
  if (i >= sizeof(flags) / sizeof(flags[0])) return -1;
  *name = flags[i].name;
  *def = flags[i].def;
  *help = flags[i].help;
  return 0;
}

int lkv__config_flag_kind(const char *name, size_t len) {
  const flag_t *f = find_flag(name, len);
  if (f != NULL) return f->def == NULL ? 2 : 1;
  const lkv__etcd_flag_t *e = lkv__config_etcd_find(name, len);
  if (e == NULL) return 0;
  return e->kind == LKV__KIND_BOOL || e->kind == LKV__KIND_IGNORED ? 2 : 1;
}

int lkv__config_set(parse_t *p, const char *name, size_t len, const char *value, lkv__config_src_t src,
                    const char *key) {
  const flag_t *f = find_flag(name, len);
  const lkv__etcd_flag_t *e = lkv__config_etcd_find(name, len);
  int rc;
  if (f != NULL) {
    rc = f->set(p, f, value);
    if (rc == LKV_EINVAL && src == LKV__SRC_ENV && p->errlen > 0) {
      char inner[512];
      snprintf(inner, sizeof(inner), "%s", p->err);
      fail(p, "invalid value \"%s\" for %s: %s", value, key, inner);
    }
  } else if (e != NULL) {
    rc = lkv__config_set_given(p, e, value, src, key);
  } else {
    return fail(p, "flag provided but not defined: -%.*s", (int)len, name);
  }
  if (rc != 0) return rc;
  const char *static_name = f ? f->name : e->name;
  if (!lkv__config_was_set(p, static_name) && p->n_set < LKV__CONFIG_MAX_GIVEN)
    p->set[p->n_set++] = static_name;
  return 0;
}

void lkv_config_free(lkv_config_t *cfg) {
  if (cfg == NULL) return;
  lkv_cluster_initial_free(&cfg->cluster.initial);
  lkv__config_urls_free(cfg->cluster.listen_peer_urls, cfg->cluster.n_listen_peer_urls);
  free(cfg->name);
  free(cfg->data_dir);
  free(cfg->wal_dir);
  free(cfg->rate_limit.exempt);
  free(cfg->rate_limit.file);
  lkv__config_auth_token_free(&cfg->auth_token);
  lkv__config_urls_free(cfg->listen_client_urls, cfg->n_listen_client_urls);
  lkv__config_urls_free(cfg->advertise_client_urls, cfg->n_advertise_client_urls);
  lkv__config_urls_free(cfg->listen_metrics_urls, cfg->n_listen_metrics_urls);
  lkv__config_list_free(cfg->cors, cfg->n_cors);
  lkv__config_list_free(cfg->host_whitelist, cfg->n_host_whitelist);
  for (lkv_config_tls_t *t = &cfg->client_tls; t; t = t == &cfg->client_tls ? &cfg->peer_tls : NULL) {
    free(t->cert_file), free(t->key_file), free(t->trusted_ca_file), free(t->crl_file);
    free(t->allowed_hostname), free(t->allowed_cn), free(t->cipher_suites);
  }
  for (size_t i = 0; i < cfg->n_warnings; i++) free(cfg->warnings[i]);
  free(cfg->warnings);
  memset(cfg, 0, sizeof(*cfg));
}

/* Handles argv[*i] (and its value, which may be argv[*i + 1]). Returns 0, LKV_CONFIG_PRINTED for help, or
 * an error. */
static int parse_arg(parse_t *p, int argc, char **argv, int *i) {
  const char *arg = argv[*i];
  if (arg[0] != '-' || arg[1] == '\0') return fail(p, "'%s' is not a valid flag", arg);
  const char *name = arg + (arg[1] == '-' ? 2 : 1);
  if (name[0] == '\0' || name[0] == '-' || name[0] == '=') return fail(p, "bad flag syntax: %s", arg);
  const char *eq = strchr(name, '=');
  size_t name_len = eq ? (size_t)(eq - name) : strlen(name);

  if ((name_len == 1 && name[0] == 'h') || (name_len == 4 && memcmp(name, "help", 4) == 0)) {
    lkv_config_usage(stdout);
    return LKV_CONFIG_PRINTED;
  }
  int kind = lkv__config_flag_kind(name, name_len);
  if (kind == 0) return fail(p, "flag provided but not defined: %.*s", (int)(name - arg + name_len), arg);
  if (eq != NULL) return lkv__config_set(p, name, name_len, eq + 1, LKV__SRC_FLAG, NULL);
  if (kind == 2) return lkv__config_set(p, name, name_len, "true", LKV__SRC_FLAG, NULL);
  if (*i + 1 >= argc) return fail(p, "flag needs an argument: %s", arg);
  *i += 1;
  return lkv__config_set(p, name, name_len, argv[*i], LKV__SRC_FLAG, NULL);
}

/* Fills what depends on other flags: the data dir from the name, advertise URLs from the listen URLs. */
static int resolve(parse_t *p) {
  lkv_config_t *cfg = p->cfg;
  if (cfg->data_dir == NULL) {
    size_t len = strlen(cfg->name) + sizeof(".ledgerkv");
    cfg->data_dir = malloc(len);
    if (cfg->data_dir == NULL) return nomem(p);
    snprintf(cfg->data_dir, len, "%s.ledgerkv", cfg->name);
  }
  if (cfg->wal_dir == NULL) {
    size_t len = strlen(cfg->data_dir) + sizeof("/member/wal");
    cfg->wal_dir = malloc(len);
    if (cfg->wal_dir == NULL) return nomem(p);
    snprintf(cfg->wal_dir, len, "%s/member/wal", cfg->data_dir);
  }
  if (!p->advertise_set) {
    int rc = lkv__config_urls_copy(cfg->listen_client_urls, cfg->n_listen_client_urls,
                                   &cfg->advertise_client_urls);
    if (rc != 0) return nomem(p);
    cfg->n_advertise_client_urls = cfg->n_listen_client_urls;
  }
  if (cfg->quota_backend_bytes == 0) cfg->quota_backend_bytes = LKV_CONFIG_DEFAULT_QUOTA_BYTES;
  /* etcd takes any cost and falls back to bcrypt's default outside bcrypt's range, with a warning. */
  if (cfg->bcrypt_cost < 4 || cfg->bcrypt_cost > 31) {
    int rc = lkv__config_warn(p, "--bcrypt-cost=%llu is outside bcrypt's 4..31: using the default cost 10",
                              (unsigned long long)cfg->bcrypt_cost);
    if (rc) return rc;
    cfg->bcrypt_cost = 10;
  }
  return 0;
}

/* Every default, into a zeroed cfg (warnings excepted). */
int lkv__config_defaults(parse_t *p) {
  lkv_config_t *cfg = p->cfg;
  cfg->max_request_bytes = 1572864;
  cfg->max_txn_ops = 128;
  cfg->bcrypt_cost = 10;
  cfg->auth_token_ttl = 300;
  cfg->auth_token.ttl_s = LKV_CONFIG_JWT_TTL_S;
  cfg->watch_progress_notify_ms = DEFAULT_PROGRESS_NOTIFY_MS;
  cfg->cpu_neighbour_aware = 0; /* measured to cost our tail latency under greedy neighbours: opt-in */
  cfg->cpu_sample_ms = 100;
  cfg->cluster.causal_check_ms = 5 * 60 * 1000;
  cfg->cpu_overcommit_percent = 100;
  cfg->ledger = 1;
  cfg->ledger_sign_ms = 100;
  cfg->ledger_checkpoint_s = 300;
  cfg->ledger_retention_bytes = 4ull << 30;
  cfg->snapshot_catchup_entries = 5000;
  cfg->cluster.causal_log_events = 10000;
  cfg->disk_reserve_bytes = 128u << 20;
  cfg->auto_compaction_check_ms = 5u * 60u * 1000u;
  if (lkv__config_rate_limit_defaults(p) != 0) return nomem(p);
  p->advertise_set = 0;
  int rc = replace_string(p, &cfg->name, DEFAULT_NAME);
  if (rc != 0) return rc;
  return set_listen(p, find_flag("listen-client-urls", strlen("listen-client-urls")), DEFAULT_LISTEN_URLS);
}

int lkv_config_parse(lkv_config_t *cfg, int argc, char **argv, char *err, size_t errlen) {
  parse_t p = {.cfg = cfg, .err = err, .errlen = errlen};
  memset(cfg, 0, sizeof(*cfg));
  if (errlen > 0) err[0] = '\0';
  int rc = lkv__config_defaults(&p);
  if (rc != 0) goto release;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      if (i + 1 < argc) rc = fail(&p, "'%s' is not a valid flag", argv[i + 1]);
      break;
    }
    rc = parse_arg(&p, argc, argv, &i);
    if (rc != 0) goto release;
  }
  if (rc != 0) goto release;
  if (p.print_version) { /* as etcd: before the environment and the config file are looked at */
    lkv_config_version(stdout);
    rc = LKV_CONFIG_PRINTED;
    goto release;
  }
  const char *file = p.config_file;
  const char *env_file = getenv("ETCD_CONFIG_FILE");
  if (file == NULL && env_file != NULL && env_file[0] != '\0') file = env_file;
  if (file != NULL)
    rc = lkv__config_file_use(&p, file, environ);
  else
    rc = lkv__config_env_apply(&p, environ);
  if (rc == 0) rc = lkv__config_cluster_check(&p);
  if (rc == 0) rc = lkv__config_compaction_check(&p);
  if (rc == 0) rc = resolve(&p);
  if (rc == 0) rc = lkv__config_tls_check(&p);
  if (rc == 0) rc = lkv__config_gateway_check(&p);
  if (rc == 0) rc = lkv__config_grpc_check(&p);
  if (rc != 0) goto release;
  for (size_t i = 0; i < cfg->n_warnings; i++) fprintf(stderr, "ledgerkv: warning: %s\n", cfg->warnings[i]);
  lkv__config_given_free(&p);
  free(p.config_file);
  return 0;

release: /* errors, and --version: nothing of cfg is used */
  lkv__config_given_free(&p);
  free(p.config_file);
  lkv_config_free(cfg);
  return rc;
}
