/* The corruption checks' questions over the peer port: the codecs, the answering thread, the asking side. */
#include "server/peer_hash.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/le.h"

enum { ASK = 1, ANSWER = 2 };
enum { ANSWERED = 0, FUTURE = 1, COMPACTED = 2, FAILED = 3 };

void lkv__peer_hash_ask_encode(uint64_t id, int64_t revision, int heads,
                               uint8_t out[LKV__PEER_HASH_ASK_LEN]) {
  out[0] = ASK;
  lkv_le64_put(out + 1, id);
  lkv_le64_put(out + 9, (uint64_t)revision);
  out[17] = heads ? 1 : 0;
}

int lkv__peer_hash_ask_decode(const uint8_t *in, size_t len, uint64_t *id, int64_t *revision, int *heads) {
  if (len != LKV__PEER_HASH_ASK_LEN || in[0] != ASK || in[17] > 1) return LKV_EINVAL;
  *id = lkv_le64_get(in + 1);
  *revision = (int64_t)lkv_le64_get(in + 9);
  *heads = in[17];
  return 0;
}

void lkv__peer_hash_answer_encode(uint64_t id, const lkv__peer_hash_t *a,
                                  uint8_t out[LKV__PEER_HASH_ANSWER_LEN]) {
  memset(out, 0, LKV__PEER_HASH_ANSWER_LEN);
  out[0] = ANSWER;
  lkv_le64_put(out + 1, id);
  out[9] = a->err == 0                ? ANSWERED
           : a->err == LKV_EFUTUREREV ? FUTURE
           : a->err == LKV_ECOMPACTED ? COMPACTED
                                      : FAILED;
  if (out[9] != ANSWERED) return;
  lkv_le32_put(out + 10, a->hash);
  lkv_le64_put(out + 14, (uint64_t)a->revision);
  lkv_le64_put(out + 22, (uint64_t)a->compact_revision);
  if (!a->has_head) return;
  out[30] = 1;
  lkv_le64_put(out + 31, a->tree_size);
  memcpy(out + 39, a->root.b, LKV_MERKLE_HASH_LEN);
}

int lkv__peer_hash_answer_decode(const uint8_t *in, size_t len, uint64_t *id, lkv__peer_hash_t *a) {
  if (len != LKV__PEER_HASH_ANSWER_LEN || in[0] != ANSWER || in[9] > FAILED || in[30] > 1) return LKV_EINVAL;
  *id = lkv_le64_get(in + 1);
  a->err = in[9] == ANSWERED    ? 0
           : in[9] == FUTURE    ? LKV_EFUTUREREV
           : in[9] == COMPACTED ? LKV_ECOMPACTED
                                : LKV_EIO;
  a->hash = lkv_le32_get(in + 10);
  a->revision = (int64_t)lkv_le64_get(in + 14);
  a->compact_revision = (int64_t)lkv_le64_get(in + 22);
  a->has_head = in[30];
  a->tree_size = lkv_le64_get(in + 31);
  memcpy(a->root.b, in + 39, LKV_MERKLE_HASH_LEN);
  return 0;
}

/* A question from another member, waiting for the thread. */
typedef struct {
  uint64_t from, id;
  int64_t revision;
  int heads;
} question_t;

/* A question of ours: the answers land in out, matched by id (first .. first + n - 1) and member. */
typedef struct asking_s {
  uint64_t first;
  const uint64_t *ids;
  size_t n, left;
  lkv__peer_hash_t *out;
  int *got;
  struct asking_s *next;
} asking_t;

struct lkv__peer_hash_svc_s {
  lkv__member_t *member;
  lkv_mvcc_t *store;
  lkv_ledger_t *ledger;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* a question came, an answer came, or stop */
  question_t queue[LKV__PEER_HASH_QUEUE];
  size_t head, count;
  int stop;
  asking_t *asking;
  uint64_t next_id;
};

int lkv__peer_hash_local(lkv_mvcc_t *store, int64_t rev, lkv_snapshot_hash_t *out) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  rc = lkv_snapshot_hashkv(t, rev, out);
  lkv_mvcc_txn_end(t);
  return rc;
}

/* This member's answer to a question. */
static void answer(lkv__peer_hash_svc_t *s, const question_t *q, lkv__peer_hash_t *a) {
  memset(a, 0, sizeof(*a));
  lkv_snapshot_hash_t h;
  a->err = lkv__peer_hash_local(s->store, q->revision, &h);
  if (a->err) return;
  a->hash = h.hash;
  a->revision = h.revision;
  a->compact_revision = h.compact_revision;
  lkv_ledger_signed_head_t sh;
  if (q->heads && s->ledger && lkv_ledger_latest_head(s->ledger, &sh) == 0) {
    a->has_head = 1;
    a->tree_size = sh.head.tree_size;
    a->root = sh.head.root;
  }
}

static void *answer_main(void *arg) {
  lkv__peer_hash_svc_t *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->count && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
    if (s->stop) break;
    question_t q = s->queue[s->head];
    s->head = (s->head + 1) % LKV__PEER_HASH_QUEUE;
    s->count--;
    pthread_mutex_unlock(&s->mu);
    lkv__peer_hash_t a;
    answer(s, &q, &a);
    uint8_t msg[LKV__PEER_HASH_ANSWER_LEN];
    lkv__peer_hash_answer_encode(q.id, &a, msg);
    (void)lkv__member_send(s->member, q.from, LKV__CHANNEL_HASH, msg, sizeof(msg));
    pthread_mutex_lock(&s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* On the peer thread: a question is queued for the thread, an answer handed to whoever asked. */
static void on_message(void *arg, uint64_t from, const uint8_t *data, size_t len) {
  lkv__peer_hash_svc_t *s = arg;
  question_t q = {.from = from};
  if (lkv__peer_hash_ask_decode(data, len, &q.id, &q.revision, &q.heads) == 0) {
    pthread_mutex_lock(&s->mu);
    if (s->count < LKV__PEER_HASH_QUEUE) {
      s->queue[(s->head + s->count) % LKV__PEER_HASH_QUEUE] = q;
      s->count++;
      pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return;
  }
  uint64_t id;
  lkv__peer_hash_t a;
  if (lkv__peer_hash_answer_decode(data, len, &id, &a) != 0) return;
  pthread_mutex_lock(&s->mu);
  for (asking_t *k = s->asking; k; k = k->next) {
    if (id < k->first || id - k->first >= k->n) continue;
    size_t i = (size_t)(id - k->first);
    if (k->ids[i] != from || k->got[i]) break; /* only the member asked answers, once */
    a.id = from;
    k->out[i] = a;
    k->got[i] = 1;
    k->left--;
    pthread_cond_broadcast(&s->cv);
    break;
  }
  pthread_mutex_unlock(&s->mu);
}

int lkv__peer_hash_start(lkv__peer_hash_svc_t **out, lkv__member_t *m, lkv_mvcc_t *store,
                         lkv_ledger_t *ledger) {
  lkv__peer_hash_svc_t *s = calloc(1, sizeof(*s));
  if (!s) return LKV_ENOMEM;
  s->member = m;
  s->store = store;
  s->ledger = ledger;
  s->next_id = 1;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  int ok = pthread_mutex_init(&s->mu, NULL) == 0;
  if (ok && pthread_cond_init(&s->cv, &attr) != 0) {
    pthread_mutex_destroy(&s->mu);
    ok = 0;
  }
  pthread_condattr_destroy(&attr);
  if (!ok) {
    free(s);
    return LKV_ENOMEM;
  }
  if (pthread_create(&s->thread, NULL, answer_main, s) != 0) goto err_after_sync;
  if (lkv__member_on_channel(m, LKV__CHANNEL_HASH, on_message, s) != 0) {
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    goto err_after_sync;
  }
  *out = s;
  return 0;
err_after_sync:
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  free(s);
  return LKV_ENOMEM;
}

void lkv__peer_hash_stop(lkv__peer_hash_svc_t *s) {
  if (!s) return;
  (void)lkv__member_on_channel(s->member, LKV__CHANNEL_HASH, NULL, NULL); /* no delivery runs after this */
  pthread_mutex_lock(&s->mu);
  s->stop = 1;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->thread, NULL);
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

int lkv__peer_hash_ask(lkv__peer_hash_svc_t *s, const uint64_t *ids, size_t n, int64_t revision, int heads,
                       unsigned timeout_ms, lkv__peer_hash_t *out) {
  int *got = calloc(n ? n : 1, sizeof(*got));
  if (!got) return LKV_ENOMEM;
  for (size_t i = 0; i < n; i++) out[i] = (lkv__peer_hash_t){.id = ids[i], .err = LKV_EIO};
  asking_t k = {.ids = ids, .n = n, .left = n, .out = out, .got = got};
  pthread_mutex_lock(&s->mu);
  k.first = s->next_id;
  s->next_id += n;
  k.next = s->asking;
  s->asking = &k;
  pthread_mutex_unlock(&s->mu);
  for (size_t i = 0; i < n; i++) {
    uint8_t msg[LKV__PEER_HASH_ASK_LEN];
    lkv__peer_hash_ask_encode(k.first + i, revision, heads, msg);
    (void)lkv__member_send(s->member, ids[i], LKV__CHANNEL_HASH, msg, sizeof(msg)); /* unsent: no answer */
  }
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&s->mu);
  while (k.left && !s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
  }
  asking_t **pp = &s->asking;
  while (*pp != &k) pp = &(*pp)->next;
  *pp = k.next;
  pthread_mutex_unlock(&s->mu);
  free(got);
  return 0;
}
