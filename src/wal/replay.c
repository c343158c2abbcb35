/* Replaying the durable log: applying whole saves (entries, snapshots, hard states) and the restore. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"
#include "raft/codec.h"
#include "wal/recover.h"

int lkv__wal_corrupt(lkv__wal_scan_t *s, uint64_t seq, uint64_t off, const char *fmt, ...) {
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

static int apply_entry(lkv__wal_scan_t *s, const lkv__wal_pending_t *p) {
  const lkv__wal_rec_t *r = &p->rec;
  uint64_t last = s->n_ents ? s->ents[s->n_ents - 1].index : s->snap.index;
  if (r->aux > LKV_RAFT_ENTRY_CONF_CHANGE || r->index == 0)
    return lkv__wal_corrupt(s, p->seq, p->off, "entry %" PRIu64 " has type %u", r->index, r->aux);
  if (r->index <= s->snap.index)
    return lkv__wal_corrupt(s, p->seq, p->off, "entry %" PRIu64 " at or below snapshot %" PRIu64, r->index,
                            s->snap.index);
  if (s->seen_entry && r->index > last + 1)
    return lkv__wal_corrupt(s, p->seq, p->off, "entry %" PRIu64 " leaves a gap after %" PRIu64, r->index,
                            last);
  /* Writing entry i replaces every stored entry >= i. */
  if (s->n_ents && r->index <= last)
    s->n_ents = r->index < s->ents[0].index ? 0 : r->index - s->ents[0].index;
  int rc = lkv_grow((void **)&s->ents, &s->cap_ents, s->n_ents + 1, sizeof(lkv__wal_entry_t));
  if (rc) return rc;
  s->ents[s->n_ents++] = (lkv__wal_entry_t){
      .index = r->index, .term = r->term, .seq = p->seq, .data = r->payload, .len = r->len, .type = r->aux};
  s->seen_entry = 1;
  return 0;
}

static int apply_snapshot(lkv__wal_scan_t *s, const lkv__wal_pending_t *p) {
  lkv_raft_snapshot_meta_t meta;
  if (lkv_raft_snapshot_meta_decode(p->rec.payload, p->rec.len, &meta) || p->rec.aux > 1)
    return lkv__wal_corrupt(s, p->seq, p->off, "undecodable snapshot metadata");
  if (meta.index < s->snap.index)
    return lkv__wal_corrupt(s, p->seq, p->off, "snapshot %" PRIu64 " older than %" PRIu64, meta.index,
                            s->snap.index);
  if (p->rec.aux) {
    /* Kept log: when the snapshot's entry is still stored, it must be the one the snapshot covers. */
    if (s->n_ents && meta.index >= s->ents[0].index && meta.index <= s->ents[s->n_ents - 1].index &&
        s->ents[meta.index - s->ents[0].index].term != meta.term)
      return lkv__wal_corrupt(s, p->seq, p->off, "snapshot %" PRIu64 " keeps a log of another term",
                              meta.index);
  } else {
    s->n_ents = 0;
  }
  s->snap = meta;
  return 0;
}

/* Applies the records of one complete save, in order. */
int lkv__wal_apply_save(lkv__wal_scan_t *s) {
  int rc = 0;
  for (size_t i = 0; i < s->n_pending && !rc; i++) {
    const lkv__wal_pending_t *p = &s->pending[i];
    switch (p->rec.kind) {
      case LKV__WAL_ENTRY:
        rc = apply_entry(s, p);
        break;
      case LKV__WAL_SNAPSHOT:
        rc = apply_snapshot(s, p);
        break;
      default:
        if (lkv_raft_hard_state_decode(p->rec.payload, p->rec.len, &s->hs))
          rc = lkv__wal_corrupt(s, p->seq, p->off, "undecodable hard state");
        break;
    }
  }
  s->n_pending = 0;
  return rc;
}

/* Hands the entries after the snapshot to the caller (copied: the images are unmapped) and sets up the
 * writer's memory of the stored log. */
int lkv__wal_build_state(lkv__wal_scan_t *s, lkv_raft_restore_t *restore) {
  lkv_wal_t *w = s->w;
  size_t skip = 0, data = 0;
  if (s->n_ents && s->ents[0].index > s->snap.index + 1)
    return lkv__wal_corrupt(s, s->ents[0].seq, 0, "entries %" PRIu64 "..%" PRIu64 " missing",
                            s->snap.index + 1, s->ents[0].index - 1);
  while (skip < s->n_ents && s->ents[skip].index <= s->snap.index) skip++;
  for (size_t i = skip; i < s->n_ents; i++) data += s->ents[i].len;
  size_t n = s->n_ents - skip;
  if (n && (!(w->restore_entries = malloc(n * sizeof(lkv_raft_entry_t))) ||
            !(w->restore_data = malloc(data ? data : 1))))
    return LKV_ENOMEM;
  if (lkv_grow((void **)&w->slots, &w->cap_slots, s->n_ents, sizeof(*w->slots))) return LKV_ENOMEM;
  uint8_t *d = w->restore_data;
  for (size_t i = skip; i < s->n_ents; i++) {
    const lkv__wal_entry_t *e = &s->ents[i];
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
