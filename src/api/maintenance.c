/* etcdserverpb.Maintenance: Status (the replicator's view of the cluster) and Alarm. */
#include <stdio.h>
#include <stdlib.h>

#include "api/auth.h"
#include "api/service.h"
#include "common/error.h"

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
  lkv_replication_status_t rs;
  lkv_replicator_status(api->replicator, &rs);
  Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  lkv__api_header(api, &hdr, st.revision);
  Etcdserverpb__StatusResponse resp = ETCDSERVERPB__STATUS_RESPONSE__INIT;
  resp.header = &hdr;
  resp.version = (char *)api->version;
  resp.dbsize = (int64_t)st.db_size;
  resp.dbsizeinuse = (int64_t)st.db_size_in_use;
  resp.leader = rs.leader;
  resp.raftterm = rs.term;
  resp.raftindex = rs.commit_index;
  resp.raftappliedindex = rs.applied_index;
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
  Etcdserverpb__AlarmRequest *req = (Etcdserverpb__AlarmRequest *)lkv__api_unpack(
      call, &etcdserverpb__alarm_request__descriptor, data, len);
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
    lkv__who_t who; /* etcd sends a GET through its log too: an unknown token fails it */
    int rc = lkv__auth_who(api, call, &who);
    lkv__who_free(&who);
    if (!rc) rc = lkv_apply_alarm_get(api->store, &api->id, req, &resp, &resp_len);
    lkv__api_reply_result(call, rc, resp, resp_len);
  }
  protobuf_c_message_free_unpacked(&req->base, NULL);
}

static void moved(void *arg, int err) {
  lkv_call_t *call = arg;
  if (err != 0) {
    lkv__api_fail(call, err);
    return;
  }
  Etcdserverpb__MoveLeaderResponse resp = ETCDSERVERPB__MOVE_LEADER_RESPONSE__INIT; /* etcd's: no header */
  lkv__api_reply(call, &resp.base);
}

/* etcd's MoveLeader: only the leader moves leadership, to a voter; answered once the transferee leads. */
void lkv__maintenance_move_leader(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__MoveLeaderRequest *req = (Etcdserverpb__MoveLeaderRequest *)lkv__api_unpack(
      call, &etcdserverpb__move_leader_request__descriptor, data, len);
  if (!req) return;
  uint64_t to = req->targetid;
  protobuf_c_message_free_unpacked(&req->base, NULL);
  int rc = lkv_replicator_move_leader(api->replicator, to, moved, call);
  if (rc != 0) lkv__api_fail(call, rc);
}
