/* The route table: one row per gRPC method ledgerkv serves, and the transport callbacks that use it. */
#include <string.h>

#include "api/service.h"

typedef struct lkv_route_s {
  const char *path;
  lkv__api_fn fn;
} lkv_route_t;

/* Methods absent here are answered UNIMPLEMENTED by the transport; docs/compatibility.md lists them. */
static const lkv_route_t routes[] = {
    {"/etcdserverpb.KV/Range", lkv__kv_range},
    {"/etcdserverpb.KV/Put", lkv__kv_put},
    {"/etcdserverpb.KV/DeleteRange", lkv__kv_delete_range},
    {"/etcdserverpb.KV/Txn", lkv__kv_txn},
    {"/etcdserverpb.KV/Compact", lkv__kv_compact},
    {"/etcdserverpb.Maintenance/Status", lkv__maintenance_status},
    {"/etcdserverpb.Maintenance/Alarm", lkv__maintenance_alarm},
    {"/etcdserverpb.Cluster/MemberList", lkv__cluster_member_list},
};

static const void *route_lookup(void *app, const char *path, size_t path_len, int *client_streaming) {
  (void)app;
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    if (strlen(routes[i].path) == path_len && memcmp(routes[i].path, path, path_len) == 0) {
      *client_streaming = 0;
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

static void route_message(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  ((const lkv_route_t *)route)->fn(app, call, data, len);
}

void lkv_api_handler(lkv_api_t *api, lkv_transport_handler_t *out) {
  memset(out, 0, sizeof(*out));
  out->app = api;
  out->lookup = route_lookup;
  out->on_message = route_message;
  out->has_service = route_has_service;
  /* Unary calls finish on their own: reads before returning, writes when the replicator answers. */
  out->on_cancel = NULL;
}
