/* The causal event log file: records back in order, torn tails cut, damage before the tail refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "mvcc_testutil.h"
#include "replication/causal_log.h"

typedef struct {
  char got[8][32];
  size_t n;
  int fail_at;   /* 1-based record whose callback fails, 0: none */
  uint64_t base; /* the revision before the first record's */
} seen_t;

static int on_record(void *arg, uint64_t rev, const uint8_t *ev, size_t len) {
  seen_t *s = arg;
  if (s->fail_at && (int)s->n + 1 == s->fail_at) return LKV_EBADMSG;
  assert_true(s->n < 8 && len < 32);
  assert_int_equal(rev, s->base + s->n + 1);
  memcpy(s->got[s->n], ev, len);
  s->got[s->n][len] = 0;
  s->n++;
  return 0;
}

static char dir[64];
static char path[96];

static int setup(void **state) {
  (void)state;
  strcpy(dir, "/tmp/lkv-causal-log-XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/events", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  lkvt_rmrf(dir);
  return 0;
}

/* Opens the log, checking what it recovers against want[0..n) at revisions base + 1... */
static lkv__causal_log_t *reopen_at(uint64_t base, const char *const *want, size_t n) {
  seen_t s = {.base = base};
  lkv__causal_log_t *l;
  assert_int_equal(lkv__causal_log_open(dir, on_record, &s, &l), 0);
  assert_int_equal(s.n, n);
  assert_int_equal(lkv__causal_log_base(l), base);
  assert_int_equal(lkv__causal_log_last(l), base + n);
  for (size_t i = 0; i < n; i++) assert_string_equal(s.got[i], want[i]);
  return l;
}

static lkv__causal_log_t *reopen(const char *const *want, size_t n) {
  return reopen_at(0, want, n);
}

static void append(lkv__causal_log_t *l, const char *const *ev, size_t n) {
  const uint8_t *p[4];
  size_t len[4];
  for (size_t i = 0; i < n; i++) p[i] = (const uint8_t *)ev[i], len[i] = strlen(ev[i]);
  assert_int_equal(lkv__causal_log_append(l, p, len, n), 0);
}

static off_t file_size(void) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_size;
}

static void write_at(off_t at, const void *bytes, size_t len) {
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  assert_int_equal(fseeko(f, at, at < 0 ? SEEK_END : SEEK_SET), 0);
  assert_int_equal(fwrite(bytes, 1, len, f), len);
  fclose(f);
}

static const char *const three[] = {"first", "second", "third"};

static void test_round_trip_and_torn_tails(void **state) {
  (void)state;
  lkv__causal_log_t *l = reopen(NULL, 0);
  append(l, three, 2);
  append(l, three + 2, 1);
  lkv__causal_log_close(l);
  off_t good = file_size();
  lkv__causal_log_close(reopen(three, 3));

  write_at(good, "\x40\0\0\0\1\2", 6); /* a header that promises more than follows */
  lkv__causal_log_close(reopen(three, 3));
  assert_int_equal(file_size(), good); /* cut off */

  l = reopen(three, 3);
  append(l, (const char *const[]){"fourth"}, 1);
  lkv__causal_log_close(l);
  write_at(-1, "X", 1); /* the last record's body changed: its checksum fails at the end of the file */
  lkv__causal_log_close(reopen(three, 3));
  assert_int_equal(file_size(), good);
}

static void test_damage_before_the_tail_refused(void **state) {
  (void)state;
  lkv__causal_log_t *l = reopen(NULL, 0);
  append(l, three, 3);
  lkv__causal_log_close(l);
  write_at(8, "F", 1); /* "first" becomes "First": more records follow it */
  seen_t s = {0};
  assert_int_equal(lkv__causal_log_open(dir, on_record, &s, &l), LKV_ECORRUPT);
  assert_int_equal(s.n, 0);
  write_at(8, "f", 1);
  s = (seen_t){.fail_at = 2}; /* the callback's refusal ends the open with its code */
  assert_int_equal(lkv__causal_log_open(dir, on_record, &s, &l), LKV_EBADMSG);
  assert_int_equal(s.n, 1);
}

/* A compaction drops the log's front: the base first, then the kept events; appends and a torn tail after
 * it as before; a base anywhere but first is damage. */
static void test_drop_front(void **state) {
  (void)state;
  lkv__causal_log_t *l = reopen(NULL, 0);
  append(l, three, 3);
  assert_int_equal(lkv__causal_log_drop_front(l, 2), 0);
  assert_int_equal(lkv__causal_log_last(l), 3);
  assert_int_equal(lkv__causal_log_drop_front(l, 1), 0); /* already dropped: nothing to do */
  append(l, (const char *const[]){"fourth"}, 1);
  lkv__causal_log_close(l);
  off_t good = file_size();
  lkv__causal_log_close(reopen_at(2, (const char *const[]){"third", "fourth"}, 2));
  write_at(good, "\x40\0\0", 3);
  lkv__causal_log_close(reopen_at(2, (const char *const[]){"third", "fourth"}, 2));
  assert_int_equal(file_size(), good);
  l = reopen_at(2, (const char *const[]){"third", "fourth"}, 2);
  assert_int_equal(lkv__causal_log_drop_front(l, 4), 0); /* everything */
  lkv__causal_log_close(l);
  /* Beyond the last event (a snapshot installed at 9): empty, going on at 10. */
  l = reopen_at(4, NULL, 0);
  assert_int_equal(lkv__causal_log_drop_front(l, 9), 0);
  assert_int_equal(lkv__causal_log_last(l), 9);
  append(l, (const char *const[]){"tenth"}, 1);
  lkv__causal_log_close(l);
  lkv__causal_log_close(reopen_at(9, (const char *const[]){"tenth"}, 1));
  /* A second base record after the first is refused. */
  FILE *f = fopen(path, "rb");
  uint8_t rec[24];
  assert_non_null(f);
  assert_int_equal(fread(rec, 1, sizeof(rec), f), sizeof(rec));
  fclose(f);
  f = fopen(path, "ab");
  assert_non_null(f);
  assert_int_equal(fwrite(rec, 1, sizeof(rec), f), sizeof(rec));
  assert_int_equal(fwrite(rec, 1, sizeof(rec), f), sizeof(rec));
  fclose(f);
  seen_t s = {.base = 9};
  assert_int_equal(lkv__causal_log_open(dir, on_record, &s, &l), LKV_ECORRUPT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip_and_torn_tails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damage_before_the_tail_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_drop_front, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
