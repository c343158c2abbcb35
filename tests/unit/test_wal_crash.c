/* Durable log crash test: a real writer process killed with SIGKILL at seeded random moments, optionally
 * with its unsynced tail lost, zeroed or garbled as a power cut would; every acknowledged save must survive
 * intact, nothing unwritten may appear, and writing must go on. The writer is this program run with
 * --writer DIR SEED. Environment: LKV_WAL_CRASH_SEED, LKV_WAL_CRASH_ROUNDS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "wal/internal.h"
#include "wal_testutil.h"

#define SEGMENT 32768
#define MAX_BATCH 16

static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* What the log should hold: the restore a correct log gives after a given sequence of saves. */
typedef struct {
  lkv_raft_hard_state_t hs;
  uint64_t snap_index, snap_term;
  uint64_t *terms; /* entries snap_index + 1 .. snap_index + n */
  size_t n, cap;
  uint64_t term; /* of new entries */
} model_t;

/* One save the writer makes (and the model replays). */
typedef struct {
  int has_snap, has_hs;
  lkv_raft_snapshot_meta_t snap;
  lkv_raft_hard_state_t hs;
  uint64_t lo, count, term; /* entries [lo, lo + count) of term */
  uint64_t compact;         /* compact to this index after the save (0: no) */
} plan_t;

static void model_from(model_t *m, const lkv_raft_restore_t *r) {
  m->hs = r->hard_state;
  m->snap_index = r->snapshot.index;
  m->snap_term = r->snapshot.term;
  m->n = 0;
  m->term = r->hard_state.term > r->snapshot.term ? r->hard_state.term : r->snapshot.term;
  for (size_t i = 0; i < r->n_entries; i++) {
    if (m->n == m->cap) {
      m->cap = m->cap ? m->cap * 2 : 256;
      m->terms = realloc(m->terms, m->cap * sizeof(*m->terms));
      assert_non_null(m->terms);
    }
    m->terms[m->n++] = r->entries[i].term;
    if (r->entries[i].term > m->term) m->term = r->entries[i].term;
  }
  if (m->term == 0) m->term = 1;
}

static uint64_t model_last(const model_t *m) {
  return m->snap_index + m->n;
}

static plan_t plan_next(uint64_t *rng, const model_t *m) {
  plan_t p = {0};
  uint64_t last = model_last(m), r = next_rand(rng) % 100, term = m->term;
  if (r < 6 && m->n > 0) { /* the member's own snapshot, then compaction */
    uint64_t idx = m->snap_index + 1 + next_rand(rng) % m->n;
    p.has_snap = 1;
    p.snap = (lkv_raft_snapshot_meta_t){.index = idx, .term = m->terms[idx - m->snap_index - 1]};
    uint64_t keep = next_rand(rng) % 4;
    p.compact = idx > keep ? idx - keep : idx;
  } else if (r < 9) { /* a snapshot installed from a leader of a new term: the log starts over after it */
    term++;
    p.has_snap = 1;
    p.snap = (lkv_raft_snapshot_meta_t){.index = last + 1 + next_rand(rng) % 4, .term = term};
    p.lo = p.snap.index + 1;
    p.count = next_rand(rng) % 4;
  } else if (r < 20 && m->n > 0) { /* a new leader's entries replace a suffix */
    uint64_t back = next_rand(rng) % 6;
    term++;
    p.lo = last > m->snap_index + back ? last - back : m->snap_index + 1;
    p.count = 1 + next_rand(rng) % 8;
  } else if (r < 25) { /* hard state only */
  } else {
    p.lo = last + 1;
    p.count = 1 + next_rand(rng) % MAX_BATCH;
  }
  p.term = term;
  if (p.has_snap) {
    p.snap.conf.voters[0] = 1;
    p.snap.conf.voters[1] = 2;
    p.snap.conf.voters[2] = 3;
    p.snap.conf.n_voters = 3;
  }
  if (r < 25 || next_rand(rng) % 2) {
    uint64_t end = p.count ? p.lo + p.count - 1 : p.has_snap ? p.snap.index : last;
    p.has_hs = 1;
    p.hs = (lkv_raft_hard_state_t){
        .term = term, .vote = next_rand(rng) % 4, .commit = next_rand(rng) % (end + 1)};
  }
  return p;
}

static void model_apply(model_t *m, const plan_t *p) {
  if (p->has_snap) {
    uint64_t idx = p->snap.index;
    if (idx <= model_last(m) && idx > m->snap_index && m->terms[idx - m->snap_index - 1] == p->snap.term) {
      memmove(m->terms, m->terms + (idx - m->snap_index), (m->n - (idx - m->snap_index)) * sizeof(*m->terms));
      m->n -= idx - m->snap_index;
    } else {
      m->n = 0;
    }
    m->snap_index = idx;
    m->snap_term = p->snap.term;
  }
  if (p->count) {
    m->n = p->lo - m->snap_index - 1;
    while (m->cap < m->n + p->count) {
      m->cap = m->cap ? m->cap * 2 : 256;
      m->terms = realloc(m->terms, m->cap * sizeof(*m->terms));
      assert_non_null(m->terms);
    }
    for (uint64_t i = 0; i < p->count; i++) m->terms[m->n++] = p->term;
  }
  if (p->has_hs) m->hs = p->hs;
  if (p->term > m->term) m->term = p->term;
}

static int model_matches(const model_t *m, const lkv_raft_restore_t *r) {
  if (memcmp(&m->hs, &r->hard_state, sizeof(m->hs)) || m->snap_index != r->snapshot.index ||
      m->snap_term != r->snapshot.term || m->n != r->n_entries)
    return 0;
  for (size_t i = 0; i < m->n; i++)
    if (r->entries[i].index != m->snap_index + 1 + i || r->entries[i].term != m->terms[i]) return 0;
  return 1;
}

static int do_save(lkv_wal_t *w, const plan_t *p) {
  static lkv_raft_entry_t e[MAX_BATCH];
  static uint8_t buf[MAX_BATCH * 300];
  if (p->count) wt_entries(e, buf, p->lo, p->lo + p->count - 1, p->term);
  return lkv_wal_save(w, p->has_hs ? &p->hs : NULL, p->has_snap ? &p->snap : NULL, e, (size_t)p->count);
}

/* The writer: saves forever, reporting "saved <n> <seq> <off>" once save n is durable (write(2) to the
 * pipe: no buffering to lose when it is killed). */
static int writer(const char *dir, uint64_t seed) {
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_options_t opt = {.segment_size = SEGMENT};
  model_t m = {0};
  char line[96];
  int rc = lkv_wal_open(dir, &opt, &w, &r);
  if (rc) return 2;
  model_from(&m, &r);
  int len = snprintf(line, sizeof(line), "saved 0 %" PRIu64 " %" PRIu64 "\n", w->seq, w->off);
  if (write(1, line, (size_t)len) != len) return 2;
  for (uint64_t k = 1;; k++) {
    plan_t p = plan_next(&seed, &m);
    if ((rc = do_save(w, &p))) return 3;
    model_apply(&m, &p);
    len = snprintf(line, sizeof(line), "saved %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", k, w->seq, w->off);
    if (write(1, line, (size_t)len) != len) return 2;
    if (p.compact && (rc = lkv_wal_compact(w, p.compact))) return 4;
  }
}

/* Loses what a power cut may lose: only bytes after the last acknowledged save's end (seq, off). */
static void power_cut(const char *dir, uint64_t *rng, uint64_t seq, uint64_t off) {
  char path[128];
  for (uint64_t q = seq + 1; q < seq + 8; q++) { /* segments created by unacknowledged saves */
    wt_seg_path(path, sizeof(path), dir, q);
    if (wt_exists(path) && next_rand(rng) % 2) unlink(path);
  }
  wt_seg_path(path, sizeof(path), dir, seq);
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  uint64_t size = (uint64_t)st.st_size, from = off + next_rand(rng) % 3000;
  if (from >= size) from = off;
  uint8_t junk[4096];
  switch (next_rand(rng) % 3) {
    case 0: /* the file ends early */
      assert_int_equal(ftruncate(fd, (off_t)from), 0);
      break;
    case 1: /* zeros from some point */
      memset(junk, 0, sizeof(junk));
      for (uint64_t o = from; o < size && o < from + 65536; o += sizeof(junk))
        assert_true(pwrite(fd, junk, size - o < sizeof(junk) ? size - o : sizeof(junk), (off_t)o) >= 0);
      break;
    default: /* some sectors garbled */
      for (size_t i = 0; i < sizeof(junk); i++) junk[i] = (uint8_t)next_rand(rng);
      for (int k = 0; k < 4; k++) {
        uint64_t o = from + next_rand(rng) % 4096;
        size_t n = 1 + next_rand(rng) % 512;
        if (o + n <= size) assert_true(pwrite(fd, junk, n, (off_t)o) == (ssize_t)n);
      }
  }
  close(fd);
}

static pid_t spawn_writer(const char *dir, uint64_t seed, int *out) {
  int p[2];
  char seed_s[32];
  snprintf(seed_s, sizeof(seed_s), "%" PRIu64, seed);
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    execl("/proc/self/exe", "test_wal_crash", "--writer", dir, seed_s, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  *out = p[0];
  return pid;
}

/* Reads one line from the writer's pipe. Returns 0 at the end (the writer is dead and all was read). */
static int read_line(int fd, char *buf, size_t cap) {
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t got = read(fd, buf + n, 1);
    if (got == 0) break;
    assert_int_equal(got, 1);
    if (buf[n++] == '\n') break;
  }
  buf[n] = 0;
  return n > 0;
}

static void test_kill_and_power_cut(void **state) {
  (void)state;
  const char *env_seed = getenv("LKV_WAL_CRASH_SEED"), *env_rounds = getenv("LKV_WAL_CRASH_ROUNDS");
  uint64_t seed = env_seed ? strtoull(env_seed, NULL, 0) : 20261205;
  int rounds = env_rounds ? atoi(env_rounds) : 50;
  uint64_t rng = seed | 1;
  char dir[64], line[128];
  model_t m = {0}, want = {0};
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_options_t opt = {.segment_size = SEGMENT};
  uint64_t total_saves = 0, newer = 0, cuts = 0;
  wt_tmpdir(dir);
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  model_from(&m, &r);
  lkv_wal_close(w);
  for (int round = 0; round < rounds; round++) {
    uint64_t wseed = next_rand(&rng) | 1;
    int fd;
    pid_t pid = spawn_writer(dir, wseed, &fd);
    /* Let it report a random number of saves, then kill it at a random moment of the following ones; one
     * round in eight kills it at once, while it opens (and recovers) the log. */
    uint64_t acked = 0, seq = 0, off = 0, target = next_rand(&rng) % 40;
    int reported = 0;
    if (next_rand(&rng) % 8) {
      do {
        read_line(fd, line, sizeof(line));
        assert_int_equal(sscanf(line, "saved %" SCNu64 " %" SCNu64 " %" SCNu64, &acked, &seq, &off), 3);
      } while (acked < target);
      reported = 1;
    }
    struct timespec ts = {0, (long)(next_rand(&rng) % 3000000)};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status)); /* not an early exit: a failed save or compaction */
    /* The last "saved" line tells how far the log is acknowledged. */
    while (read_line(fd, line, sizeof(line))) {
      assert_int_equal(sscanf(line, "saved %" SCNu64 " %" SCNu64 " %" SCNu64, &acked, &seq, &off), 3);
      reported = 1;
    }
    close(fd);
    if (reported && next_rand(&rng) % 2) {
      power_cut(dir, &rng, seq, off);
      cuts++;
    }
    /* Replay the writer's plan from the state it started with: the log must hold exactly the state
     * after save `acked` or, when the next one was complete on disk, after save acked + 1. */
    lkv_wal_recovery_t rep;
    opt.recovery = &rep;
    int rc = lkv_wal_open(dir, &opt, &w, &r);
    if (rc)
      fprintf(stderr, "round %d (seed %" PRIu64 ", log kept in %s): %s: %s\n", round, seed, dir,
              lkv_strerror(rc), rep.message);
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < r.n_entries; i++) assert_true(wt_intact(&r.entries[i]));
    uint64_t ws = wseed;
    free(want.terms);
    want = m;
    want.terms = malloc((m.cap ? m.cap : 1) * sizeof(*want.terms));
    assert_non_null(want.terms);
    if (m.n) memcpy(want.terms, m.terms, m.n * sizeof(*m.terms));
    plan_t p;
    for (uint64_t k = 1; k <= acked; k++) {
      p = plan_next(&ws, &want);
      model_apply(&want, &p);
    }
    int ok = model_matches(&want, &r);
    if (!ok) {
      p = plan_next(&ws, &want);
      model_apply(&want, &p);
      ok = model_matches(&want, &r);
      newer += ok;
    }
    if (!ok)
      fprintf(stderr,
              "round %d (seed %" PRIu64 "): recovered %zu entries after snapshot %" PRIu64
              ", not the state after save %" PRIu64 " or %" PRIu64 "\n",
              round, seed, r.n_entries, r.snapshot.index, acked, acked + 1);
    assert_true(ok);
    model_from(&m, &r);
    total_saves += acked;
    lkv_wal_close(w);
    opt.recovery = NULL;
  }
  /* Appending still works after the last crash, and survives a clean reopen. */
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  uint64_t last = lkv_wal_last_index(w);
  assert_int_equal(wt_save_range(w, last + 1, last + 5, m.term + 1, NULL), 0);
  wt_reopen(dir, &opt, &w, &r);
  assert_int_equal(r.entries[r.n_entries - 1].index, last + 5);
  lkv_wal_close(w);
  fprintf(stderr,
          "crash test: seed %" PRIu64 ", %d kills (%" PRIu64 " with a power cut), %" PRIu64
          " acknowledged saves, %" PRIu64 " times the unacknowledged next save was complete\n",
          seed, rounds, cuts, total_saves, newer);
  assert_true(total_saves > (uint64_t)rounds); /* the kills landed while saving */
  free(m.terms);
  free(want.terms);
  wt_rmrf(dir);
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "--writer")) return writer(argv[2], strtoull(argv[3], NULL, 0));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kill_and_power_cut),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
