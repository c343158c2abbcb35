/* The write path from the API's side: validated requests become proposals, answered once durable. */
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "api/service.h"
#include "common/error.h"

/* A proposal of the API's, with the services it answers for. */
typedef struct api_proposal_s {
  lkv_proposal_t p;
  lkv_api_t *api;
} api_proposal_t;

/* Runs on the replicator's thread once the outcome is durable. */
static void write_done(lkv_proposal_t *p) {
  lkv_call_t *call = p->data;
  lkv_api_t *api = ((api_proposal_t *)p)->api;
  if (p->req.kind == LKV_OP_AUTH_AUTHENTICATE && api->jwt) lkv__auth_jwt_answer(api, &p->req);
  lkv__api_reply_result(call, p->req.err, p->req.resp, p->req.resp_len);
  protobuf_c_message_free_unpacked((ProtobufCMessage *)p->req.msg, NULL);
  free(p);
}

void lkv__api_propose(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind, ProtobufCMessage *msg,
                      const uint8_t *data, size_t len) {
  lkv__who_t who; /* etcd's processInternalRaftRequestOnce: the entry carries who asked */
  int rc = lkv__auth_who(api, call, &who);
  if (rc) {
    protobuf_c_message_free_unpacked(msg, NULL);
    lkv__api_fail(call, rc);
    return;
  }
  lkv__api_propose_as(api, call, kind, msg, data, len, &who);
}

void lkv__api_propose_as(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind, ProtobufCMessage *msg,
                         const uint8_t *data, size_t len, lkv__who_t *who) {
  /* etcd refuses what would make a too large log entry; only proposals enter the log, so reads (a
   * read-only txn included) never meet this limit. */
  int rc = LKV_ETOOLARGE;
  if (len > api->max_request_bytes) goto err_after_unpack;
  rc = LKV_ENOMEM;
  /* The request's bytes, then the user's name, live right after the proposal, freed with it. */
  api_proposal_t *ap = calloc(1, sizeof(*ap) + len + lkv__who_size(who));
  if (!ap) goto err_after_unpack;
  ap->api = api;
  lkv_proposal_t *p = &ap->p;
  lkv__who_attach(who, &p->req, (char *)(ap + 1) + len);
  p->req.kind = kind;
  p->req.msg = msg;
  if (data) {
    memcpy(ap + 1, data, len);
    p->req.raw = (const uint8_t *)(ap + 1);
    p->req.raw_len = len;
  }
  p->done = write_done;
  p->data = call;
  rc = lkv_replicator_propose(api->replicator, p);
  if (rc == 0) return;
  free(ap);
err_after_unpack:
  lkv__who_free(who);
  protobuf_c_message_free_unpacked(msg, NULL);
  lkv__api_fail(call, rc);
}

ProtobufCMessage *lkv__api_unpack_write(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind,
                                        const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                        size_t len) {
  ProtobufCMessage *msg = lkv__api_unpack(call, desc, data, len);
  if (!msg) return NULL;
  int rc = lkv_apply_validate(kind, msg, &api->limits);
  if (rc == 0) return msg;
  protobuf_c_message_free_unpacked(msg, NULL);
  lkv__api_fail(call, rc);
  return NULL;
}
