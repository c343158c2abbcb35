/* Unit tests for the watcher index: exact keys, ranges and from-key ranges against a brute-force model. */
#include <time.h>

#include "mvcc_testutil.h"
#include "watch/internal.h"

#define N_WATCHERS 600
#define KEY_SPACE 40

typedef struct model_s {
  lkv__watcher_t w[N_WATCHERS];
  uint8_t keys[N_WATCHERS][2], ends[N_WATCHERS][2];
  int in[N_WATCHERS];
  int hits[N_WATCHERS];
} model_t;

static void hit(void *arg, lkv__watcher_t *w) {
  model_t *m = arg;
  m->hits[w - m->w]++;
}

/* Two-byte keys "a?" so that byte order and length both matter; some ends are one byte long. */
static void random_range(model_t *m, int i, uint64_t *rng) {
  lkv__widx_link_t *l = &m->w[i].link;
  memset(l, 0, sizeof(*l));
  m->keys[i][0] = 'a';
  m->keys[i][1] = (uint8_t)('0' + lkvt_rand(rng) % KEY_SPACE);
  l->key = m->keys[i];
  l->key_len = 2;
  switch (lkvt_rand(rng) % 4) {
    case 0:
    case 1:
      l->kind = LKV__WK_KEY;
      break;
    case 2:
      l->kind = LKV__WK_RANGE;
      m->ends[i][0] = 'a';
      m->ends[i][1] = (uint8_t)(m->keys[i][1] + 1 + lkvt_rand(rng) % 8);
      l->end = m->ends[i];
      l->end_len = lkvt_rand(rng) % 5 == 0 ? 1 : 2;
      if (l->end_len == 1) m->ends[i][0] = 'b'; /* "b": a shorter end above every "a?" key */
      break;
    default:
      l->kind = LKV__WK_FROM;
      break;
  }
}

static int contains(const lkv__widx_link_t *l, const uint8_t *k) {
  int c = memcmp(k, l->key, 2);
  if (l->kind == LKV__WK_KEY) return c == 0;
  if (c < 0) return 0;
  if (l->kind == LKV__WK_FROM) return 1;
  size_t n = l->end_len < 2 ? l->end_len : 2;
  int e = memcmp(k, l->end, n);
  return e < 0 || (e == 0 && 2 < l->end_len);
}

static void check_all_keys(model_t *m, lkv__widx_t *x) {
  for (int k = 0; k < KEY_SPACE + 10; k++) {
    uint8_t key[2] = {'a', (uint8_t)('0' + k)};
    memset(m->hits, 0, sizeof(m->hits));
    lkv__widx_match(x, key, 2, hit, m);
    for (int i = 0; i < N_WATCHERS; i++) {
      int want = m->in[i] && contains(&m->w[i].link, key);
      if (m->hits[i] != want) fail_msg("key a%c watcher %d: %d hits, want %d", key[1], i, m->hits[i], want);
    }
  }
}

static void test_model(void **state) {
  (void)state;
  model_t *m = calloc(1, sizeof(*m));
  assert_non_null(m);
  lkv__widx_t x;
  lkv__widx_init(&x);
  uint64_t rng = 12345;
  for (int round = 0; round < 6; round++) {
    /* add a batch, check, remove a random third, check */
    for (int i = 0; i < N_WATCHERS; i++) {
      if (m->in[i] || lkvt_rand(&rng) % 2) continue;
      random_range(m, i, &rng);
      assert_int_equal(lkv__widx_add(&x, &m->w[i]), 0);
      m->in[i] = 1;
    }
    check_all_keys(m, &x);
    for (int i = 0; i < N_WATCHERS; i++) {
      if (!m->in[i] || lkvt_rand(&rng) % 3) continue;
      lkv__widx_remove(&x, &m->w[i]);
      m->in[i] = 0;
    }
    check_all_keys(m, &x);
  }
  for (int i = 0; i < N_WATCHERS; i++) {
    if (m->in[i]) lkv__widx_remove(&x, &m->w[i]);
  }
  assert_int_equal(x.n_keys + x.n_ranges, 0);
  lkv__widx_free(&x);
  free(m);
}

typedef struct one_s {
  lkv__watcher_t *want;
  int hits, wrong;
} one_t;

static void hit_one(void *arg, lkv__watcher_t *w) {
  one_t *o = arg;
  o->hits++;
  o->wrong += w != o->want;
}

/* Many disjoint watchers, half exact keys, half one-key ranges: each key finds exactly its watcher, and
 * matching stays cheap (a lookup that scanned every watcher would need ~4e9 comparisons here; the bound
 * below is a hundred times what the index needs even under sanitizers). */
static void test_many_disjoint(void **state) {
  (void)state;
  enum { N = 20000, LOOKUPS = 200000 };
  lkv__watcher_t *w = calloc(N, sizeof(*w));
  uint8_t(*keys)[8] = calloc(N, sizeof(*keys));
  uint8_t(*ends)[8] = calloc(N, sizeof(*ends));
  assert_true(w && keys && ends);
  lkv__widx_t x;
  lkv__widx_init(&x);
  for (int i = 0; i < N; i++) {
    snprintf((char *)keys[i], 8, "%06d", i);
    snprintf((char *)ends[i], 8, "%06d", i + 1);
    w[i].link.key = keys[i];
    w[i].link.key_len = 6;
    w[i].link.kind = i % 2 ? LKV__WK_KEY : LKV__WK_RANGE;
    w[i].link.end = ends[i];
    w[i].link.end_len = 6;
    assert_int_equal(lkv__widx_add(&x, &w[i]), 0);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t rng = 7;
  for (int n = 0; n < LOOKUPS; n++) {
    int i = (int)(lkvt_rand(&rng) % N);
    one_t o = {.want = &w[i]};
    lkv__widx_match(&x, keys[i], 6, hit_one, &o);
    if (o.hits != 1 || o.wrong) fail_msg("key %s: %d hits, %d wrong", keys[i], o.hits, o.wrong);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true(secs < 5.0);
  for (int i = 0; i < N; i++) lkv__widx_remove(&x, &w[i]);
  assert_int_equal(x.n_keys + x.n_ranges, 0);
  assert_null(x.root);
  lkv__widx_free(&x);
  free(w);
  free(keys);
  free(ends);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_model),
      cmocka_unit_test(test_many_disjoint),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
