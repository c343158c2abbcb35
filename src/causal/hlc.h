/* The causal mode's hybrid logical clock: stamps for local events, the receive rule, the bound ahead. */
#ifndef LKV_CAUSAL_HLC_H
#define LKV_CAUSAL_HLC_H

#include <stdint.h>

/*
 * A hybrid logical clock (Kulkarni et al., 2014): stamps are (wall, logical) where wall follows the
 * largest physical time seen (milliseconds, the caller's clock) and logical orders events within one
 * wall value. A stamp taken after receiving another is greater than it, so a write that saw another
 * always carries a larger stamp. Time is an input: the clock never reads a clock itself.
 */

typedef struct {
  uint64_t wall;    /* milliseconds */
  uint32_t logical; /* events within the same wall */
} lkv_causal_hlc_t;

/* <0, 0, >0 as a is before, equal to or after b (wall, then logical). */
int lkv_causal_hlc_cmp(const lkv_causal_hlc_t *a, const lkv_causal_hlc_t *b);

/* Starts a clock at last (the greatest stamp this member is known to have issued or received; {0, 0}
 * for a new member). */
void lkv_causal_hlc_init(lkv_causal_hlc_t *clock, const lkv_causal_hlc_t *last);

/* Takes the stamp of a local event at physical time now (the send rule) into *out; the clock moves to it.
 * The stamp is greater than every stamp the clock gave or received before. */
void lkv_causal_hlc_now(lkv_causal_hlc_t *clock, uint64_t now, lkv_causal_hlc_t *out);

/* The receive rule: merges a remote stamp at physical time now. Returns 0 (the clock moved past remote),
 * or LKV_ECLOCKAHEAD when remote->wall > now + max_ahead: the stamp comes from a clock too far ahead and is
 * refused (the clock is unchanged). */
int lkv_causal_hlc_recv(lkv_causal_hlc_t *clock, uint64_t now, const lkv_causal_hlc_t *remote,
                        uint64_t max_ahead);

/* 1 when remote would be refused by lkv_causal_hlc_recv at now (it changes nothing). */
int lkv_causal_hlc_too_far(uint64_t now, const lkv_causal_hlc_t *remote, uint64_t max_ahead);

#endif
