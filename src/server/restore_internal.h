/* Shared by the restore's files: a snapshot's key history and leases turned into the ledger's first records.
 */
#ifndef LKV_SERVER_RESTORE_INTERNAL_H
#define LKV_SERVER_RESTORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/entry.h"
#include "ledger/state.h"

/* One record of etcd's "key" bucket (copied out of the file). */
typedef struct lkv__rrec_s {
  int64_t main, sub;
  int tombstone;
  uint8_t *key; /* key_len bytes, then the value */
  size_t key_len, value_len;
  int64_t create, version, lease;
} lkv__rrec_t;

/* What restore_history.c gathers from the walk and plans into ledger records. */
typedef struct lkv__rhist_s {
  lkv__rrec_t *recs; /* in bucket order: (main, sub) increasing */
  size_t n_recs, cap_recs;
  int64_t *lease_ids, *lease_ttls; /* in bucket order: ids increasing */
  size_t n_leases, cap_leases;
  int64_t compact_rev; /* etcd's scheduled or finished compact revision, the larger (0: never compacted) */
  /* The plan: a STATE record (has_state) or one LEASE_GRANT per lease, then REVISION records. */
  int has_state;
  lkv_ledger_state_t state;
  lkv_ledger_entry_t *entries; /* every record in append order (a STATE's points into state) */
  size_t n_entries;
  int64_t revision;   /* the store's revision once restored */
  uint64_t revisions; /* REVISION records planned */
} lkv__rhist_t;

/* A record of the "key" bucket: the revision key (main ‖ '_' ‖ sub, then 't' after a tombstone) and
 * the packed mvccpb.KeyValue. Returns 0, LKV_ECORRUPT (why says what) or LKV_ENOMEM. */
int lkv__rhist_key(lkv__rhist_t *h, const uint8_t *key, size_t key_len, const uint8_t *val, size_t val_len,
                   char *why, size_t whylen);

/* A record of the "lease" bucket (a packed leasepb.Lease). Returns as lkv__rhist_key. */
int lkv__rhist_lease(lkv__rhist_t *h, const uint8_t *val, size_t val_len, char *why, size_t whylen);

/* A "meta" bucket's scheduledCompactRev or finishedCompactRev value (a revision key). Returns 0 or
 * LKV_ECORRUPT. */
int lkv__rhist_compact(lkv__rhist_t *h, const uint8_t *val, size_t val_len, char *why, size_t whylen);

/* Plans the records. History never compacted and bump 0 without mark: one LEASE_GRANT per lease, then
 * one REVISION per revision from 2 on. Compacted at C: a STATE record of the keys live at C (and the
 * leases) at revision C, then one REVISION per revision above C. mark_compacted (etcd 3.6's
 * --mark-compacted, with --bump-revision bump): a STATE of the latest state at revision latest + bump,
 * compacted there. Returns 0, LKV_ECORRUPT (revisions missing without a compaction, sub revisions skipped,
 * a mod revision not the one stored under) or LKV_ENOMEM / LKV_EINVAL (too large for one record), with
 * why. */
int lkv__rhist_plan(lkv__rhist_t *h, int64_t bump, int mark_compacted, char *why, size_t whylen);

void lkv__rhist_free(lkv__rhist_t *h);

/* restore.c, for every restore (a snapshot, a backup): etcdctl's checks of the cluster flags (the
 * --initial-cluster parses, bootstraps with the token, and names this member: etcd's messages), setting
 * the cluster's and this member's ids. Returns 0 or LKV_EINVAL with err. */
int lkv__restore_check_cluster(const char *initial_cluster, const char *token, const char *name,
                               uint64_t *cluster_id, uint64_t *member_id, char *err, size_t errlen);

/* etcd's rule: the data dir must not exist (an empty one is accepted: nothing would be lost); *existed
 * says whether it did. Returns 0 or LKV_EINVAL ("data-dir \"D\" exists"). */
int lkv__restore_check_dir(const char *dir, int *existed, char *err, size_t errlen);

/* Removes what a failed restore wrote in dir (its ledger and member directories, dir itself unless it
 * existed). */
void lkv__restore_remove(const char *dir, int existed);

#endif
