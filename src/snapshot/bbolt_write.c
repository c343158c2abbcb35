/* The streaming bbolt writer: B+trees built bottom-up from sorted keys, each page written once it is full. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "snapshot/bbolt.h"
#include "snapshot/bbolt_format.h"

/* One element of the page being filled: a leaf pair (flags, value size) or a branch entry (child). */
typedef struct elem_s {
  uint32_t flags;
  uint32_t ksize;
  uint32_t vsize;
  uint64_t child;
} elem_t;

/* The page being filled at one tree level (0 = leaves): its elements, and their keys (and values)
 * back to back in data. */
typedef struct level_s {
  elem_t *el;
  size_t n, el_cap;
  uint8_t *data;
  size_t data_len, data_cap;
  uint64_t written; /* pages already written at this level */
} level_t;

/* A bucket being written: its tree's levels, and the last key or bucket name it was given. */
typedef struct bucket_s {
  level_t *lv;
  size_t n_lv;   /* levels in use by this bucket */
  size_t n_init; /* levels allocated (kept for the next bucket written at this depth) */
  size_t lv_cap;
  uint8_t *last;
  size_t last_len, last_cap;
  int has_last;
} bucket_t;

struct lkv_bbolt_writer_s {
  int fd;
  int err; /* sticky: the first failure */
  uint64_t next_pgid;
  bucket_t stack[LKV_BBOLT_MAX_DEPTH]; /* [0] is the root bucket */
  size_t depth;                        /* open buckets, the root's included */
  uint8_t *page;                       /* the page image being written */
  size_t page_cap;
};

static int grow(void **p, size_t *cap, size_t need, size_t unit) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * unit);
  if (!q) return LKV_ENOMEM;
  *p = q;
  *cap = c;
  return 0;
}

static int fail(lkv_bbolt_writer_t *w, int rc) {
  if (rc && !w->err) w->err = rc;
  return rc;
}

static int write_all(int fd, const uint8_t *buf, size_t len, uint64_t off) {
  while (len > 0) {
    ssize_t n = pwrite(fd, buf, len, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : LKV_EIO;
    buf += n;
    len -= (size_t)n;
    off += (uint64_t)n;
  }
  return 0;
}

static size_t level_bytes(const level_t *l) {
  return LKV__BB_HDR + l->n * LKV__BB_ELEM + l->data_len;
}

static int push(lkv_bbolt_writer_t *w, bucket_t *b, size_t li, const elem_t *e, const uint8_t *k, size_t klen,
                const uint8_t *v, size_t vlen);

/* Writes level li's page (and the pages it overflows into) and hands its first key up to level li + 1. */
static int flush(lkv_bbolt_writer_t *w, bucket_t *b, size_t li) {
  level_t *l = &b->lv[li];
  size_t bytes = level_bytes(l);
  size_t pages = (bytes + LKV_BBOLT_PAGE_SIZE - 1) / LKV_BBOLT_PAGE_SIZE;
  int rc = grow((void **)&w->page, &w->page_cap, pages * LKV_BBOLT_PAGE_SIZE, 1);
  if (rc) return rc;
  uint8_t *p = w->page;
  memset(p, 0, pages * LKV_BBOLT_PAGE_SIZE);
  uint64_t id = w->next_pgid;
  lkv_le64_put(p, id);
  lkv__le16_put(p + 8, li == 0 ? LKV__BB_LEAF : LKV__BB_BRANCH);
  lkv__le16_put(p + 10, (uint16_t)l->n);
  lkv_le32_put(p + 12, (uint32_t)(pages - 1));
  size_t data_off = LKV__BB_HDR + l->n * LKV__BB_ELEM;
  if (l->data_len) memcpy(p + data_off, l->data, l->data_len);
  for (size_t i = 0; i < l->n; i++) {
    uint8_t *e = p + LKV__BB_HDR + i * LKV__BB_ELEM;
    uint32_t pos = (uint32_t)(data_off - (size_t)(e - p));
    if (li == 0) {
      lkv_le32_put(e, l->el[i].flags);
      lkv_le32_put(e + 4, pos);
      lkv_le32_put(e + 8, l->el[i].ksize);
      lkv_le32_put(e + 12, l->el[i].vsize);
    } else {
      lkv_le32_put(e, pos);
      lkv_le32_put(e + 4, l->el[i].ksize);
      lkv_le64_put(e + 8, l->el[i].child);
    }
    data_off += l->el[i].ksize + l->el[i].vsize;
  }
  rc = write_all(w->fd, p, pages * LKV_BBOLT_PAGE_SIZE, id * LKV_BBOLT_PAGE_SIZE);
  if (rc) return rc;
  w->next_pgid += pages;
  l->written++;
  elem_t up = {.ksize = l->n ? l->el[0].ksize : 0, .child = id};
  rc = push(w, b, li + 1, &up, l->data, up.ksize, NULL, 0); /* b->lv may move: l is not used after this */
  b->lv[li].n = 0;
  b->lv[li].data_len = 0;
  return rc;
}

/* Makes level li (at most one above the highest in use) part of bucket b. */
static int use_level(bucket_t *b, size_t li) {
  if (li < b->n_lv) return 0;
  if (li == b->n_init) {
    int rc = grow((void **)&b->lv, &b->lv_cap, li + 1, sizeof(level_t));
    if (rc) return rc;
    memset(&b->lv[li], 0, sizeof(level_t));
    b->n_init++;
  }
  b->n_lv = li + 1;
  return 0;
}

/* Adds an element (key k, then v) to level li, writing that level's page first when the element does not
 * fit in it. */
static int push(lkv_bbolt_writer_t *w, bucket_t *b, size_t li, const elem_t *e, const uint8_t *k, size_t klen,
                const uint8_t *v, size_t vlen) {
  int rc = use_level(b, li);
  if (rc) return rc;
  level_t *l = &b->lv[li];
  if (l->n > 0 && level_bytes(l) + LKV__BB_ELEM + klen + vlen > LKV_BBOLT_PAGE_SIZE) {
    rc = flush(w, b, li);
    if (rc) return rc;
    l = &b->lv[li];
  }
  rc = grow((void **)&l->el, &l->el_cap, l->n + 1, sizeof(elem_t));
  if (!rc) rc = grow((void **)&l->data, &l->data_cap, l->data_len + klen + vlen, 1);
  if (rc) return rc;
  l->el[l->n++] = *e;
  if (klen) memcpy(l->data + l->data_len, k, klen);
  if (vlen) memcpy(l->data + l->data_len + klen, v, vlen);
  l->data_len += klen + vlen;
  return 0;
}

/* Writes what is left of bucket b and returns its root page in *root. */
static int close_tree(lkv_bbolt_writer_t *w, bucket_t *b, uint64_t *root) {
  if (b->n_lv == 0) { /* empty: one empty leaf (its entry in level 1 is dropped with the bucket) */
    *root = w->next_pgid;
    int rc = use_level(b, 0);
    return rc ? rc : flush(w, b, 0);
  }
  for (size_t li = 0;; li++) {
    if (b->lv[li].n > 0) {
      int rc = flush(w, b, li);
      if (rc) return rc;
    }
    level_t *up = &b->lv[li + 1];
    if (up->written == 0 && up->n == 1) {
      *root = up->el[0].child;
      up->n = 0;
      up->data_len = 0;
      return 0;
    }
  }
}

static void bucket_reset(bucket_t *b) {
  for (size_t i = 0; i < b->n_init; i++) {
    b->lv[i].n = 0;
    b->lv[i].data_len = 0;
    b->lv[i].written = 0;
  }
  b->n_lv = 0;
  b->has_last = 0;
}

/* Checks that key follows the bucket's previous key or name, and remembers it. */
static int order(bucket_t *b, const uint8_t *key, size_t len) {
  if (len == 0 || len > LKV__BB_MAX_KEY) return LKV_EINVAL;
  if (b->has_last) {
    size_t m = len < b->last_len ? len : b->last_len;
    int c = memcmp(key, b->last, m);
    if (c < 0 || (c == 0 && len <= b->last_len)) return LKV_EINVAL;
  }
  int rc = grow((void **)&b->last, &b->last_cap, len, 1);
  if (rc) return rc;
  memcpy(b->last, key, len);
  b->last_len = len;
  b->has_last = 1;
  return 0;
}

int lkv_bbolt_writer_new(lkv_bbolt_writer_t **out, int fd) {
  lkv_bbolt_writer_t *w = calloc(1, sizeof(*w));
  if (!w) return LKV_ENOMEM;
  w->fd = fd;
  w->next_pgid = 2; /* after the two meta pages */
  w->depth = 1;
  *out = w;
  return 0;
}

int lkv_bbolt_bucket_begin(lkv_bbolt_writer_t *w, const uint8_t *name, size_t len) {
  if (w->err) return w->err;
  if (w->depth == LKV_BBOLT_MAX_DEPTH) return LKV_EINVAL;
  int rc = order(&w->stack[w->depth - 1], name, len);
  if (rc) return rc == LKV_EINVAL ? rc : fail(w, rc);
  bucket_reset(&w->stack[w->depth++]);
  return 0;
}

int lkv_bbolt_put(lkv_bbolt_writer_t *w, const uint8_t *key, size_t key_len, const uint8_t *value,
                  size_t value_len) {
  if (w->err) return w->err;
  if (w->depth < 2 || value_len > UINT32_MAX) return LKV_EINVAL;
  bucket_t *b = &w->stack[w->depth - 1];
  int rc = order(b, key, key_len);
  if (rc) return rc == LKV_EINVAL ? rc : fail(w, rc);
  elem_t e = {.ksize = (uint32_t)key_len, .vsize = (uint32_t)value_len};
  return fail(w, push(w, b, 0, &e, key, key_len, value, value_len));
}

int lkv_bbolt_bucket_end(lkv_bbolt_writer_t *w) {
  if (w->err) return w->err;
  if (w->depth < 2) return LKV_EINVAL;
  bucket_t *b = &w->stack[w->depth - 1];
  uint64_t root;
  int rc = close_tree(w, b, &root);
  if (rc) return fail(w, rc);
  w->depth--;
  bucket_t *parent = &w->stack[w->depth - 1];
  uint8_t hdr[LKV__BB_BUCKET_HDR] = {0}; /* root page, sequence 0 */
  lkv_le64_put(hdr, root);
  elem_t e = {.flags = LKV__BB_BUCKET_FLAG, .ksize = (uint32_t)parent->last_len, .vsize = sizeof(hdr)};
  /* parent->last is the bucket's name, recorded by bucket_begin */
  return fail(w, push(w, parent, 0, &e, parent->last, parent->last_len, hdr, sizeof(hdr)));
}

static void meta_page(uint8_t *p, uint64_t id, uint64_t root, uint64_t freelist, uint64_t high,
                      uint64_t txid) {
  memset(p, 0, LKV_BBOLT_PAGE_SIZE);
  lkv_le64_put(p, id);
  lkv__le16_put(p + 8, LKV__BB_META);
  uint8_t *m = p + LKV__BB_HDR;
  lkv_le32_put(m, LKV__BB_MAGIC);
  lkv_le32_put(m + 4, LKV__BB_VERSION);
  lkv_le32_put(m + 8, LKV_BBOLT_PAGE_SIZE);
  lkv_le64_put(m + 16, root);
  lkv_le64_put(m + 32, freelist);
  lkv_le64_put(m + 40, high);
  lkv_le64_put(m + 48, txid);
  lkv_le64_put(m + LKV__BB_META_SUMMED, lkv__fnv1a64(m, LKV__BB_META_SUMMED));
}

int lkv_bbolt_writer_finish(lkv_bbolt_writer_t *w, uint64_t txid, uint64_t *size) {
  if (w->err) return w->err;
  if (w->depth != 1 || txid == 0) return LKV_EINVAL;
  uint64_t root;
  int rc = close_tree(w, &w->stack[0], &root);
  if (rc) return fail(w, rc);
  uint8_t page[LKV_BBOLT_PAGE_SIZE];
  uint64_t freelist = w->next_pgid++;
  memset(page, 0, sizeof(page));
  lkv_le64_put(page, freelist);
  lkv__le16_put(page + 8, LKV__BB_FREELIST);
  rc = write_all(w->fd, page, sizeof(page), freelist * LKV_BBOLT_PAGE_SIZE);
  for (uint64_t i = 0; i < 2 && !rc; i++) {
    meta_page(page, i, root, freelist, w->next_pgid, txid - i);
    rc = write_all(w->fd, page, sizeof(page), i * LKV_BBOLT_PAGE_SIZE);
  }
  if (rc) return fail(w, rc);
  if (size) *size = w->next_pgid * LKV_BBOLT_PAGE_SIZE;
  return 0;
}

void lkv_bbolt_writer_free(lkv_bbolt_writer_t *w) {
  if (!w) return;
  for (size_t d = 0; d < LKV_BBOLT_MAX_DEPTH; d++) {
    bucket_t *b = &w->stack[d];
    for (size_t i = 0; i < b->n_init; i++) {
      free(b->lv[i].el);
      free(b->lv[i].data);
    }
    free(b->lv);
    free(b->last);
  }
  free(w->page);
  free(w);
}
