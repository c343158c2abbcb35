/* A member added mid-run (docs/causal.md §15b): the last member is not among the others' members at the
 * start; member 1 adds it, and it starts then, empty, with the add's --initial-cluster-state existing. */
#include "common/error.h"
#include "csim.h"

void lkv__csim_join_plan(lkv__csim_t *s) {
  if (s->n < 3 || !lkv__sim_rng_chance(&s->rng, 333)) return;
  s->joiner = s->n - 1;
  s->join_at = s->now + lkv__sim_rng_below(&s->rng, s->fault_ms / 2);
  s->nodes[s->joiner].down_until = UINT64_MAX; /* not started before its add */
  lkv__csim_trace(s, "m%d to be added by m1", s->joiner + 1);
}

int lkv__csim_members_of(const lkv__csim_t *s, int i) {
  return s->joiner && i != s->joiner ? s->n - 1 : s->n;
}

/* Whether member i applied the add of the joiner (the joiner itself knows it from its start). */
static int knows_joiner(const lkv__csim_t *s, int i) {
  size_t len;
  return i == s->joiner || lkv_causal_member_peer_urls(s->nodes[i].m, s->peers[s->joiner].id, &len) != NULL;
}

void lkv__csim_join(lkv__csim_t *s) {
  lkv__csim_node_t *adder = &s->nodes[0];
  if (!adder->m) { /* down: later */
    s->join_at = s->now + 100;
    return;
  }
  static const uint8_t urls[] = "http://127.0.0.1:2380";
  uint64_t rev;
  int rc = lkv_causal_member_add(adder->m, lkv__csim_clock(s, 0), s->peers[s->joiner].id, urls,
                                 sizeof(urls) - 1, LKV_CSIM_REMOVAL, &rev);
  lkv__csim_trace(s, "m1: adds m%d: %s", s->joiner + 1, lkv_err_name(rc));
  if (rc == 0) lkv__csim_process(s, 0);
  /* Durable once its batch was handled without a crash; after a crash, the next attempt finds it replayed
   * (a member already) or makes it again. */
  if ((rc == 0 && adder->m) || rc == LKV_EMEMBEREXIST) {
    s->join_at = 0;
    s->n_adds++;
    s->nodes[s->joiner].down_until = s->now;
    lkv__csim_start(s, s->joiner);
    return;
  }
  s->join_at = s->now + 100;
}

void lkv__csim_join_keys(lkv__csim_t *s, int i) {
  /* The hello's part: the joiner's key, trusted on first use once the add is applied. */
  if (s->joiner && s->nodes[i].m && knows_joiner(s, i))
    (void)lkv_causal_member_set_key(s->nodes[i].m, s->peers[s->joiner].id, s->peers[s->joiner].pk);
}

int lkv__csim_join_refused(const lkv__csim_t *s, int to, int rc) {
  if (!s->joiner || knows_joiner(s, to)) return 0;
  /* The joiner's events (an unknown origin), vectors (not a member) and snapshots (an unknown sender). */
  return rc == LKV_EVERIFY || rc == LKV_EINVAL || rc == LKV_EBADMSG;
}
