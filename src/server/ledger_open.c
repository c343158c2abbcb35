/* Opening the node's ledger at start-up and bringing the store up to it. */
#include "server/ledger_open.h"

#include <stdio.h>

#include "common/error.h"

int lkv__server_ledger_open_member(lkv_ledger_t **out, const char *data_dir, char *err, size_t errlen) {
  lkv_ledger_t *l;
  lkv_ledger_open_info_t info;
  int rc = lkv_ledger_open(&l, data_dir, &info);
  if (rc != 0) {
    if (rc == LKV_ECORRUPT && info.log.corrupt_offset)
      snprintf(err, errlen, "cannot open the ledger in %s/ledger: %s at offset %llu", data_dir,
               lkv_strerror(rc), (unsigned long long)info.log.corrupt_offset);
    else
      snprintf(err, errlen, "cannot open the ledger in %s/ledger: %s", data_dir, lkv_strerror(rc));
    return rc;
  }
  if (info.key_changed) {
    snprintf(err, errlen, "the ledger in %s/ledger was signed with another key than node.key", data_dir);
    rc = LKV_ECORRUPT;
    goto err_after_open;
  }
  if (info.log.truncated_bytes)
    fprintf(stderr, "ledgerkv: cut %llu bytes of an unfinished append off the ledger\n",
            (unsigned long long)info.log.truncated_bytes);
  *out = l;
  return 0;
err_after_open:
  lkv_ledger_close(l);
  return rc;
}

int lkv__server_ledger_open(lkv_ledger_t **out, lkv_mvcc_t *store, const char *data_dir, char *err,
                            size_t errlen) {
  lkv_ledger_t *l;
  int rc = lkv__server_ledger_open_member(&l, data_dir, err, errlen);
  if (rc != 0) return rc;
  lkv_apply_replay_info_t rinfo;
  rc = lkv_apply_replay(store, lkv_ledger_log(l), &rinfo);
  if (rc == LKV_ECORRUPT && rinfo.bad_index == UINT64_MAX) {
    snprintf(err, errlen,
             "the store (revision %lld) is ahead of its ledger (revision %lld): it was written without the "
             "ledger; start with --ledger=false or from a fresh data dir",
             (long long)rinfo.store_revision, (long long)rinfo.ledger_revision);
    goto err_after_open;
  }
  if (rc != 0) {
    snprintf(err, errlen, "cannot replay the ledger into the store (record %llu): %s",
             (unsigned long long)rinfo.bad_index, lkv_strerror(rc));
    goto err_after_open;
  }
  if (lkv_mvcc_rebuilt(store) && rinfo.store_revision > 1)
    fprintf(stderr,
            "ledgerkv: the machine restarted before the store was flushed: rebuilt it from its checkpoint at "
            "revision %lld and %llu ledger entries\n",
            (long long)rinfo.store_revision, (unsigned long long)rinfo.replayed);
  else if (lkv_mvcc_rebuilt(store))
    fprintf(stderr,
            "ledgerkv: the machine restarted before the store was flushed: rebuilt it from %llu ledger "
            "entries\n",
            (unsigned long long)rinfo.replayed);
  else if (rinfo.replayed)
    fprintf(stderr, "ledgerkv: replayed %llu ledger entries the store had not committed\n",
            (unsigned long long)rinfo.replayed);
  *out = l;
  return 0;
err_after_open:
  lkv_ledger_close(l);
  return rc;
}
