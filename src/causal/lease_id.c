/* Owner-tagged lease ids: a member's tag, the owner of an id, distinct tags among the members. */
#include "causal/lease_id.h"

uint16_t lkv_causal_lease_tag(uint64_t member_id) {
  return (uint16_t)(member_id & 0x7fff);
}

int lkv_causal_lease_owned(int64_t id, uint64_t member_id) {
  return id > 0 && ((uint64_t)id >> LKV_CAUSAL_LEASE_TAG_SHIFT) == lkv_causal_lease_tag(member_id);
}

uint64_t lkv_causal_lease_owner(int64_t id, const uint64_t *ids, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (lkv_causal_lease_owned(id, ids[i])) return ids[i];
  return 0;
}

int lkv_causal_lease_tags_distinct(const uint64_t *ids, size_t n, uint64_t *a, uint64_t *b) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < i; j++)
      if (lkv_causal_lease_tag(ids[i]) == lkv_causal_lease_tag(ids[j])) {
        if (a) *a = ids[j];
        if (b) *b = ids[i];
        return 0;
      }
  return 1;
}
