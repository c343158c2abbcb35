/* The write path's front door: proposals in, applied-and-durable outcomes out. */
#ifndef LKV_REPLICATION_REPLICATION_H
#define LKV_REPLICATION_REPLICATION_H

#include "apply/apply.h"

/*
 * A replicator orders write proposals, makes them durable and applies them through the state machine
 * (apply/apply.h), then reports each outcome through the proposal's done callback. The single-node
 * replicator (local.c) does this with group commit: every proposal that arrives while a batch is being
 * fsynced joins the next batch. A Raft or causal replicator will implement the same interface, so the API
 * layer never changes when replication does.
 */

typedef struct lkv_proposal_s lkv_proposal_t;

/* Called once per accepted proposal, on the replicator's thread, after the outcome is durable (or the
 * proposal failed as a whole: then p->req.err is negative and p->req.resp NULL). The callback owns p again. */
typedef void (*lkv_proposal_done_cb)(lkv_proposal_t *p);

struct lkv_proposal_s {
  lkv_apply_req_t req;       /* in: kind and msg; out: err, resp, resp_len */
  lkv_proposal_done_cb done; /* required */
  void *data;                /* the proposer's */
  lkv_proposal_t *next;      /* owned by the replicator while the proposal is queued */
};

typedef struct lkv_replicator_s lkv_replicator_t;

/* Told on the replicator's thread after each durable commit and before that batch's done callbacks run:
 * new revisions are visible to read transactions. Must be quick and must not propose (watch hubs use it to
 * wake their readers). */
typedef void (*lkv_commit_cb)(void *arg);

/* Hands p to the replicator; returns 0 and later calls p->done exactly once, or returns a negative LKV_E*
 * code (LKV_ESTOPPED after shutdown began) and never calls p->done. Any thread. */
int lkv_replicator_propose(lkv_replicator_t *r, lkv_proposal_t *p);

#endif
