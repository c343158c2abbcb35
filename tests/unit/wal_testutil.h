/* Helpers for the durable-log tests: temp dirs, deterministic entries, saving ranges, checking restores. */
#ifndef LKV_TESTS_WAL_TESTUTIL_H
#define LKV_TESTS_WAL_TESTUTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "wal/wal.h"

static inline void wt_tmpdir(char dir[64]) {
  strcpy(dir, "/tmp/lkv-wal-test-XXXXXX");
  assert_non_null(mkdtemp(dir));
}

static inline int wt_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static inline void wt_rmrf(const char *dir) {
  nftw(dir, wt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes a fresh temp dir and opens a new log in it with opt (must succeed). */
static inline void wt_open_new(char dir[64], const lkv_wal_options_t *opt, lkv_wal_t **w,
                               lkv_raft_restore_t *r) {
  wt_tmpdir(dir);
  assert_int_equal(lkv_wal_open(dir, opt, w, r), 0);
}

/* Closes w and removes its directory. */
static inline void wt_done(const char *dir, lkv_wal_t *w) {
  lkv_wal_close(w);
  wt_rmrf(dir);
}

/* Closes w and opens the log in dir again with opt (must succeed). */
static inline void wt_reopen(const char *dir, const lkv_wal_options_t *opt, lkv_wal_t **w,
                             lkv_raft_restore_t *r) {
  lkv_wal_close(*w);
  assert_int_equal(lkv_wal_open(dir, opt, w, r), 0);
}

/* One log under test: its directory, handle, last restore and recovery report, and its options. */
typedef struct {
  char dir[64];
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_recovery_t rep;
  lkv_wal_options_t opt;
} wt_log_t;

/* Opens a new log with opt (its recovery report going to l->rep) in a fresh temp dir. */
static inline void wt_start(wt_log_t *l, lkv_wal_options_t opt) {
  l->opt = opt;
  l->opt.recovery = &l->rep;
  wt_open_new(l->dir, &l->opt, &l->w, &l->r);
}

static inline void wt_log_reopen(wt_log_t *l) {
  wt_reopen(l->dir, &l->opt, &l->w, &l->r);
}

static inline void wt_finish(wt_log_t *l) {
  wt_done(l->dir, l->w);
}

/* Entry data is a function of (index, term), so a recovered entry's bytes can be checked anywhere. */
static inline size_t wt_len(uint64_t index, uint64_t term) {
  return (size_t)((index * 7 + term * 13) % 300);
}

static inline void wt_fill(uint8_t *buf, uint64_t index, uint64_t term, size_t len) {
  for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(index * 31 + term * 17 + i);
}

/* Whether e holds the data wt_fill gives its (index, term). */
static inline int wt_intact(const lkv_raft_entry_t *e) {
  if (e->len != wt_len(e->index, e->term) || e->type != (e->index % 5 == 0 ? 1 : 0)) return 0;
  for (size_t i = 0; i < e->len; i++)
    if (e->data[i] != (uint8_t)(e->index * 31 + e->term * 17 + i)) return 0;
  return 1;
}

/* Entries [lo, hi] of term; buf must hold 300 bytes per entry. */
static inline void wt_entries(lkv_raft_entry_t *e, uint8_t *buf, uint64_t lo, uint64_t hi, uint64_t term) {
  for (uint64_t i = lo; i <= hi; i++) {
    size_t len = wt_len(i, term);
    wt_fill(buf, i, term, len);
    e[i - lo] =
        (lkv_raft_entry_t){.term = term, .index = i, .type = i % 5 == 0 ? 1 : 0, .data = buf, .len = len};
    buf += 300;
  }
}

/* Saves entries [lo, hi] of term (and hs when not NULL). Returns lkv_wal_save's result. */
static inline int wt_save_range(lkv_wal_t *w, uint64_t lo, uint64_t hi, uint64_t term,
                                const lkv_raft_hard_state_t *hs) {
  size_t n = (size_t)(hi - lo + 1);
  lkv_raft_entry_t *e = malloc(n * sizeof(*e));
  uint8_t *buf = malloc(n * 300);
  assert_non_null(e);
  assert_non_null(buf);
  wt_entries(e, buf, lo, hi, term);
  int rc = lkv_wal_save(w, hs, NULL, e, n);
  free(e);
  free(buf);
  return rc;
}

/* Checks that r holds exactly entries [lo, hi], intact, entry i of term term_of[i - lo] (or all of term
 * when term_of is NULL). */
static inline void wt_expect(const lkv_raft_restore_t *r, uint64_t lo, uint64_t hi, uint64_t term,
                             const uint64_t *term_of) {
  assert_int_equal(r->n_entries, hi >= lo ? hi - lo + 1 : 0);
  for (size_t i = 0; i < r->n_entries; i++) {
    assert_int_equal(r->entries[i].index, lo + i);
    assert_int_equal(r->entries[i].term, term_of ? term_of[i] : term);
    assert_true(wt_intact(&r->entries[i]));
  }
}

static inline void wt_seg_path(char *out, size_t cap, const char *dir, uint64_t seq) {
  assert_true(snprintf(out, cap, "%s/%016llx.wal", dir, (unsigned long long)seq) < (int)cap);
}

static inline int wt_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

#endif
