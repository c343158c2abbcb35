/* `snapshot status` of a backend file: etcdctl 3.4's hash, revision, key count and size. */
#include <string.h>

#include "common/crc32c.h"
#include "snapshot/bbolt.h"
#include "snapshot/snapshot.h"

typedef struct acc_s {
  lkv_snapshot_status_t *st;
  int in_key; /* inside the top-level bucket "key" */
} acc_t;

static int64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return (int64_t)v;
}

/* etcdctl hashes each top-level bucket's name and, through bbolt's ForEach, its direct entries: a nested
 * bucket is an entry with its name as key and no value. */
static int visit(void *arg, lkv_bbolt_event_t ev, size_t depth, const uint8_t *k, size_t klen,
                 const uint8_t *v, size_t vlen) {
  acc_t *a = arg;
  lkv_snapshot_status_t *st = a->st;
  if (ev == LKV_BBOLT_BUCKET_BEGIN && depth == 0) {
    st->hash = lkv_crc32c(st->hash, k, klen);
    a->in_key = klen == 3 && memcmp(k, "key", 3) == 0;
  } else if ((ev == LKV_BBOLT_BUCKET_BEGIN && depth == 1) || (ev == LKV_BBOLT_KV && depth == 0)) {
    st->hash = lkv_crc32c(st->hash, k, klen);
    st->hash = lkv_crc32c(st->hash, v, vlen);
    st->total_key++;
    if (a->in_key && klen >= 8) st->revision = be64(k);
  }
  return 0;
}

int lkv_snapshot_status(int fd, lkv_snapshot_status_t *out, char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  acc_t a = {.st = out};
  lkv_bbolt_info_t info;
  int rc = lkv_bbolt_read(fd, &info, visit, &a, err, errlen);
  if (rc) return rc;
  out->total_size = info.high_water * info.page_size;
  return 0;
}
