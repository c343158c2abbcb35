/* Unit tests for ledger.heads: the record codec, append order, reopen, torn tails at every offset, damage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/crc32c.h"
#include "common/error.h"
#include "ledger/head_log.h"
#include "ledger_testutil.h"

#define REC LKV_LEDGER_HEAD_RECORD_LEN
#define HDR 16

typedef struct fixture_s {
  char base[64];
  char dir[96];
  char path[128];
  lkv_ledger_head_log_t *hl;
} fixture_t;

static void fx_open(fixture_t *fx, lkv_ledger_head_log_info_t *info) {
  assert_int_equal(lkv_ledger_head_log_open(&fx->hl, fx->dir, info), 0);
}

static void fx_reopen(fixture_t *fx, lkv_ledger_head_log_info_t *info) {
  lkv_ledger_head_log_close(fx->hl);
  fx_open(fx, info);
}

static int setup(void **state) {
  fixture_t *fx = calloc(1, sizeof(*fx));
  lt_tmpdir(fx->base);
  snprintf(fx->dir, sizeof(fx->dir), "%s/ledger", fx->base);
  assert_int_equal(mkdir(fx->dir, 0700), 0);
  lt_path(fx->path, sizeof(fx->path), fx->dir, "ledger.heads");
  fx_open(fx, NULL);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_head_log_close(fx->hl);
  lkvt_rmrf(fx->base);
  free(fx);
  return 0;
}

/* A head with recognisable bytes everywhere (not signed: the file does not check signatures). */
static lkv_ledger_signed_head_t sample(uint64_t size) {
  lkv_ledger_signed_head_t sh;
  sh.head.tree_size = size;
  sh.head.revision = (int64_t)size + 100;
  sh.head.timestamp_ms = 1700000000000ull + size;
  for (int i = 0; i < 32; i++) sh.head.root.b[i] = (uint8_t)(size * 7 + (uint64_t)i);
  for (int i = 0; i < LKV_LEDGER_KEY_LEN; i++) sh.public_key[i] = (uint8_t)(0x40 + i);
  for (int i = 0; i < LKV_LEDGER_SIG_LEN; i++) sh.signature[i] = (uint8_t)(size + (uint64_t)i * 3);
  return sh;
}

static void check_read(fixture_t *fx, uint64_t index, uint64_t size) {
  lkv_ledger_signed_head_t got, want = sample(size);
  assert_int_equal(lkv_ledger_head_log_read(fx->hl, index, &got), 0);
  assert_memory_equal(&got, &want, sizeof(want));
}

static void test_record_layout(void **state) {
  (void)state;
  lkv_ledger_signed_head_t sh = sample(0x0102030405060708ull), back;
  uint8_t rec[REC];
  lkv_ledger_head_record_encode(&sh, rec);
  /* the documented layout: big-endian tree size, root, revision, time, key, signature, CRC-32C */
  assert_int_equal(rec[0], 0x01);
  assert_int_equal(rec[7], 0x08);
  assert_memory_equal(rec + 8, sh.head.root.b, 32);
  assert_int_equal(rec[47], (uint8_t)(sh.head.revision & 0xff));
  assert_int_equal(rec[55], (uint8_t)(sh.head.timestamp_ms & 0xff));
  assert_memory_equal(rec + 56, sh.public_key, 32);
  assert_memory_equal(rec + 88, sh.signature, 64);
  uint32_t crc = lkv_crc32c(0, rec, 152);
  assert_int_equal(rec[152], (uint8_t)(crc >> 24));
  assert_int_equal(rec[155], (uint8_t)crc);
  assert_int_equal(lkv_ledger_head_record_decode(rec, &back), 0);
  assert_memory_equal(&back, &sh, sizeof(sh));
  for (size_t i = 0; i < REC; i += 13) {
    rec[i] ^= 0x20;
    assert_int_equal(lkv_ledger_head_record_decode(rec, &back), LKV_ECORRUPT);
    rec[i] ^= 0x20;
  }
}

static void test_append_reopen_order(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_head_log_info_t info;
  assert_int_equal(lkv_ledger_head_log_count(fx->hl), 0);
  assert_int_equal(lt_file_size(fx->path), HDR);
  for (uint64_t s = 1; s <= 5; s++) {
    lkv_ledger_signed_head_t sh = sample(s);
    assert_int_equal(lkv_ledger_head_log_append(fx->hl, &sh), 0);
  }
  lkv_ledger_signed_head_t same = sample(5); /* the same tree signed again (another time) is fine */
  same.head.timestamp_ms++;
  assert_int_equal(lkv_ledger_head_log_append(fx->hl, &same), 0);
  lkv_ledger_signed_head_t smaller = sample(4); /* a head of a smaller tree after a larger one is not */
  assert_int_equal(lkv_ledger_head_log_append(fx->hl, &smaller), LKV_EINVAL);
  lkv_ledger_signed_head_t older = sample(9);
  older.head.revision = 1;
  assert_int_equal(lkv_ledger_head_log_append(fx->hl, &older), LKV_EINVAL);
  assert_int_equal(lkv_ledger_head_log_count(fx->hl), 6);
  assert_int_equal(lt_file_size(fx->path), HDR + 6 * REC);
  fx_reopen(fx, &info);
  assert_int_equal(info.records, 6);
  assert_int_equal(info.truncated_bytes, 0);
  for (uint64_t i = 0; i < 5; i++) check_read(fx, i, i + 1);
  lkv_ledger_signed_head_t got;
  assert_int_equal(lkv_ledger_head_log_read(fx->hl, 6, &got), LKV_ENOENT);
  /* the order check survives a reopen */
  assert_int_equal(lkv_ledger_head_log_append(fx->hl, &smaller), LKV_EINVAL);
  lkv_ledger_signed_head_t next = sample(7);
  assert_int_equal(lkv_ledger_head_log_append(fx->hl, &next), 0);
  check_read(fx, 6, 7);
  /* another file in its place is refused */
  lkv_ledger_head_log_close(fx->hl);
  fx->hl = NULL;
  lt_flip(fx->path, 11, 0x02); /* version 3 */
  assert_int_equal(lkv_ledger_head_log_open(&fx->hl, fx->dir, NULL), LKV_ECORRUPT);
  lt_flip(fx->path, 11, 0x02);
  lt_flip(fx->path, 0, 0x01);
  assert_int_equal(lkv_ledger_head_log_open(&fx->hl, fx->dir, NULL), LKV_ECORRUPT);
  lt_flip(fx->path, 0, 0x01);
  fx_open(fx, NULL);
  assert_int_equal(lkv_ledger_head_log_count(fx->hl), 7);
}

/* Cutting the file anywhere inside its last record, or damaging that record, loses exactly that record;
 * appends go on afterwards. Damage to the record before it as well is refused. */
static void test_torn_tail_and_damage(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_head_log_info_t info;
  char copy[160];
  for (uint64_t s = 1; s <= 3; s++) {
    lkv_ledger_signed_head_t sh = sample(s);
    assert_int_equal(lkv_ledger_head_log_append(fx->hl, &sh), 0);
  }
  lkv_ledger_head_log_close(fx->hl);
  fx->hl = NULL;
  snprintf(copy, sizeof(copy), "%s.copy", fx->path);
  lt_copy(fx->path, copy);
  const uint64_t full = HDR + 3 * REC;
  for (uint64_t cut = 1; cut <= REC; cut++) {
    lt_copy(copy, fx->path);
    lt_truncate(fx->path, full - cut);
    fx_open(fx, &info);
    assert_int_equal(info.records, 2);
    assert_int_equal(info.truncated_bytes, REC - cut);
    assert_int_equal(lt_file_size(fx->path), HDR + 2 * REC);
    check_read(fx, 1, 2);
    lkv_ledger_signed_head_t again = sample(3);
    assert_int_equal(lkv_ledger_head_log_append(fx->hl, &again), 0);
    lkv_ledger_head_log_close(fx->hl);
    fx->hl = NULL;
  }
  /* a whole last record with a bad checksum: an append whose pages reached the disk in part */
  for (uint64_t off = full - REC; off < full; off += 11) {
    lt_copy(copy, fx->path);
    lt_flip(fx->path, off, 0x80);
    fx_open(fx, &info);
    assert_int_equal(info.records, 2);
    assert_int_equal(info.truncated_bytes, REC);
    lkv_ledger_head_log_close(fx->hl);
    fx->hl = NULL;
  }
  /* the record before it damaged too: not a torn write, and nothing is cut */
  lt_copy(copy, fx->path);
  lt_flip(fx->path, full - 5, 0x01);
  lt_flip(fx->path, full - REC - 5, 0x01);
  assert_int_equal(lkv_ledger_head_log_open(&fx->hl, fx->dir, NULL), LKV_ECORRUPT);
  assert_int_equal(lt_file_size(fx->path), full);
  /* damage before the last record only is found by reading it (the audit reads all) */
  lt_flip(fx->path, full - 5, 0x01);
  fx_open(fx, &info);
  assert_int_equal(info.records, 3);
  lkv_ledger_signed_head_t got;
  assert_int_equal(lkv_ledger_head_log_read(fx->hl, 1, &got), LKV_ECORRUPT);
  check_read(fx, 2, 3);
  /* a header cut short (a crash while creating the file) starts an empty file */
  lkv_ledger_head_log_close(fx->hl);
  fx->hl = NULL;
  lt_truncate(fx->path, 5);
  fx_open(fx, &info);
  assert_int_equal(info.records, 0);
  assert_int_equal(lt_file_size(fx->path), HDR);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_record_layout),
      cmocka_unit_test_setup_teardown(test_append_reopen_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_tail_and_damage, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
