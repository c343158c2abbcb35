/* Internal to the metrics module: the process metrics read from /proc at each scrape. */
#ifndef LKV_METRICS_PROCESS_H
#define LKV_METRICS_PROCESS_H

#include <stdint.h>

#include "metrics/catalog.h"

/* What /proc says about this process, as Prometheus' process collector reads it. */
typedef struct lkv__process_stat_s {
  double cpu_seconds;    /* utime + stime of /proc/self/stat */
  double start_time;     /* seconds since the epoch: boot time (/proc/stat btime) + starttime ticks */
  double virtual_bytes;  /* vsize */
  double resident_bytes; /* rss pages * page size */
  double open_fds;       /* entries of /proc/self/fd */
  double max_fds;        /* the soft "Max open files" limit */
} lkv__process_stat_t;

/* Parses the text of /proc/self/stat into *out's first four fields (pure: tests feed it text). btime: the
 * boot time in seconds since the epoch (/proc/stat); ticks: clock ticks per second; page: page size.
 * Returns 0, or LKV_EINVAL when the text is malformed. */
int lkv__process_parse(const char *stat, double btime, long ticks, long page, lkv__process_stat_t *out);

/* Adds the collector that sets the catalog's process_* gauges from /proc at each scrape. */
void lkv__metrics_process_start(lkv_metrics_t *reg, lkv_metrics_catalog_t *c);

#endif
