/* Helpers shared by the ledger's files: big-endian integers, whole-buffer I/O, file headers. */
#ifndef LKV_LEDGER_INTERNAL_H
#define LKV_LEDGER_INTERNAL_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* Every ledger file starts with magic(8) ‖ u32 BE version ‖ u32 0; the log and its index add 8 bytes
 * (the log's random salt, the index's synced entry count). */
#define LKV__FILE_HEADER_LEN 16
#define LKV__HEADER_EXTRA_LEN 8
#define LKV__SALT_LEN LKV__HEADER_EXTRA_LEN

static inline void lkv__put_be32(uint8_t *p, uint32_t v) {
  v = htobe32(v);
  memcpy(p, &v, 4);
}

static inline void lkv__put_be64(uint8_t *p, uint64_t v) {
  v = htobe64(v);
  memcpy(p, &v, 8);
}

static inline uint32_t lkv__get_be32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return be32toh(v);
}

static inline uint64_t lkv__get_be64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return be64toh(v);
}

/* Reads exactly len bytes at off. Returns 0, LKV_EIO when the file ends first, or a negated errno. */
int lkv__pread_full(int fd, void *buf, size_t len, uint64_t off);

/* Writes exactly len bytes at off. Returns 0 or a negated errno (LKV_EIO if the write made no progress). */
int lkv__pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/* Opens (creating, mode 0600) the file at path and checks its header: magic (8 bytes) and version, then,
 * when extra is not NULL, LKV__HEADER_EXTRA_LEN more bytes. A file that is empty, or holds only part of
 * the header (a crash while creating it), gets a fresh synced header whose extra bytes are the ones extra
 * points at, and *fresh = 1; otherwise the stored extra bytes are copied into extra. On success *fd is
 * the descriptor and *size the file size (>= the header). Returns 0, LKV_ECORRUPT (another magic or
 * version) or a negated errno. */
int lkv__file_open(const char *path, const char *magic, uint32_t version, uint8_t *extra, int *fd,
                   uint64_t *size, int *fresh);

/* fsyncs the directory containing path, so that a file created there survives a crash. Returns 0 or a
 * negated errno. */
int lkv__fsync_parent(const char *path);

#endif
