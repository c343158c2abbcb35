/* The causal replicator refuses a peer's event that the core would refuse (docs/causal.md §1), with the
 * server's own settings: one member started as the server starts it (no max_ahead_ms: its default), and
 * events of the other member, signed with its key, handed to it as the peer transport does. */
#include <stdio.h>
#include <time.h>

#include "causal_testutil.h"
#include "common/clock.h"
#include "mvcc_testutil.h"
#include "replication/causal_node.h"

static int drop(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  (void)arg, (void)to, (void)msg, (void)len;
  return 0; /* member 2 is this test: what member 1 sends it does not matter */
}

/* Member 2's event (seq 1, key "k" = value, stamped wall) as the peer transport delivers it: kind ‖ event. */
static size_t event_msg(const ct_cluster_t *c, uint64_t wall, const char *value, uint8_t *out, size_t cap) {
  out[0] = LKV_CAUSAL_MSG_EVENT;
  return 1 + ct_event(c, 2, 1, wall, NULL, "k", value, out + 1, cap - 1);
}

/* Refused: a value byte changed after signing, then a stamp two minutes ahead of this member's clock
 * (beyond the 60 s the server allows). Then member 2's genuine event 1 is accepted: had either been
 * applied, it would hold seq 1 and this one would be refused as an equivocation. */
static void test_tampered_and_ahead_refused(void **state) {
  (void)state;
  ct_cluster_t c;
  ct_cluster(&c, 2);
  lkvt_store_t ts;
  lkvt_open(&ts);
  char dir[256];
  snprintf(dir, sizeof(dir), "%s/causal", ts.dir);
  lkv_causal_node_options_t o = {.store = ts.s,
                                 .dir = dir,
                                 .member_id = 1,
                                 .cluster_id = 99,
                                 .sk = c.sk[0],
                                 .members = c.peers,
                                 .n_members = 2,
                                 .sync_ms = 10,
                                 .send = drop};
  char err[256] = "";
  lkv_replicator_t *r;
  if (lkv_causal_node_start(&r, &o, err, sizeof(err))) fail_msg("start: %s", err);

  uint8_t msg[512];
  uint64_t now = lkv_clock_ms(CLOCK_REALTIME);
  size_t len = event_msg(&c, now, "tampered", msg, sizeof(msg));
  msg[len - 65] ^= 1; /* the value's last byte, just before the signature */
  lkv_causal_node_receive(r, 2, msg, len);
  lkv_causal_node_receive(r, 2, msg, event_msg(&c, now + 120000, "ahead", msg, sizeof(msg)));
  lkv_causal_node_receive(r, 2, msg, event_msg(&c, now, "genuine", msg, sizeof(msg)));

  lkv_causal_vv_t vv;
  uint64_t rev = 0;
  for (int i = 0; i < 1000 && rev == 0; i++) {
    lkv_causal_node_vv(r, &vv, &rev);
    if (!rev) nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
  }
  lkv_replicator_stop(r); /* every message handed over was taken before */
  assert_int_equal(rev, 1);
  assert_int_equal(lkv_causal_vv_get(&vv, 2), 1);
  char hist[256];
  assert_int_equal(lkvt_history(&ts, 1, 0, hist, sizeof(hist)), 0);
  assert_string_equal(hist, "2.0:k=genuine ");
  lkvt_close(&ts);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tampered_and_ahead_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
