/* Recovery of the durable log: read every segment, replay whole saves, tell a torn tail from damage. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/grow.h"
#include "raft/codec.h"
#include "wal/internal.h"

typedef struct {
  uint64_t seq;
  const uint8_t *map;
  uint64_t size;
  lkv__wal_seg_hdr_t hdr;
} seg_t;

/* An entry as replayed: data points into a segment's image. */
typedef struct {
  uint64_t index, term, seq;
  const uint8_t *data;
  uint32_t len;
  uint8_t type;
} rentry_t;

typedef struct {
  lkv__wal_rec_t rec;
  uint64_t seq, off; /* where it lies */
} pending_t;

typedef struct {
  lkv_wal_t *w;
  lkv_wal_recovery_t *rep;
  seg_t *segs;
  size_t n_segs;
  rentry_t *ents; /* the stored log, contiguous */
  size_t n_ents, cap_ents;
  int seen_entry; /* the first entry replayed may follow a gap (its predecessors were compacted away) */
  lkv_raft_hard_state_t hs;
  lkv_raft_snapshot_meta_t snap;
  pending_t *pending; /* the records of the save being read */
  size_t n_pending, cap_pending;
} scan_t;

static int corrupt(scan_t *s, uint64_t seq, uint64_t off, const char *fmt, ...) {
  char what[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  s->rep->corrupt_segment = seq;
  s->rep->corrupt_offset = off;
  snprintf(s->rep->message, sizeof(s->rep->message), "segment %016" PRIx64 ".wal offset %" PRIu64 ": %s", seq,
           off, what);
  return LKV_ECORRUPT;
}

static int cmp_seq(const void *a, const void *b) {
  uint64_t x = ((const seg_t *)a)->seq, y = ((const seg_t *)b)->seq;
  return x < y ? -1 : x > y;
}

/* Lists the segment files (and removes a leftover seg.tmp: a segment whose creation did not finish). */
static int list_segments(scan_t *s) {
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
    if ((rc = lkv_grow((void **)&s->segs, &cap, s->n_segs + 1, sizeof(seg_t)))) break;
    memset(&s->segs[s->n_segs], 0, sizeof(seg_t));
    s->segs[s->n_segs++].seq = seq;
  }
  closedir(d);
  if (!rc && s->n_segs) qsort(s->segs, s->n_segs, sizeof(seg_t), cmp_seq);
  return rc;
}

/* Maps every segment read-only and checks the headers and how they chain. */
static int map_segments(scan_t *s) {
  for (size_t i = 0; i < s->n_segs; i++) {
    seg_t *g = &s->segs[i];
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
      return corrupt(s, g->seq, 0, "impossible segment size %" PRIu64, g->size);
    }
    void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return -errno;
    g->map = m;
    if (lkv__wal_seg_hdr_parse(g->map, g->size, &g->hdr) || g->hdr.seq != g->seq)
      return corrupt(s, g->seq, 0, "bad segment header");
    if (i > 0 && g->seq != s->segs[i - 1].seq + 1)
      return corrupt(s, s->segs[i - 1].seq + 1, 0, "segment missing (next present: %016" PRIx64 ")", g->seq);
    if (g->hdr.salt != s->segs[0].hdr.salt) return corrupt(s, g->seq, 0, "segment of another log (salt)");
    if (i > 0 &&
        (g->hdr.prev_end < LKV__WAL_SEG_HDR || g->hdr.prev_end >= (1ull << 32) || g->hdr.prev_end % 8))
      return corrupt(s, g->seq, 0, "previous segment's end %" PRIu64 " out of range", g->hdr.prev_end);
  }
  return 0;
}

static int apply_entry(scan_t *s, const pending_t *p) {
  const lkv__wal_rec_t *r = &p->rec;
  uint64_t last = s->n_ents ? s->ents[s->n_ents - 1].index : s->snap.index;
  if (r->aux > LKV_RAFT_ENTRY_CONF_CHANGE || r->index == 0)
    return corrupt(s, p->seq, p->off, "entry %" PRIu64 " has type %u", r->index, r->aux);
  if (r->index <= s->snap.index)
    return corrupt(s, p->seq, p->off, "entry %" PRIu64 " at or below snapshot %" PRIu64, r->index,
                   s->snap.index);
  if (s->seen_entry && r->index > last + 1)
    return corrupt(s, p->seq, p->off, "entry %" PRIu64 " leaves a gap after %" PRIu64, r->index, last);
  /* Writing entry i replaces every stored entry >= i. */
  if (s->n_ents && r->index <= last)
    s->n_ents = r->index < s->ents[0].index ? 0 : r->index - s->ents[0].index;
  int rc = lkv_grow((void **)&s->ents, &s->cap_ents, s->n_ents + 1, sizeof(rentry_t));
  if (rc) return rc;
  s->ents[s->n_ents++] = (rentry_t){
      .index = r->index, .term = r->term, .seq = p->seq, .data = r->payload, .len = r->len, .type = r->aux};
  s->seen_entry = 1;
  return 0;
}

static int apply_snapshot(scan_t *s, const pending_t *p) {
  lkv_raft_snapshot_meta_t meta;
  if (lkv_raft_snapshot_meta_decode(p->rec.payload, p->rec.len, &meta) || p->rec.aux > 1)
    return corrupt(s, p->seq, p->off, "undecodable snapshot metadata");
  if (meta.index < s->snap.index)
    return corrupt(s, p->seq, p->off, "snapshot %" PRIu64 " older than %" PRIu64, meta.index, s->snap.index);
  if (p->rec.aux) {
    /* Kept log: when the snapshot's entry is still stored, it must be the one the snapshot covers. */
    if (s->n_ents && meta.index >= s->ents[0].index && meta.index <= s->ents[s->n_ents - 1].index &&
        s->ents[meta.index - s->ents[0].index].term != meta.term)
      return corrupt(s, p->seq, p->off, "snapshot %" PRIu64 " keeps a log of another term", meta.index);
  } else {
    s->n_ents = 0;
  }
  s->snap = meta;
  return 0;
}

/* Applies the records of one complete save, in order. */
static int apply_save(scan_t *s) {
  int rc = 0;
  for (size_t i = 0; i < s->n_pending && !rc; i++) {
    const pending_t *p = &s->pending[i];
    switch (p->rec.kind) {
      case LKV__WAL_ENTRY:
        rc = apply_entry(s, p);
        break;
      case LKV__WAL_SNAPSHOT:
        rc = apply_snapshot(s, p);
        break;
      default:
        if (lkv_raft_hard_state_decode(p->rec.payload, p->rec.len, &s->hs))
          rc = corrupt(s, p->seq, p->off, "undecodable hard state");
        break;
    }
  }
  s->n_pending = 0;
  return rc;
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
static int read_saves(scan_t *s, stop_t *st) {
  uint64_t salt = s->segs[0].hdr.salt, last_epoch = 0, save_epoch = 0, save_start = 0;
  size_t i = 0;
  uint64_t off = LKV__WAL_SEG_HDR;
  int in_save = 0, first = 1, rc;
  st->c_seg = 0;
  st->c_off = LKV__WAL_SEG_HDR;
  for (;;) {
    const seg_t *g = &s->segs[i];
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
    if ((rc = lkv_grow((void **)&s->pending, &s->cap_pending, s->n_pending + 1, sizeof(pending_t))))
      return rc;
    s->pending[s->n_pending++] = (pending_t){.rec = r, .seq = g->seq, .off = off};
    off += lkv__wal_rec_size(r.len);
    if (r.flags & LKV__WAL_FLAG_END) {
      if ((rc = apply_save(s))) return rc;
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
static int probe_after_c(scan_t *s, stop_t *st) {
  uint64_t salt = s->segs[0].hdr.salt;
  uint64_t c = lkv__wal_pos(s->segs[st->c_seg].seq, st->c_off);
  for (size_t j = st->c_seg; j < s->n_segs; j++) {
    const seg_t *g = &s->segs[j];
    for (uint64_t o = j == st->c_seg ? st->c_off : LKV__WAL_SEG_HDR; o + LKV__WAL_REC_HDR <= g->size;
         o += 8) {
      lkv__wal_rec_t r;
      if (!lkv__wal_rec_parse(g->map + o, g->size - o, salt, lkv__wal_pos(g->seq, o), &r)) continue;
      if (r.epoch > st->max_epoch) st->max_epoch = r.epoch;
      if (r.save_start > c)
        return corrupt(s, s->segs[st->stop_seg].seq, st->stop_off,
                       "unreadable record before a flushed one (segment %016" PRIx64 " offset %" PRIu64
                       " was written after this point was durable)",
                       g->seq, o);
    }
  }
  return 0;
}

/* Removes the segments after the last complete save (a torn tail: they hold nothing flushed), newest
 * first so that a crash meanwhile still leaves consecutive segments. */
static int cut_tail(scan_t *s, const stop_t *st) {
  int rc = 0;
  for (size_t j = s->n_segs; j-- > st->c_seg + 1;) {
    if ((rc = lkv__wal_seg_unlink(s->w, s->segs[j].seq))) return rc;
    s->rep->removed_segments++;
  }
  if (s->rep->removed_segments) rc = lkv__wal_sync_dir(s->w);
  return rc;
}

static uint64_t torn_bytes(const scan_t *s, const stop_t *st) {
  uint64_t n = 0;
  for (size_t j = st->c_seg; j <= st->stop_seg; j++) {
    uint64_t from = j == st->c_seg ? st->c_off : LKV__WAL_SEG_HDR;
    uint64_t to = j == st->stop_seg ? st->stop_off : s->segs[j + 1].hdr.prev_end;
    if (to > from) n += to - from;
  }
  return n;
}

/* Hands the entries after the snapshot to the caller (copied: the images are unmapped) and sets up the
 * writer's memory of the stored log. */
static int build_state(scan_t *s, lkv_raft_restore_t *restore) {
  lkv_wal_t *w = s->w;
  size_t skip = 0, data = 0;
  if (s->n_ents && s->ents[0].index > s->snap.index + 1)
    return corrupt(s, s->ents[0].seq, 0, "entries %" PRIu64 "..%" PRIu64 " missing", s->snap.index + 1,
                   s->ents[0].index - 1);
  while (skip < s->n_ents && s->ents[skip].index <= s->snap.index) skip++;
  for (size_t i = skip; i < s->n_ents; i++) data += s->ents[i].len;
  size_t n = s->n_ents - skip;
  if (n && (!(w->restore_entries = malloc(n * sizeof(lkv_raft_entry_t))) ||
            !(w->restore_data = malloc(data ? data : 1))))
    return LKV_ENOMEM;
  if (lkv_grow((void **)&w->slots, &w->cap_slots, s->n_ents, sizeof(*w->slots))) return LKV_ENOMEM;
  uint8_t *d = w->restore_data;
  for (size_t i = skip; i < s->n_ents; i++) {
    const rentry_t *e = &s->ents[i];
    if (e->len) memcpy(d, e->data, e->len);
    w->restore_entries[i - skip] =
        (lkv_raft_entry_t){.term = e->term, .index = e->index, .type = e->type, .data = d, .len = e->len};
    d += e->len;
  }
  for (size_t i = 0; i < s->n_ents; i++)
    w->slots[i] = (lkv__wal_slot_t){.term = s->ents[i].term, .seq = s->ents[i].seq};
  w->n_slots = s->n_ents;
  w->slot_base = s->n_ents ? s->ents[0].index : s->snap.index + 1;
  w->hs = s->hs;
  w->snap = s->snap;
  memset(restore, 0, sizeof(*restore));
  restore->hard_state = s->hs;
  restore->snapshot = s->snap;
  restore->entries = w->restore_entries;
  restore->n_entries = n;
  return 0;
}

/* Opens the segment the next save continues in. */
static int open_current(scan_t *s, const stop_t *st) {
  lkv_wal_t *w = s->w;
  const seg_t *g = &s->segs[st->c_seg];
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

static int recover_segments(scan_t *s, lkv_raft_restore_t *restore) {
  stop_t st;
  int rc;
  if ((rc = map_segments(s)) || (rc = read_saves(s, &st)) || (rc = probe_after_c(s, &st))) return rc;
  s->rep->torn_bytes = torn_bytes(s, &st);
  if ((rc = build_state(s, restore)) || (rc = cut_tail(s, &st)) || (rc = open_current(s, &st))) return rc;
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
  scan_t s = {.w = w, .rep = rep};
  int rc = list_segments(&s);
  if (!rc) rc = s.n_segs ? recover_segments(&s, restore) : create_first(w, restore, rep);
  for (size_t i = 0; i < s.n_segs; i++)
    if (s.segs[i].map) munmap((void *)s.segs[i].map, s.segs[i].size);
  free(s.segs);
  free(s.ents);
  free(s.pending);
  return rc;
}
