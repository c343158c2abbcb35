/* gRPC's health service (grpc.health.v1.Health) as etcd 3.4 registers it: the server ("") serves. */
#include <string.h>

#include "api/service.h"
#include "common/error.h"
#include "grpc/health/v1/health.pb-c.h"

/* etcd 3.4.23 sets the "" service SERVING once it serves clients and never changes it; other names are
 * unknown to grpc-go's health server. Returns the request's status, or -1 for a request that does not
 * decode (the call is then finished). */
static int status_of(lkv_call_t *call, const uint8_t *data, size_t len) {
  Grpc__Health__V1__HealthCheckRequest *req = (Grpc__Health__V1__HealthCheckRequest *)lkv__api_unpack(
      call, &grpc__health__v1__health_check_request__descriptor, data, len);
  if (!req) return -1;
  int known = req->service == NULL || req->service[0] == '\0';
  protobuf_c_message_free_unpacked(&req->base, NULL);
  return known ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
               : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
}

void lkv__health_check(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  (void)api;
  int status = status_of(call, data, len);
  if (status < 0) return;
  if (status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN) {
    lkv_call_finish(call, LKV_GRPC_NOT_FOUND, "unknown service"); /* grpc-go's words */
    return;
  }
  Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  resp.status = status;
  lkv__api_reply(call, &resp.base);
}

/* Watch: the status at once (SERVICE_UNKNOWN for another name, as grpc-go), then nothing more, since it
 * never changes; the stream stays open until the client goes or the server stops. */
void lkv__health_watch(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  (void)api;
  if (lkv_call_get_data(call)) return; /* a server-streaming method: one request only */
  int status = status_of(call, data, len);
  if (status < 0) return;
  lkv_call_set_data(call, call);
  Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  resp.status = status;
  uint8_t buf[16];
  size_t n = protobuf_c_message_pack(&resp.base, buf);
  int rc = lkv_call_send(call, buf, n);
  /* LKV_ECANCELED: the stream is gone, and on_cancel (lkv__health_watch_cancel) finishes the call */
  if (rc != 0 && rc != LKV_ECANCELED) lkv__api_fail(call, rc);
}

/* The client half-closed after its request: the stream goes on (server-streaming). */
void lkv__health_watch_end(lkv_api_t *api, lkv_call_t *call) {
  (void)api;
  (void)call;
}

void lkv__health_watch_cancel(lkv_api_t *api, lkv_call_t *call) {
  (void)api;
  lkv_call_finish(call, LKV_GRPC_CANCELLED, "context canceled");
}
