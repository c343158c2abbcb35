/* Internal to src/api: requests that require a leader (etcd's "hasleader" metadata) and the monitor that
 * ends such streams on a member without one. */
#ifndef LKV_API_LEADER_H
#define LKV_API_LEADER_H

#include "api/api.h"

/*
 * clientv3's WithRequireLeader sends the gRPC metadata "hasleader: true". etcd (v3rpc/interceptor.go)
 * then refuses the request with "etcdserver: no leader" when the member knows no leader, and for streams
 * (Watch, LeaseKeepAlive) a monitor that looks every election timeout cancels them with the same error
 * once the member has seen no leader 3 times in a row. The monitor here samples on the loops' ticks;
 * each loop ends its own streams, on its own thread.
 */

/* The metadata key and the value that ask for it (etcd's rpctypes.MetadataRequireLeaderKey/HasLeader). */
#define LKV_API_REQUIRE_LEADER_KEY "hasleader"
#define LKV_API_REQUIRE_LEADER_VALUE "true"

/* Consecutive samples (one per election timeout) without a leader that end such streams (etcd's
 * maxNoLeaderCnt). */
#define LKV_API_NO_LEADER_SAMPLES 3

/* A stream that required a leader, registered with the monitor while it runs. */
typedef struct lkv__leader_stream_s {
  struct lkv__leader_stream_s *prev, *next;
  lkv_call_t *call;
  int loop; /* the call's loop index */
  int linked;
  /* Ends the stream with LKV_ENOLEADER; runs on the call's loop thread, after the stream was unregistered. */
  void (*cancel)(lkv_api_t *api, struct lkv__leader_stream_s *s);
} lkv__leader_stream_t;

/* Whether the call carries "hasleader: true". */
int lkv__leader_required(const lkv_call_t *call);

/* Whether this member knows a leader now. */
int lkv__leader_known(lkv_api_t *api);

/* Registers a stream that required a leader (no-op without a monitor, which exists from start-up until the
 * server stops). s->call, s->cancel must be set. Loop thread. */
void lkv__leader_watch(lkv_api_t *api, lkv__leader_stream_t *s);

/* Unregisters s (no-op when it is not registered). Loop thread. */
void lkv__leader_unwatch(lkv_api_t *api, lkv__leader_stream_t *s);

/* Every loop's tick: samples the leader once per election timeout and, after LKV_API_NO_LEADER_SAMPLES
 * samples without one, cancels this loop's registered streams. Loop thread. */
void lkv__leader_tick(lkv_api_t *api, int loop_index);

#endif
