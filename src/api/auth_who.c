/* Who a call runs as: its token (etcd's "token" or the gateway's "authorization" metadata) resolved to a
 * user and the current auth revision, carried by the writes it proposes; a token from a log index this
 * member has not applied yet waits for a read barrier first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "api/auth_jwt.h"
#include "api/auth_token.h"
#include "common/clock.h"
#include "common/error.h"

static const char *call_token(const lkv_call_t *call) {
  const char *t = lkv_call_metadata(call, LKV_API_TOKEN_KEY);
  return t ? t : lkv_call_metadata(call, LKV_API_TOKEN_GATEWAY_KEY);
}

/* lkv__auth_who; the store's auth revision is read only when with_rev is set (a simple token's or a
 * certificate's user is checked at it; a JWT names its own). */
static int who(lkv_api_t *api, lkv_call_t *call, lkv__who_t *w, int with_rev) {
  *w = (lkv__who_t){0};
  const char *token = call_token(call), *cn;
  char *user;
  int rc;
  if (token && api->jwt) { /* etcd's JWT info: the user and the auth revision its claims hold */
    return lkv_api_jwt_verify(api->jwt, token, lkv_clock_ms(CLOCK_REALTIME) / 1000, &w->user, &w->revision);
  } else if (token && api->tokens) {
    rc = lkv_api_tokens_user(api->tokens, token, lkv_clock_ms(CLOCK_MONOTONIC), &user);
    if (rc) return rc;
  } else if (api->client_cert_auth && (cn = lkv_call_peer_cn(call)) != NULL) {
    if (!(user = strdup(cn))) return LKV_ENOMEM;
  } else {
    return 0; /* etcd: no user; a check then says "user name is empty" */
  }
  int enabled;
  rc = with_rev ? lkv_apply_auth_status(api->store, &enabled, &w->revision) : 0;
  if (rc) {
    free(user);
    return rc;
  }
  w->user = user;
  return 0;
}

int lkv__auth_who(lkv_api_t *api, lkv_call_t *call, lkv__who_t *w) {
  return who(api, call, w, 1);
}

int lkv_api_call_user(lkv_api_t *api, lkv_call_t *call, char **user) {
  lkv__who_t w; /* only the name counts: no read of the store */
  int rc = who(api, call, &w, 0);
  *user = rc ? NULL : w.user;
  return rc == LKV_ENOMEM ? rc : 0;
}

size_t lkv__who_size(const lkv__who_t *who) {
  return who->user ? strlen(who->user) + 1 : 0;
}

void lkv__who_attach(lkv__who_t *who, lkv_apply_req_t *req, char *dst) {
  if (who->user) {
    memcpy(dst, who->user, strlen(who->user) + 1);
    req->auth = (lkv_apply_auth_t){.user = dst, .revision = who->revision};
  }
  lkv__who_free(who);
}

void lkv__who_free(lkv__who_t *who) {
  free(who->user);
  who->user = NULL;
}

int lkv__auth_read_check(lkv_api_t *api, lkv_call_t *call, int write, const ProtobufCBinaryData *key,
                         const ProtobufCBinaryData *end) {
  lkv__who_t w;
  int rc = lkv__auth_who(api, call, &w);
  if (rc) return rc;
  lkv_apply_auth_t who = {.user = w.user, .revision = w.revision};
  rc = lkv_apply_auth_permitted(api->store, &who, write, key->data, key->len, end ? end->data : NULL,
                                end ? end->len : 0);
  lkv__who_free(&w);
  return rc;
}

int lkv__auth_admin_check(lkv_api_t *api, lkv_call_t *call) {
  lkv__who_t w;
  int rc = lkv__auth_who(api, call, &w);
  if (rc) return rc;
  lkv_apply_auth_t who = {.user = w.user, .revision = w.revision};
  rc = lkv_apply_auth_admin(api->store, &who);
  lkv__who_free(&w);
  return rc;
}

/* A call held back until this member has applied its token's Authenticate entry. */
typedef struct deferred_s {
  lkv_api_t *api;
  lkv_call_t *call;
  lkv__auth_resume_fn fn;
  const void *route;
  size_t len;
  uint8_t data[];
} deferred_t;

static void resume_on_loop(lkv_call_t *call, void *arg) {
  deferred_t *d = arg;
  d->fn(d->api, d->route, call, d->data, d->len);
  free(d);
}

static void barrier_passed(void *arg, int err) {
  deferred_t *d = arg;
  if (!err) err = lkv_call_run(d->call, resume_on_loop, d);
  if (!err) return;
  lkv__api_fail(d->call, err);
  free(d);
}

int lkv__auth_token_ahead(lkv_api_t *api, lkv_call_t *call) {
  const char *token = call_token(call);
  if (!token || !api->tokens || api->jwt) return 0;
  const char *dot = strrchr(token, '.');
  if (!dot || !dot[1]) return 0;
  char *end;
  unsigned long long index = strtoull(dot + 1, &end, 10);
  if (*end) return 0;
  lkv_replication_status_t st;
  lkv_replicator_status(api->replicator, &st);
  return index > st.applied_index;
}

int lkv__auth_defer(lkv_api_t *api, lkv_call_t *call, lkv__auth_resume_fn fn, const void *route,
                    const uint8_t *data, size_t len) {
  if (!lkv__auth_token_ahead(api, call)) return 0;
  deferred_t *d = malloc(sizeof(*d) + len);
  if (!d) return 0; /* then the call runs now, and its token is unknown as yet */
  *d = (deferred_t){.api = api, .call = call, .fn = fn, .route = route, .len = len};
  if (len) memcpy(d->data, data, len);
  if (lkv_replicator_read_barrier(api->replicator, barrier_passed, d) == 0) return 1;
  free(d);
  return 0;
}

void lkv__auth_fail_raw(lkv_call_t *call, int err) {
  if (err != LKV_EUSEREMPTY && err != LKV_EUSERNOTFOUND && err != LKV_EPERMDENIED &&
      err != LKV_EINVALIDTOKEN) {
    lkv__api_fail(call, err);
    return;
  }
  char msg[64];
  snprintf(msg, sizeof(msg), "auth: %s", lkv_strerror(err)); /* the auth store's errors.New texts */
  lkv_call_finish(call, LKV_GRPC_UNKNOWN, msg);
}

void lkv__auth_jwt_answer(lkv_api_t *api, lkv_apply_req_t *req) {
  if (req->err) return;
  const Etcdserverpb__AuthenticateRequest *r = (const Etcdserverpb__AuthenticateRequest *)req->msg;
  Etcdserverpb__AuthenticateResponse *resp =
      etcdserverpb__authenticate_response__unpack(NULL, req->resp_len, req->resp);
  int enabled;
  uint64_t rev = 0;
  char *token = NULL;
  int rc = resp ? lkv_apply_auth_status(api->store, &enabled, &rev) : LKV_ENOMEM;
  if (!rc) rc = lkv_api_jwt_sign(api->jwt, r->name, rev, lkv_clock_ms(CLOCK_REALTIME) / 1000, &token);
  uint8_t *packed = NULL;
  char *simple = resp ? resp->token : NULL; /* the state machine's answer, protobuf-c's to free */
  if (!rc) {
    resp->token = token; /* replaced by the JWT */
    packed = malloc(etcdserverpb__authenticate_response__get_packed_size(resp) + 1);
    if (!packed) rc = LKV_ENOMEM;
  }
  if (!rc) {
    size_t n = etcdserverpb__authenticate_response__pack(resp, packed);
    free(req->resp);
    req->resp = packed;
    req->resp_len = n;
  } else {
    free(req->resp);
    req->resp = NULL;
    req->resp_len = 0;
    req->err = rc;
  }
  free(token);
  if (resp) {
    resp->token = simple; /* token is freed above; protobuf-c frees what it unpacked */
    etcdserverpb__authenticate_response__free_unpacked(resp, NULL);
  }
}
