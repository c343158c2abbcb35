/* A member in causal mode (--consistency=causal): the causal replicator started over the peer transport. */
#ifndef LKV_SERVER_MEMBER_CAUSAL_H
#define LKV_SERVER_MEMBER_CAUSAL_H

#include <stddef.h>

#include "ledger/ledger.h"
#include "mvcc/mvcc.h"
#include "replication/replication.h"
#include "server/config.h"
#include "server/member.h"
#include "transport/peer.h"

/*
 * Members: every member named in --initial-cluster, with the ids etcd computes from the flags
 * (cfg->cluster), less those removed (docs/causal.md §15: the transport then refuses them; this member,
 * removed, stops as etcd's does); joining (--initial-cluster-state existing) and --force-new-cluster are
 * refused. The
 * replicator's event log and keys live in <data-dir>/member/causal (replication/causal_node.h); its
 * messages travel on LKV__CHANNEL_CAUSAL (m delivers them with lkv_causal_node_receive). peers is told to
 * dial every other member at its --initial-cluster peer URLs.
 */

/* Refuses a data dir written in the other mode (a Raft log, member/wal, in causal mode; an event log,
 * member/causal, in Raft mode), and in causal mode the corruption checks (members' revisions differ): 0, or
 * LKV_EINVAL with a message in err. Before the store is served. */
int lkv__member_mode_check(const lkv_config_t *cfg, char *err, size_t errlen);

/* Starts the causal replicator of member m over store and ledger (NULL with --ledger=false; both must
 * outlive it). Returns 0 and *out, or a negative LKV_E* code with a message in err. */
int lkv__member_causal_start(lkv__member_t *m, lkv_peer_net_t *peers, const lkv_config_t *cfg,
                             lkv_mvcc_t *store, lkv_ledger_t *ledger, lkv_replicator_t **out, char *err,
                             size_t errlen);

/* member.c: member id was removed (m is the lkv__member_t): a peer is refused by the transport from now on,
 * its refusals carrying proof (len bytes: the removal, lkv_peer_net_remove_peer_proven; none when NULL or
 * too long); this member itself stops with etcd's message. Any thread. */
void lkv__member_removed(void *m, uint64_t id, const uint8_t *proof, size_t len);

#endif
