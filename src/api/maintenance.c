/* etcdserverpb.Maintenance: Status and Alarm (this single node is always its own leader). */
#include "api/service.h"
#include "common/error.h"

static void fill_header(const lkv_api_t *api, Etcdserverpb__ResponseHeader *h, int64_t revision) {
  h->cluster_id = api->id.cluster_id;
  h->member_id = api->id.member_id;
  h->raft_term = api->id.raft_term;
  h->revision = revision;
}

void lkv__maintenance_status(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *req = lkv__api_unpack(call, &etcdserverpb__status_request__descriptor, data, len);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, NULL);
  lkv_mvcc_stat_t st;
  int rc = lkv_mvcc_stat(api->store, &st);
  if (rc != 0) {
    lkv__api_fail(call, rc);
    return;
  }
  Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  fill_header(api, &hdr, st.revision);
  Etcdserverpb__StatusResponse resp = ETCDSERVERPB__STATUS_RESPONSE__INIT;
  resp.header = &hdr;
  resp.version = (char *)api->version;
  resp.dbsize = (int64_t)st.db_size;
  resp.dbsizeinuse = (int64_t)st.db_size_in_use;
  resp.leader = api->id.member_id;
  /* Single node: every applied write is one entry of the (implicit) log, so the revision counts them. */
  resp.raftindex = (uint64_t)st.revision;
  resp.raftappliedindex = (uint64_t)st.revision;
  resp.raftterm = api->id.raft_term;
  lkv__api_reply(call, &resp.base);
}

/* No alarms exist yet (NOSPACE is reported per request); GET answers with the empty list, as etcd does
 * when nothing is raised. Activating or deactivating alarms is not supported yet. */
void lkv__maintenance_alarm(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__AlarmRequest *req =
      (Etcdserverpb__AlarmRequest *)lkv__api_unpack(call, &etcdserverpb__alarm_request__descriptor, data, len);
  if (!req) return;
  int action = req->action;
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (action != ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET) {
    lkv__api_fail(call, LKV_EUNSUPPORTED);
    return;
  }
  lkv_mvcc_stat_t st;
  int rc = lkv_mvcc_stat(api->store, &st);
  if (rc != 0) {
    lkv__api_fail(call, rc);
    return;
  }
  Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  fill_header(api, &hdr, st.revision);
  Etcdserverpb__AlarmResponse resp = ETCDSERVERPB__ALARM_RESPONSE__INIT;
  resp.header = &hdr;
  lkv__api_reply(call, &resp.base);
}
