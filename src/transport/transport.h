/* gRPC server transport: HTTP/2 in cleartext (h2c) or TLS on libuv loops, one loop per worker thread. */
#ifndef LKV_TRANSPORT_TRANSPORT_H
#define LKV_TRANSPORT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "transport/tls.h"

/*
 * The transport knows HTTP/2 and gRPC framing, nothing about etcd. It accepts connections on every
 * listen address with N event-loop threads (SO_REUSEPORT: the kernel spreads connections over the loops),
 * turns each HTTP/2 stream into a *call*, and hands complete request messages to the application through
 * lkv_transport_handler_t. The application answers with lkv_call_send / lkv_call_finish, from any thread.
 *
 * Threading: a call belongs to the loop thread that accepted its connection. Handler callbacks run on that
 * thread. Work started there should finish there (run to completion); only work that must be serialised
 * (writes) leaves the thread, and its answer comes back through lkv_call_send / lkv_call_finish.
 *
 * Call lifetime: the handler first sees a call in on_message (for unary and streaming routes alike) and from
 * then on must call lkv_call_finish exactly once, even after on_cancel; the transport frees the call after
 * both the stream has closed and finish was called. Until then the pointer stays valid. Calls the
 * application never saw are answered by the transport alone: a client stream that half-closes before its
 * first message gets OK, and so do protocol errors (below).
 *
 * Answers the transport gives by itself (grpc-go's choices where it has one):
 *   - content-type not application/grpc[+subtype|;params]: HTTP 415, grpc-status INTERNAL;
 *     a method other than POST: HTTP 405, grpc-status INTERNAL;
 *   - unknown :path (lookup returned NULL): UNIMPLEMENTED (Trailers-Only) with grpc-go's words,
 *     "unknown service S", or "unknown method M for service S" when has_service(S) says S is served,
 *     or "malformed method name: \"<path>\"" for a path without a service part;
 *   - a request message above max_recv_msg_bytes: RESOURCE_EXHAUSTED with grpc-go's words, "grpc: received
 *     message larger than max (N vs. M)", as soon as its 5-byte
 *     prefix arrives; the rest of the stream is ignored and reset (RST_STREAM NO_ERROR) after the trailers;
 *   - unary route with zero messages at END_STREAM, or a second message: INTERNAL; a stream cut inside a
 *     message, a compressed message (no compression is negotiated): INTERNAL.
 * When such an answer hits a call the application holds, it receives on_cancel and still finishes it.
 *
 * Responses: the first lkv_call_send sends HEADERS (:status 200, content-type application/grpc), messages
 * go out as DATA within the client's flow-control windows, and lkv_call_finish adds the trailers
 * (grpc-status, grpc-message). A call finished before any send gets a single Trailers-Only HEADERS frame.
 *
 * Back-pressure (HTTP/2): replies wait in memory only as long as the client does not read them, so queued
 * reply bytes are bounded per stream and per connection (options). A request message that arrives while
 * its stream or its connection is over its bound is held (in arrival order, with the stream's half-close)
 * and handed to on_message once half of the backlog has gone out; meanwhile the bytes it came in are not
 * given back to the client's flow-control windows, so what a client can make us hold is bounded too.
 * Control frames and the streams' queued replies keep flowing. lkv_call_pending_bytes reports a congested
 * connection to streaming handlers (watch) so that they stop feeding it as well.
 *
 * Deadlines: a request with grpc-timeout is answered DEADLINE_EXCEEDED ("context deadline exceeded", as a
 * grpc-go client reports it) and not handed to on_message when its deadline has passed by its turn; a call
 * still open when its deadline passes gets that answer too (on_cancel for a call the application holds).
 */

typedef struct lkv_transport_s lkv_transport_t;
typedef struct lkv_call_s lkv_call_t;
struct lkv_http_exchange_s; /* exchange.h */

/* gRPC status codes (grpc/doc/statuscodes.md). */
typedef enum {
  LKV_GRPC_OK = 0,
  LKV_GRPC_CANCELLED = 1,
  LKV_GRPC_UNKNOWN = 2,
  LKV_GRPC_INVALID_ARGUMENT = 3,
  LKV_GRPC_DEADLINE_EXCEEDED = 4,
  LKV_GRPC_NOT_FOUND = 5,
  LKV_GRPC_ALREADY_EXISTS = 6,
  LKV_GRPC_PERMISSION_DENIED = 7,
  LKV_GRPC_RESOURCE_EXHAUSTED = 8,
  LKV_GRPC_FAILED_PRECONDITION = 9,
  LKV_GRPC_ABORTED = 10,
  LKV_GRPC_OUT_OF_RANGE = 11,
  LKV_GRPC_UNIMPLEMENTED = 12,
  LKV_GRPC_INTERNAL = 13,
  LKV_GRPC_UNAVAILABLE = 14,
  LKV_GRPC_DATA_LOSS = 15,
  LKV_GRPC_UNAUTHENTICATED = 16
} lkv_grpc_status_t;

/* What the application plugs into the transport. All callbacks run on the call's loop thread. */
typedef struct lkv_transport_handler_s {
  void *app; /* passed back as the first argument of every callback */
  /* Resolves a gRPC method path ("/etcdserverpb.KV/Range", not NUL-terminated). Returns an opaque route
   * that the transport passes back, or NULL: the transport then answers UNIMPLEMENTED itself.
   * Sets *client_streaming to 1 when the client may send many messages (Watch, LeaseKeepAlive); for
   * unary routes the transport enforces exactly one request message. */
  const void *(*lookup)(void *app, const char *path, size_t path_len, int *client_streaming);
  /* One complete request message (without the 5-byte gRPC prefix). data is valid only during the call. */
  void (*on_message)(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len);
  /* Streaming routes only: the client half-closed its side (no more messages). May be NULL. */
  void (*on_half_close)(void *app, const void *route, lkv_call_t *call);
  /* The stream ended before lkv_call_finish (client RST_STREAM, connection lost, transport stop, or an answer
   * the transport gave itself, see above). Further sends are dropped; the handler must still call
   * lkv_call_finish once (it may do so from inside this callback). May be NULL for applications whose calls
   * always finish on their own. */
  void (*on_cancel)(void *app, const void *route, lkv_call_t *call);
  /* Only used to word the answer to an unknown path: returns 1 when the service ("etcdserverpb.KV", not
   * NUL-terminated) has other methods here. May be NULL: every unknown path is then an unknown service. */
  int (*has_service)(void *app, const char *service, size_t service_len);
  /* The application finished a call it had received, with this status (lkv_call_finish's, even when the
   * stream was gone by then), elapsed_ns after the request's headers arrived: for the application's call
   * counters and handling times. Runs on the call's loop thread. May be NULL. */
  void (*on_finished)(void *app, const void *route, int grpc_status, uint64_t elapsed_ns);
  /* Runs on loop loop_index after lkv_transport_wake(t, loop_index): at least once after each wake, wakes
   * made before it started running coalesce into one call. Lets other threads hand a loop work that is not
   * tied to one call (a watch hub's new revisions). May be NULL (wakes are then ignored). */
  void (*on_wake)(void *app, int loop_index);
  /* Runs on every loop every lkv_transport_options_t.tick_ms milliseconds until the transport begins to
   * stop (periodic work: retries, progress notifications). May be NULL. */
  void (*on_tick)(void *app, int loop_index);
  /* Request metadata the application reads with lkv_call_metadata: lower-case header names, NULL-terminated
   * array (it must outlive the transport). Other headers are not kept. May be NULL (none). */
  const char *const *metadata_keys;
  /* A complete HTTP/1.1 request on a client port (exchange.h), answered before it returns. May be NULL:
   * connections that do not open with HTTP/2's preface are then dropped. */
  void (*on_http)(void *http_app, struct lkv_http_exchange_s *x);
  void *http_app; /* on_http's first argument */
} lkv_transport_handler_t;

typedef struct lkv_listen_addr_s {
  const char *host; /* numeric IPv4 or IPv6 address, e.g. "127.0.0.1" */
  int port;         /* 0 picks a free port; see lkv_transport_bound_port */
} lkv_listen_addr_t;

/* A gate that every loop thread passes before each round of work (one non-blocking pass of its event loop:
 * everything that is ready is read, handled, answered and flushed) and leaves after it. With it, the
 * application decides how many loop threads run at once (src/pool/gate.h) while each round still runs to
 * completion on its thread. enter may block; its result is handed to leave. */
typedef struct lkv_transport_gate_s {
  void *arg;
  int (*enter)(void *arg);
  void (*leave)(void *arg, int entered);
} lkv_transport_gate_t;

/* Server keepalive and the client ping policy, grpc-go's keepalive.ServerParameters and EnforcementPolicy
 * (PermitWithoutStream false). 0 turns each part off. */
typedef struct lkv_transport_keepalive_s {
  uint64_t interval_ms; /* a connection that sent nothing for this long gets a PING... */
  uint64_t timeout_ms;  /* ...and is closed if it still sent nothing this long after (both > 0 to ping) */
  uint64_t min_time_ms; /* a client PING sooner than this after its previous one, while it has streams (2 h
                         * without), is a strike unless we sent HEADERS or DATA since; the third strike is
                         * answered GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and the connection closed */
} lkv_transport_keepalive_t;

typedef struct lkv_transport_options_s {
  const lkv_listen_addr_t *addrs;
  size_t n_addrs;
  lkv_tls_t *const *tls; /* NULL: every address cleartext HTTP/2; else n_addrs entries: addrs[i] speaks TLS
                          * (ALPN h2) with tls[i] unless it is NULL. The contexts must outlive the
                          * transport; the array is not retained */
  int n_loops;           /* worker loop threads, >= 1 */
  size_t max_recv_msg_bytes;           /* > 0; larger request messages are refused (gRPC's receive limit) */
  unsigned tick_ms;                    /* period of handler->on_tick; 0 = no ticks */
  lkv_transport_gate_t gate;           /* optional (enter == NULL: loops run freely); copied */
  uint32_t max_concurrent_streams;     /* advertised in SETTINGS (nghttp2 refuses streams beyond it with
                                        * REFUSED_STREAM); 0 advertises none, as grpc-go */
  size_t stream_reply_bytes;           /* reply bytes queued on one HTTP/2 stream above which its further
                                        * request messages wait until half of them are sent; 0: the default */
  size_t conn_reply_bytes;             /* the same for a connection's streams together: above it, none of its
                                        * requests runs (the client's reads decide); 0: the default */
  lkv_transport_keepalive_t keepalive; /* zeroed: no server pings, client pings not policed */
} lkv_transport_options_t;

/* Defaults of the reply bounds: a stream's is the watch hub's high-water mark; a connection's is the
 * receive window we give clients (about what a fast client has in flight). */
#define LKV_TRANSPORT_STREAM_REPLY_BYTES ((size_t)1 << 20)
#define LKV_TRANSPORT_CONN_REPLY_BYTES ((size_t)16 << 20)

/* Binds every address, starts the loop threads and returns once all are listening.
 * Returns 0 and sets *out, or a negative LKV_E* code (e.g. -EADDRINUSE from bind, LKV_EINVAL for missing
 * options or callbacks, n_loops < 1, no address, max_recv_msg_bytes == 0, or a host that is not a numeric
 * address); on failure nothing is left running and *out is untouched. The handler struct is copied; opts need
 * not outlive the call. handler->lookup and on_message are required. */
int lkv_transport_start(lkv_transport_t **out, const lkv_transport_options_t *opts,
                        const lkv_transport_handler_t *handler);

/* The port actually bound for opts->addrs[i] (useful with port 0), or -1 if i is out of range. */
int lkv_transport_bound_port(const lkv_transport_t *t, size_t i);

/* Graceful stop, in this order:
 *   1. stops accepting and sends GOAWAY on every connection (streams already started still run);
 *   2. ends client-streaming calls at once (UNAVAILABLE "server is shutting down", on_cancel): they would
 *      otherwise never end on their own;
 *   3. waits up to grace_ms for the other calls to finish and for their answers to be written (connections
 *      close as soon as they are drained);
 *   4. then closes the remaining connections (on_cancel for calls still open);
 *   5. returns once the application has called lkv_call_finish for every call it holds, so whatever
 *      finishes calls (another thread's queue, a committer) must keep running until this returns.
 * Joins the threads and frees t. Call from a thread that is not a loop thread. */
void lkv_transport_stop(lkv_transport_t *t, int grace_ms);

/* Asks loop loop_index to run handler->on_wake soon (coalesced, see there). Any thread, including the loop's
 * own; cheap when a wake is already pending. Must not be called once lkv_transport_stop has begun (the
 * loops are freed when it returns): callers on other threads guard it with their own lock or flag.
 * Returns 0, or LKV_EINVAL when loop_index is out of range. */
int lkv_transport_wake(lkv_transport_t *t, int loop_index);

/* Queues one response message on the call's stream. Any thread; msg is copied. On the loop thread it is
 * queued at once; from another thread it is handed to the loop, and a call's sends and finish are applied in
 * the order they were made (as long as the application itself orders them). Returns 0, LKV_ECANCELED when
 * the stream is already gone or answered by the transport (the message is dropped; the caller must still
 * finish), LKV_EMSGSIZE when len does not fit gRPC's 32-bit length, or LKV_ENOMEM. */
int lkv_call_send(lkv_call_t *call, const uint8_t *msg, size_t len);

/* Ends the call with a gRPC status and optional message (NULL for none; percent-encoded by the transport).
 * Any thread; exactly once per call; the call must not be used afterwards. Queued messages are written
 * before the trailers. A call that sent no message gets a Trailers-Only answer. Cannot fail: without
 * memory for the message text, the status goes out alone. */
void lkv_call_finish(lkv_call_t *call, int grpc_status, const char *message);

/* Per-call application pointer (e.g. a watch stream's state). Loop thread only. */
void lkv_call_set_data(lkv_call_t *call, void *data);
void *lkv_call_get_data(const lkv_call_t *call);

/* The value of request header `key` (one of handler.metadata_keys; the first one if it was sent several
 * times), NUL-terminated, or NULL when the client did not send it. Valid until the call is finished. Any
 * thread that may use the call. */
const char *lkv_call_metadata(const lkv_call_t *call, const char *key);

/* Runs fn(call, arg) once on the call's loop thread, after every send and finish the application made on the
 * call before (from any thread, in the order of lkv_call_send). Lets another thread hand a stream's state
 * back to the thread that owns it (a streaming handler may then finish the call there, ordered with its
 * other callbacks). The call must not be finished yet; fn runs even if the stream has gone away meanwhile
 * (the call stays valid until it is finished). Any thread. Returns 0, or LKV_ENOMEM (fn will not run). */
typedef void (*lkv_call_run_fn)(lkv_call_t *call, void *arg);
int lkv_call_run(lkv_call_t *call, lkv_call_run_fn fn, void *arg);

/* Index of the loop thread that owns the call, in [0, n_loops): lets handlers keep per-thread state
 * (read transactions, scratch buffers) without locks. */
int lkv_call_loop_index(const lkv_call_t *call);

/* Who is calling, for per-client rules (rate limits). Loop thread, while the call's stream is live (inside
 * on_message); the strings belong to the connection: use them before the callback returns.
 * lkv_call_peer_address: the client's numeric IP address, without port ("127.0.0.2", "::1"; an IPv4-mapped
 * IPv6 address in its IPv4 form), or NULL when unknown. lkv_call_peer_cn: the subject CN of the TLS client
 * certificate the connection presented and the server verified (--client-cert-auth), or NULL. */
const char *lkv_call_peer_address(lkv_call_t *call);
const char *lkv_call_peer_cn(lkv_call_t *call);

/* Answers the call now with grpc_status and message (plain text, NULL for none), as the transport's own
 * answers are given (see above): further sends are dropped, and the application is told through on_cancel
 * (it must still finish the call: for a stream whose handler keeps state, which must end it). Messages the
 * client sends after it are not delivered. Loop thread; no-op when the call is already answered. */
void lkv_call_abort(lkv_call_t *call, int grpc_status, const char *message);

/* Bytes (gRPC prefixes included) given to lkv_call_send and not yet taken by HTTP/2 framing, which writes
 * them to the socket within the same loop iteration unless the client's flow-control window is closed; the
 * measure of a slow reader, for back-pressure on streams. While the call's connection is over its reply
 * bound (see Back-pressure above), at least that bound plus one: the whole connection is slow. Any thread.
 * Dropped messages stop counting. */
size_t lkv_call_pending_bytes(const lkv_call_t *call);

/* One-shot drain notice for back-pressure: once the call's pending bytes (as lkv_call_pending_bytes counts
 * them) fall to `below` or less as HTTP/2 takes them, the call's loop runs handler->on_wake (at once if they
 * already have). A later call replaces
 * the threshold. Loop thread only. */
void lkv_call_wake_when_drained(lkv_call_t *call, size_t below);

#endif
