/* What the fuzzers in tests/fuzz share: the entry point, the property check and their seed inputs. */
#ifndef LKV_TESTS_FUZZ_H
#define LKV_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each fuzzer defines LLVMFuzzerTestOneInput and lkv_fuzz_seeds. Built with clang and -DLKV_FUZZ=ON, it is
 * a libFuzzer program; in every other build it is linked with fuzz_driver.c, which runs the seeds and a
 * fixed number of deterministic mutations of them (a CTest entry: docs/testing.md).
 */

/* Called with every input; returns 0. A broken property aborts (a crash is what both drivers report). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Receives one seed (copied by the callee). */
typedef void (*lkv_fuzz_add_fn)(void *arg, const uint8_t *data, size_t len);

/* Hands valid encodings, made with the code's own encoders, to add: where mutations start from. */
void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg);

static inline void lkv_fuzz_require(int ok) {
  if (!ok) abort();
}

static inline int lkv_fuzz_same_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

#endif
