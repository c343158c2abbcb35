/* The payload of a ledgerkv Raft log entry: one write request with who proposed it (pure codec). */
#ifndef LKV_REPLICATION_RAFT_ENTRY_H
#define LKV_REPLICATION_RAFT_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "apply/apply.h"

/*
 * Layout (little-endian): version (u8, 1) ‖ kind (u8, lkv_op_kind_t) ‖ flags (u8; 0x1: no claims, a
 * request the server made itself) ‖ origin member id (u64) ‖ origin sequence (u64) ‖ the request's
 * protobuf bytes as the client sent them (the ledger's claims cover exactly these, on every member).
 * (origin, seq) lets the proposing member find its waiting client when the entry is applied; other
 * members ignore it. Nothing else member-specific enters the log.
 * With flag 0x2 (auth), the request is preceded by who asked, as etcd's RequestHeader carries it: the
 * auth revision the request was checked at (u64) ‖ the user name ‖ NUL; every member checks the request
 * against them when applying it.
 */

#define LKV_RAFT_ENTRY_HEADER 19

/* The kind of an entry that is not a request for the state machine: a member publishes its attributes
 * (cluster/attrs.h encoding in the request bytes; origin names the member). */
#define LKV_RAFT_ENTRY_ATTRS 64
/* MemberUpdate: the request bytes are the member's id (u64) ‖ its new attributes (peer URLs). */
#define LKV_RAFT_ENTRY_PEER_URLS 65
#define LKV_RAFT_ENTRY_NO_CLAIMS 0x1u
#define LKV_RAFT_ENTRY_AUTH 0x2u

typedef struct lkv_raft_entry_payload_s {
  lkv_op_kind_t kind;
  unsigned flags;
  uint64_t origin;
  uint64_t seq;
  const uint8_t *request; /* points into the decoded buffer */
  size_t request_len;
  lkv_apply_auth_t auth; /* with LKV_RAFT_ENTRY_AUTH: encoded from (user copied), decoded into (user points
                          * into the decoded buffer, NUL-terminated); else zero */
} lkv_raft_entry_payload_t;

/* Encodes p into a malloc'd buffer (*out, *out_len); p->auth is written when p->flags has
 * LKV_RAFT_ENTRY_AUTH (its user must not be NULL). Returns 0 or LKV_ENOMEM. */
int lkv_raft_entry_encode(const lkv_raft_entry_payload_t *p, uint8_t **out, size_t *out_len);

/* Decodes buf; p->request (and p->auth.user) point into buf. Returns 0 or LKV_EBADMSG (short, unknown
 * version or kind, unknown flags, an auth part without its NUL). kind is an lkv_op_kind_t, LKV_RAFT_ENTRY_ATTRS or LKV_RAFT_ENTRY_PEER_URLS. */
int lkv_raft_entry_decode(const uint8_t *buf, size_t len, lkv_raft_entry_payload_t *p);

/* The protobuf descriptor of kind's request message, or NULL for an unknown kind. */
const ProtobufCMessageDescriptor *lkv_raft_entry_descriptor(lkv_op_kind_t kind);

#endif
