/* A scripted in-memory Raft cluster for the paper-rule and scenario tests: durable stores, a message queue
 * under the test's control, crashes, partitions and safety checks that count violations. */
#ifndef LKV_TESTS_RAFT_TESTUTIL_H
#define LKV_TESTS_RAFT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "raft/codec.h"
#include "raft/raft.h"

/*
 * Every member has a durable store (hard state, snapshot metadata, entries, the state machine's applied
 * index) that only the "persist" phase of a ready batch writes, so rt_crash loses exactly what was not
 * made durable. Messages are deep-copied into one queue; nothing is delivered unless the test says so
 * (rt_deliver, rt_deliver_all, rt_stabilize). Safety checks run on every ready batch and every status
 * read; they do not abort the test: they count violations (rt_cluster_t.violations) so the bug scenarios
 * can assert that an injected bug was seen and the clean runs can assert none was. RT_TRACE=1 in the
 * environment prints every message and violation.
 */

#define RT_MAX_NODES 8 /* ids 1..7 */
#define RT_MAX_TERM 512
#define RT_MAX_LOG 4096
#define RT_MAX_APPLIED 1024
#define RT_MAX_READS 256

typedef struct {
  lkv_raft_msg_t m; /* its pointers point into the blocks below, owned by this copy */
  lkv_raft_entry_t *ents;
  uint8_t *blob;
} rt_msg_t;

typedef struct {
  uint64_t index, term;
  uint8_t type;
  char data[48]; /* a prefix, NUL-terminated, for assertions */
  size_t len;
} rt_applied_t;

typedef struct {
  char ctx[65];
  uint64_t index;
} rt_read_t;

typedef struct {
  lkv_raft_id_t id;
  lkv_raft_t *r; /* NULL while down */
  lkv_raft_config_t cfg;
  uint64_t rng;
  /* durable */
  lkv_raft_hard_state_t hs;
  lkv_raft_snapshot_meta_t snap;
  lkv_raft_entry_t *ents; /* ents[i].index == snap.index + 1 + i; data owned */
  size_t n_ents, cap_ents;
  uint64_t sm_applied;
  /* volatile */
  rt_applied_t applied[RT_MAX_APPLIED];
  size_t n_applied;
  rt_read_t reads[RT_MAX_READS];
  size_t n_reads;
  int reject_next_cc;         /* apply the next conf change with accept = 0 */
  lkv_raft_conf_state_t conf; /* as returned by the last apply_conf_change */
} rt_node_t;

typedef struct {
  char ctx[65];
  uint64_t min_index; /* the highest commit any member had when the read was asked */
} rt_asked_read_t;

typedef struct {
  rt_node_t nodes[RT_MAX_NODES];
  size_t n; /* members 1..n exist */
  rt_msg_t *q[8192];
  size_t nq;
  uint8_t cut[RT_MAX_NODES][RT_MAX_NODES]; /* cut[from][to]: messages on this link are dropped */
  int auto_report_snap;                    /* report_snapshot(ok) when a SNAP is delivered (or dropped) */
  int trace;
  /* safety bookkeeping */
  lkv_raft_id_t leader_of[RT_MAX_TERM];
  lkv_raft_id_t voted[RT_MAX_NODES][RT_MAX_TERM]; /* granted votes seen leaving a member */
  uint64_t hist[RT_MAX_LOG];                      /* hash of the entry applied at each index, 0: none yet */
  rt_asked_read_t asked[RT_MAX_READS];
  size_t n_asked;
  size_t reads_answered;         /* read states handed out, all members */
  uint8_t removed[RT_MAX_NODES]; /* a removal of this member was applied somewhere (it is final) */
  int refuse_some_cc;            /* every member refuses (accept = 0) the same quarter of the changes */
  int violations;
  int v_two_leaders, v_double_vote, v_applied_diverged, v_stale_read, v_commit_back, v_contract;
  int v_two_pending;    /* a leader's log holds two unapplied membership changes */
  int v_conf_early;     /* a leader appended a membership change before committing an entry of its term */
  int v_removed_leader; /* a leader that is not a voter of the membership in force */
  int v_stale_snapshot; /* a snapshot at or below the durable commit index was installed */
  char last_violation[256];
} rt_cluster_t;

static inline uint64_t rt_rand(void *arg) {
  uint64_t *s = arg;
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static inline void rt_violation(rt_cluster_t *c, int *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->last_violation, sizeof(c->last_violation), fmt, ap);
  va_end(ap);
  c->violations++;
  (*kind)++;
  if (c->trace) fprintf(stderr, "VIOLATION: %s\n", c->last_violation);
}

static inline rt_node_t *rt_node(rt_cluster_t *c, lkv_raft_id_t id) {
  assert_true(id >= 1 && id < RT_MAX_NODES);
  return &c->nodes[id];
}

static inline lkv_raft_t *rt_raft(rt_cluster_t *c, lkv_raft_id_t id) {
  lkv_raft_t *r = rt_node(c, id)->r;
  assert_non_null(r);
  return r;
}

/* ---- deep copies ---- */

static inline uint8_t *rt_dup_bytes(const uint8_t *p, size_t len) {
  uint8_t *d = malloc(len ? len : 1);
  assert_non_null(d);
  if (len) memcpy(d, p, len);
  return d;
}

static inline rt_msg_t *rt_msg_copy(const lkv_raft_msg_t *m) {
  size_t blob_len = m->snapshot.len + m->context_len;
  for (size_t i = 0; i < m->n_entries; i++) blob_len += m->entries[i].len;
  rt_msg_t *cp = calloc(1, sizeof(*cp));
  assert_non_null(cp);
  cp->m = *m;
  cp->blob = malloc(blob_len ? blob_len : 1);
  assert_non_null(cp->blob);
  uint8_t *p = cp->blob;
  if (m->n_entries) {
    cp->ents = calloc(m->n_entries, sizeof(*cp->ents));
    assert_non_null(cp->ents);
    for (size_t i = 0; i < m->n_entries; i++) {
      cp->ents[i] = m->entries[i];
      if (m->entries[i].len) memcpy(p, m->entries[i].data, m->entries[i].len);
      cp->ents[i].data = p;
      p += m->entries[i].len;
    }
  }
  cp->m.entries = cp->ents;
  if (m->snapshot.len) memcpy(p, m->snapshot.data, m->snapshot.len);
  cp->m.snapshot.data = p;
  p += m->snapshot.len;
  if (m->context_len) memcpy(p, m->context, m->context_len);
  cp->m.context = m->context_len ? p : NULL;
  return cp;
}

static inline void rt_msg_free(rt_msg_t *cp) {
  if (!cp) return;
  free(cp->ents);
  free(cp->blob);
  free(cp);
}

/* ---- the durable store ---- */

static inline void rt_store_truncate_from(rt_node_t *n, uint64_t index) {
  while (n->n_ents && n->ents[n->n_ents - 1].index >= index) {
    n->n_ents--;
    free((void *)n->ents[n->n_ents].data);
  }
}

static inline void rt_store_append(rt_node_t *n, const lkv_raft_entry_t *e) {
  rt_store_truncate_from(n, e->index);
  uint64_t want = n->snap.index + 1 + n->n_ents;
  assert_int_equal(e->index, want); /* the core hands out entries that follow the durable log */
  if (n->n_ents == n->cap_ents) {
    n->cap_ents = n->cap_ents ? n->cap_ents * 2 : 64;
    n->ents = realloc(n->ents, n->cap_ents * sizeof(*n->ents));
    assert_non_null(n->ents);
  }
  n->ents[n->n_ents] = *e;
  n->ents[n->n_ents].data = rt_dup_bytes(e->data, e->len);
  n->n_ents++;
}

static inline void rt_store_drop_upto(rt_node_t *n, uint64_t index) {
  size_t k = 0;
  while (k < n->n_ents && n->ents[k].index <= index) free((void *)n->ents[k++].data);
  if (k && n->n_ents > k) memmove(n->ents, n->ents + k, (n->n_ents - k) * sizeof(*n->ents));
  n->n_ents -= k;
}

static inline void rt_store_free(rt_node_t *n) {
  rt_store_truncate_from(n, 0);
  free(n->ents);
  n->ents = NULL;
  n->cap_ents = 0;
}

static inline uint64_t rt_store_last(const rt_node_t *n) {
  return n->snap.index + n->n_ents;
}

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

/* ---- input ---- */

static inline void rt_tick(rt_cluster_t *c, lkv_raft_id_t id, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    lkv_raft_tick(rt_raft(c, id));
    rt_check_node(c, id);
  }
}

/* Ticks every up member n times, stabilizing after each round of ticks. */
static inline void rt_tick_all(rt_cluster_t *c, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    for (lkv_raft_id_t id = 1; id <= c->n; id++)
      if (c->nodes[id].r) rt_tick(c, id, 1);
    rt_stabilize(c);
  }
}

/* Member id's status by value, for the one-field accessors below. */
static inline lkv_raft_status_t rt_st(rt_cluster_t *c, lkv_raft_id_t id) {
  lkv_raft_status_t st;
  rt_status(c, id, &st);
  return st;
}

static inline lkv_raft_role_t rt_role(rt_cluster_t *c, lkv_raft_id_t id) {
  return rt_st(c, id).role;
}

static inline uint64_t rt_term(rt_cluster_t *c, lkv_raft_id_t id) {
  return rt_st(c, id).hard_state.term;
}

static inline uint64_t rt_commit(rt_cluster_t *c, lkv_raft_id_t id) {
  return rt_st(c, id).hard_state.commit;
}

static inline uint64_t rt_last(rt_cluster_t *c, lkv_raft_id_t id) {
  return rt_st(c, id).last_index;
}

static inline lkv_raft_id_t rt_leader(rt_cluster_t *c, lkv_raft_id_t id) {
  return rt_st(c, id).leader;
}

static inline uint64_t rt_max_commit(rt_cluster_t *c) {
  uint64_t m = 0;
  for (lkv_raft_id_t id = 1; id <= c->n; id++)
    if (c->nodes[id].r && rt_commit(c, id) > m) m = rt_commit(c, id);
  return m;
}

/* Campaigns member id and runs the cluster until quiet; asserts it leads. */
static inline void rt_elect(rt_cluster_t *c, lkv_raft_id_t id) {
  assert_int_equal(lkv_raft_campaign(rt_raft(c, id)), 0);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, id), LKV_RAFT_LEADER);
}

static inline int rt_propose(rt_cluster_t *c, lkv_raft_id_t id, const char *s) {
  return lkv_raft_propose(rt_raft(c, id), (const uint8_t *)s, strlen(s), NULL, NULL);
}

static inline int rt_propose_cc(rt_cluster_t *c, lkv_raft_id_t id, uint8_t type, lkv_raft_id_t node) {
  lkv_raft_conf_change_t cc = {.type = type, .node = node};
  return lkv_raft_propose_conf_change(rt_raft(c, id), &cc);
}

/* One append round trip from leader to follower only (other queued messages stay). */
static inline void rt_round_trip(rt_cluster_t *c, lkv_raft_id_t leader, lkv_raft_id_t follower) {
  rt_process(c, leader);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, leader, follower);
  rt_process(c, follower);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP_RESP, follower, leader);
  rt_process(c, leader);
}

/* The leader adds member id as a learner; the change is applied everywhere and id catches up. */
static inline void rt_add_learner(rt_cluster_t *c, lkv_raft_id_t leader, lkv_raft_id_t id) {
  assert_int_equal(rt_propose_cc(c, leader, LKV_RAFT_CC_ADD_LEARNER, id), 0);
  rt_stabilize(c);
  rt_tick_all(c, 2);
}

/* Asks member id for a read index and records the highest commit any member has now. */
static inline int rt_read(rt_cluster_t *c, lkv_raft_id_t id, const char *ctx) {
  assert_true(c->n_asked < RT_MAX_READS && strlen(ctx) <= 64);
  rt_asked_read_t *a = &c->asked[c->n_asked++];
  strcpy(a->ctx, ctx);
  a->min_index = rt_max_commit(c);
  return lkv_raft_read_index(rt_raft(c, id), (const uint8_t *)ctx, strlen(ctx));
}

/* The read index member id got for ctx, or -1 when it has none. */
static inline long long rt_read_result(rt_cluster_t *c, lkv_raft_id_t id, const char *ctx) {
  rt_node_t *n = rt_node(c, id);
  for (size_t i = 0; i < n->n_reads; i++)
    if (!strcmp(n->reads[i].ctx, ctx)) return (long long)n->reads[i].index;
  return -1;
}

/* 1 if member id applied a NORMAL entry with data s (since its last start). */
static inline int rt_applied_data(rt_cluster_t *c, lkv_raft_id_t id, const char *s) {
  rt_node_t *n = rt_node(c, id);
  for (size_t i = 0; i < n->n_applied; i++)
    if (n->applied[i].type == LKV_RAFT_ENTRY_NORMAL && !strcmp(n->applied[i].data, s)) return 1;
  return 0;
}

/* Index of the entry with data s in member id's log, or 0. */
static inline uint64_t rt_log_find(rt_cluster_t *c, lkv_raft_id_t id, const char *s) {
  lkv_raft_status_t st;
  rt_status(c, id, &st);
  for (uint64_t i = st.first_index; i <= st.last_index; i++) {
    lkv_raft_entry_t e;
    if (lkv_raft_entry(rt_raft(c, id), i, &e) == 0 && e.len == strlen(s) && e.len &&
        !memcmp(e.data, s, e.len))
      return i;
  }
  return 0;
}

static inline uint64_t rt_entry_term(rt_cluster_t *c, lkv_raft_id_t id, uint64_t index) {
  lkv_raft_entry_t e;
  if (lkv_raft_entry(rt_raft(c, id), index, &e)) return 0;
  return e.term;
}

/* Member id takes a snapshot at its applied index and compacts its log (in memory and in its store). */
static inline uint64_t rt_compact(rt_cluster_t *c, lkv_raft_id_t id) {
  rt_node_t *n = rt_node(c, id);
  lkv_raft_status_t st;
  rt_status(c, id, &st);
  lkv_raft_snapshot_meta_t meta = {
      .index = st.applied, .term = rt_entry_term(c, id, st.applied), .conf = st.conf};
  assert_int_equal(lkv_raft_set_snapshot(n->r, &meta), 0);
  assert_int_equal(lkv_raft_compact(n->r, st.applied), 0);
  rt_store_drop_upto(n, st.applied);
  n->snap = meta;
  return st.applied;
}

/* Member lagger misses n proposals while down; the leader then compacts its log; lagger restarts, so it
 * needs a snapshot. Returns the snapshot's index. */
static inline uint64_t rt_lag_behind_snapshot(rt_cluster_t *c, lkv_raft_id_t leader, lkv_raft_id_t lagger,
                                              int n) {
  rt_crash(c, lagger);
  for (int k = 0; k < n; k++) assert_int_equal(rt_propose(c, leader, "p"), 0);
  rt_stabilize(c);
  uint64_t s = rt_compact(c, leader);
  rt_start(c, lagger);
  return s;
}

/* Members for a hand-built message: fills the common fields. */
static inline lkv_raft_msg_t rt_msg(uint8_t type, lkv_raft_id_t from, lkv_raft_id_t to, uint64_t term) {
  lkv_raft_msg_t m;
  memset(&m, 0, sizeof(m));
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

/* Config adjusters for rt_new's cfg_fn. */
static inline void rt_cfg_plain(lkv_raft_config_t *cfg, void *arg) {
  (void)arg;
  cfg->pre_vote = 0;
  cfg->check_quorum = 0;
}

static inline void rt_cfg_bugs(lkv_raft_config_t *cfg, void *arg) {
  cfg->bugs = arg ? *(unsigned *)arg : 0;
}

#endif
