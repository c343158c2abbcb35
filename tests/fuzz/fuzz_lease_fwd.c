/* libFuzzer target for the lease channel's codec (src/lease/fwd_codec.h, messages from other members):
 * whatever decodes re-encodes to the same bytes and decodes to the same value again. */
#include "fuzz.h"
#include "lease/fwd_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lkv_lease_fwd_msg_t m, m2;
  if (lkv_lease_fwd_decode(data, size, &m) != 0) return 0;
  uint8_t out[LKV_LEASE_FWD_MAX_LEN];
  size_t n = lkv_lease_fwd_encode(&m, out);
  lkv_fuzz_require(lkv_fuzz_same_bytes(out, n, data, size));
  lkv_fuzz_require(lkv_lease_fwd_decode(out, n, &m2) == 0 && memcmp(&m, &m2, sizeof(m)) == 0);
  return 0;
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  const lkv_lease_fwd_msg_t ms[] = {
      {.kind = LKV_LEASE_FWD_REQUEST, .op = LKV_LEASE_FWD_RENEW, .request_id = 7, .lease_id = 42},
      {.kind = LKV_LEASE_FWD_ANSWER,
       .op = LKV_LEASE_FWD_TIME_TO_LIVE,
       .request_id = 8,
       .lease_id = -1,
       .status = LKV_LEASE_FWD_OK,
       .ttl = 9,
       .granted_ttl = 10},
  };
  for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
    uint8_t out[LKV_LEASE_FWD_MAX_LEN];
    add(arg, out, lkv_lease_fwd_encode(&ms[i], out));
  }
}
