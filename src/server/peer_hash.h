/* The corruption checks' questions to the other members, asked and answered over the peer port. */
#ifndef LKV_SERVER_PEER_HASH_H
#define LKV_SERVER_PEER_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/ledger.h"
#include "mvcc/mvcc.h"
#include "server/member.h"
#include "snapshot/snapshot.h"

/*
 * etcd 3.4 asks a peer for its HashKV with an HTTP request to the peer's /members/hashkv over the peer
 * URLs and the peer TLS. ledgerkv's peer port carries framed messages, so the question and its answer are
 * messages on LKV__CHANNEL_HASH: they go wherever Raft goes (https:// peer URLs with their certificates
 * too), whatever the client URLs are. The question is answered on the service's own thread: HashKV walks
 * the history up to the revision asked, far too long for the peer thread. A member that does not know the
 * channel (an older ledgerkv) drops the question: it counts as not answering.
 *
 * Messages (integers little-endian, as the other channels'):
 *   ask     kind 1 (u8) ‖ id (u64) ‖ revision (i64) ‖ heads (u8: also the latest signed tree head)
 *   answer  kind 2 (u8) ‖ id (u64) ‖ result (u8: 0 answered, 1 future revision, 2 compacted, 3 failed) ‖
 *           hash (u32) ‖ revision (i64) ‖ compact revision (i64) ‖ has head (u8) ‖ tree size (u64) ‖
 *           root (32)
 * Questions wait in a queue of at most LKV__PEER_HASH_QUEUE; beyond it they are dropped (the asker times
 * out), so a flood costs bounded memory.
 */
#define LKV__PEER_HASH_ASK_LEN 18
#define LKV__PEER_HASH_ANSWER_LEN 71
#define LKV__PEER_HASH_QUEUE 64

/* One member's answer to a question. */
typedef struct lkv__peer_hash_s {
  uint64_t id;              /* the member asked */
  int err;                  /* 0 (answered), LKV_EFUTUREREV, LKV_ECOMPACTED, or LKV_EIO (no answer) */
  uint32_t hash;            /* when err == 0: its HashKV */
  int64_t revision;         /* when err == 0: its current revision */
  int64_t compact_revision; /* when err == 0: its compact revision */
  int has_head;             /* asked for heads, and it answered with its latest signed tree head: */
  uint64_t tree_size;       /* its size */
  lkv_merkle_hash_t root;   /* its root */
} lkv__peer_hash_t;

/* The codecs (pure). encode writes exactly the lengths above; decode returns 0 or LKV_EINVAL (wrong
 * length or kind). */
void lkv__peer_hash_ask_encode(uint64_t id, int64_t revision, int heads, uint8_t out[LKV__PEER_HASH_ASK_LEN]);
int lkv__peer_hash_ask_decode(const uint8_t *in, size_t len, uint64_t *id, int64_t *revision, int *heads);
void lkv__peer_hash_answer_encode(uint64_t id, const lkv__peer_hash_t *a,
                                  uint8_t out[LKV__PEER_HASH_ANSWER_LEN]);
int lkv__peer_hash_answer_decode(const uint8_t *in, size_t len, uint64_t *id, lkv__peer_hash_t *a);

/* This member's HashKV at rev (0: its current revision), what the checks compare and what a question is
 * answered with. Returns lkv_snapshot_hashkv's codes or the store's. */
int lkv__peer_hash_local(lkv_mvcc_t *store, int64_t rev, lkv_snapshot_hash_t *out);

typedef struct lkv__peer_hash_svc_s lkv__peer_hash_svc_t;

/* Answers the questions of other members on m's hash channel with this member's store and ledger (ledger
 * may be NULL: no head in the answers), and lets this member ask. m, store and ledger outlive the service.
 * Returns 0 and sets *out, or LKV_ENOMEM (nothing left running). */
int lkv__peer_hash_start(lkv__peer_hash_svc_t **out, lkv__member_t *m, lkv_mvcc_t *store,
                         lkv_ledger_t *ledger);

/* Clears the channel, stops the thread (a question being answered is finished first) and frees s. NULL is
 * accepted. No lkv__peer_hash_ask may be running. */
void lkv__peer_hash_stop(lkv__peer_hash_svc_t *s);

/* Asks each member of ids[0..n) for its HashKV at revision (and with heads its latest signed tree head),
 * all at once, and waits until each answered or timeout_ms passed: out[i] is ids[i]'s answer (err LKV_EIO
 * when none came). Any thread but the peer thread. Returns 0 or LKV_ENOMEM. */
int lkv__peer_hash_ask(lkv__peer_hash_svc_t *s, const uint64_t *ids, size_t n, int64_t revision, int heads,
                       unsigned timeout_ms, lkv__peer_hash_t *out);

#endif
