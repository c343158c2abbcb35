/* The single mapping from LKV_E* codes to gRPC status codes and etcd's exact error messages. */
#include <stdlib.h>

#include "api/service.h"
#include "common/error.h"

/* clientv3 recognises errors by these exact strings (rpctypes), so they are facts we must reproduce. */
#define LKV_API_STATUS_MAP(X)                                                                               \
  X(LKV_EEMPTYKEY, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: key is not provided")                            \
  X(LKV_EKEYNOTFOUND, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: key not found")                               \
  X(LKV_EVALUEPROVIDED, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: value is provided")                         \
  X(LKV_ELEASEPROVIDED, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: lease is provided")                         \
  X(LKV_ETOOMANYOPS, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: too many operations in txn request")           \
  X(LKV_EDUPKEY, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request")               \
  X(LKV_ECOMPACTED, LKV_GRPC_OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted")        \
  X(LKV_EFUTUREREV, LKV_GRPC_OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision")      \
  X(LKV_ENOSPACE, LKV_GRPC_RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded")                 \
  X(LKV_ELEASENOTFOUND, LKV_GRPC_NOT_FOUND, "etcdserver: requested lease not found")                        \
  X(LKV_ELEASEEXIST, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: lease already exists")                      \
  X(LKV_ELEASETTLTOOLARGE, LKV_GRPC_OUT_OF_RANGE, "etcdserver: too large lease TTL")                        \
  X(LKV_ELEASEOWNER, LKV_GRPC_FAILED_PRECONDITION,                                                          \
    "ledgerkv: the lease ID names another member as its owner: in causal mode a lease is granted and "      \
    "revoked "                                                                                              \
    "on the member its ID names (docs/causal.md)")                                                          \
  X(LKV_ELEASEOWNERDOWN, LKV_GRPC_UNAVAILABLE,                                                              \
    "ledgerkv: the lease's owner is unreachable: in causal mode only the member that granted a lease "      \
    "renews "                                                                                               \
    "it (docs/causal.md)")                                                                                  \
  X(LKV_EOWNBEHIND, LKV_GRPC_UNAVAILABLE,                                                                   \
    "ledgerkv: a peer holds later writes of this member than its data dir does (restored from an older "    \
    "copy?): it takes them back from its peers before it accepts writes (docs/causal.md)")                  \
  X(LKV_ETOOLARGE, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: request is too large")                           \
  X(LKV_ESTOPPED, LKV_GRPC_UNAVAILABLE, "etcdserver: server stopped")                                       \
  X(LKV_ENOLEADER, LKV_GRPC_UNAVAILABLE, "etcdserver: no leader")                                           \
  X(LKV_ETIMEDOUT, LKV_GRPC_UNAVAILABLE, "etcdserver: request timed out")                                   \
  X(LKV_ELEADERCHANGED, LKV_GRPC_UNAVAILABLE, "etcdserver: leader changed")                                 \
  X(LKV_EHALTED, LKV_GRPC_UNAVAILABLE, "etcdserver: server stopped")                                        \
  X(LKV_ENOTLEADER, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: not leader")                                 \
  X(LKV_EBADTRANSFEREE, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: bad leader transferee")                  \
  X(LKV_ETRANSFERTIMEOUT, LKV_GRPC_UNKNOWN, "etcdserver: request timed out, leader transfer took too long") \
  X(LKV_EMEMBEREXIST, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: member ID already exist")                  \
  X(LKV_EPEERURLEXIST, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: Peer URLs already exists")                \
  X(LKV_EMEMBERNOTFOUND, LKV_GRPC_NOT_FOUND, "etcdserver: member not found")                                \
  X(LKV_ENOTENOUGHSTARTED, LKV_GRPC_FAILED_PRECONDITION,                                                    \
    "etcdserver: re-configuration failed due to not enough started members")                                \
  X(LKV_ENOTLEARNER, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: can only promote a learner member")         \
  X(LKV_ELEARNERNOTREADY, LKV_GRPC_FAILED_PRECONDITION,                                                     \
    "etcdserver: can only promote a learner member which is in sync with leader")                           \
  X(LKV_ETOOMANYLEARNERS, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: too many learner members in cluster")  \
  X(LKV_EBADURLS, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: given member URLs are invalid")                   \
  X(LKV_ELEARNER, LKV_GRPC_UNAVAILABLE, "etcdserver: rpc not supported for learner")                        \
  X(LKV_EUNHEALTHY, LKV_GRPC_UNAVAILABLE, "etcdserver: unhealthy cluster")                                  \
  X(LKV_ELEASETAG, LKV_GRPC_FAILED_PRECONDITION,                                                            \
    "ledgerkv: the new member's ID has the lease owner tag of a member (its low 15 bits): retry the add "   \
    "(docs/causal.md)")                                                                                     \
  X(LKV_ETOOMANYMEMBERS, LKV_GRPC_FAILED_PRECONDITION,                                                      \
    "ledgerkv: a causal cluster knows at most 32 members, removed ones included (docs/causal.md)")          \
  X(LKV_ECONFPENDING, LKV_GRPC_UNAVAILABLE,                                                                 \
    "etcdserver: request timed out, another membership change is still pending; retry")                     \
  X(LKV_ECORRUPT, LKV_GRPC_DATA_LOSS, "etcdserver: corrupt cluster")                                        \
  X(LKV_EUNSUPPORTED, LKV_GRPC_UNIMPLEMENTED, "ledgerkv: not supported yet")                                \
  X(LKV_ENOENT, LKV_GRPC_NOT_FOUND, "ledgerkv: no such ledger entry or signed head")                        \
  X(LKV_EAGAIN, LKV_GRPC_UNAVAILABLE, "ledgerkv: not available yet, try again")                             \
  X(LKV_ELEDGERPRUNED, LKV_GRPC_OUT_OF_RANGE,                                                               \
    "ledgerkv: ledger record pruned by the retention policy (below the ledger's base)")                     \
  X(LKV_ENOMEM, LKV_GRPC_RESOURCE_EXHAUSTED, "ledgerkv: out of memory")                                     \
  X(LKV_ENOELECTLEADER, LKV_GRPC_UNKNOWN, "election: no leader")                                            \
  X(LKV_ENOTELECTLEADER, LKV_GRPC_UNKNOWN, "election: not leader")                                          \
  X(LKV_ENOLEADERKEY, LKV_GRPC_UNKNOWN, "\"leader\" field must be provided")                                \
  X(LKV_ESESSIONEXPIRED, LKV_GRPC_UNKNOWN, "mutex: session is expired")                                     \
  X(LKV_EAUTHNOTENABLED, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: authentication is not enabled")         \
  X(LKV_EUSEREMPTY, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: user name is empty")                            \
  X(LKV_EUSEREXIST, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: user name already exists")                   \
  X(LKV_EUSERNOTFOUND, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: user name not found")                     \
  X(LKV_EROLEEMPTY, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: role name is empty")                            \
  X(LKV_EROLEEXIST, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: role name already exists")                   \
  X(LKV_EROLENOTFOUND, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: role name not found")                     \
  X(LKV_EROLENOTGRANTED, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: role is not granted to the user")       \
  X(LKV_EPERMNOTGRANTED, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: permission is not granted to the role") \
  X(LKV_EROOTUSERNOTEXIST, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: root user does not exist")            \
  X(LKV_EROOTROLENOTEXIST, LKV_GRPC_FAILED_PRECONDITION, "etcdserver: root user does not have root role")   \
  X(LKV_EINVALIDAUTHMGMT, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: invalid auth management")                 \
  X(LKV_EPERMDENIED, LKV_GRPC_PERMISSION_DENIED, "etcdserver: permission denied")                           \
  X(LKV_EAUTHOLDREV, LKV_GRPC_INVALID_ARGUMENT, "etcdserver: revision of auth store is old")                \
  X(LKV_EINVALIDTOKEN, LKV_GRPC_UNAUTHENTICATED, "etcdserver: invalid auth token")                          \
  X(LKV_EAUTHFAILED, LKV_GRPC_INVALID_ARGUMENT,                                                             \
    "etcdserver: authentication failed, invalid user ID or password")                                       \
  X(LKV_ENOPASSWORDUSER, LKV_GRPC_UNKNOWN,                                                                  \
    "auth: authentication failed, password was given for no password user")

/* The gRPC status and etcd's message for err; unknown codes map to UNKNOWN with lkv_strerror's text. */
static void status_of(int err, int *grpc_status, const char **message) {
  switch (err) {
#define LKV__STATUS_CASE(code, grpc, text) \
  case code:                               \
    *grpc_status = grpc;                   \
    *message = text;                       \
    return;
    LKV_API_STATUS_MAP(LKV__STATUS_CASE)
#undef LKV__STATUS_CASE
  }
  *grpc_status = LKV_GRPC_UNKNOWN;
  *message = lkv_strerror(err);
}

void lkv__api_fail(lkv_call_t *call, int err) {
  int status;
  const char *message;
  status_of(err, &status, &message);
  lkv_call_finish(call, status, message);
}

void lkv__api_fail_unknown(lkv_call_t *call, int err) {
  int status;
  const char *message;
  status_of(err, &status, &message);
  lkv_call_finish(call, LKV_GRPC_UNKNOWN, message);
}
