/* A member of a cluster of several: the peer transport and the Raft replicator, wired together. */
#ifndef LKV_SERVER_MEMBER_H
#define LKV_SERVER_MEMBER_H

#include <stddef.h>

#include "ledger/ledger.h"
#include "mvcc/mvcc.h"
#include "replication/replication.h"
#include "server/config.h"
#include "transport/peer.h"

typedef struct lkv__member_s lkv__member_t;

/* Listens on cfg's peer URLs and starts the Raft replicator over store (and ledger, may be NULL), its log
 * in <data-dir>/member/wal; it dials the members the replicator knows. Who this member is: recorded in
 * the data dir after the first start; with --initial-cluster-state existing, asked of the members named
 * in --initial-cluster (the id MemberAdd gave the member with these peer URLs); else computed from the
 * flags as etcd does. The member also checkpoints the store (a logged store): every
 * --ledger-checkpoint-interval and every --snapshot-count applied entries, its Raft snapshot. store and
 * ledger must outlive the member. Returns 0 and sets *out, or a negative LKV_E* code with a message in err.
 */
int lkv__member_start(lkv__member_t **out, const lkv_config_t *cfg, lkv_mvcc_t *store, lkv_ledger_t *ledger,
                      char *err, size_t errlen);

/* This member's cluster and member ids (recorded in the data dir at the first start). */
void lkv__member_ids(const lkv__member_t *m, uint64_t *cluster_id, uint64_t *member_id);

/* The member's replicator (valid until lkv__member_stop). */
lkv_replicator_t *lkv__member_replicator(lkv__member_t *m);

/* The service that asks the other members for their hashes and answers theirs (peer_hash.h; valid until
 * lkv__member_stop). */
struct lkv__peer_hash_svc_s *lkv__member_hashes(lkv__member_t *m);

/* Peer messages are multiplexed over one transport by their first byte, the channel. */
typedef enum {
  LKV__CHANNEL_RAFT = 1,   /* Raft messages (raft/codec.h) for the replicator */
  LKV__CHANNEL_LEASE = 2,  /* lease keep-alives forwarded to the leader, and their answers */
  LKV__CHANNEL_MEMBER = 3, /* membership requests forwarded to the leader (MemberPromote), and answers */
  LKV__CHANNEL_SNAP = 4,   /* a snapshot streamed to a member, and its acknowledgements */
  LKV__CHANNEL_PROBE = 5,  /* round-trip pings and their answers (peer_probe.h) */
  LKV__CHANNEL_HASH = 6,   /* the corruption checks' questions and answers (peer_hash.h) */
  LKV__CHANNEL_CAUSAL = 7  /* causal mode: events, vectors and hellos (replication/causal_node.h) */
} lkv__channel_t;
#define LKV__CHANNEL_MAX 8

/* Receives a message of a channel (without its channel byte) from member `from`, on the peer thread:
 * must be quick (copy and hand off). data is valid during the call only. */
typedef void (*lkv__channel_cb)(void *arg, uint64_t from, const uint8_t *data, size_t len);

/* Sets (cb NULL: clears) the receiver of channel ch (not one the member delivers itself: Raft, membership,
 * snapshots, causal). Any thread; when it returns, a cleared receiver is no longer running. Returns 0 or
 * LKV_EINVAL. */
int lkv__member_on_channel(lkv__member_t *m, lkv__channel_t ch, lkv__channel_cb cb, void *arg);

/* Sends data on channel ch to member `to` (copied; see lkv_peer_net_send for the codes). Any thread. */
int lkv__member_send(lkv__member_t *m, uint64_t to, lkv__channel_t ch, const uint8_t *data, size_t len);

/* The peer transport's counters of every member it knows (lkv_peer_net_stats_all): fills out[0..cap) and
 * returns how many there are (may exceed cap). Any thread. */
size_t lkv__member_peer_stats(lkv__member_t *m, lkv_peer_stats_t *out, size_t cap);

/* If this member leads, hands leadership to the most caught-up voter and waits until it leads (at most
 * the request timeout), then has every request still waiting answered within grace_ms: called first when
 * the server stops, so clients see a short pause and the stop does not wait for request timeouts. */
void lkv__member_hand_over(lkv__member_t *m, unsigned grace_ms);

/* Stops the replicator (see lkv_replicator_stop), the checkpoints, then the peer transport; frees m. */
void lkv__member_stop(lkv__member_t *m);

#endif
