/* Sending a snapshot file to one member on a thread of its own (snap_stream.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "replication/snap_stream.h"

struct lkv_snap_sender_s {
  lkv_snap_sender_options_t o;
  uint8_t *raft_msg, *frontier; /* copies */
  uint64_t id;
  int fd;
  uint64_t size;
  pthread_t thread;
  pthread_mutex_t mu; /* guards what follows */
  pthread_cond_t cv;
  uint64_t acked;    /* bytes the receiver has in order */
  int status;        /* the last ACK's */
  int stop;          /* lkv_snap_sender_free asked it to end */
  uint64_t heard_ms; /* when the last ACK (or the start) was */
};

static uint64_t now_ms(void) {
  return lkv_clock_ms(CLOCK_MONOTONIC);
}

/* Waits (lock held) until cond(s) holds; 0, or LKV_ECANCELED (stopped, refused) / LKV_ETIMEDOUT (no ACK
 * for LKV_SNAP_STALL_MS). */
static int wait_for(lkv_snap_sender_t *s, int (*cond)(const lkv_snap_sender_t *, uint64_t), uint64_t arg) {
  while (!cond(s, arg)) {
    if (s->stop || s->status == LKV_SNAP_FAILED) return LKV_ECANCELED;
    uint64_t now = now_ms();
    if (now - s->heard_ms >= LKV_SNAP_STALL_MS) return LKV_ETIMEDOUT;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 50 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
  }
  return 0;
}

static int window_open(const lkv_snap_sender_t *s, uint64_t offset) {
  return offset - s->acked < LKV_SNAP_WINDOW;
}

static int received(const lkv_snap_sender_t *s, uint64_t unused) {
  (void)unused;
  return s->status == LKV_SNAP_RECEIVED;
}

/* Queues m, waiting while the peer's queue is full. */
static int send_msg(lkv_snap_sender_t *s, const lkv_snap_msg_t *m, uint8_t *buf, size_t cap) {
  size_t len = lkv_snap_msg_encode(m, buf, cap);
  if (!len) return LKV_EINVAL;
  uint64_t start = now_ms();
  for (;;) {
    int rc = s->o.send(s->o.send_arg, s->o.to, buf, len);
    if (rc != LKV_EAGAIN) return rc;
    if (now_ms() - start >= LKV_SNAP_STALL_MS) return LKV_ETIMEDOUT;
    pthread_mutex_lock(&s->mu);
    int stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    if (stop) return LKV_ECANCELED;
    struct timespec nap = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};
    nanosleep(&nap, NULL);
  }
}

static int stream(lkv_snap_sender_t *s, uint8_t *buf, size_t cap, uint8_t *chunk) {
  lkv_snap_msg_t m = {.type = LKV_SNAP_OFFER,
                      .id = s->id,
                      .size = s->size,
                      .raft_msg = s->raft_msg,
                      .raft_msg_len = s->o.raft_msg_len,
                      .frontier = s->frontier,
                      .frontier_len = s->o.frontier_len};
  int rc = send_msg(s, &m, buf, cap);
  crypto_generichash_state h;
  crypto_generichash_init(&h, NULL, 0, LKV_SNAP_HASH_LEN);
  for (uint64_t off = 0; !rc && off < s->size;) {
    pthread_mutex_lock(&s->mu);
    rc = wait_for(s, window_open, off);
    pthread_mutex_unlock(&s->mu);
    size_t n = s->size - off < LKV_SNAP_CHUNK ? (size_t)(s->size - off) : LKV_SNAP_CHUNK;
    ssize_t got = rc ? 0 : pread(s->fd, chunk, n, (off_t)off);
    if (!rc && got != (ssize_t)n) rc = got < 0 ? -errno : LKV_EIO;
    if (rc) break;
    crypto_generichash_update(&h, chunk, n);
    m = (lkv_snap_msg_t){
        .type = LKV_SNAP_CHUNK_MSG, .id = s->id, .offset = off, .data = chunk, .data_len = n};
    rc = send_msg(s, &m, buf, cap);
    off += n;
  }
  if (rc) return rc;
  m = (lkv_snap_msg_t){.type = LKV_SNAP_END, .id = s->id};
  crypto_generichash_final(&h, m.hash, LKV_SNAP_HASH_LEN);
  rc = send_msg(s, &m, buf, cap);
  pthread_mutex_lock(&s->mu);
  if (!rc) rc = wait_for(s, received, 0);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

static void *sender_main(void *arg) {
  lkv_snap_sender_t *s = arg;
  size_t cap = LKV_SNAP_CHUNK + 128;
  uint8_t *buf = malloc(cap), *chunk = malloc(LKV_SNAP_CHUNK);
  int rc = buf && chunk ? stream(s, buf, cap, chunk) : LKV_ENOMEM;
  free(buf);
  free(chunk);
  s->o.done(s->o.arg, s->o.to, rc == 0);
  return NULL;
}

int lkv_snap_sender_start(lkv_snap_sender_t **out, const lkv_snap_sender_options_t *o) {
  lkv_snap_sender_t *s = calloc(1, sizeof(*s));
  if (!s) return LKV_ENOMEM;
  s->o = *o;
  s->fd = open(o->path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  int rc = s->fd < 0 ? -errno : fstat(s->fd, &st) != 0 ? -errno : 0;
  s->raft_msg = malloc(o->raft_msg_len ? o->raft_msg_len : 1);
  s->frontier = malloc(o->frontier_len ? o->frontier_len : 1);
  if (!rc && (!s->raft_msg || !s->frontier)) rc = LKV_ENOMEM;
  if (!rc) {
    memcpy(s->raft_msg, o->raft_msg, o->raft_msg_len);
    if (o->frontier_len) memcpy(s->frontier, o->frontier, o->frontier_len);
    s->size = (uint64_t)st.st_size;
    randombytes_buf(&s->id, sizeof(s->id));
    s->heard_ms = now_ms();
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&s->mu, NULL) || pthread_cond_init(&s->cv, &ca)) rc = LKV_ENOMEM;
    pthread_condattr_destroy(&ca);
  }
  if (!rc && pthread_create(&s->thread, NULL, sender_main, s) != 0) rc = LKV_ENOMEM;
  if (rc) {
    if (s->fd >= 0) close(s->fd);
    free(s->raft_msg);
    free(s->frontier);
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void lkv_snap_sender_ack(lkv_snap_sender_t *s, const lkv_snap_msg_t *ack) {
  pthread_mutex_lock(&s->mu);
  if (ack->id == s->id) {
    if (ack->offset > s->acked) s->acked = ack->offset;
    s->status = ack->status;
    s->heard_ms = now_ms();
    pthread_cond_broadcast(&s->cv);
  }
  pthread_mutex_unlock(&s->mu);
}

void lkv_snap_sender_free(lkv_snap_sender_t *s) {
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  s->stop = 1;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->thread, NULL);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  close(s->fd);
  free(s->raft_msg);
  free(s->frontier);
  free(s);
}
