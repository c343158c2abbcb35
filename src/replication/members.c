/* The member list both replicators hand out. */
#include <stdlib.h>

#include "replication/replication.h"

void lkv_replication_members_free(lkv_replication_member_t *m, size_t n) {
  for (size_t i = 0; m && i < n; i++) free(m[i].attrs);
  free(m);
}
