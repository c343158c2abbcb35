/* Unit tests for the watch hub under stalls: a randomized model (every watcher sees exactly its events, in
 * order, whole revisions per response) with stalled streams, large values and many watchers; compaction of
 * history that lagging or unsynced watchers still needed. */
#include "watch_testutil.h"

#define MAX_W 400
#define NKEYS 20
#define MAX_EV 4096

typedef struct mw_s {
  int stream;
  char key[8], end[8];
  int kind; /* 0 key, 1 range, 2 from */
  int64_t start, id;
  unsigned flags;
  int canceled;
} mw_t;

typedef struct hev_s {
  char key[8];
  int tomb;
  int64_t rev;
  size_t value_len;
} hev_t;

typedef struct model_s {
  mw_t w[MAX_W];
  int n_w;
  hev_t h[MAX_EV];
  size_t n_h;
} model_t;

static int hcb(void *arg, const lkv_mvcc_kv_t *kv, int64_t sub, int tomb) {
  (void)sub;
  model_t *m = arg;
  assert_true(m->n_h < MAX_EV);
  hev_t *e = &m->h[m->n_h++];
  snprintf(e->key, sizeof(e->key), "%.*s", (int)kv->key_len, (const char *)kv->key);
  e->tomb = tomb;
  e->rev = kv->mod_revision;
  e->value_len = kv->value_len;
  return 0;
}

static int in_range(const mw_t *w, const char *k) {
  if (w->kind == 0) return strcmp(k, w->key) == 0;
  if (strcmp(k, w->key) < 0) return 0;
  return w->kind == 2 || strcmp(k, w->end) < 0;
}

/* The latest event of key before index i of the history; a put there is the event's prev_kv. */
static const hev_t *prev_of(const model_t *m, size_t i) {
  for (size_t j = i; j-- > 0;) {
    if (strcmp(m->h[j].key, m->h[i].key) == 0) return m->h[j].tomb ? NULL : &m->h[j];
  }
  return NULL;
}

static void check_watcher(const model_t *m, const mw_t *w, const wt_sink_t *s) {
  static Mvccpb__Event *got[MAX_EV];
  size_t n = wt_events(s, w->id, got, MAX_EV), k = 0;
  for (size_t i = 0; i < m->n_h; i++) {
    const hev_t *e = &m->h[i];
    if (e->rev < w->start || !in_range(w, e->key)) continue;
    if (w->flags & (e->tomb ? LKV_WATCH_NODELETE : LKV_WATCH_NOPUT)) continue;
    if (k == n && w->canceled) return; /* a canceled watcher got a prefix */
    if (k >= n)
      fail_msg("watcher %lld: missing event rev %lld key %s", (long long)w->id, (long long)e->rev, e->key);
    Mvccpb__Event *g = got[k++];
    if (g->kv->mod_revision != e->rev || (int)g->type != e->tomb || g->kv->key.len != strlen(e->key) ||
        memcmp(g->kv->key.data, e->key, g->kv->key.len) != 0 || g->kv->value.len != e->value_len)
      fail_msg("watcher %lld event %zu: got rev %lld, want rev %lld key %s", (long long)w->id, k - 1,
               (long long)g->kv->mod_revision, (long long)e->rev, e->key);
    const hev_t *p = (w->flags & LKV_WATCH_PREV_KV) ? prev_of(m, i) : NULL;
    if (p && p->rev == e->rev) p = NULL;
    if ((p != NULL) != (g->prev_kv != NULL) || (p && g->prev_kv->mod_revision != p->rev))
      fail_msg("watcher %lld rev %lld: prev_kv mismatch", (long long)w->id, (long long)e->rev);
  }
  if (k != n) fail_msg("watcher %lld: %zu extra events", (long long)w->id, n - k);
  /* atomic: a revision's events for one watcher all arrive in the same response */
  int64_t last_rev = -1;
  size_t last_msg = 0;
  for (size_t i = 0; i < s->n; i++) {
    const Etcdserverpb__WatchResponse *r = s->msgs[i];
    if (r->watch_id != w->id) continue;
    for (size_t j = 0; j < r->n_events; j++) {
      if (r->events[j]->kv->mod_revision == last_rev && last_msg != i)
        fail_msg("watcher %lld: revision %lld split across responses", (long long)w->id, (long long)last_rev);
      last_rev = r->events[j]->kv->mod_revision;
      last_msg = i;
    }
  }
}

static void random_watch(wt_fix_t *f, model_t *m, uint64_t *rng) {
  if (m->n_w == MAX_W) return;
  mw_t *w = &m->w[m->n_w];
  w->stream = (int)(lkvt_rand(rng) % 4);
  int a = (int)(lkvt_rand(rng) % NKEYS), b = a + 1 + (int)(lkvt_rand(rng) % 6);
  snprintf(w->key, sizeof(w->key), "k%02d", a);
  snprintf(w->end, sizeof(w->end), "k%02d", b);
  w->kind = (int)(lkvt_rand(rng) % 3);
  unsigned fl[] = {0, 0, LKV_WATCH_PREV_KV, LKV_WATCH_NOPUT, LKV_WATCH_NODELETE};
  w->flags = fl[lkvt_rand(rng) % 5];
  int64_t rev = lkvt_rev(&f->ts);
  w->start = lkvt_rand(rng) % 2 ? 0 : 1 + (int64_t)(lkvt_rand(rng) % (uint64_t)(rev + 3));
  wt_sink_t *s = f->sinks[w->stream];
  size_t before = s->n;
  wt_watch(s, w->key, w->kind == 0 ? NULL : w->kind == 2 ? "" : w->end, w->start, 0, w->flags);
  assert_true(s->n > before && s->msgs[before]->created && !s->msgs[before]->canceled);
  w->id = s->msgs[before]->watch_id;
  if (w->start == 0) w->start = s->msgs[before]->header->revision + 1;
  m->n_w++;
}

static void random_write(wt_fix_t *f, uint64_t *rng, int step) {
  char key[8], end[8], value[64];
  snprintf(key, sizeof(key), "k%02d", (int)(lkvt_rand(rng) % NKEYS));
  switch (lkvt_rand(rng) % 8) {
    case 0:
      lkvt_del(&f->ts, key, NULL);
      break;
    case 1:
      snprintf(end, sizeof(end), "k%02d", (int)(lkvt_rand(rng) % NKEYS));
      lkvt_del(&f->ts, key, end);
      break;
    case 2: { /* large: pushes batches past the per-response cap */
      size_t len = 40000 + lkvt_rand(rng) % 20000;
      char *big = malloc(len);
      assert_non_null(big);
      memset(big, 'b', len);
      lkvt_put_n(&f->ts, key, strlen(key), big, len);
      free(big);
      break;
    }
    case 3: { /* several keys in one revision */
      char k2[8], k3[8];
      snprintf(k2, sizeof(k2), "k%02d", (int)(lkvt_rand(rng) % NKEYS));
      snprintf(k3, sizeof(k3), "k%02d", (int)(lkvt_rand(rng) % NKEYS));
      if (!strcmp(k2, key) || !strcmp(k3, key) || !strcmp(k2, k3)) break;
      const char *keys[] = {key, k2, k3};
      wt_put_many(&f->ts, keys, 3, "multi");
      break;
    }
    default:
      snprintf(value, sizeof(value), "v%d", step);
      lkvt_put(&f->ts, key, value);
  }
}

static void test_model_with_stalls(void **state) {
  (void)state;
  lkv_watch_options_t o = {.high_water = 200000};
  wt_fix_t *f = wt_open(&o);
  model_t *m = calloc(1, sizeof(*m));
  assert_non_null(m);
  uint64_t rng = 0xfeedbeef;
  for (int step = 0; step < 700; step++) {
    uint64_t r = lkvt_rand(&rng) % 100;
    if (r < 55) {
      random_write(f, &rng, step);
    } else if (r < 70) {
      random_watch(f, m, &rng);
    } else if (r < 73 && m->n_w) {
      mw_t *w = &m->w[lkvt_rand(&rng) % (uint64_t)m->n_w];
      if (!w->canceled) assert_int_equal(lkv_watch_cancel(f->sinks[w->stream]->st, w->id), 0);
      w->canceled = 1;
    } else if (r < 82) { /* stall or release a stream, sometimes between the two water marks */
      size_t levels[] = {0, 0, 150000, 10u << 20};
      f->sinks[lkvt_rand(&rng) % 4]->pending = levels[lkvt_rand(&rng) % 4];
    } else if (r < 95) {
      lkv_watch_shard_run(f->hub, 0);
    } else {
      lkv_watch_shard_tick(f->hub, 0);
    }
  }
  for (int i = 0; i < 4; i++) f->sinks[i]->pending = 0;
  for (int i = 0; i < 200; i++) lkv_watch_shard_run(f->hub, 0);
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_read_begin(f->ts.s, &t), 0);
  assert_int_equal(lkv_mvcc_history(t, 1, 0, hcb, m), 0);
  lkv_mvcc_txn_end(t);
  for (int i = 0; i < m->n_w; i++) check_watcher(m, &m->w[i], f->sinks[m->w[i].stream]);
  free(m);
  wt_close(f);
}

/* A shard that had not read history yet when it was compacted: watchers that needed it are canceled with
 * the compact revision; one waiting for a later revision goes on. */
static void test_compaction_under_lag(void **state) {
  (void)state;
  wt_fix_t *f = wt_open(NULL);
  wt_sink_t *s = f->sinks[0], *slow = f->sinks[1];
  lkvt_put(&f->ts, "x", "0"); /* 2 */
  wt_watch(s, "x", NULL, 0, 1, 0);
  wt_watch(s, "x", NULL, 9, 2, 0);
  wt_watch(slow, "x", NULL, 2, 3, 0);
  slow->pending = (size_t)64 << 20; /* stalled: stays unsynced */
  lkv_watch_shard_run(f->hub, 0);
  for (int i = 0; i < 8; i++) lkvt_put(&f->ts, "x", "v"); /* 3..10 */
  assert_int_equal(lkvt_compact(&f->ts, 6), 0);
  slow->pending = 0;
  lkv_watch_shard_run(f->hub, 0);
  Mvccpb__Event *ev[16];
  const wt_sink_t *sinks[] = {s, s, slow};
  for (int id = 1; id <= 3; id++) {
    const wt_sink_t *k = sinks[id - 1];
    int canceled = 0;
    for (size_t i = 0; i < k->n; i++) {
      if (k->msgs[i]->watch_id == id && k->msgs[i]->canceled) {
        canceled = 1;
        assert_int_equal(k->msgs[i]->compact_revision, 6);
      }
    }
    assert_int_equal(canceled, id != 2);
  }
  assert_int_equal(wt_events(s, 2, ev, 16), 2); /* 9 and 10 */
  assert_int_equal(ev[0]->kv->mod_revision, 9);
  wt_close(f);
}

/* Ten thousand watchers on one stream, a thousand on others; a write to one key reaches exactly its
 * watchers, a prefix write reaches all, and a stalled stream does not hold back the others. */
static void test_many_watchers(void **state) {
  (void)state;
  wt_fix_t *f = wt_open(NULL);
  char key[16];
  for (int i = 0; i < 10000; i++) {
    snprintf(key, sizeof(key), "m/%05d", i);
    wt_watch(f->sinks[0], key, NULL, 0, 0, 0);
  }
  for (int i = 0; i < 1000; i++) wt_watch(f->sinks[1 + i % 3], "m/", "m0", 0, 0, 0);
  f->sinks[3]->pending = (size_t)64 << 20;
  for (int i = 0; i < 4; i++) wt_sink_clear(f->sinks[i]);
  lkvt_put(&f->ts, "m/00042", "v");
  lkv_watch_shard_run(f->hub, 0);
  assert_int_equal(f->sinks[0]->n, 1);
  assert_int_equal(f->sinks[0]->msgs[0]->watch_id, 42);
  assert_int_equal(f->sinks[1]->n + f->sinks[2]->n, 667);
  assert_int_equal(f->sinks[3]->n, 0);
  /* the stalled stream asked to be woken once down to half the high-water mark */
  assert_true(f->sinks[3]->drain_asks > 0);
  assert_int_equal(f->sinks[3]->drain_below, LKV_WATCH_DEFAULT_HIGH_WATER / 2);
  assert_int_equal(f->sinks[0]->drain_asks, 0);
  f->sinks[3]->pending = 0;
  lkv_watch_shard_tick(f->hub, 0);
  assert_int_equal(f->sinks[3]->n, 333);
  assert_int_equal(lkv_watch_shard_watchers(f->hub, 0), 11000);
  wt_close(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_model_with_stalls),
      cmocka_unit_test(test_compaction_under_lag),
      cmocka_unit_test(test_many_watchers),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
