/* etcdserverpb.Cluster: MemberList of this single member. */
#include "api/service.h"

void lkv__cluster_member_list(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *req = lkv__api_unpack(call, &etcdserverpb__member_list_request__descriptor, data, len);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, NULL);
  /* etcd's MemberList header carries no revision. */
  Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  lkv__api_header(api, &hdr, 0);
  Etcdserverpb__Member self = ETCDSERVERPB__MEMBER__INIT;
  self.id = api->id.member_id;
  self.name = (char *)api->member_name;
  /* Published by the server after the listeners bound (see lkv_server_start). */
  self.n_clienturls = __atomic_load_n(&api->n_client_urls, __ATOMIC_ACQUIRE);
  self.clienturls = (char **)api->client_urls;
  Etcdserverpb__Member *members[] = {&self};
  Etcdserverpb__MemberListResponse resp = ETCDSERVERPB__MEMBER_LIST_RESPONSE__INIT;
  resp.header = &hdr;
  resp.n_members = 1;
  resp.members = members;
  lkv__api_reply(call, &resp.base);
}
