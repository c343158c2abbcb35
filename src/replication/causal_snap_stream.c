/* The causal snapshot's transfer (docs/causal.md §7b): Raft mode's snapshot stream (snap_stream.h), its
 * messages as the causal kind LKV__CAUSAL_MSG_SNAPSHOT, one transfer per peer at a time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/le.h"
#include "replication/causal_internal.h"

/* A transfer's end, as its thread sets it in snap_end[i]. */
enum { RUNNING, DONE, FAILED };

/* The stream's send: the causal kind byte, then the stream's message. LKV_EAGAIN (a full queue) makes the
 * sender wait and try again. */
static int stream_send(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  lkv__causal_node_t *n = arg;
  uint8_t *b = malloc(len + 1);
  if (!b) return LKV_ENOMEM;
  b[0] = LKV__CAUSAL_MSG_SNAPSHOT;
  memcpy(b + 1, msg, len);
  int rc = n->o.send(n->o.send_arg, to, b, len + 1);
  free(b);
  return rc;
}

int lkv__causal_stream_init(lkv__causal_node_t *n) {
  char dir[4096];
  if (snprintf(dir, sizeof(dir), "%s/" LKV__CAUSAL_STREAM_DIR, n->o.dir) >= (int)sizeof(dir))
    return LKV_EINVAL;
  return lkv_snap_receiver_init(&n->snap_rx, dir, stream_send, n); /* leftovers of both sides removed */
}

static void ended(void *arg, uint64_t to, int ok) {
  (void)to;
  atomic_store((atomic_int *)arg, ok ? DONE : FAILED); /* its snap_end[i] */
}

/* Joins members[i]'s transfer when its thread is done. */
static void reap(lkv__causal_node_t *n, size_t i) {
  int end = atomic_load(&n->snap_end[i]);
  if (!n->snap_out[i] || end == RUNNING) return;
  lkv_snap_sender_free(n->snap_out[i]);
  n->snap_out[i] = NULL;
  if (end == FAILED) /* the next due snapshot starts another */
    fprintf(stderr,
            "ledgerkv: causal member %016llx: the snapshot transfer to member %016llx did not complete (the "
            "member refused it, went away or stopped answering): dropped\n",
            (unsigned long long)n->o.member_id, (unsigned long long)n->members[i].id);
}

int lkv__causal_stream_busy(lkv__causal_node_t *n, size_t i) {
  reap(n, i);
  return n->snap_out[i] != NULL;
}

int lkv__causal_stream_start(lkv__causal_node_t *n, size_t i, const uint8_t *snap, size_t len) {
  /* The file streamed is the receiver's pending file as is (causal_snap.c): sender u64 ‖ the snapshot. It
   * need not be durable: the sender opens it at start and it is unlinked at once (a crash leaves it to the
   * receiver's clean-up at the next start). */
  char path[4096 + 64];
  snprintf(path, sizeof(path), "%s/to-%016llx.snap", n->snap_rx.dir, (unsigned long long)n->members[i].id);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  uint8_t from[8];
  lkv_le64_put(from, n->o.member_id);
  int rc = lkv_fs_write_all(fd, from, sizeof(from));
  if (!rc) rc = lkv_fs_write_all(fd, snap, len);
  close(fd);
  static const uint8_t none = 0; /* the stream's Raft metadata and ledger frontier: unused here */
  lkv_snap_sender_options_t o = {.to = n->members[i].id,
                                 .path = path,
                                 .raft_msg = &none,
                                 .frontier = &none,
                                 .send = stream_send,
                                 .send_arg = n,
                                 .done = ended,
                                 .arg = &n->snap_end[i]};
  atomic_store(&n->snap_end[i], RUNNING);
  if (!rc) rc = lkv_snap_sender_start(&n->snap_out[i], &o);
  unlink(path);
  return rc;
}

/* This member's room for a snapshot: its space quota (--quota-backend-bytes: the state it installs must fit
 * in the store) and the disk's free space, the lesser; *what names it for the log. */
static uint64_t budget(const lkv__causal_node_t *n, const char **what) {
  lkv_mvcc_stat_t st;
  uint64_t quota = lkv_mvcc_stat(n->o.store, &st) == 0 ? st.quota_bytes : UINT64_MAX, room;
  *what = "--quota-backend-bytes";
  if (lkv_fs_free_bytes(n->snap_rx.dir, &room) == 0 && room < quota) {
    *what = "the disk's free space";
    return room;
  }
  return quota;
}

/* Refuses an offer (status FAILED) without touching the transfer under way. */
static void refuse(lkv__causal_node_t *n, uint64_t from, uint64_t id) {
  lkv_snap_msg_t m = {.type = LKV_SNAP_ACK, .id = id, .status = LKV_SNAP_FAILED};
  uint8_t buf[32];
  stream_send(n, from, buf, lkv_snap_msg_encode(&m, buf, sizeof(buf)));
}

/* A stream message from member `from`: an ACK for this member's transfer to it, or the other side's
 * messages for the receiver; a completed transfer is kept for the round's end (a newer one replaces it). */
static void take(lkv__causal_node_t *n, uint64_t from, const uint8_t *data, size_t len, uint64_t mono) {
  lkv_snap_msg_t m;
  int i = lkv__causal_member_index(n, from);
  if (i < 0 || lkv_snap_msg_decode(data, len, &m) != 0) return;
  if (m.type == LKV_SNAP_ACK) {
    if (n->snap_out[i]) lkv_snap_sender_ack(n->snap_out[i], &m);
    return;
  }
  if (m.type == LKV_SNAP_OFFER && n->snap_rx.fd >= 0 && n->snap_rx.from != from &&
      mono - n->snap_rx_ms < LKV_SNAP_STALL_MS) {
    refuse(n, from, m.id); /* another member's transfer is under way: finished first */
    return;
  }
  const char *what = NULL;
  if (m.type == LKV_SNAP_OFFER) n->snap_rx.max_size = budget(n, &what);
  if (m.type == LKV_SNAP_OFFER || from == n->snap_rx.from) n->snap_rx_ms = mono;
  lkv_snap_received_t got;
  int rc = lkv_snap_receiver_feed(&n->snap_rx, from, &m, &got);
  if (rc == LKV_ETOOLARGE)
    fprintf(
        stderr,
        "ledgerkv: causal member %016llx: refused a snapshot of %llu bytes from member %016llx: more than "
        "%s (%llu bytes)\n",
        (unsigned long long)n->o.member_id, (unsigned long long)m.size, (unsigned long long)from, what,
        (unsigned long long)n->snap_rx.max_size);
  if (rc != 1) return;
  if (n->snap_got) { /* not installed yet: the newer covers more */
    unlink(n->snap_got->path);
    lkv_snap_received_free(n->snap_got);
  } else if (!(n->snap_got = malloc(sizeof(*n->snap_got)))) {
    unlink(got.path); /* sent again */
    lkv_snap_received_free(&got);
    return;
  }
  *n->snap_got = got;
}

int lkv__causal_stream_keep(lkv__causal_node_t *n, lkv__causal_in_t *in, uint64_t mono) {
  if (in->len < 1 || in->data[0] != LKV__CAUSAL_MSG_SNAPSHOT) return 0;
  take(n, in->from, in->data + 1, in->len - 1, mono);
  free(in);
  return 1;
}

lkv_snap_received_t *lkv__causal_stream_take(lkv__causal_node_t *n, uint64_t mono) {
  if (n->snap_rx.fd >= 0 && mono - n->snap_rx_ms >= 2 * LKV_SNAP_STALL_MS) {
    fprintf(stderr,
            "ledgerkv: causal member %016llx: the snapshot transfer from member %016llx stopped (nothing for "
            "%d s): dropped\n",
            (unsigned long long)n->o.member_id, (unsigned long long)n->snap_rx.from,
            2 * LKV_SNAP_STALL_MS / 1000);
    lkv_snap_receiver_close(&n->snap_rx); /* its file removed; the sender starts another */
  }
  lkv_snap_received_t *got = n->snap_got;
  n->snap_got = NULL;
  return got;
}

void lkv__causal_stream_stop(lkv__causal_node_t *n) {
  for (size_t i = 0; i < LKV_CAUSAL_MAX_ORIGINS; i++) {
    lkv_snap_sender_free(n->snap_out[i]); /* ends it if it runs */
    n->snap_out[i] = NULL;
  }
  lkv_snap_receiver_close(&n->snap_rx);
  if (n->snap_got) {
    unlink(n->snap_got->path);
    lkv_snap_received_free(n->snap_got);
    free(n->snap_got);
    n->snap_got = NULL;
  }
}
