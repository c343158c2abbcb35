/* Unit tests for a causal mode receipt's disclosed write set: its check against the leaf, the origin's
 * signature, the key-value, and its member of the receipt JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "tools/causal_receipt.h"
#include "tools/receipt_json.h"

/* A receipt of a CAUSAL_EVENT record: an event origin 7 signed, putting k=v at revision 5 here. */
typedef struct {
  uint8_t pk[LKV_CAUSAL_PK_LEN], other[LKV_CAUSAL_PK_LEN];
  uint8_t event[256], entry[512];
  size_t entry_len;
  lkv_ledger_receipt_t r;
  const uint8_t *body;
  size_t body_len;
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  uint8_t seed[32] = {1}, sk[LKV_CAUSAL_SK_LEN], osk[LKV_CAUSAL_SK_LEN];
  assert_int_equal(lkv_causal_keypair_from_seed(seed, f->pk, sk), 0);
  seed[0] = 2;
  assert_int_equal(lkv_causal_keypair_from_seed(seed, f->other, osk), 0);
  lkv_causal_event_t ev = {.origin = 7, .seq = 1, .hlc = {.wall = 1700000000000ull}};
  lkv_causal_vv_init(&ev.deps);
  ev.payload = (const uint8_t *)"payload";
  ev.payload_len = 7;
  size_t ev_len;
  assert_int_equal(lkv_causal_event_encode_signed(&ev, sk, f->event, sizeof(f->event), &ev_len), 0);
  lkv_ledger_ws_t ws = {0};
  assert_int_equal(lkv_ledger_ws_put(&ws, "k", 1, "v", 1, 5, 1, 0), 0);
  lkv_ledger_entry_t e = {
      .kind = LKV_LEDGER_CAUSAL_EVENT, .revision = 5, .event = f->event, .event_len = ev_len};
  lkv_ledger_entry_set_ws(&e, &ws);
  lkv_ledger_claims_digest(NULL, 0, NULL, 0, e.claims);
  assert_int_equal(lkv_ledger_entry_encode(&e, f->entry, sizeof(f->entry), &f->entry_len), 0);
  lkv_ledger_entry_leaf(&e, &f->r.leaf);
  lkv_ledger_ws_free(&ws);
  f->body = f->entry + LKV_LEDGER_ENTRY_HEADER_LEN;
  f->body_len = f->entry_len - LKV_LEDGER_ENTRY_HEADER_LEN;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  free(*state);
  return 0;
}

static void test_open_and_check(void **state) {
  fixture_t *f = *state;
  lkv_causal_receipt_t c;
  assert_int_equal(lkv_causal_receipt_open(&f->r, f->body, f->body_len, &c), 0);
  assert_int_equal(c.event.origin, 7);
  assert_int_equal(c.event.seq, 1);
  assert_int_equal(lkv_causal_receipt_verify_origin(&c, f->pk), 0);
  assert_int_equal(lkv_causal_receipt_verify_origin(&c, f->other), LKV_EVERIFY);
  assert_int_equal(lkv_causal_receipt_puts(&c, "k", 1, "v", 1), 1);
  assert_int_equal(lkv_causal_receipt_puts(&c, "k", 1, "x", 1), 0);
  assert_int_equal(lkv_causal_receipt_puts(&c, "q", 1, "v", 1), 0);
  lkv_causal_receipt_free(&c);
}

/* Any changed byte of the body is not what the leaf commits to; another kind discloses nothing. */
static void test_refusals(void **state) {
  fixture_t *f = *state;
  lkv_causal_receipt_t c;
  uint8_t body[512];
  for (size_t i = 0; i < f->body_len; i++) {
    memcpy(body, f->body, f->body_len);
    body[i] ^= 0x10;
    assert_int_equal(lkv_causal_receipt_open(&f->r, body, f->body_len, &c), LKV_EVERIFY);
  }
  assert_int_equal(lkv_causal_receipt_open(&f->r, f->body, f->body_len - 1, &c), LKV_EVERIFY);
  lkv_ledger_receipt_t other = f->r;
  other.leaf.kind = LKV_LEDGER_REVISION;
  assert_int_equal(lkv_causal_receipt_open(&other, f->body, f->body_len, &c), LKV_EINVAL);
}

/* The JSON carries the body as "write_set" and gives it back; a receipt of another kind must not have one. */
static void test_json_write_set(void **state) {
  fixture_t *f = *state;
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  lkv_receipt_json_write(out, &f->r, f->body, f->body_len);
  fclose(out);
  lkv_ledger_receipt_t back;
  uint8_t *ws;
  size_t ws_len;
  const char *why = NULL;
  assert_int_equal(lkv_receipt_json_parse(text, len, &back, &ws, &ws_len, &why), 0);
  assert_int_equal(ws_len, f->body_len);
  assert_memory_equal(ws, f->body, ws_len);
  assert_memory_equal(back.leaf.ws_digest, f->r.leaf.ws_digest, LKV_LEDGER_DIGEST_LEN);
  free(ws);
  char *kind = strstr(text, "\"kind\": 7");
  assert_non_null(kind);
  kind[9] = '1';
  assert_int_equal(lkv_receipt_json_parse(text, len, &back, &ws, &ws_len, &why), LKV_EINVAL);
  assert_null(ws);
  kind[9] = '7';
  char *hex = strstr(text, "\"write_set\": \"") + 14;
  hex[0] = 'g';
  assert_int_equal(lkv_receipt_json_parse(text, len, &back, &ws, &ws_len, &why), LKV_EINVAL);
  free(text);
  /* without the member: still a receipt (every other kind's form) */
  out = open_memstream(&text, &len);
  lkv_receipt_json_write(out, &f->r, NULL, 0);
  fclose(out);
  assert_null(strstr(text, "write_set\""));
  assert_int_equal(lkv_receipt_json_parse(text, len, &back, &ws, &ws_len, &why), 0);
  assert_null(ws);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_open_and_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_write_set, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
