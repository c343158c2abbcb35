/* etcd 3.4's corruption checks across members: at start (--experimental-initial-corrupt-check) and on the
 * leader every --experimental-corrupt-check-time. */
#ifndef LKV_SERVER_CORRUPT_H
#define LKV_SERVER_CORRUPT_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/ledger.h"
#include "mvcc/mvcc.h"
#include "replication/replication.h"

/*
 * Both compare this member's HashKV (etcd 3.4's algorithm, snapshot.h) with the other members' at the
 * same revision. A member asks its peers over their client URLs as MemberList lists them (etcd asks their
 * peer URLs' /members/hashkv; ledgerkv's peer port carries only its own channels), with a Maintenance.HashKV
 * call each, one URL after the other until one answers, each within timeout_ms. Client URLs in https are
 * not asked (the check's client has no TLS): such a peer counts as unreachable and is logged.
 * Everything is logged on stderr in etcd's words.
 */

/* One peer's answer to HashKV(rev). */
typedef struct lkv__peer_hash_s {
  uint64_t id;              /* the member asked */
  int err;                  /* 0 (answered), LKV_EFUTUREREV, LKV_ECOMPACTED, or LKV_EIO (no answer) */
  uint32_t hash;            /* when err == 0: its HashKV */
  int64_t revision;         /* when err == 0: its current revision (the answer's header) */
  int64_t compact_revision; /* when err == 0: its compact revision */
  int has_head;             /* asked for heads, and it answered with its latest signed tree head: */
  uint64_t tree_size;       /* its size */
  lkv_merkle_hash_t root;   /* its root */
} lkv__peer_hash_t;

/* Asks every member of r's membership but self (learners too, as etcd) for its HashKV at rev, and with
 * heads for its ledger's latest signed tree head. Returns 0 with *out a malloc'd array of *n answers
 * (free()), one per peer that lists a client URL, or LKV_ENOMEM. */
int lkv__peer_hashes(lkv_replicator_t *r, uint64_t self, int64_t rev, int heads, unsigned timeout_ms,
                     lkv__peer_hash_t **out, size_t *n);

/* etcd's CheckInitialHashKV: before serving, compares the current HashKV with the peers' at its revision;
 * a different hash at the same compact revision is a mismatch. Returns 0 (no mismatch: peers that could not
 * answer, answered at another compact revision or are behind are logged and skipped), LKV_ECORRUPT with
 * err set to etcd's "<id> found data inconsistency with peers", or a store error (err set). */
int lkv__corrupt_initial_check(lkv_mvcc_t *store, lkv_replicator_t *r, unsigned timeout_ms, char *err,
                               size_t errlen);

typedef struct lkv__corrupt_checker_s lkv__corrupt_checker_t;

/* Starts etcd's monitorKVHash: every interval_ms, while this member leads, compares its HashKV before and
 * after a read barrier and the followers' at its revision (etcd 3.4's rules: a follower ahead of the
 * leader, with a later compaction, or with another hash at the leader's compact revision); with a ledger
 * (may be NULL) also each follower's latest signed tree head with its own tree's root at that size (the
 * tree holds the same entries on every member). On a mismatch it proposes Alarm ACTIVATE CORRUPT for
 * member 0, which puts the cluster in etcd's corrupt mode (apply.h). store, ledger and r outlive the
 * checker. Returns 0 with *out set, or LKV_ENOMEM. */
int lkv__corrupt_checker_start(lkv__corrupt_checker_t **out, lkv_mvcc_t *store, lkv_ledger_t *ledger,
                               lkv_replicator_t *r, uint64_t interval_ms, unsigned timeout_ms);

/* Stops the thread (waiting for an alarm it proposed, which the replicator answers before it stops) and
 * frees c. Call before the replicator stops. NULL is ignored. */
void lkv__corrupt_checker_stop(lkv__corrupt_checker_t *c);

#endif
