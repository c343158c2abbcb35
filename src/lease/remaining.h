/* A lease's remaining TTL as one member saw it: what the lease handoff's records and answers carry. */
#ifndef LKV_LEASE_REMAINING_H
#define LKV_LEASE_REMAINING_H

#include <stdint.h>

/* A lease and how long it has left, in ms (may be <= 0: due), as one member saw it at one moment. A
 * duration, never a time: members' clocks differ. */
typedef struct lkv_lease_remaining_s {
  int64_t id;
  int64_t ms;
} lkv_lease_remaining_t;

#endif
