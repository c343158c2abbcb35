/* LeaseKeepAlive streams: renewals served by the local lessor, or forwarded to the leader's. */
#include <pthread.h>
#include <stdlib.h>

#include "api/leader.h"
#include "api/service.h"
#include "common/error.h"

/*
 * Without a forwarder (only while the server stops) a renewal is made in memory and answered on the loop
 * thread, and the stream keeps no state unless it required a leader. Every member hands each renewal to the
 * forwarder (lease/forward.h), which serves it here when this member leads (answered once a majority of
 * voters recorded it: lease/sync.h) and sends it to the leader otherwise. The answer arrives on another
 * thread and is handed back to the call's loop thread (lkv_call_run), where everything that ends the stream
 * happens, so the stream's state is only freed once no answer can still refer to it (refs).
 *
 * Order: etcd answers a stream's requests one by one, in order; forwarded renewals may come back in
 * another (an unknown lease is answered before a known one's majority has recorded it), so each carries
 * its place in the stream and an answer waits until those before it are sent.
 *
 * Ending: the client's half-close ends the stream once the renewals in flight are answered (etcd's loop
 * answers each request before it reads the end); a forwarding error (no leader, timed out) ends it with
 * that error (etcd's LeaseRenew error returned from the stream); a stream that required a leader is ended
 * by the leader monitor (leader.h); a stream gone away ends at once.
 */

typedef struct ka_renewal_s ka_renewal_t;

typedef struct ka_stream_s {
  pthread_mutex_t mu;        /* guards call and refs (answers come from other threads) */
  lkv_call_t *call;          /* NULL once the stream is finished */
  unsigned refs;             /* 1 while the stream runs, plus one per forwarded renewal not yet handed back */
  unsigned in_flight;        /* loop thread: forwarded renewals not yet answered */
  int half_closed;           /* loop thread: the client sent its last request */
  uint64_t next_seq;         /* loop thread: the place of the next renewal forwarded */
  uint64_t send_seq;         /* loop thread: the place of the next answer to send */
  ka_renewal_t *answered;    /* loop thread: answers waiting for earlier ones, by place */
  lkv__leader_stream_t lead; /* registered with the leader monitor when it required a leader */
} ka_stream_t;

/* The call data of a stream that is finished: later callbacks for it do nothing. */
static ka_stream_t finished_stream;

/* A forwarded renewal: the response header is taken before the renewal, as etcd does. */
struct ka_renewal_s {
  ka_stream_t *ka;
  lkv_api_t *api;
  Etcdserverpb__ResponseHeader hdr;
  int64_t id;
  int err;
  int64_t ttl;
  uint64_t seq;       /* its place in the stream */
  ka_renewal_t *next; /* in ka->answered */
};

static void unref(ka_stream_t *ka) {
  pthread_mutex_lock(&ka->mu);
  unsigned left = --ka->refs;
  pthread_mutex_unlock(&ka->mu);
  if (left) return;
  pthread_mutex_destroy(&ka->mu);
  free(ka);
}

/* Marks the stream finished and drops its own reference; returns the call to finish, or NULL when it
 * was finished before. Loop thread. */
static lkv_call_t *detach(lkv_api_t *api, ka_stream_t *ka) {
  pthread_mutex_lock(&ka->mu);
  lkv_call_t *call = ka->call;
  ka->call = NULL; /* answers still in flight are dropped from now on */
  pthread_mutex_unlock(&ka->mu);
  if (!call) return NULL;
  while (ka->answered) { /* answers that waited for one that never came */
    ka_renewal_t *r = ka->answered;
    ka->answered = r->next;
    unref(ka);
    free(r);
  }
  lkv__leader_unwatch(api, &ka->lead);
  lkv_call_set_data(call, &finished_stream);
  unref(ka);
  return call;
}

/* Finishes the stream with err (0: OK). Loop thread. */
static void end_stream(lkv_api_t *api, ka_stream_t *ka, int err) {
  lkv_call_t *call = detach(api, ka);
  if (!call) return;
  if (err)
    lkv__api_fail(call, err);
  else
    lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static void cancel_no_leader(lkv_api_t *api, lkv__leader_stream_t *s) {
  end_stream(api, (ka_stream_t *)((char *)s - offsetof(ka_stream_t, lead)), LKV_ENOLEADER);
}

static ka_stream_t *new_stream(lkv_api_t *api, lkv_call_t *call, int require_leader) {
  ka_stream_t *ka = calloc(1, sizeof(*ka));
  if (!ka) return NULL;
  if (pthread_mutex_init(&ka->mu, NULL) != 0) {
    free(ka);
    return NULL;
  }
  ka->call = call;
  ka->refs = 1;
  ka->lead.call = call;
  ka->lead.cancel = cancel_no_leader;
  lkv_call_set_data(call, ka);
  if (require_leader) lkv__leader_watch(api, &ka->lead);
  return ka;
}

/* Sends one LeaseKeepAliveResponse (ttl 0: unknown or expired lease, as etcd answers). */
static void send_response(lkv_call_t *call, Etcdserverpb__ResponseHeader *hdr, int64_t id, int64_t ttl) {
  Etcdserverpb__LeaseKeepAliveResponse resp = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
  resp.header = hdr;
  resp.id = id;
  resp.ttl = ttl;
  uint8_t buf[128]; /* header and three integers: well below this */
  size_t n = etcdserverpb__lease_keep_alive_response__pack(&resp, buf);
  lkv_call_send(call, buf, n);
}

/* Back on the loop thread with the leader's answer: sent with every answer it let through, in order. */
static void renewal_on_loop(lkv_call_t *call, void *arg) {
  ka_renewal_t *r = arg;
  ka_stream_t *ka = r->ka;
  lkv_api_t *api = r->api;
  pthread_mutex_lock(&ka->mu);
  int running = ka->call != NULL;
  pthread_mutex_unlock(&ka->mu);
  if (!running || (r->err != 0 && r->err != LKV_ELEASENOTFOUND)) {
    if (running) end_stream(api, ka, r->err);
    unref(ka);
    free(r);
    return;
  }
  ka_renewal_t **pp = &ka->answered;
  while (*pp && (*pp)->seq < r->seq) pp = &(*pp)->next;
  r->next = *pp;
  *pp = r;
  while (ka->answered && ka->answered->seq == ka->send_seq) {
    ka_renewal_t *a = ka->answered;
    ka->answered = a->next;
    ka->send_seq++;
    ka->in_flight--;
    send_response(call, &a->hdr, a->id, a->err ? 0 : a->ttl);
    free(a);
    unref(ka); /* never the last reference: the stream holds its own while it runs */
  }
  if (ka->half_closed && ka->in_flight == 0) end_stream(api, ka, 0);
}

/* The forwarder's answer, on any thread: handed to the call's loop while the stream runs. */
static void renewed(void *arg, int err, int64_t ttl, int64_t granted_ttl) {
  (void)granted_ttl;
  ka_renewal_t *r = arg;
  ka_stream_t *ka = r->ka;
  r->err = err;
  r->ttl = ttl;
  pthread_mutex_lock(&ka->mu);
  /* Under the lock: the loop thread cannot finish the call between the check and the hand-over. */
  int handed = ka->call && lkv_call_run(ka->call, renewal_on_loop, r) == 0;
  pthread_mutex_unlock(&ka->mu);
  if (handed) return;
  /* Finished meanwhile, or no memory to hand it over: the answer is lost (a half-closed stream then waits
   * for the client to go away). */
  unref(ka);
  free(r);
}

static void forward(lkv_api_t *api, ka_stream_t *ka, const Etcdserverpb__ResponseHeader *hdr, int64_t id) {
  ka_renewal_t *r = malloc(sizeof(*r));
  int rc = LKV_ENOMEM;
  if (r) {
    *r = (ka_renewal_t){.ka = ka, .api = api, .hdr = *hdr, .id = id, .seq = ka->next_seq};
    pthread_mutex_lock(&ka->mu);
    ka->refs++;
    pthread_mutex_unlock(&ka->mu);
    ka->in_flight++;
    rc = lkv_lease_fwd_renew(api->lease_fwd, id, renewed, r);
    if (rc == 0) {
      ka->next_seq++;
      return;
    }
    ka->in_flight--;
    unref(ka);
    free(r);
  }
  end_stream(api, ka, rc);
}

/* One keep-alive message. The header is taken before the renewal, as etcd does, so the revision a client
 * sees never follows the lease's revocation. */
void lkv__lease_keep_alive(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ka_stream_t *ka = lkv_call_get_data(call);
  if (ka == &finished_stream) return;
  if (!ka) {
    int refused = lkv__api_stream_refusal(api, call);
    if (refused) {
      lkv_call_set_data(call, &finished_stream);
      lkv__api_fail(call, refused);
      return;
    }
    int require = lkv__leader_required(call);
    /* Without a forwarder (stopping) renewals are answered at once: no state unless a leader is required. */
    if (api->lease_fwd || (api->leader && require)) {
      ka = new_stream(api, call, require);
      if (!ka) {
        lkv_call_set_data(call, &finished_stream);
        lkv__api_fail(call, LKV_ENOMEM);
        return;
      }
    }
  }
  const ProtobufCMessageDescriptor *desc = &etcdserverpb__lease_keep_alive_request__descriptor;
  Etcdserverpb__LeaseKeepAliveRequest *req =
      (Etcdserverpb__LeaseKeepAliveRequest *)protobuf_c_message_unpack(desc, NULL, len, data);
  if (!req) {
    if (ka) (void)detach(api, ka);                /* before the call is finished: it may be freed at once */
    (void)lkv__api_unpack(call, desc, data, len); /* fails again and answers as every handler does */
    return;
  }
  Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(api->store, &t);
  if (rc) {
    if (ka)
      end_stream(api, ka, rc);
    else
      lkv__api_fail(call, rc);
    goto done;
  }
  lkv__api_header(api, &hdr, lkv_mvcc_txn_rev(t));
  lkv_mvcc_txn_end(t);
  if (api->lease_fwd) { /* a cluster: even the leader answers once a majority recorded the renewal */
    forward(api, ka, &hdr, req->id);
  } else {
    int64_t ttl;
    if (lkv_lessor_renew(api->lessor, req->id, &ttl, NULL) != 0) ttl = 0;
    send_response(call, &hdr, req->id, ttl);
  }
done:
  protobuf_c_message_free_unpacked(&req->base, NULL);
}

/* The client half-closed (etcd returns nil on io.EOF, after answering what it read) or the stream went
 * away. */
static void stream_end(lkv_api_t *api, lkv_call_t *call, int half_close) {
  ka_stream_t *ka = lkv_call_get_data(call);
  if (ka == &finished_stream) return;
  if (!ka) {
    lkv_call_finish(call, LKV_GRPC_OK, NULL);
    return;
  }
  if (half_close && ka->in_flight > 0) {
    ka->half_closed = 1; /* the last answer ends it */
    return;
  }
  end_stream(api, ka, 0);
}

void lkv__lease_keep_alive_end(lkv_api_t *api, lkv_call_t *call) {
  stream_end(api, call, 1);
}

void lkv__lease_keep_alive_cancel(lkv_api_t *api, lkv_call_t *call) {
  stream_end(api, call, 0);
}
