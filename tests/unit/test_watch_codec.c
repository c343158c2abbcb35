/* Unit tests for the WatchResponse codec: byte-identical to protobuf-c's packing of the same message. */
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "mvcc_testutil.h"
#include "watch/codec.h"

/* Packs r plus events with protobuf-c, as the reference encoding. */
static void pack_reference(const lkv__wresp_t *r, Mvccpb__Event **evs, size_t n, lkv__wbuf_t *out) {
  Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  h.cluster_id = r->cluster_id;
  h.member_id = r->member_id;
  h.revision = r->revision;
  h.raft_term = r->raft_term;
  Etcdserverpb__WatchResponse m = ETCDSERVERPB__WATCH_RESPONSE__INIT;
  m.header = &h;
  m.watch_id = r->watch_id;
  m.created = r->created;
  m.canceled = r->canceled;
  m.compact_revision = r->compact_revision;
  if (r->cancel_reason) m.cancel_reason = (char *)r->cancel_reason;
  m.fragment = r->fragment;
  m.n_events = n;
  m.events = evs;
  out->len = 0;
  size_t len = protobuf_c_message_get_packed_size(&m.base);
  uint8_t *buf = malloc(len);
  assert_non_null(buf);
  protobuf_c_message_pack(&m.base, buf);
  lkv__wbuf_put(out, buf, len);
  free(buf);
}

static void to_pb(const lkv_mvcc_kv_t *kv, Mvccpb__KeyValue *pb) {
  mvccpb__key_value__init(pb);
  pb->key.data = (uint8_t *)kv->key;
  pb->key.len = kv->key_len;
  pb->value.data = (uint8_t *)kv->value;
  pb->value.len = kv->value_len;
  pb->create_revision = kv->create_revision;
  pb->mod_revision = kv->mod_revision;
  pb->version = kv->version;
  pb->lease = kv->lease;
}

static void assert_same(const lkv__wbuf_t *a, const lkv__wbuf_t *b) {
  assert_false(a->oom);
  assert_int_equal(a->len, b->len);
  assert_memory_equal(a->data, b->data, a->len);
}

static void test_control_responses(void **state) {
  (void)state;
  lkv__wbuf_t mine = {0}, ref = {0};
  const lkv__wresp_t cases[] = {
      {.cluster_id = 0x1234567890abcdefull,
       .member_id = 42,
       .raft_term = 1,
       .revision = 7,
       .watch_id = 0,
       .created = 1},
      {.revision = 1,
       .watch_id = -1,
       .created = 1,
       .canceled = 1,
       .cancel_reason = "mvcc: duplicate watch ID provided on the WatchStream"},
      {.watch_id = 5, .canceled = 1, .compact_revision = 99},
      {.revision = (int64_t)1 << 40, .watch_id = 3, .fragment = 1},
      {0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    mine.len = 0;
    lkv__wenc_resp(&mine, &cases[i]);
    pack_reference(&cases[i], NULL, 0, &ref);
    assert_same(&mine, &ref);
  }
  lkv__wbuf_free(&mine);
  lkv__wbuf_free(&ref);
}

static void test_events(void **state) {
  (void)state;
  static uint8_t big[300];
  memset(big, 'v', sizeof(big));
  lkv_mvcc_kv_t put = {.key = (const uint8_t *)"foo",
                       .key_len = 3,
                       .value = big,
                       .value_len = sizeof(big),
                       .create_revision = 2,
                       .mod_revision = 9,
                       .version = 4,
                       .lease = 0x7fff};
  lkv_mvcc_kv_t prev = {.key = (const uint8_t *)"foo",
                        .key_len = 3,
                        .value = (const uint8_t *)"old",
                        .value_len = 3,
                        .create_revision = 2,
                        .mod_revision = 8,
                        .version = 3};
  lkv_mvcc_kv_t del = {.key = (const uint8_t *)"bar", .key_len = 3, .mod_revision = 10};
  lkv_mvcc_kv_t empty = {
      .key = (const uint8_t *)"e", .key_len = 1, .create_revision = 11, .mod_revision = 11, .version = 1};

  Mvccpb__KeyValue pb_put, pb_prev, pb_del, pb_empty;
  to_pb(&put, &pb_put);
  to_pb(&prev, &pb_prev);
  to_pb(&del, &pb_del);
  to_pb(&empty, &pb_empty);
  Mvccpb__Event e1 = MVCCPB__EVENT__INIT, e2 = MVCCPB__EVENT__INIT, e3 = MVCCPB__EVENT__INIT;
  e1.kv = &pb_put;
  e1.prev_kv = &pb_prev;
  e2.type = MVCCPB__EVENT__EVENT_TYPE__DELETE;
  e2.kv = &pb_del;
  e2.prev_kv = &pb_prev;
  e3.kv = &pb_empty;
  Mvccpb__Event *evs[] = {&e1, &e2, &e3};

  lkv__wresp_t r = {.cluster_id = 1, .member_id = 2, .raft_term = 3, .revision = 11, .watch_id = 77};
  lkv__wbuf_t mine = {0}, ref = {0};
  lkv__wenc_resp(&mine, &r);
  lkv__wenc_event(&mine, &put, 0, &prev);
  lkv__wenc_event(&mine, &del, 1, &prev);
  lkv__wenc_event(&mine, &empty, 0, NULL);
  pack_reference(&r, evs, 3, &ref);
  assert_same(&mine, &ref);

  /* and it decodes to what was put in */
  Etcdserverpb__WatchResponse *m = etcdserverpb__watch_response__unpack(NULL, mine.len, mine.data);
  assert_non_null(m);
  assert_int_equal(m->watch_id, 77);
  assert_int_equal(m->header->revision, 11);
  assert_int_equal(m->n_events, 3);
  assert_int_equal(m->events[0]->kv->value.len, sizeof(big));
  assert_int_equal(m->events[0]->prev_kv->mod_revision, 8);
  assert_int_equal(m->events[1]->type, MVCCPB__EVENT__EVENT_TYPE__DELETE);
  assert_int_equal(m->events[1]->kv->mod_revision, 10);
  assert_null(m->events[2]->prev_kv);
  etcdserverpb__watch_response__free_unpacked(m, NULL);
  lkv__wbuf_free(&mine);
  lkv__wbuf_free(&ref);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_control_responses),
      cmocka_unit_test(test_events),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
