/* The backup file's codec (backup_file.c), shared by saving and restoring (backup.c). */
#ifndef LKV_SERVER_BACKUP_INTERNAL_H
#define LKV_SERVER_BACKUP_INTERNAL_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

enum { LKV__BACKUP_END = 0, LKV__BACKUP_FILE = 1, LKV__BACKUP_KEYS = 2, LKV__BACKUP_SPARSE = 3 };
#define LKV__BACKUP_PRIVATE_KEY 1u /* flags bit 0 */
#define LKV__BACKUP_MAX_SECTIONS 16

/* A file being written: every byte goes through the SHA-256 that ends it. */
typedef struct lkv__bw_s {
  int fd;
  crypto_hash_sha256_state sha;
} lkv__bw_t;

/* Creates path (0600, truncated) and writes the header. Returns 0 or a negated errno. */
int lkv__bw_open(lkv__bw_t *w, const char *path, uint32_t flags);

/* Appends a section of len bytes from buf. Returns 0 or a negated errno. */
int lkv__bw_section(lkv__bw_t *w, uint8_t kind, const char *name, const void *buf, uint64_t len);

/* Appends the file at path as a section named name: FILE with its bytes, or SPARSE with its data extents
 * when it has holes (a ledger's records below its base are punched out). optional: a missing file is left
 * out (returns 0). Returns 0, LKV_ENOENT, LKV_ENOMEM or a negated errno. */
int lkv__bw_file(lkv__bw_t *w, const char *name, const char *path, int optional);

/* Writes the end and the SHA-256, flushes and closes. Returns 0 or a negated errno (closed anyway). */
int lkv__bw_finish(lkv__bw_t *w);

/* Closes a file being written after a failure. */
void lkv__bw_abandon(lkv__bw_t *w);

/* A section of a file read (pointers into its map). */
typedef struct lkv__bsec_s {
  uint8_t kind;
  const char *name;
  size_t name_len;
  const uint8_t *data;
  uint64_t len;
} lkv__bsec_t;

typedef struct lkv__bfile_s {
  uint8_t *map;
  size_t map_len;
  uint32_t flags;
  lkv__bsec_t secs[LKV__BACKUP_MAX_SECTIONS];
  size_t n;
} lkv__bfile_t;

/* Maps path and checks it whole: magic, version, known flags, sections framed and known, no name twice,
 * the SHA-256. Returns 0, LKV_ECORRUPT (why in err) or a negated errno. */
int lkv__bfile_read(const char *path, lkv__bfile_t *f, char *err, size_t errlen);

/* The section of that kind and name, or NULL (kind FILE finds a SPARSE section too). */
const lkv__bsec_t *lkv__bfile_find(const lkv__bfile_t *f, uint8_t kind, const char *name);

void lkv__bfile_close(lkv__bfile_t *f);

/* Creates path (0600, which must not exist) with a FILE or SPARSE section's content (holes where the file
 * had them), flushed. Returns 0, LKV_ECORRUPT (a SPARSE section's extents out of order or not its data) or
 * a negated errno. */
int lkv__bfile_extract(const lkv__bsec_t *s, const char *path);

#endif
