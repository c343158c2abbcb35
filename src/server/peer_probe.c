/* The peer network metrics: pings on the probe channel timed into the round-trip histogram, and the
 * transport's counters copied at each scrape. */
#include "server/peer_probe.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/le.h"
#include "common/sleeper.h"
#include "metrics/catalog.h"

enum { PING = 1, PONG = 2, PROBE_LEN = 9 };

struct lkv__peer_probe_s {
  lkv__member_t *member;
  lkv_sleeper_t sleeper;
  pthread_t thread;
};

/* On the peer thread: a ping is answered at once, a pong is a round trip of ours. */
static void on_probe(void *arg, uint64_t from, const uint8_t *data, size_t len) {
  lkv__peer_probe_t *p = arg;
  if (len != PROBE_LEN) return;
  if (data[0] == PING) {
    uint8_t pong[PROBE_LEN];
    pong[0] = PONG;
    memcpy(pong + 1, data + 1, PROBE_LEN - 1);
    (void)lkv__member_send(p->member, from, LKV__CHANNEL_PROBE, pong, sizeof(pong));
    return;
  }
  uint64_t sent = lkv_le64_get(data + 1), now = lkv_clock_ns(CLOCK_MONOTONIC);
  if (data[0] != PONG || sent > now || now - sent > (uint64_t)LKV__PEER_PROBE_MAX_MS * 1000000) return;
  lkv_metric_observe(LKV_METRIC(peer_rtt), (size_t)lkv_metrics_peer_series(from), (double)(now - sent) / 1e9);
}

static void *probe_main(void *arg) {
  lkv__peer_probe_t *p = arg;
  lkv_peer_stats_t st[LKV_METRICS_MAX_PEERS];
  while (!lkv_sleeper_sleep_ms(&p->sleeper, LKV__PEER_PROBE_INTERVAL_MS)) {
    size_t n = lkv__member_peer_stats(p->member, st, LKV_METRICS_MAX_PEERS);
    uint8_t ping[PROBE_LEN];
    ping[0] = PING;
    for (size_t i = 0; i < n && i < LKV_METRICS_MAX_PEERS; i++) {
      if (!st[i].connected || st[i].removed) continue;
      lkv_le64_put(ping + 1, lkv_clock_ns(CLOCK_MONOTONIC));
      (void)lkv__member_send(p->member, st[i].id, LKV__CHANNEL_PROBE, ping, sizeof(ping));
    }
  }
  return NULL;
}

/* At each scrape: the transport's counters, per member. */
static void collect(void *arg) {
  lkv__peer_probe_t *p = arg;
  const lkv_metrics_catalog_t *c = lkv_metrics_catalog();
  lkv_peer_stats_t st[LKV_METRICS_MAX_PEERS];
  size_t n = lkv__member_peer_stats(p->member, st, LKV_METRICS_MAX_PEERS);
  for (size_t i = 0; i < n && i < LKV_METRICS_MAX_PEERS; i++) {
    size_t s = (size_t)lkv_metrics_peer_series(st[i].id);
    lkv_metric_set(c->peer_sent, s, (double)st[i].bytes_sent);
    lkv_metric_set(c->peer_received, s, (double)st[i].bytes_received);
    lkv_metric_set(c->peer_failures, s, (double)st[i].msgs_dropped);
  }
}

int lkv__peer_probe_start(lkv__peer_probe_t **out, lkv__member_t *m) {
  lkv__peer_probe_t *p = calloc(1, sizeof(*p));
  if (!p) return LKV_ENOMEM;
  p->member = m;
  lkv_metrics_t *reg = lkv_metrics_global();
  if (lkv_sleeper_init(&p->sleeper) != 0) goto err_after_alloc;
  if (lkv__member_on_channel(m, LKV__CHANNEL_PROBE, on_probe, p) != 0) goto err_after_sleeper;
  if (!reg || lkv_metrics_on_collect(reg, collect, p) != 0) goto err_after_channel;
  if (pthread_create(&p->thread, NULL, probe_main, p) != 0) goto err_after_collector;
  *out = p;
  return 0;
err_after_collector:
  lkv_metrics_remove_collector(reg, collect, p);
err_after_channel:
  lkv__member_on_channel(m, LKV__CHANNEL_PROBE, NULL, NULL);
err_after_sleeper:
  lkv_sleeper_destroy(&p->sleeper);
err_after_alloc:
  free(p);
  return LKV_ENOMEM;
}

void lkv__peer_probe_stop(lkv__peer_probe_t *p) {
  if (!p) return;
  lkv_sleeper_stop(&p->sleeper);
  pthread_join(p->thread, NULL);
  lkv__member_on_channel(p->member, LKV__CHANNEL_PROBE, NULL, NULL);
  lkv_metrics_remove_collector(lkv_metrics_global(), collect, p);
  lkv_sleeper_destroy(&p->sleeper);
  free(p);
}
