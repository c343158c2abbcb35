/* Auto-compaction: a thread that follows etcd's schedule and proposes compactions while this member
 * leads. */
#include "server/compactor.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/sleeper.h"

struct lkv__compactor_s {
  lkv__compactor_options_t o;
  lkv__compactor_policy_t policy;
  pthread_t thread;
  lkv_sleeper_t sleeper;
};

/* The retention as etcd prints it: a Go duration ("1h0m0s", "1.5s", "300ms") or a revision count. */
static void retention_text(const lkv__compactor_options_t *o, char *out, size_t cap) {
  if (o->mode == LKV_COMPACTION_REVISION) {
    snprintf(out, cap, "%lld revisions", (long long)o->retention);
    return;
  }
  uint64_t ms = (uint64_t)o->retention;
  if (ms < 1000) {
    snprintf(out, cap, "%llums", (unsigned long long)ms);
    return;
  }
  uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
  int n = 0;
  if (h)
    n = snprintf(out, cap, "%lluh%llum", (unsigned long long)h, (unsigned long long)m);
  else if (m)
    n = snprintf(out, cap, "%llum", (unsigned long long)m);
  if (n < 0 || (size_t)n >= cap) return;
  if (frac == 0) {
    snprintf(out + n, cap - (size_t)n, "%llus", (unsigned long long)s);
    return;
  }
  char f[8];
  snprintf(f, sizeof(f), "%03llu", (unsigned long long)frac);
  for (int i = 2; i > 0 && f[i] == '0'; i--) f[i] = '\0'; /* Go prints no trailing zeros */
  snprintf(out + n, cap - (size_t)n, "%llu.%ss", (unsigned long long)s, f);
}

/* Proposes a compaction to rev and waits for its outcome. Returns 0 or the error it ended with. */
static int compact(lkv__compactor_t *c, int64_t rev) {
  Etcdserverpb__CompactionRequest req = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
  req.revision = rev;
  lkv_proposal_t p = {.req = {.kind = LKV_OP_COMPACT, .msg = &req.base, .no_claims = 1}};
  return lkv_replicator_propose_wait(c->o.replicator, &p);
}

/* Whether this member acts on the schedule: it leads (a single node always does). */
static int leads(const lkv__compactor_t *c) {
  lkv_replication_status_t st;
  lkv_replicator_status(c->o.replicator, &st);
  return st.leader != 0 && st.leader == st.member_id;
}

static void *compactor_main(void *arg) {
  lkv__compactor_t *c = arg;
  char retention[32];
  retention_text(&c->o, retention, sizeof(retention));
  while (!lkv_sleeper_sleep_ms(&c->sleeper, c->policy.interval_ms)) {
    lkv_mvcc_stat_t st;
    if (lkv_mvcc_stat(c->o.store, &st) != 0) continue;
    uint64_t now = lkv_clock_ms(CLOCK_MONOTONIC);
    int64_t rev = lkv__compactor_policy_tick(&c->policy, now, st.revision, !leads(c));
    if (rev == 0) continue;
    int rc = compact(c, rev);
    int ok = rc == 0 || rc == LKV_ECOMPACTED;
    uint64_t took = lkv_clock_ms(CLOCK_MONOTONIC) - now;
    lkv__compactor_policy_done(&c->policy, lkv_clock_ms(CLOCK_MONOTONIC), rev, ok);
    if (ok)
      fprintf(stderr, "ledgerkv: finished auto-compaction at revision %lld (retention: %s, took %llums%s)\n",
              (long long)rev, retention, (unsigned long long)took, rc ? ", already compacted" : "");
    else
      fprintf(stderr,
              "ledgerkv: failed auto-compaction at revision %lld (retention: %s): %s; retry after %llums\n",
              (long long)rev, retention, lkv_strerror(rc), (unsigned long long)c->policy.interval_ms);
  }
  return NULL;
}

int lkv__compactor_start(lkv__compactor_t **out, const lkv__compactor_options_t *o) {
  lkv_mvcc_stat_t st;
  int rc = lkv_mvcc_stat(o->store, &st);
  if (rc) return rc;
  lkv__compactor_t *c = calloc(1, sizeof(*c));
  if (!c) return LKV_ENOMEM;
  c->o = *o;
  rc = lkv__compactor_policy_init(&c->policy, o->mode, o->retention, o->check_ms,
                                  lkv_clock_ms(CLOCK_MONOTONIC), st.revision);
  if (rc) goto err_after_alloc;
  rc = LKV_ENOMEM;
  if (lkv_sleeper_init(&c->sleeper) != 0) goto err_after_policy;
  if (pthread_create(&c->thread, NULL, compactor_main, c) != 0) goto err_after_sleeper;
  *out = c;
  return 0;
err_after_sleeper:
  lkv_sleeper_destroy(&c->sleeper);
err_after_policy:
  lkv__compactor_policy_free(&c->policy);
err_after_alloc:
  free(c);
  return rc;
}

void lkv__compactor_stop(lkv__compactor_t *c) {
  if (!c) return;
  lkv_sleeper_stop(&c->sleeper);
  pthread_join(c->thread, NULL);
  lkv_sleeper_destroy(&c->sleeper);
  lkv__compactor_policy_free(&c->policy);
  free(c);
}
