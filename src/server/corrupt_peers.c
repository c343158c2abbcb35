/* The corruption checks' questions to the peers: every other member of the membership, asked at once over
 * the peer port (peer_hash.h). */
#include <stdlib.h>

#include "common/error.h"
#include "server/corrupt.h"

int lkv__peer_hashes(lkv_replicator_t *r, lkv__peer_hash_svc_t *svc, uint64_t self, int64_t rev, int heads,
                     unsigned timeout_ms, lkv__peer_hash_t **out, size_t *n) {
  lkv_replication_member_t *m;
  size_t nm;
  int rc = lkv_replicator_members(r, &m, &nm);
  if (rc) return rc;
  uint64_t *ids = calloc(nm ? nm : 1, sizeof(*ids));
  lkv__peer_hash_t *ph = calloc(nm ? nm : 1, sizeof(*ph));
  size_t k = 0;
  for (size_t i = 0; ids && i < nm; i++)
    if (m[i].id != self) ids[k++] = m[i].id;
  lkv_replication_members_free(m, nm);
  rc = ids && ph ? lkv__peer_hash_ask(svc, ids, k, rev, heads, timeout_ms, ph) : LKV_ENOMEM;
  free(ids);
  if (rc) {
    free(ph);
    return rc;
  }
  *out = ph;
  *n = k;
  return 0;
}
