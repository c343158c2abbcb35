/* Error codes shared by every ledgerkv module, and their descriptions. */
#ifndef LKV_COMMON_ERROR_H
#define LKV_COMMON_ERROR_H

#include <errno.h>

/*
 * Conventions: functions return int; 0 is success and a negative value is an error. System failures are
 * negated errno values (LKV_ENOMEM == -ENOMEM); ledgerkv's own conditions live in the reserved range
 * [-31000, -30000], away from errno and from LMDB's codes (-30799..-30780 are MDB_*, never returned
 * to callers: the MVCC layer translates them).
 *
 * The mapping from these codes to gRPC status codes and etcd's exact message strings lives in one place:
 * src/api/status.c.
 */
#define LKV_ERRNO_MAP(X)                                                                        \
  X(ENOMEM, -ENOMEM, "out of memory")                                                           \
  X(EINVAL, -EINVAL, "invalid argument")                                                        \
  X(EIO, -EIO, "i/o error")                                                                     \
  X(ENOENT, -ENOENT, "no such file or directory")                                               \
  X(EEXIST, -EEXIST, "already exists")                                                          \
  X(EAGAIN, -EAGAIN, "try again")                                                               \
  X(ECANCELED, -ECANCELED, "operation canceled")                                                \
  X(EMSGSIZE, -EMSGSIZE, "message too long")                                                    \
  X(EPROTO, -EPROTO, "protocol error")                                                          \
  X(EPERM, -EPERM, "operation not permitted")                                                   \
  X(ENOSPC, -ENOSPC, "no space left on device")                                                 \
  X(ECOMPACTED, -30000, "required revision has been compacted")                                 \
  X(EFUTUREREV, -30001, "required revision is a future revision")                               \
  X(ENOSPACE, -30002, "database space exceeded")                                                \
  X(EEMPTYKEY, -30003, "key is not provided")                                                   \
  X(ELEASENOTFOUND, -30004, "requested lease not found")                                        \
  X(EVALUEPROVIDED, -30005, "value is provided")                                                \
  X(ELEASEPROVIDED, -30006, "lease is provided")                                                \
  X(ETOOMANYOPS, -30007, "too many operations in txn request")                                  \
  X(EDUPKEY, -30008, "duplicate key given in txn request")                                      \
  X(ETOOLARGE, -30009, "request is too large")                                                  \
  X(EKEYNOTFOUND, -30010, "key not found")                                                      \
  X(ECORRUPT, -30011, "stored data is corrupt")                                                 \
  X(ESTOPPED, -30012, "server stopped")                                                         \
  X(EBADMSG, -30013, "malformed request message")                                               \
  X(EUNSUPPORTED, -30014, "not supported by this server")                                       \
  X(ELEASEEXIST, -30020, "lease already exists")                                                \
  X(ELEASETTLTOOLARGE, -30021, "too large lease TTL")                                           \
  X(ELEASEOWNER, -30022, "the lease belongs to another member (causal mode)")                   \
  X(ELEASEOWNERDOWN, -30023, "the lease's owner is unreachable (causal mode)")                  \
  X(EVERIFY, -30040, "verification failed")                                                     \
  X(ETORN, -30041, "the store was not flushed before the machine restarted")                    \
  X(ELEDGERPRUNED, -30042, "ledger record pruned by the retention policy")                      \
  X(ENOLEADER, -30060, "raft: no leader")                                                       \
  X(EPROPOSALDROPPED, -30061, "raft proposal dropped")                                          \
  X(ECONFPENDING, -30062, "raft: a membership change is pending")                               \
  X(EHALTED, -30063, "raft log halted after a failed flush")                                    \
  X(ETIMEDOUT, -30064, "request timed out")                                                     \
  X(ELEADERCHANGED, -30065, "leader changed")                                                   \
  X(ENOTLEADER, -30066, "not leader")                                                           \
  X(EBADTRANSFEREE, -30067, "bad leader transferee")                                            \
  X(ETRANSFERTIMEOUT, -30068, "request timed out, leader transfer took too long")               \
  X(EMEMBEREXIST, -30070, "member ID already exist")                                            \
  X(EPEERURLEXIST, -30071, "Peer URLs already exists")                                          \
  X(EMEMBERNOTFOUND, -30072, "member not found")                                                \
  X(ENOTENOUGHSTARTED, -30073, "re-configuration failed due to not enough started members")     \
  X(ENOTLEARNER, -30074, "can only promote a learner member")                                   \
  X(ELEARNERNOTREADY, -30075, "can only promote a learner member which is in sync with leader") \
  X(ETOOMANYLEARNERS, -30076, "too many learner members in cluster")                            \
  X(EBADURLS, -30077, "given member URLs are invalid")                                          \
  X(ELEARNER, -30079, "rpc not supported for learner")                                          \
  X(EUNHEALTHY, -30080, "unhealthy cluster")                                                    \
  X(EMEMBERREMOVED, -30081, "the member has been permanently removed from the cluster")         \
  X(ELEASETAG, -30082, "the new member's lease owner tag is a member's (causal mode)")          \
  X(ETOOMANYMEMBERS, -30083, "too many members (causal mode)")                                  \
  X(ENOELECTLEADER, -30100, "election: no leader")                                              \
  X(ENOTELECTLEADER, -30101, "election: not leader")                                            \
  X(ENOLEADERKEY, -30102, "\"leader\" field must be provided")                                  \
  X(ESESSIONEXPIRED, -30103, "mutex: session is expired")                                       \
  X(EAUTHNOTENABLED, -30120, "authentication is not enabled")                                   \
  X(EUSEREMPTY, -30121, "user name is empty")                                                   \
  X(EUSEREXIST, -30122, "user name already exists")                                             \
  X(EUSERNOTFOUND, -30123, "user name not found")                                               \
  X(EROLEEMPTY, -30124, "role name is empty")                                                   \
  X(EROLEEXIST, -30125, "role name already exists")                                             \
  X(EROLENOTFOUND, -30126, "role name not found")                                               \
  X(EROLENOTGRANTED, -30127, "role is not granted to the user")                                 \
  X(EPERMNOTGRANTED, -30128, "permission is not granted to the role")                           \
  X(EROOTUSERNOTEXIST, -30129, "root user does not exist")                                      \
  X(EROOTROLENOTEXIST, -30130, "root user does not have root role")                             \
  X(EINVALIDAUTHMGMT, -30131, "invalid auth management")                                        \
  X(EPERMDENIED, -30132, "permission denied")                                                   \
  X(EAUTHOLDREV, -30133, "revision of auth store is old")                                       \
  X(EINVALIDTOKEN, -30134, "invalid auth token")                                                \
  X(EAUTHFAILED, -30135, "authentication failed, invalid user ID or password")                  \
  X(ENOPASSWORDUSER, -30136, "authentication failed, password was given for no password user")  \
  X(ECLOCKAHEAD, -30160, "clock stamp too far ahead of local time")                             \
  X(EBUFFERFULL, -30161, "too many events wait for their causal dependencies")                  \
  X(EOWNBEHIND, -30169, "a peer holds later writes of this member than it does (causal mode)")

enum {
#define LKV__ERR_ENUM(name, value, text) LKV_##name = (value),
  LKV_ERRNO_MAP(LKV__ERR_ENUM)
#undef LKV__ERR_ENUM
};

/* Returns a static, human-readable description of err (0 gives "success"; unknown codes give a generic
 * text naming the number in a thread-local buffer). Never returns NULL. */
const char *lkv_strerror(int err);

/* Returns the symbolic name of err ("LKV_ECOMPACTED"), or "LKV_UNKNOWN". Never returns NULL. */
const char *lkv_err_name(int err);

#endif
