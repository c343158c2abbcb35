/* The simulated members' compaction (docs/causal.md §7): checkpoint, durable log prefix dropped, core
 * compacted, with crashes between the steps; restarts from the checkpoint and the log's tail. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "csim.h"

/* A replay reports changes above the checkpoint only. */
void lkv__csim_served_from(lkv__csim_node_t *n, uint64_t rev) {
  size_t k = 0;
  while (k < n->served.n && n->served.v[k].rev <= rev) k++;
  if (k) memmove(n->served.v, n->served.v + k, (n->served.n - k) * sizeof(n->served.v[0]));
  n->served.n -= k;
}

/* docs/causal.md §7: a member compacts only events that a majority of the members still in (itself and those
 * whose reports it counts) reported having, so that two sides of a partition never both compact what the
 * other lacks (then only a join of snapshots, §7a, brings them together). Checked on each newly compacted
 * origin's last event (from below before to below after), by the member's own view of members and reports. */
static void check_majority(lkv__csim_t *s, int i, const lkv_causal_vv_t *before,
                           const lkv_causal_vv_t *after) {
  const lkv_causal_member_t *m = s->nodes[i].m;
  for (uint32_t e = 0; e < after->n; e++) {
    uint64_t o = after->e[e].origin, seq = after->e[e].seq;
    if (seq <= lkv_causal_vv_get(before, o)) continue;
    int in = 0, have = 0;
    for (int j = 0; j < s->n; j++) {
      const lkv_causal_vv_t *r = lkv_causal_member_report(m, s->peers[j].id);
      if (!r || lkv_causal_member_is_removed(m, s->peers[j].id)) continue;
      in++, have += lkv_causal_vv_covers(r, o, seq);
    }
    if (2 * have <= in)
      lkv__csim_fail(s, "compacted-majority",
                     "m%d compacted event %llu:%llu, which %d of the %d members still in reported having",
                     i + 1, (unsigned long long)o, (unsigned long long)seq, have, in);
  }
}

void lkv__csim_compact(lkv__csim_t *s, int i) {
  lkv__csim_node_t *n = &s->nodes[i];
  if (!n->m) return;
  uint64_t rev = lkv_causal_member_revision(n->m), base = lkv_causal_member_stable(n->m);
  if (base + s->keep > rev) base = rev > s->keep ? rev - s->keep : 0;
  if (base < lkv_causal_member_first_rev(n->m)) return; /* nothing more to drop */
  uint8_t *ckpt;
  size_t len;
  int rc = lkv_causal_member_checkpoint(n->m, base, &ckpt, &len);
  if (rc) {
    lkv__csim_fail(s, "compact", "m%d: checkpoint at base %llu: %s", i + 1, (unsigned long long)base,
                   lkv_err_name(rc));
    return;
  }
  /* A crash before the checkpoint is durable, after it, or after the log's prefix is dropped too. */
  int crash_at =
      !s->healed && lkv__sim_rng_chance(&s->rng, s->crash_pm) ? 1 + (int)lkv__sim_rng_below(&s->rng, 3) : 0;
  if (crash_at == 1) {
    free(ckpt);
    lkv__csim_crash(s, i, "before the checkpoint");
    return;
  }
  free(n->ckpt);
  n->ckpt = ckpt, n->ckpt_len = len;
  lkv__csim_served_from(n, rev);
  if (crash_at == 2) {
    lkv__csim_crash(s, i, "after the checkpoint");
    return;
  }
  size_t drop = (size_t)(base - n->log_base);
  for (size_t j = 0; j < drop; j++) free(n->log.v[j].bytes);
  if (drop) memmove(n->log.v, n->log.v + drop, (n->log.n - drop) * sizeof(n->log.v[0]));
  n->log.n -= drop;
  n->log_base = base;
  if (crash_at == 3) {
    lkv__csim_crash(s, i, "after the log's prefix dropped");
    return;
  }
  lkv_causal_vv_t before, after;
  lkv_causal_member_base_vv(n->m, &before);
  if ((rc = lkv_causal_member_compact(n->m, base)) != 0) {
    lkv__csim_fail(s, "compact", "m%d: compact to %llu: %s", i + 1, (unsigned long long)base,
                   lkv_err_name(rc));
    return;
  }
  lkv_causal_member_base_vv(n->m, &after);
  check_majority(s, i, &before, &after);
  s->n_compactions++;
  lkv__csim_trace(s, "m%d: compacted to revision %llu (checkpoint at %llu)", i + 1, (unsigned long long)base,
                  (unsigned long long)rev);
}

int lkv__csim_recover(lkv__csim_t *s, int i, lkv_causal_member_t *m, const char *what) {
  lkv__csim_node_t *n = &s->nodes[i];
  uint64_t base = n->log_base, ckpt_rev = 0;
  int rc = n->ckpt ? lkv_causal_member_restore(m, n->ckpt, n->ckpt_len, &ckpt_rev, &base) : 0;
  if (!rc && base > n->log_base + n->log.n) { /* an install's checkpoint, its log not restarted yet */
    lkv__csim_log_free(&n->log);
    n->log_base = base;
  }
  if (rc || base < n->log_base) {
    lkv__csim_fail(s, "restore",
                   "m%d %s: checkpoint refused (%s) or below the log (base %llu, log from %llu)", i + 1, what,
                   lkv_err_name(rc), (unsigned long long)base, (unsigned long long)n->log_base + 1);
    return 1;
  }
  for (size_t j = (size_t)(base - n->log_base); j < n->log.n; j++) {
    uint64_t rev = 0;
    rc = lkv_causal_member_replay(m, n->log.v[j].bytes, n->log.v[j].len, &rev);
    if (rc || rev != n->log_base + j + 1) {
      lkv__csim_fail(s, "replay", "m%d %s: durable event %llu replayed with %s at revision %llu", i + 1, what,
                     (unsigned long long)(n->log_base + j + 1), lkv_err_name(rc), (unsigned long long)rev);
      return 1;
    }
  }
  if (lkv_causal_member_revision(m) != n->log_base + n->log.n) {
    lkv__csim_fail(s, "replay",
                   "m%d %s: at revision %llu after a checkpoint at %llu and %zu durable events "
                   "from %llu",
                   i + 1, what, (unsigned long long)lkv_causal_member_revision(m),
                   (unsigned long long)ckpt_rev, n->log.n, (unsigned long long)n->log_base + 1);
    return 1;
  }
  return 0;
}
