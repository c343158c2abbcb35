/* Unit tests for the ledger key file (creation, permissions, reuse) and signed tree heads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "ledger/signer.h"
#include "ledger_testutil.h"

static lkv_ledger_sth_t sample_head(void) {
  lkv_ledger_sth_t h = {.tree_size = 77, .revision = 1234, .timestamp_ms = 1700000000000};
  for (int i = 0; i < 32; i++) h.root.b[i] = (uint8_t)(i * 7);
  return h;
}

static void key_path(char *out, const char *dir) {
  assert_true(snprintf(out, 128, "%s/ledger/node.key", dir) < 128);
}

/* A fresh temporary dir with a node key created in it; path gets the key file's path. */
static void dir_with_key(char dir[64], char path[128]) {
  lkv_ledger_signer_t *s;
  lt_tmpdir(dir);
  key_path(path, dir);
  assert_int_equal(lkv_ledger_signer_open(&s, dir, LKV_LEDGER_SIGNER_CREATE, NULL), 0);
  lkv_ledger_signer_close(s);
}

static void test_create_then_reopen_same_key(void **state) {
  (void)state;
  char dir[64], path[128];
  lkv_ledger_signer_t *s;
  uint8_t first[LKV_LEDGER_KEY_LEN];
  int created = -1;
  struct stat st;
  lt_tmpdir(dir);
  key_path(path, dir);
  assert_int_equal(lkv_ledger_signer_open(&s, dir, 0, &created), LKV_ENOENT);
  assert_int_equal(lkv_ledger_signer_open(&s, dir, LKV_LEDGER_SIGNER_CREATE, &created), 0);
  assert_int_equal(created, 1);
  memcpy(first, lkv_ledger_signer_public_key(s), sizeof(first));
  lkv_ledger_signer_close(s);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(st.st_size, 80);
  char ledger_dir[128];
  lt_path(ledger_dir, sizeof(ledger_dir), dir, "ledger");
  assert_int_equal(stat(ledger_dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  /* no temporary file is left behind */
  char tmp[160];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  assert_int_not_equal(access(tmp, F_OK), 0);

  assert_int_equal(lkv_ledger_signer_open(&s, dir, LKV_LEDGER_SIGNER_CREATE, &created), 0);
  assert_int_equal(created, 0);
  assert_memory_equal(lkv_ledger_signer_public_key(s), first, sizeof(first));
  lkv_ledger_signer_close(s);
  assert_int_equal(lkv_ledger_signer_open(&s, dir, 0, NULL), 0);
  assert_memory_equal(lkv_ledger_signer_public_key(s), first, sizeof(first));
  lkv_ledger_signer_close(s);
  lkvt_rmrf(dir);
}

static void test_wider_permissions_refused(void **state) {
  (void)state;
  char dir[64], path[128];
  lkv_ledger_signer_t *s;
  dir_with_key(dir, path);
  static const mode_t bad[] = {0640, 0604, 0660, 0644, 0700, 0610};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(chmod(path, bad[i]), 0);
    /* refused, and never silently replaced by a new key */
    assert_int_equal(lkv_ledger_signer_open(&s, dir, LKV_LEDGER_SIGNER_CREATE, NULL),
                     (bad[i] & 077) ? LKV_EPERM : 0);
    if (!(bad[i] & 077)) lkv_ledger_signer_close(s);
  }
  assert_int_equal(chmod(path, 0400), 0);
  assert_int_equal(lkv_ledger_signer_open(&s, dir, 0, NULL), 0);
  lkv_ledger_signer_close(s);
  /* a symlink to a key is not a key file */
  char other[128];
  lt_path(other, sizeof(other), dir, "elsewhere.key");
  assert_int_equal(rename(path, other), 0);
  assert_int_equal(symlink(other, path), 0);
  assert_int_equal(lkv_ledger_signer_open(&s, dir, 0, NULL), LKV_EPERM);
  lkvt_rmrf(dir);
}

static void test_damaged_key_file_refused(void **state) {
  (void)state;
  char dir[64], path[128];
  lkv_ledger_signer_t *s;
  dir_with_key(dir, path);
  /* a seed that does not give the stored public key */
  lt_flip(path, 20, 0x01);
  assert_int_equal(lkv_ledger_signer_open(&s, dir, LKV_LEDGER_SIGNER_CREATE, NULL), LKV_ECORRUPT);
  lt_flip(path, 20, 0x01);
  lt_flip(path, 0, 0x20); /* magic */
  assert_int_equal(lkv_ledger_signer_open(&s, dir, 0, NULL), LKV_ECORRUPT);
  lt_flip(path, 0, 0x20);
  lt_truncate(path, 79);
  assert_int_equal(lkv_ledger_signer_open(&s, dir, 0, NULL), LKV_ECORRUPT);
  lkvt_rmrf(dir);
}

static void test_sign_and_verify(void **state) {
  (void)state;
  char dir[64];
  lkv_ledger_signer_t *s, *other;
  lkv_ledger_signed_head_t sh, bad;
  lt_tmpdir(dir);
  assert_int_equal(lkv_ledger_signer_open(&s, dir, LKV_LEDGER_SIGNER_CREATE, NULL), 0);
  lkv_ledger_sth_t h = sample_head();
  assert_int_equal(lkv_ledger_signer_sign(s, &h, &sh), 0);
  const uint8_t *pk = lkv_ledger_signer_public_key(s);
  assert_memory_equal(sh.public_key, pk, LKV_LEDGER_KEY_LEN);
  assert_int_equal(lkv_ledger_sth_verify(&sh, pk), 0);
  assert_int_equal(lkv_ledger_sth_verify(&sh, NULL), 0);
  /* any change to the head breaks the signature */
  bad = sh;
  bad.head.tree_size++;
  assert_int_equal(lkv_ledger_sth_verify(&bad, pk), LKV_EVERIFY);
  bad = sh;
  bad.head.root.b[31] ^= 1;
  assert_int_equal(lkv_ledger_sth_verify(&bad, pk), LKV_EVERIFY);
  bad = sh;
  bad.head.revision--;
  assert_int_equal(lkv_ledger_sth_verify(&bad, pk), LKV_EVERIFY);
  bad = sh;
  bad.head.timestamp_ms++;
  assert_int_equal(lkv_ledger_sth_verify(&bad, pk), LKV_EVERIFY);
  bad = sh;
  bad.signature[10] ^= 4;
  assert_int_equal(lkv_ledger_sth_verify(&bad, pk), LKV_EVERIFY);
  /* another node's key: its own head verifies only with itself, never as ours */
  char dir2[64];
  lt_tmpdir(dir2);
  assert_int_equal(lkv_ledger_signer_open(&other, dir2, LKV_LEDGER_SIGNER_CREATE, NULL), 0);
  assert_memory_not_equal(lkv_ledger_signer_public_key(other), pk, LKV_LEDGER_KEY_LEN);
  assert_int_equal(lkv_ledger_signer_sign(other, &h, &bad), 0);
  assert_int_equal(lkv_ledger_sth_verify(&bad, NULL), 0);
  assert_int_equal(lkv_ledger_sth_verify(&bad, pk), LKV_EVERIFY);
  /* a head claiming our key with their signature */
  memcpy(bad.public_key, pk, LKV_LEDGER_KEY_LEN);
  assert_int_equal(lkv_ledger_sth_verify(&bad, pk), LKV_EVERIFY);
  lkv_ledger_signer_close(other);
  lkv_ledger_signer_close(s);
  lkvt_rmrf(dir);
  lkvt_rmrf(dir2);
}

static void test_head_encoding(void **state) {
  (void)state;
  uint8_t msg[LKV_LEDGER_STH_MSG_LEN];
  lkv_ledger_sth_t h = sample_head();
  lkv_ledger_sth_message(&h, msg);
  assert_memory_equal(msg, "ledgerkv-sth-v1\n", 16);
  static const uint8_t size[8] = {0, 0, 0, 0, 0, 0, 0, 77};
  static const uint8_t rev[8] = {0, 0, 0, 0, 0, 0, 0x04, 0xd2};
  static const uint8_t ts[8] = {0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00};
  assert_memory_equal(msg + 16, size, 8);
  assert_memory_equal(msg + 24, h.root.b, 32);
  assert_memory_equal(msg + 56, rev, 8);
  assert_memory_equal(msg + 64, ts, 8);
}

static void test_key_text_forms(void **state) {
  (void)state;
  uint8_t key[LKV_LEDGER_KEY_LEN], back[LKV_LEDGER_KEY_LEN];
  char hex[LKV_LEDGER_KEY_HEX_LEN], b64[LKV_LEDGER_KEY_B64_LEN];
  for (int i = 0; i < LKV_LEDGER_KEY_LEN; i++) key[i] = (uint8_t)(0xf0 ^ i * 13);
  lkv_ledger_key_hex(key, hex);
  lkv_ledger_key_base64(key, b64);
  assert_int_equal(strlen(hex), 64);
  assert_int_equal(strlen(b64), 44);
  assert_int_equal(b64[43], '=');
  assert_int_equal(lkv_ledger_key_parse(hex, back), 0);
  assert_memory_equal(back, key, sizeof(key));
  memset(back, 0, sizeof(back));
  assert_int_equal(lkv_ledger_key_parse(b64, back), 0);
  assert_memory_equal(back, key, sizeof(key));
  hex[5] = 'g';
  assert_int_equal(lkv_ledger_key_parse(hex, back), LKV_EINVAL);
  hex[63] = 0;
  assert_int_equal(lkv_ledger_key_parse(hex, back), LKV_EINVAL);
  b64[3] = '*';
  assert_int_equal(lkv_ledger_key_parse(b64, back), LKV_EINVAL);
  assert_int_equal(lkv_ledger_key_parse("", back), LKV_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_then_reopen_same_key),
      cmocka_unit_test(test_wider_permissions_refused),
      cmocka_unit_test(test_damaged_key_file_refused),
      cmocka_unit_test(test_sign_and_verify),
      cmocka_unit_test(test_head_encoding),
      cmocka_unit_test(test_key_text_forms),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
