/* The `ledgerkv backup` commands: save (a stopped data dir to a file) and restore (a new data dir). */
#include "tools/backup_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/backup.h"
#include "tools/flag_value.h"

static void usage(FILE *f) {
  fputs(
      "Usage: ledgerkv backup save --data-dir D [--wal-dir W] [--include-private-key] FILE\n"
      "Writes the store, the ledger and the members' public keys of a stopped member's data dir to FILE\n"
      "(ledgerkv's own format, checksummed; docs/backup.md). The node's private key goes in only with\n"
      "--include-private-key.\n"
      "\n"
      "Usage: ledgerkv backup restore FILE [--data-dir D] [--name N] [--initial-cluster C]\n"
      "         [--initial-cluster-token T] [--initial-advertise-peer-urls U]\n"
      "Writes a new data dir (default N.etcd) from FILE: the same ledger (receipts issued before the\n"
      "backup still chain to the heads signed after it) and store, for the member the flags name. Start\n"
      "the server with the same cluster flags.\n",
      f);
}

static int save(int argc, char **argv) {
  const char *dir = NULL, *wal = NULL, *file = NULL, *v;
  int bad = 0, private_key = 0;
  for (int i = 2; i < argc && !bad; i++) {
    if ((v = lkv_tools_flag_value("--data-dir", argc, argv, &i, &bad)))
      dir = v;
    else if ((v = lkv_tools_flag_value("--wal-dir", argc, argv, &i, &bad)))
      wal = v;
    else if (strcmp(argv[i], "--include-private-key") == 0)
      private_key = 1;
    else if (argv[i][0] == '-' || file)
      bad = 1;
    else
      file = argv[i];
  }
  if (bad || !dir || !file) {
    usage(stderr);
    return 2;
  }
  char err[512] = "";
  lkv_backup_info_t info;
  int rc = lkv_server_backup_save(dir, wal, file, private_key, &info, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "Error: %s\n", err[0] ? err : lkv_strerror(rc));
    return 1;
  }
  printf("saved the store at revision %lld, the ledger and %zu public keys%s to %s\n",
         (long long)info.revision, info.keys, private_key ? " and the node's private key" : "", file);
  return 0;
}

static int restore(int argc, char **argv) {
  lkv_backup_restore_opts_t o = {0};
  lkv_tools_restore_flags_t f = {0};
  int bad = 0;
  for (int i = 2; i < argc && !bad; i++) {
    if (lkv_tools_restore_flag(&f, argc, argv, &i, &bad))
      continue;
    else if (argv[i][0] == '-' || o.file)
      bad = 1;
    else
      o.file = argv[i];
  }
  if (bad || !o.file) {
    usage(stderr);
    return 2;
  }
  o.data_dir = f.data_dir, o.name = f.name, o.initial_cluster = f.initial_cluster, o.token = f.token;
  char err[512] = "", *keys = NULL;
  lkv_backup_info_t info;
  int rc = lkv_server_backup_restore(&o, &info, &keys, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "Error: %s\n", err[0] ? err : lkv_strerror(rc));
    return rc == LKV_EINVAL && !err[0] ? 2 : 1;
  }
  printf(
      "restored the store at revision %lld and %llu ledger records%s; the public keys the backup "
      "carries (member id, name, key):\n%s",
      (long long)info.revision, (unsigned long long)info.ledger_entries,
      info.private_key ? " with the node's key" : " (a new node key signs from now on)", keys);
  free(keys);
  return 0;
}

int lkv_cmd_backup(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "save") == 0) return save(argc, argv);
  if (strcmp(argv[1], "restore") == 0) return restore(argc, argv);
  fprintf(stderr, "ledgerkv backup: unknown subcommand %s (save, restore)\n", argv[1]);
  return 2;
}
