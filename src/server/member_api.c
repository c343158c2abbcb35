/* A cluster member's lease forwarding, lease handoff and leader monitor, wired to the peer transport's
 * lease channel. */
#include "server/member_api.h"

#include <stdlib.h>

#include "causal/lease_id.h"
#include "causal/vv.h"
#include "common/error.h"
#include "lease/fwd_codec.h"
#include "lease/sync.h"

/* etcd's request timeout (5 s plus two election timeouts), the deadline of a forwarded lease request. */
#define LKV_MEMBER_API_REQUEST_TIMEOUT_MS 5000u

/* Causal mode: how long a renewal or TTL query waits for the lease's owner before it fails with "the
 * lease's owner is unreachable". Shorter than etcd's request timeout: no election can make the owner
 * answer sooner, and a client should learn soon that its lease is not being renewed. */
#define LKV_MEMBER_API_OWNER_TIMEOUT_MS 2000u

struct lkv__member_api_s {
  lkv__member_t *member;
  lkv_api_t *api;
  lkv_lease_fwd_t *fwd;
  lkv_lease_sync_t *sync; /* Raft mode only */
  lkv_api_leader_t *leader;
  uint64_t self;
};

/* The member in force (a removed one is not: its leases ended with its removal, docs/causal.md §15a) whose
 * owner tag lease id carries, or 0 (also when the list cannot be read). */
static uint64_t owner_in_force(const lkv__member_api_t *a, int64_t id) {
  lkv_replication_member_t *ms;
  size_t n;
  if (lkv_replicator_members(a->api->replicator, &ms, &n)) return 0;
  uint64_t ids[LKV_CAUSAL_MAX_ORIGINS];
  for (size_t i = 0; i < n && i < LKV_CAUSAL_MAX_ORIGINS; i++) ids[i] = ms[i].id;
  uint64_t owner = lkv_causal_lease_owner(id, ids, n < LKV_CAUSAL_MAX_ORIGINS ? n : LKV_CAUSAL_MAX_ORIGINS);
  lkv_replication_members_free(ms, n);
  return owner;
}

/* Causal mode: a lease's requests go to the member its id names (causal/lease_id.h), among the members in
 * force (added ones included; a removed one's tag may be reused by a member added later), so a removed
 * member's leases name no member: "lease not found". Only requests sent to another member ask the member
 * list (they cost a round trip anyway). */
static uint64_t lease_owner(void *arg, int64_t id) {
  const lkv__member_api_t *a = arg;
  return lkv_causal_lease_owned(id, a->self) ? a->self : owner_in_force(a, id);
}

static int send_lease(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  return lkv__member_send(arg, to, LKV__CHANNEL_LEASE, msg, len);
}

/* The lease channel carries the forwarder's messages and the handoff's, told apart by their first byte. */
static void on_lease_message(void *arg, uint64_t from, const uint8_t *data, size_t len) {
  lkv__member_api_t *a = arg;
  if (len >= 1 && (data[0] == LKV_LEASE_FWD_REQUEST || data[0] == LKV_LEASE_FWD_ANSWER))
    lkv_lease_fwd_receive(a->fwd, from, data, len);
  else if (a->sync)
    lkv_lease_sync_receive(a->sync, from, data, len);
}

int lkv__member_api_start(lkv__member_api_t **out, lkv__member_t *m, lkv_api_t *api,
                          const lkv_config_t *cfg) {
  unsigned election_ms = (unsigned)cfg->cluster.election_ms;
  lkv__member_api_t *a = calloc(1, sizeof(*a));
  if (!a) return LKV_ENOMEM;
  a->member = m;
  a->api = api;
  uint64_t cluster_id;
  lkv__member_ids(m, &cluster_id, &a->self); /* a joining member's was drawn by MemberAdd, not the flags' */
  unsigned timeout_ms = LKV_MEMBER_API_REQUEST_TIMEOUT_MS + 2 * election_ms;
  /* Records are resent after a heartbeat interval: a lost one then costs a keep-alive about what a lost
   * Raft message costs a write. Queries (answered with every lease) after an election timeout. */
  lkv_lease_sync_options_t so = {.lessor = api->lessor,
                                 .replicator = api->replicator,
                                 .send = send_lease,
                                 .send_arg = m,
                                 .timeout_ms = timeout_ms,
                                 .resend_ms = (unsigned)cfg->cluster.heartbeat_ms,
                                 .query_resend_ms = election_ms};
  /* Causal mode: no handoff (each lease has one owner, which alone renews it), requests to the owner. */
  int causal = cfg->cluster.causal;
  int rc = causal ? 0 : lkv_lease_sync_start(&a->sync, &so);
  if (rc) goto err_after_alloc;
  lkv_lease_fwd_options_t o = {.lessor = api->lessor,
                               .replicator = api->replicator,
                               .sync = a->sync,
                               .send = send_lease,
                               .send_arg = m,
                               .timeout_ms = causal ? LKV_MEMBER_API_OWNER_TIMEOUT_MS : timeout_ms,
                               .resend_ms = election_ms,
                               .owner = causal ? lease_owner : NULL,
                               .owner_arg = a};
  rc = lkv_lease_fwd_start(&a->fwd, &o);
  if (rc) goto err_after_sync;
  rc = lkv_api_leader_new(&a->leader, election_ms);
  if (rc) goto err_after_fwd;
  rc = lkv__member_on_channel(m, LKV__CHANNEL_LEASE, on_lease_message, a);
  if (rc) goto err_after_leader;
  api->lease_fwd = a->fwd;
  api->leader = a->leader;
  *out = a;
  return 0;
err_after_leader:
  lkv_api_leader_free(a->leader);
err_after_fwd:
  lkv_lease_fwd_stop(a->fwd);
err_after_sync:
  lkv_lease_sync_free(a->sync);
err_after_alloc:
  free(a);
  return rc;
}

void lkv__member_api_stop(lkv__member_api_t *a) {
  if (!a) return;
  (void)lkv__member_on_channel(a->member, LKV__CHANNEL_LEASE, NULL, NULL); /* waits for a delivery running */
  a->api->lease_fwd = NULL;
  a->api->leader = NULL;
  /* Renewals waiting for records fail first (the forwarder's stop waits for them), then the forwarder's
   * requests, some of which may still hand a renewal to the stopped module: it refuses them. */
  lkv_lease_sync_stop(a->sync);
  lkv_lease_fwd_stop(a->fwd);
  lkv_lease_sync_free(a->sync);
  lkv_api_leader_free(a->leader);
  free(a);
}
