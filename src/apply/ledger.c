/* The batch's ledger entries: what each state-changing request did, read back from its own revision. */
#include <stdlib.h>
#include <string.h>

#include "apply/internal.h"
#include "common/error.h"

/* An entry under construction: its ops are a slice of the recorder's shared write set, fixed into a
 * pointer only when the batch is complete (the buffer may move while it grows). */
typedef struct lkv__rec_entry_s {
  lkv_ledger_entry_t e;
  size_t ops_off;
} lkv__rec_entry_t;

void lkv__rec_init(lkv__rec_t *r) {
  memset(r, 0, sizeof(*r));
}

void lkv__rec_free(lkv__rec_t *r) {
  lkv_ledger_ws_free(&r->ws);
  free(r->ents);
  free(r->out);
  memset(r, 0, sizeof(*r));
}

static lkv__rec_entry_t *rec_add(lkv__rec_t *r) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    lkv__rec_entry_t *e = realloc(r->ents, cap * sizeof(*e));
    if (!e) return NULL;
    r->ents = e;
    r->cap = cap;
  }
  lkv__rec_entry_t *e = &r->ents[r->n];
  memset(e, 0, sizeof(*e));
  e->ops_off = r->ws.len;
  return e;
}

/* History callback: every change of the request's revision, in sub-revision order. */
static int add_op(void *arg, const lkv_mvcc_kv_t *kv, int64_t sub, int tombstone) {
  (void)sub;
  lkv_ledger_ws_t *ws = arg;
  if (tombstone) return lkv_ledger_ws_delete(ws, kv->key, kv->key_len);
  return lkv_ledger_ws_put(ws, kv->key, kv->key_len, kv->value, kv->value_len, kv->create_revision,
                           kv->version, kv->lease);
}

/* The claims of the request as the client sent it; without those bytes, of the request packed again
 * (protobuf-c writes fields in number order, the canonical encoding etcd's clients send). */
static int claims_of(const lkv_apply_req_t *req, uint8_t out[LKV_LEDGER_DIGEST_LEN]) {
  if (req->no_claims) {
    lkv_ledger_claims_digest(NULL, 0, NULL, 0, out);
    return 0;
  }
  if (req->raw) {
    lkv_ledger_claims_digest(req->raw, req->raw_len, req->resp, req->resp_len, out);
    return 0;
  }
  uint8_t *buf;
  size_t len;
  int rc = lkv__pack(req->msg, &buf, &len);
  if (rc) return rc;
  lkv_ledger_claims_digest(buf, len, req->resp, req->resp_len, out);
  free(buf);
  return 0;
}

int lkv__rec_request(lkv__rec_t *r, lkv_mvcc_txn_t *t, const lkv_apply_req_t *req, int64_t rev_before) {
  int64_t rev = lkv_mvcc_txn_rev(t);
  int produced = rev != rev_before;
  lkv_ledger_kind_t kind;
  switch (req->kind) {
    case LKV_OP_PUT:
    case LKV_OP_DELETE_RANGE:
    case LKV_OP_TXN:
      if (!produced) return 0; /* a delete of nothing or a txn that wrote nothing changed no state */
      kind = LKV_LEDGER_REVISION;
      break;
    case LKV_OP_COMPACT:
      kind = LKV_LEDGER_COMPACTION;
      break;
    case LKV_OP_LEASE_GRANT:
      kind = LKV_LEDGER_LEASE_GRANT;
      break;
    case LKV_OP_LEASE_REVOKE:
      kind = LKV_LEDGER_LEASE_REVOKE;
      break;
    default:
      return 0; /* alarms are member health, not key-value state: not in the ledger */
  }
  size_t ws_len = r->ws.len;
  uint32_t ws_ops = r->ws.n_ops;
  lkv__rec_entry_t *re = rec_add(r);
  if (!re) return LKV_ENOMEM;
  lkv_ledger_entry_t *e = &re->e;
  e->kind = kind;
  e->revision = rev;
  int rc = 0;
  if (kind == LKV_LEDGER_COMPACTION) {
    e->compact_revision = ((const Etcdserverpb__CompactionRequest *)req->msg)->revision;
  } else if (kind == LKV_LEDGER_LEASE_GRANT) {
    const Etcdserverpb__LeaseGrantRequest *g = (const Etcdserverpb__LeaseGrantRequest *)req->msg;
    e->lease_id = g->id;
    e->lease_ttl = g->ttl;
  } else {
    if (kind == LKV_LEDGER_LEASE_REVOKE)
      e->lease_id = ((const Etcdserverpb__LeaseRevokeRequest *)req->msg)->id;
    if (produced) rc = lkv_mvcc_history(t, rev, rev, add_op, &r->ws);
    e->n_ops = r->ws.n_ops - ws_ops;
    e->ops_len = r->ws.len - ws_len;
  }
  if (!rc) rc = claims_of(req, e->claims);
  if (rc) {
    /* Drop this entry's ops: the buffer keeps its memory, the earlier entries their slices. */
    r->ws.len = ws_len;
    r->ws.n_ops = ws_ops;
    return rc;
  }
  r->n++;
  return 0;
}

const lkv_ledger_entry_t *lkv__rec_entries(lkv__rec_t *r) {
  if (r->n == 0) return NULL;
  lkv_ledger_entry_t *out = realloc(r->out, r->n * sizeof(*out));
  if (!out) return NULL;
  r->out = out;
  for (size_t i = 0; i < r->n; i++) {
    out[i] = r->ents[i].e;
    out[i].ops = out[i].n_ops ? r->ws.buf + r->ents[i].ops_off : NULL;
  }
  return out;
}
