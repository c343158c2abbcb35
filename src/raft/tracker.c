/* Per-member replication progress (probe / replicate / snapshot, in-flight window) and quorum counting. */
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

/* ---- in-flight window: a ring of (last index of an APP, its entry bytes) ---- */

void lkv__infl_reset(lkv__inflights_t *in) {
  in->start = in->count = in->bytes = 0;
}

int lkv__infl_full(const lkv__inflights_t *in, size_t max_msgs, size_t max_bytes) {
  return in->count >= max_msgs || (max_bytes && in->bytes >= max_bytes);
}

void lkv__infl_add(lkv__inflights_t *in, size_t max_msgs, uint64_t index, size_t bytes) {
  if (in->count == in->cap) {
    /* Grow lazily (most followers never fill a large window), unrolling the ring into the new buffer. */
    size_t ncap = in->cap ? 2 * in->cap : 16;
    if (ncap > max_msgs) ncap = max_msgs;
    if (ncap <= in->count) ncap = in->count + 1;
    lkv__inflight_t *nb = lkv__xmalloc(ncap * sizeof(*nb));
    for (size_t i = 0; i < in->count; i++) nb[i] = in->buf[(in->start + i) % in->cap];
    free(in->buf);
    in->buf = nb;
    in->cap = ncap;
    in->start = 0;
  }
  in->buf[(in->start + in->count) % in->cap] = (lkv__inflight_t){index, bytes};
  in->count++;
  in->bytes += bytes;
}

void lkv__infl_free_le(lkv__inflights_t *in, uint64_t index) {
  while (in->count && in->buf[in->start].index <= index) {
    in->bytes -= in->buf[in->start].bytes;
    in->start = (in->start + 1) % in->cap;
    in->count--;
  }
  if (!in->count) in->start = 0;
}

/* ---- progress state machine ---- */

void lkv__pr_become_probe(lkv__progress_t *pr) {
  /* After a snapshot the follower holds at least the snapshot, so probing starts past it. */
  uint64_t next = pr->match + 1;
  if (pr->state == LKV_RAFT_PROGRESS_SNAPSHOT && pr->pending_snapshot + 1 > next)
    next = pr->pending_snapshot + 1;
  pr->state = LKV_RAFT_PROGRESS_PROBE;
  pr->next = next;
  pr->pending_snapshot = 0;
  pr->probe_sent = 0;
  lkv__infl_reset(&pr->infl);
}

void lkv__pr_become_replicate(lkv__progress_t *pr) {
  pr->state = LKV_RAFT_PROGRESS_REPLICATE;
  pr->next = pr->match + 1;
  pr->pending_snapshot = 0;
  pr->probe_sent = 0;
  lkv__infl_reset(&pr->infl);
}

void lkv__pr_become_snapshot(lkv__progress_t *pr, uint64_t index) {
  pr->state = LKV_RAFT_PROGRESS_SNAPSHOT;
  pr->pending_snapshot = index;
  pr->next = index + 1;
  pr->probe_sent = 0;
  lkv__infl_reset(&pr->infl);
}

int lkv__pr_maybe_update(lkv__progress_t *pr, uint64_t index) {
  int updated = 0;
  if (index > pr->match) {
    pr->match = index;
    updated = 1;
  }
  pr->probe_sent = 0;
  if (pr->next < index + 1) pr->next = index + 1;
  return updated;
}

int lkv__pr_maybe_decr(lkv__progress_t *pr, uint64_t rejected, uint64_t hint) {
  if (pr->state == LKV_RAFT_PROGRESS_REPLICATE) {
    /* A rejection at or below match answers an APP sent before something newer matched: stale. */
    if (rejected <= pr->match) return 0;
    pr->next = pr->match + 1;
    return 1;
  }
  /* Probing sends one APP at next-1; a rejection of anything else is stale. */
  if (pr->next == 0 || pr->next - 1 != rejected) return 0;
  uint64_t next = rejected < hint + 1 ? rejected : hint + 1;
  if (next < pr->match + 1) next = pr->match + 1;
  pr->next = next;
  pr->probe_sent = 0;
  return 1;
}

int lkv__pr_paused(const lkv__progress_t *pr, size_t max_msgs, size_t max_bytes) {
  switch (pr->state) {
    case LKV_RAFT_PROGRESS_PROBE:
      return pr->probe_sent;
    case LKV_RAFT_PROGRESS_REPLICATE:
      return lkv__infl_full(&pr->infl, max_msgs, max_bytes);
    default:
      return 1;
  }
}

/* ---- the member set ---- */

lkv__progress_t *lkv__tracker_get(lkv__tracker_t *t, lkv_raft_id_t id) {
  for (uint32_t i = 0; i < t->n; i++)
    if (t->prs[i].id == id) return &t->prs[i];
  return NULL;
}

static void add_member(lkv__tracker_t *t, const lkv__tracker_t *old, lkv_raft_id_t id, int learner,
                       uint64_t next_index, int *taken) {
  lkv__progress_t *pr = &t->prs[t->n++];
  for (uint32_t i = 0; i < old->n; i++) {
    if (old->prs[i].id == id) {
      *pr = old->prs[i];
      taken[i] = 1;
      pr->is_learner = (uint8_t)learner;
      return;
    }
  }
  memset(pr, 0, sizeof(*pr));
  pr->id = id;
  pr->is_learner = (uint8_t)learner;
  pr->next = next_index;
  pr->state = LKV_RAFT_PROGRESS_PROBE;
}

void lkv__tracker_set_conf(lkv__tracker_t *t, const lkv_raft_conf_state_t *conf, uint64_t next_index) {
  lkv__tracker_t old = *t;
  int taken[LKV_RAFT_MAX_MEMBERS] = {0};
  t->n = 0;
  for (uint32_t i = 0; i < conf->n_voters; i++) add_member(t, &old, conf->voters[i], 0, next_index, taken);
  for (uint32_t i = 0; i < conf->n_learners; i++)
    add_member(t, &old, conf->learners[i], 1, next_index, taken);
  for (uint32_t i = 0; i < old.n; i++)
    if (!taken[i]) free(old.prs[i].infl.buf);
}

void lkv__tracker_free(lkv__tracker_t *t) {
  for (uint32_t i = 0; i < t->n; i++) free(t->prs[i].infl.buf);
  t->n = 0;
}

size_t lkv__tracker_voters(const lkv__tracker_t *t) {
  size_t n = 0;
  for (uint32_t i = 0; i < t->n; i++) n += !t->prs[i].is_learner;
  return n;
}

static int desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

uint64_t lkv__tracker_committed(const lkv__tracker_t *t) {
  uint64_t m[LKV_RAFT_MAX_MEMBERS];
  size_t n = 0;
  for (uint32_t i = 0; i < t->n; i++)
    if (!t->prs[i].is_learner) m[n++] = t->prs[i].match;
  if (!n) return 0;
  qsort(m, n, sizeof(m[0]), desc);
  /* Sorted descending, the (n/2+1)-th value is held by a majority. */
  return m[n / 2];
}

int lkv__tracker_tally(const lkv__tracker_t *t) {
  size_t voters = 0, yes = 0, no = 0;
  for (uint32_t i = 0; i < t->n; i++) {
    if (t->prs[i].is_learner) continue;
    voters++;
    yes += t->prs[i].vote > 0;
    no += t->prs[i].vote < 0;
  }
  size_t q = voters / 2 + 1;
  if (voters && yes >= q) return 1;
  if (voters - no < q) return -1;
  return 0;
}

int lkv__tracker_read_quorum(const lkv__tracker_t *t, lkv_raft_id_t self_id, uint64_t round) {
  size_t voters = 0, acks = 0;
  for (uint32_t i = 0; i < t->n; i++) {
    if (t->prs[i].is_learner) continue;
    voters++;
    acks += t->prs[i].id == self_id || t->prs[i].read_ack >= round;
  }
  return voters && acks >= voters / 2 + 1;
}

int lkv__tracker_quorum_active(const lkv__tracker_t *t) {
  size_t voters = 0, active = 0;
  for (uint32_t i = 0; i < t->n; i++) {
    if (t->prs[i].is_learner) continue;
    voters++;
    active += t->prs[i].recent_active != 0;
  }
  return voters && active >= voters / 2 + 1;
}
