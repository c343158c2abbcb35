/* A standalone driver for the fuzzers where libFuzzer is not available (gcc builds, CTest): the seeds,
 * the files named on the command line, then deterministic mutations of the seeds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define MAX_GROWTH 64 /* bytes a mutation may add to a seed */

typedef struct {
  uint8_t **data;
  size_t *len;
  size_t n, cap;
} seeds_t;

static void add_seed(void *arg, const uint8_t *data, size_t len) {
  seeds_t *s = arg;
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 16;
    s->data = realloc(s->data, s->cap * sizeof(*s->data));
    s->len = realloc(s->len, s->cap * sizeof(*s->len));
    lkv_fuzz_require(s->data && s->len);
  }
  s->data[s->n] = malloc(len ? len : 1);
  lkv_fuzz_require(s->data[s->n] != NULL);
  if (len) memcpy(s->data[s->n], data, len);
  s->len[s->n++] = len;
}

/* Runs one input from an exactly sized heap copy, so that a sanitizer sees any read past its end. */
static void run(const uint8_t *data, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  lkv_fuzz_require(copy != NULL);
  if (len) memcpy(copy, data, len);
  LLVMFuzzerTestOneInput(copy, len);
  free(copy);
}

static uint64_t next(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

/* Values that sit on the edges of length and count checks. */
static const uint32_t INTERESTING[] = {0,   1,   2,   7,   8,          31,         32,         33,
                                       127, 128, 255, 256, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};

/* One mutation of b (*len bytes, room for cap). */
static void mutate(uint8_t *b, size_t *len, size_t cap, uint64_t *x) {
  size_t n = *len;
  uint64_t r = next(x);
  size_t at = n ? (size_t)(next(x) % n) : 0;
  switch (r % 7) {
    case 0: /* flip a bit */
      if (n) b[at] ^= (uint8_t)(1u << (next(x) % 8));
      break;
    case 1: /* a random byte */
      if (n) b[at] = (uint8_t)next(x);
      break;
    case 2: /* an interesting little-endian u32 */
      if (n >= 4) {
        uint32_t v = INTERESTING[next(x) % (sizeof(INTERESTING) / sizeof(INTERESTING[0]))];
        at = (size_t)(next(x) % (n - 3));
        for (int i = 0; i < 4; i++) b[at + (size_t)i] = (uint8_t)(v >> (8 * i));
      }
      break;
    case 3: /* cut the tail */
      *len = n ? (size_t)(next(x) % n) : 0;
      break;
    case 4: /* insert random bytes */
    {
      size_t k = 1 + (size_t)(next(x) % 8);
      if (n + k > cap) break;
      memmove(b + at + k, b + at, n - at);
      for (size_t i = 0; i < k; i++) b[at + i] = (uint8_t)next(x);
      *len = n + k;
      break;
    }
    case 5: /* remove bytes */
    {
      size_t k = n ? 1 + (size_t)(next(x) % (n - at)) : 0;
      memmove(b + at, b + at + k, n - at - k);
      *len = n - k;
      break;
    }
    default: /* append a copy of a chunk */
    {
      size_t k = n - at < 16 ? n - at : 16;
      if (n + k > cap) break;
      memcpy(b + n, b + at, k);
      *len = n + k;
      break;
    }
  }
}

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return 1;
  }
  uint8_t *b = NULL;
  size_t len = 0, cap = 0, got;
  do {
    if (len == cap) {
      cap = cap ? 2 * cap : 4096;
      b = realloc(b, cap);
      lkv_fuzz_require(b != NULL);
    }
    got = fread(b + len, 1, cap - len, f);
    len += got;
  } while (got > 0);
  fclose(f);
  run(b, len);
  free(b);
  return 0;
}

static int write_seeds(const seeds_t *s, const char *dir) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "%s: %s\n", dir, strerror(errno));
    return 1;
  }
  for (size_t i = 0; i < s->n; i++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/seed-%03zu", dir, i);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s->data[i], 1, s->len[i], f) != s->len[i] || fclose(f) != 0) {
      fprintf(stderr, "%s: cannot write\n", path);
      return 1;
    }
  }
  printf("%zu seeds written to %s\n", s->n, dir);
  return 0;
}

int main(int argc, char **argv) {
  unsigned long long runs = 100000, seed = 1;
  const char *seeds_dir = NULL;
  seeds_t s = {0};
  lkv_fuzz_seeds(add_seed, &s);
  lkv_fuzz_require(s.n > 0);
  int status = 0, files = 0;
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && strcmp(argv[i], "--runs") == 0) {
      runs = strtoull(argv[++i], NULL, 10);
    } else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0) {
      seed = strtoull(argv[++i], NULL, 10);
    } else if (i + 1 < argc && strcmp(argv[i], "--write-seeds") == 0) {
      seeds_dir = argv[++i];
    } else if (argv[i][0] == '-') {
      fprintf(stderr,
              "usage: %s [--runs N] [--seed S] [--write-seeds DIR] [FILE...]\n"
              "Runs the seeds, each FILE (an input to replay, e.g. a crash libFuzzer saved), then N\n"
              "mutations of the seeds drawn from S; --write-seeds writes the seeds as a libFuzzer corpus.\n",
              argv[0]);
      return 2;
    } else {
      status |= run_file(argv[i]);
      files++;
    }
  }
  if (seeds_dir) return write_seeds(&s, seeds_dir);
  for (size_t i = 0; i < s.n; i++) run(s.data[i], s.len[i]);
  size_t cap = 0;
  for (size_t i = 0; i < s.n; i++) cap = s.len[i] > cap ? s.len[i] : cap;
  cap += MAX_GROWTH;
  uint8_t *b = malloc(cap);
  lkv_fuzz_require(b != NULL);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (unsigned long long r = 0; r < runs; r++) {
    size_t k = (size_t)(next(&x) % s.n), len = s.len[k];
    memcpy(b, s.data[k], len);
    for (int m = 1 + (int)(next(&x) % 4); m > 0; m--) mutate(b, &len, cap, &x);
    run(b, len);
  }
  free(b);
  printf("%zu seeds, %d files, %llu mutations: every property held\n", s.n, files, runs);
  for (size_t i = 0; i < s.n; i++) free(s.data[i]);
  free(s.data);
  free(s.len);
  return status;
}
