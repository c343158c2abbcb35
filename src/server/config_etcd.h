/* Internal to the command line: every flag of etcd 3.4's --help, classed as implemented, warned or refused.
 */
#ifndef LKV_SERVER_CONFIG_ETCD_H
#define LKV_SERVER_CONFIG_ETCD_H

#include <stddef.h>

/* How ledgerkv treats an etcd flag. docs/compatibility.md lists the same classes (a unit test checks). */
typedef enum {
  LKV__FLAG_IMPLEMENTED, /* handled by config.c's own table, with etcd's meaning */
  LKV__FLAG_WARNED,      /* accepted, has no effect on a single ledgerkv node: one warning at start */
  LKV__FLAG_CHECKED,     /* accepted with a warning at a harmless value, refused otherwise (see check) */
  LKV__FLAG_REFUSED,     /* always refused */
  LKV__FLAG_CLUSTER      /* implemented from the value kept as given by config_cluster.c (the cluster flags,
                          * which etcd checks together), config_compaction.c (auto-compaction's two) or
                          * config_tls.c (the client TLS flags), config_grpc.c (gRPC's streams and keepalive);
                          * docs/compatibility.md calls it implemented */
} lkv__flag_class_t;

/* The syntax of a flag's value, as etcd's flag set parses it. */
typedef enum {
  LKV__KIND_STRING,
  LKV__KIND_BOOL,
  LKV__KIND_UINT,
  LKV__KIND_INT,
  LKV__KIND_DURATION,
  LKV__KIND_IGNORED /* etcd's IgnoredFlag: takes no separate value, any "=value", warns "no longer supported"
                     */
} lkv__flag_kind_t;

typedef struct lkv__etcd_flag_s {
  const char *name; /* without dashes */
  lkv__flag_class_t cls;
  lkv__flag_kind_t kind;
  const char *off; /* CHECKED: the values that are harmless, '|'-separated ("" = empty) */
  const char *why; /* WARNED/CHECKED: why it has no effect; REFUSED, CHECKED: the refusal's reason
                    * (after the '|' for CHECKED) */
} lkv__etcd_flag_t;

/* The flag named by name[0..len), or NULL when etcd 3.4 has no such flag. */
const lkv__etcd_flag_t *lkv__config_etcd_find(const char *name, size_t len);

/* Every entry, in etcd --help's order, then the flags etcd 3.4 accepts without listing them; *n receives the
 * count. The array is static. */
const lkv__etcd_flag_t *lkv__config_etcd_all(size_t *n);

/* A one-word name of a class as docs/compatibility.md and --help print it. */
const char *lkv__config_etcd_class_name(lkv__flag_class_t cls);

/* Decides a non-implemented flag's fate for its final value.
 * Returns 0 (accepted: the warning text is written to msg) or 1 (refused: the reason is written to msg).
 * msg, msglen: out, one line without the flag's name (the caller prefixes "--<name>"). */
int lkv__config_etcd_judge(const lkv__etcd_flag_t *f, const char *value, char *msg, size_t msglen);

/* Checks value against the flag's kind with Go's flag syntax rules (booleans as strconv.ParseBool,
 * unsigned and signed decimal integers, Go durations). Returns 0 when valid, -1 otherwise. */
int lkv__config_etcd_valid(const lkv__etcd_flag_t *f, const char *value);

#endif
