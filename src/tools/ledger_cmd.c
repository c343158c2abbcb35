/* `ledgerkv ledger-key` and `ledgerkv verify-receipt`: the node's key, and offline receipt checks. */
#include "tools/ledger_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
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

static int verify(const char *key_text, const char *file, const char *req_file, const char *resp_file) {
  uint8_t key[LKV_LEDGER_KEY_LEN];
  if (lkv_ledger_key_parse(key_text, key) != 0) {
    fputs("ledgerkv verify-receipt: --key: expected 64 hex digits or 44 base64 characters\n", stderr);
    return 2;
  }
  uint8_t *text, *req = NULL, *resp = NULL;
  size_t len, req_len = 0, resp_len = 0;
  int rc = slurp(file, &text, &len);
  if (rc) {
    fprintf(stderr, "ledgerkv verify-receipt: %s: %s\n", file, lkv_strerror(rc));
    return 1;
  }
  lkv_ledger_receipt_t r;
  const char *why;
  int status = 1;
  if (lkv_receipt_json_parse((const char *)text, len, &r, &why) != 0) {
    fprintf(stderr, "ledgerkv verify-receipt: %s: not a receipt: %s\n", file, why);
    goto out;
  }
  if (lkv_ledger_receipt_verify(&r, key) != 0) {
    fputs("ledgerkv verify-receipt: FAILED: the signature, the leaf or the inclusion proof does not verify\n",
          stderr);
    goto out;
  }
  if (req_file) {
    if ((rc = slurp(req_file, &req, &req_len)) != 0 || (rc = slurp(resp_file, &resp, &resp_len)) != 0) {
      fprintf(stderr, "ledgerkv verify-receipt: cannot read the request or response file: %s\n",
              lkv_strerror(rc));
      goto out;
    }
    if (lkv_ledger_receipt_check_claims(&r, req, req_len, resp, resp_len) != 0) {
      fputs("ledgerkv verify-receipt: FAILED: the request and response are not the ones the receipt claims\n",
            stderr);
      goto out;
    }
  }
  printf("OK: revision %lld is entry %llu of the tree of %llu entries signed at revision %lld%s\n",
         (long long)r.leaf.revision, (unsigned long long)r.leaf_index,
         (unsigned long long)r.sth.head.tree_size, (long long)r.sth.head.revision,
         req_file ? "; request and response match" : "");
  status = 0;
out:
  free(text);
  free(req);
  free(resp);
  return status;
}

int lkv_cmd_verify_receipt(int argc, char **argv) {
  const char *key = NULL, *file = NULL, *req = NULL, *resp = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      puts(
          "Usage: ledgerkv verify-receipt --key K RECEIPT.json [--request-file F --response-file F]\n"
          "Verifies a receipt offline against the node's public key K (hex or base64), and with the two\n"
          "files (the packed request and response protobufs) that it claims exactly them.");
      return 0;
    }
    if (i + 1 < argc && strcmp(a, "--key") == 0) {
      key = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--request-file") == 0) {
      req = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--response-file") == 0) {
      resp = argv[++i];
    } else if (a[0] != '-' && !file) {
      file = a;
    } else {
      fprintf(stderr, "ledgerkv verify-receipt: unexpected argument \"%s\"\n", a);
      return 2;
    }
  }
  if (!key || !file || !req != !resp) {
    fputs(
        "ledgerkv verify-receipt: needs --key and a receipt file (and both or neither of "
        "--request-file/--response-file)\n",
        stderr);
    return 2;
  }
  return verify(key, file, req, resp);
}
