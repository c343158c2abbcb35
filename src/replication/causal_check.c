/* The causal members' corruption check: digests of key ranges compared at a common vector, keys written since
 * left out, a divergence narrowed down range by range, logged, and raised as the CORRUPT alarm
 * (docs/causal.md §6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "replication/causal_digest.h"
#include "replication/causal_internal.h"

/* A comparison takes at most this many exchanges: a range both members could not compare yet (keys written
 * meanwhile) goes back and forth, and a divergence is narrowed (each range holds fewer keys than the last).
 */
#define MAX_DEPTH 12

enum {
  NARROW = 1, /* the sender found these ranges' parent differing: a difference here confirms it */
  LAST = 2,   /* the range cannot be split further: no answer */
  SUB = 4,    /* the ranges are part of a differing one (not a whole comparison) */
};

/*
 * A check message after its kind byte: depth u8 ‖ flags u8 ‖ C, the common vector (vv.h's encoding) ‖ the
 * sender's vector when it digested (a receiver whose report of the sender is later may have purged a
 * tombstone the sender had not applied then: it skips the check) ‖ nx u32
 * ‖ nx × (key length u32 ‖ key): the keys left out, in byte order ‖ n u8 ‖ n × (bound length u8 ‖ bound ‖
 * digest) ‖ end length u8 ‖ end. The ranges are causal_digest.h's, digested by the sender without the keys
 * left out, which hold every key not stable at C on the sender.
 */
typedef struct {
  unsigned depth, flags;
  lkv_causal_vv_t vv, sender;
  lkv__causal_keyset_t x; /* x.k malloc'd, keys pointing into the message */
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

static int take_u32(const uint8_t **p, const uint8_t *stop, size_t *v) {
  if (stop - *p < 4) return LKV_EBADMSG;
  *v = (size_t)(*p)[0] | (size_t)(*p)[1] << 8 | (size_t)(*p)[2] << 16 | (size_t)(*p)[3] << 24;
  *p += 4;
  return 0;
}

static void put_u32(uint8_t **p, size_t v) {
  for (int i = 0; i < 4; i++) *(*p)++ = (uint8_t)(v >> (8 * i));
}

/* The keys left out: in byte order without repeats (a lookup searches them). */
static int take_keys(const uint8_t **p, const uint8_t *stop, lkv__causal_keyset_t *x) {
  size_t nx;
  if (take_u32(p, stop, &nx) || nx > (size_t)(stop - *p) / 4) return LKV_EBADMSG;
  if (nx && !(x->k = malloc(nx * sizeof(x->k[0])))) return LKV_ENOMEM;
  for (x->cap = nx; x->n < nx; x->n++) {
    lkv__causal_bound_t *k = &x->k[x->n];
    if (take_u32(p, stop, &k->len) || (size_t)(stop - *p) < k->len || k->len == 0) return LKV_EBADMSG;
    k->key = *p;
    *p += k->len;
    if (x->n && lkv__causal_key_cmp(k[-1].key, k[-1].len, k->key, k->len) >= 0) return LKV_EBADMSG;
  }
  return 0;
}

static int decode(const uint8_t *buf, size_t len, check_msg_t *c) {
  const uint8_t *p = buf + 2, *stop = buf + len;
  size_t used;
  c->x = (lkv__causal_keyset_t){0};
  if (len < 2 || (c->depth = buf[0]) > MAX_DEPTH || (c->flags = buf[1]) > (NARROW | LAST | SUB) ||
      lkv_causal_vv_decode(p, len - 2, &c->vv, &used))
    return LKV_EBADMSG;
  p += used;
  if (lkv_causal_vv_decode(p, (size_t)(stop - p), &c->sender, &used)) return LKV_EBADMSG;
  p += used;
  if (take_keys(&p, stop, &c->x)) return LKV_EBADMSG;
  if (p >= stop || (c->n = *p++) == 0 || c->n > LKV__CAUSAL_DIGEST_RANGES) return LKV_EBADMSG;
  for (size_t i = 0; i < c->n; i++) {
    if (take_bound(&p, stop, &c->b[i]) || (size_t)(stop - p) < LKV__CAUSAL_DIGEST_LEN) return LKV_EBADMSG;
    c->digest[i] = p;
    p += LKV__CAUSAL_DIGEST_LEN;
  }
  return take_bound(&p, stop, &c->end) || p != stop ? LKV_EBADMSG : 0;
}

/* Sends peer `to` the check message of ranges b[0..cnt) up to end digested at this member's state without
 * the keys in skip (every key not stable at vv here); nothing on out of memory or a store error (the next
 * period tries again). */
static void send_check(lkv__causal_node_t *n, uint64_t to, unsigned depth, unsigned flags,
                       const lkv_causal_vv_t *vv, const lkv__causal_keyset_t *skip,
                       const lkv__causal_bound_t *b, size_t cnt, lkv__causal_bound_t end) {
  uint8_t digest[LKV__CAUSAL_DIGEST_RANGES][LKV__CAUSAL_DIGEST_LEN];
  if (lkv__causal_digest(n->o.store, n->m, b, cnt, &end, skip, digest)) return;
  const lkv_causal_vv_t *own = lkv_causal_member_vv(n->m);
  size_t len = 3 + lkv_causal_vv_encoded_size(vv) + lkv_causal_vv_encoded_size(own) + 4 + 1 + end.len + 1;
  for (size_t i = 0; i < skip->n; i++) len += 4 + skip->k[i].len;
  for (size_t i = 0; i < cnt; i++) len += 1 + b[i].len + LKV__CAUSAL_DIGEST_LEN;
  uint8_t *msg = malloc(len), *p = msg;
  if (!msg) return;
  *p++ = LKV__CAUSAL_MSG_CHECK;
  *p++ = (uint8_t)depth;
  *p++ = (uint8_t)flags;
  lkv_causal_vv_encode(vv, p);
  p += lkv_causal_vv_encoded_size(vv);
  lkv_causal_vv_encode(own, p);
  p += lkv_causal_vv_encoded_size(own);
  put_u32(&p, skip->n);
  for (size_t i = 0; i < skip->n; i++) {
    put_u32(&p, skip->k[i].len);
    memcpy(p, skip->k[i].key, skip->k[i].len);
    p += skip->k[i].len;
  }
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
  n->o.send(n->o.send_arg, to, msg, len);
  free(msg);
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

/* Range first of a peer's check differs: confirmed when the peer had found its parent differing (the alarm);
 * split at this member's keys and sent back, so the two members narrow it down in turn. */
static void differ(lkv__causal_node_t *n, uint64_t from, const check_msg_t *c, size_t first,
                   const lkv__causal_keyset_t *skip) {
  if (c->flags & NARROW) raise_corrupt(n);
  if ((c->flags & LAST) || c->depth >= MAX_DEPTH) return;
  lkv__causal_bound_t b[LKV__CAUSAL_DIGEST_RANGES], hi = first + 1 < c->n ? c->b[first + 1] : c->end;
  size_t keys, cnt = lkv__causal_digest_split(n->m, c->b[first], hi, b, &keys);
  if (keys > 1 && cnt > 1)
    send_check(n, from, c->depth + 1, NARROW | SUB, &c->vv, skip, b, cnt, hi);
  else /* one key left (or keys a bound cannot tell apart): the peer confirms it */
    send_check(n, from, c->depth + 1, NARROW | SUB | LAST, &c->vv, skip, &c->b[first], 1, hi);
}

/* A peer's check at the common vector C it names: each range's digest against this member's, both without
 * the keys the peer left out and those not stable at C here. A range holding a key written here since C
 * that the peer did not leave out cannot be compared here: those go back, with that key left out too. */
static void take_check(lkv__causal_node_t *n, uint64_t from, const uint8_t *buf, size_t len) {
  check_msg_t c;
  lkv__causal_keyset_t mine = {0}, skip = {0};
  uint8_t digest[LKV__CAUSAL_DIGEST_RANGES][LKV__CAUSAL_DIGEST_LEN];
  /* This member purges a sole tombstone once every member's report covers it: with a report of the sender
   * later than its digests, it may have purged one the sender had not applied then (nor left out). */
  if (decode(buf, len, &c) || !lkv__causal_comparable(n->m, n->o.member_id, from) ||
      !lkv_causal_vv_leq(lkv_causal_member_report(n->m, from), &c.sender) ||
      lkv__causal_unstable(n->m, &c.vv, &mine) || lkv__causal_keyset_union(&skip, &c.x, &mine) ||
      lkv__causal_digest(n->o.store, n->m, c.b, c.n, &c.end, &skip, digest))
    goto out;
  uint8_t open[LKV__CAUSAL_DIGEST_RANGES] = {0};
  for (size_t i = 0; i < mine.n; i++)
    if (!lkv__causal_keyset_has(&c.x, mine.k[i].key, mine.k[i].len)) {
      size_t r = lkv__causal_digest_find(c.b, c.n, &c.end, mine.k[i].key, mine.k[i].len);
      if (r < c.n) open[r] = 1;
    }
  size_t first = c.n, lo = c.n, hi = 0;
  for (size_t i = 0; i < c.n; i++) {
    if (open[i]) {
      if (lo == c.n) lo = i;
      hi = i;
      continue;
    }
    if (memcmp(digest[i], c.digest[i], LKV__CAUSAL_DIGEST_LEN) == 0) continue;
    char lo_s[4 * LKV__CAUSAL_DIGEST_BOUND_MAX + 8], hi_s[sizeof(lo_s)];
    show(&c.b[i], "", lo_s, sizeof(lo_s));
    show(i + 1 < c.n ? &c.b[i + 1] : &c.end, "(end)", hi_s, sizeof(hi_s));
    fprintf(stderr,
            "ledgerkv: causal member %016llx found data inconsistency with member %016llx at their common "
            "vector: keys from \"%s\" to \"%s\" differ\n",
            (unsigned long long)n->o.member_id, (unsigned long long)from, lo_s, hi_s);
    if (first == c.n) first = i;
  }
  if (first < c.n)
    differ(n, from, &c, first, &skip);
  else if (lo < c.n && c.depth < MAX_DEPTH) /* the peer compares those */
    send_check(n, from, c.depth + 1, c.flags & SUB, &c.vv, &skip, &c.b[lo], hi - lo + 1,
               hi + 1 < c.n ? c.b[hi + 1] : c.end);
  else if (lo == c.n && !(c.flags & SUB))
    fprintf(stderr,
            "ledgerkv: causal member %016llx compared its key states with member %016llx's at their common "
            "vector (%zu keys written since left out): no corruption\n",
            (unsigned long long)n->o.member_id, (unsigned long long)from, skip.n);
out:
  lkv__causal_keyset_free(&c.x);
  lkv__causal_keyset_free(&mine);
  lkv__causal_keyset_free(&skip);
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
  const lkv_causal_vv_t *own = lkv_causal_member_vv(n->m);
  lkv__causal_keyset_t mine = {0};
  for (size_t i = 0; i < n->o.n_members; i++) {
    uint64_t id = n->members[i].id;
    const lkv_causal_vv_t *report = lkv_causal_member_report(n->m, id);
    if (!lkv__causal_comparable(n->m, n->o.member_id, id)) continue;
    lkv_causal_vv_t c;
    lkv__causal_common(own, report, &c);
    int rc = lkv__causal_unstable(n->m, &c, &mine);
    if (rc)
      fprintf(stderr, "ledgerkv: causal member %016llx skipped its check with member %016llx: %s\n",
              (unsigned long long)n->o.member_id, (unsigned long long)id,
              rc == LKV_ETOOLARGE ? "too many keys written since their common vector" : lkv_strerror(rc));
    else
      send_check(n, id, 0, 0, &c, &mine, b, cnt, none); /* one scan of the keys per peer */
  }
  lkv__causal_keyset_free(&mine);
}
