/* The backup file's codec: sections framed and checksummed as backup.h describes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/grow.h"
#include "server/backup.h"
#include "server/backup_internal.h"

#define MAGIC "lkvbckup"
#define VERSION 1
#define HEADER_LEN 16
#define SECTION_HDR_FIXED 11 /* kind ‖ name_len ‖ length */
#define SHA_LEN crypto_hash_sha256_BYTES

static void put_be(uint8_t *p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

static int write_all(lkv__bw_t *w, const void *buf, size_t len) {
  crypto_hash_sha256_update(&w->sha, buf, len);
  for (const uint8_t *p = buf; len;) {
    ssize_t n = write(w->fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : LKV_EIO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int lkv__bw_open(lkv__bw_t *w, const char *path, uint32_t flags) {
  uint8_t h[HEADER_LEN];
  w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (w->fd < 0) return -errno;
  crypto_hash_sha256_init(&w->sha);
  memcpy(h, MAGIC, 8);
  put_be(h + 8, VERSION, 4);
  put_be(h + 12, flags, 4);
  return write_all(w, h, sizeof(h));
}

static int section_header(lkv__bw_t *w, uint8_t kind, const char *name, uint64_t len) {
  size_t nl = strlen(name);
  uint8_t h[SECTION_HDR_FIXED + 256];
  if (nl > 255) return LKV_EINVAL;
  h[0] = kind;
  put_be(h + 1, nl, 2);
  memcpy(h + 3, name, nl);
  put_be(h + 3 + nl, len, 8);
  return write_all(w, h, SECTION_HDR_FIXED + nl);
}

int lkv__bw_section(lkv__bw_t *w, uint8_t kind, const char *name, const void *buf, uint64_t len) {
  int rc = section_header(w, kind, name, len);
  return rc ? rc : write_all(w, buf, len);
}

/* Copies [off, off + len) of fd into w. */
static int copy_range(lkv__bw_t *w, int fd, uint64_t off, uint64_t len, uint8_t *buf, size_t chunk) {
  int rc = 0;
  while (!rc && len) {
    ssize_t n = pread(fd, buf, len < chunk ? (size_t)len : chunk, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) rc = n < 0 ? -errno : LKV_EIO; /* the file shrank while copied */
    if (!rc) rc = write_all(w, buf, (size_t)n), off += (uint64_t)n, len -= (uint64_t)n;
  }
  return rc;
}

/* The file's data extents (offset, length pairs) up to size, as SEEK_DATA / SEEK_HOLE see them; one
 * extent of the whole file where the file system cannot tell. Returns the count, or a negative code. */
static long extents(int fd, uint64_t size, uint64_t (**out)[2]) {
  size_t n = 0, cap = 0;
  *out = NULL;
  for (uint64_t off = 0; off < size;) {
    off_t data = lseek(fd, (off_t)off, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break; /* only a hole up to the end */
    off_t hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
    if (data < 0 || hole < 0) {
      if (errno != EINVAL) return free(*out), -errno;
      data = (off_t)off, hole = (off_t)size; /* no hole support: all data */
    }
    if ((uint64_t)hole > size) hole = (off_t)size;
    if (lkv_grow((void **)out, &cap, n + 1, sizeof(**out))) return free(*out), LKV_ENOMEM;
    (*out)[n][0] = (uint64_t)data, (*out)[n++][1] = (uint64_t)(hole - data);
    off = (uint64_t)hole;
  }
  return (long)n;
}

int lkv__bw_file(lkv__bw_t *w, const char *name, const char *path, int optional) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? (optional ? 0 : LKV_ENOENT) : -errno;
  struct stat st;
  enum { CHUNK = 1 << 20 };
  uint64_t(*ext)[2] = NULL;
  uint8_t *buf = malloc(CHUNK), head[12];
  long n = 0;
  int rc = !buf ? LKV_ENOMEM : fstat(fd, &st) ? -errno : 0;
  if (!rc && (n = extents(fd, (uint64_t)st.st_size, &ext)) < 0) rc = (int)n;
  uint64_t size = rc ? 0 : (uint64_t)st.st_size, data = 0;
  for (long i = 0; i < n; i++) data += ext[i][1];
  if (!rc && data == size) { /* no hole: the bytes as they are */
    rc = section_header(w, LKV__BACKUP_FILE, name, size);
    if (!rc) rc = copy_range(w, fd, 0, size, buf, CHUNK);
  } else if (!rc) { /* holes (a ledger's records below its base): only the data extents travel */
    rc = section_header(w, LKV__BACKUP_SPARSE, name, 12 + 16 * (uint64_t)n + data);
    put_be(head, size, 8);
    put_be(head + 8, (uint64_t)n, 4);
    if (!rc) rc = write_all(w, head, sizeof(head));
    for (long i = 0; !rc && i < n; i++) {
      uint8_t e[16];
      put_be(e, ext[i][0], 8);
      put_be(e + 8, ext[i][1], 8);
      rc = write_all(w, e, sizeof(e));
    }
    for (long i = 0; !rc && i < n; i++) rc = copy_range(w, fd, ext[i][0], ext[i][1], buf, CHUNK);
  }
  free(ext);
  free(buf);
  close(fd);
  return rc;
}

/* Writes [p, p + len) at off. */
static int pwrite_all(int fd, const uint8_t *p, uint64_t len, uint64_t off) {
  while (len) {
    ssize_t n = pwrite(fd, p, len > (1u << 30) ? (1u << 30) : (size_t)len, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : LKV_EIO;
    p += n, off += (uint64_t)n, len -= (uint64_t)n;
  }
  return 0;
}

/* A SPARSE section's extents: within the size, in order, and exactly the data that follows. */
static int write_sparse(int fd, const lkv__bsec_t *s) {
  if (s->len < 12) return LKV_ECORRUPT;
  uint64_t size = get_be(s->data, 8), n = get_be(s->data + 8, 4), end = 0, data = 0;
  if (n > (s->len - 12) / 16) return LKV_ECORRUPT;
  const uint8_t *e = s->data + 12, *p = e + 16 * n;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t off = get_be(e + 16 * i, 8), len = get_be(e + 16 * i + 8, 8);
    if (off < end || len > size || off > size - len || len > s->len - 12 - 16 * n - data) return LKV_ECORRUPT;
    end = off + len, data += len;
  }
  if (12 + 16 * n + data != s->len) return LKV_ECORRUPT;
  int rc = 0;
  for (uint64_t i = 0; !rc && i < n; i++) {
    uint64_t len = get_be(e + 16 * i + 8, 8);
    rc = pwrite_all(fd, p, len, get_be(e + 16 * i, 8));
    p += len;
  }
  if (!rc && ftruncate(fd, (off_t)size)) rc = -errno; /* the holes stay holes */
  return rc;
}

int lkv__bfile_extract(const lkv__bsec_t *s, const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  int rc = s->kind == LKV__BACKUP_SPARSE ? write_sparse(fd, s) : pwrite_all(fd, s->data, s->len, 0);
  if (!rc && fdatasync(fd)) rc = -errno;
  close(fd);
  return rc;
}

int lkv__bw_finish(lkv__bw_t *w) {
  uint8_t end[SECTION_HDR_FIXED] = {0}, sha[SHA_LEN];
  int rc = write_all(w, end, sizeof(end));
  crypto_hash_sha256_final(&w->sha, sha);
  for (const uint8_t *p = sha; !rc && p < sha + SHA_LEN;) {
    ssize_t n = write(w->fd, p, (size_t)(sha + SHA_LEN - p));
    if (n <= 0) rc = n < 0 ? -errno : LKV_EIO;
    p += n > 0 ? n : 0;
  }
  if (!rc && fdatasync(w->fd)) rc = -errno;
  if (close(w->fd) && !rc) rc = -errno;
  w->fd = -1;
  return rc;
}

void lkv__bw_abandon(lkv__bw_t *w) {
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
}

static int damaged(char *err, size_t errlen, const char *why) {
  snprintf(err, errlen, "backup file damaged: %s", why);
  return LKV_ECORRUPT;
}

/* Splits the checked body into sections. */
static int parse(lkv__bfile_t *f, size_t body_len, char *err, size_t errlen) {
  size_t off = HEADER_LEN;
  for (;;) {
    if (body_len - off < SECTION_HDR_FIXED) return damaged(err, errlen, "a section is cut short");
    const uint8_t *p = f->map + off;
    size_t nl = (size_t)get_be(p + 1, 2);
    if (body_len - off - SECTION_HDR_FIXED < nl) return damaged(err, errlen, "a section name is cut short");
    uint64_t len = get_be(p + 3 + nl, 8);
    off += SECTION_HDR_FIXED + nl;
    if (len > body_len - off) return damaged(err, errlen, "a section is longer than the file");
    if (p[0] == LKV__BACKUP_END)
      return nl || len || off != body_len ? damaged(err, errlen, "bytes after the end") : 0;
    if (p[0] != LKV__BACKUP_FILE && p[0] != LKV__BACKUP_KEYS && p[0] != LKV__BACKUP_SPARSE)
      return damaged(err, errlen, "an unknown section");
    if (f->n == LKV__BACKUP_MAX_SECTIONS) return damaged(err, errlen, "too many sections");
    lkv__bsec_t s = {
        .kind = p[0], .name = (const char *)p + 3, .name_len = nl, .data = f->map + off, .len = len};
    for (size_t i = 0; i < f->n; i++)
      if (f->secs[i].name_len == nl && memcmp(f->secs[i].name, s.name, nl) == 0)
        return damaged(err, errlen, "a section twice");
    f->secs[f->n++] = s;
    off += len;
  }
}

int lkv__bfile_read(const char *path, lkv__bfile_t *f, char *err, size_t errlen) {
  memset(f, 0, sizeof(*f));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int rc = -errno;
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return rc;
  }
  struct stat st;
  int rc = fstat(fd, &st) ? -errno : 0;
  if (!rc && (size_t)st.st_size < HEADER_LEN + SECTION_HDR_FIXED + SHA_LEN) {
    close(fd);
    return damaged(err, errlen, "too short to be a ledgerkv backup");
  }
  if (!rc) {
    f->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) rc = -errno, f->map = NULL;
  }
  close(fd);
  if (rc) {
    snprintf(err, errlen, "%s: %s", path, strerror(-rc));
    return rc;
  }
  f->map_len = (size_t)st.st_size;
  if (memcmp(f->map, MAGIC, 8)) return damaged(err, errlen, "not a ledgerkv backup");
  if (get_be(f->map + 8, 4) != VERSION) return damaged(err, errlen, "an unknown version");
  f->flags = (uint32_t)get_be(f->map + 12, 4);
  if (f->flags & ~LKV__BACKUP_PRIVATE_KEY) return damaged(err, errlen, "unknown flags");
  uint8_t sha[SHA_LEN];
  size_t body = f->map_len - SHA_LEN;
  crypto_hash_sha256(sha, f->map, body);
  if (memcmp(sha, f->map + body, SHA_LEN)) return damaged(err, errlen, "its SHA-256 does not match");
  return parse(f, body, err, errlen);
}

const lkv__bsec_t *lkv__bfile_find(const lkv__bfile_t *f, uint8_t kind, const char *name) {
  size_t nl = strlen(name);
  for (size_t i = 0; i < f->n; i++)
    if ((f->secs[i].kind == kind || (kind == LKV__BACKUP_FILE && f->secs[i].kind == LKV__BACKUP_SPARSE)) &&
        f->secs[i].name_len == nl && memcmp(f->secs[i].name, name, nl) == 0)
      return &f->secs[i];
  return NULL;
}

void lkv__bfile_close(lkv__bfile_t *f) {
  if (f->map) munmap(f->map, f->map_len);
  memset(f, 0, sizeof(*f));
}
