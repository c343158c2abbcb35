/* The route table: one row per gRPC method ledgerkv serves, and the transport callbacks that use it. */
#include <string.h>

#include "api/auth.h"
#include "api/grpc_metrics.h"
#include "api/leader.h"
#include "api/rate_limit.h"
#include "api/service.h"
#include "common/error.h"

typedef struct lkv_route_s {
  const char *path;
  lkv__api_fn fn; /* each request message (unary routes: the only one) */
  /* Client-streaming routes only (streaming = 1): called once the client half-closed, or the stream ended
   * before the handler finished the call; NULL only where the handler always finishes by itself. */
  int streaming;
  int learner_ok; /* a learner serves it (etcd: Status, and Range when serializable: checked by Range) */
  /* With auth on, root's role only: ADMIN_GRPC as etcd's membership checks answer (gRPC status and text),
   * ADMIN_RAW as its maintenance checks do (the auth store's own error, UNKNOWN "auth: ...") */
  int admin;
  lkv__api_stream_end_fn on_half_close;
  lkv__api_stream_end_fn on_cancel;
} lkv_route_t;

#define UNARY(p, f) \
  { .path = (p), .fn = (f) }
#define LEARNER_OK(p, f) \
  { .path = (p), .fn = (f), .learner_ok = 1 }
/* A unary route that may wait (Lock, Campaign, Observe's stream of answers): told when the client leaves. */
#define WAITING(p, f, cancel) \
  { .path = (p), .fn = (f), .on_cancel = (cancel) }
enum { ADMIN_GRPC = 1, ADMIN_RAW };
#define ADMIN(p, f, how) \
  { .path = (p), .fn = (f), .admin = (how) }
#define STREAM(p, f, half_close, cancel) \
  { .path = (p), .fn = (f), .streaming = 1, .on_half_close = (half_close), .on_cancel = (cancel) }

/* Methods absent here are answered UNIMPLEMENTED by the transport; docs/compatibility.md lists them. */
static const lkv_route_t routes[] = {
    LEARNER_OK("/etcdserverpb.KV/Range", lkv__kv_range),
    UNARY("/etcdserverpb.KV/Put", lkv__kv_put),
    UNARY("/etcdserverpb.KV/DeleteRange", lkv__kv_delete_range),
    UNARY("/etcdserverpb.KV/Txn", lkv__kv_txn),
    UNARY("/etcdserverpb.KV/Compact", lkv__kv_compact),
    LEARNER_OK("/etcdserverpb.Maintenance/Status", lkv__maintenance_status),
    UNARY("/etcdserverpb.Maintenance/Alarm", lkv__maintenance_alarm),
    UNARY("/etcdserverpb.Maintenance/MoveLeader", lkv__maintenance_move_leader),
    ADMIN("/etcdserverpb.Maintenance/HashKV", lkv__maintenance_hash_kv, ADMIN_RAW),
    ADMIN("/etcdserverpb.Maintenance/Hash", lkv__maintenance_hash, ADMIN_RAW),
    {.path = "/etcdserverpb.Maintenance/Defragment",
     .fn = lkv__maintenance_defragment,
     .on_cancel = lkv__maintenance_defragment_cancel,
     .admin = ADMIN_RAW},
    /* a server stream in etcd: told when the client leaves (a copy in progress stops) */
    {.path = "/etcdserverpb.Maintenance/Snapshot",
     .fn = lkv__maintenance_snapshot,
     .on_cancel = lkv__maintenance_snapshot_cancel,
     .admin = ADMIN_RAW},
    UNARY("/etcdserverpb.Cluster/MemberList", lkv__cluster_member_list),
    ADMIN("/etcdserverpb.Cluster/MemberAdd", lkv__cluster_member_add, ADMIN_GRPC),
    ADMIN("/etcdserverpb.Cluster/MemberRemove", lkv__cluster_member_remove, ADMIN_GRPC),
    ADMIN("/etcdserverpb.Cluster/MemberUpdate", lkv__cluster_member_update, ADMIN_GRPC),
    ADMIN("/etcdserverpb.Cluster/MemberPromote", lkv__cluster_member_promote, ADMIN_GRPC),
    UNARY("/etcdserverpb.Auth/AuthEnable", lkv__authsvc_enable),
    UNARY("/etcdserverpb.Auth/AuthDisable", lkv__authsvc_disable),
    UNARY("/etcdserverpb.Auth/Authenticate", lkv__authsvc_authenticate),
    UNARY("/etcdserverpb.Auth/UserAdd", lkv__authsvc_user_add),
    UNARY("/etcdserverpb.Auth/UserGet", lkv__authsvc_user_get),
    UNARY("/etcdserverpb.Auth/UserList", lkv__authsvc_user_list),
    UNARY("/etcdserverpb.Auth/UserDelete", lkv__authsvc_user_delete),
    UNARY("/etcdserverpb.Auth/UserChangePassword", lkv__authsvc_user_change_password),
    UNARY("/etcdserverpb.Auth/UserGrantRole", lkv__authsvc_user_grant_role),
    UNARY("/etcdserverpb.Auth/UserRevokeRole", lkv__authsvc_user_revoke_role),
    UNARY("/etcdserverpb.Auth/RoleAdd", lkv__authsvc_role_add),
    UNARY("/etcdserverpb.Auth/RoleGet", lkv__authsvc_role_get),
    UNARY("/etcdserverpb.Auth/RoleList", lkv__authsvc_role_list),
    UNARY("/etcdserverpb.Auth/RoleDelete", lkv__authsvc_role_delete),
    UNARY("/etcdserverpb.Auth/RoleGrantPermission", lkv__authsvc_role_grant_permission),
    UNARY("/etcdserverpb.Auth/RoleRevokePermission", lkv__authsvc_role_revoke_permission),
    UNARY("/etcdserverpb.Lease/LeaseGrant", lkv__lease_grant),
    UNARY("/etcdserverpb.Lease/LeaseRevoke", lkv__lease_revoke),
    STREAM("/etcdserverpb.Lease/LeaseKeepAlive", lkv__lease_keep_alive, lkv__lease_keep_alive_end,
           lkv__lease_keep_alive_cancel),
    UNARY("/etcdserverpb.Lease/LeaseTimeToLive", lkv__lease_time_to_live),
    UNARY("/etcdserverpb.Lease/LeaseLeases", lkv__lease_leases),
    STREAM("/etcdserverpb.Watch/Watch", lkv__watch_message, NULL, lkv__watch_end),
    WAITING("/v3lockpb.Lock/Lock", lkv__lock_lock, lkv__conc_cancel),
    UNARY("/v3lockpb.Lock/Unlock", lkv__lock_unlock),
    WAITING("/v3electionpb.Election/Campaign", lkv__election_campaign, lkv__conc_cancel),
    UNARY("/v3electionpb.Election/Proclaim", lkv__election_proclaim),
    UNARY("/v3electionpb.Election/Leader", lkv__election_leader),
    WAITING("/v3electionpb.Election/Observe", lkv__election_observe, lkv__conc_cancel),
    UNARY("/v3electionpb.Election/Resign", lkv__election_resign),
    UNARY("/ledgerkvpb.Ledger/GetReceipt", lkv__ledger_get_receipt),
    UNARY("/ledgerkvpb.Ledger/GetSignedTreeHead", lkv__ledger_get_head),
    UNARY("/ledgerkvpb.Ledger/GetConsistencyProof", lkv__ledger_get_consistency),
    UNARY("/ledgerkvpb.Ledger/GetMemberKeys", lkv__ledger_get_member_keys),
    /* causal mode's conflicts (conflicts.c, conflicts_watch.c); FAILED_PRECONDITION in Raft mode */
    UNARY("/ledgerkvpb.Conflicts/Siblings", lkv__conflicts_siblings),
    UNARY("/ledgerkvpb.Conflicts/Resolve", lkv__conflicts_resolve),
    UNARY("/ledgerkvpb.Conflicts/ReplicationStatus", lkv__conflicts_replication_status),
    UNARY("/ledgerkvpb.Conflicts/WatchPosition", lkv__conflicts_watch_position),
    /* A server stream, routed as a client stream so that stopping the server ends it at once. */
    STREAM("/ledgerkvpb.Conflicts/WatchConflicts", lkv__conflicts_watch, lkv__conflicts_watch_end,
           lkv__conflicts_watch_cancel),
    LEARNER_OK("/grpc.health.v1.Health/Check", lkv__health_check),
    /* A server stream, routed as a client stream so that stopping the server ends it at once. */
    STREAM("/grpc.health.v1.Health/Watch", lkv__health_watch, lkv__health_watch_end,
           lkv__health_watch_cancel),
};

static const void *route_lookup(void *app, const char *path, size_t path_len, int *client_streaming) {
  (void)app;
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    if (strlen(routes[i].path) == path_len && memcmp(routes[i].path, path, path_len) == 0) {
      *client_streaming = routes[i].streaming;
      lkv__grpc_metrics_started(i);
      return &routes[i];
    }
  }
  return NULL;
}

/* A service is "served" when at least one of its methods is in the table. */
static int route_has_service(void *app, const char *service, size_t service_len) {
  (void)app;
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    const char *path = routes[i].path + 1; /* skip the leading '/' */
    if (strncmp(path, service, service_len) == 0 && path[service_len] == '/') return 1;
  }
  return 0;
}

/* etcd's unary interceptor: a learner serves Status and serializable reads only. Streams are checked by
 * their handlers when they open (lkv__api_stream_refusal). */
static int learner_refuses(lkv_api_t *api, const lkv_route_t *r) {
  if (r->learner_ok || r->streaming) return 0;
  lkv_replication_status_t st;
  lkv_replicator_status(api->replicator, &st);
  return st.is_learner;
}

/* Causal mode: a lock or a leader could have two holders across a partition (docs/causal.md §4). */
static int causal_refuses(const lkv_api_t *api, const lkv_route_t *r) {
  return api->causal &&
         (strncmp(r->path, "/v3lockpb.", 10) == 0 || strncmp(r->path, "/v3electionpb.", 14) == 0);
}

int lkv__api_stream_refusal(lkv_api_t *api, const lkv_call_t *call) {
  lkv_replication_status_t st;
  lkv_replicator_status(api->replicator, &st);
  if (st.is_learner) return LKV_ELEARNER;
  return lkv__leader_required(call) && st.leader == 0 ? LKV_ENOLEADER : 0;
}

static void half_close(lkv_api_t *api, const void *route, lkv_call_t *call) {
  const lkv_route_t *r = route;
  if (r->on_half_close) r->on_half_close(api, call);
}

static void cancel(lkv_api_t *api, const void *route, lkv_call_t *call) {
  const lkv_route_t *r = route;
  if (r->on_cancel) r->on_cancel(api, call);
}

/* The route's own checks, then its handler. */
static void dispatch(lkv_api_t *api, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  const lkv_route_t *r = route;
  int rc = r->admin ? lkv__auth_admin_check(api, call) : 0;
  if (rc == 0)
    r->fn(api, call, data, len);
  else if (r->admin == ADMIN_RAW)
    lkv__auth_fail_raw(call, rc);
  else
    lkv__api_fail(call, rc);
}

/* How a stream held for its token's index resumes (auth_stream.c). */
static const lkv__auth_stream_ops_t held_stream = {dispatch, half_close, cancel};

static void route_message(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  const lkv_route_t *r = route;
  if (lkv__api_rate_limited(app, r->path, r->streaming, call, len)) return; /* before any work is done */
  if (learner_refuses(app, r)) {
    lkv__api_fail(call, LKV_ELEARNER);
    return;
  }
  if (causal_refuses(app, r)) {
    lkv_call_finish(call, LKV_GRPC_FAILED_PRECONDITION,
                    "ledgerkv: Lock and Election are not served in causal mode: two members can both grant "
                    "them during a partition (docs/causal.md)");
    return;
  }
  /* etcd's unary interceptor: a request that requires a leader fails on a member without one (streams
   * check it when they open, see leader.h). */
  if (!r->streaming && lkv__leader_required(call) && !lkv__leader_known(app)) {
    lkv__api_fail(call, LKV_ENOLEADER);
    return;
  }
  /* a token from an Authenticate this member has not applied yet: the call waits for it (etcd's); a
   * stream's later messages wait behind it */
  if (r->streaming ? lkv__auth_stream_hold(app, call, &held_stream, r, data, len)
                   : lkv__auth_defer(app, call, dispatch, r, data, len))
    return;
  dispatch(app, r, call, data, len);
}

static void route_half_close(void *app, const void *route, lkv_call_t *call) {
  if (!lkv__auth_stream_end(call, 0)) half_close(app, route, call);
}

static void route_cancel(void *app, const void *route, lkv_call_t *call) {
  if (!lkv__auth_stream_end(call, 1)) cancel(app, route, call);
}

static void route_finished(void *app, const void *route, int grpc_status, uint64_t elapsed_ns) {
  (void)app;
  lkv__grpc_metrics_handled((size_t)((const lkv_route_t *)route - routes), grpc_status, elapsed_ns);
}

static const char *route_method(size_t i, int *streaming) {
  *streaming = routes[i].streaming;
  return routes[i].path;
}

static void route_wake(void *app, int loop_index) {
  lkv__watch_wake(app, loop_index);
  lkv__snapshot_wake(app, loop_index);
}

static void route_tick(void *app, int loop_index) {
  lkv__watch_tick(app, loop_index);
  lkv__leader_tick(app, loop_index);
}

/* The request metadata the services read (leader.h). */
static const char *const metadata_keys[] = {LKV_API_REQUIRE_LEADER_KEY, LKV_API_TOKEN_KEY,
                                            LKV_API_TOKEN_GATEWAY_KEY, NULL};

void lkv_api_handler(lkv_api_t *api, lkv_transport_handler_t *out) {
  memset(out, 0, sizeof(*out));
  out->app = api;
  out->lookup = route_lookup;
  out->on_message = route_message;
  out->has_service = route_has_service;
  lkv__grpc_metrics_register(sizeof(routes) / sizeof(routes[0]), route_method, api->metrics_extensive);
  out->on_finished = route_finished;
  /* Unary calls finish on their own (reads before returning, writes when the replicator answers): only
   * streaming routes and the waiting ones (Lock, Campaign, Observe) have stream-end hooks. */
  out->on_half_close = route_half_close;
  out->on_cancel = route_cancel;
  out->on_wake = route_wake; /* per-loop work that belongs to no single call: watch delivery */
  out->on_tick = route_tick;
  out->metadata_keys = metadata_keys;
}
