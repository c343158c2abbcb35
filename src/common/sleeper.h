/* A background thread's sleep between rounds that another thread can cut short to stop it. */
#ifndef LKV_COMMON_SLEEPER_H
#define LKV_COMMON_SLEEPER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct lkv_sleeper_s {
  pthread_mutex_t mu;
  pthread_cond_t wake; /* on CLOCK_MONOTONIC: a wall-clock step neither shortens nor stretches a sleep */
  atomic_int stop;     /* set once by lkv_sleeper_stop; also readable by work that should end early */
} lkv_sleeper_t;

/* Initialises s, not stopped. Returns 0 or LKV_ENOMEM. */
int lkv_sleeper_init(lkv_sleeper_t *s);

/* Destroys s; no thread may sleep in it. */
void lkv_sleeper_destroy(lkv_sleeper_t *s);

/* Sleeps ms milliseconds unless s is or becomes stopped. Returns 1 when stopped, else 0. */
int lkv_sleeper_sleep_ms(lkv_sleeper_t *s, uint64_t ms);

/* Stops s for good and wakes its sleeper. Any thread. */
void lkv_sleeper_stop(lkv_sleeper_t *s);

#endif
