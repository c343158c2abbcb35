/* Parsing `ledgerkv bench` arguments: a flag table, value parsers, defaults and consistency checks. */
#include "bench/args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static const char *const workload_names[] = {"put",   "range",           "txn-put", "txn-mixed",
                                             "watch", "lease-keepalive", "receipt", "verify"};
#define N_WORKLOADS (sizeof(workload_names) / sizeof(workload_names[0]))

const char *lkv_bench_workload_name(lkv_bench_workload_t w) {
  return (size_t)w < N_WORKLOADS ? workload_names[w] : "unknown";
}

typedef enum { F_INT, F_U64, F_SIZE, F_I64, F_DOUBLE, F_DURATION, F_BOOL, F_ENDPOINTS, F_CONSISTENCY } kind_t;

typedef struct {
  const char *name;
  kind_t kind;
  size_t off;
  double min, max; /* numeric range accepted */
  const char *help;
} flag_t;

#define OFF(field) offsetof(lkv_bench_config_t, field)
static const flag_t flags[] = {
    {"endpoints", F_ENDPOINTS, 0, 0, 0, "host:port[,host:port...] (default 127.0.0.1:2379)"},
    {"conns", F_INT, OFF(conns), 1, 10000, "TCP connections (default 1)"},
    {"clients", F_INT, OFF(clients), 1, 1000000, "requests in flight at most (default 1)"},
    {"threads", F_INT, OFF(threads), 1, 256, "client threads, one event loop each (default 1)"},
    {"total", F_U64, OFF(total), 1, 1e15, "requests to send (default 10000 unless --duration)"},
    {"duration", F_DURATION, OFF(duration_ms), 0, 0, "run time limit, e.g. 30s (default none)"},
    {"rate", F_DOUBLE, OFF(rate), 0, 1e9, "requests/s offered, open loop (default 0: closed loop)"},
    {"key-size", F_SIZE, OFF(key_size), 1, 1 << 20, "bytes per key (default 8)"},
    {"val-size", F_SIZE, OFF(val_size), 0, 16 << 20, "bytes per value (default 8)"},
    {"key-space", F_U64, OFF(key_space), 1, 1e15,
     "distinct keys (default 100000); verify: receipts to fetch (at most 10000)"},
    {"sequential-keys", F_BOOL, OFF(sequential_keys), 0, 0, "keys in order instead of random"},
    {"consistency", F_CONSISTENCY, OFF(serializable), 0, 0,
     "range: l[inearizable] or s[erializable] (default l)"},
    {"range-keys", F_U64, OFF(range_keys), 1, 1e15,
     "range: consecutive keys per request, a list like kube-apiserver's (default 1)"},
    {"rw-ratio", F_DOUBLE, OFF(rw_ratio), 0, 1e6, "txn-mixed: reads per write (default 1)"},
    {"txn-ops", F_INT, OFF(txn_ops), 1, 10000, "txn-put: puts per transaction (default 1)"},
    {"watchers", F_INT, OFF(watchers), 1, 1000000, "watch: watch streams (default 10)"},
    {"lease-ttl", F_I64, OFF(lease_ttl), 1, 9e15, "lease-keepalive: lease TTL in seconds (default 30)"},
    {"json", F_BOOL, OFF(json), 0, 0, "print the report as JSON"},
    {"no-progress", F_BOOL, OFF(progress), 0, 0, "no progress line on stderr"},
};
#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

void lkv_bench_args_usage(FILE *f) {
  fputs(
      "Usage: ledgerkv bench WORKLOAD [flags]\n"
      "Load generator for any etcd v3 API server (plain-text gRPC).\n"
      "Workloads: put, range, txn-put, txn-mixed, watch, lease-keepalive, receipt, verify\n"
      "  receipt  ledgerkv's Ledger/GetReceipt for a revision drawn uniformly from those the latest signed\n"
      "           head covers (waits for a head covering the current revision first; puts one key into an\n"
      "           empty store)\n"
      "  verify   fetches the receipts of --key-space revisions spread over the signed ones (one endpoint),\n"
      "           then verifies them offline in --threads threads for --total/--duration: leaf hash,\n"
      "           inclusion proof to the head's root and the head's Ed25519 signature with the key the\n"
      "           node's GetSignedTreeHead names; reports verifications/s in total and per thread\n"
      "Flags:\n",
      f);
  for (size_t i = 0; i < N_FLAGS; i++) fprintf(f, "  --%-16s %s\n", flags[i].name, flags[i].help);
  fputs(
      "Latency is measured per request from the moment it was due to be sent (open loop: its scheduled\n"
      "time, so queueing behind a slow server counts), into a log-linear histogram of every request.\n"
      "verify: --conns and --clients shape the fetching; --total/--duration and --threads the verifying.\n",
      f);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return LKV_EINVAL;
}

int lkv_bench_parse_duration(const char *s, uint64_t *ms) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !(v >= 0) || isinf(v)) return LKV_EINVAL;
  double scale;
  if (*end == '\0' || strcmp(end, "s") == 0)
    scale = 1000;
  else if (strcmp(end, "ms") == 0)
    scale = 1;
  else if (strcmp(end, "m") == 0)
    scale = 60e3;
  else if (strcmp(end, "h") == 0)
    scale = 3600e3;
  else
    return LKV_EINVAL;
  double r = v * scale;
  if (r > 1e15) return LKV_EINVAL;
  *ms = (uint64_t)(r + 0.5);
  return 0;
}

/* One "host:port", "[v6]:port" or "http://host:port" (TLS is not spoken: https is refused). */
static int parse_endpoint(const char *s, lkv_bench_endpoint_t *ep, char *err, size_t errlen) {
  const char *p = s;
  if (strncmp(p, "http://", 7) == 0)
    p += 7;
  else if (strstr(p, "://"))
    return fail(err, errlen, "endpoint \"%s\": only http:// (plain-text) is supported", s);
  const char *host = p, *host_end, *colon;
  if (*p == '[') {
    host = p + 1;
    host_end = strchr(host, ']');
    if (!host_end || host_end[1] != ':')
      return fail(err, errlen, "endpoint \"%s\": expected [address]:port", s);
    colon = host_end + 1;
  } else {
    colon = strrchr(p, ':');
    if (!colon) return fail(err, errlen, "endpoint \"%s\": expected host:port", s);
    host_end = colon;
  }
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || (*end != '\0' && strcmp(end, "/") != 0) || port < 1 || port > 65535 ||
      host_end == host) {
    return fail(err, errlen, "endpoint \"%s\": expected host:port with a port in 1..65535", s);
  }
  ep->host = strndup(host, (size_t)(host_end - host));
  if (!ep->host) return LKV_ENOMEM;
  ep->port = (int)port;
  return 0;
}

static int parse_endpoints(lkv_bench_config_t *cfg, const char *list, char *err, size_t errlen) {
  lkv_bench_endpoint_t *eps = NULL;
  size_t n = 0;
  int rv = 0;
  char *copy = strdup(list), *save = NULL;
  if (!copy) return LKV_ENOMEM;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    lkv_bench_endpoint_t *grown = realloc(eps, (n + 1) * sizeof(*eps));
    if (!grown) {
      rv = LKV_ENOMEM;
      break;
    }
    eps = grown;
    if ((rv = parse_endpoint(tok, &eps[n], err, errlen)) != 0) break;
    n++;
  }
  free(copy);
  if (rv == 0 && n == 0) rv = fail(err, errlen, "--endpoints: no endpoint given");
  if (rv != 0) {
    for (size_t i = 0; i < n; i++) free(eps[i].host);
    free(eps);
    return rv;
  }
  for (size_t i = 0; i < cfg->n_endpoints; i++) free(cfg->endpoints[i].host);
  free(cfg->endpoints);
  cfg->endpoints = eps;
  cfg->n_endpoints = n;
  return 0;
}

/* A number within the flag's range; integers must be whole. */
static int parse_number(const flag_t *f, const char *v, double *out, char *err, size_t errlen) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (end == v || *end != '\0' || errno || isnan(d))
    return fail(err, errlen, "--%s: \"%s\" is not a number", f->name, v);
  if (f->kind != F_DOUBLE && d != floor(d))
    return fail(err, errlen, "--%s: \"%s\" is not a whole number", f->name, v);
  if (d < f->min || d > f->max)
    return fail(err, errlen, "--%s: %s is out of range [%.15g, %.15g]", f->name, v, f->min, f->max);
  *out = d;
  return 0;
}

static int apply_flag(lkv_bench_config_t *cfg, const flag_t *f, const char *v, char *err, size_t errlen) {
  char *base = (char *)cfg;
  double d = 0;
  switch (f->kind) {
    case F_ENDPOINTS:
      return parse_endpoints(cfg, v, err, errlen);
    case F_BOOL: /* "--no-progress" clears, the others set */
      *(int *)(base + f->off) = strcmp(f->name, "no-progress") != 0;
      return 0;
    case F_DURATION:
      if (lkv_bench_parse_duration(v, (uint64_t *)(base + f->off)) != 0) {
        return fail(err, errlen, "--%s: \"%s\" is not a duration (e.g. 30s, 500ms, 2m)", f->name, v);
      }
      return 0;
    case F_CONSISTENCY:
      if (strcmp(v, "l") == 0 || strcmp(v, "linearizable") == 0)
        cfg->serializable = 0;
      else if (strcmp(v, "s") == 0 || strcmp(v, "serializable") == 0)
        cfg->serializable = 1;
      else
        return fail(err, errlen, "--consistency: \"%s\" is neither l[inearizable] nor s[erializable]", v);
      return 0;
    default:
      break;
  }
  int rv = parse_number(f, v, &d, err, errlen);
  if (rv != 0) return rv;
  switch (f->kind) {
    case F_INT:
      *(int *)(base + f->off) = (int)d;
      break;
    case F_U64:
      *(uint64_t *)(base + f->off) = (uint64_t)d;
      break;
    case F_SIZE:
      *(size_t *)(base + f->off) = (size_t)d;
      break;
    case F_I64:
      *(int64_t *)(base + f->off) = (int64_t)d;
      break;
    default:
      *(double *)(base + f->off) = d;
      break;
  }
  return 0;
}

static void set_defaults(lkv_bench_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->conns = 1;
  cfg->clients = 1;
  cfg->threads = 1;
  cfg->key_size = 8;
  cfg->val_size = 8;
  cfg->key_space = 100000;
  cfg->rw_ratio = 1;
  cfg->txn_ops = 1;
  cfg->range_keys = 1;
  cfg->watchers = 10;
  cfg->lease_ttl = 30;
  cfg->progress = 1;
}

static int digits(uint64_t v) {
  int n = 1;
  while (v >= 10) v /= 10, n++;
  return n;
}

/* Cross-flag rules, checked once everything is parsed. */
static int check(lkv_bench_config_t *cfg, char *err, size_t errlen) {
  if (cfg->threads > cfg->conns)
    return fail(err, errlen, "--threads (%d) must not exceed --conns (%d)", cfg->threads, cfg->conns);
  if (cfg->threads > cfg->clients)
    return fail(err, errlen, "--threads (%d) must not exceed --clients (%d)", cfg->threads, cfg->clients);
  if ((int)cfg->key_size < digits(cfg->key_space - 1)) {
    return fail(err, errlen, "--key-size %zu is too small for --key-space %llu (needs %d digits)",
                cfg->key_size, (unsigned long long)cfg->key_space, digits(cfg->key_space - 1));
  }
  if (cfg->workload == LKV_BENCH_TXN_PUT && (uint64_t)cfg->txn_ops > cfg->key_space) {
    return fail(err, errlen, "--txn-ops (%d) must not exceed --key-space: a txn may not put one key twice",
                cfg->txn_ops);
  }
  if (cfg->range_keys > 1 && cfg->range_keys >= cfg->key_space) {
    return fail(err, errlen, "--range-keys (%llu) must be below --key-space (%llu)",
                (unsigned long long)cfg->range_keys, (unsigned long long)cfg->key_space);
  }
  if (cfg->workload == LKV_BENCH_WATCH && cfg->val_size < 8) {
    return fail(err, errlen, "watch: --val-size must be at least 8 (values carry the send time)");
  }
  if (cfg->workload == LKV_BENCH_VERIFY && cfg->rate > 0)
    return fail(err, errlen, "verify: --rate does not apply (verifying is CPU-bound and closed-loop)");
  if (cfg->workload == LKV_BENCH_VERIFY && cfg->n_endpoints > 1)
    return fail(err, errlen, "verify: one endpoint only (its node's key is the trusted key)");
  /* The default key space is far more receipts than a verification rate needs; memory stays bounded. */
  if (cfg->workload == LKV_BENCH_VERIFY && cfg->key_space > LKV_BENCH_VERIFY_MAX_RECEIPTS)
    cfg->key_space = LKV_BENCH_VERIFY_MAX_RECEIPTS;
  if (cfg->total == 0 && cfg->duration_ms == 0) cfg->total = 10000;
  if (cfg->n_endpoints == 0) return parse_endpoints(cfg, "127.0.0.1:2379", err, errlen);
  return 0;
}

int lkv_bench_args_parse(lkv_bench_config_t *cfg, int argc, char **argv, char *err, size_t errlen) {
  int rv;
  set_defaults(cfg);
  err[0] = '\0';
  if (argc < 1 || !argv[0])
    return fail(err, errlen,
                "missing workload (one of put, range, txn-put, txn-mixed, watch, lease-keepalive, receipt, "
                "verify)");
  if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
    lkv_bench_args_usage(stdout);
    return LKV_BENCH_ARGS_HELP;
  }
  size_t w = 0;
  while (w < N_WORKLOADS && strcmp(argv[0], workload_names[w]) != 0) w++;
  if (w == N_WORKLOADS) return fail(err, errlen, "unknown workload \"%s\"", argv[0]);
  cfg->workload = (lkv_bench_workload_t)w;

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      lkv_bench_args_free(cfg);
      lkv_bench_args_usage(stdout);
      return LKV_BENCH_ARGS_HELP;
    }
    if (strncmp(arg, "--", 2) != 0) {
      rv = fail(err, errlen, "unexpected argument \"%s\"", arg);
      goto err_after_parse;
    }
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const flag_t *f = NULL;
    for (size_t k = 0; k < N_FLAGS && !f; k++) {
      if (strlen(flags[k].name) == nlen && memcmp(flags[k].name, name, nlen) == 0) f = &flags[k];
    }
    if (!f) {
      rv = fail(err, errlen, "unknown flag \"--%.*s\"", (int)nlen, name);
      goto err_after_parse;
    }
    const char *value = eq ? eq + 1 : NULL;
    if (f->kind == F_BOOL && value) {
      rv = fail(err, errlen, "--%s takes no value", f->name);
      goto err_after_parse;
    }
    if (f->kind != F_BOOL && !value) {
      if (i + 1 == argc) {
        rv = fail(err, errlen, "--%s needs a value", f->name);
        goto err_after_parse;
      }
      value = argv[++i];
    }
    if ((rv = apply_flag(cfg, f, value, err, errlen)) != 0) goto err_after_parse;
  }
  if ((rv = check(cfg, err, errlen)) != 0) goto err_after_parse;
  return 0;

err_after_parse:
  lkv_bench_args_free(cfg);
  return rv;
}

void lkv_bench_args_free(lkv_bench_config_t *cfg) {
  for (size_t i = 0; i < cfg->n_endpoints; i++) free(cfg->endpoints[i].host);
  free(cfg->endpoints);
  cfg->endpoints = NULL;
  cfg->n_endpoints = 0;
}
