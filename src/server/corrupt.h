/* etcd 3.4's corruption checks across members: at start (--experimental-initial-corrupt-check) and on the
 * leader every --experimental-corrupt-check-time. */
#ifndef LKV_SERVER_CORRUPT_H
#define LKV_SERVER_CORRUPT_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/ledger.h"
#include "mvcc/mvcc.h"
#include "replication/replication.h"
#include "server/peer_hash.h"

/*
 * Both compare this member's HashKV (etcd 3.4's algorithm, snapshot.h) with the other members' at the
 * same revision, asked over the peer port (peer_hash.h: as etcd asks its peers' /members/hashkv over the
 * peer URLs, so https:// peers with their certificates are asked too, whatever the client URLs), each
 * question within timeout_ms. Everything is logged on stderr in etcd's words.
 */

/* Asks every member of r's membership but self (learners too, as etcd) through svc for its HashKV at
 * rev, and with heads for its ledger's latest signed tree head. Returns 0 with *out a malloc'd array of *n
 * answers (free()), one per other member, or LKV_ENOMEM. */
int lkv__peer_hashes(lkv_replicator_t *r, lkv__peer_hash_svc_t *svc, uint64_t self, int64_t rev, int heads,
                     unsigned timeout_ms, lkv__peer_hash_t **out, size_t *n);

/* etcd's CheckInitialHashKV: before serving, compares the current HashKV with the peers' at its revision;
 * a different hash at the same compact revision is a mismatch. With a ledger (may be NULL) each peer's
 * latest signed tree head is also compared with this member's tree root at that size: a different root is
 * a mismatch too (a member whose ledger was rewritten may hold the same store). Returns 0 (no mismatch:
 * peers that could not answer, answered at another compact revision, are behind, or whose head lies
 * outside this member's tree are logged and skipped), LKV_ECORRUPT with err set to etcd's "<id> found data
 * inconsistency with peers", or a store error (err set). */
int lkv__corrupt_initial_check(lkv_mvcc_t *store, lkv_ledger_t *ledger, lkv_replicator_t *r,
                               lkv__peer_hash_svc_t *svc, unsigned timeout_ms, char *err, size_t errlen);

typedef struct lkv__corrupt_checker_s lkv__corrupt_checker_t;

/* Starts etcd's monitorKVHash: every interval_ms, while this member leads, compares its HashKV before and
 * after a read barrier and the followers' at its revision (etcd 3.4's rules: a follower ahead of the
 * leader, with a later compaction, or with another hash at the leader's compact revision); with a ledger
 * (may be NULL) also each follower's latest signed tree head with its own tree's root at that size (the
 * tree holds the same entries on every member). On a mismatch it proposes Alarm ACTIVATE CORRUPT for
 * member 0, which puts the cluster in etcd's corrupt mode (apply.h). store, ledger, r and svc outlive
 * the checker. Returns 0 with *out set, or LKV_ENOMEM. */
int lkv__corrupt_checker_start(lkv__corrupt_checker_t **out, lkv_mvcc_t *store, lkv_ledger_t *ledger,
                               lkv_replicator_t *r, lkv__peer_hash_svc_t *svc, uint64_t interval_ms,
                               unsigned timeout_ms);

/* Stops the thread (waiting for an alarm it proposed, which the replicator answers before it stops) and
 * frees c. Call before the replicator stops. NULL is ignored. */
void lkv__corrupt_checker_stop(lkv__corrupt_checker_t *c);

#endif
