/* The scripted Raft harness, part 2: members' lives (start, crash), safety checks, ready handling. */
#ifndef LKV_TESTS_RAFT_TESTUTIL_READY_H
#define LKV_TESTS_RAFT_TESTUTIL_READY_H

#include "raft_testutil_state.h"

/* ---- cluster life ---- */

static inline void rt_config(rt_node_t *n, lkv_raft_id_t id) {
  lkv_raft_config_default(&n->cfg, id, rt_rand, &n->rng);
}

/* Starts member id from its durable store (a fresh one when the store is empty and hs.term is 0). */
static inline void rt_start(rt_cluster_t *c, lkv_raft_id_t id) {
  rt_node_t *n = rt_node(c, id);
  assert_null(n->r);
  lkv_raft_restore_t rs = {
      .hard_state = n->hs, .snapshot = n->snap, .entries = n->ents, .n_entries = n->n_ents};
  rs.applied = n->sm_applied > n->hs.commit ? n->hs.commit : n->sm_applied;
  /* the state machine's own record of the membership: cancelled changes stay cancelled */
  if (rs.applied == n->sm_applied && rs.applied > n->snap.index) rs.conf = &n->sm_conf;
  int fresh = n->hs.term == 0 && n->snap.index == 0 && n->n_ents == 0;
  n->cfg.rand_arg = &n->rng;
  if (getenv("RT_TRACE"))
    fprintf(stderr, "start %llu: term %llu vote %llu commit %llu snap %llu last %llu applied %llu\n",
            (unsigned long long)id, (unsigned long long)n->hs.term, (unsigned long long)n->hs.vote,
            (unsigned long long)n->hs.commit, (unsigned long long)n->snap.index,
            (unsigned long long)rt_store_last(n), (unsigned long long)rs.applied);
  assert_int_equal(lkv_raft_new(&n->cfg, fresh ? NULL : &rs, &n->r), 0);
  n->n_reads = 0;
}

/* A cluster of n members 1..n; cfg_fn (optional) adjusts each member's config before it starts. All
 * members bootstrap with voters 1..n and apply their founding entries. */
typedef void (*rt_cfg_fn)(lkv_raft_config_t *cfg, void *arg);

static inline int rt_process(rt_cluster_t *c, lkv_raft_id_t id);

static inline rt_cluster_t *rt_new_members(size_t n, size_t n_boot, rt_cfg_fn fn, void *arg, uint64_t seed) {
  assert_true(n < RT_MAX_NODES && n_boot <= n);
  rt_cluster_t *c = calloc(1, sizeof(*c));
  assert_non_null(c);
  c->n = n;
  c->auto_report_snap = 1;
  c->trace = getenv("RT_TRACE") != NULL;
  lkv_raft_id_t voters[RT_MAX_NODES];
  for (size_t i = 0; i < n_boot; i++) voters[i] = i + 1;
  for (lkv_raft_id_t id = 1; id <= n; id++) {
    rt_node_t *nd = rt_node(c, id);
    nd->id = id;
    nd->rng = seed * 1000003u + id;
    rt_config(nd, id);
    if (fn) fn(&nd->cfg, arg);
    rt_start(c, id);
    if (id <= n_boot) assert_int_equal(lkv_raft_bootstrap(nd->r, voters, n_boot), 0);
  }
  for (lkv_raft_id_t id = 1; id <= n; id++) rt_process(c, id);
  return c;
}

/* n voters, bootstrapped, every member with the defaults (pre_vote and check_quorum on). */
static inline rt_cluster_t *rt_new(size_t n, rt_cfg_fn fn, void *arg) {
  return rt_new_members(n, n, fn, arg, 1);
}

static inline void rt_free(rt_cluster_t *c) {
  for (size_t i = 0; i < c->nq; i++) rt_msg_free(c->q[i]);
  for (lkv_raft_id_t id = 1; id <= c->n; id++) {
    rt_node_t *n = rt_node(c, id);
    if (n->r) lkv_raft_free(n->r);
    rt_store_free(n);
  }
  free(c);
}

/* Crash: the member loses everything not durable (including an outstanding ready batch). */
static inline void rt_crash(rt_cluster_t *c, lkv_raft_id_t id) {
  rt_node_t *n = rt_node(c, id);
  if (c->trace) fprintf(stderr, "crash %llu\n", (unsigned long long)id);
  if (n->r) lkv_raft_free(n->r);
  n->r = NULL;
  n->n_applied = 0; /* the applied list is volatile; the applied index is durable */
}

static inline void rt_restart(rt_cluster_t *c, lkv_raft_id_t id) {
  rt_crash(c, id);
  rt_start(c, id);
}

/* ---- checks ---- */

static inline uint64_t rt_hash_entry(const lkv_raft_entry_t *e) {
  uint64_t h = 1469598103934665603ull ^ e->term ^ ((uint64_t)e->type << 56);
  for (size_t i = 0; i < e->len; i++) h = (h ^ e->data[i]) * 1099511628211ull;
  return h ? h : 1;
}

static inline void rt_status(rt_cluster_t *c, lkv_raft_id_t id, lkv_raft_status_t *st) {
  lkv_raft_status(rt_raft(c, id), st);
}

/* Records who leads which term and flags a second leader in a term. */
static inline void rt_check_node(rt_cluster_t *c, lkv_raft_id_t id) {
  rt_node_t *n = rt_node(c, id);
  if (!n->r) return;
  lkv_raft_status_t st;
  lkv_raft_status(n->r, &st);
  if (st.role == LKV_RAFT_LEADER && st.hard_state.term < RT_MAX_TERM) {
    lkv_raft_id_t *l = &c->leader_of[st.hard_state.term];
    if (*l && *l != id)
      rt_violation(c, &c->v_two_leaders, "two leaders in term %llu: %llu and %llu",
                   (unsigned long long)st.hard_state.term, (unsigned long long)*l, (unsigned long long)id);
    else
      *l = id;
  }
  if (st.role != LKV_RAFT_LEADER) return;
  int voter = 0;
  for (uint32_t i = 0; i < st.conf.n_voters; i++) voter |= st.conf.voters[i] == id;
  if (!voter)
    rt_violation(c, &c->v_removed_leader, "member %llu leads term %llu but is not a voter",
                 (unsigned long long)id, (unsigned long long)st.hard_state.term);
  int pending = 0;
  for (uint64_t i = st.applied + 1; i <= st.last_index; i++) {
    lkv_raft_entry_t e;
    if (lkv_raft_entry(n->r, i, &e) == 0 && e.type == LKV_RAFT_ENTRY_CONF_CHANGE) pending++;
  }
  if (pending > 1)
    rt_violation(c, &c->v_two_pending, "leader %llu has %d membership changes pending",
                 (unsigned long long)id, pending);
}

/* A leader appends a membership change only once an entry of its term is committed. */
static inline void rt_check_conf_append(rt_cluster_t *c, rt_node_t *n, const lkv_raft_ready_t *rd) {
  lkv_raft_status_t st;
  lkv_raft_status(n->r, &st);
  if (st.role != LKV_RAFT_LEADER) return;
  for (size_t k = 0; k < rd->n_entries; k++) {
    const lkv_raft_entry_t *e = &rd->entries[k];
    if (e->type != LKV_RAFT_ENTRY_CONF_CHANGE || e->term != st.hard_state.term) continue;
    uint64_t first = e->index; /* the leader's first entry of its term */
    lkv_raft_entry_t p;
    while (first > st.first_index && lkv_raft_entry(n->r, first - 1, &p) == 0 && p.term == e->term) first--;
    /* at the compaction point the term may have started inside the snapshot: committed then */
    int term_in_snapshot = first == st.first_index && n->snap.index + 1 == first && n->snap.term == e->term;
    if (!term_in_snapshot && st.hard_state.commit < first)
      rt_violation(c, &c->v_conf_early,
                   "leader %llu appended a membership change at %llu, commit %llu < %llu",
                   (unsigned long long)n->id, (unsigned long long)e->index,
                   (unsigned long long)st.hard_state.commit, (unsigned long long)first);
  }
}

static inline void rt_check_all(rt_cluster_t *c) {
  for (lkv_raft_id_t id = 1; id <= c->n; id++) rt_check_node(c, id);
}

/* Log Matching (Figure 3): an entry with the same index and term holds the same data on every member
 * (checked on demand: it compares whole logs). */
static inline void rt_check_log_matching(rt_cluster_t *c) {
  for (lkv_raft_id_t a = 1; a <= c->n; a++)
    for (lkv_raft_id_t b = a + 1; b <= c->n; b++) {
      if (!c->nodes[a].r || !c->nodes[b].r) continue;
      lkv_raft_status_t sa, sb;
      lkv_raft_status(c->nodes[a].r, &sa);
      lkv_raft_status(c->nodes[b].r, &sb);
      uint64_t lo = sa.first_index > sb.first_index ? sa.first_index : sb.first_index;
      uint64_t hi = sa.last_index < sb.last_index ? sa.last_index : sb.last_index;
      for (uint64_t i = lo; i <= hi; i++) {
        lkv_raft_entry_t ea, eb;
        if (lkv_raft_entry(c->nodes[a].r, i, &ea) || lkv_raft_entry(c->nodes[b].r, i, &eb)) continue;
        if (ea.term == eb.term && rt_hash_entry(&ea) != rt_hash_entry(&eb))
          rt_violation(c, &c->v_log_matching,
                       "members %llu and %llu hold different entries at %llu (term %llu)",
                       (unsigned long long)a, (unsigned long long)b, (unsigned long long)i,
                       (unsigned long long)ea.term);
      }
    }
}

static inline void rt_check_sent(rt_cluster_t *c, const lkv_raft_msg_t *m) {
  if (m->type == LKV_RAFT_MSG_VOTE_RESP && !m->reject && m->term < RT_MAX_TERM && m->from < RT_MAX_NODES) {
    lkv_raft_id_t *v = &c->voted[m->from][m->term];
    if (*v && *v != m->to)
      rt_violation(c, &c->v_double_vote, "member %llu voted for %llu and %llu in term %llu",
                   (unsigned long long)m->from, (unsigned long long)*v, (unsigned long long)m->to,
                   (unsigned long long)m->term);
    else
      *v = m->to;
  }
}

static inline void rt_send(rt_cluster_t *c, const lkv_raft_msg_t *m) {
  rt_check_sent(c, m);
  assert_true(c->nq < sizeof(c->q) / sizeof(c->q[0]));
  rt_msg_t *cp = rt_msg_copy(m);
  if (m->type == LKV_RAFT_MSG_SNAP && m->snapshot.len == 0) {
    /* the transport attaches the state machine's snapshot: here its index, 8 bytes */
    free(cp->blob);
    size_t ctx = m->context_len;
    cp->blob = malloc(8 + ctx + 1);
    assert_non_null(cp->blob);
    memcpy(cp->blob, &m->snapshot.meta.index, 8);
    if (ctx) memcpy(cp->blob + 8, m->context, ctx);
    cp->m.snapshot.data = cp->blob;
    cp->m.snapshot.len = 8;
    cp->m.context = ctx ? cp->blob + 8 : NULL;
  }
  c->q[c->nq++] = cp;
}

/* ---- ready handling, in the contract's order ---- */

/* How far rt_ready_partial goes before leaving the batch outstanding (then crash the member). */
enum { RT_UPTO_SEND = 1, RT_UPTO_PERSIST = 2, RT_UPTO_SEND_AFTER = 3, RT_UPTO_ALL = 4 };

static inline void rt_apply(rt_cluster_t *c, rt_node_t *n, const lkv_raft_entry_t *e) {
  if (e->type == LKV_RAFT_ENTRY_CONF_CHANGE) {
    /* founding entries (term 1) are never refused: the decision must not depend on when it is made */
    int accept = !n->reject_next_cc && !(c->refuse_some_cc && e->term > 1 && rt_hash_entry(e) % 4 == 0);
    n->reject_next_cc = 0;
    assert_int_equal(lkv_raft_apply_conf_change(n->r, e, accept, &n->conf), 0);
    lkv_raft_conf_change_t cc;
    int ok = lkv_raft_conf_change_decode(e->data, e->len, &cc) == 0;
    if (ok && accept && cc.type == LKV_RAFT_CC_REMOVE_NODE && cc.node < RT_MAX_NODES) c->removed[cc.node] = 1;
    if (c->trace && ok)
      fprintf(stderr, "conf %llu: entry %llu type %u node %llu accept %d -> %u voters %u learners\n",
              (unsigned long long)n->id, (unsigned long long)e->index, cc.type, (unsigned long long)cc.node,
              accept, n->conf.n_voters, n->conf.n_learners);
  }
  if (e->index <= n->sm_applied) return; /* re-delivered after a restart: already in the state machine */
  if (e->index != n->sm_applied + 1)
    rt_violation(c, &c->v_contract, "member %llu applies %llu after %llu", (unsigned long long)n->id,
                 (unsigned long long)e->index, (unsigned long long)n->sm_applied);
  n->sm_applied = e->index;
  if (e->type == LKV_RAFT_ENTRY_CONF_CHANGE) n->sm_conf = n->conf;
  uint64_t h = rt_hash_entry(e);
  if (c->trace)
    fprintf(stderr, "apply %llu: %llu (term %llu, %zu bytes)\n", (unsigned long long)n->id,
            (unsigned long long)e->index, (unsigned long long)e->term, e->len);
  if (e->index < RT_MAX_LOG) {
    if (c->hist[e->index] && c->hist[e->index] != h)
      rt_violation(c, &c->v_applied_diverged, "member %llu applied a different entry at %llu (term %llu)",
                   (unsigned long long)n->id, (unsigned long long)e->index, (unsigned long long)e->term);
    else
      c->hist[e->index] = h;
  }
  if (n->n_applied < RT_MAX_APPLIED) {
    rt_applied_t *a = &n->applied[n->n_applied++];
    a->index = e->index;
    a->term = e->term;
    a->type = e->type;
    a->len = e->len;
    size_t k = e->len < sizeof(a->data) - 1 ? e->len : sizeof(a->data) - 1;
    if (k) memcpy(a->data, e->data, k);
    a->data[k] = 0;
  }
}

static inline void rt_take_read(rt_cluster_t *c, rt_node_t *n, const lkv_raft_read_state_t *rs) {
  char ctx[65] = {0};
  if (rs->context_len) memcpy(ctx, rs->context, rs->context_len < 64 ? rs->context_len : 64);
  for (size_t i = 0; i < c->n_asked; i++)
    if (!strcmp(c->asked[i].ctx, ctx) && rs->index < c->asked[i].min_index)
      rt_violation(c, &c->v_stale_read, "read %s answered at %llu, below commit %llu known when asked", ctx,
                   (unsigned long long)rs->index, (unsigned long long)c->asked[i].min_index);
  c->reads_answered++;
  assert_true(n->n_reads < RT_MAX_READS);
  strcpy(n->reads[n->n_reads].ctx, ctx);
  n->reads[n->n_reads++].index = rs->index;
}

static inline void rt_trace_msg(rt_cluster_t *c, const char *what, const lkv_raft_msg_t *m) {
  if (!c->trace) return;
  fprintf(stderr, "%s %s %llu->%llu t%llu lt%llu i%llu c%llu n%zu rej%u hint%llu\n", what,
          lkv_raft_msg_type_name(m->type), (unsigned long long)m->from, (unsigned long long)m->to,
          (unsigned long long)m->term, (unsigned long long)m->log_term, (unsigned long long)m->index,
          (unsigned long long)m->commit, m->n_entries, m->reject, (unsigned long long)m->reject_hint);
}

/* Handles member id's ready batch rd (taken by the caller) up to `upto`, in the contract's order. Below
 * RT_UPTO_ALL the batch stays outstanding: the caller crashes the member next. */
static inline int rt_handle(rt_cluster_t *c, lkv_raft_id_t id, const lkv_raft_ready_t *rdp, int upto) {
  rt_node_t *n = rt_node(c, id);
  lkv_raft_ready_t rd = *rdp;
  int durable_work = rd.n_entries || rd.has_hard_state || rd.has_snapshot;
  rt_check_conf_append(c, n, &rd);
  if (rd.has_snapshot && rd.snapshot.meta.index <= n->hs.commit)
    rt_violation(c, &c->v_stale_snapshot, "member %llu installs a snapshot at %llu, durable commit %llu",
                 (unsigned long long)id, (unsigned long long)rd.snapshot.meta.index,
                 (unsigned long long)n->hs.commit);
  for (size_t i = 0; i < rd.n_msgs; i++) {
    const lkv_raft_msg_t *m = &rd.msgs[i];
    if (durable_work && !m->reject && (m->type == LKV_RAFT_MSG_VOTE_RESP || m->type == LKV_RAFT_MSG_APP_RESP))
      rt_violation(c, &c->v_contract, "member %llu: %s leaves before its batch is durable",
                   (unsigned long long)id, lkv_raft_msg_type_name(m->type));
    rt_trace_msg(c, "send", m);
    rt_send(c, m);
  }
  if (upto < RT_UPTO_PERSIST) return 1;
  if (rd.has_snapshot) {
    if (c->trace)
      fprintf(stderr, "install %llu: snapshot %llu (term %llu)\n", (unsigned long long)id,
              (unsigned long long)rd.snapshot.meta.index, (unsigned long long)rd.snapshot.meta.term);
    n->snap = rd.snapshot.meta;
    rt_store_truncate_from(n, 0);
    n->sm_applied = rd.snapshot.meta.index; /* the state machine installs the snapshot's data */
    n->sm_conf = rd.snapshot.meta.conf;
    n->n_applied = 0;
    if (n->hs.commit < n->snap.index) n->hs.commit = n->snap.index;
  }
  for (size_t i = 0; i < rd.n_entries; i++) rt_store_append(n, &rd.entries[i]);
  if (rd.has_hard_state) {
    if (rd.hard_state.commit < n->hs.commit)
      rt_violation(c, &c->v_commit_back, "member %llu: durable commit goes back from %llu to %llu",
                   (unsigned long long)id, (unsigned long long)n->hs.commit,
                   (unsigned long long)rd.hard_state.commit);
    n->hs = rd.hard_state;
  }
  if (upto < RT_UPTO_SEND_AFTER) return 1;
  for (size_t i = 0; i < rd.n_msgs_after_persist; i++) {
    rt_trace_msg(c, "send*", &rd.msgs_after_persist[i]);
    rt_send(c, &rd.msgs_after_persist[i]);
  }
  if (upto < RT_UPTO_ALL) return 1;
  for (size_t i = 0; i < rd.n_committed; i++) {
    if (rd.committed[i].index > rt_store_last(n))
      rt_violation(c, &c->v_contract, "member %llu: entry %llu to apply is not durable (last %llu)",
                   (unsigned long long)id, (unsigned long long)rd.committed[i].index,
                   (unsigned long long)rt_store_last(n));
    rt_apply(c, n, &rd.committed[i]);
  }
  for (size_t i = 0; i < rd.n_read_states; i++) rt_take_read(c, n, &rd.read_states[i]);
  assert_int_equal(lkv_raft_advance(n->r, rdp), 0);
  rt_check_node(c, id);
  return 1;
}

/* Takes member id's ready batch (if any) and handles it up to `upto`. Returns 1 if there was one. */
static inline int rt_ready_partial(rt_cluster_t *c, lkv_raft_id_t id, int upto) {
  rt_node_t *n = rt_node(c, id);
  lkv_raft_ready_t rd;
  if (!n->r || !lkv_raft_ready(n->r, &rd)) return 0;
  return rt_handle(c, id, &rd, upto);
}

/* Handles every ready batch of member id. Returns the number of batches. */
static inline int rt_process(rt_cluster_t *c, lkv_raft_id_t id) {
  int k = 0;
  while (rt_ready_partial(c, id, RT_UPTO_ALL)) k++;
  return k;
}

static inline int rt_process_all(rt_cluster_t *c) {
  int k = 0;
  for (lkv_raft_id_t id = 1; id <= c->n; id++) k += rt_process(c, id);
  return k;
}

#endif
