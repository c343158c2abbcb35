/* A member in causal mode (--consistency=causal): the causal replicator started over the peer transport. */
#ifndef LKV_SERVER_MEMBER_CAUSAL_H
#define LKV_SERVER_MEMBER_CAUSAL_H

#include <stddef.h>

#include "ledger/ledger.h"
#include "mvcc/mvcc.h"
#include "replication/raft_node.h"
#include "replication/replication.h"
#include "server/config.h"
#include "server/member.h"
#include "transport/peer.h"

/*
 * Members: at the first start, every member named in --initial-cluster, with the ids etcd computes from the
 * flags (cfg->cluster); a member joining a running cluster (--initial-cluster-state existing, its data dir
 * empty) takes its id and the members in force from a member it asks (etcd's GetClusterFromRemotePeers,
 * member.c) and starts joining (docs/causal.md §15b: its writes wait for its add). Either is recorded in
 * <data-dir>/member/causal/identity: later starts read it and ignore the flags, as etcd does. Members added
 * or removed since come from the replicator (removed ones are refused by the transport; this member, removed,
 * stops as etcd's does; added ones are dialed). --force-new-cluster is refused. The replicator's event log
 * and keys live in <data-dir>/member/causal (replication/causal_node.h); its messages travel on
 * LKV__CHANNEL_CAUSAL (m delivers them with lkv_causal_node_receive).
 */

/* Who this member is and whom it knows at start (member.c resolves it; seeds' attrs malloc'd). */
typedef struct lkv__member_identity_s {
  uint64_t cluster_id, member_id;
  int join;     /* joins a running cluster: its id was drawn by MemberAdd */
  int recorded; /* read from <data-dir>/member/causal/identity (causal mode) */
  lkv_raft_node_seed_t *seeds;
  size_t n_seeds;
} lkv__member_identity_t;

/* Reads a membership query's answer (member.c's on_query layout) into id's seeds and, when me is given,
 * finds this member among them by its peer URLs (id->member_id; left 0 when not found). Returns 0,
 * LKV_EBADMSG or LKV_ENOMEM. */
int lkv__member_parse_members(const uint8_t *b, size_t len, const lkv_cluster_member_t *me,
                              lkv__member_identity_t *id);

/* The identity recorded in <data-dir>/member/causal/identity at the first start: 0, LKV_ENOENT (none: a
 * first start, or a data dir of an older version), or an error with a message in err. */
int lkv__member_causal_recorded(const lkv_config_t *cfg, lkv__member_identity_t *id, char *err,
                                size_t errlen);

/* Whether this member's causal data dir was used already (its event log exists): an
 * --initial-cluster-state existing is then ignored, as etcd ignores it for a data dir it has. */
int lkv__member_causal_used(const lkv_config_t *cfg);

/* Records durably the identity of the first start (before the replicator writes in the data dir; removed
 * again with remove set, when that start failed: a later one may be given other flags). Returns 0 or an
 * error with a message in err. */
int lkv__member_causal_record(const lkv_config_t *cfg, const lkv__member_identity_t *id, int remove,
                              char *err, size_t errlen);

/* Refuses a data dir written in the other mode (a Raft log, member/wal, in causal mode; an event log,
 * member/causal, in Raft mode), and in causal mode the corruption checks (members' revisions differ): 0, or
 * LKV_EINVAL with a message in err. Before the store is served. */
int lkv__member_mode_check(const lkv_config_t *cfg, char *err, size_t errlen);

/* Starts the causal replicator of member m, identity id (its seeds: the members at start, in order),
 * over store and ledger (NULL with --ledger=false; both must outlive it). Returns 0 and *out, or a negative
 * LKV_E* code with a message in err. */
int lkv__member_causal_start(lkv__member_t *m, const lkv_config_t *cfg, const lkv__member_identity_t *id,
                             lkv_mvcc_t *store, lkv_ledger_t *ledger, lkv_replicator_t **out, char *err,
                             size_t errlen);

/* member.c: member id was removed (m is the lkv__member_t): a peer is refused by the transport from now on,
 * its refusals carrying proof (len bytes: the removal, lkv_peer_net_remove_peer_proven; none when NULL or
 * too long); this member itself stops with etcd's message. Any thread. */
void lkv__member_removed(void *m, uint64_t id, const uint8_t *proof, size_t len);

/* member.c: member id was added with attrs (cluster/attrs.h; NULL, 0: none): peers dial it at its peer
 * URLs. Any thread. */
void lkv__member_added(void *m, uint64_t id, const uint8_t *attrs, size_t len);

#endif
