/* A replicator's ledger appends after a crash: records already present are compared leaf by leaf. */
#include "replication/ledger_append.h"

#include <string.h>

#include "common/error.h"

/* Whether the record at index has the same kind, revision and body digest as leaf. */
static int same_change(lkv_ledger_log_t *log, uint64_t index, const lkv_ledger_leaf_t *leaf) {
  lkv_ledger_log_record_t rec = {0};
  int rc = lkv_ledger_log_read(log, index, &rec);
  if (!rc) {
    lkv_ledger_leaf_t stored;
    lkv_ledger_entry_leaf(&rec.entry, &stored);
    if (stored.kind != leaf->kind || stored.revision != leaf->revision ||
        memcmp(stored.ws_digest, leaf->ws_digest, sizeof(stored.ws_digest)) != 0)
      rc = LKV_ECORRUPT;
  }
  lkv_ledger_log_record_free(&rec);
  return rc;
}

static int same_leaf(lkv_ledger_log_t *log, uint64_t index, const lkv_ledger_leaf_t *leaf) {
  lkv_merkle_hash_t mine, stored;
  lkv_ledger_leaf_hash(leaf, &mine);
  int rc = lkv_ledger_log_leaf(log, index, &stored);
  if (rc) return rc;
  return memcmp(mine.b, stored.b, sizeof(mine.b)) == 0 ? 0 : LKV_ECORRUPT;
}

int lkv__ledger_append_at(lkv_ledger_t *l, uint64_t end, const lkv_ledger_entry_t *e, size_t count,
                          lkv__ledger_same_t same) {
  lkv_ledger_log_t *log = lkv_ledger_log(l);
  uint64_t have = lkv_ledger_log_count(log);
  size_t i = 0;
  for (; i < count && end + i < have; i++) {
    lkv_ledger_leaf_t leaf;
    lkv_ledger_entry_leaf(&e[i], &leaf);
    int rc =
        same == LKV__LEDGER_SAME_LEAF ? same_leaf(log, end + i, &leaf) : same_change(log, end + i, &leaf);
    if (rc) return rc;
  }
  return i < count ? lkv_ledger_append(l, e + i, count - i) : 0;
}
