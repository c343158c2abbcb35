/* The durable log's lifecycle: open (lock, recover), compaction, accessors, close. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/grow.h"
#include "wal/internal.h"

static int check_options(const lkv_wal_options_t *opt) {
  if (opt->segment_size && (opt->segment_size < LKV_WAL_MIN_SEGMENT_SIZE ||
                            opt->segment_size > LKV_WAL_MAX_SEGMENT_SIZE || opt->segment_size % 8))
    return LKV_EINVAL;
  const lkv_wal_ops_t *o = opt->ops;
  if (o && (!o->pwrite || !o->fdatasync || !o->fsync || !o->fallocate)) return LKV_EINVAL;
  return 0;
}

/* Syncs the directory holding dir, so that a log directory just created is not lost with the machine
 * (its segments' names are synced in it, but its own name lives in the parent). */
static int sync_parent(lkv_wal_t *w) {
  char parent[sizeof(w->dir) + 4];
  snprintf(parent, sizeof(parent), "%s/..", w->dir);
  int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = w->ops->fsync(w->ops_arg, fd);
  close(fd);
  return rc;
}

/* Takes the directory's lock file: two writers on one log would interleave saves. */
static int lock_dir(lkv_wal_t *w) {
  w->lockfd = openat(w->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (w->lockfd < 0) return -errno;
  if (flock(w->lockfd, LOCK_EX | LOCK_NB)) return errno == EWOULDBLOCK ? LKV_EAGAIN : -errno;
  return 0;
}

static void free_restore(lkv_wal_t *w) {
  free(w->restore_entries);
  free(w->restore_data);
  w->restore_entries = NULL;
  w->restore_data = NULL;
}

void lkv_wal_close(lkv_wal_t *w) {
  if (!w) return;
  if (w->fd >= 0) close(w->fd);
  if (w->lockfd >= 0) close(w->lockfd);
  if (w->dirfd >= 0) close(w->dirfd);
  free_restore(w);
  free(w->slots);
  free(w->wbuf);
  free(w);
}

int lkv_wal_open(const char *dir, const lkv_wal_options_t *opt, lkv_wal_t **out,
                 lkv_raft_restore_t *restore) {
  lkv_wal_options_t defaults = {0};
  lkv_wal_recovery_t scratch;
  int rc;
  if (!opt) opt = &defaults;
  lkv_wal_recovery_t *rep = opt->recovery ? opt->recovery : &scratch;
  memset(rep, 0, sizeof(*rep));
  if (!dir || !out || !restore) return LKV_EINVAL;
  if ((rc = check_options(opt))) return rc;
  lkv_wal_t *w = calloc(1, sizeof(*w));
  if (!w) return LKV_ENOMEM;
  w->fd = w->lockfd = w->dirfd = -1;
  w->ops = opt->ops ? opt->ops : &lkv_wal_default_ops;
  w->ops_arg = opt->ops_arg;
  w->seg_size = opt->segment_size ? opt->segment_size : LKV_WAL_DEFAULT_SEGMENT_SIZE;
  if (snprintf(w->dir, sizeof(w->dir), "%s", dir) >= (int)sizeof(w->dir)) {
    rc = LKV_EINVAL;
    goto err;
  }
  if ((rc = lkv_fs_mkdirs(dir, 0700))) goto err;
  if ((w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    rc = -errno;
    goto err;
  }
  if ((rc = sync_parent(w)) || (rc = lock_dir(w)) || (rc = lkv__wal_recover(w, restore, rep))) goto err;
  if (w->halted) {
    rc = LKV_EHALTED;
    goto err;
  }
  *out = w;
  return 0;

err:
  lkv_wal_close(w);
  return rc;
}

int lkv_wal_compact(lkv_wal_t *w, uint64_t index) {
  int rc;
  if (w->halted) return LKV_EHALTED;
  free_restore(w);
  if (index > w->snap.index) return LKV_EINVAL;
  /* Segments are filled in order and entries replace only suffixes, so the segments holding the stored
   * entries never go down along the log: everything before the one holding index + 1 is dead (or before
   * the first stored entry, when an installed snapshot started the log above index). */
  uint64_t keep = w->seq, from = index + 1 > w->slot_base ? index + 1 : w->slot_base;
  if (from < w->slot_base + w->n_slots && w->slots[from - w->slot_base].seq < keep)
    keep = w->slots[from - w->slot_base].seq;
  if (keep <= w->first_seq) return 0;
  /* Oldest first: a crash in between leaves consecutive segments that still start with a checkpoint. */
  for (; w->first_seq < keep; w->first_seq++)
    if ((rc = lkv__wal_seg_unlink(w, w->first_seq))) break;
  if (index + 1 > w->slot_base) {
    uint64_t drop = index + 1 - w->slot_base;
    if (drop > w->n_slots) drop = w->n_slots;
    memmove(w->slots, w->slots + drop, (size_t)(w->n_slots - drop) * sizeof(*w->slots));
    w->n_slots -= (size_t)drop;
    w->slot_base += drop;
  }
  int drc = lkv__wal_sync_dir(w);
  return rc ? rc : drc;
}

uint64_t lkv_wal_last_index(const lkv_wal_t *w) {
  return w->n_slots ? w->slot_base + w->n_slots - 1 : w->snap.index;
}

lkv_raft_hard_state_t lkv_wal_hard_state(const lkv_wal_t *w) {
  return w->hs;
}

uint64_t lkv_wal_first_segment(const lkv_wal_t *w) {
  return w->first_seq;
}
