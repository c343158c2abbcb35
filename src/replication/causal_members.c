/* The causal replicator's membership changes: removals made on the causal thread as events, and the
 * members removed told to the server (docs/causal.md §15). */
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"
#include "replication/causal_internal.h"

int lkv__causal_change_member(lkv__causal_node_t *n, const lkv_member_change_t *c, lkv_read_cb cb,
                              void *arg) {
  /* No learners in this mode: promoting one is etcd's answer for a member that is not one. */
  if (c->type == LKV_MEMBER_PROMOTE) return LKV_ENOTLEARNER;
  if (c->type != LKV_MEMBER_REMOVE) return LKV_EUNSUPPORTED;
  lkv__causal_mchange_t *mc = calloc(1, sizeof(*mc));
  if (!mc) return LKV_ENOMEM;
  *mc = (lkv__causal_mchange_t){.id = c->id, .cb = cb, .arg = arg};
  pthread_mutex_lock(&n->mu);
  int rc = LKV__CAUSAL_ENQUEUE(n, n->mchanges, n->mchanges_tail, mc);
  pthread_mutex_unlock(&n->mu);
  if (rc) free(mc);
  return rc;
}

int lkv__causal_take_change(lkv__causal_node_t *n, uint64_t now, lkv__causal_mchange_t **out) {
  for (;;) {
    pthread_mutex_lock(&n->mu);
    lkv__causal_mchange_t *mc = n->mchanges;
    if (mc && !(n->mchanges = mc->next)) n->mchanges_tail = NULL;
    pthread_mutex_unlock(&n->mu);
    if (!mc) return 0;
    uint64_t rev;
    int rc = n->halted ? n->halted : lkv_causal_member_remove(n->m, now, mc->id, (uintptr_t)mc, &rev);
    if (!rc) {
      *out = mc;
      return 1;
    }
    /* etcd answers "member not found" for an id never a member and for one removed already */
    lkv__causal_change_done(mc, rc == LKV_ENOENT || rc == LKV_EMEMBERREMOVED ? LKV_EMEMBERNOTFOUND : rc);
  }
}

void lkv__causal_change_done(lkv__causal_mchange_t *mc, int err) {
  mc->cb(mc->arg, err);
  free(mc);
}

int lkv__causal_removals_tell(lkv__causal_node_t *n) {
  int self = 0;
  for (size_t i = 0; i < n->o.n_members; i++) {
    uint64_t id = n->members[i].id;
    if (n->removed_told[i] || !lkv_causal_member_is_removed(n->m, id)) continue;
    pthread_mutex_lock(&n->mu);
    n->removed_told[i] = 1; /* MemberList leaves it out from now on */
    pthread_mutex_unlock(&n->mu);
    if (id == n->o.member_id)
      self = 1;
    else
      fprintf(stderr, "ledgerkv: causal member %016llx: member %016llx is removed\n",
              (unsigned long long)n->o.member_id, (unsigned long long)id);
    size_t len = 0;
    const uint8_t *proof = id == n->o.member_id ? NULL : lkv_causal_member_removal_event(n->m, id, &len);
    if (n->o.on_removed) n->o.on_removed(n->o.send_arg, id, proof, proof ? len : 0);
  }
  return self;
}
