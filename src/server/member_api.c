/* A cluster member's lease forwarding and leader monitor, wired to the peer transport's lease channel. */
#include "server/member_api.h"

#include <stdlib.h>

#include "common/error.h"

/* etcd's request timeout (5 s plus two election timeouts), the deadline of a forwarded lease request. */
#define LKV_MEMBER_API_REQUEST_TIMEOUT_MS 5000u

struct lkv__member_api_s {
  lkv__member_t *member;
  lkv_api_t *api;
  lkv_lease_fwd_t *fwd;
  lkv_api_leader_t *leader;
};

static int send_lease(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  return lkv__member_send(arg, to, LKV__CHANNEL_LEASE, msg, len);
}

int lkv__member_api_start(lkv__member_api_t **out, lkv__member_t *m, lkv_api_t *api,
                          const lkv_config_t *cfg) {
  unsigned election_ms = (unsigned)cfg->cluster.election_ms;
  lkv__member_api_t *a = calloc(1, sizeof(*a));
  if (!a) return LKV_ENOMEM;
  a->member = m;
  a->api = api;
  lkv_lease_fwd_options_t o = {.lessor = api->lessor,
                               .replicator = api->replicator,
                               .send = send_lease,
                               .send_arg = m,
                               .timeout_ms = LKV_MEMBER_API_REQUEST_TIMEOUT_MS + 2 * election_ms,
                               .resend_ms = election_ms};
  int rc = lkv_lease_fwd_start(&a->fwd, &o);
  if (rc) goto err_after_alloc;
  rc = lkv_api_leader_new(&a->leader, election_ms);
  if (rc) goto err_after_fwd;
  rc = lkv__member_on_channel(m, LKV__CHANNEL_LEASE, lkv_lease_fwd_receive, a->fwd);
  if (rc) goto err_after_leader;
  api->lease_fwd = a->fwd;
  api->leader = a->leader;
  *out = a;
  return 0;
err_after_leader:
  lkv_api_leader_free(a->leader);
err_after_fwd:
  lkv_lease_fwd_stop(a->fwd);
err_after_alloc:
  free(a);
  return rc;
}

void lkv__member_api_stop(lkv__member_api_t *a) {
  if (!a) return;
  (void)lkv__member_on_channel(a->member, LKV__CHANNEL_LEASE, NULL, NULL); /* waits for a delivery running */
  a->api->lease_fwd = NULL;
  a->api->leader = NULL;
  lkv_lease_fwd_stop(a->fwd);
  lkv_api_leader_free(a->leader);
  free(a);
}
