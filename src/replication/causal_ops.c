/* The causal replicator's interface: replication.h's operations and causal_node.h's calls from other threads.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "replication/causal_internal.h"

#define NODE(base) ((lkv__causal_node_t *)(base))

static int node_propose(lkv_replicator_t *base, lkv_proposal_t *p) {
  lkv__causal_node_t *n = NODE(base);
  pthread_mutex_lock(&n->mu);
  int rc = LKV__CAUSAL_ENQUEUE(n, n->props, n->props_tail, p);
  pthread_mutex_unlock(&n->mu);
  return rc;
}

static int node_read_barrier(lkv_replicator_t *base, lkv_read_cb cb, void *arg) {
  lkv__causal_node_t *n = NODE(base);
  lkv__causal_read_t *rd = calloc(1, sizeof(*rd));
  if (!rd) return LKV_ENOMEM;
  rd->cb = cb;
  rd->arg = arg;
  pthread_mutex_lock(&n->mu);
  int rc = LKV__CAUSAL_ENQUEUE(n, n->reads, n->reads_tail, rd);
  pthread_mutex_unlock(&n->mu);
  if (rc) free(rd);
  return rc;
}

/* No leader in this mode: the member names itself, so that requests needing one are served (reads and
 * writes are local), and is "single": reads need no barrier. Indexes are its core revision. */
static void node_status(lkv_replicator_t *base, lkv_replication_status_t *out) {
  lkv__causal_node_t *n = NODE(base);
  pthread_mutex_lock(&n->mu);
  uint64_t rev = n->st_rev;
  pthread_mutex_unlock(&n->mu);
  *out = (lkv_replication_status_t){.member_id = n->o.member_id,
                                    .leader = n->o.member_id,
                                    .commit_index = rev,
                                    .applied_index = rev,
                                    .single = 1};
}

void lkv_causal_node_vv(lkv_replicator_t *r, lkv_causal_vv_t *vv, uint64_t *rev) {
  lkv__causal_node_t *n = NODE(r);
  pthread_mutex_lock(&n->mu);
  *vv = n->st_vv;
  *rev = n->st_rev;
  pthread_mutex_unlock(&n->mu);
}

static void node_listen(lkv_replicator_t *base, lkv_commit_cb cb, void *arg) {
  lkv__causal_node_t *n = NODE(base);
  pthread_mutex_lock(&n->listen_mu);
  n->on_commit = cb;
  n->on_commit_arg = arg;
  pthread_mutex_unlock(&n->listen_mu);
}

static void node_on_applied(lkv_replicator_t *base, lkv_applied_cb cb, void *arg) {
  lkv__causal_node_t *n = NODE(base);
  pthread_mutex_lock(&n->listen_mu);
  n->on_applied = cb;
  n->on_applied_arg = arg;
  pthread_mutex_unlock(&n->listen_mu);
}

static void node_on_sign(lkv_replicator_t *base, lkv_sign_cb cb, void *arg) {
  lkv__signing_listen(&NODE(base)->signing, cb, arg);
}

static int node_publish(lkv_replicator_t *base, const uint8_t *attrs, size_t len) {
  lkv__causal_node_t *n = NODE(base);
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return LKV_ENOMEM;
  memcpy(copy, attrs, len);
  pthread_mutex_lock(&n->mu);
  free(n->attrs);
  n->attrs = copy;
  n->attrs_len = len;
  pthread_mutex_unlock(&n->mu);
  return 0;
}

/* The members not removed: this member's published attributes, the others' from their last hello (none
 * before), and the event keys known (a peer's is written under mu when learned). */
static int node_members(lkv_replicator_t *base, lkv_replication_member_t **out, size_t *count) {
  lkv__causal_node_t *n = NODE(base);
  lkv_replication_member_t *m = calloc(LKV_CAUSAL_MAX_ORIGINS, sizeof(*m)); /* the table grows (adds) */
  if (!m) return LKV_ENOMEM;
  int rc = 0;
  size_t k = 0;
  pthread_mutex_lock(&n->mu);
  for (size_t j = 0; j < n->o.n_members; j++) {
    if (n->removed_told[j]) continue;
    size_t i = k++;
    static const uint8_t unknown[LKV_CAUSAL_PK_LEN];
    _Static_assert(sizeof(m[i].event_key) == LKV_CAUSAL_PK_LEN, "an event key is an Ed25519 key");
    m[i].id = n->members[j].id;
    m[i].has_event_key = memcmp(n->members[j].pk, unknown, LKV_CAUSAL_PK_LEN) != 0;
    memcpy(m[i].event_key, n->members[j].pk, LKV_CAUSAL_PK_LEN);
    int self = m[i].id == n->o.member_id;
    const uint8_t *attrs = self ? n->attrs : n->peer_attrs[j];
    size_t len = self ? n->attrs_len : n->peer_attrs_len[j];
    if (!attrs) continue;
    if (!(m[i].attrs = malloc(len ? len : 1))) {
      rc = LKV_ENOMEM;
      break;
    }
    memcpy(m[i].attrs, attrs, len);
    m[i].attrs_len = len;
  }
  pthread_mutex_unlock(&n->mu);
  if (rc) {
    lkv_replication_members_free(m, k);
    return rc;
  }
  *out = m;
  *count = k;
  return 0;
}

/* No leader to move. */
static int node_move_leader(lkv_replicator_t *base, uint64_t to, lkv_read_cb cb, void *arg) {
  (void)base, (void)to, (void)cb, (void)arg;
  return LKV_EUNSUPPORTED;
}

static int node_change_member(lkv_replicator_t *base, const lkv_member_change_t *c, lkv_read_cb cb,
                              void *arg) {
  return lkv__causal_change_member(NODE(base), c, cb, arg);
}

void lkv_causal_node_receive(lkv_replicator_t *r, uint64_t from, const uint8_t *data, size_t len) {
  lkv__causal_node_t *n = NODE(r);
  lkv__causal_in_t *in = malloc(sizeof(*in) + len);
  if (!in) return; /* dropped: anti-entropy offers it again */
  in->from = from;
  in->refusal = 0;
  in->len = len;
  memcpy(in->data, data, len);
  pthread_mutex_lock(&n->mu);
  int rc = LKV__CAUSAL_ENQUEUE(n, n->in, n->in_tail, in);
  pthread_mutex_unlock(&n->mu);
  if (rc) free(in);
}

/* Refuses new input, lets the thread finish what was accepted (proposals answered, reads told), joins it. */
static void node_stop(lkv_replicator_t *base) {
  lkv__causal_node_t *n = NODE(base);
  pthread_mutex_lock(&n->mu);
  n->stopping = 1;
  pthread_cond_signal(&n->wake);
  pthread_mutex_unlock(&n->mu);
  pthread_join(n->thread, NULL);
  lkv__causal_node_free(n);
}

const lkv_replicator_ops_t lkv__causal_ops = {.propose = node_propose,
                                              .read_barrier = node_read_barrier,
                                              .status = node_status,
                                              .listen = node_listen,
                                              .on_applied = node_on_applied,
                                              .on_sign = node_on_sign,
                                              .on_restored = NULL,
                                              .publish = node_publish,
                                              .move_leader = node_move_leader,
                                              .change_member = node_change_member,
                                              .members = node_members,
                                              .stop = node_stop};
