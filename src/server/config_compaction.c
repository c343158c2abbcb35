/* --auto-compaction-mode and --auto-compaction-retention, read together as etcd 3.4 reads them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/config_duration.h"
#include "server/config_internal.h"

#define HOUR_MS INT64_C(3600000)

/* Go's strconv.Atoi: optional sign, decimal digits, within int64. Returns 0 and sets *out, or -1. */
static int atoi_go(const char *s, int64_t *out) {
  const char *d = (*s == '+' || *s == '-') ? s + 1 : s;
  if (*d == '\0' || strspn(d, "0123456789") != strlen(d)) return -1;
  errno = 0;
  long long v = strtoll(s, NULL, 10);
  if (errno) return -1;
  *out = v;
  return 0;
}

int lkv__config_compaction_check(lkv__config_parse_t *p) {
  const char *mode = lkv__config_given(p, "auto-compaction-mode");
  const char *retention = lkv__config_given(p, "auto-compaction-retention");
  if (!mode) mode = "periodic"; /* etcd's defaults */
  if (!retention || !retention[0]) retention = "0";
  lkv_compaction_mode_t m = strcmp(mode, "periodic") == 0   ? LKV_COMPACTION_PERIODIC
                            : strcmp(mode, "revision") == 0 ? LKV_COMPACTION_REVISION
                                                            : LKV_COMPACTION_OFF;
  if (m == LKV_COMPACTION_OFF && mode[0] != '\0')
    return lkv__config_fail(p, "unknown auto-compaction-mode \"%s\"", mode);
  /* etcd: a whole number >= 0 is hours (periodic) or revisions; anything else is a duration, in either
   * mode (a duration in revision mode counts its nanoseconds as revisions, as etcd does). */
  int64_t n, value = 0;
  if (atoi_go(retention, &n) == 0 && n >= 0) {
    if (m == LKV_COMPACTION_PERIODIC && n > INT64_MAX / HOUR_MS)
      return lkv__config_fail(p, "--auto-compaction-retention: invalid value \"%s\": too many hours",
                              retention);
    value = m == LKV_COMPACTION_PERIODIC ? n * HOUR_MS : m == LKV_COMPACTION_REVISION ? n : 0;
  } else {
    int64_t ns;
    if (lkv__config_duration_parse(retention, &ns) != 0)
      return lkv__config_fail(p, "error parsing CompactionRetention: time: invalid duration \"%s\"",
                              retention);
    if (ns < 0) /* etcd would start a compactor with a negative period; refuse instead */
      return lkv__config_fail(p, "--auto-compaction-retention: invalid value \"%s\": must not be negative",
                              retention);
    if (ns > 0 && m == LKV_COMPACTION_OFF) /* etcd: "unsupported compaction mode " at start */
      return lkv__config_fail(p, "unsupported compaction mode %s", mode);
    value = m == LKV_COMPACTION_REVISION ? ns : (ns + 999999) / 1000000;
  }
  p->cfg->auto_compaction_mode = value > 0 ? m : LKV_COMPACTION_OFF;
  p->cfg->auto_compaction_retention = value;
  return 0;
}
