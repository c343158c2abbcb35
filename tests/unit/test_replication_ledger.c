/* A single node (a one-member Raft replicator) with a ledger: entries durable before answers, timed and
 * final signatures. */
#include <pthread.h>

#include "apply_testutil.h"
#include "ledger/ledger.h"
#include "ledger_testutil.h"
#include "sole_testutil.h"

/* Proposals answered so far, and the signatures the listener saw. */
typedef struct fixture_s {
  lkvt_store_t ts;
  char dir[64];
  lkv_ledger_t *l;
  lkv_replicator_t *r;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int signs;
  uint64_t last_size;
  uint64_t count_at_done; /* ledger records when the first proposal was answered */
  int bad;                /* a callback saw an error (checked on the test's thread) */
  pthread_t done_thread;  /* the thread that answered the last proposal: the raft thread */
  pthread_t sign_thread;  /* the thread that told of the last signature */
} fixture_t;

static fixture_t *fx_of(lkv_proposal_t *p) {
  return p->data;
}

static void on_done(lkv_proposal_t *p) {
  fixture_t *fx = fx_of(p);
  free(p->req.resp);
  pthread_mutex_lock(&fx->mu);
  fx->bad |= p->req.err != 0;
  fx->done_thread = pthread_self();
  if (fx->done++ == 0) fx->count_at_done = lkv_ledger_log_count(lkv_ledger_log(fx->l));
  pthread_cond_broadcast(&fx->cv);
  pthread_mutex_unlock(&fx->mu);
}

static void on_sign(void *arg, const lkv_ledger_signed_head_t *head) {
  fixture_t *fx = arg;
  pthread_mutex_lock(&fx->mu);
  fx->bad |= head == NULL;
  fx->sign_thread = pthread_self();
  fx->signs++;
  fx->last_size = head ? head->head.tree_size : 0;
  pthread_cond_broadcast(&fx->cv);
  pthread_mutex_unlock(&fx->mu);
}

static int setup(void **state) {
  fixture_t *fx = calloc(1, sizeof(*fx));
  lkvt_open(&fx->ts);
  lt_tmpdir(fx->dir);
  assert_int_equal(lkv_ledger_open(&fx->l, fx->dir, NULL), 0);
  pthread_mutex_init(&fx->mu, NULL);
  pthread_cond_init(&fx->cv, NULL);
  fx->r = lkvt_sole_start(&fx->ts, fx->l, 10);
  lkv_replicator_on_sign(fx->r, on_sign, fx);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_t *fx = *state;
  if (fx->r) lkv_replicator_stop(fx->r);
  assert_int_equal(fx->bad, 0);
  lkv_ledger_close(fx->l);
  lkvt_rmrf(fx->dir);
  lkvt_close(&fx->ts);
  pthread_cond_destroy(&fx->cv);
  pthread_mutex_destroy(&fx->mu);
  free(fx);
  return 0;
}

static void propose_puts(fixture_t *fx, Etcdserverpb__PutRequest *puts, lkv_proposal_t *ps, int n) {
  for (int i = 0; i < n; i++) {
    ps[i] = (lkv_proposal_t){.req = {.kind = LKV_OP_PUT, .msg = &puts[i].base}, .done = on_done, .data = fx};
    assert_int_equal(lkv_replicator_propose(fx->r, &ps[i]), 0);
  }
}

static void wait_for(fixture_t *fx, int *field, int want) {
  pthread_mutex_lock(&fx->mu);
  while (*field < want) pthread_cond_wait(&fx->cv, &fx->mu);
  pthread_mutex_unlock(&fx->mu);
}

static void test_entries_before_answers_and_signatures(void **state) {
  fixture_t *fx = *state;
  Etcdserverpb__PutRequest puts[3] = {lkvt_put_req("a", "1"), lkvt_put_req("b", "2"), lkvt_put_req("c", "3")};
  lkv_proposal_t ps[3];
  propose_puts(fx, puts, ps, 3);
  wait_for(fx, &fx->done, 3);
  assert_true(fx->count_at_done >= 1); /* the first answer came after its entry was in the ledger */
  assert_int_equal(lkvt_rev(&fx->ts), 4);
  /* The timer signs within its interval (10 ms) without further writes... */
  wait_for(fx, &fx->signs, 1);
  pthread_mutex_lock(&fx->mu);
  assert_int_equal(fx->last_size, 3);
  /* flushed and signed on the signing thread: the raft thread does not wait for the ledger's flushes */
  assert_false(pthread_equal(fx->sign_thread, fx->done_thread));
  int signs = fx->signs;
  pthread_mutex_unlock(&fx->mu);
  lkv_ledger_receipt_t r;
  assert_int_equal(lkv_ledger_receipt(fx->l, 4, &r), 0);
  assert_int_equal(lkv_ledger_receipt_verify(&r, lkv_ledger_public_key(fx->l)), 0);
  /* ...and not again while nothing new was appended. */
  usleep(50 * 1000);
  pthread_mutex_lock(&fx->mu);
  assert_int_equal(fx->signs, signs);
  pthread_mutex_unlock(&fx->mu);
}

static void test_final_signature_at_stop(void **state) {
  fixture_t *fx = *state;
  lkv_replicator_t *r = fx->r;
  lkv_replicator_stop(r); /* restart with an interval no test waits for: only the stop signs */
  fx->r = lkvt_sole_start(&fx->ts, fx->l, 60000);
  lkv_replicator_on_sign(fx->r, on_sign, fx);
  Etcdserverpb__PutRequest puts[2] = {lkvt_put_req("x", "1"), lkvt_put_req("y", "2")};
  lkv_proposal_t ps[2];
  propose_puts(fx, puts, ps, 2);
  wait_for(fx, &fx->done, 2);
  assert_int_equal(lkv_ledger_receipt(fx->l, 3, &(lkv_ledger_receipt_t){0}), LKV_ENOENT); /* unsigned */
  lkv_replicator_stop(fx->r);
  fx->r = NULL;
  assert_int_equal(fx->signs, 1);
  assert_int_equal(fx->last_size, 2);
  assert_true(pthread_equal(fx->sign_thread, fx->done_thread)); /* the last one: on the raft thread */
  /* the head went to ledger.heads: the tree still holds the two puts only */
  assert_int_equal(lkv_ledger_log_count(lkv_ledger_log(fx->l)), 2);
  lkv_ledger_receipt_t rc;
  assert_int_equal(lkv_ledger_receipt(fx->l, 3, &rc), 0);
  assert_int_equal(lkv_ledger_needs_sign(fx->l), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_entries_before_answers_and_signatures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_final_signature_at_stop, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
