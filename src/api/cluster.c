/* etcdserverpb.Cluster: MemberList from the members the replicator has in force and their attributes. */
#include <stdlib.h>

#include "api/service.h"
#include "cluster/attrs.h"
#include "common/error.h"

void lkv__cluster_member_list(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *req = lkv__api_unpack(call, &etcdserverpb__member_list_request__descriptor, data, len);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, NULL);
  lkv_replication_member_t *rm;
  size_t n;
  int rc = lkv_replicator_members(api->replicator, &rm, &n);
  if (rc != 0) {
    lkv__api_fail(call, rc);
    return;
  }
  Etcdserverpb__Member *members = calloc(n ? n : 1, sizeof(*members));
  Etcdserverpb__Member **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
  lkv_cluster_attrs_t *attrs = calloc(n ? n : 1, sizeof(*attrs));
  rc = members && ptrs && attrs ? 0 : LKV_ENOMEM;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    etcdserverpb__member__init(&members[i]);
    ptrs[i] = &members[i];
    members[i].id = rm[i].id;
    members[i].islearner = rm[i].is_learner;
    /* A member that has not published yet is listed by id only, as etcd lists an unstarted member. */
    if (rm[i].attrs && lkv_cluster_attrs_decode(rm[i].attrs, rm[i].attrs_len, &attrs[i]) == 0) {
      members[i].name = attrs[i].name;
      members[i].peerurls = attrs[i].peer_urls;
      members[i].n_peerurls = attrs[i].n_peer_urls;
      members[i].clienturls = attrs[i].client_urls;
      members[i].n_clienturls = attrs[i].n_client_urls;
    }
  }
  if (rc == 0) {
    /* etcd's MemberList header carries no revision. */
    Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    lkv__api_header(api, &hdr, 0);
    Etcdserverpb__MemberListResponse resp = ETCDSERVERPB__MEMBER_LIST_RESPONSE__INIT;
    resp.header = &hdr;
    resp.n_members = n;
    resp.members = ptrs;
    lkv__api_reply(call, &resp.base);
  } else {
    lkv__api_fail(call, rc);
  }
  for (size_t i = 0; attrs && i < n; i++) lkv_cluster_attrs_free(&attrs[i]);
  free(attrs);
  free(ptrs);
  free(members);
  lkv_replication_members_free(rm, n);
}
