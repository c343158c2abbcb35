/* The unsynced marker: whether a store that skips LMDB's flushes can be trusted after a restart. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "mvcc/internal.h"

/*
 * A store opened with a log in front (lkv_mvcc_options_t.logged) commits without flushing: its pages
 * reach the disk when the kernel writes them back, in any order. That is safe as long as the kernel that
 * holds them in its page cache keeps running: a crashed process loses nothing. When the machine itself
 * goes down, the file may hold a meta page without the pages it points to, and only the log can say
 * what the store was. The marker records which boot of the kernel held the unflushed pages (its boot id,
 * /proc/sys/kernel/random/boot_id) and the store's identity, which must survive a rebuild. It is written
 * durably before the first unflushed commit and removed after the flush at a clean close.
 * A rebuild starts from the last checkpoint (checkpoint.c), or from nothing.
 *
 * File <dir>/member/db/unsynced, one line: "<boot id> <cluster id hex> <member id hex>\n".
 */

#define MARKER_NAME "unsynced"

int lkv__db_path(const char *db_dir, const char *name, char *out, size_t cap) {
  return snprintf(out, cap, "%s/%s", db_dir, name) >= (int)cap ? LKV_EINVAL : 0;
}

void lkv__boot_id(char *out, size_t cap) {
  out[0] = '\0';
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (!f) return; /* unknown: every marker then counts as another boot's (see trusted()) */
  if (!fgets(out, (int)cap, f)) out[0] = '\0';
  fclose(f);
  out[strcspn(out, " \n")] = '\0';
}

int lkv__unsynced_read(const char *db_dir, lkv__unsynced_t *out) {
  char path[PATH_MAX], line[LKV__BOOT_ID_MAX + 64];
  int rc = lkv__db_path(db_dir, MARKER_NAME, path, sizeof(path));
  if (rc) return rc;
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? 0 : -errno;
  char *got = fgets(line, sizeof(line), f);
  fclose(f);
  char fmt[32];
  snprintf(fmt, sizeof(fmt), "%%%ds %%" SCNx64 " %%" SCNx64, LKV__BOOT_ID_MAX - 1);
  /* A damaged marker still says the store was not flushed; only the identity is lost with it. */
  if (!got || sscanf(line, fmt, out->boot_id, &out->cluster_id, &out->member_id) != 3 || !out->cluster_id ||
      !out->member_id)
    *out = (lkv__unsynced_t){0};
  return 1;
}

/* 1 when the marker's unflushed pages are still in this kernel's page cache (same, known boot id). */
static int trusted(const lkv__unsynced_t *m, const char *boot_id) {
  return boot_id[0] != '\0' && strcmp(m->boot_id, boot_id) == 0;
}

int lkv__publish_prepare(const char *db_dir, const char *name, int (*fill)(int fd, const void *arg),
                         const void *arg) {
  char path[PATH_MAX], tmp[PATH_MAX];
  int rc = lkv__db_path(db_dir, name, path, sizeof(path));
  if (!rc && snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) rc = LKV_EINVAL;
  if (rc) return rc;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  rc = fill(fd, arg);
  if (!rc && fdatasync(fd) != 0) rc = -errno;
  close(fd);
  if (rc) unlink(tmp);
  return rc;
}

int lkv__publish_commit(const char *db_dir, const char *name, int keep) {
  char path[PATH_MAX], tmp[PATH_MAX];
  int rc = lkv__db_path(db_dir, name, path, sizeof(path));
  if (!rc && snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) rc = LKV_EINVAL;
  if (rc) return rc;
  if (keep && rename(tmp, path) != 0) rc = -errno;
  if (keep && !rc) rc = lkv_fs_sync_dir(db_dir);
  if (rc || !keep) unlink(tmp);
  return rc;
}

int lkv__publish(const char *db_dir, const char *name, int (*fill)(int fd, const void *arg),
                 const void *arg) {
  int rc = lkv__publish_prepare(db_dir, name, fill, arg);
  return rc ? rc : lkv__publish_commit(db_dir, name, 1);
}

static int fill_marker(int fd, const void *arg) {
  const lkv__unsynced_t *m = arg;
  char line[LKV__BOOT_ID_MAX + 64];
  int n = snprintf(line, sizeof(line), "%s %016" PRIx64 " %016" PRIx64 "\n", m->boot_id, m->cluster_id,
                   m->member_id);
  return write(fd, line, (size_t)n) == n ? 0 : LKV_EIO;
}

static int write_marker(const char *db_dir, const lkv__unsynced_t *m) {
  return lkv__publish(db_dir, MARKER_NAME, fill_marker, m);
}

int lkv__remove_file(const char *db_dir, const char *name) {
  char path[PATH_MAX];
  int rc = lkv__db_path(db_dir, name, path, sizeof(path));
  if (rc) return rc;
  if (unlink(path) != 0) return errno == ENOENT ? 0 : -errno;
  return lkv_fs_sync_dir(db_dir);
}

/* Flushes LMDB's data file: a write-back the kernel failed since (a crashed process never saw it) is
 * reported here, once. 0 also when there is no file. */
static int flush_store(const char *db_dir) {
  char path[PATH_MAX];
  int rc = lkv__db_path(db_dir, "data.mdb", path, sizeof(path));
  if (rc) return rc;
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -errno;
  rc = fdatasync(fd) == 0 ? 0 : -errno;
  close(fd);
  return rc;
}

/* Deletes LMDB's files so that the store opens empty. */
static int discard_store(const char *db_dir) {
  char path[PATH_MAX];
  const char *files[] = {"data.mdb", "lock.mdb"};
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    int rc = lkv__db_path(db_dir, files[i], path, sizeof(path));
    if (rc) return rc;
    if (unlink(path) != 0 && errno != ENOENT) return -errno;
  }
  return lkv_fs_sync_dir(db_dir);
}

int lkv__unsynced_before_open(const char *db_dir, const char *boot_id, int logged,
                              lkv__unsynced_open_t *out) {
  *out = (lkv__unsynced_open_t){0};
  if (boot_id)
    snprintf(out->boot_id, sizeof(out->boot_id), "%s", boot_id);
  else
    lkv__boot_id(out->boot_id, sizeof(out->boot_id));
  int rc = lkv__unsynced_read(db_dir, &out->marker);
  if (rc < 0) return rc;
  out->found = rc;
  /* Same boot: the pages are in the page cache, unless the kernel failed to write some back and
   * dropped them, which only a flush reveals. */
  out->torn = out->found && (!trusted(&out->marker, out->boot_id) || flush_store(db_dir) != 0);
  if (!out->torn) return 0;
  if (!logged) return LKV_ETORN; /* only the log that was in front can rebuild it */
  rc = discard_store(db_dir);
  return rc ? rc : lkv__checkpoint_restore(db_dir, &out->restored);
}

int lkv__unsynced_after_open(lkv_mvcc_t *s, const lkv__unsynced_open_t *o) {
  if (s->logged) {
    lkv__unsynced_t m = {.cluster_id = s->cluster_id, .member_id = s->member_id};
    memcpy(m.boot_id, o->boot_id, sizeof(m.boot_id));
    return write_marker(s->db_dir, &m);
  }
  /* The checkpoint stays: writes made now, without the log, put the store ahead of its log, and a
   * logged open then refuses it (lkv_apply_replay) before any rebuild could start from the checkpoint. */
  if (!o->found || s->read_only) return 0;
  int rc = lkv__mdb_err(mdb_env_sync(s->env, 1));
  return rc ? rc : lkv__remove_file(s->db_dir, MARKER_NAME);
}

void lkv__unsynced_at_close(lkv_mvcc_t *s) {
  if (!s->logged) return;
  if (mdb_env_sync(s->env, 1) == 0) {
    lkv__remove_file(s->db_dir, MARKER_NAME);
  } else {
    lkv__unsynced_t m = {.cluster_id = s->cluster_id, .member_id = s->member_id};
    write_marker(s->db_dir, &m);
  }
}
