/* Unit tests for the bbolt writer and reader: round trips (nested buckets, big values, deep trees) and the
 * reader's refusal of damaged, truncated and foreign files. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "snapshot/bbolt.h"

static int temp_fd(void) {
  char path[] = "/tmp/lkv-bbolt-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  return fd;
}

/* A file for a round trip: a temporary one, or with LKV_BBOLT_OUT=dir set, dir/name kept for
 * tests/integration/test_snapshot.py to open with the real bbolt (tests/go/bboltdump). */
static int out_fd(const char *name) {
  const char *dir = getenv("LKV_BBOLT_OUT");
  if (!dir) return temp_fd();
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  return fd;
}

/* Records what the reader visits as one text line per event, and checks the depth bookkeeping. */
typedef struct seen_s {
  char *text;
  size_t len, cap;
  size_t kvs;
  uint64_t value_bytes;
  int keep_text;
} seen_t;

static void append(seen_t *s, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (s->len + (size_t)n + 1 > s->cap) {
    s->cap = (s->len + (size_t)n + 1) * 2;
    s->text = realloc(s->text, s->cap);
    assert_non_null(s->text);
  }
  memcpy(s->text + s->len, line, (size_t)n + 1);
  s->len += (size_t)n;
}

static int visit(void *arg, lkv_bbolt_event_t ev, size_t depth, const uint8_t *k, size_t klen,
                 const uint8_t *v, size_t vlen) {
  seen_t *s = arg;
  if (ev == LKV_BBOLT_KV) {
    s->kvs++;
    s->value_bytes += vlen;
  }
  if (!s->keep_text) return 0;
  if (ev == LKV_BBOLT_KV)
    append(s, "%zu kv %.*s=%.*s\n", depth, (int)klen, (const char *)k, (int)(vlen > 40 ? 40 : vlen),
           (const char *)v);
  else
    append(s, "%zu %s %.*s\n", depth, ev == LKV_BBOLT_BUCKET_BEGIN ? "begin" : "end", (int)klen,
           (const char *)k);
  return 0;
}

static void put(lkv_bbolt_writer_t *w, const char *k, const char *v) {
  assert_int_equal(lkv_bbolt_put(w, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v)), 0);
}

static void begin(lkv_bbolt_writer_t *w, const char *name) {
  assert_int_equal(lkv_bbolt_bucket_begin(w, (const uint8_t *)name, strlen(name)), 0);
}

/* A small file with nested and empty buckets reads back exactly, event by event. */
static void test_small_roundtrip(void **state) {
  (void)state;
  int fd = out_fd("small.db");
  lkv_bbolt_writer_t *w;
  assert_int_equal(lkv_bbolt_writer_new(&w, fd), 0);
  begin(w, "a");
  assert_int_equal(lkv_bbolt_bucket_end(w), 0);
  begin(w, "b");
  put(w, "k1", "v1");
  begin(w, "k2");
  put(w, "x", "");
  assert_int_equal(lkv_bbolt_bucket_end(w), 0);
  put(w, "k3", "v3");
  assert_int_equal(lkv_bbolt_bucket_end(w), 0);
  uint64_t size;
  assert_int_equal(lkv_bbolt_writer_finish(w, 8, &size), 0);
  lkv_bbolt_writer_free(w);
  assert_int_equal(size % LKV_BBOLT_PAGE_SIZE, 0);
  assert_int_equal((uint64_t)lseek(fd, 0, SEEK_END), size);

  seen_t s = {.keep_text = 1};
  lkv_bbolt_info_t info;
  char err[256];
  assert_int_equal(lkv_bbolt_read(fd, &info, visit, &s, err, sizeof(err)), 0);
  assert_string_equal(s.text,
                      "0 begin a\n0 end a\n0 begin b\n0 kv k1=v1\n1 begin k2\n1 kv x=\n1 end k2\n0 kv k3=v3\n"
                      "0 end b\n");
  assert_int_equal(info.page_size, LKV_BBOLT_PAGE_SIZE);
  assert_int_equal(info.txid, 8);
  assert_int_equal(info.high_water * LKV_BBOLT_PAGE_SIZE, size);
  assert_int_equal(info.free_pages, 0);
  free(s.text);
  close(fd);
}

/* Writes n keys "key%08d" padded with '.' to klen bytes, with values of vlen bytes, in one bucket. */
static int write_many(const char *name, size_t n, size_t klen, size_t vlen) {
  int fd = name ? out_fd(name) : temp_fd();
  lkv_bbolt_writer_t *w;
  assert_int_equal(lkv_bbolt_writer_new(&w, fd), 0);
  begin(w, "many");
  uint8_t *v = malloc(vlen ? vlen : 1);
  assert_non_null(v);
  for (size_t i = 0; i < n; i++) {
    char k[512];
    assert_true(klen < sizeof(k));
    memset(k, '.', klen);
    snprintf(k, sizeof(k), "key%08zu", i);
    k[11] = '.';
    memset(v, 'a' + (int)(i % 26), vlen);
    assert_int_equal(lkv_bbolt_put(w, (const uint8_t *)k, klen, v, vlen), 0);
  }
  free(v);
  assert_int_equal(lkv_bbolt_bucket_end(w), 0);
  assert_int_equal(lkv_bbolt_writer_finish(w, 2, NULL), 0);
  lkv_bbolt_writer_free(w);
  return fd;
}

/* Keys long enough for four levels of branch pages above the leaves (12 of them per page: 4167 leaves,
 * 348, 29 and 3 branch pages, and the root); the reader checks their order across every page and that
 * every page is reached once. */
static void test_many_keys(void **state) {
  (void)state;
  int fd = write_many("many.db", 50000, 300, 8);
  seen_t s = {0};
  lkv_bbolt_info_t info;
  char err[256];
  assert_int_equal(lkv_bbolt_read(fd, &info, visit, &s, err, sizeof(err)), 0);
  assert_int_equal(s.kvs, 50000);
  assert_int_equal(info.high_water,
                   2 + 4167 + 348 + 29 + 3 + 1 + 1 + 1); /* metas ... root, root bucket, freelist */
  close(fd);
}

/* Values larger than a page go to overflow pages; empty values and values of exactly a page's room too. */
static void test_big_values(void **state) {
  (void)state;
  int fd = out_fd("big.db");
  lkv_bbolt_writer_t *w;
  assert_int_equal(lkv_bbolt_writer_new(&w, fd), 0);
  begin(w, "big");
  size_t sizes[] = {0, 1, 4096 - 16 - 16 - 1, 4096, 100000, 3, 1 << 20};
  uint8_t *v = malloc(1 << 20);
  assert_non_null(v);
  uint64_t total = 0;
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    uint8_t k = (uint8_t)('a' + i);
    memset(v, k, sizes[i]);
    assert_int_equal(lkv_bbolt_put(w, &k, 1, v, sizes[i]), 0);
    total += sizes[i];
  }
  free(v);
  assert_int_equal(lkv_bbolt_bucket_end(w), 0);
  assert_int_equal(lkv_bbolt_writer_finish(w, 2, NULL), 0);
  lkv_bbolt_writer_free(w);
  seen_t s = {0};
  char err[256];
  assert_int_equal(lkv_bbolt_read(fd, NULL, visit, &s, err, sizeof(err)), 0);
  assert_int_equal(s.kvs, sizeof(sizes) / sizeof(sizes[0]));
  assert_int_equal(s.value_bytes, total);
  close(fd);
}

/* Out-of-order keys and names, pairs in the root bucket, unbalanced ends are refused. */
static void test_writer_refusals(void **state) {
  (void)state;
  int fd = temp_fd();
  lkv_bbolt_writer_t *w;
  assert_int_equal(lkv_bbolt_writer_new(&w, fd), 0);
  assert_int_equal(lkv_bbolt_put(w, (const uint8_t *)"k", 1, NULL, 0), LKV_EINVAL);
  assert_int_equal(lkv_bbolt_bucket_end(w), LKV_EINVAL);
  begin(w, "b");
  put(w, "k2", "v");
  assert_int_equal(lkv_bbolt_put(w, (const uint8_t *)"k2", 2, NULL, 0), LKV_EINVAL);
  assert_int_equal(lkv_bbolt_put(w, (const uint8_t *)"k1", 2, NULL, 0), LKV_EINVAL);
  assert_int_equal(lkv_bbolt_put(w, (const uint8_t *)"", 0, NULL, 0), LKV_EINVAL);
  assert_int_equal(lkv_bbolt_writer_finish(w, 2, NULL), LKV_EINVAL); /* "b" still open */
  assert_int_equal(lkv_bbolt_bucket_end(w), 0);
  assert_int_equal(lkv_bbolt_bucket_begin(w, (const uint8_t *)"a", 1), LKV_EINVAL);
  assert_int_equal(lkv_bbolt_writer_finish(w, 0, NULL), LKV_EINVAL);
  assert_int_equal(lkv_bbolt_writer_finish(w, 2, NULL), 0);
  lkv_bbolt_writer_free(w);
  close(fd);
}

static void poke(int fd, off_t off, uint8_t byte) {
  assert_int_equal(pwrite(fd, &byte, 1, off), 1);
}

static uint8_t peek(int fd, off_t off) {
  uint8_t b;
  assert_int_equal(pread(fd, &b, 1, off), 1);
  return b;
}

static void expect_corrupt(int fd, const char *words) {
  char err[256];
  assert_int_equal(lkv_bbolt_read(fd, NULL, NULL, NULL, err, sizeof(err)), LKV_ECORRUPT);
  if (!strstr(err, words)) fail_msg("error \"%s\" does not say \"%s\"", err, words);
}

/* A damaged meta page falls back to the other one; both damaged, a bad magic, a truncated file or a
 * damaged page are refused with a reason. */
static void test_damage(void **state) {
  (void)state;
  int fd = write_many(NULL, 2000, 11, 20);
  lkv_bbolt_info_t info;
  char err[256];
  /* meta 0's checksum broken: meta 1 (txid 1) is used */
  uint8_t orig = peek(fd, 16 + 20);
  poke(fd, 16 + 20, orig ^ 0xff);
  assert_int_equal(lkv_bbolt_read(fd, &info, NULL, NULL, err, sizeof(err)), 0);
  assert_int_equal(info.txid, 1);
  /* both broken */
  poke(fd, 4096 + 16 + 20, peek(fd, 4096 + 16 + 20) ^ 0xff);
  expect_corrupt(fd, "checksum");
  poke(fd, 16 + 20, orig);
  assert_int_equal(lkv_bbolt_read(fd, &info, NULL, NULL, err, sizeof(err)), 0);
  assert_int_equal(info.txid, 2);
  /* truncated */
  off_t size = lseek(fd, 0, SEEK_END);
  uint8_t last[4096];
  assert_int_equal(pread(fd, last, sizeof(last), size - 4096), (ssize_t)sizeof(last));
  assert_int_equal(ftruncate(fd, size - 4096), 0);
  expect_corrupt(fd, "truncated");
  assert_int_equal(pwrite(fd, last, sizeof(last), size - 4096), (ssize_t)sizeof(last));
  assert_int_equal(lkv_bbolt_read(fd, NULL, NULL, NULL, err, sizeof(err)), 0);
  /* a leaf's element pointing outside its page (page 2 is the first leaf) */
  uint8_t pos = peek(fd, 2 * 4096 + 16 + 5);
  poke(fd, 2 * 4096 + 16 + 5, 0x7f);
  expect_corrupt(fd, "page 2");
  poke(fd, 2 * 4096 + 16 + 5, pos);
  /* a page's header naming another page */
  poke(fd, 3 * 4096, 9);
  expect_corrupt(fd, "page 3");
  close(fd);
  /* a file that is not bbolt's */
  fd = temp_fd();
  uint8_t junk[8192];
  memset(junk, 0x5a, sizeof(junk));
  assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
  expect_corrupt(fd, "not a bbolt file");
  assert_int_equal(ftruncate(fd, 100), 0);
  expect_corrupt(fd, "too short");
  close(fd);
}

/* etcd runs bbolt without storing its freelist (meta freelist = all ones): every page not reached is then
 * free, the freelist page we wrote included. */
static void test_no_stored_freelist(void **state) {
  (void)state;
  int fd = write_many(NULL, 2000, 11, 20);
  for (off_t meta = 16; meta < 2 * 4096; meta += 4096) {
    uint8_t m[64];
    assert_int_equal(pread(fd, m, sizeof(m), meta), (ssize_t)sizeof(m));
    memset(m + 32, 0xff, 8);
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 of the 56 bytes before the checksum */
    for (int i = 0; i < 56; i++) h = (h ^ m[i]) * 0x100000001b3ull;
    for (int i = 0; i < 8; i++) m[56 + i] = (uint8_t)(h >> (8 * i));
    assert_int_equal(pwrite(fd, m, sizeof(m), meta), (ssize_t)sizeof(m));
  }
  lkv_bbolt_info_t info;
  seen_t s = {0};
  char err[256];
  assert_int_equal(lkv_bbolt_read(fd, &info, visit, &s, err, sizeof(err)), 0);
  assert_int_equal(info.free_pages, 1);
  assert_int_equal(s.kvs, 2000);
  close(fd);
}

/* A key out of order on disk (two leaves swapped in their parent's view) is refused. */
static void test_order_damage(void **state) {
  (void)state;
  int fd = write_many(NULL, 2000, 11, 20);
  /* swap the first two keys' last digits of page 2: key00000000, key00000001 -> ...1, ...0 */
  off_t data = 0;
  uint8_t page[4096];
  assert_int_equal(pread(fd, page, sizeof(page), 2 * 4096), (ssize_t)sizeof(page));
  for (size_t i = 0; i + 11 < sizeof(page); i++) {
    if (memcmp(page + i, "key00000000", 11) == 0) {
      data = 2 * 4096 + (off_t)i;
      break;
    }
  }
  assert_true(data > 0);
  poke(fd, data + 10, '2');
  expect_corrupt(fd, "out of order");
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_roundtrip),
      cmocka_unit_test(test_many_keys),
      cmocka_unit_test(test_big_values),
      cmocka_unit_test(test_writer_refusals),
      cmocka_unit_test(test_damage),
      cmocka_unit_test(test_order_damage),
      cmocka_unit_test(test_no_stored_freelist),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
