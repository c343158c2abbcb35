/* The causal replicator's snapshot catch-up (docs/causal.md §7b): a member that lacks events another member
 * compacted gets that member's signed state with its lease table, installs it at one store revision, and goes
 * on with the events after it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "causal/lease_id.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/le.h"
#include "metrics/catalog.h"
#include "replication/causal_internal.h"

/* At most one snapshot per peer in this time: one can be as large as the store's live data. */
#define SNAP_EVERY_MS 5000
/* <dir>/snapshot: sender u64 ‖ the snapshot, while its install is not durable. */
#define PENDING "snapshot"
#define LEASES_VERSION 1

/*
 * The snapshot's extra bytes (inside the sender's signature): what the core does not hold and the receiver
 * needs, the sender's lease table. version u8 (1) ‖ count u32 ‖ count × (id i64 ‖ TTL i64), little-endian, in
 * the store's order. The core keeps leases only as ids on siblings; the receiver grants the leases its store
 * lacks and revokes those the table does not name.
 */

typedef struct {
  uint8_t *buf;
  size_t len, cap;
} buf_t;

static int add_lease(void *arg, int64_t id, int64_t ttl) {
  buf_t *b = arg;
  if (b->len + 16 > b->cap) {
    size_t cap = b->cap * 2;
    uint8_t *p = realloc(b->buf, cap);
    if (!p) return LKV_ENOMEM;
    b->buf = p, b->cap = cap;
  }
  lkv_le64_put(b->buf + b->len, (uint64_t)id);
  lkv_le64_put(b->buf + b->len + 8, (uint64_t)ttl);
  b->len += 16;
  return 0;
}

static int leases_encode(lkv__causal_node_t *n, uint8_t **out, size_t *len) {
  buf_t b = {.buf = malloc(64), .len = 5, .cap = 64};
  lkv_mvcc_txn_t *t;
  int rc = b.buf ? lkv_mvcc_read_begin(n->o.store, &t) : LKV_ENOMEM;
  if (!rc) {
    rc = lkv_mvcc_lease_list(t, add_lease, &b);
    lkv_mvcc_txn_end(t);
  }
  if (!rc && (b.len - 5) / 16 > UINT32_MAX) rc = LKV_ETOOLARGE;
  if (rc) {
    free(b.buf);
    return rc;
  }
  b.buf[0] = LEASES_VERSION;
  lkv_le32_put(b.buf + 1, (uint32_t)((b.len - 5) / 16));
  *out = b.buf, *len = b.len;
  return 0;
}

static int by_id(const void *a, const void *b) {
  int64_t x = ((const lkv__causal_lease_op_t *)a)->id, y = ((const lkv__causal_lease_op_t *)b)->id;
  return x < y ? -1 : x > y;
}

/* The revokes of the store's leases that the table (grants, sorted by id) does not name. */
typedef struct {
  lkv__causal_lease_op_t *ops;
  size_t n, cap, n_grants;
  const lkv__causal_node_t *node;
  const lkv_causal_vv_t *mine, *theirs; /* a joined snapshot's: this member's vector before it, its own */
} ops_t;

/* 1 when a joined snapshot (o->mine set) has seen more of lease id's owner's events than this member had
 * (from < 0: fewer; 0: as many). Only the owner grants and revokes a lease, and every member has a prefix of
 * its events, so the side that saw more of them holds the lease as the owner left it (docs/causal.md §7b). */
static int sender_saw_more(const ops_t *o, int64_t id, int from) {
  uint64_t owner = 0;
  for (size_t i = 0; i < o->node->o.n_members && !owner; i++)
    if (lkv_causal_lease_owned(id, o->node->members[i].id)) owner = o->node->members[i].id;
  uint64_t a = lkv_causal_vv_get(o->mine, owner), b = lkv_causal_vv_get(o->theirs, owner);
  return from < 0 ? b < a : b > a;
}

static int revoke_absent(void *arg, int64_t id, int64_t ttl) {
  (void)ttl;
  ops_t *o = arg;
  lkv__causal_lease_op_t key = {.id = id};
  if (bsearch(&key, o->ops, o->n_grants, sizeof(key), by_id)) return 0;
  if (o->mine && sender_saw_more(o, id, -1)) return 0; /* the sender has not seen its grant */
  if (o->n == o->cap) {
    size_t cap = o->cap ? 2 * o->cap : 16;
    lkv__causal_lease_op_t *p = realloc(o->ops, cap * sizeof(*p));
    if (!p) return LKV_ENOMEM;
    o->ops = p, o->cap = cap;
  }
  o->ops[o->n++] = (lkv__causal_lease_op_t){.kind = LKV_CAUSAL_LEASE_REVOKE, .id = id};
  return 0;
}

/* The lease operations that make the store's leases the table's: a grant of each (lkv__causal_alone_changes
 * keeps those the store lacks), a revoke of each lease the store has and the table does not name. For a
 * joined snapshot (mine: this member's vector before it; theirs: the snapshot's), a lease one side lacks is
 * granted or revoked only when the side that has it saw fewer of its owner's events (it has not seen the
 * revoke) than the other. */
static int lease_ops(lkv__causal_node_t *n, const uint8_t *p, size_t len, const lkv_causal_vv_t *mine,
                     const lkv_causal_vv_t *theirs, lkv__causal_lease_op_t **out, size_t *n_out) {
  if (len < 5 || p[0] != LEASES_VERSION || (len - 5) % 16 || (len - 5) / 16 != lkv_le32_get(p + 1))
    return LKV_EBADMSG;
  ops_t o = {.n = (len - 5) / 16, .node = n, .mine = mine, .theirs = theirs};
  o.cap = o.n_grants = o.n;
  o.ops = malloc((o.n ? o.n : 1) * sizeof(*o.ops));
  if (!o.ops) return LKV_ENOMEM;
  for (size_t i = 0; i < o.n; i++)
    o.ops[i] = (lkv__causal_lease_op_t){.kind = LKV_CAUSAL_LEASE_GRANT,
                                        .id = (int64_t)lkv_le64_get(p + 5 + 16 * i),
                                        .ttl = (int64_t)lkv_le64_get(p + 13 + 16 * i)};
  qsort(o.ops, o.n, sizeof(*o.ops), by_id);
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(n->o.store, &t);
  if (!rc) {
    rc = lkv_mvcc_lease_list(t, revoke_absent, &o);
    lkv_mvcc_txn_end(t);
  }
  size_t kept = 0; /* a joined snapshot's grants of leases this member revoked dropped (the revokes after) */
  for (size_t i = 0; i < o.n; i++)
    if (i >= o.n_grants || !mine || sender_saw_more(&o, o.ops[i].id, 1)) o.ops[kept++] = o.ops[i];
  o.n = kept;
  if (rc) free(o.ops);
  *out = rc ? NULL : o.ops, *n_out = rc ? 0 : o.n;
  return rc;
}

/* A vector for the log: {origin:seq, ...}, origins in hex as etcdctl prints member ids. */
static void show_vv(const lkv_causal_vv_t *v, char *out, size_t cap) {
  size_t at = (size_t)snprintf(out, cap, "{");
  for (uint32_t i = 0; i < v->n && at < cap; i++)
    at += (size_t)snprintf(out + at, cap - at, "%s%016llx:%llu", i ? ", " : "",
                           (unsigned long long)v->e[i].origin, (unsigned long long)v->e[i].seq);
  if (at < cap) snprintf(out + at, cap - at, "}");
}

/* ---- sending */

static void send_to(lkv__causal_node_t *n, size_t i) {
  uint64_t id = n->members[i].id;
  uint8_t *extra = NULL, *snap = NULL;
  size_t extra_len = 0, len = 0;
  /* Built whole (its Ed25519 signature covers it whole), written to the stream's file, freed. */
  int rc = leases_encode(n, &extra, &extra_len);
  if (!rc) rc = lkv_causal_member_snapshot(n->m, extra, extra_len, &snap, &len);
  free(extra);
  if (rc) {
    if (rc != LKV_EAGAIN) /* not quiet: the next tick tries again */
      fprintf(stderr, "ledgerkv: causal member %016llx: cannot make a snapshot for member %016llx: %s\n",
              (unsigned long long)n->o.member_id, (unsigned long long)id, lkv_strerror(rc));
    if (rc == LKV_EAGAIN) n->snap_next[i] = 0;
    return;
  }
  char vv[LKV_CAUSAL_MAX_ORIGINS * 40 + 4];
  show_vv(lkv_causal_member_vv(n->m), vv, sizeof(vv));
  fprintf(
      stderr,
      "ledgerkv: causal member %016llx: member %016llx lacks events this member has compacted: sending it a "
      "snapshot at vector %s (%zu bytes)\n",
      (unsigned long long)n->o.member_id, (unsigned long long)id, vv, len);
  rc = lkv__causal_stream_start(n, i, snap, len);
  free(snap);
  if (rc) /* sent again after SNAP_EVERY_MS */
    fprintf(stderr,
            "ledgerkv: causal member %016llx: cannot start the snapshot's transfer to member %016llx: %s\n",
            (unsigned long long)n->o.member_id, (unsigned long long)id, lkv_strerror(rc));
  else
    lkv_metric_inc(LKV_METRIC(causal_snaps_sent), 0);
}

static void send_due(lkv__causal_node_t *n, uint64_t mono) {
  for (size_t i = 0; i < n->o.n_members; i++) {
    uint64_t id = n->members[i].id;
    /* Not to a silent peer: it is not listening, and the transport would hold the snapshot for it. */
    if (id == n->o.member_id || lkv__causal_stream_busy(n, i) || mono < n->snap_next[i] ||
        lkv_causal_member_is_removed(n->m, id) || lkv_causal_member_is_silent(n->m, id) ||
        !lkv_causal_member_snapshot_due(n->m, id))
      continue;
    n->snap_next[i] = mono + SNAP_EVERY_MS;
    send_to(n, i);
  }
}

/* ---- installing */

static int pending_path(const lkv__causal_node_t *n, const char *name, char *out, size_t cap) {
  return snprintf(out, cap, "%s/%s", n->o.dir, name) < (int)cap ? 0 : LKV_EINVAL;
}

int lkv__causal_snap_pending(const lkv__causal_node_t *n) {
  char path[4096];
  return !pending_path(n, PENDING, path, sizeof(path)) && access(path, F_OK) == 0;
}

static int pending_remove(lkv__causal_node_t *n) {
  char path[4096];
  int rc = pending_path(n, PENDING, path, sizeof(path));
  if (!rc && unlink(path) && errno != ENOENT) rc = -errno;
  return rc ? rc : lkv_fs_sync_dir(n->o.dir);
}

int lkv__causal_snap_log_restart(lkv__causal_node_t *n, uint64_t base) {
  /* The store's commits are not flushed: a copy of it (flushed) holds the install before the event log
   * forgets the events it covers (causal_compact.c's rule: the log goes back only to the copy's base). */
  int rc = lkv_mvcc_checkpoint(n->o.store, NULL);
  if (rc == LKV_EINVAL) rc = 0; /* a store that is not logged: every commit is durable */
  return rc ? rc : lkv__causal_log_drop_front(n->log, base);
}

/* Installs the snapshot buf[0..len) from member `from`, kept in the pending file: the core, then durably in
 * the store, then the event log restarted and the file removed (docs/causal.md §7b's order). *taken: the core
 * installed it (then any error must stop the member: the store no longer follows the core). */
static int install(lkv__causal_node_t *n, uint64_t from, const uint8_t *buf, size_t len, uint64_t now,
                   int *taken) {
  uint64_t rev;
  const uint8_t *extra;
  size_t extra_len, n_ops = 0, ckpt_len = 0;
  lkv__causal_lease_op_t *ops = NULL;
  uint8_t *ckpt = NULL;
  *taken = 0;
  uint64_t t0 = lkv_clock_ms(CLOCK_MONOTONIC), t_copy = t0;
  n->installing = 1; /* until the store applied it (causal_store.c, causal_ledger.c) */
  lkv_causal_vv_t mine = *lkv_causal_member_vv(n->m), theirs;
  int rc = lkv_causal_member_install(n->m, now, buf, len, &rev, &extra, &extra_len);
  if (rc) {
    n->installing = 0;
    return rc;
  }
  *taken = 1;
  rc = lkv_causal_snapshot_vv(buf, len, &theirs);
  int joined = lkv_causal_vv_compare(&mine, &theirs) == LKV_CAUSAL_CONCURRENT;
  if (!rc) rc = lease_ops(n, extra, extra_len, joined ? &mine : NULL, &theirs, &ops, &n_ops);
  if (!rc) rc = lkv_causal_member_checkpoint(n->m, rev, &ckpt, &ckpt_len);
  if (!rc) rc = lkv__causal_store_install(n, rev, ops, n_ops, ckpt, ckpt_len);
  if (!rc) lkv__causal_leases_start(n); /* the store is the sender's: its removals' leases are gone there */
  n->installing = 0;
  if (!rc) t_copy = lkv_clock_ms(CLOCK_MONOTONIC);
  if (!rc) rc = lkv__causal_snap_log_restart(n, rev);
  if (!rc) rc = pending_remove(n);
  free(ops);
  free(ckpt);
  if (rc) return rc;
  lkv_metric_inc(LKV_METRIC(causal_snaps_installed), 0);
  char vv[LKV_CAUSAL_MAX_ORIGINS * 40 + 4];
  show_vv(lkv_causal_member_vv(n->m), vv, sizeof(vv));
  fprintf(stderr,
          "ledgerkv: causal member %016llx installed a snapshot from member %016llx at revision %llu (vector "
          "%s; %zu bytes in %llu ms, %llu of them copying the store and restarting the log)\n",
          (unsigned long long)n->o.member_id, (unsigned long long)from, (unsigned long long)rev + 1, vv, len,
          (unsigned long long)(lkv_clock_ms(CLOCK_MONOTONIC) - t0),
          (unsigned long long)(lkv_clock_ms(CLOCK_MONOTONIC) - t_copy));
  lkv__causal_removals_tell(n);
  pthread_mutex_lock(&n->mu);
  n->st_vv = *lkv_causal_member_vv(n->m);
  n->st_rev = lkv_causal_member_revision(n->m);
  pthread_mutex_unlock(&n->mu);
  return 0;
}

/* Installs the snapshot kept in the pending file (sender u64 ‖ snapshot), mapped rather than read: the
 * install decodes it into the core's keys, and the mapping's pages are the file's, not the heap's. One the
 * core does not take is dropped (file removed; *refused: why): a later one comes. Returns 0, LKV_ENOENT (none
 * kept), an error of the install after the core took it (*taken), or of the file's removal. */
static int install_kept(lkv__causal_node_t *n, uint64_t now, int *taken, int *refused) {
  char path[4096];
  *taken = *refused = 0;
  int rc = pending_path(n, PENDING, path, sizeof(path));
  int fd = rc ? -1 : open(path, O_RDONLY | O_CLOEXEC);
  if (!rc && fd < 0) return errno == ENOENT ? LKV_ENOENT : -errno;
  struct stat st;
  if (!rc) rc = fstat(fd, &st) ? -errno : st.st_size < 8 ? LKV_EBADMSG : 0;
  uint8_t *p = rc ? MAP_FAILED : mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (!rc && p == MAP_FAILED) rc = -errno;
  if (fd >= 0) close(fd);
  if (!rc) {
    rc = install(n, lkv_le64_get(p), p + 8, (size_t)st.st_size - 8, now, taken);
    munmap(p, (size_t)st.st_size);
  }
  if (*taken) return rc;
  *refused = rc;
  return pending_remove(n);
}

/* A transfer's file becomes the pending file (it is flushed: only the rename is made durable), then is
 * installed as install_kept. */
static int install_received(lkv__causal_node_t *n, const char *file, uint64_t now, int *taken, int *refused) {
  char path[4096];
  *taken = *refused = 0;
  int rc = pending_path(n, PENDING, path, sizeof(path));
  if (!rc) rc = rename(file, path) == 0 ? lkv_fs_sync_dir(n->o.dir) : -errno;
  if (rc) unlink(file);
  return rc ? rc : install_kept(n, now, taken, refused);
}

void lkv__causal_snap_round(lkv__causal_node_t *n, uint64_t now, uint64_t mono, int ticked) {
  lkv_snap_received_t *got = lkv__causal_stream_take(n, mono);
  if (got && !n->halted) {
    int taken, refused, rc = install_received(n, got->path, now, &taken, &refused);
    if (taken && rc)
      lkv__causal_halt(n, "cannot make an installed snapshot durable", rc);
    else if (rc || refused == LKV_EVERIFY || refused == LKV_EBADMSG)
      fprintf(stderr, "ledgerkv: causal member %016llx: refused a snapshot from member %016llx: %s\n",
              (unsigned long long)n->o.member_id, (unsigned long long)got->from,
              lkv_strerror(rc ? rc : refused));
  } else if (got)
    unlink(got->path);
  if (got) {
    lkv_snap_received_free(got);
    free(got);
  }
  if (ticked && !n->halted) send_due(n, mono);
}

int lkv__causal_snap_recover(lkv__causal_node_t *n, uint64_t now, char *err, size_t errlen) {
  /* One the core does not take was installed before the crash (the store committed it), or is refused now. */
  int taken, refused, rc = install_kept(n, now, &taken, &refused);
  if (rc == LKV_ENOENT) rc = 0; /* none pending */
  if (rc) {
    snprintf(err, errlen, "cannot install the snapshot kept in %s/%s again: %s", n->o.dir, PENDING,
             lkv_strerror(rc));
    return rc;
  }
  uint64_t count = n->o.ledger ? lkv_ledger_log_count(lkv_ledger_log(n->o.ledger)) : 0;
  if (n->o.ledger && count > n->ledger_end) { /* a snapshot's records, and none to make them again */
    snprintf(err, errlen, "the ledger holds %llu records, the store accounts for %llu",
             (unsigned long long)count, (unsigned long long)n->ledger_end);
    return LKV_ECORRUPT;
  }
  return 0;
}
