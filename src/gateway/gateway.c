/* The gateway's routes, its access control (host whitelist, CORS) and the dispatch of each request. */
#include "gateway/gateway.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "etcd/etcdserver/api/v3election/v3electionpb/v3election.pb-c.h"
#include "etcd/etcdserver/api/v3lock/v3lockpb/v3lock.pb-c.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "gateway/internal.h"
#include "ledgerkv.pb-c.h"

#define MAX_MESSAGES 64 /* request objects in one streaming body */

#define PB(name) &etcdserverpb__##name##__descriptor
#define ROUTE(h, g, rq, rs) \
  { h, g, PB(rq), PB(rs), 0, 0 }
/* one request, a stream of answers */
#define STREAM(h, g, rq, rs) \
  { h, g, PB(rq), PB(rs), 1, 0 }
/* etcd's Auth service (UNIMPLEMENTED from the transport where the router does not route it) */
#define AUTH(h, m, name) \
  { h, "/etcdserverpb.Auth/" m, PB(name##_request), PB(name##_response), 0, 0 }
#define LOCK(h, m, rq, rs) \
  { h, "/v3lockpb.Lock/" m, &v3lockpb__##rq##__descriptor, &v3lockpb__##rs##__descriptor, 0, 0 }
#define ELECTION(h, m, rq, rs, stream)                                                                    \
  {                                                                                                       \
    h, "/v3electionpb.Election/" m, &v3electionpb__##rq##__descriptor, &v3electionpb__##rs##__descriptor, \
        stream, 0                                                                                         \
  }
/* ledgerkv's own services (src/proto/ledgerkv.proto) */
#define LEDGERKV(h, g, rq, rs, stream) \
  { h, g, &ledgerkvpb__##rq##__descriptor, &ledgerkvpb__##rs##__descriptor, stream, 0 }
#define LEDGER(h, m, rq, rs) LEDGERKV(h, "/ledgerkvpb.Ledger/" m, rq, rs, 0)
#define CONFLICTS(h, m, rq, rs, stream) LEDGERKV(h, "/ledgerkvpb.Conflicts/" m, rq, rs, stream)
/* streams both ways */
#define BIDI(h, g, rq, rs) \
  { h, g, PB(rq), PB(rs), 1, 1 }

/* etcd 3.4's google.api.http annotations (all POST). /v3/maintenance/hash is annotated on both Hash and
 * HashKV; etcd 3.4's gateway answers it with Hash. */
static const lkv__gateway_route_t routes[] = {
    ROUTE("kv/range", "/etcdserverpb.KV/Range", range_request, range_response),
    ROUTE("kv/put", "/etcdserverpb.KV/Put", put_request, put_response),
    ROUTE("kv/deleterange", "/etcdserverpb.KV/DeleteRange", delete_range_request, delete_range_response),
    ROUTE("kv/txn", "/etcdserverpb.KV/Txn", txn_request, txn_response),
    ROUTE("kv/compaction", "/etcdserverpb.KV/Compact", compaction_request, compaction_response),
    BIDI("watch", "/etcdserverpb.Watch/Watch", watch_request, watch_response),
    ROUTE("lease/grant", "/etcdserverpb.Lease/LeaseGrant", lease_grant_request, lease_grant_response),
    ROUTE("lease/revoke", "/etcdserverpb.Lease/LeaseRevoke", lease_revoke_request, lease_revoke_response),
    ROUTE("kv/lease/revoke", "/etcdserverpb.Lease/LeaseRevoke", lease_revoke_request, lease_revoke_response),
    BIDI("lease/keepalive", "/etcdserverpb.Lease/LeaseKeepAlive", lease_keep_alive_request,
         lease_keep_alive_response),
    ROUTE("lease/timetolive", "/etcdserverpb.Lease/LeaseTimeToLive", lease_time_to_live_request,
          lease_time_to_live_response),
    ROUTE("kv/lease/timetolive", "/etcdserverpb.Lease/LeaseTimeToLive", lease_time_to_live_request,
          lease_time_to_live_response),
    ROUTE("lease/leases", "/etcdserverpb.Lease/LeaseLeases", lease_leases_request, lease_leases_response),
    ROUTE("kv/lease/leases", "/etcdserverpb.Lease/LeaseLeases", lease_leases_request, lease_leases_response),
    ROUTE("cluster/member/add", "/etcdserverpb.Cluster/MemberAdd", member_add_request, member_add_response),
    ROUTE("cluster/member/remove", "/etcdserverpb.Cluster/MemberRemove", member_remove_request,
          member_remove_response),
    ROUTE("cluster/member/update", "/etcdserverpb.Cluster/MemberUpdate", member_update_request,
          member_update_response),
    ROUTE("cluster/member/list", "/etcdserverpb.Cluster/MemberList", member_list_request,
          member_list_response),
    ROUTE("cluster/member/promote", "/etcdserverpb.Cluster/MemberPromote", member_promote_request,
          member_promote_response),
    ROUTE("maintenance/alarm", "/etcdserverpb.Maintenance/Alarm", alarm_request, alarm_response),
    ROUTE("maintenance/status", "/etcdserverpb.Maintenance/Status", status_request, status_response),
    ROUTE("maintenance/defragment", "/etcdserverpb.Maintenance/Defragment", defragment_request,
          defragment_response),
    ROUTE("maintenance/hash", "/etcdserverpb.Maintenance/Hash", hash_request, hash_response),
    STREAM("maintenance/snapshot", "/etcdserverpb.Maintenance/Snapshot", snapshot_request, snapshot_response),
    ROUTE("maintenance/transfer-leadership", "/etcdserverpb.Maintenance/MoveLeader", move_leader_request,
          move_leader_response),
    AUTH("auth/enable", "AuthEnable", auth_enable),
    AUTH("auth/disable", "AuthDisable", auth_disable),
    AUTH("auth/authenticate", "Authenticate", authenticate),
    AUTH("auth/user/add", "UserAdd", auth_user_add),
    AUTH("auth/user/get", "UserGet", auth_user_get),
    AUTH("auth/user/list", "UserList", auth_user_list),
    AUTH("auth/user/delete", "UserDelete", auth_user_delete),
    AUTH("auth/user/changepw", "UserChangePassword", auth_user_change_password),
    AUTH("auth/user/grant", "UserGrantRole", auth_user_grant_role),
    AUTH("auth/user/revoke", "UserRevokeRole", auth_user_revoke_role),
    AUTH("auth/role/add", "RoleAdd", auth_role_add),
    AUTH("auth/role/get", "RoleGet", auth_role_get),
    AUTH("auth/role/list", "RoleList", auth_role_list),
    AUTH("auth/role/delete", "RoleDelete", auth_role_delete),
    AUTH("auth/role/grant", "RoleGrantPermission", auth_role_grant_permission),
    AUTH("auth/role/revoke", "RoleRevokePermission", auth_role_revoke_permission),
    LOCK("lock/lock", "Lock", lock_request, lock_response),
    LOCK("lock/unlock", "Unlock", unlock_request, unlock_response),
    ELECTION("election/campaign", "Campaign", campaign_request, campaign_response, 0),
    ELECTION("election/proclaim", "Proclaim", proclaim_request, proclaim_response, 0),
    ELECTION("election/leader", "Leader", leader_request, leader_response, 0),
    ELECTION("election/observe", "Observe", leader_request, leader_response, 1),
    ELECTION("election/resign", "Resign", resign_request, resign_response, 0),
    /* ledgerkv's services, in the same style (docs/gateway.md "ledgerkv's own services") */
    LEDGER("ledger/receipt", "GetReceipt", receipt_request, receipt_response),
    LEDGER("ledger/head", "GetSignedTreeHead", signed_tree_head_request, signed_tree_head_response),
    LEDGER("ledger/consistency", "GetConsistencyProof", consistency_proof_request, consistency_proof_response),
    LEDGER("ledger/keys", "GetMemberKeys", member_keys_request, member_keys_response),
    CONFLICTS("conflicts/siblings", "Siblings", siblings_request, siblings_response, 0),
    CONFLICTS("conflicts/resolve", "Resolve", resolve_request, resolve_response, 0),
    CONFLICTS("conflicts/watch", "WatchConflicts", watch_conflicts_request, watch_conflicts_response, 1),
    CONFLICTS("conflicts/replication-status", "ReplicationStatus", replication_status_request,
              replication_status_response, 0),
    CONFLICTS("conflicts/watch-position", "WatchPosition", watch_position_request, watch_position_response, 0),
};

struct lkv_gateway_s {
  lkv_http_handle_fn other;
  void *other_app;
  char **cors, **hosts; /* NULL-terminated; NULL: any */
  int web_view;
};

/* ---- options ---- */

static void free_list(char **l) {
  for (char **p = l; p && *p; p++) free(*p);
  free(l);
}

/* A copy of the list, or NULL for "any" (empty, or containing "*", as etcd's AccessController reads it). */
static int copy_list(const char *const *in, size_t n, char ***out) {
  *out = NULL;
  for (size_t i = 0; i < n; i++)
    if (strcmp(in[i], "*") == 0) return 0;
  if (n == 0) return 0;
  char **l = calloc(n + 1, sizeof(*l));
  if (!l) return LKV_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (!(l[i] = strdup(in[i]))) {
      free_list(l);
      return LKV_ENOMEM;
    }
  }
  *out = l;
  return 0;
}

int lkv_gateway_new(lkv_gateway_t **out, const lkv_gateway_options_t *opts) {
  if (!opts->other) return LKV_EINVAL;
  lkv_gateway_t *g = calloc(1, sizeof(*g));
  if (!g) return LKV_ENOMEM;
  g->other = opts->other;
  g->other_app = opts->other_app;
  g->web_view = opts->web_view;
  if (copy_list(opts->cors, opts->n_cors, &g->cors) != 0 ||
      copy_list(opts->hosts, opts->n_hosts, &g->hosts) != 0) {
    lkv_gateway_free(g);
    return LKV_ENOMEM;
  }
  *out = g;
  return 0;
}

void lkv_gateway_free(lkv_gateway_t *g) {
  if (!g) return;
  free_list(g->cors);
  free_list(g->hosts);
  free(g);
}

static int listed(char **l, const char *s) {
  if (!l) return 1;
  for (; *l; l++)
    if (strcmp(*l, s) == 0) return 1;
  return 0;
}

/* ---- access control (etcd's accessController) ---- */

/* The Host header without its port, as Go's net.SplitHostPort leaves it ("[::1]:2379" -> "::1"). */
static void host_name(const char *host, char *out, size_t cap) {
  const char *colon = strrchr(host, ':');
  size_t n = strlen(host);
  if (host[0] == '[' && colon && colon > host && colon[-1] == ']')
    host++, n = (size_t)(colon - 1 - host);
  else if (colon && strchr(host, ':') == colon)
    n = (size_t)(colon - host);
  if (n >= cap) n = cap - 1;
  memcpy(out, host, n);
  out[n] = '\0';
}

void lkv__gateway_text_answer(lkv_http_exchange_t *x, int status, const char *text) {
  lkv_http_response_t r = {.status = status,
                           .content_type = "text/plain; charset=utf-8",
                           .headers = "X-Content-Type-Options: nosniff\r\n"};
  size_t n = strlen(text);
  r.body = malloc(n);
  if (r.body) {
    memcpy(r.body, text, n);
    r.body_len = n;
  }
  lkv_http_exchange_reply(x, &r);
}

/* etcd's errCVE20185702, word for word. */
static void refuse_host(lkv_http_exchange_t *x, const char *host) {
  char text[1024];
  snprintf(
      text, sizeof(text),
      "\netcd received your request, but the Host header was unrecognized.\n\nTo fix this, choose one of "
      "the following options:\n- Enable TLS, then any HTTPS request will be allowed.\n- Add the hostname "
      "you want to use to the whitelist in settings.\n  - e.g. etcd --host-whitelist \"%s\"\n\nThis "
      "requirement has been added to help prevent \"DNS Rebinding\" attacks (CVE-2018-5702).\n\n",
      host);
  lkv__gateway_text_answer(x, 421, text);
}

/* etcd's addCORSHeader, for "*" or the request's allowed origin. */
static int cors_headers(lkv_gateway_t *g, lkv_http_exchange_t *x, const char *origin) {
  const char *allow = !g->cors ? "*" : listed(g->cors, origin) ? origin : NULL;
  if (!allow) return 0;
  char lines[600];
  snprintf(lines, sizeof(lines),
           "Access-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\nAccess-Control-Allow-Origin: "
           "%.300s\r\nAccess-Control-Allow-Headers: accept, content-type, authorization\r\n",
           allow);
  return lkv_http_exchange_set_headers(x, lines);
}

/* ---- /v3/ ---- */

static void json_error(lkv_http_exchange_t *x, int grpc_code, const char *message) {
  lkv_http_response_t r = {.status = lkv__gateway_http_status(grpc_code), .content_type = "application/json"};
  if (lkv__gateway_error_body(grpc_code, message, &r.body, &r.body_len) != 0) r.status = 500;
  lkv_http_exchange_reply(x, &r);
}

/* The body's request objects (one for a unary route; as many as there are for a stream), then the call. */
static void call_route(lkv_http_exchange_t *x, const lkv__gateway_route_t *r) {
  const lkv_http_exchange_request_t *req = lkv_http_exchange_request(x);
  const char *body = (const char *)req->body;
  uint8_t *msgs[MAX_MESSAGES];
  size_t lens[MAX_MESSAGES], n = 0, off = 0;
  char err[256];
  int rc = 0;
  for (;;) {
    while (off < req->body_len && isspace((unsigned char)body[off])) off++;
    if (off == req->body_len) break;
    size_t used;
    if (n == MAX_MESSAGES) {
      snprintf(err, sizeof(err), "more than %d request objects in one body", MAX_MESSAGES);
      rc = LKV_EINVAL;
      break;
    }
    if ((rc = lkv_json_pb_parse(r->req, body + off, req->body_len - off, &used, &msgs[n], &lens[n], err,
                                sizeof(err))) != 0)
      break;
    n++;
    off += used;
    if (!r->bidi) break; /* grpc-gateway decodes one object; what follows is ignored */
  }
  if (rc == 0 && n == 0 && !r->bidi) { /* an empty body is an empty request (io.EOF is no error) */
    msgs[0] = NULL;
    lens[0] = 0;
    n = 1;
  }
  lkv_http_call_codec_t codec;
  lkv__gateway_codec(r, &codec);
  if (rc == LKV_EINVAL)
    json_error(x, 3 /* InvalidArgument */, err);
  else if (rc == 0 &&
           (rc = lkv_http_exchange_call(x, r->grpc, (const uint8_t *const *)msgs, lens, n, &codec)) != 0)
    json_error(x, 13 /* Internal */,
               rc == LKV_ENOMEM ? "grpc: out of memory" : "gateway: the route does not match");
  else if (rc != 0)
    json_error(x, 13, "grpc: out of memory");
  for (size_t i = 0; i < n; i++) free(msgs[i]);
}

void lkv__gateway_serve_route(lkv_http_exchange_t *x, const char *rest) {
  const lkv_http_exchange_request_t *req = lkv_http_exchange_request(x);
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    if (strcmp(routes[i].http, rest) != 0) continue;
    if (strcmp(req->method, "POST") != 0) {
      lkv__gateway_text_answer(x, 405, "Method Not Allowed\n");
      return;
    }
    call_route(x, &routes[i]);
    return;
  }
  lkv__gateway_text_answer(x, 404, "Not Found\n");
}

void lkv_gateway_on_http(void *gateway, lkv_http_exchange_t *x) {
  lkv_gateway_t *g = gateway;
  const lkv_http_exchange_request_t *req = lkv_http_exchange_request(x);
  if (!req->tls) {
    char host[256];
    host_name(req->host, host, sizeof(host));
    if (!listed(g->hosts, host)) {
      refuse_host(x, host);
      return;
    }
  }
  if (cors_headers(g, x, req->origin) != 0) {
    lkv__gateway_text_answer(x, 500, "out of memory\n");
    return;
  }
  if (strcmp(req->method, "OPTIONS") == 0) {
    lkv_http_response_t r = {.status = 200};
    lkv_http_exchange_reply(x, &r);
    return;
  }
  const char *path = req->path;
  /* etcd 3.4 rewrites /v3beta/ to /v3/; /v3alpha/, etcd 3.3's other alias, is served too (issue 15) */
  static const char *const prefixes[] = {"/v3/", "/v3beta/", "/v3alpha/"};
  for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
    size_t n = strlen(prefixes[i]);
    if (strncmp(path, prefixes[i], n) == 0) {
      lkv__gateway_serve_route(x, path + n);
      return;
    }
  }
  if (g->web_view && strncmp(path, "/ui/", 4) == 0) {
    lkv__web_view_serve(x, path + 4);
    return;
  }
  lkv_http_request_t other = {.method = req->method,
                              .path = req->path,
                              .path_len = req->path_len,
                              .query = req->query,
                              .query_len = req->query_len};
  lkv_http_response_t r = {.status = 500};
  g->other(g->other_app, &other, &r);
  lkv_http_exchange_reply(x, &r);
}
