/* The scripted Raft harness, part 1: its types, safety counters, message copies and durable stores. */
#ifndef LKV_TESTS_RAFT_TESTUTIL_STATE_H
#define LKV_TESTS_RAFT_TESTUTIL_STATE_H

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
  lkv_raft_conf_state_t sm_conf; /* the membership at sm_applied, as the state machine recorded it */
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
  int v_log_matching;   /* two members hold different entries under the same index and term */
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

#endif
