/* Tests of the limiter (src/ratelimit/limiter.c, exempt.c): identities, exemptions, eviction, reloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "ratelimit/ratelimit.h"

#define SEC 1000000000ull
#define PUT "/etcdserverpb.KV/Put"
#define KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"

static lkv_ratelimit_verdict_t admit(lkv_ratelimit_t *rl, const char *method, const char *id, uint64_t bytes,
                                     uint64_t now, uint64_t *limit) {
  return lkv_ratelimit_admit(rl, method, strlen(method), id, strlen(id), bytes, now, limit);
}

static lkv_ratelimit_t *make(const lkv_ratelimit_policy_t *p) {
  lkv_ratelimit_t *rl = NULL;
  char err[200] = "";
  int rc = lkv_ratelimit_new(&rl, p, err, sizeof(err));
  if (rc) fail_msg("lkv_ratelimit_new: %s", err);
  return rl;
}

/* The limiter's counters are these. */
static void expect_stats(lkv_ratelimit_t *rl, uint64_t identities, uint64_t idle, uint64_t cap) {
  lkv_ratelimit_stats_t st;
  lkv_ratelimit_stats(rl, &st);
  assert_int_equal(st.identities, identities);
  assert_int_equal(st.evicted_idle, idle);
  assert_int_equal(st.evicted_cap, cap);
}

/* Each identity has its own buckets: one over its limit does not slow another. */
static void test_identities_apart(void **state) {
  (void)state;
  lkv_ratelimit_policy_t p = {.requests = 3, .max_identities = 100};
  lkv_ratelimit_t *rl = make(&p);
  uint64_t limit = 0;
  for (int i = 0; i < 3; i++) assert_int_equal(admit(rl, PUT, "address 127.0.0.1", 10, SEC, &limit), 0);
  assert_int_equal(admit(rl, PUT, "address 127.0.0.1", 10, SEC, &limit), LKV_RATELIMIT_OVER_REQUESTS);
  assert_int_equal(limit, 3);
  assert_int_equal(admit(rl, PUT, "address 127.0.0.2", 10, SEC, NULL), LKV_RATELIMIT_ADMITTED);
  expect_stats(rl, 2, 0, 0);
  /* A third of a second later one token is back; .2's bucket is full again and it is forgotten. */
  assert_int_equal(admit(rl, PUT, "address 127.0.0.1", 10, SEC + SEC / 3 + 1, NULL), LKV_RATELIMIT_ADMITTED);
  expect_stats(rl, 1, 1, 0);
  lkv_ratelimit_free(rl);
}

/* The burst flag sets the bucket apart from the rate; a refused request takes nothing from the other
 * bucket (the bytes limit names itself). */
static void test_burst_and_bytes(void **state) {
  (void)state;
  lkv_ratelimit_policy_t p = {
      .requests = 1, .burst = 4, .bytes = 100, .bytes_burst = 250, .max_identities = 8};
  lkv_ratelimit_t *rl = make(&p);
  uint64_t limit = 0;
  assert_int_equal(admit(rl, PUT, "u", 100, 0, NULL), 0);
  assert_int_equal(admit(rl, PUT, "u", 100, 0, NULL), 0);
  assert_int_equal(admit(rl, PUT, "u", 100, 0, &limit), LKV_RATELIMIT_OVER_BYTES); /* 50 bytes left */
  assert_int_equal(limit, 100);
  assert_int_equal(admit(rl, PUT, "u", 50, 0, NULL), 0); /* the refusal took no request token either */
  assert_int_equal(admit(rl, PUT, "u", 0, 0, NULL), 0);  /* the fourth token of the burst */
  assert_int_equal(admit(rl, PUT, "u", 0, 0, &limit), LKV_RATELIMIT_OVER_REQUESTS);
  assert_int_equal(limit, 1);
  lkv_ratelimit_free(rl);
}

/* Exempt methods pass whatever the buckets hold: bare names match any service, full names one. */
static void test_exempt(void **state) {
  (void)state;
  lkv_ratelimit_policy_t p = {
      .requests = 1, .exempt = " LeaseKeepAlive, /etcdserverpb.KV/Range", .max_identities = 8};
  lkv_ratelimit_t *rl = make(&p);
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), 0);
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), LKV_RATELIMIT_OVER_REQUESTS);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(admit(rl, KEEPALIVE, "a", 0, 0, NULL), 0);
    assert_int_equal(admit(rl, "/etcdserverpb.KV/Range", "a", 0, 0, NULL), 0);
  }
  assert_int_equal(admit(rl, "/other.KV/Range", "a", 0, 0, NULL), LKV_RATELIMIT_OVER_REQUESTS);
  assert_int_equal(admit(rl, "/etcdserverpb.Lease/XLeaseKeepAlive", "a", 0, 0, NULL),
                   LKV_RATELIMIT_OVER_REQUESTS);
  lkv_ratelimit_free(rl);
}

static void test_bad_policies(void **state) {
  (void)state;
  const char *bad[] = {"Lease Keep", "a//b", "/", "a/b/c", "x,,y", "Put;"};
  char err[200];
  lkv_ratelimit_t *rl = NULL;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    lkv_ratelimit_policy_t p = {.requests = 1, .exempt = bad[i], .max_identities = 1};
    err[0] = '\0';
    assert_int_equal(lkv_ratelimit_new(&rl, &p, err, sizeof(err)), LKV_EINVAL);
    assert_non_null(strstr(err, "is not a gRPC method"));
  }
  lkv_ratelimit_policy_t p = {.requests = 1, .max_identities = 0};
  assert_int_equal(lkv_ratelimit_new(&rl, &p, err, sizeof(err)), LKV_EINVAL);
  assert_non_null(strstr(err, "at least 1"));
}

/* Idle identities whose buckets filled up again are dropped as new ones come; busy ones stay. */
static void test_idle_eviction(void **state) {
  (void)state;
  lkv_ratelimit_policy_t p = {.requests = 10, .max_identities = 1000};
  lkv_ratelimit_t *rl = make(&p);
  char id[32];
  for (int i = 0; i < 50; i++) {
    snprintf(id, sizeof(id), "address 10.0.0.%d", i);
    assert_int_equal(admit(rl, PUT, id, 0, 0, NULL), 0);
  }
  expect_stats(rl, 50, 0, 0); /* none full again yet: nobody dropped */
  /* A second later every bucket is full: each new identity's admission drops old idle ones. */
  for (int i = 0; i < 30; i++) {
    snprintf(id, sizeof(id), "address 10.0.1.%d", i);
    assert_int_equal(admit(rl, PUT, id, 0, SEC, NULL), 0);
  }
  expect_stats(rl, 30, 50, 0);
  lkv_ratelimit_free(rl);
}

/* The cap: the least recently seen identity makes room, even a busy one. */
static void test_cap_lru(void **state) {
  (void)state;
  lkv_ratelimit_policy_t p = {.requests = 1, .max_identities = 3};
  lkv_ratelimit_t *rl = make(&p);
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), 0);
  assert_int_equal(admit(rl, PUT, "b", 0, 0, NULL), 0);
  assert_int_equal(admit(rl, PUT, "c", 0, 0, NULL), 0);
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), LKV_RATELIMIT_OVER_REQUESTS); /* a is now the newest */
  assert_int_equal(admit(rl, PUT, "d", 0, 0, NULL), 0);                           /* b goes */
  expect_stats(rl, 3, 0, 1);
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), LKV_RATELIMIT_OVER_REQUESTS); /* kept: still empty */
  assert_int_equal(admit(rl, PUT, "c", 0, 0, NULL), LKV_RATELIMIT_OVER_REQUESTS);
  assert_int_equal(admit(rl, PUT, "b", 0, 0, NULL), 0); /* forgotten: a full bucket again; d goes */
  expect_stats(rl, 3, 0, 2);
  lkv_ratelimit_free(rl);
}

/* Many identities: the table grows and every one is found again. */
static void test_many_identities(void **state) {
  (void)state;
  lkv_ratelimit_policy_t p = {.requests = 1, .max_identities = 5000};
  lkv_ratelimit_t *rl = make(&p);
  char id[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof(id), "user u%d", i);
    assert_int_equal(admit(rl, PUT, id, 0, 0, NULL), 0);
  }
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof(id), "user u%d", i);
    assert_int_equal(admit(rl, PUT, id, 0, 0, NULL), LKV_RATELIMIT_OVER_REQUESTS);
  }
  expect_stats(rl, 5000, 0, 0);
  lkv_ratelimit_free(rl);
}

/* A reload: a lower burst applies at once, a higher rate refills faster, no limit admits everything and
 * empties the table, a bad policy leaves the old one in force. */
static void test_reload(void **state) {
  (void)state;
  lkv_ratelimit_policy_t p = {.requests = 10, .max_identities = 8};
  lkv_ratelimit_t *rl = make(&p);
  char err[200];
  assert_true(lkv_ratelimit_enabled(rl));
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), 0); /* 9 left */
  p.requests = 2;
  assert_int_equal(lkv_ratelimit_set_policy(rl, &p, err, sizeof(err)), 0);
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), 0);
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), 0);
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), LKV_RATELIMIT_OVER_REQUESTS);
  lkv_ratelimit_policy_t bad = p;
  bad.exempt = "no such";
  assert_int_equal(lkv_ratelimit_set_policy(rl, &bad, err, sizeof(err)), LKV_EINVAL);
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), LKV_RATELIMIT_OVER_REQUESTS);
  p.requests = 0;
  assert_int_equal(lkv_ratelimit_set_policy(rl, &p, err, sizeof(err)), 0);
  assert_false(lkv_ratelimit_enabled(rl));
  for (int i = 0; i < 100; i++) assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), 0);
  expect_stats(rl, 0, 0, 0);
  p.requests = 1;
  p.by = LKV_RATELIMIT_BY_USER;
  assert_int_equal(lkv_ratelimit_set_policy(rl, &p, err, sizeof(err)), 0);
  assert_int_equal(lkv_ratelimit_by(rl), LKV_RATELIMIT_BY_USER);
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), 0);
  assert_int_equal(admit(rl, PUT, "a", 0, 0, NULL), LKV_RATELIMIT_OVER_REQUESTS);
  lkv_ratelimit_free(rl);
}

/* Loop threads admit at once while the policy is reloaded: one clock reading, so exactly the burst passes. */
typedef struct racer_s {
  lkv_ratelimit_t *rl;
  atomic_int *admitted, *failed; /* (cmocka's checks belong to the main thread) */
  int reload;                    /* this thread reloads instead */
} racer_t;

static void *race(void *arg) {
  racer_t *r = arg;
  for (int i = 0; i < 2000; i++) {
    if (r->reload) {
      lkv_ratelimit_policy_t p = {.requests = 1, .burst = 100, .max_identities = 2 + (uint64_t)(i % 5)};
      char err[100];
      if (lkv_ratelimit_set_policy(r->rl, &p, err, sizeof(err)) != 0) atomic_fetch_add(r->failed, 1);
    } else if (admit(r->rl, PUT, "x", 0, 0, NULL) == LKV_RATELIMIT_ADMITTED) {
      atomic_fetch_add(r->admitted, 1);
    }
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  lkv_ratelimit_policy_t p = {.requests = 1, .burst = 100, .max_identities = 2};
  lkv_ratelimit_t *rl = make(&p);
  atomic_int admitted = 0, failed = 0;
  pthread_t t[5];
  racer_t r[5];
  for (int i = 0; i < 5; i++) {
    r[i] = (racer_t){rl, &admitted, &failed, i == 4};
    assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
  }
  for (int i = 0; i < 5; i++) pthread_join(t[i], NULL);
  assert_int_equal(atomic_load(&failed), 0);
  assert_int_equal(atomic_load(&admitted), 100); /* reloads keep the bucket: the burst once, no more */
  lkv_ratelimit_free(rl);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identities_apart), cmocka_unit_test(test_burst_and_bytes),
      cmocka_unit_test(test_exempt),           cmocka_unit_test(test_bad_policies),
      cmocka_unit_test(test_idle_eviction),    cmocka_unit_test(test_cap_lru),
      cmocka_unit_test(test_many_identities),  cmocka_unit_test(test_reload),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
