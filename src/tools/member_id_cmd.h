/* The `ledgerkv member-id` command. */
#ifndef LKV_TOOLS_MEMBER_ID_CMD_H
#define LKV_TOOLS_MEMBER_ID_CMD_H

/* Runs `ledgerkv member-id [--name N] [--initial-cluster S] [--initial-cluster-token T]`: the ids a new
 * etcd cluster started with these flags gets (src/cluster/initial_cluster.h). Prints one line
 * "member <hex id> <name>" per member (sorted by name), then "cluster <hex id>". Defaults are etcd's:
 * --name "default", --initial-cluster "<name>=http://localhost:2380", --initial-cluster-token
 * "etcd-cluster". Flags take "--flag value" or "--flag=value".
 * argc, argv: the command's arguments, argv[0] being "member-id"; not modified.
 * Returns the exit status: 0 on success; 1 when etcd would refuse the flags (bad URL, name not in the
 * cluster, duplicate URL; etcd's message on stderr); 2 on a usage error. --help prints usage, returns 0. */
int lkv_cmd_member_id(int argc, char **argv);

#endif
