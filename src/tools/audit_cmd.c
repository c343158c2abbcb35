/* `ledgerkv audit`: verify the whole ledger, rebuild the key-value state from it, compare with the store. */
#include <ftw.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply/apply.h"
#include "common/error.h"
#include "ledger/audit.h"
#include "ledger/log_file.h"
#include "tools/audit_causal.h"
#include "tools/ledger_cmd.h"

/* One revision of a store's history, reduced to a digest of its changes. */
typedef struct rev_digest_s {
  int64_t rev;
  uint8_t d[32];
} rev_digest_t;

typedef struct history_s {
  rev_digest_t *v;
  size_t n, cap;
  crypto_hash_sha256_state st;
  int open;
} history_t;

static int close_rev(history_t *h) {
  if (!h->open) return 0;
  crypto_hash_sha256_final(&h->st, h->v[h->n - 1].d);
  h->open = 0;
  return 0;
}

static void feed_i64(crypto_hash_sha256_state *st, int64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
  crypto_hash_sha256_update(st, b, 8);
}

static int on_event(void *arg, const lkv_mvcc_kv_t *kv, int64_t sub, int tombstone) {
  history_t *h = arg;
  if (h->n == 0 || h->v[h->n - 1].rev != kv->mod_revision) {
    close_rev(h);
    if (h->n == h->cap) {
      size_t cap = h->cap ? h->cap * 2 : 1024;
      rev_digest_t *v = realloc(h->v, cap * sizeof(*v));
      if (!v) return LKV_ENOMEM;
      h->v = v;
      h->cap = cap;
    }
    h->v[h->n++].rev = kv->mod_revision;
    crypto_hash_sha256_init(&h->st);
    h->open = 1;
  }
  feed_i64(&h->st, sub);
  feed_i64(&h->st, tombstone);
  feed_i64(&h->st, (int64_t)kv->key_len);
  crypto_hash_sha256_update(&h->st, kv->key, kv->key_len);
  feed_i64(&h->st, (int64_t)kv->value_len);
  if (kv->value_len) crypto_hash_sha256_update(&h->st, kv->value, kv->value_len);
  feed_i64(&h->st, kv->create_revision);
  feed_i64(&h->st, kv->version);
  feed_i64(&h->st, kv->lease);
  return 0;
}

static int on_lease(void *arg, int64_t id, int64_t ttl) {
  crypto_hash_sha256_state *st = arg;
  feed_i64(st, id);
  feed_i64(st, ttl);
  return 0;
}

/* What a store holds, reduced to digests: revision, compact revision, per-revision history, leases. */
typedef struct summary_s {
  int64_t rev, compact;
  history_t hist;
  uint8_t leases[32];
} summary_t;

static int summarise(lkv_mvcc_t *store, summary_t *s) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  s->rev = lkv_mvcc_txn_rev(t);
  s->compact = lkv_mvcc_txn_compact_rev(t);
  rc = lkv_mvcc_history(t, s->compact < 0 ? 0 : s->compact, s->rev, on_event, &s->hist);
  close_rev(&s->hist);
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  if (!rc) rc = lkv_mvcc_lease_list(t, on_lease, &st);
  crypto_hash_sha256_final(&st, s->leases);
  lkv_mvcc_txn_end(t);
  return rc;
}

/* Compares the rebuilt state with the store's; prints the first difference. Returns 0 when equal. */
static int compare(const summary_t *want, const summary_t *got) {
  size_t i = 0;
  for (; i < want->hist.n && i < got->hist.n; i++) {
    const rev_digest_t *a = &want->hist.v[i], *b = &got->hist.v[i];
    if (a->rev != b->rev || memcmp(a->d, b->d, 32) != 0) {
      fprintf(stderr, "audit FAILED: the store differs from the ledger at revision %" PRId64 "\n",
              a->rev < b->rev ? a->rev : b->rev);
      return 1;
    }
  }
  if (i < want->hist.n || i < got->hist.n || want->rev != got->rev) {
    int64_t r = i < want->hist.n ? want->hist.v[i].rev : i < got->hist.n ? got->hist.v[i].rev : want->rev;
    fprintf(stderr,
            "audit FAILED: the store (revision %" PRId64 ") and the ledger (revision %" PRId64
            ") differ from revision %" PRId64 "%s\n",
            got->rev, want->rev, r,
            got->rev < want->rev ? " (a store behind its ledger is caught up when the server starts)" : "");
    return 1;
  }
  if (want->compact != got->compact) {
    fprintf(stderr,
            "audit FAILED: compacted at revision %" PRId64 " in the store, %" PRId64 " in the ledger\n",
            got->compact, want->compact);
    return 1;
  }
  if (memcmp(want->leases, got->leases, 32) != 0) {
    fputs("audit FAILED: the store's leases differ from the ledger's\n", stderr);
    return 1;
  }
  return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

static int copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  if (!in) return LKV_ENOENT;
  FILE *out = fopen(to, "wb");
  int rc = out ? 0 : LKV_EIO;
  char buf[65536];
  size_t n;
  while (!rc && (n = fread(buf, 1, sizeof(buf), in)) > 0)
    if (fwrite(buf, 1, n, out) != n) rc = LKV_EIO;
  if (!rc && ferror(in)) rc = LKV_EIO;
  if (out && fclose(out) != 0) rc = LKV_EIO;
  fclose(in);
  return rc;
}

/* Replays a copy of the ledger (opening a log may repair its index: never on the original) into a fresh
 * store in tmp, and summarises it. */
static int rebuild(const char *log_path, const char *tmp, summary_t *want) {
  char path[4200];
  snprintf(path, sizeof(path), "%s/ledger", tmp);
  if (mkdir(path, 0700) != 0) return LKV_EIO;
  snprintf(path, sizeof(path), "%s/ledger/ledger.log", tmp);
  int rc = copy_file(log_path, path);
  if (rc) return rc;
  snprintf(path, sizeof(path), "%s/ledger", tmp);
  lkv_ledger_log_t *log;
  rc = lkv_ledger_log_open(&log, path, NULL);
  if (rc) return rc;
  snprintf(path, sizeof(path), "%s/store", tmp);
  lkv_mvcc_options_t o = {.dir = path, .logged = 1}; /* a throwaway store: the ledger is its log */
  lkv_mvcc_t *store;
  rc = lkv_mvcc_open(&store, &o);
  if (rc == 0) {
    lkv_apply_replay_info_t info;
    rc = lkv_apply_replay(store, log, &info);
    if (rc)
      fprintf(stderr, "audit FAILED: replaying record %" PRIu64 ": %s\n", info.bad_index, lkv_strerror(rc));
    else
      rc = summarise(store, want);
    lkv_mvcc_close(store);
  }
  lkv_ledger_log_close(log);
  return rc;
}

/* The end of a successful audit: in a causal member's data dir the origin signatures checked, then the
 * last line: the same pair on every member of a quiesced cluster (they hold the same leaves), whether a
 * member holds the whole history or starts at a base. */
static void print_tree(const lkv_ledger_audit_t *rep, const lkv__audit_causal_t *causal) {
  if (causal->events) printf("causal mode: %" PRIu64 " events' origin signatures verified\n", causal->events);
  char root[2 * LKV_MERKLE_HASH_LEN + 1];
  sodium_bin2hex(root, sizeof(root), rep->root.b, LKV_MERKLE_HASH_LEN);
  printf("tree size %" PRIu64 " root %s\n", rep->records, root);
}

static int audit(const char *dir, const char *key_text) {
  uint8_t key[LKV_LEDGER_KEY_LEN];
  if (key_text) {
    if (lkv_ledger_key_parse(key_text, key) != 0) {
      fputs("ledgerkv audit: --key: expected 64 hex digits or 44 base64 characters\n", stderr);
      return 2;
    }
  } else {
    lkv_ledger_signer_t *s;
    int rc = lkv_ledger_signer_open(&s, dir, 0, NULL);
    if (rc) {
      fprintf(stderr, "ledgerkv audit: %s/ledger/node.key: %s (give the trusted key with --key)\n", dir,
              lkv_strerror(rc));
      return 1;
    }
    memcpy(key, lkv_ledger_signer_public_key(s), LKV_LEDGER_KEY_LEN);
    lkv_ledger_signer_close(s);
  }
  char ledger_dir[4096], log_path[4200];
  snprintf(ledger_dir, sizeof(ledger_dir), "%s/ledger", dir);
  snprintf(log_path, sizeof(log_path), "%s/ledger.log", ledger_dir);
  lkv__audit_causal_t causal;
  int rc = lkv__audit_causal_load(&causal, dir);
  if (rc) {
    fprintf(stderr, "ledgerkv audit: cannot read the causal members' keys in %s/member/causal: %s\n", dir,
            lkv_strerror(rc));
    return 1;
  }
  lkv_ledger_audit_t rep;
  rc = lkv_ledger_audit_dir(ledger_dir, key, lkv__audit_causal_cb, &causal, &rep);
  if (rc && causal.why) {
    fprintf(stderr, "audit FAILED: ledger record %" PRIu64 ": %s\n", causal.bad_index, causal.why);
    return 1;
  }
  if (rc) {
    fprintf(stderr, "audit FAILED: %s %" PRIu64 " (offset %" PRIu64 "): %s\n",
            rep.failed_in_heads ? "ledger.heads record" : "ledger record", rep.failed_index,
            rep.failed_offset, rep.failure ? rep.failure : lkv_strerror(rc));
    return 1;
  }
  /* After a clean stop or a restart there is none: bytes past the last record are either an append
   * a crash cut short (the next start removes them) or damage to the last record. */
  if (rep.tail_bytes) {
    fprintf(stderr,
            "audit FAILED: ledger record %" PRIu64 ": the last %" PRIu64
            " bytes do not form a record (a crash's unfinished append, cut at the next start, or damage)\n",
            rep.records, rep.tail_bytes);
    return 1;
  }
  if (rep.heads_tail_bytes) {
    fprintf(stderr,
            "audit FAILED: ledger.heads record %" PRIu64 ": the last %" PRIu64
            " bytes do not form a record (a crash's unfinished append, cut at the next start, or damage)\n",
            rep.heads - rep.head_leaves, rep.heads_tail_bytes);
    return 1;
  }
  if (rep.base > 0) {
    /* The state before the base is in no record here: there is nothing to rebuild the store from. */
    printf("audit OK: the history starts at the base, record %" PRIu64
           " (the records before it were pruned "
           "and are summarised by their frontier); %" PRIu64 " records after it (%" PRIu64
           " revisions), %" PRIu64 " signed heads (%" PRIu64 " below the base: signatures checked), %" PRIu64
           " unsigned at the end; the store was not rebuilt from the ledger\n",
           rep.base, rep.records - rep.base, rep.revisions, rep.heads, rep.heads_below_base,
           rep.unsigned_records);
    print_tree(&rep, &causal);
    return 0;
  }
  char tmp[] = "/tmp/lkv-audit-XXXXXX";
  if (!mkdtemp(tmp)) {
    perror("ledgerkv audit: mkdtemp");
    return 1;
  }
  summary_t want = {0}, got = {0};
  int status = 1;
  rc = rebuild(log_path, tmp, &want);
  if (rc) {
    fprintf(stderr, "audit FAILED: cannot rebuild the state from the ledger: %s\n", lkv_strerror(rc));
    goto out;
  }
  lkv_mvcc_options_t o = {.dir = dir, .read_only = 1}; /* an audit writes nothing where it looks */
  lkv_mvcc_t *store;
  rc = lkv_mvcc_open(&store, &o);
  if (rc == 0) {
    rc = summarise(store, &got);
    lkv_mvcc_close(store);
  }
  if (rc) {
    fprintf(stderr, "audit FAILED: cannot read the store in %s: %s\n", dir, lkv_strerror(rc));
    goto out;
  }
  status = compare(&want, &got);
  if (status == 0) {
    printf("audit OK: %" PRIu64 " records (%" PRIu64 " revisions, %" PRIu64 " signed heads, %" PRIu64
           " unsigned at the end), store at revision %" PRId64 " matches the ledger\n",
           rep.records, rep.revisions, rep.heads, rep.unsigned_records, got.rev);
    print_tree(&rep, &causal);
  }
out:
  free(want.hist.v);
  free(got.hist.v);
  nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return status;
}

int lkv_cmd_audit(int argc, char **argv) {
  const char *dir = NULL, *key = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      puts(
          "Usage: ledgerkv audit --data-dir D [--key K]\n"
          "Verifies every ledger record, order rule, signed head (ledger.heads) and signature (with K,\n"
          "default the key in D), rebuilds the key-value state from the ledger and compares it with the\n"
          "store. The server must not be running on D. Exits 1 naming the first bad record or revision;\n"
          "on success the last line is \"tree size N root HEX\": the tree it verified. A ledger whose\n"
          "history starts at a base (retention, or a member that joined from a snapshot) is verified from\n"
          "the base's frontier on, and the store is not rebuilt. In a causal member's data dir every\n"
          "event's origin signature is checked too, with the keys member/causal records.");
      return 0;
    }
    if (i + 1 < argc && strcmp(argv[i], "--data-dir") == 0) {
      dir = argv[++i];
    } else if (i + 1 < argc && strcmp(argv[i], "--key") == 0) {
      key = argv[++i];
    } else {
      fprintf(stderr, "ledgerkv audit: unexpected argument \"%s\"\n", argv[i]);
      return 2;
    }
  }
  if (!dir) {
    fputs("ledgerkv audit: --data-dir is required\n", stderr);
    return 2;
  }
  return audit(dir, key);
}
