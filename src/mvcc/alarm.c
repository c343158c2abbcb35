/* Raised alarms (etcd's NOSPACE, CORRUPT): a bit mask kept in the meta database, so it survives restart. */
#include "common/error.h"
#include "mvcc/internal.h"

#define LKV__META_ALARMS "alarms" /* mask(4 BE) of LKV_MVCC_ALARM_* bits */

int lkv_mvcc_alarms_get(lkv_mvcc_txn_t *t, uint32_t *mask) {
  MDB_val k = {.mv_size = sizeof(LKV__META_ALARMS) - 1, .mv_data = LKV__META_ALARMS}, v;
  int rc = mdb_get(t->txn, t->s->meta_dbi, &k, &v);
  if (rc == MDB_NOTFOUND) {
    *mask = 0;
    return 0;
  }
  if (rc) return lkv__mdb_err(rc);
  if (v.mv_size != 4) return LKV_ECORRUPT;
  const uint8_t *p = v.mv_data;
  *mask = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  return 0;
}

int lkv_mvcc_alarms_set(lkv_mvcc_txn_t *t, uint32_t mask) {
  if (!t->write || !t->in_req) return LKV_EINVAL;
  uint8_t buf[4] = {(uint8_t)(mask >> 24), (uint8_t)(mask >> 16), (uint8_t)(mask >> 8), (uint8_t)mask};
  MDB_val k = {.mv_size = sizeof(LKV__META_ALARMS) - 1, .mv_data = LKV__META_ALARMS};
  MDB_val v = {.mv_size = sizeof(buf), .mv_data = buf};
  return lkv__mdb_err(mdb_put(t->txn, t->s->meta_dbi, &k, &v, 0));
}
