/* A causal-mode member's core: local writes, remote events and vectors, time in; a batch of work out. */
#ifndef LKV_CAUSAL_MEMBER_H
#define LKV_CAUSAL_MEMBER_H

#include <stddef.h>
#include <stdint.h>

#include "causal/context.h"
#include "causal/event.h"
#include "causal/key.h"
#include "causal/mutation.h"
#include "causal/pending.h"
#include "causal/vv.h"

/*
 * The contract (docs/causal.md §9).
 *
 * The core does no I/O: no threads, clocks, sockets or files; the caller passes its physical time in
 * milliseconds (now). One lkv_causal_member_t is one member; not thread-safe. Allocation failure aborts
 * the process (as the Raft core: a member that half-applied an event is worse than one that stopped; it
 * restarts from its durable events).
 *
 * The caller's loop:
 *   1. Feed input: lkv_causal_member_write (a client's write set), _recv_event and _recv_vv (from peers),
 *      _tick (every anti-entropy period).
 *   2. When lkv_causal_member_batch returns 1, handle the batch in this order:
 *      a. make rb.applied durable, in order, with one flush: each is an event (its encoding) this member
 *         applied at revision rb.first_rev + i;
 *      b. only then send rb.msgs (an own event that left before it was durable could be lost in a crash and
 *         its sequence reused for another write; a vector sent must not claim what a crash can take back);
 *      c. answer rb.acks: the local writes, with their revisions;
 *      d. call lkv_causal_member_advance.
 *   Inputs between batch and advance are refused with LKV_EAGAIN (the batch points into the member).
 *
 * Restart: a new member is given its durable events, in their local order, with lkv_causal_member_replay
 * before any other input; that gives back its vector, revisions, key states and clock. Events it had
 * applied but not made durable come again from its peers.
 */

typedef struct {
  uint64_t id;                   /* never 0 */
  uint8_t pk[LKV_CAUSAL_PK_LEN]; /* all zero: not known yet (lkv_causal_member_set_key); its events refused */
} lkv_causal_peer_t;

#ifdef LKV_CAUSAL_TESTING
/* Classic bugs of causal replication, switchable only in the lkv_causal_testing library, so that the
 * simulator proves it catches each (docs/causal.md §11, docs/testing.md). */
typedef enum {
  LKV_CAUSAL_BUG_APPLY_UNREADY = 1u << 0,      /* a remote event applied once its origin's earlier ones are,
                                                  whatever else its deps name */
  LKV_CAUSAL_BUG_WINNER_NOT_TOTAL = 1u << 1,   /* winner by clock wall only; a tie keeps the first applied */
  LKV_CAUSAL_BUG_SHIP_SKIPS_FIRST = 1u << 2,   /* anti-entropy ships each range from its second event */
  LKV_CAUSAL_BUG_PURGE_UNSTABLE = 1u << 3,     /* a sole tombstone purged at once, stable or not */
  LKV_CAUSAL_BUG_PURGE_COVERED_ONLY = 1u << 4, /* purged once every member's vector covers it, without
                                                  having what they had originated by then */
  LKV_CAUSAL_BUG_COMPACT_UNSTABLE = 1u << 5,   /* every durable event counts as stable for compaction */
  LKV_CAUSAL_BUG_APPLY_REMOVED = 1u << 6,      /* a removed member's events applied above the last one its
                                                  removal covers */
  LKV_CAUSAL_BUG_INSTALL_KEEPS_OLD_SIBLINGS = 1u << 7, /* a snapshot install merges the member's siblings
                                                          with the snapshot's instead of replacing them */
  LKV_CAUSAL_BUG_LEAVE_WITHOUT_MAJORITY = 1u << 8, /* compaction leaves silent members behind whether or not
                                                      the members this one hears are a majority */
  LKV_CAUSAL_BUG_READ_CACHE = 1u << 9, /* a key's winner is read from a cache that the member's own writes
                                          and its ticks clear, but its applied remote events do not */
  LKV_CAUSAL_BUG_MERGE_RESURRECTS = 1u << 10, /* a merging install keeps this member's siblings that the
                                                 snapshot's vector covers and the snapshot lacks */
} lkv_causal_bug_t;
#define LKV_CAUSAL_BUG_COUNT 11
/* The switch's name ("APPLY_UNREADY"), or NULL for a value that is not exactly one bug. */
const char *lkv_causal_bug_name(unsigned bug);
#endif

typedef struct {
  uint64_t id;                            /* this member: one of members[] */
  uint8_t sk[LKV_CAUSAL_SK_LEN];          /* its signing key (libsodium Ed25519 secret key) */
  const lkv_causal_peer_t *members;       /* every member with its public key, this one included; copied */
  size_t n_members;                       /* 1..LKV_CAUSAL_MAX_ORIGINS */
  uint64_t max_ahead;                     /* ms a remote stamp may be ahead of now before it is refused */
  size_t max_held_events, max_held_bytes; /* the causal-ready buffer's bounds (> 0) */
  size_t max_ship_events, max_ship_bytes; /* per anti-entropy answer to one peer (> 0; at least one event) */
  /* Told, during the input that applies an event (replay included), of each key whose etcd view (winner
   * live or not, create and mod revision, version) that event changed, at revision rev: a store showing
   * the winners follows it (also told when the event became the winner with an unchanged view: a key
   * written twice in one event, the last call holds). k is valid during the call only; the callee must
   * not call the member. May be NULL. */
  void (*on_change)(void *arg, uint64_t rev, const lkv_causal_key_t *k);
  void *change_arg;
  /* Told of every key an event writes, after the write joined its siblings, whether the etcd view changed
   * or not (with change_arg; after on_change for that key): a caller that derives a value from all the
   * siblings follows them. Same rules as on_change. May be NULL. */
  void (*on_write)(void *arg, uint64_t rev, const lkv_causal_key_t *k);
  /* This member joins a running cluster (added by lkv_causal_member_add; etcd's --initial-cluster-state
   * existing): its local writes are refused until it applied the add of itself (member_add.c). */
  int joining;
#ifdef LKV_CAUSAL_TESTING
  unsigned bugs; /* lkv_causal_bug_t bits */
#endif
} lkv_causal_config_t;

typedef enum {
  LKV_CAUSAL_MSG_EVENT = 1, /* an event's encoding: the peer calls lkv_causal_member_recv_event */
  LKV_CAUSAL_MSG_VV = 2,    /* a vector's encoding: the peer calls lkv_causal_member_recv_vv */
} lkv_causal_msg_kind_t;

typedef struct {
  uint64_t to;  /* a peer's id */
  uint8_t kind; /* lkv_causal_msg_kind_t: the caller's framing carries it */
  const uint8_t *data;
  size_t len;
} lkv_causal_msg_t;

typedef struct {
  uint64_t token; /* the caller's, from lkv_causal_member_write */
  uint64_t rev;
} lkv_causal_ack_t;

/* Everything points into the member and stays valid until lkv_causal_member_advance. */
typedef struct {
  const lkv_causal_held_t *applied; /* events in local order; applied[i] has revision first_rev + i */
  size_t n_applied;
  uint64_t first_rev;
  const lkv_causal_msg_t *msgs;
  size_t n_msgs;
  const lkv_causal_ack_t *acks;
  size_t n_acks;
} lkv_causal_batch_t;

typedef struct lkv_causal_member_s lkv_causal_member_t;

/* Creates a member. Returns 0 and *out, LKV_EINVAL for a bad configuration (id not among members, a
 * member id 0 or repeated, too many members, zero bounds), or LKV_ENOMEM. */
int lkv_causal_member_new(const lkv_causal_config_t *cfg, lkv_causal_member_t **out);

/* Frees m and everything it owns. NULL is allowed. */
void lkv_causal_member_free(lkv_causal_member_t *m);

/* Records the public key of member id, which was not known (all zero) when m was created: events from id are
 * refused (LKV_EVERIFY) until then. Returns 0 (set, or the same key already known), LKV_EINVAL (id is not a
 * member), LKV_EEXIST (another key is known for id: it is kept). */
int lkv_causal_member_set_key(lkv_causal_member_t *m, uint64_t id, const uint8_t pk[LKV_CAUSAL_PK_LEN]);

/* Restores one durable event (encoded, as a batch's applied gave it) in local order; before any other
 * input. Its signature is not checked again (it was when the event arrived). *rev receives its revision.
 * Returns 0, LKV_EBADMSG (malformed, an unknown origin, not causally ready: the log is not this member's), or
 * LKV_EAGAIN after other input. */
int lkv_causal_member_replay(lkv_causal_member_t *m, const uint8_t *buf, size_t len, uint64_t *rev);

/* A local write of muts[0..n) at physical time now: it becomes the next own event, signed, applied at the
 * next revision (*rev), pushed to every peer and acknowledged with token in the batch. Returns 0,
 * LKV_EINVAL (no mutations, an empty key, a bad kind), LKV_ETOOLARGE (a write set over
 * LKV_CAUSAL_EVENT_MAX_PAYLOAD), LKV_EMEMBERREMOVED (this member is removed), LKV_EOWNBEHIND (a peer
 * reported more of this member's own events than it holds: its data lost some, and a write would reuse a
 * sequence number; it waits until anti-entropy brought them back), LKV_EUNHEALTHY (a joining member that has
 * not applied the add of itself yet), LKV_EAGAIN (a batch is out). */
int lkv_causal_member_write(lkv_causal_member_t *m, uint64_t now, const lkv_causal_mutation_t *muts, size_t n,
                            uint64_t token, uint64_t *rev);

/* A resolve (the conflicts service, docs/causal.md §13): a local write of one key (*mu) that supersedes
 * exactly the key's siblings named in named[0..n_named) (a decoded context, sorted by origin) and no other:
 * its deps are the member's vector lowered, for each current sibling of the key that is not named, below
 * that sibling (so it stays a sibling beside the resolve, here and on every member). Otherwise as
 * lkv_causal_member_write. Returns 0, LKV_EINVAL (a bad mutation), LKV_ENOENT (the context names an event
 * this member has not applied), LKV_EEXIST (the key has a sibling this member wrote itself that the context
 * does not name: an event always follows its origin's earlier ones, so it cannot be spared; the caller lists
 * the siblings again), LKV_ETOOLARGE, LKV_EOWNBEHIND, LKV_EAGAIN (a batch is out). */
int lkv_causal_member_resolve(lkv_causal_member_t *m, uint64_t now, const lkv_causal_mutation_t *mu,
                              const lkv_causal_event_id_t *named, size_t n_named, uint64_t token,
                              uint64_t *rev);

/* An event received from a peer at physical time now. Applied at once when causally ready (then every held
 * event it makes ready too), else held. Returns 0 (applied, held, or a copy of one already here),
 * LKV_EBADMSG (malformed event or write set), LKV_EVERIFY (an unknown origin or a bad signature),
 * LKV_EEXIST (another event with the same origin and seq is here: the origin equivocated),
 * LKV_EMEMBERREMOVED (its origin is removed and the event is above the last one taken of it),
 * LKV_ECLOCKAHEAD (its stamp is too far ahead of now; it comes again later), LKV_EBUFFERFULL,
 * LKV_EAGAIN (a batch is out). Nothing changes on an error. */
int lkv_causal_member_recv_event(lkv_causal_member_t *m, uint64_t now, const uint8_t *buf, size_t len);

/* A peer's vector: remembered (for stability) and answered with the events the peer lacks, in this
 * member's local order, within max_ship_events/bytes; entries of origins that are not members here (added by
 * an add not applied here yet) are left out. Returns 0, LKV_EBADMSG, LKV_EINVAL (from is not a member or is
 * this one), LKV_EAGAIN. */
int lkv_causal_member_recv_vv(lkv_causal_member_t *m, uint64_t from, const uint8_t *buf, size_t len);

/* An anti-entropy round: this member's vector to every peer; stable sole tombstones purged. Returns 0 or
 * LKV_EAGAIN. */
int lkv_causal_member_tick(lkv_causal_member_t *m);

/* The batch of work (see the contract): 1 and *rb when there is any, else 0. */
int lkv_causal_member_batch(lkv_causal_member_t *m, lkv_causal_batch_t *rb);

/* Ends the batch handed out by lkv_causal_member_batch. */
void lkv_causal_member_advance(lkv_causal_member_t *m);

/* ---- Membership: removals (member_remove.c, docs/causal.md §15).
 *
 * A removal of member X is an event of the member that makes it (a write set of one MEMBER_REMOVE
 * mutation), replicated and applied like any. It covers X's events up to its deps' entry for X (up to the
 * removal itself when X removes itself). A member that applied a removal of X takes X's events only up to
 * its cap: the highest any removal of X it applied covers, lifted to what the members still in have applied
 * of X (its own vector and their reported vectors). A member that had applied X's later events before the
 * removal reached it holds them and reports them; the others then take them too, so all members still in
 * converge on the same prefix of X's events (the greatest any of them applied before it applied a removal)
 * whatever the order; X's other events are refused for ever (LKV_EMEMBERREMOVED). A member removed is left
 * out of the stability of tombstones (once every member still in reported having applied its removal),
 * of silence, and of the events this member pushes; it still gets this member's vectors and their answers,
 * so X learns of its removal (X lifts its own caps by them too: when X removed the member that removed it,
 * the removal of X comes in above X's cap for it, and X takes it once members still in report having it).
 * Removals are never undone; concurrent removals take effect as the rule above decides: a removal made by
 * a member after it was removed (above its cap) is refused like its other events. */

/* A local removal of member id: the next own event, as lkv_causal_member_write. Returns 0, LKV_ENOENT (id
 * is not a member), LKV_EMEMBERREMOVED (id, or this member, is removed already), LKV_EOWNBEHIND, LKV_EAGAIN.
 */
int lkv_causal_member_remove(lkv_causal_member_t *m, uint64_t now, uint64_t id, uint64_t token,
                             uint64_t *rev);

/* 1 when member id is removed here (a removal of it was applied), else 0. */
int lkv_causal_member_is_removed(const lkv_causal_member_t *m, uint64_t id);

/* The last sequence of member id's events this member takes (UINT64_MAX: id is not removed here). */
uint64_t lkv_causal_member_removal_cap(const lkv_causal_member_t *m, uint64_t id);

/* ---- Membership: refusals of a removed member (member_proof.c, docs/causal.md §15a).
 *
 * A member refuses the connections of a member it removed; the refusal carries the removal (its signed
 * event) so that the refused member can check it: a member removes only a member the members still in
 * refuse too, but a removed member still refuses the members IT removed, even when the members still in
 * refused that removal (made above its cap). The refused member stops only on a refusal that shows a member
 * still in (in its own view) applied a removal of it: an event applied by a member still in is taken by
 * every member still in. These are reads: allowed while a batch is out. */

/* The encoding of the first removal of member id applied here (*len bytes, valid until the next input),
 * or NULL: id is not removed here, or that event was compacted (or installed from a snapshot). */
const uint8_t *lkv_causal_member_removal_event(const lkv_causal_member_t *m, uint64_t id, size_t *len);

/* Whether member by's refusal carrying (buf, len) proves this member removed. Returns 0 when buf is an event
 * signed by its origin (a member whose key is known here) that removes this member, and by is a member
 * still in here (not this one) that is not its origin, or is its origin and the only other member still in
 * here; with no bytes (len 0: the refuser compacted its removal, which it does once every member still in
 * there applied it; or an older member), when by is a member still in here. Else LKV_EBADMSG (malformed, or
 * not a removal of this member), LKV_EVERIFY (an unknown origin or key, a bad signature), LKV_EINVAL (by is
 * not a member, or is this one), LKV_EMEMBERREMOVED (by is removed here: it refuses the members it removed
 * whether or not the members still in took that removal), LKV_EAGAIN (only its remover refused with it while
 * other members are still in here: the remover may be removed by a removal not applied here yet; another
 * member still in that applied it will say so). */
int lkv_causal_member_removal_proven(const lkv_causal_member_t *m, uint64_t by, const uint8_t *buf,
                                     size_t len);

/* ---- Membership: additions (member_add.c, docs/causal.md §15b).
 *
 * An addition of member N is an event of the member that makes it (a write set of one MEMBER_ADD mutation:
 * N's id and its peer URLs, opaque to the core), replicated and applied like any. A member that applies it
 * appends N to its members (its public key unknown until lkv_causal_member_set_key), so that N counts for
 * stability (nothing is stable until N reports), gets pushes and vectors, and its events are taken. A
 * member that has not applied it yet refuses N's events (LKV_EVERIFY: an unknown origin) and vectors (and
 * leaves N's entry out of the others' vectors); they come again by anti-entropy. N itself starts with the
 * members named at its start (the adder's members and itself) and cfg.joining set: its own writes are refused
 * until it applied the add of itself, so that every event of N causally follows its add, and with it every
 * event the adder had applied when it added N (a member that does not know N yet cannot take for stable a
 * tombstone that N's writes are concurrent with: member_keys.c). An id is added once: a second add of an id
 * applied (a concurrent one on another member) changes nothing, a removed id is never a member again. Two
 * concurrent adds of different ids with the same URLs both take effect (the core does not read URLs): the
 * operator removes the one not started. An add applied when LKV_CAUSAL_MAX_ORIGINS members are there
 * already (concurrent adds) is ignored. */

/* A local addition of member id with peer URLs (urls, len): the next own event, as lkv_causal_member_write.
 * Returns 0, LKV_EINVAL (id 0, no URLs), LKV_EMEMBERREMOVED (id was removed: ids are not reused; or this
 * member is removed), LKV_EMEMBEREXIST (id is a member), LKV_EEXIST (id's lease owner tag, causal/lease_id.h,
 * is a member's still in: draw another id), LKV_ENOSPC (LKV_CAUSAL_MAX_ORIGINS members already),
 * LKV_EUNHEALTHY, LKV_EAGAIN. */
int lkv_causal_member_add(lkv_causal_member_t *m, uint64_t now, uint64_t id, const uint8_t *urls, size_t len,
                          uint64_t token, uint64_t *rev);

/* How many members this member knows (initial and added, removed ones included), and the i-th one's id
 * (members in the order they became known: the initial ones, then the added ones as applied). */
size_t lkv_causal_member_count(const lkv_causal_member_t *m);
uint64_t lkv_causal_member_id_at(const lkv_causal_member_t *m, size_t i);

/* The peer URLs an applied add named for member id (*len bytes, valid until the next input), or NULL when no
 * add of id was applied here (an initial member, or not a member). */
const uint8_t *lkv_causal_member_peer_urls(const lkv_causal_member_t *m, uint64_t id, size_t *len);

/* ---- Reads (valid until the next input). */

const lkv_causal_vv_t *lkv_causal_member_vv(const lkv_causal_member_t *m);
uint64_t lkv_causal_member_revision(const lkv_causal_member_t *m); /* the last revision applied */
size_t lkv_causal_member_held(const lkv_causal_member_t *m);       /* events waiting for their deps */

/* The key's state, or NULL when it has none (never written, or its tombstone purged). */
const lkv_causal_key_t *lkv_causal_member_key(const lkv_causal_member_t *m, const uint8_t *key, size_t len);

/* Keys with state, in byte order of their names: count and the i-th. */
size_t lkv_causal_member_n_keys(const lkv_causal_member_t *m);
const lkv_causal_key_t *lkv_causal_member_key_at(const lkv_causal_member_t *m, size_t i);

/* The winner of k (a key of m), or NULL when it has no siblings. */
const lkv_causal_sibling_t *lkv_causal_member_winner(const lkv_causal_member_t *m, const lkv_causal_key_t *k);

/* The vector member id last reported to this member through anti-entropy (merged: it only grows), this
 * member's own vector for its own id, or NULL when id is not a member. */
const lkv_causal_vv_t *lkv_causal_member_report(const lkv_causal_member_t *m, uint64_t id);

/* The event applied at revision rev (1 .. lkv_causal_member_revision), or NULL. Valid until the next input.
 */
const lkv_causal_held_t *lkv_causal_member_event_at(const lkv_causal_member_t *m, uint64_t rev);

/* The applied event (origin, seq) and its revision: its held form, or NULL when not applied here. */
const lkv_causal_held_t *lkv_causal_member_event(const lkv_causal_member_t *m, uint64_t origin, uint64_t seq,
                                                 uint64_t *rev);

/* ---- Compaction (member_compact.c, docs/causal.md §7): events every member has applied are dropped from
 * the log; a checkpoint of the member's state replaces them at a restart.
 *
 * The caller's steps, between batches (after lkv_causal_member_advance, nothing applied since):
 *   1. base = lkv_causal_member_stable(m), lowered to keep the newest events it wants to keep;
 *   2. lkv_causal_member_checkpoint(m, base): the state at the current revision C, made durable (the
 *      caller's store must reflect C durably too: the checkpoint has no history of changes);
 *   3. the log's events up to base dropped from disk, then lkv_causal_member_compact(m, base).
 * A crash anywhere is recovered: a restart restores the newest durable checkpoint (if any) with
 * lkv_causal_member_restore, then replays its durable log's events from revision base + 1 on (those up to
 * C are only held again for shipping; later ones are applied); the log may still hold events at or below
 * base (a crash before step 3): the caller skips them. Compacted events are not shipped again and an
 * event that comes again after its compaction is taken as a copy (its origin's equivocation goes unseen);
 * lkv_causal_member_event_at and _event answer NULL for them. */

/* The highest revision whose event, and every earlier one, every counted member's reported vector covers
 * (this member's peers reported since it started: after a restart none is stable until each reported), at
 * least the revisions already compacted. Counted: every member but those left behind, which get what they
 * lack by a snapshot (below): a member silent (as the last lkv_causal_member_silence set it) while this
 * one and the members it hears are a majority of the members still in and at least half of every
 * membership a silent member may still count, adds and removals in flight included (two sides of a
 * partition must not both compact what the other lacks: docs/causal.md §7), and a removed member once no
 * event of it can still arrive (as for tombstones, member_remove.c). The purge of tombstones
 * (lkv_causal_member_tick) still waits for every member still in, silent or not. */
uint64_t lkv_causal_member_stable(const lkv_causal_member_t *m);

/* The first revision whose event the member still holds (1 + the revisions compacted). */
uint64_t lkv_causal_member_first_rev(const lkv_causal_member_t *m);

/* The vector of the events compacted (those of revisions before lkv_causal_member_first_rev) into *out. */
void lkv_causal_member_base_vv(const lkv_causal_member_t *m, lkv_causal_vv_t *out);

/* 1 when member id's last report (since this member started) lacks an event this member compacted (or
 * never had as an event: installed from a snapshot): it cannot get it by anti-entropy (it was left behind,
 * a backup was restored there) and needs a snapshot (below); also when id is an added member whose report
 * lacks events of a removed member that this member has (it may never verify those: a replacement after a
 * removal, docs/causal.md §15b); else 0. */
int lkv_causal_member_needs_snapshot(const lkv_causal_member_t *m, uint64_t id);

/* The member's state at its current revision with base, the log revision compacted up to, encoded into
 * *out (malloc'd, *len bytes; the caller frees it): revision, vector, clock, each key's siblings (values,
 * leases, local revisions) and etcd view, and the vector of the events up to base. Returns 0, LKV_EAGAIN
 * (a batch is out, or events were applied since the last one: they are not durable yet), LKV_EINVAL (base
 * below the revisions compacted or above the current one). */
int lkv_causal_member_checkpoint(const lkv_causal_member_t *m, uint64_t base, uint8_t **out, size_t *len);

/* Drops the events of revisions up to base. Returns 0, LKV_EAGAIN (as for a checkpoint), LKV_EINVAL (base
 * above lkv_causal_member_stable or below the revisions compacted). */
int lkv_causal_member_compact(lkv_causal_member_t *m, uint64_t base);

/* Restores a checkpoint into a new member, before any replay or other input: its state, with the events up
 * to the checkpoint's base compacted. *rev and *base receive the checkpoint's revision and base. Returns 0,
 * LKV_EBADMSG (malformed, an origin that is not a member), LKV_EAGAIN (not a new member). */
int lkv_causal_member_restore(lkv_causal_member_t *m, const uint8_t *buf, size_t len, uint64_t *rev,
                              uint64_t *base);

/* ---- Snapshot catch-up (member_snapshot.c, docs/causal.md §7a): a peer whose vector is below what this
 * member compacted gets its replicated state, signed, and installs it as one revision.
 *
 * The caller's steps: on the sender, between batches, when lkv_causal_member_snapshot_due(m, peer) says
 * so (at most once per peer every few anti-entropy rounds: a snapshot holds every key), send
 * lkv_causal_member_snapshot's bytes to the peer; on the receiver, between batches:
 *   1. lkv_causal_member_install(m, now, ...) -> *rev (refused: drop it; a later one comes);
 *   2. before any other input, make it durable: lkv_causal_member_checkpoint(m, *rev, ...) (allowed at once:
 *      the member is quiet; base == revision == *rev, a log with no events) made durable with the caller's
 *      own state at *rev (its store, from on_change/on_write, and what it keeps of extra), then its durable
 *      event log restarted after *rev (the events it held are covered by the snapshot);
 *   3. a crash before the checkpoint is durable restarts from the old state (the snapshot comes again); after
 *      it, a restart restores it (lkv_causal_member_restore gives back exactly the installed state) and skips
 *      the old log's events, all at or below its base.
 * After an install the member works as usual: lkv_causal_member_first_rev is *rev + 1, _base_vv the
 * snapshot's vector, _event_at and _event answer NULL up to *rev, _stable is at least *rev, and a peer
 * lacking what the snapshot covers is answered by the same compacted path (needs_snapshot). The events
 * between the member's old vector and the snapshot's are never in its log: not in its history, ledger or
 * answers. */

/* 1 when peer id needs a snapshot (lkv_causal_member_needs_snapshot) and can take one now: this member's
 * vector covers id's last report, or id reported in each of the last 3 ticks (lkv_causal_member_tick) while
 * this member got none of the events its report names and this member lacks (id compacted them too: the
 * snapshot is joined there, see lkv_causal_member_install); else id's own events must reach this member
 * first, by anti-entropy, and the snapshot waits. 0 for this member, an unknown or removed id, or when this
 * member is removed. */
int lkv_causal_member_snapshot_due(const lkv_causal_member_t *m, uint64_t id);

/* This member's replicated state encoded into *out (malloc'd, *len bytes; the caller frees it) and signed
 * with its key: sender id, vector, clock, every key with its siblings (origin, seq, stamp, tombstone, lease,
 * value; not local revisions or etcd views: those are the receiver's), the removals (id, cap, first
 * removal) and extra (the caller's opaque bytes, e.g. its lease table), all under the signature. Returns 0,
 * LKV_EAGAIN (a batch is out, or events were applied since the last one: not durable yet),
 * LKV_EMEMBERREMOVED (this member is removed), LKV_EINVAL (extra over 4 GiB). */
int lkv_causal_member_snapshot(const lkv_causal_member_t *m, const uint8_t *extra, size_t extra_len,
                               uint8_t **out, size_t *len);

/* The vector of snapshot (buf, len), not verified (e.g. of one just installed: the caller's own state that
 * extra describes is joined as the keys are when it was concurrent). Returns 0 or LKV_EBADMSG. */
int lkv_causal_snapshot_vv(const uint8_t *buf, size_t len, lkv_causal_vv_t *out);

/* Installs a peer's snapshot (buf, len) at physical time now as one new revision *rev (the previous
 * revision + 1). A snapshot whose vector covers this member's replaces its state: vector = the snapshot's;
 * each key's siblings = the snapshot's. A concurrent one (neither vector covers the other) is installed only
 * when it lacks an event this member compacted (or never had as an event: then neither can get what it lacks
 * by events), and is joined with this member's state (docs/causal.md §7a): vector = the union; each key keeps
 * the siblings both hold and each side's siblings the other's vector does not cover (a sibling one side's
 * vector covers and that side does not hold was superseded or purged there: dropped); afterwards this
 * member's vector covers the sender's, and its own snapshot goes back (lkv_causal_member_snapshot_due).
 * Either way: clock = the greater; a sibling already here keeps its local revision, the others take *rev
 * (keys with no sibling left vanish), the etcd views moving as an applied event moves them (winner changed:
 * mod_rev *rev, version + 1, create_rev *rev when it becomes live; not live any more, or vanished: zeros),
 * on_change told of each key whose view changed and on_write of each whose sibling set changed (a vanished
 * key is passed with no siblings), all at *rev; removals = the union (caps: the greater; this member may
 * learn it is removed); the whole log compacted (lkv_causal_member_first_rev *rev + 1, _base_vv the new
 * vector); held events the new vector covers or makes ready dropped (the ready ones come again); what was
 * shipped forgotten. *extra (*extra_len bytes) points into buf. Returns 0, LKV_EBADMSG (malformed; the sender
 * is not a member or is this one), LKV_EVERIFY (the sender's key is not known, or a bad signature),
 * LKV_EEXIST (not useful now: the snapshot's vector holds nothing more, or is concurrent and lacks nothing
 * this member compacted: this member's events reach the sender first; the caller drops it),
 * LKV_EMEMBERREMOVED (the sender is removed, here or by its own removals: its state may hold its events above
 * the prefix the members still in keep), LKV_ECLOCKAHEAD (its clock is too far ahead of now, as for an
 * event), LKV_EAGAIN (a batch is out, or events were applied since the last one). Nothing changes on an
 * error. */
int lkv_causal_member_install(lkv_causal_member_t *m, uint64_t now, const uint8_t *buf, size_t len,
                              uint64_t *rev, const uint8_t **extra, size_t *extra_len);

/* ---- Hearing from peers (member_heard.c): a member silent for too long is reported (docs/causal.md §15).
 * These are not inputs: allowed while a batch is out, they change nothing the batch points to. */

/* A message (a hello, a vector, an event) came from member `from` at physical time now (ms). Ignored when
 * from is not a member or is this one. */
void lkv_causal_member_heard(lkv_causal_member_t *m, uint64_t from, uint64_t now);

/* The physical time of the last message from member id (0: none yet, or id is not a peer). */
uint64_t lkv_causal_member_last_heard(const lkv_causal_member_t *m, uint64_t id);

/* How long (ms) before physical time now member id was last heard, counted from the member's first hearing
 * input when nothing came from id yet; 0 when id is not a peer or now is earlier. */
uint64_t lkv_causal_member_quiet(const lkv_causal_member_t *m, uint64_t id, uint64_t now);

/* Whether member id is reported silent (by the last lkv_causal_member_silence): 1 or 0. */
int lkv_causal_member_is_silent(const lkv_causal_member_t *m, uint64_t id);

/* A peer that went silent or was heard again. */
typedef struct {
  uint64_t id;
  int silent;          /* 1: silent for more than the threshold; 0: heard again */
  uint64_t last_heard; /* as lkv_causal_member_last_heard */
} lkv_causal_silence_t;

/* Re-evaluates every peer at physical time now: a peer is silent when nothing came from it for more than
 * after ms (counted from the member's first hearing input when nothing ever came). Writes each change since
 * the last call to out (room for LKV_CAUSAL_MAX_ORIGINS) and returns how many; a peer is reported once when
 * it goes silent and once when it is heard again. */
size_t lkv_causal_member_silence(lkv_causal_member_t *m, uint64_t now, uint64_t after,
                                 lkv_causal_silence_t *out);

#endif
