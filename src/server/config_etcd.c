/* The class of every flag of etcd 3.4.23 (its --help, and the ones it accepts without listing them):
 * implemented, accepted with a warning, or refused. */
#include "server/config_etcd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config_duration.h"

#define DISCOVERY "discovery is not implemented: start the members with --initial-cluster"
#define LOGS "ledgerkv logs one line per event to stderr; etcd's logger settings do not apply"
#define NOBOLT "ledgerkv's store is not bbolt; this tuning does not apply"
#define NOPROXY "only used by the v2 proxy, which ledgerkv does not have"

#define I(n, k) \
  { n, LKV__FLAG_IMPLEMENTED, k, NULL, NULL }
#define W(n, k, why) \
  { n, LKV__FLAG_WARNED, k, NULL, why }
#define C(n, k, off, why) \
  { n, LKV__FLAG_CHECKED, k, off, why }
#define K(n, k) \
  { n, LKV__FLAG_CLUSTER, k, NULL, NULL }
#define R(n, k, why) \
  { n, LKV__FLAG_REFUSED, k, NULL, why }

static const lkv__etcd_flag_t table[] = {
    I("name", LKV__KIND_STRING),
    I("data-dir", LKV__KIND_STRING),
    K("wal-dir", LKV__KIND_STRING),
    K("snapshot-count", LKV__KIND_UINT),
    K("heartbeat-interval", LKV__KIND_UINT),
    K("election-timeout", LKV__KIND_UINT),
    W("initial-election-tick-advance", LKV__KIND_BOOL,
      "a ledgerkv member always waits one election timeout before its first campaign"),
    K("listen-peer-urls", LKV__KIND_STRING),
    I("listen-client-urls", LKV__KIND_STRING),
    W("max-snapshots", LKV__KIND_UINT,
      "a member keeps one snapshot: the store's latest checkpoint (older ones are removed at once)"),
    W("max-wals", LKV__KIND_UINT,
      "the Raft log's segments are removed once a checkpoint of the store covers them (--snapshot-count)"),
    I("quota-backend-bytes", LKV__KIND_INT),
    W("backend-batch-interval", LKV__KIND_DURATION, NOBOLT),
    W("backend-batch-limit", LKV__KIND_UINT, NOBOLT),
    I("max-txn-ops", LKV__KIND_UINT),
    I("max-request-bytes", LKV__KIND_UINT),
    K("max-concurrent-streams", LKV__KIND_UINT),
    K("grpc-keepalive-min-time", LKV__KIND_DURATION),
    K("grpc-keepalive-interval", LKV__KIND_DURATION),
    K("grpc-keepalive-timeout", LKV__KIND_DURATION),
    K("initial-advertise-peer-urls", LKV__KIND_STRING),
    K("initial-cluster", LKV__KIND_STRING),
    K("initial-cluster-state", LKV__KIND_STRING),
    K("initial-cluster-token", LKV__KIND_STRING),
    I("advertise-client-urls", LKV__KIND_STRING),
    C("discovery", LKV__KIND_STRING, "", "not in effect when empty|" DISCOVERY),
    W("discovery-fallback", LKV__KIND_STRING, "only used with --discovery"),
    C("discovery-proxy", LKV__KIND_STRING, "", "not in effect when empty|" DISCOVERY),
    C("discovery-srv", LKV__KIND_STRING, "", "not in effect when empty|" DISCOVERY),
    C("discovery-srv-name", LKV__KIND_STRING, "", "not in effect when empty|" DISCOVERY),
    K("strict-reconfig-check", LKV__KIND_BOOL),
    W("pre-vote", LKV__KIND_BOOL,
      "ledgerkv members always campaign with a pre-vote (etcd 3.5's default), so that followers can "
      "campaign at once when their leader's connection breaks without disrupting a live leader"),
    K("auto-compaction-retention", LKV__KIND_STRING),
    K("auto-compaction-mode", LKV__KIND_STRING),
    C("enable-v2", LKV__KIND_BOOL, "false|0|f|F|FALSE|False",
      "the v2 API is off, as asked|the v2 API is not implemented (ledgerkv serves etcd's v3 API only)"),
    K("cert-file", LKV__KIND_STRING),
    K("key-file", LKV__KIND_STRING),
    K("client-cert-auth", LKV__KIND_BOOL),
    K("client-crl-file", LKV__KIND_STRING),
    K("client-cert-allowed-hostname", LKV__KIND_STRING),
    K("trusted-ca-file", LKV__KIND_STRING),
    K("auto-tls", LKV__KIND_BOOL),
    K("peer-cert-file", LKV__KIND_STRING),
    K("peer-key-file", LKV__KIND_STRING),
    K("peer-client-cert-auth", LKV__KIND_BOOL),
    K("peer-trusted-ca-file", LKV__KIND_STRING),
    K("peer-cert-allowed-cn", LKV__KIND_STRING),
    K("peer-cert-allowed-hostname", LKV__KIND_STRING),
    K("peer-auto-tls", LKV__KIND_BOOL),
    K("peer-crl-file", LKV__KIND_STRING),
    K("cipher-suites", LKV__KIND_STRING),
    K("cors", LKV__KIND_STRING),
    K("host-whitelist", LKV__KIND_STRING),
    I("auth-token", LKV__KIND_STRING),
    I("bcrypt-cost", LKV__KIND_UINT),
    I("auth-token-ttl", LKV__KIND_UINT),
    W("enable-pprof", LKV__KIND_BOOL, "ledgerkv serves no /debug/pprof endpoint"),
    I("metrics", LKV__KIND_STRING),
    I("listen-metrics-urls", LKV__KIND_STRING),
    W("logger", LKV__KIND_STRING, LOGS),
    W("log-outputs", LKV__KIND_STRING, LOGS),
    W("log-level", LKV__KIND_STRING, LOGS),
    C("proxy", LKV__KIND_STRING, "off", "the v2 proxy is off, as asked|the v2 proxy is not implemented"),
    W("proxy-failure-wait", LKV__KIND_UINT, NOPROXY),
    W("proxy-refresh-interval", LKV__KIND_UINT, NOPROXY),
    W("proxy-dial-timeout", LKV__KIND_UINT, NOPROXY),
    W("proxy-write-timeout", LKV__KIND_UINT, NOPROXY),
    W("proxy-read-timeout", LKV__KIND_UINT, NOPROXY),
    K("experimental-initial-corrupt-check", LKV__KIND_BOOL),
    K("experimental-corrupt-check-time", LKV__KIND_DURATION),
    C("experimental-enable-v2v3", LKV__KIND_STRING, "",
      "not in effect when empty|the v2 API emulation is not implemented"),
    W("experimental-backend-bbolt-freelist-type", LKV__KIND_STRING, NOBOLT),
    W("experimental-enable-lease-checkpoint", LKV__KIND_BOOL,
      "lease checkpoints are not implemented (issue 12)"),
    W("experimental-compaction-batch-limit", LKV__KIND_INT, NOBOLT),
    K("experimental-peer-skip-client-san-verification", LKV__KIND_BOOL),
    I("experimental-watch-progress-notify-interval", LKV__KIND_DURATION),
    W("experimental-warning-apply-duration", LKV__KIND_DURATION, "ledgerkv does not log slow applies"),
    K("force-new-cluster", LKV__KIND_BOOL),
    W("debug", LKV__KIND_BOOL, LOGS),
    W("log-package-levels", LKV__KIND_STRING, LOGS),
    I("config-file", LKV__KIND_STRING),
    I("version", LKV__KIND_BOOL),
    /* Not in --help, but etcd 3.4 accepts them. */
    C("enable-grpc-gateway", LKV__KIND_BOOL, "true|1|t|T|TRUE|True",
      "the JSON gateway is served, as etcd's default|turning the JSON gateway off is not implemented: "
      "refusing to start rather than serve the HTTP API you asked to be off"),
    W("log-output", LKV__KIND_STRING, LOGS),
    W("experimental-enable-lease-checkpoint-persist", LKV__KIND_BOOL,
      "lease checkpoints are not implemented (issue 12)"),
    W("unsafe-no-fsync", LKV__KIND_BOOL, "ledgerkv always flushes its write-ahead log (the Raft log)"),
    /* etcd's flags.IgnoredFlag list (etcd 2 flags): it warns and goes on; so do we, in its words. */
    W("cluster-active-size", LKV__KIND_IGNORED, NULL),
    W("cluster-remove-delay", LKV__KIND_IGNORED, NULL),
    W("cluster-sync-interval", LKV__KIND_IGNORED, NULL),
    W("config", LKV__KIND_IGNORED, NULL),
    W("force", LKV__KIND_IGNORED, NULL),
    W("max-result-buffer", LKV__KIND_IGNORED, NULL),
    W("max-retry-attempts", LKV__KIND_IGNORED, NULL),
    W("peer-heartbeat-interval", LKV__KIND_IGNORED, NULL),
    W("peer-election-timeout", LKV__KIND_IGNORED, NULL),
    W("retry-interval", LKV__KIND_IGNORED, NULL),
    W("snapshot", LKV__KIND_IGNORED, NULL),
    W("v", LKV__KIND_IGNORED, NULL),
    W("vv", LKV__KIND_IGNORED, NULL),
};

const lkv__etcd_flag_t *lkv__config_etcd_find(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0) return &table[i];
  }
  return NULL;
}

const lkv__etcd_flag_t *lkv__config_etcd_all(size_t *n) {
  *n = sizeof(table) / sizeof(table[0]);
  return table;
}

const char *lkv__config_etcd_class_name(lkv__flag_class_t cls) {
  switch (cls) {
    case LKV__FLAG_IMPLEMENTED:
    case LKV__FLAG_CLUSTER:
      return "implemented";
    case LKV__FLAG_WARNED:
      return "warned";
    case LKV__FLAG_CHECKED:
      return "checked";
    case LKV__FLAG_REFUSED:
      return "refused";
  }
  return "?";
}

/* Whether value is one of the '|'-separated alternatives of list ("*" matches everything). */
static int listed(const char *list, const char *value) {
  if (strcmp(list, "*") == 0) return 1;
  size_t vlen = strlen(value);
  for (const char *s = list;; s++) {
    const char *bar = strchr(s, '|');
    size_t len = bar ? (size_t)(bar - s) : strlen(s);
    if (len == vlen && memcmp(s, value, len) == 0) return 1;
    if (bar == NULL) return 0;
    s = bar;
  }
}

int lkv__config_etcd_judge(const lkv__etcd_flag_t *f, const char *value, char *msg, size_t msglen) {
  const char *why = f->why ? f->why : "";
  const char *bar = strchr(why, '|');
  switch (f->cls) {
    case LKV__FLAG_WARNED:
    case LKV__FLAG_IMPLEMENTED:
    case LKV__FLAG_CLUSTER:
      snprintf(msg, msglen, "%s", why);
      return 0;
    case LKV__FLAG_REFUSED:
      snprintf(msg, msglen, "%s", why);
      return 1;
    case LKV__FLAG_CHECKED:
      break;
  }
  if (listed(f->off, value)) {
    snprintf(msg, msglen, "%.*s", bar ? (int)(bar - why) : (int)strlen(why), why);
    return 0;
  }
  snprintf(msg, msglen, "%s", bar ? bar + 1 : why);
  return 1;
}

int lkv__config_etcd_valid(const lkv__etcd_flag_t *f, const char *value) {
  static const char *const bools[] = {"1", "t", "T", "TRUE",  "true",  "True",
                                      "0", "f", "F", "FALSE", "false", "False"};
  const char *s = value;
  int64_t ns;
  switch (f->kind) {
    case LKV__KIND_STRING:
    case LKV__KIND_IGNORED:
      return 0;
    case LKV__KIND_BOOL:
      for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
        if (strcmp(value, bools[i]) == 0) return 0;
      return -1;
    case LKV__KIND_INT:
      if (*s == '-' || *s == '+') s++;
      /* fall through */
    case LKV__KIND_UINT:
      if (*s == '\0' || strlen(s) > 19) return -1;
      for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9') return -1;
      return 0;
    case LKV__KIND_DURATION:
      return lkv__config_duration_parse(value, &ns) == 0 ? 0 : -1;
  }
  return -1;
}
