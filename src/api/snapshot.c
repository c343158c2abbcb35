/* Maintenance.Snapshot: the store's etcd backend file, copied by a worker thread, streamed by the loop. */
#include "snapshot/snapshot.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api/service.h"
#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"

/* etcd's send buffer: the file goes out in pieces of this size. */
#define CHUNK_BYTES (32 * 1024)
/* Back-pressure: stop queueing above HIGH unsent bytes, go on once the client took all but LOW. */
#define HIGH_BYTES (512 * 1024)
#define LOW_BYTES (128 * 1024)

/* One Snapshot call. While it copies (phase COPYING) the worker thread writes file and rc, and the loop
 * thread only sets canceled and stop; from the worker's hand-back (lkv_call_run) on only the call's loop
 * thread touches it. */
typedef struct snap_s {
  lkv_api_t *api;
  lkv_call_t *call;
  enum { COPYING, STREAMING } phase;
  int canceled;    /* the stream went away while copying (loop thread) */
  atomic_int stop; /* asks the copy to end early */
  int rc;          /* the copy's outcome */
  lkv__api_members_t ms;
  lkv_snapshot_member_t *members;
  lkv_snapshot_meta_t meta;
  char dir[4096]; /* where the temporary file goes: the store's own directory */
  lkv_snapshot_file_t *file;
  uint8_t *buf;        /* one chunk, then one packed response */
  struct snap_s *next; /* this loop's streaming snapshots */
} snap_t;

/* The snapshots being streamed by this loop thread, resumed by its wakes once their clients drained. */
static _Thread_local snap_t *streaming;

static void snap_free(snap_t *s) {
  lkv_snapshot_file_free(s->file);
  lkv__api_members_free(&s->ms);
  free(s->members);
  free(s->buf);
  free(s);
}

static void unlink_streaming(snap_t *s) {
  for (snap_t **p = &streaming; *p; p = &(*p)->next) {
    if (*p == s) {
      *p = s->next;
      return;
    }
  }
}

/* Ends the call (err 0: OK) and frees its state. Loop thread. */
static void snap_end(snap_t *s, int err) {
  lkv_call_set_data(s->call, NULL);
  if (err)
    lkv__api_fail(s->call, err);
  else
    lkv_call_finish(s->call, 0, NULL);
  snap_free(s);
}

/* Queues responses until the client's unsent bytes reach HIGH_BYTES or the file and its digest are out. */
static void pump(snap_t *s) {
  while (lkv_call_pending_bytes(s->call) < HIGH_BYTES) {
    size_t n;
    uint64_t remaining;
    int rc = lkv_snapshot_file_next(s->file, s->buf, CHUNK_BYTES, &n, &remaining);
    if (rc || n == 0) {
      unlink_streaming(s);
      snap_end(s, rc);
      return;
    }
    Etcdserverpb__SnapshotResponse resp = ETCDSERVERPB__SNAPSHOT_RESPONSE__INIT; /* etcd sends no header */
    resp.remaining_bytes = remaining;
    resp.blob = (ProtobufCBinaryData){.len = n, .data = s->buf};
    uint8_t *packed = s->buf + CHUNK_BYTES;
    size_t len = etcdserverpb__snapshot_response__pack(&resp, packed);
    rc = lkv_call_send(s->call, packed, len);
    if (rc) {
      unlink_streaming(s);
      snap_end(s, rc);
      return;
    }
  }
  lkv_call_wake_when_drained(s->call, LOW_BYTES);
}

/* The copy is done (or failed, or was canceled): stream it from the call's loop thread. */
static void copied(lkv_call_t *call, void *arg) {
  (void)call;
  snap_t *s = arg;
  if (s->canceled || s->rc) {
    snap_end(s, s->canceled ? LKV_ECANCELED : s->rc);
    return;
  }
  s->phase = STREAMING;
  s->next = streaming;
  streaming = s;
  pump(s);
}

static void *copy_main(void *arg) {
  snap_t *s = arg;
  s->rc = lkv_snapshot_file_new(&s->file, s->api->store, s->dir, &s->meta);
  /* Only runs out of memory; the call must still end on its loop thread, which owns it from here on. */
  while (lkv_call_run(s->call, copied, s) != 0) sched_yield();
  return NULL;
}

/* The members in force, for the "members" bucket (pointing into s->ms). */
static int load_members(snap_t *s) {
  int rc = lkv__api_members_load(s->api, &s->ms);
  if (rc) return rc;
  s->members = calloc(s->ms.n ? s->ms.n : 1, sizeof(*s->members));
  if (!s->members) return LKV_ENOMEM;
  for (size_t i = 0; i < s->ms.n; i++) {
    const lkv_cluster_attrs_t *a = &s->ms.attrs[i];
    s->members[i] = (lkv_snapshot_member_t){.id = s->ms.rm[i].id,
                                            .is_learner = s->ms.rm[i].is_learner,
                                            .name = a->name,
                                            .peer_urls = a->peer_urls,
                                            .n_peer_urls = a->n_peer_urls,
                                            .client_urls = a->client_urls,
                                            .n_client_urls = a->n_client_urls};
  }
  s->meta.members = s->members;
  s->meta.n_members = s->ms.n;
  return 0;
}

/* The store's directory, from its checkpoint's path (a file in it). */
static int store_dir(snap_t *s) {
  int rc = lkv_mvcc_checkpoint_path(s->api->store, s->dir, sizeof(s->dir));
  if (rc) return rc;
  char *slash = strrchr(s->dir, '/');
  if (!slash) return LKV_EINVAL;
  *slash = '\0';
  return 0;
}

void lkv__maintenance_snapshot(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *req = lkv__api_unpack(call, &etcdserverpb__snapshot_request__descriptor, data, len);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, NULL);
  snap_t *s = calloc(1, sizeof(*s));
  if (!s) {
    lkv__api_fail(call, LKV_ENOMEM);
    return;
  }
  s->api = api;
  s->call = call;
  s->buf = malloc(2 * CHUNK_BYTES + 64); /* a chunk, and a response carrying it */
  lkv_replication_status_t rs;
  lkv_replicator_status(api->replicator, &rs);
  s->meta.consistent_index = rs.applied_index; /* 0 on a single node: the snapshot's revision */
  s->meta.member_id = api->id.member_id;
  s->meta.stop = &s->stop;
  int rc = s->buf ? 0 : LKV_ENOMEM;
  if (!rc) rc = load_members(s);
  if (!rc) rc = store_dir(s);
  pthread_t th;
  pthread_attr_t attr;
  if (!rc) rc = -pthread_attr_init(&attr);
  if (!rc) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    lkv_call_set_data(call, s);
    rc = -pthread_create(&th, &attr, copy_main, s);
    pthread_attr_destroy(&attr);
  }
  if (rc) snap_end(s, rc);
}

void lkv__maintenance_snapshot_cancel(lkv_api_t *api, lkv_call_t *call) {
  (void)api;
  snap_t *s = lkv_call_get_data(call);
  if (!s) return;
  if (s->phase == COPYING) { /* the worker's completion ends the call */
    s->canceled = 1;
    atomic_store(&s->stop, 1);
    return;
  }
  unlink_streaming(s);
  snap_end(s, LKV_ECANCELED);
}

void lkv__snapshot_wake(lkv_api_t *api, int loop_index) {
  (void)api, (void)loop_index;
  snap_t *s = streaming;
  while (s) {
    snap_t *next = s->next; /* pump may end and free s */
    if (lkv_call_pending_bytes(s->call) <= LOW_BYTES) pump(s);
    s = next;
  }
}
