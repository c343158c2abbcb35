/* The causal replicator's membership changes: removals and adds made on the causal thread as events, and the
 * members removed told to the server (docs/causal.md §15, §15b). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "replication/causal_internal.h"

int lkv__causal_change_member(lkv__causal_node_t *n, const lkv_member_change_t *c, lkv_read_cb cb,
                              void *arg) {
  /* No learners in this mode: promoting one is etcd's answer for a member that is not one. */
  if (c->type == LKV_MEMBER_PROMOTE) return LKV_ENOTLEARNER;
  int add = c->type == LKV_MEMBER_ADD;
  if (c->type != LKV_MEMBER_REMOVE && !add) return LKV_EUNSUPPORTED;
  size_t len = add ? c->attrs_len : 0;
  if (add && (!c->attrs || !len)) return LKV_EINVAL;
  lkv__causal_mchange_t *mc = calloc(1, sizeof(*mc) + len);
  if (!mc) return LKV_ENOMEM;
  *mc = (lkv__causal_mchange_t){.add = add, .id = c->id, .cb = cb, .arg = arg, .len = len};
  if (len) memcpy(mc->attrs, c->attrs, len);
  pthread_mutex_lock(&n->mu);
  int rc = LKV__CAUSAL_ENQUEUE(n, n->mchanges, n->mchanges_tail, mc);
  pthread_mutex_unlock(&n->mu);
  if (rc) free(mc);
  return rc;
}

/* An add as the core's next local event, refused as etcd refuses it: a peer URL in use; the core's lease
 * owner tag clash and its member limit in ledgerkv's own codes (the caller draws another id for the first).
 */
static int add(lkv__causal_node_t *n, uint64_t now, lkv__causal_mchange_t *mc, uint64_t *rev) {
  if (lkv__causal_url_taken(n, mc->attrs, mc->len)) return LKV_EPEERURLEXIST;
  int rc = lkv_causal_member_add(n->m, now, mc->id, mc->attrs, mc->len, (uintptr_t)mc, rev);
  return rc == LKV_EEXIST ? LKV_ELEASETAG : rc == LKV_ENOSPC ? LKV_ETOOMANYMEMBERS : rc;
}

int lkv__causal_take_change(lkv__causal_node_t *n, uint64_t now, lkv__causal_mchange_t **out) {
  for (;;) {
    pthread_mutex_lock(&n->mu);
    lkv__causal_mchange_t *mc = n->mchanges;
    if (mc && !(n->mchanges = mc->next)) n->mchanges_tail = NULL;
    pthread_mutex_unlock(&n->mu);
    if (!mc) return 0;
    uint64_t rev;
    int rc = n->halted ? n->halted
             : mc->add ? add(n, now, mc, &rev)
                       : lkv_causal_member_remove(n->m, now, mc->id, (uintptr_t)mc, &rev);
    if (!rc) {
      *out = mc;
      return 1;
    }
    /* etcd answers "member not found" for an id never a member, for one removed already, and for an add
     * of an id removed (its ErrIDRemoved) */
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
