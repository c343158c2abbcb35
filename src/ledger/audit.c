/* Read-only audit of a ledger directory: record checks, order rules, recomputed roots of every signed head.
 */
#include "ledger/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "ledger/head_log.h"
#include "ledger/internal.h"
#include "ledger/log_internal.h"

#define HEADS_MAGIC "lkvheads"
#define HEADS_VERSION 1

/* A read-only mapping of a whole file. */
typedef struct mapped_s {
  const uint8_t *p;
  uint64_t size;
} mapped_t;

/* The audit's walk: the recomputed tree and where it stands in ledger.heads. */
typedef struct walk_s {
  lkv_ledger_audit_t *r;
  const uint8_t *trusted_key;
  lkv_merkle_frontier_t f;
  mapped_t heads;
  uint64_t n_heads; /* whole records of ledger.heads that count (a torn last one excluded) */
  uint64_t next;    /* the next of them to check */
  uint64_t start;   /* offset of the first stored record (the base's) */
} walk_t;

static int fail(lkv_ledger_audit_t *r, int rc, uint64_t offset, const char *why) {
  r->failed_index = r->records;
  r->failed_offset = offset;
  r->failure = why;
  return rc;
}

static int fail_head(walk_t *w, int rc, const char *why) {
  w->r->failed_in_heads = 1;
  fail(w->r, rc, LKV__FILE_HEADER_LEN + (uint64_t)LKV_LEDGER_HEAD_RECORD_LEN * w->next, why);
  w->r->failed_index = w->next;
  return rc;
}

/* Checks a signed head against the tree of the records before it (the current frontier). Returns 0 or
 * a static description of what is wrong. */
static const char *head_problem(walk_t *w, const lkv_ledger_signed_head_t *sh) {
  lkv_merkle_hash_t root;
  lkv_merkle_frontier_root(&w->f, &root);
  if (memcmp(root.b, sh->head.root.b, LKV_MERKLE_HASH_LEN))
    return "signed tree head root does not match the records it covers";
  if (sh->head.revision != w->r->last_revision)
    return "signed tree head revision is not the last covered record's";
  if (lkv_ledger_sth_verify(sh, w->trusted_key))
    return "signed tree head signature does not verify with the trusted key";
  return NULL;
}

static void count_head(lkv_ledger_audit_t *r, const lkv_ledger_signed_head_t *sh) {
  r->heads++;
  if (!r->has_head || sh->head.tree_size >= r->last_head.head.tree_size) r->last_head = *sh;
  r->has_head = 1;
}

/* Checks the heads of ledger.heads that sign the tree as it stands (r->records records); stops at the
 * first head of a larger tree. */
static int check_file_heads(walk_t *w) {
  while (w->next < w->n_heads) {
    lkv_ledger_signed_head_t sh;
    const char *why;
    const uint8_t *rec = w->heads.p + LKV__FILE_HEADER_LEN + (uint64_t)LKV_LEDGER_HEAD_RECORD_LEN * w->next;
    if (lkv_ledger_head_record_decode(rec, &sh))
      return fail_head(w, LKV_ECORRUPT, "signed head record fails its checksum and valid records follow it");
    if (sh.head.tree_size > w->r->records) return 0;
    if (sh.head.tree_size < w->r->base) {
      /* Signed before the base: its root cannot be recomputed, its signature and order still can. */
      if (w->r->has_head && sh.head.tree_size < w->r->last_head.head.tree_size)
        return fail_head(w, LKV_ECORRUPT, "signed head covers fewer records than the head before it");
      if (lkv_ledger_sth_verify(&sh, w->trusted_key))
        return fail_head(w, LKV_EVERIFY, "signed tree head signature does not verify with the trusted key");
      count_head(w->r, &sh);
      w->r->heads_below_base++;
      w->next++;
      continue;
    }
    if (sh.head.tree_size < w->r->records)
      return fail_head(w, LKV_ECORRUPT, "signed head covers fewer records than the head before it");
    if ((why = head_problem(w, &sh))) return fail_head(w, LKV_EVERIFY, why);
    count_head(w->r, &sh);
    w->next++;
  }
  return 0;
}

/* Walks the mapped log; see audit.h for what is checked. */
static int walk_log(walk_t *w, const mapped_t *log, lkv_ledger_audit_cb cb, void *arg) {
  lkv_ledger_audit_t *r = w->r;
  const uint8_t *salt = log->p + LKV__FILE_HEADER_LEN;
  uint64_t pos = w->start;
  int rc;
  while (pos < log->size) {
    lkv_ledger_entry_t e;
    lkv_merkle_hash_t leaf;
    size_t flen;
    const char *why;
    if ((rc = check_file_heads(w))) return rc;
    if (lkv__frame_parse(salt, log->p + pos, log->size - pos, &e, &leaf, &flen) != LKV__FRAME_OK) {
      if (!lkv__damage_is_tail(salt, log->p, pos, log->size))
        return fail(r, LKV_ECORRUPT, pos, "record does not verify and valid records follow it");
      r->tail_bytes = log->size - pos;
      break;
    }
    if (lkv__order_check(r->log_version, r->last_revision, r->records, &e))
      return fail(r, LKV_ECORRUPT, pos, "record breaks the revision, tree-size or head-placement order");
    if (e.kind == LKV_LEDGER_SIGNED_TREE_HEAD) {
      if ((why = head_problem(w, &e.sth))) return fail(r, LKV_EVERIFY, pos, why);
      count_head(r, &e.sth);
      r->head_leaves++;
    }
    if (cb && (rc = cb(arg, r->records, &e))) return fail(r, rc, pos, "stopped by the callback");
    lkv_merkle_frontier_append(&w->f, &leaf, NULL);
    r->records++;
    r->revisions += (uint64_t)lkv_ledger_entry_is_revision(&e);
    r->ops += e.n_ops;
    r->last_revision = e.revision;
    pos += flen;
  }
  if ((rc = check_file_heads(w))) return rc;
  if (w->next < w->n_heads)
    return fail_head(w, LKV_EVERIFY, "signed head covers more records than ledger.log holds");
  lkv_merkle_frontier_root(&w->f, &r->root);
  r->unsigned_records = r->records - (r->has_head ? r->last_head.head.tree_size : 0);
  return 0;
}

/* Maps path read-only; an empty file maps to nothing. -errno when it cannot be opened. */
static int map_file(const char *path, mapped_t *m) {
  struct stat st;
  int rc = 0;
  m->p = NULL;
  m->size = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if (fstat(fd, &st)) {
    rc = -errno;
  } else if (st.st_size > 0) {
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      rc = -errno;
    } else {
      madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
      m->p = p;
      m->size = (uint64_t)st.st_size;
    }
  }
  close(fd);
  return rc;
}

static void unmap_file(mapped_t *m) {
  if (m->p) munmap((void *)m->p, m->size);
}

static int has_header(const mapped_t *m, const char *magic, uint32_t version) {
  uint8_t want[LKV__FILE_HEADER_LEN] = {0};
  memcpy(want, magic, 8);
  lkv__put_be32(want + 8, version);
  return m->size >= LKV__FILE_HEADER_LEN && memcmp(m->p, want, sizeof(want)) == 0;
}

/* Counts ledger.heads' records; a partial last record, or a whole one failing its checksum, is a torn tail
 * (the same rule as opening the file). */
static int prepare_heads(walk_t *w) {
  lkv_ledger_audit_t *r = w->r;
  lkv_ledger_signed_head_t sh;
  if (!w->heads.p) return 0;
  if (w->heads.size < LKV__FILE_HEADER_LEN) { /* a crash while creating it */
    r->heads_tail_bytes = w->heads.size;
    return 0;
  }
  if (!has_header(&w->heads, HEADS_MAGIC, HEADS_VERSION)) {
    r->failed_in_heads = 1;
    return fail(r, LKV_ECORRUPT, 0, "ledger.heads is not a heads file of a known version");
  }
  uint64_t body = w->heads.size - LKV__FILE_HEADER_LEN;
  w->n_heads = body / LKV_LEDGER_HEAD_RECORD_LEN;
  r->heads_tail_bytes = body % LKV_LEDGER_HEAD_RECORD_LEN;
  if (w->n_heads > 0 &&
      lkv_ledger_head_record_decode(
          w->heads.p + LKV__FILE_HEADER_LEN + (w->n_heads - 1) * LKV_LEDGER_HEAD_RECORD_LEN, &sh)) {
    w->n_heads--;
    r->heads_tail_bytes += LKV_LEDGER_HEAD_RECORD_LEN;
  }
  return 0;
}

/* Starts the walk at the base ledger.base records: its frontier, revision and offset. */
static int start_at_base(const char *dir, walk_t *w, uint64_t log_size) {
  lkv__log_base_t b;
  int rc = lkv__log_base_load(dir, &b);
  if (rc == LKV_ECORRUPT) return fail(w->r, rc, 0, "ledger.base is damaged");
  if (rc) return rc;
  if (b.offset > log_size) return fail(w->r, LKV_ECORRUPT, log_size, "ledger.log ends before its base");
  lkv_ledger_frontier_to_merkle(&b.f, &w->f);
  w->start = b.offset;
  w->r->base = w->r->records = b.f.size;
  w->r->last_revision = b.f.last_revision;
  return 0;
}

int lkv_ledger_audit_dir(const char *dir, const uint8_t *trusted_key, lkv_ledger_audit_cb cb, void *arg,
                         lkv_ledger_audit_t *report) {
  char log_path[PATH_MAX], heads_path[PATH_MAX];
  walk_t w = {.r = report, .trusted_key = trusted_key};
  mapped_t log;
  int rc;
  memset(report, 0, sizeof(*report));
  lkv_merkle_frontier_init(&w.f);
  lkv_merkle_empty_root(&report->root);
  if (snprintf(log_path, sizeof(log_path), "%s/ledger.log", dir) >= (int)sizeof(log_path) ||
      snprintf(heads_path, sizeof(heads_path), "%s/ledger.heads", dir) >= (int)sizeof(heads_path))
    return LKV_EINVAL;
  if ((rc = map_file(log_path, &log))) return rc;
  rc = map_file(heads_path, &w.heads);
  if (rc == -ENOENT) rc = 0; /* a version-1 ledger never opened by this version */
  if (rc) goto out;
  if (has_header(&log, LKV__LOG_MAGIC, LKV__LOG_VERSION))
    report->log_version = LKV__LOG_VERSION;
  else if (has_header(&log, LKV__LOG_MAGIC, LKV__LOG_VERSION_HEAD_LEAVES))
    report->log_version = LKV__LOG_VERSION_HEAD_LEAVES;
  if (!report->log_version || log.size < LKV__LOG_HEADER_LEN) {
    rc = fail(report, LKV_ECORRUPT, 0, "not a ledger file of a known version");
    goto out;
  }
  if ((rc = start_at_base(dir, &w, log.size))) goto out;
  if (!(rc = prepare_heads(&w))) rc = walk_log(&w, &log, cb, arg);
out:
  unmap_file(&w.heads);
  unmap_file(&log);
  return rc;
}
