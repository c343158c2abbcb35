/* The causal members' corruption check: digests of key ranges compared at equal vectors, a divergence
 * narrowed down range by range, logged, and raised as the CORRUPT alarm (docs/causal.md §6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "replication/causal_digest.h"
#include "replication/causal_internal.h"

/* A divergence is narrowed by at most this many exchanges (each range holds fewer keys than the last). */
#define MAX_DEPTH 8

/*
 * A check message after its kind byte: depth u8 ‖ the sender's vector (vv.h's encoding) ‖ n u8 ‖ n × (bound
 * length u8 ‖ bound ‖ digest) ‖ end length u8 ‖ end. The ranges are causal_digest.h's, digested by the
 * sender at that vector.
 */
typedef struct {
  unsigned depth;
  lkv_causal_vv_t vv;
  size_t n;
  lkv__causal_bound_t b[LKV__CAUSAL_DIGEST_RANGES], end;
  const uint8_t *digest[LKV__CAUSAL_DIGEST_RANGES];
} check_msg_t;

static int take_bound(const uint8_t **p, const uint8_t *stop, lkv__causal_bound_t *b) {
  if (*p >= stop || **p > LKV__CAUSAL_DIGEST_BOUND_MAX || (size_t)(stop - *p - 1) < **p) return LKV_EBADMSG;
  b->len = **p;
  b->key = *p + 1;
  *p += 1 + b->len;
  return 0;
}

static int decode(const uint8_t *buf, size_t len, check_msg_t *c) {
  const uint8_t *p = buf + 1, *stop = buf + len;
  size_t used;
  if (len < 1 || (c->depth = buf[0]) > MAX_DEPTH || lkv_causal_vv_decode(p, len - 1, &c->vv, &used))
    return LKV_EBADMSG;
  p += used;
  if (p >= stop || (c->n = *p++) == 0 || c->n > LKV__CAUSAL_DIGEST_RANGES) return LKV_EBADMSG;
  for (size_t i = 0; i < c->n; i++) {
    if (take_bound(&p, stop, &c->b[i]) || (size_t)(stop - p) < LKV__CAUSAL_DIGEST_LEN) return LKV_EBADMSG;
    c->digest[i] = p;
    p += LKV__CAUSAL_DIGEST_LEN;
  }
  return take_bound(&p, stop, &c->end) || p != stop ? LKV_EBADMSG : 0;
}

/* The check message of ranges b[0..cnt) up to end digested at this member's vector (malloc'd, *len bytes),
 * or NULL (out of memory, a store error: the next period tries again). */
static uint8_t *encode_check(lkv__causal_node_t *n, unsigned depth, const lkv__causal_bound_t *b, size_t cnt,
                             lkv__causal_bound_t end, size_t *len) {
  uint8_t digest[LKV__CAUSAL_DIGEST_RANGES][LKV__CAUSAL_DIGEST_LEN];
  if (lkv__causal_digest(n->o.store, n->m, b, cnt, &end, digest)) return NULL;
  const lkv_causal_vv_t *vv = lkv_causal_member_vv(n->m);
  *len = 2 + lkv_causal_vv_encoded_size(vv) + 1 + end.len + 1;
  for (size_t i = 0; i < cnt; i++) *len += 1 + b[i].len + LKV__CAUSAL_DIGEST_LEN;
  uint8_t *msg = malloc(*len), *p = msg;
  if (!msg) return NULL;
  *p++ = LKV__CAUSAL_MSG_CHECK;
  *p++ = (uint8_t)depth;
  lkv_causal_vv_encode(vv, p);
  p += lkv_causal_vv_encoded_size(vv);
  *p++ = (uint8_t)cnt;
  for (size_t i = 0; i < cnt; i++) {
    *p++ = (uint8_t)b[i].len;
    if (b[i].len) memcpy(p, b[i].key, b[i].len);
    p += b[i].len;
    memcpy(p, digest[i], LKV__CAUSAL_DIGEST_LEN);
    p += LKV__CAUSAL_DIGEST_LEN;
  }
  *p++ = (uint8_t)end.len;
  if (end.len) memcpy(p, end.key, end.len);
  return msg;
}

/* A bound for the log: printable bytes as they are, others as \xNN; "" for none. */
static void show(const lkv__causal_bound_t *b, const char *none, char *out, size_t cap) {
  size_t at = 0;
  if (!b->len) snprintf(out, cap, "%s", none);
  for (size_t i = 0; i < b->len && at + 5 < cap; i++)
    at += (size_t)snprintf(out + at, cap - at,
                           b->key[i] >= 0x20 && b->key[i] < 0x7f && b->key[i] != '\\' ? "%c" : "\\x%02x",
                           b->key[i]);
}

/* The CORRUPT alarm on this member, as the Raft mode's check raises it (listed for member 0): at every
 * divergence found, so that a disarm before the repair brings it back at the next check. */
static void raise_corrupt(lkv__causal_node_t *n) {
  Etcdserverpb__AlarmRequest alarm = ETCDSERVERPB__ALARM_REQUEST__INIT;
  alarm.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
  alarm.alarm = ETCDSERVERPB__ALARM_TYPE__CORRUPT;
  alarm.memberid = n->o.member_id;
  lkv_apply_req_t req = {.kind = LKV_OP_ALARM, .msg = &alarm.base, .no_claims = 1};
  int rc = lkv__causal_apply_alone(n, &req);
  if (rc)
    lkv__causal_halt(n, "cannot apply the CORRUPT alarm to the store", rc);
  else if (req.err)
    fprintf(stderr, "ledgerkv: failed to activate the CORRUPT alarm: %s\n", lkv_strerror(req.err));
  free(req.resp);
}

/* A peer's check: at the same vector, each range's digest against this member's; a divergence is logged,
 * raises the alarm, and the first differing range is split at this member's keys and sent back, so the
 * two members narrow it down in turn. At another vector the check is skipped (the states may differ). */
static void take_check(lkv__causal_node_t *n, uint64_t from, const uint8_t *buf, size_t len) {
  check_msg_t c;
  if (decode(buf, len, &c) || lkv_causal_vv_compare(&c.vv, lkv_causal_member_vv(n->m)) != LKV_CAUSAL_EQUAL)
    return;
  uint8_t mine[LKV__CAUSAL_DIGEST_RANGES][LKV__CAUSAL_DIGEST_LEN];
  if (lkv__causal_digest(n->o.store, n->m, c.b, c.n, &c.end, mine)) return;
  size_t first = c.n;
  for (size_t i = 0; i < c.n; i++) {
    if (memcmp(mine[i], c.digest[i], LKV__CAUSAL_DIGEST_LEN) == 0) continue;
    char lo[4 * LKV__CAUSAL_DIGEST_BOUND_MAX + 8], hi[sizeof(lo)];
    show(&c.b[i], "", lo, sizeof(lo));
    show(i + 1 < c.n ? &c.b[i + 1] : &c.end, "(end)", hi, sizeof(hi));
    fprintf(
        stderr,
        "ledgerkv: causal member %016llx found data inconsistency with member %016llx at the same vector: "
        "keys from \"%s\" to \"%s\" differ\n",
        (unsigned long long)n->o.member_id, (unsigned long long)from, lo, hi);
    if (first == c.n) first = i;
  }
  if (first == c.n) {
    if (c.depth == 0)
      fprintf(stderr,
              "ledgerkv: causal member %016llx compared its key states with member %016llx's at the same "
              "vector: no corruption\n",
              (unsigned long long)n->o.member_id, (unsigned long long)from);
    return;
  }
  raise_corrupt(n);
  lkv__causal_bound_t b[LKV__CAUSAL_DIGEST_RANGES], hi = first + 1 < c.n ? c.b[first + 1] : c.end;
  size_t keys, cnt = lkv__causal_digest_split(n->m, c.b[first], hi, b, &keys), msg_len;
  uint8_t *msg =
      c.depth < MAX_DEPTH && keys > 1 && cnt > 1 ? encode_check(n, c.depth + 1, b, cnt, hi, &msg_len) : NULL;
  if (msg) n->o.send(n->o.send_arg, from, msg, msg_len);
  free(msg);
}

int lkv__causal_check_keep(lkv__causal_node_t *n, lkv__causal_in_t *in) {
  if (in->len < 1 || in->data[0] != LKV__CAUSAL_MSG_CHECK) return 0;
  in->next = n->checks;
  n->checks = in;
  return 1;
}

void lkv__causal_check_round(lkv__causal_node_t *n, uint64_t mono) {
  for (lkv__causal_in_t *in; (in = n->checks) != NULL; free(in)) {
    n->checks = in->next;
    if (!n->halted) take_check(n, in->from, in->data + 1, in->len - 1);
  }
  if (!n->o.check_ms || n->halted || mono < n->next_check) return;
  n->next_check = mono + n->o.check_ms;
  lkv__causal_bound_t b[LKV__CAUSAL_DIGEST_RANGES], none = {.key = NULL, .len = 0};
  size_t keys, cnt = lkv__causal_digest_split(n->m, none, none, b, &keys);
  size_t len;
  uint8_t *msg = encode_check(n, 0, b, cnt, none, &len); /* one scan of the keys for every peer */
  for (size_t i = 0; msg && i < n->o.n_members; i++)
    if (n->members[i].id != n->o.member_id && !lkv_causal_member_is_removed(n->m, n->members[i].id))
      n->o.send(n->o.send_arg, n->members[i].id, msg, len);
  free(msg);
}
