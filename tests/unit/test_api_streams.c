/* etcd's stream interceptor in the API (lkv__api_stream_refusal, watch.c, keepalive.c) over the real
 * transport: on a learner, Watch and LeaseKeepAlive end with "rpc not supported for learner" whatever the
 * client does next (more messages, half-close, reset), each call finished exactly once (the transport
 * stops only once every call was finished; ASan sees a second finish); a stream that requires a leader
 * ends with "no leader" on a member without one, and a learner's refusal comes first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "api/api.h"
#include "h2_test_client.h"

#define WATCH "/etcdserverpb.Watch/Watch"
#define KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"
#define LEARNER "etcdserver: rpc not supported for learner"
#define NO_LEADER "etcdserver: no leader"

/* A replicator that only reports a status: the refusals need nothing else. */
static lkv_replication_status_t fake_status;

static void status(lkv_replicator_t *r, lkv_replication_status_t *out) {
  (void)r;
  *out = fake_status;
}

static const lkv_replicator_ops_t fake_ops = {.status = status};
static lkv_replicator_t fake_replicator = {&fake_ops};
static lkv_api_t api = {.replicator = &fake_replicator};

static lkv_transport_t *transport;
static h2c_t *client;

static int setup(void **state) {
  (void)state;
  lkv_listen_addr_t addr = {"127.0.0.1", 0};
  lkv_transport_options_t opts = {.addrs = &addr, .n_addrs = 1, .n_loops = 1, .max_recv_msg_bytes = 1024};
  lkv_transport_handler_t h;
  lkv_api_handler(&api, &h);
  assert_int_equal(lkv_transport_start(&transport, &opts, &h), 0);
  client = h2c_connect(lkv_transport_bound_port(transport, 0));
  assert_non_null(client);
  fake_status = (lkv_replication_status_t){.member_id = 2, .leader = 1, .term = 3, .is_learner = 1};
  return 0;
}

static int teardown(void **state) {
  (void)state;
  h2c_free(client);
  lkv_transport_stop(transport, 0); /* returns once every call the API held was finished */
  return 0;
}

static int answered(void *arg) {
  return ((h2c_stream_t *)arg)->grpc_status >= 0;
}

/* Opens a stream (with hasleader metadata when asked) and sends n empty messages (valid empty requests). */
static h2c_stream_t *open_stream(const char *path, int require_leader, int n) {
  const char *const md[] = {"hasleader", "true", NULL};
  h2c_stream_t *s = h2c_request_md(client, path, NULL, NULL, require_leader ? md : md + 2);
  assert_non_null(s);
  for (int i = 0; i < n; i++) h2c_send_msg(client, s, "", 0);
  return s;
}

static void assert_refused(h2c_stream_t *s, const char *message) {
  assert_int_equal(h2c_run(client, answered, s, 5000), 1);
  assert_int_equal(s->grpc_status, 14); /* UNAVAILABLE */
  assert_string_equal(s->grpc_message, message);
  assert_int_equal(s->n_msgs, 0);
}

static void test_learner_refuses_streams_however_they_go_on(void **state) {
  (void)state;
  const char *paths[] = {WATCH, KEEPALIVE};
  for (int i = 0; i < 2; i++) {
    /* Two messages at once, then the end of input. */
    h2c_stream_t *s = open_stream(paths[i], 0, 2);
    h2c_close_send(client, s);
    assert_refused(s, LEARNER);
    assert_int_equal(h2c_wait_closed(client, s, 5000), 1);
    /* One message, the answer, then more messages and a reset. */
    s = open_stream(paths[i], 0, 1);
    assert_refused(s, LEARNER);
    h2c_send_msg(client, s, "", 0);
    h2c_rst(client, s, 8 /* CANCEL */);
    /* A reset right behind the first message. */
    s = open_stream(paths[i], 0, 1);
    h2c_rst(client, s, 8);
    h2c_run(client, NULL, NULL, 50);
  }
  /* The loop still serves: a new stream is refused the same way. */
  assert_refused(open_stream(WATCH, 0, 1), LEARNER);
}

static void test_learner_refusal_comes_before_the_leader_check(void **state) {
  (void)state;
  fake_status.leader = 0;
  assert_refused(open_stream(WATCH, 1, 1), LEARNER);
  assert_refused(open_stream(KEEPALIVE, 1, 1), LEARNER);
}

static void test_no_leader_refuses_streams_that_require_one(void **state) {
  (void)state;
  fake_status.is_learner = 0;
  fake_status.leader = 0;
  assert_refused(open_stream(WATCH, 1, 2), NO_LEADER);
  assert_refused(open_stream(KEEPALIVE, 1, 2), NO_LEADER);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_learner_refuses_streams_however_they_go_on, setup, teardown),
      cmocka_unit_test_setup_teardown(test_learner_refusal_comes_before_the_leader_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_leader_refuses_streams_that_require_one, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
