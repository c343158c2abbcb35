/* The snapshot stream: its codec, and a sender and a receiver connected in process (in order, with a
 * lost chunk, with a receiver that stops answering). */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "replication/snap_codec.h"
#include "replication/snap_stream.h"

static void test_codec_round_trips_and_refuses(void **state) {
  (void)state;
  uint8_t buf[256], raft[5] = {1, 2, 3, 4, 5}, fr[3] = {9, 8, 7};
  lkv_snap_msg_t in[] = {
      {.type = LKV_SNAP_OFFER, .id = 7, .size = 1 << 20, .raft_msg = raft, .raft_msg_len = 5, .frontier = fr,
       .frontier_len = 3},
      {.type = LKV_SNAP_CHUNK_MSG, .id = 7, .offset = 4096, .data = raft, .data_len = 5},
      {.type = LKV_SNAP_END, .id = 7, .hash = {1, 2, 3}},
      {.type = LKV_SNAP_ACK, .id = 7, .offset = 99, .status = LKV_SNAP_RECEIVED},
  };
  for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
    size_t len = lkv_snap_msg_encode(&in[i], buf, sizeof(buf));
    assert_int_equal(len, lkv_snap_msg_size(&in[i]));
    lkv_snap_msg_t out;
    assert_int_equal(lkv_snap_msg_decode(buf, len, &out), 0);
    assert_int_equal(out.type, in[i].type);
    assert_int_equal(out.id, 7);
    assert_int_equal(out.offset, in[i].offset);
    assert_int_equal(out.size, in[i].size);
    assert_int_equal(out.status, in[i].status);
    assert_int_equal(out.raft_msg_len, in[i].raft_msg_len);
    assert_int_equal(out.frontier_len, in[i].frontier_len);
    assert_int_equal(out.data_len, in[i].data_len);
    assert_memory_equal(out.hash, in[i].hash, LKV_SNAP_HASH_LEN);
    /* Shorter is refused, except a chunk cut inside its data (which is a shorter chunk). */
    size_t whole = in[i].type == LKV_SNAP_CHUNK_MSG ? len - in[i].data_len : len;
    for (size_t cut = 0; cut < whole; cut++) assert_int_equal(lkv_snap_msg_decode(buf, cut, &out), LKV_EBADMSG);
    if (in[i].type != LKV_SNAP_CHUNK_MSG) { /* a chunk's data runs to the end */
      buf[len] = 0;
      assert_int_equal(lkv_snap_msg_decode(buf, len + 1, &out), LKV_EBADMSG);
    }
  }
  assert_int_equal(lkv_snap_msg_encode(&in[0], buf, 10), 0);
  buf[0] = 2; /* another version */
  lkv_snap_msg_t out;
  assert_int_equal(lkv_snap_msg_decode(buf, lkv_snap_msg_size(&in[3]), &out), LKV_EBADMSG);
}

/* The wire between the two: the sender's messages go to the receiver, the receiver's ACKs back. */
typedef struct {
  lkv_snap_receiver_t rx;
  lkv_snap_sender_t *tx;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int drop_chunk;   /* drop the chunk with this number (-1: none) */
  int mute_acks;    /* the receiver's ACKs are lost */
  int chunks;       /* chunks seen */
  int got;          /* a complete transfer arrived */
  uint64_t max_size; /* the receiver's */
  int refused;       /* offers refused as too large */
  lkv_snap_received_t received;
  int done, ok;
} wire_t;

static int to_receiver(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  wire_t *w = arg;
  (void)to;
  lkv_snap_msg_t m;
  assert_int_equal(lkv_snap_msg_decode(msg, len, &m), 0);
  pthread_mutex_lock(&w->mu);
  int drop = m.type == LKV_SNAP_CHUNK_MSG && w->chunks++ == w->drop_chunk;
  int rc = drop ? 0 : lkv_snap_receiver_feed(&w->rx, 42, &m, &w->received);
  w->got |= rc == 1;
  w->refused += rc == LKV_ETOOLARGE;
  pthread_mutex_unlock(&w->mu);
  return 0;
}

static int to_sender(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  wire_t *w = arg;
  assert_int_equal(to, 42);
  lkv_snap_msg_t m;
  assert_int_equal(lkv_snap_msg_decode(msg, len, &m), 0);
  assert_int_equal(m.type, LKV_SNAP_ACK);
  /* Called with w->mu held (from to_receiver): the sender takes only its own lock. */
  if (!w->mute_acks) lkv_snap_sender_ack(w->tx, &m);
  return 0;
}

static void done(void *arg, uint64_t to, int ok) {
  wire_t *w = arg;
  assert_int_equal(to, 2);
  pthread_mutex_lock(&w->mu);
  w->done = 1;
  w->ok = ok;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Sends a file of size bytes through a wire set up by the caller; returns whether the sender reported ok. */
static int transfer(wire_t *w, const char *dir, size_t size) {
  char path[256];
  snprintf(path, sizeof(path), "%s/source", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  uint8_t *data = malloc(size);
  for (size_t i = 0; i < size; i++) data[i] = (uint8_t)(i * 131 + i / 7);
  assert_int_equal(write(fd, data, size), (ssize_t)size);
  close(fd);
  char rxdir[256];
  snprintf(rxdir, sizeof(rxdir), "%s/rx", dir);
  assert_int_equal(lkv_snap_receiver_init(&w->rx, rxdir, to_sender, w), 0);
  w->rx.max_size = w->max_size;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  uint8_t raft[3] = {1, 2, 3}, fr[2] = {4, 5};
  lkv_snap_sender_options_t o = {.to = 2,
                                 .path = path,
                                 .raft_msg = raft,
                                 .raft_msg_len = 3,
                                 .frontier = fr,
                                 .frontier_len = 2,
                                 .send = to_receiver,
                                 .send_arg = w,
                                 .done = done,
                                 .arg = w};
  pthread_mutex_lock(&w->mu); /* the sender's first ACK needs w->tx */
  assert_int_equal(lkv_snap_sender_start(&w->tx, &o), 0);
  while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
  pthread_mutex_unlock(&w->mu);
  int ok = w->ok;
  lkv_snap_sender_free(w->tx);
  if (w->got) {
    assert_int_equal(w->received.from, 42);
    assert_int_equal(w->received.raft_msg_len, 3);
    assert_memory_equal(w->received.raft_msg, raft, 3);
    assert_int_equal(w->received.frontier_len, 2);
    struct stat st;
    assert_int_equal(stat(w->received.path, &st), 0);
    assert_int_equal((size_t)st.st_size, size);
    uint8_t *back = malloc(size);
    fd = open(w->received.path, O_RDONLY);
    assert_int_equal(read(fd, back, size), (ssize_t)size);
    close(fd);
    assert_memory_equal(back, data, size);
    free(back);
    unlink(w->received.path);
    lkv_snap_received_free(&w->received);
  }
  lkv_snap_receiver_close(&w->rx);
  rmdir(rxdir);
  unlink(path);
  free(data);
  return ok;
}

static char *tmpdir(char *buf) {
  strcpy(buf, "/tmp/lkv-snap-test-XXXXXX");
  assert_non_null(mkdtemp(buf));
  return buf;
}

static void test_a_file_arrives_whole_through_the_window(void **state) {
  (void)state;
  char dir[64];
  /* Several windows' worth, and a size that is not a multiple of a chunk. */
  wire_t w = {.drop_chunk = -1};
  assert_true(transfer(&w, tmpdir(dir), 3 * LKV_SNAP_WINDOW + 12345));
  assert_true(w.got);
  wire_t empty = {.drop_chunk = -1};
  assert_true(transfer(&empty, dir, 0));
  assert_true(empty.got);
  rmdir(dir);
}

static void test_a_lost_chunk_fails_the_transfer(void **state) {
  (void)state;
  char dir[64];
  wire_t w = {.drop_chunk = 2};
  assert_false(transfer(&w, tmpdir(dir), 5 * LKV_SNAP_CHUNK));
  assert_false(w.got);
  rmdir(dir);
}

/* An offer above the receiver's max_size is refused at once (FAILED: the sender ends; its chunks are the rest
 * of an abandoned transfer); one of max_size goes. */
static void test_an_offer_too_large_is_refused(void **state) {
  (void)state;
  char dir[64];
  wire_t w = {.drop_chunk = -1, .max_size = 2 * LKV_SNAP_CHUNK};
  assert_false(transfer(&w, tmpdir(dir), 2 * LKV_SNAP_CHUNK + 1));
  assert_false(w.got);
  assert_int_equal(w.refused, 1);
  wire_t fits = {.drop_chunk = -1, .max_size = 2 * LKV_SNAP_CHUNK};
  assert_true(transfer(&fits, dir, 2 * LKV_SNAP_CHUNK));
  assert_true(fits.got);
  assert_int_equal(fits.refused, 0);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codec_round_trips_and_refuses),
      cmocka_unit_test(test_a_file_arrives_whole_through_the_window),
      cmocka_unit_test(test_a_lost_chunk_fails_the_transfer),
      cmocka_unit_test(test_an_offer_too_large_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
