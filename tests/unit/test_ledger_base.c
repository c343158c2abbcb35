/* Unit tests for the ledger's base: frontiers of every size, reset from a frontier, crash windows of a
 * reset, retention (space freed, proofs kept above the base), readers racing base changes, the audit. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "ledger/audit.h"
#include "ledger/ledger.h"
#include "ledger_testutil.h"

#define N 300 /* records of the reference ledger */

/* The reference: a ledger holding the whole history, and the roots of every prefix computed apart. */
typedef struct ref_s {
  char dir[64];
  lkv_ledger_t *l;
  lkv_ledger_ws_t ws[N];
  lkv_ledger_entry_t e[N];        /* record i has revision i + 2 */
  lkv_merkle_hash_t roots[N + 1]; /* roots[n]: the tree of the first n records */
} ref_t;

static ref_t R;

static void append_range(lkv_ledger_t *l, uint64_t from, uint64_t to) {
  while (from < to) {
    size_t n = to - from < 7 ? (size_t)(to - from) : 7;
    assert_int_equal(lkv_ledger_append(l, &R.e[from], n), 0);
    from += n;
  }
}

static int group_setup(void **state) {
  (void)state;
  lkv_merkle_frontier_t f;
  lkv_merkle_frontier_init(&f);
  lkv_merkle_frontier_root(&f, &R.roots[0]);
  for (int i = 0; i < N; i++) {
    lkv_ledger_leaf_t leaf;
    lkv_merkle_hash_t h;
    lt_put_entry(&R.e[i], &R.ws[i], i + 2, 40);
    lkv_ledger_entry_leaf(&R.e[i], &leaf);
    lkv_ledger_leaf_hash(&leaf, &h);
    assert_true(lkv_merkle_frontier_append(&f, &h, NULL) > 0);
    lkv_merkle_frontier_root(&f, &R.roots[i + 1]);
  }
  lt_tmpdir(R.dir);
  assert_int_equal(lkv_ledger_open(&R.l, R.dir, NULL), 0);
  append_range(R.l, 0, N);
  assert_int_equal(lkv_ledger_sign(R.l, 1, NULL), 0);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  lkv_ledger_close(R.l);
  lkvt_rmrf(R.dir);
  for (int i = 0; i < N; i++) lkv_ledger_ws_free(&R.ws[i]);
  return 0;
}

static void signed_root(lkv_ledger_t *l, lkv_merkle_hash_t *root) {
  lkv_ledger_signed_head_t h;
  if (lkv_ledger_needs_sign(l)) assert_int_equal(lkv_ledger_sign(l, 2, NULL), 0);
  assert_int_equal(lkv_ledger_latest_head(l, &h), 0);
  assert_int_equal(h.head.tree_size, lkv_ledger_log_count(lkv_ledger_log(l)));
  *root = h.head.root;
}

static void test_frontier_every_size(void **state) {
  (void)state;
  uint8_t buf[LKV_LEDGER_FRONTIER_MAX];
  for (uint64_t size = 0; size <= N; size++) {
    lkv_ledger_frontier_t f, g;
    lkv_merkle_hash_t root;
    size_t len;
    assert_int_equal(lkv_ledger_frontier_at(R.l, size, &f), 0);
    assert_int_equal(f.size, size);
    assert_int_equal(f.n, __builtin_popcountll(size));
    assert_int_equal(f.last_revision, size ? (int64_t)size + 1 : 0);
    lkv_ledger_frontier_root(&f, &root);
    assert_memory_equal(root.b, R.roots[size].b, LKV_MERKLE_HASH_LEN);
    assert_int_equal(lkv_ledger_frontier_encode(&f, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, LKV_LEDGER_FRONTIER_HEADER_LEN + f.n * LKV_MERKLE_HASH_LEN);
    assert_int_equal(lkv_ledger_frontier_decode(buf, len, &g), 0);
    assert_int_equal(g.size, f.size);
    assert_int_equal(g.last_revision, f.last_revision);
    assert_int_equal(g.n, f.n);
    assert_memory_equal(g.hashes, f.hashes, f.n * sizeof(f.hashes[0]));
  }
  lkv_ledger_frontier_t f;
  assert_int_equal(lkv_ledger_frontier_at(R.l, N + 1, &f), LKV_EINVAL);
}

static void test_frontier_codec_refuses(void **state) {
  (void)state;
  uint8_t buf[LKV_LEDGER_FRONTIER_MAX + 1];
  lkv_ledger_frontier_t f, g;
  size_t len;
  assert_int_equal(lkv_ledger_frontier_at(R.l, 203, &f), 0); /* 203 = 0b11001011: 5 hashes */
  assert_int_equal(lkv_ledger_frontier_encode(&f, buf, sizeof(buf), &len), 0);
  assert_int_equal(lkv_ledger_frontier_encode(&f, buf, len - 1, &len), LKV_EMSGSIZE);
  assert_int_equal(lkv_ledger_frontier_decode(buf, len - 1, &g), LKV_EBADMSG);
  assert_int_equal(lkv_ledger_frontier_decode(buf, len + 1, &g), LKV_EBADMSG);
  assert_int_equal(lkv_ledger_frontier_decode(buf, 3, &g), LKV_EBADMSG);
  buf[0] = 2;
  assert_int_equal(lkv_ledger_frontier_decode(buf, len, &g), LKV_EBADMSG);
  buf[0] = 1;
  buf[17] = 4; /* a hash count that is not popcount(size) */
  assert_int_equal(lkv_ledger_frontier_decode(buf, len - 32, &g), LKV_EBADMSG);
  buf[17] = 5;
  buf[1] = 0x80; /* size >= 2^63 */
  assert_int_equal(lkv_ledger_frontier_decode(buf, len, &g), LKV_EBADMSG);
  buf[1] = 0;
  assert_int_equal(lkv_ledger_frontier_decode(buf, len, &g), 0);
  f.n = 4;
  assert_int_equal(lkv_ledger_frontier_encode(&f, buf, sizeof(buf), &len), LKV_EINVAL);
}

/* Every receipt and consistency proof a ledger starting at `base` gives for the records and sizes at or
 * after it equals the full ledger's and verifies; below the base they are refused (or, for a
 * consistency proof that needs only kept subtrees, still equal). */
static void check_against_full(lkv_ledger_t *l, uint64_t base) {
  const uint8_t *pk = lkv_ledger_public_key(l);
  for (uint64_t i = 0; i < N; i++) {
    lkv_ledger_receipt_t r, full;
    int rc = lkv_ledger_receipt_at(l, i, &r);
    if (i < base) {
      assert_int_equal(rc, LKV_ELEDGERPRUNED);
      continue;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(lkv_ledger_receipt_verify(&r, pk), 0);
    assert_int_equal(lkv_ledger_receipt_at(R.l, i, &full), 0);
    assert_int_equal(r.proof.n, full.proof.n);
    assert_memory_equal(r.proof.h, full.proof.h, r.proof.n * sizeof(r.proof.h[0]));
  }
  for (uint64_t old = 1; old <= N; old++) {
    lkv_merkle_proof_t p, full;
    int rc = lkv_ledger_consistency(l, old, N, &p);
    assert_int_equal(lkv_ledger_consistency(R.l, old, N, &full), 0);
    if (old < base && rc == LKV_ELEDGERPRUNED) continue;
    assert_int_equal(rc, 0);
    assert_int_equal(p.n, full.n);
    assert_memory_equal(p.h, full.h, p.n * sizeof(p.h[0]));
    assert_int_equal(lkv_merkle_consistency_verify(old, N, &R.roots[old], &R.roots[N], &p), 0);
  }
}

/* A ledger of `size` records starting at `base`: its root (signed) is the reference's; appending the
 * reference's remaining records gives the full root, and every proof from the base on. */
static void go_on(lkv_ledger_t *l, uint64_t size, uint64_t base) {
  lkv_merkle_hash_t root;
  if (size > 0) {
    signed_root(l, &root);
    assert_memory_equal(root.b, R.roots[size].b, LKV_MERKLE_HASH_LEN);
  }
  append_range(l, size, N);
  signed_root(l, &root);
  assert_memory_equal(root.b, R.roots[N].b, LKV_MERKLE_HASH_LEN);
  check_against_full(l, base);
}

static void check_audit(const char *dir, uint64_t base) {
  char ldir[96];
  lkv_ledger_audit_t rep;
  snprintf(ldir, sizeof(ldir), "%s/ledger", dir);
  assert_int_equal(lkv_ledger_audit_dir(ldir, NULL, NULL, NULL, &rep), 0);
  assert_int_equal(rep.base, base);
  assert_int_equal(rep.records, N);
  assert_memory_equal(rep.root.b, R.roots[N].b, LKV_MERKLE_HASH_LEN);
}

static void test_reset_then_append(void **state) {
  (void)state;
  static const uint64_t bases[] = {0, 1, 2, 3, 5, 63, 64, 65, 100, 127, 128, 129, 203, 256, 299, 300};
  for (size_t k = 0; k < sizeof(bases) / sizeof(bases[0]); k++) {
    uint64_t b = bases[k];
    char dir[64];
    lkv_ledger_t *l;
    lkv_ledger_frontier_t f;
    lt_tmpdir(dir);
    assert_int_equal(lkv_ledger_open(&l, dir, NULL), 0);
    assert_int_equal(lkv_ledger_frontier_at(R.l, b, &f), 0);
    assert_int_equal(lkv_ledger_reset(l, &f), 0);
    assert_int_equal(lkv_ledger_base(l), b);
    assert_int_equal(lkv_ledger_log_count(lkv_ledger_log(l)), b);
    go_on(l, b, b);
    /* reopened, it is the same ledger (its last head checked against the tree again) */
    lkv_ledger_open_info_t info;
    lkv_ledger_close(l);
    assert_int_equal(lkv_ledger_open(&l, dir, &info), 0);
    assert_int_equal(info.store_rebuilt, 0);
    assert_int_equal(lkv_ledger_base(l), b);
    check_against_full(l, b);
    lkv_ledger_close(l);
    check_audit(dir, b);
    lkvt_rmrf(dir);
  }
}

/* A new ledger in a new directory holding the reference's first n records, signed. */
static lkv_ledger_t *fresh(char dir[64], uint64_t n) {
  lkv_ledger_t *l;
  lt_tmpdir(dir);
  assert_int_equal(lkv_ledger_open(&l, dir, NULL), 0);
  append_range(l, 0, n);
  assert_int_equal(lkv_ledger_sign(l, 1, NULL), 0);
  return l;
}

static void test_reset_refusals(void **state) {
  (void)state;
  char dir[64];
  lkv_ledger_t *l = fresh(dir, 40);
  lkv_ledger_frontier_t f;
  lkv_ledger_receipt_t r;
  /* the tree may not go back past a head this member signed */
  assert_int_equal(lkv_ledger_frontier_at(R.l, 39, &f), 0);
  assert_int_equal(lkv_ledger_reset(l, &f), LKV_EINVAL);
  assert_int_equal(lkv_ledger_frontier_at(R.l, 100, &f), 0);
  f.n--;
  assert_int_equal(lkv_ledger_reset(l, &f), LKV_EINVAL);
  f.n++;
  assert_int_equal(lkv_ledger_reset(l, &f), 0);
  /* the old head is below the base: receipts wait for the next head */
  assert_int_equal(lkv_ledger_receipt_at(l, 10, &r), LKV_ELEDGERPRUNED);
  append_range(l, 100, 110);
  assert_int_equal(lkv_ledger_receipt_at(l, 105, &r), LKV_EAGAIN);
  assert_int_equal(lkv_ledger_receipt(l, 30, &r), LKV_ELEDGERPRUNED); /* revision of a record below */
  assert_int_equal(lkv_ledger_sign(l, 2, NULL), 0);
  assert_int_equal(lkv_ledger_receipt(l, 107, &r), 0); /* record 105 */
  assert_int_equal(r.leaf_index, 105);
  assert_int_equal(lkv_ledger_receipt_verify(&r, lkv_ledger_public_key(l)), 0);
  assert_int_equal(lkv_ledger_frontier_at(l, 99, &f), LKV_ELEDGERPRUNED);
  lkv_ledger_close(l);
  /* the audit checks the head below the base by its signature alone, the one after it against the tree */
  char ldir[96], path[160];
  lkv_ledger_audit_t rep;
  snprintf(ldir, sizeof(ldir), "%s/ledger", dir);
  assert_int_equal(lkv_ledger_audit_dir(ldir, NULL, NULL, NULL, &rep), 0);
  assert_int_equal(rep.base, 100);
  assert_int_equal(rep.records, 110);
  assert_int_equal(rep.heads, 2);
  assert_int_equal(rep.heads_below_base, 1);
  assert_memory_equal(rep.root.b, R.roots[110].b, LKV_MERKLE_HASH_LEN);
  /* ledger.base is never written in place: any damage is refused, by the audit and by open */
  snprintf(path, sizeof(path), "%s/ledger.base", ldir);
  lt_flip(path, 40, 0x10);
  assert_int_equal(lkv_ledger_audit_dir(ldir, NULL, NULL, NULL, &rep), LKV_ECORRUPT);
  assert_string_equal(rep.failure, "ledger.base is damaged");
  assert_int_equal(lkv_ledger_open(&l, dir, NULL), LKV_ECORRUPT);
  lkvt_rmrf(dir);
}

/* Saves or restores the ledger files a reset touches (a crash image). */
static void image(const char *dir, const char *to, int restore) {
  static const char *names[] = {"ledger.log", "ledger.idx", "ledger.nodes", "ledger.heads", "ledger.base"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    char a[160], b[160];
    snprintf(a, sizeof(a), "%s/ledger/%s", dir, names[i]);
    snprintf(b, sizeof(b), "%s/%s", to, names[i]);
    if (restore) {
      unlink(a);
      if (access(b, F_OK) == 0) lt_copy(b, a);
    } else {
      unlink(b);
      if (access(a, F_OK) == 0) lt_copy(a, b);
    }
  }
}

/* Reopens dir after a crash image and checks it is the ledger of the first `size` records of the
 * reference, and that it goes on to the reference's full root. */
static void check_recovered(const char *dir, uint64_t size, uint64_t base) {
  lkv_ledger_t *l;
  assert_int_equal(lkv_ledger_open(&l, dir, NULL), 0);
  assert_int_equal(lkv_ledger_base(l), base);
  assert_int_equal(lkv_ledger_log_count(lkv_ledger_log(l)), size);
  go_on(l, size, base);
  lkv_ledger_close(l);
}

static void test_reset_crash_windows(void **state) {
  (void)state;
  /* window: 0 before ledger.base is renamed, 1 after it but before the index and nodes are cut, 2 after
   * the index is cut but before the nodes are; 3 a reset of a ledger that had a base already. */
  for (int window = 0; window < 4; window++) {
    char dir[64], old[64], tmp[160];
    lkv_ledger_t *l;
    lkv_ledger_frontier_t f;
    lt_tmpdir(dir);
    lt_tmpdir(old);
    assert_int_equal(lkv_ledger_open(&l, dir, NULL), 0);
    uint64_t before = 50, base = 0;
    if (window == 3) {
      assert_int_equal(lkv_ledger_frontier_at(R.l, 20, &f), 0);
      assert_int_equal(lkv_ledger_reset(l, &f), 0);
      base = 20;
      append_range(l, 20, before);
    } else {
      append_range(l, 0, before);
    }
    assert_int_equal(lkv_ledger_sign(l, 1, NULL), 0);
    append_range(l, before, before + 7); /* unsigned records, dropped by the reset */
    image(dir, old, 0);
    assert_int_equal(lkv_ledger_frontier_at(R.l, 150, &f), 0);
    assert_int_equal(lkv_ledger_reset(l, &f), 0);
    lkv_ledger_close(l);
    if (window == 0) {
      image(dir, old, 1);
      snprintf(tmp, sizeof(tmp), "%s/ledger/ledger.base.tmp", dir); /* a half-written new base */
      FILE *fp = fopen(tmp, "w");
      fputs("lkvlbase", fp);
      fclose(fp);
      check_recovered(dir, before + 7, base);
    } else {
      char keep[160], path[160];
      snprintf(path, sizeof(path), "%s/ledger/ledger.idx", dir);
      snprintf(keep, sizeof(keep), "%s/idx.new", old);
      lt_copy(path, keep);
      snprintf(path, sizeof(path), "%s/ledger/ledger.base", dir);
      snprintf(keep, sizeof(keep), "%s/base.new", old);
      lt_copy(path, keep);
      image(dir, old, 1);
      lt_copy(keep, path);
      if (window == 2) {
        snprintf(keep, sizeof(keep), "%s/idx.new", old);
        snprintf(path, sizeof(path), "%s/ledger/ledger.idx", dir);
        lt_copy(keep, path);
      }
      check_recovered(dir, 150, 150);
    }
    lkvt_rmrf(dir);
    lkvt_rmrf(old);
  }
}

static uint64_t blocks(const char *dir, const char *name) {
  char path[160];
  struct stat st;
  snprintf(path, sizeof(path), "%s/ledger/%s", dir, name);
  assert_int_equal(stat(path, &st), 0);
  return (uint64_t)st.st_blocks;
}

static void test_retain_frees_space(void **state) {
  (void)state;
  char dir[64];
  lkv_ledger_t *l = fresh(dir, 280);
  lkv_merkle_hash_t root;
  lkv_ledger_log_iter_t it;
  uint64_t index;
  uint64_t log_blocks = blocks(dir, "ledger.log"), idx_blocks = blocks(dir, "ledger.idx");
  uint64_t node_blocks = blocks(dir, "ledger.nodes");
  assert_int_equal(lkv_ledger_retain(l, 290), LKV_EINVAL); /* beyond the tree */
  assert_int_equal(lkv_ledger_retain(l, 230), 0);
  assert_int_equal(lkv_ledger_base(l), 230);
  assert_true(blocks(dir, "ledger.log") < log_blocks / 2);
  assert_true(blocks(dir, "ledger.idx") <= idx_blocks); /* 24 bytes a record: not always a whole block */
  assert_true(blocks(dir, "ledger.nodes") < node_blocks);
  assert_int_equal(lkv_ledger_retain(l, 100), 0); /* never back */
  assert_int_equal(lkv_ledger_base(l), 230);
  /* the policy a checkpointer applies: here the newest 40 records, then nothing past revision 250's */
  lkv_ledger_retention_t keep = {.records = 40};
  assert_int_equal(lkv_ledger_apply_retention(l, 1000), 0); /* a new ledger keeps everything */
  assert_int_equal(lkv_ledger_base(l), 230);
  lkv_ledger_set_retention(l, &keep);
  assert_int_equal(lkv_ledger_apply_retention(l, 236), 0);
  assert_int_equal(lkv_ledger_base(l), 234); /* record 234 has revision 236 */
  assert_int_equal(lkv_ledger_apply_retention(l, 1000), 0);
  assert_int_equal(lkv_ledger_base(l), 240);
  /* the log as a write-ahead log: replays start at the base, nothing before it */
  lkv_ledger_log_t *log = lkv_ledger_log(l);
  assert_int_equal(lkv_ledger_log_iter_init(&it, log, 239), LKV_ELEDGERPRUNED);
  assert_int_equal(lkv_ledger_log_lower_bound(log, 100, &index), LKV_ELEDGERPRUNED);
  assert_int_equal(lkv_ledger_log_lower_bound(log, 250, &index), 0);
  assert_int_equal(index, 248);
  assert_int_equal(lkv_ledger_log_iter_init(&it, log, 240), 0);
  lkv_ledger_entry_t e;
  assert_int_equal(lkv_ledger_log_iter_next(&it, &e, NULL), 1);
  assert_int_equal(e.revision, 242);
  lkv_ledger_log_iter_free(&it);
  append_range(l, 280, N);
  signed_root(l, &root);
  assert_memory_equal(root.b, R.roots[N].b, LKV_MERKLE_HASH_LEN);
  check_against_full(l, 240);
  lkv_ledger_close(l);
  check_audit(dir, 240);
  assert_int_equal(lkv_ledger_open(&l, dir, NULL), 0);
  assert_int_equal(lkv_ledger_base(l), 240);
  check_against_full(l, 240);
  lkv_ledger_close(l);
  lkvt_rmrf(dir);
}

static void test_retention_policy(void **state) {
  (void)state;
  lkv_ledger_retention_t all = {0}, recs = {.records = 100}, bytes = {.bytes = 4096};
  lkv_ledger_log_meta_t m;
  uint64_t base;
  assert_int_equal(lkv_ledger_retention_base(R.l, &all, N + 2, &base), 0);
  assert_int_equal(base, 0);
  assert_int_equal(lkv_ledger_retention_base(R.l, &recs, N + 2, &base), 0);
  assert_int_equal(base, N - 100);
  /* never past the first record of the checkpoint's revision (record 50 has revision 52) */
  assert_int_equal(lkv_ledger_retention_base(R.l, &recs, 52, &base), 0);
  assert_int_equal(base, 50);
  assert_int_equal(lkv_ledger_retention_base(R.l, &bytes, N + 2, &base), 0);
  assert_true(base > 0 && base < N);
  /* the records kept are the newest that fit in 4096 bytes of ledger.log (a frame: 44 bytes and the
   * entry), the one before them does not fit */
  assert_int_equal(lkv_ledger_log_meta(lkv_ledger_log(R.l), N - 1, &m), 0);
  uint64_t end = m.offset + 44 + m.len;
  assert_int_equal(lkv_ledger_log_meta(lkv_ledger_log(R.l), base, &m), 0);
  assert_true(end - m.offset <= 4096);
  assert_int_equal(lkv_ledger_log_meta(lkv_ledger_log(R.l), base - 1, &m), 0);
  assert_true(end - m.offset > 4096);
}

/* Readers asking for receipts while the base moves and the ledger is reset under them. */
typedef struct race_s {
  lkv_ledger_t *l;
  atomic_int stop;
  atomic_int ok, refused, bad;
} race_t;

static void *reader(void *arg) {
  race_t *r = arg;
  unsigned seed = 7;
  while (!atomic_load(&r->stop)) {
    lkv_ledger_receipt_t rec;
    uint64_t i = (uint64_t)rand_r(&seed) % N;
    int rc = lkv_ledger_receipt_at(r->l, i, &rec);
    if (rc == 0) {
      /* a valid answer: the reference's leaf, proven against a head of this ledger */
      lkv_ledger_leaf_t leaf;
      lkv_merkle_hash_t want, got;
      lkv_ledger_entry_leaf(&R.e[i], &leaf);
      lkv_ledger_leaf_hash(&leaf, &want);
      lkv_ledger_leaf_hash(&rec.leaf, &got);
      if (lkv_ledger_receipt_verify(&rec, lkv_ledger_public_key(r->l)) ||
          memcmp(want.b, got.b, sizeof(want.b)))
        atomic_fetch_add(&r->bad, 1);
      else
        atomic_fetch_add(&r->ok, 1);
    } else if (rc == LKV_ELEDGERPRUNED || rc == LKV_EAGAIN || rc == LKV_ENOENT) {
      atomic_fetch_add(&r->refused, 1);
    } else {
      atomic_fetch_add(&r->bad, 1); /* any other error is a reader that saw the change happen */
    }
  }
  return NULL;
}

static void test_readers_during_base_changes(void **state) {
  (void)state;
  char dir[64];
  race_t r = {0};
  pthread_t t[2];
  lkv_ledger_frontier_t f;
  r.l = fresh(dir, 60);
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, reader, &r), 0);
  uint64_t size = 60;
  for (uint64_t base = 10; base < 60; base += 10) {
    assert_int_equal(lkv_ledger_retain(r.l, base), 0);
    append_range(r.l, size, size + 20);
    size += 20;
    assert_int_equal(lkv_ledger_sign(r.l, 2, NULL), 0);
  }
  assert_int_equal(lkv_ledger_frontier_at(R.l, 250, &f), 0);
  assert_int_equal(lkv_ledger_reset(r.l, &f), 0);
  append_range(r.l, 250, N);
  assert_int_equal(lkv_ledger_sign(r.l, 3, NULL), 0);
  /* On a loaded machine the readers may not have run yet: give them up to 30 s to see both an answer and
   * a refusal (records below 250 are gone, the others are there) rather than failing on scheduling. */
  for (int i = 0; i < 30000 && (!atomic_load(&r.ok) || !atomic_load(&r.refused)); i++) usleep(1000);
  atomic_store(&r.stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  assert_int_equal(atomic_load(&r.bad), 0);
  assert_true(atomic_load(&r.ok) > 0 && atomic_load(&r.refused) > 0);
  check_against_full(r.l, 250);
  lkv_ledger_close(r.l);
  lkvt_rmrf(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frontier_every_size), cmocka_unit_test(test_frontier_codec_refuses),
      cmocka_unit_test(test_reset_then_append),   cmocka_unit_test(test_reset_refusals),
      cmocka_unit_test(test_reset_crash_windows), cmocka_unit_test(test_retain_frees_space),
      cmocka_unit_test(test_retention_policy),    cmocka_unit_test(test_readers_during_base_changes),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
