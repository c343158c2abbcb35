/* A causal member's identity and members at its first start (from the flags, or from the cluster it joined),
 * recorded in its data dir: later starts read them, not the flags (as etcd, docs/causal.md §15b). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/attrs.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/le.h"
#include "server/member_causal.h"

/* <data-dir>/member/causal/identity: "lkvidnt1" ‖ u8 joined ‖ u64 cluster id ‖ u64 member id ‖ the members
 * in a membership query answer's layout (member.c's on_query: u32 count, per member u64 id ‖ u8 learner ‖
 * u32 attributes length ‖ attributes, cluster/attrs.h); little-endian. Written once, renamed into place. */
static const char MAGIC[8] = "lkvidnt1";
#define HEAD 25 /* before the members */

static int path_of(const lkv_config_t *cfg, const char *name, char *out, size_t cap) {
  return snprintf(out, cap, "%s/member/causal%s%s", cfg->data_dir, name[0] ? "/" : "", name) < (int)cap
             ? 0
             : LKV_EINVAL;
}

int lkv__member_causal_used(const lkv_config_t *cfg) {
  char path[4096];
  return path_of(cfg, "events", path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

/* Whether attrs' peer URLs are exactly urls[0..n) (both sorted: attrs as MemberAdd recorded them). */
static int same_urls(const lkv_cluster_attrs_t *a, char *const *urls, size_t n) {
  if (a->n_peer_urls != n) return 0;
  for (size_t i = 0; i < n; i++) {
    int found = 0;
    for (size_t j = 0; j < n; j++) found |= strcmp(a->peer_urls[i], urls[j]) == 0;
    if (!found) return 0;
  }
  return 1;
}

int lkv__member_parse_members(const uint8_t *b, size_t len, const lkv_cluster_member_t *me,
                              lkv__member_identity_t *id) {
  if (len < 4) return LKV_EBADMSG;
  uint32_t count = lkv_le32_get(b);
  if (count > len / 13) return LKV_EBADMSG;
  id->seeds = calloc(count ? count : 1, sizeof(*id->seeds));
  if (!id->seeds) return LKV_ENOMEM;
  size_t off = 4;
  for (uint32_t i = 0; i < count; i++) {
    if (len - off < 13) return LKV_EBADMSG;
    uint64_t mid = lkv_le64_get(b + off);
    uint32_t alen = lkv_le32_get(b + off + 9);
    off += 13;
    if (alen > len - off) return LKV_EBADMSG;
    uint8_t *copy = malloc(alen ? alen : 1);
    if (!copy) return LKV_ENOMEM;
    memcpy(copy, b + off, alen);
    id->seeds[id->n_seeds++] = (lkv_raft_node_seed_t){.id = mid, .attrs = copy, .len = alen};
    lkv_cluster_attrs_t a;
    if (me && alen && lkv_cluster_attrs_decode(copy, alen, &a) == 0) {
      if (same_urls(&a, me->peer_urls, me->n_peer_urls)) id->member_id = mid;
      lkv_cluster_attrs_free(&a);
    }
    off += alen;
  }
  return 0;
}

/* The identity file's head before the members: magic ‖ u8 joined ‖ u64 cluster id ‖ u64 member id. */
static int parse(const uint8_t *b, size_t len, lkv__member_identity_t *id) {
  if (len < HEAD || memcmp(b, MAGIC, 8) != 0 || b[8] > 1) return LKV_ECORRUPT;
  id->join = b[8];
  id->cluster_id = lkv_le64_get(b + 9);
  id->member_id = lkv_le64_get(b + 17);
  int rc = lkv__member_parse_members(b + HEAD, len - HEAD, NULL, id);
  return rc == LKV_EBADMSG || (!rc && !id->n_seeds) ? LKV_ECORRUPT : rc;
}

int lkv__member_causal_recorded(const lkv_config_t *cfg, lkv__member_identity_t *id, char *err,
                                size_t errlen) {
  char path[4096];
  if (path_of(cfg, "identity", path, sizeof(path))) return LKV_ENOENT;
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT) return LKV_ENOENT;
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    return -errno;
  }
  uint8_t *b = NULL;
  size_t len = 0, cap = 0;
  int rc = 0;
  for (size_t got = 1; !rc && got;) {
    if (len == cap && !(b = realloc(b, cap = cap ? 2 * cap : 4096))) rc = LKV_ENOMEM;
    if (!rc) got = fread(b + len, 1, cap - len, f), len += got;
  }
  if (!rc && ferror(f)) rc = LKV_EIO;
  fclose(f);
  if (!rc) rc = parse(b, len, id);
  free(b);
  id->recorded = !rc;
  if (rc) snprintf(err, errlen, "cannot read %s: %s", path, lkv_strerror(rc));
  return rc;
}

int lkv__member_causal_record(const lkv_config_t *cfg, const lkv__member_identity_t *id, int remove,
                              char *err, size_t errlen) {
  char dir[4096], path[4200], tmp[4210];
  if (remove) {
    if (!path_of(cfg, "identity", path, sizeof(path))) (void)unlink(path);
    return 0;
  }
  size_t len = HEAD + 4;
  for (size_t i = 0; i < id->n_seeds; i++) len += 13 + id->seeds[i].len;
  uint8_t *b = malloc(len), *p = b;
  int rc = b && !path_of(cfg, "", dir, sizeof(dir)) ? lkv_fs_mkdirs(dir, 0700) : LKV_ENOMEM;
  if (!rc) {
    memcpy(p, MAGIC, 8);
    p[8] = (uint8_t)(id->join != 0);
    lkv_le64_put(p + 9, id->cluster_id), lkv_le64_put(p + 17, id->member_id);
    lkv_le32_put(p + HEAD, (uint32_t)id->n_seeds), p += HEAD + 4;
    for (size_t i = 0; i < id->n_seeds; i++) {
      lkv_le64_put(p, id->seeds[i].id), p[8] = 0, lkv_le32_put(p + 9, (uint32_t)id->seeds[i].len), p += 13;
      if (id->seeds[i].len) memcpy(p, id->seeds[i].attrs, id->seeds[i].len), p += id->seeds[i].len;
    }
    snprintf(path, sizeof(path), "%s/identity", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    rc = fd < 0 ? -errno : write(fd, b, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : LKV_EIO;
    if (fd >= 0) close(fd);
    if (!rc) rc = rename(tmp, path) == 0 ? lkv_fs_sync_dir(dir) : -errno;
  }
  free(b);
  if (rc) snprintf(err, errlen, "cannot record the member's identity in %s: %s", dir, lkv_strerror(rc));
  return rc;
}
