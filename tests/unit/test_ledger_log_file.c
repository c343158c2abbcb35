/* Unit tests for the ledger log: append, reopen, torn tails, corruption, order rules, index, iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "ledger/log_file.h"
#include "ledger_testutil.h"

#define FRAME_HDR 44 /* salt ‖ len ‖ leaf hash */

typedef struct fixture_s {
  char dir[96];
  char log_path[128];
  char idx_path[128];
  lkv_ledger_log_t *log;
} fixture_t;

static void fx_open(fixture_t *fx, lkv_ledger_log_info_t *info) {
  assert_int_equal(lkv_ledger_log_open(&fx->log, fx->dir, info), 0);
}

static void fx_reopen(fixture_t *fx, lkv_ledger_log_info_t *info) {
  lkv_ledger_log_close(fx->log);
  fx_open(fx, info);
}

/* A fresh log in a new temporary directory; v1: a version-1 log, the only kind that may hold
 * SIGNED_TREE_HEAD records. */
static int setup_version(void **state, int v1) {
  fixture_t *fx = calloc(1, sizeof(*fx));
  char base[64];
  lt_tmpdir(base);
  snprintf(fx->dir, sizeof(fx->dir), "%s/ledger", base);
  lt_path(fx->log_path, sizeof(fx->log_path), fx->dir, "ledger.log");
  lt_path(fx->idx_path, sizeof(fx->idx_path), fx->dir, "ledger.idx");
  if (v1) lt_v1_log(fx->dir);
  fx_open(fx, NULL);
  assert_int_equal(lkv_ledger_log_version(fx->log), v1 ? 1 : 2);
  *state = fx;
  return 0;
}

static int setup(void **state) {
  return setup_version(state, 0);
}

static int setup_v1(void **state) {
  return setup_version(state, 1);
}

static int teardown(void **state) {
  fixture_t *fx = *state;
  char base[96];
  lkv_ledger_log_close(fx->log);
  snprintf(base, sizeof(base), "%.*s", (int)(strlen(fx->dir) - strlen("/ledger")), fx->dir);
  lkvt_rmrf(base);
  free(fx);
  return 0;
}

/* Appends one REVISION entry per revision in [from, to], `per_batch` entries per append. */
static void append_revisions(fixture_t *fx, int64_t from, int64_t to, size_t per_batch) {
  lkv_ledger_ws_t ws[16] = {{0}};
  lkv_ledger_entry_t e[16];
  lkv_merkle_hash_t leaves[16];
  assert_true(per_batch <= 16);
  for (int64_t rev = from; rev <= to;) {
    size_t n = 0;
    for (; n < per_batch && rev <= to; n++, rev++) lt_put_entry(&e[n], &ws[n], rev, (size_t)(rev * 7 % 200));
    assert_int_equal(lkv_ledger_log_append(fx->log, e, n, leaves), 0);
    for (size_t i = 0; i < n; i++) {
      lkv_ledger_leaf_t l;
      lkv_merkle_hash_t h;
      lkv_ledger_entry_leaf(&e[i], &l);
      lkv_ledger_leaf_hash(&l, &h);
      assert_memory_equal(leaves[i].b, h.b, 32);
    }
  }
  for (size_t i = 0; i < 16; i++) lkv_ledger_ws_free(&ws[i]);
}

/* Appends a non-revision entry of `kind` at the log's current revision. */
static void append_other(fixture_t *fx, lkv_ledger_kind_t kind) {
  lkv_ledger_entry_t e = {.kind = kind, .revision = lkv_ledger_log_last_revision(fx->log)};
  e.compact_revision = e.revision - 1;
  e.lease_id = 5;
  e.lease_ttl = 10;
  e.sth.head.tree_size = lkv_ledger_log_count(fx->log);
  e.sth.head.revision = e.revision;
  assert_int_equal(lkv_ledger_log_append(fx->log, &e, 1, NULL), 0);
}

static void check_record(fixture_t *fx, uint64_t index, int64_t revision) {
  lkv_ledger_log_record_t rec = {0};
  assert_int_equal(lkv_ledger_log_read(fx->log, index, &rec), 0);
  assert_int_equal(rec.index, index);
  assert_int_equal(rec.entry.revision, revision);
  lkv_ledger_log_record_free(&rec);
}

static void test_append_reopen_read(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_log_info_t info;
  assert_int_equal(lkv_ledger_log_count(fx->log), 0);
  assert_int_equal(lkv_ledger_log_append(fx->log, NULL, 0, NULL), 0);
  append_revisions(fx, 2, 40, 1);
  append_revisions(fx, 41, 100, 7);
  assert_int_equal(lkv_ledger_log_count(fx->log), 99);
  fx_reopen(fx, &info);
  assert_int_equal(info.records, 99);
  assert_int_equal(info.truncated_bytes, 0);
  assert_int_equal(info.scanned, 0); /* the index covered everything */
  assert_int_equal(lkv_ledger_log_last_revision(fx->log), 100);
  for (uint64_t i = 0; i < 99; i++) check_record(fx, i, (int64_t)i + 2);
  lkv_ledger_log_record_t rec = {0};
  assert_int_equal(lkv_ledger_log_read(fx->log, 99, &rec), LKV_ENOENT);
  lkv_ledger_log_record_free(&rec);
  /* appends continue after a reopen */
  append_revisions(fx, 101, 101, 1);
  fx_reopen(fx, &info);
  assert_int_equal(info.records, 100);
  check_record(fx, 99, 101);
}

static void test_lookups(void **state) {
  fixture_t *fx = *state;
  uint64_t i;
  lkv_ledger_log_meta_t m;
  append_other(fx, LKV_LEDGER_LEASE_GRANT); /* rev 0, record 0 */
  append_revisions(fx, 2, 5, 2);            /* records 1..4 */
  append_other(fx, LKV_LEDGER_COMPACTION);  /* rev 5, record 5 */
  append_other(fx, LKV_LEDGER_SIGNED_TREE_HEAD);
  append_revisions(fx, 9, 9, 1); /* record 7: a gap in revisions (another node's, or a failed request's) */
  assert_int_equal(lkv_ledger_log_find_revision(fx->log, 2, &i), 0);
  assert_int_equal(i, 1);
  assert_int_equal(lkv_ledger_log_find_revision(fx->log, 5, &i), 0);
  assert_int_equal(i, 4);
  assert_int_equal(lkv_ledger_log_find_revision(fx->log, 9, &i), 0);
  assert_int_equal(i, 7);
  assert_int_equal(lkv_ledger_log_find_revision(fx->log, 0, &i), LKV_ENOENT); /* the grant made none */
  assert_int_equal(lkv_ledger_log_find_revision(fx->log, 7, &i), LKV_ENOENT);
  assert_int_equal(lkv_ledger_log_find_revision(fx->log, 10, &i), LKV_ENOENT);
  assert_int_equal(lkv_ledger_log_lower_bound(fx->log, 6, &i), 0);
  assert_int_equal(i, 7);
  assert_int_equal(lkv_ledger_log_lower_bound(fx->log, 100, &i), 0);
  assert_int_equal(i, 8);
  assert_int_equal(lkv_ledger_log_lower_bound(fx->log, -5, &i), 0);
  assert_int_equal(i, 0);
  assert_int_equal(lkv_ledger_log_meta(fx->log, 6, &m), 0);
  assert_int_equal(m.kind, LKV_LEDGER_SIGNED_TREE_HEAD);
  assert_int_equal(m.revision, 5);
  assert_false(m.produced);
  assert_int_equal(lkv_ledger_log_find_last(fx->log, LKV_LEDGER_SIGNED_TREE_HEAD, &i), 0);
  assert_int_equal(i, 6);
  assert_int_equal(lkv_ledger_log_find_last(fx->log, LKV_LEDGER_REVISION, &i), 0);
  assert_int_equal(i, 7);
  assert_int_equal(lkv_ledger_log_find_last(fx->log, LKV_LEDGER_LEASE_REVOKE, &i), LKV_ENOENT);
  lkv_merkle_hash_t leaf;
  lkv_ledger_log_record_t rec = {0};
  assert_int_equal(lkv_ledger_log_leaf(fx->log, 3, &leaf), 0);
  assert_int_equal(lkv_ledger_log_read(fx->log, 3, &rec), 0);
  assert_memory_equal(leaf.b, rec.leaf.b, 32);
  lkv_ledger_log_record_free(&rec);
}

static void test_order_rules(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_ws_t ws = {0};
  lkv_ledger_entry_t e[2];
  append_revisions(fx, 10, 10, 1);
  uint64_t size = lt_file_size(fx->log_path);
  lt_put_entry(&e[0], &ws, 10, 5); /* a revision must be new */
  assert_int_equal(lkv_ledger_log_append(fx->log, e, 1, NULL), LKV_EINVAL);
  lt_put_entry(&e[0], &ws, 9, 5);
  assert_int_equal(lkv_ledger_log_append(fx->log, e, 1, NULL), LKV_EINVAL);
  /* non-revision entries may repeat the revision, never go back */
  lkv_ledger_entry_t c = {.kind = LKV_LEDGER_COMPACTION, .revision = 9};
  assert_int_equal(lkv_ledger_log_append(fx->log, &c, 1, NULL), LKV_EINVAL);
  /* a head signs exactly the records before it */
  lkv_ledger_entry_t h = {.kind = LKV_LEDGER_SIGNED_TREE_HEAD, .revision = 10};
  h.sth.head.revision = 10;
  h.sth.head.tree_size = 0;
  assert_int_equal(lkv_ledger_log_append(fx->log, &h, 1, NULL), LKV_EINVAL);
  /* one bad entry fails the whole batch */
  lkv_ledger_ws_t ws2 = {0};
  lt_put_entry(&e[0], &ws, 11, 5);
  lt_put_entry(&e[1], &ws2, 11, 5);
  assert_int_equal(lkv_ledger_log_append(fx->log, e, 2, NULL), LKV_EINVAL);
  assert_int_equal(lkv_ledger_log_count(fx->log), 1);
  assert_int_equal(lt_file_size(fx->log_path), size);
  c.revision = 10;
  h.sth.head.tree_size = 2;
  lkv_ledger_entry_t ok[2] = {c, h};
  assert_int_equal(lkv_ledger_log_append(fx->log, ok, 2, NULL), 0);
  lkv_ledger_ws_free(&ws);
  lkv_ledger_ws_free(&ws2);
}

/* A new log is version 2 and holds state changes only; a version-1 log keeps its version (and its head
 * records) across reopens; a head record in a version-2 log is corruption; an unknown version is refused. */
static void test_versions(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_log_info_t info;
  assert_int_equal(lkv_ledger_log_version(fx->log), 2);
  append_revisions(fx, 2, 4, 3);
  lkv_ledger_entry_t h = {.kind = LKV_LEDGER_SIGNED_TREE_HEAD, .revision = 4};
  h.sth.head.tree_size = 3;
  h.sth.head.revision = 4;
  assert_int_equal(lkv_ledger_log_append(fx->log, &h, 1, NULL), LKV_EINVAL);
  assert_int_equal(lkv_ledger_log_count(fx->log), 3);
  fx_reopen(fx, NULL);
  assert_int_equal(lkv_ledger_log_version(fx->log), 2);

  /* a version-1 log with a head record, then the same bytes under a version-2 header */
  lkv_ledger_log_close(fx->log);
  unlink(fx->log_path);
  unlink(fx->idx_path);
  lt_v1_log(fx->dir);
  fx_open(fx, NULL);
  append_revisions(fx, 2, 4, 3);
  assert_int_equal(lkv_ledger_log_append(fx->log, &h, 1, NULL), 0);
  uint64_t head_offset = lt_file_size(fx->log_path) - FRAME_HDR - 41 - 152;
  fx_reopen(fx, &info);
  assert_int_equal(lkv_ledger_log_version(fx->log), 1);
  assert_int_equal(info.records, 4);
  append_revisions(fx, 5, 5, 1); /* appends keep the version-1 file as it is */
  fx_reopen(fx, NULL);
  assert_int_equal(lkv_ledger_log_version(fx->log), 1);
  assert_int_equal(lkv_ledger_log_count(fx->log), 5);
  lkv_ledger_log_close(fx->log);
  fx->log = NULL;
  unlink(fx->idx_path);            /* records a synced index covers are not re-read on open */
  lt_flip(fx->log_path, 11, 0x03); /* version 1 -> 2 */
  assert_int_equal(lkv_ledger_log_open(&fx->log, fx->dir, &info), LKV_ECORRUPT);
  assert_int_equal(info.corrupt_offset, head_offset);
  lt_flip(fx->log_path, 11, 0x01); /* version 3 */
  assert_int_equal(lkv_ledger_log_open(&fx->log, fx->dir, &info), LKV_ECORRUPT);
  lt_flip(fx->log_path, 11, 0x02); /* version 1 again */
  fx_open(fx, NULL);
  assert_int_equal(lkv_ledger_log_count(fx->log), 5);
}

/* Cutting the log anywhere inside its last record loses exactly that record, with or without an index
 * entry pointing at it, and the log accepts appends again afterwards. */
static void test_torn_tail_every_offset(void **state) {
  fixture_t *fx = *state;
  char log_copy[160], idx_copy[160];
  lkv_ledger_log_meta_t last;
  lkv_ledger_log_info_t info;
  append_revisions(fx, 2, 20, 3);
  assert_int_equal(lkv_ledger_log_meta(fx->log, 18, &last), 0);
  lkv_ledger_log_close(fx->log);
  fx->log = NULL;
  uint64_t full = lt_file_size(fx->log_path);
  assert_int_equal(full, last.offset + FRAME_HDR + last.len);
  snprintf(log_copy, sizeof(log_copy), "%s.copy", fx->log_path);
  snprintf(idx_copy, sizeof(idx_copy), "%s.copy", fx->idx_path);
  lt_copy(fx->log_path, log_copy);
  lt_copy(fx->idx_path, idx_copy);
  for (int with_index = 0; with_index < 2; with_index++) {
    for (uint64_t cut = last.offset; cut < full; cut++) {
      lt_copy(log_copy, fx->log_path);
      if (with_index)
        lt_copy(idx_copy, fx->idx_path);
      else
        unlink(fx->idx_path);
      lt_truncate(fx->log_path, cut);
      fx_open(fx, &info);
      assert_int_equal(info.records, 18);
      assert_int_equal(info.truncated_bytes, cut - last.offset);
      /* a synced index that points past the cut is not trusted at all */
      assert_int_equal(info.index_dropped, with_index ? 19 : 0);
      assert_int_equal(info.scanned, 18);
      assert_int_equal(lt_file_size(fx->log_path), last.offset);
      assert_int_equal(lkv_ledger_log_last_revision(fx->log), 19);
      if (cut % 16 == 0) {
        append_revisions(fx, 20, 20, 1);
        fx_reopen(fx, &info);
        assert_int_equal(info.records, 19);
        check_record(fx, 18, 20);
      }
      lkv_ledger_log_close(fx->log);
      fx->log = NULL;
    }
  }
  /* damage (not a cut) inside the last record is indistinguishable from a torn write: cut and reported */
  lt_copy(log_copy, fx->log_path);
  lt_copy(idx_copy, fx->idx_path);
  lt_flip(fx->log_path, full - 3, 0x10);
  fx_open(fx, &info);
  assert_int_equal(info.records, 18);
  assert_int_equal(info.truncated_bytes, full - last.offset);
  unlink(log_copy);
  unlink(idx_copy);
}

/* A flipped byte anywhere in a record that valid records follow is corruption, never a tail to cut. */
static void test_flipped_byte_in_middle(void **state) {
  fixture_t *fx = *state;
  char log_copy[160], idx_copy[160];
  lkv_ledger_log_meta_t mid;
  lkv_ledger_log_info_t info;
  lkv_ledger_log_t *log;
  append_revisions(fx, 2, 30, 4);
  assert_int_equal(lkv_ledger_log_meta(fx->log, 10, &mid), 0);
  lkv_ledger_log_close(fx->log);
  fx->log = NULL;
  snprintf(log_copy, sizeof(log_copy), "%s.copy", fx->log_path);
  snprintf(idx_copy, sizeof(idx_copy), "%s.copy", fx->idx_path);
  lt_copy(fx->log_path, log_copy);
  lt_copy(fx->idx_path, idx_copy);
  uint64_t full = lt_file_size(fx->log_path);
  for (uint64_t off = mid.offset; off < mid.offset + FRAME_HDR + mid.len; off++) {
    lt_copy(log_copy, fx->log_path);
    lt_flip(fx->log_path, off, 0x04);
    /* without an index the open scan meets the damage */
    unlink(fx->idx_path);
    memset(&info, 0, sizeof(info));
    assert_int_equal(lkv_ledger_log_open(&log, fx->dir, &info), LKV_ECORRUPT);
    assert_int_equal(info.corrupt_offset, mid.offset);
    assert_int_equal(lt_file_size(fx->log_path), full); /* nothing was cut */
    /* with the index, open trusts the indexed records, and reading or iterating finds the damage */
    if (off % 8 == 0) {
      lkv_ledger_log_record_t rec = {0};
      lkv_ledger_log_iter_t it;
      lkv_ledger_entry_t e;
      int rc, n = 0;
      lt_copy(idx_copy, fx->idx_path);
      assert_int_equal(lkv_ledger_log_open(&log, fx->dir, &info), 0);
      assert_int_equal(lkv_ledger_log_read(log, 10, &rec), LKV_ECORRUPT);
      check_record(&(fixture_t){.log = log}, 11, 13);
      assert_int_equal(lkv_ledger_log_iter_init(&it, log, 0), 0);
      while ((rc = lkv_ledger_log_iter_next(&it, &e, NULL)) == 1) n++;
      assert_int_equal(rc, LKV_ECORRUPT);
      assert_int_equal(n, 10);
      lkv_ledger_log_iter_free(&it);
      lkv_ledger_log_record_free(&rec);
      lkv_ledger_log_close(log);
    }
  }
  lt_copy(log_copy, fx->log_path);
  lt_copy(idx_copy, fx->idx_path);
  fx_open(fx, &info);
  assert_int_equal(info.records, 29);
  unlink(log_copy);
  unlink(idx_copy);
}

/* A torn last record whose value holds a complete frame of another ledger (another salt: a client
 * cannot know this file's) is still a torn tail. */
static void test_torn_record_containing_a_frame(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_log_meta_t first, last;
  lkv_ledger_log_info_t info;
  lkv_ledger_ws_t ws = {0};
  uint8_t frame[512];
  append_revisions(fx, 2, 3, 1);
  assert_int_equal(lkv_ledger_log_meta(fx->log, 0, &first), 0);
  int fd = open(fx->log_path, O_RDONLY);
  assert_int_equal(pread(fd, frame, FRAME_HDR + first.len, (off_t)first.offset),
                   (ssize_t)(FRAME_HDR + first.len));
  close(fd);
  frame[0] ^= 0xff;
  lkv_ledger_entry_t e = {.kind = LKV_LEDGER_REVISION, .revision = 4};
  assert_int_equal(lkv_ledger_ws_put(&ws, "k", 1, frame, FRAME_HDR + first.len, 4, 1, 0), 0);
  lkv_ledger_entry_set_ws(&e, &ws);
  assert_int_equal(lkv_ledger_log_append(fx->log, &e, 1, NULL), 0);
  assert_int_equal(lkv_ledger_log_meta(fx->log, 2, &last), 0);
  lkv_ledger_log_close(fx->log);
  unlink(fx->idx_path);
  /* cut just before the end: the embedded frame is whole, the record is not */
  lt_truncate(fx->log_path, last.offset + FRAME_HDR + last.len - 1);
  fx_open(fx, &info);
  assert_int_equal(info.records, 2);
  assert_int_equal(info.truncated_bytes, FRAME_HDR + last.len - 1);
  lkv_ledger_ws_free(&ws);
}

#define IDX_HEADER 24

/* A crash leaves the index's unsynced entries in any state: only the synced prefix is trusted. */
static void test_index_after_crash(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_log_info_t info;
  char crash[128], log_copy[160], idx_copy[160];
  uint64_t i;
  append_revisions(fx, 2, 31, 5);
  assert_int_equal(lkv_ledger_log_sync_index(fx->log, lkv_ledger_log_count(fx->log)), 0);
  append_revisions(fx, 32, 50, 5);
  /* the disk as a power failure could leave it: everything written, the unsynced entries garbage */
  snprintf(crash, sizeof(crash), "%s.crash", fx->dir);
  assert_int_equal(mkdir(crash, 0700), 0);
  lt_path(log_copy, sizeof(log_copy), crash, "ledger.log");
  lt_path(idx_copy, sizeof(idx_copy), crash, "ledger.idx");
  lt_copy(fx->log_path, log_copy);
  lt_copy(fx->idx_path, idx_copy);
  for (uint64_t k = 30; k < 49; k += 3) lt_flip(idx_copy, IDX_HEADER + 24 * k + 5, 0x80);
  lkv_ledger_log_close(fx->log);
  assert_int_equal(lkv_ledger_log_open(&fx->log, crash, &info), 0);
  assert_int_equal(info.records, 49);
  assert_int_equal(info.index_dropped, 19);
  assert_int_equal(info.scanned, 19);
  assert_int_equal(lkv_ledger_log_find_revision(fx->log, 45, &i), 0);
  assert_int_equal(i, 43);
  for (uint64_t k = 0; k < 49; k++) check_record(fx, k, (int64_t)k + 2);
  /* a clean close syncs it all: nothing to scan */
  lkv_ledger_log_close(fx->log);
  assert_int_equal(lkv_ledger_log_open(&fx->log, crash, &info), 0);
  assert_int_equal(info.scanned, 0);
  lkv_ledger_log_close(fx->log);
  unlink(log_copy);
  unlink(idx_copy);
  rmdir(crash);
  fx_open(fx, NULL);
}

static void test_index_damage_rebuilt(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_log_info_t info;
  uint64_t i;
  append_revisions(fx, 2, 50, 5);
  /* the last synced entry pointing elsewhere: nothing of the index is trusted */
  lkv_ledger_log_close(fx->log);
  lt_flip(fx->idx_path, IDX_HEADER + 24 * 48 + 7, 0x01);
  fx_open(fx, &info);
  assert_int_equal(info.index_dropped, 49);
  assert_int_equal(info.scanned, 49);
  assert_int_equal(lkv_ledger_log_find_revision(fx->log, 50, &i), 0);
  assert_int_equal(i, 48);
  /* an index with a foreign header is rebuilt */
  lkv_ledger_log_close(fx->log);
  lt_flip(fx->idx_path, 0, 0xff);
  fx_open(fx, &info);
  assert_int_equal(info.index_dropped, 49);
  assert_int_equal(info.scanned, 49);
  /* a partial last entry: the whole ones before it are kept */
  lkv_ledger_log_close(fx->log);
  lt_truncate(fx->idx_path, lt_file_size(fx->idx_path) - 5);
  fx_open(fx, &info);
  assert_int_equal(info.index_dropped, 0);
  assert_int_equal(info.scanned, 1);
  for (uint64_t k = 0; k < 49; k++) check_record(fx, k, (int64_t)k + 2);
  /* a log with a foreign header is never "repaired" */
  lkv_ledger_log_t *log;
  lkv_ledger_log_close(fx->log);
  lt_flip(fx->log_path, 3, 0x01);
  assert_int_equal(lkv_ledger_log_open(&log, fx->dir, NULL), LKV_ECORRUPT);
  lt_flip(fx->log_path, 3, 0x01);
  fx_open(fx, NULL);
}

static void test_iterator(void **state) {
  fixture_t *fx = *state;
  lkv_ledger_log_iter_t it, tail;
  lkv_ledger_entry_t e;
  lkv_merkle_hash_t leaf;
  int64_t want = 2;
  append_revisions(fx, 2, 300, 16);
  assert_int_equal(lkv_ledger_log_iter_init(&it, fx->log, 0), 0);
  assert_int_equal(lkv_ledger_log_iter_init(&tail, fx->log, 299), 0);
  assert_int_equal(lkv_ledger_log_iter_init(&it, fx->log, 300), LKV_ENOENT);
  assert_int_equal(lkv_ledger_log_iter_init(&it, fx->log, 0), 0);
  while (lkv_ledger_log_iter_next(&it, &e, &leaf) == 1) {
    assert_int_equal(e.revision, want);
    assert_int_equal(e.n_ops, 2);
    want++;
  }
  assert_int_equal(want, 301);
  /* both see records appended after they reached the end */
  assert_int_equal(lkv_ledger_log_iter_next(&tail, &e, NULL), 0);
  append_revisions(fx, 301, 302, 2);
  assert_int_equal(lkv_ledger_log_iter_next(&it, &e, NULL), 1);
  assert_int_equal(e.revision, 301);
  assert_int_equal(lkv_ledger_log_iter_next(&tail, &e, NULL), 1);
  assert_int_equal(e.revision, 301);
  assert_int_equal(lkv_ledger_log_iter_next(&tail, &e, NULL), 1);
  assert_int_equal(e.revision, 302);
  assert_int_equal(lkv_ledger_log_iter_next(&tail, &e, NULL), 0);
  lkv_ledger_log_iter_free(&tail);
  /* from the middle */
  lkv_ledger_log_iter_free(&it);
  assert_int_equal(lkv_ledger_log_iter_init(&it, fx->log, 150), 0);
  assert_int_equal(lkv_ledger_log_iter_next(&it, &e, NULL), 1);
  assert_int_equal(e.revision, 152);
  lkv_ledger_log_iter_free(&it);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_append_reopen_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lookups, setup_v1, teardown),
      cmocka_unit_test_setup_teardown(test_order_rules, setup_v1, teardown),
      cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_tail_every_offset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flipped_byte_in_middle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_record_containing_a_frame, setup, teardown),
      cmocka_unit_test_setup_teardown(test_index_after_crash, setup, teardown),
      cmocka_unit_test_setup_teardown(test_index_damage_rebuilt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_iterator, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
