/* Internal to the command line: the parse state shared by the flag, environment and config-file inputs. */
#ifndef LKV_SERVER_CONFIG_INTERNAL_H
#define LKV_SERVER_CONFIG_INTERNAL_H

#include <stddef.h>

#include "server/config.h"
#include "server/config_etcd.h"

#define LKV__CONFIG_MAX_GIVEN 128

/* Where a value came from: names the input in error messages. */
typedef enum { LKV__SRC_FLAG, LKV__SRC_ENV, LKV__SRC_FILE } lkv__config_src_t;

/* An etcd flag that config.c's own table does not implement, with its last value. */
typedef struct lkv__config_given_s {
  const lkv__etcd_flag_t *flag;
  char *value; /* owned */
} lkv__config_given_t;

typedef struct lkv__config_parse_s {
  lkv_config_t *cfg;
  char *err;
  size_t errlen;
  int print_version;
  int advertise_set;                      /* --advertise-client-urls given: no copy of the listen URLs */
  char *config_file;                      /* --config-file's value, owned; NULL when not given */
  const char *set[LKV__CONFIG_MAX_GIVEN]; /* names (static) of the flags set so far, each once */
  size_t n_set;
  lkv__config_given_t given[LKV__CONFIG_MAX_GIVEN];
  size_t n_given;
} lkv__config_parse_t;

/* Sets one flag from one input. name[0..len) is the flag's name without dashes; value its text; key the
 * input's name for messages (the environment variable, the config file's key; unused for flags).
 * Returns 0, or LKV_EINVAL (unknown flag or bad value; message in p->err) or LKV_ENOMEM. */
int lkv__config_set(lkv__config_parse_t *p, const char *name, size_t len, const char *value,
                    lkv__config_src_t src, const char *key);

/* config.c's own flags, for --help: entry i's name, default (NULL: boolean) and help. Returns 0, or -1
 * past the end. */
int lkv__config_own_flag(size_t i, const char **name, const char **def, const char **help);

/* Whether the flag named name[0..len) exists (1 takes a value, 2 is boolean) or not (0). */
int lkv__config_flag_kind(const char *name, size_t len);

/* Whether the flag was set by an earlier lkv__config_set. */
int lkv__config_was_set(const lkv__config_parse_t *p, const char *name);

/* The last value of a non-implemented etcd flag, or NULL when it was not given. */
const char *lkv__config_given(const lkv__config_parse_t *p, const char *name);

/* Fills every default into p->cfg (zeroed but for its warnings). Returns 0 or LKV_ENOMEM. */
int lkv__config_defaults(lkv__config_parse_t *p);

/* Records a non-implemented etcd flag's last value, checked against Go's syntax for its kind (etcd's
 * "invalid value %q for flag -%s: parse error", or "for ETCD_X" from the environment). Returns 0,
 * LKV_EINVAL or LKV_ENOMEM. */
int lkv__config_set_given(lkv__config_parse_t *p, const lkv__etcd_flag_t *e, const char *value,
                          lkv__config_src_t src, const char *key);

/* Frees the recorded values and forgets which flags were set. */
void lkv__config_given_free(lkv__config_parse_t *p);

/* Writes "out of memory" into p->err; returns LKV_ENOMEM. */
int lkv__config_nomem(lkv__config_parse_t *p);

/* Formats a message into p->err; returns LKV_EINVAL. */
int lkv__config_fail(lkv__config_parse_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends one warning line to p->cfg->warnings. Returns 0 or LKV_ENOMEM. */
int lkv__config_warn(lkv__config_parse_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* config_env.c: sets the flags not given on the command line from ETCD_<FLAG> environment variables, as
 * etcd's flags.SetFlagsFromEnv does; a variable shadowed by a flag is an error, an unrecognized ETCD_
 * variable a warning. envp: NULL-terminated "KEY=value" strings. Returns 0 or an error (p->err). */
int lkv__config_env_apply(lkv__config_parse_t *p, char **envp);

/* config_file.c: uses the config file at path alone, as etcd does: refuses if a flag given on the command
 * line is refused, warns that the other flags and ETCD_* variables (envp) are ignored, then resets p->cfg
 * to the defaults and applies the file. Returns 0 or an error (p->err). */
int lkv__config_file_use(lkv__config_parse_t *p, const char *path, char **envp);

/* config_file.c: sets flags from the YAML config file at path (etcd's embed.Config keys). Returns 0 or an
 * error (p->err names the file). */
int lkv__config_file_apply(lkv__config_parse_t *p, const char *path);

/* config_cluster.c: judges every non-implemented etcd flag given (warning or refusal) and checks the
 * cluster flags together as etcd does (a one-member cluster of this member only). Returns 0 or LKV_EINVAL. */
int lkv__config_cluster_check(lkv__config_parse_t *p);

/* config_compaction.c: reads --auto-compaction-mode and --auto-compaction-retention (kept as given)
 * together as etcd 3.4 does, with its errors, into p->cfg. Returns 0 or LKV_EINVAL. */
int lkv__config_compaction_check(lkv__config_parse_t *p);

/* config_tls.c: reads the client and peer TLS flags (kept as given) into p->cfg->client_tls and peer_tls and
 * checks them against the client and peer listen URLs as etcd 3.4 does, with its errors and warnings.
 * Returns 0, LKV_EINVAL or LKV_ENOMEM. */
int lkv__config_tls_check(lkv__config_parse_t *p);

/* config_grpc.c: reads --max-concurrent-streams and the --grpc-keepalive-* flags (kept as given) into
 * p->cfg with etcd's defaults, and the values grpc-go takes when etcd passes it none. Returns 0 or
 * LKV_EINVAL (a stream count beyond uint32). */
int lkv__config_grpc_check(lkv__config_parse_t *p);

/* Sets cfg->cors and cfg->host_whitelist from --cors and --host-whitelist (config_gateway.c): comma-
 * separated, "*" any (the default); --cors entries must be URLs as etcd requires. Returns 0, LKV_EINVAL
 * (message in p->err) or LKV_ENOMEM. */
int lkv__config_gateway_check(lkv__config_parse_t *p);

/* config_auth.c: sets --auth-token from value ("simple", or "jwt," and etcd's JWT options), checked as
 * etcd checks the text. Returns 0, LKV_EINVAL (message in p->err) or LKV_ENOMEM. */
int lkv__config_auth_token_set(lkv__config_parse_t *p, const char *value);

/* Frees t's strings and resets it to simple tokens. */
void lkv__config_auth_token_free(lkv_config_auth_token_t *t);

/* config_rate_limit.c: sets --rate-limit-by, --rate-limit-exempt or --rate-limit-file (name, without
 * dashes) from value, checked. Returns 0, LKV_EINVAL (message in p->err) or LKV_ENOMEM. */
int lkv__config_rate_limit_set(lkv__config_parse_t *p, const char *name, const char *value);

/* config_rate_limit.c: the rate limit defaults into p->cfg->rate_limit. Returns 0 or LKV_ENOMEM. */
int lkv__config_rate_limit_defaults(lkv__config_parse_t *p);

/* Frees a list of n strings and the list; NULL is accepted. */
void lkv__config_list_free(char **l, size_t n);

#endif
