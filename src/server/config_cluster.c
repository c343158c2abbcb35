/* The etcd flags ledgerkv does not implement: a warning or a refusal each; and the cluster flags, checked
 * together as etcd checks them, into lkv_config_cluster_t. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/initial_cluster.h"
#include "common/error.h"
#include "server/config_duration.h"
#include "server/config_etcd.h"
#include "server/config_internal.h"
#include "server/config_url.h"

#define MAX_ELECTION_MS 50000 /* etcd's maxElectionMs */

static unsigned long long number(const lkv__config_parse_t *p, const char *name, unsigned long long def) {
  const char *v = lkv__config_given(p, name);
  return v ? strtoull(v, NULL, 10) : def; /* validated as an unsigned integer when given */
}

/* A boolean flag, validated when given as Go's flag package takes them: 1, t, T, true, TRUE, True or the
 * false ones. */
static int boolean(const lkv__config_parse_t *p, const char *name, int def) {
  const char *v = lkv__config_given(p, name);
  return v ? v[0] != '\0' && strchr("1tT", v[0]) != NULL : def;
}

/* --experimental-corrupt-check-time in milliseconds (validated as a duration when given; etcd checks
 * nothing at 0 or below), sub-millisecond values rounded up. */
static uint64_t corrupt_check_time(const lkv__config_parse_t *p) {
  const char *v = lkv__config_given(p, "experimental-corrupt-check-time");
  int64_t ns;
  if (!v || lkv__config_duration_parse(v, &ns) != 0 || ns <= 0) return 0;
  return ((uint64_t)ns + 999999) / 1000000;
}

/* etcd's embed.Config.Validate on the Raft timing flags, with its messages. */
static int check_timing(lkv__config_parse_t *p) {
  unsigned long long hb = number(p, "heartbeat-interval", 100), el = number(p, "election-timeout", 1000);
  if (hb == 0) return lkv__config_fail(p, "--heartbeat-interval must be >0 (set to %llums)", hb);
  if (el == 0) return lkv__config_fail(p, "--election-timeout must be >0 (set to %llums)", el);
  if (5 * hb > el)
    return lkv__config_fail(p,
                            "--election-timeout[%llums] should be at least as 5 times as "
                            "--heartbeat-interval[%llums]",
                            el, hb);
  if (el > MAX_ELECTION_MS)
    return lkv__config_fail(p, "--election-timeout[%llums] is too long, and should be set less than %dms", el,
                            MAX_ELECTION_MS);
  return 0;
}

#define MAX_URLS 8
#define URL_LEN 256

/* A list of peer URLs, sorted, as given and in the form compared. They are the same text: etcd resolves
 * host names before comparing, we do not (and etcd 3.4 itself does not equate localhost and 127.0.0.1). */
typedef struct urls_s {
  char given[MAX_URLS][URL_LEN];
  size_t n;
} urls_t;

static void urls_add(urls_t *u, const char *s, size_t len) {
  if (u->n == MAX_URLS) return;
  snprintf(u->given[u->n], URL_LEN, "%.*s", (int)len, s);
  /* insertion sort: etcd compares sorted lists */
  for (size_t i = u->n; i > 0 && strcmp(u->given[i - 1], u->given[i]) > 0; i--) {
    char t[URL_LEN];
    memcpy(t, u->given[i], URL_LEN), memcpy(u->given[i], u->given[i - 1], URL_LEN),
        memcpy(u->given[i - 1], t, URL_LEN);
  }
  u->n++;
}

static int urls_has(const urls_t *u, const char *norm) {
  for (size_t i = 0; i < u->n; i++)
    if (strcmp(u->given[i], norm) == 0) return 1;
  return 0;
}

/* A URL list flag through etcd's types.NewURLs rules (cluster/initial_cluster.h), its message wrapped as
 * Go's flag package wraps it; the URLs' canonical text goes into u when u is not NULL. */
static int parse_urls(lkv__config_parse_t *p, const char *flag, const char *value, urls_t *u) {
  for (const char *s = value;;) {
    const char *comma = strchr(s, ',');
    char *one = strndup(s, comma ? (size_t)(comma - s) : strlen(s)), *canon = NULL, err[512];
    if (one == NULL) return LKV_ENOMEM;
    int rc = lkv_cluster_url_parse(one, &canon, err, sizeof(err));
    free(one);
    if (rc == LKV_EINVAL)
      return lkv__config_fail(p, "invalid value \"%s\" for flag -%s: %s", value, flag, err);
    if (rc != 0) return rc;
    if (u != NULL) urls_add(u, canon, strlen(canon));
    free(canon);
    if (comma == NULL) return 0;
    s = comma + 1;
  }
}

/* Go's %q of a []string: ["a" "b"]. */
static void go_list(const urls_t *u, char *out, size_t len) {
  size_t off = (size_t)snprintf(out, len, "[");
  for (size_t i = 0; i < u->n && off < len; i++)
    off += (size_t)snprintf(out + off, len - off, "%s\"%s\"", i ? " " : "", u->given[i]);
  if (off < len) snprintf(out + off, len - off, "]");
}

/* etcd's advertiseMatchesCluster: this member's URLs in --initial-cluster and its advertised peer URLs
 * must be the same set, with etcd's messages. */
static int check_advertise(lkv__config_parse_t *p, const char *name, const urls_t *mine, const urls_t *ap,
                           const char *apstr) {
  char missing[1024] = "", why[1200];
  size_t off = 0;
  for (size_t i = 0; i < mine->n; i++)
    if (!urls_has(ap, mine->given[i]) && off < sizeof(missing))
      off += (size_t)snprintf(missing + off, sizeof(missing) - off, "%s%s=%s", off ? "," : "", name,
                              mine->given[i]);
  if (missing[0] != '\0') {
    if (mine->n != ap->n) {
      char a[512], b[512];
      go_list(ap, a, sizeof(a));
      go_list(mine, b, sizeof(b));
      snprintf(why, sizeof(why), "len(%s) != len(%s)", a, b);
    } else {
      size_t i = 0;
      while (i + 1 < ap->n && strcmp(ap->given[i], mine->given[i]) == 0) i++;
      snprintf(why, sizeof(why), "resolved urls: \"%s\" != \"%s\"", ap->given[i], mine->given[i]);
    }
    return lkv__config_fail(p,
                            "--initial-cluster has %s but missing from --initial-advertise-peer-urls=%s (%s)",
                            missing, apstr, why);
  }
  off = 0;
  for (size_t i = 0; i < ap->n; i++)
    if (!urls_has(mine, ap->given[i]) && off < sizeof(missing))
      off += (size_t)snprintf(missing + off, sizeof(missing) - off, "%s%s", off ? "," : "", ap->given[i]);
  if (missing[0] != '\0') {
    char pairs[1024];
    size_t po = 0;
    pairs[0] = '\0';
    for (size_t i = 0; i < ap->n && po < sizeof(pairs); i++) /* etcd prints the advertised URLs here */
      po += (size_t)snprintf(pairs + po, sizeof(pairs) - po, "%s%s=%s", i ? "," : "", name, ap->given[i]);
    return lkv__config_fail(p, "--initial-advertise-peer-urls has %s but missing from --initial-cluster=%s",
                            missing, pairs);
  }
  return 0;
}

/* The default --initial-cluster: this member at each of its advertised peer URLs (etcd's
 * InitialClusterFromName). */
static char *default_initial_cluster(const char *name, const urls_t *ap) {
  size_t len = 1;
  for (size_t i = 0; i < ap->n; i++) len += strlen(name) + strlen(ap->given[i]) + 2;
  char *s = malloc(len);
  if (s == NULL) return NULL;
  size_t off = 0;
  s[0] = '\0';
  for (size_t i = 0; i < ap->n; i++)
    off += (size_t)snprintf(s + off, len - off, "%s%s=%s", i ? "," : "", name, ap->given[i]);
  return s;
}

/* --initial-cluster, parsed as etcd parses it (cluster/initial_cluster.h), with every member's id: this
 * member must be in it, at exactly its advertised peer URLs, as etcd checks on a new member. */
static int check_initial_cluster(lkv__config_parse_t *p, const urls_t *ap, const char *apstr) {
  const char *given = lkv__config_given(p, "initial-cluster");
  char *fallback = given ? NULL : default_initial_cluster(p->cfg->name, ap);
  if (given == NULL && fallback == NULL) return lkv__config_nomem(p);
  const char *icstr = given ? given : fallback;
  const char *name = p->cfg->name;
  lkv_config_cluster_t *c = &p->cfg->cluster;
  char err[512];
  int rc = lkv_cluster_initial_parse(icstr, &c->initial, err, sizeof(err));
  free(fallback);
  if (rc == LKV_EINVAL) return lkv__config_fail(p, "--initial-cluster: %s", err);
  if (rc != 0) return rc;
  const lkv_cluster_member_t *me = lkv_cluster_initial_find(&c->initial, name);
  if (me == NULL)
    return lkv__config_fail(p, "couldn't find local name \"%s\" in the initial cluster configuration", name);
  urls_t mine = {.n = 0};
  for (size_t i = 0; i < me->n_peer_urls; i++) urls_add(&mine, me->peer_urls[i], strlen(me->peer_urls[i]));
  rc = check_advertise(p, name, &mine, ap, apstr);
  if (rc != 0) return rc;
  const char *token = lkv__config_given(p, "initial-cluster-token");
  rc = lkv_cluster_bootstrap(&c->initial, token ? token : "etcd-cluster", &c->cluster_id, err, sizeof(err));
  if (rc == LKV_EINVAL) return lkv__config_fail(p, "%s", err);
  if (rc != 0) return rc;
  c->member_id = lkv_cluster_initial_find(&c->initial, name)->id;
  return 0;
}

/* Where this member listens for its peers, as etcd: a one-member cluster too, so that `member add` can grow
 * it. */
static int listen_peers(lkv__config_parse_t *p, const char *lp) {
  lkv_config_cluster_t *c = &p->cfg->cluster;
  return lkv__config_urls_parse("--listen-peer-urls", lp ? lp : "http://localhost:2380", 1,
                                &c->listen_peer_urls, &c->n_listen_peer_urls, p->err, p->errlen);
}

int lkv__config_cluster_check(lkv__config_parse_t *p) {
  const char *state = lkv__config_given(p, "initial-cluster-state");
  if (state != NULL && strcmp(state, "new") != 0 && strcmp(state, "existing") != 0)
    return lkv__config_fail(p, "invalid value \"%s\" for flag -initial-cluster-state: invalid value", state);
  p->cfg->cluster.existing = state != NULL && strcmp(state, "existing") == 0;
  p->cfg->cluster.force_new_cluster = boolean(p, "force-new-cluster", 0);
  p->cfg->cluster.strict_reconfig_check = boolean(p, "strict-reconfig-check", 1);
  p->cfg->cluster.initial_corrupt_check = boolean(p, "experimental-initial-corrupt-check", 0);
  p->cfg->cluster.corrupt_check_ms = corrupt_check_time(p);
  int rc = check_timing(p);
  p->cfg->cluster.heartbeat_ms = (unsigned)number(p, "heartbeat-interval", 100);
  p->cfg->cluster.election_ms = (unsigned)number(p, "election-timeout", 1000);
  p->cfg->cluster.snapshot_count = number(p, "snapshot-count", 100000);
  const char *lp = lkv__config_given(p, "listen-peer-urls");
  const char *apstr = lkv__config_given(p, "initial-advertise-peer-urls");
  if (apstr == NULL) apstr = "http://localhost:2380"; /* etcd's default */
  urls_t ap = {.n = 0};
  if (rc == 0 && lp != NULL) rc = parse_urls(p, "listen-peer-urls", lp, NULL);
  if (rc == 0) rc = parse_urls(p, "initial-advertise-peer-urls", apstr, &ap);
  if (rc == 0) rc = check_initial_cluster(p, &ap, apstr);
  if (rc == 0 && p->cfg->cluster.existing && p->cfg->cluster.initial.n_members < 2)
    rc = lkv__config_fail(p,
                          "--initial-cluster-state=existing: --initial-cluster must also name members of the "
                          "running cluster, whom this member asks for its identity");
  if (rc == 0) rc = listen_peers(p, lp);
  if (rc != 0) return rc;
  char msg[256];
  for (size_t i = 0; i < p->n_given; i++) {
    const lkv__config_given_t *g = &p->given[i];
    if (lkv__config_etcd_judge(g->flag, g->value, msg, sizeof(msg)) == 1)
      return lkv__config_fail(p, "--%s: %s", g->flag->name, msg);
  }
  for (size_t i = 0; i < p->n_given; i++) {
    const lkv__config_given_t *g = &p->given[i];
    if (g->flag->cls == LKV__FLAG_CLUSTER) continue; /* implemented above */
    lkv__config_etcd_judge(g->flag, g->value, msg, sizeof(msg));
    if (g->flag->kind == LKV__KIND_IGNORED) /* etcd's own words for these */
      rc = lkv__config_warn(p, "flag \"-%s\" is no longer supported - ignoring.", g->flag->name);
    else
      rc = lkv__config_warn(p, "--%s=%s ignored: %s", g->flag->name, g->value, msg);
    if (rc != 0) return rc;
  }
  return 0;
}
