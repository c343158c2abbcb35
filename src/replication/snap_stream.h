/* Streaming a snapshot file to a member and receiving one (snap_codec.h's messages), on threads of their
 * own and the peer transport's. */
#ifndef LKV_REPLICATION_SNAP_STREAM_H
#define LKV_REPLICATION_SNAP_STREAM_H

#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "replication/snap_codec.h"

/* Queues an encoded message for member `to` on the snapshot channel; LKV_EAGAIN when its queue is full
 * (the sender waits and tries again). Must not block. */
typedef int (*lkv_snap_send_fn)(void *arg, uint64_t to, const uint8_t *msg, size_t len);

/* ---- sending (snap_send.c) ---- */

/* One transfer to one member, on a thread of its own: OFFER, the file's chunks within the window the
 * receiver's ACKs open, END; then it waits for the final ACK. A transfer that makes no progress for
 * LKV_SNAP_STALL_MS fails. When it ends, done(arg, to, ok) runs on its thread (the caller reaps it with
 * lkv_snap_sender_free after that). */
#define LKV_SNAP_STALL_MS 10000

typedef struct lkv_snap_sender_s lkv_snap_sender_t;

typedef struct lkv_snap_sender_options_s {
  uint64_t to;
  const char *path;        /* the file to send (opened at start: it may be unlinked afterwards) */
  const uint8_t *raft_msg; /* the encoded Raft SNAP message (copied) */
  size_t raft_msg_len;
  const uint8_t *frontier; /* the ledger frontier's encoding (copied; may be empty) */
  size_t frontier_len;
  lkv_snap_send_fn send;
  void *send_arg;
  void (*done)(void *arg, uint64_t to, int ok);
  void *arg; /* done's */
} lkv_snap_sender_options_t;

/* Starts a transfer. Returns 0, a negated errno (the file) or LKV_ENOMEM. */
int lkv_snap_sender_start(lkv_snap_sender_t **out, const lkv_snap_sender_options_t *o);

/* The receiver's ACK for this transfer (ignored when its id is another transfer's). Any thread. */
void lkv_snap_sender_ack(lkv_snap_sender_t *s, const lkv_snap_msg_t *ack);

/* Ends the transfer if it still runs (done runs with ok 0), joins its thread and frees s. Not from done. */
void lkv_snap_sender_free(lkv_snap_sender_t *s);

/* ---- receiving (snap_recv.c) ---- */

/* A complete, verified snapshot, handed to the caller (it owns the strings and the file). */
typedef struct lkv_snap_received_s {
  uint64_t from;
  char path[PATH_MAX];
  uint8_t *raft_msg, *frontier;
  size_t raft_msg_len, frontier_len;
} lkv_snap_received_t;

/* One transfer at a time into dir (a newer OFFER replaces an unfinished one). Messages are given in the
 * order they arrive; ACKs go out through send. Not thread-safe: one thread feeds it. */
typedef struct lkv_snap_receiver_s {
  char dir[PATH_MAX];
  lkv_snap_send_fn send;
  void *send_arg;
  uint64_t max_size; /* an OFFER of a larger file is refused (0: any size; the caller sets it after init) */
  int fd; /* -1: no transfer */
  uint64_t from, id, size, got, acked;
  crypto_generichash_state hash;
  uint8_t *raft_msg, *frontier;
  size_t raft_msg_len, frontier_len;
} lkv_snap_receiver_t;

/* Sets r up to receive into dir (created when missing; leftovers of earlier runs are removed). Returns 0
 * or a negated errno. */
int lkv_snap_receiver_init(lkv_snap_receiver_t *r, const char *dir, lkv_snap_send_fn send, void *arg);

/* Feeds message m from member `from`. Returns 1 and fills *out when m completed a verified transfer
 * (the file is flushed), LKV_ETOOLARGE when m is an OFFER above max_size (refused), else 0. Failures are
 * answered to the sender (status FAILED) and end the transfer. */
int lkv_snap_receiver_feed(lkv_snap_receiver_t *r, uint64_t from, const lkv_snap_msg_t *m,
                           lkv_snap_received_t *out);

/* Abandons an unfinished transfer (its file removed). */
void lkv_snap_receiver_close(lkv_snap_receiver_t *r);

/* Frees what a received snapshot holds (not the file). */
void lkv_snap_received_free(lkv_snap_received_t *s);

#endif
