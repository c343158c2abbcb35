/* The `ledgerkv bench` command. */
#ifndef LKV_TOOLS_BENCH_CMD_H
#define LKV_TOOLS_BENCH_CMD_H

/* Runs `ledgerkv bench WORKLOAD [flags]` (see `ledgerkv bench --help`) against any etcd v3 API server:
 * prints a progress line on stderr every second (unless --no-progress), then the report on stdout (text,
 * or one JSON object with --json). SIGINT/SIGTERM end the run early with a partial report.
 * argc, argv: the command's arguments, argv[0] being the command name ("bench"); not modified.
 * Returns the process exit status: 0 when every request succeeded, 1 when some failed or the run was
 * aborted (the report says why), 2 on a usage error (message on stderr), 3 when the bench itself could not
 * run (out of memory, no threads). --help prints usage on stdout and returns 0. */
int lkv_cmd_bench(int argc, char **argv);

#endif
