/* Unit tests for the ledger handle and the audit: signing, receipts, consistency, recovery, tampering,
 * signed heads in ledger.heads (not in the tree) and version-1 logs whose heads are leaves. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "ledger/audit.h"
#include "ledger/ledger.h"
#include "ledger_testutil.h"

typedef struct fixture_s {
  char dir[64];
  char ldir[96]; /* dir/ledger */
  char log_path[160];
  char heads_path[160];
  char nodes_path[160];
  lkv_ledger_t *l;
  int64_t rev; /* last revision appended */
} fixture_t;

static void fx_open(fixture_t *fx, lkv_ledger_open_info_t *info) {
  assert_int_equal(lkv_ledger_open(&fx->l, fx->dir, info), 0);
}

static void fx_reopen(fixture_t *fx, lkv_ledger_open_info_t *info) {
  lkv_ledger_close(fx->l);
  fx_open(fx, info);
}

static int setup(void **state) {
  fixture_t *fx = calloc(1, sizeof(*fx));
  lkv_ledger_open_info_t info;
  lt_tmpdir(fx->dir);
  snprintf(fx->ldir, sizeof(fx->ldir), "%s/ledger", fx->dir);
  snprintf(fx->log_path, sizeof(fx->log_path), "%s/ledger/ledger.log", fx->dir);
  snprintf(fx->heads_path, sizeof(fx->heads_path), "%s/ledger/ledger.heads", fx->dir);
  snprintf(fx->nodes_path, sizeof(fx->nodes_path), "%s/ledger/ledger.nodes", fx->dir);
  fx_open(fx, &info);
  assert_int_equal(info.key_created, 1);
  fx->rev = 1;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_close(fx->l);
  lkvt_rmrf(fx->dir);
  free(fx);
  return 0;
}

/* The request and response a put of revision rev stands for (their claims are in its entry). */
static void claims_of(int64_t rev, uint8_t out[32]) {
  char req[32];
  snprintf(req, sizeof(req), "put %lld", (long long)rev);
  lkv_ledger_claims_digest(req, strlen(req), "ok", 2, out);
}

/* One batch: `puts` revisions, then a compaction, a lease grant and a revoke that deletes one key. */
static void append_batch(fixture_t *fx, int puts) {
  lkv_ledger_ws_t ws[8] = {{0}};
  lkv_ledger_entry_t e[8];
  int n = 0;
  assert_true(puts <= 5);
  for (; n < puts; n++) lt_put_entry(&e[n], &ws[n], ++fx->rev, 40);
  e[n++] = (lkv_ledger_entry_t){
      .kind = LKV_LEDGER_COMPACTION, .revision = fx->rev, .compact_revision = fx->rev - 1};
  e[n++] = (lkv_ledger_entry_t){
      .kind = LKV_LEDGER_LEASE_GRANT, .revision = fx->rev, .lease_id = 7, .lease_ttl = 5};
  assert_int_equal(lkv_ledger_ws_delete(&ws[n], "leased", 6), 0);
  e[n] = (lkv_ledger_entry_t){.kind = LKV_LEDGER_LEASE_REVOKE, .revision = ++fx->rev, .lease_id = 7};
  lkv_ledger_entry_set_ws(&e[n], &ws[n]);
  n++;
  assert_int_equal(lkv_ledger_append(fx->l, e, (size_t)n), 0);
  for (int i = 0; i < 8; i++) lkv_ledger_ws_free(&ws[i]);
}

/* Signs, checking that the head goes to ledger.heads and leaves the tree alone. */
static void sign(fixture_t *fx, uint64_t now, lkv_ledger_signed_head_t *out) {
  uint64_t count = lkv_ledger_log_count(lkv_ledger_log(fx->l));
  uint64_t heads_size = lt_file_size(fx->heads_path);
  assert_true(lkv_ledger_needs_sign(fx->l));
  assert_int_equal(lkv_ledger_sign(fx->l, now, out), 0);
  assert_false(lkv_ledger_needs_sign(fx->l));
  assert_int_equal(lkv_ledger_log_count(lkv_ledger_log(fx->l)), count);
  assert_int_equal(lt_file_size(fx->heads_path), heads_size + LKV_LEDGER_HEAD_RECORD_LEN);
}

static void check_receipt(fixture_t *fx, int64_t rev) {
  lkv_ledger_receipt_t r;
  assert_int_equal(lkv_ledger_receipt(fx->l, rev, &r), 0);
  assert_int_equal(r.leaf.revision, rev);
  assert_int_equal(lkv_ledger_receipt_verify(&r, lkv_ledger_public_key(fx->l)), 0);
}

static void test_receipts(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_receipt_t r, bad;
  lkv_ledger_signed_head_t head;
  assert_false(lkv_ledger_needs_sign(fx->l));
  assert_int_equal(lkv_ledger_latest_head(fx->l, &head), LKV_ENOENT);
  append_batch(fx, 3); /* revisions 2, 3, 4 (puts) and 5 (revoke); 6 records */
  assert_int_equal(lkv_ledger_receipt(fx->l, 2, &r), LKV_ENOENT); /* nothing signed yet */
  sign(fx, 1000, &head);
  assert_int_equal(head.head.tree_size, 6);
  assert_int_equal(head.head.revision, 5);
  assert_int_equal(head.head.timestamp_ms, 1000);
  append_batch(fx, 1);                                            /* revision 6, ..., 7 */
  assert_int_equal(lkv_ledger_receipt(fx->l, 6, &r), LKV_EAGAIN); /* not in the signed tree yet */
  for (int64_t rev = 2; rev <= 5; rev++) check_receipt(fx, rev);
  sign(fx, 2000, NULL);
  for (int64_t rev = 2; rev <= 7; rev++) check_receipt(fx, rev);
  assert_int_equal(lkv_ledger_receipt(fx->l, 8, &r), LKV_ENOENT);
  assert_int_equal(lkv_ledger_receipt(fx->l, 1, &r), LKV_ENOENT);

  assert_int_equal(lkv_ledger_receipt(fx->l, 3, &r), 0);
  const uint8_t *pk = lkv_ledger_public_key(fx->l);
  /* the client that sent "put 3" and got "ok" can tie the receipt to its exchange */
  assert_int_equal(lkv_ledger_receipt_check_claims(&r, "put 3", 5, "ok", 2), 0);
  assert_int_equal(lkv_ledger_receipt_check_claims(&r, "put 3", 5, "OK", 2), LKV_EVERIFY);
  assert_int_equal(lkv_ledger_receipt_check_claims(&r, "put 4", 5, "ok", 2), LKV_EVERIFY);
  uint8_t claims[32];
  claims_of(3, claims);
  assert_memory_equal(r.leaf.claims, claims, 32);
  /* any change to a receipt fails it */
  bad = r;
  bad.leaf.revision = 4;
  assert_int_equal(lkv_ledger_receipt_verify(&bad, pk), LKV_EVERIFY);
  bad = r;
  bad.leaf.ws_digest[0] ^= 1;
  assert_int_equal(lkv_ledger_receipt_verify(&bad, pk), LKV_EVERIFY);
  bad = r;
  bad.leaf.claims[31] ^= 1;
  assert_int_equal(lkv_ledger_receipt_verify(&bad, pk), LKV_EVERIFY);
  bad = r;
  bad.leaf.kind = LKV_LEDGER_LEASE_REVOKE;
  assert_int_equal(lkv_ledger_receipt_verify(&bad, pk), LKV_EVERIFY);
  bad = r;
  bad.leaf_index++;
  assert_int_equal(lkv_ledger_receipt_verify(&bad, pk), LKV_EVERIFY);
  bad = r;
  bad.proof.h[1].b[5] ^= 2;
  assert_int_equal(lkv_ledger_receipt_verify(&bad, pk), LKV_EVERIFY);
  bad = r;
  bad.sth.head.root.b[0] ^= 1;
  assert_int_equal(lkv_ledger_receipt_verify(&bad, pk), LKV_EVERIFY);
  bad = r;
  bad.sth.head.tree_size = r.leaf_index;
  assert_int_equal(lkv_ledger_receipt_verify(&bad, pk), LKV_EVERIFY);
  uint8_t other[32];
  memcpy(other, pk, 32);
  other[0] ^= 1;
  assert_int_equal(lkv_ledger_receipt_verify(&r, other), LKV_EVERIFY);
  /* receipts exist for entries that are not revisions too (the compaction at record 3) */
  assert_int_equal(lkv_ledger_receipt_at(fx->l, 3, &r), 0);
  assert_int_equal(r.leaf.kind, LKV_LEDGER_COMPACTION);
  assert_int_equal(lkv_ledger_receipt_verify(&r, pk), 0);
}

static void test_consistency_between_heads(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_signed_head_t heads[6];
  lkv_merkle_proof_t p;
  for (int i = 0; i < 6; i++) {
    append_batch(fx, 1 + i % 5);
    sign(fx, (uint64_t)(i + 1) * 100, &heads[i]);
  }
  const uint8_t *pk = lkv_ledger_public_key(fx->l);
  for (int a = 0; a < 6; a++) {
    for (int b = a; b < 6; b++) {
      assert_int_equal(lkv_ledger_consistency(fx->l, heads[a].head.tree_size, heads[b].head.tree_size, &p),
                       0);
      assert_int_equal(lkv_ledger_heads_verify_consistency(&heads[a], &heads[b], &p, pk), 0);
      if (a == b) continue;
      /* a forked history: a head over a different tree of the same size */
      lkv_ledger_signed_head_t fork = heads[a];
      fork.head.root.b[7] ^= 1;
      assert_int_equal(lkv_ledger_heads_verify_consistency(&fork, &heads[b], &p, pk), LKV_EVERIFY);
      assert_int_equal(lkv_ledger_heads_verify_consistency(&heads[a], &heads[b], &p, NULL), 0);
    }
  }
  uint64_t size = lkv_ledger_log_count(lkv_ledger_log(fx->l));
  assert_int_equal(lkv_ledger_consistency(fx->l, 3, size + 1, &p), LKV_EINVAL);
  assert_int_equal(lkv_ledger_consistency(fx->l, 5, 4, &p), LKV_EINVAL);
}

/* A cluster member's ledger: appends without their own flush, the same heads, receipts and recovery. */
static void test_deferred_sync(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_signed_head_t head, again;
  lkv_ledger_open_info_t info;
  lkv_ledger_defer_sync(fx->l);
  for (int i = 0; i < 10; i++) append_batch(fx, 3);
  assert_int_equal(lkv_ledger_flush(fx->l), 0);
  sign(fx, 7000, &head);
  check_receipt(fx, 2);
  append_batch(fx, 2); /* after the last head: flushed by close */
  uint64_t count = lkv_ledger_log_count(lkv_ledger_log(fx->l));
  fx_reopen(fx, &info);
  assert_int_equal(info.log.truncated_bytes, 0);
  assert_int_equal(lkv_ledger_log_count(lkv_ledger_log(fx->l)), count);
  assert_int_equal(lkv_ledger_latest_head(fx->l, &again), 0);
  assert_memory_equal(&again, &head, sizeof(head));
  lkv_ledger_audit_t report;
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, lkv_ledger_public_key(fx->l), NULL, NULL, &report), 0);
  assert_int_equal(report.records, count);
}

static void test_reopen_and_store_recovery(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_signed_head_t head, again;
  lkv_ledger_open_info_t info;
  for (int i = 0; i < 25; i++) append_batch(fx, 4);
  sign(fx, 5000, &head);
  fx_reopen(fx, &info);
  assert_int_equal(info.key_created, 0);
  assert_int_equal(info.log.truncated_bytes, 0);
  assert_int_equal(info.leaves_recomputed, 0); /* the head covers every leaf (it is not one) */
  assert_int_equal(info.store_rebuilt, 0);
  assert_int_equal(lkv_ledger_latest_head(fx->l, &again), 0);
  assert_memory_equal(&again, &head, sizeof(head));
  check_receipt(fx, 2);
  /* entries after the last head are recomputed from the log on open (their nodes were never synced) */
  append_batch(fx, 2);
  fx_reopen(fx, &info);
  assert_int_equal(info.leaves_recomputed, 5);
  sign(fx, 6000, NULL);
  check_receipt(fx, fx->rev);
  /* a lost node store is rebuilt */
  lkv_ledger_close(fx->l);
  unlink(fx->nodes_path);
  fx_open(fx, &info);
  assert_int_equal(info.leaves_recomputed, lkv_ledger_log_count(lkv_ledger_log(fx->l)));
  check_receipt(fx, 50);
  assert_int_equal(info.key_changed, 0);
  /* a damaged node the last head covers is noticed and the store rebuilt */
  lkv_ledger_close(fx->l);
  lt_flip(fx->nodes_path, 16 + 32 * 100, 0x08); /* inside the first perfect subtree of 128 leaves */
  lt_flip(fx->nodes_path, 16 + 32 * 254, 0x08); /* the root of that subtree, read by every root */
  fx_open(fx, &info);
  assert_int_equal(info.store_rebuilt, 1);
  for (int64_t rev = 2; rev <= fx->rev; rev += 7) check_receipt(fx, rev);
  /* a lost key: a new one is made, and the caller is told the heads were signed by another */
  lkv_ledger_signed_head_t old;
  char key[128];
  assert_int_equal(lkv_ledger_latest_head(fx->l, &old), 0);
  lkv_ledger_close(fx->l);
  snprintf(key, sizeof(key), "%s/ledger/node.key", fx->dir);
  assert_int_equal(unlink(key), 0);
  fx_open(fx, &info);
  assert_int_equal(info.key_created, 1);
  assert_int_equal(info.key_changed, 1);
  assert_memory_not_equal(lkv_ledger_public_key(fx->l), old.public_key, LKV_LEDGER_KEY_LEN);
}

/* Appends sh to ledger.heads behind the ledger's back (the ledger must be closed). */
static void append_raw_head(fixture_t *fx, const lkv_ledger_signed_head_t *sh) {
  lkv_ledger_head_log_t *hl;
  assert_int_equal(lkv_ledger_head_log_open(&hl, fx->ldir, NULL), 0);
  assert_int_equal(lkv_ledger_head_log_append(hl, sh), 0);
  lkv_ledger_head_log_close(hl);
}

static void test_torn_head_and_forged_heads(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_signed_head_t first, second, latest;
  lkv_ledger_open_info_t info;
  lkv_ledger_audit_t report;
  const uint64_t rec = LKV_LEDGER_HEAD_RECORD_LEN;
  append_batch(fx, 2);
  sign(fx, 10, &first);
  append_batch(fx, 2);
  sign(fx, 20, &second);
  lkv_ledger_close(fx->l);
  /* the last head torn away: the one before it is the latest again, and signing goes on */
  uint64_t size = lt_file_size(fx->heads_path);
  lt_truncate(fx->heads_path, size - 10);
  fx_open(fx, &info);
  assert_int_equal(info.heads.truncated_bytes, rec - 10);
  assert_int_equal(info.heads.records, 1);
  assert_int_equal(info.log.truncated_bytes, 0);
  assert_int_equal(lkv_ledger_latest_head(fx->l, &latest), 0);
  assert_memory_equal(&latest, &first, sizeof(first));
  assert_true(lkv_ledger_needs_sign(fx->l));
  sign(fx, 30, &second);
  /* a whole last record that fails its checksum is a torn write too */
  lkv_ledger_close(fx->l);
  lt_flip(fx->heads_path, size - 20, 0x40);
  fx_open(fx, &info);
  assert_int_equal(info.heads.truncated_bytes, rec);
  assert_int_equal(lkv_ledger_latest_head(fx->l, &latest), 0);
  assert_memory_equal(&latest, &first, sizeof(first));
  sign(fx, 40, &second);
  /* damage to the record before the last as well is not a torn write */
  lkv_ledger_close(fx->l);
  lt_flip(fx->heads_path, size - rec - 30, 0x01);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, NULL, NULL, NULL, &report), LKV_ECORRUPT);
  assert_true(report.failed_in_heads);
  assert_int_equal(report.failed_index, 0);
  lt_flip(fx->heads_path, size - 20, 0x40);
  assert_int_equal(lkv_ledger_open(&fx->l, fx->dir, NULL), LKV_ECORRUPT);
  lt_flip(fx->heads_path, size - 20, 0x40);
  lt_flip(fx->heads_path, size - rec - 30, 0x01);
  fx_open(fx, NULL);
  lkv_ledger_close(fx->l);
  fx->l = NULL;

  /* a well-formed head whose root is not the log's: appended behind the ledger's back */
  lkv_ledger_log_t *log;
  lkv_ledger_signer_t *signer;
  assert_int_equal(lkv_ledger_log_open(&log, fx->ldir, NULL), 0);
  assert_int_equal(lkv_ledger_signer_open(&signer, fx->dir, 0, NULL), 0);
  lkv_ledger_sth_t h = {.tree_size = lkv_ledger_log_count(log),
                        .revision = lkv_ledger_log_last_revision(log)};
  lkv_ledger_log_close(log);
  lkv_ledger_signed_head_t forged;
  memset(h.root.b, 0xab, 32);
  assert_int_equal(lkv_ledger_signer_sign(signer, &h, &forged), 0);
  append_raw_head(fx, &forged);
  assert_int_equal(lkv_ledger_open(&fx->l, fx->dir, NULL), LKV_ECORRUPT);
  /* the audit names the head record */
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, NULL, NULL, NULL, &report), LKV_EVERIFY);
  assert_non_null(report.failure);
  assert_true(report.failed_in_heads);
  assert_int_equal(report.failed_index, 2);
  assert_int_equal(report.failed_offset, 16 + 2 * rec);
  /* a head with a broken signature is refused too */
  lt_truncate(fx->heads_path, size);
  forged = second;
  forged.signature[3] ^= 1;
  append_raw_head(fx, &forged);
  assert_int_equal(lkv_ledger_open(&fx->l, fx->dir, NULL), LKV_ECORRUPT);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, NULL, NULL, NULL, &report), LKV_EVERIFY);
  /* and so is a head over records the log does not hold (it lost signed records) */
  lt_truncate(fx->heads_path, size);
  h = second.head;
  h.tree_size++;
  assert_int_equal(lkv_ledger_signer_sign(signer, &h, &forged), 0);
  append_raw_head(fx, &forged);
  assert_int_equal(lkv_ledger_open(&fx->l, fx->dir, NULL), LKV_ECORRUPT);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, NULL, NULL, NULL, &report), LKV_EVERIFY);
  assert_true(report.failed_in_heads);
  lkv_ledger_signer_close(signer);
  /* cut it off and the ledger opens again */
  lt_truncate(fx->heads_path, size);
  fx_open(fx, NULL);
  assert_int_equal(lkv_ledger_latest_head(fx->l, &latest), 0);
  assert_memory_equal(&latest, &second, sizeof(second));
}

typedef struct replay_s {
  uint64_t records, puts, deletes;
  int64_t last_revision;
} replay_t;

static int replay_cb(void *arg, uint64_t index, const lkv_ledger_entry_t *e) {
  replay_t *r = arg;
  lkv_ledger_op_iter_t it;
  lkv_ledger_op_t op;
  assert_int_equal(index, r->records);
  r->records++;
  r->last_revision = e->revision;
  lkv_ledger_ops_begin(e, &it);
  while (lkv_ledger_ops_next(&it, &op) == 1) {
    if (op.type == LKV_LEDGER_OP_PUT)
      r->puts++;
    else
      r->deletes++;
  }
  return 0;
}

static void test_audit(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_audit_t report;
  lkv_ledger_signed_head_t last;
  replay_t replay = {0};
  for (int i = 0; i < 10; i++) {
    append_batch(fx, 3);
    if (i % 3 == 0) sign(fx, (uint64_t)i, NULL);
  }
  append_batch(fx, 1);
  uint64_t count = lkv_ledger_log_count(lkv_ledger_log(fx->l));
  assert_int_equal(count, 10 * 6 + 4); /* state changes only: no head is a record */
  uint8_t pk[LKV_LEDGER_KEY_LEN];
  memcpy(pk, lkv_ledger_public_key(fx->l), sizeof(pk));
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, pk, replay_cb, &replay, &report), 0);
  assert_null(report.failure);
  assert_int_equal(report.log_version, 2);
  assert_int_equal(report.records, count);
  assert_int_equal(report.heads, 4);
  assert_int_equal(report.head_leaves, 0);
  assert_int_equal(report.revisions, 10 * 4 + 2);
  assert_int_equal(report.last_revision, fx->rev);
  assert_int_equal(report.unsigned_records, 4); /* the batch after the last head */
  assert_int_equal(report.tail_bytes, 0);
  assert_int_equal(report.heads_tail_bytes, 0);
  assert_int_equal(report.ops, 10 * 3 * 2 + 10 + 2 + 1);
  assert_int_equal(replay.records, count);
  assert_int_equal(replay.puts, 31);
  assert_int_equal(replay.deletes, 31 + 11);
  /* the root the audit recomputed is the one the ledger signs for the whole tree */
  sign(fx, 99, &last);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, pk, NULL, NULL, &report), 0);
  assert_int_equal(report.unsigned_records, 0);
  assert_int_equal(last.head.tree_size, report.records);
  assert_memory_equal(last.head.root.b, report.root.b, 32);
  assert_memory_equal(&report.last_head, &last, sizeof(last));
  /* another node's key does not vouch for these heads */
  uint8_t other[32];
  memcpy(other, pk, 32);
  other[31] ^= 0x10;
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, other, NULL, NULL, &report), LKV_EVERIFY);
  assert_true(report.failed_in_heads);
  assert_int_equal(report.failed_index, 0); /* the first head */
  lkv_ledger_close(fx->l);
  fx->l = NULL;
  /* a torn tail of either file is reported, not failed */
  uint64_t size = lt_file_size(fx->log_path), hsize = lt_file_size(fx->heads_path);
  lt_truncate(fx->heads_path, hsize - 1);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, pk, NULL, NULL, &report), 0);
  assert_int_equal(report.heads, 4);
  assert_int_equal(report.heads_tail_bytes, LKV_LEDGER_HEAD_RECORD_LEN - 1);
  lt_truncate(fx->log_path, size - 3);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, pk, NULL, NULL, &report), 0);
  assert_int_equal(report.records, count - 1);
  assert_true(report.tail_bytes > 0);
  /* damage in the middle is corruption */
  lt_flip(fx->heads_path, 16 + LKV_LEDGER_HEAD_RECORD_LEN + 7, 0x01);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, pk, NULL, NULL, &report), LKV_ECORRUPT);
  assert_true(report.failed_in_heads);
  assert_int_equal(report.failed_index, 1);
  lt_flip(fx->heads_path, 16 + LKV_LEDGER_HEAD_RECORD_LEN + 7, 0x01);
  lt_flip(fx->log_path, 200, 0x01);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, pk, NULL, NULL, &report), LKV_ECORRUPT);
  assert_false(report.failed_in_heads);
  assert_int_equal(report.failed_index, 0);
  lt_flip(fx->log_path, 200, 0x01);
  lt_flip(fx->log_path, 2, 0x01);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, pk, NULL, NULL, &report), LKV_ECORRUPT);
  assert_false(report.failed_in_heads);
  lt_flip(fx->log_path, 2, 0x01);
  lt_flip(fx->heads_path, 3, 0x01);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, pk, NULL, NULL, &report), LKV_ECORRUPT);
  assert_true(report.failed_in_heads);
  assert_int_equal(lkv_ledger_open(&fx->l, fx->dir, NULL), LKV_ECORRUPT);
  /* no ledger.heads: nothing signed, still audited; no ledger.log: nothing to audit */
  assert_int_equal(unlink(fx->heads_path), 0);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, pk, NULL, NULL, &report), 0);
  assert_int_equal(report.heads, 0);
  assert_int_equal(report.unsigned_records, count - 1);
  assert_int_equal(unlink(fx->log_path), 0);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, pk, NULL, NULL, &report), -ENOENT);
}

/* Appends REVISION entries for revisions [from, to] to a bare log, adding their leaves to f. */
static void v1_append(lkv_ledger_log_t *log, lkv_merkle_frontier_t *f, int64_t from, int64_t to) {
  lkv_ledger_ws_t ws = {0};
  lkv_ledger_entry_t e;
  lkv_merkle_hash_t leaf;
  for (int64_t rev = from; rev <= to; rev++) {
    lt_put_entry(&e, &ws, rev, 30);
    assert_int_equal(lkv_ledger_log_append(log, &e, 1, &leaf), 0);
    assert_true(lkv_merkle_frontier_append(f, &leaf, NULL) >= 1);
  }
  lkv_ledger_ws_free(&ws);
}

/* Signs the log's tree and appends the head as a SIGNED_TREE_HEAD record, as versions before ledger.heads
 * did. */
static void v1_sign(lkv_ledger_log_t *log, lkv_merkle_frontier_t *f, lkv_ledger_signer_t *s,
                    lkv_ledger_signed_head_t *out) {
  lkv_ledger_sth_t h = {.tree_size = lkv_ledger_log_count(log),
                        .revision = lkv_ledger_log_last_revision(log)};
  lkv_ledger_entry_t e = {.kind = LKV_LEDGER_SIGNED_TREE_HEAD, .revision = h.revision};
  lkv_merkle_hash_t leaf;
  lkv_merkle_frontier_root(f, &h.root);
  h.timestamp_ms = 1000 + h.tree_size;
  assert_int_equal(lkv_ledger_signer_sign(s, &h, &e.sth), 0);
  lkv_ledger_claims_digest(NULL, 0, NULL, 0, e.claims);
  assert_int_equal(lkv_ledger_log_append(log, &e, 1, &leaf), 0);
  assert_true(lkv_merkle_frontier_append(f, &leaf, NULL) >= 1);
  *out = e.sth;
}

/* A ledger a version before ledger.heads wrote (version-1 log, heads as leaves) opens: its last head leaf
 * is the latest head, new heads go to ledger.heads and the log stays version 1 with its head leaves;
 * receipts, consistency proofs and the audit cover both kinds of heads. */
static void test_version1_log(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_signed_head_t h1, h2, h3, latest;
  lkv_ledger_open_info_t info;
  lkv_ledger_audit_t report;
  lkv_merkle_frontier_t f;
  lkv_merkle_proof_t p;
  char path[200];
  lkv_ledger_close(fx->l);
  const char *derived[] = {"ledger.log", "ledger.idx", "ledger.nodes", "ledger.heads"};
  for (size_t i = 0; i < 4; i++) {
    lt_path(path, sizeof(path), fx->ldir, derived[i]);
    assert_int_equal(unlink(path), 0);
  }
  lt_v1_log(fx->ldir);
  lkv_ledger_log_t *log;
  lkv_ledger_signer_t *signer;
  assert_int_equal(lkv_ledger_log_open(&log, fx->ldir, NULL), 0);
  assert_int_equal(lkv_ledger_signer_open(&signer, fx->dir, 0, NULL), 0);
  lkv_merkle_frontier_init(&f);
  v1_append(log, &f, 2, 4);
  v1_sign(log, &f, signer, &h1); /* record 3 */
  v1_append(log, &f, 5, 6);
  v1_sign(log, &f, signer, &h2); /* record 6 */
  lkv_ledger_log_close(log);
  lkv_ledger_signer_close(signer);
  fx->rev = 6;

  fx_open(fx, &info);
  assert_int_equal(info.heads.records, 0);
  assert_int_equal(info.key_changed, 0);
  assert_int_equal(lkv_ledger_log_version(lkv_ledger_log(fx->l)), 1);
  assert_int_equal(lkv_ledger_latest_head(fx->l, &latest), 0);
  assert_memory_equal(&latest, &h2, sizeof(h2));
  for (int64_t rev = 2; rev <= 6; rev++) check_receipt(fx, rev);
  sign(fx, 5000, &h3); /* covers h2's leaf too */
  assert_int_equal(h3.head.tree_size, 7);
  append_batch(fx, 1);
  sign(fx, 6000, &latest);
  for (int64_t rev = 2; rev <= fx->rev; rev++) check_receipt(fx, rev);
  const uint8_t *pk = lkv_ledger_public_key(fx->l);
  assert_int_equal(lkv_ledger_consistency(fx->l, h1.head.tree_size, latest.head.tree_size, &p), 0);
  assert_int_equal(lkv_ledger_heads_verify_consistency(&h1, &latest, &p, pk), 0);
  assert_int_equal(lkv_ledger_consistency(fx->l, h2.head.tree_size, h3.head.tree_size, &p), 0);
  assert_int_equal(lkv_ledger_heads_verify_consistency(&h2, &h3, &p, pk), 0);

  fx_reopen(fx, &info);
  assert_int_equal(info.heads.records, 2);
  assert_int_equal(info.leaves_recomputed, 0);
  assert_int_equal(lkv_ledger_log_version(lkv_ledger_log(fx->l)), 1);
  assert_int_equal(lkv_ledger_latest_head(fx->l, &h3), 0);
  assert_memory_equal(&h3, &latest, sizeof(latest));
  assert_false(lkv_ledger_needs_sign(fx->l));
  pk = lkv_ledger_public_key(fx->l);
  assert_int_equal(lkv_ledger_audit_dir(fx->ldir, pk, NULL, NULL, &report), 0);
  assert_int_equal(report.log_version, 1);
  assert_int_equal(report.records, 7 + 4);
  assert_int_equal(report.heads, 4);
  assert_int_equal(report.head_leaves, 2);
  assert_int_equal(report.unsigned_records, 0);
  assert_memory_equal(report.root.b, latest.head.root.b, 32);
}

typedef struct reader_s {
  fixture_t *fx;
  _Atomic int stop;
  uint64_t receipts, records, failures;
} reader_t;

/* Reads receipts and iterates the log while the committer appends: every answer must verify. Failures
 * are counted (cmocka's asserts belong to the main thread). */
static void *reader_main(void *arg) {
  reader_t *r = arg;
  lkv_ledger_t *l = r->fx->l;
  while (!atomic_load(&r->stop)) {
    lkv_ledger_signed_head_t head;
    lkv_ledger_receipt_t rc;
    lkv_ledger_log_iter_t it;
    lkv_ledger_entry_t e;
    int got;
    if (lkv_ledger_latest_head(l, &head) == 0 && head.head.revision >= 2) {
      int64_t rev = 2 + (int64_t)(r->receipts % (uint64_t)(head.head.revision - 1));
      if (lkv_ledger_receipt(l, rev, &rc) || lkv_ledger_receipt_verify(&rc, lkv_ledger_public_key(l)))
        r->failures++;
      r->receipts++;
    }
    if (lkv_ledger_log_iter_init(&it, lkv_ledger_log(l), 0)) r->failures++;
    while ((got = lkv_ledger_log_iter_next(&it, &e, NULL)) == 1) r->records++;
    if (got) r->failures++;
    lkv_ledger_log_iter_free(&it);
  }
  return NULL;
}

static void test_readers_during_appends(void **state) {
  fixture_t *fx = *state;
  reader_t r = {.fx = fx};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
  for (int i = 0; i < 300; i++) {
    append_batch(fx, 1 + i % 5);
    if (i % 7 == 0) sign(fx, (uint64_t)i, NULL);
  }
  atomic_store(&r.stop, 1);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(r.failures, 0);
  assert_true(r.receipts > 0);
  assert_true(r.records > 0);
}

/* A head taken before more appends is signed as taken, while the appends go on (the signing thread's
 * case): it covers exactly the records it was taken of, and its receipts verify. */
static void test_sign_finish_after_appends(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_sign_job_t job;
  lkv_ledger_signed_head_t head;
  lkv_ledger_receipt_t r;
  append_batch(fx, 3); /* revisions 2..5: 6 records */
  assert_int_equal(lkv_ledger_sign_prepare(fx->l, 1000, &job), 0);
  append_batch(fx, 2); /* revisions 6..8: 5 more, not in the head */
  assert_int_equal(lkv_ledger_sign_finish(fx->l, &job, &head), 0);
  assert_int_equal(head.head.tree_size, 6);
  assert_int_equal(head.head.revision, 5);
  assert_true(lkv_ledger_needs_sign(fx->l));
  for (int64_t rev = 2; rev <= 5; rev++) check_receipt(fx, rev);
  assert_int_equal(lkv_ledger_receipt(fx->l, 6, &r), LKV_EAGAIN);
  fx_reopen(fx, NULL); /* the head's root matches the nodes it was taken of */
  assert_int_equal(lkv_ledger_latest_head(fx->l, &head), 0);
  assert_int_equal(head.head.tree_size, 6);
  sign(fx, 2000, &head);
  assert_int_equal(head.head.tree_size, 11);
  for (int64_t rev = 2; rev <= 8; rev++) check_receipt(fx, rev);
}

/* A head taken before a reset (an installed snapshot) describes a tree that is gone: it is not signed. */
static void test_sign_prepared_before_reset(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_sign_job_t job;
  lkv_ledger_signed_head_t head;
  lkv_ledger_frontier_t f;
  append_batch(fx, 3);
  assert_int_equal(lkv_ledger_sign_prepare(fx->l, 1000, &job), 0);
  assert_int_equal(lkv_ledger_frontier_at(fx->l, 6, &f), 0);
  assert_int_equal(lkv_ledger_reset(fx->l, &f), 0);
  assert_int_equal(lkv_ledger_sign_finish(fx->l, &job, &head), LKV_EAGAIN);
  assert_int_equal(lkv_ledger_latest_head(fx->l, &head), LKV_ENOENT);
  /* the next prepare takes the new tree */
  assert_int_equal(lkv_ledger_sign_prepare(fx->l, 2000, &job), 0);
  assert_int_equal(lkv_ledger_sign_finish(fx->l, &job, &head), 0);
  assert_int_equal(head.head.tree_size, 6);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_receipts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_consistency_between_heads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reopen_and_store_recovery, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_head_and_forged_heads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deferred_sync, setup, teardown),
      cmocka_unit_test_setup_teardown(test_version1_log, setup, teardown),
      cmocka_unit_test_setup_teardown(test_readers_during_appends, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sign_finish_after_appends, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sign_prepared_before_reset, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
