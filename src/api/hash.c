/* Maintenance.HashKV (etcd 3.4's algorithm) and Hash (ledgerkv's): computed by a worker thread. */
#include <pthread.h>
#include <stdlib.h>

#include "api/service.h"
#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "snapshot/snapshot.h"

/* A hash walks the whole history, which can take seconds: it must not hold up the loop thread's other
 * calls. The worker answers the call itself (lkv_call_finish works from any thread) and touches nothing
 * after that: the transport's stop waits for every call to be finished before the store closes. */
typedef struct job_s {
  lkv_api_t *api;
  lkv_call_t *call;
  int kv;      /* HashKV (else Hash) */
  int64_t rev; /* HashKV's revision */
} job_t;

static void answer(job_t *j, const lkv_snapshot_hash_t *h) {
  Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  lkv__api_header(j->api, &hdr, h->revision); /* etcd's header carries the current revision */
  if (j->kv) {
    Etcdserverpb__HashKVResponse resp = ETCDSERVERPB__HASH_KVRESPONSE__INIT;
    resp.header = &hdr;
    resp.hash = h->hash;
    resp.compact_revision = h->compact_revision;
    lkv__api_reply(j->call, &resp.base);
  } else {
    Etcdserverpb__HashResponse resp = ETCDSERVERPB__HASH_RESPONSE__INIT;
    resp.header = &hdr;
    resp.hash = h->hash;
    lkv__api_reply(j->call, &resp.base);
  }
}

static void *hash_main(void *arg) {
  job_t *j = arg;
  lkv_mvcc_txn_t *t;
  lkv_snapshot_hash_t h;
  int rc = lkv_mvcc_read_begin(j->api->store, &t);
  if (!rc) {
    rc = j->kv ? lkv_snapshot_hashkv(t, j->rev, &h) : lkv_snapshot_hash(t, &h);
    lkv_mvcc_txn_end(t);
  }
  if (rc)
    lkv__api_fail(j->call, rc);
  else
    answer(j, &h);
  free(j);
  return NULL;
}

static void start(lkv_api_t *api, lkv_call_t *call, int kv, int64_t rev) {
  job_t *j = malloc(sizeof(*j));
  if (!j) {
    lkv__api_fail(call, LKV_ENOMEM);
    return;
  }
  *j = (job_t){.api = api, .call = call, .kv = kv, .rev = rev};
  pthread_attr_t attr;
  pthread_t th;
  int rc = -pthread_attr_init(&attr);
  if (!rc) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = -pthread_create(&th, &attr, hash_main, j);
    pthread_attr_destroy(&attr);
  }
  if (rc) {
    free(j);
    lkv__api_fail(call, rc);
  }
}

void lkv__maintenance_hash_kv(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__HashKVRequest *req = (Etcdserverpb__HashKVRequest *)lkv__api_unpack(
      call, &etcdserverpb__hash_kvrequest__descriptor, data, len);
  if (!req) return;
  int64_t rev = req->revision;
  protobuf_c_message_free_unpacked(&req->base, NULL);
  start(api, call, 1, rev);
}

void lkv__maintenance_hash(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *req = lkv__api_unpack(call, &etcdserverpb__hash_request__descriptor, data, len);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, NULL);
  start(api, call, 0, 0);
}
