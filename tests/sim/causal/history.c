/* Clients' histories in the causal simulator: each client is pinned to one member, writes and reads through
 * it, and carries the causal past of what it saw; a read must never return a write that another write in
 * that past had superseded (the bad pattern of causal consistency; writes have unique values, so the check
 * is direct: Bouajjani et al., POPL'17). */
#include <stdlib.h>

#include "csim.h"

/* The workload's keys are "k0".."k5". */
static int key_slot(const uint8_t *key, size_t len) {
  return len == 2 && key[0] == 'k' && key[1] >= '0' && key[1] < '0' + LKV_CSIM_KEYS ? key[1] - '0' : -1;
}

void lkv__csim_history_write(lkv__csim_t *s, const lkv_causal_event_t *ev) {
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) abort();
  while (lkv_causal_mutations_next(&it, &mu)) {
    if (mu.kind == LKV_CAUSAL_MEMBER_REMOVE || mu.kind == LKV_CAUSAL_MEMBER_ADD) continue; /* writes no key */
    int k = key_slot(mu.key, mu.key_len);
    if (k < 0) abort();
    lkv__csim_writes_t *w = &s->writes[k];
    if (w->n == w->cap) {
      w->cap = w->cap ? 2 * w->cap : 64;
      w->v = realloc(w->v, w->cap * sizeof(*w->v));
      if (!w->v) abort();
    }
    w->v[w->n++] = (lkv__csim_wrec_t){.origin = ev->origin, .seq = ev->seq, .deps = ev->deps};
  }
}

/* The write (origin, seq) of key slot k, or NULL. */
static const lkv__csim_wrec_t *find(const lkv__csim_t *s, int k, uint64_t origin, uint64_t seq) {
  for (size_t i = 0; i < s->writes[k].n; i++)
    if (s->writes[k].v[i].origin == origin && s->writes[k].v[i].seq == seq) return &s->writes[k].v[i];
  return NULL;
}

/* The client now has w and w's causal past in its own. */
static void observe(lkv__csim_client_t *c, uint64_t origin, uint64_t seq, const lkv_causal_vv_t *deps) {
  if (lkv_causal_vv_merge(&c->seen, deps) ||
      lkv_causal_vv_set(
          &c->seen, origin,
          seq > lkv_causal_vv_get(&c->seen, origin) ? seq : lkv_causal_vv_get(&c->seen, origin)))
    abort();
}

void lkv__csim_history_acked(lkv__csim_t *s, int client, const lkv_causal_event_t *ev) {
  observe(&s->clients[client], ev->origin, ev->seq, &ev->deps);
}

void lkv__csim_history_read(lkv__csim_t *s, int client) {
  lkv__csim_client_t *c = &s->clients[client];
  const lkv_causal_member_t *m = s->nodes[c->member].m;
  if (!m) return;
  int k = (int)lkv__sim_rng_below(&s->rng, LKV_CSIM_KEYS);
  const uint8_t name[2] = {'k', (uint8_t)('0' + k)};
  const lkv_causal_key_t *key = lkv_causal_member_key(m, name, 2);
  const lkv_causal_sibling_t *r = key ? lkv_causal_member_winner(m, key) : NULL;
  s->n_reads++;
  if (!r) return; /* absent: a delete the member purged */
  for (size_t i = 0; i < s->writes[k].n; i++) {
    const lkv__csim_wrec_t *w = &s->writes[k].v[i];
    if ((w->origin == r->origin && w->seq == r->seq) || !lkv_causal_vv_covers(&c->seen, w->origin, w->seq))
      continue;
    if (lkv_causal_vv_covers(&w->deps, r->origin, r->seq)) {
      lkv__csim_fail(s, "causal-read",
                     "client %d read k%d = %llu:%llu on m%d after seeing %llu:%llu, which superseded it",
                     client, k, (unsigned long long)r->origin, (unsigned long long)r->seq, c->member + 1,
                     (unsigned long long)w->origin, (unsigned long long)w->seq);
      return;
    }
  }
  const lkv__csim_wrec_t *got = find(s, k, r->origin, r->seq);
  if (!got) {
    lkv__csim_fail(s, "causal-read", "client %d read k%d = %llu:%llu on m%d, a write no origin made durable",
                   client, k, (unsigned long long)r->origin, (unsigned long long)r->seq, c->member + 1);
    return;
  }
  observe(c, got->origin, got->seq, &got->deps);
}

void lkv__csim_history_free(lkv__csim_t *s) {
  for (int k = 0; k < LKV_CSIM_KEYS; k++) free(s->writes[k].v);
}
