/* lkv_strerror and lkv_err_name, generated from the LKV_ERRNO_MAP table. */
#include "common/error.h"

#include <stdio.h>
#include <string.h>

const char *lkv_strerror(int err) {
  static _Thread_local char unknown[128];
  if (err == 0) return "success";
  switch (err) {
#define LKV__ERR_TEXT(name, value, text) \
  case LKV_##name:                       \
    return text;
    LKV_ERRNO_MAP(LKV__ERR_TEXT)
#undef LKV__ERR_TEXT
  }
  /* Other negated errno values (EADDRINUSE from bind...) say what they are. */
  if (err < 0 && err > -4096) {
    char buf[96];
    const char *text = strerror_r(-err, buf, sizeof(buf));
    snprintf(unknown, sizeof(unknown), "%s", text);
    return unknown;
  }
  snprintf(unknown, sizeof(unknown), "unknown error %d", err);
  return unknown;
}

const char *lkv_err_name(int err) {
  switch (err) {
#define LKV__ERR_NAME(name, value, text) \
  case LKV_##name:                       \
    return "LKV_" #name;
    LKV_ERRNO_MAP(LKV__ERR_NAME)
#undef LKV__ERR_NAME
  }
  return "LKV_UNKNOWN";
}
