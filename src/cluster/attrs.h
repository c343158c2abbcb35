/* A member's attributes as the cluster records them (name, peer and client URLs, ledger key): a pure codec.
 */
#ifndef LKV_CLUSTER_ATTRS_H
#define LKV_CLUSTER_ATTRS_H

#include <stddef.h>
#include <stdint.h>

/* An Ed25519 public key's length (the ledger's LKV_LEDGER_KEY_LEN). */
#define LKV_CLUSTER_KEY_LEN 32

/*
 * What MemberList shows of a member besides its id, and the public key its ledger signs tree heads with
 * (docs/ledger.md: a receipt from any member chains back to the key the cluster recorded). Every member
 * publishes its own through the Raft log once it runs (etcd's publish), so every member lists the same.
 * Encoding, little-endian: version (u8), then the name, then u32 count and each peer URL, then u32 count
 * and each client URL; each string as u32 length and bytes. Version 2 appends the ledger key (32 bytes);
 * attributes without a key are written as version 1, so a canonical encoding exists for every value and
 * data dirs and logs written before version 2 decode unchanged.
 */
typedef struct lkv_cluster_attrs_s {
  char *name;
  char **peer_urls;
  size_t n_peer_urls;
  char **client_urls;
  size_t n_client_urls;
  int has_ledger_key; /* 0: published before version 2, by a member without a ledger, or not published */
  uint8_t ledger_key[LKV_CLUSTER_KEY_LEN];
} lkv_cluster_attrs_t;

/* Encodes a into a malloc'd buffer (*out, *out_len): version 2 with a ledger key, else version 1. Returns 0
 * or LKV_ENOMEM. */
int lkv_cluster_attrs_encode(const lkv_cluster_attrs_t *a, uint8_t **out, size_t *out_len);

/* Decodes version 1 or 2 from buf into *a (malloc'd strings; free with lkv_cluster_attrs_free). Returns 0,
 * LKV_EBADMSG (short, trailing bytes, another version, a NUL inside a string) or LKV_ENOMEM; on failure *a
 * holds nothing. */
int lkv_cluster_attrs_decode(const uint8_t *buf, size_t len, lkv_cluster_attrs_t *a);

/* Frees what decode allocated and zeroes a. NULL is ignored. */
void lkv_cluster_attrs_free(lkv_cluster_attrs_t *a);

#endif
