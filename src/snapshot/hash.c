/* HashKV as etcd 3.4 computes it over its "key" bucket, and ledgerkv's Hash over the key and lease buckets.
 */
#include <stdlib.h>

#include "common/crc32c.h"
#include "common/error.h"
#include "snapshot/internal.h"

typedef struct acc_s {
  uint32_t crc;
  lkv__entry_t entry;
} acc_t;

static void add_entry(acc_t *a) {
  a->crc = lkv_crc32c(a->crc, a->entry.key, a->entry.key_len);
  a->crc = lkv_crc32c(a->crc, a->entry.val, a->entry.val_len);
}

static int on_record(void *arg, const lkv_mvcc_kv_t *kv, int64_t sub, int tombstone) {
  acc_t *a = arg;
  int rc = lkv__key_entry_encode(&a->entry, kv, sub, tombstone);
  if (!rc) add_entry(a);
  return rc;
}

static int on_lease(void *arg, int64_t id, int64_t ttl) {
  acc_t *a = arg;
  int rc = lkv__lease_entry_encode(&a->entry, id, ttl);
  if (!rc) add_entry(a);
  return rc;
}

static void start(acc_t *a, lkv_mvcc_txn_t *t, lkv_snapshot_hash_t *out) {
  out->revision = lkv_mvcc_txn_rev(t);
  out->compact_revision = lkv_mvcc_txn_compact_rev(t);
  a->crc = lkv_crc32c(0, "key", 3); /* the bucket's name comes first */
}

int lkv_snapshot_hashkv(lkv_mvcc_txn_t *t, int64_t rev, lkv_snapshot_hash_t *out) {
  acc_t a = {0};
  start(&a, t, out);
  if (rev > 0 && rev <= out->compact_revision) return LKV_ECOMPACTED;
  if (rev > out->revision) return LKV_EFUTUREREV;
  int rc = 0;
  if (rev >= 0) rc = lkv_mvcc_records_at(t, rev ? rev : out->revision, on_record, &a);
  free(a.entry.val);
  out->hash = a.crc;
  return rc;
}

int lkv_snapshot_hash(lkv_mvcc_txn_t *t, lkv_snapshot_hash_t *out) {
  acc_t a = {0};
  start(&a, t, out);
  int rc = lkv_mvcc_records(t, on_record, &a);
  a.crc = lkv_crc32c(a.crc, "lease", 5);
  if (!rc) rc = lkv_mvcc_lease_list(t, on_lease, &a);
  free(a.entry.val);
  out->hash = a.crc;
  return rc;
}
