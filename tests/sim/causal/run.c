/* One run of the causal simulator: the seed's configuration, the event loop, faults, writes, quiescence. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "csim.h"

void lkv__csim_trace(lkv__csim_t *s, const char *fmt, ...) {
  if (!s->trace) return;
  printf("%10llu ", (unsigned long long)s->now);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

void lkv__csim_fail(lkv__csim_t *s, const char *inv, const char *fmt, ...) {
  if (s->failed) return;
  s->failed = 1;
  s->fail_inv = inv;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->fail_msg, sizeof(s->fail_msg), fmt, ap);
  va_end(ap);
  lkv__csim_trace(s, "VIOLATION %s: %s", s->fail_inv, s->fail_msg);
}

#define START_MS 1000000ull /* the run's time starts here, so that skewed clocks stay positive */

static void setup(lkv__csim_t *s, const lkv__csim_opts_t *o) {
  memset(s, 0, sizeof(*s));
  s->seed = o->seed;
  s->bugs = o->bugs;
  s->trace = o->trace;
  s->now = START_MS;
  lkv__sim_rng_t *g = &s->rng;
  lkv__sim_rng_seed(g, o->seed);
  s->n = o->members ? o->members : 2 + (int)lkv__sim_rng_below(g, 4);
  s->max_ahead = 300 + lkv__sim_rng_below(g, 700);
  s->granularity = lkv__sim_rng_chance(g, 500) ? 1 : lkv__sim_rng_chance(g, 500) ? 10 : 100;
  s->max_held = lkv__sim_rng_chance(g, 300) ? 2 + lkv__sim_rng_below(g, 8) : 1000;
  s->max_ship = lkv__sim_rng_chance(g, 500) ? 1 + lkv__sim_rng_below(g, 4) : 64;
  s->crash_pm = (unsigned)lkv__sim_rng_below(g, 40);
  s->corrupt_pm = (unsigned)lkv__sim_rng_below(g, 20);
  s->net.loss_pm = (unsigned)lkv__sim_rng_below(g, 300);
  s->net.dup_pm = (unsigned)lkv__sim_rng_below(g, 100);
  s->net.long_pm = (unsigned)lkv__sim_rng_below(g, 100);
  s->net.delay_max = 1 + lkv__sim_rng_below(g, 50);
  s->net.long_delay_max = 200 + lkv__sim_rng_below(g, 2000);
  s->fault_ms = o->fault_ms ? o->fault_ms : 2000 + lkv__sim_rng_below(g, 8000);
  s->write_gap = 5 + lkv__sim_rng_below(g, 60);
  s->keep = lkv__sim_rng_chance(g, 200) ? UINT64_MAX / 2 : lkv__sim_rng_below(g, 30); /* some never compact */
  s->silent_after = 300 + lkv__sim_rng_below(g, 1500);
  for (int i = 0; i < s->n; i++) {
    /* Distinct ids in a random order, so that the winner rule's origin tie-break is exercised both ways. */
    uint64_t id;
    int dup;
    do {
      id = 1 + lkv__sim_rng_below(g, 1000);
      dup = 0;
      for (int j = 0; j < i; j++) dup |= s->peers[j].id == id;
    } while (dup);
    s->peers[i].id = id;
    uint8_t seed[32];
    for (int b = 0; b < 4; b++) {
      uint64_t x = lkv__sim_rng_next(g);
      memcpy(seed + 8 * b, &x, 8);
    }
    if (lkv_causal_keypair_from_seed(seed, s->peers[i].pk, s->sk[i])) abort();
    /* Skews within the bound most of the time; now and then one clock far ahead (its events wait). */
    uint64_t spread = lkv__sim_rng_chance(g, 100) ? 2 * s->max_ahead : s->max_ahead / 3;
    s->nodes[i].skew = (int64_t)lkv__sim_rng_below(g, 2 * spread + 1) - (int64_t)spread;
    s->nodes[i].period = 20 + lkv__sim_rng_below(g, 200);
  }
  lkv__csim_trace(s,
                  "seed %llu: %d members, clock steps %llu ms, max ahead %llu ms, held %zu, ship %zu, crash "
                  "%u/1000, loss %u/1000, "
                  "dup %u/1000, corrupt %u/1000, faults %llu ms, bugs 0x%x",
                  (unsigned long long)o->seed, s->n, (unsigned long long)s->granularity,
                  (unsigned long long)s->max_ahead, s->max_held, s->max_ship, s->crash_pm, s->net.loss_pm,
                  s->net.dup_pm, s->corrupt_pm, (unsigned long long)s->fault_ms, s->bugs);
  lkv__csim_join_plan(s);
  for (int i = 0; i < s->n; i++)
    if (i != s->joiner) lkv__csim_start(s, i);
  s->n_clients = s->n + (int)lkv__sim_rng_below(g, (uint64_t)s->n + 1);
  for (int c = 0; c < s->n_clients; c++) {
    s->clients[c].member = c % s->n;
    lkv_causal_vv_init(&s->clients[c].seen);
  }
  s->next_fault = s->now + 100 + lkv__sim_rng_below(g, 500);
  s->next_write = s->now + 1;
  int in = s->joiner ? s->n - 1 : s->n; /* the joiner is neither removed nor a remover */
  if (in >= 3 &&
      (o->mutual || lkv__sim_rng_chance(g, 500))) { /* member 1 stays: the checks compare with it */
    s->victim = 1 + (int)lkv__sim_rng_below(g, (uint64_t)in - 1);
    s->remover = (s->victim + 1 + (int)lkv__sim_rng_below(g, (uint64_t)in - 1)) % in;
    s->mutual = in >= 4 && s->remover != 0 && (o->mutual || lkv__sim_rng_chance(g, 333));
    s->remove_stage = 1;
    s->remove_at = s->now + s->fault_ms / 4 + lkv__sim_rng_below(g, s->fault_ms / 2);
    lkv__csim_trace(s, "m%d to be removed by m%d%s", s->victim + 1, s->remover + 1,
                    s->mutual ? ", which it removes too" : "");
  }
}

/* A resolve's context (docs/causal.md §13): a random part of the key's siblings on member i, always with the
 * member's own (which it cannot spare). The others must stay siblings, on every member. Returns how many. */
static size_t resolve_names(lkv__csim_t *s, int i, const lkv_causal_mutation_t *mu,
                            lkv_causal_event_id_t *named) {
  lkv_causal_event_id_t ids[LKV_CAUSAL_CONTEXT_MAX];
  size_t n = lkv_causal_context_of_key(lkv_causal_member_key(s->nodes[i].m, mu->key, mu->key_len), ids),
         out = 0;
  for (size_t j = 0; j < n; j++)
    if (ids[j].origin == s->peers[i].id || lkv__sim_rng_chance(&s->rng, 500)) named[out++] = ids[j];
  return out;
}

/* Client c's write through its member: one or two keys, puts (unique values) and deletes; now and then a
 * one-key write is a resolve of some of the key's siblings. */
static void write_one(lkv__csim_t *s, int c) {
  int i = s->clients[c].member;
  lkv__sim_rng_t *g = &s->rng;
  lkv_causal_mutation_t mu[2];
  char keys[2][8], values[2][32];
  size_t n = lkv__sim_rng_chance(g, 200) ? 2 : 1;
  uint64_t first = lkv__sim_rng_below(g, LKV_CSIM_KEYS);
  for (size_t k = 0; k < n; k++) {
    snprintf(keys[k], sizeof(keys[k]), "k%llu", (unsigned long long)((first + k) % LKV_CSIM_KEYS));
    int del = lkv__sim_rng_chance(g, 250);
    snprintf(values[k], sizeof(values[k]), "v%llu", (unsigned long long)++s->next_value);
    mu[k] = (lkv_causal_mutation_t){.kind = del ? LKV_CAUSAL_DEL : LKV_CAUSAL_PUT,
                                    .key = (const uint8_t *)keys[k],
                                    .key_len = strlen(keys[k]),
                                    .value = del ? NULL : (const uint8_t *)values[k],
                                    .value_len = del ? 0 : strlen(values[k])};
  }
  uint64_t rev = 0;
  lkv_causal_event_id_t named[LKV_CAUSAL_CONTEXT_MAX];
  int resolve = n == 1 && lkv__sim_rng_chance(g, 100);
  size_t n_named = resolve ? resolve_names(s, i, mu, named) : 0;
  int rc = resolve ? lkv_causal_member_resolve(s->nodes[i].m, lkv__csim_clock(s, i), mu, named, n_named,
                                               (uint64_t)c | LKV_CSIM_RESOLVE, &rev)
                   : lkv_causal_member_write(s->nodes[i].m, lkv__csim_clock(s, i), mu, n, (uint64_t)c, &rev);
  if (rc == LKV_EUNHEALTHY && i == s->joiner) { /* it has not applied the add of itself yet */
    lkv__csim_trace(s, "m%d: a write refused: not added yet", i + 1);
    return;
  }
  if (rc) {
    lkv__csim_fail(s, "write", "m%d refused a write: %d", i + 1, rc);
    return;
  }
  s->n_writes++;
  lkv__csim_trace(s, "m%d: %s %s%s%s at revision %llu", i + 1, resolve ? "resolve" : "write",
                  mu[0].kind == LKV_CAUSAL_PUT ? "put " : "del ", keys[0], n > 1 ? " +1" : "",
                  (unsigned long long)rev);
  lkv__csim_process(s, i);
}

/* A fault: a partition of some shape, healed links, a crash, a changed loss rate. */
static void fault(lkv__csim_t *s) {
  lkv__sim_rng_t *g = &s->rng;
  int v = (int)lkv__sim_rng_below(g, (uint64_t)s->n);
  switch (lkv__sim_rng_below(g, 5)) {
    case 0: /* isolate one member */
      for (int j = 0; j < s->n; j++) s->net.cut[v][j] = s->net.cut[j][v] = (uint8_t)(j != v);
      lkv__csim_trace(s, "partition: m%d isolated", v + 1);
      break;
    case 1: { /* a split into two sides */
      uint8_t side[LKV_CSIM_MAX];
      for (int j = 0; j < s->n; j++) side[j] = (uint8_t)lkv__sim_rng_below(g, 2);
      for (int a = 0; a < s->n; a++)
        for (int b = 0; b < s->n; b++) s->net.cut[a][b] = side[a] != side[b];
      lkv__csim_trace(s, "partition: split");
      break;
    }
    case 2: /* one link, one way */
      s->net.cut[v][lkv__sim_rng_below(g, (uint64_t)s->n)] ^= 1;
      lkv__csim_trace(s, "partition: a one-way link of m%d flips", v + 1);
      break;
    case 3:
      memset(s->net.cut, 0, sizeof(s->net.cut));
      lkv__csim_trace(s, "links healed");
      break;
    default:
      if (s->nodes[v].m) lkv__csim_crash(s, v, "between events");
  }
  s->next_fault = s->now + 50 + lkv__sim_rng_below(g, 1000);
}

/* The next thing to happen at or before until; returns 0 when nothing does. */
static int step(lkv__csim_t *s, uint64_t until) {
  enum { NONE, PKT, TICK, RESTART, FAULT, WRITE, REMOVE, JOIN } ev = NONE;
  uint64_t best = UINT64_MAX;
  int who = -1;
  for (int i = 0; i < s->n; i++) {
    lkv__csim_node_t *n = &s->nodes[i];
    if (n->gone) continue;
    uint64_t t = n->m ? n->next_tick : n->down_until;
    if (t < best) best = t, ev = n->m ? TICK : RESTART, who = i;
  }
  if (s->net.n && s->net.heap[0].at < best) best = s->net.heap[0].at, ev = PKT;
  if (!s->healed && s->next_fault < best) best = s->next_fault, ev = FAULT;
  if (!s->healed && s->next_write < best) best = s->next_write, ev = WRITE;
  if (!s->healed && s->remove_stage && s->remove_stage < 3 && s->remove_at < best)
    best = s->remove_at, ev = REMOVE;
  if (!s->healed && s->join_at && s->join_at < best) best = s->join_at, ev = JOIN;
  if (ev == NONE || best > until) return 0;
  s->now = best;
  s->steps++;
  /* Every scheduling decision goes into the digest: two runs of a seed must make the same ones. */
  s->digest = lkv__sim_mix(lkv__sim_mix(s->digest, s->now), (uint64_t)ev << 8 | (uint64_t)(who + 1));
  if (ev == PKT) {
    lkv__sim_pkt_t p;
    lkv__sim_net_pop(&s->net, &p);
    s->digest = lkv__sim_mix(s->digest, lkv__sim_hash_bytes(p.buf, p.len));
    lkv__csim_deliver(s, &p);
  } else if (ev == TICK) {
    lkv__csim_node_t *n = &s->nodes[who];
    n->next_tick = s->now + n->period;
    lkv_causal_silence_t changed[LKV_CAUSAL_MAX_ORIGINS];
    lkv_causal_member_silence(n->m, lkv__csim_clock(s, who), s->silent_after, changed);
    if (lkv_causal_member_tick(n->m)) abort();
    lkv__csim_process(s, who);
    lkv__csim_compact(s, who);
    lkv__csim_offer_snapshots(s, who);
  } else if (ev == RESTART) {
    lkv__csim_start(s, who);
  } else if (ev == FAULT) {
    fault(s);
  } else if (ev == REMOVE) {
    lkv__csim_remove(s);
  } else if (ev == JOIN) {
    lkv__csim_join(s);
  } else {
    s->next_write = s->now + 1 + lkv__sim_rng_below(&s->rng, s->write_gap);
    int c = (int)lkv__sim_rng_below(&s->rng, (uint64_t)s->n_clients);
    if (lkv__sim_rng_chance(&s->rng, 300))
      lkv__csim_history_read(s, c);
    else if (s->nodes[s->clients[c].member].m)
      write_one(s, c);
  }
  if (s->steps % 8 == 0) lkv__csim_check_stable(s); /* no draw: the seed's run is unchanged */
  return 1;
}

/* Heals everything: links, loss, far-off clocks; restarts the crashed members; no more writes. */
static void heal(lkv__csim_t *s) {
  s->healed = 1;
  memset(s->net.cut, 0, sizeof(s->net.cut));
  s->net.loss_pm = 0;
  s->net.long_pm = 0; /* the final rounds of vectors must arrive within the settling time */
  s->corrupt_pm = 0;
  for (int i = 0; i < s->n; i++) {
    lkv__csim_node_t *n = &s->nodes[i];
    if (n->skew > (int64_t)s->max_ahead / 3 || n->skew < -(int64_t)s->max_ahead / 3) n->skew /= 4;
    if (!n->m && !n->gone && !(i == s->joiner && s->join_at)) lkv__csim_start(s, i);
  }
  while (s->join_at) lkv__csim_join(s); /* member 1 is up, and nothing crashes now */
  lkv__csim_trace(s, "healed");
}

#define QUIESCE_LIMIT_MS 600000ull /* slow shipping (one event per answer) of thousands of events */
#define STEP_LIMIT 2000000ull

int lkv__csim_run(lkv__csim_t *s, const lkv__csim_opts_t *o) {
  setup(s, o);
  uint64_t end = s->now + s->fault_ms;
  while (!s->failed && s->steps < STEP_LIMIT && step(s, end)) {
  }
  s->now = end;
  heal(s);
  /* Quiesce: run until every member agrees, then a few more rounds so that every member has heard every
   * other's final vector (tombstones purge on those). */
  uint64_t healed_at = s->now, agreed_at = 0, longest = 0;
  for (int i = 0; i < s->n; i++)
    if (s->nodes[i].period > longest) longest = s->nodes[i].period;
  while (!s->failed && s->steps < STEP_LIMIT && s->now - healed_at < QUIESCE_LIMIT_MS) {
    if (!agreed_at && lkv__csim_agreed(s)) agreed_at = s->now;
    if (agreed_at && s->now - agreed_at > 3 * longest + 200) break;
    if (!step(s, UINT64_MAX)) break;
  }
  s->quiesce_ms = (agreed_at ? agreed_at : s->now) - healed_at;
  for (int i = 0; i < s->n && !agreed_at && s->trace; i++) { /* why not, for the trace */
    const lkv_causal_member_t *m = s->nodes[i].m;
    char vv[256] = "";
    size_t at = 0;
    for (uint32_t e = 0; m && e < lkv_causal_member_vv(m)->n && at < sizeof(vv) - 40; e++)
      at += (size_t)snprintf(vv + at, sizeof(vv) - at, " %llu:%llu",
                             (unsigned long long)lkv_causal_member_vv(m)->e[e].origin,
                             (unsigned long long)lkv_causal_member_vv(m)->e[e].seq);
    lkv__csim_trace(s, "m%d (id %llu): %s, held %zu, vector%s", i + 1, (unsigned long long)s->peers[i].id,
                    s->nodes[i].gone ? "gone"
                    : m              ? "up"
                                     : "down",
                    m ? lkv_causal_member_held(m) : 0, vv);
  }
  if (!s->failed && !agreed_at)
    lkv__csim_fail(s, "convergence", "members still disagree %llu ms after healing",
                   (unsigned long long)(s->now - healed_at));
  if (!s->failed) lkv__csim_check_final(s);
  return s->failed;
}

void lkv__csim_free(lkv__csim_t *s) {
  for (int i = 0; i < s->n; i++) {
    lkv_causal_member_free(s->nodes[i].m);
    lkv__csim_log_free(&s->nodes[i].log);
    free(s->nodes[i].ckpt);
    lkv__csim_changes_free(&s->nodes[i].served);
    lkv__csim_changes_free(&s->nodes[i].pending);
    lkv__csim_changes_free(&s->nodes[i].watched);
    lkv__csim_log_free(&s->origin_log[i]);
  }
  lkv__sim_net_free(&s->net);
  lkv__csim_history_free(s);
  free(s->acks);
  memset(s, 0, sizeof(*s));
}
