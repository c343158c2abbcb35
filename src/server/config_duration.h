/* Internal to the command line: Go's time.ParseDuration syntax, for etcd's duration flags. */
#ifndef LKV_SERVER_CONFIG_DURATION_H
#define LKV_SERVER_CONFIG_DURATION_H

#include <stdint.h>

/* Parses a Go duration ("10m", "1h30m", "1.5s", "100ms", "250us", "0"; units ns, us, µs, ms, s, m, h; an
 * optional leading sign) into nanoseconds. Returns 0 and sets *ns, or LKV_EINVAL for malformed text or a
 * value beyond +-2^63 ns (Go's limit), leaving *ns untouched. */
int lkv__config_duration_parse(const char *text, int64_t *ns);

#endif
