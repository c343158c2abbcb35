/* The `ledgerkv snapshot` command. */
#ifndef LKV_TOOLS_SNAPSHOT_CMD_H
#define LKV_TOOLS_SNAPSHOT_CMD_H

/* Runs `ledgerkv snapshot status FILE [-w|--write-out simple|table|json|fields]`: the hash, revision, key
 * count and size `etcdctl snapshot status` prints for an etcd 3.4 snapshot or backend file, in the same
 * formats (default simple), after checking every page of the file (src/snapshot/bbolt.h).
 * argc, argv: the command's arguments, argv[0] being "snapshot"; not modified.
 * Returns the exit status: 0; 1 when the file cannot be read or is refused (the reason on stderr: damaged,
 * truncated, not a bbolt file); 2 on a usage error. --help prints usage and returns 0. */
int lkv_cmd_snapshot(int argc, char **argv);

#endif
