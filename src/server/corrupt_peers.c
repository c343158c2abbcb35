/* The corruption checks' questions to the peers: one Maintenance.HashKV call per peer over its client
 * URLs, each bounded by a timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/attrs.h"
#include "cluster/ids.h"
#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
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
  Etcdserverpb__HashKVResponse *resp;
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
    c->resp = etcdserverpb__hash_kvresponse__unpack(NULL, len, resp);
    if (!c->resp) c->status = LKV_GRPC_INTERNAL;
  }
  lkv_grpc_timer_stop(c->timer);
  close_once(c);
}

static void on_timeout(void *ud) {
  call_t *c = ud;
  close_once(c);
}

/* HashKV(rev) at host:port within timeout_ms into *p. Returns 0 (answered) or why not. */
static int ask(const char *host, int port, int64_t rev, unsigned timeout_ms, lkv__peer_hash_t *p) {
  Etcdserverpb__HashKVRequest req;
  etcdserverpb__hash_kvrequest__init(&req);
  req.revision = rev;
  uint8_t buf[16];
  size_t len = etcdserverpb__hash_kvrequest__pack(&req, buf);
  lkv_grpc_loop_t *loop;
  int rc = lkv_grpc_loop_new(&loop);
  if (rc) return rc;
  call_t c = {.status = LKV_GRPC_UNAVAILABLE};
  rc = lkv_grpc_timer_new(loop, on_timeout, &c, &c.timer);
  if (rc == 0) rc = lkv_grpc_conn_open(loop, host, port, NULL, NULL, &c.conn);
  if (rc == 0) {
    rc = lkv_grpc_unary(c.conn, "/etcdserverpb.Maintenance/HashKV", buf, len, on_done, &c);
    if (rc) close_once(&c);
  }
  if (rc == 0) {
    lkv_grpc_timer_start(c.timer, timeout_ms, 0);
    lkv_grpc_loop_run(loop);
  }
  lkv_grpc_loop_free(loop);
  if (rc) return rc;
  if (c.status != LKV_GRPC_OK) {
    /* The two refusals etcd tells apart, by etcd's texts. */
    if (strstr(c.message, "future revision")) return LKV_EFUTUREREV;
    if (strstr(c.message, "has been compacted")) return LKV_ECOMPACTED;
    fprintf(stderr, "ledgerkv: hash-kv error \"%s: %s\" on peer %s:%d with revision %lld\n",
            lkv_grpc_status_name(c.status), c.message, host, port, (long long)rev);
    return LKV_EIO;
  }
  p->hash = c.resp->hash;
  p->revision = c.resp->header ? c.resp->header->revision : 0;
  p->compact_revision = c.resp->compact_revision;
  etcdserverpb__hash_kvresponse__free_unpacked(c.resp, NULL);
  return 0;
}

/* Fills *p from the first of a's client URLs that answers. Returns 1 when a lists a client URL, else 0. */
static int ask_member(const lkv_cluster_attrs_t *a, int64_t rev, unsigned timeout_ms, lkv__peer_hash_t *p) {
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
    else
      p->err = ask(u[0].host, u[0].port, rev, timeout_ms, p);
    lkv__config_urls_free(u, n);
  }
  return 1;
}

int lkv__peer_hashes(lkv_replicator_t *r, uint64_t self, int64_t rev, unsigned timeout_ms,
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
    if (ask_member(&a, rev, timeout_ms, &ph[k])) k++;
    lkv_cluster_attrs_free(&a);
  }
  lkv_replication_members_free(m, nm);
  *out = ph;
  *n = k;
  return 0;
}
