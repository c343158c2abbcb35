/* bbolt's file format (the database file of etcd's backend): a streaming writer and a checking reader. */
#ifndef LKV_SNAPSHOT_BBOLT_H
#define LKV_SNAPSHOT_BBOLT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The format (bbolt version 2; docs/snapshots.md has the byte layout): the file is a sequence of pages of
 * one size. Pages 0 and 1 are meta pages (magic, version, page size, the root bucket, the freelist page,
 * the high-water page id, a transaction id and an FNV-1a 64 checksum); a reader uses the valid one with
 * the higher transaction id. Every other page below the high-water mark is part of a bucket's B+tree
 * (branch and leaf pages), the freelist page, or listed free. A page whose content is larger than one page
 * continues over the next ones (overflow). The root bucket holds only buckets; a bucket holds key/value
 * pairs and nested buckets, keys unique and in byte order.
 *
 * The writer takes one bucket at a time, keys in ascending order, and writes each page to the file as soon
 * as it is full: it holds one partly filled page per tree level (plus the largest single value), never
 * the data set. Buckets always get pages of their own (bbolt also reads them inline in their parent's
 * leaf: the reader accepts both). The file it writes has an empty freelist: no page is free.
 */

#define LKV_BBOLT_PAGE_SIZE 4096u
#define LKV_BBOLT_MAX_DEPTH 16 /* bucket nesting the writer accepts, the root bucket included */

typedef struct lkv_bbolt_writer_s lkv_bbolt_writer_t;

/* Starts a file on fd (opened for writing, empty or to be overwritten from offset 0; the caller keeps
 * owning it and closes it). Pages are written with pwrite as they fill. Returns 0, LKV_ENOMEM. */
int lkv_bbolt_writer_new(lkv_bbolt_writer_t **out, int fd);

/* Opens a bucket named name[0..len) (1..32768 bytes) inside the current one (the root bucket at first).
 * Names and keys inside one bucket share one order: each must be greater than the previous. Returns 0,
 * LKV_EINVAL (empty or too long name, out of order, nested deeper than LKV_BBOLT_MAX_DEPTH), LKV_ENOMEM,
 * or the writer's earlier error. */
int lkv_bbolt_bucket_begin(lkv_bbolt_writer_t *w, const uint8_t *name, size_t len);

/* Adds key = value to the current bucket (not the root bucket, which holds buckets only). key: 1..32768
 * bytes, greater than the previous key or bucket name of this bucket; value: any length (up to 4 GiB),
 * may be empty. Both are copied. Returns 0, LKV_EINVAL, LKV_ENOMEM, an I/O error (negative errno) or the
 * writer's earlier error. */
int lkv_bbolt_put(lkv_bbolt_writer_t *w, const uint8_t *key, size_t key_len, const uint8_t *value,
                  size_t value_len);

/* Closes the current bucket: its remaining pages are written and it becomes an entry of its parent.
 * Returns 0, LKV_EINVAL (no bucket open), an I/O error or the writer's earlier error. */
int lkv_bbolt_bucket_end(lkv_bbolt_writer_t *w);

/* Finishes the file: the root bucket's pages, the freelist page and both meta pages (txid in page 0,
 * txid - 1 in page 1, as bbolt's own copies do; txid >= 1). Every bucket must be closed. The file is not
 * flushed (the caller fsyncs if it needs to). *size (may be NULL) gets the file's length, a multiple of
 * LKV_BBOLT_PAGE_SIZE. Returns 0, LKV_EINVAL (a bucket open, txid 0), an I/O error or the writer's earlier
 * error. */
int lkv_bbolt_writer_finish(lkv_bbolt_writer_t *w, uint64_t txid, uint64_t *size);

/* Frees the writer (finished or not; an unfinished file is not a valid one). NULL is ignored. */
void lkv_bbolt_writer_free(lkv_bbolt_writer_t *w);

/* ---- reader ---- */

typedef struct lkv_bbolt_info_s {
  uint32_t page_size;
  uint64_t txid;       /* of the meta page in use */
  uint64_t high_water; /* pages in use: the file's data ends at high_water * page_size */
  uint64_t free_pages; /* listed in the freelist, or (no freelist stored: etcd's way) not reached */
  uint64_t file_size;
} lkv_bbolt_info_t;

typedef enum {
  LKV_BBOLT_BUCKET_BEGIN, /* key = the bucket's name; its content follows, then its LKV_BBOLT_BUCKET_END */
  LKV_BBOLT_KV,           /* key = value in the current bucket */
  LKV_BBOLT_BUCKET_END,   /* key = the bucket's name */
} lkv_bbolt_event_t;

/* Called for every bucket and pair in key order, depth first; depth is 0 for the root bucket's buckets.
 * Pointers are valid during the call only. Return 0 to go on, a negative code to stop (returned). */
typedef int (*lkv_bbolt_visit_fn)(void *arg, lkv_bbolt_event_t ev, size_t depth, const uint8_t *key,
                                  size_t key_len, const uint8_t *value, size_t value_len);

/* Reads the bbolt file on fd (read only; the caller keeps owning fd): picks the valid meta page, checks
 * that the file holds every page it names, then walks every bucket calling fn (may be NULL: check only),
 * checking each page on the way (type, bounds, key order, no page reached twice), and finally that every
 * page below the high-water mark is reached or free (bbolt's tx.Check). *info (may be NULL) is filled
 * once the meta page is chosen. On failure err (errlen bytes, may be NULL) says what is wrong, e.g. "not
 * a bbolt file (bad magic)", "file truncated: ...", "meta page checksum mismatch", "page 7: ...".
 * Returns 0, LKV_ECORRUPT (damaged, truncated or foreign file), LKV_ENOMEM, a negative errno (the file
 * cannot be read) or a code from fn. */
int lkv_bbolt_read(int fd, lkv_bbolt_info_t *info, lkv_bbolt_visit_fn fn, void *arg, char *err,
                   size_t errlen);

/* lkv_bbolt_read of a file's bytes buf[0..len) (a pure function of them; buf may be NULL when len is 0). */
int lkv_bbolt_read_buf(const uint8_t *buf, size_t len, lkv_bbolt_info_t *info, lkv_bbolt_visit_fn fn,
                       void *arg, char *err, size_t errlen);

#endif
