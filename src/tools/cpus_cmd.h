/* The `ledgerkv cpus` command. */
#ifndef LKV_TOOLS_CPUS_CMD_H
#define LKV_TOOLS_CPUS_CMD_H

/* Runs `ledgerkv cpus [--root DIR]`: prints the CPU budget alone on the first line (like nproc), then one
 * line per source (affinity, cgroup v2, cgroup v1) saying what it allows and which file said so.
 * --root DIR reads proc/ and the cgroup mounts under DIR instead of / (to inspect a copied tree); the
 * affinity always comes from this process.
 * argc, argv: the command's arguments, argv[0] being the command name ("cpus"); not modified.
 * Returns the process exit status: 0 on success, 1 when the budget cannot be read, 2 on a usage error
 * (message on stderr). --help prints usage on stdout and returns 0. */
int lkv_cmd_cpus(int argc, char **argv);

#endif
