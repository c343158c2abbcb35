/* Receipts as JSON text: a writer and a strict parser for exactly the receipt's shape. */
#include "tools/receipt_json.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static void hex(FILE *f, const uint8_t *b, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) fprintf(f, "%02x", b[i]);
  fputc('"', f);
}

void lkv_receipt_json_write_head(FILE *f, const lkv_ledger_signed_head_t *h) {
  fprintf(f, "{\"tree_size\": %" PRIu64 ", \"root\": ", h->head.tree_size);
  hex(f, h->head.root.b, LKV_MERKLE_HASH_LEN);
  fprintf(f, ", \"revision\": %" PRId64 ", \"timestamp_ms\": %" PRIu64 ", \"public_key\": ", h->head.revision,
          h->head.timestamp_ms);
  hex(f, h->public_key, LKV_LEDGER_KEY_LEN);
  fputs(", \"signature\": ", f);
  hex(f, h->signature, LKV_LEDGER_SIG_LEN);
  fputs("}", f);
}

void lkv_receipt_json_write_proof(FILE *f, const lkv_merkle_proof_t *p) {
  fputc('[', f);
  for (size_t i = 0; i < p->n; i++) {
    if (i) fputs(", ", f);
    hex(f, p->h[i].b, LKV_MERKLE_HASH_LEN);
  }
  fputc(']', f);
}

void lkv_receipt_json_write(FILE *f, const lkv_ledger_receipt_t *r, const uint8_t *write_set, size_t len) {
  fprintf(f, "{\"kind\": %d, \"revision\": %" PRId64 ", \"write_set_digest\": ", (int)r->leaf.kind,
          r->leaf.revision);
  hex(f, r->leaf.ws_digest, LKV_LEDGER_DIGEST_LEN);
  fputs(", \"claims_digest\": ", f);
  hex(f, r->leaf.claims, LKV_LEDGER_DIGEST_LEN);
  fprintf(f, ", \"leaf_index\": %" PRIu64 ", \"proof\": ", r->leaf_index);
  lkv_receipt_json_write_proof(f, &r->proof);
  fputs(", \"head\": ", f);
  lkv_receipt_json_write_head(f, &r->sth);
  if (write_set) {
    fputs(", \"write_set\": ", f);
    hex(f, write_set, len);
  }
  fputs("}\n", f);
}

/* ---- parsing: a cursor over the text ---- */

typedef struct cur_s {
  const char *p, *end;
  const char *why;
} cur_t;

static int bad(cur_t *c, const char *why) {
  if (!c->why) c->why = why;
  return LKV_EINVAL;
}

static void ws(cur_t *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int expect(cur_t *c, char ch) {
  ws(c);
  if (c->p >= c->end || *c->p != ch) return bad(c, "unexpected character");
  c->p++;
  return 0;
}

/* A string without escapes (receipts contain none): [*s, *s + *n). */
static int str(cur_t *c, const char **s, size_t *n) {
  if (expect(c, '"')) return LKV_EINVAL;
  const char *start = c->p;
  while (c->p < c->end && *c->p != '"') {
    if (*c->p == '\\') return bad(c, "escapes are not expected in a receipt");
    c->p++;
  }
  if (c->p >= c->end) return bad(c, "unterminated string");
  *s = start;
  *n = (size_t)(c->p - start);
  c->p++;
  return 0;
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

static int bytes(cur_t *c, uint8_t *out, size_t n) {
  const char *s;
  size_t len;
  if (str(c, &s, &len)) return LKV_EINVAL;
  if (len != 2 * n) return bad(c, "hex value of the wrong length");
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return bad(c, "bad hex digit");
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

/* A hex string of any even length into a malloc'd *out (*n bytes). */
static int bytes_alloc(cur_t *c, uint8_t **out, size_t *n) {
  const char *s;
  size_t len;
  if (str(c, &s, &len)) return LKV_EINVAL;
  if (len % 2) return bad(c, "hex value of the wrong length");
  if (!(*out = malloc(len / 2 + 1))) return bad(c, "out of memory");
  *n = len / 2;
  for (size_t i = 0; i < *n; i++) {
    int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return bad(c, "bad hex digit");
    (*out)[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

/* A non-negative integer (signed fields of a receipt are never negative) up to INT64_MAX. */
static int num(cur_t *c, uint64_t *out) {
  ws(c);
  uint64_t v = 0;
  const char *start = c->p;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    if (v > (uint64_t)INT64_MAX / 10) return bad(c, "number too large");
    v = v * 10 + (uint64_t)(*c->p++ - '0');
  }
  if (c->p == start) return bad(c, "number expected");
  *out = v;
  return 0;
}

/* Calls member(c, name, len, arg) for each member of an object; each name at most once (seen bits). */
typedef int (*member_fn)(cur_t *c, const char *name, size_t len, void *arg);

static int object(cur_t *c, member_fn member, void *arg) {
  if (expect(c, '{')) return LKV_EINVAL;
  ws(c);
  if (c->p < c->end && *c->p == '}') {
    c->p++;
    return 0;
  }
  for (;;) {
    const char *name;
    size_t len;
    if (str(c, &name, &len) || expect(c, ':') || member(c, name, len, arg)) return LKV_EINVAL;
    ws(c);
    if (c->p < c->end && *c->p == ',') {
      c->p++;
      continue;
    }
    return expect(c, '}');
  }
}

static int is(const char *name, size_t len, const char *want) {
  return strlen(want) == len && memcmp(name, want, len) == 0;
}

typedef struct parse_s {
  lkv_ledger_receipt_t *r;
  uint8_t **write_set;
  size_t *write_set_len;
  unsigned seen;
} parse_t;

/* Marks member bit once; a repeated member is refused. */
static int once(cur_t *c, parse_t *p, unsigned bit) {
  if (p->seen & bit) return bad(c, "repeated member");
  p->seen |= bit;
  return 0;
}

static int head_member(cur_t *c, const char *name, size_t len, void *arg) {
  parse_t *p = arg;
  lkv_ledger_signed_head_t *h = &p->r->sth;
  uint64_t v;
  if (is(name, len, "tree_size")) return once(c, p, 1u << 8) || num(c, &h->head.tree_size);
  if (is(name, len, "root")) return once(c, p, 1u << 9) || bytes(c, h->head.root.b, LKV_MERKLE_HASH_LEN);
  if (is(name, len, "revision")) {
    if (once(c, p, 1u << 10) || num(c, &v)) return LKV_EINVAL;
    h->head.revision = (int64_t)v;
    return 0;
  }
  if (is(name, len, "timestamp_ms")) return once(c, p, 1u << 11) || num(c, &h->head.timestamp_ms);
  if (is(name, len, "public_key")) return once(c, p, 1u << 12) || bytes(c, h->public_key, LKV_LEDGER_KEY_LEN);
  if (is(name, len, "signature")) return once(c, p, 1u << 13) || bytes(c, h->signature, LKV_LEDGER_SIG_LEN);
  return bad(c, "unknown member in head");
}

static int proof(cur_t *c, lkv_merkle_proof_t *out) {
  out->n = 0;
  if (expect(c, '[')) return LKV_EINVAL;
  ws(c);
  if (c->p < c->end && *c->p == ']') {
    c->p++;
    return 0;
  }
  for (;;) {
    if (out->n == LKV_MERKLE_PROOF_MAX) return bad(c, "proof too long");
    if (bytes(c, out->h[out->n].b, LKV_MERKLE_HASH_LEN)) return LKV_EINVAL;
    out->n++;
    ws(c);
    if (c->p < c->end && *c->p == ',') {
      c->p++;
      continue;
    }
    return expect(c, ']');
  }
}

#define WRITE_SET (1u << 7) /* the one optional member */

static int receipt_member(cur_t *c, const char *name, size_t len, void *arg) {
  parse_t *p = arg;
  lkv_ledger_receipt_t *r = p->r;
  uint64_t v;
  if (is(name, len, "kind")) {
    if (once(c, p, 1u << 0) || num(c, &v)) return LKV_EINVAL;
    if (v < LKV_LEDGER_REVISION || v > LKV_LEDGER_KIND_MAX) return bad(c, "unknown kind");
    r->leaf.kind = (lkv_ledger_kind_t)v;
    return 0;
  }
  if (is(name, len, "revision")) {
    if (once(c, p, 1u << 1) || num(c, &v)) return LKV_EINVAL;
    r->leaf.revision = (int64_t)v;
    return 0;
  }
  if (is(name, len, "write_set_digest"))
    return once(c, p, 1u << 2) || bytes(c, r->leaf.ws_digest, LKV_LEDGER_DIGEST_LEN);
  if (is(name, len, "claims_digest"))
    return once(c, p, 1u << 3) || bytes(c, r->leaf.claims, LKV_LEDGER_DIGEST_LEN);
  if (is(name, len, "leaf_index")) return once(c, p, 1u << 4) || num(c, &r->leaf_index);
  if (is(name, len, "proof")) return once(c, p, 1u << 5) || proof(c, &r->proof);
  if (is(name, len, "head")) return once(c, p, 1u << 6) || object(c, head_member, p);
  if (is(name, len, "write_set"))
    return once(c, p, WRITE_SET) || bytes_alloc(c, p->write_set, p->write_set_len);
  return bad(c, "unknown member");
}

int lkv_receipt_json_parse(const char *text, size_t len, lkv_ledger_receipt_t *out, uint8_t **write_set,
                           size_t *write_set_len, const char **why) {
  cur_t c = {.p = text, .end = text + len};
  memset(out, 0, sizeof(*out));
  *write_set = NULL;
  *write_set_len = 0;
  parse_t p = {.r = out, .write_set = write_set, .write_set_len = write_set_len};
  int rc = object(&c, receipt_member, &p);
  if (!rc) {
    ws(&c);
    if (c.p != c.end) rc = bad(&c, "trailing text");
  }
  if (!rc && (p.seen & ~WRITE_SET) != 0x3f7fu) rc = bad(&c, "a member is missing");
  if (!rc && (p.seen & WRITE_SET) && out->leaf.kind != LKV_LEDGER_CAUSAL_EVENT)
    rc = bad(&c, "write_set on a receipt of another kind than a causal event");
  if (rc) {
    free(*write_set);
    *write_set = NULL;
    *why = c.why ? c.why : "malformed";
    return LKV_EINVAL;
  }
  return 0;
}
