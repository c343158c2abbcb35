/* The causal replicator (issue 16): this member's causal core, its event log and the store, behind
 * replication.h. */
#ifndef LKV_REPLICATION_CAUSAL_NODE_H
#define LKV_REPLICATION_CAUSAL_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "causal/member.h"
#include "ledger/ledger.h"
#include "replication/replication.h"

/*
 * One thread (the *causal thread*) owns the causal core (src/causal/member.h), the event log
 * (<data-dir>/member/causal, causal_log.h) and the store's writer side. Each round it answers read barriers
 * at once (reads are local in this mode), takes proposals, feeds the core what peers sent and, every
 * sync_ms, an anti-entropy tick; then it handles the core's batch in the order member.h prescribes: the
 * applied events appended to the log with one flush, applied to the store, sent, and the local writes
 * answered.
 *
 * Proposals: a Put, DeleteRange or Txn is first applied to the store in a transaction that is rolled back
 * (a dry run: Txn compares evaluated on this member's state), which yields its write set (keys written and
 * deleted); a write set becomes the next local event, one proposal per batch (the next dry run must see
 * it). A request that writes nothing (a read-only Txn, a delete of no key) is applied as is and answered.
 * Compaction and alarms are this member's own business and applied as is. The Auth service's requests are
 * refused with LKV_EUNSUPPORTED until the causal mode has replicated auth (docs/causal.md §10). A lease grant
 * or revoke whose id names another member is refused with LKV_ELEASEOWNER (docs/causal.md §5: a lease
 * belongs to the member its id names); a grant's event carries the lease and its TTL, a revoke's the
 * deletes of the keys attached to it here and the lease's end; a put's carries its lease.
 *
 * The store: every applied event takes the member's next revision; core revision r is store revision
 * r + 1 (a fresh store starts at 1, as etcd's). A local event is applied by its original request (its
 * answer is etcd's); a remote one by a Txn of the winner changes it made (puts of the new winners' values,
 * deletes where a tombstone now wins), and an event that changed no winner takes an empty revision. An event
 * whose effect depends on the store's leases (a grant, a revoke, a remote put with a lease or delete) is
 * applied alone, checked against the store: a key is shown only while its lease lives (docs/causal.md §5).
 * The core revision the store reflects is recorded in the same store transaction ("causal/applied"), so a
 * restart replays the log into the core and applies to the store exactly the events it lacks.
 *
 * Membership: change_member removes a member (an event, docs/causal.md §15); adding one is not supported
 * yet (LKV_EUNSUPPORTED), promoting one answers LKV_ENOTLEARNER (no learners). move_leader answers
 * LKV_EUNSUPPORTED. Key states (siblings) are kept in memory by the core, not in the store.
 */

/*
 * The ledger (docs/causal.md, "Ledger in causal mode"): every event the store applies, local or remote, is a
 * CAUSAL_EVENT record (ledger/entry.h) at its store revision: the origin's signed event bytes and the winner
 * changes it made here, read back from the store; a compaction is a COMPACTION record. The records are
 * appended, flushed, before the store commits the events (the event log was flushed before that), and the
 * store records the ledger length it accounts for ("causal/ledger") in the same commit as its core revision:
 * a restart re-applies the events the store lacks and checks that the records they make again are those the
 * ledger already holds. Heads are signed by the ledger's key (node.key) on the causal thread every
 * sign_interval_ms, and once more when the node stops.
 */

/*
 * Members' keys (docs/causal.md §10): each member's Ed25519 key pair comes from its own seed file,
 * <dir>/member.key (lkv_causal_node_key). Every anti-entropy tick a member sends each peer a hello (its
 * public key and its published attributes). A key not known yet is recorded durably in <dir>/peers on its
 * first hello (trust on first use, over the peer transport: mutual TLS between peers authenticates it) and
 * given to the core, which refuses the events of an origin whose key it does not know; once recorded, a hello
 * with another key is refused and logged. A restart reads <dir>/peers. MemberList shows a peer's attributes
 * from its last hello.
 */

/* This member's causal key pair: from the 32-byte seed in <dir>/member.key, created (mode 0600, durably,
 * with dir) at the first start. Returns 0, LKV_ECORRUPT (a file of another size) or a negated errno, with a
 * message in err. */
int lkv_causal_node_key(const char *dir, uint8_t pk[LKV_CAUSAL_PK_LEN], uint8_t sk[LKV_CAUSAL_SK_LEN],
                        char *err, size_t errlen);

/* The event keys a stopped member's <dir> records, read-only (an offline audit): its own from member.key
 * (*has_self 0 without the file), and those learned from peers (peers[0..*n), at most cap). Returns 0,
 * LKV_ECORRUPT (a key file of another size, more than cap peers) or a negated errno. */
int lkv_causal_node_keys_read(const char *dir, uint8_t self[LKV_CAUSAL_PK_LEN], int *has_self,
                              lkv_causal_peer_t *peers, size_t cap, size_t *n);

/* Hands a message (kind byte ‖ body, see lkv_causal_node_receive) to the peer transport for member `to`.
 * Must not block; may drop (anti-entropy ships it again); LKV_EAGAIN when the peer's queue is full (a
 * snapshot's transfer waits and tries again). Called on the causal thread and on the snapshot transfers'
 * threads (causal_snap_stream.c): thread-safe. */
typedef int (*lkv_causal_node_send_fn)(void *arg, uint64_t to, const uint8_t *msg, size_t len);

typedef struct {
  const uint8_t *data;
  size_t len;
} lkv_causal_node_attrs_t;

typedef struct lkv_causal_node_options_s {
  lkv_mvcc_t *store;                /* required; must outlive the node */
  const char *dir;                  /* the event log's directory (<data-dir>/member/causal) */
  uint64_t member_id;               /* this member: one of members, never 0 */
  uint64_t cluster_id;              /* stamped into responses */
  const uint8_t *sk;                /* this member's Ed25519 secret key (LKV_CAUSAL_SK_LEN bytes; copied) */
  const lkv_causal_peer_t *members; /* every member, this one with its public key; the others' keys may be all
                                     * zero (unknown): learned from their hellos (below), copied */
  size_t n_members;
  unsigned sync_ms;         /* anti-entropy period (0: 100) */
  uint64_t check_ms;        /* corruption check period: digests of key states sent to every peer (0: none) */
  uint64_t max_ahead_ms;    /* a remote stamp further ahead of this member's clock is refused (0: 60000) */
  uint64_t silent_after_ms; /* a peer that sent nothing for longer is reported silent (0: the default) */
  uint64_t log_events;      /* the event log is compacted past this many events (0: never; docs/causal.md §7) */
  lkv_causal_node_send_fn send; /* required */
  void *send_arg;
  lkv_ledger_t *ledger; /* NULL: no ledger (--ledger=false); else owned by the caller, outlives the node */
  unsigned sign_interval_ms; /* --ledger-sign-interval */
  /* Told (with send_arg) of each member removed (docs/causal.md §15), once, on the causal thread: a peer, so
   * that the transport refuses it, with proof (len bytes, valid during the call; NULL / 0 when that event was
   * compacted): the encoding of the first removal of it applied here, which the transport's refusals carry
   * (lkv_peer_net_remove_peer_proven) so that the peer can check it (lkv_causal_node_refused); this member
   * itself (proof NULL), which must then stop (etcd's "the member has been permanently removed from the
   * cluster"): on its own core's removal, or on a refusal that proves it (lkv_causal_node_refused). At start,
   * of every peer removed before. May be NULL. */
  void (*on_removed)(void *arg, uint64_t id, const uint8_t *proof, size_t len);
  /* Told (with send_arg) of each member added (docs/causal.md §15b) once the core applied its add, on the
   * causal thread, with the add's attributes (cluster/attrs.h: its peer URLs, no name; NULL, 0 for a member
   * a snapshot named without them, a removed one): the server dials it. At start, of every member added
   * before. May be NULL. */
  void (*on_added)(void *arg, uint64_t id, const uint8_t *attrs, size_t len);
  /* members[i]'s attributes as the flags name it (peer URLs, no name), shown until its first hello and
   * compared with an add's peer URLs; attrs NULL or attrs[i].data NULL: none. */
  const lkv_causal_node_attrs_t *attrs;
  int joining; /* this member joins a running cluster (--initial-cluster-state existing; the core's joining) */
} lkv_causal_node_options_t;

/* Opens the event log (cutting a torn tail), replays it into a new core, applies to the store the events
 * it lacks, and starts the causal thread. On failure returns a negative LKV_E* code (LKV_EMEMBERREMOVED:
 * this member applied its own removal before; LKV_EINVAL: bad
 * options, or two members with the same lease owner tag, causal/lease_id.h; LKV_ECORRUPT: the log is damaged,
 * is not this member's, or the store holds more than the log or was not written in causal mode; storage
 * codes) with a message for the operator in err. */
int lkv_causal_node_start(lkv_replicator_t **out, const lkv_causal_node_options_t *opts, char *err,
                          size_t errlen);

/* A message from member `from` as its send function framed it (copied; handed to the core on the causal
 * thread, where malformed or refused ones are dropped). Any thread. */
void lkv_causal_node_receive(lkv_replicator_t *r, uint64_t from, const uint8_t *data, size_t len);

/* A peer refused this member's connection as removed (the transport's on_removal_refused): by, the refuser,
 * and proof, the removal it attached (len bytes, copied; NULL / 0: none). Checked on the causal thread
 * (lkv_causal_member_removal_proven, docs/causal.md §15a): a proven removal is told to on_removed as this
 * member's own; any other refusal is logged (once per refuser and reason) and the member goes on. Any
 * thread. */
void lkv_causal_node_refused(lkv_replicator_t *r, uint64_t by, const uint8_t *proof, size_t len);

/* The member's version vector (what it has applied from each origin) and its last core revision. Any
 * thread. */
void lkv_causal_node_vv(lkv_replicator_t *r, lkv_causal_vv_t *vv, uint64_t *rev);

/* A peer's default silence threshold: an hour (--experimental-causal-silent-after). */
#define LKV_CAUSAL_SILENT_AFTER_MS (3600u * 1000u)

/* A peer as the last silence check saw it (each anti-entropy tick, docs/causal.md §15). */
typedef struct {
  uint64_t id;
  uint64_t last_heard; /* physical time (ms) of its last message (hello, vector, event); 0: none yet */
  uint64_t quiet_ms;   /* how long nothing came from it (since this member started when never) */
  int silent;          /* nothing from it for longer than silent_after_ms (logged when it changes) */
} lkv_causal_node_peer_t;

/* The peers (this member left out) as the last check saw them, into out (room for LKV_CAUSAL_MAX_ORIGINS),
 * and *now that check's physical time (0: none yet). Returns how many. Any thread. */
size_t lkv_causal_node_peers(lkv_replicator_t *r, lkv_causal_node_peer_t *out, uint64_t *now);

/*
 * The conflicts service's entry points (docs/causal.md §13). The key states (siblings) live in the core, on
 * the causal thread: queries run there, between rounds, never beside an input.
 */

/* A query: run(q, m) is called once on the causal thread, after the round's batch was made durable and
 * applied, with the core to read (valid during the call only; it must not be kept or changed). next is the
 * node's. */
typedef struct lkv_causal_query_s {
  void (*run)(struct lkv_causal_query_s *q, const lkv_causal_member_t *m);
  struct lkv_causal_query_s *next;
} lkv_causal_query_t;

/* Queues q (caller-owned until run is called). Any thread. Returns 0 (run will be called exactly once),
 * or LKV_ESTOPPED (the node is stopping: run is never called). */
int lkv_causal_node_query(lkv_replicator_t *r, lkv_causal_query_t *q);

/* A resolve: a write of key (value, or a tombstone) superseding exactly the siblings named
 * (lkv_causal_member_resolve). The node fills rev (the store revision of the write) and seq (its sequence
 * as an event of this member), then calls done(rs, err) once on the causal thread after the write is
 * durable and applied to the store: err 0, a code of lkv_causal_member_resolve, LKV_EHALTED, or the error a
 * Put of the value would meet (LKV_ENOSPACE: the NOSPACE alarm or the quota). The caller owns rs and the
 * bytes it points to until done. */
typedef struct lkv_causal_resolve_s {
  const uint8_t *key, *value;
  size_t key_len, value_len;
  int tombstone;
  lkv_causal_event_id_t named[LKV_CAUSAL_CONTEXT_MAX];
  size_t n_named;
  int64_t rev;
  uint64_t seq;
  void (*done)(struct lkv_causal_resolve_s *rs, int err);
  struct lkv_causal_resolve_s *next;
} lkv_causal_resolve_t;

/* Queues rs. Any thread. Returns 0 (done will be called exactly once) or LKV_ESTOPPED (never called). */
int lkv_causal_node_resolve(lkv_replicator_t *r, lkv_causal_resolve_t *rs);

/* Told, on the causal thread, once per key written by an event of a batch (local or remote), after the
 * batch was made durable and applied to the store: k is the key's state now (valid during the call only),
 * store_rev the store's revision. The callee must not call into the node. */
typedef void (*lkv_causal_keys_cb)(void *arg, const lkv_causal_member_t *m, const lkv_causal_key_t *k,
                                   int64_t store_rev);

/* Sets (or with cb NULL clears) the keys listener; as lkv_replicator_listen: when it returns the previous
 * listener is not running and will not be called again. Any thread. */
void lkv_causal_node_on_keys(lkv_replicator_t *r, lkv_causal_keys_cb cb, void *arg);

/* Whether key is in the reserved keyspace where members keep their auth records as keys (docs/causal.md
 * §16): clients cannot write it (a write or resolve of it is LKV_EPERMDENIED), Range never shows it (the
 * store keeps the records as auth state) and the conflicts service does not show it. Pure. */
int lkv_causal_node_reserved_key(const uint8_t *key, size_t len);

#endif
