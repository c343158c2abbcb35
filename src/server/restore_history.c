/* A snapshot's key history and leases planned into the ledger's first records (whole, or from a STATE). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"
#include "etcd/lease/leasepb/lease.pb-c.h"
#include "etcd/mvcc/mvccpb/kv.pb-c.h"
#include "server/restore_internal.h"

#define REV_KEY_LEN 17 /* main (8 B BE) '_' sub (8 B BE), then 't' after a tombstone */

static int64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return (int64_t)v;
}

static int refuse(int rc, char *why, size_t whylen, const char *msg) {
  snprintf(why, whylen, "%s", msg);
  return rc;
}

int lkv__rhist_key(lkv__rhist_t *h, const uint8_t *key, size_t key_len, const uint8_t *val, size_t val_len,
                   char *why, size_t whylen) {
  if ((key_len != REV_KEY_LEN && key_len != REV_KEY_LEN + 1) || key[8] != '_' ||
      (key_len == REV_KEY_LEN + 1 && key[REV_KEY_LEN] != 't'))
    return refuse(LKV_ECORRUPT, why, whylen, "the key bucket holds a key that is not a revision");
  int rc = lkv_grow((void **)&h->recs, &h->cap_recs, h->n_recs + 1, sizeof(*h->recs));
  if (rc) return rc;
  Mvccpb__KeyValue *kv = mvccpb__key_value__unpack(NULL, val_len, val);
  if (!kv)
    return refuse(LKV_ECORRUPT, why, whylen, "the key bucket holds a value that is not an mvccpb.KeyValue");
  lkv__rrec_t *r = &h->recs[h->n_recs];
  *r = (lkv__rrec_t){.main = be64(key),
                     .sub = be64(key + 9),
                     .tombstone = key_len > REV_KEY_LEN,
                     .key_len = kv->key.len,
                     .value_len = kv->value.len,
                     .create = kv->create_revision,
                     .version = kv->version,
                     .lease = kv->lease};
  if (kv->key.len == 0)
    rc = refuse(LKV_ECORRUPT, why, whylen, "the key bucket holds a record without a key");
  else if (!r->tombstone && kv->mod_revision != r->main)
    rc = refuse(LKV_ECORRUPT, why, whylen, "a record's mod revision is not the revision it is stored under");
  else if (h->n_recs && (r->main < h->recs[h->n_recs - 1].main ||
                         (r->main == h->recs[h->n_recs - 1].main && r->sub <= h->recs[h->n_recs - 1].sub)))
    rc = refuse(LKV_ECORRUPT, why, whylen, "the key bucket's revisions are out of order");
  else if (!(r->key = malloc(kv->key.len + kv->value.len + 1)))
    rc = LKV_ENOMEM;
  if (!rc) {
    memcpy(r->key, kv->key.data, kv->key.len);
    if (kv->value.len) memcpy(r->key + kv->key.len, kv->value.data, kv->value.len);
    h->n_recs++;
  }
  mvccpb__key_value__free_unpacked(kv, NULL);
  return rc;
}

int lkv__rhist_lease(lkv__rhist_t *h, const uint8_t *val, size_t val_len, char *why, size_t whylen) {
  Leasepb__Lease *l = leasepb__lease__unpack(NULL, val_len, val);
  if (!l)
    return refuse(LKV_ECORRUPT, why, whylen, "the lease bucket holds a value that is not a leasepb.Lease");
  size_t cap = h->cap_leases;
  int rc = lkv_grow((void **)&h->lease_ids, &cap, h->n_leases + 1, sizeof(int64_t));
  if (!rc) rc = lkv_grow((void **)&h->lease_ttls, &h->cap_leases, h->n_leases + 1, sizeof(int64_t));
  if (!rc) {
    h->lease_ids[h->n_leases] = l->id;
    h->lease_ttls[h->n_leases++] = l->ttl;
  }
  leasepb__lease__free_unpacked(l, NULL);
  return rc;
}

int lkv__rhist_compact(lkv__rhist_t *h, const uint8_t *val, size_t val_len, char *why, size_t whylen) {
  if (val_len != REV_KEY_LEN || val[8] != '_')
    return refuse(LKV_ECORRUPT, why, whylen, "the meta bucket's compact revision is not a revision");
  int64_t rev = be64(val);
  if (rev > h->compact_rev) h->compact_rev = rev;
  return 0;
}

static int add_entry(lkv__rhist_t *h, size_t *cap, const lkv_ledger_entry_t *e) {
  int rc = lkv_grow((void **)&h->entries, cap, h->n_entries + 1, sizeof(*h->entries));
  if (!rc) h->entries[h->n_entries++] = *e;
  return rc;
}

/* One REVISION record per revision of recs[from..n): they must follow each other from first on, with sub
 * revisions from 0. Each record owns its write set's buffer. */
static int plan_history(lkv__rhist_t *h, size_t *cap, size_t from, int64_t first, char *why, size_t whylen) {
  lkv_ledger_ws_t ws = {0};
  int rc = 0;
  for (size_t i = from; !rc && i < h->n_recs; i++) {
    const lkv__rrec_t *r = &h->recs[i];
    if (r->main != first + (int64_t)h->revisions)
      rc = refuse(LKV_ECORRUPT, why, whylen,
                  h->compact_rev ? "the key bucket skips a revision above the compact revision"
                                 : "the key bucket skips revisions but the snapshot records no compaction");
    else if (r->sub != (int64_t)ws.n_ops)
      rc = refuse(LKV_ECORRUPT, why, whylen, "the key bucket skips a sub revision");
    else if (r->tombstone)
      rc = lkv_ledger_ws_delete(&ws, r->key, r->key_len);
    else
      rc = lkv_ledger_ws_put(&ws, r->key, r->key_len, r->key + r->key_len, r->value_len, r->create,
                             r->version, r->lease);
    if (rc || (i + 1 < h->n_recs && h->recs[i + 1].main == r->main)) continue;
    lkv_ledger_entry_t e = {.kind = LKV_LEDGER_REVISION, .revision = r->main};
    lkv_ledger_claims_digest(NULL, 0, NULL, 0, e.claims); /* no client asked for it here */
    lkv_ledger_entry_set_ws(&e, &ws);
    if (!(rc = add_entry(h, cap, &e))) {
      lkv_ledger_ws_init(&ws); /* the record keeps the buffer */
      h->revisions++;
    }
  }
  lkv_ledger_ws_free(&ws);
  return rc;
}

static int cmp_key(const lkv__rrec_t *x, const lkv__rrec_t *y) {
  size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
  int c = memcmp(x->key, y->key, n);
  if (c) return c;
  return x->key_len == y->key_len ? 0 : x->key_len < y->key_len ? -1 : 1;
}

static int cmp_key_rev(const void *a, const void *b) {
  const lkv__rrec_t *x = *(lkv__rrec_t *const *)a, *y = *(lkv__rrec_t *const *)b;
  int c = cmp_key(x, y);
  return c ? c : x < y ? -1 : x > y; /* the bucket's order is the revision order */
}

/* The STATE record of the keys live at `at` (each key's latest record at or below it, unless a
 * tombstone) and every lease, at revision rev. Returns the index of the first record above `at`. */
static int plan_state(lkv__rhist_t *h, size_t *cap, int64_t at, int64_t rev, size_t *above, char *why,
                      size_t whylen) {
  size_t n = 0;
  while (n < h->n_recs && h->recs[n].main <= at) n++;
  *above = n;
  lkv__rrec_t **by_key = malloc((n ? n : 1) * sizeof(*by_key));
  uint8_t *live = calloc(n ? n : 1, 1);
  int rc = by_key && live ? 0 : LKV_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) by_key[i] = &h->recs[i];
  if (!rc) qsort(by_key, n, sizeof(*by_key), cmp_key_rev);
  for (size_t i = 0; !rc && i < n; i++)
    if ((i + 1 == n || cmp_key(by_key[i], by_key[i + 1])) && !by_key[i]->tombstone)
      live[by_key[i] - h->recs] = 1;
  for (size_t i = 0; !rc && i < h->n_leases; i++)
    if ((rc = lkv_ledger_state_lease(&h->state, h->lease_ids[i], h->lease_ttls[i])))
      snprintf(why, whylen, "the lease bucket's leases cannot form a state (id 0 or out of order)");
  for (size_t i = 0; !rc && i < n; i++) {
    if (!live[i]) continue;
    const lkv__rrec_t *r = &h->recs[i];
    lkv_ledger_state_key_t k = {.key = r->key,
                                .key_len = r->key_len,
                                .value = r->key + r->key_len,
                                .value_len = r->value_len,
                                .create_revision = r->create,
                                .mod_revision = r->main,
                                .mod_sub = r->sub,
                                .version = r->version,
                                .lease = r->lease};
    if ((rc = lkv_ledger_state_key(&h->state, &k)))
      snprintf(why, whylen, "%s",
               rc == LKV_EINVAL
                   ? "a live key's revisions cannot form a state, or the state exceeds one ledger "
                     "record (2 GiB)"
                   : lkv_strerror(rc));
  }
  free(by_key);
  free(live);
  if (rc) return rc;
  lkv_ledger_entry_t e;
  lkv_ledger_state_entry(&h->state, rev, &e);
  h->has_state = 1;
  return add_entry(h, cap, &e);
}

int lkv__rhist_plan(lkv__rhist_t *h, int64_t bump, int mark_compacted, char *why, size_t whylen) {
  size_t cap = 0, above = 0;
  int64_t latest = h->n_recs ? h->recs[h->n_recs - 1].main : 1;
  if (h->compact_rev > latest) latest = h->compact_rev; /* etcd's current revision after a restore */
  int rc;
  if (mark_compacted) {
    h->revision = latest + bump;
    return plan_state(h, &cap, latest, h->revision, &above, why, whylen);
  }
  if (h->compact_rev > 0) {
    if ((rc = plan_state(h, &cap, h->compact_rev, h->compact_rev, &above, why, whylen))) return rc;
    rc = plan_history(h, &cap, above, h->compact_rev + 1, why, whylen);
  } else {
    for (size_t i = 0; i < h->n_leases; i++) {
      /* Leases are granted before the first revision: the store is at revision 1 then. */
      lkv_ledger_entry_t e = {.kind = LKV_LEDGER_LEASE_GRANT,
                              .revision = 1,
                              .lease_id = h->lease_ids[i],
                              .lease_ttl = h->lease_ttls[i]};
      lkv_ledger_claims_digest(NULL, 0, NULL, 0, e.claims);
      if ((rc = add_entry(h, &cap, &e))) return rc;
    }
    rc = plan_history(h, &cap, 0, 2, why, whylen);
  }
  h->revision = latest;
  return rc;
}

void lkv__rhist_free(lkv__rhist_t *h) {
  for (size_t i = 0; i < h->n_entries; i++)
    if (h->entries[i].kind == LKV_LEDGER_REVISION) free((void *)h->entries[i].ops);
  for (size_t i = 0; i < h->n_recs; i++) free(h->recs[i].key);
  free(h->entries);
  free(h->recs);
  free(h->lease_ids);
  free(h->lease_ttls);
  lkv_ledger_state_free(&h->state);
  memset(h, 0, sizeof(*h));
}
