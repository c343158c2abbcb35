/* /health as etcd 3.4.23 answers it (plus 3.5's serializable=true), /livez and /readyz in etcd 3.5's shape.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "metrics/catalog.h"
#include "server/metrics_internal.h"

#define READ_TIMEOUT_MS 1000 /* etcd's health check gives its quorum read a second */

/* ---- the query string, decoded as Go's url.ParseQuery does ---- */

static int hex(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Decodes [s, end) ('+' is a space, %XX a byte) into out (cap bytes, NUL-terminated). Returns 0, or -1 for a
 * bad escape or a value too long for out (Go skips bad pairs; none of ours is long). */
static int unescape(const char *s, const char *end, char *out, size_t cap) {
  size_t n = 0;
  for (; s < end; s++) {
    char c = *s;
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      if (end - s < 3 || hex(s[1]) < 0 || hex(s[2]) < 0) return -1;
      c = (char)(hex(s[1]) * 16 + hex(s[2]));
      s += 2;
    }
    if (n + 1 >= cap) return -1;
    out[n++] = c;
  }
  out[n] = '\0';
  return 0;
}

/* The value of the first (want_value NULL) or of any pair named key equal to want_value. Returns 1 when
 * found (the first value copied into value, cap bytes, if given), else 0. */
static int query_find(const char *q, size_t len, const char *key, const char *want_value, char *value,
                      size_t cap) {
  const char *end = q + len;
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *pair_end = amp ? amp : end;
    const char *eq = memchr(q, '=', (size_t)(pair_end - q));
    char k[64], v[64];
    if (unescape(q, eq ? eq : pair_end, k, sizeof(k)) == 0 &&
        unescape(eq ? eq + 1 : pair_end, pair_end, v, sizeof(v)) == 0 && strcmp(k, key) == 0 &&
        (!want_value || strcmp(v, want_value) == 0)) {
      if (value) {
        size_t n = strlen(v) < cap ? strlen(v) : cap - 1; /* cap >= 1 whenever value is given */
        memcpy(value, v, n);
        value[n] = '\0';
      }
      return 1;
    }
    q = pair_end + 1;
  }
  return 0;
}

/* ---- the checks ---- */

typedef struct barrier_wait_s {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done, err, refs; /* refs: the waiter and the barrier's callback; the last one frees it */
} barrier_wait_t;

static void release(barrier_wait_t *w) {
  int last = --w->refs == 0;
  pthread_mutex_unlock(&w->mu);
  if (!last) return;
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

static void barrier_done(void *arg, int err) {
  barrier_wait_t *w = arg;
  pthread_mutex_lock(&w->mu);
  w->done = 1;
  w->err = err;
  pthread_cond_signal(&w->cv);
  release(w);
}

/* A linearizable read's barrier (etcd's QGET through Raft), waited for up to a second. Returns 0 or an
 * error (LKV_ETIMEDOUT, LKV_ENOLEADER, ...). */
static int linearizable_read(lkv_replicator_t *r) {
  barrier_wait_t *w = calloc(1, sizeof(*w));
  if (!w) return LKV_ENOMEM;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&w->mu, NULL);
  w->refs = 2;
  int rc = lkv_replicator_read_barrier(r, barrier_done, w);
  pthread_mutex_lock(&w->mu);
  if (rc != 0) {
    w->refs--; /* the callback will never run */
    release(w);
    return rc;
  }
  struct timespec deadline = lkv_clock_deadline(CLOCK_MONOTONIC, READ_TIMEOUT_MS);
  while (!w->done && pthread_cond_timedwait(&w->cv, &w->mu, &deadline) == 0) {
  }
  rc = w->done ? w->err : LKV_ETIMEDOUT;
  release(w);
  return rc;
}

/* A read of the local store (a snapshot opens). Returns 0 or an error. */
static int serializable_read(lkv_mvcc_t *store) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc == 0) lkv_mvcc_txn_end(t);
  return rc;
}

static uint32_t alarms(lkv_mvcc_t *store) {
  lkv_mvcc_stat_t st;
  return lkv_mvcc_stat(store, &st) == 0 ? st.alarms : 0;
}

/* ---- /health ---- */

static int healthy(lkv__metrics_http_t *m, const char *q, size_t q_len) {
  uint32_t raised = alarms(m->o.store);
  if ((raised & LKV_MVCC_ALARM_NOSPACE) && !query_find(q, q_len, "exclude", "NOSPACE", NULL, 0)) return 0;
  if ((raised & LKV_MVCC_ALARM_CORRUPT) && !query_find(q, q_len, "exclude", "CORRUPT", NULL, 0)) return 0;
  /* etcd 3.5's serializable=true: this member alone (no leader needed, a local read); 3.4.23 ignores it */
  char v[16];
  if (query_find(q, q_len, "serializable", NULL, v, sizeof(v)) && strcmp(v, "true") == 0)
    return serializable_read(m->o.store) == 0;
  lkv_replication_status_t st;
  lkv_replicator_status(m->o.replicator, &st);
  if (st.leader == 0) return 0;
  return linearizable_read(m->o.replicator) == 0;
}

static void serve_health(lkv__metrics_http_t *m, const char *q, size_t q_len, lkv_http_response_t *resp) {
  if (healthy(m, q, q_len)) {
    lkv_metric_inc(LKV_METRIC(health_success), 0);
    /* etcd writes the bytes without a type; Go sniffs them as text */
    lkv__metrics_reply(resp, 200, "text/plain; charset=utf-8", NULL, "{\"health\":\"true\"}");
  } else {
    lkv_metric_inc(LKV_METRIC(health_failures), 0);
    lkv__metrics_error(resp, 503, "{\"health\":\"false\"}");
  }
}

/* ---- /livez and /readyz ---- */

typedef struct check_s {
  const char *name;
  int readyz_only;
} check_t;

static const check_t checks[] = {{"data_corruption", 1}, {"serializable_read", 0}, {"linearizable_read", 1}};

/* NULL when the check passes, else why not. */
static const char *run_check(lkv__metrics_http_t *m, const char *name, char *why, size_t cap) {
  int rc = 0;
  if (strcmp(name, "data_corruption") == 0) {
    if (alarms(m->o.store) & LKV_MVCC_ALARM_CORRUPT) return "alarm activated: CORRUPT";
    return NULL;
  }
  rc = strcmp(name, "serializable_read") == 0 ? serializable_read(m->o.store)
                                              : linearizable_read(m->o.replicator);
  if (rc == 0) return NULL;
  snprintf(why, cap, "%s", lkv_strerror(rc));
  return why;
}

static void serve_probe(lkv__metrics_http_t *m, int readyz, const char *q, size_t q_len,
                        lkv_http_response_t *resp) {
  const char *probe = readyz ? "readyz" : "livez";
  char out[1024] = "", why[128];
  size_t n = 0;
  int failed = 0;
  for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
    if (checks[i].readyz_only && !readyz) continue;
    const char *name = checks[i].name;
    if (query_find(q, q_len, "exclude", name, NULL, 0)) {
      n += (size_t)snprintf(out + n, sizeof(out) - n, "[+]%s excluded: ok\n", name);
      continue;
    }
    const char *err = run_check(m, name, why, sizeof(why));
    failed |= err != NULL;
    if (err)
      n += (size_t)snprintf(out + n, sizeof(out) - n, "[-]%s failed: %s\n", name, err);
    else
      n += (size_t)snprintf(out + n, sizeof(out) - n, "[+]%s ok\n", name);
  }
  if (failed) {
    snprintf(out + n, sizeof(out) - n, "%s check failed", probe);
    lkv__metrics_error(resp, 503, out);
  } else if (query_find(q, q_len, "verbose", NULL, NULL, 0)) {
    snprintf(out + n, sizeof(out) - n, "%s check passed\n", probe);
    lkv__metrics_reply(resp, 200, "text/plain; charset=utf-8", "X-Content-Type-Options: nosniff\r\n", out);
  } else {
    lkv__metrics_reply(resp, 200, "text/plain; charset=utf-8", "X-Content-Type-Options: nosniff\r\n", "ok");
  }
}

int lkv__health_answer(lkv__metrics_http_t *m, const char *method, const char *path, const char *q,
                       size_t q_len, lkv_http_response_t *resp) {
  int health = strcmp(path, "/health") == 0, livez = strcmp(path, "/livez") == 0;
  if (!health && !livez && strcmp(path, "/readyz") != 0) return -1;
  if (strcmp(method, "GET") != 0) {
    lkv__metrics_error(resp, 405, "Method Not Allowed");
    resp->headers = "Allow: GET\r\nX-Content-Type-Options: nosniff\r\n";
  } else if (health) {
    serve_health(m, q, q_len, resp);
  } else {
    serve_probe(m, !livez, q, q_len, resp);
  }
  return 0;
}
