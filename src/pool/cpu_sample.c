/* Reads the controller's clocks: this process's CPU time and the machine's busy and total time. */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "pool/controller.h"

/* Fields 14 and 15 of /proc/self/stat (utime, stime). The command name (field 2) may hold spaces and
 * parentheses, so parsing starts after its last ')'. */
static int read_self(const char *path, uint64_t *ticks) {
  char buf[1024];
  FILE *f = fopen(path, "r");
  if (!f) return LKV_EIO;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  unsigned long long utime, stime;
  /* After ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime */
  if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return LKV_ECORRUPT;
  *ticks = utime + stime;
  return 0;
}

static int read_machine(const char *path, lkv_cpu_sample_t *out) {
  FILE *f = fopen(path, "r");
  if (!f) return LKV_EIO;
  char line[512];
  int have_total = 0;
  out->machine_cpus = 0;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, "cpu", 3) != 0) continue;
    if (line[3] >= '0' && line[3] <= '9') {
      out->machine_cpus++;
      continue;
    }
    unsigned long long v[8] = {0};
    /* user nice system idle iowait irq softirq steal; guest time is already inside user. */
    if (sscanf(line + 3, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &v[6], &v[7]) < 4)
      break;
    out->machine_busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    out->machine_total = out->machine_busy + v[3] + v[4];
    have_total = 1;
  }
  fclose(f);
  return have_total && out->machine_cpus > 0 ? 0 : LKV_ECORRUPT;
}

int lkv_cpu_sample_read(const char *root, lkv_cpu_sample_t *out) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/proc/self/stat", root);
  int rc = read_self(path, &out->self_ticks);
  if (rc) return rc;
  snprintf(path, sizeof(path), "%s/proc/stat", root);
  return read_machine(path, out);
}
