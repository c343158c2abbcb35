/* Unit tests for the watch hub: etcd's create/cancel/progress semantics, events, filters, prev_kv,
 * compaction and fragments, on a real store with fake streams. */
#include <time.h>

#include "watch_testutil.h"

static void test_create_events_cancel(void **state) {
  (void)state;
  wt_fix_t *f = wt_open(NULL);
  wt_sink_t *s = f->sinks[0];
  lkvt_put(&f->ts, "a", "1"); /* rev 2 */
  wt_watch(s, "a", NULL, 0, 0, 0);
  assert_int_equal(s->n, 1);
  Etcdserverpb__WatchResponse *m = s->msgs[0];
  assert_true(m->created);
  assert_false(m->canceled);
  assert_int_equal(m->watch_id, 0);
  assert_int_equal(m->header->revision, 2);
  assert_int_equal(m->header->cluster_id, 11);
  assert_int_equal(m->header->member_id, 22);
  assert_int_equal(m->header->raft_term, 1);

  lkvt_put(&f->ts, "a", "2");  /* rev 3 */
  lkvt_put(&f->ts, "b", "1");  /* rev 4: not watched */
  lkvt_del(&f->ts, "a", NULL); /* rev 5 */
  lkv_watch_shard_run(f->hub, 0);
  assert_int_equal(s->n, 2);
  m = s->msgs[1];
  assert_int_equal(m->watch_id, 0);
  assert_int_equal(m->header->revision, 5);
  assert_int_equal(m->n_events, 2);
  assert_int_equal(m->events[0]->type, MVCCPB__EVENT__EVENT_TYPE__PUT);
  assert_memory_equal(m->events[0]->kv->value.data, "2", 1);
  assert_int_equal(m->events[0]->kv->mod_revision, 3);
  assert_int_equal(m->events[0]->kv->create_revision, 2);
  assert_int_equal(m->events[0]->kv->version, 2);
  assert_null(m->events[0]->prev_kv);
  assert_int_equal(m->events[1]->type, MVCCPB__EVENT__EVENT_TYPE__DELETE);
  assert_int_equal(m->events[1]->kv->mod_revision, 5);

  assert_int_equal(lkv_watch_cancel(s->st, 0), 0);
  assert_int_equal(s->n, 3);
  assert_true(s->msgs[2]->canceled);
  assert_int_equal(s->msgs[2]->watch_id, 0);
  assert_int_equal(s->msgs[2]->header->revision, 5);
  assert_int_equal(lkv_watch_cancel(s->st, 0), 0); /* unknown now: ignored, no answer */
  assert_int_equal(s->n, 3);
  lkvt_put(&f->ts, "a", "3");
  lkv_watch_shard_run(f->hub, 0);
  assert_int_equal(s->n, 3);
  wt_close(f);
}

static void test_history_prefix_prev_filters(void **state) {
  (void)state;
  wt_fix_t *f = wt_open(NULL);
  wt_sink_t *s = f->sinks[0];
  lkvt_put(&f->ts, "p/a", "1"); /* 2 */
  lkvt_put(&f->ts, "q", "x");   /* 3 */
  lkvt_put(&f->ts, "p/b", "1"); /* 4 */
  lkvt_put(&f->ts, "p/a", "2"); /* 5 */
  lkvt_del(&f->ts, "p/", "p0"); /* 6: both */
  wt_watch(s, "p/", "p0", 2, 1, LKV_WATCH_PREV_KV);
  wt_watch(s, "p/", "p0", 3, 2, LKV_WATCH_NOPUT);
  wt_watch(s, "p/", "p0", 1, 3, LKV_WATCH_NODELETE);
  wt_watch(s, "", "", 6, 4, 0); /* every key, from a revision with only deletes */
  lkv_watch_shard_run(f->hub, 0);
  Mvccpb__Event *ev[64];
  size_t n = wt_events(s, 1, ev, 64);
  assert_int_equal(n, 5);
  const int64_t revs[] = {2, 4, 5, 6, 6};
  for (size_t i = 0; i < n; i++) assert_int_equal(ev[i]->kv->mod_revision, revs[i]);
  assert_null(ev[0]->prev_kv); /* a create has no previous version */
  assert_null(ev[1]->prev_kv);
  assert_non_null(ev[2]->prev_kv);
  assert_memory_equal(ev[2]->prev_kv->value.data, "1", 1);
  assert_int_equal(ev[2]->prev_kv->mod_revision, 2);
  assert_int_equal(ev[3]->type, MVCCPB__EVENT__EVENT_TYPE__DELETE);
  assert_memory_equal(ev[3]->kv->key.data, "p/a", 3);
  assert_memory_equal(ev[3]->prev_kv->value.data, "2", 1); /* a delete carries what it deleted */
  assert_memory_equal(ev[4]->prev_kv->key.data, "p/b", 3);

  n = wt_events(s, 2, ev, 64);
  assert_int_equal(n, 2);
  assert_int_equal(ev[0]->type, MVCCPB__EVENT__EVENT_TYPE__DELETE);
  assert_int_equal(ev[1]->type, MVCCPB__EVENT__EVENT_TYPE__DELETE);
  n = wt_events(s, 3, ev, 64);
  assert_int_equal(n, 3);
  for (size_t i = 0; i < n; i++) assert_int_equal(ev[i]->type, MVCCPB__EVENT__EVENT_TYPE__PUT);
  n = wt_events(s, 4, ev, 64);
  assert_int_equal(n, 2);
  /* a future start revision waits for it */
  wt_watch(s, "q", NULL, 9, 5, 0);
  lkvt_put(&f->ts, "q", "7"); /* 7 */
  lkvt_put(&f->ts, "q", "8"); /* 8 */
  lkvt_put(&f->ts, "q", "9"); /* 9 */
  lkv_watch_shard_run(f->hub, 0);
  n = wt_events(s, 5, ev, 64);
  assert_int_equal(n, 1);
  assert_int_equal(ev[0]->kv->mod_revision, 9);
  wt_close(f);
}

static void test_ids_and_refusals(void **state) {
  (void)state;
  wt_fix_t *f = wt_open(NULL);
  wt_sink_t *s = f->sinks[0];
  wt_watch(s, "a", NULL, 0, 1, 0);
  wt_watch(s, "a", NULL, 0, 0, 0); /* auto: 0 */
  wt_watch(s, "a", NULL, 0, 0, 0); /* auto: 1 is taken, so 2 */
  wt_watch(s, "a", NULL, 0, 2, 0); /* duplicate */
  wt_watch(s, "b", "a", 0, 9, 0);  /* empty range */
  wt_watch(s, "b", "b", 0, 9, 0);  /* empty range */
  assert_int_equal(s->n, 6);
  assert_int_equal(s->msgs[0]->watch_id, 1);
  assert_int_equal(s->msgs[1]->watch_id, 0);
  assert_int_equal(s->msgs[2]->watch_id, 2);
  for (size_t i = 3; i < 6; i++) {
    assert_true(s->msgs[i]->created && s->msgs[i]->canceled);
    assert_int_equal(s->msgs[i]->watch_id, -1);
  }
  assert_string_equal(s->msgs[3]->cancel_reason, "mvcc: duplicate watch ID provided on the WatchStream");
  assert_string_equal(s->msgs[4]->cancel_reason, "mvcc: watcher range is empty");
  assert_string_equal(s->msgs[5]->cancel_reason, "mvcc: watcher range is empty");
  /* ids are per stream */
  wt_watch(f->sinks[1], "a", NULL, 0, 1, 0);
  assert_int_equal(f->sinks[1]->msgs[0]->watch_id, 1);
  assert_int_equal(lkv_watch_shard_watchers(f->hub, 0), 4);
  /* many ids: the table grows and shrinks without losing any */
  for (int i = 100; i < 400; i++) wt_watch(s, "z", NULL, 0, i, 0);
  for (int i = 100; i < 400; i += 2) assert_int_equal(lkv_watch_cancel(s->st, i), 0);
  lkvt_put(&f->ts, "z", "1");
  lkv_watch_shard_run(f->hub, 0);
  Mvccpb__Event *ev[4];
  for (int i = 100; i < 400; i++) assert_int_equal(wt_events(s, i, ev, 4), (size_t)(i % 2));
  wt_close(f);
}

static void test_compacted_start(void **state) {
  (void)state;
  wt_fix_t *f = wt_open(NULL);
  wt_sink_t *s = f->sinks[0];
  for (int i = 0; i < 5; i++) lkvt_put(&f->ts, "k", "v"); /* 2..6 */
  assert_int_equal(lkvt_compact(&f->ts, 5), 0);
  wt_watch(s, "k", NULL, 4, 7, 0);
  assert_int_equal(s->n, 2);
  assert_true(s->msgs[0]->created);
  assert_int_equal(s->msgs[0]->watch_id, 7);
  assert_true(s->msgs[1]->canceled);
  assert_int_equal(s->msgs[1]->watch_id, 7);
  assert_int_equal(s->msgs[1]->compact_revision, 5);
  assert_int_equal(s->msgs[1]->header->revision, 0);
  wt_watch(s, "k", NULL, 5, 7, 0); /* the id stays taken until canceled, as in etcd */
  assert_string_equal(s->msgs[2]->cancel_reason, "mvcc: duplicate watch ID provided on the WatchStream");
  assert_int_equal(lkv_watch_cancel(s->st, 7), 0);
  assert_true(s->msgs[3]->canceled);
  wt_watch(s, "k", NULL, 5, 7, 0); /* the compact revision itself may be watched */
  lkv_watch_shard_run(f->hub, 0);
  Mvccpb__Event *ev[8];
  assert_int_equal(wt_events(s, 7, ev, 8), 2);
  assert_int_equal(ev[0]->kv->mod_revision, 5);
  assert_int_equal(ev[1]->kv->mod_revision, 6);
  wt_close(f);
}

static void test_progress_request(void **state) {
  (void)state;
  wt_fix_t *f = wt_open(NULL);
  wt_sink_t *s = f->sinks[0];
  assert_int_equal(lkv_watch_request_progress(s->st), 0);
  assert_int_equal(s->n, 0); /* no watcher: nothing to report */
  lkvt_put(&f->ts, "a", "1");
  wt_watch(s, "a", NULL, 0, 0, 0);
  lkvt_put(&f->ts, "a", "2"); /* rev 3, not yet delivered: the request delivers it first */
  assert_int_equal(lkv_watch_request_progress(s->st), 0);
  assert_int_equal(s->n, 3);
  assert_int_equal(s->msgs[1]->n_events, 1);
  assert_int_equal(s->msgs[2]->watch_id, -1);
  assert_int_equal(s->msgs[2]->n_events, 0);
  assert_int_equal(s->msgs[2]->header->revision, 3);
  /* an unsynced watcher defers the answer until it has caught up */
  s->pending = (size_t)64 << 20;
  wt_watch(s, "a", NULL, 2, 5, 0);
  assert_int_equal(lkv_watch_request_progress(s->st), 0);
  assert_int_equal(s->n, 4);
  s->pending = 0;
  lkv_watch_shard_run(f->hub, 0);
  assert_int_equal(s->n, 6);
  assert_int_equal(s->msgs[4]->watch_id, 5);
  assert_int_equal(s->msgs[4]->n_events, 2);
  assert_int_equal(s->msgs[5]->watch_id, -1);
  assert_int_equal(s->msgs[5]->header->revision, 3);
  wt_close(f);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void test_progress_notify(void **state) {
  (void)state;
  lkv_watch_options_t o = {.progress_ms = 100};
  wt_fix_t *f = wt_open(&o);
  wt_sink_t *s = f->sinks[0];
  lkvt_put(&f->ts, "a", "1");
  wt_watch(s, "a", NULL, 0, 1, LKV_WATCH_PROGRESS_NOTIFY);
  wt_watch(s, "b", NULL, 0, 2, 0);
  sleep_ms(130);
  lkv_watch_shard_tick(f->hub, 0);
  assert_int_equal(s->n, 3);
  assert_int_equal(s->msgs[2]->watch_id, 1);
  assert_int_equal(s->msgs[2]->n_events, 0);
  assert_int_equal(s->msgs[2]->header->revision, 2);
  /* an event in the interval elides the next notification */
  lkvt_put(&f->ts, "a", "2");
  lkv_watch_shard_run(f->hub, 0);
  assert_int_equal(s->n, 4);
  sleep_ms(130);
  lkv_watch_shard_tick(f->hub, 0);
  assert_int_equal(s->n, 4);
  sleep_ms(130);
  lkv_watch_shard_tick(f->hub, 0);
  assert_int_equal(s->n, 5);
  assert_int_equal(s->msgs[4]->watch_id, 1);
  assert_int_equal(s->msgs[4]->header->revision, 3);
  wt_close(f);
}

static void test_fragment(void **state) {
  (void)state;
  lkv_watch_options_t o = {.fragment_bytes = 300};
  wt_fix_t *f = wt_open(&o);
  wt_sink_t *s = f->sinks[0];
  wt_watch(s, "f/", "f0", 0, 1, LKV_WATCH_FRAGMENT);
  wt_watch(s, "f/", "f0", 0, 2, 0);
  const char *keys[] = {"f/1", "f/2", "f/3", "f/4", "f/5", "f/6"};
  char value[101];
  memset(value, 'x', 100);
  value[100] = 0;
  wt_put_many(&f->ts, keys, 6, value); /* one revision, ~660 bytes of events */
  lkv_watch_shard_run(f->hub, 0);
  size_t parts = 0, events = 0;
  for (size_t i = 0; i < s->n; i++) {
    Etcdserverpb__WatchResponse *m = s->msgs[i];
    if (m->created) continue;
    if (m->watch_id == 2) {
      assert_int_equal(m->n_events, 6); /* without fragment: whole */
      assert_false(m->fragment);
    }
    if (m->watch_id != 1) continue;
    parts++;
    events += m->n_events;
    assert_true(m->n_events >= 1);
    assert_int_equal(m->fragment, events < 6); /* every part but the last is flagged */
    assert_true(protobuf_c_message_get_packed_size(&m->base) < 300 || m->n_events == 1);
  }
  assert_true(parts >= 3);
  assert_int_equal(events, 6);
  wt_close(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_events_cancel),
      cmocka_unit_test(test_history_prefix_prev_filters),
      cmocka_unit_test(test_ids_and_refusals),
      cmocka_unit_test(test_compacted_start),
      cmocka_unit_test(test_progress_request),
      cmocka_unit_test(test_progress_notify),
      cmocka_unit_test(test_fragment),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
