/* Per-thread cache of reset LMDB read transactions, so a read does not take LMDB's reader-table lock. */
#include <stdlib.h>

#include "mvcc/internal.h"

/*
 * With MDB_NOTLS every mdb_txn_begin(RDONLY) claims a reader slot under a process-shared mutex; a reset
 * transaction keeps its slot and mdb_txn_renew reuses it without locking. Each thread keeps one reset
 * transaction (with its transaction struct and key cursor) per store in a slot owned by the store, so
 * lkv_mvcc_close can abort them all, whichever threads made them. A thread finds its slot through a
 * thread-local pointer tagged with the store's serial number, so a pointer left over from a closed
 * store is never followed.
 */
struct lkv__read_slot_s {
  lkv__read_slot_t *next;
  const void *owner; /* address of the owning thread's thread-local tag */
  int busy;          /* handed out; touched only by the owning thread */
  lkv_mvcc_txn_t t;  /* t.txn: reset transaction or NULL; t.key_cur: cursor or NULL */
};

static _Thread_local struct {
  uint64_t serial;
  lkv__read_slot_t *slot;
} tls;

/* The calling thread's slot in s, created on first use; NULL if out of memory. */
static lkv__read_slot_t *my_slot(lkv_mvcc_t *s) {
  if (tls.serial == s->serial) return tls.slot;
  const void *me = &tls;
  lkv__read_slot_t *slot;
  pthread_mutex_lock(&s->slots_mu);
  /* A thread that alternates between stores finds its old slot again instead of adding one. */
  for (slot = s->slots; slot && slot->owner != me; slot = slot->next) {
  }
  if (!slot && (slot = calloc(1, sizeof(*slot)))) {
    slot->owner = me;
    slot->t.s = s;
    slot->t.slot = slot;
    slot->next = s->slots;
    s->slots = slot;
  }
  pthread_mutex_unlock(&s->slots_mu);
  if (slot) {
    tls.serial = s->serial;
    tls.slot = slot;
  }
  return slot;
}

lkv_mvcc_txn_t *lkv__read_cache_take(lkv_mvcc_t *s) {
  lkv__read_slot_t *slot = my_slot(s);
  if (!slot || slot->busy) return NULL; /* nested reads on one thread use fresh transactions */
  slot->busy = 1;
  lkv_mvcc_txn_t *t = &slot->t;
  if (t->txn && mdb_txn_renew(t->txn) != 0) {
    if (t->key_cur) mdb_cursor_close(t->key_cur);
    mdb_txn_abort(t->txn);
    t->txn = t->top = NULL;
    t->key_cur = NULL;
  }
  t->key_cur_stale = 1;
  return t;
}

void lkv__read_cache_give(lkv_mvcc_txn_t *t) {
  if (t->txn) mdb_txn_reset(t->txn); /* the cursor stays bound to it and is renewed on next use */
  t->slot->busy = 0;
}

void lkv__read_cache_reset(lkv_mvcc_t *s) {
  pthread_mutex_lock(&s->slots_mu);
  for (lkv__read_slot_t *slot = s->slots; slot; slot = slot->next) {
    if (slot->t.key_cur) mdb_cursor_close(slot->t.key_cur);
    if (slot->t.txn) mdb_txn_abort(slot->t.txn);
    slot->t.txn = slot->t.top = NULL;
    slot->t.key_cur = NULL;
  }
  pthread_mutex_unlock(&s->slots_mu);
}

void lkv__read_cache_close(lkv_mvcc_t *s) {
  pthread_mutex_lock(&s->slots_mu);
  lkv__read_slot_t *slot = s->slots;
  s->slots = NULL;
  pthread_mutex_unlock(&s->slots_mu);
  while (slot) {
    lkv__read_slot_t *next = slot->next;
    if (slot->t.key_cur) mdb_cursor_close(slot->t.key_cur);
    if (slot->t.txn) mdb_txn_abort(slot->t.txn);
    free(slot);
    slot = next;
  }
}
