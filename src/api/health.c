/* gRPC's health service (grpc.health.v1.Health/Check) as etcd 3.4 registers it: the server ("") serves. */
#include <string.h>

#include "api/service.h"
#include "grpc/health/v1/health.pb-c.h"

/* etcd 3.4.23 sets the "" service SERVING once it serves clients and never changes it; any other name is
 * unknown to grpc-go's health server, which answers NotFound in these words. */
void lkv__health_check(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  (void)api;
  Grpc__Health__V1__HealthCheckRequest *req = (Grpc__Health__V1__HealthCheckRequest *)lkv__api_unpack(
      call, &grpc__health__v1__health_check_request__descriptor, data, len);
  if (!req) return;
  int known = req->service == NULL || req->service[0] == '\0';
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (!known) {
    lkv_call_finish(call, LKV_GRPC_NOT_FOUND, "unknown service");
    return;
  }
  Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  lkv__api_reply(call, &resp.base);
}
