/* Each thread's cache of users' merged permissions (etcd's per-user range permission cache), so that a
 * permission check does not load and unpack the user and its roles every time. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apply/auth_internal.h"
#include "common/error.h"

/* An entry is valid for one store (its serial) at one auth epoch (lkv_mvcc_auth_epoch): every write of a
 * user, a role or the auth state moves the epoch in the same transaction, so an entry whose pair matches
 * the transaction's holds what loading the records again would give. (Not the auth revision: its callers
 * set it, causal mode's merges too.) A transaction that wrote auth state itself may roll it back and see
 * the same epoch with other records later: nothing it reads is cached. Each thread has its own cache (the
 * raft thread applying, each loop thread checking): no lock, nothing shared. */
#define SLOTS 64 /* direct-mapped by user name: a miss only costs the load the cache saves */

typedef struct entry_s {
  uint64_t serial, epoch;
  char *user; /* NULL: an empty slot */
  int found;  /* the user exists (else perms is empty) */
  lkv__auth_perms_t perms;
} entry_t;

typedef struct cache_s {
  entry_t slot[SLOTS];
  entry_t scratch; /* what a transaction that changed auth state reads: valid until the next call */
} cache_t;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int cache_key_err;

static void entry_clear(entry_t *e) {
  free(e->user);
  lkv__auth_perms_free(&e->perms);
  *e = (entry_t){0};
}

static void cache_free(void *arg) {
  cache_t *c = arg;
  for (size_t i = 0; i < SLOTS; i++) entry_clear(&c->slot[i]);
  entry_clear(&c->scratch);
  free(c);
}

static void cache_key_make(void) {
  cache_key_err = pthread_key_create(&cache_key, cache_free);
}

/* This thread's cache, made on first use; NULL when memory runs out (then nothing is cached). */
static cache_t *cache_get(void) {
  pthread_once(&cache_once, cache_key_make);
  if (cache_key_err) return NULL;
  cache_t *c = pthread_getspecific(cache_key);
  if (c) return c;
  c = calloc(1, sizeof(*c));
  if (c && pthread_setspecific(cache_key, c) != 0) {
    free(c);
    c = NULL;
  }
  return c;
}

/* FNV-1a over the name, mixed with the store's serial. */
static size_t slot_of(uint64_t serial, const char *user) {
  uint64_t h = 1469598103934665603ull ^ serial;
  for (const unsigned char *p = (const unsigned char *)user; *p; p++) h = (h ^ *p) * 1099511628211ull;
  return (size_t)(h % SLOTS);
}

/* Loads user and its roles from t and merges their permissions into e's (e is empty). A role the user
 * holds but that does not exist (root granted before the role was made, or a deleted one) grants
 * nothing. Returns 0 (e->found 0 for no such user) or a storage code. */
static int entry_load(lkv_mvcc_txn_t *t, const char *user, entry_t *e) {
  Authpb__User *u;
  int rc = lkv__auth_user_load(t, user, &u);
  if (rc) return rc == LKV_EUSERNOTFOUND ? 0 : rc;
  Authpb__Role **roles = calloc(u->n_roles + 1, sizeof(*roles));
  size_t n = 0;
  rc = roles ? 0 : LKV_ENOMEM;
  for (size_t i = 0; !rc && i < u->n_roles; i++) {
    rc = lkv__auth_role_load(t, u->roles[i], &roles[n]);
    if (!rc) n++;
    if (rc == LKV_EROLENOTFOUND) rc = 0;
  }
  if (!rc) rc = lkv__auth_perms_merge(roles, n, &e->perms);
  if (!rc) {
    e->found = 1;
    e->perms.root = lkv__auth_user_has_role(u, LKV__AUTH_ROOT);
  }
  for (size_t i = 0; i < n; i++) protobuf_c_message_free_unpacked(&roles[i]->base, NULL);
  free(roles);
  protobuf_c_message_free_unpacked(&u->base, NULL);
  return rc;
}

int lkv__auth_perms_get(lkv_mvcc_txn_t *t, const char *user, const lkv__auth_perms_t **out) {
  cache_t *c = cache_get();
  if (!c) return LKV_ENOMEM;
  uint64_t serial = lkv_mvcc_txn_serial(t), epoch;
  int rc = lkv_mvcc_auth_epoch(t, &epoch);
  if (rc) return rc;
  int cacheable = !lkv_mvcc_auth_changed(t);
  entry_t *e = cacheable ? &c->slot[slot_of(serial, user)] : &c->scratch;
  if (!cacheable || !e->user || e->serial != serial || e->epoch != epoch || strcmp(e->user, user) != 0) {
    entry_clear(e);
    rc = entry_load(t, user, e);
    if (!rc && !(e->user = strdup(user))) rc = LKV_ENOMEM;
    if (rc) {
      entry_clear(e);
      return rc;
    }
    e->serial = serial;
    e->epoch = epoch;
  }
  *out = &e->perms;
  return e->found ? 0 : LKV_EUSERNOTFOUND;
}
