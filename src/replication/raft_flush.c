/* The flusher: saves a ready batch to the Raft log and then sends what promised it durable, on a thread of
 * its own, while the raft thread applies the entries committed before that batch. */
#include <stdlib.h>

#include "common/error.h"
#include "raft/codec.h"
#include "replication/raft_internal.h"

void lkv__raft_send(lkv__raft_node_t *n, lkv__raft_sendbuf_t *buf, const lkv_raft_msg_t *msgs, size_t count) {
  for (size_t i = 0; i < count; i++) {
    if (msgs[i].type == LKV_RAFT_MSG_SNAP) { /* the file goes on its own channel, in chunks */
      lkv__raft_node_send_snapshot(n, &msgs[i]);
      continue;
    }
    size_t need = lkv_raft_msg_size(&msgs[i]);
    if (need > buf->cap) {
      uint8_t *b = realloc(buf->b, need);
      if (!b) continue; /* dropped: Raft retries */
      buf->b = b;
      buf->cap = need;
    }
    size_t len = lkv_raft_msg_encode(&msgs[i], buf->b, buf->cap);
    if (len) n->o.send(n->o.send_arg, msgs[i].to, buf->b, len);
  }
}

static int save(lkv__raft_node_t *n, const lkv_raft_ready_t *rd) {
  return lkv_wal_save(n->wal, rd->has_hard_state ? &rd->hard_state : NULL,
                      rd->has_snapshot ? &rd->snapshot.meta : NULL, rd->entries, rd->n_entries);
}

static void *flusher_main(void *arg) {
  lkv__raft_node_t *n = arg;
  lkv__raft_flusher_t *f = &n->flusher;
  pthread_mutex_lock(&f->mu);
  for (;;) {
    while (!f->rd && !f->stop) pthread_cond_wait(&f->cv, &f->mu);
    if (!f->rd) break;
    const lkv_raft_ready_t *rd = f->rd;
    pthread_mutex_unlock(&f->mu);
    int rc = save(n, rd);
    if (rc == 0) lkv__raft_send(n, &f->out, rd->msgs_after_persist, rd->n_msgs_after_persist);
    pthread_mutex_lock(&f->mu);
    f->rc = rc;
    f->rd = NULL;
    pthread_cond_broadcast(&f->cv);
  }
  pthread_mutex_unlock(&f->mu);
  return NULL;
}

int lkv__raft_flusher_start(lkv__raft_node_t *n) {
  lkv__raft_flusher_t *f = &n->flusher;
  if (pthread_mutex_init(&f->mu, NULL)) return LKV_ENOMEM;
  if (pthread_cond_init(&f->cv, NULL)) {
    pthread_mutex_destroy(&f->mu);
    return LKV_ENOMEM;
  }
  if (pthread_create(&f->thread, NULL, flusher_main, n) != 0) {
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    return LKV_ENOMEM;
  }
  f->started = 1;
  return 0;
}

void lkv__raft_flusher_stop(lkv__raft_node_t *n) {
  lkv__raft_flusher_t *f = &n->flusher;
  if (!f->started) return;
  pthread_mutex_lock(&f->mu);
  f->stop = 1;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
  pthread_join(f->thread, NULL);
  pthread_cond_destroy(&f->cv);
  pthread_mutex_destroy(&f->mu);
  free(f->out.b);
  f->started = 0;
}

/* Whether rd may be saved while its committed entries are applied: they must all be durable already (a
 * follower may be handed entries committed in the very batch that brings them), and everything the save
 * is followed by must be the flusher's to send (snapshots go through the raft thread). */
static int may_overlap(const lkv__raft_node_t *n, const lkv_raft_ready_t *rd) {
  if (!n->flusher.started || rd->has_snapshot || !rd->n_committed) return 0;
  if (rd->n_entries && rd->committed[rd->n_committed - 1].index >= rd->entries[0].index) return 0;
  for (size_t i = 0; i < rd->n_msgs_after_persist; i++)
    if (rd->msgs_after_persist[i].type == LKV_RAFT_MSG_SNAP) return 0;
  return 1;
}

int lkv__raft_save_and_apply(lkv__raft_node_t *n, const lkv_raft_ready_t *rd, int must_save) {
  int rc = 0, applied = 0;
  if (!must_save || !may_overlap(n, rd)) {
    if (must_save) rc = save(n, rd);
    if (rc == 0) {
      if (rd->has_snapshot) lkv__raft_node_take_checkpoint(n); /* the installed copy is the checkpoint now */
      lkv__raft_send(n, &n->out, rd->msgs_after_persist, rd->n_msgs_after_persist);
      applied = lkv__raft_node_apply(n, rd);
    }
  } else {
    lkv__raft_flusher_t *f = &n->flusher;
    pthread_mutex_lock(&f->mu);
    f->rd = rd;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    applied = lkv__raft_node_apply(n, rd);
    pthread_mutex_lock(&f->mu);
    while (f->rd) pthread_cond_wait(&f->cv, &f->mu);
    rc = f->rc;
    pthread_mutex_unlock(&f->mu);
  }
  if (rc) {
    lkv__raft_node_halt(n, "cannot save to the raft log", rc);
    return rc;
  }
  return applied;
}
