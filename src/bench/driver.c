/* The bench client threads: connecting, setup, the closed/open-loop schedule, completions, the end. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/internal.h"
#include "common/clock.h"
#include "common/error.h"

/* The load is watched at this period (it also paces the open loop: requests due within a tick go together,
 * each still timed from the moment it was due). */
#define TICK_MS 1
/* Requests still unanswered this long after the load ended are abandoned (their connection is closed). */
#define GRACE_NS (10ull * 1000000000ull)

uint64_t lkv__bench_now_ns(void) {
  return lkv_clock_ns(CLOCK_MONOTONIC);
}

uint64_t lkv__bench_random(lkv__bench_thread_t *t, uint64_t n) {
  /* xorshift64*: fast, and plenty for picking keys. */
  t->rng ^= t->rng >> 12;
  t->rng ^= t->rng << 25;
  t->rng ^= t->rng >> 27;
  return (t->rng * 0x2545F4914F6CDD1Dull) % n;
}

void lkv__bench_make_key(lkv__bench_thread_t *t, uint64_t n) {
  for (size_t i = t->cfg->key_size; i-- > 0;) {
    t->key[i] = (char)('0' + n % 10);
    n /= 10;
  }
}

int lkv__bench_pack(lkv__bench_thread_t *t, const ProtobufCMessage *msg, size_t *len) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  if (n > t->buf_cap) {
    uint8_t *nb = realloc(t->buf, n);
    if (!nb) return LKV_ENOMEM;
    t->buf = nb;
    t->buf_cap = n;
  }
  *len = protobuf_c_message_pack(msg, t->buf);
  return 0;
}

int lkv__bench_unary(lkv__bench_thread_t *t, lkv_grpc_conn_t *conn, const char *path,
                     const ProtobufCMessage *msg, lkv_grpc_unary_cb cb, void *ud) {
  size_t len;
  int rv = lkv__bench_pack(t, msg, &len);
  return rv ? rv : lkv_grpc_unary(conn, path, t->buf, len, cb, ud);
}

/* How many of `count` items, dealt round-robin over the threads, thread `index` gets. */
static int share(int count, int threads, int index) {
  return count / threads + (index < count % threads ? 1 : 0);
}

int lkv__bench_thread_init(lkv__bench_thread_t *t, lkv__bench_shared_t *sh, int index) {
  const lkv_bench_config_t *cfg = sh->cfg;
  memset(t, 0, sizeof(*t));
  t->sh = sh;
  t->cfg = cfg;
  t->index = index;
  t->n_conns = share(cfg->conns, cfg->threads, index);
  t->n_clients = share(cfg->clients, cfg->threads, index);
  if (cfg->workload == LKV_BENCH_WATCH) t->n_watchers = share(cfg->watchers, cfg->threads, index);
  t->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(index + 1) ^ lkv__bench_now_ns();
  if (lkv_bench_stats_init(&t->stats) != 0) goto err_after_init;
  t->conns = calloc((size_t)t->n_conns, sizeof(*t->conns));
  t->clients = calloc((size_t)t->n_clients, sizeof(*t->clients));
  t->idle = calloc((size_t)t->n_clients, sizeof(*t->idle));
  t->watchers = calloc((size_t)t->n_watchers + 1, sizeof(*t->watchers));
  t->key = malloc(2 * cfg->key_size);
  t->value = malloc(cfg->val_size + 1);
  if (!t->conns || !t->clients || !t->idle || !t->watchers || !t->key || !t->value) goto err_after_init;
  for (size_t i = 0; i < cfg->val_size; i++) t->value[i] = (uint8_t)('a' + lkv__bench_random(t, 26));
  for (int i = 0; i < t->n_clients; i++) {
    t->clients[i].t = t;
    t->idle[t->n_idle++] = t->n_clients - 1 - i; /* popped in order 0, 1, ... */
  }
  for (int i = 0; i < t->n_watchers; i++) t->watchers[i].t = t;
  return 0;

err_after_init:
  lkv__bench_thread_free(t);
  return LKV_ENOMEM;
}

void lkv__bench_thread_free(lkv__bench_thread_t *t) {
  lkv_bench_stats_free(&t->stats);
  free(t->conns);
  free(t->clients);
  free(t->idle);
  free(t->watchers);
  free(t->key);
  free(t->value);
  free(t->buf);
  free(t->backlog);
  t->conns = NULL;
  t->clients = NULL;
  t->idle = NULL;
  t->watchers = NULL;
  t->key = NULL;
  t->value = NULL;
  t->buf = NULL;
  t->backlog = NULL;
}

void lkv__bench_record(lkv__bench_thread_t *t, int status, const char *message, uint64_t start_ns) {
  uint64_t now = lkv__bench_now_ns();
  if (!t->abandoning) t->last_ns = now; /* requests given up on do not stretch the elapsed time */
  if (status == LKV_GRPC_OK) {
    lkv_bench_stats_ok(&t->stats, now > start_ns ? now - start_ns : 0);
    atomic_store_explicit(&t->prog_ok, t->stats.ok, memory_order_relaxed);
  } else {
    lkv_bench_stats_error(&t->stats, status, message);
    atomic_store_explicit(&t->prog_err, lkv_bench_stats_errors(&t->stats), memory_order_relaxed);
  }
}

/* ---- ending ---- */

static void enter_done(lkv__bench_thread_t *t) {
  if (t->phase == LKV__PH_DONE) return;
  t->phase = LKV__PH_DONE;
  lkv__bench_teardown_streams(t);
  if (t->tick) lkv_grpc_timer_stop(t->tick);
  lkv_grpc_loop_stop(t->loop);
}

void lkv__bench_setup_failed(lkv__bench_thread_t *t, const char *fmt, ...) {
  if (!t->abort[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->abort, sizeof(t->abort), fmt, ap);
    va_end(ap);
  }
  atomic_store(&t->sh->failed, 1);
  atomic_store(&t->sh->stop, 1);
  enter_done(t);
}

/* ---- scheduling ---- */

int lkv__bench_claim(lkv__bench_thread_t *t, uint64_t now, uint64_t *ticket) {
  const lkv__bench_shared_t *sh = t->sh;
  if (atomic_load_explicit(&t->sh->stop, memory_order_relaxed)) return 0;
  if (sh->deadline_ns && now >= sh->deadline_ns) return 0;
  uint64_t n = atomic_fetch_add_explicit(&t->sh->tickets, 1, memory_order_relaxed);
  if (sh->total && n >= sh->total) return 0;
  *ticket = n;
  return 1;
}

static void start_op(lkv__bench_client_t *c, uint64_t ticket, uint64_t due_ns) {
  lkv__bench_thread_t *t = c->t;
  c->busy = 1;
  c->start_ns = due_ns;
  t->n_busy++;
  t->stats.sent++;
  int rv;
  switch (t->cfg->workload) {
    case LKV_BENCH_LEASE_KEEPALIVE:
      rv = lkv__bench_issue_keepalive(c);
      break;
    case LKV_BENCH_RECEIPT:
    case LKV_BENCH_VERIFY:
      rv = lkv__bench_issue_receipt(c, ticket);
      break;
    default:
      rv = lkv__bench_issue_kv(c, ticket);
      break;
  }
  if (rv == 0) return;
  /* The client cannot send any more (its connection or stream is gone): it retires. */
  c->busy = 0;
  c->dead = 1;
  t->n_busy--;
  int conn_err = lkv_grpc_conn_error(c->conn);
  lkv__bench_record(t, conn_err ? LKV_GRPC_UNAVAILABLE : LKV_GRPC_INTERNAL,
                    conn_err ? lkv_grpc_conn_error_text(c->conn) : lkv_strerror(rv), due_ns);
}

static int push_due(lkv__bench_thread_t *t, uint64_t ticket, uint64_t due_ns) {
  if (t->bl_len == t->bl_cap) {
    size_t cap = t->bl_cap ? t->bl_cap * 2 : 1024;
    lkv__bench_due_t *nb = malloc(cap * sizeof(*nb));
    if (!nb) return LKV_ENOMEM;
    for (size_t i = 0; i < t->bl_len; i++) nb[i] = t->backlog[(t->bl_head + i) % t->bl_cap];
    free(t->backlog);
    t->backlog = nb;
    t->bl_cap = cap;
    t->bl_head = 0;
  }
  t->backlog[(t->bl_head + t->bl_len) % t->bl_cap] = (lkv__bench_due_t){ticket, due_ns};
  t->bl_len++;
  return 0;
}

/* Hands waiting work to idle clients: open loop, the backlog of due requests; closed loop, new tickets. */
static void dispatch(lkv__bench_thread_t *t) {
  int open = t->cfg->rate > 0;
  while (t->n_idle > 0) {
    lkv__bench_client_t *c = &t->clients[t->idle[t->n_idle - 1]];
    if (c->dead) {
      t->n_idle--;
      continue;
    }
    uint64_t ticket, due;
    if (open) {
      if (t->bl_len == 0) return;
      ticket = t->backlog[t->bl_head].ticket;
      due = t->backlog[t->bl_head].due_ns;
      t->bl_head = (t->bl_head + 1) % t->bl_cap;
      t->bl_len--;
    } else {
      due = lkv__bench_now_ns();
      if (t->exhausted || !lkv__bench_claim(t, due, &ticket)) {
        t->exhausted = 1;
        return;
      }
    }
    t->n_idle--;
    start_op(c, ticket, due);
  }
}

void lkv__bench_client_done(lkv__bench_client_t *c) {
  lkv__bench_thread_t *t = c->t;
  c->busy = 0;
  t->n_busy--;
  if (!c->dead) t->idle[t->n_idle++] = (int)(c - t->clients);
  if (t->phase == LKV__PH_RUN) dispatch(t);
}

/* Open loop: queues every request whose scheduled time has come (the thread's share of --rate). */
static void generate(lkv__bench_thread_t *t, uint64_t now) {
  while (!t->exhausted) {
    /* Threads interleave their schedules (thread i is offset by i/threads of an interval), so that
     * together they offer an even rate rather than bursts of one request per thread. */
    double slot = (double)t->generated + (double)t->index / t->cfg->threads;
    uint64_t due = t->sh->start_ns + (uint64_t)(slot * t->interval_ns);
    uint64_t ticket;
    if (due > now) return;
    if (!lkv__bench_claim(t, now, &ticket) || push_due(t, ticket, due) != 0) {
      t->exhausted = 1;
      return;
    }
    t->generated++;
  }
}

static int live_clients(const lkv__bench_thread_t *t) {
  int n = 0;
  for (int i = 0; i < t->n_clients; i++) n += !t->clients[i].dead;
  return n;
}

static void end_load(lkv__bench_thread_t *t, uint64_t now) {
  if (t->cfg->workload != LKV_BENCH_WATCH) {
    enter_done(t);
    return;
  }
  /* Watch: the puts are done; wait for the watchers to see them all. */
  atomic_fetch_add(&t->sh->puts_done, 1);
  t->phase = LKV__PH_DRAIN;
  t->ending_ns = now;
}

static void run_tick(lkv__bench_thread_t *t, uint64_t now) {
  const lkv__bench_shared_t *sh = t->sh;
  int stopping =
      atomic_load(&sh->stop) || (sh->deadline_ns && now >= sh->deadline_ns) || live_clients(t) == 0;
  if (stopping) {
    t->exhausted = 1;
    t->bl_len = 0; /* due requests never sent are not part of the run */
  } else if (t->cfg->rate > 0) {
    generate(t, now);
  }
  dispatch(t);
  if (!t->exhausted || t->bl_len > 0) return;
  if (t->n_busy == 0) {
    end_load(t, now);
    return;
  }
  if (!t->ending_ns) t->ending_ns = now;
  if (now - t->ending_ns < GRACE_NS) return;
  /* Abandon what is still in flight: the unanswered requests end as CANCELLED. */
  t->abandoning = 1;
  for (int i = 0; i < t->n_conns; i++) {
    if (t->conns[i]) lkv_grpc_conn_close(t->conns[i]);
    t->conns[i] = NULL;
  }
}

static void drain_tick(lkv__bench_thread_t *t, uint64_t now) {
  lkv__bench_shared_t *sh = t->sh;
  uint64_t want = atomic_load(&sh->puts_ok) * (uint64_t)t->cfg->watchers;
  int all_sent = atomic_load(&sh->puts_done) == t->cfg->threads;
  if ((all_sent && atomic_load(&sh->events) >= want) || atomic_load(&sh->stop) ||
      now - t->ending_ns >= GRACE_NS) {
    enter_done(t);
  }
}

static void on_tick(void *ud) {
  lkv__bench_thread_t *t = ud;
  uint64_t now = lkv__bench_now_ns();
  int stop = atomic_load(&t->sh->stop);
  switch (t->phase) {
    case LKV__PH_CONNECT:
      if (stop) {
        enter_done(t);
        return;
      }
      if (t->n_connected < t->n_conns) return;
      t->phase = LKV__PH_SETUP;
      if ((t->cfg->workload == LKV_BENCH_RECEIPT || t->cfg->workload == LKV_BENCH_VERIFY
               ? lkv__bench_setup_ledger(t)
               : lkv__bench_setup_streams(t)) != 0)
        return;
      /* fallthrough */
    case LKV__PH_SETUP:
      if (stop) {
        enter_done(t);
        return;
      }
      if (t->setup_pending > 0) return;
      atomic_fetch_add(&t->sh->ready, 1);
      t->phase = LKV__PH_WAIT;
      /* fallthrough */
    case LKV__PH_WAIT:
      if (!atomic_load(&t->sh->go)) return;
      t->phase = LKV__PH_RUN;
      t->interval_ns = t->cfg->rate > 0 ? 1e9 * t->cfg->threads / t->cfg->rate : 0;
      /* fallthrough */
    case LKV__PH_RUN:
      run_tick(t, now);
      return;
    case LKV__PH_DRAIN:
      drain_tick(t, now);
      return;
    case LKV__PH_DONE:
      return;
  }
}

/* ---- thread ---- */

static void on_connect(void *ud, lkv_grpc_conn_t *conn, int status) {
  lkv__bench_thread_t *t = ud;
  if (status == 0) {
    t->n_connected++;
    return;
  }
  for (int i = 0; i < t->n_conns; i++) {
    if (t->conns[i] != conn) continue;
    const lkv_bench_endpoint_t *ep =
        &t->cfg->endpoints[(t->index + i * t->cfg->threads) % t->cfg->n_endpoints];
    lkv__bench_setup_failed(t, "%s:%d: %s", ep->host, ep->port, lkv_grpc_conn_error_text(conn));
  }
}

void *lkv__bench_thread_main(void *arg) {
  lkv__bench_thread_t *t = arg;
  const lkv_bench_config_t *cfg = t->cfg;
  int rv;
  if ((rv = lkv_grpc_loop_new(&t->loop)) != 0) {
    snprintf(t->abort, sizeof(t->abort), "event loop: %s", lkv_strerror(rv));
    goto err_before_loop;
  }
  if ((rv = lkv_grpc_timer_new(t->loop, on_tick, t, &t->tick)) != 0) {
    lkv__bench_setup_failed(t, "timer: %s", lkv_strerror(rv));
    goto out;
  }
  for (int i = 0; i < t->n_conns; i++) {
    /* Connection i of this thread is the run's connection index + i * threads; they go round-robin over
     * the endpoints. */
    const lkv_bench_endpoint_t *ep = &cfg->endpoints[(t->index + i * cfg->threads) % cfg->n_endpoints];
    if ((rv = lkv_grpc_conn_open(t->loop, ep->host, ep->port, on_connect, t, &t->conns[i])) != 0) {
      lkv__bench_setup_failed(t, "%s:%d: %s", ep->host, ep->port, lkv_strerror(rv));
      goto out;
    }
  }
  for (int i = 0; i < t->n_clients; i++) t->clients[i].conn = t->conns[i % t->n_conns];
  lkv_grpc_timer_start(t->tick, TICK_MS, TICK_MS);
  lkv_grpc_loop_run(t->loop);

out:
  /* Closes the connections: streams still open end with CANCELLED, which the callbacks ignore now. */
  t->phase = LKV__PH_DONE;
  lkv_grpc_loop_free(t->loop);
  t->loop = NULL;
  atomic_store(&t->finished, 1);
  return NULL;
err_before_loop:
  atomic_store(&t->sh->failed, 1);
  atomic_store(&t->sh->stop, 1);
  atomic_store(&t->finished, 1);
  return NULL;
}
