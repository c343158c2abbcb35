/* The peer transport's internal state: the net, its peer entries, incoming connections; shared by peer_*.c.
 */
#ifndef LKV_TRANSPORT_PEER_INTERNAL_H
#define LKV_TRANSPORT_PEER_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "transport/peer.h"
#include "transport/peer_frame.h"
#include "transport/peer_io.h"

/* One queued message: the frame prefix and the payload in one allocation, so it is one iovec. */
typedef struct lkv__peer_msg_s {
  struct lkv__peer_msg_s *next;
  size_t len; /* payload bytes; frame holds LKV__PEER_FRAME_HEAD + len */
  uint8_t frame[];
} lkv__peer_msg_t;

typedef struct {
  lkv__peer_msg_t *head, *tail;
  size_t n;
} lkv__peer_msgq_t;

/* The outgoing side of a peer, loop thread only. */
typedef enum {
  LKV__OUT_IDLE = 0,  /* no URLs yet, or stopped */
  LKV__OUT_RESOLVING, /* getaddrinfo in the thread pool */
  LKV__OUT_CONNECTING,
  LKV__OUT_HELLO, /* hello written, waiting for the reply */
  LKV__OUT_UP,
  LKV__OUT_CLOSING, /* io closing; after_close says what next */
  LKV__OUT_BACKOFF,
  LKV__OUT_DEAD /* removed (by us), or we were removed, or the net stops: never dialed again */
} lkv__peer_out_state_t;

typedef enum { LKV__AFTER_NOTHING = 0, LKV__AFTER_NEXT_ADDR, LKV__AFTER_BACKOFF } lkv__peer_after_t;

#define LKV__PEER_MAX_BATCH 1024       /* frames per write */
#define LKV__PEER_RBUF_SIZE (64 << 10) /* a receive buffer's resting size */

typedef struct lkv__peer_s lkv__peer_t;
struct lkv__peer_s {
  lkv_peer_net_t *net;
  lkv__peer_t *next; /* in net->peers; set once under the lock, then never changes */
  uint64_t id;

  /* ---- guarded by net->mu ---- */
  int known;                 /* set_peer was called and the peer was not removed since */
  int removed;               /* remove_peer was called */
  uint8_t proof[LKV_PEER_MAX_PROOF]; /* remove_peer_proven's bytes for its refusals */
  size_t proof_len;                  /* 0: refused with the reason alone */
  lkv__peer_url_t *new_urls; /* set_peer's URLs, not yet taken by the loop (NULL: none) */
  size_t n_new_urls;
  lkv__peer_msgq_t sq; /* accepted by send, not yet taken by the loop */
  size_t queued_bytes; /* payload in sq and in the write in flight */
  lkv_peer_stats_t st; /* counters (id, connected, removed and queued_bytes filled on read) */

  /* ---- loop thread only ---- */
  lkv__peer_out_state_t state;
  lkv__peer_after_t after_close;
  int loop_removed; /* the loop has acted on removal */
  lkv__peer_url_t *urls;
  size_t n_urls, url_next;
  uv_timer_t timer; /* backoff, or the dial timeout while connecting or waiting for the reply */
  int timer_init;
  unsigned backoff_ms;
  uv_getaddrinfo_t gai;
  int gai_pending;
  struct sockaddr_storage addrs[LKV__PEER_MAX_ADDRS];
  size_t n_addrs, addr_next;
  lkv__peer_url_t cur; /* the URL of this attempt (a copy: set_peer may replace urls meanwhile) */
  int last_err;        /* the last connect error of this attempt, for the log */
  lkv__peer_io_t io;
  uint8_t hello[LKV__PEER_HELLO_SIZE];
  uint8_t reply[LKV__PEER_REPLY_HEAD + LKV__PEER_REPLY_MAX_TEXT];
  size_t reply_len;
  lkv__peer_msgq_t inflight; /* frames of the write in flight */
  size_t inflight_bytes;     /* their payload */
  uv_buf_t bufs[LKV__PEER_MAX_BATCH];
  int reported;    /* the last on_peer_state given: -1 none yet, 0 down, 1 up */
  int last_logged; /* the last dial outcome logged (rate limit): -1 none, 0 up, else a code */
};

/* An incoming connection, loop thread only. */
typedef struct lkv__peer_in_s lkv__peer_in_t;
struct lkv__peer_in_s {
  lkv__peer_io_t io;
  lkv_peer_net_t *net;
  lkv__peer_in_t *prev, *next;
  uint64_t accepted_ms; /* uv_now at accept: hello deadline */
  int got_hello;        /* hello accepted: frames follow */
  int closing;          /* refused or broken: no more reads are parsed */
  lkv__peer_t *peer;    /* the sender's entry once the hello was accepted */
  uint8_t reply[LKV__PEER_REPLY_HEAD + LKV__PEER_REPLY_MAX_TEXT];
  uint8_t answer_head[LKV__PEER_FRAME_HEAD]; /* a query's answer: the frame prefix of answer */
  uint8_t *answer;                           /* on_query's blob while it is written; freed on close */
  uint8_t *rbuf;
  size_t rcap, rlen;
  size_t want; /* bytes the frame at rbuf's start needs in all (grows the buffer up to it) */
};

/* A refusal the acceptor logged recently (log once per sender and reason, not every retry). */
#define LKV__PEER_LOG_RING 16

struct lkv_peer_net_s {
  lkv_peer_net_options_t opts; /* addrs cleared: not kept */
  size_t max_queue_bytes;

  uv_loop_t loop;
  uv_thread_t thread;
  uv_async_t async;
  uv_timer_t tick; /* closes incoming connections whose hello is late */
  uv_tcp_t *listeners;
  int *ports;
  int *listen_tls; /* per listener: accepts TLS with opts.tls */
  size_t n_listeners;

  uv_mutex_t mu;
  int stopping;       /* under mu: stop has begun */
  int self_removed;   /* under mu: a peer told us we were removed */
  lkv__peer_t *peers; /* under mu for insertion; entries live until stop */
  size_t n_peers;

  /* loop thread only */
  int loop_stopping;
  lkv__peer_in_t *ins;
  struct {
    uint64_t from;
    int status;
  } logged[LKV__PEER_LOG_RING];
  size_t logged_next;
};

/* ---- peer.c ---- */
/* Finds id's entry, creating it when create is set. Caller holds net->mu. NULL: not found, or no memory. */
lkv__peer_t *lkv__peer_find(lkv_peer_net_t *n, uint64_t id, int create);
/* Frees every message of q. */
void lkv__peer_msgq_free(lkv__peer_msgq_t *q);
/* Reports our connection to p as up or down through on_peer_state, on changes only. Loop thread. */
void lkv__peer_report(lkv__peer_t *p, int up);

/* ---- peer_conn.c (outgoing) ---- */
/* Acts on what other threads asked for p: new URLs (dial a new peer), removal, queued messages. */
void lkv__peer_conn_poke(lkv__peer_t *p);
/* Closes p's connection and stops dialing it for good (removal, or our own removal). */
void lkv__peer_conn_kill(lkv__peer_t *p);
/* conn_kill, and closes p's timer: the net stops. */
void lkv__peer_conn_stop(lkv__peer_t *p);
/* Frees p's URLs and messages once the loop has ended (its handles are closed by then). */
void lkv__peer_conn_free(lkv__peer_t *p);

/* Initialises p->io with the outgoing connection's callbacks. Returns 0 or a negative errno. */
int lkv__peer_conn_io_init(lkv__peer_t *p);
/* Starts the dial timeout (connect, or hello and reply). */
void lkv__peer_conn_arm(lkv__peer_t *p);
/* Closes p's connection; after says what follows once it is closed. */
void lkv__peer_close_io(lkv__peer_t *p, lkv__peer_after_t after);
/* Every address of the attempt failed (or the name did not resolve): logs once, reports down, backs off. */
void lkv__peer_dial_failed(lkv__peer_t *p, int err);

/* ---- peer_dial.c ---- */
/* Starts the next attempt: the next URL, resolved unless it is a literal. Nothing to dial: state IDLE. */
void lkv__peer_dial(lkv__peer_t *p);
/* Connects to the attempt's next address; when none is left the attempt has failed. */
void lkv__peer_connect_next(lkv__peer_t *p);

/* ---- peer_accept.c (incoming) ---- */
/* uv_listen's connection callback for the net's listeners. */
void lkv__peer_accept_cb(uv_stream_t *server, int status);
/* Closes the incoming connections from peer (all of them when peer is NULL). */
void lkv__peer_accept_close_from(lkv_peer_net_t *n, const lkv__peer_t *peer);
/* Closes incoming connections whose hello is overdue. */
void lkv__peer_accept_reap(lkv_peer_net_t *n);

#endif
