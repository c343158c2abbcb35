/* The process metrics (process_*): /proc read at each scrape, as Prometheus' process collector does. */
#include "metrics/process.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/error.h"

int lkv__process_parse(const char *stat, double btime, long ticks, long page, lkv__process_stat_t *out) {
  /* The command name may hold spaces and parentheses: the fields start after the last ')'. */
  const char *p = stat ? strrchr(stat, ')') : NULL;
  if (!p || ticks <= 0 || page <= 0) return LKV_EINVAL;
  p++;
  unsigned long long f[22]; /* fields 3..24; f[k] is field k + 3 */
  for (int k = 0; k < 22; k++) {
    while (*p == ' ') p++;
    if (k == 0) { /* the state: one letter */
      if (!*p) return LKV_EINVAL;
      p++;
      f[0] = 0;
      continue;
    }
    char *end;
    f[k] = strtoull(p, &end, 10);
    if (end == p) return LKV_EINVAL;
    p = end;
  }
  out->cpu_seconds = (double)(f[11] + f[12]) / (double)ticks;
  out->start_time = btime + (double)f[19] / (double)ticks;
  out->virtual_bytes = (double)f[20];
  out->resident_bytes = (double)f[21] * (double)page;
  return 0;
}

/* Reads a small /proc file whole into buf (NUL-terminated). Returns 0 or -1. */
static int read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = '\0';
  return n > 0 ? 0 : -1;
}

/* The boot time (/proc/stat's btime line: after a long "intr" line, so read line by line), or -1. */
static double boot_time(void) {
  FILE *f = fopen("/proc/stat", "re");
  if (!f) return -1;
  char *line = NULL;
  size_t cap = 0;
  double t = -1;
  while (getline(&line, &cap, f) > 0)
    if (strncmp(line, "btime ", 6) == 0) {
      t = strtod(line + 6, NULL);
      break;
    }
  free(line);
  fclose(f);
  return t;
}

static double count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return 0;
  double n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static void collect(void *arg) {
  lkv_metrics_catalog_t *c = arg;
  char stat[1024];
  lkv__process_stat_t ps;
  double btime = boot_time();
  if (btime >= 0 && read_file("/proc/self/stat", stat, sizeof(stat)) == 0 &&
      lkv__process_parse(stat, btime, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), &ps) == 0) {
    lkv_metric_set(c->cpu_seconds, 0, ps.cpu_seconds);
    lkv_metric_set(c->start_time, 0, ps.start_time);
    lkv_metric_set(c->virtual_memory, 0, ps.virtual_bytes);
    lkv_metric_set(c->resident_memory, 0, ps.resident_bytes);
  }
  lkv_metric_set(c->open_fds, 0, count_fds());
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    lkv_metric_set(c->max_fds, 0, rl.rlim_cur == RLIM_INFINITY ? 1.0 / 0.0 : (double)rl.rlim_cur);
}

void lkv__metrics_process_start(lkv_metrics_t *reg, lkv_metrics_catalog_t *c) {
  lkv_metrics_on_collect(reg, collect, c); /* without it the process gauges stay 0: out of memory only */
}
