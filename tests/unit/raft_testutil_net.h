/* The scripted Raft harness, part 3: the message queue (deliver, drop, duplicate, reorder, partition). */
#ifndef LKV_TESTS_RAFT_TESTUTIL_NET_H
#define LKV_TESTS_RAFT_TESTUTIL_NET_H

#include "raft_testutil_ready.h"

/* ---- the network ---- */

/* Removes queue slot i and returns its message (the caller frees it). */
static inline rt_msg_t *rt_take(rt_cluster_t *c, size_t i) {
  assert_true(i < c->nq);
  rt_msg_t *m = c->q[i];
  memmove(c->q + i, c->q + i + 1, (c->nq - i - 1) * sizeof(c->q[0]));
  c->nq--;
  return m;
}

/* Steps a message copy into its recipient if it is up and the link is not cut. Returns the step's result,
 * or 1 when the message was dropped. */
static inline int rt_step_copy(rt_cluster_t *c, const rt_msg_t *cp) {
  const lkv_raft_msg_t *m = &cp->m;
  rt_node_t *to = m->to < RT_MAX_NODES ? &c->nodes[m->to] : NULL;
  int up = to && to->r && !c->cut[m->from < RT_MAX_NODES ? m->from : 0][m->to];
  if (m->type == LKV_RAFT_MSG_SNAP && c->auto_report_snap && m->from < RT_MAX_NODES && c->nodes[m->from].r)
    lkv_raft_report_snapshot(c->nodes[m->from].r, m->to, up);
  if (!up) {
    rt_trace_msg(c, "drop", m);
    return 1;
  }
  rt_trace_msg(c, "recv", m);
  int rc = lkv_raft_step(to->r, m);
  rt_check_node(c, m->to);
  return rc;
}

/* Delivers queue slot i (and frees it). */
static inline int rt_deliver(rt_cluster_t *c, size_t i) {
  rt_msg_t *m = rt_take(c, i);
  int rc = rt_step_copy(c, m);
  rt_msg_free(m);
  return rc;
}

/* Drops slot i (a lost SNAP is reported as failed, as a transport would). */
static inline void rt_drop(rt_cluster_t *c, size_t i) {
  rt_msg_t *m = rt_take(c, i);
  lkv_raft_id_t from = m->m.from;
  if (m->m.type == LKV_RAFT_MSG_SNAP && c->auto_report_snap && from < RT_MAX_NODES && c->nodes[from].r)
    lkv_raft_report_snapshot(c->nodes[from].r, m->m.to, 0);
  rt_msg_free(m);
}

/* Queues a second copy of slot i at the end (a duplicated or late message). */
static inline void rt_dup(rt_cluster_t *c, size_t i) {
  assert_true(i < c->nq && c->nq < sizeof(c->q) / sizeof(c->q[0]));
  c->q[c->nq++] = rt_msg_copy(&c->q[i]->m);
}

/* Moves slot i to the end of the queue (reordering). */
static inline void rt_move_last(rt_cluster_t *c, size_t i) {
  rt_msg_t *m = rt_take(c, i);
  c->q[c->nq++] = m;
}

/* Queue slot of the first message of type (0: any) from `from` to `to` (NONE: any), or -1. */
static inline int rt_matches(const rt_cluster_t *c, size_t i, uint8_t type, lkv_raft_id_t from,
                             lkv_raft_id_t to) {
  const lkv_raft_msg_t *m = &c->q[i]->m;
  return (!type || m->type == type) && (!from || m->from == from) && (!to || m->to == to);
}

static inline long rt_find(const rt_cluster_t *c, uint8_t type, lkv_raft_id_t from, lkv_raft_id_t to) {
  for (size_t i = 0; i < c->nq; i++)
    if (rt_matches(c, i, type, from, to)) return (long)i;
  return -1;
}

static inline size_t rt_count(const rt_cluster_t *c, uint8_t type, lkv_raft_id_t from, lkv_raft_id_t to) {
  size_t k = 0;
  for (size_t i = 0; i < c->nq; i++) k += rt_matches(c, i, type, from, to) ? 1u : 0u;
  return k;
}

/* Drops every queued message matching the filter (0/NONE: any). Returns how many. */
static inline size_t rt_drop_matching(rt_cluster_t *c, uint8_t type, lkv_raft_id_t from, lkv_raft_id_t to) {
  size_t k = 0;
  long i;
  while ((i = rt_find(c, type, from, to)) >= 0) {
    rt_drop(c, (size_t)i);
    k++;
  }
  return k;
}

/* Delivers the messages queued now (not the answers they cause), in order. Returns how many. */
static inline size_t rt_deliver_queued(rt_cluster_t *c) {
  size_t n = c->nq, k = 0;
  for (; k < n && c->nq; k++) rt_deliver(c, 0);
  return k;
}

/* Delivers every queued message matching the filter, in order (not those they cause). */
static inline size_t rt_deliver_matching(rt_cluster_t *c, uint8_t type, lkv_raft_id_t from,
                                         lkv_raft_id_t to) {
  size_t k = 0, i = 0;
  while (i < c->nq) {
    if (rt_matches(c, i, type, from, to)) {
      rt_deliver(c, i);
      k++;
    } else {
      i++;
    }
  }
  return k;
}

/* Processes readies and delivers messages until nothing moves. */
static inline void rt_stabilize(rt_cluster_t *c) {
  for (int round = 0;; round++) {
    assert_true(round < 10000);
    int moved = rt_process_all(c);
    if (c->nq) {
      rt_deliver_queued(c);
      moved = 1;
    }
    if (!moved) return;
  }
}

static inline void rt_isolate(rt_cluster_t *c, lkv_raft_id_t id) {
  for (size_t k = 0; k < RT_MAX_NODES; k++) c->cut[id][k] = c->cut[k][id] = 1;
}

static inline void rt_heal(rt_cluster_t *c) {
  memset(c->cut, 0, sizeof(c->cut));
}

#endif
