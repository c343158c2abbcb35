/* Saving to the durable log: one batch of records, one pwrite and one fdatasync per segment it touches. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/grow.h"
#include "raft/codec.h"
#include "wal/internal.h"

#define SNAP_MAX 1024 /* bytes of encoded snapshot metadata: 32 + 32 member ids fit easily */

/* The part of a save that goes to one segment. */
typedef struct {
  int fd;
  int created; /* a segment this save created (removed again if the save fails) */
  uint64_t seq, file_off, size;
  size_t buf_off, len;   /* in w->wbuf */
  size_t e_first, e_end; /* the save's entries [e_first, e_end) lie in it */
} piece_t;

/* Everything about the save in progress; the log's own state changes only once it is durable. */
typedef struct {
  lkv_wal_t *w;
  piece_t *pieces;
  size_t n_pieces, cap_pieces;
  size_t used; /* bytes of w->wbuf filled */
  uint64_t epoch, save_start;
  int started;
  uint8_t snap_buf[SNAP_MAX]; /* the snapshot metadata as of the records emitted so far (for a checkpoint) */
  size_t snap_len;
  uint8_t hs_buf[LKV_RAFT_HARD_STATE_SIZE];
} save_t;

static int add_piece(save_t *s, int fd, int created, uint64_t seq, uint64_t off, uint64_t size) {
  int rc = lkv_grow((void **)&s->pieces, &s->cap_pieces, s->n_pieces + 1, sizeof(piece_t));
  if (rc) return rc;
  s->pieces[s->n_pieces++] = (piece_t){.fd = fd,
                                       .created = created,
                                       .seq = seq,
                                       .file_off = off,
                                       .size = size,
                                       .buf_off = s->used,
                                       .e_first = 0,
                                       .e_end = 0};
  return 0;
}

/* Appends record r to the current piece. */
static int put(save_t *s, lkv__wal_rec_t *r) {
  piece_t *p = &s->pieces[s->n_pieces - 1];
  uint64_t size = lkv__wal_rec_size(r->len);
  uint64_t pos = lkv__wal_pos(p->seq, p->file_off + p->len);
  int rc = lkv_grow((void **)&s->w->wbuf, &s->w->wcap, s->used + (size_t)size, 1);
  if (rc) return rc;
  if (!s->started) {
    s->save_start = pos;
    s->started = 1;
  }
  r->epoch = s->epoch;
  r->save_start = s->save_start;
  lkv__wal_rec_encode(s->w->wbuf + s->used, s->w->salt, pos, r);
  s->used += (size_t)size;
  p->len += (size_t)size;
  return 0;
}

static uint64_t checkpoint_size(const save_t *s) {
  return lkv__wal_rec_size(LKV_RAFT_HARD_STATE_SIZE) + lkv__wal_rec_size(s->snap_len);
}

/* Starts the next segment, sized for at least a checkpoint and a record of rec_size bytes, and writes the
 * checkpoint: the hard state and snapshot metadata as of this point, so the new segment never needs an
 * older one for them. */
static int rotate(save_t *s, uint64_t rec_size) {
  lkv_wal_t *w = s->w;
  piece_t *cur = &s->pieces[s->n_pieces - 1];
  uint64_t size = LKV__WAL_SEG_HDR + checkpoint_size(s) + rec_size;
  if (size < w->seg_size) size = w->seg_size;
  int fd, rc = lkv__wal_seg_create(w, cur->seq + 1, size, cur->file_off + cur->len, &fd);
  if (rc) return rc;
  if ((rc = add_piece(s, fd, 1, cur->seq + 1, LKV__WAL_SEG_HDR, size))) {
    close(fd);
    lkv__wal_seg_unlink(w, cur->seq + 1);
    return rc;
  }
  s->pieces[s->n_pieces - 1].e_first = s->pieces[s->n_pieces - 2].e_end;
  s->pieces[s->n_pieces - 1].e_end = s->pieces[s->n_pieces - 2].e_end;
  lkv_raft_hard_state_encode(&w->hs, s->hs_buf);
  lkv__wal_rec_t hs = {.kind = LKV__WAL_HARD_STATE, .len = LKV_RAFT_HARD_STATE_SIZE, .payload = s->hs_buf};
  lkv__wal_rec_t sn = {
      .kind = LKV__WAL_SNAPSHOT, .aux = 1, .len = (uint32_t)s->snap_len, .payload = s->snap_buf};
  if ((rc = put(s, &hs))) return rc;
  return put(s, &sn);
}

/* Emits r, rotating first when it does not fit in the current segment. */
static int emit(save_t *s, lkv__wal_rec_t *r) {
  piece_t *p = &s->pieces[s->n_pieces - 1];
  uint64_t size = lkv__wal_rec_size(r->len);
  if (p->file_off + p->len + size > p->size) {
    int rc = rotate(s, size);
    if (rc) return rc;
  }
  return put(s, r);
}

/* Whether the stored log holds entry index with term (then a snapshot there keeps the entries after it). */
static int holds(const lkv_wal_t *w, uint64_t index, uint64_t term) {
  if (index == w->snap.index && term == w->snap.term) return 1;
  return index >= w->slot_base && index - w->slot_base < w->n_slots &&
         w->slots[index - w->slot_base].term == term;
}

/* Whether the codec reads meta back: a membership it refuses (duplicates, id 0, too many) would make the
 * log unreadable at the next open. */
static int snapshot_ok(const lkv_raft_snapshot_meta_t *meta) {
  uint8_t buf[SNAP_MAX];
  lkv_raft_snapshot_meta_t back;
  if (lkv_raft_snapshot_meta_size(meta) > SNAP_MAX) return 0;
  size_t len = lkv_raft_snapshot_meta_encode(meta, buf, sizeof(buf));
  return len && lkv_raft_snapshot_meta_decode(buf, len, &back) == 0;
}

static int check(const lkv_wal_t *w, const lkv_raft_snapshot_meta_t *snap, const lkv_raft_entry_t *e,
                 size_t n, int keep) {
  uint64_t snap_index = snap ? snap->index : w->snap.index;
  uint64_t last = keep ? lkv_wal_last_index(w) : snap_index;
  if (snap && (snap->index < w->snap.index || !snapshot_ok(snap))) return LKV_EINVAL;
  if (last < snap_index) last = snap_index;
  if (n && (e[0].index <= snap_index || e[0].index > last + 1)) return LKV_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (e[i].index != e[0].index + i || e[i].len > LKV_WAL_MAX_ENTRY ||
        e[i].type > LKV_RAFT_ENTRY_CONF_CHANGE || (e[i].len && !e[i].data))
      return LKV_EINVAL;
  return 0;
}

/* Builds every record of the save into w->wbuf, creating the segments it needs. */
static int build(save_t *s, const lkv_raft_hard_state_t *hs, const lkv_raft_snapshot_meta_t *snap,
                 const lkv_raft_entry_t *e, size_t n, int keep) {
  lkv_wal_t *w = s->w;
  int rc;
  if ((rc = add_piece(s, w->fd, 0, w->seq, w->off, w->size))) return rc;
  size_t total = (snap ? 1 : 0) + n + (hs ? 1 : 0);
  size_t k = 0;
  if (snap) {
    uint8_t buf[SNAP_MAX];
    size_t len = lkv_raft_snapshot_meta_encode(snap, buf, sizeof(buf));
    lkv__wal_rec_t r = {
        .kind = LKV__WAL_SNAPSHOT, .aux = (uint8_t)keep, .len = (uint32_t)len, .payload = buf};
    r.flags = ++k == total ? LKV__WAL_FLAG_END : 0;
    if ((rc = emit(s, &r))) return rc;
    /* A checkpoint written after this point carries the new snapshot (one before it, the old one). */
    memcpy(s->snap_buf, buf, len);
    s->snap_len = len;
  }
  for (size_t i = 0; i < n; i++) {
    lkv__wal_rec_t r = {.kind = LKV__WAL_ENTRY,
                        .aux = e[i].type,
                        .len = (uint32_t)e[i].len,
                        .payload = e[i].data,
                        .index = e[i].index,
                        .term = e[i].term};
    r.flags = ++k == total ? LKV__WAL_FLAG_END : 0;
    if ((rc = emit(s, &r))) return rc;
    s->pieces[s->n_pieces - 1].e_end = i + 1;
  }
  if (hs) {
    uint8_t buf[LKV_RAFT_HARD_STATE_SIZE];
    lkv_raft_hard_state_encode(hs, buf);
    lkv__wal_rec_t r = {
        .kind = LKV__WAL_HARD_STATE, .len = sizeof(buf), .payload = buf, .flags = LKV__WAL_FLAG_END};
    if ((rc = emit(s, &r))) return rc;
  }
  return 0;
}

/* Takes the durable save into the log's memory: position, snapshot, hard state, stored entries. */
static int commit(save_t *s, const lkv_raft_hard_state_t *hs, const lkv_raft_snapshot_meta_t *snap,
                  const lkv_raft_entry_t *e, size_t n, int keep) {
  lkv_wal_t *w = s->w;
  const piece_t *last = &s->pieces[s->n_pieces - 1];
  if (last->seq != w->seq) {
    for (size_t i = 0; i + 1 < s->n_pieces; i++) close(s->pieces[i].fd);
    w->fd = last->fd;
    w->seq = last->seq;
    w->size = last->size;
  }
  w->off = last->file_off + last->len;
  if (snap) {
    w->snap = *snap;
    if (!keep) {
      w->n_slots = 0;
      w->slot_base = snap->index + 1;
    }
  }
  if (hs) w->hs = *hs;
  if (!n) return 0;
  if (!w->n_slots || e[0].index < w->slot_base) {
    w->n_slots = 0;
    w->slot_base = e[0].index;
  } else {
    w->n_slots = (size_t)(e[0].index - w->slot_base);
  }
  for (size_t p = 0; p < s->n_pieces; p++)
    for (size_t i = s->pieces[p].e_first; i < s->pieces[p].e_end; i++)
      w->slots[w->n_slots + i] = (lkv__wal_slot_t){.term = e[i].term, .seq = s->pieces[p].seq};
  w->n_slots += n;
  return 0;
}

/* Undoes the segments a failed save created; the current segment's stray bytes are a stale leftover. */
static void discard(save_t *s) {
  int removed = 0;
  for (size_t i = s->n_pieces; i-- > 0;) {
    if (!s->pieces[i].created) continue;
    close(s->pieces[i].fd);
    lkv__wal_seg_unlink(s->w, s->pieces[i].seq);
    removed = 1;
  }
  if (removed) lkv__wal_sync_dir(s->w);
}

int lkv_wal_save(lkv_wal_t *w, const lkv_raft_hard_state_t *hs, const lkv_raft_snapshot_meta_t *snap,
                 const lkv_raft_entry_t *entries, size_t n) {
  if (w->halted) return LKV_EHALTED;
  free(w->restore_entries);
  free(w->restore_data);
  w->restore_entries = NULL;
  w->restore_data = NULL;
  if (!hs && !snap && !n) return 0;
  int keep = snap ? holds(w, snap->index, snap->term) : 1;
  int rc = check(w, snap, entries, n, keep);
  if (rc) return rc;
  /* Room for the new slots now, so that nothing can fail once the save is durable. */
  if ((rc = lkv_grow((void **)&w->slots, &w->cap_slots, w->n_slots + n, sizeof(*w->slots)))) return rc;
  save_t s = {.w = w, .epoch = w->epoch++};
  s.snap_len = lkv_raft_snapshot_meta_encode(&w->snap, s.snap_buf, sizeof(s.snap_buf));
  if ((rc = build(&s, hs, snap, entries, n, keep))) goto err;
  for (size_t i = 0; i < s.n_pieces; i++) {
    const piece_t *p = &s.pieces[i];
    if ((rc = lkv__wal_write_full(w, p->fd, w->wbuf + p->buf_off, p->len, p->file_off))) goto err;
  }
  for (size_t i = 0; i < s.n_pieces; i++)
    if ((rc = lkv__wal_sync(w, s.pieces[i].fd))) goto err;
  rc = commit(&s, hs, snap, entries, n, keep);
  free(s.pieces);
  return rc;

err:
  if (!w->halted) discard(&s);
  free(s.pieces);
  if (rc == -ENOSPC || rc == -EDQUOT) rc = LKV_ENOSPC;
  return w->halted ? LKV_EHALTED : rc;
}
