/* The ledger's base: frontiers of any size, starting over from a frontier, and retention below a base. */
#include <stdatomic.h>

#include "common/error.h"
#include "ledger/handle.h"
#include "ledger/log_internal.h"

uint64_t lkv_ledger_base(lkv_ledger_t *l) {
  return lkv_ledger_log_base(l->log);
}

/* The frontier at size; the caller keeps base changes out (shared lock or base_mu). */
static int frontier_of(lkv_ledger_t *l, uint64_t size, lkv_ledger_frontier_t *out) {
  lkv_merkle_frontier_t m;
  lkv_ledger_log_meta_t last;
  uint64_t base = lkv_ledger_nodes_base(l->nodes);
  int rc;
  if (size < base) return LKV_ELEDGERPRUNED;
  if (size > lkv_ledger_nodes_size(l->nodes)) return LKV_EINVAL;
  if ((rc = lkv_merkle_frontier_load(&m, size, lkv_ledger_nodes_get, l->nodes))) return rc;
  if (size == base) {
    lkv_ledger_log_base_frontier(l->log, out);
    return 0;
  }
  if ((rc = lkv_ledger_log_meta(l->log, size - 1, &last))) return rc;
  lkv_ledger_frontier_from_merkle(&m, last.revision, out);
  return 0;
}

int lkv_ledger_frontier_at(lkv_ledger_t *l, uint64_t size, lkv_ledger_frontier_t *out) {
  pthread_rwlock_rdlock(&l->rw);
  int rc = frontier_of(l, size, out);
  pthread_rwlock_unlock(&l->rw);
  return rc;
}

static int is_frontier(const lkv_ledger_frontier_t *f) {
  return f->size < (UINT64_C(1) << 63) && f->n == (size_t)__builtin_popcountll(f->size) &&
         f->last_revision >= 0 && (f->size > 0 || f->last_revision == 0);
}

int lkv_ledger_reset(lkv_ledger_t *l, const lkv_ledger_frontier_t *f) {
  lkv_merkle_frontier_t m;
  int rc;
  if (!is_frontier(f) || (l->has_head && f->size < l->head.head.tree_size)) return LKV_EINVAL;
  lkv_ledger_frontier_to_merkle(f, &m);
  pthread_mutex_lock(&l->base_mu);
  pthread_rwlock_wrlock(&l->rw);
  /* The log's reset is the durable switch; the node store is derived and follows it (a crash before it
   * is repaired by open, which rebuilds the nodes above the base from the log). */
  if (!(rc = lkv_ledger_log_reset(l->log, f))) l->nodes_err = rc = lkv_ledger_nodes_reset(l->nodes, &m);
  l->resets++;
  pthread_rwlock_unlock(&l->rw);
  pthread_mutex_unlock(&l->base_mu);
  return rc;
}

int lkv_ledger_retain(lkv_ledger_t *l, uint64_t base) {
  lkv_ledger_frontier_t f;
  lkv_merkle_frontier_t m;
  pthread_mutex_lock(&l->base_mu);
  int rc = 0;
  if (base <= lkv_ledger_log_base(l->log)) goto out;
  if ((rc = frontier_of(l, base, &f))) goto out;
  lkv_ledger_frontier_to_merkle(&f, &m);
  pthread_rwlock_wrlock(&l->rw);
  if (!(rc = lkv_ledger_log_set_base(l->log, &f))) rc = lkv_ledger_nodes_set_base(l->nodes, &m);
  pthread_rwlock_unlock(&l->rw);
  /* Readers that could still read below the new base held the lock: from here on nobody does. */
  if (!rc && !(rc = lkv_ledger_log_punch(l->log))) rc = lkv_ledger_nodes_punch(l->nodes);
out:
  pthread_mutex_unlock(&l->base_mu);
  return rc;
}

int lkv_ledger_retention_base(lkv_ledger_t *l, const lkv_ledger_retention_t *p, int64_t covered_revision,
                              uint64_t *base) {
  uint64_t cur = lkv_ledger_log_base(l->log), count = lkv_ledger_log_count(l->log), limit = cur, by_size;
  int rc;
  *base = cur;
  if (!p->records && !p->bytes) return 0;
  /* A rebuild replays from the first record of the checkpoint's revision on: keep it and what follows. */
  rc = lkv_ledger_log_lower_bound(l->log, covered_revision, &limit);
  if (rc == LKV_ELEDGERPRUNED) return 0;
  if (rc) return rc;
  uint64_t want = limit;
  if (p->records) want = count > p->records ? count - p->records : 0;
  if (p->bytes) {
    uint64_t end = atomic_load_explicit(&l->log->end, memory_order_acquire);
    if ((rc = lkv_ledger_log_offset_bound(l->log, end > p->bytes ? end - p->bytes : 0, &by_size))) return rc;
    if (!p->records || by_size < want) want = by_size;
  }
  if (want > limit) want = limit;
  if (want > cur) *base = want;
  return 0;
}

void lkv_ledger_set_retention(lkv_ledger_t *l, const lkv_ledger_retention_t *p) {
  pthread_mutex_lock(&l->base_mu);
  l->retention = *p;
  pthread_mutex_unlock(&l->base_mu);
}

int lkv_ledger_apply_retention(lkv_ledger_t *l, int64_t covered_revision) {
  uint64_t base;
  pthread_mutex_lock(&l->base_mu);
  lkv_ledger_retention_t p = l->retention;
  pthread_mutex_unlock(&l->base_mu);
  int rc = lkv_ledger_retention_base(l, &p, covered_revision, &base);
  return rc ? rc : lkv_ledger_retain(l, base);
}
