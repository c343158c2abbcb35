/* A member's attributes as the cluster records them (name, peer and client URLs): a pure codec. */
#ifndef LKV_CLUSTER_ATTRS_H
#define LKV_CLUSTER_ATTRS_H

#include <stddef.h>
#include <stdint.h>

/*
 * What MemberList shows of a member besides its id. Every member publishes its own through the Raft log
 * once it runs (etcd's publish), so every member lists the same. Encoding: version (u8, 1), then the name,
 * then u32 count and each peer URL, then u32 count and each client URL; each string as u32 length and
 * bytes; little-endian.
 */
typedef struct lkv_cluster_attrs_s {
  char *name;
  char **peer_urls;
  size_t n_peer_urls;
  char **client_urls;
  size_t n_client_urls;
} lkv_cluster_attrs_t;

/* Encodes a into a malloc'd buffer (*out, *out_len). Returns 0 or LKV_ENOMEM. */
int lkv_cluster_attrs_encode(const lkv_cluster_attrs_t *a, uint8_t **out, size_t *out_len);

/* Decodes buf into *a (malloc'd strings; free with lkv_cluster_attrs_free). Returns 0, LKV_EBADMSG or
 * LKV_ENOMEM; on failure *a holds nothing. */
int lkv_cluster_attrs_decode(const uint8_t *buf, size_t len, lkv_cluster_attrs_t *a);

/* Frees what decode allocated and zeroes a. NULL is ignored. */
void lkv_cluster_attrs_free(lkv_cluster_attrs_t *a);

#endif
