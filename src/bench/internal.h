/* Bench engine internals shared by the driver, the workload files and the runner. */
#ifndef LKV_BENCH_INTERNAL_H
#define LKV_BENCH_INTERNAL_H

#include <protobuf-c/protobuf-c.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/args.h"
#include "bench/stats.h"
#include "ledger/receipt.h"
#include "transport/grpc_client.h"

/* State every thread shares; written by the main thread before it sets go, or atomic. */
typedef struct lkv__bench_shared_s {
  const lkv_bench_config_t *cfg;
  atomic_uint_fast64_t tickets; /* request numbers claimed so far (may overshoot total) */
  atomic_int stop;              /* issue nothing more: interrupt, or a thread's setup failed */
  atomic_int ready;             /* threads whose setup succeeded */
  atomic_int failed;            /* a thread's setup failed (its abort text says why) */
  atomic_int go;                /* the load starts: start_ns and deadline_ns are set */
  uint64_t start_ns;            /* monotonic time the load started */
  uint64_t deadline_ns;         /* no request is sent from then on (0: none) */
  uint64_t total;               /* the phase's request limit (0: none): --total, or verify's receipts */
  uint64_t duration_ms;         /* the phase's time limit (0: none) */
  atomic_int puts_done;         /* watch: threads that sent all their puts */
  atomic_uint_fast64_t puts_ok; /* watch: puts acknowledged, over all threads */
  atomic_uint_fast64_t events;  /* watch: events received, over all threads */
  int64_t rev_hi;               /* receipt, verify: revisions 2..rev_hi are covered by every thread's head */
  lkv_ledger_receipt_t *receipts; /* verify: n_receipts receipts, slot i filled by fetch request i */
  uint64_t n_receipts;
  uint8_t trusted_key[LKV_LEDGER_KEY_LEN]; /* verify: the key the node's GetSignedTreeHead names */
} lkv__bench_shared_t;

typedef enum {
  LKV__PH_CONNECT,
  LKV__PH_SETUP,
  LKV__PH_WAIT,
  LKV__PH_RUN,
  LKV__PH_DRAIN,
  LKV__PH_DONE
} lkv__bench_phase_t;

struct lkv__bench_thread_s;

/* One client: at most one request in flight. */
typedef struct lkv__bench_client_s {
  struct lkv__bench_thread_s *t;
  lkv_grpc_conn_t *conn;
  uint64_t start_ns; /* when the request in flight was due (latency is measured from here) */
  int busy, dead;
  int is_read;               /* txn-mixed: the request in flight is a read */
  lkv_grpc_stream_t *stream; /* lease-keepalive: the client's keep-alive stream */
  int64_t lease_id;
  uint64_t ticket; /* verify: the receipt slot the request in flight fills */
} lkv__bench_client_t;

/* watch: one watch stream. */
typedef struct lkv__bench_watcher_s {
  struct lkv__bench_thread_s *t;
  lkv_grpc_stream_t *stream; /* NULL once closed */
  int created;
} lkv__bench_watcher_t;

/* Open loop: a request that is due but waits for a free client. */
typedef struct lkv__bench_due_s {
  uint64_t ticket, due_ns;
} lkv__bench_due_t;

typedef struct lkv__bench_thread_s {
  lkv__bench_shared_t *sh;
  const lkv_bench_config_t *cfg;
  int index;
  pthread_t thread;
  lkv_grpc_loop_t *loop;
  lkv_grpc_timer_t *tick;
  lkv__bench_phase_t phase;

  lkv_grpc_conn_t **conns;
  int n_conns, n_connected;
  lkv__bench_client_t *clients;
  int n_clients, n_busy;
  int *idle; /* stack of idle client indexes */
  int n_idle;
  lkv__bench_watcher_t *watchers;
  int n_watchers;
  int setup_pending; /* lease grants, watch creations or the ledger setup not finished yet */
  int64_t rev_want;  /* receipt, verify: the store revision a signed head must cover before the load */
  int64_t rev_head;  /* receipt, verify: the revision the head that does covers */
  uint8_t head_key[LKV_LEDGER_KEY_LEN]; /* receipt, verify: that head's public key */
  lkv_grpc_timer_t *poll;               /* receipt, verify: asks for the head again */

  /* Load generation. */
  int exhausted;      /* no more requests will be started */
  uint64_t generated; /* open loop: requests scheduled so far */
  double interval_ns; /* open loop: time between two scheduled requests of this thread */
  lkv__bench_due_t *backlog;
  size_t bl_head, bl_len, bl_cap;
  uint64_t
      ending_ns;  /* when the load ended with requests still in flight (grace period), or the drain began */
  int abandoning; /* the grace period is over: what is still in flight is being cancelled */

  lkv_bench_stats_t stats;
  uint64_t last_ns; /* last completion */
  uint64_t rng;
  uint8_t *buf; /* request encoding scratch */
  size_t buf_cap;
  char *key;      /* 2 x key_size bytes: a key, then room for a range's end */
  uint8_t *value; /* val_size bytes */
  char abort[256];

  atomic_uint_fast64_t prog_ok, prog_err; /* read by the main thread for the progress line */
  atomic_int finished;
} lkv__bench_thread_t;

/* Monotonic clock in nanoseconds. */
uint64_t lkv__bench_now_ns(void);

/* ---- driver.c ---- */

/* Prepares t (index, buffers, tallies, connection and client assignment); the thread is not started.
 * Returns 0 or LKV_ENOMEM. */
int lkv__bench_thread_init(lkv__bench_thread_t *t, lkv__bench_shared_t *sh, int index);

/* Releases what lkv__bench_thread_init and the thread allocated. */
void lkv__bench_thread_free(lkv__bench_thread_t *t);

/* The thread body (pthread start routine; arg is the lkv__bench_thread_t). */
void *lkv__bench_thread_main(void *arg);

/* Claims the next request number into *ticket unless the run is stopping, past its deadline or out of
 * requests (then returns 0). */
int lkv__bench_claim(lkv__bench_thread_t *t, uint64_t now, uint64_t *ticket);

/* Counts one operation's outcome (status 0 = success, latency from start_ns) in t's tally and progress. */
void lkv__bench_record(lkv__bench_thread_t *t, int status, const char *message, uint64_t start_ns);

/* The client's request finished (already recorded): it takes the next one or goes idle. */
void lkv__bench_client_done(lkv__bench_client_t *c);

/* Ends the thread's setup with a failure: the run is aborted with this reason. */
void lkv__bench_setup_failed(lkv__bench_thread_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes key number n, zero-padded to key_size digits, into t->key. */
void lkv__bench_make_key(lkv__bench_thread_t *t, uint64_t n);

/* Uniform random number in [0, n) from t's generator. */
uint64_t lkv__bench_random(lkv__bench_thread_t *t, uint64_t n);

/* Packs msg into t->buf (grown as needed) and sets *len. Returns 0 or LKV_ENOMEM. */
int lkv__bench_pack(lkv__bench_thread_t *t, const ProtobufCMessage *msg, size_t *len);

/* Packs msg and sends it as a unary call on conn (lkv_grpc_unary: cb(ud, ...) gets the answer). Returns
 * 0, LKV_ENOMEM or lkv_grpc_unary's error. */
int lkv__bench_unary(lkv__bench_thread_t *t, lkv_grpc_conn_t *conn, const char *path,
                     const ProtobufCMessage *msg, lkv_grpc_unary_cb cb, void *ud);

/* ---- kv_ops.c ---- */

/* Sends the request for ticket on client c (put, range, txn-put, txn-mixed, and watch's puts). Returns 0 or
 * the client's error (the completion callback is then never called). */
int lkv__bench_issue_kv(lkv__bench_client_t *c, uint64_t ticket);

/* ---- stream_ops.c ---- */

/* Starts the streaming workloads' setup on t (watch: create the thread's watchers; lease-keepalive: grant
 * one lease per client and open its stream), counting what is outstanding in t->setup_pending. Returns 0 or
 * a negative code (setup failed; the reason is in t->abort). */
int lkv__bench_setup_streams(lkv__bench_thread_t *t);

/* Sends one keep-alive on c's stream (lease-keepalive). Returns 0 or a negative code. */
int lkv__bench_issue_keepalive(lkv__bench_client_t *c);

/* Cancels the thread's watch and keep-alive streams (their on_close is ignored from now on). */
void lkv__bench_teardown_streams(lkv__bench_thread_t *t);

/* ---- ledger_ops.c ---- */

/* Starts the receipt and verify workloads' setup on t (the store's revision, then a signed head covering
 * it), counted in t->setup_pending. Returns 0 or a negative code (setup failed; the reason is in t->abort).
 */
int lkv__bench_setup_ledger(lkv__bench_thread_t *t);

/* Sends GetReceipt for ticket on client c (receipt: a random covered revision; verify: the ticket's share
 * of the covered revisions, its receipt kept in the shared slot). Returns 0 or the client's error. */
int lkv__bench_issue_receipt(lkv__bench_client_t *c, uint64_t ticket);

/* ---- verify.c ---- */

/* The verify phase's thread body (pthread start routine; arg is the lkv__bench_thread_t): counts itself
 * ready, waits for go, then verifies the shared receipts round-robin until the phase's limit. */
void *lkv__bench_verify_main(void *arg);

#endif
