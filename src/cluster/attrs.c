/* A member's attributes: encoding and decoding. */
#include "cluster/attrs.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/le.h"

#define ATTRS_V1 1
#define ATTRS_V2 2 /* with the ledger key */

static size_t str_size(const char *s) {
  return 4 + strlen(s);
}

static uint8_t *put_u32(uint8_t *p, uint32_t v) {
  lkv_le32_put(p, v);
  return p + 4;
}

static uint8_t *put_str(uint8_t *p, const char *s) {
  size_t n = strlen(s);
  p = put_u32(p, (uint32_t)n);
  memcpy(p, s, n);
  return p + n;
}

int lkv_cluster_attrs_encode(const lkv_cluster_attrs_t *a, uint8_t **out, size_t *out_len) {
  size_t n = 1 + str_size(a->name ? a->name : "") + 8 + (a->has_ledger_key ? LKV_CLUSTER_KEY_LEN : 0);
  for (size_t i = 0; i < a->n_peer_urls; i++) n += str_size(a->peer_urls[i]);
  for (size_t i = 0; i < a->n_client_urls; i++) n += str_size(a->client_urls[i]);
  uint8_t *b = malloc(n), *p = b;
  if (!b) return LKV_ENOMEM;
  *p++ = a->has_ledger_key ? ATTRS_V2 : ATTRS_V1;
  p = put_str(p, a->name ? a->name : "");
  p = put_u32(p, (uint32_t)a->n_peer_urls);
  for (size_t i = 0; i < a->n_peer_urls; i++) p = put_str(p, a->peer_urls[i]);
  p = put_u32(p, (uint32_t)a->n_client_urls);
  for (size_t i = 0; i < a->n_client_urls; i++) p = put_str(p, a->client_urls[i]);
  if (a->has_ledger_key) memcpy(p, a->ledger_key, LKV_CLUSTER_KEY_LEN);
  *out = b;
  *out_len = n;
  return 0;
}

typedef struct {
  const uint8_t *p, *end;
} reader_t;

static int get_u32(reader_t *r, uint32_t *v) {
  if (r->end - r->p < 4) return LKV_EBADMSG;
  *v = lkv_le32_get(r->p);
  r->p += 4;
  return 0;
}

/* A string with a NUL inside is refused: as a C string it would lose its tail, and encode it differently. */
static int get_str(reader_t *r, char **s) {
  uint32_t n;
  if (get_u32(r, &n) || (size_t)(r->end - r->p) < n || memchr(r->p, '\0', n)) return LKV_EBADMSG;
  *s = malloc((size_t)n + 1);
  if (!*s) return LKV_ENOMEM;
  memcpy(*s, r->p, n);
  (*s)[n] = '\0';
  r->p += n;
  return 0;
}

/* A list: count, then strings. The count is checked against the bytes left before anything is allocated. */
static int get_list(reader_t *r, char ***list, size_t *n) {
  uint32_t count;
  if (get_u32(r, &count) || count > (size_t)(r->end - r->p) / 4) return LKV_EBADMSG;
  *list = calloc(count ? count : 1, sizeof(char *));
  if (!*list) return LKV_ENOMEM;
  for (*n = 0; *n < count; (*n)++) {
    int rc = get_str(r, &(*list)[*n]);
    if (rc) return rc;
  }
  return 0;
}

int lkv_cluster_attrs_decode(const uint8_t *buf, size_t len, lkv_cluster_attrs_t *a) {
  memset(a, 0, sizeof(*a));
  reader_t r = {.p = buf, .end = buf + len};
  uint8_t version = len ? *r.p++ : 0;
  if (version != ATTRS_V1 && version != ATTRS_V2) return LKV_EBADMSG;
  int rc = get_str(&r, &a->name);
  if (!rc) rc = get_list(&r, &a->peer_urls, &a->n_peer_urls);
  if (!rc) rc = get_list(&r, &a->client_urls, &a->n_client_urls);
  if (!rc && version == ATTRS_V2) {
    if (r.end - r.p < LKV_CLUSTER_KEY_LEN) {
      rc = LKV_EBADMSG;
    } else {
      memcpy(a->ledger_key, r.p, LKV_CLUSTER_KEY_LEN);
      a->has_ledger_key = 1;
      r.p += LKV_CLUSTER_KEY_LEN;
    }
  }
  if (!rc && r.p != r.end) rc = LKV_EBADMSG;
  if (rc) lkv_cluster_attrs_free(a);
  return rc;
}

static void free_list(char **list, size_t n) {
  for (size_t i = 0; i < n; i++) free(list[i]);
  free(list);
}

void lkv_cluster_attrs_free(lkv_cluster_attrs_t *a) {
  if (!a) return;
  free(a->name);
  free_list(a->peer_urls, a->n_peer_urls);
  free_list(a->client_urls, a->n_client_urls);
  memset(a, 0, sizeof(*a));
}
