/* `ledgerkv receipt`: asks a node's Ledger service for a receipt, its latest head, a consistency proof or
 * the members' keys; the one-call client the other commands that ask a node share (lkv__tools_ask). */
#include "tools/ledger_client.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/receipt_pb.h"
#include "common/error.h"
#include "ledger/signer.h"
#include "tools/ledger_cmd.h"
#include "tools/receipt_json.h"
#include "transport/grpc_client.h"

/* The outcome of the one call the command makes. */
typedef struct result_s {
  lkv_grpc_conn_t *conn;
  int status;
  char message[256];
  uint8_t *resp;
  size_t len;
} result_t;

static void on_done(void *ud, int status, const char *message, const uint8_t *resp, size_t len) {
  result_t *r = ud;
  r->status = status;
  snprintf(r->message, sizeof(r->message), "%s", message);
  if (status == LKV_GRPC_OK) {
    r->resp = malloc(len ? len : 1);
    if (r->resp) memcpy(r->resp, resp, len);
    r->len = len;
  }
  lkv_grpc_conn_close(r->conn); /* nothing else to wait for: the loop run ends */
}

/* Makes one unary call to host:port and waits for it. Returns 0 with r filled (check r->status), or an
 * LKV_E* code when the call could not be made. */
static int call(const char *host, int port, const char *path, const ProtobufCMessage *req, result_t *r) {
  lkv_grpc_loop_t *loop;
  int rc = lkv_grpc_loop_new(&loop);
  if (rc) return rc;
  uint8_t small[64]; /* most requests here are a few varints */
  size_t n = protobuf_c_message_get_packed_size(req);
  uint8_t *buf = n <= sizeof(small) ? small : malloc(n);
  if (!buf) {
    lkv_grpc_loop_free(loop);
    return LKV_ENOMEM;
  }
  protobuf_c_message_pack(req, buf);
  rc = lkv_grpc_conn_open(loop, host, port, NULL, NULL, &r->conn);
  if (rc == 0) {
    rc = lkv_grpc_unary(r->conn, path, buf, n, on_done, r);
    if (rc) lkv_grpc_conn_close(r->conn);
  }
  if (rc == 0) lkv_grpc_loop_run(loop);
  lkv_grpc_loop_free(loop);
  if (buf != small) free(buf);
  return rc;
}

/* call(), with its failure (the call could not be made, or a gRPC error) reported on stderr after cmd.
 * Returns 0 with r->resp set (free it), or 1. */
static int ask(const char *cmd, const char *host, int port, const char *path, const ProtobufCMessage *req,
               result_t *r) {
  int rc = call(host, port, path, req, r);
  if (rc != 0) {
    fprintf(stderr, "ledgerkv %s: cannot call %s:%d: %s\n", cmd, host, port, lkv_strerror(rc));
    return 1;
  }
  if (r->status != LKV_GRPC_OK) {
    fprintf(stderr, "ledgerkv %s: %s: %s\n", cmd, lkv_grpc_status_name(r->status), r->message);
    free(r->resp);
    return 1;
  }
  return 0;
}

/* "host:port" or "http://host:port" (the first of a comma-separated list) into host and port. */
static int parse_endpoint(const char *s, char *host, size_t cap, int *port) {
  if (strncmp(s, "http://", 7) == 0) s += 7;
  size_t len = strcspn(s, ",");
  const char *colon = NULL;
  for (size_t i = 0; i < len; i++)
    if (s[i] == ':') colon = s + i;
  if (!colon || colon == s || (size_t)(colon - s) >= cap) return LKV_EINVAL;
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (end != s + len || p < 1 || p > 65535) return LKV_EINVAL;
  size_t hl = (size_t)(colon - s);
  if (s[0] == '[' && colon[-1] == ']') {
    s++;
    hl -= 2;
  }
  memcpy(host, s, hl);
  host[hl] = '\0';
  *port = (int)p;
  return 0;
}

/* Prints the decoded response of the call made; returns the exit status. */
static int print_receipt(const result_t *r) {
  Ledgerkvpb__ReceiptResponse *m = ledgerkvpb__receipt_response__unpack(NULL, r->len, r->resp);
  if (!m) return 1;
  lkv_ledger_receipt_t rc;
  int bad = lkv_bench_receipt_from_pb(m, &rc);
  if (!bad)
    lkv_receipt_json_write(stdout, &rc, m->write_set.len ? m->write_set.data : NULL, m->write_set.len);
  ledgerkvpb__receipt_response__free_unpacked(m, NULL);
  return bad ? 1 : 0;
}

static int print_head_response(const result_t *r) {
  Ledgerkvpb__SignedTreeHeadResponse *m =
      ledgerkvpb__signed_tree_head_response__unpack(NULL, r->len, r->resp);
  if (!m) return 1;
  lkv_ledger_signed_head_t h;
  int bad = lkv_bench_head_from_pb(m->head, &h);
  ledgerkvpb__signed_tree_head_response__free_unpacked(m, NULL);
  if (bad) return 1;
  lkv_receipt_json_write_head(stdout, &h);
  fputc('\n', stdout);
  return 0;
}

static int print_consistency(const result_t *r) {
  Ledgerkvpb__ConsistencyProofResponse *m =
      ledgerkvpb__consistency_proof_response__unpack(NULL, r->len, r->resp);
  if (!m) return 1;
  lkv_merkle_proof_t p;
  int ok = lkv_bench_proof_from_pb(m->proof, m->n_proof, &p) == 0;
  if (ok) {
    printf("{\"old_size\": %" PRIu64 ", \"new_size\": %" PRIu64 ", \"proof\": ", m->old_size, m->new_size);
    lkv_receipt_json_write_proof(stdout, &p);
    puts("}");
  }
  ledgerkvpb__consistency_proof_response__free_unpacked(m, NULL);
  return ok ? 0 : 1;
}

/* s as a JSON string: quotes, backslashes and control characters escaped. */
static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

#define MEMBER_KEYS_PATH "/ledgerkvpb.Ledger/GetMemberKeys"

/* {"member_id": HEX, "members": [{"id": HEX, "name": S, "public_key": HEX or "", "is_learner": B}, ...]}:
 * ids in hex as etcdctl's tables print them; in causal mode a member also has "event_public_key": HEX. */
static int print_member_keys(const result_t *r) {
  Ledgerkvpb__MemberKeysResponse *m = ledgerkvpb__member_keys_response__unpack(NULL, r->len, r->resp);
  if (!m) return 1;
  printf("{\"member_id\": \"%" PRIx64 "\", \"members\": [", m->member_id);
  for (size_t i = 0; i < m->n_members; i++) {
    const Ledgerkvpb__MemberKey *k = m->members[i];
    char hex[LKV_LEDGER_KEY_HEX_LEN] = "";
    if (k->public_key.len == LKV_LEDGER_KEY_LEN) lkv_ledger_key_hex(k->public_key.data, hex);
    printf("%s{\"id\": \"%" PRIx64 "\", \"name\": ", i ? ", " : "", k->id);
    json_string(stdout, k->name);
    printf(", \"public_key\": \"%s\", \"is_learner\": %s", hex, k->is_learner ? "true" : "false");
    if (k->event_public_key.len == LKV_LEDGER_KEY_LEN) {
      lkv_ledger_key_hex(k->event_public_key.data, hex);
      printf(", \"event_public_key\": \"%s\"", hex);
    }
    putchar('}');
  }
  puts("]}");
  ledgerkvpb__member_keys_response__free_unpacked(m, NULL);
  return 0;
}

int lkv__tools_ask(const char *cmd, const char *endpoint, const char *path, const ProtobufCMessage *req,
                   uint8_t **resp, size_t *len) {
  char host[256];
  int port;
  if (parse_endpoint(endpoint, host, sizeof(host), &port) != 0) {
    fprintf(stderr, "ledgerkv %s: --endpoints: expected HOST:PORT, got \"%s\"\n", cmd, endpoint);
    return 2;
  }
  result_t r = {0};
  if (ask(cmd, host, port, path, req, &r) != 0) return 1;
  *resp = r.resp;
  *len = r.len;
  return 0;
}

int lkv__tools_member_keys(const char *cmd, const char *endpoint, Ledgerkvpb__MemberKeysResponse **out) {
  Ledgerkvpb__MemberKeysRequest req = LEDGERKVPB__MEMBER_KEYS_REQUEST__INIT;
  uint8_t *resp;
  size_t len;
  int rc = lkv__tools_ask(cmd, endpoint, MEMBER_KEYS_PATH, &req.base, &resp, &len);
  if (rc) return rc;
  *out = ledgerkvpb__member_keys_response__unpack(NULL, len, resp);
  free(resp);
  if (!*out) {
    fprintf(stderr, "ledgerkv %s: malformed response\n", cmd);
    return 1;
  }
  return 0;
}

/* 64 hex digits into a digest. Returns 0 or LKV_EINVAL. */
static int parse_digest(const char *s, uint8_t out[LKV_LEDGER_DIGEST_LEN]) {
  if (strlen(s) != 2 * LKV_LEDGER_DIGEST_LEN) return LKV_EINVAL;
  for (size_t i = 0; i < LKV_LEDGER_DIGEST_LEN; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1 || !isxdigit((unsigned char)s[2 * i]) ||
        !isxdigit((unsigned char)s[2 * i + 1]))
      return LKV_EINVAL;
    out[i] = (uint8_t)v;
  }
  return 0;
}

static void usage(FILE *f) {
  fputs(
      "Usage: ledgerkv receipt [--endpoints HOST:PORT] (--revision N [--claims HEX] | --head |\n"
      "                        --consistency OLD:NEW | --member-keys)\n"
      "Asks a ledgerkv node's Ledger service and prints JSON on stdout (docs/ledger.md):\n"
      "  --revision N         the receipt of the entry that produced revision N (waits for its signature)\n"
      "  --claims HEX         with --revision: the entry at revision N with this claims digest (any kind:\n"
      "                       compaction, lease grant, revoke)\n"
      "  --head               the latest signed tree head\n"
      "  --consistency O:N    the consistency proof from tree size O to tree size N\n"
      "  --member-keys        every member's ledger public key as the cluster's membership records it\n"
      "  --endpoints E        the node (default 127.0.0.1:2379; the first of a list)\n",
      f);
}

int lkv_cmd_receipt(int argc, char **argv) {
  const char *endpoint = "127.0.0.1:2379", *revision = NULL, *consistency = NULL, *claims = NULL;
  uint8_t digest[LKV_LEDGER_DIGEST_LEN];
  int head = 0, keys = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(a, "--head") == 0) {
      head = 1;
    } else if (strcmp(a, "--member-keys") == 0) {
      keys = 1;
    } else if (i + 1 < argc && strcmp(a, "--endpoints") == 0) {
      endpoint = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--revision") == 0) {
      revision = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--claims") == 0) {
      claims = argv[++i];
    } else if (i + 1 < argc && strcmp(a, "--consistency") == 0) {
      consistency = argv[++i];
    } else {
      fprintf(stderr, "ledgerkv receipt: unexpected argument \"%s\"\n", a);
      usage(stderr);
      return 2;
    }
  }
  char host[256];
  int port;
  if ((!!revision + head + keys + !!consistency) != 1 ||
      parse_endpoint(endpoint, host, sizeof(host), &port) != 0 ||
      (claims && (!revision || parse_digest(claims, digest) != 0))) {
    usage(stderr);
    return 2;
  }
  result_t r = {0};
  int rc;
  if (revision) {
    Ledgerkvpb__ReceiptRequest req = LEDGERKVPB__RECEIPT_REQUEST__INIT;
    req.revision = strtoll(revision, NULL, 10);
    if (claims) req.claims_digest = (ProtobufCBinaryData){.len = sizeof(digest), .data = digest};
    rc = ask("receipt", host, port, "/ledgerkvpb.Ledger/GetReceipt", &req.base, &r);
  } else if (head) {
    Ledgerkvpb__SignedTreeHeadRequest req = LEDGERKVPB__SIGNED_TREE_HEAD_REQUEST__INIT;
    rc = ask("receipt", host, port, "/ledgerkvpb.Ledger/GetSignedTreeHead", &req.base, &r);
  } else if (keys) {
    Ledgerkvpb__MemberKeysRequest req = LEDGERKVPB__MEMBER_KEYS_REQUEST__INIT;
    rc = ask("receipt", host, port, MEMBER_KEYS_PATH, &req.base, &r);
  } else {
    Ledgerkvpb__ConsistencyProofRequest req = LEDGERKVPB__CONSISTENCY_PROOF_REQUEST__INIT;
    char *colon;
    req.old_size = strtoull(consistency, &colon, 10);
    if (*colon != ':') {
      usage(stderr);
      return 2;
    }
    req.new_size = strtoull(colon + 1, NULL, 10);
    rc = ask("receipt", host, port, "/ledgerkvpb.Ledger/GetConsistencyProof", &req.base, &r);
  }
  if (rc != 0) return 1;
  int status = revision ? print_receipt(&r)
               : head   ? print_head_response(&r)
               : keys   ? print_member_keys(&r)
                        : print_consistency(&r);
  if (status) fprintf(stderr, "ledgerkv receipt: malformed response\n");
  free(r.resp);
  return status;
}

const Ledgerkvpb__MemberKey *lkv__tools_member_find(const Ledgerkvpb__MemberKeysResponse *m,
                                                    int (*match)(const Ledgerkvpb__MemberKey *k,
                                                                 const void *arg),
                                                    const void *arg) {
  for (size_t i = 0; i < m->n_members; i++)
    if (match(m->members[i], arg)) return m->members[i];
  return NULL;
}
