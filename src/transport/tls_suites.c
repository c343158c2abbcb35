/* etcd's --cipher-suites: Go's cipher-suite names mapped to OpenSSL's (a pure table lookup). */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "transport/tls.h"

/* Every name Go's tls.CipherSuites() and tls.InsecureCipherSuites() list, plus the two aliases etcd's
 * tlsutil.GetCipherSuite adds. openssl NULL: a TLS 1.3 suite, always on and not configurable (as in Go). */
static const struct {
  const char *go;
  const char *openssl;
} suites[] = {
    {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"},
    {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"},
    {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_AES_128_GCM_SHA256", NULL},
    {"TLS_AES_256_GCM_SHA384", NULL},
    {"TLS_CHACHA20_POLY1305_SHA256", NULL},
};

/* The entry named name[0..len), or -1. */
static int find(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
    if (strlen(suites[i].go) == len && memcmp(suites[i].go, name, len) == 0) return (int)i;
  }
  return -1;
}

int lkv_tls_cipher_list(const char *names, char *out, size_t outlen, char *err, size_t errlen) {
  size_t used = 0;
  int count = 0;
  if (outlen == 0) return LKV_ENOMEM;
  out[0] = '\0';
  for (const char *s = names;;) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    int i = find(s, len);
    if (i < 0) {
      if (errlen > 0) snprintf(err, errlen, "unexpected TLS cipher suite \"%.*s\"", (int)len, s);
      return LKV_EINVAL;
    }
    if (suites[i].openssl != NULL) {
      int n = snprintf(out + used, outlen - used, "%s%s", count ? ":" : "", suites[i].openssl);
      if (n < 0 || (size_t)n >= outlen - used) return LKV_ENOMEM;
      used += (size_t)n;
      count++;
    }
    if (comma == NULL) return count;
    s = comma + 1;
  }
}
