/* The `ledgerkv snapshot` commands: status (etcdctl's report of a snapshot file) and restore (a new data
 * dir). */
#include "tools/snapshot_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "server/restore.h"
#include "snapshot/snapshot.h"
#include "tools/flag_value.h"

static void usage(FILE *f) {
  fputs(
      "Usage: ledgerkv snapshot status FILE [-w simple|table|json|fields]\n"
      "Checks an etcd 3.4 snapshot (or backend db) file page by page and prints what\n"
      "`etcdctl snapshot status` prints: hash, revision, total keys, total size.\n"
      "  -w, --write-out F   output format (default simple)\n"
      "\n"
      "Usage: ledgerkv snapshot restore FILE [--data-dir D] [--name N] [--initial-cluster C]\n"
      "         [--initial-cluster-token T] [--initial-advertise-peer-urls U] [--skip-hash-check]\n"
      "         [--bump-revision N --mark-compacted]\n"
      "Writes a new data dir (default N.etcd) whose ledger holds the snapshot's leases and key\n"
      "history (from a STATE record of the live keys when the snapshot was compacted); the first\n"
      "start replays it. Start the server with the same cluster flags.\n"
      "  --bump-revision N   raise the revision by N (etcd 3.6), so that the next write is above\n"
      "                      every revision a client saw; requires --mark-compacted\n"
      "  --mark-compacted    compact at the (bumped) latest revision: older watches get \"compacted\"\n",
      f);
}

/* go-humanize's Bytes, which etcdctl prints sizes with: SI units, one decimal below 10. */
static void human_bytes(uint64_t s, char *out, size_t cap) {
  static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  if (s < 10) {
    snprintf(out, cap, "%" PRIu64 " B", s);
    return;
  }
  size_t e = 0;
  double div = 1;
  while (e + 1 < sizeof(units) / sizeof(units[0]) && s / (uint64_t)(div * 1000) > 0) {
    div *= 1000;
    e++;
  }
  double val = (double)(uint64_t)((double)s / div * 10 + 0.5) / 10;
  snprintf(out, cap, val < 10 ? "%.1f %s" : "%.0f %s", val, units[e]);
}

/* One row of etcdctl's table: each cell padded to its column's width, headers centred, values right. */
static void table_row(const char *const *cells, const size_t *w, int header) {
  for (int i = 0; i < 4; i++) {
    size_t len = strlen(cells[i]), gap = w[i] - len, left = header ? gap / 2 : gap;
    printf("| %*s%s%*s ", (int)left, "", cells[i], (int)(gap - left), "");
  }
  printf("|\n");
}

static void table_rule(const size_t *w) {
  for (int i = 0; i < 4; i++) {
    printf("+");
    for (size_t j = 0; j < w[i] + 2; j++) putchar('-');
  }
  printf("+\n");
}

static const char *const formats[] = {"simple", "table", "json", "fields"};

/* format is one of formats. */
static void print_status(const lkv_snapshot_status_t *st, const char *format) {
  char hash[16], rev[32], keys[32], size[32];
  snprintf(hash, sizeof(hash), "%x", st->hash);
  snprintf(rev, sizeof(rev), "%" PRId64, st->revision);
  snprintf(keys, sizeof(keys), "%" PRIu64, st->total_key);
  human_bytes(st->total_size, size, sizeof(size));
  if (strcmp(format, "simple") == 0) {
    printf("%s, %s, %s, %s\n", hash, rev, keys, size);
  } else if (strcmp(format, "json") == 0) {
    printf("{\"hash\":%" PRIu32 ",\"revision\":%" PRId64 ",\"totalKey\":%" PRIu64 ",\"totalSize\":%" PRIu64
           "}\n",
           st->hash, st->revision, st->total_key, st->total_size);
  } else if (strcmp(format, "fields") == 0) {
    printf("\"Hash\" : %" PRIu32 "\n\"Revision\" : %" PRId64 "\n\"Keys\" : %" PRIu64 "\n\"Size\" : %" PRIu64
           "\n",
           st->hash, st->revision, st->total_key, st->total_size);
  } else if (strcmp(format, "table") == 0) {
    const char *head[] = {"HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"}, *row[] = {hash, rev, keys, size};
    size_t w[4];
    for (int i = 0; i < 4; i++) w[i] = strlen(head[i]) > strlen(row[i]) ? strlen(head[i]) : strlen(row[i]);
    table_rule(w);
    table_row(head, w, 1);
    table_rule(w);
    table_row(row, w, 0);
    table_rule(w);
  }
}

static int status(const char *path, const char *format) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "ledgerkv snapshot status: %s: %s\n", path, strerror(errno));
    return 1;
  }
  lkv_snapshot_status_t st;
  char err[256] = "";
  int rc = lkv_snapshot_status(fd, &st, err, sizeof(err));
  close(fd);
  if (rc) {
    fprintf(stderr, "ledgerkv snapshot status: %s: %s\n", path, err[0] ? err : lkv_strerror(rc));
    return 1;
  }
  print_status(&st, format);
  return 0;
}

static int restore(int argc, char **argv) {
  lkv_restore_opts_t o = {0};
  lkv_tools_restore_flags_t f = {0};
  int bad = 0;
  for (int i = 2; i < argc && !bad; i++) {
    const char *v;
    if (lkv_tools_restore_flag(&f, argc, argv, &i, &bad))
      continue;
    else if (strcmp(argv[i], "--skip-hash-check") == 0 || strcmp(argv[i], "--skip-hash-check=true") == 0)
      o.skip_hash_check = 1;
    else if (strcmp(argv[i], "--skip-hash-check=false") == 0)
      o.skip_hash_check = 0;
    else if ((v = lkv_tools_flag_value("--bump-revision", argc, argv, &i, &bad))) {
      char *end;
      o.bump_revision = strtoll(v, &end, 10);
      bad = *v == '\0' || *end != '\0';
    } else if (strcmp(argv[i], "--mark-compacted") == 0 || strcmp(argv[i], "--mark-compacted=true") == 0)
      o.mark_compacted = 1;
    else if (strcmp(argv[i], "--mark-compacted=false") == 0)
      o.mark_compacted = 0;
    else if (argv[i][0] == '-' || o.snapshot)
      bad = 1;
    else
      o.snapshot = argv[i];
  }
  if (bad || !o.snapshot) {
    usage(stderr);
    return 2;
  }
  o.data_dir = f.data_dir, o.name = f.name, o.initial_cluster = f.initial_cluster, o.token = f.token;
  lkv_restore_info_t info;
  char err[512] = "";
  int rc = lkv_server_restore(&o, &info, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "Error: %s\n", err[0] ? err : lkv_strerror(rc));
    return rc == LKV_EINVAL && !err[0] ? 2 : 1;
  }
  printf("restored %s%llu revisions (up to revision %lld) and %llu leases into %s%s\n",
         info.compacted ? "the state compacted at its revision and " : "", (unsigned long long)info.revisions,
         (long long)info.revision, (unsigned long long)info.leases,
         o.data_dir ? o.data_dir
         : o.name   ? o.name
                    : "default",
         o.data_dir ? "" : ".etcd");
  return 0;
}

int lkv_cmd_snapshot(int argc, char **argv) {
  const char *format = "simple", *file = NULL;
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "restore") == 0) return restore(argc, argv);
  if (strcmp(argv[1], "status") != 0) {
    fprintf(stderr, "ledgerkv snapshot: unknown subcommand %s (status, restore)\n", argv[1]);
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-w") == 0 || strcmp(a, "--write-out") == 0) {
      if (++i == argc) goto bad;
      format = argv[i];
    } else if (strncmp(a, "--write-out=", 12) == 0) {
      format = a + 12;
    } else if (strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (a[0] == '-' || file) {
      goto bad;
    } else {
      file = a;
    }
  }
  if (!file) goto bad;
  for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
    if (strcmp(format, formats[i]) == 0) return status(file, format);
  fprintf(stderr, "ledgerkv snapshot status: unknown output format %s (simple, table, json, fields)\n",
          format);
  return 2;
bad:
  usage(stderr);
  return 2;
}
