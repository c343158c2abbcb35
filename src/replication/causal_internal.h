/* The causal replicator's state, shared by causal_node.c (thread, start), causal_ops.c and causal_store.c. */
#ifndef LKV_REPLICATION_CAUSAL_INTERNAL_H
#define LKV_REPLICATION_CAUSAL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "replication/causal_log.h"
#include "replication/causal_node.h"
#include "replication/signing.h"
#include "replication/snap_stream.h"

/* A message received from a peer, queued for the causal thread. */
typedef struct lkv__causal_in_s {
  struct lkv__causal_in_s *next;
  uint64_t from;
  int refusal; /* not a message: from refused this member as removed, data the proof (causal_refusal.c) */
  size_t len;
  uint8_t data[];
} lkv__causal_in_t;

typedef struct lkv__causal_read_s {
  struct lkv__causal_read_s *next;
  lkv_read_cb cb;
  void *arg;
} lkv__causal_read_t;

/* A key's winner changed by the event at core revision rev (owned copies). */
typedef struct {
  uint64_t rev;
  uint8_t *key;
  size_t key_len;
  int deleted;
  uint8_t *value;
  size_t value_len;
  int64_t lease; /* the new winner's lease (0: none) */
} lkv__causal_change_t;

/* A lease grant or revoke made by the event at core revision rev, or a member's removal, which ends its
 * leases (causal_lease.c). */
typedef struct {
  uint64_t rev;
  uint8_t kind; /* LKV_CAUSAL_LEASE_GRANT, _REVOKE or LKV_CAUSAL_MEMBER_REMOVE */
  int64_t id, ttl;
  uint64_t member; /* a removal's removed member; an event's grant's origin (the lease's owner), else 0 */
} lkv__causal_lease_op_t;

/* A membership change queued for the causal thread (causal_members.c). */
typedef struct lkv__causal_mchange_s {
  struct lkv__causal_mchange_s *next;
  int add;        /* an add (attrs: its cluster/attrs.h encoding, len bytes after this struct), else a removal */
  uint64_t id;    /* the member to remove or to add */
  lkv_read_cb cb;
  void *arg;
  size_t len;
  uint8_t attrs[];
} lkv__causal_mchange_t;

typedef struct {
  lkv_replicator_t base;
  lkv_causal_node_options_t o;
  char *dir; /* o.dir's copy */
  lkv_causal_peer_t members[LKV_CAUSAL_MAX_ORIGINS];
  uint8_t sk[LKV_CAUSAL_SK_LEN];
  lkv_causal_member_t *m;
  lkv__causal_log_t *log;
  uint64_t applied;    /* the core revision the store reflects */
  uint64_t ledger_end; /* the ledger records the store accounts for (o.ledger set) */
  lkv__signing_t signing;

  /* Winner changes of events the store does not reflect yet, in revision order (causal thread). */
  lkv__causal_change_t *changes;
  size_t n_changes, cap_changes;
  /* Lease grants and revokes of events the store does not reflect yet, in revision order (causal thread). */
  lkv__causal_lease_op_t *lease_ops;
  size_t n_lease_ops, cap_lease_ops;
  /* The members whose removal is in the store: their leases revoked, their later grants void (by member
   * id, not by lease tag: a member added later may reuse a removed one's tag; causal_lease.c). */
  uint64_t leases_ended[LKV_CAUSAL_MAX_ORIGINS];
  size_t n_leases_ended;

  pthread_t thread;
  pthread_mutex_t mu; /* guards the queues below, stopping, self attrs and the status copy */
  pthread_cond_t wake;
  int stopping;
  lkv_proposal_t *props, *props_tail;
  lkv__causal_in_t *in, *in_tail;
  lkv__causal_read_t *reads, *reads_tail;
  uint8_t *attrs; /* this member's published attributes */
  size_t attrs_len;
  uint8_t *peer_attrs[LKV_CAUSAL_MAX_ORIGINS]; /* members[i]'s attributes from its last hello, or NULL */
  size_t peer_attrs_len[LKV_CAUSAL_MAX_ORIGINS];
  uint8_t key_warned[LKV_CAUSAL_MAX_ORIGINS]; /* members[i] announced another key (logged once; thread) */
  lkv_causal_vv_t st_vv;                      /* copied after each batch */
  uint64_t st_rev;
  int halted; /* 0, or the error that stopped the member's writes */
  lkv_causal_node_peer_t st_peers[LKV_CAUSAL_MAX_ORIGINS]; /* members[i] as the last silence check saw it */
  uint64_t st_now;                                         /* that check's time */

  /* Compaction (causal_compact.c; causal thread). */
  uint64_t compact_retry; /* after a failure, no new attempt before this core revision */
  uint64_t copy_seen;     /* the store copy's size and time when its checkpoint's base was last read */
  uint64_t log_drops;     /* the event log's front dropped since start */

  /* Snapshot catch-up (causal_snap.c, causal_snap_stream.c; causal thread). */
  uint64_t snap_next[LKV_CAUSAL_MAX_ORIGINS];          /* monotonic ms before which members[i] gets none */
  lkv_snap_sender_t *snap_out[LKV_CAUSAL_MAX_ORIGINS]; /* the transfer to members[i], or NULL */
  atomic_int snap_end[LKV_CAUSAL_MAX_ORIGINS];         /* how it ended (set by its thread) */
  lkv_snap_receiver_t snap_rx;                         /* the transfer to this member (fd -1: none) */
  uint64_t snap_rx_ms;                                 /* monotonic ms of its last message */
  lkv_snap_received_t *snap_got; /* a complete transfer, installed after the round's batch */
  int installing; /* a snapshot is installed: its changes told, then applied (causal_store.c, causal_ledger.c)
                   */

  /* The corruption check (causal_check.c; causal thread). */
  lkv__causal_in_t *checks; /* peers' check messages, taken after the round's batch */
  uint64_t next_check;      /* monotonic ms of this member's next check */

  lkv_causal_query_t *queries, *queries_tail;      /* the conflicts service's (causal_conflicts.c) */
  lkv_causal_resolve_t *resolves, *resolves_tail;  /* idem */
  lkv__causal_mchange_t *mchanges, *mchanges_tail; /* membership changes (causal_members.c) */
  uint8_t removed_told[LKV_CAUSAL_MAX_ORIGINS];    /* members[i]'s removal was told (written under mu) */
  int refusal_logged[LKV_CAUSAL_MAX_ORIGINS]; /* the last outcome logged of members[i]'s refusals (thread) */

  pthread_mutex_t listen_mu;
  lkv_commit_cb on_commit;
  void *on_commit_arg;
  lkv_applied_cb on_applied;
  void *on_applied_arg;
  lkv_causal_keys_cb on_keys;
  void *on_keys_arg;
} lkv__causal_node_t;

/* The node's own message kind beside the core's (LKV_CAUSAL_MSG_EVENT, _VV): a member's hello, its public
 * key (LKV_CAUSAL_PK_LEN bytes) then its published attributes (cluster/attrs.h). */
#define LKV__CAUSAL_MSG_HELLO 3
/* A corruption check: digests of key ranges at the sender's vector (causal_check.c). */
#define LKV__CAUSAL_MSG_CHECK 4
/* A snapshot stream's message (snap_codec.h): the transfer of the core's signed state to a member that lacks
 * events compacted here, in chunks (causal_snap_stream.c). */
#define LKV__CAUSAL_MSG_SNAPSHOT 5
/* <dir>/snap: the transfers' files, received (<id>.part, then <id>.snap) and sent (to-<member>.snap). */
#define LKV__CAUSAL_STREAM_DIR "snap"

#define LKV__CAUSAL_APPLIED "causal/applied" /* store record: the core revision the store reflects */

/* causal_store.c: the core's on_change callback (arg: the node): buffers a winner change of an event the
 * store does not reflect yet. */
void lkv__causal_collect(void *arg, uint64_t rev, const lkv_causal_key_t *k);

/* causal_store.c: buffers a winner change (copies of key and value; deleted: value ignored) of the event at
 * core revision rev; a key told twice for one event: the last holds. Aborts when memory runs out. */
lkv__causal_change_t *lkv__causal_change_push(lkv__causal_node_t *n, uint64_t rev, const uint8_t *key,
                                              size_t key_len, int deleted, const uint8_t *value,
                                              size_t value_len);

/* causal_auth.c: a member's auth state (users, roles, the enabled flag) as reserved keys and values, and its
 * auth revision. */
typedef struct lkv__causal_auth_snap_s lkv__causal_auth_snap_t;

/* causal_auth.c: reads t's auth state into *out (free with lkv__causal_auth_snap_free, NULL ignored).
 * Returns 0, LKV_ENOMEM, or the store's codes. */
int lkv__causal_auth_snap(lkv_mvcc_txn_t *t, lkv__causal_auth_snap_t **out);
void lkv__causal_auth_snap_free(lkv__causal_auth_snap_t *s);

/* causal_auth.c: an auth op's write set inside its dry run's transaction t: *muts (malloc'd, *cnt; keys and
 * values in *keep, malloc'd) puts each reserved key whose record changed since before and deletes each
 * that is gone; *cnt 0 (nothing allocated) when none changed, and then an auth revision the op counted is
 * undone in t. Returns 0, LKV_ENOMEM, or the store's codes. */
int lkv__causal_auth_diff(const lkv__causal_auth_snap_t *before, lkv_mvcc_txn_t *t,
                          lkv_causal_mutation_t **muts, size_t *cnt, uint8_t **keep);

/* causal_auth.c: the core's on_write callback (arg: the node): for a reserved key, buffers the record
 * merged from all its siblings (lkv_apply_auth_merge; the enabled flag is on when any sibling enables)
 * as the event's change of that key. */
void lkv__causal_auth_collect(void *arg, uint64_t rev, const lkv_causal_key_t *k);

/* causal_auth.c: inside a request bracket of t, stores the auth records among c[0..n) (others skipped)
 * and sets the auth revision to revision, or when 0 to one more than t's. Returns 0 or the store's codes. */
int lkv__causal_auth_apply(lkv_mvcc_txn_t *t, const lkv__causal_change_t *c, size_t n, uint64_t revision);

/* causal_store.c: one proposal's dry run. */
typedef struct {
  int err;                     /* its own error: it fails as a whole (nothing to write) */
  int answered;                /* nothing in its dry run wrote: that run was its application, req answered */
  lkv_causal_mutation_t *muts; /* its write set (cnt; keys and values point into keep), NULL if none */
  size_t cnt;
  void *keep;
} lkv__causal_dry_t;

/* causal_store.c: dry run of the Puts, DeleteRanges, Txns, lease grants and revokes reqs[0..k) in order in
 * one transaction that is rolled back, each seeing the ones before it, or of one auth op (k 1: its write set
 * is the auth records it changes, as reserved keys); out[i] (the caller's k elements) is reqs[i]'s outcome
 * (free with lkv__causal_dry_free). a lease grant's write set is the grant, a revoke's the deletes of its
 * keys then the revoke, a put keeps its lease; out[i].err is LKV_EPERMDENIED for a write of a reserved key
 * (lkv_causal_node_reserved_key), which did take effect in the dry run. When none
 * wrote, the run is kept as their application: every out[i].answered is set, reqs[i] answered. Returns 0,
 * LKV_EAGAIN when k > 1 and one that succeeded wrote nothing (which revision is whose cannot be told) or one
 * was refused for space (its NOSPACE alarm would be rolled back): dry-run the first alone; or an error that
 * fails them all. */
int lkv__causal_dry_run(lkv__causal_node_t *n, lkv_apply_req_t *const *reqs, size_t k,
                        lkv__causal_dry_t *out);

/* causal_store.c: frees out[0..k)'s write sets. */
void lkv__causal_dry_free(lkv__causal_dry_t *out, size_t k);

/* causal_node.c: logs why and stops the member's writes for good (every later proposal is answered
 * LKV_EHALTED): its store, event log or ledger can no longer be trusted to be in step. */
void lkv__causal_halt(lkv__causal_node_t *n, const char *what, int rc);

/* causal_store.c: applies an Authenticate as is, alone, its token numbered by this member's revision (a
 * token of this member's only: docs/causal.md §16). Returns as lkv__causal_apply_alone. */
int lkv__causal_authenticate(lkv__causal_node_t *n, lkv_apply_req_t *req);

/* causal_store.c: applies req as is, alone, without an event (it changes no revision); tells the listeners.
 * Returns 0 (req->err says how the request went), or the code of a store transaction that failed after its
 * ledger record was appended: the store and the ledger are then out of step and the member must halt. */
int lkv__causal_apply_alone(lkv__causal_node_t *n, lkv_apply_req_t *req);

/* A local event: its core revision and the request it was made from (answered in place when applied). */
typedef struct {
  uint64_t rev;
  lkv_apply_req_t *req;
} lkv__causal_local_t;

/* causal_store.c: applies to the store the events of core revisions (n->applied, last]: the local ones
 * locals[0..n_locals) (ascending revisions) by their original requests, every other one by its buffered
 * winner changes (freed then; those of later revisions stay). Tells the listeners. Returns 0 or the code that
 * must halt the member. */
int lkv__causal_store_catch_up(lkv__causal_node_t *n, uint64_t last, const lkv__causal_local_t *locals,
                               size_t n_locals);

/* causal_store.c: applies a snapshot the core installed at core revision rev to the store in one transaction
 * at store revision rev + 1: its buffered winner changes (as a remote event's, checked against the leases),
 * the lease operations ops[0..n_ops) (grants of the leases the store lacks, revokes with their keys), the
 * auth state merged from the auth records it changed, causal/applied, the ledger's length, and the core's
 * checkpoint ckpt (records causal/checkpoint and causal/log-base at base rev). Returns 0 or the code that
 * must halt the member. */
int lkv__causal_store_install(lkv__causal_node_t *n, uint64_t rev, const lkv__causal_lease_op_t *ops,
                              size_t n_ops, const uint8_t *ckpt, size_t ckpt_len);

/* causal_compact.c: puts the core's checkpoint ckpt and its base into the store's transaction t. */
int lkv__causal_checkpoint_put(lkv_mvcc_txn_t *t, const uint8_t *ckpt, size_t len, uint64_t base);

/* causal_keys.c: writes len bytes to path (created 0600; appended to with O_APPEND, else replaced) and makes
 * them durable, dir included. Returns 0 or a negated errno / LKV_EIO. */
int lkv__causal_write_durable(const char *dir, const char *path, int flags, const uint8_t *buf, size_t len);

/* causal_snap_stream.c: sets up the receiving side (its directory made, the files of earlier runs removed).
 * At start. Returns 0 or a code. */
int lkv__causal_stream_init(lkv__causal_node_t *n);
/* causal_snap_stream.c: a snapshot stream's message (1: taken and freed; 0 for any other message): an ACK
 * goes to this member's transfer to its sender; the rest feeds the receiver (one transfer at a time: another
 * member's OFFER is refused while one progresses; one above this member's room, its quota or free disk, is
 * refused and logged), a completed one kept for lkv__causal_stream_take. mono: monotonic ms. Causal thread.
 */
int lkv__causal_stream_keep(lkv__causal_node_t *n, lkv__causal_in_t *in, uint64_t mono);
/* causal_snap_stream.c: the complete, verified (hash) transfer kept, or NULL; its file (<dir>/snap/<id>.snap,
 * the pending file's layout) is the caller's, the result to free with lkv_snap_received_free and free. A
 * transfer to this member that made no progress for 2 × LKV_SNAP_STALL_MS is dropped first (its file
 * removed, logged). Causal thread. */
lkv_snap_received_t *lkv__causal_stream_take(lkv__causal_node_t *n, uint64_t mono);
/* causal_snap_stream.c: 1 while a transfer to members[i] runs (one that ended is joined, a failure logged).
 */
int lkv__causal_stream_busy(lkv__causal_node_t *n, size_t i);
/* causal_snap_stream.c: starts the transfer of snapshot snap[0..len) to members[i] on a thread of its own
 * (the file it streams is written first and unlinked once opened: memory is the stream's window, not the
 * snapshot). Returns 0 or a code. */
int lkv__causal_stream_start(lkv__causal_node_t *n, size_t i, const uint8_t *snap, size_t len);
/* causal_snap_stream.c: ends the transfers both ways (their files removed). At the node's end. */
void lkv__causal_stream_stop(lkv__causal_node_t *n);

/* causal_snap.c: after the round's batch (quiet): installs the snapshot received completely, if any (its
 * file made the pending one, then as docs/causal.md §7b; a failure after the core took it halts the member),
 * and, when ticked, starts a transfer to each peer that is due a snapshot, not silent and not receiving one
 * already, at most every 5 s per peer. Causal thread. */
void lkv__causal_snap_round(lkv__causal_node_t *n, uint64_t now, uint64_t mono, int ticked);

/* causal_snap.c: at start-up, once the store reflects the event log: an install a crash interrupted before
 * the store committed it is made again from the snapshot kept in <dir>/snapshot (one the store committed is
 * not useful any more: the file is removed). Returns 0, or an error with a message in err (LKV_ECORRUPT:
 * the ledger holds records the store lacks and no snapshot makes them again). */
int lkv__causal_snap_recover(lkv__causal_node_t *n, uint64_t now, char *err, size_t errlen);

/* causal_snap.c: at start-up, before the ledger's catch-up: when the store's checkpoint is past the event
 * log's last event (an install committed, its log not restarted yet), the store is copied durably, then the
 * log restarted after the checkpoint's base. Returns 0 or a code. */
int lkv__causal_snap_log_restart(lkv__causal_node_t *n, uint64_t base);

/* causal_snap.c: 1 when a snapshot install is pending (<dir>/snapshot exists), else 0. */
int lkv__causal_snap_pending(const lkv__causal_node_t *n);

/* causal_store.c: frees the buffered changes. */
void lkv__causal_changes_clear(lkv__causal_node_t *n);

#define LKV__CAUSAL_LEDGER "causal/ledger" /* store record: the ledger length it accounts for */

/* causal_ledger.c: the apply hook (arg: the node) turning a batch's entries into ledger records: a
 * REVISION (an event applied by its request or a Txn of its winner changes) becomes the CAUSAL_EVENT of the
 * event at that revision, as does a lease revoke that deleted keys (the owner's own revoke); a lease grant
 * and a revoke that deleted nothing are part of their event's record; other kinds (a compaction) stay as
 * they are. Causal thread. */
int lkv__causal_ledger_log(void *arg, const lkv_ledger_entry_t *e, size_t cnt);

/* causal_ledger.c: in the store's transaction t, last: the CAUSAL_EVENT record of the event of core revision
 * rev that changed no winner (its store revision just taken) when empty is set, then the ledger length
 * the store now accounts for. Causal thread. Returns 0 or the codes of the append and the store. */
int lkv__causal_ledger_record(lkv__causal_node_t *n, lkv_mvcc_txn_t *t, int empty, uint64_t rev);

/* causal_ledger.c: at start-up, once the event log (logged events) is replayed into the core: the ledger
 * length the store accounts for, checked against the ledger, and the store brought up to the records the
 * ledger holds beyond it, in their order (events applied again from the core, their records compared with
 * the ledger's; a compaction applied from its record). Returns 0 or LKV_ECORRUPT (the store holds events
 * the ledger lacks, a record made again differs) or a storage code, with a message in err. */
int lkv__causal_ledger_start(lkv__causal_node_t *n, uint64_t logged, char *err, size_t errlen);

/* causal_lease.c: records the lease grants and revokes and the member removals of the event ev applied at
 * core revision rev, when the store does not reflect it yet; a removal the store reflects already marks
 * the member's leases ended (start-up's replay). Causal thread (or start-up). */
void lkv__causal_leases_collect(lkv__causal_node_t *n, uint64_t rev, const lkv_causal_event_t *ev);

/* causal_lease.c: marks the leases of the members the core has removed ended (leases_ended, and only
 * those): whenever the store reflects the core's removals at once, at start-up after the checkpoint the
 * store keeps was restored (before the event log's replay), and after a snapshot's install. */
void lkv__causal_leases_start(lkv__causal_node_t *n);

/* causal_lease.c: in *extra, how many requests beyond three an event the events up to last may take (a
 * removal revokes every lease its member owns, one request each). Returns 0 or a storage code. */
int lkv__causal_leases_slots(lkv__causal_node_t *n, uint64_t last, size_t *extra);

/* causal_lease.c: forgets the recorded lease operations of revisions up to last (UINT64_MAX: all). */
void lkv__causal_leases_drop(lkv__causal_node_t *n, uint64_t last);

/* causal_lease.c: the lease operation of the event at core revision rev, or NULL; *from is a cursor into
 * the recorded operations (start it at 0, revisions asked in increasing order). */
const lkv__causal_lease_op_t *lkv__causal_lease_at(const lkv__causal_node_t *n, uint64_t rev, size_t *from);

/* causal_lease.c: 1 when a remote event's winner changes c[0..k) must be checked against the store before
 * they are applied (a delete, whose key a revoked lease may have removed already; a put with a lease, which
 * may be revoked): the event is then applied alone, by lkv__causal_alone_changes. */
int lkv__causal_needs_store(const lkv__causal_change_t *c, size_t k);

/* causal_lease.c: what a remote event applied alone (or a snapshot installed) does to the store, read from
 * it: its changes c[0..k) without deletes of absent keys, a put whose lease is gone once ops[0..n_ops) took
 * effect (revoked here, or by ops) made a delete (the rule of docs/causal.md §5: a key is shown only while
 * its lease lives), and, for each revoke among ops, deletes of every other key still attached to the lease
 * here. The first removal among ops of a member X here revokes every lease X owns likewise (their ids in
 * *gone, malloc'd, *n_gone) and marks X's leases ended; a grant by a member whose leases are ended is void
 * (docs/causal.md §15a). *out (malloc'd, *n_out entries, pointing into c and into *keys) and *keys
 * (malloc'd copies of the added keys, *n_keys) are freed by the caller; applies[i] (the caller's n_ops
 * bytes) says whether ops[i] still applies here (a grant of a lease the store lacks, not void; a revoke of
 * one it has; never a removal). Returns 0 or a storage code. */
int lkv__causal_alone_changes(lkv__causal_node_t *n, const lkv__causal_change_t *c, size_t k,
                              const lkv__causal_lease_op_t *ops, size_t n_ops, lkv__causal_change_t **out,
                              size_t *n_out, uint8_t ***keys, size_t *n_keys, uint8_t *applies, int64_t **gone,
                              size_t *n_gone);

/* causal_lease.c: for a lease grant or revoke proposal, LKV_ELEASEOWNER when its id names another member
 * (a revoke only once its dry run found the lease); else 0. */
int lkv__causal_lease_refused(const lkv__causal_node_t *n, const lkv_apply_req_t *req, int after_dry_run);

/* causal_keys.c: sets members[i].pk of the members whose key was learned earlier (<dir>/peers). Before the
 * core is created. Returns 0 or a negated errno with a message in err. */
int lkv__causal_keys_load(lkv__causal_node_t *n, char *err, size_t errlen);

/* causal_keys.c: a peer's hello (after its kind byte): its key recorded durably and given to the core when
 * it was not known, refused (logged) when another one is; its attributes kept. Causal thread. */
void lkv__causal_keys_take_hello(lkv__causal_node_t *n, uint64_t from, const uint8_t *data, size_t len);

/* causal_keys.c: sends this member's hello to every peer. Causal thread. */
void lkv__causal_keys_hello(lkv__causal_node_t *n);

/* causal_conflicts.c: takes queued resolves until the core accepts one (*rs, answered after the batch by
 * lkv__causal_resolve_done) or none is left (those refused are answered here). Returns 1 when *rs was set. */
int lkv__causal_take_resolve(lkv__causal_node_t *n, uint64_t now, lkv_causal_resolve_t **rs);

/* causal_conflicts.c: tells the keys listener of the batch's keys (the core's batch is still out) and
 * answers the resolve taken for it (rs may be NULL; err: the batch's outcome). */
void lkv__causal_batch_done(lkv__causal_node_t *n, const lkv_causal_batch_t *rb, lkv_causal_resolve_t *rs,
                            int err);

/* causal_conflicts.c: runs the queries (a list taken off the queue), each once. */
void lkv__causal_run_queries(lkv__causal_node_t *n, lkv_causal_query_t *q);

/* causal_check.c: keeps a peer's check message in (1: n owns it now) for the end of the round, when the
 * store reflects the core; 0 for any other message. Causal thread. */
int lkv__causal_check_keep(lkv__causal_node_t *n, lkv__causal_in_t *in);

/* causal_check.c: after the round's batch: answers the peers' checks kept this round and, every o.check_ms
 * (mono: the monotonic clock in ms), sends this member's digests to every peer. Causal thread. */
void lkv__causal_check_round(lkv__causal_node_t *n, uint64_t mono);
/* causal_compact.c: after a round's batch (the store reflects the core, its events are durable): when the
 * core holds more than o.log_events events, its stable ones (lkv_causal_member_stable) beyond the newest
 * o.log_events / 2 are compacted: the core's checkpoint written into the store (records causal/checkpoint
 * and causal/log-base, one commit), then the core compacted. When the store's copy (the checkpointer's,
 * --ledger-checkpoint-interval) holds a checkpoint whose base is past the event log's, the log's front is
 * dropped to it (a peer whose report lacks events compacted here gets a snapshot: causal_snap.c). Failures
 * are logged; a checkpoint is tried again after o.log_events
 * / 2 more events; a log that could not be reopened halts the member at its next append. */
void lkv__causal_compact_round(lkv__causal_node_t *n);

/* causal_compact.c: at start-up, before the event log is replayed: restores the checkpoint the store holds
 * into the new core, if there is one; *rev and *base receive its revision and base (0s: none). Returns 0 or
 * an error with a message in err (an unreadable or damaged checkpoint: the member refuses to start). */
int lkv__causal_checkpoint_load(lkv__causal_node_t *n, uint64_t *rev, uint64_t *base, char *err,
                                size_t errlen);

/* causal_silence.c: re-evaluates which peers are silent at physical time now (each tick), logs each change
 * once, and copies the peers' state for lkv_causal_node_peers. Causal thread. */
void lkv__causal_silence_check(lkv__causal_node_t *n, uint64_t now);

/* causal_members.c: queues a membership change (change_member of replication.h): a removal or an add;
 * LKV_ENOTLEARNER for a promotion (no learners in this mode), LKV_EUNSUPPORTED for the others. Any thread. */
int lkv__causal_change_member(lkv__causal_node_t *n, const lkv_member_change_t *c, lkv_read_cb cb, void *arg);

/* causal_members.c: takes queued changes until the core accepts one as a local event (*mc, answered after
 * the batch with lkv__causal_change_done) or none is left (those refused are answered here). Returns 1 when
 * *mc was set. Causal thread. */
int lkv__causal_take_change(lkv__causal_node_t *n, uint64_t now, lkv__causal_mchange_t **mc);

/* causal_members.c: answers a change (err 0: applied here) and frees it. */
void lkv__causal_change_done(lkv__causal_mchange_t *mc, int err);

/* causal_members.c: tells o.on_removed of each member the core removed since the last call (logged), and
 * leaves it out of MemberList. Returns 1 when this member itself is removed. Causal thread (or start-up). */
int lkv__causal_removals_tell(lkv__causal_node_t *n);

/* causal_keys.c: the index of member id in n->members, or -1. */
int lkv__causal_member_index(const lkv__causal_node_t *n, uint64_t id);

/* causal_refusal.c: checks a refusal queued by lkv_causal_node_refused (in->refusal set); a proven removal
 * of this member is told to o.on_removed. Causal thread. */
void lkv__causal_refusal_take(lkv__causal_node_t *n, const lkv__causal_in_t *in);

/* causal_add.c: appends to the member table (members, o.n_members, under mu) the members the core learnt
 * since the last call (an add applied, a snapshot's members), in the core's order: its key when <dir>/peers
 * recorded it (a restart), its add's attributes shown until its first hello, and tells o.on_added (the
 * server dials it). Causal thread (or start-up). */
void lkv__causal_adds_tell(lkv__causal_node_t *n);

/* causal_add.c: 1 when one of the peer URLs of attrs (cluster/attrs.h) is a peer URL of a member not removed
 * (as its hello, its add or the flags told it), else 0. Causal thread. */
int lkv__causal_url_taken(lkv__causal_node_t *n, const uint8_t *attrs, size_t len);

/* causal_keys.c: the key <dir>/peers recorded for member id into pk: 0, LKV_ENOENT, or a read error. */
int lkv__causal_keys_recorded(const lkv__causal_node_t *n, uint64_t id, uint8_t pk[LKV_CAUSAL_PK_LEN]);

/* causal_ops.c: appends item to the queue (head, tail) and wakes the thread: 0, or LKV_ESTOPPED once
 * stopping. n->mu held. */
#define LKV__CAUSAL_ENQUEUE(n, head, tail, item)                                                        \
  ((n)->stopping ? LKV_ESTOPPED                                                                         \
                 : ((item)->next = NULL, *((tail) ? &(tail)->next : &(head)) = (item), (tail) = (item), \
                    pthread_cond_signal(&(n)->wake), 0))

/* causal_ops.c: the ops table. */
extern const lkv_replicator_ops_t lkv__causal_ops;

/* causal_node.c: the thread's body. */
void *lkv__causal_thread(void *arg);

/* causal_node.c: frees what the node owns (the thread has ended). */
void lkv__causal_node_free(lkv__causal_node_t *n);

#endif
