/* Receiving a snapshot file from the leader, fed by the peer thread (snap_stream.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "replication/snap_stream.h"

/* Files being received are "<id>.part"; a complete one is renamed "<id>.snap" for the Raft thread. */
static void file_path(const lkv_snap_receiver_t *r, uint64_t id, const char *ext, char *out, size_t cap) {
  snprintf(out, cap, "%s/%016llx.%s", r->dir, (unsigned long long)id, ext);
}

int lkv_snap_receiver_init(lkv_snap_receiver_t *r, const char *dir, lkv_snap_send_fn send, void *arg) {
  memset(r, 0, sizeof(*r));
  r->fd = -1;
  r->send = send;
  r->send_arg = arg;
  if (snprintf(r->dir, sizeof(r->dir), "%s", dir) >= (int)sizeof(r->dir)) return LKV_EINVAL;
  int rc = lkv_fs_mkdirs(dir, 0700);
  if (rc) return rc;
  /* What an earlier run left (received or half received) is of no use: the leader sends again. */
  DIR *d = opendir(dir);
  if (!d) return -errno;
  for (struct dirent *e; (e = readdir(d));) {
    size_t n = strlen(e->d_name);
    if ((n > 5 && !strcmp(e->d_name + n - 5, ".part")) || (n > 5 && !strcmp(e->d_name + n - 5, ".snap")))
      unlinkat(dirfd(d), e->d_name, 0);
  }
  closedir(d);
  return 0;
}

static void ack(lkv_snap_receiver_t *r, int status) {
  lkv_snap_msg_t m = {.type = LKV_SNAP_ACK, .id = r->id, .offset = r->got, .status = status};
  uint8_t buf[32];
  size_t len = lkv_snap_msg_encode(&m, buf, sizeof(buf));
  r->send(r->send_arg, r->from, buf, len); /* a lost ACK stalls the sender, which then gives up */
  r->acked = r->got;
}

void lkv_snap_receiver_close(lkv_snap_receiver_t *r) {
  if (r->fd >= 0) {
    close(r->fd);
    char path[PATH_MAX + 32];
    file_path(r, r->id, "part", path, sizeof(path));
    unlink(path);
  }
  r->fd = -1;
  free(r->raft_msg);
  free(r->frontier);
  r->raft_msg = r->frontier = NULL;
}

static void fail(lkv_snap_receiver_t *r) {
  ack(r, LKV_SNAP_FAILED);
  lkv_snap_receiver_close(r);
}

static void *dup_bytes(const uint8_t *b, size_t len) {
  void *p = malloc(len ? len : 1);
  if (p && len) memcpy(p, b, len);
  return p;
}

static int offer(lkv_snap_receiver_t *r, uint64_t from, const lkv_snap_msg_t *m) {
  lkv_snap_receiver_close(r); /* a newer transfer replaces an unfinished one */
  r->from = from;
  r->id = m->id;
  r->size = m->size;
  r->got = r->acked = 0;
  if (r->max_size && m->size > r->max_size) {
    ack(r, LKV_SNAP_FAILED); /* before any file: nothing to remove */
    return LKV_ETOOLARGE;
  }
  char path[PATH_MAX + 32];
  file_path(r, r->id, "part", path, sizeof(path));
  r->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  r->raft_msg = dup_bytes(m->raft_msg, m->raft_msg_len);
  r->frontier = dup_bytes(m->frontier, m->frontier_len);
  r->raft_msg_len = m->raft_msg_len;
  r->frontier_len = m->frontier_len;
  if (r->fd < 0 || !r->raft_msg || !r->frontier) {
    fail(r);
    return 0;
  }
  crypto_generichash_init(&r->hash, NULL, 0, LKV_SNAP_HASH_LEN);
  ack(r, LKV_SNAP_RECEIVING);
  return 0;
}

static void chunk(lkv_snap_receiver_t *r, const lkv_snap_msg_t *m) {
  if (m->offset != r->got || m->data_len > r->size - r->got) {
    fail(r); /* a gap (a broken connection lost chunks) or more than offered */
    return;
  }
  for (size_t done = 0; done < m->data_len;) {
    ssize_t w = pwrite(r->fd, m->data + done, m->data_len - done, (off_t)(r->got + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      fail(r);
      return;
    }
    done += (size_t)w;
  }
  crypto_generichash_update(&r->hash, m->data, m->data_len);
  r->got += m->data_len;
  if (r->got - r->acked >= LKV_SNAP_WINDOW / 2) ack(r, LKV_SNAP_RECEIVING);
}

static int end(lkv_snap_receiver_t *r, const lkv_snap_msg_t *m, lkv_snap_received_t *out) {
  uint8_t h[LKV_SNAP_HASH_LEN];
  crypto_generichash_final(&r->hash, h, sizeof(h));
  char part[PATH_MAX + 32], snap[PATH_MAX + 32];
  file_path(r, r->id, "part", part, sizeof(part));
  file_path(r, r->id, "snap", snap, sizeof(snap));
  if (r->got != r->size || memcmp(h, m->hash, sizeof(h)) != 0 || fdatasync(r->fd) != 0 ||
      rename(part, snap) != 0 || strlen(snap) >= sizeof(out->path)) {
    fail(r);
    return 0;
  }
  close(r->fd);
  r->fd = -1;
  *out = (lkv_snap_received_t){.from = r->from,
                               .raft_msg = r->raft_msg,
                               .raft_msg_len = r->raft_msg_len,
                               .frontier = r->frontier,
                               .frontier_len = r->frontier_len};
  memcpy(out->path, snap, strlen(snap) + 1);
  r->raft_msg = r->frontier = NULL;
  ack(r, LKV_SNAP_RECEIVED);
  return 1;
}

int lkv_snap_receiver_feed(lkv_snap_receiver_t *r, uint64_t from, const lkv_snap_msg_t *m,
                           lkv_snap_received_t *out) {
  if (m->type == LKV_SNAP_OFFER) return offer(r, from, m);
  if (r->fd < 0 || m->id != r->id || from != r->from) return 0; /* the rest of an abandoned transfer */
  if (m->type == LKV_SNAP_CHUNK_MSG) chunk(r, m);
  if (m->type == LKV_SNAP_END) return end(r, m, out);
  return 0;
}

void lkv_snap_received_free(lkv_snap_received_t *s) {
  free(s->raft_msg);
  free(s->frontier);
  s->raft_msg = s->frontier = NULL;
}
