/* Recovery of the durable log: read every segment, replay whole saves, tell a torn tail from damage. */
#include "wal/recover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/grow.h"
#include "wal/internal.h"

static int cmp_seq(const void *a, const void *b) {
  uint64_t x = ((const lkv__wal_seg_t *)a)->seq, y = ((const lkv__wal_seg_t *)b)->seq;
  return x < y ? -1 : x > y;
}

/* Lists the segment files (and removes a leftover seg.tmp: a segment whose creation did not finish). */
static int list_segments(lkv__wal_scan_t *s) {
  size_t cap = 0;
  int dfd = dup(s->w->dirfd);
  if (dfd < 0) return -errno;
  DIR *d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    return -errno;
  }
  struct dirent *de;
  int rc = 0;
  while ((de = readdir(d))) {
    uint64_t seq;
    if (!strcmp(de->d_name, LKV__WAL_TMP_NAME)) unlinkat(s->w->dirfd, de->d_name, 0);
    if (!lkv__wal_seg_name_parse(de->d_name, &seq)) continue;
    if ((rc = lkv_grow((void **)&s->segs, &cap, s->n_segs + 1, sizeof(lkv__wal_seg_t)))) break;
    memset(&s->segs[s->n_segs], 0, sizeof(lkv__wal_seg_t));
    s->segs[s->n_segs++].seq = seq;
  }
  closedir(d);
  if (!rc && s->n_segs) qsort(s->segs, s->n_segs, sizeof(lkv__wal_seg_t), cmp_seq);
  return rc;
}

/* Maps every segment read-only and checks the headers and how they chain. */
static int map_segments(lkv__wal_scan_t *s) {
  for (size_t i = 0; i < s->n_segs; i++) {
    lkv__wal_seg_t *g = &s->segs[i];
    char name[32];
    struct stat st;
    lkv__wal_seg_name(name, g->seq);
    int fd = openat(s->w->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    if (fstat(fd, &st)) {
      int rc = -errno;
      close(fd);
      return rc;
    }
    g->size = (uint64_t)st.st_size;
    if (g->size < LKV__WAL_SEG_HDR || g->size >= (1ull << 32)) {
      close(fd);
      return lkv__wal_corrupt(s, g->seq, 0, "impossible segment size %" PRIu64, g->size);
    }
    void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return -errno;
    g->map = m;
    if (lkv__wal_seg_hdr_parse(g->map, g->size, &g->hdr) || g->hdr.seq != g->seq)
      return lkv__wal_corrupt(s, g->seq, 0, "bad segment header");
    if (i > 0 && g->seq != s->segs[i - 1].seq + 1)
      return lkv__wal_corrupt(s, s->segs[i - 1].seq + 1, 0, "segment missing (next present: %016" PRIx64 ")",
                              g->seq);
    if (g->hdr.salt != s->segs[0].hdr.salt)
      return lkv__wal_corrupt(s, g->seq, 0, "segment of another log (salt)");
    if (i > 0 &&
        (g->hdr.prev_end < LKV__WAL_SEG_HDR || g->hdr.prev_end >= (1ull << 32) || g->hdr.prev_end % 8))
      return lkv__wal_corrupt(s, g->seq, 0, "previous segment's end %" PRIu64 " out of range",
                              g->hdr.prev_end);
  }
  return 0;
}

/* Where reading stopped and what it had seen. */
typedef struct {
  size_t c_seg; /* end of the last complete save: segment (index into segs) and offset */
  uint64_t c_off;
  size_t stop_seg; /* where reading stopped */
  uint64_t stop_off;
  uint64_t max_epoch;
} stop_t;

/* Reads whole saves from the start of the oldest segment until a position does not hold the next record. */
static int read_saves(lkv__wal_scan_t *s, stop_t *st) {
  uint64_t salt = s->segs[0].hdr.salt, last_epoch = 0, save_epoch = 0, save_start = 0;
  size_t i = 0;
  uint64_t off = LKV__WAL_SEG_HDR;
  int in_save = 0, first = 1, rc;
  st->c_seg = 0;
  st->c_off = LKV__WAL_SEG_HDR;
  for (;;) {
    const lkv__wal_seg_t *g = &s->segs[i];
    uint64_t limit = i + 1 < s->n_segs ? s->segs[i + 1].hdr.prev_end : g->size;
    if (i + 1 < s->n_segs && off == limit) {
      i++;
      off = LKV__WAL_SEG_HDR;
      continue;
    }
    lkv__wal_rec_t r;
    uint64_t pos = lkv__wal_pos(g->seq, off);
    /* A previous segment cut short (its file ends before prev_end) stops reading like any torn write. */
    if (limit > g->size) limit = g->size;
    if (off >= limit || !lkv__wal_rec_parse(g->map + off, limit - off, salt, pos, &r)) break;
    if (!in_save) {
      /* A save begins where the previous one ended; only the oldest segment's first save may have begun in
       * a segment that compaction removed. */
      if (r.epoch <= last_epoch || (r.save_start != pos && !(first && r.save_start < pos))) break;
      in_save = 1;
      save_epoch = r.epoch;
      save_start = r.save_start;
    } else if (r.epoch != save_epoch || r.save_start != save_start) {
      break;
    }
    if ((rc = lkv_grow((void **)&s->pending, &s->cap_pending, s->n_pending + 1, sizeof(lkv__wal_pending_t))))
      return rc;
    s->pending[s->n_pending++] = (lkv__wal_pending_t){.rec = r, .seq = g->seq, .off = off};
    off += lkv__wal_rec_size(r.len);
    if (r.flags & LKV__WAL_FLAG_END) {
      if ((rc = lkv__wal_apply_save(s))) return rc;
      s->rep->saves++;
      last_epoch = save_epoch;
      in_save = first = 0;
      st->c_seg = i;
      st->c_off = off;
    }
  }
  st->stop_seg = i;
  st->stop_off = off;
  st->max_epoch = in_save ? save_epoch : last_epoch;
  s->rep->torn_records = s->n_pending;
  return 0;
}

/* Probes every aligned position after the stop for an intact record. One whose save began beyond c
 * proves that c was flushed past: the stop is damage, not a torn tail. Also finds the highest epoch in
 * the files, so that no later save reuses one a leftover carries. */
static int probe_after_c(lkv__wal_scan_t *s, stop_t *st) {
  uint64_t salt = s->segs[0].hdr.salt;
  uint64_t c = lkv__wal_pos(s->segs[st->c_seg].seq, st->c_off);
  for (size_t j = st->c_seg; j < s->n_segs; j++) {
    const lkv__wal_seg_t *g = &s->segs[j];
    for (uint64_t o = j == st->c_seg ? st->c_off : LKV__WAL_SEG_HDR; o + LKV__WAL_REC_HDR <= g->size;
         o += 8) {
      lkv__wal_rec_t r;
      if (!lkv__wal_rec_parse(g->map + o, g->size - o, salt, lkv__wal_pos(g->seq, o), &r)) continue;
      if (r.epoch > st->max_epoch) st->max_epoch = r.epoch;
      if (r.save_start > c)
        return lkv__wal_corrupt(s, s->segs[st->stop_seg].seq, st->stop_off,
                                "unreadable record before a flushed one (segment %016" PRIx64
                                " offset %" PRIu64 " was written after this point was durable)",
                                g->seq, o);
    }
  }
  return 0;
}

/* Removes the segments after the last complete save (a torn tail: they hold nothing flushed), newest
 * first so that a crash meanwhile still leaves consecutive segments. */
static int cut_tail(lkv__wal_scan_t *s, const stop_t *st) {
  int rc = 0;
  for (size_t j = s->n_segs; j-- > st->c_seg + 1;) {
    if ((rc = lkv__wal_seg_unlink(s->w, s->segs[j].seq))) return rc;
    s->rep->removed_segments++;
  }
  if (s->rep->removed_segments) rc = lkv__wal_sync_dir(s->w);
  return rc;
}

static uint64_t torn_bytes(const lkv__wal_scan_t *s, const stop_t *st) {
  uint64_t n = 0;
  for (size_t j = st->c_seg; j <= st->stop_seg; j++) {
    uint64_t from = j == st->c_seg ? st->c_off : LKV__WAL_SEG_HDR;
    uint64_t to = j == st->stop_seg ? st->stop_off : s->segs[j + 1].hdr.prev_end;
    if (to > from) n += to - from;
  }
  return n;
}

/* Opens the segment the next save continues in. */
static int open_current(lkv__wal_scan_t *s, const stop_t *st) {
  lkv_wal_t *w = s->w;
  const lkv__wal_seg_t *g = &s->segs[st->c_seg];
  char name[32];
  lkv__wal_seg_name(name, g->seq);
  w->fd = openat(w->dirfd, name, O_RDWR | O_CLOEXEC);
  if (w->fd < 0) return -errno;
  w->salt = g->hdr.salt;
  w->first_seq = s->segs[0].seq;
  w->seq = g->seq;
  w->off = st->c_off;
  w->size = g->size;
  w->epoch = st->max_epoch + 1;
  return 0;
}

static int recover_segments(lkv__wal_scan_t *s, lkv_raft_restore_t *restore) {
  stop_t st;
  int rc;
  if ((rc = map_segments(s)) || (rc = read_saves(s, &st)) || (rc = probe_after_c(s, &st))) return rc;
  s->rep->torn_bytes = torn_bytes(s, &st);
  if ((rc = lkv__wal_build_state(s, restore)) || (rc = cut_tail(s, &st)) || (rc = open_current(s, &st)))
    return rc;
  s->rep->segments = st.c_seg + 1;
  s->rep->next_epoch = s->w->epoch;
  return 0;
}

/* A new log: segment 1, empty. */
static int create_first(lkv_wal_t *w, lkv_raft_restore_t *restore, lkv_wal_recovery_t *rep) {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t got = read(fd, &w->salt, sizeof(w->salt));
  close(fd);
  if (got != (ssize_t)sizeof(w->salt)) return LKV_EIO;
  int rc = lkv__wal_seg_create(w, 1, w->seg_size, 0, &w->fd);
  if (rc) return rc;
  w->first_seq = w->seq = 1;
  w->off = LKV__WAL_SEG_HDR;
  w->size = w->seg_size;
  w->epoch = 1;
  w->slot_base = 1;
  memset(restore, 0, sizeof(*restore));
  rep->segments = 1;
  rep->next_epoch = 1;
  return 0;
}

int lkv__wal_recover(lkv_wal_t *w, lkv_raft_restore_t *restore, lkv_wal_recovery_t *rep) {
  lkv__wal_scan_t s = {.w = w, .rep = rep};
  int rc = list_segments(&s);
  if (!rc) rc = s.n_segs ? recover_segments(&s, restore) : create_first(w, restore, rep);
  for (size_t i = 0; i < s.n_segs; i++)
    if (s.segs[i].map) munmap((void *)s.segs[i].map, s.segs[i].size);
  free(s.segs);
  free(s.ents);
  free(s.pending);
  return rc;
}
