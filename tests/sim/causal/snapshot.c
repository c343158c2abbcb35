/* The simulated members' snapshot catch-up (docs/causal.md §7a): snapshots offered to peers left behind,
 * sent over the lossy network, installed and made durable with crashes around the checkpoint. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/le.h"
#include "csim.h"

/* The caller's opaque bytes a snapshot carries (a replicator's lease table): here the sender's id. */
static void extra_of(const lkv__csim_t *s, int i, uint8_t out[8]) {
  lkv_le64_put(out, s->peers[i].id);
}

void lkv__csim_offer_snapshots(lkv__csim_t *s, int i) {
  lkv__csim_node_t *n = &s->nodes[i];
  for (int j = 0; j < s->n && n->m && !s->failed; j++) {
    if (j == i || s->now < n->next_snapshot[j] || !lkv_causal_member_snapshot_due(n->m, s->peers[j].id))
      continue;
    n->next_snapshot[j] = s->now + 3 * n->period; /* at most one per peer every three rounds */
    uint8_t extra[8], *buf;
    size_t len;
    extra_of(s, i, extra);
    int rc = lkv_causal_member_snapshot(n->m, extra, sizeof(extra), &buf, &len);
    if (rc) {
      lkv__csim_fail(s, "snapshot", "m%d: a snapshot for m%d: %s", i + 1, j + 1, lkv_err_name(rc));
      return;
    }
    lkv_causal_msg_t msg = {.to = s->peers[j].id, .kind = LKV_CSIM_MSG_SNAPSHOT, .data = buf, .len = len};
    lkv__csim_send(s, i, &msg);
    free(buf);
    s->n_snapshots++;
    lkv__csim_trace(s, "m%d: snapshot to m%d (%zu bytes)", i + 1, j + 1, len);
  }
}

static uint64_t vv_sum(const lkv_causal_vv_t *v) {
  uint64_t t = 0;
  for (uint32_t e = 0; e < v->n; e++) t += v->e[e].seq;
  return t;
}

int lkv__csim_install(lkv__csim_t *s, const lkv__sim_pkt_t *p) {
  int i = p->to;
  lkv__csim_node_t *n = &s->nodes[i];
  uint64_t rev = 0;
  const uint8_t *extra;
  size_t extra_len;
  int rc = lkv_causal_member_install(n->m, lkv__csim_clock(s, i), p->buf, p->len, &rev, &extra, &extra_len);
  if (rc) return rc;
  uint8_t want[8];
  extra_of(s, p->from, want);
  if (extra_len != sizeof(want) || memcmp(extra, want, sizeof(want)))
    lkv__csim_fail(s, "snapshot", "m%d: a snapshot from m%d carried other extra bytes", i + 1, p->from + 1);
  s->n_installs++;
  lkv__csim_trace(s, "m%d: installed a snapshot of m%d at revision %llu", i + 1, p->from + 1,
                  (unsigned long long)rev);
  /* Durable before any other input: a crash before the checkpoint (back to the old state), after it and
   * before the log restarted (the install's checkpoint is restored, the old log skipped), or after both. */
  int crash_at =
      !s->healed && lkv__sim_rng_chance(&s->rng, s->crash_pm) ? 1 + (int)lkv__sim_rng_below(&s->rng, 2) : 0;
  if (crash_at == 1) {
    lkv__csim_crash(s, i, "before the install's checkpoint");
    return 0;
  }
  uint8_t *ckpt;
  size_t len;
  if ((rc = lkv_causal_member_checkpoint(n->m, rev, &ckpt, &len)) != 0) {
    lkv__csim_fail(s, "snapshot", "m%d: checkpoint at the install's revision %llu: %s", i + 1,
                   (unsigned long long)rev, lkv_err_name(rc));
    return 0;
  }
  free(n->ckpt);
  n->ckpt = ckpt, n->ckpt_len = len;
  n->lead = vv_sum(lkv_causal_member_vv(n->m)) - rev;
  /* For removed-prefix (check.c): x's events the install brought count as held before a removal of x,
   * unless it brought a removal of x too (then none of x's later events count). */
  for (int x = 0; x < s->n; x++) {
    uint64_t have = lkv_causal_vv_get(lkv_causal_member_vv(n->m), s->peers[x].id);
    if (lkv_causal_member_is_removed(n->m, s->peers[x].id))
      n->saw_removal[x] = 1;
    else if (!n->saw_removal[x] && have > n->pre_removal[x])
      n->pre_removal[x] = have;
  }
  /* The install's changes are served (one revision: watch_durable checks it) and the watch state, which
   * follows them, must be the installed state; the history up to the checkpoint is compacted. */
  lkv__csim_watch_durable(s, i, rev, 1);
  lkv__csim_watch_state(s, i, "after an install");
  lkv__csim_served_from(n, rev);
  if (crash_at == 2) {
    lkv__csim_crash(s, i, "after the install's checkpoint");
    return 0;
  }
  lkv__csim_log_free(&n->log);
  n->log_base = rev;
  return 0;
}
