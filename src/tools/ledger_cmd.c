/* `ledgerkv ledger-key` and `ledgerkv verify-receipt`: the node's key, and receipt checks (offline with a
 * key, or against the keys a cluster's membership records). */
#include "tools/ledger_cmd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply/apply.h"
#include "common/error.h"
#include "tools/causal_check.h"
#include "tools/ledger_client.h"
#include "tools/receipt_json.h"

int lkv_cmd_ledger_key(int argc, char **argv) {
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      puts(
          "Usage: ledgerkv ledger-key --data-dir D\nPrints the node's Ed25519 public key: hex, then base64.");
      return 0;
    }
    if (i + 1 < argc && strcmp(argv[i], "--data-dir") == 0) {
      dir = argv[++i];
    } else {
      fprintf(stderr, "ledgerkv ledger-key: unexpected argument \"%s\"\n", argv[i]);
      return 2;
    }
  }
  if (!dir) {
    fputs("ledgerkv ledger-key: --data-dir is required\n", stderr);
    return 2;
  }
  lkv_ledger_signer_t *s;
  int rc = lkv_ledger_signer_open(&s, dir, 0, NULL);
  if (rc != 0) {
    fprintf(stderr, "ledgerkv ledger-key: %s/ledger/node.key: %s\n", dir, lkv_strerror(rc));
    return 1;
  }
  char hex[LKV_LEDGER_KEY_HEX_LEN], b64[LKV_LEDGER_KEY_B64_LEN];
  lkv_ledger_key_hex(lkv_ledger_signer_public_key(s), hex);
  lkv_ledger_key_base64(lkv_ledger_signer_public_key(s), b64);
  lkv_ledger_signer_close(s);
  printf("%s\n%s\n", hex, b64);
  return 0;
}

/* Reads a whole file into a malloc'd buffer. Returns 0 or a negated errno / LKV_ENOMEM. */
static int slurp(const char *path, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return LKV_ENOENT;
  size_t cap = 4096, n = 0;
  uint8_t *b = malloc(cap);
  int rc = 0;
  while (b) {
    n += fread(b + n, 1, cap - n, f);
    if (n < cap) break;
    uint8_t *nb = realloc(b, cap * 2);
    if (!nb) {
      free(b);
      b = NULL;
      break;
    }
    b = nb;
    cap *= 2;
  }
  if (!b)
    rc = LKV_ENOMEM;
  else if (ferror(f))
    rc = LKV_EIO;
  fclose(f);
  if (rc) {
    free(b);
    return rc;
  }
  *out = b;
  *len = n;
  return 0;
}

static int has_ledger_key(const Ledgerkvpb__MemberKey *k, const void *public_key) {
  return k->public_key.len == LKV_LEDGER_KEY_LEN &&
         memcmp(k->public_key.data, public_key, LKV_LEDGER_KEY_LEN) == 0;
}

/* The key a receipt signed with public_key must verify with: the one the membership at endpoint records
 * for one of its members (whom *who names, "" when none). Returns 0, or the exit status after a message. */
static int member_key(const char *endpoint, const uint8_t *public_key, uint8_t key[LKV_LEDGER_KEY_LEN],
                      char *who, size_t cap) {
  Ledgerkvpb__MemberKeysResponse *m;
  int status = lkv__tools_member_keys("verify-receipt", endpoint, &m);
  if (status) return status;
  const Ledgerkvpb__MemberKey *k = lkv__tools_member_find(m, has_ledger_key, public_key);
  if (k) {
    memcpy(key, k->public_key.data, LKV_LEDGER_KEY_LEN);
    snprintf(who, cap, "; signed by member %s (%" PRIx64 ")", k->name, k->id);
  }
  status = k ? 0 : 1;
  ledgerkvpb__member_keys_response__free_unpacked(m, NULL);
  if (status) {
    char hex[LKV_LEDGER_KEY_HEX_LEN];
    lkv_ledger_key_hex(public_key, hex);
    fprintf(stderr,
            "ledgerkv verify-receipt: FAILED: the cluster's membership records no member with the key %s\n",
            hex);
  }
  return status;
}

typedef struct {
  const char *key_text, *endpoint, *file, *req_file, *resp_file;
  const char *origin_key, *kv; /* causal mode receipts */
} verify_opts_t;

static int verify(const verify_opts_t *o) {
  const char *key_text = o->key_text, *endpoint = o->endpoint, *file = o->file, *req_file = o->req_file,
             *resp_file = o->resp_file;
  uint8_t key[LKV_LEDGER_KEY_LEN];
  char who[600] = "";
  if (key_text && lkv_ledger_key_parse(key_text, key) != 0) {
    fputs("ledgerkv verify-receipt: --key: expected 64 hex digits or 44 base64 characters\n", stderr);
    return 2;
  }
  uint8_t *text, *req = NULL, *resp = NULL, *body = NULL;
  size_t len, req_len = 0, resp_len = 0, body_len = 0;
  int rc = slurp(file, &text, &len);
  if (rc) {
    fprintf(stderr, "ledgerkv verify-receipt: %s: %s\n", file, lkv_strerror(rc));
    return 1;
  }
  lkv_ledger_receipt_t r;
  const char *why;
  int status = 1;
  if (lkv_receipt_json_parse((const char *)text, len, &r, &body, &body_len, &why) != 0) {
    fprintf(stderr, "ledgerkv verify-receipt: %s: not a receipt: %s\n", file, why);
    goto out;
  }
  if (!key_text && (status = member_key(endpoint, r.sth.public_key, key, who, sizeof(who))) != 0) goto out;
  status = 1;
  if (lkv_ledger_receipt_verify(&r, key) != 0) {
    fputs("ledgerkv verify-receipt: FAILED: the signature, the leaf or the inclusion proof does not verify\n",
          stderr);
    goto out;
  }
  if (r.leaf.kind == LKV_LEDGER_CAUSAL_EVENT &&
      (status = lkv__tools_causal_check(&r, body, body_len, o->origin_key, endpoint, o->kv, who,
                                        sizeof(who))) != 0)
    goto out;
  status = 1;
  if (req_file) {
    if ((rc = slurp(req_file, &req, &req_len)) != 0 || (rc = slurp(resp_file, &resp, &resp_len)) != 0) {
      fprintf(stderr, "ledgerkv verify-receipt: cannot read the request or response file: %s\n",
              lkv_strerror(rc));
      goto out;
    }
    /* The claims cover the response as every member made it, without the answering member's id and term
     * (a single node before it ran on Raft claimed the response as sent: either form is accepted). */
    uint8_t *same = NULL;
    size_t same_len = 0;
    int ok = resp_len && lkv_apply_unstamp_header(resp, resp_len, &same, &same_len) == 0 &&
             lkv_ledger_receipt_check_claims(&r, req, req_len, same, same_len) == 0;
    free(same);
    if (!ok && lkv_ledger_receipt_check_claims(&r, req, req_len, resp, resp_len) != 0) {
      fputs("ledgerkv verify-receipt: FAILED: the request and response are not the ones the receipt claims\n",
            stderr);
      goto out;
    }
  }
  printf("OK: revision %lld is entry %llu of the tree of %llu entries signed at revision %lld%s%s\n",
         (long long)r.leaf.revision, (unsigned long long)r.leaf_index,
         (unsigned long long)r.sth.head.tree_size, (long long)r.sth.head.revision, who,
         req_file ? "; request and response match" : "");
  status = 0;
out:
  free(text);
  free(body);
  free(req);
  free(resp);
  return status;
}

int lkv_cmd_verify_receipt(int argc, char **argv) {
  verify_opts_t o = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      puts(
          "Usage: ledgerkv verify-receipt (--key K | --endpoints E) RECEIPT.json\n"
          "                               [--request-file F --response-file F] [--origin-key K] [--kv "
          "KEY=VALUE]\n"
          "Verifies a receipt offline against the node's public key K (hex or base64), or against the key\n"
          "that the membership of the cluster at E records for the member that signed it; with the two\n"
          "files (the packed request and response protobufs), that it claims exactly them. A causal mode\n"
          "receipt: also the origin's signature over the event, with --origin-key or the event key E lists\n"
          "for the origin, and with --kv that the record put KEY=VALUE (what Range served at the revision).");
      return 0;
    }
    if (i + 1 < argc && strcmp(a, "--key") == 0) {
      o.key_text = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--endpoints") == 0) {
      o.endpoint = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--request-file") == 0) {
      o.req_file = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--response-file") == 0) {
      o.resp_file = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--origin-key") == 0) {
      o.origin_key = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--kv") == 0) {
      o.kv = argv[++i];
    } else if (a[0] != '-' && !o.file) {
      o.file = a;
    } else {
      fprintf(stderr, "ledgerkv verify-receipt: unexpected argument \"%s\"\n", a);
      return 2;
    }
  }
  if (!o.key_text == !o.endpoint || !o.file || !o.req_file != !o.resp_file) {
    fputs(
        "ledgerkv verify-receipt: needs --key or --endpoints, and a receipt file (and both or neither of "
        "--request-file/--response-file)\n",
        stderr);
    return 2;
  }
  return verify(&o);
}
