/* Checkpoints of a logged store: a flushed compact copy that a rebuild starts from instead of nothing. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "mvcc/internal.h"

/*
 * A rebuild replays the log from the store's revision: from nothing, unless a checkpoint exists. A
 * checkpoint is a compact copy of one committed snapshot (LMDB's hot copy), flushed and then renamed into
 * place (lkv__publish), so the file in place is always complete; the log holds every revision after it,
 * since the store commits nothing the log has not flushed.
 *
 * The copy is written back in small steps while it is made. Left to the kernel, hundreds of megabytes of
 * new file data would be written back in large transactions, and on ext4 (data=ordered) every flush of
 * the log then waits for them: measured with a 200 MB store and a checkpoint every 2 s, put p99 went from
 * 3.6 ms to 111 ms.
 *
 * The copy reads one snapshot, and while it runs LMDB cannot reuse the pages that later commits free:
 * the file grows by about every page written meanwhile (a batch of puts rewrites tens of pages). The
 * copy is therefore abandoned, keeping the previous checkpoint, once the file has grown by a quarter of
 * the quota since it began: the map (twice the quota) must keep room for the data itself.
 */

/* Bytes written back at a time, and the pace at most: a background copy should not take the disk (or a
 * core) from the requests, nor hold its snapshot for long; 2 GiB, etcd's default quota, takes 32 s. */
#define CHECKPOINT_STEP (8u << 20)
#define CHECKPOINT_BYTES_PER_S (64u << 20)

/* How often a paced copy looks at the store's growth while it waits. */
#define CHECKPOINT_WATCH_NS 10000000u

/* What a checkpoint may let the file grow by, at least. */
#define CHECKPOINT_MIN_GROWTH ((uint64_t)64 << 20)

typedef struct copy_job_s {
  const lkv_mvcc_t *s;
  int pipe_w;
  int rc;
} copy_job_t;

static void *copy_main(void *arg) {
  copy_job_t *job = arg;
  /* An abandoned copy finds its pipe closed: the write must fail (EPIPE), not kill the process. */
  sigset_t pipe_sig;
  sigemptyset(&pipe_sig);
  sigaddset(&pipe_sig, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
  job->rc = lkv__mdb_err(mdb_env_copyfd2(job->s->env, job->pipe_w, MDB_CP_COMPACT));
  close(job->pipe_w); /* end of file for the reader */
  return NULL;
}

/* Pages the store's file holds (the highest page in use + 1). */
static uint64_t file_pages(const lkv_mvcc_t *s) {
  MDB_envinfo info;
  return mdb_env_info(s->env, &info) == 0 ? (uint64_t)info.me_last_pgno + 1 : 0;
}

/* While a checkpoint copies: LKV_ECANCELED once the store's file grew beyond the allowance, LKV_ESTOPPED
 * once the caller wants it to stop. */
typedef struct growth_guard_s {
  const lkv_mvcc_t *s;
  uint64_t start_pages, max_pages;
  const atomic_int *stop;
} growth_guard_t;

static int guard_check(const growth_guard_t *g) {
  if (g->stop && atomic_load(g->stop)) return LKV_ESTOPPED;
  return file_pages(g->s) > g->start_pages + g->max_pages ? LKV_ECANCELED : 0;
}

/* Waits until `done` bytes are no ahead of the pace since start_ns, watching the guard every
 * CHECKPOINT_WATCH_NS meanwhile (commits may free pages fast). Returns 0 or guard_check's code. */
static int pace_and_watch(const growth_guard_t *g, uint64_t start_ns, off_t done) {
  uint64_t due = start_ns + (uint64_t)done * 1000000000u / CHECKPOINT_BYTES_PER_S;
  for (;;) {
    int rc = guard_check(g);
    uint64_t now = lkv_clock_ns(CLOCK_MONOTONIC);
    if (rc || now >= due) return rc;
    uint64_t nap = due - now < CHECKPOINT_WATCH_NS ? due - now : CHECKPOINT_WATCH_NS;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)nap};
    nanosleep(&ts, NULL);
  }
}

/* The copy goes to its file with O_DIRECT where the file system allows it (as LMDB's own mdb_env_copy2):
 * written through the page cache, the kernel's copy of every page into new cache pages and their
 * write-back cost as much CPU as the rest of a cluster member's work while a checkpoint runs (measured
 * under puts: a checkpoint every ~50,000 entries here, by LOG_BYTES in raft_snap.c). Direct writes need
 * aligned buffers, offsets and lengths: the buffer is aligned, every write but the last is a whole buffer,
 * and a write the file system refuses is made again through the page cache. */
#define DIRECT_ALIGN 4096u
#define COPY_BUF (1u << 20)

static int set_direct(int fd, int on) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT);
}

/* Reads until buf is full or the input ends (a pipe gives at most its capacity per read); returns the
 * bytes read or a negative errno. */
static ssize_t read_full(int in, char *buf, size_t cap) {
  size_t got = 0;
  while (got < cap) {
    ssize_t n = read(in, buf + got, cap - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

/* Writes all of buf; *direct says whether out still has O_DIRECT, cleared for an unaligned length or a
 * direct write refused with EINVAL. */
static int write_all(int out, const char *buf, size_t len, int *direct) {
  if (*direct && len % DIRECT_ALIGN) *direct = set_direct(out, 0) == 0 ? 0 : *direct;
  for (size_t off = 0; off < len;) {
    ssize_t w = write(out, buf + off, len - off);
    if (w < 0 && errno == EINVAL && *direct && set_direct(out, 0) == 0) {
      *direct = 0;
      continue;
    }
    if (w < 0 && errno != EINTR) return -errno;
    if (w > 0) off += (size_t)w;
  }
  return 0;
}

/* Moves everything from in to out, writing out back every CHECKPOINT_STEP bytes (a no-op for direct
 * writes); with a guard (a checkpoint) at the pace at most, stopping early when the guard says so
 * (guard_check). Stops at the first failure: a copy writing into a pipe then fails its next write
 * (fill_checkpoint closes the pipe). */
static int drain_to_file(int in, int out, const growth_guard_t *guard) {
  void *mem;
  if (posix_memalign(&mem, DIRECT_ALIGN, COPY_BUF) != 0) return LKV_ENOMEM;
  char *buf = mem;
  int rc = 0, direct = set_direct(out, 1) == 0;
  off_t done = 0, synced = 0;
  uint64_t start = lkv_clock_ns(CLOCK_MONOTONIC);
  for (;;) {
    ssize_t n = read_full(in, buf, COPY_BUF);
    if (n < 0) rc = (int)n;
    if (n <= 0) break;
    rc = write_all(out, buf, (size_t)n, &direct);
    done += n;
    if (!rc && done - synced >= (off_t)CHECKPOINT_STEP) {
      unsigned flags = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
      if (sync_file_range(out, synced, done - synced, flags) != 0) rc = -errno;
      synced = done;
      if (!rc && guard) rc = pace_and_watch(guard, start, done);
    }
    if (rc || (size_t)n < COPY_BUF) break;
  }
  free(buf);
  return rc;
}

typedef struct checkpoint_arg_s {
  const lkv_mvcc_t *s;
  const atomic_int *stop;
  int (*before_publish)(void *arg);
  void *before_arg;
} checkpoint_arg_t;

static int fill_checkpoint(int fd, const void *arg) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -errno;
  const lkv_mvcc_t *s = ((const checkpoint_arg_t *)arg)->s;
  copy_job_t job = {.s = s, .pipe_w = p[1]};
  MDB_stat st;
  if (mdb_env_stat(s->env, &st) != 0 || st.ms_psize == 0) st.ms_psize = 4096;
  uint64_t allowance = s->quota / 4 > CHECKPOINT_MIN_GROWTH ? s->quota / 4 : CHECKPOINT_MIN_GROWTH;
  growth_guard_t guard = {.s = s,
                          .start_pages = file_pages(s),
                          .max_pages = allowance / st.ms_psize,
                          .stop = ((const checkpoint_arg_t *)arg)->stop};
  pthread_t t;
  if (pthread_create(&t, NULL, copy_main, &job) != 0) {
    close(p[0]);
    close(p[1]);
    return LKV_ENOMEM;
  }
  int rc = drain_to_file(p[0], fd, &guard);
  close(p[0]); /* an abandoned copy fails its next write and ends */
  pthread_join(t, NULL);
  if (!rc) rc = job.rc;
  const checkpoint_arg_t *ca = arg;
  if (!rc && ca->before_publish) rc = ca->before_publish(ca->before_arg);
  return rc;
}

int lkv_mvcc_checkpoint(lkv_mvcc_t *s, const atomic_int *stop) {
  return lkv_mvcc_checkpoint_before(s, stop, NULL, NULL);
}

int lkv_mvcc_checkpoint_before(lkv_mvcc_t *s, const atomic_int *stop, int (*before_publish)(void *arg),
                               void *arg) {
  if (!s->logged) return LKV_EINVAL; /* a flushed store is its own checkpoint */
  checkpoint_arg_t ca = {.s = s, .stop = stop, .before_publish = before_publish, .before_arg = arg};
  pthread_mutex_lock(&s->ckpt_mu);
  uint64_t installs = s->installs;
  pthread_mutex_unlock(&s->ckpt_mu);
  lkv__gate_enter(s); /* the copy reads the environment: no defragment may swap it meanwhile */
  int rc = lkv__publish_prepare(s->db_dir, LKV__CHECKPOINT_NAME, fill_checkpoint, &ca);
  lkv__gate_leave(s);
  if (rc) return rc;
  /* A copy installed meanwhile (lkv_mvcc_install) is newer than this one and already the checkpoint. */
  pthread_mutex_lock(&s->ckpt_mu);
  int stale = s->installs != installs;
  rc = lkv__publish_commit(s->db_dir, LKV__CHECKPOINT_NAME, !stale);
  pthread_mutex_unlock(&s->ckpt_mu);
  return rc ? rc : stale ? LKV_EAGAIN : 0;
}

/* Copies the file named by arg into fd, at full speed: the server is starting and waits for it. */
static int fill_copy(int fd, const void *arg) {
  int in = open(arg, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -errno;
  int rc = drain_to_file(in, fd, NULL);
  close(in);
  return rc;
}

int lkv__checkpoint_restore(const char *db_dir, int *restored) {
  char path[PATH_MAX];
  int rc = lkv__db_path(db_dir, LKV__CHECKPOINT_NAME, path, sizeof(path));
  if (rc) return rc;
  if (access(path, F_OK) != 0) return errno == ENOENT ? 0 : -errno;
  rc = lkv__publish(db_dir, "data.mdb", fill_copy, path);
  *restored = rc == 0;
  return rc;
}
