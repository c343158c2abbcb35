/* The causal member's state, shared by member.c (events), member_sync.c (anti-entropy), member_keys.c, the
 * compaction, codec, removal and snapshot files. */
#ifndef LKV_CAUSAL_MEMBER_INTERNAL_H
#define LKV_CAUSAL_MEMBER_INTERNAL_H

#include "causal/member.h"

#ifdef LKV_CAUSAL_TESTING
#define LKV__CAUSAL_BUG(m, b) (((m)->cfg.bugs & LKV_CAUSAL_BUG_##b) != 0)
#else
#define LKV__CAUSAL_BUG(m, b) ((void)(m), 0)
#endif

/* A growing array of T with its count and capacity. */
#define LKV__CAUSAL_VEC(T) \
  struct {                 \
    T *v;                  \
    size_t n, cap;         \
  }

/* A table of keys sorted by name (the member's, or one being decoded: member_codec.c). */
typedef LKV__CAUSAL_VEC(lkv_causal_key_t *) lkv__causal_keys_t;

#ifdef LKV_CAUSAL_TESTING
/* The READ_CACHE bug's cache of winners read: a copy of each (value owned), by key. */
typedef struct {
  const lkv_causal_key_t *k;
  lkv_causal_sibling_t w;
} lkv__causal_cached_t;
typedef LKV__CAUSAL_VEC(lkv__causal_cached_t) lkv__causal_cache_t;
/* member_keys.c: forgets k's cached winner (k NULL: every one); nothing without the bug. */
void lkv__causal_cache_drop(lkv_causal_member_t *m, const lkv_causal_key_t *k);
#endif

struct lkv_causal_member_s {
  lkv_causal_config_t cfg;
  lkv_causal_peer_t members[LKV_CAUSAL_MAX_ORIGINS];
  size_t self; /* index of this member in members */
  lkv_causal_vv_t vv;
  lkv_causal_hlc_t clock;
  int started; /* an input other than replay came: replay is over */

  /* Applied events in local order: log.v[i] has revision log_base + i + 1 (the revisions up to log_base
   * were compacted: member_compact.c). */
  LKV__CAUSAL_VEC(lkv_causal_held_t) log;
  uint64_t log_base;
  /* Per member index: the revision - 1 of each of its events still in the log (pos[i].v[seq - 1 -
   * pos_base[i]]); pos_base[i] of its events were compacted. */
  LKV__CAUSAL_VEC(uint64_t) pos[LKV_CAUSAL_MAX_ORIGINS];
  uint64_t pos_base[LKV_CAUSAL_MAX_ORIGINS];
  /* A checkpoint restored at start (member_compact.c): its revision; the log's events up to it are only
   * held again for shipping by replay, not applied (0: none). */
  uint64_t restored;
  /* Keys with state, sorted by name. */
  lkv__causal_keys_t keys;
  lkv_causal_pending_t pending;
  /* The latest vector each member reported (merged: a member's durable vector only grows). */
  lkv_causal_vv_t reports[LKV_CAUSAL_MAX_ORIGINS];
  uint8_t reported[LKV_CAUSAL_MAX_ORIGINS]; /* members[i] reported a vector since this member started */
  /* Per member: the last events shipped to it by answers since the last tick. Answering vectors that
   * arrive together (held by a partition, then released at once) ships the next events, not the same
   * ones again; cleared every tick, so that what a lossy link dropped is shipped again. */
  lkv_causal_vv_t shipped[LKV_CAUSAL_MAX_ORIGINS];

  /* The batch being gathered, and whether it is out. */
  size_t persisted; /* log entries before this one were in an earlier batch */
  LKV__CAUSAL_VEC(lkv_causal_msg_t) msgs;
  LKV__CAUSAL_VEC(lkv_causal_ack_t) acks;
  LKV__CAUSAL_VEC(uint8_t *) scratch; /* encodings the batch's messages point to */
  int out;

  /* Hearing from peers (member_heard.c): the physical time of the last message from members[i] (0: none),
   * whether it is reported silent, and the first time any was passed in (the member's start). */
  uint64_t heard[LKV_CAUSAL_MAX_ORIGINS];
  uint8_t silent[LKV_CAUSAL_MAX_ORIGINS];
  uint64_t since;
  /* Catch-up by a merge (member_snapshot.c): whether members[i] reported since the last tick, how many
   * ticks in a row it did while this member got none of the events it lacks from its report, and this
   * member's vector at the last tick. */
  uint8_t fresh[LKV_CAUSAL_MAX_ORIGINS];
  uint32_t stalled[LKV_CAUSAL_MAX_ORIGINS];
  lkv_causal_vv_t ticked_vv;

  /* Removals (member_remove.c): whether members[i] is removed, the last of its events this member takes
   * (the highest the removals name, lifted to what the members still in applied of it), and the first
   * removal of it applied here. */
  uint8_t removed[LKV_CAUSAL_MAX_ORIGINS];
  uint64_t cap[LKV_CAUSAL_MAX_ORIGINS];
  lkv_causal_event_id_t removal[LKV_CAUSAL_MAX_ORIGINS];

  /* Additions (member_add.c): whether an add of members[i] was applied here, and the peer URLs it named
   * (malloc'd; NULL for a member no add of which was applied here: an initial one). */
  uint8_t added[LKV_CAUSAL_MAX_ORIGINS];
  uint8_t *urls[LKV_CAUSAL_MAX_ORIGINS];
  size_t urls_len[LKV_CAUSAL_MAX_ORIGINS];
#ifdef LKV_CAUSAL_TESTING
  lkv__causal_cache_t *cache; /* the READ_CACHE bug's (member_keys.c); NULL without it */
#endif
};

/* Grows a LKV__CAUSAL_VEC to hold one more element; aborts on allocation failure (member.h). */
#define LKV__CAUSAL_PUSH(vec) \
  (lkv__causal_room((void **)&(vec).v, &(vec).cap, (vec).n, sizeof(*(vec).v)), &(vec).v[(vec).n++])
void lkv__causal_room(void **arr, size_t *cap, size_t n, size_t size);

/* member.c: the index of member id in m->members, or -1. */
int lkv__causal_index(const lkv_causal_member_t *m, uint64_t id);
/* member.c: queues a message (data owned elsewhere, valid until advance). */
void lkv__causal_send(lkv_causal_member_t *m, uint64_t to, uint8_t kind, const uint8_t *data, size_t len);

/* member.c: a local write of muts[0..n) whose deps are *deps (lkv_causal_member_write: the member's vector;
 * a resolve: less, member_resolve.c); deps must be covered by m->vv and hold m->vv's own entry. */
int lkv__causal_write(lkv_causal_member_t *m, uint64_t now, const lkv_causal_mutation_t *muts, size_t n,
                      const lkv_causal_vv_t *deps, uint64_t token, uint64_t *rev);

/* member.c: 1 when member p's public key is known (not all zero). */
int lkv__causal_key_known(const lkv_causal_peer_t *p);

/* member_keys.c: <0, 0, >0 as k's name sorts before, equal to or after (key, len) (byte order). */
int lkv__causal_name_cmp(const lkv_causal_key_t *k, const uint8_t *key, size_t len);
/* member_keys.c: the key named (key, len), created with no siblings when create is set (else NULL). */
lkv_causal_key_t *lkv__causal_key_get(lkv_causal_member_t *m, const uint8_t *key, size_t len, int create);
/* member_keys.c: applies an applied event's write set to its keys at revision rev. */
void lkv__causal_keys_apply(lkv_causal_member_t *m, const lkv_causal_event_t *ev, uint64_t rev);
/* member.c: applies a causally ready event whose held copy the member now owns; returns its revision. */
uint64_t lkv__causal_apply(lkv_causal_member_t *m, lkv_causal_held_t *h, int observe, uint64_t now);
/* member.c: a copy of (buf, len) decoded as ev, owned by the returned held form. */
lkv_causal_held_t lkv__causal_copy_held(const uint8_t *buf, size_t len, const lkv_causal_event_t *ev);
/* member.c: decodes an event and its write set; the origin must be a member (LKV_EBADMSG, LKV_EVERIFY). */
int lkv__causal_decode_checked(const lkv_causal_member_t *m, const uint8_t *buf, size_t len,
                               lkv_causal_event_t *ev);
/* member_compact.c: replays an event of a restored checkpoint's log (revision at most m->restored): held
 * again for shipping, not applied. Returns 0 or LKV_EBADMSG (not the origin's next event, or one the
 * checkpoint does not cover). */
int lkv__causal_replay_held(lkv_causal_member_t *m, const uint8_t *buf, size_t len, uint64_t *rev);

/* member_keys.c: purges sole tombstones that are stable (docs/causal.md §7). */
void lkv__causal_keys_purge(lkv_causal_member_t *m);

/* member_remove.c: applies the member removals of an applied event. */
void lkv__causal_removals_apply(lkv_causal_member_t *m, const lkv_causal_event_t *ev);
/* member_remove.c: LKV_EBADMSG when an event's write set removes a member that is not one; else 0. */
int lkv__causal_removals_check(const lkv_causal_member_t *m, const lkv_causal_event_t *ev);
/* member_remove.c: 1 when ev's origin is removed and ev is above the last of its events taken. */
int lkv__causal_refused(const lkv_causal_member_t *m, const lkv_causal_event_t *ev);
/* member_remove.c: a vector of a member still in was reported: the removed members' caps follow it. */
void lkv__causal_removals_heard(lkv_causal_member_t *m);
/* member_remove.c: how many members are removed (a checkpoint keeps them: member_compact.c). */
size_t lkv__causal_removals_count(const lkv_causal_member_t *m);
/* member_remove.c: 1 when no event of a removed member can still arrive that this member lacks (every
 * member still in reported having applied its removal, and this member has what they reported of it). */
int lkv__causal_removals_settled(const lkv_causal_member_t *m);

/* member_compact.c: 1 when vv lacks an event this member compacted (or never had as an event). */
int lkv__causal_lacks_compacted(const lkv_causal_member_t *m, const lkv_causal_vv_t *vv);

/* member_snapshot.c: an anti-entropy tick: for each peer that reported since the last one, whether this
 * member got any of the events its report names and this member lacks (its stall count, for
 * lkv_causal_member_snapshot_due). */
void lkv__causal_snapshot_tick(lkv_causal_member_t *m);

/* member_compact.c: events are durable and no batch is out (a checkpoint, a compaction, a snapshot and its
 * install need it). */
int lkv__causal_quiet(const lkv_causal_member_t *m);

/* ---- member_codec.c: the state codec shared by the checkpoint (member_compact.c) and the snapshot
 * (member_snapshot.c). LKV__CAUSAL_LOCAL adds what is this member's own: each key's etcd view and each
 * sibling's local revision (the checkpoint has them, the snapshot does not). */
#define LKV__CAUSAL_LOCAL 1

/* A bounded reader: a short read sets bad and yields zeros. */
typedef struct {
  const uint8_t *p, *end;
  int bad;
} lkv__causal_reader_t;
const uint8_t *lkv__causal_take(lkv__causal_reader_t *r, size_t n);
uint64_t lkv__causal_take64(lkv__causal_reader_t *r);
uint32_t lkv__causal_take32(lkv__causal_reader_t *r);
void lkv__causal_take_vv(lkv__causal_reader_t *r, lkv_causal_vv_t *v);

/* The member's keys: n_keys u32 ‖ n_keys × key, in byte order of their names, a key being
 *   key_len u32 ‖ key ‖ [create_rev u64 ‖ mod_rev u64 ‖ version u64] ‖ n u32 ‖ n × sibling, a sibling
 *     origin u64 ‖ seq u64 ‖ hlc.wall u64 ‖ hlc.logical u32 ‖ tombstone u8 ‖ lease i64 ‖ [rev u64] ‖
 *     value_len u32 ‖ value
 * (bracketed: LKV__CAUSAL_LOCAL only). Size, writer (returns the end), reader: appends to keys (names
 * increasing; every sibling covered by vv; local revisions in 1..rev; with LKV__CAUSAL_LOCAL unset, at least
 * one sibling per key), sets r->bad on a malformed one (what was appended stays: the caller frees it). */
size_t lkv__causal_keys_size(const lkv_causal_member_t *m, int flags);
uint8_t *lkv__causal_keys_put(const lkv_causal_member_t *m, uint8_t *p, int flags);
void lkv__causal_keys_take(lkv__causal_reader_t *r, lkv__causal_keys_t *keys, const lkv_causal_vv_t *vv,
                           uint64_t rev, int flags);
/* Frees every key of keys and the table. */
void lkv__causal_keys_free(lkv__causal_keys_t *keys);

/* The removals: n u32 ‖ n × (member id u64 ‖ cap u64 ‖ removal origin u64 ‖ removal seq u64). */
typedef struct {
  uint64_t id, cap;
  lkv_causal_event_id_t removal;
} lkv__causal_removal_t;
size_t lkv__causal_removals_size(const lkv_causal_member_t *m);
uint8_t *lkv__causal_removals_put(const lkv_causal_member_t *m, uint8_t *p);
/* Reads them into out (room for LKV_CAUSAL_MAX_ORIGINS) and returns how many; ids and origins must be
 * members of m, each id once (else r->bad). */
size_t lkv__causal_removals_take(lkv__causal_reader_t *r, const lkv_causal_member_t *m,
                                 lkv__causal_removal_t *out);

/* member_add.c: applies the member additions of an applied event. */
void lkv__causal_adds_apply(lkv_causal_member_t *m, const lkv_causal_event_t *ev);
/* member_add.c: records an add of member id with its peer URLs (the member appended when it is not one;
 * ignored when LKV_CAUSAL_MAX_ORIGINS members are there already); the first add applied of an id holds. Returns the index it marked added, or -1 (nothing changed). */
int lkv__causal_add_record(lkv_causal_member_t *m, uint64_t id, const uint8_t *urls, size_t len);
/* member_add.c: frees the added members' URLs. */
void lkv__causal_adds_free(lkv_causal_member_t *m);

/* member_add.c: the membership in a checkpoint or a snapshot: n u32 ‖ n × (id u64 ‖ urls_len u32 ‖ urls), the
 * members with an applied add (their URLs, non-empty) or, with all set, every member (urls_len 0: an initial
 * one). Size, writer (returns the end), reader: records each into m (an add; an unknown initial member
 * appended without a key), sets r->bad on a malformed one, and returns m's member count before and in *marked
 * the indices it marked added, for lkv__causal_members_undo (which forgets what a failed read recorded). */
size_t lkv__causal_members_size(const lkv_causal_member_t *m, int all);
uint8_t *lkv__causal_members_put(const lkv_causal_member_t *m, uint8_t *p, int all);
size_t lkv__causal_members_take(lkv__causal_reader_t *r, lkv_causal_member_t *m, uint32_t *marked);
void lkv__causal_members_undo(lkv_causal_member_t *m, size_t before, uint32_t marked);

#endif
