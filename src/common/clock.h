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

/* The time ms milliseconds from now on clock id, as the absolute timespec pthread_cond_timedwait takes (for
 * a condition variable set to that clock). */
static inline struct timespec lkv_clock_deadline(clockid_t id, uint64_t ms) {
  uint64_t ns = lkv_clock_ns(id) + ms * 1000000u;
  return (struct timespec){.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
}

#endif
