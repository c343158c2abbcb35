/* Reading the ledger log from any thread: index lookups, verified record reads, sequential iteration. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"
#include "ledger/internal.h"
#include "ledger/log_internal.h"

/* Sequential reads fetch at least this much at a time. */
#define ITER_WINDOW (1u << 20)

int lkv__meta_read(const lkv_ledger_log_t *log, uint64_t index, lkv_ledger_log_meta_t *m) {
  uint8_t b[LKV__META_LEN];
  int rc = lkv__pread_full(log->idx_fd, b, sizeof(b), LKV__IDX_HEADER_LEN + (uint64_t)LKV__META_LEN * index);
  return rc ? rc : lkv__meta_decode(b, m);
}

static uint64_t epoch_of(lkv_ledger_log_t *log) {
  return atomic_load_explicit(&log->epoch, memory_order_acquire);
}

/* Reads index entry `index` of a stored record; the caller settles the result (lkv__log_settle). */
static int stored_meta(lkv_ledger_log_t *log, uint64_t index, lkv_ledger_log_meta_t *out) {
  if (index >= lkv_ledger_log_count(log)) return LKV_ENOENT;
  if (index < lkv_ledger_log_base(log)) return LKV_ELEDGERPRUNED;
  return lkv__meta_read(log, index, out);
}

int lkv_ledger_log_meta(lkv_ledger_log_t *log, uint64_t index, lkv_ledger_log_meta_t *out) {
  uint64_t epoch = epoch_of(log);
  return lkv__log_settle(log, epoch, index, stored_meta(log, index, out));
}

int lkv_ledger_log_leaf(lkv_ledger_log_t *log, uint64_t index, lkv_merkle_hash_t *out) {
  lkv_ledger_log_meta_t m;
  uint64_t epoch = epoch_of(log);
  int rc = stored_meta(log, index, &m);
  if (!rc) rc = lkv__pread_full(log->fd, out->b, LKV_MERKLE_HASH_LEN, m.offset + LKV__SALT_LEN + 4);
  /* A hole punched meanwhile reads as zeros: only the base, checked after the read, tells. */
  return lkv__log_settle(log, epoch, index, rc);
}

/* The base and the revision of the record before it, consistently. */
static void base_of(lkv_ledger_log_t *log, uint64_t *base, int64_t *revision) {
  pthread_mutex_lock(&log->base_mu);
  *base = atomic_load_explicit(&log->base, memory_order_relaxed);
  *revision = log->base_revision;
  pthread_mutex_unlock(&log->base_mu);
}

/* *index = the first record in [lo, count) whose revision (by_offset 0) or frame offset (by_offset 1) is
 * not below key: both grow with the record number. */
static int search(lkv_ledger_log_t *log, uint64_t lo, int by_offset, int64_t key, uint64_t *index) {
  uint64_t hi = lkv_ledger_log_count(log);
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    lkv_ledger_log_meta_t m;
    int rc = lkv__meta_read(log, mid, &m);
    if (rc) return rc;
    if (by_offset ? m.offset < (uint64_t)key : m.revision < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  *index = lo;
  return 0;
}

int lkv_ledger_log_lower_bound(lkv_ledger_log_t *log, int64_t revision, uint64_t *index) {
  uint64_t base;
  int64_t base_rev;
  base_of(log, &base, &base_rev);
  /* Records of revisions below the base's may only be below the base. */
  if (base > 0 && revision < base_rev) return LKV_ELEDGERPRUNED;
  return search(log, base, 0, revision, index);
}

int lkv_ledger_log_offset_bound(lkv_ledger_log_t *log, uint64_t offset, uint64_t *index) {
  if (offset > INT64_MAX) offset = INT64_MAX;
  return search(log, lkv_ledger_log_base(log), 1, (int64_t)offset, index);
}

int lkv_ledger_log_find_revision(lkv_ledger_log_t *log, int64_t revision, uint64_t *index) {
  lkv_ledger_log_meta_t m;
  uint64_t i, base;
  int64_t base_rev;
  base_of(log, &base, &base_rev);
  /* The record producing the base's revision, and every older one, is below the base. */
  if (base > 0 && revision <= base_rev) return LKV_ELEDGERPRUNED;
  int rc = lkv_ledger_log_lower_bound(log, revision, &i);
  if (rc) return rc;
  /* The entry producing a revision comes before every other entry carrying it. */
  if ((rc = lkv_ledger_log_meta(log, i, &m))) return rc;
  if (m.revision != revision || !m.produced) return LKV_ENOENT;
  *index = i;
  return 0;
}

int lkv_ledger_log_find_last(lkv_ledger_log_t *log, lkv_ledger_kind_t kind, uint64_t *index) {
  enum { CHUNK = 4096 };
  uint64_t hi = lkv_ledger_log_count(log), base = lkv_ledger_log_base(log);
  uint8_t *buf = malloc((size_t)CHUNK * LKV__META_LEN);
  int rc = LKV_ENOENT;
  if (!buf) return LKV_ENOMEM;
  while (hi > base && rc == LKV_ENOENT) {
    uint64_t lo = hi - base > CHUNK ? hi - CHUNK : base;
    int r = lkv__pread_full(log->idx_fd, buf, (size_t)(hi - lo) * LKV__META_LEN,
                            LKV__IDX_HEADER_LEN + (uint64_t)LKV__META_LEN * lo);
    if (r) {
      rc = r;
      break;
    }
    for (uint64_t i = hi; i-- > lo;) {
      lkv_ledger_log_meta_t m;
      if ((r = lkv__meta_decode(buf + (i - lo) * LKV__META_LEN, &m))) {
        rc = r;
        break;
      }
      if (m.kind == kind) {
        *index = i;
        rc = 0;
        break;
      }
    }
    hi = lo;
  }
  free(buf);
  return rc;
}

static int grow(uint8_t **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  uint8_t *b = realloc(*buf, need);
  if (!b) return LKV_ENOMEM;
  *buf = b;
  *cap = need;
  return 0;
}

/* Whether a parsed frame is the record the index describes. */
static int matches(const lkv_ledger_log_meta_t *m, const lkv_ledger_entry_t *e, size_t flen) {
  return flen == LKV__FRAME_HDR + (size_t)m->len && e->revision == m->revision && e->kind == m->kind;
}

static int read_record(lkv_ledger_log_t *log, uint64_t index, lkv_ledger_log_record_t *rec) {
  lkv_ledger_log_meta_t m;
  size_t flen;
  int rc = stored_meta(log, index, &m);
  if (rc) return rc;
  size_t need = LKV__FRAME_HDR + (size_t)m.len;
  if ((rc = grow(&rec->buf, &rec->cap, need)) || (rc = lkv__pread_full(log->fd, rec->buf, need, m.offset)))
    return rc;
  if (lkv__frame_parse(log->salt, rec->buf, need, &rec->entry, &rec->leaf, &flen) != LKV__FRAME_OK ||
      !matches(&m, &rec->entry, flen))
    return LKV_ECORRUPT;
  rec->index = index;
  return 0;
}

int lkv_ledger_log_read(lkv_ledger_log_t *log, uint64_t index, lkv_ledger_log_record_t *rec) {
  uint64_t epoch = epoch_of(log);
  return lkv__log_settle(log, epoch, index, read_record(log, index, rec));
}

void lkv_ledger_log_record_free(lkv_ledger_log_record_t *rec) {
  free(rec->buf);
  rec->buf = NULL;
  rec->cap = 0;
}

int lkv_ledger_log_iter_init(lkv_ledger_log_iter_t *it, lkv_ledger_log_t *log, uint64_t start) {
  lkv_ledger_log_meta_t m;
  uint64_t count = lkv_ledger_log_count(log);
  int rc;
  memset(it, 0, sizeof(*it));
  it->log = log;
  it->index = start;
  if (start > count) return LKV_ENOENT;
  pthread_mutex_lock(&log->base_mu);
  uint64_t base = atomic_load_explicit(&log->base, memory_order_relaxed), base_offset = log->base_offset;
  pthread_mutex_unlock(&log->base_mu);
  if (start < base) return LKV_ELEDGERPRUNED;
  if (start == base) {
    it->offset = base_offset;
  } else if (start < count) {
    if ((rc = lkv__meta_read(log, start, &m))) return rc;
    it->offset = m.offset;
  } else {
    if ((rc = lkv__meta_read(log, start - 1, &m))) return rc;
    it->offset = m.offset + LKV__FRAME_HDR + m.len;
  }
  return 0;
}

/* Points *p at `need` bytes of the file at it->offset, refilling the window when needed. Only bytes
 * below the published end are kept: beyond it a record may still be half written. */
static int window(lkv_ledger_log_iter_t *it, size_t need, const uint8_t **p) {
  if (it->offset >= it->buf_off && it->offset + need <= it->buf_off + it->have) {
    *p = it->buf + (it->offset - it->buf_off);
    return 0;
  }
  uint64_t end = atomic_load_explicit(&it->log->end, memory_order_acquire);
  if (it->offset > end || need > end - it->offset) return LKV_ECORRUPT;
  size_t want = need > ITER_WINDOW ? need : ITER_WINDOW;
  if (want > end - it->offset) want = (size_t)(end - it->offset);
  int rc = grow(&it->buf, &it->cap, want);
  if (rc) return rc;
  it->buf_off = it->offset;
  it->have = 0;
  if ((rc = lkv__pread_full(it->log->fd, it->buf, want, it->offset))) return rc;
  it->have = want;
  *p = it->buf;
  return 0;
}

int lkv_ledger_log_iter_next(lkv_ledger_log_iter_t *it, lkv_ledger_entry_t *e, lkv_merkle_hash_t *leaf) {
  const uint8_t *p;
  lkv_merkle_hash_t h;
  size_t flen;
  int rc;
  if (it->index >= lkv_ledger_log_count(it->log)) return 0;
  if ((rc = window(it, LKV__FRAME_HDR, &p))) return rc;
  size_t need = LKV__FRAME_HDR + (size_t)lkv__get_be32(p + LKV__SALT_LEN);
  if ((rc = window(it, need, &p))) return rc;
  if (lkv__frame_parse(it->log->salt, p, need, e, &h, &flen) != LKV__FRAME_OK) return LKV_ECORRUPT;
  if (leaf) *leaf = h;
  it->offset += flen;
  it->index++;
  return 1;
}

void lkv_ledger_log_iter_free(lkv_ledger_log_iter_t *it) {
  free(it->buf);
  it->buf = NULL;
  it->cap = it->have = 0;
}
