/* Unit tests for the etcd backend image of a store (lkv_snapshot_write): the buckets and their bytes, as
 * a real etcd 3.4 wrote them for the same requests, and a pending compaction's removal left out. */
#include <fcntl.h>

#include "mvcc_testutil.h"
#include "snapshot/bbolt.h"
#include "snapshot/snapshot.h"

/* Each pair as "bucket key-hex=value-hex\n", each bucket as "bucket\n". */
typedef struct dump_s {
  char text[8192];
  size_t len;
  char bucket[64];
} dump_t;

static void hex(dump_t *d, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n && d->len + 3 < sizeof(d->text); i++)
    d->len += (size_t)snprintf(d->text + d->len, sizeof(d->text) - d->len, "%02x", p[i]);
}

static int visit(void *arg, lkv_bbolt_event_t ev, size_t depth, const uint8_t *k, size_t klen,
                 const uint8_t *v, size_t vlen) {
  dump_t *d = arg;
  assert_int_equal(depth, 0); /* etcd's buckets do not nest */
  if (ev == LKV_BBOLT_BUCKET_BEGIN) {
    snprintf(d->bucket, sizeof(d->bucket), "%.*s", (int)klen, (const char *)k);
    d->len += (size_t)snprintf(d->text + d->len, sizeof(d->text) - d->len, "%s\n", d->bucket);
  } else if (ev == LKV_BBOLT_KV) {
    d->len += (size_t)snprintf(d->text + d->len, sizeof(d->text) - d->len, "%s ", d->bucket);
    hex(d, k, klen);
    d->len += (size_t)snprintf(d->text + d->len, sizeof(d->text) - d->len, "=");
    hex(d, v, vlen);
    d->len += (size_t)snprintf(d->text + d->len, sizeof(d->text) - d->len, "\n");
  }
  return 0;
}

static void snapshot(lkvt_store_t *ts, const lkv_snapshot_meta_t *m, dump_t *d) {
  char path[] = "/tmp/lkv-snap-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  uint64_t size;
  assert_int_equal(lkv_snapshot_write(t, m, fd, &size), 0);
  lkv_mvcc_txn_end(t);
  memset(d, 0, sizeof(*d));
  char err[256];
  lkv_bbolt_info_t info;
  assert_int_equal(lkv_bbolt_read(fd, &info, visit, d, err, sizeof(err)), 0);
  assert_int_equal(info.high_water * LKV_BBOLT_PAGE_SIZE, size);
  close(fd);
}

/* The same requests given to etcd 3.4.23 (put a 1, put a 2, put b x, del b, put c y with lease
 * 0x390da2456b975009 of TTL 100, put d z, compact 3) left these buckets in its snapshot, byte for byte
 * apart from the member's identity and the consistent index (11 there: its Raft log's entries). */
static const char expected[] =
    "alarm\n"
    "auth\n"
    "auth 617574685265766973696f6e=0000000000000001\n"
    "authRoles\n"
    "authUsers\n"
    "cluster\n"
    "cluster 636c757374657256657273696f6e=332e342e30\n"
    "key\n"
    "key 00000000000000035f0000000000000000=0a01611002180320022a0132\n"
    "key 00000000000000045f0000000000000000=0a01621004180420012a0178\n"
    "key 00000000000000055f000000000000000074=0a0162\n"
    "key 00000000000000065f0000000000000000=0a01631006180620012a01793089a0dddcd6c8e88639\n"
    "key 00000000000000075f0000000000000000=0a01641007180720012a017a\n"
    "lease\n"
    "lease 390da2456b975009=0889a0dddcd6c8e886391064\n"
    "members\n"
    "members 62646165396262633131646433393064=" /* "bdae9bbc11dd390d" */
    "7b226964223a31333636383033333135313137313930313730392c227065657255524c73223a5b22687474703a2f2f3132372e"
    "302e302e313a3233383031225d2c226e616d65223a2264656661756c74222c22636c69656e7455524c73223a5b22687474703a"
    "2f2f3132372e302e302e313a3233373931225d7d\n"
    "members_removed\n"
    "meta\n"
    "meta 636f6e73697374656e745f696e646578=000000000000000b\n"
    "meta 66696e6973686564436f6d70616374526576=00000000000000035f0000000000000000\n"
    "meta 7363686564756c6564436f6d70616374526576=00000000000000035f0000000000000000\n";

static void test_buckets_as_etcd_writes_them(void **state) {
  (void)state;
  lkvt_store_t ts;
  lkvt_open(&ts);
  lkvt_put(&ts, "a", "1");
  lkvt_put(&ts, "a", "2");
  lkvt_put(&ts, "b", "x");
  assert_int_equal(lkvt_del(&ts, "b", NULL), 1);
  lkvt_put_lease(&ts, "c", "y", 0x390da2456b975009);
  lkvt_put(&ts, "d", "z");
  lkv_mvcc_txn_t *t; /* compact 3, the removal left pending */
  assert_int_equal(lkv_mvcc_write_begin(ts.s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_compact(t, 3), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  assert_int_equal(lkv_mvcc_compact_pending(ts.s), 1);

  char *peers[] = {"http://127.0.0.1:23801"}, *clients[] = {"http://127.0.0.1:23791"};
  lkv_snapshot_member_t member = {.id = 13668033151171901709ull,
                                  .name = "default",
                                  .peer_urls = peers,
                                  .n_peer_urls = 1,
                                  .client_urls = clients,
                                  .n_client_urls = 1};
  lkv_snapshot_meta_t m = {
      .consistent_index = 11, .member_id = member.id, .members = &member, .n_members = 1};
  dump_t pending, removed;
  snapshot(&ts, &m, &pending); /* a@2 is still stored: its removal is pending */
  assert_string_equal(pending.text, expected);
  assert_int_equal(lkv_mvcc_compact_step(ts.s, 0), 0);
  snapshot(&ts, &m, &removed);
  assert_string_equal(removed.text, expected);
  lkvt_close(&ts);
}

/* A fresh store: no compaction keys, a raised alarm listed as etcd's AlarmMember key, a learner's and an
 * unpublished member's JSON, members in the order of their hexadecimal ids. */
static void test_fresh_store_alarm_members(void **state) {
  (void)state;
  lkvt_store_t ts;
  lkvt_open(&ts);
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts.s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_alarms_set(t, LKV_MVCC_ALARM_NOSPACE), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  char *peers[] = {"http://h:2380"};
  lkv_snapshot_member_t ms[] = {
      {.id = 0x20, .peer_urls = peers, .n_peer_urls = 1},
      {.id = 0x1a, .is_learner = 1, .name = "l<&>\"", .peer_urls = peers, .n_peer_urls = 1}};
  lkv_snapshot_meta_t m = {.consistent_index = 1, .member_id = 5, .members = ms, .n_members = 2};
  dump_t d;
  snapshot(&ts, &m, &d);
  const char *want =
      "alarm\n"
      "alarm 08051001=\n" /* memberID 5, alarm NOSPACE */
      "auth\nauth 617574685265766973696f6e=0000000000000001\nauthRoles\nauthUsers\n"
      "cluster\ncluster 636c757374657256657273696f6e=332e342e30\n"
      "key\nlease\nmembers\n";
  assert_memory_equal(d.text, want, strlen(want));
  /* 1a before 20: {"id":26,"peerURLs":["http://h:2380"],"isLearner":true,"name":"l\u003c\u0026\u003e\"",
   * "clientURLs":null} */
  const char *members =
      "members "
      "3161=7b226964223a32362c227065657255524c73223a5b22687474703a2f2f683a32333830225d2c2269734c6561726e"
      "6572223a747275652c226e616d65223a226c5c75303033635c75303032365c75303033655c22222c22636c69656e7455524c73"
      "223a6e756c6c7d\n"
      "members 3230=";
  assert_non_null(strstr(d.text, members));
  assert_non_null(
      strstr(d.text, "members_removed\nmeta\nmeta 636f6e73697374656e745f696e646578=0000000000000001\n"));
  assert_null(strstr(d.text, "436f6d70616374526576")); /* never compacted: no "...CompactRev" keys */
  lkvt_close(&ts);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buckets_as_etcd_writes_them),
      cmocka_unit_test(test_fresh_store_alarm_members),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
