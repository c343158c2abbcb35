/* Member and cluster ids: SHA-1 over etcd's byte layouts, and the hex text etcd prints. */
#include "cluster/ids.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t get_be64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

/* The id is the digest's first 8 bytes read big-endian. */
static int finish(EVP_MD_CTX *ctx, uint64_t *out) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1 || len < 8) return LKV_ENOMEM;
  *out = get_be64(md);
  return 0;
}

int lkv_cluster_member_id(const char *const *peer_urls, size_t n, const char *cluster_name,
                          const int64_t *unix_time, uint64_t *out) {
  if ((n > 0 && !peer_urls) || !out) return LKV_EINVAL;
  /* Sort a copy of the pointers: the caller's order must not matter and its array stays untouched. */
  const char **sorted = malloc((n ? n : 1) * sizeof(*sorted));
  if (!sorted) return LKV_ENOMEM;
  if (n > 0) memcpy(sorted, peer_urls, n * sizeof(*sorted)); /* NULL with n == 0 is allowed */
  qsort(sorted, n, sizeof(*sorted), cmp_str);
  int rc = LKV_ENOMEM;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) goto err_after_sorted;
  if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1) goto err_after_ctx;
  for (size_t i = 0; i < n; i++)
    if (EVP_DigestUpdate(ctx, sorted[i], strlen(sorted[i])) != 1) goto err_after_ctx;
  if (cluster_name && EVP_DigestUpdate(ctx, cluster_name, strlen(cluster_name)) != 1) goto err_after_ctx;
  if (unix_time) {
    char t[24];
    int len = snprintf(t, sizeof(t), "%" PRId64, *unix_time);
    if (EVP_DigestUpdate(ctx, t, (size_t)len) != 1) goto err_after_ctx;
  }
  rc = finish(ctx, out);
err_after_ctx:
  EVP_MD_CTX_free(ctx);
err_after_sorted:
  free(sorted);
  return rc;
}

int lkv_cluster_id_of_members(const uint64_t *member_ids, size_t n, uint64_t *out) {
  if ((n > 0 && !member_ids) || !out) return LKV_EINVAL;
  unsigned char *buf = malloc(n ? 8 * n : 1);
  uint64_t *sorted = malloc((n ? n : 1) * sizeof(*sorted));
  int rc = LKV_ENOMEM;
  if (!buf || !sorted) goto err_after_alloc;
  if (n > 0) memcpy(sorted, member_ids, n * sizeof(*sorted));
  qsort(sorted, n, sizeof(*sorted), cmp_u64);
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < 8; b++) buf[8 * i + (size_t)b] = (unsigned char)(sorted[i] >> (56 - 8 * b));
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) goto err_after_alloc;
  if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 && EVP_DigestUpdate(ctx, buf, 8 * n) == 1)
    rc = finish(ctx, out);
  EVP_MD_CTX_free(ctx);
err_after_alloc:
  free(sorted);
  free(buf);
  return rc;
}

char *lkv_cluster_id_format(uint64_t id, char out[LKV_CLUSTER_ID_HEX_LEN]) {
  snprintf(out, LKV_CLUSTER_ID_HEX_LEN, "%" PRIx64, id);
  return out;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int lkv_cluster_id_parse(const char *s, uint64_t *out) {
  if (!s || !*s) return LKV_EINVAL;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    int d = hex_digit(*p);
    if (d < 0 || v >> 60) return LKV_EINVAL; /* a bad digit, or one more digit would overflow */
    v = v << 4 | (uint64_t)d;
  }
  *out = v;
  return 0;
}
