/* raft-sim: runs seeds of the deterministic Raft simulation, replays one with a trace, and runs the
 * bug-injection matrix (every switch of lkv_raft_bug_t must be caught). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

typedef struct {
  uint64_t start, count, max_seeds;
  int single, matrix;
  uint64_t determinism; /* run the first N seeds twice and compare their trace digests */
  const char *out;
  lkv__sim_opts_t o;
} args_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_bugs(const char *list, unsigned *bugs) {
  char buf[512];
  snprintf(buf, sizeof(buf), "%s", list);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    unsigned found = 0;
    for (unsigned i = 0; i < LKV_RAFT_BUG_COUNT; i++)
      if (strcmp(tok, lkv_raft_bug_name(1u << i)) == 0) found = 1u << i;
    if (!found) {
      fprintf(stderr, "raft-sim: unknown bug %s\n", tok);
      return -1;
    }
    *bugs |= found;
  }
  return 0;
}

static void bug_names(unsigned bugs, char *out, size_t cap) {
  out[0] = 0;
  for (unsigned i = 0; i < LKV_RAFT_BUG_COUNT; i++)
    if (bugs & (1u << i)) {
      size_t len = strlen(out);
      snprintf(out + len, cap - len, "%s%s", len ? "," : "", lkv_raft_bug_name(1u << i));
    }
}

/* The command that replays seed with a trace. */
static void replay_cmd(const char *argv0, const args_t *a, uint64_t seed, unsigned bugs, char *out,
                       size_t cap) {
  char names[512];
  bug_names(bugs, names, sizeof(names));
  int n = snprintf(out, cap, "%s --seed %llu --trace", argv0, (unsigned long long)seed);
  if (bugs && n > 0 && (size_t)n < cap) n += snprintf(out + n, cap - (size_t)n, " --bugs %s", names);
  if (a->o.nodes && n > 0 && (size_t)n < cap)
    n += snprintf(out + n, cap - (size_t)n, " --nodes %d", a->o.nodes);
  if (a->o.fault_ticks && n > 0 && (size_t)n < cap)
    n += snprintf(out + n, cap - (size_t)n, " --steps %llu", (unsigned long long)a->o.fault_ticks);
  if (a->o.consequences_only && n > 0 && (size_t)n < cap)
    snprintf(out + n, cap - (size_t)n, " --consequences-only");
}

static int run_one(const args_t *a, uint64_t seed, unsigned bugs, int trace, int digest, lkv__sim_t *s) {
  lkv__sim_opts_t o = a->o;
  o.seed = seed;
  o.bugs = bugs;
  o.trace = trace;
  o.digest = digest;
  return lkv__sim_run(s, &o);
}

static int seeds(const char *argv0, const args_t *a) {
  uint64_t fails = 0, steps = 0, nondet = 0;
  double t0 = now_s();
  lkv__sim_t *s = malloc(sizeof(*s));
  if (!s) abort();
  for (uint64_t seed = a->start; seed < a->start + a->count; seed++) {
    int check = seed - a->start < a->determinism;
    int failed = run_one(a, seed, a->o.bugs, a->o.trace, check, s);
    uint64_t digest = s->digest;
    steps += s->steps;
    if (failed) {
      char cmd[700];
      replay_cmd(argv0, a, seed, a->o.bugs, cmd, sizeof(cmd));
      printf("FAIL seed %llu: %s: %s (step %llu)\n  replay: %s\n", (unsigned long long)seed, s->fail_inv,
             s->fail_msg, (unsigned long long)s->fail_step, cmd);
      fails++;
    }
    lkv__sim_free(s);
    if (check) {
      (void)run_one(a, seed, a->o.bugs, 0, 1, s);
      if (s->digest != digest) {
        printf("FAIL seed %llu: nondeterministic: trace digests %016llx and %016llx differ\n",
               (unsigned long long)seed, (unsigned long long)digest, (unsigned long long)s->digest);
        nondet++;
      }
      lkv__sim_free(s);
    }
  }
  free(s);
  double dt = now_s() - t0;
  printf(
      "raft-sim: %llu seeds from %llu, %llu violations, %llu nondeterministic (%llu replayed twice), "
      "%llu steps, %.1f s, %.0f seeds/s\n",
      (unsigned long long)a->count, (unsigned long long)a->start, (unsigned long long)fails,
      (unsigned long long)nondet, (unsigned long long)(a->determinism < a->count ? a->determinism : a->count),
      (unsigned long long)steps, dt, dt > 0 ? (double)a->count / dt : 0.0);
  return fails || nondet ? 1 : 0;
}

static int single(const char *argv0, const args_t *a) {
  lkv__sim_t *s = malloc(sizeof(*s));
  if (!s) abort();
  int failed = run_one(a, a->start, a->o.bugs, a->o.trace, 1, s);
  if (failed) {
    char cmd[700];
    replay_cmd(argv0, a, a->start, a->o.bugs, cmd, sizeof(cmd));
    printf("FAIL seed %llu: %s: %s (step %llu)\n  replay: %s\n", (unsigned long long)a->start, s->fail_inv,
           s->fail_msg, (unsigned long long)s->fail_step, cmd);
  }
  printf(
      "seed %llu: %s, %llu steps, committed %llu, %llu delivered, %llu crashes, %llu reads, %llu membership "
      "changes applied, %llu snapshots installed, %llu transfers, digest %016llx\n",
      (unsigned long long)a->start, failed ? "VIOLATION" : "ok", (unsigned long long)s->steps,
      (unsigned long long)s->gmax, (unsigned long long)s->n_delivered, (unsigned long long)s->n_crashes,
      (unsigned long long)s->n_reads_ok, (unsigned long long)s->n_conf_applied,
      (unsigned long long)s->n_snap_installs, (unsigned long long)s->n_transfers_ok,
      (unsigned long long)s->digest);
  lkv__sim_free(s);
  free(s);
  return failed;
}

typedef struct {
  volatile uint64_t current;
  int found;
  uint64_t seed;
  char inv[48];
  char msg[400];
} shared_t;

/* Each bug runs in a child process: a core that aborts on its own assertion is a catch, not a crash of
 * the matrix. */
static void hunt(const args_t *a, unsigned bug, shared_t *sh) {
  memset(sh, 0, sizeof(*sh));
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    lkv__sim_t *s = malloc(sizeof(*s));
    if (!s) _exit(2);
    for (uint64_t seed = a->start; seed < a->start + a->max_seeds; seed++) {
      sh->current = seed;
      int failed = run_one(a, seed, bug, 0, 0, s);
      if (failed) {
        sh->seed = seed;
        snprintf(sh->inv, sizeof(sh->inv), "%s", s->fail_inv);
        snprintf(sh->msg, sizeof(sh->msg), "%s", s->fail_msg);
        sh->found = 1;
        _exit(0);
      }
      lkv__sim_free(s);
    }
    _exit(0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return;
  if (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0)) {
    sh->found = 1;
    sh->seed = sh->current;
    snprintf(sh->inv, sizeof(sh->inv), "core-assertion");
    snprintf(sh->msg, sizeof(sh->msg), "the core stopped itself (%s %d)",
             WIFSIGNALED(status) ? "signal" : "exit",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  }
}

static int matrix(const char *argv0, const args_t *a) {
  shared_t *sh = mmap(NULL, sizeof(shared_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) return 2;
  FILE *out = a->out ? fopen(a->out, "w") : NULL;
  int missed = 0;
  const char *head = "| bug | caught by | seed | seeds run | seconds |\n|---|---|---|---|---|\n";
  printf("bug-injection matrix: seeds from %llu, at most %llu per bug\n%s", (unsigned long long)a->start,
         (unsigned long long)a->max_seeds, head);
  if (out) fprintf(out, "%s", head);
  for (unsigned i = 0; i < LKV_RAFT_BUG_COUNT; i++) {
    double t0 = now_s();
    hunt(a, 1u << i, sh);
    char row[600];
    if (sh->found)
      snprintf(row, sizeof(row), "| %s | %s | %llu | %llu | %.1f |\n", lkv_raft_bug_name(1u << i), sh->inv,
               (unsigned long long)sh->seed, (unsigned long long)(sh->seed - a->start + 1), now_s() - t0);
    else
      snprintf(row, sizeof(row), "| %s | NOT CAUGHT | - | %llu | %.1f |\n", lkv_raft_bug_name(1u << i),
               (unsigned long long)a->max_seeds, now_s() - t0);
    printf("%s", row);
    if (out) fprintf(out, "%s", row);
    if (sh->found) {
      char cmd[700];
      replay_cmd(argv0, a, sh->seed, 1u << i, cmd, sizeof(cmd));
      printf("    %s\n    replay: %s\n", sh->msg, cmd);
    }
    fflush(stdout);
    missed += !sh->found;
  }
  if (out) fclose(out);
  munmap(sh, sizeof(shared_t));
  if (a->out) printf("table written to %s\n", a->out);
  printf("%d of %d injected bugs caught\n", LKV_RAFT_BUG_COUNT - missed, LKV_RAFT_BUG_COUNT);
  return missed ? 1 : 0;
}

static void usage(void) {
  fprintf(
      stderr,
      "usage: raft-sim --seeds N --start S [--nodes K] [--steps M] [--bugs NAME,...] [--determinism D]\n"
      "       raft-sim --seed S [--trace] [--bugs NAME,...] [--nodes K] [--steps M] [--consequences-only]\n"
      "       raft-sim --matrix [--start S] [--max-seeds N] [--out FILE] [--steps M] [--consequences-only]\n"
      "  --steps M: ticks of the fault phase (default: 150..600 from the seed)\n"
      "  --consequences-only: check only for damage (not the durable-promise, commit and membership rules)\n"
      "  bugs: COMMIT_OLD_TERM, VOTE_BEFORE_DURABLE, ... (raft.h lkv_raft_bug_t)\n");
}

int main(int argc, char **argv) {
  args_t a;
  memset(&a, 0, sizeof(a));
  a.start = 1;
  a.count = 100;
  a.max_seeds = 2000;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(k, "--trace")) {
      a.o.trace = 1;
      continue;
    }
    if (!strcmp(k, "--matrix")) {
      a.matrix = 1;
      continue;
    }
    if (!strcmp(k, "--consequences-only")) {
      a.o.consequences_only = 1;
      continue;
    }
    if (!v) {
      usage();
      return 2;
    }
    i++;
    if (!strcmp(k, "--seeds"))
      a.count = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--start"))
      a.start = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--seed"))
      a.start = strtoull(v, NULL, 10), a.single = 1;
    else if (!strcmp(k, "--nodes"))
      a.o.nodes = atoi(v);
    else if (!strcmp(k, "--steps"))
      a.o.fault_ticks = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--max-seeds"))
      a.max_seeds = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--determinism"))
      a.determinism = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--out"))
      a.out = v;
    else if (!strcmp(k, "--bugs")) {
      if (parse_bugs(v, &a.o.bugs)) return 2;
    } else {
      usage();
      return 2;
    }
  }
  if (a.o.nodes && (a.o.nodes < 1 || a.o.nodes > 7)) {
    fprintf(stderr, "raft-sim: --nodes must be 1..7\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (a.matrix) return matrix(argv[0], &a);
  if (a.single) return single(argv[0], &a);
  return seeds(argv[0], &a);
}
