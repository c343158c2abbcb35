/* The peer transport: opaque messages between cluster members over TCP on the peer port, one libuv thread;
 * the membership query a joining member asks before it starts. */
#ifndef LKV_TRANSPORT_PEER_H
#define LKV_TRANSPORT_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "transport/transport.h" /* lkv_listen_addr_t */

/*
 * What it carries: byte strings (the replicator's encoded Raft messages, snapshot chunks); it never looks
 * inside them. Like etcd's stream transport, each member sends on the connection it dialed: for every peer
 * there is one outgoing TCP connection that carries our messages to it, and incoming connections only
 * receive. Messages to one peer arrive in the order they were sent, or not at all (a broken connection
 * loses what was in flight; Raft tolerates loss and retries itself).
 *
 * Threads: one thread runs a libuv loop for all peer I/O (listening, dialing, reading, writing). send,
 * set_peer, remove_peer and the stats may be called from any thread (they take the net's mutex and wake
 * the loop); every callback runs on the peer thread, never while the net holds its lock, so a callback may
 * call lkv_peer_net_send. Callbacks may run until lkv_peer_net_stop returns, never afterwards.
 *
 * Wire protocol, version LKV_PEER_PROTOCOL_VERSION (all integers little-endian):
 *   hello (dialer -> acceptor, 32 bytes): "lkvpeer" (7 bytes) ‖ u8 version ‖ u64 cluster id ‖ u64 from
 *     (the dialer's member id) ‖ u64 to (the member it means to reach);
 *   reply (acceptor -> dialer, 20 bytes + text): u8 status ‖ u8 the acceptor's version ‖ u16 text length
 *     (<= 1024) ‖ u64 the acceptor's cluster id ‖ u64 its member id ‖ text (a reason, for the logs).
 *     Status 0 OK; 1 cluster id mismatch ("request cluster ID mismatch"); 2 the dialer was removed ("the
 *     member has been permanently removed from the cluster": the dialer calls on_removed and never dials
 *     again); 3 wrong recipient (to is not the acceptor's id); 4 newer version ("unsupported peer protocol
 *     version N"; decided from the first 8 bytes, so a later version may change the rest of its hello);
 *     5 a membership query refused (below); 6 the dialer was removed, with the
 *     removal: as 2, but the text is not a reason: it is the bytes the acceptor attached with
 *     lkv_peer_net_remove_peer_proven (opaque to the net; causal mode: the signed event of the dialer's
 *     removal, docs/causal.md §15a), for a dialer that checks them (on_removal_refused) before it stops.
 *     Raft mode never sends 6 (it never attaches bytes).
 *     The acceptor checks in etcd's order: version, cluster id, removed, recipient. After a refusal the
 *     acceptor closes the connection; the dialer logs the reason once per peer and change of outcome
 *     (not every retry) and keeps retrying, except after "removed" (unless on_removal_refused is set).
 *   frames (dialer -> acceptor, after an OK reply): u32 payload length ‖ payload, at most
 *     LKV_PEER_MAX_FRAME bytes. The acceptor never writes after its reply; the dialer treats any byte it
 *     receives after the reply as a protocol error.
 *   query (lkv_peer_query, from a process that is not a member yet): a hello whose cluster id, from and to
 *     are all 0 (no member has id 0; a member's hello with only one of them 0 stays malformed), same magic
 *     and version byte (a newer version is refused with status 4, as for a member). The acceptor answers
 *     with a reply carrying its cluster id and member id and, when the status is OK, one frame (the
 *     layout above) whose payload is the blob on_query made, at most LKV_PEER_MAX_QUERY_BLOB bytes; then
 *     it closes. Status 5 refuses: "this member does not answer membership queries" (no on_query),
 *     "membership query failed: <why>" (on_query failed, or its blob is above the limit). A query is not
 *     a member's connection: it creates no peer entry, counts in no stats, fires no callback but on_query,
 *     and bytes after its hello are ignored.
 * Anything malformed (bad magic, version 0, member id 0, an oversized frame, a hello that does not arrive
 * within a few seconds) closes that connection alone; other connections go on. A refusal or a query's
 * answer that the other side does not read within those seconds is abandoned the same way.
 *
 * Dialing: a peer's URLs are tried in turn, one per attempt. A host name is resolved (getaddrinfo) on every
 * attempt, since a member's DNS record may move; every address it returns is tried; IPv4 and bracketed
 * IPv6 literals are used as they are. A failed attempt (refused, unreachable, no answer to connect or hello
 * within LKV_PEER_DIAL_TIMEOUT_MS, a refusal) waits a backoff that starts at LKV_PEER_BACKOFF_MIN_MS and
 * doubles up to LKV_PEER_BACKOFF_MAX_MS; a successful hello resets it. Sockets get TCP_NODELAY, keepalive
 * probes after 2 s idle and a 5 s TCP_USER_TIMEOUT: a member whose machine died (no FIN) is noticed within
 * seconds, not after TCP's minutes of retransmissions.
 *
 * Sending is pipelined: every message queued while a write is in flight goes out in the next write, up to
 * 1024 frames in one uv_write (writev), so load costs one system call per batch, not per message. While a
 * peer is unreachable its messages wait in its queue, up to max_queue_bytes of payload; more is refused
 * (LKV_EAGAIN) and counted as dropped. A broken connection drops the frames of the write in flight (they
 * may or may not have arrived; resending could duplicate) and keeps the rest of the queue for the next
 * connection.
 *
 * Memory per peer: its queue (bounded above) and, per incoming connection, one receive buffer that holds
 * one frame at a time: it grows as a large frame's bytes arrive (never ahead of them) and shrinks back to
 * 64 KiB after it. Peer entries are kept until stop (ids of removed members must be remembered anyway).
 *
 * TLS: https:// peer URLs are dialed in TLS (options.tls; without it they are refused, LKV_EINVAL), and
 * the listen addresses marked https:// accept TLS only; every byte goes through a small internal stream
 * layer (peer_io.c), so that the dialing, framing and queueing code is the same either way. The hello
 * deadline bounds a stalled handshake too.
 */

#define LKV_PEER_PROTOCOL_VERSION 1
#define LKV_PEER_MAX_FRAME (1u << 30)                   /* payload bytes in one message (1 GiB) */
#define LKV_PEER_DEFAULT_QUEUE_BYTES ((size_t)64 << 20) /* max_queue_bytes == 0 means this (64 MiB) */
#define LKV_PEER_BACKOFF_MIN_MS 50
#define LKV_PEER_BACKOFF_MAX_MS 1000
#define LKV_PEER_DIAL_TIMEOUT_MS 2000      /* connect, then hello and reply, each within this */
#define LKV_PEER_MAX_QUERY_BLOB (1u << 20) /* bytes of on_query's answer (1 MiB) */
#define LKV_PEER_MAX_PROOF 1024            /* bytes a "removed" refusal carries (the reply's text) */

typedef struct lkv_peer_net_s lkv_peer_net_t;

typedef struct lkv_peer_net_options_s {
  const lkv_listen_addr_t *addrs; /* --listen-peer-urls hosts (numeric) and ports (0 picks a free port); */
  size_t n_addrs;                 /* may be 0: the net then only dials */
  lkv_tls_t *tls;                 /* https:// peers are dialed with it (their certificate must name the host
                                   * dialed) and the addresses marked in listen_tls accept TLS with it; it
                                   * must outlive the net. NULL: https:// peer URLs are refused */
  const int *listen_tls;          /* NULL, or n_addrs flags: addrs[i] accepts TLS (https://); copied */
  uint64_t cluster_id;
  uint64_t member_id;     /* this member; never 0 */
  size_t max_queue_bytes; /* per peer, payload bytes not yet written; 0 = LKV_PEER_DEFAULT_QUEUE_BYTES */
  void *arg;              /* first argument of every callback */
  /* A message from member `from`: the sender's hello carried our cluster id and our member id, and `from`
   * was not removed. data is valid during the call only. Must be quick (copy and hand off): it runs on the
   * peer thread, which reads every connection. Required. */
  void (*on_message)(void *arg, uint64_t from, const uint8_t *data, size_t len);
  /* Our outgoing connection to `peer` came up (up = 1: the hello was accepted) or went down (up = 0: it
   * broke, or the first dial after it was added or went down failed). Called on changes only: a peer that
   * stays unreachable is reported down once, not on every retry. The replicator uses down events for fast
   * failover (raft's report_unreachable, leader lost). May be NULL. */
  void (*on_peer_state)(void *arg, uint64_t peer, int up);
  /* A peer refused our hello because WE were removed from the cluster ("the member has been permanently
   * removed from the cluster"). Called once; from then on the net dials no one and sends fail with
   * LKV_EPERM. May be NULL. */
  void (*on_removed)(void *arg);
  /* When set, a "removed" refusal (status 2 or 6) does not stop the net and on_removed is not called: the
   * refusal goes here instead (by: the refusing member as its hello said; proof: status 6's bytes, valid
   * during the call only, or NULL with len 0 for status 2) and the net keeps dialing that peer with backoff,
   * so the refusal comes again while it lasts: the caller decides whether it is removed (causal mode checks
   * the removal against its own view, docs/causal.md §15a) and stops itself. Must be quick (peer thread).
   * May be NULL (Raft mode: etcd's behaviour). */
  void (*on_removal_refused)(void *arg, uint64_t by, const uint8_t *proof, size_t len);
  /* A membership query arrived (lkv_peer_query: a member being added asks for the cluster id and the
   * members). Sets *blob to a malloc'd answer of *len bytes, at most LKV_PEER_MAX_QUERY_BLOB (*blob may be
   * NULL when *len is 0), and returns 0: the net sends it with our cluster id, then frees it. Returns a
   * negative LKV_E* code to refuse the query ("membership query failed: " and lkv_strerror's text); *blob
   * is then not looked at (the callback frees what it allocated). A blob above the limit is freed and the
   * query refused the same way. Must be quick (the peer thread reads every connection). May be NULL: every
   * query is then refused ("this member does not answer membership queries"). Like every callback it may
   * run as soon as the net listens, before lkv_peer_net_start has returned. */
  int (*on_query)(void *arg, uint8_t **blob, size_t *len);
} lkv_peer_net_options_t;

/* Counters of one peer, as lkv_peer_net_stats reports them. Message and byte counts are payload only. */
typedef struct lkv_peer_stats_s {
  uint64_t id;
  int connected;        /* our outgoing connection to it is up (hello accepted) */
  uint64_t up_since_ms; /* CLOCK_MONOTONIC ms at which that connection came up; 0 while it is down (etcd's
                         * ActiveSince: the health check before membership changes counts from it) */
  int removed;          /* lkv_peer_net_remove_peer was called for it */
  uint64_t msgs_sent;   /* handed to the kernel on our connection */
  uint64_t bytes_sent;
  uint64_t writes;        /* write calls on our connection: one per batch of frames, so far fewer than msgs */
  uint64_t msgs_received; /* delivered to on_message from it */
  uint64_t bytes_received;
  uint64_t msgs_dropped;  /* refused with LKV_EAGAIN, lost in a broken write, or discarded by removal */
  uint64_t queued_bytes;  /* accepted by send, not yet written */
  uint64_t dials;         /* connection attempts (one URL each) */
  uint64_t dial_failures; /* attempts that ended without an accepted hello */
} lkv_peer_stats_t;

/* Binds every address (SO_REUSEADDR, so a restarted member gets its port back), starts the peer thread
 * and returns once it listens. opts is copied (addrs need not outlive the call).
 * Returns 0 and sets *out; LKV_EINVAL (member_id 0, on_message NULL, a host that is not a numeric address,
 * a port outside 0..65535, addrs NULL with n_addrs > 0); a negative errno from bind/listen (e.g.
 * -EADDRINUSE); LKV_ENOMEM. On failure nothing is left running and *out is untouched. */
int lkv_peer_net_start(lkv_peer_net_t **out, const lkv_peer_net_options_t *opts);

/* The port bound for opts.addrs[i] (useful with port 0), or -1 when i is out of range. Any thread. */
int lkv_peer_net_bound_port(const lkv_peer_net_t *n, size_t i);

/* Adds peer id with its peer URLs, or replaces the URLs of a known peer (the new ones are used from the
 * next dial; a working connection is kept). Each URL is "http://host:port" with host a DNS name, an IPv4
 * literal or a bracketed IPv6 literal ("http://[::1]:2380"), no path; the strings are copied. A new peer is
 * dialed at once. Any thread.
 * Returns 0; LKV_EINVAL for id 0 or our own id, n_urls == 0, a malformed URL, or an https:// URL (TLS on
 * peers arrives with issue 13: refused rather than sent in clear text to a member that expects TLS);
 * LKV_EPERM when id was removed (ids are never reused); LKV_ESTOPPED once stop has begun; LKV_ENOMEM. */
int lkv_peer_net_set_peer(lkv_peer_net_t *n, uint64_t id, const char *const *urls, size_t n_urls);

/* Forgets peer id (a removed member) and refuses it from now on: its queued messages are discarded, our
 * connection to it and its connections to us are closed, and its future hellos get the "removed" refusal,
 * which makes ITS on_removed fire. Also works for an id never added. Any thread.
 * Returns 0, LKV_EINVAL for id 0 or our own id, LKV_ESTOPPED once stop has begun. */
int lkv_peer_net_remove_peer(lkv_peer_net_t *n, uint64_t id);

/* As lkv_peer_net_remove_peer, and id's refusals carry proof (len bytes, 1..LKV_PEER_MAX_PROOF, copied;
 * status 6) instead of the reason (status 2); NULL / 0: the reason. Returns as remove_peer, and LKV_EINVAL
 * for len above LKV_PEER_MAX_PROOF. */
int lkv_peer_net_remove_peer_proven(lkv_peer_net_t *n, uint64_t id, const uint8_t *proof, size_t len);

/* Queues a copy of data (len bytes, len <= LKV_PEER_MAX_FRAME) for peer `to`. Any thread; never blocks.
 * Returns 0; LKV_ENOENT (not a known peer: never set, or removed); LKV_EAGAIN (the peer's queue would
 * exceed max_queue_bytes: the message is dropped and counted; so a message larger than max_queue_bytes is
 * never accepted, and snapshot chunks must be smaller); LKV_EMSGSIZE (len too large); LKV_EPERM
 * (this member was removed, see on_removed); LKV_ESTOPPED (stop has begun); LKV_ENOMEM. */
int lkv_peer_net_send(lkv_peer_net_t *n, uint64_t to, const uint8_t *data, size_t len);

/* Fills *out with peer id's counters. Peers that only dialed us (never set) have entries too.
 * Returns 0 or LKV_ENOENT. Any thread. */
int lkv_peer_net_stats(lkv_peer_net_t *n, uint64_t id, lkv_peer_stats_t *out);

/* Fills out[0..cap) with the counters of every peer entry (in no particular order) and returns how many
 * entries there are (which may exceed cap). Any thread. */
size_t lkv_peer_net_stats_all(lkv_peer_net_t *n, lkv_peer_stats_t *out, size_t cap);

/* Asks a running member for the cluster id and its on_query answer (the member list), before this process
 * runs a net: what a member added with `etcdctl member add` needs at start-up with
 * --initial-cluster-state existing, since it can compute neither the cluster id nor its own member id
 * (MemberAdd hashed the time into it). Like etcd's GetClusterFromRemotePeers, urls[0..n_urls) (the peer
 * URLs of the other members in --initial-cluster, each "http://host:port" as lkv_peer_net_set_peer takes
 * them) are tried in turn and the first answer wins. A host name is resolved (getaddrinfo, which
 * timeout_ms does not bound) and up to 8 of its addresses are tried in turn; IPv4 and bracketed IPv6
 * literals are used as they are; an https:// URL is queried in TLS with tls (the member's certificate must
 * name the host, as when dialing members), or skipped as unsupported when tls is NULL; a malformed one is
 * skipped as invalid. Each address gets timeout_ms (0: LKV_PEER_DIAL_TIMEOUT_MS) for connecting, the TLS
 * handshake, sending the query and receiving the whole answer. Blocking, on the caller's thread, with
 * plain sockets (no libuv, no net needed); it keeps no state, so any thread may call it.
 * Returns 0 with *cluster_id (the answering member's), *blob (malloc'd, never NULL even when *len is 0;
 * the caller frees it) and *len. LKV_EIO when no URL answered: err then holds "could not retrieve cluster
 * information from the given URLs" (etcd's words) and, in parentheses, what each URL gave, separated by
 * "; " (e.g. "http://10.0.0.2:2380: Connection refused", "http://10.0.0.3:2380: refused: this member does
 * not answer membership queries", "https://10.0.0.4:2380: TLS handshake failed (see the log line)",
 * "http://m1:2380: 10.0.0.5: no answer in time, 10.0.0.6: Connection refused" for a name
 * with two addresses). LKV_EINVAL for urls NULL, n_urls 0 or a NULL output pointer; LKV_ENOMEM. On failure
 * *cluster_id, *blob and *len are untouched. err (errlen bytes, always NUL-terminated, cut to fit; may be
 * NULL with errlen 0) is written on failure only. */
int lkv_peer_query(const char *const *urls, size_t n_urls, unsigned timeout_ms, lkv_tls_t *tls,
                   uint64_t *cluster_id, uint8_t **blob, size_t *len, char *err, size_t errlen);

/* Closes every connection and listener, discards queued messages, joins the peer thread and frees n. A
 * host name being resolved at that moment is waited for (getaddrinfo cannot be interrupted). No callback
 * runs after it returns. Call from a thread other than the peer thread (not from a callback), once. */
void lkv_peer_net_stop(lkv_peer_net_t *n);

#endif
