/* The etcd v3 services, bound to the transport through a route table. */
#ifndef LKV_API_API_H
#define LKV_API_API_H

#include <stddef.h>

#include "apply/apply.h"
#include "lease/forward.h"
#include "lease/lessor.h"
#include "ledger/ledger.h"
#include "replication/causal_node.h"
#include "replication/replication.h"
#include "transport/transport.h"
#include "watch/watch.h"

/*
 * Each etcd service has its own file (kv.c, maintenance.c, cluster.c); router.c maps gRPC paths to their
 * handlers; status.c is the one place where LKV_E* codes become gRPC codes and etcd's exact messages.
 * Reads run to completion on the calling loop thread; writes become proposals to the replicator and are
 * answered from its thread once durable.
 */

/* Everything the services need; filled by the server before the transport starts, then read-only. */
typedef struct lkv_api_s {
  lkv_mvcc_t *store;
  lkv_replicator_t *replicator;
  lkv_lessor_t *lessor;   /* lease expiry times and renewals (Lease service) */
  lkv_watch_hub_t *watch; /* watchers (Watch service), one shard per transport loop */
  lkv_apply_identity_t id;
  lkv_apply_limits_t limits;
  size_t max_request_bytes; /* --max-request-bytes: larger writes get "etcdserver: request is too large" */
  int bcrypt_cost;          /* --bcrypt-cost (4..31): the cost of the password hashes UserAdd stores */
  int metrics_extensive;    /* --metrics extensive: grpc_server_handling_seconds per method */
  const char *version;      /* etcd-compatible semver reported by Maintenance.Status */
  const char *member_name;  /* --name */
  int causal;               /* --consistency=causal: Lock and Election refused (docs/causal.md §4) */
  char *const *client_urls; /* --advertise-client-urls */
  size_t n_client_urls;
  lkv_ledger_t *ledger;                    /* NULL with --ledger=false: the Ledger service is UNIMPLEMENTED */
  struct lkv_api_ledger_s *ledger_waiters; /* with a ledger: GetReceipt calls waiting for a signature */
  /* Forwarding and leader tracking (every node is a cluster member; a one-member cluster always leads): */
  struct lkv_lease_fwd_s *lease_fwd; /* keep-alives and TTL queries sent to the leader (lease/forward.h) */
  struct lkv_api_leader_s *leader;   /* streams that require a leader, ended when none is known */
  struct lkv_ratelimit_s *ratelimit; /* per-client rate limits (api/rate_limit.h); NULL: none */
  struct lkv_api_tokens_s *tokens;   /* etcd's simple tokens (auth_token.h), recorded by every member */
  int client_cert_auth;      /* --client-cert-auth: a call without a token runs as its certificate's CN */
  struct lkv_api_jwt_s *jwt; /* --auth-token jwt: JWT tokens (auth_jwt.h) instead of simple ones; NULL */
  struct lkv_api_conflicts_s *conflicts; /* causal mode: the WatchConflicts streams; NULL in Raft mode */
} lkv_api_t;

typedef struct lkv_api_conflicts_s lkv_api_conflicts_t;

/* Causal mode (api->causal, api->replicator the causal replicator): creates the registry of WatchConflicts
 * streams (api->conflicts) and makes lkv_api_conflicts_keys the replicator's keys listener
 * (lkv_causal_node_on_keys). Nothing in Raft mode. Returns 0 or LKV_ENOMEM. */
int lkv_api_conflicts_start(lkv_api_t *api);

/* The keys listener (lkv_causal_keys_cb, arg = the lkv_api_t): tells the WatchConflicts streams whose range
 * holds k of a change of its siblings while it is or was in conflict. Causal thread. */
void lkv_api_conflicts_keys(void *arg, const lkv_causal_member_t *m, const lkv_causal_key_t *k,
                            int64_t store_rev);

/* Frees the registry once the replicator has stopped (no listing or listener runs any more) and the
 * transport too (every stream ended). NULL registry: nothing. */
void lkv_api_conflicts_free(lkv_api_t *api);

typedef struct lkv_api_leader_s lkv_api_leader_t;

/* Creates the monitor of streams that require a leader (api->leader; etcd's hasleader metadata): they are
 * ended with "etcdserver: no leader" once the member has seen no leader for 3 samples election_ms apart.
 * Returns 0, LKV_EINVAL (election_ms 0) or LKV_ENOMEM. */
int lkv_api_leader_new(lkv_api_leader_t **out, unsigned election_ms);

/* Frees the monitor once the transport has stopped (no stream is registered any more). NULL is ignored. */
void lkv_api_leader_free(lkv_api_leader_t *m);

typedef struct lkv_api_ledger_s lkv_api_ledger_t;

/* Creates the GetReceipt waiting room (api->ledger_waiters). Returns 0 or LKV_ENOMEM. */
int lkv_api_ledger_new(lkv_api_ledger_t **out);

/* Frees the waiting room; no call may be waiting (the transport has stopped and a signature or the
 * replicator's final one answered them). NULL is ignored. */
void lkv_api_ledger_free(lkv_api_ledger_t *l);

/* The replicator's sign listener (lkv_sign_cb, arg = the lkv_api_t): answers every waiting GetReceipt
 * call, with its receipt or, when head is NULL (signing failed) or still does not cover it, with
 * UNAVAILABLE-style LKV_EAGAIN. Any thread. */
void lkv_api_ledger_signed(void *arg, const lkv_ledger_signed_head_t *head);

/* The replicator's applied listener (lkv_applied_cb, arg = the lkv_api_t): tells the lessor of every
 * grant and revoke applied on this member, whoever proposed it, and the token keeper of every applied
 * Authenticate, user deletion, password change and AuthDisable. */
void lkv_api_lease_applied(void *arg, const lkv_apply_req_t *req);

/* The user a call runs as, for per-client accounting (rate limits): sets *user to a malloc'd copy of
 * the user its token names (with --client-cert-auth and no token: its client certificate's CN), or NULL
 * when it carries none or a token this member does not know (expired, unknown: the call itself then
 * fails "invalid auth token"). Looking a token up renews its TTL, as any use does. The call's loop
 * thread, inside a callback of the call. Returns 0 or LKV_ENOMEM. */
int lkv_api_call_user(lkv_api_t *api, lkv_call_t *call, char **user);

/* Fills *out so that the transport dispatches calls to api's services. api must outlive the transport. */
void lkv_api_handler(lkv_api_t *api, lkv_transport_handler_t *out);

#endif
