/* Back-pressure on HTTP/2 connections: the reply backlog, held request messages, windows given back. */
#include "transport/h2_flow.h"

#include <stdlib.h>
#include <string.h>

#include "transport/deadline.h"

static size_t queued(const lkv_call_t *call) {
  return atomic_load(&call->pending);
}

/* What lkv_call_pending_bytes reports for the calls of a blocked connection: more than any bound a handler
 * would compare with the connection's. */
static void set_floors(lkv__h2_conn_t *h2, size_t floor) {
  for (lkv_call_t *call = h2->calls; call; call = call->next) {
    atomic_store(&call->floor, floor);
    if (!floor) lkv__call_drain_check(call);
  }
}

void lkv__flow_attach(lkv_call_t *call) {
  lkv__h2_conn_t *h2 = call->h2;
  h2->n_streams++;
  if (h2->blocked) atomic_store(&call->floor, h2->cfg->conn_reply_bytes + 1);
}

/* Gives the bytes received for the call back to its stream's window once it holds no message. */
static void settle(lkv_call_t *call) {
  if (call->unconsumed == 0 || (call->held_head && !call->answered)) return;
  nghttp2_session_consume_stream(call->h2->session, call->stream_id, call->unconsumed);
  call->unconsumed = 0;
}

static void drop_held(lkv_call_t *call) {
  while (call->held_head) {
    lkv__held_t *held = call->held_head;
    call->held_head = held->next;
    free(held);
  }
  call->held_tail = NULL;
}

static void unlink_waiting(lkv__h2_conn_t *h2, lkv_call_t *call) {
  if (!call->waiting) return;
  lkv_call_t **pp = &h2->wait_head, *prev = NULL;
  while (*pp != call) {
    prev = *pp;
    pp = &(*pp)->wait_next;
  }
  *pp = call->wait_next;
  if (h2->wait_tail == call) h2->wait_tail = prev;
  call->wait_next = NULL;
  call->waiting = 0;
}

void lkv__flow_detach(lkv_call_t *call) {
  lkv__h2_conn_t *h2 = call->h2;
  size_t left = 0;
  for (lkv__chunk_t *c = call->out_head; c; c = (lkv__chunk_t *)c->post.next) left += c->len - c->off;
  drop_held(call);
  if (left) lkv__flow_taken(call, left); /* the output queue is dropped by the caller */
  unlink_waiting(h2, call);
  call->unconsumed = 0; /* the stream's window goes with it */
  lkv__deadline_stop(call);
  h2->n_streams--;
}

/* Hands one request message to the application, unless its deadline has passed. */
static void run_message(lkv_call_t *call, const uint8_t *msg, size_t len) {
  const lkv_transport_handler_t *handler = &call->h2->cfg->handler;
  if (lkv__deadline_passed(call)) {
    lkv__call_answer(call, LKV_GRPC_DEADLINE_EXCEEDED, LKV__DEADLINE_MESSAGE);
    return;
  }
  call->owned = 1;
  handler->on_message(handler->app, call->route, call, msg, len);
}

void lkv__flow_message(lkv_call_t *call, const uint8_t *msg, size_t len) {
  lkv__h2_conn_t *h2 = call->h2;
  if (!call->held_head && !h2->blocked && queued(call) <= h2->cfg->stream_reply_bytes) {
    run_message(call, msg, len);
    return;
  }
  lkv__held_t *held = malloc(sizeof(*held) + len);
  if (!held) {
    lkv__call_answer(call, LKV_GRPC_RESOURCE_EXHAUSTED, "grpc: out of memory");
    return;
  }
  held->next = NULL;
  held->len = len;
  if (len) memcpy(held->data, msg, len);
  if (call->held_tail)
    call->held_tail->next = held;
  else
    call->held_head = held;
  call->held_tail = held;
  if (call->waiting) return;
  call->waiting = 1;
  call->wait_next = NULL;
  if (h2->wait_tail)
    h2->wait_tail->wait_next = call;
  else
    h2->wait_head = call;
  h2->wait_tail = call;
}

int lkv__flow_half_close(lkv_call_t *call) {
  if (!call->held_head) return 0;
  call->half_close_held = 1;
  return 1;
}

void lkv__flow_received(lkv__h2_conn_t *h2, int32_t stream_id, lkv_call_t *call, size_t len) {
  if (h2->blocked)
    h2->conn_unconsumed += len;
  else
    nghttp2_session_consume_connection(h2->session, len);
  if (!call) {
    nghttp2_session_consume_stream(h2->session, stream_id, len);
    return;
  }
  call->unconsumed += len;
  settle(call);
}

void lkv__flow_queued(lkv_call_t *call, size_t n) {
  lkv__h2_conn_t *h2 = call->h2;
  h2->backlog += n;
  if (h2->blocked || h2->backlog <= h2->cfg->conn_reply_bytes) return;
  h2->blocked = 1;
  set_floors(h2, h2->cfg->conn_reply_bytes + 1);
}

void lkv__flow_taken(lkv_call_t *call, size_t n) {
  lkv__h2_conn_t *h2 = call->h2;
  h2->backlog -= n;
  if (call->held_head && queued(call) <= h2->cfg->stream_reply_bytes / 2) h2->resume_wanted = 1;
  if (!h2->blocked || h2->backlog > h2->cfg->conn_reply_bytes / 2) return;
  h2->blocked = 0;
  set_floors(h2, 0);
  h2->resume_wanted = 1;
  h2->want_flush(h2); /* the resume runs in the next send (this may be a stream's close) */
}

/* Runs the call's held messages while the bounds allow; once none is left, the call leaves the wait list
 * and a half-close that came behind them is handled. */
static void run_held(lkv__h2_conn_t *h2, lkv_call_t *call) {
  size_t half = h2->cfg->stream_reply_bytes / 2;
  while (call->held_head && !call->answered && !h2->blocked && queued(call) <= half) {
    lkv__held_t *held = call->held_head;
    call->held_head = held->next;
    if (!call->held_head) call->held_tail = NULL;
    run_message(call, held->data, held->len);
    free(held);
  }
  if (call->answered) drop_held(call);
  if (call->held_head) return;
  unlink_waiting(h2, call);
  settle(call);
  if (call->half_close_held) {
    call->half_close_held = 0;
    lkv__h2_end_of_stream(h2, call);
  }
}

void lkv__flow_resume(lkv__h2_conn_t *h2) {
  h2->resume_wanted = 0;
  lkv_call_t *next;
  for (lkv_call_t *call = h2->wait_head; call && !h2->blocked; call = next) {
    next = call->wait_next;
    run_held(h2, call);
  }
  if (h2->blocked || !h2->conn_unconsumed) return;
  nghttp2_session_consume_connection(h2->session, h2->conn_unconsumed);
  h2->conn_unconsumed = 0;
}
