/* The causal replicator's entry points for the conflicts service: queries and resolves run on the causal
 * thread, and the keys listener told of each batch's keys. */
#include <stdlib.h>

#include "common/error.h"
#include "replication/causal_internal.h"

#define NODE(base) ((lkv__causal_node_t *)(base))

int lkv_causal_node_query(lkv_replicator_t *r, lkv_causal_query_t *q) {
  lkv__causal_node_t *n = NODE(r);
  pthread_mutex_lock(&n->mu);
  int rc = LKV__CAUSAL_ENQUEUE(n, n->queries, n->queries_tail, q);
  pthread_mutex_unlock(&n->mu);
  return rc;
}

int lkv_causal_node_resolve(lkv_replicator_t *r, lkv_causal_resolve_t *rs) {
  lkv__causal_node_t *n = NODE(r);
  pthread_mutex_lock(&n->mu);
  int rc = LKV__CAUSAL_ENQUEUE(n, n->resolves, n->resolves_tail, rs);
  pthread_mutex_unlock(&n->mu);
  return rc;
}

void lkv_causal_node_on_keys(lkv_replicator_t *r, lkv_causal_keys_cb cb, void *arg) {
  lkv__causal_node_t *n = NODE(r);
  pthread_mutex_lock(&n->listen_mu);
  n->on_keys = cb;
  n->on_keys_arg = arg;
  pthread_mutex_unlock(&n->listen_mu);
}

/* A resolve that writes a value is refused where a Put of it would be (the NOSPACE alarm, the quota): the
 * Put is dry-run on the store and rolled back. A tombstone is refused by nothing a Delete would be. Neither
 * may write a reserved key. */
static int put_refusal(lkv__causal_node_t *n, const lkv_causal_resolve_t *rs) {
  if (lkv_causal_node_reserved_key(rs->key, rs->key_len)) return LKV_EPERMDENIED; /* the auth records */
  if (rs->tombstone) return 0;
  Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
  put.key = (ProtobufCBinaryData){.len = rs->key_len, .data = (uint8_t *)rs->key};
  put.value = (ProtobufCBinaryData){.len = rs->value_len, .data = (uint8_t *)rs->value};
  lkv_apply_req_t req = {.kind = LKV_OP_PUT, .msg = &put.base}, *reqs[1] = {&req};
  lkv__causal_dry_t out;
  int rc = lkv__causal_dry_run(n, reqs, 1, &out);
  if (!rc) lkv__causal_dry_free(&out, 1);
  free(req.resp);
  return rc ? rc : out.answered ? req.err : out.err;
}

int lkv__causal_take_resolve(lkv__causal_node_t *n, uint64_t now, lkv_causal_resolve_t **out) {
  for (;;) {
    pthread_mutex_lock(&n->mu);
    lkv_causal_resolve_t *rs = n->resolves;
    if (rs && !(n->resolves = rs->next)) n->resolves_tail = NULL;
    pthread_mutex_unlock(&n->mu);
    if (!rs) return 0;
    lkv_causal_mutation_t mu = {.kind = rs->tombstone ? LKV_CAUSAL_DEL : LKV_CAUSAL_PUT,
                                .key = rs->key,
                                .key_len = rs->key_len,
                                .value = rs->tombstone ? NULL : rs->value,
                                .value_len = rs->tombstone ? 0 : rs->value_len};
    uint64_t rev;
    int rc = n->halted ? n->halted : put_refusal(n, rs);
    if (!rc) rc = lkv_causal_member_resolve(n->m, now, &mu, rs->named, rs->n_named, (uintptr_t)rs, &rev);
    if (!rc) {
      rs->rev = (int64_t)rev + 1; /* core revision r is store revision r + 1 (causal_node.h) */
      rs->seq = lkv_causal_vv_get(lkv_causal_member_vv(n->m), n->o.member_id);
      *out = rs;
      return 1;
    }
    rs->done(rs, rc);
  }
}

/* Each key the batch's events wrote, told once per event that wrote it (the listener compares). */
static void tell_keys(lkv__causal_node_t *n, const lkv_causal_batch_t *rb) {
  pthread_mutex_lock(&n->listen_mu);
  int64_t store_rev = (int64_t)lkv_causal_member_revision(n->m) + 1;
  for (size_t i = 0; n->on_keys && i < rb->n_applied; i++) {
    const lkv_causal_event_t *ev = &rb->applied[i].ev;
    lkv_causal_mutation_iter_t it;
    lkv_causal_mutation_t mu;
    if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) continue; /* checked on arrival */
    while (lkv_causal_mutations_next(&it, &mu)) {
      const lkv_causal_key_t *k = lkv_causal_member_key(n->m, mu.key, mu.key_len);
      if (k && !lkv_causal_node_reserved_key(k->key, k->key_len))
        n->on_keys(n->on_keys_arg, n->m, k, store_rev);
    }
  }
  pthread_mutex_unlock(&n->listen_mu);
}

void lkv__causal_batch_done(lkv__causal_node_t *n, const lkv_causal_batch_t *rb, lkv_causal_resolve_t *rs,
                            int err) {
  if (!err) tell_keys(n, rb);
  if (rs) rs->done(rs, err ? LKV_EHALTED : 0);
}

void lkv__causal_run_queries(lkv__causal_node_t *n, lkv_causal_query_t *q) {
  while (q) {
    lkv_causal_query_t *next = q->next; /* run may free q */
    q->run(q, n->m);
    q = next;
  }
}
