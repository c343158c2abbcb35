/* Helpers for the ledger unit tests: temp dirs, sample entries, byte-level file damage. */
#ifndef LKV_TESTS_LEDGER_TESTUTIL_H
#define LKV_TESTS_LEDGER_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/entry.h"
#include "mvcc_testutil.h"

static inline void lt_tmpdir(char dir[64]) {
  strcpy(dir, "/tmp/lkv-ledger-test-XXXXXX");
  assert_non_null(mkdtemp(dir));
}

static inline void lt_path(char *out, size_t cap, const char *dir, const char *name) {
  assert_true(snprintf(out, cap, "%s/%s", dir, name) < (int)cap);
}

/* A REVISION entry at rev putting "key/<rev>" to vlen bytes (then deleting "gone/<rev>"), built in ws
 * (reset first), with the claims of a made-up request/response. e points into ws. */
static inline void lt_put_entry(lkv_ledger_entry_t *e, lkv_ledger_ws_t *ws, int64_t rev, size_t vlen) {
  char key[32], gone[32], req[32], value[256];
  memset(e, 0, sizeof(*e));
  lkv_ledger_ws_reset(ws);
  snprintf(key, sizeof(key), "key/%lld", (long long)rev);
  snprintf(gone, sizeof(gone), "gone/%lld", (long long)rev);
  snprintf(req, sizeof(req), "put %lld", (long long)rev);
  assert_true(vlen <= sizeof(value));
  for (size_t i = 0; i < vlen; i++) value[i] = (char)('a' + (rev + (int64_t)i) % 26);
  assert_int_equal(lkv_ledger_ws_put(ws, key, strlen(key), value, vlen, rev, 1, 0), 0);
  assert_int_equal(lkv_ledger_ws_delete(ws, gone, strlen(gone)), 0);
  e->kind = LKV_LEDGER_REVISION;
  e->revision = rev;
  lkv_ledger_claims_digest(req, strlen(req), "ok", 2, e->claims);
  lkv_ledger_entry_set_ws(e, ws);
}

static inline uint64_t lt_file_size(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return (uint64_t)st.st_size;
}

static inline void lt_truncate(const char *path, uint64_t size) {
  assert_int_equal(truncate(path, (off_t)size), 0);
}

static inline void lt_flip(const char *path, uint64_t off, uint8_t mask) {
  uint8_t b;
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
  b ^= mask;
  assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
  close(fd);
}

/* Creates ledger_dir (mode 0700, parent must exist) holding an empty version-1 ledger.log: the header the
 * ledger wrote before signed heads left the tree ("lkvledgr" ‖ u32 1 ‖ u32 0 ‖ salt). Opening it keeps
 * it version 1, so head records can be appended as older versions did. */
static inline void lt_v1_log(const char *ledger_dir) {
  static const uint8_t header[24] = {'l', 'k', 'v', 'l', 'e', 'd', 'g', 'r', 0,   0,   0,   1,
                                     0,   0,   0,   0,   'v', '1', 's', 'a', 'l', 't', '!', '!'};
  char path[256];
  if (mkdir(ledger_dir, 0700) != 0) assert_int_equal(errno, EEXIST);
  lt_path(path, sizeof(path), ledger_dir, "ledger.log");
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, header, sizeof(header)), (ssize_t)sizeof(header));
  close(fd);
}

/* Copies a whole file (snapshots of a ledger to damage repeatedly). */
static inline void lt_copy(const char *from, const char *to) {
  uint64_t size = lt_file_size(from);
  uint8_t *buf = malloc(size ? size : 1);
  int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(in >= 0 && out >= 0);
  assert_int_equal(pread(in, buf, size, 0), (ssize_t)size);
  assert_int_equal(pwrite(out, buf, size, 0), (ssize_t)size);
  close(in);
  close(out);
  free(buf);
}

#endif
