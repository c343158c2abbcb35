/* Internal to src/api: etcd's clientv3/concurrency recipes (mutex, election) run inside the server as
 * asynchronous steps of one call on its loop thread; shared by lock.c and election*.c. */
#ifndef LKV_API_CONC_H
#define LKV_API_CONC_H

#include "api/service.h"

/*
 * etcd serves Lock and Election by running clientv3's concurrency package against itself. Here each such
 * call is a small state machine (lkv__conc_t) whose steps are a proposal, a linearizable read or a watch.
 * A step's outcome comes back on the call's loop thread (lkv_call_run) and runs the step's continuation
 * there: the loop never blocks, and the state is only ever touched by that thread.
 *
 * At most one step is outstanding. When the client goes away (lkv__conc_cancel) a watch is closed at once
 * and an outstanding proposal or read is let finish; then c->on_cancel runs instead of the continuation.
 * It may start clean-up steps (delete the key the call created) and must end with lkv__conc_end.
 *
 * Keys follow clientv3/concurrency: the prefix is "<name>/", a contender's key "<name>/<lease in hex>".
 */

typedef struct lkv__conc_s lkv__conc_t;

/* What lkv__conc_get reads. */
typedef enum { LKV__CONC_FIRST, LKV__CONC_LAST, LKV__CONC_KEY } lkv__conc_get_t;

/* A step's continuation: err 0, or the step's LKV_E* code. Loop thread. */
typedef void (*lkv__conc_fn)(lkv__conc_t *c, int err);

/* One event of a recipe's watcher, with its WatchResponse's header; both valid during the call only.
 * Returns 1 to stop watching (the watch step's continuation then runs with err 0), 0 to go on. */
typedef int (*lkv__conc_event_fn)(lkv__conc_t *c, const Etcdserverpb__ResponseHeader *hdr,
                                  const Mvccpb__Event *ev);

struct lkv__conc_s {
  lkv_api_t *api;
  lkv_call_t *call;
  uint8_t *pfx; /* "<name>/" */
  size_t pfx_len;
  uint8_t *key; /* "<name>/<lease in hex>", once lkv__conc_set_key ran; else NULL */
  size_t key_len;
  int64_t lease;                     /* the session's lease (granted by lkv__conc_session when 0) */
  void (*on_cancel)(lkv__conc_t *c); /* the client went away (see above); NULL: end at once */
  void (*free_op)(lkv__conc_t *c);   /* frees the op that embeds c (after lkv__conc_end); required */
  /* Results of the last step, freed by the next one and by lkv__conc_end: */
  Etcdserverpb__TxnResponse *txn;     /* lkv__conc_guarded */
  Etcdserverpb__RangeResponse *range; /* lkv__conc_get */
  uint8_t *resp;                      /* lkv__conc_propose: the packed response */
  size_t resp_len;
  /* Private to conc*.c: */
  lkv__conc_fn next;
  lkv__conc_event_fn on_event;
  lkv_watch_stream_t *watch;
  int busy;      /* a proposal, read or hand-back is on its way to the loop thread */
  int canceled;  /* the client went away, or the server ends the call (lkv__conc_abort) */
  int abort_err; /* what the call ends with then: LKV_ECANCELED (the client left) or lkv__conc_abort's */
  int watch_done;
  int watch_err;
  int step_err;
  lkv__conc_fn after; /* the caller's continuation of a composite step */
  lkv__conc_get_t get_what;
  int64_t max_create_rev; /* lkv__conc_get, lkv__conc_wait_deletes */
  lkv__conc_fn waited;
};

/* Fills c for a call on request name/name_len (copied into c->pfx) and makes c the call's data. Returns
 * 0 or LKV_ENOMEM (nothing to free). Loop thread. */
int lkv__conc_init(lkv__conc_t *c, lkv_api_t *api, lkv_call_t *call, const uint8_t *name, size_t name_len);

/* The end of the prefix's range ("<name>0"), c->pfx_len bytes. */
const uint8_t *lkv__conc_prefix_end(const lkv__conc_t *c);

/* Sets c->key to the prefix followed by c->lease in hex (clientv3's "%s%x"). Returns 0 or LKV_ENOMEM. */
int lkv__conc_set_key(lkv__conc_t *c);

/* Sets c->key to a copy of key (a leader key the client names). Returns 0 or LKV_ENOMEM. */
int lkv__conc_use_key(lkv__conc_t *c, const uint8_t *key, size_t key_len);

/* Copies src's fields into dst (initialised; src NULL leaves it empty): a header kept after the response
 * that held it is freed. */
void lkv__conc_copy_header(Etcdserverpb__ResponseHeader *dst, const Etcdserverpb__ResponseHeader *src);

/* Ends the call: with err 0 sends msg (if not NULL) and finishes OK, otherwise fails it as etcd's
 * concurrency services do (lkv__api_fail_unknown); then frees c's results and the op (free_op). */
void lkv__conc_end(lkv__conc_t *c, const ProtobufCMessage *msg, int err);

/* lkv__conc_cancel (service.h) is the routes' on_cancel: the client went away. Loop thread. */

/* Ends the call as if the client had gone (c->on_cancel, if any, runs first, once nothing is outstanding),
 * but with err's own gRPC status (lkv__api_fail): the leader monitor's "no leader". Loop thread. */
void lkv__conc_abort(lkv__conc_t *c, int err);

/* Proposes msg (kind; built by the caller, packed and unpacked here, validated as a client's request) and
 * continues with next once its outcome is durable: c->resp holds the packed response, and c->txn the
 * unpacked one of a txn (set before on_cancel runs too, so that it knows what the txn did). */
void lkv__conc_propose(lkv__conc_t *c, lkv_op_kind_t kind, const ProtobufCMessage *msg, lkv__conc_fn next);

/* clientv3's session: with c->lease 0 grants a lease of 60 s (concurrency's default TTL) and sets
 * c->lease; otherwise continues at once (etcd does not check the lease here). */
void lkv__conc_session(lkv__conc_t *c, lkv__conc_fn next);

/* A txn guarded by create_revision(c->key) == rev: Then(put c->key value with c->lease, or delete c->key
 * when del), Else(get c->key when else_get); with owner, both branches end with a get of the prefix's
 * first-created key. c->txn holds the response. */
typedef struct lkv__conc_guard_s {
  int64_t rev;
  int del;
  const uint8_t *value;
  size_t value_len;
  int else_get;
  int owner;
} lkv__conc_guard_t;
void lkv__conc_guarded(lkv__conc_t *c, const lkv__conc_guard_t *g, lkv__conc_fn next);

/* A linearizable get (c->range holds the response) of the prefix's first-created key (LKV__CONC_FIRST), of
 * its last-created key whose create revision is at most max_create_rev (LKV__CONC_LAST; 0: any), or of
 * c->key (LKV__CONC_KEY). */
void lkv__conc_get(lkv__conc_t *c, lkv__conc_get_t what, int64_t max_create_rev, lkv__conc_fn next);

/* Watches [key, range_end) (range_end NULL: the key alone) from rev and hands each event to on_event
 * until it returns 1; then continues with next (err 0). A compacted start revision continues with
 * LKV_ECOMPACTED. The watch is closed before next runs. key is copied. */
void lkv__conc_watch(lkv__conc_t *c, const uint8_t *key, size_t key_len, const uint8_t *range_end,
                     size_t range_end_len, int64_t rev, lkv__conc_event_fn on_event, lkv__conc_fn next);

/* Closes c's watch, if any, without continuing (conc.c's cancel). */
void lkv__conc_unwatch(lkv__conc_t *c);

/* Runs c's pending continuation with err, or c->on_cancel when the client went away meanwhile
 * (conc_watch.c's end of a watch step). */
void lkv__conc_continue(lkv__conc_t *c, int err);

/* clientv3's waitDeletes: waits until no key under the prefix has a create revision at most
 * max_create_rev (gets the last one, waits for its deletion, again), then continues with next; c->range
 * is the last get's response (its header is the answer's). */
void lkv__conc_wait_deletes(lkv__conc_t *c, int64_t max_create_rev, lkv__conc_fn next);

#endif
