/* The causal replicator's added members: the member table grown from the core's membership, and the peer
 * URLs an add may not reuse (docs/causal.md §15b). */
#include <stdlib.h>
#include <string.h>

#include "cluster/attrs.h"
#include "common/error.h"
#include "replication/causal_internal.h"

void lkv__causal_adds_tell(lkv__causal_node_t *n) {
  size_t count = lkv_causal_member_count(n->m);
  for (size_t i = n->o.n_members; i < count && i < LKV_CAUSAL_MAX_ORIGINS; i++) {
    lkv_causal_peer_t p = {.id = lkv_causal_member_id_at(n->m, i)};
    size_t len = 0;
    const uint8_t *urls = lkv_causal_member_peer_urls(n->m, p.id, &len);
    uint8_t *attrs = urls ? malloc(len) : NULL;
    if (attrs) memcpy(attrs, urls, len);
    /* A restart learns its added peers' keys again from their record (trusted on first use before). */
    int known = lkv__causal_keys_recorded(n, p.id, p.pk) == 0;
    pthread_mutex_lock(&n->mu); /* node_members reads the table */
    n->members[i] = p;
    n->peer_attrs[i] = attrs, n->peer_attrs_len[i] = attrs ? len : 0;
    n->o.n_members = i + 1;
    pthread_mutex_unlock(&n->mu);
    if (known) (void)lkv_causal_member_set_key(n->m, p.id, p.pk); /* unknown in the core: cannot be refused */
    if (n->o.on_added) n->o.on_added(n->o.send_arg, p.id, attrs, attrs ? len : 0);
  }
}

/* Whether a and b share a peer URL. */
static int share(const lkv_cluster_attrs_t *a, const lkv_cluster_attrs_t *b) {
  for (size_t i = 0; i < a->n_peer_urls; i++)
    for (size_t k = 0; k < b->n_peer_urls; k++)
      if (strcmp(a->peer_urls[i], b->peer_urls[k]) == 0) return 1;
  return 0;
}

int lkv__causal_url_taken(lkv__causal_node_t *n, const uint8_t *attrs, size_t len) {
  lkv_cluster_attrs_t want;
  if (lkv_cluster_attrs_decode(attrs, len, &want) != 0) return 0;
  int taken = 0;
  pthread_mutex_lock(&n->mu);
  for (size_t i = 0; !taken && i < n->o.n_members; i++) {
    if (n->removed_told[i] || lkv_causal_member_is_removed(n->m, n->members[i].id)) continue;
    int self = n->members[i].id == n->o.member_id;
    const uint8_t *data = self && n->attrs ? n->attrs : n->peer_attrs[i];
    size_t dlen = self && n->attrs ? n->attrs_len : n->peer_attrs_len[i];
    lkv_cluster_attrs_t have;
    if (!data || lkv_cluster_attrs_decode(data, dlen, &have) != 0) continue;
    taken = share(&want, &have);
    lkv_cluster_attrs_free(&have);
  }
  pthread_mutex_unlock(&n->mu);
  lkv_cluster_attrs_free(&want);
  return taken;
}
