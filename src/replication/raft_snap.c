/* Snapshots on the raft thread: the store's checkpoint as the core's snapshot, log compaction below it,
 * streaming it to members that are too far behind, receiving one. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "raft/codec.h"
#include "replication/raft_internal.h"

/* etcd's defaults: --snapshot-count, and the entries kept below a snapshot for slow followers. */
#define DEFAULT_SNAPSHOT_COUNT 100000
#define DEFAULT_CATCHUP_ENTRIES 5000

/* The core keeps every entry since its snapshot in memory (as etcd's MemoryStorage): large values would
 * hold hundreds of megabytes before --snapshot-count entries. So a checkpoint is also asked for once the
 * entries applied since the last one reach LOG_BYTES, and the catch-up entries kept below a snapshot
 * stop at CATCHUP_BYTES: a follower further behind gets the snapshot. */
#define LOG_BYTES ((uint64_t)16 << 20)
#define CATCHUP_BYTES ((uint64_t)4 << 20)

/* The checkpoint adopted at index, kept under its own name: the next checkpoint replaces the store's. */
static void kept_path(const lkv__raft_node_t *n, uint64_t index, char *out, size_t cap) {
  snprintf(out, cap, "%s/%016llx.ckpt", n->o.snap_dir, (unsigned long long)index);
}

/* Removes the kept checkpoints other than index's (a transfer reading one keeps its file open). */
static void drop_kept_except(const lkv__raft_node_t *n, uint64_t index) {
  DIR *d = opendir(n->o.snap_dir);
  if (!d) return;
  char keep[32];
  snprintf(keep, sizeof(keep), "%016llx.ckpt", (unsigned long long)index);
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len > 5 && !strcmp(e->d_name + len - 5, ".ckpt") && strcmp(e->d_name, keep) != 0)
      unlinkat(dirfd(d), e->d_name, 0);
  }
  closedir(d);
}

int lkv__raft_node_read_copy(const char *path, uint64_t *applied, uint64_t *ledger_len,
                             lkv_raft_conf_state_t *conf) {
  uint8_t *v;
  size_t len;
  int rc = lkv_mvcc_copy_repl_get(path, LKV__RAFT_POSITION_RECORD, &v, &len);
  if (rc) return rc;
  rc = lkv__raft_node_decode_position(v, len, applied, ledger_len);
  free(v);
  if (rc || !conf) return rc;
  rc = lkv_mvcc_copy_repl_get(path, LKV__RAFT_CONF_RECORD, &v, &len);
  if (rc) return rc;
  rc = lkv__raft_node_decode_conf(v, len, conf);
  free(v);
  return rc;
}

/* Entries up to the snapshot are no longer needed but a slow follower may still be sent them instead of
 * the whole snapshot: the last catchup_entries stay. */
static void compact_below(lkv__raft_node_t *n, uint64_t snap) {
  uint64_t keep = n->o.catchup_entries ? n->o.catchup_entries : DEFAULT_CATCHUP_ENTRIES;
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  uint64_t to = snap, bytes = 0;
  while (to >= st.first_index && snap - to < keep && bytes < CATCHUP_BYTES) {
    lkv_raft_entry_t e;
    if (lkv_raft_entry(n->raft, to, &e) != 0) break;
    bytes += e.len;
    to--;
  }
  if (to < st.first_index) return;
  if (lkv_raft_compact(n->raft, to) != 0) return;
  int rc = lkv_wal_compact(n->wal, to);
  if (rc) lkv__raft_node_halt(n, "cannot compact the raft log", rc);
}

void lkv__raft_node_take_checkpoint(lkv__raft_node_t *n) {
  char ckpt[PATH_MAX], kept[PATH_MAX + 32];
  lkv_raft_snapshot_meta_t meta = {0};
  uint64_t ledger_len;
  if (n->halted || lkv_mvcc_checkpoint_path(n->o.store, ckpt, sizeof(ckpt)) != 0 ||
      lkv__raft_node_read_copy(ckpt, &meta.index, &ledger_len, &meta.conf) != 0 ||
      meta.index <= n->snap_index)
    return; /* none yet, or one from before the member recorded its membership with it */
  kept_path(n, meta.index, kept, sizeof(kept));
  unlink(kept);
  if (link(ckpt, kept) != 0) return;
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  if (st.snapshot_index < meta.index) {
    lkv_raft_entry_t e;
    if (lkv_raft_entry(n->raft, meta.index, &e) != 0) return;
    meta.term = e.term;
    int rc = lkv_raft_set_snapshot(n->raft, &meta);
    if (!rc) rc = lkv_wal_save(n->wal, NULL, &meta, NULL, 0);
    if (rc) {
      lkv__raft_node_halt(n, "cannot record the snapshot in the raft log", rc);
      return;
    }
  }
  n->snap_index = meta.index;
  n->snap_ledger = ledger_len;
  n->log_bytes = n->log_bytes_asked = 0;
  drop_kept_except(n, meta.index);
  compact_below(n, meta.index);
}

/* A sole voter (without learners) sends its log to no one, so the core need not hold applied entries in
 * memory: it records a snapshot at the applied index that has no file of its own and drops them (they stay
 * in the Raft log on disk until a checkpoint covers them). Once a member is added the next checkpoint is
 * the snapshot the newcomer gets (send_snapshot asks for it). The first trim after a start does not wait for
 * ALONE_TRIM_ENTRIES: a store adopted at the founding (a restore, a pre-Raft single node's) holds state from
 * before the log's first entry, so the log alone must never be what a newcomer gets. */
#define ALONE_TRIM_ENTRIES 256

static void trim_alone(lkv__raft_node_t *n) {
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  if (st.conf.n_voters != 1 || st.conf.n_learners || st.conf.voters[0] != n->o.member_id ||
      n->applied < st.first_index + (n->alone_trimmed ? ALONE_TRIM_ENTRIES : 1))
    return;
  lkv_raft_snapshot_meta_t meta = {.index = n->applied, .conf = st.conf};
  if (lkv_raft_set_snapshot(n->raft, &meta) == 0) {
    lkv_raft_compact(n->raft, n->applied);
    n->alone_trimmed = 1;
  }
}

void lkv__raft_node_maybe_checkpoint(lkv__raft_node_t *n) {
  trim_alone(n);
  uint64_t count = n->o.snapshot_count ? n->o.snapshot_count : DEFAULT_SNAPSHOT_COUNT;
  int by_count = n->applied - n->snap_index >= count && n->applied - n->ckpt_asked >= count;
  int by_bytes = n->log_bytes - n->log_bytes_asked >= LOG_BYTES;
  if (!n->o.request_checkpoint || (!by_count && !by_bytes)) return;
  n->ckpt_asked = n->applied;
  n->log_bytes_asked = n->log_bytes;
  n->o.request_checkpoint(n->o.checkpoint_arg);
}

static void sender_done(void *arg, uint64_t to, int ok) {
  lkv__raft_snap_out_t *out = arg;
  lkv__raft_node_t *n = out->node;
  (void)to;
  pthread_mutex_lock(&n->mu);
  out->finished = 1;
  out->ok = ok;
  n->in_snap_done = 1;
  pthread_cond_signal(&n->wake);
  pthread_mutex_unlock(&n->mu);
}

/* Starts the transfer m announces; 0, or an error (the core is told the snapshot failed). */
static int start_sender(lkv__raft_node_t *n, const lkv_raft_msg_t *m, lkv__raft_snap_out_t *out) {
  if (!n->o.send_snap) return LKV_EINVAL;
  if (m->snapshot.meta.index != n->snap_index) {
    /* A snapshot without a file (a sole voter's, trim_alone): the next checkpoint will be one. */
    if (n->o.request_checkpoint && n->ckpt_asked != n->applied) {
      n->ckpt_asked = n->applied;
      n->o.request_checkpoint(n->o.checkpoint_arg);
    }
    return LKV_EAGAIN;
  }
  uint8_t frontier[LKV_LEDGER_FRONTIER_MAX];
  size_t frontier_len = 0;
  if (n->o.ledger) {
    lkv_ledger_frontier_t f;
    int rc = lkv_ledger_frontier_at(n->o.ledger, n->snap_ledger, &f);
    if (!rc) rc = lkv_ledger_frontier_encode(&f, frontier, sizeof(frontier), &frontier_len);
    if (rc) return rc;
  }
  size_t len = lkv_raft_msg_size(m);
  uint8_t *msg = malloc(len);
  if (!msg) return LKV_ENOMEM;
  len = lkv_raft_msg_encode(m, msg, len);
  char path[PATH_MAX + 32];
  kept_path(n, m->snapshot.meta.index, path, sizeof(path));
  lkv_snap_sender_options_t o = {.to = m->to,
                                 .path = path,
                                 .raft_msg = msg,
                                 .raft_msg_len = len,
                                 .frontier = frontier,
                                 .frontier_len = frontier_len,
                                 .send = n->o.send_snap,
                                 .send_arg = n->o.send_arg,
                                 .done = sender_done,
                                 .arg = out};
  int rc = len ? lkv_snap_sender_start(&out->sender, &o) : LKV_EINVAL;
  free(msg);
  return rc;
}

void lkv__raft_node_send_snapshot(lkv__raft_node_t *n, const lkv_raft_msg_t *m) {
  for (lkv__raft_snap_out_t *o = n->snap_outs; o; o = o->next)
    if (o->to == m->to) return; /* one transfer per member at a time */
  lkv__raft_snap_out_t *out = calloc(1, sizeof(*out));
  if (!out) return; /* the core asks again after it hears from the member */
  out->node = n;
  out->to = m->to;
  int rc = start_sender(n, m, out);
  if (rc && rc != LKV_EAGAIN)
    fprintf(stderr, "ledgerkv: raft member %016llx cannot send a snapshot to %016llx: %s\n",
            (unsigned long long)n->o.member_id, (unsigned long long)m->to, lkv_strerror(rc));
  if (rc) {
    out->finished = 1; /* reported failed in the next round (not while the core's batch is out) */
    n->in_snap_done = 1;
  }
  pthread_mutex_lock(&n->mu);
  out->next = n->snap_outs;
  n->snap_outs = out;
  pthread_mutex_unlock(&n->mu);
}

void lkv__raft_node_reap_senders(lkv__raft_node_t *n) {
  lkv__raft_snap_out_t *done = NULL;
  pthread_mutex_lock(&n->mu);
  for (lkv__raft_snap_out_t **pp = &n->snap_outs; *pp;) {
    lkv__raft_snap_out_t *o = *pp;
    if (!o->finished) {
      pp = &o->next;
      continue;
    }
    *pp = o->next;
    o->next = done;
    done = o;
  }
  pthread_mutex_unlock(&n->mu);
  while (done) {
    lkv__raft_snap_out_t *o = done;
    done = o->next;
    lkv_snap_sender_free(o->sender);
    if (!n->halted) lkv_raft_report_snapshot(n->raft, o->to, o->ok);
    free(o);
  }
}

void lkv__raft_node_step_received(lkv__raft_node_t *n, lkv_snap_received_t *rs) {
  lkv_raft_msg_t msg;
  lkv_raft_entry_t *entries = NULL;
  if (lkv_raft_msg_decode(rs->raft_msg, rs->raft_msg_len, &msg, &entries) != 0 ||
      msg.type != LKV_RAFT_MSG_SNAP || msg.to != n->o.member_id || msg.from != rs->from) {
    free(entries);
    unlink(rs->path);
    lkv_snap_received_free(rs);
    return;
  }
  if (n->stepped.raft_msg) unlink(n->stepped.path); /* an older one the core did not take */
  lkv_snap_received_free(&n->stepped);
  n->stepped = *rs;
  /* The core passes the data through to the ready batch untouched: the file's name. */
  msg.snapshot.data = (const uint8_t *)n->stepped.path;
  msg.snapshot.len = strlen(n->stepped.path) + 1;
  lkv_raft_step(n->raft, &msg);
  free(entries);
}

void lkv__raft_node_snap_round(lkv__raft_node_t *n) {
  pthread_mutex_lock(&n->mu);
  lkv_snap_received_t *rs = n->in_snap;
  int checkpointed = n->in_checkpointed, done = n->in_snap_done;
  n->in_snap = NULL;
  n->in_checkpointed = n->in_snap_done = 0;
  pthread_mutex_unlock(&n->mu);
  if (checkpointed) lkv__raft_node_take_checkpoint(n);
  if (done) lkv__raft_node_reap_senders(n);
  if (rs && !n->halted) {
    lkv__raft_node_step_received(n, rs);
  } else if (rs) {
    unlink(rs->path);
    lkv_snap_received_free(rs);
  }
  free(rs);
  if (!n->halted) lkv__raft_node_maybe_checkpoint(n);
}

void lkv__raft_node_stop_snapshots(lkv__raft_node_t *n) {
  pthread_mutex_lock(&n->mu);
  lkv__raft_snap_out_t *outs = n->snap_outs;
  n->snap_outs = NULL;
  lkv_snap_received_t *rs = n->in_snap;
  n->in_snap = NULL;
  pthread_mutex_unlock(&n->mu);
  while (outs) {
    lkv__raft_snap_out_t *o = outs;
    outs = o->next;
    lkv_snap_sender_free(o->sender);
    free(o);
  }
  if (rs) {
    unlink(rs->path);
    lkv_snap_received_free(rs);
    free(rs);
  }
  if (n->stepped.raft_msg) unlink(n->stepped.path);
  lkv_snap_received_free(&n->stepped);
}
