/* A member in causal mode: its key, its members at start, the causal replicator, its dials. */
#include "server/member_causal.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "replication/causal_node.h"
#include "transport/peer.h"

/* The causal node's messages, framed by it (kind ‖ body), on their channel. Never blocks (the peer
 * transport queues or drops; anti-entropy sends again). */
static int send_causal(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  return lkv__member_send(arg, to, LKV__CHANNEL_CAUSAL, msg, len);
}

int lkv__member_mode_check(const lkv_config_t *cfg, char *err, size_t errlen) {
  char causal[4096];
  snprintf(causal, sizeof(causal), "%s/member/causal", cfg->data_dir);
  if (cfg->cluster.causal && access(cfg->wal_dir, F_OK) == 0) {
    snprintf(err, errlen, "--consistency=causal: %s holds a Raft log: the data dir was written in Raft mode",
             cfg->wal_dir);
    return LKV_EINVAL;
  }
  if (cfg->cluster.causal && (cfg->cluster.corrupt_check_ms || cfg->cluster.initial_corrupt_check)) {
    snprintf(err, errlen,
             "--consistency=causal: the corruption checks compare the members' hashes at one revision, and a "
             "revision is another write on each member in this mode: --experimental-%scorrupt-check%s is "
             "not supported",
             cfg->cluster.initial_corrupt_check ? "initial-" : "",
             cfg->cluster.initial_corrupt_check ? "" : "-time");
    return LKV_EINVAL;
  }
  if (!cfg->cluster.causal && cfg->cluster.causal_check_given) {
    snprintf(err, errlen,
             "--causal-check-time is the causal members' check (--consistency=causal); in Raft mode use "
             "--experimental-corrupt-check-time");
    return LKV_EINVAL;
  }
  if (!cfg->cluster.causal && access(causal, F_OK) == 0) {
    snprintf(err, errlen, "%s was written in causal mode: start it with --consistency=causal", cfg->data_dir);
    return LKV_EINVAL;
  }
  return 0;
}

int lkv__member_causal_start(lkv__member_t *m, const lkv_config_t *cfg, const lkv__member_identity_t *id,
                             lkv_mvcc_t *store, lkv_ledger_t *ledger, lkv_replicator_t **out, char *err,
                             size_t errlen) {
  const lkv_config_cluster_t *c = &cfg->cluster;
  if (c->force_new_cluster) {
    snprintf(err, errlen, "--consistency=causal: --force-new-cluster is not supported");
    return LKV_EINVAL;
  }
  if (id->n_seeds > LKV_CAUSAL_MAX_ORIGINS) {
    snprintf(err, errlen, "--consistency=causal: at most %d members", LKV_CAUSAL_MAX_ORIGINS);
    return LKV_EINVAL;
  }
  char dir[4096];
  if (snprintf(dir, sizeof(dir), "%s/member/causal", cfg->data_dir) >= (int)sizeof(dir)) {
    snprintf(err, errlen, "--data-dir is too long");
    return LKV_EINVAL;
  }
  lkv_causal_peer_t members[LKV_CAUSAL_MAX_ORIGINS] = {{0}};
  lkv_causal_node_attrs_t attrs[LKV_CAUSAL_MAX_ORIGINS] = {{0}};
  uint8_t sk[LKV_CAUSAL_SK_LEN];
  uint8_t pk[LKV_CAUSAL_PK_LEN];
  int rc = lkv_causal_node_key(dir, pk, sk, err, errlen);
  if (rc) return rc;
  for (size_t i = 0; i < id->n_seeds; i++) {
    members[i].id = id->seeds[i].id;
    attrs[i] = (lkv_causal_node_attrs_t){.data = id->seeds[i].attrs, .len = id->seeds[i].len};
    if (members[i].id == id->member_id) memcpy(members[i].pk, pk, sizeof(pk)); /* the others': learned */
  }
  lkv_causal_node_options_t o = {.store = store,
                                 .dir = dir,
                                 .member_id = id->member_id,
                                 .cluster_id = id->cluster_id,
                                 .sk = sk,
                                 .members = members,
                                 .n_members = id->n_seeds,
                                 .attrs = attrs,
                                 .joining = id->join,
                                 .check_ms = cfg->cluster.causal_check_ms,
                                 .silent_after_ms = c->causal_silent_after_ms,
                                 .log_events = c->causal_log_events,
                                 .send = send_causal,
                                 .send_arg = m,
                                 .on_removed = lkv__member_removed,
                                 .on_added = lkv__member_added,
                                 .ledger = ledger,
                                 .sign_interval_ms = cfg->ledger_sign_ms};
  /* Dialed first: the replicator's start then refuses the members removed since and dials those added. */
  for (size_t i = 0; i < id->n_seeds; i++) lkv__member_added(m, members[i].id, attrs[i].data, attrs[i].len);
  if (!id->recorded) rc = lkv__member_causal_record(cfg, id, 0, err, errlen);
  if (!rc) rc = lkv_causal_node_start(out, &o, err, errlen);
  if (rc && !id->recorded) (void)lkv__member_causal_record(cfg, id, 1, NULL, 0);
  sodium_memzero(sk, sizeof(sk));
  return rc;
}
