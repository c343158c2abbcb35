/* Requests that require a leader: the "hasleader" check and the monitor of such streams. */
#include "api/leader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"

struct lkv_api_leader_s {
  pthread_mutex_t mu;
  lkv__leader_stream_t *streams; /* registered, every loop's */
  uint64_t next_sample_ms;
  unsigned no_leader;   /* consecutive samples without a leader */
  unsigned election_ms; /* constant */
};

int lkv_api_leader_new(lkv_api_leader_t **out, unsigned election_ms) {
  if (election_ms == 0) return LKV_EINVAL;
  lkv_api_leader_t *m = calloc(1, sizeof(*m));
  if (!m) return LKV_ENOMEM;
  if (pthread_mutex_init(&m->mu, NULL) != 0) {
    free(m);
    return LKV_ENOMEM;
  }
  m->election_ms = election_ms;
  m->next_sample_ms = lkv_clock_ms(CLOCK_MONOTONIC) + election_ms;
  *out = m;
  return 0;
}

void lkv_api_leader_free(lkv_api_leader_t *m) {
  if (!m) return;
  pthread_mutex_destroy(&m->mu);
  free(m);
}

int lkv__leader_required(const lkv_call_t *call) {
  const char *v = lkv_call_metadata(call, LKV_API_REQUIRE_LEADER_KEY);
  return v && strcmp(v, LKV_API_REQUIRE_LEADER_VALUE) == 0;
}

int lkv__leader_known(lkv_api_t *api) {
  lkv_replication_status_t st;
  lkv_replicator_status(api->replicator, &st);
  return st.leader != 0;
}

void lkv__leader_watch(lkv_api_t *api, lkv__leader_stream_t *s) {
  lkv_api_leader_t *m = api->leader;
  if (!m || s->linked) return;
  s->loop = lkv_call_loop_index(s->call);
  pthread_mutex_lock(&m->mu);
  s->prev = NULL;
  s->next = m->streams;
  if (m->streams) m->streams->prev = s;
  m->streams = s;
  s->linked = 1;
  pthread_mutex_unlock(&m->mu);
}

static void unlink_stream(lkv_api_leader_t *m, lkv__leader_stream_t *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    m->streams = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
  s->linked = 0;
}

void lkv__leader_unwatch(lkv_api_t *api, lkv__leader_stream_t *s) {
  lkv_api_leader_t *m = api->leader;
  if (!m || !s->linked) return;
  pthread_mutex_lock(&m->mu);
  unlink_stream(m, s);
  pthread_mutex_unlock(&m->mu);
}

void lkv__leader_tick(lkv_api_t *api, int loop_index) {
  lkv_api_leader_t *m = api->leader;
  if (!m) return;
  uint64_t now = lkv_clock_ms(CLOCK_MONOTONIC);
  lkv__leader_stream_t *doomed = NULL;
  pthread_mutex_lock(&m->mu);
  if (now >= m->next_sample_ms) { /* one sample per election timeout, whichever loop ticks first */
    m->next_sample_ms = now + m->election_ms;
    m->no_leader = lkv__leader_known(api) ? 0 : m->no_leader + 1;
  }
  if (m->no_leader >= LKV_API_NO_LEADER_SAMPLES) {
    lkv__leader_stream_t *s = m->streams;
    while (s) {
      lkv__leader_stream_t *next = s->next;
      if (s->loop == loop_index) {
        unlink_stream(m, s);
        s->next = doomed;
        doomed = s;
      }
      s = next;
    }
  }
  pthread_mutex_unlock(&m->mu);
  while (doomed) { /* on this loop's thread, outside the lock: cancel frees the stream */
    lkv__leader_stream_t *next = doomed->next;
    doomed->cancel(api, doomed);
    doomed = next;
  }
}
