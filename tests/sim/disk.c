/* The simulated disk: a member's durable state, its one unflushed write, and what a crash leaves of it. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

void lkv__sim_snapdata_encode(const lkv__sim_snapdata_t *d, uint8_t out[LKV_SIM_SNAPDATA_SIZE]) {
  put64(out, d->index);
  put64(out + 8, d->term);
  put64(out + 16, d->chain);
}

int lkv__sim_snapdata_decode(const uint8_t *buf, size_t len, lkv__sim_snapdata_t *d) {
  if (!buf || len != LKV_SIM_SNAPDATA_SIZE) return -1;
  d->index = get64(buf);
  d->term = get64(buf + 8);
  d->chain = get64(buf + 16);
  return 0;
}

static void dentry_clear(lkv__sim_dentry_t *e) {
  free(e->data);
  e->data = NULL;
}

static void dentries_push(lkv__sim_dentry_t **v, size_t *n, size_t *cap, const lkv__sim_dentry_t *e) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 64;
    *v = realloc(*v, *cap * sizeof(**v));
    if (!*v) abort();
  }
  lkv__sim_dentry_t *d = &(*v)[(*n)++];
  *d = *e;
  d->data = NULL;
  if (e->len) {
    d->data = malloc(e->len);
    if (!d->data) abort();
    memcpy(d->data, e->data, e->len);
  }
}

static void store_truncate_from(lkv__sim_store_t *st, size_t keep) {
  for (size_t i = keep; i < st->n; i++) dentry_clear(&st->ents[i]);
  if (keep < st->n) st->n = keep;
}

/* A snapshot record replaces the whole log: the core drops its log when it installs one. */
static void store_put_snap(lkv__sim_store_t *st, const lkv_raft_snapshot_meta_t *m,
                           const lkv__sim_snapdata_t *d) {
  st->snap = *m;
  st->snap_data = *d;
  store_truncate_from(st, 0);
}

/* Writing entry i discards stored entries >= i (the contract). Returns NULL or what was impossible. */
static const char *store_put_entry(lkv__sim_store_t *st, const lkv__sim_dentry_t *e) {
  uint64_t first = st->n ? st->ents[0].index : st->snap.index + 1;
  uint64_t next = st->n ? st->ents[st->n - 1].index + 1 : first;
  if (e->index > next) return "entry written past the end of the durable log (gap)";
  if (e->index < first || e->index <= st->snap.index) return "entry written at or below the durable snapshot";
  store_truncate_from(st, (size_t)(e->index - first));
  dentries_push(&st->ents, &st->n, &st->cap, e);
  return NULL;
}

void lkv__sim_disk_write(lkv__sim_disk_t *d, const lkv_raft_ready_t *rd, const lkv__sim_snapdata_t *snap,
                         const uint64_t *chains) {
  for (size_t i = 0; i < d->p_n; i++) dentry_clear(&d->p_ents[i]);
  d->p_n = 0;
  d->pending = 1;
  d->p_has_snap = rd->has_snapshot;
  if (rd->has_snapshot) {
    d->p_snap = rd->snapshot.meta;
    d->p_snap_data = *snap;
  }
  for (size_t i = 0; i < rd->n_entries; i++) {
    const lkv_raft_entry_t *e = &rd->entries[i];
    lkv__sim_dentry_t de = {e->term, e->index, e->type, (uint8_t *)e->data, e->len, chains[i]};
    dentries_push(&d->p_ents, &d->p_n, &d->p_cap, &de);
  }
  d->p_has_hs = rd->has_hard_state;
  if (rd->has_hard_state) d->p_hs = rd->hard_state;
}

/* Lands the first `keep` records of the unflushed write (all of them on a flush). */
static const char *land(lkv__sim_disk_t *d, size_t keep) {
  const char *err = NULL;
  size_t rec = 0;
  if (d->p_has_snap && rec++ < keep) store_put_snap(&d->durable, &d->p_snap, &d->p_snap_data);
  for (size_t i = 0; i < d->p_n && !err; i++)
    if (rec++ < keep) err = store_put_entry(&d->durable, &d->p_ents[i]);
  if (!err && d->p_has_hs && rec++ < keep) d->durable.hs = d->p_hs;
  for (size_t i = 0; i < d->p_n; i++) dentry_clear(&d->p_ents[i]);
  d->p_n = 0;
  d->pending = d->p_has_snap = d->p_has_hs = 0;
  return err;
}

static size_t records(const lkv__sim_disk_t *d) {
  return (size_t)d->p_has_snap + d->p_n + (size_t)d->p_has_hs;
}

const char *lkv__sim_disk_flush(lkv__sim_disk_t *d) {
  if (!d->pending) return NULL;
  return land(d, records(d));
}

void lkv__sim_disk_crash(lkv__sim_disk_t *d, lkv__sim_rng_t *g, int *torn_out, size_t *kept_out) {
  *torn_out = 0;
  *kept_out = 0;
  if (!d->pending) return;
  size_t n = records(d);
  /* Half the time the write is simply lost; otherwise a prefix of its records made it (a torn tail): e.g.
   * a batch's entries of a newer term without the hard state that raised it (etcd's WAL can leave that;
   * src/wal drops incomplete saves, the core must restart from either). */
  size_t keep = 0;
  if (n > 0 && lkv__sim_rng_chance(g, 500)) {
    keep = (size_t)lkv__sim_rng_below(g, n + 1);
    *torn_out = 1;
  }
  *kept_out = keep;
  (void)land(d, keep); /* a prefix of a valid write is valid */
}

void lkv__sim_disk_save_snapshot(lkv__sim_disk_t *d, const lkv_raft_snapshot_meta_t *meta,
                                 const lkv__sim_snapdata_t *data) {
  d->durable.snap = *meta;
  d->durable.snap_data = *data;
}

void lkv__sim_disk_compact(lkv__sim_disk_t *d, uint64_t upto) {
  lkv__sim_store_t *st = &d->durable;
  size_t drop = 0;
  while (drop < st->n && st->ents[drop].index <= upto) dentry_clear(&st->ents[drop++]);
  if (!drop) return;
  memmove(st->ents, st->ents + drop, (st->n - drop) * sizeof(*st->ents));
  st->n -= drop;
}

void lkv__sim_disk_free(lkv__sim_disk_t *d) {
  store_truncate_from(&d->durable, 0);
  free(d->durable.ents);
  for (size_t i = 0; i < d->p_n; i++) dentry_clear(&d->p_ents[i]);
  free(d->p_ents);
  memset(d, 0, sizeof(*d));
}
