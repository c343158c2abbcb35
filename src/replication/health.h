/* etcd's "unhealthy cluster" check before a membership change: this member's peer connections. Pure. */
#ifndef LKV_REPLICATION_HEALTH_H
#define LKV_REPLICATION_HEALTH_H

#include <stddef.h>
#include <stdint.h>

/*
 * etcd 3.4 (etcdserver/server.go, mayAddMember and mayRemoveMember, with --strict-reconfig-check, its
 * default) refuses a membership change with "etcdserver: unhealthy cluster" when the member asked does not
 * see enough of the cluster through its own peer connections: a peer counts once its connection has been
 * up for LKV_HEALTH_INTERVAL_MS (rafthttp's ActiveSince, reset whenever the connection drops). The view is
 * the asked member's, not the leader's: etcd proposes the change from there. MemberPromote and
 * MemberUpdate have no such check (promote asks the leader whether the learner caught up instead).
 *
 * Both functions take the voters in force (learners never count) and since(arg, id): the CLOCK_MONOTONIC
 * millisecond since which this member's connection to voter id has been up, 0 while it is down; it is not
 * asked about self, which always counts. now_ms is on the same clock.
 */

/* etcd's HealthInterval. */
#define LKV_HEALTH_INTERVAL_MS 5000

typedef uint64_t (*lkv_health_since_fn)(void *arg, uint64_t id);

/* The voters in force and what this member's connections say of them. */
typedef struct lkv_health_view_s {
  uint64_t self;
  const uint64_t *voters;
  size_t n_voters;
  lkv_health_since_fn since; /* required */
  void *arg;
  uint64_t now_ms;
} lkv_health_view_t;

/* MemberAdd (a voter or a learner alike): every voter but self connected for the health interval (etcd's
 * isConnectedFullySince). Returns 0 or LKV_EUNHEALTHY. */
int lkv_health_may_add(const lkv_health_view_t *v);

/* MemberRemove of voter id (a learner's removal is never checked): allowed when id's connection is down
 * (a down member is no part of the active quorum), else only when the voters connected for the health
 * interval, self included and id taken away, are still a quorum of the voters left (etcd's
 * numConnectedSince rule). Returns 0 or LKV_EUNHEALTHY. */
int lkv_health_may_remove(const lkv_health_view_t *v, uint64_t id);

#endif
