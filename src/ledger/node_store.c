/* The perfect-subtree hash file: post-order layout, append, recovery, O(1)-read node lookups. */
#include "ledger/node_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/error.h"
#include "ledger/internal.h"

#define NODES_MAGIC "lkvnodes"
#define NODES_VERSION 1
#define H LKV_MERKLE_HASH_LEN

struct lkv_ledger_nodes_s {
  int fd;
  _Atomic uint64_t size;          /* leaves whose nodes are all written; published after the write */
  lkv_merkle_frontier_t frontier; /* writer's */
  uint8_t *wbuf;                  /* reused write buffer */
  size_t wcap;
  lkv_merkle_frontier_t base; /* the subtrees below the base (base.size), kept in memory, not in the file */
};

/* Nodes held by a tree of n leaves. */
static uint64_t nodes_for(uint64_t n) {
  return 2 * n - (uint64_t)__builtin_popcountll(n);
}

static uint64_t node_offset(unsigned level, uint64_t index) {
  uint64_t last = ((index + 1) << level) - 1;
  return LKV__FILE_HEADER_LEN + (uint64_t)H * (nodes_for(last) + level);
}

static int read_node(const lkv_ledger_nodes_t *ns, unsigned level, uint64_t index, lkv_merkle_hash_t *out) {
  return lkv__pread_full(ns->fd, out->b, H, node_offset(level, index));
}

/* Reads subtree (level, index) of a tree of at least `base` leaves. A subtree ending below the base is
 * one of the base's own (in memory) or gone; every other one ends at or after the base and was written
 * by an append after it (docs/ledger.md, "The base": the proofs need no other). */
static int get_unchecked(void *arg, unsigned level, uint64_t index, lkv_merkle_hash_t *out) {
  lkv_ledger_nodes_t *ns = arg;
  uint64_t base = ns->base.size;
  if (((index + 1) << level) > base) return read_node(ns, level, index, out);
  if (((base >> level) & 1) && index == (base >> level) - 1) {
    *out = ns->base.h[level];
    return 0;
  }
  return LKV_ELEDGERPRUNED;
}

int lkv_ledger_nodes_get(void *arg, unsigned level, uint64_t index, lkv_merkle_hash_t *out) {
  lkv_ledger_nodes_t *ns = arg;
  uint64_t size = atomic_load_explicit(&ns->size, memory_order_acquire);
  if (level >= LKV_MERKLE_LEVELS || index >= (size >> level)) return LKV_EINVAL;
  return get_unchecked(ns, level, index, out);
}

/* Whether the nodes completed by leaf `last` hash up from their children (a torn or zeroed tail does
 * not). Returns 1, 0, or a negative code on a read error. */
static int last_group_ok(const lkv_ledger_nodes_t *ns, uint64_t last) {
  unsigned levels = (unsigned)__builtin_ctzll(~last);
  for (unsigned level = 1; level <= levels; level++) {
    uint64_t index = last >> level;
    lkv_merkle_hash_t l, r, want, have;
    int rc;
    if ((rc = get_unchecked((void *)ns, level - 1, 2 * index, &l)) ||
        (rc = get_unchecked((void *)ns, level - 1, 2 * index + 1, &r)) ||
        (rc = read_node(ns, level, index, &have)))
      return rc;
    lkv_merkle_node_hash(&l, &r, &want);
    if (memcmp(want.b, have.b, H)) return 0;
  }
  return 1;
}

/* The most leaves whose nodes fit in `count` stored nodes (nodes_for is strictly increasing). */
static uint64_t leaves_in(uint64_t count) {
  uint64_t lo = 0, hi = count / 2 + 64;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if (nodes_for(mid) <= count)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

/* Cuts the file to exactly `size` leaves and reloads the frontier. */
static int set_size(lkv_ledger_nodes_t *ns, uint64_t size) {
  if (ftruncate(ns->fd, (off_t)(LKV__FILE_HEADER_LEN + (uint64_t)H * nodes_for(size)))) return -errno;
  atomic_store_explicit(&ns->size, size, memory_order_release);
  return lkv_merkle_frontier_load(&ns->frontier, size, get_unchecked, ns);
}

int lkv_ledger_nodes_open(lkv_ledger_nodes_t **out, const char *path, const lkv_merkle_frontier_t *base,
                          uint64_t *dropped) {
  uint64_t file_size;
  int fresh, rc;
  lkv_ledger_nodes_t *ns = calloc(1, sizeof(*ns));
  if (!ns) return LKV_ENOMEM;
  if (base) ns->base = *base;
  if ((rc = lkv__file_open(path, NODES_MAGIC, NODES_VERSION, NULL, &ns->fd, &file_size, &fresh)))
    goto err_after_alloc;
  uint64_t whole = leaves_in((file_size - LKV__FILE_HEADER_LEN) / H), size = whole;
  if (size < ns->base.size) size = ns->base.size;
  /* Without a sync the file system may keep a later block and lose an earlier one; walk back over
   * leaves whose nodes do not check out. */
  while (size > ns->base.size) {
    rc = last_group_ok(ns, size - 1);
    if (rc < 0) goto err_after_file;
    if (rc == 1) break;
    size--;
  }
  if ((rc = set_size(ns, size))) goto err_after_file;
  if (dropped) *dropped = whole > size ? whole - size : 0;
  *out = ns;
  return 0;

err_after_file:
  close(ns->fd);
err_after_alloc:
  free(ns);
  return rc;
}

void lkv_ledger_nodes_close(lkv_ledger_nodes_t *ns) {
  if (!ns) return;
  fdatasync(ns->fd);
  close(ns->fd);
  free(ns->wbuf);
  free(ns);
}

uint64_t lkv_ledger_nodes_size(const lkv_ledger_nodes_t *ns) {
  return atomic_load_explicit(&((lkv_ledger_nodes_t *)ns)->size, memory_order_acquire);
}

int lkv_ledger_nodes_append(lkv_ledger_nodes_t *ns, const lkv_merkle_hash_t *leaves, size_t n) {
  uint64_t size = atomic_load_explicit(&ns->size, memory_order_relaxed);
  if (n == 0) return 0;
  if (n >= (UINT64_C(1) << 62) || size + n >= (UINT64_C(1) << 63)) return LKV_EINVAL;
  uint64_t bytes = (uint64_t)H * (nodes_for(size + n) - nodes_for(size));
  if (bytes > ns->wcap) {
    uint8_t *b = realloc(ns->wbuf, bytes);
    if (!b) return LKV_ENOMEM;
    ns->wbuf = b;
    ns->wcap = bytes;
  }
  /* Post-order is append order: the nodes each leaf completes go right after the previous leaf's. */
  lkv_merkle_frontier_t f = ns->frontier;
  lkv_merkle_hash_t completed[LKV_MERKLE_LEVELS];
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) {
    int count = lkv_merkle_frontier_append(&f, &leaves[i], completed);
    memcpy(ns->wbuf + pos, completed, (size_t)count * H);
    pos += (size_t)count * H;
  }
  int rc = lkv__pwrite_full(ns->fd, ns->wbuf, pos, LKV__FILE_HEADER_LEN + (uint64_t)H * nodes_for(size));
  if (rc) {
    /* Leave no partial nodes behind for a later append to skip over. */
    if (ftruncate(ns->fd, (off_t)(LKV__FILE_HEADER_LEN + (uint64_t)H * nodes_for(size)))) return -errno;
    return rc;
  }
  ns->frontier = f;
  atomic_store_explicit(&ns->size, size + n, memory_order_release);
  return 0;
}

int lkv_ledger_nodes_truncate(lkv_ledger_nodes_t *ns, uint64_t size) {
  if (size > atomic_load_explicit(&ns->size, memory_order_relaxed) || size < ns->base.size) return LKV_EINVAL;
  return set_size(ns, size);
}

uint64_t lkv_ledger_nodes_base(const lkv_ledger_nodes_t *ns) {
  return ns->base.size;
}

int lkv_ledger_nodes_set_base(lkv_ledger_nodes_t *ns, const lkv_merkle_frontier_t *base) {
  if (base->size < ns->base.size || base->size > atomic_load_explicit(&ns->size, memory_order_relaxed))
    return LKV_EINVAL;
  ns->base = *base;
  return 0;
}

int lkv_ledger_nodes_reset(lkv_ledger_nodes_t *ns, const lkv_merkle_frontier_t *base) {
  ns->base = *base;
  ns->frontier = *base;
  atomic_store_explicit(&ns->size, base->size, memory_order_release);
  /* Nothing written before stays: the file becomes a hole up to where the base's successors go. */
  if (ftruncate(ns->fd, LKV__FILE_HEADER_LEN) ||
      ftruncate(ns->fd, (off_t)(LKV__FILE_HEADER_LEN + (uint64_t)H * nodes_for(base->size))))
    return -errno;
  return 0;
}

int lkv_ledger_nodes_punch(lkv_ledger_nodes_t *ns) {
  uint64_t len = (uint64_t)H * nodes_for(ns->base.size);
  if (len && fallocate(ns->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, LKV__FILE_HEADER_LEN, (off_t)len))
    return -errno;
  return 0;
}

int lkv_ledger_nodes_sync(lkv_ledger_nodes_t *ns) {
  return fdatasync(ns->fd) ? -errno : 0;
}

void lkv_ledger_nodes_root(const lkv_ledger_nodes_t *ns, lkv_merkle_hash_t *out) {
  lkv_merkle_frontier_root(&ns->frontier, out);
}
