/* Command-line parsing helpers shared by the server configuration tests. */
#ifndef LKV_TESTS_CONFIG_TESTUTIL_H
#define LKV_TESTS_CONFIG_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>

#include "common/error.h"
#include "server/config.h"

#define CT_MAX_ARGS 24

/* Parses "ledgerkv" followed by the NULL-terminated arguments in ap. */
static inline int parse_v(lkv_config_t *cfg, char *err, size_t errlen, va_list ap) {
  char *argv[CT_MAX_ARGS + 1] = {"ledgerkv"};
  int argc = 1;
  for (char *a; (a = va_arg(ap, char *)) != NULL && argc < CT_MAX_ARGS;) argv[argc++] = a;
  return lkv_config_parse(cfg, argc, argv, err, errlen);
}

/* Parses "ledgerkv" followed by the NULL-terminated arguments. */
static inline int parse(lkv_config_t *cfg, char *err, size_t errlen, ...) {
  va_list ap;
  va_start(ap, errlen);
  int rc = parse_v(cfg, err, errlen, ap);
  va_end(ap);
  return rc;
}

/* Expects the arguments to be rejected with exactly want as the message, and cfg left empty. */
#define REJECT(want, ...)                                                              \
  do {                                                                                 \
    lkv_config_t cfg_;                                                                 \
    char err_[512] = "";                                                               \
    assert_int_equal(parse(&cfg_, err_, sizeof(err_), __VA_ARGS__, NULL), LKV_EINVAL); \
    assert_string_equal(err_, want);                                                   \
    assert_null(cfg_.name);                                                            \
    assert_null(cfg_.listen_client_urls);                                              \
  } while (0)

#endif
