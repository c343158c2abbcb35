/* etcd 3.4's JWT auth tokens: jwt-go's RS*, PS*, ES* and HS* methods with OpenSSL, etcd's claims
 * (username, revision, exp), base64url without padding. */
#include "api/auth_jwt.h"

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

typedef enum { KIND_RSA, KIND_PSS, KIND_EC, KIND_HMAC } kind_t;

static const struct {
  const char *name;
  kind_t kind;
  int bits;     /* the digest: SHA-256, -384, -512 */
  size_t coord; /* ES*: bytes of r and of s in the signature (the curve's size) */
} methods[] = {
    {"RS256", KIND_RSA, 256, 0},  {"RS384", KIND_RSA, 384, 0},  {"RS512", KIND_RSA, 512, 0},
    {"PS256", KIND_PSS, 256, 0},  {"PS384", KIND_PSS, 384, 0},  {"PS512", KIND_PSS, 512, 0},
    {"ES256", KIND_EC, 256, 32},  {"ES384", KIND_EC, 384, 48},  {"ES512", KIND_EC, 512, 66},
    {"HS256", KIND_HMAC, 256, 0}, {"HS384", KIND_HMAC, 384, 0}, {"HS512", KIND_HMAC, 512, 0},
};

struct lkv_api_jwt_s {
  size_t m;        /* index in methods */
  EVP_PKEY *key;   /* NULL for HS* */
  uint8_t *secret; /* HS*: the priv-key file's bytes, as etcd takes them (a shared secret) */
  size_t secret_len;
  int verify_only;
  int64_t ttl_s;
};

static const EVP_MD *digest(size_t m) {
  return methods[m].bits == 256 ? EVP_sha256() : methods[m].bits == 384 ? EVP_sha384() : EVP_sha512();
}

/* A PEM private key, public key or certificate's key from path; NULL when there is none. */
static EVP_PKEY *load_key(const char *path, int private) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  EVP_PKEY *k = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
  if (!k && !private) { /* jwt-go also takes a certificate's key */
    rewind(f);
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    if (cert) k = X509_get_pubkey(cert);
    X509_free(cert);
  }
  fclose(f);
  return k;
}

/* The whole of path's bytes (malloc'd) into *out; 0 or -1 (unreadable, or out of memory). */
static int read_file(const char *path, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (n == cap) {
      uint8_t *b = realloc(buf, cap = cap ? 2 * cap : 256);
      if (!b) {
        rc = -1;
        break;
      }
      buf = b;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      rc = ferror(f) ? -1 : 0;
      break;
    }
  }
  fclose(f);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  *len = n;
  return 0;
}

/* etcd's hmacKey: HS* signs and verifies with the private key file's bytes; a public key file is read
 * (it must be readable) but not used. Sets j's secret; returns the reason it cannot, or NULL. */
static const char *hmac_secret(lkv_api_jwt_t *j, const char *pub_key, const char *priv_key) {
  uint8_t *pub;
  size_t pub_len;
  if (pub_key && pub_key[0]) {
    if (read_file(pub_key, &pub, &pub_len) != 0) return "cannot read the public key file";
    free(pub);
  }
  if (priv_key && priv_key[0] && read_file(priv_key, &j->secret, &j->secret_len) != 0)
    return "cannot read the private key file";
  return j->secret_len ? NULL : "auth: missing key data";
}

static int fit(const EVP_PKEY *k, kind_t kind) {
  return EVP_PKEY_get_base_id(k) == (kind == KIND_EC ? EVP_PKEY_EC : EVP_PKEY_RSA);
}

static int hmac_new(lkv_api_jwt_t **out, size_t m, const char *pub_key, const char *priv_key, int64_t ttl_s,
                    char *err, size_t errlen) {
  lkv_api_jwt_t *j = calloc(1, sizeof(*j));
  if (!j) {
    snprintf(err, errlen, "out of memory");
    return LKV_ENOMEM;
  }
  const char *why = hmac_secret(j, pub_key, priv_key);
  if (why) {
    snprintf(err, errlen, "%s", why);
    lkv_api_jwt_free(j);
    return LKV_EINVAL;
  }
  j->m = m;
  j->ttl_s = ttl_s;
  *out = j;
  return 0;
}

int lkv_api_jwt_new(lkv_api_jwt_t **out, const char *method, const char *pub_key, const char *priv_key,
                    int64_t ttl_s, char *err, size_t errlen) {
  size_t m = 0;
  while (m < sizeof(methods) / sizeof(methods[0]) && strcmp(methods[m].name, method ? method : "") != 0) m++;
  if (m == sizeof(methods) / sizeof(methods[0])) {
    snprintf(err, errlen, "auth: invalid auth signature method \"%s\"", method ? method : "");
    return LKV_EINVAL;
  }
  if (methods[m].kind == KIND_HMAC) return hmac_new(out, m, pub_key, priv_key, ttl_s, err, errlen);
  EVP_PKEY *pub = pub_key && pub_key[0] ? load_key(pub_key, 0) : NULL;
  EVP_PKEY *priv = priv_key && priv_key[0] ? load_key(priv_key, 1) : NULL;
  const char *why = NULL;
  if ((pub_key && pub_key[0] && !pub) || (priv_key && priv_key[0] && !priv))
    why = "cannot read a PEM key from the key file";
  else if (!pub && !priv)
    why = "auth: missing key data";
  else if ((pub && !fit(pub, methods[m].kind)) || (priv && !fit(priv, methods[m].kind)))
    why = "the key is not of the signing method's kind";
  else if (pub && priv && EVP_PKEY_eq(pub, priv) != 1)
    why = "auth: public and private keys don't match";
  lkv_api_jwt_t *j = why ? NULL : calloc(1, sizeof(*j));
  if (!j) {
    snprintf(err, errlen, "%s", why ? why : "out of memory");
    EVP_PKEY_free(pub);
    EVP_PKEY_free(priv);
    return why ? LKV_EINVAL : LKV_ENOMEM;
  }
  j->m = m;
  j->verify_only = priv == NULL;
  j->key = priv ? priv : pub;
  if (priv) EVP_PKEY_free(pub);
  j->ttl_s = ttl_s;
  *out = j;
  return 0;
}

void lkv_api_jwt_free(lkv_api_jwt_t *j) {
  if (!j) return;
  EVP_PKEY_free(j->key);
  if (j->secret) OPENSSL_cleanse(j->secret, j->secret_len);
  free(j->secret);
  free(j);
}

/* base64url of n bytes, without padding, appended at out (4 * ((n + 2) / 3) + 1 bytes free). */
static size_t b64url(const uint8_t *in, size_t n, char *out) {
  size_t len = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
  while (len > 0 && out[len - 1] == '=') len--;
  for (size_t i = 0; i < len; i++) out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
  out[len] = '\0';
  return len;
}

/* Decodes len base64url characters into a malloc'd *out (*out_len). Returns 0, LKV_EINVALIDTOKEN,
 * LKV_ENOMEM. */
static int unb64url(const char *in, size_t len, uint8_t **out, size_t *out_len) {
  if (len % 4 == 1) return LKV_EINVALIDTOKEN;
  size_t pad = (4 - len % 4) % 4;
  char *std = malloc(len + pad + 1);
  uint8_t *bin = malloc((len + pad) / 4 * 3 + 1);
  int rc = std && bin ? 0 : LKV_ENOMEM;
  for (size_t i = 0; !rc && i < len; i++) {
    char c = in[i];
    if (c == '+' || c == '/' || c == '=') rc = LKV_EINVALIDTOKEN; /* not base64url */
    std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  int n = -1;
  if (!rc) {
    memset(std + len, '=', pad);
    n = EVP_DecodeBlock(bin, (unsigned char *)std, (int)(len + pad));
    if (n < 0) rc = LKV_EINVALIDTOKEN;
  }
  free(std);
  if (rc) {
    free(bin);
    return rc;
  }
  *out = bin;
  *out_len = (size_t)n - pad;
  return 0;
}

/* ES*: OpenSSL's DER signature <-> JWS's r ‖ s, each coord bytes. */
static int der_to_raw(const uint8_t *der, size_t len, size_t coord, uint8_t *raw) {
  ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &der, (long)len);
  if (!sig) return LKV_EINVAL;
  const BIGNUM *r, *s;
  ECDSA_SIG_get0(sig, &r, &s);
  int ok = BN_bn2binpad(r, raw, (int)coord) > 0 && BN_bn2binpad(s, raw + coord, (int)coord) > 0;
  ECDSA_SIG_free(sig);
  return ok ? 0 : LKV_EINVAL;
}

static int raw_to_der(const uint8_t *raw, size_t coord, uint8_t **der, size_t *len) {
  ECDSA_SIG *sig = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(raw, (int)coord, NULL), *s = BN_bin2bn(raw + coord, (int)coord, NULL);
  int n = -1;
  if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
    r = s = NULL; /* the signature owns them now */
    *der = NULL;
    n = i2d_ECDSA_SIG(sig, der);
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(sig);
  if (n <= 0) return LKV_ENOMEM;
  *len = (size_t)n;
  return 0;
}

/* A digest context for signing or verifying with j's key and method's padding. */
static EVP_MD_CTX *start(const lkv_api_jwt_t *j, int sign) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  int ok = ctx && (sign ? EVP_DigestSignInit(ctx, &pctx, digest(j->m), NULL, j->key)
                        : EVP_DigestVerifyInit(ctx, &pctx, digest(j->m), NULL, j->key)) == 1;
  if (ok && methods[j->m].kind == KIND_PSS) /* jwt-go: salt as long as the hash to sign, any to verify */
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, sign ? RSA_PSS_SALTLEN_DIGEST : RSA_PSS_SALTLEN_AUTO) > 0;
  if (ok) return ctx;
  EVP_MD_CTX_free(ctx);
  return NULL;
}

/* The signature of data (n bytes) with j's key and method, as jwt-go encodes it (ES*: r ‖ s), into a
 * malloc'd *sig. Returns 0, LKV_ENOMEM, LKV_EINVAL (OpenSSL failed). */
static int signature(const lkv_api_jwt_t *j, const uint8_t *data, size_t n, uint8_t **sig, size_t *sig_len) {
  if (methods[j->m].kind == KIND_HMAC) {
    unsigned int len = 0;
    if (!(*sig = malloc(EVP_MAX_MD_SIZE))) return LKV_ENOMEM;
    if (HMAC(digest(j->m), j->secret, (int)j->secret_len, data, n, *sig, &len)) {
      *sig_len = len;
      return 0;
    }
    free(*sig);
    *sig = NULL;
    return LKV_EINVAL;
  }
  EVP_MD_CTX *ctx = start(j, 1);
  *sig = NULL;
  int rc = ctx ? 0 : LKV_EINVAL;
  if (!rc && (EVP_DigestSign(ctx, NULL, sig_len, data, n) != 1 || !(*sig = malloc(*sig_len)) ||
              EVP_DigestSign(ctx, *sig, sig_len, data, n) != 1))
    rc = *sig ? LKV_EINVAL : LKV_ENOMEM;
  uint8_t raw[2 * 66];
  if (!rc && methods[j->m].kind == KIND_EC) {
    rc = der_to_raw(*sig, *sig_len, methods[j->m].coord, raw);
    memcpy(*sig, raw, *sig_len = 2 * methods[j->m].coord); /* a DER signature is longer than r ‖ s */
  }
  EVP_MD_CTX_free(ctx);
  if (rc) {
    free(*sig);
    *sig = NULL;
  }
  return rc;
}

int lkv_api_jwt_sign(const lkv_api_jwt_t *j, const char *user, uint64_t revision, int64_t now_s,
                     char **token) {
  if (j->verify_only) return LKV_EPERM;
  json_object *name = json_object_new_string(user);
  if (!name) return LKV_ENOMEM;
  char header[64], claims[64];
  snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", methods[j->m].name);
  /* encoding/json writes a map's keys in order: exp, revision, username */
  snprintf(claims, sizeof(claims),
           "{\"exp\":%lld,\"revision\":%llu,\"username\":", (long long)(now_s + j->ttl_s),
           (unsigned long long)revision);
  const char *quoted =
      json_object_to_json_string_ext(name, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  size_t hl = strlen(header), cl = strlen(claims), ql = strlen(quoted);
  char *body = malloc(cl + ql + 2);
  /* RSA: the modulus' bytes; EC: DER's bound; HMAC: the digest's */
  size_t sig_max = j->key ? (size_t)EVP_PKEY_get_size(j->key) : EVP_MAX_MD_SIZE;
  char *out = malloc(4 * ((hl + 2) / 3) + 4 * ((cl + ql + 3) / 3) + 4 * ((sig_max + 2) / 3) + 8);
  int rc = body && out ? 0 : LKV_ENOMEM;
  uint8_t *sig = NULL;
  size_t sig_len = 0;
  if (!rc) {
    snprintf(body, cl + ql + 2, "%s%s}", claims, quoted);
    size_t n = b64url((const uint8_t *)header, hl, out);
    out[n++] = '.';
    n += b64url((const uint8_t *)body, strlen(body), out + n);
    rc = signature(j, (const uint8_t *)out, n, &sig, &sig_len);
    if (!rc) {
      out[n++] = '.';
      b64url(sig, sig_len, out + n);
    }
  }
  free(sig);
  free(body);
  json_object_put(name);
  if (rc) {
    free(out);
    return rc;
  }
  *token = out;
  return 0;
}

/* The decoded JSON of a token's part (len characters), or NULL. */
static json_object *part_json(const char *part, size_t len) {
  uint8_t *bin;
  size_t n;
  if (unb64url(part, len, &bin, &n) != 0) return NULL;
  json_tokener *tok = json_tokener_new();
  json_object *o = tok ? json_tokener_parse_ex(tok, (const char *)bin, (int)n) : NULL;
  if (o &&
      (json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(o, json_type_object))) {
    json_object_put(o);
    o = NULL;
  }
  json_tokener_free(tok);
  free(bin);
  return o;
}

/* The signature (b64 characters) over signed (len bytes) checks with j's key. */
static int signature_ok(const lkv_api_jwt_t *j, const char *signed_part, size_t len, const char *b64,
                        size_t b64_len) {
  uint8_t *sig, *der = NULL;
  size_t sig_len, der_len = 0;
  if (unb64url(b64, b64_len, &sig, &sig_len) != 0) return 0;
  if (methods[j->m].kind == KIND_HMAC) { /* jwt-go's: the same MAC, compared in constant time */
    uint8_t *mac = NULL;
    size_t mac_len = 0;
    int same = signature(j, (const uint8_t *)signed_part, len, &mac, &mac_len) == 0 && mac_len == sig_len &&
               CRYPTO_memcmp(mac, sig, sig_len) == 0;
    free(mac);
    free(sig);
    return same;
  }
  int ok = 1;
  if (methods[j->m].kind == KIND_EC) {
    ok = sig_len == 2 * methods[j->m].coord && raw_to_der(sig, methods[j->m].coord, &der, &der_len) == 0;
  }
  EVP_MD_CTX *ctx = ok ? start(j, 0) : NULL;
  ok = ctx && EVP_DigestVerify(ctx, der ? der : sig, der ? der_len : sig_len, (const uint8_t *)signed_part,
                               len) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  free(sig);
  return ok;
}

int lkv_api_jwt_verify(const lkv_api_jwt_t *j, const char *token, int64_t now_s, char **user,
                       uint64_t *revision) {
  const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  if (!dot2 || strchr(dot2 + 1, '.')) return LKV_EINVALIDTOKEN;
  json_object *header = part_json(token, (size_t)(dot1 - token)), *alg;
  int ok = header && json_object_object_get_ex(header, "alg", &alg) &&
           json_object_is_type(alg, json_type_string) &&
           strcmp(json_object_get_string(alg), methods[j->m].name) == 0 &&
           signature_ok(j, token, (size_t)(dot2 - token), dot2 + 1, strlen(dot2 + 1));
  json_object_put(header);
  json_object *claims = ok ? part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1)) : NULL, *name, *rev, *exp;
  ok = claims && json_object_object_get_ex(claims, "username", &name) &&
       json_object_is_type(name, json_type_string) && json_object_object_get_ex(claims, "revision", &rev) &&
       (json_object_is_type(rev, json_type_int) || json_object_is_type(rev, json_type_double));
  /* jwt-go's MapClaims.Valid: a token with "exp" is valid until then, one without it for ever */
  if (ok && json_object_object_get_ex(claims, "exp", &exp))
    ok = (json_object_is_type(exp, json_type_int) || json_object_is_type(exp, json_type_double)) &&
         now_s <= json_object_get_int64(exp);
  int rc = ok ? 0 : LKV_EINVALIDTOKEN;
  if (ok) {
    *revision = (uint64_t)json_object_get_double(rev);
    *user = strdup(json_object_get_string(name));
    if (!*user) rc = LKV_ENOMEM;
  }
  json_object_put(claims);
  return rc;
}
