/* A member of a cluster of several: peer messages in and out of its replicator (Raft, or causal). */
#include "server/member.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/attrs.h"
#include "common/error.h"
#include "common/le.h"
#include "replication/causal_node.h"
#include "replication/raft_node.h"
#include "server/checkpointer.h"
#include "server/member_causal.h"
#include "server/peer_hash.h"
#include "server/peer_probe.h"
#include "server/tls_setup.h"
#include "transport/peer.h"

/* etcd's request timeout: 5 s plus two election timeouts. */
#define LKV_MEMBER_REQUEST_TIMEOUT_MS 5000u

struct lkv__member_s {
  lkv_peer_net_t *peers;
  lkv_tls_t *peer_tls;               /* https:// peer URLs' context; NULL without peer TLS flags */
  lkv_replicator_t *repl;            /* the Raft replicator, or the causal one (causal) */
  int causal;                        /* --consistency=causal: no Raft channels, no snapshots, no leader */
  lkv__checkpointer_t *checkpointer; /* the store's copies (Raft snapshots; causal: rebuilds' starts) */
  lkv__peer_probe_t *probe;          /* round trips and the peer counters (metrics) */
  lkv__peer_hash_svc_t *hashes;      /* the corruption checks' questions, ours and the peers' */
  pthread_rwlock_t in_lock; /* read: a peer callback delivering; write: a receiver being set or cleared */
  lkv_replicator_t *in;     /* where Raft messages go; NULL before start and once stopping */
  uint64_t self;
  uint64_t cluster_id;
  lkv__channel_cb channel_cb[LKV__CHANNEL_MAX];
  void *channel_arg[LKV__CHANNEL_MAX];
};

static void on_message(void *arg, uint64_t from, const uint8_t *data, size_t len) {
  lkv__member_t *m = arg;
  if (len < 1) return; /* no channel: dropped */
  pthread_rwlock_rdlock(&m->in_lock);
  int raft = data[0] == LKV__CHANNEL_RAFT || data[0] == LKV__CHANNEL_MEMBER || data[0] == LKV__CHANNEL_SNAP;
  if (m->causal && data[0] == LKV__CHANNEL_CAUSAL) {
    if (m->in) lkv_causal_node_receive(m->in, from, data + 1, len - 1);
  } else if (m->causal && raft) {
    /* a Raft member's messages would be taken for the causal replicator's: dropped */
  } else if (data[0] == LKV__CHANNEL_RAFT) {
    if (m->in) lkv_raft_node_receive(m->in, from, data + 1, len - 1);
  } else if (data[0] == LKV__CHANNEL_MEMBER) {
    if (m->in) lkv_raft_node_receive_member(m->in, from, data + 1, len - 1);
  } else if (data[0] == LKV__CHANNEL_SNAP) {
    if (m->in) lkv_raft_node_receive_snap(m->in, from, data + 1, len - 1);
  } else if (data[0] < LKV__CHANNEL_MAX && m->channel_cb[data[0]]) {
    m->channel_cb[data[0]](m->channel_arg[data[0]], from, data + 1, len - 1);
  }
  pthread_rwlock_unlock(&m->in_lock);
}

int lkv__member_on_channel(lkv__member_t *m, lkv__channel_t ch, lkv__channel_cb cb, void *arg) {
  if (ch == LKV__CHANNEL_RAFT || ch == LKV__CHANNEL_MEMBER || ch == LKV__CHANNEL_SNAP ||
      ch == LKV__CHANNEL_CAUSAL || ch >= LKV__CHANNEL_MAX)
    return LKV_EINVAL;
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
  if (m->in && !m->causal) lkv_raft_node_peer_state(m->in, peer, up);
  pthread_rwlock_unlock(&m->in_lock);
}

/* This member was removed: etcd stops with this message. The server's own signal path stops it (a
 * process-wide signal: the main thread waits for it). */
static void removed_self(void) {
  fprintf(stderr, "ledgerkv: the member has been permanently removed from the cluster\n");
  kill(getpid(), SIGTERM);
}

static void on_removed(void *arg) {
  (void)arg;
  removed_self();
}

/* Causal mode: a "removed" refusal is checked by the replicator before this member stops (§15a). */
static void on_removal_refused(void *arg, uint64_t by, const uint8_t *proof, size_t len) {
  lkv__member_t *m = arg;
  pthread_rwlock_rdlock(&m->in_lock);
  if (m->in) lkv_causal_node_refused(m->in, by, proof, len);
  pthread_rwlock_unlock(&m->in_lock);
}

/* Member id was removed: this member stops, a peer is refused from now on (with proof, its removal, in
 * causal mode). */
static void removed(lkv__member_t *m, uint64_t id, const uint8_t *proof, size_t len) {
  if (id == m->self)
    removed_self();
  else
    lkv_peer_net_remove_peer_proven(m->peers, id, proof, len <= LKV_PEER_MAX_PROOF ? len : 0);
}

/* A membership change applied here: dial a new member (or its new URLs), refuse a removed one. */
static void on_member_change(void *arg, uint64_t id, int is_removed, const uint8_t *attrs, size_t len) {
  lkv__member_t *m = arg;
  if (is_removed) {
    removed(m, id, NULL, 0);
    return;
  }
  lkv_cluster_attrs_t a;
  if (id == m->self || lkv_cluster_attrs_decode(attrs, len, &a) != 0) return;
  if (a.n_peer_urls) lkv_peer_net_set_peer(m->peers, id, (const char *const *)a.peer_urls, a.n_peer_urls);
  lkv_cluster_attrs_free(&a);
}

void lkv__member_removed(void *m, uint64_t id, const uint8_t *proof, size_t len) {
  removed(m, id, proof, len);
}

void lkv__member_added(void *m, uint64_t id, const uint8_t *attrs, size_t len) {
  if (attrs) on_member_change(m, id, 0, attrs, len);
}

/* The replicator's view of our connections, for etcd's health check before membership changes. */
static uint64_t connected_since(void *arg, uint64_t peer) {
  lkv__member_t *m = arg;
  lkv_peer_stats_t st;
  return lkv_peer_net_stats(m->peers, peer, &st) == 0 ? st.up_since_ms : 0;
}

static int send_to_peer(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  return lkv__member_send(arg, to, LKV__CHANNEL_RAFT, msg, len);
}

static int send_member_message(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  return lkv__member_send(arg, to, LKV__CHANNEL_MEMBER, msg, len);
}

static int send_snapshot_message(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  return lkv__member_send(arg, to, LKV__CHANNEL_SNAP, msg, len);
}

/* A checkpoint was published: the replicator's new snapshot. */
static void checkpoint_published(void *arg) {
  lkv__member_t *m = arg;
  pthread_rwlock_rdlock(&m->in_lock);
  if (m->in) lkv_raft_node_checkpointed(m->in);
  pthread_rwlock_unlock(&m->in_lock);
}

static void checkpoint_wanted(void *arg) {
  lkv__member_t *m = arg;
  lkv__checkpointer_kick(m->checkpointer);
}

/* Members answer a joining member's query (lkv_peer_query) with the members in force: u32 count, then
 * per member its id (u64), learner flag (u8), attributes length (u32) and attributes; little-endian. */
static int on_query(void *arg, uint8_t **blob, size_t *len) {
  lkv__member_t *m = arg;
  lkv_replication_member_t *rm = NULL;
  size_t n = 0;
  pthread_rwlock_rdlock(&m->in_lock);
  int rc = m->in ? lkv_replicator_members(m->in, &rm, &n) : LKV_EAGAIN;
  pthread_rwlock_unlock(&m->in_lock);
  if (rc) return rc;
  size_t total = 4;
  for (size_t i = 0; i < n; i++) total += 13 + rm[i].attrs_len;
  uint8_t *b = malloc(total), *p = b;
  if (!b) {
    lkv_replication_members_free(rm, n);
    return LKV_ENOMEM;
  }
  lkv_le32_put(p, (uint32_t)n);
  p += 4;
  for (size_t i = 0; i < n; i++) {
    lkv_le64_put(p, rm[i].id);
    p[8] = (uint8_t)rm[i].is_learner;
    lkv_le32_put(p + 9, (uint32_t)rm[i].attrs_len);
    p += 13;
    if (rm[i].attrs_len) memcpy(p, rm[i].attrs, rm[i].attrs_len);
    p += rm[i].attrs_len;
  }
  lkv_replication_members_free(rm, n);
  *blob = b;
  *len = total;
  return 0;
}

static int start_peers(lkv__member_t *m, const lkv_config_t *cfg, uint64_t cluster_id, char *err,
                       size_t errlen) {
  const lkv_config_cluster_t *c = &cfg->cluster;
  lkv_listen_addr_t *addrs = calloc(c->n_listen_peer_urls, sizeof(*addrs));
  int *tls = calloc(c->n_listen_peer_urls, sizeof(*tls));
  if (!addrs || !tls) {
    free(addrs);
    free(tls);
    return LKV_ENOMEM;
  }
  for (size_t i = 0; i < c->n_listen_peer_urls; i++) {
    addrs[i].host = c->listen_peer_urls[i].host;
    addrs[i].port = c->listen_peer_urls[i].port;
    tls[i] = c->listen_peer_urls[i].tls;
  }
  /* Whom to dial comes from the replicator (on_member_change): its members, not --initial-cluster, which
   * is read only when the cluster is founded or joined. */
  lkv_peer_net_options_t o = {.addrs = addrs,
                              .n_addrs = c->n_listen_peer_urls,
                              .tls = m->peer_tls,
                              .listen_tls = tls,
                              .cluster_id = cluster_id,
                              .member_id = m->self,
                              .max_queue_bytes = (size_t)c->peer_queue_bytes,
                              .arg = m,
                              .on_message = on_message,
                              .on_peer_state = on_peer_state,
                              .on_removed = on_removed,
                              .on_removal_refused = cfg->cluster.causal ? on_removal_refused : NULL,
                              .on_query = on_query};
  int rc = lkv_peer_net_start(&m->peers, &o);
  free(addrs);
  free(tls);
  if (rc) snprintf(err, errlen, "cannot listen on the peer URLs: %s", lkv_strerror(rc));
  return rc;
}

/* Who this member is and whom it knows at start: from its data dir after the first start; from the
 * cluster it joins (--initial-cluster-state existing: its id was drawn by MemberAdd); else from the flags of
 * a new cluster, as etcd computes them. */
typedef lkv__member_identity_t identity_t;

static void identity_free(identity_t *id) {
  for (size_t i = 0; id->seeds && i < id->n_seeds; i++) free((void *)id->seeds[i].attrs);
  free(id->seeds);
}

/* What MemberList shows of a founding member until it publishes: its peer URLs, no name (as etcd). */
static int seeds_from_flags(const lkv_config_cluster_t *c, identity_t *id) {
  id->seeds = calloc(c->initial.n_members, sizeof(*id->seeds));
  if (!id->seeds) return LKV_ENOMEM;
  for (size_t i = 0; i < c->initial.n_members; i++) {
    const lkv_cluster_member_t *p = &c->initial.members[i];
    lkv_cluster_attrs_t a = {.name = "", .peer_urls = p->peer_urls, .n_peer_urls = p->n_peer_urls};
    uint8_t *data;
    int rc = lkv_cluster_attrs_encode(&a, &data, &id->seeds[i].len);
    if (rc) return rc;
    id->seeds[i].id = p->id;
    id->seeds[i].attrs = data;
    id->n_seeds++;
  }
  return 0;
}

/* etcd's GetClusterFromRemotePeers: ask the other members named in --initial-cluster (https:// ones in TLS
 * with tls). */
static int join_identity(const lkv_config_t *cfg, lkv_tls_t *tls, identity_t *id, char *err, size_t errlen) {
  const lkv_config_cluster_t *c = &cfg->cluster;
  const lkv_cluster_member_t *me = lkv_cluster_initial_find(&c->initial, cfg->name);
  size_t n = 0;
  for (size_t i = 0; i < c->initial.n_members; i++) n += c->initial.members[i].n_peer_urls;
  const char **urls = calloc(n ? n : 1, sizeof(char *));
  if (!urls || !me) {
    free(urls);
    return LKV_ENOMEM;
  }
  n = 0;
  for (size_t i = 0; i < c->initial.n_members; i++) {
    if (&c->initial.members[i] == me) continue;
    for (size_t k = 0; k < c->initial.members[i].n_peer_urls; k++)
      urls[n++] = c->initial.members[i].peer_urls[k];
  }
  uint8_t *blob;
  size_t len;
  int rc;
  /* Causal mode: the member asked may not have applied the add yet (it spreads by anti-entropy): ask again
   * for a while. */
  for (unsigned tries = c->causal ? 50 : 1; tries-- > 0; usleep(200 * 1000)) {
    identity_free(id);
    memset(id, 0, sizeof(*id));
    rc = lkv_peer_query(urls, n, 0, tls, &id->cluster_id, &blob, &len, err, errlen);
    if (rc) break;
    rc = lkv__member_parse_members(blob, len, me, id);
    free(blob);
    if (rc || id->member_id) break;
  }
  free(urls);
  if (rc == LKV_EBADMSG || rc == LKV_ENOMEM)
    snprintf(err, errlen, "could not read the member list the cluster sent: %s", lkv_strerror(rc));
  if (rc) return rc;
  if (id->member_id == 0) {
    snprintf(err, errlen,
             "this member's peer URLs are not a member of the cluster it joins: add it first (etcdctl member "
             "add %s --peer-urls=...)",
             cfg->name);
    return LKV_EINVAL;
  }
  id->join = 1;
  return 0;
}

static int resolve_identity(const lkv_config_t *cfg, lkv_mvcc_t *store, lkv_tls_t *tls, identity_t *id,
                            char *err, size_t errlen) {
  const lkv_config_cluster_t *c = &cfg->cluster;
  int rc = lkv_raft_node_identity(store, &id->cluster_id, &id->member_id);
  if (rc == 0) return 0; /* a restart: the data dir says who we are; the log and store say whom we know */
  if (rc != LKV_ENOENT) {
    snprintf(err, errlen, "cannot read the member's identity: %s", lkv_strerror(rc));
    return rc;
  }
  if (c->causal && (rc = lkv__member_causal_recorded(cfg, id, err, errlen)) != LKV_ENOENT) return rc;
  /* causal: a data dir of an older version (no identity recorded) keeps the flags' identity */
  if (c->existing && !(c->causal && lkv__member_causal_used(cfg)))
    rc = join_identity(cfg, tls, id, err, errlen);
  else {
    id->cluster_id = c->cluster_id;
    id->member_id = c->member_id;
    if ((rc = seeds_from_flags(c, id)) != 0) snprintf(err, errlen, "out of memory");
  }
  return rc;
}

/* A sole voter leads within its first rounds: waiting for that here means the clients of a node that just
 * started never see "no leader". Gives up after ms (a member of a cluster that has grown since). */
static void wait_for_leader(lkv_replicator_t *r, unsigned ms) {
  for (unsigned waited = 0; waited < ms; waited += 5) {
    lkv_replication_status_t st;
    lkv_replicator_status(r, &st);
    if (st.leader) return;
    usleep(5000);
  }
}

int lkv__member_start(lkv__member_t **out, const lkv_config_t *cfg, lkv_mvcc_t *store, lkv_ledger_t *ledger,
                      char *err, size_t errlen) {
  const lkv_config_cluster_t *c = &cfg->cluster;
  identity_t id = {0};
  lkv__member_t *m = calloc(1, sizeof(*m));
  uint64_t *voters = calloc(c->initial.n_members, sizeof(*voters));
  char *snap = malloc(strlen(cfg->data_dir) + sizeof("/member/snap"));
  int rc = LKV_ENOMEM;
  if (!m || !voters || !snap || pthread_rwlock_init(&m->in_lock, NULL) != 0) {
    snprintf(err, errlen, "out of memory");
    free(m);
    m = NULL;
    goto done;
  }
  rc = lkv__server_peer_tls(cfg, &m->peer_tls, err, errlen);
  if (rc) goto err_after_lock;
  rc = resolve_identity(cfg, store, m->peer_tls, &id, err, errlen);
  if (rc) goto err_after_tls;
  m->self = id.member_id;
  m->cluster_id = id.cluster_id;
  rc = start_peers(m, cfg, id.cluster_id, err, errlen);
  if (rc) goto err_after_tls;
  m->causal = c->causal;
  /* Causal mode: the copies only bound what a rebuild replays (and so what retention may drop); the event
   * log, not a snapshot, is the member's history, so nobody is told of them. */
  rc = lkv__checkpointer_start(&m->checkpointer, store, ledger, cfg->ledger_checkpoint_s,
                               c->causal ? NULL : checkpoint_published, m);
  if (rc) {
    snprintf(err, errlen, "cannot start the checkpoint thread: %s", lkv_strerror(rc));
    goto err_after_peers;
  }
  rc = lkv__peer_probe_start(&m->probe, m);
  if (rc) {
    snprintf(err, errlen, "cannot start the peer probe: %s", lkv_strerror(rc));
    goto err_after_checkpointer;
  }
  rc = lkv__peer_hash_start(&m->hashes, m, store, ledger);
  if (rc) {
    snprintf(err, errlen, "cannot start answering the corruption checks: %s", lkv_strerror(rc));
    goto err_after_probe;
  }
  /* Every founding member lists the voters in the same order: --initial-cluster sorted by name. */
  for (size_t i = 0; i < c->initial.n_members; i++) voters[i] = c->initial.members[i].id;
  sprintf(snap, "%s/member/snap", cfg->data_dir);
  lkv_raft_node_options_t o = {.store = store,
                               .ledger = ledger,
                               .sign_interval_ms = cfg->ledger_sign_ms,
                               .wal_dir = cfg->wal_dir,
                               .member_id = id.member_id,
                               .cluster_id = id.cluster_id,
                               .voters = voters,
                               .n_voters = c->initial.n_members,
                               .join = id.join,
                               .force_new_cluster = c->force_new_cluster,
                               .tick_ms = c->heartbeat_ms,
                               .election_ticks = c->election_ms / c->heartbeat_ms,
                               .pre_vote = 1,
                               .request_timeout_ms = LKV_MEMBER_REQUEST_TIMEOUT_MS + 2 * c->election_ms,
                               .seeds = id.seeds,
                               .n_seeds = id.n_seeds,
                               .on_member_change = on_member_change,
                               .member_arg = m,
                               .connected_since = connected_since,
                               .no_strict_reconfig = !c->strict_reconfig_check,
                               .send_member = send_member_message,
                               .snap_dir = snap,
                               .snapshot_count = c->snapshot_count,
                               .catchup_entries = cfg->snapshot_catchup_entries,
                               .send_snap = send_snapshot_message,
                               .request_checkpoint = checkpoint_wanted,
                               .checkpoint_arg = m,
                               .disk_dir = cfg->data_dir,
                               .disk_reserve = cfg->disk_reserve_bytes,
                               .send = send_to_peer,
                               .send_arg = m};
  rc = c->causal ? lkv__member_causal_start(m, cfg, &id, store, ledger, &m->repl, err, errlen)
                 : lkv_raft_node_start(&m->repl, &o, err, errlen);
  if (rc) goto err_after_hashes;
  pthread_rwlock_wrlock(&m->in_lock);
  m->in = m->repl;
  pthread_rwlock_unlock(&m->in_lock);
  if (c->initial.n_members == 1 && !id.join && !c->causal) wait_for_leader(m->repl, 2 * c->election_ms);
  *out = m;
  goto done;
err_after_hashes:
  lkv__peer_hash_stop(m->hashes);
err_after_probe:
  lkv__peer_probe_stop(m->probe);
err_after_checkpointer:
  lkv__checkpointer_stop(m->checkpointer);
err_after_peers:
  lkv_peer_net_stop(m->peers);
err_after_tls:
  lkv_tls_free(m->peer_tls);
err_after_lock:
  pthread_rwlock_destroy(&m->in_lock);
  free(m);
done:
  identity_free(&id);
  free(voters);
  free(snap);
  return rc;
}

void lkv__member_ids(const lkv__member_t *m, uint64_t *cluster_id, uint64_t *member_id) {
  *cluster_id = m->cluster_id;
  *member_id = m->self;
}

lkv_replicator_t *lkv__member_replicator(lkv__member_t *m) {
  return m->repl;
}

lkv__peer_hash_svc_t *lkv__member_hashes(lkv__member_t *m) {
  return m->hashes;
}

void lkv__member_hand_over(lkv__member_t *m, unsigned grace_ms) {
  if (m->causal) return; /* no leader, and writes are answered once durable here: nothing waits on peers */
  lkv_raft_node_hand_over(m->repl);
  lkv_raft_node_wind_down(m->repl, grace_ms);
}

size_t lkv__member_peer_stats(lkv__member_t *m, lkv_peer_stats_t *out, size_t cap) {
  return lkv_peer_net_stats_all(m->peers, out, cap);
}

void lkv__member_stop(lkv__member_t *m) {
  lkv__peer_probe_stop(m->probe);
  lkv__peer_hash_stop(m->hashes); /* the corruption checker asking through it stopped before */
  pthread_rwlock_wrlock(&m->in_lock);
  m->in = NULL; /* peers' messages are dropped from now on */
  pthread_rwlock_unlock(&m->in_lock);
  lkv_replicator_stop(m->repl);            /* may still send on its way out: the peers outlive it */
  lkv__checkpointer_stop(m->checkpointer); /* the replicator asked it for copies: stopped after it */
  lkv_peer_net_stop(m->peers);
  lkv_tls_free(m->peer_tls); /* no peer connection uses it any more */
  pthread_rwlock_destroy(&m->in_lock);
  free(m);
}
