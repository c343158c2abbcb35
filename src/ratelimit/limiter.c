/* The limiter: its policy and the table of identities (hash chains and an LRU list), admissions, reloads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/error.h"
#include "ratelimit/internal.h"

/* Identities least recently seen are looked at for idle eviction on every admission, this many at most. */
#define SWEEP 2
#define MIN_SLOTS 64

typedef struct entry_s {
  struct entry_s *hnext;         /* the hash chain */
  struct entry_s *older, *newer; /* the LRU list */
  uint64_t hash;
  lkv_ratelimit_bucket_t req, bytes;
  size_t len;
  char id[];
} entry_t;

struct lkv_ratelimit_s {
  pthread_mutex_t mu;
  lkv_ratelimit_policy_t p; /* p.exempt unused: see exempt */
  lkv__ratelimit_exempt_t exempt;
  atomic_int enabled, by;
  entry_t **slots;
  size_t n_slots; /* a power of two */
  size_t count;
  entry_t *newest, *oldest;
  uint64_t seed;
  lkv_ratelimit_stats_t stats;
};

static uint64_t req_size(const lkv_ratelimit_policy_t *p) {
  return p->burst ? p->burst : p->requests;
}

static uint64_t bytes_size(const lkv_ratelimit_policy_t *p) {
  return p->bytes_burst ? p->bytes_burst : p->bytes;
}

/* FNV-1a from a random seed, then a final mix: clients choose their addresses and names, not the seed. */
static uint64_t hash_of(uint64_t seed, const char *s, size_t n) {
  uint64_t h = 14695981039346656037ull ^ seed;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

static void lru_unlink(lkv_ratelimit_t *rl, entry_t *e) {
  if (e->older)
    e->older->newer = e->newer;
  else
    rl->oldest = e->newer;
  if (e->newer)
    e->newer->older = e->older;
  else
    rl->newest = e->older;
  e->older = e->newer = NULL;
}

static void lru_push_newest(lkv_ratelimit_t *rl, entry_t *e) {
  e->older = rl->newest;
  e->newer = NULL;
  if (rl->newest)
    rl->newest->newer = e;
  else
    rl->oldest = e;
  rl->newest = e;
}

static void remove_entry(lkv_ratelimit_t *rl, entry_t *e) {
  entry_t **pp = &rl->slots[e->hash & (rl->n_slots - 1)];
  while (*pp != e) pp = &(*pp)->hnext;
  *pp = e->hnext;
  lru_unlink(rl, e);
  rl->count--;
  free(e);
}

static void clear_table(lkv_ratelimit_t *rl) {
  while (rl->oldest) remove_entry(rl, rl->oldest);
}

/* Doubles the slots once the chains average more than one entry; without memory, chains grow instead. */
static void maybe_grow(lkv_ratelimit_t *rl) {
  if (rl->count < rl->n_slots) return;
  size_t n = rl->n_slots * 2;
  entry_t **slots = calloc(n, sizeof(*slots));
  if (!slots) return;
  for (size_t i = 0; i < rl->n_slots; i++) {
    for (entry_t *e = rl->slots[i], *next; e; e = next) {
      next = e->hnext;
      e->hnext = slots[e->hash & (n - 1)];
      slots[e->hash & (n - 1)] = e;
    }
  }
  free(rl->slots);
  rl->slots = slots;
  rl->n_slots = n;
}

static void refill(const lkv_ratelimit_policy_t *p, entry_t *e, uint64_t now_ns) {
  lkv_ratelimit_bucket_refill(&e->req, p->requests, req_size(p), now_ns);
  lkv_ratelimit_bucket_refill(&e->bytes, p->bytes, bytes_size(p), now_ns);
}

/* Drops the least recently seen identities whose buckets have filled up again: a fresh entry would be the
 * same, so forgetting them changes no client's limit. Never drops keep. */
static void sweep_idle(lkv_ratelimit_t *rl, const entry_t *keep, uint64_t now_ns) {
  for (int i = 0; i < SWEEP && rl->oldest && rl->oldest != keep; i++) {
    entry_t *e = rl->oldest;
    refill(&rl->p, e, now_ns);
    if (!lkv_ratelimit_bucket_full(&e->req, req_size(&rl->p)) ||
        !lkv_ratelimit_bucket_full(&e->bytes, bytes_size(&rl->p)))
      return;
    remove_entry(rl, e);
    rl->stats.evicted_idle++;
  }
}

static entry_t *find(lkv_ratelimit_t *rl, uint64_t h, const char *id, size_t len) {
  for (entry_t *e = rl->slots[h & (rl->n_slots - 1)]; e; e = e->hnext)
    if (e->hash == h && e->len == len && memcmp(e->id, id, len) == 0) return e;
  return NULL;
}

/* A new identity with full buckets, making room first. NULL without memory. */
static entry_t *add(lkv_ratelimit_t *rl, uint64_t h, const char *id, size_t len, uint64_t now_ns) {
  while (rl->count >= rl->p.max_identities && rl->oldest) {
    remove_entry(rl, rl->oldest);
    rl->stats.evicted_cap++;
  }
  entry_t *e = malloc(sizeof(*e) + len);
  if (!e) return NULL;
  memcpy(e->id, id, len);
  e->len = len;
  e->hash = h;
  lkv_ratelimit_bucket_init(&e->req, req_size(&rl->p), now_ns);
  lkv_ratelimit_bucket_init(&e->bytes, bytes_size(&rl->p), now_ns);
  maybe_grow(rl);
  e->hnext = rl->slots[h & (rl->n_slots - 1)];
  rl->slots[h & (rl->n_slots - 1)] = e;
  lru_push_newest(rl, e);
  rl->count++;
  return e;
}

lkv_ratelimit_verdict_t lkv_ratelimit_admit(lkv_ratelimit_t *rl, const char *method, size_t method_len,
                                            const char *id, size_t id_len, uint64_t bytes, uint64_t now_ns,
                                            uint64_t *limit) {
  if (!atomic_load_explicit(&rl->enabled, memory_order_relaxed)) return LKV_RATELIMIT_ADMITTED;
  lkv_ratelimit_verdict_t v = LKV_RATELIMIT_ADMITTED;
  uint64_t h = hash_of(rl->seed, id, id_len);
  pthread_mutex_lock(&rl->mu);
  if (method && lkv__ratelimit_exempt_match(&rl->exempt, method, method_len)) {
    pthread_mutex_unlock(&rl->mu);
    return LKV_RATELIMIT_ADMITTED;
  }
  const lkv_ratelimit_policy_t *p = &rl->p;
  entry_t *e = find(rl, h, id, id_len);
  if (e) {
    refill(p, e, now_ns);
    lru_unlink(rl, e);
    lru_push_newest(rl, e);
  } else {
    sweep_idle(rl, NULL, now_ns);
    e = add(rl, h, id, id_len, now_ns);
  }
  if (e && p->requests && !lkv_ratelimit_bucket_can_pay(&e->req, 1, req_size(p))) {
    v = LKV_RATELIMIT_OVER_REQUESTS;
    if (limit) *limit = p->requests;
  } else if (e && p->bytes && !lkv_ratelimit_bucket_can_pay(&e->bytes, bytes, bytes_size(p))) {
    v = LKV_RATELIMIT_OVER_BYTES;
    if (limit) *limit = p->bytes;
  } else if (e) {
    e->req.tokens -= p->requests ? 1 : 0;
    e->bytes.tokens -= p->bytes ? (double)bytes : 0;
  }
  sweep_idle(rl, e, now_ns);
  pthread_mutex_unlock(&rl->mu);
  return v;
}

int lkv_ratelimit_policy_check(const lkv_ratelimit_policy_t *p, char *err, size_t errlen) {
  if (p->max_identities < 1) {
    if (errlen > 0) snprintf(err, errlen, "rate limit: the number of identities kept must be at least 1");
    return LKV_EINVAL;
  }
  return lkv__ratelimit_exempt_check(p->exempt, err, errlen);
}

/* Installs p (with its parsed exempt list, taken) under the lock. */
static void install(lkv_ratelimit_t *rl, const lkv_ratelimit_policy_t *p, lkv__ratelimit_exempt_t *exempt) {
  int enabled = p->requests || p->bytes;
  if (!enabled || p->by != rl->p.by) clear_table(rl);
  lkv__ratelimit_exempt_free(&rl->exempt);
  rl->exempt = *exempt;
  rl->p = *p;
  rl->p.exempt = NULL;
  for (entry_t *e = rl->oldest; e; e = e->newer) { /* a smaller burst applies at once */
    if (e->req.tokens > (double)req_size(p)) e->req.tokens = (double)req_size(p);
    if (e->bytes.tokens > (double)bytes_size(p)) e->bytes.tokens = (double)bytes_size(p);
  }
  while (rl->count > p->max_identities) {
    remove_entry(rl, rl->oldest);
    rl->stats.evicted_cap++;
  }
  atomic_store(&rl->by, (int)p->by);
  atomic_store(&rl->enabled, enabled);
}

int lkv_ratelimit_set_policy(lkv_ratelimit_t *rl, const lkv_ratelimit_policy_t *p, char *err, size_t errlen) {
  lkv__ratelimit_exempt_t exempt;
  int rc = lkv_ratelimit_policy_check(p, err, errlen);
  if (rc == 0) rc = lkv__ratelimit_exempt_parse(p->exempt, &exempt, err, errlen);
  if (rc) return rc;
  pthread_mutex_lock(&rl->mu);
  install(rl, p, &exempt);
  pthread_mutex_unlock(&rl->mu);
  return 0;
}

int lkv_ratelimit_new(lkv_ratelimit_t **out, const lkv_ratelimit_policy_t *p, char *err, size_t errlen) {
  lkv_ratelimit_t *rl = calloc(1, sizeof(*rl));
  if (!rl) return LKV_ENOMEM;
  rl->n_slots = MIN_SLOTS;
  rl->slots = calloc(rl->n_slots, sizeof(*rl->slots));
  if (!rl->slots) {
    free(rl);
    return LKV_ENOMEM;
  }
  if (getrandom(&rl->seed, sizeof(rl->seed), GRND_NONBLOCK) != (ssize_t)sizeof(rl->seed))
    rl->seed = (uint64_t)(uintptr_t)rl; /* no entropy yet: still unknown to clients */
  pthread_mutex_init(&rl->mu, NULL);
  rl->p.by = p->by;
  int rc = lkv_ratelimit_set_policy(rl, p, err, errlen);
  if (rc) {
    lkv_ratelimit_free(rl);
    return rc;
  }
  *out = rl;
  return 0;
}

void lkv_ratelimit_free(lkv_ratelimit_t *rl) {
  if (!rl) return;
  clear_table(rl);
  lkv__ratelimit_exempt_free(&rl->exempt);
  free(rl->slots);
  pthread_mutex_destroy(&rl->mu);
  free(rl);
}

int lkv_ratelimit_enabled(const lkv_ratelimit_t *rl) {
  return atomic_load_explicit(&rl->enabled, memory_order_relaxed);
}

lkv_ratelimit_by_t lkv_ratelimit_by(const lkv_ratelimit_t *rl) {
  return (lkv_ratelimit_by_t)atomic_load_explicit(&rl->by, memory_order_relaxed);
}

void lkv_ratelimit_stats(lkv_ratelimit_t *rl, lkv_ratelimit_stats_t *out) {
  pthread_mutex_lock(&rl->mu);
  *out = rl->stats;
  out->identities = rl->count;
  pthread_mutex_unlock(&rl->mu);
}
