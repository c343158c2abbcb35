/* Go duration strings ("10m", "1.5s", "100ms") to nanoseconds, with Go's rules and limits. */
#include "server/config_duration.h"

#include <string.h>

#include "common/error.h"

static const struct {
  const char *name;
  uint64_t ns;
} units[] = {
    {"ns", 1},           {"us", 1000},         {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000},                                            /* U+03BC Greek mu */
    {"ms", 1000000},     {"s", 1000000000ull}, {"m", 60ull * 1000000000ull}, {"h", 3600ull * 1000000000ull},
};

/* Matches the longest unit name at *s (so "ms" is not read as "m"). Returns its size in ns, or 0. */
static uint64_t take_unit(const char **s) {
  size_t best = 0;
  uint64_t ns = 0;
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    size_t n = strlen(units[i].name);
    if (n > best && strncmp(*s, units[i].name, n) == 0) {
      best = n;
      ns = units[i].ns;
    }
  }
  *s += best;
  return ns;
}

int lkv__config_duration_parse(const char *text, int64_t *ns) {
  const char *s = text;
  int neg = 0;
  if (*s == '-' || *s == '+') neg = *s++ == '-';
  if (strcmp(s, "0") == 0) { /* the only number allowed without a unit */
    *ns = 0;
    return 0;
  }
  if (*s == '\0') return LKV_EINVAL;
  uint64_t total = 0;
  const uint64_t limit = (uint64_t)INT64_MAX + (neg ? 1u : 0u);
  while (*s) {
    uint64_t whole = 0, frac = 0, scale = 1;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
      if (whole > (limit - (uint64_t)(*s - '0')) / 10) return LKV_EINVAL;
      whole = whole * 10 + (uint64_t)(*s - '0');
    }
    if (*s == '.') {
      for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
        if (scale <= UINT64_MAX / 100) { /* digits beyond ~19 places cannot change the result */
          frac = frac * 10 + (uint64_t)(*s - '0');
          scale *= 10;
        }
      }
    }
    if (!digits) return LKV_EINVAL;
    uint64_t unit = take_unit(&s);
    if (!unit) return LKV_EINVAL;
    if (whole > limit / unit) return LKV_EINVAL;
    uint64_t v = whole * unit + (uint64_t)((double)frac * ((double)unit / (double)scale));
    if (v > limit - total) return LKV_EINVAL;
    total += v;
  }
  *ns = neg ? (int64_t)(0 - total) : (int64_t)total;
  return 0;
}
