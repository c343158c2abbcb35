/* The corruption checks' questions to the peers over their client URLs: Maintenance.HashKV and the
 * ledger's latest signed head, each call bounded by a timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/attrs.h"
#include "cluster/ids.h"
#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "ledgerkv.pb-c.h"
#include "server/config_url.h"
#include "server/corrupt.h"
#include "transport/grpc_client.h"
#include "transport/transport.h"

/* One call in flight on its own loop: the timer ends it by closing the connection. */
typedef struct call_s {
  lkv_grpc_conn_t *conn;
  lkv_grpc_timer_t *timer;
  int status;
  char message[256];
  uint8_t *resp; /* malloc'd when status is OK */
  size_t len;
} call_t;

/* Closes the connection once, whether the answer or the timer comes first (closing from the timer runs
 * the call's completion inside lkv_grpc_conn_close). */
static void close_once(call_t *c) {
  lkv_grpc_conn_t *conn = c->conn;
  c->conn = NULL;
  if (conn) lkv_grpc_conn_close(conn);
}

static void on_done(void *ud, int status, const char *message, const uint8_t *resp, size_t len) {
  call_t *c = ud;
  c->status = status;
  snprintf(c->message, sizeof(c->message), "%s", message);
  if (status == LKV_GRPC_OK) {
    c->resp = malloc(len ? len : 1);
    if (c->resp && len) memcpy(c->resp, resp, len);
    if (!c->resp) c->status = LKV_GRPC_INTERNAL;
    c->len = len;
  }
  lkv_grpc_timer_stop(c->timer);
  close_once(c);
}

static void on_timeout(void *ud) {
  call_t *c = ud;
  close_once(c);
}

/* One unary call of path with req to host:port within timeout_ms. Returns 0 with *c filled (c->resp set
 * when c->status is OK; free it), or why the call could not be made. */
static int call(const char *host, int port, const char *path, const ProtobufCMessage *req,
                unsigned timeout_ms, call_t *c) {
  uint8_t buf[16]; /* the requests here are a varint at most */
  size_t len = protobuf_c_message_pack(req, buf);
  lkv_grpc_loop_t *loop;
  int rc = lkv_grpc_loop_new(&loop);
  if (rc) return rc;
  *c = (call_t){.status = LKV_GRPC_UNAVAILABLE};
  rc = lkv_grpc_timer_new(loop, on_timeout, c, &c->timer);
  if (rc == 0) rc = lkv_grpc_conn_open(loop, host, port, NULL, NULL, &c->conn);
  if (rc == 0) {
    rc = lkv_grpc_unary(c->conn, path, buf, len, on_done, c);
    if (rc) close_once(c);
  }
  if (rc == 0) {
    lkv_grpc_timer_start(c->timer, timeout_ms, 0);
    lkv_grpc_loop_run(loop);
  }
  lkv_grpc_loop_free(loop);
  return rc;
}

/* HashKV(rev) at host:port into *p. Returns 0 (answered) or why not. */
static int ask_hash(const char *host, int port, int64_t rev, unsigned timeout_ms, lkv__peer_hash_t *p) {
  Etcdserverpb__HashKVRequest req;
  etcdserverpb__hash_kvrequest__init(&req);
  req.revision = rev;
  call_t c;
  int rc = call(host, port, "/etcdserverpb.Maintenance/HashKV", &req.base, timeout_ms, &c);
  if (rc) return rc;
  Etcdserverpb__HashKVResponse *r = NULL;
  if (c.status == LKV_GRPC_OK) r = etcdserverpb__hash_kvresponse__unpack(NULL, c.len, c.resp);
  free(c.resp);
  if (!r) {
    /* The two refusals etcd tells apart, by etcd's texts. */
    if (strstr(c.message, "future revision")) return LKV_EFUTUREREV;
    if (strstr(c.message, "has been compacted")) return LKV_ECOMPACTED;
    fprintf(stderr, "ledgerkv: hash-kv error \"%s: %s\" on peer %s:%d with revision %lld\n",
            lkv_grpc_status_name(c.status), c.message, host, port, (long long)rev);
    return LKV_EIO;
  }
  p->hash = r->hash;
  p->revision = r->header ? r->header->revision : 0;
  p->compact_revision = r->compact_revision;
  etcdserverpb__hash_kvresponse__free_unpacked(r, NULL);
  return 0;
}

/* The peer's latest signed tree head into *p (has_head stays 0 when it has none or does not answer). */
static void ask_head(const char *host, int port, unsigned timeout_ms, lkv__peer_hash_t *p) {
  Ledgerkvpb__SignedTreeHeadRequest req;
  ledgerkvpb__signed_tree_head_request__init(&req);
  call_t c;
  if (call(host, port, "/ledgerkvpb.Ledger/GetSignedTreeHead", &req.base, timeout_ms, &c) != 0) return;
  Ledgerkvpb__SignedTreeHeadResponse *r = NULL;
  if (c.status == LKV_GRPC_OK) r = ledgerkvpb__signed_tree_head_response__unpack(NULL, c.len, c.resp);
  free(c.resp);
  if (!r) return;
  if (r->head && r->head->root.len == LKV_MERKLE_HASH_LEN) {
    p->has_head = 1;
    p->tree_size = r->head->tree_size;
    memcpy(p->root.b, r->head->root.data, LKV_MERKLE_HASH_LEN);
  }
  ledgerkvpb__signed_tree_head_response__free_unpacked(r, NULL);
}

/* Fills *p from the first of a's client URLs that answers. Returns 1 when a lists a client URL, else 0. */
static int ask_member(const lkv_cluster_attrs_t *a, int64_t rev, int heads, unsigned timeout_ms,
                      lkv__peer_hash_t *p) {
  if (a->n_client_urls == 0) return 0;
  p->err = LKV_EIO;
  for (size_t i = 0; i < a->n_client_urls && p->err != 0; i++) {
    lkv_config_url_t *u = NULL;
    size_t n = 0;
    char err[256];
    if (lkv__config_urls_parse("client URL", a->client_urls[i], 0, &u, &n, err, sizeof(err)) != 0) continue;
    if (u[0].tls)
      fprintf(stderr, "ledgerkv: cannot check the hash of peer %s: https client URLs are not asked\n",
              u[0].url);
    else if ((p->err = ask_hash(u[0].host, u[0].port, rev, timeout_ms, p)) != LKV_EIO && heads)
      ask_head(u[0].host, u[0].port, timeout_ms, p);
    lkv__config_urls_free(u, n);
  }
  return 1;
}

int lkv__peer_hashes(lkv_replicator_t *r, uint64_t self, int64_t rev, int heads, unsigned timeout_ms,
                     lkv__peer_hash_t **out, size_t *n) {
  lkv_replication_member_t *m;
  size_t nm;
  int rc = lkv_replicator_members(r, &m, &nm);
  if (rc) return rc;
  lkv__peer_hash_t *ph = calloc(nm ? nm : 1, sizeof(*ph));
  if (!ph) {
    lkv_replication_members_free(m, nm);
    return LKV_ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i < nm; i++) {
    lkv_cluster_attrs_t a;
    if (m[i].id == self || !m[i].attrs || lkv_cluster_attrs_decode(m[i].attrs, m[i].attrs_len, &a) != 0)
      continue;
    ph[k].id = m[i].id;
    if (ask_member(&a, rev, heads, timeout_ms, &ph[k])) k++;
    lkv_cluster_attrs_free(&a);
  }
  lkv_replication_members_free(m, nm);
  *out = ph;
  *n = k;
  return 0;
}
