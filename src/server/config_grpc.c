/* --max-concurrent-streams and --grpc-keepalive-*: etcd's gRPC server options, as grpc-go applies them. */
#include <errno.h>
#include <stdlib.h>

#include "server/config_duration.h"
#include "server/config_internal.h"

#define SECOND_MS UINT64_C(1000)
/* grpc-go's own values, used when etcd passes it no keepalive option (a time of 0 or less). */
#define GRPC_MIN_TIME_MS (5 * 60 * SECOND_MS)
#define GRPC_INTERVAL_MS (2 * 60 * 60 * SECOND_MS)
#define GRPC_TIMEOUT_MS (20 * SECOND_MS)

/* A duration flag in milliseconds (rounded up): etcd's default when not given, 0 for a value <= 0. */
static uint64_t duration_ms(lkv__config_parse_t *p, const char *name, uint64_t def_ms) {
  const char *v = lkv__config_given(p, name);
  int64_t ns;
  if (!v || lkv__config_duration_parse(v, &ns) != 0) return def_ms; /* the syntax was checked when given */
  return ns <= 0 ? 0 : ((uint64_t)ns + 999999) / 1000000;
}

int lkv__config_grpc_check(lkv__config_parse_t *p) {
  lkv_config_t *cfg = p->cfg;
  const char *streams = lkv__config_given(p, "max-concurrent-streams");
  cfg->max_concurrent_streams = UINT32_MAX; /* etcd's default, math.MaxUint32 */
  if (streams) {
    errno = 0;
    unsigned long long n = strtoull(streams, NULL, 10);
    if (errno || n > UINT32_MAX) /* etcd's flag is a uint32 */
      return lkv__config_fail(
          p,
          "invalid value \"%s\" for flag -max-concurrent-streams: strconv.ParseUint: parsing "
          "\"%s\": value out of range",
          streams, streams);
    cfg->max_concurrent_streams = (uint32_t)n;
  }
  /* etcd hands grpc-go an EnforcementPolicy only for a min time > 0, and ServerParameters only when both
   * the interval and the timeout are > 0; otherwise grpc-go's defaults hold (so 0 does not turn them off). */
  uint64_t min_ms = duration_ms(p, "grpc-keepalive-min-time", 5 * SECOND_MS);
  uint64_t interval_ms = duration_ms(p, "grpc-keepalive-interval", GRPC_INTERVAL_MS);
  uint64_t timeout_ms = duration_ms(p, "grpc-keepalive-timeout", GRPC_TIMEOUT_MS);
  cfg->grpc_keepalive_min_time_ms = min_ms ? min_ms : GRPC_MIN_TIME_MS;
  if (!interval_ms || !timeout_ms) {
    interval_ms = GRPC_INTERVAL_MS;
    timeout_ms = GRPC_TIMEOUT_MS;
  }
  cfg->grpc_keepalive_interval_ms = interval_ms;
  cfg->grpc_keepalive_timeout_ms = timeout_ms;
  return 0;
}
