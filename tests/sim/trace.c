/* The run's trace: printed with --trace, folded into a digest that proves a seed replays byte for byte. */
#include <stdarg.h>
#include <stdio.h>

#include "sim.h"

void lkv__sim_trace(lkv__sim_t *s, const char *fmt, ...) {
  if (!s->trace && !s->digest_on) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
  if (s->digest_on) {
    s->digest = lkv__sim_mix(s->digest, s->now);
    s->digest = lkv__sim_mix(s->digest, lkv__sim_hash_bytes((const uint8_t *)line, len));
  }
  if (s->trace)
    printf("%8llu.%02llu %s\n", (unsigned long long)(s->now / LKV_SIM_TICK),
           (unsigned long long)(s->now % LKV_SIM_TICK), line);
}

void lkv__sim_fail(lkv__sim_t *s, const char *inv, const char *fmt, ...) {
  if (s->failed) return;
  s->failed = 1;
  s->fail_step = s->steps;
  snprintf(s->fail_inv, sizeof(s->fail_inv), "%s", inv);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->fail_msg, sizeof(s->fail_msg), fmt, ap);
  va_end(ap);
  lkv__sim_trace(s, "VIOLATION %s: %s", s->fail_inv, s->fail_msg);
}
