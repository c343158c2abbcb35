/* The deterministic state machine: etcd KV requests in, etcd responses out, on the MVCC store. */
#ifndef LKV_APPLY_APPLY_H
#define LKV_APPLY_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "ledger/entry.h"
#include "ledger/log_file.h"
#include "mvcc/mvcc.h"

/*
 * Every state change goes through lkv_apply_batch: a batch of write requests is applied in order, in one
 * storage transaction, each request getting either an error or a packed etcd response. The outcome depends
 * only on the store's state and the requests (no clocks, no randomness), so a replication layer can sit in
 * front of it and replay the same batches on every node.
 *
 * Reads (Range outside a txn) do not go through the batch path: lkv_apply_range serves them from a
 * read-only snapshot on the caller's thread.
 */

/* Identity stamped into every response header. */
typedef struct lkv_apply_identity_s {
  uint64_t cluster_id;
  uint64_t member_id;
  uint64_t raft_term;
} lkv_apply_identity_t;

/* Limits checked by lkv_apply_validate (etcd's --max-txn-ops). */
typedef struct lkv_apply_limits_s {
  size_t max_txn_ops; /* 0 = etcd's default, 128 */
} lkv_apply_limits_t;

typedef enum {
  LKV_OP_PUT = 1,          /* Etcdserverpb__PutRequest */
  LKV_OP_DELETE_RANGE = 2, /* Etcdserverpb__DeleteRangeRequest */
  LKV_OP_TXN = 3,          /* Etcdserverpb__TxnRequest */
  LKV_OP_COMPACT = 4,      /* Etcdserverpb__CompactionRequest */
  LKV_OP_ALARM = 5,        /* Etcdserverpb__AlarmRequest with ACTIVATE or DEACTIVATE */
  LKV_OP_LEASE_GRANT = 6,  /* Etcdserverpb__LeaseGrantRequest, id chosen and TTL raised to the minimum
                            * before proposing (the state machine stores them as given) */
  LKV_OP_LEASE_REVOKE = 7, /* Etcdserverpb__LeaseRevokeRequest: from a client, or the lessor on expiry */
  /* etcd's Auth service, each with its Etcdserverpb__Auth*Request (src/apply/auth*.c). UserAdd's and
   * UserChangePassword's password field carries the bcrypt hash made before proposing, not the
   * password. Responses carry the store's revision; none takes a revision or enters the ledger (auth
   * state is access control, not key-value state). */
  LKV_OP_AUTH_ENABLE = 8,
  LKV_OP_AUTH_DISABLE = 9,
  LKV_OP_AUTH_USER_ADD = 10,
  LKV_OP_AUTH_USER_GET = 11,
  LKV_OP_AUTH_USER_LIST = 12,
  LKV_OP_AUTH_USER_DELETE = 13,
  LKV_OP_AUTH_USER_CHANGE_PASSWORD = 14,
  LKV_OP_AUTH_USER_GRANT_ROLE = 15,
  LKV_OP_AUTH_USER_REVOKE_ROLE = 16,
  LKV_OP_AUTH_ROLE_ADD = 17,
  LKV_OP_AUTH_ROLE_GET = 18,
  LKV_OP_AUTH_ROLE_LIST = 19,
  LKV_OP_AUTH_ROLE_DELETE = 20,
  LKV_OP_AUTH_ROLE_GRANT_PERMISSION = 21,
  LKV_OP_AUTH_ROLE_REVOKE_PERMISSION = 22,
  /* etcd's InternalAuthenticateRequest: an Etcdserverpb__AuthenticateRequest whose password field carries
   * the token prefix the API drew after checking the password (never the password). Applied with auth
   * on to a user that exists and has a password, it answers the token "<prefix>.<log index>" (the
   * request's index), the same on every member; else LKV_EAUTHNOTENABLED, LKV_EAUTHFAILED. */
  LKV_OP_AUTH_AUTHENTICATE = 23
} lkv_op_kind_t;

/* The request message of an LKV_OP_AUTH_* kind (its Etcdserverpb__Auth*Request descriptor), NULL for
 * any other kind. Pure. */
const ProtobufCMessageDescriptor *lkv_apply_auth_descriptor(lkv_op_kind_t kind);

/* Reads whether auth is enabled and the auth revision (1 in a store whose auth state never changed, as
 * etcd's starts) from a read snapshot. Any thread. Returns 0 or the codes of lkv_apply_range. */
int lkv_apply_auth_status(lkv_mvcc_t *store, int *enabled, uint64_t *revision);

/* etcd's conditions for AuthEnable on a read snapshot: 0 when the root user exists and holds the root
 * role, else LKV_EROOTUSERNOTEXIST or LKV_EROOTROLENOTEXIST (or the codes of lkv_apply_range). Any
 * thread. */
int lkv_apply_auth_enable_check(lkv_mvcc_t *store);

/* Who a request runs as: the user its token (or certificate) named, and the auth revision it was
 * checked at (0: no user given). The caller owns user. */
typedef struct lkv_apply_auth_s {
  const char *user;
  uint64_t revision;
} lkv_apply_auth_t;

/* etcd's IsRangePermitted (write = 0) and IsPutPermitted / IsDeleteRangePermitted (write = 1) on a read
 * snapshot: whether who may read (write) key (key_len bytes), or the range [key, end) when end_len > 0
 * (end "\0": every key from key on). 0 when auth is off, the user holds the root role, or the union of
 * its roles' READ (WRITE) and READWRITE permissions covers the key or the whole range; else
 * LKV_EUSEREMPTY (who is NULL or its revision 0), LKV_EAUTHOLDREV (who->revision is below the store's),
 * LKV_EPERMDENIED (also for a user that does not exist), LKV_ENOMEM, or the codes of lkv_apply_range.
 * Any thread. */
int lkv_apply_auth_permitted(lkv_mvcc_t *store, const lkv_apply_auth_t *who, int write, const uint8_t *key,
                             size_t key_len, const uint8_t *end, size_t end_len);

/* etcd's checkTxnAuth on a read snapshot, for a txn served without the log: every compare needs read
 * access to its key or range, every op its own (Range read; Put write; DeleteRange write, and read with
 * prev_kv), nested txns' too (etcd 3.4 does not look into them: ledgerkv does). Returns as
 * lkv_apply_auth_permitted. Any thread. */
int lkv_apply_auth_txn_permitted(lkv_mvcc_t *store, const lkv_apply_auth_t *who,
                                 const Etcdserverpb__TxnRequest *req);

/* etcd's IsAdminPermitted on a read snapshot: 0 when auth is off or who's user holds the root role, else
 * LKV_EUSEREMPTY (no user), LKV_EUSERNOTFOUND, LKV_EPERMDENIED, or the codes of lkv_apply_range. Any
 * thread. */
int lkv_apply_auth_admin(lkv_mvcc_t *store, const lkv_apply_auth_t *who);

/* The first half of etcd's CheckPassword on a read snapshot (the bcrypt comparison is the caller's, off
 * the loop thread): sets *hash to a malloc'd, NUL-terminated copy of user's stored bcrypt hash (the caller
 * frees it) and *revision to the auth revision. Returns 0, LKV_EAUTHNOTENABLED, LKV_EAUTHFAILED (no such
 * user), LKV_ENOPASSWORDUSER (a --no-password user), LKV_ENOMEM, or the codes of lkv_apply_range. Any
 * thread. */
int lkv_apply_auth_password(lkv_mvcc_t *store, const char *user, char **hash, uint64_t *revision);

/* One version of an auth record in causal mode: a packed authpb.User / authpb.Role, or a deletion. */
typedef struct lkv_apply_auth_version_s {
  const uint8_t *val;
  size_t len;
  int tombstone;
} lkv_apply_auth_version_t;

/* Causal mode's record for concurrent versions v[0..n) of one user's (role's) record, v[0] the winner rule's
 * pick (docs/causal.md §16): absent (*out NULL) when any version is a deletion; else the winner's record
 * keeping only the roles (the key permissions, compared whole) that every version has. A conservative
 * merge: a grant holds only if every concurrent writer granted it. Pure. Sets *out to a malloc'd packed
 * record (the caller frees it) or NULL. Returns 0, LKV_ECORRUPT (a version does not unpack), LKV_ENOMEM,
 * LKV_EINVAL (kind). */
int lkv_apply_auth_merge(lkv_mvcc_auth_kind_t kind, const lkv_apply_auth_version_t *v, size_t n,
                         uint8_t **out, size_t *out_len);

/* etcd's largest lease TTL in seconds (lease.MaxLeaseTTL); a grant above it is LKV_ELEASETTLTOOLARGE. */
#define LKV_APPLY_LEASE_MAX_TTL INT64_C(9000000000)

/* One write request in a batch, with its outcome. */
typedef struct lkv_apply_req_s {
  lkv_op_kind_t kind;
  const ProtobufCMessage *msg; /* in: the unpacked request, owned by the caller */
  const uint8_t *raw;          /* in: the request's bytes as the client sent them (the ledger's claims
                                * cover exactly these), or NULL: msg is packed again for the claims */
  size_t raw_len;              /* in */
  int no_claims;               /* in: proposed by the server itself (lease expiry), not a client: its
                                * ledger entry carries the claims of an empty request and response;
                                * no permission is checked (etcd runs them as root) */
  lkv_apply_auth_t auth;       /* in: who asked, checked again when applied (lkv_apply_batch) */
  uint64_t index;              /* in: the request's log index (Authenticate's token); 0 outside a log */
  int no_alarms;               /* in: applied whatever this store's alarms: a causal member's remote event,
                                * decided on another member (its alarms are its own, docs/causal.md §6) */
  int err;                     /* out: 0, or an LKV_E* code (then resp is NULL and nothing was changed) */
  uint8_t *resp;               /* out: the packed response message, malloc'd; the caller frees it */
  size_t resp_len;             /* out */
} lkv_apply_req_t;

/* Checks what etcd checks before a request enters the log (empty key, ignore_value/ignore_lease with a
 * value/lease, txn op count and duplicate keys, nested txns included). Pure; any thread. limits may be
 * NULL (defaults). Returns 0 or the LKV_E* code etcd's error corresponds to: LKV_EEMPTYKEY,
 * LKV_EVALUEPROVIDED, LKV_ELEASEPROVIDED, LKV_ETOOMANYOPS, LKV_EDUPKEY, LKV_EKEYNOTFOUND (a txn op with
 * no request set, as etcd answers it), LKV_ENOMEM, LKV_EINVAL (unknown kind). */
int lkv_apply_validate(lkv_op_kind_t kind, const ProtobufCMessage *msg, const lkv_apply_limits_t *limits);

/* Applies reqs[0..n) in order in one write transaction and makes it durable (fsync) before returning.
 * Each request either takes effect completely or not at all (its err says which); a request that changes
 * nothing (a delete of no key, a read-only txn) does not advance the revision. Requests should have
 * passed lkv_apply_validate. Responses are etcd's, with the identity in the outer header only (as etcd's
 * v3rpc layer fills it; headers inside a txn response carry just a revision, nested txns' none).
 * Per-request errors: LKV_ELEASENOTFOUND (a put with a lease that does not exist, a revoke of an
 * unknown lease, a grant with id 0), LKV_ELEASEEXIST (grant of an existing id), LKV_ELEASETTLTOOLARGE
 * (grant TTL above LKV_APPLY_LEASE_MAX_TTL), LKV_EKEYNOTFOUND (ignore_value/ignore_lease on a missing
 * key), LKV_ENOSPACE (a put, a lease grant, or a txn that could put, while the store is over its quota;
 * deletes, revokes, reads and compaction still pass),
 * LKV_ECOMPACTED / LKV_EFUTUREREV (compaction revision; revision of a range inside a txn), LKV_ENOMEM,
 * LKV_EIO, LKV_ECORRUPT; the auth ops' errors as etcd's auth store's: LKV_EUSEREMPTY, LKV_EUSEREXIST,
 * LKV_EUSERNOTFOUND, LKV_EROLEEMPTY, LKV_EROLEEXIST, LKV_EROLENOTFOUND, LKV_EROLENOTGRANTED,
 * LKV_EPERMNOTGRANTED, LKV_EROOTUSERNOTEXIST, LKV_EROOTROLENOTEXIST, LKV_EINVALIDAUTHMGMT (root's user,
 * role or grant touched while auth is on). With auth on, each request (but no_claims ones) is first
 * checked against req->auth as etcd 3.4's authApplierV3 checks it (apply/auth_check.c): LKV_EUSEREMPTY,
 * LKV_EAUTHOLDREV, LKV_EPERMDENIED, LKV_EUSERNOTFOUND. A compaction moves the compact revision when the batch
 * commits; a physical one (CompactionRequest.physical) has also removed the superseded history then, other
 * ones leave that to lkv_apply_background_step. Leases: a grant stores the lease and takes no revision
 * (response: header, id, TTL); a revoke deletes the lease's keys in one revision (DELETE events like a
 * DeleteRange's) and removes it. Expiry is not decided here: the lessor (src/lease) proposes a revoke when a
 * lease's time is up. Returns 0 when the batch was committed (per-request outcomes are in reqs), or a
 * negative LKV_E* code when the transaction could not be committed: then no request took effect, every
 * reqs[i].resp is NULL and every reqs[i].err is that code. Single writer: callers serialise calls (the
 * committer thread does). */
int lkv_apply_batch(lkv_mvcc_t *store, const lkv_apply_identity_t *id, lkv_apply_req_t *reqs, size_t n);

/* Receives a batch's ledger entries (in apply order; pointers valid during the call only) before the
 * batch's transaction commits. Returns 0 to let the batch commit, or a negative LKV_E* code to fail the
 * whole batch with it (nothing takes effect). */
typedef int (*lkv_apply_log_cb)(void *arg, const lkv_ledger_entry_t *entries, size_t n);

/* lkv_apply_batch, handing the batch's ledger entries to log (arg passed through) first; log is not
 * called when no request changed state. One entry per request that changed state (docs/ledger.md §3):
 * a Put, DeleteRange or Txn that made a revision is a REVISION with its write set as stored (keys,
 * values, create revision, version, lease), a compaction a COMPACTION, a lease grant a LEASE_GRANT, a
 * revoke a LEASE_REVOKE with the keys it deleted. Alarms are not recorded. Claims are the digest of the
 * request (raw, else packed again by protobuf-c) and the packed response (empty both for no_claims
 * requests).
 * Returns as lkv_apply_batch, plus the code log returned (LKV_ENOMEM if the entries could not be
 * built). */
int lkv_apply_batch_logged(lkv_mvcc_t *store, const lkv_apply_identity_t *id, lkv_apply_req_t *reqs, size_t n,
                           lkv_apply_log_cb log, void *arg);

/* The hooks of lkv_apply_batch_hooked; any may be NULL. */
typedef struct lkv_apply_hooks_s {
  lkv_apply_log_cb log; /* as lkv_apply_batch_logged's */
  void *log_arg;
  /* Called last in the batch's write transaction, before it commits, even when no request changed state:
   * the replication layer records its position with the state (lkv_mvcc_repl_put), so both commit
   * together. Returns 0, or a negative LKV_E* code that fails the whole batch with it. */
  int (*record)(void *arg, lkv_mvcc_txn_t *t);
  void *record_arg;
  /* 1: the space quota is not checked here. Pages in use depend on each member's own history of
   * batches, so in a replicated state machine the proposer checks it (lkv_apply_quota_check) and raises
   * NOSPACE as a replicated alarm; applying then depends only on replicated state. A request that still
   * runs out of space (the member's map is full) fails the whole batch with LKV_ENOSPACE. */
  int no_quota;
} lkv_apply_hooks_t;

/* lkv_apply_batch_logged with both hooks (hooks may be NULL). Returns as lkv_apply_batch_logged, plus
 * the code record returned. */
int lkv_apply_batch_hooked(lkv_mvcc_t *store, const lkv_apply_identity_t *id, lkv_apply_req_t *reqs, size_t n,
                           const lkv_apply_hooks_t *hooks);

/* Responses made by a replicated state machine must be the same on every member (the ledger's claims
 * cover them), so they are made with member_id and raft_term 0 and the answering member adds its own:
 * copies resp (a packed response whose header is field 1, as every etcd write response's) into a
 * malloc'd *out (*out_len) with the header's member_id and raft_term set (0 leaves a field out). Pure.
 * Returns 0, LKV_EBADMSG (no header first) or LKV_ENOMEM. */
int lkv_apply_stamp_header(const uint8_t *resp, size_t len, uint64_t member_id, uint64_t raft_term,
                           uint8_t **out, size_t *out_len);

/* The inverse, for a verifier: copies resp into a malloc'd *out (*out_len) without its header's member_id
 * and raft_term, i.e. the bytes every member's state machine made and the ledger's claims cover. Pure.
 * Returns 0, LKV_EBADMSG (no header first, or one that is not varints only) or LKV_ENOMEM. */
int lkv_apply_unstamp_header(const uint8_t *resp, size_t len, uint8_t **out, size_t *out_len);

/* etcd's quota check before a request enters the log: LKV_ENOSPACE when a put, a txn that could put, or
 * a lease grant would take the store to its quota now; 0 otherwise (also for kinds the quota does not
 * apply to), or a storage code. Any thread. */
int lkv_apply_quota_check(lkv_mvcc_t *store, const lkv_apply_req_t *req);

/* The bytes the quota check counts for req: nonzero exactly for the requests the quota and the NOSPACE
 * alarm refuse (a put, a txn that could put, a lease grant). Pure. */
uint64_t lkv_apply_quota_cost(const lkv_apply_req_t *req);

/* Whether an applied request took effect: err 0, or a revoke of a lease already gone (the lessor forgets it
 * either way). Pure. */
int lkv_apply_req_took_effect(const lkv_apply_req_t *req);

/* Work units of one background step (see lkv_mvcc_compact_run): about a millisecond with the commit
 * (whose cost grows with the pages the step dirtied, so smaller steps cost little more in all), so that
 * a write arriving during a step waits little (bench/compaction measures puts' latency meanwhile). */
#define LKV_APPLY_BACKGROUND_STEP 128

/* How long a replicator with nothing else to do rests between two background steps (a proposal ends the
 * rest at once): the removal then takes about half a CPU, not a whole one, beside the requests (etcd
 * pauses 10 ms between its compaction batches). */
#define LKV_APPLY_BACKGROUND_PAUSE_MS 1

/* The replicators' hook for the state machine's background work, called on the writer's thread (the
 * single-node writer, the Raft thread on every member) between batches and, while it returns 1, every
 * LKV_APPLY_BACKGROUND_PAUSE_MS when idle: one bounded step of a compaction's removal of superseded history
 * (lkv_mvcc_compact_step), in its own write transaction. Cheap when nothing is pending (an atomic load).
 * Returns 1 when more work is pending (call again soon), 0 when none is or the step failed: a failure
 * (LKV_ENOSPACE, LKV_EIO) stores nothing and changes nothing any read sees; it is logged on stderr once
 * and the step is tried again at the next call (after the next batch). */
int lkv_apply_background_step(lkv_mvcc_t *store);

/* What lkv_apply_replay found. */
typedef struct lkv_apply_replay_info_s {
  int64_t store_revision;  /* the store's revision before the replay */
  int64_t ledger_revision; /* the revision of the ledger's last entry */
  uint64_t replayed;       /* entries applied to the store */
  uint64_t bad_index;      /* on LKV_ECORRUPT from an entry: its record index; else UINT64_MAX */
} lkv_apply_replay_info_t;

/* Brings store up to the ledger: applies, in order, the entries the store does not reflect yet (the
 * ledger is appended before the store commits, so after a crash it may be ahead by one batch; an empty
 * store is rebuilt from the whole ledger). Entries producing a revision at or below the store's are
 * skipped, later ones must make exactly the next revision; entries that change no revision (lease grant,
 * revoke of a lease without keys, compaction) at the store's revision are applied when the store does
 * not show them yet. A CAUSAL_EVENT also applies its event's lease grants (before its ops) and revokes
 * (after them), those the store does not show yet, and a member's first removal ends its leases
 * (replay_causal.c). Puts are applied with their value and lease, deletes as
 * single-key deletes; the store computes create revision and version again (the audit compares them). Alarms
 * are not in the ledger. Single writer: call before the replicator starts. info may be NULL. Returns 0,
 * LKV_ECORRUPT (the store is ahead of the ledger — it was written without the ledger — or an entry does not
 * fit the store: info->bad_index), or the codes of the ledger iterator and the store. */
int lkv_apply_replay(lkv_mvcc_t *store, lkv_ledger_log_t *log, lkv_apply_replay_info_t *info);

/* Lease ids, malloc'd (free ids). */
typedef struct lkv_apply_lease_ids_s {
  int64_t *ids;
  size_t len, cap;
} lkv_apply_lease_ids_t;

/* Appends to out the leases of t's store that member owns (causal mode: its tag, docs/causal.md §5), those a
 * removal of it revokes (§15a; the replicator and the replay, replay_causal.c). Returns 0, LKV_ENOMEM or
 * the store's codes. */
int lkv_apply_leases_owned(lkv_mvcc_txn_t *t, uint64_t member, lkv_apply_lease_ids_t *out);

/* Applies records [start, end) of log to store by lkv_apply_replay's rules (each skipped when the store
 * reflects it already), without its check of the store against the ledger's end: the causal replicator's
 * records beyond what its store accounts for (info->store_revision and ledger_revision are not set). Single
 * writer. info may be NULL. Returns as lkv_apply_replay. */
int lkv_apply_replay_records(lkv_mvcc_t *store, lkv_ledger_log_t *log, uint64_t start, uint64_t end,
                             lkv_apply_replay_info_t *info);

/* Serves a Range from a read snapshot (the latest committed batch). Any thread, concurrently with
 * lkv_apply_batch and other reads; no locks. The response is packed straight from storage memory.
 * On success returns 0 and a malloc'd packed RangeResponse in *resp / *resp_len (caller frees);
 * otherwise LKV_EEMPTYKEY, LKV_ECOMPACTED, LKV_EFUTUREREV, LKV_ENOMEM, LKV_EAGAIN (reader table full),
 * LKV_EIO or LKV_ECORRUPT. */
int lkv_apply_range(lkv_mvcc_t *store, const lkv_apply_identity_t *id, const Etcdserverpb__RangeRequest *req,
                    uint8_t **resp, size_t *resp_len);

/* Whether etcd serves this txn without the log (its isTxnReadonly: every op of both branches, at the
 * top level, is a Range). Pure. */
int lkv_apply_txn_is_readonly(const Etcdserverpb__TxnRequest *req);

/* Serves a read-only txn (see lkv_apply_txn_is_readonly; validate it first) from a read snapshot, like
 * lkv_apply_range: any thread, no locks, response packed from storage memory into a malloc'd buffer.
 * Returns 0, LKV_EINVAL (not read-only), or the codes of lkv_apply_range. */
int lkv_apply_txn_read(lkv_mvcc_t *store, const lkv_apply_identity_t *id, const Etcdserverpb__TxnRequest *req,
                       uint8_t **resp, size_t *resp_len);

/* Serves Maintenance.Alarm GET (list raised alarms) from a read snapshot, like lkv_apply_range. Alarms
 * are changed through lkv_apply_batch (LKV_OP_ALARM); a write refused for lack of space raises NOSPACE,
 * after which Put and Txn with a put are refused (LKV_ENOSPACE) until NOSPACE is deactivated.
 * Returns 0 with a malloc'd packed AlarmResponse, LKV_EINVAL (not a GET), or the codes of lkv_apply_range. */
int lkv_apply_alarm_get(lkv_mvcc_t *store, const lkv_apply_identity_t *id,
                        const Etcdserverpb__AlarmRequest *req, uint8_t **resp, size_t *resp_len);

#endif
