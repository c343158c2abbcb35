/* What the API of a cluster member needs of the cluster: lease requests forwarded to the leader over the
 * peer transport's lease channel, and the monitor of streams that require a leader. */
#ifndef LKV_SERVER_MEMBER_API_H
#define LKV_SERVER_MEMBER_API_H

#include "api/api.h"
#include "server/config.h"
#include "server/member.h"

typedef struct lkv__member_api_s lkv__member_api_t;

/* Starts the lease handoff (lease/sync.h: api->lessor must have been opened with handoff set) and a lease
 * forwarder (lease/forward.h) that uses it, both talking to the other members on LKV__CHANNEL_LEASE, and
 * the leader monitor, and sets api->lease_fwd and api->leader. Call once api->lessor and api->replicator
 * are set and before the transport starts; m must outlive the result. Returns 0 and sets *out, or
 * LKV_ENOMEM (api is then unchanged). */
int lkv__member_api_start(lkv__member_api_t **out, lkv__member_t *m, lkv_api_t *api, const lkv_config_t *cfg);

/* Stops receiving on the lease channel, stops the handoff and the forwarder (parked requests fail with
 * LKV_ESTOPPED) and frees the monitor; clears api->lease_fwd and api->leader. Call after the transport has
 * stopped and before the lessor and the member stop. NULL is ignored. */
void lkv__member_api_stop(lkv__member_api_t *a);

#endif
