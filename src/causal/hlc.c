/* The hybrid logical clock's rules (Kulkarni et al., 2014), with the logical counter carried on overflow. */
#include "causal/hlc.h"

#include "common/error.h"

int lkv_causal_hlc_cmp(const lkv_causal_hlc_t *a, const lkv_causal_hlc_t *b) {
  if (a->wall != b->wall) return a->wall < b->wall ? -1 : 1;
  if (a->logical != b->logical) return a->logical < b->logical ? -1 : 1;
  return 0;
}

void lkv_causal_hlc_init(lkv_causal_hlc_t *clock, const lkv_causal_hlc_t *last) {
  *clock = *last;
}

/* One logical step past c: a counter at its maximum moves the wall on instead (the stamp stays greater). */
static void step(lkv_causal_hlc_t *c) {
  if (c->logical == UINT32_MAX) {
    c->wall++;
    c->logical = 0;
  } else {
    c->logical++;
  }
}

void lkv_causal_hlc_now(lkv_causal_hlc_t *clock, uint64_t now, lkv_causal_hlc_t *out) {
  if (now > clock->wall) {
    clock->wall = now;
    clock->logical = 0;
  } else {
    step(clock);
  }
  *out = *clock;
}

int lkv_causal_hlc_too_far(uint64_t now, const lkv_causal_hlc_t *remote, uint64_t max_ahead) {
  /* Written to avoid overflow of now + max_ahead. */
  return remote->wall > now && remote->wall - now > max_ahead;
}

int lkv_causal_hlc_recv(lkv_causal_hlc_t *clock, uint64_t now, const lkv_causal_hlc_t *remote,
                        uint64_t max_ahead) {
  if (lkv_causal_hlc_too_far(now, remote, max_ahead)) return LKV_ECLOCKAHEAD;
  if (now > clock->wall && now > remote->wall) {
    clock->wall = now;
    clock->logical = 0;
    return 0;
  }
  if (remote->wall > clock->wall) {
    clock->wall = remote->wall;
    clock->logical = remote->logical;
  } else if (remote->wall == clock->wall && remote->logical > clock->logical) {
    clock->logical = remote->logical;
  }
  step(clock);
  return 0;
}
