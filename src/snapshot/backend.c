/* etcd 3.4's backend buckets written from a read snapshot of the store (lkv_snapshot_write). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "snapshot/internal.h"

#define STOP_CHECK_EVERY 1024 /* records between looks at the stop flag */

typedef struct out_s {
  lkv_bbolt_writer_t *w;
  const lkv_snapshot_meta_t *m;
  uint64_t records;
  lkv__entry_t entry; /* the entry being written */
} out_t;

static void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static int put_str(lkv_bbolt_writer_t *w, const char *k, const void *v, size_t vlen) {
  return lkv_bbolt_put(w, (const uint8_t *)k, strlen(k), v, vlen);
}

static int bucket(lkv_bbolt_writer_t *w, const char *name) {
  return lkv_bbolt_bucket_begin(w, (const uint8_t *)name, strlen(name));
}

static int empty_bucket(lkv_bbolt_writer_t *w, const char *name) {
  int rc = bucket(w, name);
  return rc ? rc : lkv_bbolt_bucket_end(w);
}

/* One record of the "key" bucket. */
static int on_record(void *arg, const lkv_mvcc_kv_t *kv, int64_t sub, int tombstone) {
  out_t *o = arg;
  if (++o->records % STOP_CHECK_EVERY == 0 && o->m->stop && atomic_load(o->m->stop)) return LKV_ECANCELED;
  int rc = lkv__key_entry_encode(&o->entry, kv, sub, tombstone);
  return rc ? rc : lkv_bbolt_put(o->w, o->entry.key, o->entry.key_len, o->entry.val, o->entry.val_len);
}

static int on_lease(void *arg, int64_t id, int64_t ttl) {
  out_t *o = arg;
  int rc = lkv__lease_entry_encode(&o->entry, id, ttl);
  return rc ? rc : lkv_bbolt_put(o->w, o->entry.key, o->entry.key_len, o->entry.val, o->entry.val_len);
}

/* etcd's alarm bucket: each raised alarm's AlarmMember as the key, no value. */
static int write_alarms(out_t *o, lkv_mvcc_txn_t *t) {
  uint32_t mask;
  int rc = lkv_mvcc_alarms_get(t, &mask);
  if (!rc) rc = bucket(o->w, "alarm");
  for (int type = 1; type < 32 && !rc; type++) {
    if (!(mask & (1u << type))) continue;
    Etcdserverpb__AlarmMember a = ETCDSERVERPB__ALARM_MEMBER__INIT;
    a.memberid = o->m->member_id;
    a.alarm = (Etcdserverpb__AlarmType)type;
    rc = lkv__entry_pack(&o->entry, &a.base);
    if (!rc) rc = lkv_bbolt_put(o->w, o->entry.val, o->entry.val_len, NULL, 0);
  }
  return rc ? rc : lkv_bbolt_bucket_end(o->w);
}

static int on_auth_record(void *arg, const uint8_t *name, size_t name_len, const uint8_t *val,
                          size_t val_len) {
  return lkv_bbolt_put(arg, name, name_len, val, val_len);
}

/* etcd's auth buckets: the enabled flag (only once auth was on, as etcd writes it) and the auth revision
 * (8 bytes BE); users and roles by name, their values the packed authpb.User and authpb.Role the store
 * keeps, so that an etcd restored from the file knows them (and their bcrypt hashes) as its own. */
static int write_auth(out_t *o, lkv_mvcc_txn_t *t) {
  int enabled;
  uint64_t rev;
  uint8_t revb[8];
  int rc = lkv_mvcc_auth_state_get(t, &enabled, &rev);
  put_be64(revb, rev ? rev : 1); /* a store whose auth never changed is at etcd's first revision */
  if (!rc) rc = bucket(o->w, "auth");
  if (!rc && enabled) rc = put_str(o->w, "authEnabled", (const uint8_t[1]){1}, 1);
  if (!rc) rc = put_str(o->w, "authRevision", revb, sizeof(revb));
  if (!rc) rc = lkv_bbolt_bucket_end(o->w);
  if (!rc) rc = bucket(o->w, "authRoles");
  if (!rc) rc = lkv_mvcc_auth_each(t, LKV_MVCC_AUTH_ROLE, on_auth_record, o->w);
  if (!rc) rc = lkv_bbolt_bucket_end(o->w);
  if (!rc) rc = bucket(o->w, "authUsers");
  if (!rc) rc = lkv_mvcc_auth_each(t, LKV_MVCC_AUTH_USER, on_auth_record, o->w);
  return rc ? rc : lkv_bbolt_bucket_end(o->w);
}

static int write_meta(out_t *o, lkv_mvcc_txn_t *t) {
  uint8_t ci[8], rev[LKV__REV_KEY_LEN];
  /* a single node has no Raft log: each revision is an entry of its implicit one */
  put_be64(ci, o->m->consistent_index ? o->m->consistent_index : (uint64_t)lkv_mvcc_txn_rev(t));
  int rc = bucket(o->w, "meta");
  if (!rc) rc = put_str(o->w, "consistent_index", ci, sizeof(ci));
  int64_t compact = lkv_mvcc_txn_compact_rev(t);
  if (compact > 0) { /* the removal is complete in the copy (lkv_mvcc_records): finished = scheduled */
    lkv__rev_key(rev, compact, 0);
    if (!rc) rc = put_str(o->w, "finishedCompactRev", rev, sizeof(rev));
    if (!rc) rc = put_str(o->w, "scheduledCompactRev", rev, sizeof(rev));
  }
  return rc ? rc : lkv_bbolt_bucket_end(o->w);
}

int lkv_snapshot_write(lkv_mvcc_txn_t *t, const lkv_snapshot_meta_t *m, int fd, uint64_t *size) {
  out_t o = {.m = m};
  int rc = lkv_bbolt_writer_new(&o.w, fd);
  if (rc) return rc;
  /* The root bucket's names in byte order. */
  rc = write_alarms(&o, t);
  if (!rc) rc = write_auth(&o, t);
  if (!rc) rc = bucket(o.w, "cluster");
  if (!rc) rc = put_str(o.w, "clusterVersion", "3.4.0", 5);
  if (!rc) rc = lkv_bbolt_bucket_end(o.w);
  if (!rc) rc = bucket(o.w, "key");
  if (!rc) rc = lkv_mvcc_records(t, on_record, &o);
  if (!rc) rc = lkv_bbolt_bucket_end(o.w);
  if (!rc) rc = bucket(o.w, "lease");
  if (!rc) rc = lkv_mvcc_lease_list(t, on_lease, &o);
  if (!rc) rc = lkv_bbolt_bucket_end(o.w);
  if (!rc) rc = lkv__snapshot_members(o.w, m->members, m->n_members);
  if (!rc) rc = empty_bucket(o.w, "members_removed");
  if (!rc) rc = write_meta(&o, t);
  /* bbolt's copies carry the transaction id they were taken at; any id >= 1 is valid */
  if (!rc) rc = lkv_bbolt_writer_finish(o.w, 2, size);
  lkv_bbolt_writer_free(o.w);
  free(o.entry.val);
  return rc;
}
