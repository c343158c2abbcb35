/* etcdserverpb.Maintenance: Status and Alarm (this single node is always its own leader). */
#include <stdio.h>
#include <stdlib.h>

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
  /* etcd lists each raised alarm as its AlarmMember in protobuf text form. */
  char nospace[64], corrupt[64];
  char *errors[2];
  if (st.alarms & LKV_MVCC_ALARM_NOSPACE) {
    snprintf(nospace, sizeof(nospace), "memberID:%llu alarm:NOSPACE ", (unsigned long long)api->id.member_id);
    errors[resp.n_errors++] = nospace;
  }
  if (st.alarms & LKV_MVCC_ALARM_CORRUPT) {
    snprintf(corrupt, sizeof(corrupt), "memberID:%llu alarm:CORRUPT ", (unsigned long long)api->id.member_id);
    errors[resp.n_errors++] = corrupt;
  }
  resp.errors = errors;
  lkv__api_reply(call, &resp.base);
}

/* GET is a read served from a snapshot; ACTIVATE and DEACTIVATE change replicated state, so they are
 * proposed like any write. */
void lkv__maintenance_alarm(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__AlarmRequest *req =
      (Etcdserverpb__AlarmRequest *)lkv__api_unpack(call, &etcdserverpb__alarm_request__descriptor, data, len);
  if (!req) return;
  if (req->action != ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET) {
    int rc = lkv_apply_validate(LKV_OP_ALARM, &req->base, &api->limits);
    if (rc == 0) {
      lkv__api_propose(api, call, LKV_OP_ALARM, &req->base, NULL, 0); /* alarms are not in the ledger */
      return;
    }
    lkv__api_fail(call, rc);
  } else {
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    int rc = lkv_apply_alarm_get(api->store, &api->id, req, &resp, &resp_len);
    lkv__api_reply_result(call, rc, resp, resp_len);
  }
  protobuf_c_message_free_unpacked(&req->base, NULL);
}
