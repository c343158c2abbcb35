/* The messages that stream a snapshot (a store copy and the ledger's frontier) to a member: a pure codec. */
#ifndef LKV_REPLICATION_SNAP_CODEC_H
#define LKV_REPLICATION_SNAP_CODEC_H

#include <stddef.h>
#include <stdint.h>

/*
 * A leader sends a member that is new or too far behind its latest checkpoint (a compact copy of the
 * store at applied index C, mvcc.h) instead of the log entries up to C, over the peer connection's
 * snapshot channel:
 *   OFFER  once: transfer id ‖ the file's size ‖ the Raft SNAP message (raft/codec.h, metadata only)
 *          ‖ the ledger's frontier at the copy's ledger length (ledger.h encoding; empty without ledger)
 *   CHUNK  in order: transfer id ‖ offset ‖ bytes (at most LKV_SNAP_CHUNK)
 *   END    transfer id ‖ BLAKE2b-256 of the whole file
 * and the receiver answers
 *   ACK    transfer id ‖ bytes received in order so far ‖ status (LKV_SNAP_*)
 * every LKV_SNAP_WINDOW / 2 bytes and at the end; the sender keeps at most LKV_SNAP_WINDOW bytes
 * unacknowledged, so a slow receiver slows the sender instead of filling the peer queue. The peer
 * transport delivers in order or drops (a broken connection): a gap ends the transfer (status FAILED)
 * and Raft asks for the snapshot again.
 *
 * Layout: u8 version (1) ‖ u8 type ‖ fields, little-endian, lengths as u32.
 */

#define LKV_SNAP_CHUNK (1u << 20)
#define LKV_SNAP_WINDOW (8u << 20)
#define LKV_SNAP_HASH_LEN 32

typedef enum {
  LKV_SNAP_OFFER = 1,
  LKV_SNAP_CHUNK_MSG = 2,
  LKV_SNAP_END = 3,
  LKV_SNAP_ACK = 4
} lkv_snap_type_t;

/* ACK status. */
typedef enum {
  LKV_SNAP_RECEIVING = 0, /* progress */
  LKV_SNAP_RECEIVED = 1,  /* complete and verified, handed to the member's Raft core */
  LKV_SNAP_FAILED = 2     /* the receiver gave up (gap, bad hash, disk error): the sender stops */
} lkv_snap_status_t;

typedef struct lkv_snap_msg_s {
  lkv_snap_type_t type;
  uint64_t id;
  uint64_t size;                             /* OFFER: the file's size */
  uint64_t offset;                           /* CHUNK: where data goes; ACK: bytes received in order */
  int status;                                /* ACK */
  const uint8_t *raft_msg, *frontier, *data; /* point into the decoded buffer */
  size_t raft_msg_len, frontier_len, data_len;
  uint8_t hash[LKV_SNAP_HASH_LEN]; /* END */
} lkv_snap_msg_t;

/* Bytes m needs encoded. */
size_t lkv_snap_msg_size(const lkv_snap_msg_t *m);

/* Encodes m into buf (cap >= lkv_snap_msg_size(m)); returns the length, or 0 when it does not fit. */
size_t lkv_snap_msg_encode(const lkv_snap_msg_t *m, uint8_t *buf, size_t cap);

/* Decodes buf into *m (pointers into buf). Returns 0 or LKV_EBADMSG (short, trailing bytes, unknown
 * version, type or status, a chunk above LKV_SNAP_CHUNK). */
int lkv_snap_msg_decode(const uint8_t *buf, size_t len, lkv_snap_msg_t *m);

#endif
