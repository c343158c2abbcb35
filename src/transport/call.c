/* Call lifetime, the per-call output queue, and the lkv_call_* functions usable from any thread. */
#include "transport/call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "metrics/catalog.h"
#include "transport/h1_conn.h"
#include "transport/h2_conn.h"
#include "transport/h2_flow.h"
#include "transport/h2_gateway.h"
#include "transport/loop.h"

static lkv_call_t *call_alloc(struct lkv__loop_s *loop, size_t max_recv) {
  lkv_call_t *call = calloc(1, sizeof(*call));
  if (!call) return NULL;
  call->loop = loop;
  call->http_status = 200;
  call->started_ns = lkv_clock_ns(CLOCK_MONOTONIC);
  lkv__grpc_deframer_init(&call->deframer, max_recv);
  atomic_init(&call->pending, 0);
  atomic_init(&call->cancelled, 0);
  atomic_init(&call->posted, 0);
  atomic_init(&call->floor, 0);
  lkv__loop_call_added(loop);
  return call;
}

lkv_call_t *lkv__call_new_h1(struct lkv__loop_s *loop, struct lkv__h1_conn_s *h1, size_t max_recv) {
  lkv_call_t *call = call_alloc(loop, max_recv);
  if (call) call->h1 = h1;
  return call;
}

lkv_call_t *lkv__call_new(struct lkv__loop_s *loop, struct lkv__h2_conn_s *h2, int32_t stream_id) {
  lkv_call_t *call = call_alloc(loop, h2->cfg->max_recv_msg_bytes);
  if (!call) return NULL;
  call->h2 = h2;
  call->stream_id = stream_id;
  call->next = h2->calls;
  if (h2->calls) h2->calls->prev = call;
  h2->calls = call;
  return call;
}

/* Whether the call still has its stream (HTTP/2) or exchange (HTTP/1.1). */
static int live(const lkv_call_t *call) {
  return call->h2 || call->h1;
}

/* New output or a final status for whichever protocol carries the call. */
static void output(lkv_call_t *call) {
  if (call->h2)
    lkv__h2_call_output(call);
  else
    lkv__h1_call_output(call);
}

/* Percent-encoded copy of message, or NULL for no message (or no memory: the status still goes out). */
static char *encode_message(const char *message) {
  if (!message || !*message) return NULL;
  size_t n = lkv__grpc_percent_encode(NULL, 0, message);
  char *enc = malloc(n + 1);
  if (enc) lkv__grpc_percent_encode(enc, n + 1, message);
  return enc;
}

static void drop_chunk(lkv_call_t *call, lkv__chunk_t *chunk) {
  atomic_fetch_sub(&call->pending, chunk->len - chunk->off);
  free(chunk);
}

static void drop_output(lkv_call_t *call) {
  while (call->out_head) {
    lkv__chunk_t *chunk = call->out_head;
    call->out_head = (lkv__chunk_t *)chunk->post.next;
    drop_chunk(call, chunk);
  }
  call->out_tail = NULL;
}

static void maybe_free(lkv_call_t *call) {
  if (live(call) || call->in_callback || (call->owned && !call->app_finished)) return;
  struct lkv__loop_s *loop = call->loop;
  drop_output(call);
  lkv__grpc_deframer_free(&call->deframer);
  free(call->path);
  free(call->metadata);
  free(call->message);
  lkv__h2x_free(call->gw);
  free(call);
  lkv__loop_call_freed(loop);
}

static void notify_cancel(lkv_call_t *call) {
  const lkv_transport_handler_t *handler = &call->loop->cfg->handler;
  if (!call->owned || call->app_finished || call->cancel_notified) return;
  call->cancel_notified = 1;
  if (!handler->on_cancel) return;
  call->in_callback = 1;
  handler->on_cancel(handler->app, call->route, call);
  call->in_callback = 0;
}

void lkv__call_answer(lkv_call_t *call, int status, const char *message) {
  if (call->answered || !live(call)) return;
  call->answered = 1;
  call->status = status;
  call->message = encode_message(message);
  atomic_store(&call->cancelled, 1);
  notify_cancel(call);
  output(call);
}

void lkv_call_abort(lkv_call_t *call, int grpc_status, const char *message) {
  lkv__call_answer(call, grpc_status, message);
}

void lkv__call_answer_unknown(lkv_call_t *call, const lkv_transport_handler_t *handler, const char *path) {
  char msg[300];
  const char *sm = path[0] == '/' ? path + 1 : path;
  const char *slash = strrchr(sm, '/');
  if (!slash) {
    snprintf(msg, sizeof(msg), "malformed method name: \"%.200s\"", path);
  } else {
    int service_len = (int)(slash - sm);
    if (handler->has_service && handler->has_service(handler->app, sm, (size_t)service_len)) {
      snprintf(msg, sizeof(msg), "unknown method %.120s for service %.*s", slash + 1,
               service_len < 120 ? service_len : 120, sm);
    } else {
      snprintf(msg, sizeof(msg), "unknown service %.*s", service_len < 200 ? service_len : 200, sm);
    }
  }
  lkv__call_answer(call, LKV_GRPC_UNIMPLEMENTED, msg);
}

void lkv__call_detach(lkv_call_t *call) {
  lkv__h2_conn_t *h2 = call->h2;
  if (!live(call)) return;
  if (h2) {
    lkv__flow_detach(call);
    if (call->prev)
      call->prev->next = call->next;
    else
      h2->calls = call->next;
    if (call->next) call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->h2 = NULL;
  } else {
    if (call->h1->call == call) call->h1->call = NULL;
    call->h1 = NULL;
  }
  atomic_store(&call->cancelled, 1);
  drop_output(call);
  notify_cancel(call);
  maybe_free(call);
}

void lkv__call_drain_check(lkv_call_t *call) {
  if (call->drain_armed && lkv_call_pending_bytes(call) <= call->drain_below) {
    call->drain_armed = 0;
    lkv__loop_wake(call->loop); /* through the queue: the taker (nghttp2) is mid-send here */
  }
}

/* n pending bytes were taken for writing: wakes the loop once they fell below an armed drain threshold. */
static void took(lkv_call_t *call, size_t n) {
  atomic_fetch_sub(&call->pending, n);
  if (call->h2) lkv__flow_taken(call, n);
  lkv__call_drain_check(call);
}

size_t lkv__call_take_output(lkv_call_t *call, uint8_t *buf, size_t cap) {
  size_t n = 0;
  while (call->out_head && n < cap) {
    lkv__chunk_t *chunk = call->out_head;
    size_t k = chunk->len - chunk->off;
    if (k > cap - n) k = cap - n;
    memcpy(buf + n, chunk->data + chunk->off, k);
    chunk->off += k;
    n += k;
    if (chunk->off < chunk->len) break;
    call->out_head = (lkv__chunk_t *)chunk->post.next;
    if (!call->out_head) call->out_tail = NULL;
    free(chunk);
  }
  took(call, n);
  return n;
}

lkv__chunk_t *lkv__call_take_message(lkv_call_t *call) {
  lkv__chunk_t *chunk = call->out_head;
  if (!chunk) return NULL;
  call->out_head = (lkv__chunk_t *)chunk->post.next;
  if (!call->out_head) call->out_tail = NULL;
  took(call, chunk->len);
  return chunk;
}

static void apply_send(lkv_call_t *call, lkv__chunk_t *chunk) {
  if (call->answered || !live(call)) {
    drop_chunk(call, chunk);
    return;
  }
  chunk->post.next = NULL;
  if (call->out_tail)
    call->out_tail->post.next = &chunk->post;
  else
    call->out_head = chunk;
  call->out_tail = chunk;
  if (call->h2) lkv__flow_queued(call, chunk->len);
  output(call);
}

/* Takes ownership of message (already percent-encoded). */
static void apply_finish(lkv_call_t *call, int status, char *message) {
  const lkv_transport_handler_t *handler = &call->loop->cfg->handler;
  call->app_finished = 1;
  if (handler->on_finished)
    handler->on_finished(handler->app, call->route, status, lkv_clock_ns(CLOCK_MONOTONIC) - call->started_ns);
  if (!call->answered && live(call)) {
    call->answered = 1;
    call->status = status;
    call->message = message;
    output(call);
  } else {
    free(message);
  }
  maybe_free(call);
}

/* A function lkv_call_run hands to the loop thread, in the same queue as the call's sends. */
typedef struct run_post_s {
  lkv__post_t post;
  lkv_call_run_fn fn;
  void *arg;
} run_post_t;

void lkv__call_apply_post(lkv__post_t *post) {
  lkv_call_t *call = post->call;
  atomic_fetch_sub(&call->posted, 1); /* first: apply_finish may free the call */
  if (post->kind == LKV__POST_SEND) {
    apply_send(call, (lkv__chunk_t *)post);
  } else if (post->kind == LKV__POST_RUN) {
    run_post_t *r = (run_post_t *)post;
    lkv_call_run_fn fn = r->fn;
    void *arg = r->arg;
    free(r);
    fn(call, arg);
  } else {
    char *message = call->finish_message;
    call->finish_message = NULL;
    apply_finish(call, call->finish_status, message);
  }
}

/* The owner thread acts at once unless earlier posts for this call are still queued: then it queues too, so
 * that a call's sends and finish are applied in the order they were made. */
static int act_directly(const lkv_call_t *call) {
  return lkv__loop_is_current(call->loop) && atomic_load(&call->posted) == 0;
}

int lkv_call_send(lkv_call_t *call, const uint8_t *msg, size_t len) {
  if (atomic_load(&call->cancelled)) return LKV_ECANCELED;
  if (len > UINT32_MAX) return LKV_EMSGSIZE;
  lkv__chunk_t *chunk = malloc(sizeof(*chunk) + LKV__GRPC_PREFIX_LEN + len);
  if (!chunk) return LKV_ENOMEM;
  lkv_metric_add(LKV_METRIC(client_grpc_sent), 0, (double)len);
  chunk->len = LKV__GRPC_PREFIX_LEN + len;
  chunk->off = 0;
  lkv__grpc_frame_prefix(chunk->data, (uint32_t)len);
  if (len) memcpy(chunk->data + LKV__GRPC_PREFIX_LEN, msg, len);
  atomic_fetch_add(&call->pending, chunk->len);
  if (act_directly(call)) {
    apply_send(call, chunk);
    return 0;
  }
  chunk->post.kind = LKV__POST_SEND;
  chunk->post.call = call;
  atomic_fetch_add(&call->posted, 1);
  lkv__loop_post(call->loop, &chunk->post);
  return 0;
}

void lkv_call_finish(lkv_call_t *call, int grpc_status, const char *message) {
  char *enc = encode_message(message);
  if (act_directly(call)) {
    apply_finish(call, grpc_status, enc);
    return;
  }
  call->finish_status = grpc_status;
  call->finish_message = enc;
  call->finish_post.kind = LKV__POST_FINISH;
  call->finish_post.call = call;
  atomic_fetch_add(&call->posted, 1);
  lkv__loop_post(call->loop, &call->finish_post);
}

int lkv_call_run(lkv_call_t *call, lkv_call_run_fn fn, void *arg) {
  run_post_t *r = malloc(sizeof(*r));
  if (!r) return LKV_ENOMEM;
  r->post.kind = LKV__POST_RUN;
  r->post.call = call;
  r->fn = fn;
  r->arg = arg;
  /* Always through the queue, even on the loop thread: fn must not run inside its caller. */
  atomic_fetch_add(&call->posted, 1);
  lkv__loop_post(call->loop, &r->post);
  return 0;
}

const char *lkv_call_metadata(const lkv_call_t *call, const char *key) {
  const char *p = call->metadata, *end = p + call->metadata_len;
  while (p && p < end) {
    const char *value = p + strlen(p) + 1;
    if (strcmp(p, key) == 0) return value;
    p = value + strlen(value) + 1;
  }
  return NULL;
}

void lkv_call_set_data(lkv_call_t *call, void *data) {
  call->data = data;
}

void *lkv_call_get_data(const lkv_call_t *call) {
  return call->data;
}

int lkv_call_loop_index(const lkv_call_t *call) {
  return call->loop->index;
}

size_t lkv_call_pending_bytes(const lkv_call_t *call) {
  size_t pending = atomic_load(&call->pending), floor = atomic_load(&call->floor);
  return pending > floor ? pending : floor;
}

void lkv_call_wake_when_drained(lkv_call_t *call, size_t below) {
  if (lkv_call_pending_bytes(call) <= below) {
    call->drain_armed = 0;
    lkv__loop_wake(call->loop);
    return;
  }
  call->drain_armed = 1;
  call->drain_below = below;
}
