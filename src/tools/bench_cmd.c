/* The `ledgerkv bench` command: arguments, signals, the run and its report. */
#include "tools/bench_cmd.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bench/args.h"
#include "bench/report.h"
#include "bench/run.h"
#include "common/error.h"

static void on_signal(int sig) {
  (void)sig;
  lkv_bench_interrupt();
}

int lkv_cmd_bench(int argc, char **argv) {
  lkv_bench_config_t cfg;
  lkv_bench_result_t res;
  char err[256];
  int rc = lkv_bench_args_parse(&cfg, argc - 1, argv + 1, err, sizeof(err));
  if (rc == LKV_BENCH_ARGS_HELP) return 0;
  if (rc != 0) {
    fprintf(stderr, "ledgerkv bench: %s\nRun 'ledgerkv bench --help' for the workloads and flags.\n",
            err[0] ? err : lkv_strerror(rc));
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int status = 3;
  rc = lkv_bench_run(&cfg, &res, cfg.progress ? stderr : NULL);
  if (rc != 0) {
    fprintf(stderr, "ledgerkv bench: %s\n", lkv_strerror(rc));
  } else {
    rc = cfg.json ? lkv_bench_report_json(stdout, &cfg, &res) : lkv_bench_report_text(stdout, &cfg, &res);
    if (rc == 0) status = res.aborted || lkv_bench_stats_errors(&res.stats) > 0 ? 1 : 0;
  }
  lkv_bench_result_free(&res);
  lkv_bench_args_free(&cfg);
  return status;
}
