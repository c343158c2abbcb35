/* Names of roles, message types and (in test builds) injected bugs, for traces and reports. */
#include "raft/raft.h"

const char *lkv_raft_role_name(lkv_raft_role_t role) {
  switch (role) {
    case LKV_RAFT_FOLLOWER:
      return "follower";
    case LKV_RAFT_PRE_CANDIDATE:
      return "pre-candidate";
    case LKV_RAFT_CANDIDATE:
      return "candidate";
    case LKV_RAFT_LEADER:
      return "leader";
  }
  return "unknown-role";
}

const char *lkv_raft_msg_type_name(uint8_t type) {
  static const char *const names[] = {
      [LKV_RAFT_MSG_APP] = "MsgApp",
      [LKV_RAFT_MSG_APP_RESP] = "MsgAppResp",
      [LKV_RAFT_MSG_VOTE] = "MsgVote",
      [LKV_RAFT_MSG_VOTE_RESP] = "MsgVoteResp",
      [LKV_RAFT_MSG_PRE_VOTE] = "MsgPreVote",
      [LKV_RAFT_MSG_PRE_VOTE_RESP] = "MsgPreVoteResp",
      [LKV_RAFT_MSG_HEARTBEAT] = "MsgHeartbeat",
      [LKV_RAFT_MSG_HEARTBEAT_RESP] = "MsgHeartbeatResp",
      [LKV_RAFT_MSG_SNAP] = "MsgSnap",
      [LKV_RAFT_MSG_PROP] = "MsgProp",
      [LKV_RAFT_MSG_READ_INDEX] = "MsgReadIndex",
      [LKV_RAFT_MSG_READ_INDEX_RESP] = "MsgReadIndexResp",
      [LKV_RAFT_MSG_TRANSFER_LEADER] = "MsgTransferLeader",
      [LKV_RAFT_MSG_TIMEOUT_NOW] = "MsgTimeoutNow",
  };
  if (type < sizeof(names) / sizeof(names[0]) && names[type]) return names[type];
  return "MsgUnknown";
}

#ifdef LKV_RAFT_TESTING
const char *lkv_raft_bug_name(unsigned bug) {
  static const char *const names[LKV_RAFT_BUG_COUNT] = {
      "COMMIT_OLD_TERM",         "VOTE_BEFORE_DURABLE",   "ACK_BEFORE_DURABLE",   "TRUNCATE_STALE_APPEND",
      "READ_BEFORE_TERM_COMMIT", "LEASE_READ_NO_QUORUM",  "TWO_CONF_PENDING",     "CONF_BEFORE_TERM_COMMIT",
      "ACCEPT_STALE_SNAPSHOT",   "KEEP_VOTE_ON_NEW_TERM", "REMOVED_LEADER_STAYS", "TRANSFER_BLOCKED_BY_LEASE",
  };
  for (unsigned i = 0; i < LKV_RAFT_BUG_COUNT; i++)
    if (bug == 1u << i) return names[i];
  return NULL;
}
#endif
