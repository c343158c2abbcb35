/* The bbolt reader: meta page choice, a checked walk of every bucket's pages, and bbolt's page accounting. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/error.h"
#include "snapshot/bbolt.h"
#include "snapshot/bbolt_format.h"

#define MAX_TREE_DEPTH 64   /* branch levels; bbolt's trees of 4 KiB pages are a handful deep */
#define MAX_BUCKET_DEPTH 64 /* nested buckets (etcd nests none) */

typedef struct rd_s {
  const uint8_t *map;
  uint64_t size;
  uint32_t ps;
  uint64_t high;
  uint8_t *seen; /* one bit per page below high: reached (or the meta and freelist pages) */
  uint8_t *free; /* one bit per page: listed in the freelist */
  lkv_bbolt_visit_fn fn;
  void *arg;
  char *err;
  size_t errlen;
} rd_t;

/* Where a bucket's keys must keep rising, across all of its pages. */
typedef struct order_s {
  const uint8_t *last;
  size_t last_len;
  int has_last;
} order_t;

static int bad(rd_t *r, const char *fmt, ...) {
  if (r->err && r->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
  }
  return LKV_ECORRUPT;
}

static int bit(const uint8_t *set, uint64_t i) {
  return (set[i / 8] >> (i % 8)) & 1;
}

static void bit_set(uint8_t *set, uint64_t i) {
  set[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* Validates the meta page at off; returns 0 or a reason. */
static const char *meta_check(const uint8_t *map, uint64_t size, uint64_t off) {
  if (off + LKV__BB_HDR + LKV__BB_META_LEN > size) return "file too short for a meta page";
  const uint8_t *m = map + off + LKV__BB_HDR;
  if (lkv_le32_get(m) != LKV__BB_MAGIC) return "not a bbolt file (bad magic)";
  if (lkv_le32_get(m + 4) != LKV__BB_VERSION) return "unsupported bbolt version";
  if (lkv_le64_get(m + LKV__BB_META_SUMMED) != lkv__fnv1a64(m, LKV__BB_META_SUMMED))
    return "meta page checksum mismatch";
  uint32_t ps = lkv_le32_get(m + 8);
  if (ps < 1024 || ps > 65536 || (ps & (ps - 1))) return "bad page size in meta page";
  return NULL;
}

/* Marks pages [id, id + count) reached, refusing pages beyond the high-water mark and second visits. */
static int reach(rd_t *r, uint64_t id, uint64_t count, const char *what) {
  if (id >= r->high || count > r->high - id)
    return bad(r, "page %" PRIu64 ": %s beyond the high-water mark %" PRIu64, id, what, r->high);
  for (uint64_t i = id; i < id + count; i++) {
    if (bit(r->seen, i)) return bad(r, "page %" PRIu64 ": referenced twice", i);
    if (bit(r->free, i)) return bad(r, "page %" PRIu64 ": reachable but freed", i);
    bit_set(r->seen, i);
  }
  return 0;
}

static int walk_page(rd_t *r, const uint8_t *p, size_t span, uint64_t id, size_t depth, size_t level,
                     order_t *o);

static int check_key(rd_t *r, order_t *o, uint64_t id, const uint8_t *k, size_t klen) {
  if (klen == 0) return bad(r, "page %" PRIu64 ": empty key", id);
  if (o->has_last) {
    size_t m = klen < o->last_len ? klen : o->last_len;
    int c = memcmp(k, o->last, m);
    if (c < 0 || (c == 0 && klen <= o->last_len)) return bad(r, "page %" PRIu64 ": keys out of order", id);
  }
  o->last = k;
  o->last_len = klen;
  o->has_last = 1;
  return 0;
}

/* A nested bucket: its own page tree, or an inline leaf page inside its value. */
static int walk_bucket(rd_t *r, uint64_t id, const uint8_t *name, size_t nlen, const uint8_t *v, size_t vlen,
                       size_t depth) {
  if (depth >= MAX_BUCKET_DEPTH) return bad(r, "page %" PRIu64 ": buckets nested too deep", id);
  if (vlen < LKV__BB_BUCKET_HDR) return bad(r, "page %" PRIu64 ": short bucket header", id);
  int rc = r->fn ? r->fn(r->arg, LKV_BBOLT_BUCKET_BEGIN, depth, name, nlen, NULL, 0) : 0;
  if (rc) return rc;
  uint64_t root = lkv_le64_get(v);
  order_t o = {0};
  if (root == 0) {
    if (vlen < LKV__BB_BUCKET_HDR + LKV__BB_HDR) return bad(r, "page %" PRIu64 ": short inline bucket", id);
    const uint8_t *ip = v + LKV__BB_BUCKET_HDR;
    if (!(lkv__le16_get(ip + 8) & LKV__BB_LEAF))
      return bad(r, "page %" PRIu64 ": inline bucket not a leaf", id);
    rc = walk_page(r, ip, vlen - LKV__BB_BUCKET_HDR, id, depth + 1, 0, &o);
  } else {
    rc = walk_page(r, NULL, 0, root, depth + 1, 0, &o);
  }
  if (rc) return rc;
  return r->fn ? r->fn(r->arg, LKV_BBOLT_BUCKET_END, depth, name, nlen, NULL, 0) : 0;
}

static int walk_elems(rd_t *r, const uint8_t *p, size_t span, uint64_t id, size_t depth, size_t level,
                      order_t *o) {
  uint16_t flags = lkv__le16_get(p + 8), count = lkv__le16_get(p + 10);
  int leaf = (flags & LKV__BB_LEAF) != 0;
  if ((uint64_t)LKV__BB_HDR + (uint64_t)count * LKV__BB_ELEM > span)
    return bad(r, "page %" PRIu64 ": %u elements do not fit", id, count);
  for (uint16_t i = 0; i < count; i++) {
    const uint8_t *e = p + LKV__BB_HDR + (size_t)i * LKV__BB_ELEM;
    uint64_t off = (uint64_t)(e - p), pos, ksize, vsize = 0;
    if (leaf) {
      pos = lkv_le32_get(e + 4);
      ksize = lkv_le32_get(e + 8);
      vsize = lkv_le32_get(e + 12);
    } else {
      pos = lkv_le32_get(e);
      ksize = lkv_le32_get(e + 4);
    }
    if (off + pos + ksize + vsize > span) return bad(r, "page %" PRIu64 ": element %u out of bounds", id, i);
    const uint8_t *k = e + pos, *v = k + ksize;
    int rc;
    if (!leaf) {
      rc = walk_page(r, NULL, 0, lkv_le64_get(e + 8), depth, level + 1, o);
    } else {
      rc = check_key(r, o, id, k, ksize);
      if (rc) return rc;
      if (lkv_le32_get(e) & LKV__BB_BUCKET_FLAG)
        rc = walk_bucket(r, id, k, ksize, v, vsize, depth);
      else if (depth == 0)
        rc = bad(r, "page %" PRIu64 ": a value in the root bucket", id);
      else
        rc = r->fn ? r->fn(r->arg, LKV_BBOLT_KV, depth - 1, k, ksize, v, vsize) : 0;
    }
    if (rc) return rc;
  }
  return 0;
}

/* Walks page id (p NULL: from the file, reached once) or the inline page p[0..span). */
static int walk_page(rd_t *r, const uint8_t *p, size_t span, uint64_t id, size_t depth, size_t level,
                     order_t *o) {
  if (level > MAX_TREE_DEPTH) return bad(r, "page %" PRIu64 ": tree too deep", id);
  if (!p) {
    if (id < 2 || id >= r->high) return bad(r, "page %" PRIu64 ": out of bounds", id);
    p = r->map + id * r->ps;
    if (lkv_le64_get(p) != id)
      return bad(r, "page %" PRIu64 ": header names page %" PRIu64, id, lkv_le64_get(p));
    uint64_t pages = (uint64_t)lkv_le32_get(p + 12) + 1;
    int rc = reach(r, id, pages, "overflow");
    if (rc) return rc;
    span = (size_t)(pages * r->ps);
  }
  uint16_t flags = lkv__le16_get(p + 8);
  if (!(flags & (LKV__BB_BRANCH | LKV__BB_LEAF)))
    return bad(r, "page %" PRIu64 ": not a branch or leaf page", id);
  return walk_elems(r, p, span, id, depth, level, o);
}

/* Lists the freelist's pages in r->free. */
static int read_freelist(rd_t *r, uint64_t id, uint64_t *n_free) {
  *n_free = 0;
  if (id == LKV__BB_NO_FREELIST) return 0;
  if (id < 2 || id >= r->high) return bad(r, "freelist page %" PRIu64 " out of bounds", id);
  const uint8_t *p = r->map + id * r->ps;
  if (!(lkv__le16_get(p + 8) & LKV__BB_FREELIST)) return bad(r, "page %" PRIu64 ": not a freelist page", id);
  uint64_t pages = (uint64_t)lkv_le32_get(p + 12) + 1;
  int rc = reach(r, id, pages, "freelist");
  if (rc) return rc;
  uint64_t count = lkv__le16_get(p + 10), first = LKV__BB_HDR;
  if (count == 0xFFFF) {
    count = lkv_le64_get(p + LKV__BB_HDR);
    first += 8;
  }
  if (count > (pages * r->ps - first) / 8)
    return bad(r, "page %" PRIu64 ": freelist overflows its pages", id);
  for (uint64_t i = 0; i < count; i++) {
    uint64_t f = lkv_le64_get(p + first + 8 * i);
    if (f < 2 || f >= r->high) return bad(r, "freelist lists page %" PRIu64 " out of bounds", f);
    if (bit(r->free, f)) return bad(r, "page %" PRIu64 ": freed twice", f);
    if (bit(r->seen, f)) return bad(r, "page %" PRIu64 ": the freelist lists itself", f);
    bit_set(r->free, f);
  }
  *n_free = count;
  return 0;
}

static int read_map(rd_t *r, lkv_bbolt_info_t *info) {
  const char *why0 = meta_check(r->map, r->size, 0);
  uint32_t ps = why0 ? LKV_BBOLT_PAGE_SIZE : lkv_le32_get(r->map + LKV__BB_HDR + 8);
  const char *why1 = meta_check(r->map, r->size, ps);
  if (why0 && why1) return bad(r, "%s", why0);
  const uint8_t *m0 = r->map + LKV__BB_HDR, *m1 = r->map + ps + LKV__BB_HDR;
  const uint8_t *m = why0 ? m1 : why1 ? m0 : lkv_le64_get(m1 + 48) > lkv_le64_get(m0 + 48) ? m1 : m0;
  r->ps = lkv_le32_get(m + 8);
  r->high = lkv_le64_get(m + 40);
  uint64_t root = lkv_le64_get(m + 16), freelist = lkv_le64_get(m + 32);
  if (r->high < 3 || r->high > r->size / r->ps)
    return bad(r, "file truncated: %" PRIu64 " bytes, the meta page names %" PRIu64 " pages of %u", r->size,
               r->high, r->ps);
  r->seen = calloc(r->high / 8 + 1, 1);
  r->free = calloc(r->high / 8 + 1, 1);
  if (!r->seen || !r->free) return LKV_ENOMEM;
  bit_set(r->seen, 0);
  bit_set(r->seen, 1);
  uint64_t n_free;
  int rc = read_freelist(r, freelist, &n_free);
  if (rc) return rc;
  if (info)
    *info = (lkv_bbolt_info_t){.page_size = r->ps,
                               .txid = lkv_le64_get(m + 48),
                               .high_water = r->high,
                               .free_pages = n_free,
                               .file_size = r->size};
  order_t o = {0};
  rc = walk_page(r, NULL, 0, root, 0, 0, &o);
  if (rc) return rc;
  /* Without a stored freelist (etcd runs bbolt with NoFreelistSync) every page not reached is free, as
   * bbolt finds when it rebuilds the list by the same walk. */
  for (uint64_t i = 2; i < r->high; i++) {
    if (bit(r->seen, i) || bit(r->free, i)) continue;
    if (freelist != LKV__BB_NO_FREELIST) return bad(r, "page %" PRIu64 ": unreachable and not free", i);
    if (info) info->free_pages++;
  }
  return 0;
}

int lkv_bbolt_read_buf(const uint8_t *buf, size_t len, lkv_bbolt_info_t *info, lkv_bbolt_visit_fn fn,
                       void *arg, char *err, size_t errlen) {
  rd_t r = {.map = buf, .size = len, .fn = fn, .arg = arg, .err = err, .errlen = errlen};
  if (err && errlen) err[0] = '\0';
  if (r.size < 2 * 1024) return bad(&r, "file too short for a bbolt file (%" PRIu64 " bytes)", r.size);
  int rc = read_map(&r, info);
  free(r.seen);
  free(r.free);
  return rc;
}

int lkv_bbolt_read(int fd, lkv_bbolt_info_t *info, lkv_bbolt_visit_fn fn, void *arg, char *err,
                   size_t errlen) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  size_t size = (size_t)st.st_size;
  if (size == 0) return lkv_bbolt_read_buf(NULL, 0, info, fn, arg, err, errlen);
  void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return -errno;
  int rc = lkv_bbolt_read_buf(map, size, info, fn, arg, err, errlen);
  munmap(map, size);
  return rc;
}
