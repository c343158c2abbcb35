/* --consistency: raft accepted (the default); causal accepted with a warning that it is not linearizable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "config_testutil.h"

static void test_consistency(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256] = "";
  assert_int_equal(parse(&cfg, err, sizeof(err), "--consistency=raft", NULL), 0);
  assert_int_equal(cfg.cluster.causal, 0);
  assert_int_equal(cfg.n_warnings, 0);
  lkv_config_free(&cfg);
  assert_int_equal(parse(&cfg, err, sizeof(err), "--consistency", "causal", NULL), 0);
  assert_int_equal(cfg.cluster.causal, 1);
  assert_int_equal(cfg.n_warnings, 1);
  assert_non_null(strstr(cfg.warnings[0], "replicates them in the background: not linearizable (docs/causal.md)"));
  lkv_config_free(&cfg);
  /* the last one given counts */
  assert_int_equal(parse(&cfg, err, sizeof(err), "--consistency=causal", "--consistency=raft", NULL), 0);
  assert_int_equal(cfg.cluster.causal, 0);
  lkv_config_free(&cfg);
  REJECT("--consistency: invalid value \"eventual\": expected raft or causal", "--consistency=eventual");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_consistency)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
