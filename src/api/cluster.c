/* etcdserverpb.Cluster: the member list and membership changes, through the replicator. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/service.h"
#include "cluster/attrs.h"
#include "cluster/ids.h"
#include "cluster/initial_cluster.h"
#include "common/error.h"

void lkv__api_members_free(lkv__api_members_t *ms) {
  for (size_t i = 0; ms->attrs && i < ms->n; i++) lkv_cluster_attrs_free(&ms->attrs[i]);
  free(ms->attrs);
  lkv_replication_members_free(ms->rm, ms->n);
}

int lkv__api_members_load(lkv_api_t *api, lkv__api_members_t *ms) {
  memset(ms, 0, sizeof(*ms));
  int rc = lkv_replicator_members(api->replicator, &ms->rm, &ms->n);
  if (rc) return rc;
  ms->attrs = calloc(ms->n ? ms->n : 1, sizeof(*ms->attrs));
  if (!ms->attrs) {
    lkv__api_members_free(ms);
    return LKV_ENOMEM;
  }
  for (size_t i = 0; i < ms->n; i++)
    if (ms->rm[i].attrs) lkv_cluster_attrs_decode(ms->rm[i].attrs, ms->rm[i].attrs_len, &ms->attrs[i]);
  return 0;
}

/* The members in force as protobuf, with the memory behind them (ptrs in id order). */
typedef struct list_s {
  lkv__api_members_t ms;
  size_t n;
  Etcdserverpb__Member *members;
  Etcdserverpb__Member **ptrs;
} list_t;

static void list_free(list_t *l) {
  free(l->ptrs);
  free(l->members);
  lkv__api_members_free(&l->ms);
}

static int by_id(const void *a, const void *b) {
  uint64_t x = (*(Etcdserverpb__Member *const *)a)->id, y = (*(Etcdserverpb__Member *const *)b)->id;
  return x < y ? -1 : x > y;
}

/* The members in etcd's order: by id (its RaftCluster.Members sorts them). */
static int list_load(lkv_api_t *api, list_t *l) {
  memset(l, 0, sizeof(*l));
  int rc = lkv__api_members_load(api, &l->ms);
  if (rc) return rc;
  l->n = l->ms.n;
  l->members = calloc(l->n ? l->n : 1, sizeof(*l->members));
  l->ptrs = calloc(l->n ? l->n : 1, sizeof(*l->ptrs));
  if (!l->members || !l->ptrs) {
    list_free(l);
    return LKV_ENOMEM;
  }
  for (size_t i = 0; i < l->n; i++) {
    Etcdserverpb__Member *m = &l->members[i];
    const lkv_cluster_attrs_t *a = &l->ms.attrs[i];
    etcdserverpb__member__init(m);
    l->ptrs[i] = m;
    m->id = l->ms.rm[i].id;
    m->islearner = l->ms.rm[i].is_learner;
    /* A member that has not published yet is listed by id (and peer URLs), as etcd lists an unstarted one. */
    if (a->name) {
      m->name = a->name;
      m->peerurls = a->peer_urls;
      m->n_peerurls = a->n_peer_urls;
      m->clienturls = a->client_urls;
      m->n_clienturls = a->n_client_urls;
    }
  }
  qsort(l->ptrs, l->n, sizeof(*l->ptrs), by_id);
  return 0;
}

void lkv__cluster_member_list(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *req = lkv__api_unpack(call, &etcdserverpb__member_list_request__descriptor, data, len);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, NULL);
  list_t l;
  int rc = list_load(api, &l);
  if (rc != 0) {
    lkv__api_fail(call, rc);
    return;
  }
  /* etcd's MemberList header carries no revision. */
  Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  lkv__api_header(api, &hdr, 0);
  Etcdserverpb__MemberListResponse resp = ETCDSERVERPB__MEMBER_LIST_RESPONSE__INIT;
  resp.header = &hdr;
  resp.n_members = l.n;
  resp.members = l.ptrs;
  lkv__api_reply(call, &resp.base);
  list_free(&l);
}

/* A membership change on its way: what its answer needs. */
typedef struct change_s {
  lkv_api_t *api;
  lkv_call_t *call;
  lkv_member_change_type_t type;
  uint64_t id;
  char **peer_urls; /* add and update: the canonical URLs */
  size_t n_peer_urls;
  int64_t drawn_at; /* add: the time its id hashes */
  unsigned redraws; /* add: ids drawn again after a lease owner tag clash (causal mode) */
} change_t;

static void change_free(change_t *c) {
  for (size_t i = 0; i < c->n_peer_urls; i++) free(c->peer_urls[i]);
  free(c->peer_urls);
  free(c);
}

/* Remove, promote and update answer with the same fields: the header and the members after the change. */
#define REPLY_MEMBERS(Type, INIT)      \
  do {                                 \
    Type r_ = INIT;                    \
    r_.header = &hdr;                  \
    r_.members = l.ptrs;               \
    r_.n_members = l.n;                \
    lkv__api_reply(c->call, &r_.base); \
  } while (0)

/* Answers a change once applied: etcd's responses carry the header and the members after it (add: the
 * new member too). */
static void propose_change(change_t *c);
static int draw_id(change_t *c);

/* Causal mode: an added member's lease owner tag (low 15 bits of its id) must not be a member's; another id
 * is drawn as etcd draws one, a second later, a few times. */
#define LKV_CLUSTER_MAX_REDRAWS 8

static void changed(void *arg, int err) {
  change_t *c = arg;
  if (err == LKV_ELEASETAG && c->redraws < LKV_CLUSTER_MAX_REDRAWS) {
    c->redraws++, c->drawn_at++;
    if ((err = draw_id(c)) == 0) {
      propose_change(c);
      return;
    }
  }
  list_t l;
  if (err == 0) err = list_load(c->api, &l);
  if (err != 0) {
    lkv__api_fail(c->call, err);
    change_free(c);
    return;
  }
  Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  lkv__api_header(c->api, &hdr, 0);
  switch (c->type) {
    case LKV_MEMBER_ADD:
    case LKV_MEMBER_ADD_LEARNER: {
      Etcdserverpb__Member m = ETCDSERVERPB__MEMBER__INIT;
      m.id = c->id;
      m.peerurls = c->peer_urls;
      m.n_peerurls = c->n_peer_urls;
      m.islearner = c->type == LKV_MEMBER_ADD_LEARNER;
      Etcdserverpb__MemberAddResponse r = ETCDSERVERPB__MEMBER_ADD_RESPONSE__INIT;
      r.header = &hdr;
      r.member = &m;
      r.members = l.ptrs;
      r.n_members = l.n;
      lkv__api_reply(c->call, &r.base);
      break;
    }
    case LKV_MEMBER_REMOVE:
      REPLY_MEMBERS(Etcdserverpb__MemberRemoveResponse, ETCDSERVERPB__MEMBER_REMOVE_RESPONSE__INIT);
      break;
    case LKV_MEMBER_PROMOTE:
      REPLY_MEMBERS(Etcdserverpb__MemberPromoteResponse, ETCDSERVERPB__MEMBER_PROMOTE_RESPONSE__INIT);
      break;
    case LKV_MEMBER_UPDATE:
      REPLY_MEMBERS(Etcdserverpb__MemberUpdateResponse, ETCDSERVERPB__MEMBER_UPDATE_RESPONSE__INIT);
      break;
  }
  list_free(&l);
  change_free(c);
}

/* etcd's types.NewURLs on a request's peer URLs: any bad one is "given member URLs are invalid". */
static int parse_urls(change_t *c, char **urls, size_t n) {
  if (n == 0) return LKV_EBADURLS;
  c->peer_urls = calloc(n, sizeof(char *));
  if (!c->peer_urls) return LKV_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    int rc = lkv_cluster_url_parse(urls[i], &c->peer_urls[i], NULL, 0);
    if (rc) return rc == LKV_EINVAL ? LKV_EBADURLS : rc;
    c->n_peer_urls++;
  }
  return 0;
}

/* etcd's NewMember for a member added at run time: no cluster token, the time hashed in. */
static int draw_id(change_t *c) {
  return lkv_cluster_member_id((const char *const *)c->peer_urls, c->n_peer_urls, "", &c->drawn_at, &c->id);
}

/* Proposes c (taking it); the call is answered once the change is applied or refused. */
static void propose_change(change_t *c) {
  uint8_t *attrs = NULL;
  size_t attrs_len = 0;
  int rc = 0;
  if (c->n_peer_urls) {
    lkv_cluster_attrs_t a = {.name = "", .peer_urls = c->peer_urls, .n_peer_urls = c->n_peer_urls};
    rc = lkv_cluster_attrs_encode(&a, &attrs, &attrs_len);
  }
  lkv_member_change_t mc = {.type = c->type, .id = c->id, .attrs = attrs, .attrs_len = attrs_len};
  if (rc == 0) rc = lkv_replicator_change_member(c->api->replicator, &mc, changed, c);
  free(attrs);
  if (rc == 0) return;
  lkv__api_fail(c->call, rc);
  change_free(c);
}

static change_t *change_new(lkv_api_t *api, lkv_call_t *call, lkv_member_change_type_t type, uint64_t id) {
  change_t *c = calloc(1, sizeof(*c));
  if (!c) {
    lkv__api_fail(call, LKV_ENOMEM);
    return NULL;
  }
  *c = (change_t){.api = api, .call = call, .type = type, .id = id};
  return c;
}

void lkv__cluster_member_add(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__MemberAddRequest *req = (Etcdserverpb__MemberAddRequest *)lkv__api_unpack(
      call, &etcdserverpb__member_add_request__descriptor, data, len);
  if (!req) return;
  change_t *c = change_new(api, call, req->islearner ? LKV_MEMBER_ADD_LEARNER : LKV_MEMBER_ADD, 0);
  int rc = c ? parse_urls(c, req->peerurls, req->n_peerurls) : 0;
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (!c) return;
  c->drawn_at = (int64_t)time(NULL);
  if (rc == 0) rc = draw_id(c);
  if (rc != 0) {
    lkv__api_fail(call, rc);
    change_free(c);
    return;
  }
  propose_change(c);
}

void lkv__cluster_member_remove(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__MemberRemoveRequest *req = (Etcdserverpb__MemberRemoveRequest *)lkv__api_unpack(
      call, &etcdserverpb__member_remove_request__descriptor, data, len);
  if (!req) return;
  change_t *c = change_new(api, call, LKV_MEMBER_REMOVE, req->id);
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (c) propose_change(c);
}

void lkv__cluster_member_promote(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__MemberPromoteRequest *req = (Etcdserverpb__MemberPromoteRequest *)lkv__api_unpack(
      call, &etcdserverpb__member_promote_request__descriptor, data, len);
  if (!req) return;
  change_t *c = change_new(api, call, LKV_MEMBER_PROMOTE, req->id);
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (c) propose_change(c);
}

void lkv__cluster_member_update(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__MemberUpdateRequest *req = (Etcdserverpb__MemberUpdateRequest *)lkv__api_unpack(
      call, &etcdserverpb__member_update_request__descriptor, data, len);
  if (!req) return;
  change_t *c = change_new(api, call, LKV_MEMBER_UPDATE, req->id);
  int rc = c ? parse_urls(c, req->peerurls, req->n_peerurls) : 0;
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (!c) return;
  if (rc != 0) {
    lkv__api_fail(call, rc);
    change_free(c);
    return;
  }
  propose_change(c);
}
