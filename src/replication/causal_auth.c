/* The causal replicator's auth state: auth records as reserved keys, auth ops' write sets, merged siblings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"
#include "replication/causal_internal.h"

/* Reserved keys: prefix ‖ tag ‖ name. Clients cannot write under the prefix (lkv_causal_node_reserved_key).
 */
static const uint8_t prefix[] = {0, 0, 'l', 'e', 'd', 'g', 'e', 'r', 'k', 'v', '-', 'a', 'u', 't', 'h', 0};
#define PREFIX_LEN sizeof(prefix)
#define TAG_USER 'u'
#define TAG_ROLE 'r'
#define TAG_ENABLED 'e' /* no name; value "0" or "1" */

int lkv_causal_node_reserved_key(const uint8_t *key, size_t len) {
  return len >= PREFIX_LEN && memcmp(key, prefix, PREFIX_LEN) == 0;
}

/* ---- the auth state as a sorted list of reserved keys and values */

typedef struct {
  uint8_t *key, *val;
  size_t key_len, val_len;
} rec_t;

struct lkv__causal_auth_snap_s {
  rec_t *v;
  size_t n, cap;
  uint64_t revision; /* the auth revision */
  int fail;          /* LKV_ENOMEM while filling */
};

typedef struct {
  lkv__causal_auth_snap_t *s;
  uint8_t tag;
} fill_t;

static int add(lkv__causal_auth_snap_t *s, uint8_t tag, const uint8_t *name, size_t nlen, const uint8_t *val,
               size_t vlen) {
  if (lkv_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v))) return LKV_ENOMEM;
  rec_t *r = &s->v[s->n];
  r->key = malloc(PREFIX_LEN + 1 + nlen);
  r->val = malloc(vlen ? vlen : 1);
  if (!r->key || !r->val) {
    free(r->key), free(r->val);
    return LKV_ENOMEM;
  }
  memcpy(r->key, prefix, PREFIX_LEN);
  r->key[PREFIX_LEN] = tag;
  if (nlen) memcpy(r->key + PREFIX_LEN + 1, name, nlen);
  if (vlen) memcpy(r->val, val, vlen);
  r->key_len = PREFIX_LEN + 1 + nlen, r->val_len = vlen;
  s->n++;
  return 0;
}

static int fill_cb(void *arg, const uint8_t *name, size_t nlen, const uint8_t *val, size_t vlen) {
  fill_t *f = arg;
  return add(f->s, f->tag, name, nlen, val, vlen);
}

static int rec_cmp(const void *a, const void *b) {
  const rec_t *x = a, *y = b;
  int c = memcmp(x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);
  return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

void lkv__causal_auth_snap_free(lkv__causal_auth_snap_t *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) free(s->v[i].key), free(s->v[i].val);
  free(s->v);
  free(s);
}

int lkv__causal_auth_snap(lkv_mvcc_txn_t *t, lkv__causal_auth_snap_t **out) {
  lkv__causal_auth_snap_t *s = calloc(1, sizeof(*s));
  if (!s) return LKV_ENOMEM;
  int enabled;
  fill_t fu = {s, TAG_USER}, fr = {s, TAG_ROLE};
  int rc = lkv_mvcc_auth_state_get(t, &enabled, &s->revision);
  if (!rc) rc = lkv_mvcc_auth_each(t, LKV_MVCC_AUTH_USER, fill_cb, &fu);
  if (!rc) rc = lkv_mvcc_auth_each(t, LKV_MVCC_AUTH_ROLE, fill_cb, &fr);
  if (!rc) rc = add(s, TAG_ENABLED, NULL, 0, (const uint8_t *)(enabled ? "1" : "0"), 1);
  if (rc) {
    lkv__causal_auth_snap_free(s);
    return rc;
  }
  qsort(s->v, s->n, sizeof(*s->v), rec_cmp);
  *out = s;
  return 0;
}

/* ---- an auth op's write set: what changed between two states */

int lkv__causal_auth_diff(const lkv__causal_auth_snap_t *before, lkv_mvcc_txn_t *t,
                          lkv_causal_mutation_t **muts, size_t *cnt, uint8_t **keep) {
  lkv__causal_auth_snap_t *after;
  int rc = lkv__causal_auth_snap(t, &after);
  if (rc) return rc;
  size_t n = before->n + after->n, bytes = 0, k = 0;
  lkv_causal_mutation_t *m = calloc(n ? n : 1, sizeof(*m));
  for (size_t i = 0; i < after->n; i++) bytes += after->v[i].key_len + after->v[i].val_len;
  for (size_t i = 0; i < before->n; i++) bytes += before->v[i].key_len;
  uint8_t *p = malloc(bytes ? bytes : 1), *buf = p;
  if (!m || !p) {
    free(m), free(p);
    lkv__causal_auth_snap_free(after);
    return LKV_ENOMEM;
  }
  for (size_t i = 0, j = 0; i < before->n || j < after->n;) {
    int c = i == before->n ? 1 : j == after->n ? -1 : rec_cmp(&before->v[i], &after->v[j]);
    const rec_t *r = c < 0 ? &before->v[i] : &after->v[j];
    int changed = c != 0 || r->val_len != before->v[i].val_len ||
                  (r->val_len && memcmp(r->val, before->v[i].val, r->val_len) != 0);
    if (changed) {
      lkv_causal_mutation_t *x = &m[k++];
      x->kind = c < 0 ? LKV_CAUSAL_DEL : LKV_CAUSAL_PUT;
      memcpy(p, r->key, r->key_len);
      x->key = p, x->key_len = r->key_len;
      p += r->key_len;
      if (c >= 0) {
        if (r->val_len) memcpy(p, r->val, r->val_len);
        x->value = p, x->value_len = r->val_len;
        p += r->val_len;
      }
    }
    if (c <= 0) i++;
    if (c >= 0) j++;
  }
  /* An op that left every record as it was is no auth event: its revision count is undone (the auth
   * revision counts auth events, the same on members that applied the same ones). */
  if (!k && after->revision != before->revision) {
    int enabled;
    uint64_t r;
    rc = lkv_mvcc_auth_state_get(t, &enabled, &r);
    if (!rc && !(rc = lkv_mvcc_req_begin(t))) {
      rc = lkv_mvcc_auth_state_set(t, enabled, before->revision);
      int rc2 = lkv_mvcc_req_end(t, 1);
      if (!rc) rc = rc2;
    }
  }
  lkv__causal_auth_snap_free(after);
  if (rc || !k) {
    free(m), free(buf);
    *muts = NULL, *cnt = 0, *keep = NULL;
    return rc;
  }
  *muts = m, *cnt = k, *keep = buf;
  return 0;
}

/* ---- siblings of a reserved key merged into the record a member keeps */

void lkv__causal_auth_collect(void *arg, uint64_t rev, const lkv_causal_key_t *k) {
  lkv__causal_node_t *n = arg;
  if (rev <= n->applied || !lkv_causal_node_reserved_key(k->key, k->key_len)) return;
  uint8_t tag = k->key_len > PREFIX_LEN ? k->key[PREFIX_LEN] : 0;
  const lkv_causal_sibling_t *w = lkv_causal_key_winner(k);
  uint8_t *val = NULL;
  size_t len = 0;
  int rc = 0;
  if (tag == TAG_ENABLED) { /* enabled when any version enables: the stricter state wins */
    int on = 0;
    for (size_t i = 0; i < k->n; i++)
      on |= !k->sib[i].tombstone && k->sib[i].value_len && k->sib[i].value[0] == '1';
    if (!(val = malloc(1))) abort();
    val[0] = on ? '1' : '0', len = 1;
  } else if (w && (tag == TAG_USER || tag == TAG_ROLE)) {
    lkv_apply_auth_version_t *v = calloc(k->n, sizeof(*v));
    if (!v) abort();
    v[0] = (lkv_apply_auth_version_t){.val = w->value, .len = w->value_len, .tombstone = w->tombstone};
    for (size_t i = 0, j = 1; i < k->n; i++)
      if (&k->sib[i] != w)
        v[j++] = (lkv_apply_auth_version_t){k->sib[i].value, k->sib[i].value_len, k->sib[i].tombstone};
    rc = lkv_apply_auth_merge(tag == TAG_USER ? LKV_MVCC_AUTH_USER : LKV_MVCC_AUTH_ROLE, v, k->n, &val, &len);
    free(v);
    if (rc == LKV_ENOMEM) abort(); /* as the core: a half-applied event is worse than a stop */
  }
  if (rc) /* a record that does not unpack (a faulty origin): absent, the conservative reading */
    fprintf(stderr,
            "ledgerkv: causal member %016llx: an auth record written by another member is not valid: %s\n",
            (unsigned long long)n->o.member_id, lkv_strerror(rc));
  lkv__causal_change_push(n, rev, k->key, k->key_len, !val, val, len);
  free(val);
}

/* ---- merged records into the store */

int lkv__causal_auth_apply(lkv_mvcc_txn_t *t, const lkv__causal_change_t *c, size_t n, uint64_t revision) {
  int enabled;
  uint64_t rev;
  int rc = lkv_mvcc_auth_state_get(t, &enabled, &rev);
  for (size_t i = 0; !rc && i < n; i++) {
    if (!lkv_causal_node_reserved_key(c[i].key, c[i].key_len) || c[i].key_len == PREFIX_LEN) continue;
    const uint8_t *name = c[i].key + PREFIX_LEN + 1;
    size_t nlen = c[i].key_len - PREFIX_LEN - 1;
    uint8_t tag = c[i].key[PREFIX_LEN];
    lkv_mvcc_auth_kind_t kind = tag == TAG_USER ? LKV_MVCC_AUTH_USER : LKV_MVCC_AUTH_ROLE;
    if (tag == TAG_ENABLED)
      enabled = !c[i].deleted && c[i].value_len == 1 && c[i].value[0] == '1';
    else if (tag != TAG_USER && tag != TAG_ROLE)
      continue; /* no such record: nothing a member keeps */
    else if (c[i].deleted && (rc = lkv_mvcc_auth_del(t, kind, name, nlen)) == LKV_ENOENT)
      rc = 0; /* absent already */
    else if (!c[i].deleted)
      rc = lkv_mvcc_auth_put(t, kind, name, nlen, c[i].value, c[i].value_len);
  }
  if (!revision) revision = (rev ? rev : 1) + 1; /* one auth event: one auth revision */
  return rc ? rc : lkv_mvcc_auth_state_set(t, enabled, revision);
}
