/* Maintenance.Defragment: this member's store rewritten compactly by a worker thread (lkv_mvcc_defrag). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/service.h"
#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"

/* One Defragment call. The worker writes rc and result; the call's loop thread sets stop (a client that
 * left, or the server stopping) and, from the worker's hand-back on, owns it alone. */
typedef struct job_s {
  lkv_api_t *api;
  lkv_call_t *call;
  atomic_int stop;
  int rc;
  lkv_mvcc_defrag_t result;
} job_t;

/* On the call's loop thread: answer and free the job. */
static void done(lkv_call_t *call, void *arg) {
  job_t *j = arg;
  lkv_call_set_data(call, NULL);
  if (j->rc) {
    lkv__api_fail(call, j->rc);
  } else {
    Etcdserverpb__DefragmentResponse resp = ETCDSERVERPB__DEFRAGMENT_RESPONSE__INIT; /* etcd's: no header */
    lkv__api_reply(call, &resp.base);
  }
  free(j);
}

static void *defrag_main(void *arg) {
  job_t *j = arg;
  fprintf(stderr, "ledgerkv: defragment: starting\n");
  j->rc = lkv_mvcc_defrag(j->api->store, &j->stop, &j->result);
  const lkv_mvcc_defrag_t *r = &j->result;
  if (j->rc)
    fprintf(stderr, "ledgerkv: defragment failed: %s\n", lkv_strerror(j->rc));
  else /* etcd logs the sizes too: what an operator wants to know is the space reclaimed */
    fprintf(stderr,
            "ledgerkv: defragment finished: db size %llu -> %llu bytes (%llu reclaimed), writes and reads "
            "paused %.1f ms for the swap\n",
            (unsigned long long)r->size_before, (unsigned long long)r->size_after,
            (unsigned long long)(r->size_before > r->size_after ? r->size_before - r->size_after : 0),
            (double)r->pause_ns / 1e6);
  /* Only runs out of memory; the call must end on its loop thread, which owns the job from here on. */
  while (lkv_call_run(j->call, done, j) != 0) sched_yield();
  return NULL;
}

void lkv__maintenance_defragment(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *req = lkv__api_unpack(call, &etcdserverpb__defragment_request__descriptor, data, len);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, NULL);
  job_t *j = calloc(1, sizeof(*j));
  if (!j) {
    lkv__api_fail(call, LKV_ENOMEM);
    return;
  }
  j->api = api;
  j->call = call;
  pthread_attr_t attr;
  pthread_t th;
  int rc = -pthread_attr_init(&attr);
  if (!rc) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    lkv_call_set_data(call, j);
    rc = -pthread_create(&th, &attr, defrag_main, j);
    pthread_attr_destroy(&attr);
  }
  if (rc) {
    lkv_call_set_data(call, NULL);
    free(j);
    lkv__api_fail(call, rc);
  }
}

void lkv__maintenance_defragment_cancel(lkv_api_t *api, lkv_call_t *call) {
  (void)api;
  job_t *j = lkv_call_get_data(call);
  if (j) atomic_store(&j->stop, 1); /* the worker's hand-back still finishes the call */
}
