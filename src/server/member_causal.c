/* A member in causal mode: its key, the fixed membership from the flags, the causal replicator, its dials. */
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

int lkv__member_causal_start(lkv__member_t *m, lkv_peer_net_t *peers, const lkv_config_t *cfg,
                             lkv_mvcc_t *store, lkv_ledger_t *ledger, lkv_replicator_t **out, char *err,
                             size_t errlen) {
  const lkv_config_cluster_t *c = &cfg->cluster;
  if (c->existing || c->force_new_cluster) {
    snprintf(err, errlen, "--consistency=causal: members are fixed at start: %s is not supported",
             c->existing ? "--initial-cluster-state existing" : "--force-new-cluster");
    return LKV_EINVAL;
  }
  if (c->initial.n_members > LKV_CAUSAL_MAX_ORIGINS) {
    snprintf(err, errlen, "--consistency=causal: at most %d members", LKV_CAUSAL_MAX_ORIGINS);
    return LKV_EINVAL;
  }
  char dir[4096];
  if (snprintf(dir, sizeof(dir), "%s/member/causal", cfg->data_dir) >= (int)sizeof(dir)) {
    snprintf(err, errlen, "--data-dir is too long");
    return LKV_EINVAL;
  }
  lkv_causal_peer_t members[LKV_CAUSAL_MAX_ORIGINS] = {{0}};
  uint8_t sk[LKV_CAUSAL_SK_LEN];
  uint8_t pk[LKV_CAUSAL_PK_LEN];
  int rc = lkv_causal_node_key(dir, pk, sk, err, errlen);
  if (rc) return rc;
  for (size_t i = 0; i < c->initial.n_members; i++) {
    members[i].id = c->initial.members[i].id;
    if (members[i].id == c->member_id) memcpy(members[i].pk, pk, sizeof(pk)); /* the others': learned */
  }
  lkv_causal_node_options_t o = {.store = store,
                                 .dir = dir,
                                 .member_id = c->member_id,
                                 .cluster_id = c->cluster_id,
                                 .sk = sk,
                                 .members = members,
                                 .n_members = c->initial.n_members,
                                 .check_ms = cfg->cluster.causal_check_ms,
                                 .silent_after_ms = c->causal_silent_after_ms,
                                 .log_events = c->causal_log_events,
                                 .send = send_causal,
                                 .max_msg = LKV_PEER_DEFAULT_QUEUE_BYTES - 1, /* the channel byte */
                                 .send_arg = m,
                                 .on_removed = lkv__member_removed,
                                 .ledger = ledger,
                                 .sign_interval_ms = cfg->ledger_sign_ms};
  rc = lkv_causal_node_start(out, &o, err, errlen);
  sodium_memzero(sk, sizeof(sk));
  if (rc) return rc;
  for (size_t i = 0; i < c->initial.n_members; i++) {
    const lkv_cluster_member_t *p = &c->initial.members[i];
    if (p->id != c->member_id)
      lkv_peer_net_set_peer(peers, p->id, (const char *const *)p->peer_urls, p->n_peer_urls);
  }
  return 0;
}
