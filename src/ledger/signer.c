/* Ed25519 key file management, tree-head encoding, signing and verification (see signer.h). */
#include "ledger/signer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "ledger/internal.h"

#define KEY_MAGIC "lkvedkey"
#define KEY_VERSION 1
#define KEY_FILE_LEN (LKV__FILE_HEADER_LEN + crypto_sign_SEEDBYTES + crypto_sign_PUBLICKEYBYTES)
#define STH_TAG "ledgerkv-sth-v1\n"

struct lkv_ledger_signer_s {
  uint8_t *sk; /* crypto_sign_SECRETKEYBYTES, sodium_malloc'd */
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
};

void lkv_ledger_sth_message(const lkv_ledger_sth_t *h, uint8_t out[LKV_LEDGER_STH_MSG_LEN]) {
  memcpy(out, STH_TAG, 16);
  lkv__put_be64(out + 16, h->tree_size);
  memcpy(out + 24, h->root.b, LKV_MERKLE_HASH_LEN);
  lkv__put_be64(out + 56, (uint64_t)h->revision);
  lkv__put_be64(out + 64, h->timestamp_ms);
}

void lkv_ledger_signed_head_encode(const lkv_ledger_signed_head_t *sh,
                                   uint8_t out[LKV_LEDGER_SIGNED_HEAD_LEN]) {
  lkv__put_be64(out, sh->head.tree_size);
  memcpy(out + 8, sh->head.root.b, LKV_MERKLE_HASH_LEN);
  lkv__put_be64(out + 40, (uint64_t)sh->head.revision);
  lkv__put_be64(out + 48, sh->head.timestamp_ms);
  memcpy(out + 56, sh->public_key, LKV_LEDGER_KEY_LEN);
  memcpy(out + 88, sh->signature, LKV_LEDGER_SIG_LEN);
}

void lkv_ledger_signed_head_decode(const uint8_t in[LKV_LEDGER_SIGNED_HEAD_LEN],
                                   lkv_ledger_signed_head_t *out) {
  out->head.tree_size = lkv__get_be64(in);
  memcpy(out->head.root.b, in + 8, LKV_MERKLE_HASH_LEN);
  out->head.revision = (int64_t)lkv__get_be64(in + 40);
  out->head.timestamp_ms = lkv__get_be64(in + 48);
  memcpy(out->public_key, in + 56, LKV_LEDGER_KEY_LEN);
  memcpy(out->signature, in + 88, LKV_LEDGER_SIG_LEN);
}

int lkv_ledger_sth_verify(const lkv_ledger_signed_head_t *sh, const uint8_t *trusted_key) {
  uint8_t msg[LKV_LEDGER_STH_MSG_LEN];
  if (trusted_key && memcmp(trusted_key, sh->public_key, LKV_LEDGER_KEY_LEN)) return LKV_EVERIFY;
  lkv_ledger_sth_message(&sh->head, msg);
  return crypto_sign_verify_detached(sh->signature, msg, sizeof(msg), sh->public_key) ? LKV_EVERIFY : 0;
}

/* Reads and checks an existing key file into s. */
static int load_key(lkv_ledger_signer_t *s, const char *path) {
  uint8_t buf[KEY_FILE_LEN + 1], want[LKV__FILE_HEADER_LEN] = {0};
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  struct stat st;
  int rc;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ELOOP ? LKV_EPERM : -errno;
  if (fstat(fd, &st)) {
    rc = -errno;
    goto out;
  }
  /* A key others can read is a key others may have copied: refuse it instead of signing with it. */
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
    rc = LKV_EPERM;
    goto out;
  }
  ssize_t got = read(fd, buf, sizeof(buf));
  if (got < 0) {
    rc = -errno;
    goto out;
  }
  memcpy(want, KEY_MAGIC, 8);
  lkv__put_be32(want + 8, KEY_VERSION);
  if (got != KEY_FILE_LEN || memcmp(buf, want, sizeof(want))) {
    rc = LKV_ECORRUPT;
    goto out;
  }
  const uint8_t *seed = buf + LKV__FILE_HEADER_LEN;
  rc = crypto_sign_seed_keypair(pk, s->sk, seed) ? LKV_EIO : 0;
  if (!rc && memcmp(pk, seed + crypto_sign_SEEDBYTES, sizeof(pk))) rc = LKV_ECORRUPT;
  if (!rc) memcpy(s->pk, pk, sizeof(pk));
out:
  sodium_memzero(buf, sizeof(buf));
  close(fd);
  return rc;
}

/* Writes a new key to a temporary file and links it into place, so a crash never leaves a partial key
 * and a concurrent creator's key is never replaced. Returns 0, LKV_EEXIST (someone else made one) or an
 * error. */
static int create_key(const char *path) {
  char tmp[PATH_MAX];
  uint8_t buf[KEY_FILE_LEN] = {0};
  uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  int rc;
  if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) return LKV_EINVAL;
  memcpy(buf, KEY_MAGIC, 8);
  lkv__put_be32(buf + 8, KEY_VERSION);
  randombytes_buf(buf + LKV__FILE_HEADER_LEN, crypto_sign_SEEDBYTES);
  if (crypto_sign_seed_keypair(pk, sk, buf + LKV__FILE_HEADER_LEN)) {
    rc = LKV_EIO;
    goto out;
  }
  memcpy(buf + LKV__FILE_HEADER_LEN + crypto_sign_SEEDBYTES, pk, sizeof(pk));
  unlink(tmp); /* a leftover from a crash during creation */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = -errno;
    goto out;
  }
  rc = lkv__pwrite_full(fd, buf, sizeof(buf), 0);
  if (!rc && fsync(fd)) rc = -errno;
  close(fd);
  if (!rc && link(tmp, path)) rc = errno == EEXIST ? LKV_EEXIST : -errno;
  unlink(tmp);
  if (!rc) rc = lkv__fsync_parent(path);
out:
  sodium_memzero(buf, sizeof(buf));
  sodium_memzero(sk, sizeof(sk));
  return rc;
}

int lkv_ledger_signer_open(lkv_ledger_signer_t **out, const char *data_dir, unsigned flags, int *created) {
  char dir[PATH_MAX], path[PATH_MAX];
  int rc;
  if (created) *created = 0;
  if (sodium_init() < 0) return LKV_EIO;
  if (snprintf(dir, sizeof(dir), "%s/ledger", data_dir) >= (int)sizeof(dir) ||
      snprintf(path, sizeof(path), "%s/node.key", dir) >= (int)sizeof(path))
    return LKV_EINVAL;
  lkv_ledger_signer_t *s = calloc(1, sizeof(*s));
  if (!s) return LKV_ENOMEM;
  s->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
  if (!s->sk) {
    rc = LKV_ENOMEM;
    goto err_after_alloc;
  }
  rc = load_key(s, path);
  if (rc == LKV_ENOENT && (flags & LKV_LEDGER_SIGNER_CREATE)) {
    if ((rc = lkv_fs_mkdirs(dir, 0700))) goto err_after_sk;
    rc = create_key(path);
    if (created) *created = rc == 0;
    if (rc == 0 || rc == LKV_EEXIST) rc = load_key(s, path);
  }
  if (rc) goto err_after_sk;
  *out = s;
  return 0;

err_after_sk:
  sodium_free(s->sk);
err_after_alloc:
  free(s);
  return rc;
}

void lkv_ledger_signer_close(lkv_ledger_signer_t *s) {
  if (!s) return;
  sodium_free(s->sk); /* wipes before unmapping */
  free(s);
}

const uint8_t *lkv_ledger_signer_public_key(const lkv_ledger_signer_t *s) {
  return s->pk;
}

int lkv_ledger_signer_sign(const lkv_ledger_signer_t *s, const lkv_ledger_sth_t *h,
                           lkv_ledger_signed_head_t *out) {
  uint8_t msg[LKV_LEDGER_STH_MSG_LEN];
  lkv_ledger_sth_message(h, msg);
  out->head = *h;
  memcpy(out->public_key, s->pk, LKV_LEDGER_KEY_LEN);
  return crypto_sign_detached(out->signature, NULL, msg, sizeof(msg), s->sk) ? LKV_EIO : 0;
}

void lkv_ledger_key_hex(const uint8_t key[LKV_LEDGER_KEY_LEN], char out[LKV_LEDGER_KEY_HEX_LEN]) {
  sodium_bin2hex(out, LKV_LEDGER_KEY_HEX_LEN, key, LKV_LEDGER_KEY_LEN);
}

void lkv_ledger_key_base64(const uint8_t key[LKV_LEDGER_KEY_LEN], char out[LKV_LEDGER_KEY_B64_LEN]) {
  sodium_bin2base64(out, LKV_LEDGER_KEY_B64_LEN, key, LKV_LEDGER_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

int lkv_ledger_key_parse(const char *text, uint8_t key[LKV_LEDGER_KEY_LEN]) {
  size_t len = strlen(text), got = 0;
  const char *end = NULL;
  int rc;
  if (len == 2 * LKV_LEDGER_KEY_LEN)
    rc = sodium_hex2bin(key, LKV_LEDGER_KEY_LEN, text, len, NULL, &got, &end);
  else if (len == LKV_LEDGER_KEY_B64_LEN - 1)
    rc = sodium_base642bin(key, LKV_LEDGER_KEY_LEN, text, len, NULL, &got, &end,
                           sodium_base64_VARIANT_ORIGINAL);
  else
    return LKV_EINVAL;
  return rc == 0 && got == LKV_LEDGER_KEY_LEN && end == text + len ? 0 : LKV_EINVAL;
}
