/* The causal replicator's side of a "removed" refusal (docs/causal.md §15a): this member stops only on a
 * refusal whose removal its own core finds proven; the others are logged and it goes on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "replication/causal_internal.h"

void lkv_causal_node_refused(lkv_replicator_t *r, uint64_t by, const uint8_t *proof, size_t len) {
  lkv__causal_node_t *n = (lkv__causal_node_t *)r;
  lkv__causal_in_t *in = malloc(sizeof(*in) + len);
  if (!in) return; /* the refusal comes again at the next dial */
  in->from = by;
  in->refusal = 1;
  in->len = len;
  if (len) memcpy(in->data, proof, len);
  pthread_mutex_lock(&n->mu);
  int rc = LKV__CAUSAL_ENQUEUE(n, n->in, n->in_tail, in);
  pthread_mutex_unlock(&n->mu);
  if (rc) free(in);
}

static const char *why(int rc) {
  switch (rc) {
    case LKV_EMEMBERREMOVED:
      return "that member is removed here: it refuses the members it removed whether or not the members "
             "still in took that removal";
    case LKV_EAGAIN:
      return "only its remover refused with it so far, and the remover may be removed by a removal not "
             "applied here yet";
    default:
      return lkv_strerror(rc);
  }
}

void lkv__causal_refusal_take(lkv__causal_node_t *n, const lkv__causal_in_t *in) {
  int i = lkv__causal_member_index(n, in->from);
  if (i < 0 || in->from == n->o.member_id) return;
  int rc = lkv_causal_member_removal_proven(n->m, in->from, in->data, in->len);
  unsigned long long self = (unsigned long long)n->o.member_id, by = (unsigned long long)in->from;
  if (rc == 0) {
    int me = lkv__causal_member_index(n, n->o.member_id);
    pthread_mutex_lock(&n->mu);
    int first = !n->removed_told[me];
    n->removed_told[me] = 1;
    pthread_mutex_unlock(&n->mu);
    if (!first) return; /* told already: the server is stopping */
    fprintf(
        stderr,
        "ledgerkv: causal member %016llx: member %016llx, a member still in, refused it as removed%s: this "
        "member is removed\n",
        self, by, in->len ? " with the removal (checked)" : "");
    if (n->o.on_removed) n->o.on_removed(n->o.send_arg, n->o.member_id, NULL, 0);
    return;
  }
  if (n->refusal_logged[i] == rc) return; /* once per refuser and reason, not every dial */
  n->refusal_logged[i] = rc;
  fprintf(stderr, "ledgerkv: causal member %016llx: member %016llx refused it as removed; not stopping: %s\n",
          self, by, why(rc));
}
