/* The ledger workloads' requests (receipt, verify's fetching): the setup that waits for a signed head, and
 * GetReceipt. */
#include <string.h>

#include "bench/internal.h"
#include "bench/receipt_pb.h"
#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "ledgerkv.pb-c.h"

#define PATH_RANGE "/etcdserverpb.KV/Range"
#define PATH_PUT "/etcdserverpb.KV/Put"
#define PATH_HEAD "/ledgerkvpb.Ledger/GetSignedTreeHead"
#define PATH_RECEIPT "/ledgerkvpb.Ledger/GetReceipt"

/* The server signs every --ledger-sign-interval (100 ms by default): asking for the head this often finds
 * a new one within a fraction of it. */
#define POLL_MS 20
/* The first write makes revision 2: every revision from there up to a head's revision has an entry. */
#define FIRST_REVISION 2

/*
 * Setup, on the thread's first connection: Range (its header gives the store's revision R), a Put when the
 * store is still empty (R < 2: nothing to have a receipt for), then GetSignedTreeHead until the head covers
 * R (NOT_FOUND, no head yet, counts as not yet). A failed call is counted like a failed request and aborts
 * the run with the server's answer, e.g. a node running with --ledger=false.
 */

static void setup_error(lkv__bench_thread_t *t, const char *what, int status, const char *message) {
  lkv__bench_record(t, status, message, lkv__bench_now_ns());
  lkv__bench_setup_failed(t, "%s: %s: %s", what, lkv_bench_outcome_name(status), message);
}

/* Setup calls go on the thread's first connection. */
static int send_packed(lkv__bench_thread_t *t, const char *path, const ProtobufCMessage *msg,
                       lkv_grpc_unary_cb cb, void *ud) {
  return lkv__bench_unary(t, t->conns[0], path, msg, cb, ud);
}

static void head_done(void *ud, int status, const char *message, const uint8_t *resp, size_t len);

static void ask_head(lkv__bench_thread_t *t) {
  Ledgerkvpb__SignedTreeHeadRequest req = LEDGERKVPB__SIGNED_TREE_HEAD_REQUEST__INIT;
  int rv = send_packed(t, PATH_HEAD, &req.base, head_done, t);
  if (rv != 0) lkv__bench_setup_failed(t, "GetSignedTreeHead: %s", lkv_strerror(rv));
}

static void on_poll(void *ud) {
  lkv__bench_thread_t *t = ud;
  if (t->phase == LKV__PH_SETUP) ask_head(t);
}

static void head_done(void *ud, int status, const char *message, const uint8_t *resp, size_t len) {
  lkv__bench_thread_t *t = ud;
  if (t->phase != LKV__PH_SETUP) return;
  if (status == LKV_GRPC_NOT_FOUND) { /* nothing signed yet: the first head is coming */
    lkv_grpc_timer_start(t->poll, POLL_MS, 0);
    return;
  }
  if (status != LKV_GRPC_OK) {
    setup_error(t, "GetSignedTreeHead", status, message);
    return;
  }
  Ledgerkvpb__SignedTreeHeadResponse *m = ledgerkvpb__signed_tree_head_response__unpack(NULL, len, resp);
  lkv_ledger_signed_head_t h;
  int bad = !m || lkv_bench_head_from_pb(m->head, &h) != 0;
  if (m) ledgerkvpb__signed_tree_head_response__free_unpacked(m, NULL);
  if (bad) {
    setup_error(t, "GetSignedTreeHead", LKV_BENCH_BAD_RESPONSE, "undecodable SignedTreeHeadResponse");
  } else if (h.head.revision < t->rev_want) {
    lkv_grpc_timer_start(t->poll, POLL_MS, 0);
  } else {
    t->rev_head = h.head.revision;
    memcpy(t->head_key, h.public_key, LKV_LEDGER_KEY_LEN);
    t->setup_pending--;
  }
}

static void put_done(void *ud, int status, const char *message, const uint8_t *resp, size_t len);

/* The store's revision is known from a response header: wait for a head covering it, or write first. */
static void revision_known(lkv__bench_thread_t *t, int64_t revision, int wrote) {
  if (revision >= FIRST_REVISION) {
    t->rev_want = revision;
    ask_head(t);
    return;
  }
  if (wrote) {
    setup_error(t, "Put", LKV_BENCH_BAD_RESPONSE, "the response header has no revision");
    return;
  }
  Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
  lkv__bench_make_key(t, 0);
  put.key = (ProtobufCBinaryData){.len = t->cfg->key_size, .data = (uint8_t *)t->key};
  put.value = (ProtobufCBinaryData){.len = t->cfg->val_size, .data = t->value};
  int rv = send_packed(t, PATH_PUT, &put.base, put_done, t);
  if (rv != 0) lkv__bench_setup_failed(t, "Put: %s", lkv_strerror(rv));
}

/* A Put's (wrote) or Range's answer: its header's revision. */
static void revision_answer(void *ud, int status, const char *message, const uint8_t *resp, size_t len,
                            int wrote) {
  lkv__bench_thread_t *t = ud;
  if (t->phase != LKV__PH_SETUP) return;
  if (status != LKV_GRPC_OK) {
    setup_error(t, wrote ? "Put" : "Range", status, message);
    return;
  }
  ProtobufCMessage *m = protobuf_c_message_unpack(
      wrote ? &etcdserverpb__put_response__descriptor : &etcdserverpb__range_response__descriptor, NULL, len,
      resp);
  const Etcdserverpb__ResponseHeader *h = !m      ? NULL
                                          : wrote ? ((Etcdserverpb__PutResponse *)m)->header
                                                  : ((Etcdserverpb__RangeResponse *)m)->header;
  int64_t revision = h ? h->revision : 0;
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  revision_known(t, revision, wrote);
}

static void put_done(void *ud, int status, const char *message, const uint8_t *resp, size_t len) {
  revision_answer(ud, status, message, resp, len, 1);
}

static void range_done(void *ud, int status, const char *message, const uint8_t *resp, size_t len) {
  revision_answer(ud, status, message, resp, len, 0);
}

int lkv__bench_setup_ledger(lkv__bench_thread_t *t) {
  int rv = lkv_grpc_timer_new(t->loop, on_poll, t, &t->poll);
  if (rv == 0) {
    Etcdserverpb__RangeRequest range = ETCDSERVERPB__RANGE_REQUEST__INIT;
    lkv__bench_make_key(t, 0);
    range.key = (ProtobufCBinaryData){.len = t->cfg->key_size, .data = (uint8_t *)t->key};
    range.count_only = 1;
    rv = send_packed(t, PATH_RANGE, &range.base, range_done, t);
  }
  if (rv != 0) {
    lkv__bench_setup_failed(t, "ledger setup: %s", lkv_strerror(rv));
    return rv;
  }
  t->setup_pending++;
  return 0;
}

/* ---- the load ---- */

static void receipt_done(void *ud, int status, const char *message, const uint8_t *resp, size_t len) {
  lkv__bench_client_t *c = ud;
  lkv__bench_thread_t *t = c->t;
  if (t->phase == LKV__PH_DONE) return;
  /* receipt: OK means a receipt was served (decoding it would only cost the client CPU); verify keeps it. */
  if (status == LKV_GRPC_OK && t->cfg->workload == LKV_BENCH_VERIFY) {
    Ledgerkvpb__ReceiptResponse *m = ledgerkvpb__receipt_response__unpack(NULL, len, resp);
    if (!m || lkv_bench_receipt_from_pb(m, &t->sh->receipts[c->ticket]) != 0) {
      status = LKV_BENCH_BAD_RESPONSE;
      message = "undecodable ReceiptResponse";
    }
    if (m) ledgerkvpb__receipt_response__free_unpacked(m, NULL);
  }
  lkv__bench_record(t, status, message, c->start_ns);
  lkv__bench_client_done(c);
}

int lkv__bench_issue_receipt(lkv__bench_client_t *c, uint64_t ticket) {
  lkv__bench_thread_t *t = c->t;
  const lkv__bench_shared_t *sh = t->sh;
  uint64_t span = (uint64_t)(sh->rev_hi - FIRST_REVISION + 1);
  Ledgerkvpb__ReceiptRequest req = LEDGERKVPB__RECEIPT_REQUEST__INIT;
  /* verify: n_receipts <= span distinct revisions spread over the whole tree, so proofs have every depth. */
  uint64_t offset =
      t->cfg->workload == LKV_BENCH_VERIFY ? ticket * span / sh->n_receipts : lkv__bench_random(t, span);
  req.revision = FIRST_REVISION + (int64_t)offset;
  c->ticket = ticket;
  return lkv__bench_unary(t, c->conn, PATH_RECEIPT, &req.base, receipt_done, c);
}
