/* Read-only audit of ledger.log: record checks, order rules, recomputed roots of every signed head. */
#include "ledger/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "ledger/internal.h"
#include "ledger/log_internal.h"
#include "ledger/merkle.h"

static int fail(lkv_ledger_audit_t *r, int rc, uint64_t offset, const char *why) {
  r->failed_index = r->records;
  r->failed_offset = offset;
  r->failure = why;
  return rc;
}

/* Checks a signed head against the tree of the records before it. */
static int check_head(lkv_ledger_audit_t *r, const lkv_ledger_signed_head_t *sh,
                      const lkv_merkle_frontier_t *f, const uint8_t *trusted_key, uint64_t pos) {
  lkv_merkle_hash_t root;
  lkv_merkle_frontier_root(f, &root);
  if (memcmp(root.b, sh->head.root.b, LKV_MERKLE_HASH_LEN))
    return fail(r, LKV_EVERIFY, pos, "signed tree head root does not match the records before it");
  if (sh->head.revision != r->last_revision)
    return fail(r, LKV_EVERIFY, pos, "signed tree head revision is not the last record's");
  if (lkv_ledger_sth_verify(sh, trusted_key))
    return fail(r, LKV_EVERIFY, pos, "signed tree head signature does not verify with the trusted key");
  r->heads++;
  r->has_head = 1;
  r->last_head = *sh;
  return 0;
}

/* Walks the mapped file; see audit.h for what is checked. */
static int walk(const uint8_t *map, uint64_t size, const uint8_t *trusted_key, lkv_ledger_audit_cb cb,
                void *arg, lkv_ledger_audit_t *r) {
  const uint8_t *salt = map + LKV__FILE_HEADER_LEN;
  lkv_merkle_frontier_t f;
  uint64_t pos = LKV__LOG_HEADER_LEN;
  lkv_merkle_frontier_init(&f);
  while (pos < size) {
    lkv_ledger_entry_t e;
    lkv_merkle_hash_t leaf;
    size_t flen;
    int rc;
    if (lkv__frame_parse(salt, map + pos, size - pos, &e, &leaf, &flen) != LKV__FRAME_OK) {
      if (!lkv__damage_is_tail(salt, map, pos, size))
        return fail(r, LKV_ECORRUPT, pos, "record does not verify and valid records follow it");
      r->tail_bytes = size - pos;
      break;
    }
    if (lkv__order_check(r->last_revision, r->records, &e))
      return fail(r, LKV_ECORRUPT, pos, "record breaks the revision or tree-size order");
    if (e.kind == LKV_LEDGER_SIGNED_TREE_HEAD && (rc = check_head(r, &e.sth, &f, trusted_key, pos)))
      return rc;
    if (cb && (rc = cb(arg, r->records, &e))) return fail(r, rc, pos, "stopped by the callback");
    lkv_merkle_frontier_append(&f, &leaf, NULL);
    r->records++;
    r->revisions += (uint64_t)lkv_ledger_entry_is_revision(&e);
    r->ops += e.n_ops;
    r->last_revision = e.revision;
    pos += flen;
  }
  r->unsigned_records = r->records - (r->has_head ? r->last_head.head.tree_size : 0);
  return 0;
}

int lkv_ledger_audit_file(const char *path, const uint8_t *trusted_key, lkv_ledger_audit_cb cb, void *arg,
                          lkv_ledger_audit_t *report) {
  uint8_t header[LKV__FILE_HEADER_LEN], want[LKV__FILE_HEADER_LEN] = {0};
  struct stat st;
  int rc;
  memset(report, 0, sizeof(*report));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if (fstat(fd, &st)) {
    rc = -errno;
    goto out;
  }
  memcpy(want, LKV__LOG_MAGIC, 8);
  lkv__put_be32(want + 8, LKV__LOG_VERSION);
  if (st.st_size < LKV__LOG_HEADER_LEN || lkv__pread_full(fd, header, sizeof(header), 0) ||
      memcmp(header, want, sizeof(want))) {
    rc = fail(report, LKV_ECORRUPT, 0, "not a ledger file of a known version");
    goto out;
  }
  uint64_t size = (uint64_t)st.st_size;
  if (size == LKV__LOG_HEADER_LEN) {
    rc = 0;
    goto out;
  }
  const uint8_t *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    rc = -errno;
    goto out;
  }
  madvise((void *)map, size, MADV_SEQUENTIAL);
  rc = walk(map, size, trusted_key, cb, arg, report);
  munmap((void *)map, size);
out:
  close(fd);
  return rc;
}
