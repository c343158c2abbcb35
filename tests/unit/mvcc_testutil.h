/* Helpers for the MVCC and apply unit tests: temp data dirs, one-request batches, kv snapshots. */
#ifndef LKV_TESTS_MVCC_TESTUTIL_H
#define LKV_TESTS_MVCC_TESTUTIL_H

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "mvcc/mvcc.h"

/* A store in a fresh temp dir, removed by lkvt_close. */
typedef struct lkvt_store_s {
  char dir[64];
  lkv_mvcc_t *s;
} lkvt_store_t;

static int lkvt__rm(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

static inline void lkvt_rmrf(const char *dir) {
  nftw(dir, lkvt__rm, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void lkvt_open_quota(lkvt_store_t *ts, uint64_t quota) {
  strcpy(ts->dir, "/tmp/lkv-mvcc-test-XXXXXX");
  assert_non_null(mkdtemp(ts->dir));
  lkv_mvcc_options_t o = {.dir = ts->dir, .quota_bytes = quota};
  assert_int_equal(lkv_mvcc_open(&ts->s, &o), 0);
}

static inline void lkvt_open(lkvt_store_t *ts) {
  lkvt_open_quota(ts, 64u << 20);
}

/* Closes and opens the same directory again. */
static inline void lkvt_reopen(lkvt_store_t *ts) {
  lkv_mvcc_close(ts->s);
  lkv_mvcc_options_t o = {.dir = ts->dir, .quota_bytes = 64u << 20};
  assert_int_equal(lkv_mvcc_open(&ts->s, &o), 0);
}

static inline void lkvt_close(lkvt_store_t *ts) {
  lkv_mvcc_close(ts->s);
  lkvt_rmrf(ts->dir);
}

static inline int64_t lkvt_rev(lkvt_store_t *ts) {
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  return st.revision;
}

/* One batch with one request that puts key=value (binary, explicit lengths). Returns the mvcc code. */
static inline int lkvt_put_n(lkvt_store_t *ts, const void *k, size_t kl, const void *v, size_t vl) {
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  int rc = lkv_mvcc_put(t, k, kl, v, vl, 0);
  assert_int_equal(lkv_mvcc_req_end(t, rc == 0), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  return rc;
}

static inline int lkvt_put(lkvt_store_t *ts, const char *k, const char *v) {
  return lkvt_put_n(ts, k, strlen(k), v, strlen(v));
}

/* One batch that grants lease (unless 0, TTL 100) and puts k=v with it. */
static inline void lkvt_put_lease(lkvt_store_t *ts, const char *k, const char *v, int64_t lease) {
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  if (lease) assert_int_equal(lkv_mvcc_lease_grant(t, lease, 100), 0);
  assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v), lease), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
}

/* One batch deleting [k, end) (end NULL: the single key). Returns the number deleted. */
static inline int64_t lkvt_del(lkvt_store_t *ts, const char *k, const char *end) {
  lkv_mvcc_txn_t *t;
  int64_t n = -1;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  size_t el = end ? (end[0] ? strlen(end) : 1) : 0;
  assert_int_equal(lkv_mvcc_delete_range(t, (const uint8_t *)k, strlen(k), (const uint8_t *)end, el, &n), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  return n;
}

/* One batch compacting at rev, physically (the history removed in the same batch). Returns the mvcc
 * code. */
static inline int lkvt_compact(lkvt_store_t *ts, int64_t rev) {
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  int rc = lkv_mvcc_compact(t, rev);
  if (rc == 0) rc = lkv_mvcc_compact_run(t, 0);
  assert_int_equal(lkv_mvcc_req_end(t, rc == 0), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  return rc;
}

/* Copies of range results, in order. */
#define LKVT_MAX_KVS 4096
typedef struct lkvt_kv_s {
  uint8_t *key;
  size_t key_len;
  uint8_t *value; /* NULL when not read */
  size_t value_len;
  int64_t create, mod, version, lease;
} lkvt_kv_t;

typedef struct lkvt_kvs_s {
  lkvt_kv_t v[LKVT_MAX_KVS];
  size_t n;
  size_t count;
} lkvt_kvs_t;

static inline int lkvt__collect(void *arg, const lkv_mvcc_kv_t *kv) {
  lkvt_kvs_t *out = arg;
  assert_true(out->n < LKVT_MAX_KVS);
  lkvt_kv_t *c = &out->v[out->n++];
  c->key = malloc(kv->key_len + 1);
  memcpy(c->key, kv->key, kv->key_len);
  c->key[kv->key_len] = 0;
  c->key_len = kv->key_len;
  c->value = NULL;
  if (kv->value) {
    c->value = malloc(kv->value_len + 1);
    memcpy(c->value, kv->value, kv->value_len);
    c->value[kv->value_len] = 0;
  }
  c->value_len = kv->value_len;
  c->create = kv->create_revision;
  c->mod = kv->mod_revision;
  c->version = kv->version;
  c->lease = kv->lease;
  return 0;
}

static inline void lkvt_kvs_clear(lkvt_kvs_t *k) {
  for (size_t i = 0; i < k->n; i++) {
    free(k->v[i].key);
    free(k->v[i].value);
  }
  k->n = 0;
}

static inline lkvt_kvs_t *lkvt_kvs_new(void) {
  lkvt_kvs_t *k = calloc(1, sizeof(*k));
  assert_non_null(k);
  return k;
}

static inline void lkvt_kvs_free(lkvt_kvs_t *k) {
  lkvt_kvs_clear(k);
  free(k);
}

/* cmocka fixture: a fresh store and a result buffer per test (LKVT_TEST), removed after it. */
typedef struct lkvt_fix_s {
  lkvt_store_t ts;
  lkvt_kvs_t *r;
} lkvt_fix_t;

static inline int lkvt_setup(void **state) {
  lkvt_fix_t *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  lkvt_open(&f->ts);
  f->r = lkvt_kvs_new();
  *state = f;
  return 0;
}

static inline int lkvt_teardown(void **state) {
  lkvt_fix_t *f = *state;
  lkvt_kvs_free(f->r);
  lkvt_close(&f->ts);
  free(f);
  return 0;
}

#define LKVT_TEST(fn) cmocka_unit_test_setup_teardown(fn, lkvt_setup, lkvt_teardown)

static inline lkvt_store_t *lkvt_fix_store(void **state) {
  return &((lkvt_fix_t *)*state)->ts;
}
static inline lkvt_kvs_t *lkvt_fix_kvs(void **state) {
  return ((lkvt_fix_t *)*state)->r;
}

typedef struct lkvt__hist_s {
  char *buf;
  size_t len, cap;
} lkvt__hist_t;

static inline int lkvt__hist_cb(void *arg, const lkv_mvcc_kv_t *kv, int64_t sub, int tomb) {
  lkvt__hist_t *h = arg;
  h->len +=
      (size_t)snprintf(h->buf + h->len, h->cap - h->len, "%s%lld.%lld:%.*s%s%.*s ", tomb ? "-" : "",
                       (long long)kv->mod_revision, (long long)sub, (int)kv->key_len, (const char *)kv->key,
                       tomb ? "" : "=", (int)kv->value_len, kv->value ? (const char *)kv->value : "");
  return 0;
}

/* The stored history of [from, to] (to <= 0: to the end) as "rev.sub:key=value " for puts and
 * "-rev.sub:key " for tombstones, in buf. Returns the lkv_mvcc_history code. */
static inline int lkvt_history(lkvt_store_t *ts, int64_t from, int64_t to, char *buf, size_t cap) {
  lkv_mvcc_txn_t *t;
  lkvt__hist_t h = {.buf = buf, .cap = cap};
  buf[0] = 0;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  int rc = lkv_mvcc_history(t, from, to, lkvt__hist_cb, &h);
  lkv_mvcc_txn_end(t);
  return rc;
}

/* Deterministic xorshift64 for randomized model tests. */
static inline uint64_t lkvt_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Range over a read snapshot with binary bounds into out (cleared first); returns the mvcc code. */
static inline int lkvt_range_q(lkvt_store_t *ts, const lkv_mvcc_range_t *q, lkvt_kvs_t *out) {
  lkv_mvcc_txn_t *t;
  lkvt_kvs_clear(out);
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  int rc = lkv_mvcc_range(t, q, lkvt__collect, out, &out->count);
  lkv_mvcc_txn_end(t);
  return rc;
}

/* end: NULL = single key, "" = from key ("\0"), otherwise [k, end). */
static inline int lkvt_range(lkvt_store_t *ts, const char *k, const char *end, int64_t rev, lkvt_kvs_t *out) {
  lkv_mvcc_range_t q = {.key = (const uint8_t *)k, .key_len = strlen(k), .rev = rev};
  static const uint8_t zero = 0;
  if (end) {
    q.end = end[0] ? (const uint8_t *)end : &zero;
    q.end_len = end[0] ? strlen(end) : 1;
  }
  return lkvt_range_q(ts, &q, out);
}

#endif
