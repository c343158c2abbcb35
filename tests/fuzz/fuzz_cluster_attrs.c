/* libFuzzer target for members' attributes (src/cluster/attrs.h, read from the Raft log, the store and a
 * joining member's query answer): whatever decodes re-encodes to the same bytes (the codec is canonical,
 * so every member records the same) and decodes to the same value again. */
#include "cluster/attrs.h"
#include "fuzz.h"

static int same_list(char **a, size_t na, char **b, size_t nb) {
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++)
    if (strcmp(a[i], b[i]) != 0) return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lkv_cluster_attrs_t a, b;
  if (lkv_cluster_attrs_decode(data, size, &a) != 0) {
    lkv_fuzz_require(a.name == NULL && a.peer_urls == NULL && a.client_urls == NULL);
    return 0;
  }
  uint8_t *out;
  size_t len;
  lkv_fuzz_require(lkv_cluster_attrs_encode(&a, &out, &len) == 0);
  lkv_fuzz_require(lkv_fuzz_same_bytes(out, len, data, size));
  lkv_fuzz_require(lkv_cluster_attrs_decode(out, len, &b) == 0);
  lkv_fuzz_require(
      strcmp(a.name, b.name) == 0 && same_list(a.peer_urls, a.n_peer_urls, b.peer_urls, b.n_peer_urls) &&
      same_list(a.client_urls, a.n_client_urls, b.client_urls, b.n_client_urls) &&
      a.has_ledger_key == b.has_ledger_key && memcmp(a.ledger_key, b.ledger_key, LKV_CLUSTER_KEY_LEN) == 0);
  lkv_cluster_attrs_free(&a);
  lkv_cluster_attrs_free(&b);
  free(out);
  return 0;
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  char *peers[] = {"http://10.0.0.1:2380", "http://[::1]:2380"};
  char *clients[] = {"http://10.0.0.1:2379"};
  lkv_cluster_attrs_t as[] = {
      {0},
      {.name = "", .peer_urls = peers, .n_peer_urls = 1},
      {.name = "m1", .peer_urls = peers, .n_peer_urls = 2, .client_urls = clients, .n_client_urls = 1},
      {.name = "m2",
       .peer_urls = peers,
       .n_peer_urls = 1,
       .client_urls = clients,
       .n_client_urls = 1,
       .has_ledger_key = 1,
       .ledger_key = {1, 2, 3, [31] = 0xff}},
  };
  for (size_t i = 0; i < sizeof(as) / sizeof(as[0]); i++) {
    uint8_t *out;
    size_t len;
    lkv_fuzz_require(lkv_cluster_attrs_encode(&as[i], &out, &len) == 0);
    add(arg, out, len);
    free(out);
  }
}
