/* The ledgerkv command: the server (etcd's flags) and its subcommands. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "server/config.h"
#include "server/sd_notify.h"
#include "server/server.h"
#include "server/version.h"
#include "tools/backup_cmd.h"
#include "tools/bench_cmd.h"
#include "tools/causal_status_cmd.h"
#include "tools/cpus_cmd.h"
#include "tools/ledger_cmd.h"
#include "tools/member_id_cmd.h"
#include "tools/snapshot_cmd.h"

/* systemd's status line (Type=notify): whether a leader is known, sent when that changes. A member of a
 * new cluster is ready once it serves, before its peers are up (docs/operations.md says why). */
static void notify_status(lkv_server_t *server, int *had_leader) {
  uint64_t leader = lkv_server_leader(server);
  if (*had_leader == (leader != 0)) return;
  *had_leader = leader != 0;
  char line[128];
  if (leader)
    snprintf(line, sizeof(line), "STATUS=serving client requests; leader %" PRIx64, leader);
  else
    snprintf(line, sizeof(line),
             "STATUS=serving client requests; no leader yet (waiting for the cluster's members)");
  lkv_sd_notify(line);
}

static int serve(int argc, char **argv) {
  lkv_config_t cfg;
  char err[512] = "";
  int rc = lkv_config_parse(&cfg, argc, argv, err, sizeof(err));
  if (rc == LKV_CONFIG_PRINTED) return 0;
  if (rc != 0) {
    fprintf(stderr, "ledgerkv: %s\nRun 'ledgerkv --help' for the flags.\n", err[0] ? err : lkv_strerror(rc));
    return 2;
  }
  /* Block the stop signals before any thread starts, so that every thread inherits the mask and only
   * sigtimedwait below receives them. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP); /* reload (lkv_server_reload), not a stop */
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  lkv_server_t *server;
  rc = lkv_server_start(&server, &cfg, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "ledgerkv: %s\n", err);
    lkv_config_free(&cfg);
    return 1;
  }
  fprintf(stderr, "ledgerkv %s (etcd %s API): ready to serve client requests on", LKV_VERSION,
          LKV_ETCD_API_VERSION);
  for (size_t i = 0; i < cfg.n_listen_client_urls; i++) fprintf(stderr, " %s", cfg.listen_client_urls[i].url);
  fprintf(stderr, " (data dir %s, %d worker threads, %d may run at once)\n", cfg.data_dir,
          lkv_server_threads(server), lkv_server_running_threads(server));

  lkv_sd_notify("READY=1");
  int had_leader = -1;
  notify_status(server, &had_leader);
  int watchdog = lkv_sd_watchdog_usec() != 0; /* pinged every second: systemd's minimum is a second */

  /* The main thread has nothing else to do: it waits for a stop signal and does the housekeeping. */
  int sig;
  const struct timespec second = {.tv_sec = 1};
  while ((sig = sigtimedwait(&stop, NULL, &second)) < 0 || sig == SIGHUP) {
    if (sig == SIGHUP)
      lkv_server_reload(server);
    else
      lkv_server_housekeeping(server);
    notify_status(server, &had_leader);
    if (watchdog) lkv_sd_notify("WATCHDOG=1");
  }
  fprintf(stderr, "ledgerkv: received %s, shutting down\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  lkv_sd_notify("STOPPING=1\nSTATUS=shutting down");
  lkv_server_stop(server);
  lkv_config_free(&cfg);
  fprintf(stderr, "ledgerkv: stopped\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "cpus") == 0) return lkv_cmd_cpus(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "bench") == 0) return lkv_cmd_bench(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "ledger-key") == 0) return lkv_cmd_ledger_key(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "receipt") == 0) return lkv_cmd_receipt(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "verify-receipt") == 0) return lkv_cmd_verify_receipt(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "audit") == 0) return lkv_cmd_audit(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "member-id") == 0) return lkv_cmd_member_id(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "causal-status") == 0) return lkv_cmd_causal_status(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "snapshot") == 0) return lkv_cmd_snapshot(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "backup") == 0) return lkv_cmd_backup(argc - 1, argv + 1);
  return serve(argc, argv);
}
