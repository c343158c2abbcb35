/* Owner-tagged lease ids of the causal mode: the member that granted a lease, told by the id alone. */
#ifndef LKV_CAUSAL_LEASE_ID_H
#define LKV_CAUSAL_LEASE_ID_H

#include <stddef.h>
#include <stdint.h>

/*
 * A lease belongs to the member that granted it (docs/causal.md §5), and every member must tell the owner of
 * any lease id without asking. etcd's lease ids already carry their granting member: a server-chosen id is
 * the low 16 bits of the member id in bits 48..63, a counter below, with bit 63 cleared so that the id is
 * positive. The causal mode makes that the rule: the owner tag of a member is its id's low 15 bits, and a
 * lease id is owned by the member whose tag is the id's bits 48..62. The members' tags must be distinct
 * (lkv_causal_lease_tags_distinct, checked at start-up); a client-chosen id must carry the tag of the member
 * it is granted on.
 */

/* Bits of a lease id below its owner tag. */
#define LKV_CAUSAL_LEASE_TAG_SHIFT 48

/* The owner tag of member_id (15 bits). */
uint16_t lkv_causal_lease_tag(uint64_t member_id);

/* 1 when lease id (positive) names member_id as its owner, else 0. */
int lkv_causal_lease_owned(int64_t id, uint64_t member_id);

/* The member of ids[0..n) that owns lease id, or 0 when none does (or id is not positive). */
uint64_t lkv_causal_lease_owner(int64_t id, const uint64_t *ids, size_t n);

/* 1 when the owner tags of ids[0..n) are pairwise distinct; else 0, with the first two members sharing a
 * tag in *a and *b (either may be NULL). */
int lkv_causal_lease_tags_distinct(const uint64_t *ids, size_t n, uint64_t *a, uint64_t *b);

#endif
