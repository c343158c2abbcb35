/* Internal to src/api: handler signature, the per-service handlers, and reply/error helpers. */
#ifndef LKV_API_SERVICE_H
#define LKV_API_SERVICE_H

#include <protobuf-c/protobuf-c.h>

#include "api/api.h"
#include "cluster/attrs.h"

/* A unary handler: data/len is the request message, valid during the call only. The handler (or the
 * completion it arranges) finishes the call exactly once. */
typedef void (*lkv__api_fn)(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);

void lkv__kv_range(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__kv_put(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__kv_delete_range(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__kv_txn(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__kv_compact(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__maintenance_status(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__maintenance_alarm(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
/* MoveLeader answers once the transferee leads (from the replicator's thread). */
void lkv__maintenance_move_leader(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
/* HashKV and Hash (hash.c): a worker thread walks a read snapshot and answers the call. */
void lkv__maintenance_hash_kv(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__maintenance_hash(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
/* Defragment (defrag.c): a worker thread rewrites the store (lkv_mvcc_defrag) and hands the call back to
 * its loop thread; the cancel hook (the client left, the server stops) asks it to stop early. */
void lkv__maintenance_defragment(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__maintenance_defragment_cancel(lkv_api_t *api, lkv_call_t *call);
/* Snapshot (snapshot.c): a worker thread copies the store's etcd backend file into a temporary file, then
 * the call's loop streams it with back-pressure, resumed by the loop's wakes (lkv__snapshot_wake); the
 * cancel hook stops a copy or a stream whose client went away. */
void lkv__maintenance_snapshot(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__maintenance_snapshot_cancel(lkv_api_t *api, lkv_call_t *call);
void lkv__snapshot_wake(lkv_api_t *api, int loop_index);
void lkv__cluster_member_list(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
/* Membership changes answer once applied (from the replicator's thread), with the members after them. */
void lkv__cluster_member_add(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__cluster_member_remove(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__cluster_member_update(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__cluster_member_promote(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__lease_grant(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__lease_revoke(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__lease_time_to_live(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__lease_leases(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
/* ledgerkvpb.Ledger (ledger.c). GetReceipt may finish later, from the writer thread (a signature). */
void lkv__ledger_get_receipt(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__ledger_get_head(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__ledger_get_consistency(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
/* Every member's ledger key from the membership; served with or without a ledger of this member's own. */
void lkv__ledger_get_member_keys(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
/* ledgerkvpb.Conflicts (causal mode; FAILED_PRECONDITION in Raft mode): Siblings, Resolve and
 * ReplicationStatus (conflicts.c), WatchPosition (conflicts_position.c) answer from the causal thread;
 * WatchConflicts (conflicts_watch.c) is a server stream fed by the causal replicator's keys listener, ended
 * by its cancel hook. */
void lkv__conflicts_siblings(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__conflicts_resolve(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__conflicts_replication_status(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__conflicts_watch_position(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__conflicts_watch(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__conflicts_watch_end(lkv_api_t *api, lkv_call_t *call);
void lkv__conflicts_watch_cancel(lkv_api_t *api, lkv_call_t *call);
/* health.c: grpc.health.v1.Health/Check and Watch (a server stream: its end hooks keep it open until the
 * client goes). */
void lkv__health_check(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__health_watch(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__health_watch_end(lkv_api_t *api, lkv_call_t *call);
void lkv__health_watch_cancel(lkv_api_t *api, lkv_call_t *call);

/* etcd's stream interceptor, for Watch and LeaseKeepAlive when they open (here: with their first message,
 * which is when the router first sees them): a learner refuses every stream (LKV_ELEARNER), then a stream
 * that requires a leader (leader.h) fails on a member without one (LKV_ENOLEADER). Returns 0 when the
 * stream may run, else the code to end it with; the handler finishes the call with it exactly once and
 * marks the call so that its later callbacks do nothing (the router cannot: it does not know the
 * streams' state). Loop thread. */
int lkv__api_stream_refusal(lkv_api_t *api, const lkv_call_t *call);

/* A client-streaming route's end of input: the client half-closed, or the stream went away (then sends are
 * dropped). Either way the handler must finish the call if it has not already. */
typedef void (*lkv__api_stream_end_fn)(lkv_api_t *api, lkv_call_t *call);

/* LeaseKeepAlive (client streaming): one renewal and one response per message; ends with the stream. */
void lkv__lease_keep_alive(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__lease_keep_alive_end(lkv_api_t *api, lkv_call_t *call);
/* The LeaseKeepAlive stream went away (keepalive.c): it ends at once, renewals in flight are dropped. */
void lkv__lease_keep_alive_cancel(lkv_api_t *api, lkv_call_t *call);

/* Watch (bidirectional streaming, watch.c): each WatchRequest goes to the call's watch stream; the stream
 * stays open after the client half-closes (as etcd's does) and ends when the call is canceled. */
void lkv__watch_message(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__watch_end(lkv_api_t *api, lkv_call_t *call);
/* The transport's per-loop wake and tick, handed to the watch hub's shard for that loop. */
void lkv__watch_wake(lkv_api_t *api, int loop_index);
void lkv__watch_tick(lkv_api_t *api, int loop_index);

/* The members in force (cluster.c), with the attributes each published decoded: attrs[i] is all zero
 * (name NULL) for a member whose attributes are missing or do not decode. */
typedef struct lkv__api_members_s {
  lkv_replication_member_t *rm;
  lkv_cluster_attrs_t *attrs;
  size_t n;
} lkv__api_members_t;

/* Loads the members from the replicator into *ms. Returns 0 (free with lkv__api_members_free), or what
 * lkv_replicator_members returns, or LKV_ENOMEM (then *ms holds nothing). */
int lkv__api_members_load(lkv_api_t *api, lkv__api_members_t *ms);
void lkv__api_members_free(lkv__api_members_t *ms);

/* Unpacks a request; on malformed input finishes the call with INTERNAL (as grpc-go does) and returns NULL.
 * The caller frees the result with protobuf_c_message_free_unpacked(msg, NULL). */
ProtobufCMessage *lkv__api_unpack(lkv_call_t *call, const ProtobufCMessageDescriptor *desc,
                                  const uint8_t *data, size_t len);

/* Unpacks a write request and runs lkv_apply_validate on it; returns NULL when the call has been answered
 * with an error. Free the result with protobuf_c_message_free_unpacked or pass it to lkv__api_propose. */
ProtobufCMessage *lkv__api_unpack_write(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind,
                                        const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                        size_t len);

/* Hands a validated request to the replicator, which answers the call once the outcome is durable; a
 * request above --max-request-bytes is refused (LKV_ETOOLARGE) as etcd refuses too large log entries.
 * Takes ownership of msg. data/len (copied; data may be NULL) are the request's bytes as received, which
 * the ledger's claims digest covers. */
void lkv__api_propose(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind, ProtobufCMessage *msg,
                      const uint8_t *data, size_t len);

/* The identity to stamp into a response made now: this member, its cluster, the current Raft term. */
void lkv__api_identity(lkv_api_t *api, lkv_apply_identity_t *out);

/* Fills a response header: identity (lkv__api_identity) and revision. */
void lkv__api_header(lkv_api_t *api, Etcdserverpb__ResponseHeader *h, int64_t revision);

/* Sends already packed response bytes and finishes the call with OK. */
void lkv__api_reply_packed(lkv_call_t *call, const uint8_t *resp, size_t len);

/* Answers a read: with rc == 0 sends resp and finishes OK, otherwise fails the call with rc. Frees resp
 * (which may be NULL) either way. */
void lkv__api_reply_result(lkv_call_t *call, int rc, uint8_t *resp, size_t len);

/* Packs msg, sends it and finishes the call with OK (INTERNAL if memory runs out). */
void lkv__api_reply(lkv_call_t *call, const ProtobufCMessage *msg);

/* Finishes the call with the gRPC status and etcd message that err maps to (status.c). */
void lkv__api_fail(lkv_call_t *call, int err);

/* Finishes the call with etcd's message for err but gRPC UNKNOWN: etcd's Lock and Election services run
 * clientv3 against their own server, and an error they pass on has lost its gRPC code (status.c). */
void lkv__api_fail_unknown(lkv_call_t *call, int err);

/* etcd's v3lockpb.Lock (lock.c) and v3electionpb.Election (election.c, election_observe.c): recipes of
 * clientv3/concurrency run in the server (conc.h). Lock, Campaign and Observe wait, and end when the
 * client goes away (lkv__conc_cancel, their on_cancel). */
void lkv__lock_lock(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__lock_unlock(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__election_campaign(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__election_proclaim(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__election_leader(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__election_observe(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__election_resign(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__conc_cancel(lkv_api_t *api, lkv_call_t *call);

#endif
