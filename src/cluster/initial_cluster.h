/* etcd's --initial-cluster syntax, its peer URL rules, and the ids of a cluster bootstrapped from it. */
#ifndef LKV_CLUSTER_INITIAL_CLUSTER_H
#define LKV_CLUSTER_INITIAL_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

/* One member named in --initial-cluster. */
typedef struct lkv_cluster_member_s {
  char *name;         /* as written between the comma and the first '=' (not trimmed, may be "") */
  char **peer_urls;   /* canonical text (lkv_cluster_url_parse), sorted bytewise as etcd sorts them; a URL
                       * repeated for one name stays repeated (lkv_cluster_bootstrap refuses it) */
  size_t n_peer_urls; /* at least 1 */
  uint64_t id;        /* 0 until lkv_cluster_bootstrap sets it */
} lkv_cluster_member_t;

/* The members of an --initial-cluster string, sorted by name (bytewise). */
typedef struct lkv_cluster_initial_s {
  lkv_cluster_member_t *members;
  size_t n_members; /* 0 for "" or a string of commas */
} lkv_cluster_initial_t;

/* Checks one URL as etcd's types.NewURLs does and returns the text etcd hashes and prints for it (Go's
 * url.URL.String() of the parsed URL): surrounding white space trimmed and the scheme lowercased, the rest
 * as written. Accepted: scheme http, https, unix or unixs; "//" and a host:port authority (net.SplitHostPort
 * rules: IPv6 in brackets, the port may be empty); no path; an optional ?query and #fragment.
 * Refused with etcd's own message (Go's url.Parse errors as `parse "<url>": ...`, then etcd's "URL scheme
 * must be http, https, unix, or unixs: <url>", "URL address does not have the form \"host:port\": <url>",
 * "URL must not contain a path: <url>"). User information, percent-escapes and non-ASCII bytes in the
 * host, and fragments with characters Go would re-escape when printing (so that the hashed text would
 * differ from the input) are refused with a ledgerkv message; etcd accepts them.
 * in: in, NUL-terminated. out: out, on success a malloc'd string (caller frees).
 * err, errlen: out, on LKV_EINVAL the message (errlen may be 0).
 * Returns 0, LKV_EINVAL or LKV_ENOMEM; *out is set only on success. */
int lkv_cluster_url_parse(const char *in, char **out, char *err, size_t errlen);

/* Parses an --initial-cluster string as etcd's types.NewURLsMap does: entries separated by ',', empty
 * entries skipped, each "name=url" split at its first '=' (an entry without '=' is a name with an empty
 * URL, which the URL check refuses); a name given several times collects all its URLs. Every URL goes
 * through lkv_cluster_url_parse; the first bad one fails the whole string with its message.
 * s: in, NUL-terminated. out: out, overwritten; holds memory only after a 0 return (free it with
 *   lkv_cluster_initial_free).
 * err, errlen: out, on LKV_EINVAL etcd's message (errlen may be 0).
 * Returns 0, LKV_EINVAL or LKV_ENOMEM. */
int lkv_cluster_initial_parse(const char *s, lkv_cluster_initial_t *out, char *err, size_t errlen);

/* Computes every member's id and the cluster id of a new cluster, as etcd's bootstrap does
 * (VerifyBootstrap's duplicate-URL check, then NewClusterFromURLsMap): member ids with cluster name
 * token and no time, then the cluster id over them.
 * ic: in/out, from lkv_cluster_initial_parse; each member's id is set on success (untouched ids are not
 *   guaranteed on failure).
 * token: in, --initial-cluster-token (etcd's default is "etcd-cluster"); NULL is "".
 * cluster_id: out, set on success.
 * err, errlen: out, on LKV_EINVAL etcd's message: "initial cluster unset and no discovery URL found" (no
 *   member), "initial cluster <name=url,... sorted> has duplicate url", "cannot use 0 as member id",
 *   "member exists with identical ID <hex>" (two URL sets hashing alike; errlen may be 0).
 * Returns 0, LKV_EINVAL or LKV_ENOMEM. */
int lkv_cluster_bootstrap(lkv_cluster_initial_t *ic, const char *token, uint64_t *cluster_id, char *err,
                          size_t errlen);

/* Returns the member called name, or NULL (etcd then says: couldn't find local name "<name>" in the
 * initial cluster configuration). The pointer is valid until ic is freed. */
const lkv_cluster_member_t *lkv_cluster_initial_find(const lkv_cluster_initial_t *ic, const char *name);

/* Frees what lkv_cluster_initial_parse allocated and zeroes ic. ic may be NULL or already freed. */
void lkv_cluster_initial_free(lkv_cluster_initial_t *ic);

#endif
