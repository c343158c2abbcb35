/* Clock readings as plain integers, for the timers, deadlines and pacing of every module. */
#ifndef LKV_COMMON_CLOCK_H
#define LKV_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on clock id (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME for wall time). */
static inline uint64_t lkv_clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Milliseconds on clock id. */
static inline uint64_t lkv_clock_ms(clockid_t id) {
  return lkv_clock_ns(id) / 1000000u;
}

#endif
