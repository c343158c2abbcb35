/* `ledgerkv causal-status`: a causal-mode member's version vector and its peers', and who has a write. */
#ifndef LKV_TOOLS_CAUSAL_STATUS_CMD_H
#define LKV_TOOLS_CAUSAL_STATUS_CMD_H

/* Runs the subcommand (argv[0] is "causal-status"): asks the member's Conflicts.ReplicationStatus and prints
 * JSON on stdout. Returns the exit status: 0, 1 (the member could not be asked or answered an error), 2
 * (usage). */
int lkv_cmd_causal_status(int argc, char **argv);

#endif
