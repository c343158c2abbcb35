/* A member of a cluster of several: peer messages in and out of the Raft replicator. */
#include "server/member.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/attrs.h"
#include "common/error.h"
#include "replication/raft_node.h"
#include "transport/peer.h"

/* etcd's request timeout: 5 s plus two election timeouts. */
#define LKV_MEMBER_REQUEST_TIMEOUT_MS 5000u

struct lkv__member_s {
  lkv_peer_net_t *peers;
  lkv_replicator_t *raft;
  pthread_rwlock_t in_lock; /* read: a peer callback delivering; write: a receiver being set or cleared */
  lkv_replicator_t *in;     /* where Raft messages go; NULL before start and once stopping */
  lkv__channel_cb channel_cb[LKV__CHANNEL_MAX];
  void *channel_arg[LKV__CHANNEL_MAX];
};

static void on_message(void *arg, uint64_t from, const uint8_t *data, size_t len) {
  lkv__member_t *m = arg;
  if (len < 1) return; /* no channel: dropped */
  pthread_rwlock_rdlock(&m->in_lock);
  if (data[0] == LKV__CHANNEL_RAFT) {
    if (m->in) lkv_raft_node_receive(m->in, from, data + 1, len - 1);
  } else if (data[0] < LKV__CHANNEL_MAX && m->channel_cb[data[0]]) {
    m->channel_cb[data[0]](m->channel_arg[data[0]], from, data + 1, len - 1);
  }
  pthread_rwlock_unlock(&m->in_lock);
}

int lkv__member_on_channel(lkv__member_t *m, lkv__channel_t ch, lkv__channel_cb cb, void *arg) {
  if (ch == LKV__CHANNEL_RAFT || ch >= LKV__CHANNEL_MAX) return LKV_EINVAL;
  pthread_rwlock_wrlock(&m->in_lock);
  m->channel_cb[ch] = cb;
  m->channel_arg[ch] = arg;
  pthread_rwlock_unlock(&m->in_lock);
  return 0;
}

int lkv__member_send(lkv__member_t *m, uint64_t to, lkv__channel_t ch, const uint8_t *data, size_t len) {
  uint8_t *b = malloc(len + 1);
  if (!b) return LKV_ENOMEM;
  b[0] = (uint8_t)ch;
  memcpy(b + 1, data, len);
  int rc = lkv_peer_net_send(m->peers, to, b, len + 1);
  free(b);
  return rc;
}

static void on_peer_state(void *arg, uint64_t peer, int up) {
  lkv__member_t *m = arg;
  pthread_rwlock_rdlock(&m->in_lock);
  if (m->in) lkv_raft_node_peer_state(m->in, peer, up);
  pthread_rwlock_unlock(&m->in_lock);
}

static void on_removed(void *arg) {
  (void)arg;
  fprintf(stderr, "ledgerkv: the member has been permanently removed from the cluster\n");
}

static int send_to_peer(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  return lkv__member_send(arg, to, LKV__CHANNEL_RAFT, msg, len);
}

static int start_peers(lkv__member_t *m, const lkv_config_t *cfg, char *err, size_t errlen) {
  const lkv_config_cluster_t *c = &cfg->cluster;
  lkv_listen_addr_t *addrs = calloc(c->n_listen_peer_urls, sizeof(*addrs));
  if (!addrs) return LKV_ENOMEM;
  for (size_t i = 0; i < c->n_listen_peer_urls; i++) {
    addrs[i].host = c->listen_peer_urls[i].host;
    addrs[i].port = c->listen_peer_urls[i].port;
  }
  lkv_peer_net_options_t o = {.addrs = addrs,
                              .n_addrs = c->n_listen_peer_urls,
                              .cluster_id = c->cluster_id,
                              .member_id = c->member_id,
                              .arg = m,
                              .on_message = on_message,
                              .on_peer_state = on_peer_state,
                              .on_removed = on_removed};
  int rc = lkv_peer_net_start(&m->peers, &o);
  free(addrs);
  if (rc) {
    snprintf(err, errlen, "cannot listen on the peer URLs: %s", lkv_strerror(rc));
    return rc;
  }
  for (size_t i = 0; i < c->initial.n_members; i++) {
    const lkv_cluster_member_t *p = &c->initial.members[i];
    if (p->id == c->member_id) continue;
    rc = lkv_peer_net_set_peer(m->peers, p->id, (const char *const *)p->peer_urls, p->n_peer_urls);
    if (rc) {
      snprintf(err, errlen, "cannot use the peer URLs of member %s: %s", p->name, lkv_strerror(rc));
      lkv_peer_net_stop(m->peers);
      return rc;
    }
  }
  return 0;
}

/* What MemberList shows of a founding member until it publishes: its peer URLs, no name (as etcd). */
static int make_seeds(const lkv_config_cluster_t *c, lkv_raft_node_seed_t *seeds) {
  for (size_t i = 0; i < c->initial.n_members; i++) {
    const lkv_cluster_member_t *p = &c->initial.members[i];
    lkv_cluster_attrs_t a = {.name = "", .peer_urls = p->peer_urls, .n_peer_urls = p->n_peer_urls};
    uint8_t *data;
    int rc = lkv_cluster_attrs_encode(&a, &data, &seeds[i].len);
    if (rc) return rc;
    seeds[i].id = p->id;
    seeds[i].attrs = data;
  }
  return 0;
}

static void free_seeds(lkv_raft_node_seed_t *seeds, size_t n) {
  for (size_t i = 0; seeds && i < n; i++) free((void *)seeds[i].attrs);
  free(seeds);
}

int lkv__member_start(lkv__member_t **out, const lkv_config_t *cfg, lkv_mvcc_t *store, lkv_ledger_t *ledger,
                      char *err, size_t errlen) {
  const lkv_config_cluster_t *c = &cfg->cluster;
  lkv__member_t *m = calloc(1, sizeof(*m));
  uint64_t *voters = calloc(c->initial.n_members, sizeof(*voters));
  lkv_raft_node_seed_t *seeds = calloc(c->initial.n_members, sizeof(*seeds));
  char *wal = malloc(strlen(cfg->data_dir) + sizeof("/member/wal"));
  int rc = LKV_ENOMEM;
  if (!m || !voters || !wal || !seeds || make_seeds(c, seeds) != 0 ||
      pthread_rwlock_init(&m->in_lock, NULL) != 0) {
    snprintf(err, errlen, "out of memory");
    free(m);
    m = NULL;
    goto done;
  }
  rc = start_peers(m, cfg, err, errlen);
  if (rc) goto err_after_lock;
  /* Every founding member lists the voters in the same order: --initial-cluster sorted by name. */
  for (size_t i = 0; i < c->initial.n_members; i++) voters[i] = c->initial.members[i].id;
  sprintf(wal, "%s/member/wal", cfg->data_dir);
  lkv_raft_node_options_t o = {.store = store,
                               .ledger = ledger,
                               .wal_dir = wal,
                               .member_id = c->member_id,
                               .cluster_id = c->cluster_id,
                               .voters = voters,
                               .n_voters = c->initial.n_members,
                               .tick_ms = c->heartbeat_ms,
                               .election_ticks = c->election_ms / c->heartbeat_ms,
                               .pre_vote = 1,
                               .request_timeout_ms = LKV_MEMBER_REQUEST_TIMEOUT_MS + 2 * c->election_ms,
                               .seeds = seeds,
                               .n_seeds = c->initial.n_members,
                               .send = send_to_peer,
                               .send_arg = m};
  rc = lkv_raft_node_start(&m->raft, &o, err, errlen);
  if (rc) goto err_after_peers;
  pthread_rwlock_wrlock(&m->in_lock);
  m->in = m->raft;
  pthread_rwlock_unlock(&m->in_lock);
  *out = m;
  goto done;
err_after_peers:
  lkv_peer_net_stop(m->peers);
err_after_lock:
  pthread_rwlock_destroy(&m->in_lock);
  free(m);
done:
  free_seeds(seeds, c->initial.n_members);
  free(voters);
  free(wal);
  return rc;
}

lkv_replicator_t *lkv__member_replicator(lkv__member_t *m) {
  return m->raft;
}

void lkv__member_hand_over(lkv__member_t *m) {
  lkv_raft_node_hand_over(m->raft);
}

void lkv__member_stop(lkv__member_t *m) {
  pthread_rwlock_wrlock(&m->in_lock);
  m->in = NULL; /* peers' messages are dropped from now on */
  pthread_rwlock_unlock(&m->in_lock);
  lkv_replicator_stop(m->raft); /* may still send on its way out: the peers outlive it */
  lkv_peer_net_stop(m->peers);
  pthread_rwlock_destroy(&m->in_lock);
  free(m);
}
