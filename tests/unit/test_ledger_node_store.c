/* Unit tests for the Merkle node store: layout, reopen, crash recovery, proofs served from the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "ledger/merkle.h"
#include "ledger/node_store.h"
#include "ledger_testutil.h"

#define N UINT64_C(300)

static void leaf_of(uint64_t i, lkv_merkle_hash_t *out) {
  lkv_merkle_leaf_hash(&i, sizeof(i), out);
}

/* The root of the first n leaves, from a frontier built in memory. */
static void root_of(uint64_t n, lkv_merkle_hash_t *out) {
  lkv_merkle_frontier_t f;
  lkv_merkle_hash_t leaf;
  lkv_merkle_frontier_init(&f);
  for (uint64_t i = 0; i < n; i++) {
    leaf_of(i, &leaf);
    lkv_merkle_frontier_append(&f, &leaf, NULL);
  }
  lkv_merkle_frontier_root(&f, out);
}

static void append_leaves(lkv_ledger_nodes_t *ns, uint64_t from, uint64_t to, size_t per_batch) {
  lkv_merkle_hash_t batch[32];
  assert_true(per_batch <= 32);
  for (uint64_t i = from; i < to;) {
    size_t n = 0;
    for (; n < per_batch && i < to; n++, i++) leaf_of(i, &batch[n]);
    assert_int_equal(lkv_ledger_nodes_append(ns, batch, n), 0);
  }
}

static void check_root(lkv_ledger_nodes_t *ns, uint64_t n) {
  lkv_merkle_hash_t want, got;
  root_of(n, &want);
  assert_int_equal(lkv_ledger_nodes_size(ns), n);
  lkv_ledger_nodes_root(ns, &got);
  assert_memory_equal(got.b, want.b, 32);
  assert_int_equal(lkv_merkle_root_at(n, lkv_ledger_nodes_get, ns, &got), 0);
  assert_memory_equal(got.b, want.b, 32);
}

static void test_layout_and_reopen(void **state) {
  (void)state;
  char dir[64], path[128];
  lkv_ledger_nodes_t *ns;
  uint64_t dropped = 99;
  lt_tmpdir(dir);
  lt_path(path, sizeof(path), dir, "nodes");
  assert_int_equal(lkv_ledger_nodes_open(&ns, path, NULL, &dropped), 0);
  assert_int_equal(dropped, 0);
  check_root(ns, 0);
  append_leaves(ns, 0, 100, 1);
  append_leaves(ns, 100, N, 7);
  check_root(ns, N);
  /* 2n - popcount(n) nodes of 32 bytes after a 16-byte header */
  assert_int_equal(lt_file_size(path), 16 + 32 * (2 * N - __builtin_popcountll(N)));
  /* every perfect subtree is where the layout says, with the right hash */
  for (unsigned level = 0; level < 9; level++) {
    for (uint64_t j = 0; j < (N >> level); j++) {
      lkv_merkle_hash_t got, want;
      lkv_merkle_frontier_t f;
      lkv_merkle_frontier_init(&f);
      for (uint64_t i = j << level; i < (j + 1) << level; i++) {
        leaf_of(i, &want);
        lkv_merkle_frontier_append(&f, &want, NULL);
      }
      lkv_merkle_frontier_root(&f, &want);
      assert_int_equal(lkv_ledger_nodes_get(ns, level, j, &got), 0);
      assert_memory_equal(got.b, want.b, 32);
    }
    lkv_merkle_hash_t h;
    assert_int_equal(lkv_ledger_nodes_get(ns, level, N >> level, &h), LKV_EINVAL);
  }
  assert_int_equal(lkv_ledger_nodes_sync(ns), 0);
  lkv_ledger_nodes_close(ns);
  assert_int_equal(lkv_ledger_nodes_open(&ns, path, NULL, &dropped), 0);
  assert_int_equal(dropped, 0);
  check_root(ns, N);
  append_leaves(ns, N, N + 5, 5);
  check_root(ns, N + 5);
  lkv_ledger_nodes_close(ns);
  lkvt_rmrf(dir);
}

static void test_proofs_from_file(void **state) {
  (void)state;
  char dir[64], path[128];
  lkv_ledger_nodes_t *ns;
  lkv_merkle_proof_t p;
  lkv_merkle_hash_t leaf, root, old_root;
  lt_tmpdir(dir);
  lt_path(path, sizeof(path), dir, "nodes");
  assert_int_equal(lkv_ledger_nodes_open(&ns, path, NULL, NULL), 0);
  append_leaves(ns, 0, 77, 10);
  root_of(77, &root);
  for (uint64_t i = 0; i < 77; i++) {
    leaf_of(i, &leaf);
    assert_int_equal(lkv_merkle_inclusion_proof(i, 77, lkv_ledger_nodes_get, ns, &p), 0);
    assert_int_equal(lkv_merkle_inclusion_verify(i, 77, &leaf, &p, &root), 0);
  }
  for (uint64_t old = 1; old <= 77; old++) {
    root_of(old, &old_root);
    assert_int_equal(lkv_merkle_consistency_proof(old, 77, lkv_ledger_nodes_get, ns, &p), 0);
    assert_int_equal(lkv_merkle_consistency_verify(old, 77, &old_root, &root, &p), 0);
  }
  /* a proof for a tree larger than the store cannot be made */
  assert_int_equal(lkv_merkle_inclusion_proof(3, 78, lkv_ledger_nodes_get, ns, &p), LKV_EINVAL);
  lkv_ledger_nodes_close(ns);
  lkvt_rmrf(dir);
}

/* A file cut anywhere keeps the whole leaves before the cut, and their roots are right. */
static void test_torn_tail(void **state) {
  (void)state;
  char dir[64], path[128], copy[160];
  lkv_ledger_nodes_t *ns;
  uint64_t dropped;
  lt_tmpdir(dir);
  lt_path(path, sizeof(path), dir, "nodes");
  snprintf(copy, sizeof(copy), "%s.copy", path);
  assert_int_equal(lkv_ledger_nodes_open(&ns, path, NULL, NULL), 0);
  append_leaves(ns, 0, 64, 16);
  lkv_ledger_nodes_close(ns);
  lt_copy(path, copy);
  uint64_t full = lt_file_size(path);
  /* leaf 63 completes 7 nodes: cutting inside them must lose leaf 63 and nothing else */
  for (uint64_t cut = full - 7 * 32; cut < full; cut++) {
    lt_copy(copy, path);
    lt_truncate(path, cut);
    assert_int_equal(lkv_ledger_nodes_open(&ns, path, NULL, &dropped), 0);
    assert_int_equal(dropped, 0);
    check_root(ns, 63);
    append_leaves(ns, 63, 64, 1);
    check_root(ns, 64);
    lkv_ledger_nodes_close(ns);
  }
  /* a zeroed block (written size, lost data): leaves whose nodes do not hash up are dropped */
  lt_copy(copy, path);
  int fd = open(path, O_WRONLY);
  uint8_t zeros[64] = {0};
  assert_int_equal(pwrite(fd, zeros, sizeof(zeros), (off_t)(full - sizeof(zeros))), (ssize_t)sizeof(zeros));
  close(fd);
  assert_int_equal(lkv_ledger_nodes_open(&ns, path, NULL, &dropped), 0);
  assert_int_equal(dropped, 1);
  check_root(ns, 63);
  lkv_ledger_nodes_close(ns);
  /* a foreign file is refused */
  lt_flip(path, 2, 0x01);
  assert_int_equal(lkv_ledger_nodes_open(&ns, path, NULL, NULL), LKV_ECORRUPT);
  unlink(copy);
  lkvt_rmrf(dir);
}

static void test_truncate(void **state) {
  (void)state;
  char dir[64], path[128];
  lkv_ledger_nodes_t *ns;
  lt_tmpdir(dir);
  lt_path(path, sizeof(path), dir, "nodes");
  assert_int_equal(lkv_ledger_nodes_open(&ns, path, NULL, NULL), 0);
  append_leaves(ns, 0, 50, 8);
  assert_int_equal(lkv_ledger_nodes_truncate(ns, 51), LKV_EINVAL);
  for (uint64_t n = 50; n-- > 0;) {
    assert_int_equal(lkv_ledger_nodes_truncate(ns, n), 0);
    check_root(ns, n);
  }
  append_leaves(ns, 0, 50, 3);
  check_root(ns, 50);
  lkv_ledger_nodes_close(ns);
  lkvt_rmrf(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout_and_reopen),
      cmocka_unit_test(test_proofs_from_file),
      cmocka_unit_test(test_torn_tail),
      cmocka_unit_test(test_truncate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
