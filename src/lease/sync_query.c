/* The handoff's takeover side: a new leader's query of the voters' remaining TTLs, the answers it merges,
 * and every member's answer to such a query. */
#include <stdlib.h>

#include "common/error.h"
#include "lease/sync_internal.h"

/* Merges one answer into the lessor's takeover of `term`; the query is over once a majority's answers
 * are merged, or when the lessor says this member no longer takes over that term. Lock held. Returns
 * lkv_lessor_takeover's code. */
static int merge(lkv_lease_sync_t *s, uint64_t term, const lkv_lease_remaining_t *v, size_t n,
                 int64_t uptime_ms) {
  int last = s->query.count >= s->query.needed;
  int rc = lkv_lessor_takeover(s->lessor, term, v, n, uptime_ms, last);
  if (rc == LKV_ENOTLEADER || (rc == 0 && last)) {
    s->done_term = term;
    s->query_term = 0;
  }
  return rc;
}

static void send_query(lkv_lease_sync_t *s, int64_t now) {
  lkv_lease_sync_msg_t m = {.kind = LKV_LEASE_SYNC_QUERY, .term = s->query_term, .seq = s->query_id};
  lkv__sync_send_missing(s, &s->query, &m, NULL);
  s->query_sent_at = now;
}

void lkv__sync_takeover_pass(lkv_lease_sync_t *s, uint64_t term, const lkv_replication_member_t *members,
                             size_t n, int64_t now) {
  if (s->done_term == term) return;
  if (s->query_term == term) {
    if (now - s->query_sent_at >= (int64_t)s->query_resend_ms) send_query(s, now);
    return;
  }
  if (!members) return; /* the voters are not known this pass */
  lkv__sync_quorum_free(&s->query);
  if (lkv__sync_quorum_init(&s->query, s, members, n) != 0) return; /* tried again at the next pass */
  s->query_term = term;
  s->query_id++;
  /* This member's own answer first: it fences older terms here too, so the old leader (if it is this
   * member in an older term) cannot count its own record any more. */
  lkv_lease_remaining_t *v;
  size_t k;
  int64_t uptime;
  int rc = lkv_lessor_remaining(s->lessor, term, &v, &k, &uptime);
  if (rc == 0) {
    rc = merge(s, term, v, k, uptime);
    free(v);
  }
  if (rc == LKV_ENOMEM) {
    s->query_term = 0; /* started again at the next pass */
    return;
  }
  if (s->query_term == term) send_query(s, now);
}

void lkv__sync_on_query(lkv_lease_sync_t *s, uint64_t from, const lkv_lease_sync_msg_t *m) {
  lkv_lease_remaining_t *v;
  size_t n;
  int64_t uptime;
  if (lkv_lessor_remaining(s->lessor, m->term, &v, &n, &uptime) != 0) return; /* it asks again */
  lkv_lease_sync_msg_t a = {
      .kind = LKV_LEASE_SYNC_ANSWER, .term = m->term, .seq = m->seq, .uptime_ms = uptime, .n = n};
  size_t len = lkv_lease_sync_size(&a);
  uint8_t *buf = len ? malloc(len) : NULL;
  if (buf) {
    lkv_lease_sync_encode(&a, v, buf);
    (void)s->send(s->send_arg, from, buf, len); /* a loss: the leader asks again */
  }
  free(buf);
  free(v);
}

void lkv__sync_on_answer(lkv_lease_sync_t *s, uint64_t from, const lkv_lease_sync_msg_t *m) {
  lkv_lease_remaining_t *v = malloc((m->n ? m->n : 1) * sizeof(*v));
  if (!v) return; /* not counted: asked again */
  lkv_lease_sync_entries(m, v);
  pthread_mutex_lock(&s->mu);
  if (m->term == s->query_term && m->seq == s->query_id && lkv__sync_quorum_mark(&s->query, from) &&
      merge(s, m->term, v, m->n, m->uptime_ms) == LKV_ENOMEM) {
    /* Not all of it merged: it does not count, and this voter is asked again. */
    for (size_t i = 0; i < s->query.n; i++)
      if (s->query.ids[i] == from) s->query.done[i] = 0;
    s->query.count--;
  }
  pthread_mutex_unlock(&s->mu);
  free(v);
}
