/* etcd's "unhealthy cluster" rules for MemberAdd and MemberRemove, over this member's peer connections. */
#include "replication/health.h"

#include "common/error.h"

/* Whether voter id has been connected for the whole health interval (self always is). */
static int healthy(const lkv_health_view_t *v, uint64_t id) {
  if (id == v->self) return 1;
  uint64_t since = v->since(v->arg, id);
  return since != 0 && since + LKV_HEALTH_INTERVAL_MS < v->now_ms; /* etcd: strictly before */
}

static size_t count_healthy(const lkv_health_view_t *v) {
  size_t n = 0;
  for (size_t i = 0; i < v->n_voters; i++) n += (size_t)healthy(v, v->voters[i]);
  return n;
}

int lkv_health_may_add(const lkv_health_view_t *v) {
  return count_healthy(v) == v->n_voters ? 0 : LKV_EUNHEALTHY;
}

int lkv_health_may_remove(const lkv_health_view_t *v, uint64_t id) {
  if (id != v->self && v->since(v->arg, id) == 0) return 0;
  /* id is counted when healthy and taken away in any case: etcd's (active - 1) against the quorum of the
   * voters left, 1 + (n - 1) / 2. */
  size_t active = count_healthy(v), left = v->n_voters ? v->n_voters - 1 : 0;
  return active >= 1 && active - 1 >= 1 + left / 2 ? 0 : LKV_EUNHEALTHY;
}
