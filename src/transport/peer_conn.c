/* Outgoing peer connections: the hello and its reply, backoff, batched writes, and what the net asks. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "transport/peer_internal.h"

/* What the last log line about a peer said: one line per change of outcome, not per retry. */
enum { LOG_UP = 0, LOG_UNREACHABLE = 1, LOG_LOST = 2, LOG_PROTO = 3, LOG_REFUSED = 10 /* + status */ };

static void conn_log(lkv__peer_t *p, int what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void conn_log(lkv__peer_t *p, int what, const char *fmt, ...) {
  if (p->last_logged == what) return;
  p->last_logged = what;
  char text[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  fprintf(stderr, "ledgerkv: peer: member %" PRIx64 " (%s:%u): %s\n", p->id, p->cur.host,
          (unsigned)p->cur.port, text);
}

static void count(lkv__peer_t *p, uint64_t *counter) {
  uv_mutex_lock(&p->net->mu);
  (*counter)++;
  uv_mutex_unlock(&p->net->mu);
}

static void set_connected(lkv__peer_t *p, int up) {
  uv_mutex_lock(&p->net->mu);
  p->st.connected = up;
  p->st.up_since_ms = up ? lkv_clock_ms(CLOCK_MONOTONIC) : 0;
  uv_mutex_unlock(&p->net->mu);
}

static void on_timer(uv_timer_t *t);

/* ---- closing, failing, backing off ---- */

static void schedule_backoff(lkv__peer_t *p) {
  p->state = LKV__OUT_BACKOFF;
  uv_timer_start(&p->timer, on_timer, p->backoff_ms, 0);
  p->backoff_ms = p->backoff_ms * 2 > LKV_PEER_BACKOFF_MAX_MS ? LKV_PEER_BACKOFF_MAX_MS : p->backoff_ms * 2;
}

void lkv__peer_close_io(lkv__peer_t *p, lkv__peer_after_t after) {
  p->state = LKV__OUT_CLOSING;
  p->after_close = after;
  uv_timer_stop(&p->timer);
  lkv__peer_io_close(&p->io);
}

/* An attempt ended without an accepted hello. The log line was written by the caller (its reason). */
static void attempt_failed(lkv__peer_t *p) {
  count(p, &p->st.dial_failures);
  lkv__peer_report(p, 0);
}

void lkv__peer_dial_failed(lkv__peer_t *p, int err) {
  conn_log(p, LOG_UNREACHABLE, "unreachable (%s); retrying with backoff", uv_strerror(err));
  attempt_failed(p);
  schedule_backoff(p);
}

/* The hello stage failed (refused, timed out, malformed reply, connection closed). */
static void hello_failed(lkv__peer_t *p) {
  attempt_failed(p);
  lkv__peer_close_io(p, LKV__AFTER_BACKOFF);
}

/* Drops the frames of the write in flight: they may or may not have arrived, and resending could deliver
 * a message twice or out of order. */
static void drop_inflight(lkv__peer_t *p, int written) {
  if (!p->inflight.head) return;
  uv_mutex_lock(&p->net->mu);
  p->queued_bytes -= p->inflight_bytes;
  if (written) {
    p->st.msgs_sent += p->inflight.n;
    p->st.bytes_sent += p->inflight_bytes;
  } else {
    p->st.msgs_dropped += p->inflight.n;
  }
  uv_mutex_unlock(&p->net->mu);
  lkv__peer_msgq_free(&p->inflight);
  p->inflight_bytes = 0;
}

/* An established connection broke (error, end of stream, or bytes the acceptor must not send). */
static void broken(lkv__peer_t *p, const char *why) {
  conn_log(p, LOG_LOST, "connection lost (%s); reconnecting", why);
  set_connected(p, 0);
  lkv__peer_report(p, 0);
  lkv__peer_close_io(p, LKV__AFTER_BACKOFF);
}

/* ---- writing ---- */

static void flush(lkv__peer_t *p) {
  if (p->state != LKV__OUT_UP || p->io.writing) return;
  lkv__peer_msgq_t *q = &p->inflight;
  size_t k = 0;
  uv_mutex_lock(&p->net->mu);
  while (p->sq.head && k < LKV__PEER_MAX_BATCH) {
    lkv__peer_msg_t *m = p->sq.head;
    p->sq.head = m->next;
    p->sq.n--;
    m->next = NULL;
    if (q->tail)
      q->tail->next = m;
    else
      q->head = m;
    q->tail = m;
    q->n++;
    p->inflight_bytes += m->len;
    p->bufs[k++] = uv_buf_init((char *)m->frame, (unsigned)(LKV__PEER_FRAME_HEAD + m->len));
  }
  if (!p->sq.head) p->sq.tail = NULL;
  if (k) p->st.writes++;
  uv_mutex_unlock(&p->net->mu);
  if (k == 0) return;
  int rv = lkv__peer_io_write(&p->io, p->bufs, (unsigned)k);
  if (rv != 0) {
    drop_inflight(p, 0);
    broken(p, uv_strerror(rv));
  }
}

/* ---- the io callbacks ---- */

static void on_written(lkv__peer_io_t *io, int status) {
  lkv__peer_t *p = io->owner;
  if (p->state == LKV__OUT_HELLO) {
    if (status < 0) {
      conn_log(p, LOG_UNREACHABLE, "hello not sent (%s); retrying with backoff", uv_strerror(status));
      hello_failed(p);
    }
    return;
  }
  drop_inflight(p, status == 0);
  if (p->state != LKV__OUT_UP) return; /* closing: the write was cancelled */
  if (status < 0) {
    broken(p, uv_strerror(status));
    return;
  }
  flush(p);
}

static void on_alloc(lkv__peer_io_t *io, uv_buf_t *buf) {
  lkv__peer_t *p = io->owner;
  /* Waiting for the reply: append to it. Once up, nothing may arrive; read a little to notice it. */
  size_t used = p->state == LKV__OUT_HELLO ? p->reply_len : 0;
  *buf = uv_buf_init((char *)p->reply + used, (unsigned)(sizeof(p->reply) - used));
}

static void connected(lkv__peer_t *p) {
  uv_timer_stop(&p->timer);
  p->state = LKV__OUT_UP;
  p->backoff_ms = LKV_PEER_BACKOFF_MIN_MS;
  set_connected(p, 1);
  /* Say so only after a failure was logged, so a quiet start stays quiet. */
  if (p->last_logged > LOG_UP) conn_log(p, LOG_UP, "connected");
  p->last_logged = LOG_UP;
  lkv__peer_report(p, 1);
  flush(p);
}

static void we_were_removed(lkv__peer_t *p) {
  lkv_peer_net_t *n = p->net;
  uv_mutex_lock(&n->mu);
  int first = !n->self_removed;
  n->self_removed = 1;
  lkv__peer_t *head = n->peers;
  uv_mutex_unlock(&n->mu);
  attempt_failed(p);
  for (lkv__peer_t *q = head; q; q = q->next) lkv__peer_conn_kill(q);
  if (first && !n->loop_stopping && n->opts.on_removed) n->opts.on_removed(n->opts.arg);
}

static void on_reply(lkv__peer_t *p) {
  lkv_peer_net_t *n = p->net;
  lkv__peer_reply_t r;
  size_t used;
  int rv = lkv__peer_reply_decode(p->reply, p->reply_len, &r, &used);
  if (rv == LKV_EAGAIN) {
    if (p->reply_len < sizeof(p->reply)) return;
    rv = LKV_EPROTO; /* cannot happen: a whole reply fits */
  }
  if (rv != 0 || used != p->reply_len ||
      (r.status == LKV__PEER_OK && (r.member_id != p->id || r.cluster_id != n->opts.cluster_id))) {
    conn_log(p, LOG_PROTO, "not a ledgerkv peer reply; retrying with backoff");
    hello_failed(p);
    return;
  }
  int text_len = (int)r.text_len; /* <= LKV__PEER_REPLY_MAX_TEXT */
  int proven = r.status == LKV__PEER_REMOVED_PROOF;
  switch (r.status) {
    case LKV__PEER_OK:
      connected(p);
      return;
    case LKV__PEER_REMOVED:
    case LKV__PEER_REMOVED_PROOF:
      if (proven)
        conn_log(p, LOG_REFUSED + r.status,
                 "refused us: the member has been permanently removed from the cluster (with the removal)");
      else
        conn_log(p, LOG_REFUSED + r.status, "refused us: %.*s", text_len, r.text);
      if (!n->opts.on_removal_refused) { /* etcd's words: this member is gone for good; the server stops */
        we_were_removed(p);
        return;
      }
      /* The caller checks the removal; we keep dialing meanwhile (its verdict may change). */
      n->opts.on_removal_refused(n->opts.arg, p->id, proven ? (const uint8_t *)r.text : NULL,
                                 proven ? r.text_len : 0);
      break;
    case LKV__PEER_CLUSTER_MISMATCH:
      conn_log(p, LOG_REFUSED + r.status,
               "request sent was ignored (cluster ID mismatch: peer[%" PRIx64 "]=%" PRIx64 ", local=%" PRIx64
               ")",
               p->id, r.cluster_id, n->opts.cluster_id);
      break;
    default: /* wrong recipient, unsupported version: the peer says why */
      conn_log(p, LOG_REFUSED + r.status, "refused us: %.*s", text_len, r.text);
      break;
  }
  hello_failed(p);
}

static void on_read(lkv__peer_io_t *io, ssize_t nread) {
  lkv__peer_t *p = io->owner;
  if (p->state == LKV__OUT_HELLO) {
    if (nread < 0) {
      conn_log(p, LOG_UNREACHABLE, "closed before its reply (%s); retrying with backoff",
               uv_strerror((int)nread));
      hello_failed(p);
      return;
    }
    p->reply_len += (size_t)nread;
    on_reply(p);
  } else if (p->state == LKV__OUT_UP) {
    /* The acceptor never writes after its reply: bytes are a protocol error, EOF means it went away. */
    broken(p, nread < 0 ? uv_strerror((int)nread) : "unexpected bytes from the acceptor");
  }
}

static void on_open(lkv__peer_io_t *io, int status) {
  lkv__peer_t *p = io->owner;
  if (p->state != LKV__OUT_CONNECTING) return; /* cancelled by a close */
  if (status < 0) {
    p->last_err = status;
    lkv__peer_close_io(p, LKV__AFTER_NEXT_ADDR);
    return;
  }
  lkv__peer_hello_t h = {.version = LKV_PEER_PROTOCOL_VERSION,
                         .cluster_id = p->net->opts.cluster_id,
                         .from = p->net->opts.member_id,
                         .to = p->id};
  lkv__peer_hello_encode(&h, p->hello);
  p->reply_len = 0;
  uv_buf_t b = uv_buf_init((char *)p->hello, sizeof(p->hello));
  int rv = lkv__peer_io_read_start(&p->io);
  if (rv == 0) rv = lkv__peer_io_write(&p->io, &b, 1);
  if (rv != 0) {
    conn_log(p, LOG_UNREACHABLE, "hello not sent (%s); retrying with backoff", uv_strerror(rv));
    hello_failed(p);
    return;
  }
  p->state = LKV__OUT_HELLO;
  lkv__peer_conn_arm(p);
}

static void on_closed(lkv__peer_io_t *io) {
  lkv__peer_t *p = io->owner;
  drop_inflight(p, 0);
  if (p->state != LKV__OUT_CLOSING) return; /* killed meanwhile */
  if (p->after_close == LKV__AFTER_NEXT_ADDR)
    lkv__peer_connect_next(p);
  else if (p->after_close == LKV__AFTER_BACKOFF)
    schedule_backoff(p);
}

static void on_timer(uv_timer_t *t) {
  lkv__peer_t *p = t->data;
  switch (p->state) {
    case LKV__OUT_BACKOFF:
      lkv__peer_dial(p);
      break;
    case LKV__OUT_CONNECTING:
      p->last_err = UV_ETIMEDOUT;
      lkv__peer_close_io(p, LKV__AFTER_NEXT_ADDR);
      break;
    case LKV__OUT_HELLO:
      conn_log(p, LOG_UNREACHABLE, "no reply to our hello; retrying with backoff");
      hello_failed(p);
      break;
    default:
      break;
  }
}

/* ---- what dialing (peer_dial.c) and the rest of the net call ---- */

int lkv__peer_conn_io_init(lkv__peer_t *p) {
  int rv = lkv__peer_io_init(&p->net->loop, &p->io);
  if (rv != 0) return rv;
  p->io.owner = p;
  p->io.on_open = on_open;
  p->io.on_alloc = on_alloc;
  p->io.on_read = on_read;
  p->io.on_written = on_written;
  p->io.on_closed = on_closed;
  return 0;
}

void lkv__peer_conn_arm(lkv__peer_t *p) {
  uv_timer_start(&p->timer, on_timer, LKV_PEER_DIAL_TIMEOUT_MS, 0);
}

void lkv__peer_conn_poke(lkv__peer_t *p) {
  lkv_peer_net_t *n = p->net;
  if (n->loop_stopping) return;
  if (!p->timer_init) {
    uv_timer_init(&n->loop, &p->timer);
    p->timer.data = p;
    p->timer_init = 1;
  }
  uv_mutex_lock(&n->mu);
  int removed = p->removed, self_removed = n->self_removed;
  lkv__peer_url_t *urls = p->new_urls;
  size_t n_urls = p->n_new_urls;
  p->new_urls = NULL;
  uv_mutex_unlock(&n->mu);
  if (urls) {
    free(p->urls);
    p->urls = urls;
    p->n_urls = n_urls;
    p->url_next = 0;
  }
  if (removed) {
    if (!p->loop_removed) {
      p->loop_removed = 1;
      lkv__peer_conn_kill(p);
      lkv__peer_accept_close_from(n, p);
    }
    return;
  }
  if (self_removed) return;
  if (p->state == LKV__OUT_IDLE && p->n_urls > 0)
    lkv__peer_dial(p);
  else if (p->state == LKV__OUT_UP)
    flush(p);
}

void lkv__peer_conn_kill(lkv__peer_t *p) {
  if (p->state == LKV__OUT_DEAD) return;
  int was_up = p->state == LKV__OUT_UP;
  p->state = LKV__OUT_DEAD;
  p->after_close = LKV__AFTER_NOTHING;
  if (p->timer_init) uv_timer_stop(&p->timer);
  if (p->gai_pending) uv_cancel((uv_req_t *)&p->gai); /* fails if already running: on_resolved frees */
  lkv__peer_io_close(&p->io);
  if (was_up) {
    set_connected(p, 0);
    lkv__peer_report(p, 0);
  }
}

void lkv__peer_conn_stop(lkv__peer_t *p) {
  lkv__peer_conn_kill(p);
  if (p->timer_init) uv_close((uv_handle_t *)&p->timer, NULL);
  p->timer_init = 0;
}

void lkv__peer_conn_free(lkv__peer_t *p) {
  free(p->urls);
  free(p->new_urls);
  lkv__peer_msgq_free(&p->sq);
  lkv__peer_msgq_free(&p->inflight);
}
