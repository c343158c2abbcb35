/* Membership changes: the Cluster service's add, remove, promote and update, as etcd checks them. */
#include <stdlib.h>
#include <string.h>

#include "cluster/attrs.h"
#include "common/error.h"
#include "common/le.h"
#include "raft/codec.h"
#include "replication/health.h"
#include "replication/raft_entry.h"
#include "replication/raft_internal.h"

/* Context of our CONF_CHANGE entries: version (1) ‖ origin (u64) ‖ seq (u64) ‖ flags (u8, 0x1 promote) ‖
 * the member's attributes (peer URLs; empty for remove and promote). Bootstrap entries have none. */
#define CTX_VERSION 1
#define CTX_HEADER 18
#define CTX_PROMOTE 0x1u

int lkv__raft_node_conf_context(uint64_t origin, uint64_t seq, int promote, const uint8_t *attrs,
                                size_t attrs_len, uint8_t **ctx, size_t *len) {
  *len = CTX_HEADER + attrs_len;
  uint8_t *b = *ctx = malloc(*len);
  if (!b) return LKV_ENOMEM;
  b[0] = CTX_VERSION;
  lkv_le64_put(b + 1, origin);
  lkv_le64_put(b + 9, seq);
  b[17] = promote ? CTX_PROMOTE : 0;
  if (attrs_len) memcpy(b + CTX_HEADER, attrs, attrs_len);
  return 0;
}

/* etcd's maxLearners. */
#define LKV_MAX_LEARNERS 1

/* etcd's readyPercent: a learner may be promoted once its log matches 90% of the leader's commit. */
#define LEARNER_READY_PERCENT 90

int lkv__raft_node_change_member(lkv_replicator_t *base, const lkv_member_change_t *c, lkv_read_cb cb,
                                 void *arg) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  lkv__raft_change_t *ch = calloc(1, sizeof(*ch));
  if (!ch) return LKV_ENOMEM;
  ch->c = *c;
  if (c->attrs_len) {
    ch->attrs = malloc(c->attrs_len);
    if (!ch->attrs) {
      free(ch);
      return LKV_ENOMEM;
    }
    memcpy(ch->attrs, c->attrs, c->attrs_len);
  }
  ch->c.attrs = ch->attrs;
  ch->cb = cb;
  ch->arg = arg;
  pthread_mutex_lock(&n->mu);
  if (n->stopping) {
    pthread_mutex_unlock(&n->mu);
    free(ch->attrs);
    free(ch);
    return LKV_ESTOPPED;
  }
  ch->next = n->in_changes;
  n->in_changes = ch;
  pthread_cond_signal(&n->wake);
  pthread_mutex_unlock(&n->mu);
  return 0;
}

static void answer(lkv__raft_change_t *ch, int err) {
  ch->cb(ch->arg, err);
  free(ch->attrs);
  free(ch);
}

void lkv__raft_node_fail_changes(lkv__raft_change_t *list, int err) {
  while (list) {
    lkv__raft_change_t *ch = list;
    list = ch->next;
    answer(ch, err);
  }
}

static int in_list(const lkv_raft_id_t *ids, uint32_t n, uint64_t id) {
  for (uint32_t i = 0; i < n; i++)
    if (ids[i] == id) return 1;
  return 0;
}

/* etcd's IsStarted: the member has published its name. */
static int started(lkv__raft_node_t *n, uint64_t id) {
  const lkv__raft_attrs_t *a = lkv__raft_node_find_attrs(n, id);
  lkv_cluster_attrs_t at;
  if (!a || lkv_cluster_attrs_decode(a->data, a->len, &at) != 0) return 0;
  int yes = at.name[0] != '\0';
  lkv_cluster_attrs_free(&at);
  return yes;
}

/* etcd's strict reconfiguration check: after the change, the started voters must still be a quorum. */
static int strict_check(lkv__raft_node_t *n, const lkv_raft_status_t *st, const lkv_member_change_t *c) {
  size_t members = 0, up = 0;
  for (uint32_t i = 0; i < st->conf.n_voters; i++) {
    if (c->type == LKV_MEMBER_REMOVE && st->conf.voters[i] == c->id) continue;
    members++;
    up += (size_t)started(n, st->conf.voters[i]);
  }
  if (c->type == LKV_MEMBER_ADD) {
    members++;
    if (up == 1 && members == 2) return 0; /* etcd: growing a one-member cluster */
  }
  if (c->type == LKV_MEMBER_PROMOTE) {
    members++;
    up += (size_t)started(n, c->id);
  }
  return up < members / 2 + 1 ? LKV_ENOTENOUGHSTARTED : 0;
}

/* Promotion is decided by the leader, the only member that knows how far the learner's log is. */
static int learner_ready(lkv__raft_node_t *n, const lkv_raft_status_t *st, uint64_t id) {
  if (!in_list(st->conf.voters, st->conf.n_voters, id) &&
      !in_list(st->conf.learners, st->conf.n_learners, id))
    return LKV_EMEMBERNOTFOUND;
  if (!in_list(st->conf.learners, st->conf.n_learners, id)) return LKV_ENOTLEARNER;
  if (st->role != LKV_RAFT_LEADER) return LKV_ENOTLEADER;
  lkv_raft_progress_t pr;
  if (lkv_raft_progress(n->raft, id, &pr) != 0) return LKV_ELEARNERNOTREADY;
  return pr.match * 100 >= st->hard_state.commit * LEARNER_READY_PERCENT ? 0 : LKV_ELEARNERNOTREADY;
}

/* Membership messages between members (send_member): a follower forwards a promote to the leader, the only
 * member that knows whether the learner caught up, as etcd forwards it over HTTP. Layout (little-endian):
 * MSG_PROMOTE ‖ request id (u64) ‖ learner id (u64); MSG_ANSWER ‖ request id (u64) ‖ LKV_E* code (i32). */
#define MSG_PROMOTE 1
#define MSG_ANSWER 2

static void reply_forwarded(void *arg, int err) {
  lkv__raft_change_t *ch = arg;
  lkv__raft_node_t *n = ch->node;
  uint8_t b[13];
  b[0] = MSG_ANSWER;
  lkv_le64_put(b + 1, ch->req);
  lkv_le32_put(b + 9, (uint32_t)err);
  n->o.send_member(n->o.send_arg, ch->from, b, sizeof(b)); /* lost: the follower times out */
}

/* Sends this member's promote to the leader and waits for its answer in n->forwarded. */
static int forward(lkv__raft_node_t *n, lkv__raft_change_t *ch, uint64_t leader, uint64_t now_ms) {
  uint8_t b[17];
  ch->req = ++n->next_seq;
  b[0] = MSG_PROMOTE;
  lkv_le64_put(b + 1, ch->req);
  lkv_le64_put(b + 9, ch->c.id);
  n->o.send_member(n->o.send_arg, leader, b, sizeof(b));
  ch->deadline_ms = now_ms + n->o.request_timeout_ms;
  ch->next = n->forwarded;
  n->forwarded = ch;
  return 0;
}

void lkv__raft_node_member_message(lkv__raft_node_t *n, const lkv__raft_inmsg_t *m, uint64_t now_ms) {
  if (m->len == 17 && m->data[0] == MSG_PROMOTE) {
    lkv__raft_change_t *ch = calloc(1, sizeof(*ch));
    if (!ch) return; /* the follower times out */
    ch->c.type = LKV_MEMBER_PROMOTE;
    ch->c.id = lkv_le64_get(m->data + 9);
    ch->from = m->from;
    ch->req = lkv_le64_get(m->data + 1);
    ch->node = n;
    ch->cb = reply_forwarded;
    ch->arg = ch;
    lkv__raft_node_start_changes(n, ch, now_ms);
  } else if (m->len == 13 && m->data[0] == MSG_ANSWER) {
    uint64_t req = lkv_le64_get(m->data + 1);
    for (lkv__raft_change_t **pp = &n->forwarded; *pp; pp = &(*pp)->next) {
      if ((*pp)->req != req) continue;
      lkv__raft_change_t *ch = *pp;
      *pp = ch->next;
      answer(ch, (int32_t)lkv_le32_get(m->data + 9));
      return;
    }
  } /* anything else: a newer peer's message, dropped */
}

/* Proposes ch; returns 0 (then it waits in n->changes or n->forwarded) or the code to answer it with. */
static int propose_change(lkv__raft_node_t *n, lkv__raft_change_t *ch, uint64_t now_ms) {
  if (n->halted) return LKV_EHALTED;
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  const lkv_member_change_t *c = &ch->c;
  int rc = 0;
  if (c->type == LKV_MEMBER_PROMOTE) rc = learner_ready(n, &st, c->id);
  if (rc == LKV_ENOTLEADER && !ch->from && n->o.send_member && st.leader != LKV_RAFT_NONE)
    return forward(n, ch, st.leader, now_ms);
  int removes_voter = c->type == LKV_MEMBER_REMOVE && in_list(st.conf.voters, st.conf.n_voters, c->id);
  int strict = !n->o.no_strict_reconfig;
  pthread_mutex_lock(&n->mu);
  if (!rc && strict && (c->type == LKV_MEMBER_ADD || c->type == LKV_MEMBER_PROMOTE || removes_voter))
    rc = strict_check(n, &st, c);
  pthread_mutex_unlock(&n->mu);
  if (!rc && strict && n->o.connected_since) { /* after the started-members check, as etcd orders them */
    lkv_health_view_t v = {.self = n->o.member_id,
                           .voters = st.conf.voters,
                           .n_voters = st.conf.n_voters,
                           .since = n->o.connected_since,
                           .arg = n->o.member_arg,
                           .now_ms = now_ms};
    if (c->type == LKV_MEMBER_ADD || c->type == LKV_MEMBER_ADD_LEARNER) rc = lkv_health_may_add(&v);
    if (removes_voter) rc = lkv_health_may_remove(&v, c->id);
  }
  if (rc) return rc;
  ch->seq = ++n->next_seq;
  if (c->type == LKV_MEMBER_UPDATE) {
    uint8_t *req = malloc(8 + c->attrs_len), *data;
    size_t len;
    if (!req) return LKV_ENOMEM;
    lkv_le64_put(req, c->id);
    memcpy(req + 8, c->attrs, c->attrs_len);
    lkv_raft_entry_payload_t e = {.kind = (lkv_op_kind_t)LKV_RAFT_ENTRY_PEER_URLS,
                                  .origin = n->o.member_id,
                                  .seq = ch->seq,
                                  .request = req,
                                  .request_len = 8 + c->attrs_len};
    rc = lkv_raft_entry_encode(&e, &data, &len);
    free(req);
    if (!rc) {
      rc = lkv_raft_propose(n->raft, data, len, NULL, NULL);
      free(data);
    }
  } else {
    size_t len;
    uint8_t *ctx;
    rc = lkv__raft_node_conf_context(n->o.member_id, ch->seq, c->type == LKV_MEMBER_PROMOTE, c->attrs,
                                     c->attrs_len, &ctx, &len);
    if (rc) return rc;
    lkv_raft_conf_change_t cc = {.type = c->type == LKV_MEMBER_ADD_LEARNER ? LKV_RAFT_CC_ADD_LEARNER
                                         : c->type == LKV_MEMBER_REMOVE    ? LKV_RAFT_CC_REMOVE_NODE
                                                                           : LKV_RAFT_CC_ADD_NODE,
                                 .node = c->id,
                                 .context = ctx,
                                 .context_len = len};
    rc = lkv_raft_propose_conf_change(n->raft, &cc);
    free(ctx);
  }
  if (rc) return rc;
  ch->deadline_ms = now_ms + n->o.request_timeout_ms;
  ch->next = n->changes;
  n->changes = ch;
  return 0;
}

void lkv__raft_node_start_changes(lkv__raft_node_t *n, lkv__raft_change_t *list, uint64_t now_ms) {
  while (list) {
    lkv__raft_change_t *ch = list;
    list = ch->next;
    int rc = propose_change(n, ch, now_ms);
    if (rc) answer(ch, rc);
  }
}

static void expire_list(lkv__raft_change_t **pp, uint64_t now_ms) {
  while (*pp) {
    lkv__raft_change_t *ch = *pp;
    if (ch->deadline_ms > now_ms) {
      pp = &ch->next;
      continue;
    }
    *pp = ch->next;
    answer(ch, LKV_ETIMEDOUT);
  }
}

void lkv__raft_node_expire_changes(lkv__raft_node_t *n, uint64_t now_ms) {
  expire_list(&n->changes, now_ms);
  expire_list(&n->forwarded, now_ms);
}

/* Answers this member's change seq, if it still waits. */
static void answer_seq(lkv__raft_node_t *n, uint64_t origin, uint64_t seq, int err) {
  if (origin != n->o.member_id) return;
  for (lkv__raft_change_t **pp = &n->changes; *pp; pp = &(*pp)->next) {
    if ((*pp)->seq != seq) continue;
    lkv__raft_change_t *ch = *pp;
    *pp = ch->next;
    answer(ch, err);
    return;
  }
}

/* Whether one of urls (attrs encoding) is a peer URL of a member other than except. Lock held. */
static int url_taken(lkv__raft_node_t *n, const uint8_t *attrs, size_t len, uint64_t except) {
  lkv_cluster_attrs_t want;
  if (lkv_cluster_attrs_decode(attrs, len, &want) != 0) return 0;
  int taken = 0;
  for (size_t i = 0; !taken && i < n->n_attrs; i++) {
    lkv_cluster_attrs_t have;
    if (n->attrs[i].id == except || lkv_cluster_attrs_decode(n->attrs[i].data, n->attrs[i].len, &have) != 0)
      continue;
    for (size_t a = 0; a < want.n_peer_urls; a++)
      for (size_t b = 0; b < have.n_peer_urls; b++)
        taken |= strcmp(want.peer_urls[a], have.peer_urls[b]) == 0;
    lkv_cluster_attrs_free(&have);
  }
  lkv_cluster_attrs_free(&want);
  return taken;
}

static int was_removed(const lkv__raft_node_t *n, uint64_t id) {
  for (size_t i = 0; i < n->n_removed; i++)
    if (n->removed[i] == id) return 1;
  return 0;
}

/* etcd's ValidateConfigurationChange, on the membership in force: the same on every member. */
static int validate(lkv__raft_node_t *n, const lkv_raft_conf_change_t *cc, unsigned flags,
                    const uint8_t *attrs, size_t len) {
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  int voter = in_list(st.conf.voters, st.conf.n_voters, cc->node);
  int learner = in_list(st.conf.learners, st.conf.n_learners, cc->node);
  if (was_removed(n, cc->node)) return LKV_EMEMBERNOTFOUND; /* etcd maps ErrIDRemoved so */
  switch (cc->type) {
    case LKV_RAFT_CC_ADD_NODE:
      if (flags & CTX_PROMOTE)
        return !voter && !learner ? LKV_EMEMBERNOTFOUND : !learner ? LKV_ENOTLEARNER : 0;
      __attribute__((fallthrough)); /* adding a member */
    case LKV_RAFT_CC_ADD_LEARNER:
      if (voter || learner) return LKV_EMEMBEREXIST;
      if (url_taken(n, attrs, len, 0)) return LKV_EPEERURLEXIST;
      if (cc->type == LKV_RAFT_CC_ADD_LEARNER && st.conf.n_learners + 1 > LKV_MAX_LEARNERS)
        return LKV_ETOOMANYLEARNERS;
      return st.conf.n_voters + st.conf.n_learners >= LKV_RAFT_MAX_MEMBERS ? LKV_EINVAL : 0;
    case LKV_RAFT_CC_REMOVE_NODE:
      if (!voter && !learner) return LKV_EMEMBERNOTFOUND;
      /* The core cannot remove the last voter (raft.h): etcd's quorum rules make that unreachable too. */
      return voter && st.conf.n_voters == 1 ? LKV_ENOTENOUGHSTARTED : 0;
  }
  return LKV_EINVAL;
}

static int add_removed(lkv__raft_node_t *n, uint64_t id) {
  uint64_t *r = realloc(n->removed, (n->n_removed + 1) * sizeof(*r));
  if (!r) return LKV_ENOMEM;
  n->removed = r;
  n->removed[n->n_removed++] = id;
  return 0;
}

static void tell_member_layer(lkv__raft_node_t *n, uint64_t id, int removed) {
  if (!n->o.on_member_change) return;
  const lkv__raft_attrs_t *a = lkv__raft_node_find_attrs(n, id);
  n->o.on_member_change(n->o.member_arg, id, removed, a ? a->data : NULL, a ? a->len : 0);
}

int lkv__raft_node_apply_conf(lkv__raft_node_t *n, const lkv_raft_entry_t *e) {
  lkv_raft_conf_change_t cc;
  int rc = lkv_raft_conf_change_decode(e->data, e->len, &cc);
  if (rc) {
    lkv__raft_node_halt(n, "a membership change this version cannot read", rc);
    return rc;
  }
  uint64_t origin = 0, seq = 0;
  unsigned flags = 0;
  const uint8_t *attrs = NULL;
  size_t attrs_len = 0;
  int verdict = 0; /* founding entries (no context) are accepted as they are */
  if (cc.context_len) {
    if (cc.context_len < CTX_HEADER || cc.context[0] != CTX_VERSION) {
      lkv__raft_node_halt(n, "a membership change this version cannot read", LKV_EBADMSG);
      return LKV_EBADMSG;
    }
    origin = lkv_le64_get(cc.context + 1);
    seq = lkv_le64_get(cc.context + 9);
    flags = cc.context[17];
    attrs = cc.context + CTX_HEADER;
    attrs_len = cc.context_len - CTX_HEADER;
    pthread_mutex_lock(&n->mu);
    verdict = validate(n, &cc, flags, attrs, attrs_len);
    pthread_mutex_unlock(&n->mu);
  }
  lkv_raft_conf_state_t conf;
  rc = lkv_raft_apply_conf_change(n->raft, e, verdict == 0, &conf);
  if (rc) {
    lkv__raft_node_halt(n, "cannot apply a membership change", rc);
    return rc;
  }
  pthread_mutex_lock(&n->mu);
  if (verdict == 0 && cc.type != LKV_RAFT_CC_REMOVE_NODE && attrs_len && !(flags & CTX_PROMOTE))
    rc = lkv__raft_node_set_attrs(n, cc.node, attrs, attrs_len);
  if (verdict == 0 && cc.type == LKV_RAFT_CC_REMOVE_NODE) {
    lkv__raft_node_drop_attrs(n, cc.node);
    rc = add_removed(n, cc.node);
  }
  n->conf = conf; /* MemberList answered after this sees the change */
  pthread_mutex_unlock(&n->mu);
  if (!rc) rc = lkv__raft_node_record_members(n, e->index);
  if (rc) {
    lkv__raft_node_halt(n, "cannot record a membership change", rc);
    return rc;
  }
  if (verdict == 0 && cc.context_len) tell_member_layer(n, cc.node, cc.type == LKV_RAFT_CC_REMOVE_NODE);
  answer_seq(n, origin, seq, verdict);
  return 0;
}

int lkv__raft_node_apply_peer_urls(lkv__raft_node_t *n, uint64_t origin, uint64_t seq, const uint8_t *data,
                                   size_t len, uint64_t index) {
  if (len < 8) {
    lkv__raft_node_halt(n, "a member update this version cannot read", LKV_EBADMSG);
    return LKV_EBADMSG;
  }
  uint64_t id = lkv_le64_get(data);
  int verdict = 0, rc = 0;
  pthread_mutex_lock(&n->mu);
  lkv__raft_attrs_t *a = lkv__raft_node_find_attrs(n, id);
  lkv_cluster_attrs_t have, want;
  if (!a || lkv_cluster_attrs_decode(a->data, a->len, &have) != 0)
    verdict = LKV_EMEMBERNOTFOUND;
  else if (url_taken(n, data + 8, len - 8, id))
    verdict = LKV_EPEERURLEXIST;
  if (verdict == 0 && a && lkv_cluster_attrs_decode(data + 8, len - 8, &want) == 0) {
    /* New peer URLs; name and client URLs stay as the member published them. */
    lkv_cluster_attrs_t merged = have;
    merged.peer_urls = want.peer_urls;
    merged.n_peer_urls = want.n_peer_urls;
    uint8_t *enc;
    size_t enc_len;
    rc = lkv_cluster_attrs_encode(&merged, &enc, &enc_len);
    if (!rc) {
      rc = lkv__raft_node_set_attrs(n, id, enc, enc_len);
      free(enc);
    }
    lkv_cluster_attrs_free(&want);
  }
  if (a && verdict != LKV_EMEMBERNOTFOUND) lkv_cluster_attrs_free(&have);
  pthread_mutex_unlock(&n->mu);
  if (!rc) rc = lkv__raft_node_record_members(n, index);
  if (rc) {
    lkv__raft_node_halt(n, "cannot record a member update", rc);
    return rc;
  }
  if (verdict == 0) tell_member_layer(n, id, 0);
  answer_seq(n, origin, seq, verdict);
  return 0;
}
