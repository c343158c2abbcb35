/* libFuzzer target for the lease handoff's codec (src/lease/sync_codec.h, messages from other members):
 * whatever decodes re-encodes to the same bytes and decodes to the same value again. */
#include <stdlib.h>

#include "fuzz.h"
#include "lease/sync_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lkv_lease_sync_msg_t m, m2;
  if (lkv_lease_sync_decode(data, size, &m) != 0) return 0;
  lkv_lease_remaining_t *v = malloc((m.n ? m.n : 1) * sizeof(*v));
  lkv_fuzz_require(v != NULL);
  lkv_lease_sync_entries(&m, v);
  uint8_t *out = malloc(size);
  lkv_fuzz_require(out != NULL);
  size_t n = lkv_lease_sync_encode(&m, v, out);
  lkv_fuzz_require(lkv_fuzz_same_bytes(out, n, data, size));
  lkv_fuzz_require(lkv_lease_sync_decode(out, n, &m2) == 0 && m2.kind == m.kind && m2.term == m.term &&
                   m2.seq == m.seq && m2.ok == m.ok && m2.uptime_ms == m.uptime_ms && m2.n == m.n);
  free(out);
  free(v);
  return 0;
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  const lkv_lease_remaining_t v[] = {{42, 9500}, {-1, -3}};
  const lkv_lease_sync_msg_t ms[] = {
      {.kind = LKV_LEASE_SYNC_RECORD, .term = 3, .seq = 1, .n = 2},
      {.kind = LKV_LEASE_SYNC_ACK, .term = 3, .seq = 1, .ok = 1},
      {.kind = LKV_LEASE_SYNC_QUERY, .term = 4, .seq = 2},
      {.kind = LKV_LEASE_SYNC_ANSWER, .term = 4, .seq = 2, .uptime_ms = 1000, .n = 2},
  };
  for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
    uint8_t out[64];
    add(arg, out, lkv_lease_sync_encode(&ms[i], v, out));
  }
}
