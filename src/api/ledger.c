/* ledgerkvpb.Ledger: receipts (waiting for the next signed head when needed), heads, consistency proofs,
 * members' keys. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/service.h"
#include "common/error.h"
#include "ledgerkv.pb-c.h"
#include "metrics/catalog.h"

/* A GetReceipt call waiting for a head that covers its entry. */
typedef struct waiter_s {
  lkv_call_t *call;
  uint64_t index; /* the entry's record */
  struct waiter_s *next;
} waiter_t;

struct lkv_api_ledger_s {
  pthread_mutex_t lock; /* guards waiters; held while a signature answers them (see get_receipt) */
  waiter_t *waiters;
};

int lkv_api_ledger_new(lkv_api_ledger_t **out) {
  lkv_api_ledger_t *l = calloc(1, sizeof(*l));
  if (!l) return LKV_ENOMEM;
  if (pthread_mutex_init(&l->lock, NULL) != 0) {
    free(l);
    return LKV_ENOMEM;
  }
  *out = l;
  return 0;
}

void lkv_api_ledger_free(lkv_api_ledger_t *l) {
  if (!l) return;
  pthread_mutex_destroy(&l->lock);
  free(l);
}

static void head_to_pb(const lkv_ledger_signed_head_t *h, Ledgerkvpb__SignedTreeHead *pb) {
  ledgerkvpb__signed_tree_head__init(pb);
  pb->tree_size = h->head.tree_size;
  pb->root = (ProtobufCBinaryData){.len = LKV_MERKLE_HASH_LEN, .data = (uint8_t *)h->head.root.b};
  pb->revision = h->head.revision;
  pb->timestamp_ms = h->head.timestamp_ms;
  pb->public_key = (ProtobufCBinaryData){.len = LKV_LEDGER_KEY_LEN, .data = (uint8_t *)h->public_key};
  pb->signature = (ProtobufCBinaryData){.len = LKV_LEDGER_SIG_LEN, .data = (uint8_t *)h->signature};
}

static void proof_to_pb(const lkv_merkle_proof_t *p, ProtobufCBinaryData *out) {
  for (size_t i = 0; i < p->n; i++)
    out[i] = (ProtobufCBinaryData){.len = LKV_MERKLE_HASH_LEN, .data = (uint8_t *)p->h[i].b};
}

/* A causal mode record discloses its body (the origin's signed event and the changes it made here): what a
 * verifier needs to check who wrote it and what this member served. Other kinds disclose digests only. */
static int disclose(lkv_api_t *api, const lkv_ledger_receipt_t *r, lkv_ledger_log_record_t *rec,
                    ProtobufCBinaryData *body) {
  if (r->leaf.kind != LKV_LEDGER_CAUSAL_EVENT) return 0;
  int rc = lkv_ledger_log_read(lkv_ledger_log(api->ledger), r->leaf_index, rec);
  if (rc) return rc;
  const uint8_t *start = rec->entry.event - 8; /* n_ops ‖ event_len ‖ event ‖ ops (entry.h) */
  *body = (ProtobufCBinaryData){.len = (size_t)(rec->entry.ops + rec->entry.ops_len - start),
                                .data = (uint8_t *)start};
  return 0;
}

static void reply_receipt(lkv_api_t *api, lkv_call_t *call, const lkv_ledger_receipt_t *r) {
  lkv_ledger_log_record_t rec = {0};
  ProtobufCBinaryData body = {0};
  int rc = disclose(api, r, &rec, &body);
  if (rc) {
    lkv__api_fail(call, rc);
    return;
  }
  ProtobufCBinaryData proof[LKV_MERKLE_PROOF_MAX];
  Ledgerkvpb__SignedTreeHead head;
  Ledgerkvpb__ReceiptResponse resp = LEDGERKVPB__RECEIPT_RESPONSE__INIT;
  resp.kind = (uint32_t)r->leaf.kind;
  resp.revision = r->leaf.revision;
  resp.write_set_digest =
      (ProtobufCBinaryData){.len = LKV_LEDGER_DIGEST_LEN, .data = (uint8_t *)r->leaf.ws_digest};
  resp.claims_digest = (ProtobufCBinaryData){.len = LKV_LEDGER_DIGEST_LEN, .data = (uint8_t *)r->leaf.claims};
  resp.leaf_index = r->leaf_index;
  proof_to_pb(&r->proof, proof);
  resp.n_proof = r->proof.n;
  resp.proof = proof;
  head_to_pb(&r->sth, &head);
  resp.head = &head;
  resp.write_set = body;
  lkv__api_reply(call, &resp.base);
  lkv_ledger_log_record_free(&rec);
  lkv_metric_inc(LKV_METRIC(receipts_served), 0);
}

/* Answers with the receipt of record index, or returns LKV_EAGAIN (not signed yet) without answering. */
static int try_receipt(lkv_api_t *api, lkv_call_t *call, uint64_t index) {
  lkv_ledger_receipt_t r;
  int rc = lkv_ledger_receipt_at(api->ledger, index, &r);
  /* The record exists (resolve found it): ENOENT means no head was signed yet, the first is coming. */
  if (rc == LKV_EAGAIN || rc == LKV_ENOENT) return LKV_EAGAIN;
  if (rc == 0)
    reply_receipt(api, call, &r);
  else
    lkv__api_fail(call, rc);
  return 0;
}

/* The record at revision whose claims digest is claims. Returns 0, LKV_ENOENT or a read error. */
static int find_by_claims(lkv_ledger_log_t *log, int64_t revision, const uint8_t *claims, uint64_t *index) {
  uint64_t i, n = lkv_ledger_log_count(log);
  int rc = lkv_ledger_log_lower_bound(log, revision, &i);
  lkv_ledger_log_record_t rec = {0};
  for (; rc == 0 && i < n; i++) {
    rc = lkv_ledger_log_read(log, i, &rec);
    if (rc || rec.entry.revision != revision) break;
    if (rec.entry.kind != LKV_LEDGER_SIGNED_TREE_HEAD &&
        memcmp(rec.entry.claims, claims, LKV_LEDGER_DIGEST_LEN) == 0) {
      *index = i;
      lkv_ledger_log_record_free(&rec);
      return 0;
    }
  }
  lkv_ledger_log_record_free(&rec);
  return rc ? rc : LKV_ENOENT;
}

/* The record a ReceiptRequest names. Returns 0, LKV_EFUTUREREV, LKV_ENOENT, LKV_EINVAL or a read error. */
static int resolve(lkv_api_t *api, const Ledgerkvpb__ReceiptRequest *req, uint64_t *index) {
  lkv_ledger_log_t *log = lkv_ledger_log(api->ledger);
  int rc;
  if (req->claims_digest.len == 0)
    rc = lkv_ledger_log_find_revision(log, req->revision, index);
  else if (req->claims_digest.len != LKV_LEDGER_DIGEST_LEN)
    return LKV_EINVAL;
  else
    rc = find_by_claims(log, req->revision, req->claims_digest.data, index);
  if (rc == LKV_ENOENT) {
    lkv_mvcc_stat_t st;
    if (lkv_mvcc_stat(api->store, &st) == 0 && req->revision > st.revision) rc = LKV_EFUTUREREV;
  }
  return rc;
}

void lkv__ledger_get_receipt(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  if (!api->ledger) {
    lkv__api_fail(call, LKV_EUNSUPPORTED);
    return;
  }
  Ledgerkvpb__ReceiptRequest *req = (Ledgerkvpb__ReceiptRequest *)lkv__api_unpack(
      call, &ledgerkvpb__receipt_request__descriptor, data, len);
  if (!req) return;
  uint64_t index;
  int rc = resolve(api, req, &index);
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (rc) {
    lkv__api_fail(call, rc);
    return;
  }
  if (try_receipt(api, call, index) == 0) return;
  /* Not covered by the latest head: wait for the next one. Asking again under the lock closes the race
   * with a signature landing in between (lkv_api_ledger_signed takes the lock after publishing it). */
  lkv_api_ledger_t *l = api->ledger_waiters;
  pthread_mutex_lock(&l->lock);
  if (try_receipt(api, call, index) == 0) {
    pthread_mutex_unlock(&l->lock);
    return;
  }
  waiter_t *w = malloc(sizeof(*w));
  if (!w) {
    pthread_mutex_unlock(&l->lock);
    lkv__api_fail(call, LKV_ENOMEM);
    return;
  }
  w->call = call;
  w->index = index;
  w->next = l->waiters;
  l->waiters = w;
  pthread_mutex_unlock(&l->lock);
}

void lkv_api_ledger_signed(void *arg, const lkv_ledger_signed_head_t *head) {
  lkv_api_t *api = arg;
  lkv_api_ledger_t *l = api->ledger_waiters;
  if (head) lkv_metric_inc(LKV_METRIC(ledger_signed_heads), 0);
  pthread_mutex_lock(&l->lock);
  waiter_t *w = l->waiters;
  l->waiters = NULL;
  while (w) {
    waiter_t *next = w->next;
    /* Bounded: one signature (or failed attempt) later the call is answered either way. */
    if (!head || try_receipt(api, w->call, w->index) != 0) lkv__api_fail(w->call, LKV_EAGAIN);
    free(w);
    w = next;
  }
  pthread_mutex_unlock(&l->lock);
}

void lkv__ledger_get_head(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  if (!api->ledger) {
    lkv__api_fail(call, LKV_EUNSUPPORTED);
    return;
  }
  ProtobufCMessage *req = lkv__api_unpack(call, &ledgerkvpb__signed_tree_head_request__descriptor, data, len);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, NULL);
  lkv_ledger_signed_head_t h;
  int rc = lkv_ledger_latest_head(api->ledger, &h);
  if (rc != 0) {
    lkv__api_fail(call, rc);
    return;
  }
  Ledgerkvpb__SignedTreeHead head;
  head_to_pb(&h, &head);
  Ledgerkvpb__SignedTreeHeadResponse resp = LEDGERKVPB__SIGNED_TREE_HEAD_RESPONSE__INIT;
  resp.head = &head;
  lkv__api_reply(call, &resp.base);
  lkv_metric_inc(LKV_METRIC(receipts_served), 0);
}

void lkv__ledger_get_consistency(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  if (!api->ledger) {
    lkv__api_fail(call, LKV_EUNSUPPORTED);
    return;
  }
  Ledgerkvpb__ConsistencyProofRequest *req = (Ledgerkvpb__ConsistencyProofRequest *)lkv__api_unpack(
      call, &ledgerkvpb__consistency_proof_request__descriptor, data, len);
  if (!req) return;
  uint64_t old_size = req->old_size, new_size = req->new_size;
  protobuf_c_message_free_unpacked(&req->base, NULL);
  lkv_merkle_proof_t proof;
  int rc = lkv_ledger_consistency(api->ledger, old_size, new_size, &proof);
  if (rc != 0) {
    lkv__api_fail(call, rc);
    return;
  }
  ProtobufCBinaryData hashes[LKV_MERKLE_PROOF_MAX];
  proof_to_pb(&proof, hashes);
  Ledgerkvpb__ConsistencyProofResponse resp = LEDGERKVPB__CONSISTENCY_PROOF_RESPONSE__INIT;
  resp.old_size = old_size;
  resp.new_size = new_size;
  resp.n_proof = proof.n;
  resp.proof = hashes;
  lkv__api_reply(call, &resp.base);
}

/* The membership's keys as protobuf, with the memory behind them. */
typedef struct member_keys_s {
  lkv__api_members_t ms;
  Ledgerkvpb__MemberKey *keys;
  Ledgerkvpb__MemberKey **ptrs;
} member_keys_t;

static void member_keys_free(member_keys_t *k) {
  free(k->keys);
  free(k->ptrs);
  lkv__api_members_free(&k->ms);
}

static int member_keys_load(lkv_api_t *api, member_keys_t *k) {
  memset(k, 0, sizeof(*k));
  int rc = lkv__api_members_load(api, &k->ms);
  if (rc) return rc;
  k->keys = calloc(k->ms.n ? k->ms.n : 1, sizeof(*k->keys));
  k->ptrs = calloc(k->ms.n ? k->ms.n : 1, sizeof(*k->ptrs));
  if (!k->keys || !k->ptrs) {
    member_keys_free(k);
    return LKV_ENOMEM;
  }
  for (size_t i = 0; i < k->ms.n; i++) {
    Ledgerkvpb__MemberKey *m = &k->keys[i];
    lkv_cluster_attrs_t *a = &k->ms.attrs[i];
    ledgerkvpb__member_key__init(m);
    k->ptrs[i] = m;
    m->id = k->ms.rm[i].id;
    m->is_learner = k->ms.rm[i].is_learner;
    /* Not published yet: listed by id without a key, as MemberList lists it. */
    if (a->name) m->name = a->name;
    if (a->has_ledger_key)
      m->public_key = (ProtobufCBinaryData){.len = LKV_CLUSTER_KEY_LEN, .data = a->ledger_key};
    if (k->ms.rm[i].has_event_key)
      m->event_public_key =
          (ProtobufCBinaryData){.len = sizeof(k->ms.rm[i].event_key), .data = k->ms.rm[i].event_key};
  }
  return 0;
}

void lkv__ledger_get_member_keys(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *req = lkv__api_unpack(call, &ledgerkvpb__member_keys_request__descriptor, data, len);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, NULL);
  member_keys_t k;
  int rc = member_keys_load(api, &k);
  if (rc != 0) {
    lkv__api_fail(call, rc);
    return;
  }
  Ledgerkvpb__MemberKeysResponse resp = LEDGERKVPB__MEMBER_KEYS_RESPONSE__INIT;
  resp.member_id = api->id.member_id;
  resp.n_members = k.ms.n;
  resp.members = k.ptrs;
  lkv__api_reply(call, &resp.base);
  member_keys_free(&k);
}
