/* The ledger handle: opening and cross-checking log, node store and key; append, sign, receipts. */
#include "ledger/ledger.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "ledger/handle.h"
#include "ledger/head_log.h"

/* Leaves re-added to the node store per write while catching up. */
#define CATCH_UP_CHUNK 1024

static int reserve_leaves(lkv_ledger_t *l, size_t n) {
  if (n <= l->leaves_cap) return 0;
  lkv_merkle_hash_t *b = realloc(l->leaves, n * sizeof(*b));
  if (!b) return LKV_ENOMEM;
  l->leaves = b;
  l->leaves_cap = n;
  return 0;
}

/* Adds the leaves of the log records the node store does not have yet, verifying each record. */
static int catch_up(lkv_ledger_t *l) {
  lkv_ledger_log_iter_t it;
  lkv_ledger_entry_t e;
  size_t k = 0;
  int rc = reserve_leaves(l, CATCH_UP_CHUNK);
  if (!rc) rc = lkv_ledger_log_iter_init(&it, l->log, lkv_ledger_nodes_size(l->nodes));
  if (rc) return l->nodes_err = rc;
  while ((rc = lkv_ledger_log_iter_next(&it, &e, &l->leaves[k])) == 1) {
    if (++k < CATCH_UP_CHUNK) continue;
    if ((rc = lkv_ledger_nodes_append(l->nodes, l->leaves, k))) break;
    k = 0;
  }
  if (rc == 0 && k) rc = lkv_ledger_nodes_append(l->nodes, l->leaves, k);
  lkv_ledger_log_iter_free(&it);
  return l->nodes_err = rc;
}

/* The last head of a version-1 log, signed before heads moved to ledger.heads. */
static int last_head_leaf(lkv_ledger_t *l, lkv_ledger_signed_head_t *out) {
  lkv_ledger_log_record_t rec = {0};
  uint64_t i;
  int rc = lkv_ledger_log_find_last(l->log, LKV_LEDGER_SIGNED_TREE_HEAD, &i);
  if (!rc) rc = lkv_ledger_log_read(l->log, i, &rec);
  if (!rc) *out = rec.entry.sth;
  lkv_ledger_log_record_free(&rec);
  return rc;
}

/* Loads the latest signed head: the last of ledger.heads, or, before any was written there, the last head
 * leaf of a version-1 log. It must verify and cover no more records than the log holds (the log is synced
 * before its records are signed, so a head beyond it means records were lost). */
static int load_head(lkv_ledger_t *l) {
  lkv_ledger_signed_head_t h;
  uint64_t n = lkv_ledger_head_log_count(l->heads);
  int rc;
  if (n > 0)
    rc = lkv_ledger_head_log_read(l->heads, n - 1, &h);
  else if (lkv_ledger_log_version(l->log) == 1)
    rc = last_head_leaf(l, &h);
  else
    return 0;
  if (rc == LKV_ENOENT && n == 0) return 0;
  if (!rc && (lkv_ledger_sth_verify(&h, NULL) || h.head.tree_size > lkv_ledger_log_count(l->log)))
    rc = LKV_ECORRUPT;
  if (!rc) {
    l->head = h;
    l->has_head = 1;
  }
  return rc;
}

static int root_matches_head(lkv_ledger_t *l, int *match) {
  lkv_merkle_hash_t root;
  /* A head below the base cannot be recomputed; it was checked when it was made (docs/ledger.md). */
  *match = 1;
  if (l->head.head.tree_size < lkv_ledger_nodes_base(l->nodes)) return 0;
  int rc = lkv_merkle_root_at(l->head.head.tree_size, lkv_ledger_nodes_get, l->nodes, &root);
  if (!rc) *match = memcmp(root.b, l->head.head.root.b, LKV_MERKLE_HASH_LEN) == 0;
  return rc;
}

/* Brings the node store in line with the log (see ledger.h, crash consistency). */
static int sync_store(lkv_ledger_t *l, lkv_ledger_open_info_t *info) {
  uint64_t covered = l->has_head ? l->head.head.tree_size : 0, have = lkv_ledger_nodes_size(l->nodes);
  uint64_t base = lkv_ledger_nodes_base(l->nodes);
  int match = 1, rc;
  /* Nodes up to the last head were synced before it was written; the rest may be stale (and nodes of a
   * head below the base may predate a reset). Below the base nothing is recomputed: it is not stored. */
  uint64_t keep = have >= covered && covered >= base ? covered : base;
  if ((rc = lkv_ledger_nodes_truncate(l->nodes, keep)) || (rc = catch_up(l))) return rc;
  info->leaves_recomputed = lkv_ledger_log_count(l->log) - keep;
  if (!l->has_head || (rc = root_matches_head(l, &match)) || match) return rc;
  info->store_rebuilt = 1;
  if ((rc = lkv_ledger_nodes_truncate(l->nodes, base)) || (rc = catch_up(l)) ||
      (rc = root_matches_head(l, &match)))
    return rc;
  info->leaves_recomputed = lkv_ledger_log_count(l->log) - base;
  return match ? 0 : LKV_ECORRUPT;
}

/* Opens the node store at the log's base; one with a foreign header is derived data gone bad: start it
 * afresh. */
static int open_nodes(lkv_ledger_t *l, const char *path) {
  lkv_ledger_frontier_t f;
  lkv_merkle_frontier_t base;
  lkv_ledger_log_base_frontier(l->log, &f);
  lkv_ledger_frontier_to_merkle(&f, &base);
  int rc = lkv_ledger_nodes_open(&l->nodes, path, &base, NULL);
  if (rc != LKV_ECORRUPT) return rc;
  if (unlink(path)) return -errno;
  return lkv_ledger_nodes_open(&l->nodes, path, &base, NULL);
}

int lkv_ledger_open(lkv_ledger_t **out, const char *data_dir, lkv_ledger_open_info_t *info) {
  char dir[PATH_MAX], nodes[PATH_MAX];
  lkv_ledger_open_info_t scratch;
  int rc;
  if (!info) info = &scratch;
  memset(info, 0, sizeof(*info));
  if (snprintf(dir, sizeof(dir), "%s/ledger", data_dir) >= (int)sizeof(dir) ||
      snprintf(nodes, sizeof(nodes), "%s/ledger.nodes", dir) >= (int)sizeof(nodes))
    return LKV_EINVAL;
  lkv_ledger_t *l = calloc(1, sizeof(*l));
  if (!l) return LKV_ENOMEM;
  if ((rc = -pthread_mutex_init(&l->mu, NULL))) goto err_after_alloc;
  if ((rc = -pthread_rwlock_init(&l->rw, NULL))) goto err_after_mutex;
  if ((rc = -pthread_mutex_init(&l->base_mu, NULL))) goto err_after_rwlock;
  if ((rc = lkv_ledger_signer_open(&l->signer, data_dir, LKV_LEDGER_SIGNER_CREATE, &info->key_created)))
    goto err_after_base_mu;
  if ((rc = lkv_ledger_log_open(&l->log, dir, &info->log))) goto err_after_signer;
  if ((rc = lkv_ledger_head_log_open(&l->heads, dir, &info->heads))) goto err_after_log;
  if ((rc = open_nodes(l, nodes))) goto err_after_heads;
  if ((rc = load_head(l)) || (rc = sync_store(l, info))) goto err_after_nodes;
  /* After a crash between a base change and freeing what lies below it. */
  if (lkv_ledger_nodes_base(l->nodes) > 0) lkv_ledger_nodes_punch(l->nodes);
  info->key_changed =
      l->has_head && memcmp(l->head.public_key, lkv_ledger_signer_public_key(l->signer), LKV_LEDGER_KEY_LEN);
  *out = l;
  return 0;

err_after_nodes:
  lkv_ledger_nodes_close(l->nodes);
err_after_heads:
  lkv_ledger_head_log_close(l->heads);
err_after_log:
  lkv_ledger_log_close(l->log);
err_after_signer:
  lkv_ledger_signer_close(l->signer);
err_after_base_mu:
  pthread_mutex_destroy(&l->base_mu);
err_after_rwlock:
  pthread_rwlock_destroy(&l->rw);
err_after_mutex:
  pthread_mutex_destroy(&l->mu);
err_after_alloc:
  free(l->leaves);
  free(l);
  return rc;
}

void lkv_ledger_close(lkv_ledger_t *l) {
  if (!l) return;
  lkv_ledger_nodes_close(l->nodes);
  lkv_ledger_head_log_close(l->heads);
  lkv_ledger_log_close(l->log);
  lkv_ledger_signer_close(l->signer);
  pthread_mutex_destroy(&l->base_mu);
  pthread_rwlock_destroy(&l->rw);
  pthread_mutex_destroy(&l->mu);
  free(l->leaves);
  free(l);
}

int lkv_ledger_append(lkv_ledger_t *l, const lkv_ledger_entry_t *entries, size_t n) {
  uint64_t before = lkv_ledger_log_count(l->log);
  int rc = reserve_leaves(l, n);
  if (rc || (rc = lkv_ledger_log_append(l->log, entries, n, l->leaves))) return rc;
  /* The entries are durable now; the tree is derived and may lag (catch_up repairs it). */
  if (lkv_ledger_nodes_size(l->nodes) == before)
    l->nodes_err = lkv_ledger_nodes_append(l->nodes, l->leaves, n);
  else
    catch_up(l);
  return 0;
}

void lkv_ledger_defer_sync(lkv_ledger_t *l) {
  l->deferred = 1;
  lkv_ledger_log_defer_sync(l->log);
}

int lkv_ledger_flush(lkv_ledger_t *l) {
  return lkv_ledger_log_sync(l->log);
}

int lkv_ledger_needs_sign(lkv_ledger_t *l) {
  uint64_t count = lkv_ledger_log_count(l->log);
  pthread_mutex_lock(&l->mu); /* a signing thread may be publishing a head */
  int needs = l->has_head ? count > l->head.head.tree_size : count > 0;
  pthread_mutex_unlock(&l->mu);
  return needs;
}

int lkv_ledger_sign_prepare(lkv_ledger_t *l, uint64_t now_ms, lkv_ledger_sign_job_t *job) {
  lkv_ledger_sth_t *h = &job->head;
  *h = (lkv_ledger_sth_t){.tree_size = lkv_ledger_log_count(l->log),
                          .revision = lkv_ledger_log_last_revision(l->log),
                          .timestamp_ms = now_ms};
  int rc = 0;
  if (lkv_ledger_nodes_size(l->nodes) != h->tree_size && (rc = catch_up(l))) return rc;
  lkv_ledger_nodes_root(l->nodes, &h->root);
  pthread_mutex_lock(&l->base_mu);
  job->resets = l->resets;
  pthread_mutex_unlock(&l->base_mu);
  return 0;
}

int lkv_ledger_sign_finish(lkv_ledger_t *l, const lkv_ledger_sign_job_t *job, lkv_ledger_signed_head_t *out) {
  lkv_ledger_signed_head_t sh;
  const lkv_ledger_sth_t *h = &job->head;
  int rc;
  /* Held throughout: a reset must not change the files between these syncs and the head that trusts them. */
  pthread_mutex_lock(&l->base_mu);
  if (job->resets != l->resets) {
    rc = LKV_EAGAIN; /* the tree the head was taken of was replaced */
    goto out;
  }
  /* Sync the records and nodes this head covers first: after a crash, open trusts exactly those (records
   * are flushed here only when appends defer it). Appends may go on meanwhile: a flush covers at least
   * what was written before it. The index is synced at the same pace so that open never rescans more than
   * one interval of records. */
  if ((l->deferred && (rc = lkv_ledger_log_sync(l->log))) || (rc = lkv_ledger_nodes_sync(l->nodes)) ||
      (rc = lkv_ledger_log_sync_index(l->log, h->tree_size)) ||
      (rc = lkv_ledger_signer_sign(l->signer, h, &sh)) || (rc = lkv_ledger_head_log_append(l->heads, &sh)))
    goto out;
  pthread_mutex_lock(&l->mu);
  l->head = sh;
  l->has_head = 1;
  pthread_mutex_unlock(&l->mu);
  if (out) *out = sh;
out:
  pthread_mutex_unlock(&l->base_mu);
  return rc;
}

int lkv_ledger_sign(lkv_ledger_t *l, uint64_t now_ms, lkv_ledger_signed_head_t *out) {
  lkv_ledger_sign_job_t job;
  int rc = lkv_ledger_sign_prepare(l, now_ms, &job);
  return rc ? rc : lkv_ledger_sign_finish(l, &job, out);
}

int lkv_ledger_latest_head(lkv_ledger_t *l, lkv_ledger_signed_head_t *out) {
  pthread_mutex_lock(&l->mu);
  int has = l->has_head;
  if (has) *out = l->head;
  pthread_mutex_unlock(&l->mu);
  return has ? 0 : LKV_ENOENT;
}

static int receipt_locked(lkv_ledger_t *l, uint64_t index, lkv_ledger_receipt_t *out) {
  lkv_ledger_log_record_t rec = {0};
  int rc = lkv_ledger_latest_head(l, &out->sth);
  if (rc) return rc;
  if (index >= lkv_ledger_log_count(l->log)) return LKV_ENOENT;
  if (index < lkv_ledger_log_base(l->log)) return LKV_ELEDGERPRUNED;
  if (index >= out->sth.head.tree_size) return LKV_EAGAIN;
  if ((rc = lkv_ledger_log_read(l->log, index, &rec))) goto out;
  lkv_ledger_entry_leaf(&rec.entry, &out->leaf);
  out->leaf_index = index;
  rc =
      lkv_merkle_inclusion_proof(index, out->sth.head.tree_size, lkv_ledger_nodes_get, l->nodes, &out->proof);
out:
  lkv_ledger_log_record_free(&rec);
  return rc;
}

int lkv_ledger_receipt_at(lkv_ledger_t *l, uint64_t index, lkv_ledger_receipt_t *out) {
  pthread_rwlock_rdlock(&l->rw);
  int rc = receipt_locked(l, index, out);
  pthread_rwlock_unlock(&l->rw);
  return rc;
}

int lkv_ledger_receipt(lkv_ledger_t *l, int64_t revision, lkv_ledger_receipt_t *out) {
  uint64_t index;
  int rc = lkv_ledger_log_find_revision(l->log, revision, &index);
  return rc ? rc : lkv_ledger_receipt_at(l, index, out);
}

int lkv_ledger_consistency(lkv_ledger_t *l, uint64_t old_size, uint64_t new_size, lkv_merkle_proof_t *out) {
  if (new_size > lkv_ledger_nodes_size(l->nodes)) return LKV_EINVAL;
  /* Below the base the node store answers only the subtrees it keeps: a proof that needs another one
   * fails with LKV_ELEDGERPRUNED. */
  pthread_rwlock_rdlock(&l->rw);
  int rc = lkv_merkle_consistency_proof(old_size, new_size, lkv_ledger_nodes_get, l->nodes, out);
  pthread_rwlock_unlock(&l->rw);
  return rc;
}

const uint8_t *lkv_ledger_public_key(const lkv_ledger_t *l) {
  return lkv_ledger_signer_public_key(l->signer);
}

lkv_ledger_log_t *lkv_ledger_log(lkv_ledger_t *l) {
  return l->log;
}
