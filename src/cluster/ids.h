/* Member and cluster identities computed exactly as etcd 3.4 computes them, and their text form. */
#ifndef LKV_CLUSTER_IDS_H
#define LKV_CLUSTER_IDS_H

#include <stddef.h>
#include <stdint.h>

/*
 * etcd derives identities instead of drawing them, so that every member of a new cluster computes the
 * same ids from the same flags (etcd's membership package):
 *   member id  = first 8 bytes, big-endian, of SHA-1(sorted peer URLs concatenated ‖ cluster name ‖
 *                decimal Unix seconds), with no separators; the member's name is not hashed. At bootstrap
 *                the cluster name is --initial-cluster-token and no time is hashed; a member added at run
 *                time (MemberAdd) hashes the cluster name "" and the current time.
 *   cluster id = first 8 bytes, big-endian, of SHA-1(the member ids sorted ascending, each as 8 bytes
 *                big-endian), computed once when a new cluster is bootstrapped.
 * Ids print as unpadded lowercase hexadecimal (Go's strconv.FormatUint(id, 16)).
 */

/* Room for the longest id text: 16 hex digits and the terminating NUL. */
#define LKV_CLUSTER_ID_HEX_LEN 17

/* Computes a member id.
 * peer_urls, n: in, the member's peer URLs in etcd's canonical text (as lkv_cluster_url_parse returns
 *   them); any order, they are hashed sorted bytewise. Not modified, not retained. n may be 0.
 * cluster_name: in, --initial-cluster-token at bootstrap, "" for a member added at run time; NULL is "".
 * unix_time: in, NULL to hash no time (bootstrap), else the Unix seconds to hash in decimal (MemberAdd).
 * out: out, the id on success. An id may be 0 in principle; etcd refuses such a member at bootstrap
 *   (lkv_cluster_bootstrap does too).
 * Returns 0, LKV_EINVAL (peer_urls NULL with n > 0, or out NULL) or LKV_ENOMEM. */
int lkv_cluster_member_id(const char *const *peer_urls, size_t n, const char *cluster_name,
                          const int64_t *unix_time, uint64_t *out);

/* Computes a cluster id from its members' ids.
 * member_ids, n: in, any order (hashed sorted ascending); not modified, not retained. n may be 0.
 * out: out, the id on success.
 * Returns 0, LKV_EINVAL (member_ids NULL with n > 0, or out NULL) or LKV_ENOMEM. */
int lkv_cluster_id_of_members(const uint64_t *member_ids, size_t n, uint64_t *out);

/* Writes id as etcd prints it: lowercase hex without leading zeros ("0" for 0).
 * out: out, at least LKV_CLUSTER_ID_HEX_LEN bytes; NUL-terminated. Returns out. */
char *lkv_cluster_id_format(uint64_t id, char out[LKV_CLUSTER_ID_HEX_LEN]);

/* Parses an id as etcd's types.IDFromString does (Go's strconv.ParseUint(s, 16, 64)): one or more hex
 * digits of either case, leading zeros allowed, no sign, no "0x" prefix, no white space, at most 2^64-1.
 * s: in, NUL-terminated. out: out, set only on success.
 * Returns 0, or LKV_EINVAL for anything else (empty, bad digit, overflow). */
int lkv_cluster_id_parse(const char *s, uint64_t *out);

#endif
