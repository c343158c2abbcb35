/* The causal replicator's silent peers: each tick the core re-evaluates them, changes are logged once each
 * way, and a copy is kept for the metrics (docs/causal.md §15). */
#include <stdio.h>
#include <time.h>

#include "replication/causal_internal.h"

/* A wall time in ms as UTC text, or "never" for 0. */
static const char *when(uint64_t ms, char *buf, size_t len) {
  if (!ms) return "never";
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&s, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm)) return "?";
  return buf;
}

void lkv__causal_silence_check(lkv__causal_node_t *n, uint64_t now) {
  uint64_t after = n->o.silent_after_ms ? n->o.silent_after_ms : LKV_CAUSAL_SILENT_AFTER_MS;
  lkv_causal_silence_t ch[LKV_CAUSAL_MAX_ORIGINS];
  size_t k = lkv_causal_member_silence(n->m, now, after, ch);
  for (size_t i = 0; i < k; i++) {
    char at[32];
    if (ch[i].silent)
      fprintf(stderr,
              "ledgerkv: causal member %016llx: member %016llx is silent: nothing from it for more than %llu "
              "ms (last heard: %s); remove it (member remove) if it is gone for good\n",
              (unsigned long long)n->o.member_id, (unsigned long long)ch[i].id, (unsigned long long)after,
              when(ch[i].last_heard, at, sizeof(at)));
    else
      fprintf(stderr, "ledgerkv: causal member %016llx: member %016llx is heard again\n",
              (unsigned long long)n->o.member_id, (unsigned long long)ch[i].id);
  }
  pthread_mutex_lock(&n->mu);
  for (size_t i = 0; i < n->o.n_members; i++) {
    n->st_peers[i].id = n->removed_told[i] ? 0 : n->members[i].id; /* a removed one is not reported */
    n->st_peers[i].last_heard = lkv_causal_member_last_heard(n->m, n->members[i].id);
    n->st_peers[i].quiet_ms = lkv_causal_member_quiet(n->m, n->members[i].id, now);
    n->st_peers[i].silent = lkv_causal_member_is_silent(n->m, n->members[i].id);
  }
  n->st_now = now;
  pthread_mutex_unlock(&n->mu);
}

size_t lkv_causal_node_peers(lkv_replicator_t *r, lkv_causal_node_peer_t *out, uint64_t *now) {
  lkv__causal_node_t *n = (lkv__causal_node_t *)r;
  size_t k = 0;
  pthread_mutex_lock(&n->mu);
  for (size_t i = 0; i < n->o.n_members; i++)
    if (n->members[i].id != n->o.member_id && n->st_peers[i].id) out[k++] = n->st_peers[i];
  *now = n->st_now;
  pthread_mutex_unlock(&n->mu);
  return k;
}
