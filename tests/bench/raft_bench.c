/* raft-bench: entries per CPU-second through the Raft core (3 members, no I/O), and durable-log appends/s. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "raft/raft.h"
#include "wal/wal.h"

/*
 * Three members, ids 1..3, in one process. Messages go straight from a ready batch into the recipient's
 * lkv_raft_step (step copies its input, so nothing is queued); "persisting" is a no-op; committed entries
 * are counted, not applied. Each round proposes `batch` entries of `payload` bytes on the leader and then
 * handles ready batches on every member until none has work, so a round is one full replication and
 * commit of the batch. The figure is entries committed on the leader per second of the process's CPU
 * time (CLOCK_PROCESS_CPUTIME_ID), which covers all three members' work. Logs are compacted every
 * COMPACT_EVERY entries so memory stays flat, as a real member's would.
 *
 * The durable log is measured alone, as one member's ready batches would use it: each save holds `batch`
 * entries and the hard state, with one flush. The figure is entries per second of wall time (the flush
 * waits for the disk). The log is reopened afterwards to check that recovery finds every entry.
 */

#define N_MEMBERS 3
#define COMPACT_EVERY 65536

typedef struct {
  lkv_raft_t *r;
  uint64_t rng;
  uint64_t applied;  /* last committed index handed out and acknowledged */
  uint64_t payloads; /* committed normal entries of the benchmark's payload size */
} member_t;

typedef struct {
  member_t m[N_MEMBERS + 1]; /* [id], 0 unused */
  size_t payload;
  uint64_t readies;
  uint64_t msgs;
} cluster_t;

/* One run of one case. */
typedef struct {
  uint64_t entries;
  double cpu, wall;
  double rate; /* core: entries per CPU-second; log: entries per wall-clock second */
  double a, b; /* core: readies and messages per round; log: saves (flushes) per second, reopen seconds */
} result_t;

static void die(const char *what, int rc) {
  fprintf(stderr, "raft-bench: %s: %s\n", what, lkv_strerror(rc));
  exit(1);
}

static uint64_t splitmix(void *arg) {
  uint64_t *s = arg;
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void deliver(cluster_t *c, const lkv_raft_msg_t *ms, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (ms[i].to < 1 || ms[i].to > N_MEMBERS) continue;
    int rc = lkv_raft_step(c->m[ms[i].to].r, &ms[i]);
    if (rc) die("step", rc);
  }
  c->msgs += n;
}

/* Handles one ready batch of member id in the contract's order; returns 0 when it had none. */
static int handle_ready(cluster_t *c, lkv_raft_id_t id) {
  member_t *mb = &c->m[id];
  lkv_raft_ready_t rd;
  if (!lkv_raft_ready(mb->r, &rd)) return 0;
  c->readies++;
  deliver(c, rd.msgs, rd.n_msgs);
  /* Durable writes would happen here; this benchmark measures the core alone. */
  deliver(c, rd.msgs_after_persist, rd.n_msgs_after_persist);
  for (size_t i = 0; i < rd.n_committed; i++) {
    const lkv_raft_entry_t *e = &rd.committed[i];
    if (e->type == LKV_RAFT_ENTRY_CONF_CHANGE) {
      int rc = lkv_raft_apply_conf_change(mb->r, e, 1, NULL);
      if (rc) die("apply_conf_change", rc);
    } else if (e->len == c->payload) {
      mb->payloads++;
    }
    mb->applied = e->index;
  }
  int rc = lkv_raft_advance(mb->r, &rd);
  if (rc) die("advance", rc);
  return 1;
}

/* Runs every member's ready batches until none has work (messages are delivered synchronously). */
static void settle(cluster_t *c) {
  for (int busy = 1; busy;) {
    busy = 0;
    for (lkv_raft_id_t id = 1; id <= N_MEMBERS; id++)
      while (handle_ready(c, id)) busy = 1;
  }
}

/* Snapshots and compacts every member at the lowest applied index, so no follower needs a snapshot. */
static void compact_all(cluster_t *c) {
  uint64_t low = UINT64_MAX;
  for (lkv_raft_id_t id = 1; id <= N_MEMBERS; id++)
    if (c->m[id].applied < low) low = c->m[id].applied;
  for (lkv_raft_id_t id = 1; id <= N_MEMBERS; id++) {
    lkv_raft_status_t st;
    lkv_raft_status(c->m[id].r, &st);
    if (low <= st.snapshot_index) continue;
    lkv_raft_snapshot_meta_t meta = {.index = low, .conf = st.conf};
    int rc = lkv_raft_set_snapshot(c->m[id].r, &meta);
    if (rc) die("set_snapshot", rc);
    rc = lkv_raft_compact(c->m[id].r, low);
    if (rc) die("compact", rc);
  }
}

static void cluster_start(cluster_t *c, size_t payload) {
  memset(c, 0, sizeof(*c));
  c->payload = payload;
  const lkv_raft_id_t voters[N_MEMBERS] = {1, 2, 3};
  for (lkv_raft_id_t id = 1; id <= N_MEMBERS; id++) {
    member_t *mb = &c->m[id];
    mb->rng = 0x5eed0000u + id;
    lkv_raft_config_t cfg;
    lkv_raft_config_default(&cfg, id, splitmix, &mb->rng);
    int rc = lkv_raft_new(&cfg, NULL, &mb->r);
    if (rc) die("new", rc);
    rc = lkv_raft_bootstrap(mb->r, voters, N_MEMBERS);
    if (rc) die("bootstrap", rc);
  }
  settle(c);
  int rc = lkv_raft_campaign(c->m[1].r);
  if (rc) die("campaign", rc);
  settle(c);
  lkv_raft_status_t st;
  lkv_raft_status(c->m[1].r, &st);
  if (st.role != LKV_RAFT_LEADER) {
    fprintf(stderr, "raft-bench: member 1 did not become leader (role %s)\n", lkv_raft_role_name(st.role));
    exit(1);
  }
}

static void cluster_stop(cluster_t *c) {
  for (lkv_raft_id_t id = 1; id <= N_MEMBERS; id++) lkv_raft_free(c->m[id].r);
}

/* One run: rounds of `batch` proposals until `seconds` of CPU time passed. */
static result_t run_core(size_t batch, size_t payload, double seconds) {
  cluster_t c;
  cluster_start(&c, payload);
  uint8_t *data = malloc(payload ? payload : 1);
  if (!data) die("malloc", LKV_ENOMEM);
  memset(data, 'x', payload);
  lkv_raft_t *leader = c.m[1].r;
  uint64_t proposed = 0, next_compact = COMPACT_EVERY, rounds = 0;
  /* The process CPU clock is a system call, not a vDSO read: at batch 1 reading it every round would
   * cost a sizeable part of a round, so it is read about every 1024 entries. */
  uint64_t check_every = batch >= 1024 ? 1 : 1024 / batch;
  double cpu0 = cpu_now(), wall0 = wall_now(), cpu1 = cpu0;
  do {
    for (size_t i = 0; i < batch; i++) {
      int rc = lkv_raft_propose(leader, data, payload, NULL, NULL);
      if (rc) die("propose", rc);
    }
    proposed += batch;
    settle(&c);
    rounds++;
    if (c.m[1].applied >= next_compact) {
      compact_all(&c);
      next_compact = c.m[1].applied + COMPACT_EVERY;
    }
    if (rounds % check_every == 0) cpu1 = cpu_now();
  } while (cpu1 - cpu0 < seconds);
  double wall1 = wall_now();
  uint64_t committed = c.m[1].payloads;
  if (committed != proposed) {
    fprintf(stderr, "raft-bench: %llu proposed but %llu committed\n", (unsigned long long)proposed,
            (unsigned long long)committed);
    exit(1);
  }
  /* The followers learn the last commit index from the next message; they must have applied the rest. */
  for (lkv_raft_id_t id = 2; id <= N_MEMBERS; id++) {
    if (c.m[id].payloads + batch < committed) {
      fprintf(stderr, "raft-bench: follower %llu applied %llu of %llu\n", (unsigned long long)id,
              (unsigned long long)c.m[id].payloads, (unsigned long long)committed);
      exit(1);
    }
  }
  double cpu = cpu1 - cpu0;
  result_t res = {committed,
                  cpu,
                  wall1 - wall0,
                  (double)committed / cpu,
                  (double)c.readies / (double)rounds,
                  (double)c.msgs / (double)rounds};
  free(data);
  cluster_stop(&c);
  return res;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* Appends batches of `batch` entries with the hard state, one save (one flush) each, for `seconds`. */
static result_t run_wal(const char *dir, size_t batch, size_t payload, double seconds) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/raft-bench-wal-%zu", dir, batch);
  nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS); /* a leftover of an interrupted run */
  lkv_wal_t *wal;
  lkv_raft_restore_t restore;
  int rc = lkv_wal_open(path, NULL, &wal, &restore);
  if (rc) die("wal open", rc);
  uint8_t *data = malloc(payload);
  lkv_raft_entry_t *es = calloc(batch, sizeof(*es));
  if (!data || !es) die("malloc", LKV_ENOMEM);
  memset(data, 'x', payload);
  lkv_raft_hard_state_t hs = {.term = 1, .vote = 1};
  uint64_t next = 1, saves = 0;
  double cpu0 = cpu_now(), wall0 = wall_now(), wall1;
  do {
    for (size_t i = 0; i < batch; i++)
      es[i] = (lkv_raft_entry_t){.term = 1, .index = next + i, .data = data, .len = payload};
    next += batch;
    hs.commit = next - 1;
    rc = lkv_wal_save(wal, &hs, NULL, es, batch);
    if (rc) die("wal save", rc);
    saves++;
    wall1 = wall_now();
  } while (wall1 - wall0 < seconds);
  double cpu = cpu_now() - cpu0, wall = wall1 - wall0;
  uint64_t appended = next - 1;
  lkv_wal_close(wal);

  double t0 = wall_now();
  rc = lkv_wal_open(path, NULL, &wal, &restore);
  if (rc) die("wal reopen", rc);
  double recover = wall_now() - t0;
  if (restore.n_entries != appended || restore.hard_state.commit != appended) {
    fprintf(stderr, "raft-bench: the log recovered %zu entries (commit %llu), %llu were saved\n",
            restore.n_entries, (unsigned long long)restore.hard_state.commit, (unsigned long long)appended);
    exit(1);
  }
  lkv_wal_close(wal);
  nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
  free(es);
  free(data);
  return (result_t){appended, cpu, wall, (double)appended / wall, (double)saves / wall, recover};
}

static int by_rate(const void *x, const void *y) {
  const result_t *a = x, *b = y;
  return (a->rate > b->rate) - (a->rate < b->rate);
}

/* Prints a case's row: the run with the median rate, and the range over all runs. */
static void print_row(const char *part, size_t batch, size_t payload, result_t *runs, int n) {
  qsort(runs, (size_t)n, sizeof(*runs), by_rate);
  const result_t *m = &runs[n / 2];
  if (strcmp(part, "core") == 0)
    printf("| core | %zu | %zu | **%.0f** | %.0f – %.0f | %llu | %.2f | %.2f | %.1f | %.1f |\n", batch,
           payload, m->rate, runs[0].rate, runs[n - 1].rate, (unsigned long long)m->entries, m->cpu, m->wall,
           m->a, m->b);
  else
    printf("| log | %zu | %zu | **%.0f** | %.0f – %.0f | %llu | %.2f | %.2f | %.0f | %.2f |\n", batch,
           payload, m->rate, runs[0].rate, runs[n - 1].rate, (unsigned long long)m->entries, m->cpu, m->wall,
           m->a, m->b);
}

static void usage(void) {
  fprintf(
      stderr,
      "usage: raft-bench [--seconds S] [--rounds N] [--payload BYTES] [--batches B,B,...] [--wal-dir DIR]\n"
      "  committed entries per CPU-second through the Raft core, 3 members, no I/O; with --wal-dir,\n"
      "  also durable-log appends per second (one flush per batch) in a subdirectory of DIR\n"
      "  each case runs --rounds times (cases interleaved) for --seconds (CPU for the core, wall for\n"
      "  the log); rows show the median run and the range\n"
      "  defaults: --seconds 1 --rounds 3 --payload 128 --batches 1,16,256\n");
  exit(2);
}

int main(int argc, char **argv) {
  double seconds = 1;
  int rounds = 3;
  size_t payload = 128;
  char batches[256] = "1,16,256";
  const char *wal_dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "--seconds") == 0)
      seconds = atof(argv[++i]);
    else if (strcmp(argv[i], "--rounds") == 0)
      rounds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--payload") == 0)
      payload = (size_t)strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--batches") == 0)
      snprintf(batches, sizeof(batches), "%s", argv[++i]);
    else if (strcmp(argv[i], "--wal-dir") == 0)
      wal_dir = argv[++i];
    else
      usage();
  }
  if (seconds <= 0 || payload == 0 || rounds < 1 || rounds > 99) usage();
  size_t sizes[32], n_sizes = 0;
  for (char *save = NULL, *tok = strtok_r(batches, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (n_sizes == 32) usage();
    sizes[n_sizes] = (size_t)strtoul(tok, NULL, 10);
    if (sizes[n_sizes++] == 0) usage();
  }
  result_t core[32][99], wal[32][99];
  for (int r = 0; r < rounds; r++) {
    for (size_t i = 0; i < n_sizes; i++) core[i][r] = run_core(sizes[i], payload, seconds);
    for (size_t i = 0; wal_dir && i < n_sizes; i++) wal[i][r] = run_wal(wal_dir, sizes[i], payload, seconds);
  }
  printf(
      "| part | batch | payload (B) | entries / CPU-s | range | entries | CPU (s) | wall (s) | readies / "
      "round "
      "| msgs / round |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (size_t i = 0; i < n_sizes; i++) print_row("core", sizes[i], payload, core[i], rounds);
  if (wal_dir) {
    printf(
        "\n| part | batch | payload (B) | entries / s | range | entries | CPU (s) | wall (s) | flushes / s "
        "| reopen (s) |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < n_sizes; i++) print_row("log", sizes[i], payload, wal[i], rounds);
  }
  return 0;
}
