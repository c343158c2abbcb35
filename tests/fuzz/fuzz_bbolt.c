/* libFuzzer target for the bbolt reader (src/snapshot/bbolt_read.c, which will read snapshot files handed to
 * `ledgerkv snapshot restore`): any input is accepted or refused with LKV_ECORRUPT and a reason, never read
 * out of bounds; what is accepted is a well-formed walk: buckets begin and end in pairs at consistent
 * depths, keys rise strictly inside each bucket, and no byte of the input is reported twice (every page is
 * reached once, so keys and values together are never larger than the input). */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/error.h"
#include "fuzz.h"
#include "snapshot/bbolt.h"

#define MAX_DEPTH 80

typedef struct walk_s {
  size_t depth; /* open buckets */
  const uint8_t *last[MAX_DEPTH];
  size_t last_len[MAX_DEPTH];
  int has_last[MAX_DEPTH];
  uint64_t bytes;
  unsigned touched;
} walk_t;

/* key follows the previous key or name at this depth */
static void rises(walk_t *w, const uint8_t *k, size_t klen) {
  size_t d = w->depth;
  lkv_fuzz_require(d < MAX_DEPTH && klen > 0);
  if (w->has_last[d]) {
    size_t m = klen < w->last_len[d] ? klen : w->last_len[d];
    int c = memcmp(k, w->last[d], m);
    lkv_fuzz_require(c > 0 || (c == 0 && klen > w->last_len[d]));
  }
  w->last[d] = k;
  w->last_len[d] = klen;
  w->has_last[d] = 1;
}

static int visit(void *arg, lkv_bbolt_event_t ev, size_t depth, const uint8_t *k, size_t klen,
                 const uint8_t *v, size_t vlen) {
  walk_t *w = arg;
  w->bytes += klen + vlen;
  if (vlen) w->touched += v[0] + v[vlen - 1]; /* out of the input: the sanitizer stops here */
  if (ev == LKV_BBOLT_BUCKET_BEGIN) {
    lkv_fuzz_require(depth == w->depth);
    rises(w, k, klen);
    w->depth++;
    lkv_fuzz_require(w->depth < MAX_DEPTH);
    w->has_last[w->depth] = 0;
  } else if (ev == LKV_BBOLT_BUCKET_END) {
    lkv_fuzz_require(w->depth > 0 && depth == w->depth - 1);
    w->depth--;
  } else {
    lkv_fuzz_require(ev == LKV_BBOLT_KV && depth + 1 == w->depth);
    rises(w, k, klen);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  walk_t w = {0};
  char err[256];
  lkv_bbolt_info_t info;
  int rc = lkv_bbolt_read_buf(data, size, &info, visit, &w, err, sizeof(err));
  if (rc) {
    lkv_fuzz_require(rc == LKV_ECORRUPT && err[0] != '\0');
    return 0;
  }
  lkv_fuzz_require(w.depth == 0);
  lkv_fuzz_require(w.bytes <= size);
  lkv_fuzz_require(info.high_water * info.page_size <= size && info.free_pages < info.high_water);
  return 0;
}

/* Adds the file the writer made on fd. */
static void add_file(lkv_fuzz_add_fn add, void *arg, int fd) {
  off_t len = lseek(fd, 0, SEEK_END);
  uint8_t *buf = malloc((size_t)len);
  lkv_fuzz_require(buf && pread(fd, buf, (size_t)len, 0) == len);
  add(arg, buf, (size_t)len);
  free(buf);
  close(fd);
}

static void put(lkv_bbolt_writer_t *w, const char *k, size_t vlen) {
  static uint8_t v[6000];
  lkv_fuzz_require(vlen <= sizeof(v) && lkv_bbolt_put(w, (const uint8_t *)k, strlen(k), v, vlen) == 0);
}

/* Small files: nested and empty buckets, an overflowing value, and enough keys for a branch page. */
void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  for (int shape = 0; shape < 3; shape++) {
    int fd = memfd_create("bbolt-seed", 0);
    lkv_bbolt_writer_t *w = NULL;
    lkv_fuzz_require(fd >= 0 && lkv_bbolt_writer_new(&w, fd) == 0);
    lkv_fuzz_require(lkv_bbolt_bucket_begin(w, (const uint8_t *)"a", 1) == 0);
    if (shape == 1) {
      put(w, "big", 5000);
      lkv_fuzz_require(lkv_bbolt_bucket_begin(w, (const uint8_t *)"inner", 5) == 0);
      put(w, "x", 3);
      lkv_fuzz_require(lkv_bbolt_bucket_end(w) == 0);
    }
    for (int i = 0; shape == 2 && i < 200; i++) {
      char k[16];
      snprintf(k, sizeof(k), "key%04d", i);
      put(w, k, 20);
    }
    lkv_fuzz_require(lkv_bbolt_bucket_end(w) == 0);
    lkv_fuzz_require(lkv_bbolt_bucket_begin(w, (const uint8_t *)"b", 1) == 0 && lkv_bbolt_bucket_end(w) == 0);
    lkv_fuzz_require(lkv_bbolt_writer_finish(w, 2, NULL) == 0);
    lkv_bbolt_writer_free(w);
    add_file(add, arg, fd);
  }
}
