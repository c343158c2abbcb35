/* Telling an etcd data dir from a ledgerkv one, before the store opens. */
#include "server/etcd_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"

/* Whether <dir>/<rel> exists (any type). -errno other than ENOENT is returned as is. */
static int exists(const char *dir, const char *rel) {
  char path[4096];
  if (snprintf(path, sizeof(path), "%s/%s", dir, rel) >= (int)sizeof(path)) return LKV_EINVAL;
  struct stat st;
  if (stat(path, &st) == 0) return 1;
  return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
}

static int is_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
      return 0;
  return 1;
}

/* etcd's WAL segment name: "%016x-%016x.wal" (sequence, first index). */
static int etcd_wal_name(const char *name) {
  return strlen(name) == 37 && is_hex(name, 16) && name[16] == '-' && is_hex(name + 17, 16) &&
         strcmp(name + 33, ".wal") == 0;
}

/* Finds an etcd WAL segment in <dir>/member/wal; returns 1 and its name in found, 0, or -errno. */
static int find_etcd_wal(const char *dir, char *found, size_t foundlen) {
  char path[4096];
  if (snprintf(path, sizeof(path), "%s/member/wal", dir) >= (int)sizeof(path)) return LKV_EINVAL;
  DIR *d = opendir(path);
  if (!d) return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL)
    if (etcd_wal_name(e->d_name)) {
      snprintf(found, foundlen, "member/wal/%s", e->d_name);
      rc = 1;
    }
  closedir(d);
  return rc;
}

int lkv__server_etcd_dir_check(const char *data_dir, char *err, size_t errlen) {
  static const char *const ours[] = {"member/db", "ledger"};
  int rc;
  for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
    if ((rc = exists(data_dir, ours[i])) < 0) goto err_stat;
    if (rc) return 0;
  }
  char wal[64] = "";
  int snap = exists(data_dir, "member/snap/db");
  if ((rc = snap) < 0) goto err_stat;
  if ((rc = find_etcd_wal(data_dir, wal, sizeof(wal))) < 0) goto err_stat;
  if (!snap && !rc) return 0;
  if (errlen > 0)
    snprintf(err, errlen,
             "%s holds an etcd data directory (%s%s%s); ledgerkv cannot serve it directly: take a snapshot "
             "with `etcdctl snapshot save` and restore it with `ledgerkv snapshot restore` (or restore "
             "member/snap/db with --skip-hash-check), or start on another --data-dir",
             data_dir, snap ? "member/snap/db" : "", snap && rc ? ", " : "", rc ? wal : "");
  return LKV_EUNSUPPORTED;
err_stat:
  if (errlen > 0) snprintf(err, errlen, "cannot examine data dir %s: %s", data_dir, lkv_strerror(rc));
  return rc;
}
