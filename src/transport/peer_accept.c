/* Incoming peer connections: the hello and its checks, the reply, then reading frames into on_message;
 * membership queries answered from on_query. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/peer_internal.h"

#define HELLO_DEADLINE_MS 5000 /* a connection without an accepted hello by then is closed */
#define LOG_GARBAGE 100        /* "status" of a connection that was not a peer at all, for the log ring */

/* ---- logging (the acceptor's side of a refusal: once per sender and reason while it keeps retrying) ---- */

static void describe_remote(lkv__peer_in_t *in, char *out, size_t cap) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (uv_tcp_getpeername(&in->io.tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET) {
      uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
  }
  snprintf(out, cap, "%s:%d", host, port);
}

static int should_log(lkv_peer_net_t *n, uint64_t from, int status) {
  for (size_t i = 0; i < LKV__PEER_LOG_RING; i++)
    if (n->logged[i].from == from && n->logged[i].status == status) return 0;
  n->logged[n->logged_next].from = from;
  n->logged[n->logged_next].status = status;
  n->logged_next = (n->logged_next + 1) % LKV__PEER_LOG_RING;
  return 1;
}

/* ---- closing ---- */

static void on_closed(lkv__peer_io_t *io) {
  lkv__peer_in_t *in = io->owner;
  lkv_peer_net_t *n = in->net;
  if (in->prev)
    in->prev->next = in->next;
  else
    n->ins = in->next;
  if (in->next) in->next->prev = in->prev;
  free(in->answer);
  free(in->rbuf);
  free(in);
}

static void close_in(lkv__peer_in_t *in) {
  in->closing = 1;
  lkv__peer_io_close(&in->io);
}

void lkv__peer_accept_close_from(lkv_peer_net_t *n, const lkv__peer_t *peer) {
  /* Closing only unlinks in on_closed, later: the walk stays valid. */
  for (lkv__peer_in_t *in = n->ins; in; in = in->next)
    if (!peer || in->peer == peer) close_in(in);
}

void lkv__peer_accept_reap(lkv_peer_net_t *n) {
  uint64_t now = uv_now(&n->loop);
  /* Includes refusals and query answers still being written: a client that does not read them must not
   * hold a connection (and a query's blob) until stop. Closing twice is harmless. */
  for (lkv__peer_in_t *in = n->ins; in; in = in->next)
    if (!in->got_hello && now - in->accepted_ms > HELLO_DEADLINE_MS) close_in(in);
}

/* ---- the reply ---- */

static void on_written(lkv__peer_io_t *io, int status) {
  lkv__peer_in_t *in = io->owner;
  /* A refusal closes once it is out; an OK that could not be written leaves nothing to read. */
  if (in->closing || status < 0) close_in(in);
}

/* Writes the reply (text: text_len bytes, at most LKV__PEER_REPLY_MAX_TEXT are sent); a refusal then closes
 * the connection (on_written). */
static void reply_bytes(lkv__peer_in_t *in, lkv__peer_status_t status, const char *text, size_t text_len) {
  lkv_peer_net_t *n = in->net;
  lkv__peer_reply_t r = {
      (uint8_t)status, LKV_PEER_PROTOCOL_VERSION, n->opts.cluster_id, n->opts.member_id, text, text_len};
  if (r.text_len > LKV__PEER_REPLY_MAX_TEXT) r.text_len = LKV__PEER_REPLY_MAX_TEXT;
  size_t len = lkv__peer_reply_encode(&r, in->reply, sizeof(in->reply));
  if (status != LKV__PEER_OK) in->closing = 1;
  uv_buf_t b = uv_buf_init((char *)in->reply, (unsigned)len);
  if (lkv__peer_io_write(&in->io, &b, 1) != 0) close_in(in);
}

static void reply(lkv__peer_in_t *in, lkv__peer_status_t status, const char *text) {
  reply_bytes(in, status, text, text ? strlen(text) : 0);
}

_Static_assert(LKV_PEER_MAX_PROOF <= LKV__PEER_REPLY_MAX_TEXT, "a removal refusal's proof is its text");

/* Checks a complete hello in etcd's order (version was checked by the decoder; then cluster id, removed,
 * recipient). Returns 1 when the sender is accepted. */
static int check_hello(lkv__peer_in_t *in, const lkv__peer_hello_t *h) {
  lkv_peer_net_t *n = in->net;
  char remote[INET6_ADDRSTRLEN + 16], text[200];
  describe_remote(in, remote, sizeof(remote));
  if (h->cluster_id != n->opts.cluster_id) {
    if (should_log(n, h->from, LKV__PEER_CLUSTER_MISMATCH))
      fprintf(stderr,
              "ledgerkv: peer: request cluster ID mismatch (got %" PRIx64 " want %" PRIx64
              ") from member %" PRIx64 " at %s\n",
              h->cluster_id, n->opts.cluster_id, h->from, remote);
    reply(in, LKV__PEER_CLUSTER_MISMATCH, "request cluster ID mismatch");
    return 0;
  }
  uv_mutex_lock(&n->mu);
  lkv__peer_t *p = lkv__peer_find(n, h->from, 0);
  int removed = p && p->removed;
  uint8_t proof[LKV_PEER_MAX_PROOF];
  size_t proof_len = removed ? p->proof_len : 0;
  if (proof_len) memcpy(proof, p->proof, proof_len);
  uv_mutex_unlock(&n->mu);
  if (removed) {
    if (should_log(n, h->from, LKV__PEER_REMOVED))
      fprintf(stderr, "ledgerkv: peer: refused the connection of removed member %" PRIx64 " at %s%s\n",
              h->from, remote, proof_len ? " (with its removal)" : "");
    if (proof_len)
      reply_bytes(in, LKV__PEER_REMOVED_PROOF, (const char *)proof, proof_len);
    else
      reply(in, LKV__PEER_REMOVED, "the member has been permanently removed from the cluster");
    return 0;
  }
  if (h->to != n->opts.member_id || h->from == n->opts.member_id) {
    snprintf(text, sizeof(text),
             "to field mismatch: this is member %" PRIx64 ", not %" PRIx64 " (from %" PRIx64 ")",
             n->opts.member_id, h->to, h->from);
    if (should_log(n, h->from, LKV__PEER_WRONG_RECIPIENT))
      fprintf(stderr, "ledgerkv: peer: refused a connection from %s: %s\n", remote, text);
    reply(in, LKV__PEER_WRONG_RECIPIENT, text);
    return 0;
  }
  /* A sender we were never told about is accepted (its member may have joined in a configuration we have
   * not applied yet); it gets an entry for its counters. */
  uv_mutex_lock(&n->mu);
  p = lkv__peer_find(n, h->from, 1);
  uv_mutex_unlock(&n->mu);
  if (!p) {
    close_in(in);
    return 0;
  }
  in->peer = p;
  return 1;
}

/* ---- membership queries (lkv_peer_query: a process that is not a member yet) ---- */

static void refuse_query(lkv__peer_in_t *in, const char *text) {
  lkv_peer_net_t *n = in->net;
  if (should_log(n, 0, LKV__PEER_QUERY_REFUSED)) {
    char remote[INET6_ADDRSTRLEN + 16];
    describe_remote(in, remote, sizeof(remote));
    fprintf(stderr, "ledgerkv: peer: refused a membership query from %s: %s\n", remote, text);
  }
  reply(in, LKV__PEER_QUERY_REFUSED, text);
}

/* Answers a query hello: an OK reply and on_query's blob as one frame, then the connection closes. No peer
 * entry, counters or on_peer_state: the querier is not a member. */
static void answer_query(lkv__peer_in_t *in) {
  lkv_peer_net_t *n = in->net;
  char text[120];
  if (!n->opts.on_query) {
    refuse_query(in, "this member does not answer membership queries");
    return;
  }
  uint8_t *blob = NULL;
  size_t len = 0;
  int rv = n->opts.on_query(n->opts.arg, &blob, &len);
  if (rv == 0 && (len > LKV_PEER_MAX_QUERY_BLOB || (!blob && len))) {
    snprintf(text, sizeof(text), "membership query failed: answer of %zu bytes (limit %u)", len,
             (unsigned)LKV_PEER_MAX_QUERY_BLOB);
    free(blob);
    refuse_query(in, text);
    return;
  }
  if (rv != 0) {
    snprintf(text, sizeof(text), "membership query failed: %s", lkv_strerror(rv));
    refuse_query(in, text);
    return;
  }
  in->answer = blob; /* freed when the connection is */
  lkv__peer_reply_t r = {
      LKV__PEER_OK, LKV_PEER_PROTOCOL_VERSION, n->opts.cluster_id, n->opts.member_id, NULL, 0};
  size_t head = lkv__peer_reply_encode(&r, in->reply, sizeof(in->reply));
  lkv__peer_frame_head((uint32_t)len, in->answer_head);
  uv_buf_t b[3] = {uv_buf_init((char *)in->reply, (unsigned)head),
                   uv_buf_init((char *)in->answer_head, sizeof(in->answer_head)),
                   uv_buf_init((char *)blob, (unsigned)len)};
  in->closing = 1; /* on_written closes once the answer is out */
  if (lkv__peer_io_write(&in->io, b, len ? 3 : 2) != 0) close_in(in);
}

/* ---- reading ---- */

static void on_alloc(lkv__peer_io_t *io, uv_buf_t *buf) {
  lkv__peer_in_t *in = io->owner;
  if (in->rlen == in->rcap && in->want > in->rcap) {
    /* A large frame is arriving: grow with its bytes (doubling, capped at its size), never ahead of them,
     * so an announced length alone costs nothing. */
    size_t cap = in->rcap * 2 < in->want ? in->rcap * 2 : in->want;
    uint8_t *b = realloc(in->rbuf, cap);
    if (b) {
      in->rbuf = b;
      in->rcap = cap;
    }
  }
  /* A zero-length buffer (no memory) makes libuv report UV_ENOBUFS: the connection closes. */
  *buf = uv_buf_init((char *)in->rbuf + in->rlen, (unsigned)(in->rcap - in->rlen));
}

/* Delivers every complete frame at the start of rbuf; returns the bytes consumed, or -1 to close. */
static ssize_t deliver(lkv__peer_in_t *in, size_t off) {
  lkv_peer_net_t *n = in->net;
  lkv__peer_t *p = in->peer;
  uv_mutex_lock(&n->mu);
  int removed = p->removed;
  uv_mutex_unlock(&n->mu);
  if (removed) return -1; /* remove_peer was called; the loop closes us soon anyway */
  uint64_t msgs = 0, bytes = 0;
  ssize_t rv = (ssize_t)off;
  for (;;) {
    const uint8_t *payload;
    size_t plen, used;
    int r = lkv__peer_frame_next(in->rbuf + off, in->rlen - off, LKV_PEER_MAX_FRAME, &payload, &plen, &used);
    if (r == LKV_EAGAIN) {
      in->want = used;
      break;
    }
    if (r != 0) {
      fprintf(stderr, "ledgerkv: peer: member %" PRIx64 " sent a frame above the %u-byte limit; closing\n",
              p->id, (unsigned)LKV_PEER_MAX_FRAME);
      rv = -1;
      break;
    }
    n->opts.on_message(n->opts.arg, p->id, payload, plen);
    msgs++;
    bytes += plen;
    off += used;
    rv = (ssize_t)off;
  }
  if (msgs) {
    uv_mutex_lock(&n->mu);
    p->st.msgs_received += msgs;
    p->st.bytes_received += bytes;
    uv_mutex_unlock(&n->mu);
  }
  return rv;
}

static void on_read(lkv__peer_io_t *io, ssize_t nread) {
  lkv__peer_in_t *in = io->owner;
  lkv_peer_net_t *n = in->net;
  if (in->closing) return;
  if (nread < 0) {
    close_in(in);
    return;
  }
  in->rlen += (size_t)nread;
  size_t off = 0;
  if (!in->got_hello) {
    lkv__peer_hello_t h;
    int rv = lkv__peer_hello_decode(in->rbuf, in->rlen, &h);
    if (rv == LKV_EAGAIN) return;
    if (rv == LKV_EUNSUPPORTED) {
      char text[80];
      snprintf(text, sizeof(text), "unsupported peer protocol version %u", (unsigned)h.version);
      if (should_log(n, 0, LKV__PEER_UNSUPPORTED_VERSION))
        fprintf(stderr, "ledgerkv: peer: refused: %s\n", text);
      reply(in, LKV__PEER_UNSUPPORTED_VERSION, text);
      return;
    }
    if (rv == 0 && h.query) {
      answer_query(in);
      return;
    }
    if (rv != 0) {
      char remote[INET6_ADDRSTRLEN + 16];
      describe_remote(in, remote, sizeof(remote));
      if (should_log(n, 0, LOG_GARBAGE))
        fprintf(stderr, "ledgerkv: peer: closed a connection from %s: not a ledgerkv peer hello\n", remote);
      close_in(in);
      return;
    }
    if (!check_hello(in, &h)) return;
    in->got_hello = 1;
    /* The newest connection from a member wins: an older one is half-dead (the member restarted). */
    for (lkv__peer_in_t *o = n->ins; o; o = o->next)
      if (o != in && o->peer == in->peer) close_in(o);
    reply(in, LKV__PEER_OK, NULL);
    if (in->closing) return;
    off = LKV__PEER_HELLO_SIZE;
  }
  ssize_t used = deliver(in, off);
  if (used < 0) {
    close_in(in);
    return;
  }
  in->rlen -= (size_t)used;
  if (in->rlen) memmove(in->rbuf, in->rbuf + used, in->rlen);
  /* Back to the resting size after a large frame, unless the next one is large too. */
  if (in->rcap > LKV__PEER_RBUF_SIZE && in->rlen <= LKV__PEER_RBUF_SIZE && in->want <= LKV__PEER_RBUF_SIZE) {
    uint8_t *b = realloc(in->rbuf, LKV__PEER_RBUF_SIZE);
    if (b) {
      in->rbuf = b;
      in->rcap = LKV__PEER_RBUF_SIZE;
    }
  }
}

/* ---- accepting ---- */

void lkv__peer_accept_cb(uv_stream_t *server, int status) {
  lkv_peer_net_t *n = server->data;
  if (status < 0 || n->loop_stopping) return;
  lkv__peer_in_t *in = calloc(1, sizeof(*in));
  uint8_t *rbuf = malloc(LKV__PEER_RBUF_SIZE);
  /* Without memory the connection stays in the backlog and libuv pauses this listener until an accept:
   * rare enough that the next connection's retry is the recovery. */
  if (!in || !rbuf || lkv__peer_io_init(&n->loop, &in->io) != 0) {
    free(in);
    free(rbuf);
    return;
  }
  in->net = n;
  in->rbuf = rbuf;
  in->rcap = LKV__PEER_RBUF_SIZE;
  in->want = LKV__PEER_FRAME_HEAD;
  in->accepted_ms = uv_now(&n->loop);
  in->io.owner = in;
  in->io.on_alloc = on_alloc;
  in->io.on_read = on_read;
  in->io.on_written = on_written;
  in->io.on_closed = on_closed;
  in->next = n->ins;
  if (n->ins) n->ins->prev = in;
  n->ins = in;
  int tls = n->listen_tls[(uv_tcp_t *)server - n->listeners];
  if ((tls && lkv__peer_io_use_tls(&in->io, n->opts.tls, NULL) != 0) ||
      lkv__peer_io_accept(server, &in->io) != 0 || lkv__peer_io_read_start(&in->io) != 0)
    close_in(in);
}
