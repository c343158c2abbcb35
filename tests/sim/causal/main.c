/* causal-sim: runs seeds of the deterministic causal-mode simulation, replays one with a trace, and shows
 * that each injected bug (lkv_causal_bug_t) is caught. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csim.h"

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bug_by_name(const char *name, unsigned *bug) {
  for (unsigned b = 0; b < LKV_CAUSAL_BUG_COUNT; b++)
    if (!strcmp(name, lkv_causal_bug_name(1u << b))) {
      *bug |= 1u << b;
      return 0;
    }
  fprintf(stderr, "causal-sim: no bug named %s\n", name);
  return -1;
}

static void print_failure(const char *argv0, const lkv__csim_opts_t *o, const lkv__csim_t *s) {
  printf("FAIL seed %llu: %s: %s\n  replay: %s --seed %llu --trace", (unsigned long long)o->seed, s->fail_inv,
         s->fail_msg, argv0, (unsigned long long)o->seed);
  for (unsigned b = 0; b < LKV_CAUSAL_BUG_COUNT; b++)
    if (o->bugs & (1u << b)) printf(" --bugs %s", lkv_causal_bug_name(1u << b));
  if (o->members) printf(" --members %d", o->members);
  if (o->fault_ms) printf(" --ms %llu", (unsigned long long)o->fault_ms);
  if (o->mutual) printf(" --mutual");
  printf("\n");
}

/* Seeds start..start+count-1; the first `twice` of them run a second time and must trace identically. */
static int run_seeds(const char *argv0, lkv__csim_opts_t o, uint64_t start, uint64_t count, uint64_t twice) {
  lkv__csim_t *s = malloc(sizeof(*s));
  if (!s) return 2;
  uint64_t failed = 0, differ = 0, writes = 0, acked = 0, crashes = 0, ahead = 0, corrupt = 0, quiesce = 0,
           compactions = 0, snapshots = 0, installs = 0, adds = 0, unknown = 0, unproven = 0, stable = 0;
  double t0 = seconds();
  for (uint64_t seed = start; seed < start + count; seed++) {
    o.seed = seed;
    int again = seed - start < twice;
    if (lkv__csim_run(s, &o)) {
      print_failure(argv0, &o, s);
      failed++;
    }
    uint64_t digest = s->digest;
    writes += s->n_writes, acked += s->n_acked, crashes += s->n_crashes, ahead += s->n_refused_ahead;
    corrupt += s->n_corrupt_refused, compactions += s->n_compactions;
    snapshots += s->n_snapshots, installs += s->n_installs;
    adds += s->n_adds, unknown += s->n_refused_unknown, unproven += s->n_refusals_unproven;
    stable += s->n_stable_compared;
    if (s->quiesce_ms > quiesce) quiesce = s->quiesce_ms;
    lkv__csim_free(s);
    if (!again) continue;
    lkv__csim_run(s, &o);
    if (s->digest != digest) {
      printf("FAIL seed %llu: not deterministic (trace digests %016llx, %016llx)\n", (unsigned long long)seed,
             (unsigned long long)digest, (unsigned long long)s->digest);
      differ++;
    }
    lkv__csim_free(s);
  }
  free(s);
  printf(
      "causal-sim: %llu seeds from %llu: %llu violations, %llu not deterministic (%llu run twice); %llu "
      "writes, "
      "%llu acknowledged, %llu crashes, %llu events refused as too far ahead, %llu corrupted ones refused, "
      "%llu compactions, %llu snapshots sent, %llu installed, %llu members added (%llu messages refused "
      "before "
      "the add), %llu removal refusals not proven to the refused member, slowest convergence %llu ms after "
      "healing; %.1f s\n",
      (unsigned long long)count, (unsigned long long)start, (unsigned long long)failed,
      (unsigned long long)differ, (unsigned long long)(twice < count ? twice : count),
      (unsigned long long)writes, (unsigned long long)acked, (unsigned long long)crashes,
      (unsigned long long)ahead, (unsigned long long)corrupt, (unsigned long long)compactions,
      (unsigned long long)snapshots, (unsigned long long)installs, (unsigned long long)adds,
      (unsigned long long)unknown, (unsigned long long)unproven, (unsigned long long)quiesce, seconds() - t0);
  printf("causal-sim: %llu key states compared at common vectors during the runs (docs/causal.md §6)\n",
         (unsigned long long)stable);
  return failed || differ;
}

static int run_one(const char *argv0, lkv__csim_opts_t o) {
  lkv__csim_t *s = malloc(sizeof(*s));
  if (!s) return 2;
  int failed = lkv__csim_run(s, &o);
  if (failed) print_failure(argv0, &o, s);
  printf(
      "seed %llu: %s; %d members, %llu writes, %llu acknowledged, %llu reads, %llu delivered, %llu crashes, "
      "%llu compactions, %llu snapshots sent, %llu installed, converged %llu ms after healing, digest "
      "%016llx\n",
      (unsigned long long)o.seed, failed ? "VIOLATION" : "ok", s->n, (unsigned long long)s->n_writes,
      (unsigned long long)s->n_acked, (unsigned long long)s->n_reads, (unsigned long long)s->n_delivered,
      (unsigned long long)s->n_crashes, (unsigned long long)s->n_compactions,
      (unsigned long long)s->n_snapshots, (unsigned long long)s->n_installs,
      (unsigned long long)s->quiesce_ms, (unsigned long long)s->digest);
  lkv__csim_free(s);
  free(s);
  return failed;
}

/* Every bug alone must make some seed fail within max seeds. */
static int matrix(lkv__csim_opts_t o, uint64_t start, uint64_t max) {
  lkv__csim_t *s = malloc(sizeof(*s));
  if (!s) return 2;
  int missed = 0;
  printf("| bug | caught by | seed | seeds run |\n|---|---|---|---|\n");
  for (unsigned b = 0; b < LKV_CAUSAL_BUG_COUNT; b++) {
    o.bugs = 1u << b;
    uint64_t seed = start;
    int caught = 0;
    for (; seed < start + max && !caught; seed++) {
      o.seed = seed;
      caught = lkv__csim_run(s, &o);
      if (!caught) lkv__csim_free(s);
    }
    if (caught) {
      printf("| %s | %s | %llu | %llu |\n", lkv_causal_bug_name(o.bugs), s->fail_inv,
             (unsigned long long)o.seed, (unsigned long long)(o.seed - start + 1));
      printf("    %s\n", s->fail_msg);
      lkv__csim_free(s);
    } else {
      printf("| %s | NOT CAUGHT | - | %llu |\n", lkv_causal_bug_name(o.bugs), (unsigned long long)max);
      missed++;
    }
  }
  free(s);
  printf("%d of %d injected bugs caught\n", LKV_CAUSAL_BUG_COUNT - missed, LKV_CAUSAL_BUG_COUNT);
  return missed != 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: causal-sim --seeds N [--start S] [--twice D] [--members K] [--ms M] [--mutual] [--bugs "
          "NAME]...\n"
          "       causal-sim --seed S [--trace] [--members K] [--ms M] [--mutual] [--bugs NAME]...\n"
          "       causal-sim --matrix [--start S] [--max-seeds N]\n"
          "  --ms M: milliseconds of the fault phase (default 2000..10000 from the seed)\n"
          "  bugs: APPLY_UNREADY, WINNER_NOT_TOTAL, SHIP_SKIPS_FIRST, PURGE_UNSTABLE, PURGE_COVERED_ONLY,\n"
          "        COMPACT_UNSTABLE, APPLY_REMOVED, INSTALL_KEEPS_OLD_SIBLINGS,\n"
          "        LEAVE_WITHOUT_MAJORITY, READ_CACHE, MERGE_RESURRECTS\n"
          "        (src/causal/member.h)\n");
}

int main(int argc, char **argv) {
  lkv__csim_opts_t o = {0};
  uint64_t start = 1, count = 0, twice = 0, max = 500;
  int one = 0, mat = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--mutual")) {
      o.mutual = 1;
    } else if (!strcmp(a, "--trace")) {
      o.trace = 1;
    } else if (!strcmp(a, "--matrix")) {
      mat = 1;
    } else if (i + 1 >= argc) {
      usage();
      return 2;
    } else {
      const char *v = argv[++i];
      uint64_t n = strtoull(v, NULL, 10);
      if (!strcmp(a, "--seeds"))
        count = n;
      else if (!strcmp(a, "--start"))
        start = n;
      else if (!strcmp(a, "--seed"))
        start = n, one = 1;
      else if (!strcmp(a, "--twice"))
        twice = n;
      else if (!strcmp(a, "--members"))
        o.members = (int)n;
      else if (!strcmp(a, "--ms"))
        o.fault_ms = n;
      else if (!strcmp(a, "--max-seeds"))
        max = n;
      else if (!strcmp(a, "--bugs") ? bug_by_name(v, &o.bugs) : (usage(), 1))
        return 2;
    }
  }
  if (o.members && (o.members < 1 || o.members > LKV_CSIM_MAX)) {
    fprintf(stderr, "causal-sim: --members must be 1..%d\n", LKV_CSIM_MAX);
    return 2;
  }
  if (mat) return matrix(o, start, max);
  if (one) {
    o.seed = start;
    return run_one(argv[0], o);
  }
  if (!count) {
    usage();
    return 2;
  }
  return run_seeds(argv[0], o, start, count, twice);
}
