/* The causal member's state, shared by member.c (events), member_sync.c (anti-entropy) and member_keys.c. */
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

struct lkv_causal_member_s {
  lkv_causal_config_t cfg;
  lkv_causal_peer_t members[LKV_CAUSAL_MAX_ORIGINS];
  size_t self; /* index of this member in members */
  lkv_causal_vv_t vv;
  lkv_causal_hlc_t clock;
  int started; /* an input other than replay came: replay is over */

  /* Applied events in local order: log.v[i] has revision i + 1. */
  LKV__CAUSAL_VEC(lkv_causal_held_t) log;
  /* Per member index: the log position of each of its events (pos[i].v[seq - 1]). */
  LKV__CAUSAL_VEC(size_t) pos[LKV_CAUSAL_MAX_ORIGINS];
  /* Keys with state, sorted by name. */
  LKV__CAUSAL_VEC(lkv_causal_key_t *) keys;
  lkv_causal_pending_t pending;
  /* The latest vector each member reported (merged: a member's durable vector only grows). */
  lkv_causal_vv_t reports[LKV_CAUSAL_MAX_ORIGINS];
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

/* member_keys.c: the key named (key, len), created with no siblings when create is set (else NULL). */
lkv_causal_key_t *lkv__causal_key_get(lkv_causal_member_t *m, const uint8_t *key, size_t len, int create);
/* member_keys.c: applies an applied event's write set to its keys at revision rev. */
void lkv__causal_keys_apply(lkv_causal_member_t *m, const lkv_causal_event_t *ev, uint64_t rev);
/* member_keys.c: purges sole tombstones that are stable (docs/causal.md §7). */
void lkv__causal_keys_purge(lkv_causal_member_t *m);

#endif
