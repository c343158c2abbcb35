/* The `ledgerkv backup` command. */
#ifndef LKV_TOOLS_BACKUP_CMD_H
#define LKV_TOOLS_BACKUP_CMD_H

/* Runs `ledgerkv backup save --data-dir D [--wal-dir W] [--include-private-key] FILE` (a stopped member's
 * store, ledger and members' public keys in one file: server/backup.h) or `ledgerkv backup restore FILE
 * [--data-dir D] [--name N] [--initial-cluster C] [--initial-cluster-token T]` (a new data dir from it).
 * argc, argv: the command's arguments, argv[0] being "backup"; not modified. Returns the exit status: 0;
 * 1 when the backup or restore failed (the reason on stderr); 2 on a usage error. */
int lkv_cmd_backup(int argc, char **argv);

#endif
