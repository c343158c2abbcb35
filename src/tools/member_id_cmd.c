/* The `ledgerkv member-id` command: the member and cluster ids etcd derives from its bootstrap flags. */
#include "tools/member_id_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/ids.h"
#include "cluster/initial_cluster.h"
#include "common/error.h"

static void usage(FILE *f) {
  fputs(
      "Usage: ledgerkv member-id [--name N] [--initial-cluster S] [--initial-cluster-token T]\n"
      "Prints the ids etcd 3.4 gives the members of a new cluster started with these flags, one line\n"
      "\"member <id> <name>\" each, then \"cluster <id>\" (ids in hex, as etcd prints them).\n"
      "  --name N                   this member's name (default \"default\"); must be in the cluster\n"
      "  --initial-cluster S        name=peer-url,... (default \"<name>=http://localhost:2380\")\n"
      "  --initial-cluster-token T  the token hashed into member ids (default \"etcd-cluster\")\n",
      f);
}

/* Matches "--flag value", "--flag=value", "-flag value" and "-flag=value"; sets *val and advances *i. */
static int take(int argc, char **argv, int *i, const char *flag, const char **val) {
  const char *a = argv[*i];
  if (a[0] != '-') return 0;
  a += a[1] == '-' ? 2 : 1;
  size_t n = strlen(flag);
  if (strncmp(a, flag, n) != 0) return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 == argc) return -1;
  *val = argv[++*i];
  return 1;
}

int lkv_cmd_member_id(int argc, char **argv) {
  const char *name = "default", *initial = NULL, *token = "etcd-cluster";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    int r = take(argc, argv, &i, "name", &name);
    if (r == 0) r = take(argc, argv, &i, "initial-cluster-token", &token);
    if (r == 0) r = take(argc, argv, &i, "initial-cluster", &initial);
    if (r < 0) {
      fprintf(stderr, "ledgerkv member-id: %s needs a value\n", argv[i]);
      return 2;
    }
    if (r == 0) {
      fprintf(stderr, "ledgerkv member-id: unexpected argument \"%s\"\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  /* etcd's default: the name with the default advertised peer URL (embed.Config.InitialClusterFromName). */
  char def[512];
  if (!initial) {
    snprintf(def, sizeof(def), "%s=http://localhost:2380", name);
    initial = def;
  }
  char err[1024] = "";
  lkv_cluster_initial_t ic;
  int rc = lkv_cluster_initial_parse(initial, &ic, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "ledgerkv member-id: error setting up initial cluster: %s\n",
            err[0] ? err : lkv_strerror(rc));
    return 1;
  }
  int status = 1;
  uint64_t cid;
  if (!lkv_cluster_initial_find(&ic, name)) {
    fprintf(stderr,
            "ledgerkv member-id: couldn't find local name \"%s\" in the initial cluster configuration\n",
            name);
    goto out;
  }
  rc = lkv_cluster_bootstrap(&ic, token, &cid, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "ledgerkv member-id: %s\n", err[0] ? err : lkv_strerror(rc));
    goto out;
  }
  char hex[LKV_CLUSTER_ID_HEX_LEN];
  for (size_t i = 0; i < ic.n_members; i++)
    printf("member %s %s\n", lkv_cluster_id_format(ic.members[i].id, hex), ic.members[i].name);
  printf("cluster %s\n", lkv_cluster_id_format(cid, hex));
  status = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
out:
  lkv_cluster_initial_free(&ic);
  return status;
}
