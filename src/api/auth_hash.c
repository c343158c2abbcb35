/* bcrypt off the loop thread, one detached worker thread per request: passwords hashed before they are
 * proposed, and checked for Authenticate. */
#include <crypt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "api/auth_token.h"
#include "common/error.h"

/* UserAdd and UserChangePassword are rare administrative calls, so a thread each costs nothing that
 * matters; the thread hands the request to the replicator and touches nothing after that (the call is
 * answered from the replicator's thread, and the transport's stop waits for every call to finish). */
typedef struct hash_job_s {
  lkv_api_t *api;
  lkv_call_t *call;
  lkv_op_kind_t kind;
  ProtobufCMessage *msg;
  char **password;
  char *hash;           /* a check's stored hash; NULL for a hashing job */
  uint64_t checked_rev; /* a check's: the auth revision hash was read at */
  lkv__who_t who;       /* who asked, resolved before the job starts */
} hash_job_t;

/* *out: a malloc'd crypt of password with setting (a hash's salt and cost, or a whole hash). */
static int bcrypt_crypt(const char *password, const char *setting, char **out) {
  struct crypt_data *cd = calloc(1, sizeof(*cd)); /* about 32 KiB: not on a small thread stack */
  if (!cd) return LKV_ENOMEM;
  const char *h = crypt_r(password, setting, cd);
  int rc = h && h[0] == '$' ? 0 : LKV_EINVAL; /* libxcrypt fails with "*0"/"*1", never NULL-or-hash */
  if (!rc) {
    *out = strdup(h);
    if (!*out) rc = LKV_ENOMEM;
  }
  explicit_bzero(cd, sizeof(*cd));
  free(cd);
  return rc;
}

/* Go's bcrypt writes "$2a$" hashes, and etcd stores what Go makes: libxcrypt makes the same form. */
static int bcrypt_hash(const char *password, int cost, char **out) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn("$2a$", (unsigned long)cost, NULL, 0, setting, sizeof(setting))) return LKV_EINVAL;
  return bcrypt_crypt(password, setting, out);
}

int lkv__auth_bcrypt_check(const char *password, const char *hash) {
  char *again = NULL;
  int rc = bcrypt_crypt(password, hash, &again);
  if (rc == LKV_ENOMEM) return rc;
  size_t n = strlen(hash);
  unsigned diff = rc || strlen(again) != n;
  for (size_t i = 0; !rc && !diff && i < n; i++) diff |= (unsigned char)(again[i] ^ hash[i]);
  free(again);
  return diff ? LKV_EAUTHFAILED : 0;
}

/* Frees what the job owns and answers the call with rc. */
static void job_fail(hash_job_t *j, int rc) {
  protobuf_c_message_free_unpacked(j->msg, NULL);
  free(j->hash);
  lkv__who_free(&j->who);
  lkv__api_fail(j->call, rc);
}

/* A check's answer: a right password is followed, as in etcd, by the replicated Authenticate that every
 * member records the token of; the log gets the token's random prefix in place of the password. */
static void check_main(hash_job_t *j) {
  int rc = lkv__auth_bcrypt_check(*j->password, j->hash);
  explicit_bzero(*j->password, strlen(*j->password));
  char prefix[LKV_API_TOKEN_PREFIX_LEN + 1];
  if (!rc) rc = lkv_api_tokens_prefix(prefix);
  char *copy = rc ? NULL : strdup(prefix);
  if (!rc && !copy) rc = LKV_ENOMEM;
  if (rc) {
    job_fail(j, rc);
    return;
  }
  free(j->hash);
  free(*j->password); /* protobuf-c's default allocator: malloc */
  *j->password = copy;
  /* Proposed as the user it authenticates, at the revision its password was checked at: applied after a
   * change of users or roles (a new password), it is refused rather than issue a token (etcd retries). */
  lkv__who_free(&j->who);
  j->who.user = strdup(((const Etcdserverpb__AuthenticateRequest *)j->msg)->name);
  j->who.revision = j->checked_rev;
  if (!j->who.user) {
    job_fail(j, LKV_ENOMEM);
    return;
  }
  lkv__api_propose_as(j->api, j->call, LKV_OP_AUTH_AUTHENTICATE, j->msg, NULL, 0, &j->who);
}

static void *hash_main(void *arg) {
  hash_job_t *j = arg;
  if (j->hash) {
    check_main(j);
    free(j);
    return NULL;
  }
  char *hash = NULL;
  int rc = bcrypt_hash(*j->password, j->api->bcrypt_cost, &hash);
  if (rc) {
    job_fail(j, rc);
  } else {
    explicit_bzero(*j->password, strlen(*j->password));
    free(*j->password); /* protobuf-c's default allocator: malloc */
    *j->password = hash;
    lkv__api_propose_as(j->api, j->call, j->kind, j->msg, NULL, 0, &j->who);
  }
  free(j);
  return NULL;
}

/* Runs job on a detached thread; on failure frees what the job owns and answers the call. Who asked is
 * resolved here, on the call's loop thread (a client certificate can only be read there). */
static void start(hash_job_t job) {
  int rc = lkv__auth_who(job.api, job.call, &job.who);
  if (rc) {
    job_fail(&job, rc);
    return;
  }
  hash_job_t *j = malloc(sizeof(*j));
  rc = LKV_ENOMEM;
  if (j) {
    *j = job;
    pthread_attr_t attr;
    pthread_t th;
    rc = -pthread_attr_init(&attr);
    if (!rc) {
      pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
      rc = -pthread_create(&th, &attr, hash_main, j);
      pthread_attr_destroy(&attr);
    }
    if (!rc) return;
    free(j);
  }
  job_fail(&job, rc);
}

void lkv__auth_hash_propose(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind, ProtobufCMessage *msg,
                            char **password) {
  start((hash_job_t){.api = api, .call = call, .kind = kind, .msg = msg, .password = password});
}

void lkv__auth_check_password(lkv_api_t *api, lkv_call_t *call, ProtobufCMessage *msg, char **password,
                              char *hash, uint64_t checked_rev) {
  start((hash_job_t){
      .api = api, .call = call, .msg = msg, .password = password, .hash = hash, .checked_rev = checked_rev});
}
