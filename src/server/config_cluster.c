/* The etcd flags ledgerkv does not implement: a warning or a refusal each, and etcd's checks of the
 * cluster flags, which must describe a one-member cluster of this member until cluster mode exists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/config_etcd.h"
#include "server/config_internal.h"

#define MAX_ELECTION_MS 50000 /* etcd's maxElectionMs */

static unsigned long long number(const lkv__config_parse_t *p, const char *name, unsigned long long def) {
  const char *v = lkv__config_given(p, name);
  return v ? strtoull(v, NULL, 10) : def; /* validated as an unsigned integer when given */
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

/* etcd's types.NewURLs on one URL: a scheme it knows and host:port. */
static int check_url(lkv__config_parse_t *p, const char *flag, const char *u, size_t len) {
  static const char *const schemes[] = {"http://", "https://", "unix://", "unixs://"};
  for (size_t i = 0; i < 4; i++) {
    size_t sl = strlen(schemes[i]);
    if (len > sl && strncmp(u, schemes[i], sl) == 0) {
      const char *host = u + sl;
      size_t hl = len - sl;
      const char *colon = NULL;
      for (size_t j = 0; j < hl && host[j] != '/'; j++)
        if (host[j] == ':') colon = host + j;
      if (colon == NULL || colon == host + hl - 1)
        return lkv__config_fail(p, "%s: URL address does not have the form \"host:port\": %.*s", flag,
                                (int)len, u);
      return 0;
    }
  }
  return lkv__config_fail(p, "%s: URL scheme must be http, https, unix, or unixs: %.*s", flag, (int)len, u);
}

static int check_urls(lkv__config_parse_t *p, const char *name) {
  const char *v = lkv__config_given(p, name);
  if (v == NULL) return 0;
  char flag[64];
  snprintf(flag, sizeof(flag), "--%s", name);
  for (const char *s = v;;) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    int rc = check_url(p, flag, s, len);
    if (rc != 0) return rc;
    if (comma == NULL) return 0;
    s = comma + 1;
  }
}

/* Whether the comma-separated list has an element equal to u[0..len). */
static int has_url(const char *list, const char *u, size_t len) {
  for (const char *s = list;;) {
    const char *comma = strchr(s, ',');
    size_t l = comma ? (size_t)(comma - s) : strlen(s);
    if (l == len && memcmp(s, u, len) == 0) return 1;
    if (comma == NULL) return 0;
    s = comma + 1;
  }
}

/* --initial-cluster: name=url pairs. Only this member may appear (etcd's message when it does not), and
 * its URLs must be the advertised peer URLs, as etcd checks on a new member. */
static int check_initial_cluster(lkv__config_parse_t *p) {
  const char *ic = lkv__config_given(p, "initial-cluster");
  if (ic == NULL) return 0; /* etcd's default: this member alone, at its advertised peer URLs */
  const char *name = p->cfg->name;
  const char *apurls = lkv__config_given(p, "initial-advertise-peer-urls");
  int found = 0, others = 0;
  for (const char *s = ic; *s != '\0';) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    const char *eq = memchr(s, '=', len);
    if (eq == NULL) return lkv__config_fail(p, "--initial-cluster: %.*s is not name=URL", (int)len, s);
    size_t nl = (size_t)(eq - s);
    int rc = check_url(p, "--initial-cluster", eq + 1, len - nl - 1);
    if (rc != 0) return rc;
    if (nl == strlen(name) && memcmp(s, name, nl) == 0) {
      found = 1;
      if (apurls != NULL && !has_url(apurls, eq + 1, len - nl - 1))
        return lkv__config_fail(
            p, "--initial-cluster has %.*s but missing from --initial-advertise-peer-urls=%s", (int)len, s,
            apurls);
    } else {
      others++;
    }
    if (comma == NULL) break;
    s = comma + 1;
  }
  if (!found)
    return lkv__config_fail(p, "couldn't find local name \"%s\" in the initial cluster configuration", name);
  if (others > 0)
    return lkv__config_fail(p,
                            "--initial-cluster: %s has %d other member%s: cluster mode is not implemented "
                            "yet (issue 12); a single ledgerkv node starts only as a one-member cluster",
                            ic, others, others == 1 ? "" : "s");
  return 0;
}

int lkv__config_cluster_check(lkv__config_parse_t *p) {
  const char *state = lkv__config_given(p, "initial-cluster-state");
  if (state != NULL && strcmp(state, "new") != 0 && strcmp(state, "existing") != 0)
    return lkv__config_fail(p, "invalid value \"%s\" for flag -initial-cluster-state: invalid value", state);
  int rc = check_timing(p);
  if (rc == 0) rc = check_urls(p, "listen-peer-urls");
  if (rc == 0) rc = check_urls(p, "initial-advertise-peer-urls");
  if (rc == 0) rc = check_initial_cluster(p);
  if (rc != 0) return rc;
  char msg[256];
  for (size_t i = 0; i < p->n_given; i++) {
    const lkv__config_given_t *g = &p->given[i];
    if (lkv__config_etcd_judge(g->flag, g->value, msg, sizeof(msg)) == 1)
      return lkv__config_fail(p, "--%s: %s", g->flag->name, msg);
  }
  for (size_t i = 0; i < p->n_given; i++) {
    const lkv__config_given_t *g = &p->given[i];
    lkv__config_etcd_judge(g->flag, g->value, msg, sizeof(msg));
    rc = lkv__config_warn(p, "--%s=%s ignored: %s", g->flag->name, g->value, msg);
    if (rc != 0) return rc;
  }
  return 0;
}
