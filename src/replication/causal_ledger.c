/* The causal member's ledger: each applied event as a CAUSAL_EVENT record, its length kept with the store. */
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/le.h"
#include "replication/causal_internal.h"
#include "replication/ledger_append.h"

/* Fills e as the CAUSAL_EVENT record of the event at core revision rev (store revision rev + 1), its ops
 * (and claims) those of the entry the store made for it, or none. */
static int event_record(const lkv__causal_node_t *n, uint64_t rev, const lkv_ledger_entry_t *made,
                        lkv_ledger_entry_t *e) {
  const lkv_causal_held_t *h = lkv_causal_member_event_at(n->m, rev);
  if (!h) return LKV_ECORRUPT; /* the store is at a revision the core has not applied */
  *e = made ? *made : (lkv_ledger_entry_t){.revision = (int64_t)rev + 1};
  if (!made) lkv_ledger_claims_digest(NULL, 0, NULL, 0, e->claims);
  e->kind = LKV_LEDGER_CAUSAL_EVENT;
  e->event = h->bytes;
  e->event_len = h->len;
  return 0;
}

int lkv__causal_ledger_log(void *arg, const lkv_ledger_entry_t *e, size_t cnt) {
  lkv__causal_node_t *n = arg;
  lkv_ledger_entry_t *out = malloc(cnt * sizeof(*out));
  if (!out) return LKV_ENOMEM;
  int rc = 0;
  size_t m = 0;
  for (size_t i = 0; !rc && i < cnt; i++) {
    if (n->installing) { /* a snapshot's revision is the store's own records (docs/causal.md §7b) */
      out[m++] = e[i];
      continue;
    }
    /* A lease's grant, or its revoke that deleted no key here, is part of its event (docs/causal.md §5),
     * recorded by the event's CAUSAL_EVENT: the record of its Txn's revision or of its empty one. */
    if (e[i].kind == LKV_LEDGER_LEASE_GRANT || (e[i].kind == LKV_LEDGER_LEASE_REVOKE && !e[i].n_ops))
      continue;
    out[m] = e[i];
    if (e[i].kind == LKV_LEDGER_REVISION || e[i].kind == LKV_LEDGER_LEASE_REVOKE)
      rc = event_record(n, (uint64_t)e[i].revision - 1, &e[i], &out[m]);
    m++;
  }
  if (!rc && m) rc = lkv__ledger_append_at(n->o.ledger, n->ledger_end, out, m, LKV__LEDGER_SAME_CHANGE);
  if (!rc) n->ledger_end += m;
  free(out);
  return rc;
}

/* No ledger: a length no ledger has, so that a later start with the ledger refuses the store. */
#define NOT_KEPT UINT64_MAX

int lkv__causal_ledger_record(lkv__causal_node_t *n, lkv_mvcc_txn_t *t, int empty, uint64_t rev) {
  int rc = 0;
  if (n->o.ledger && empty) {
    lkv_ledger_entry_t e = {.kind = LKV_LEDGER_REVISION, .revision = (int64_t)rev + 1};
    if (n->installing) /* a snapshot that changed no key here: a REVISION of no write */
      lkv_ledger_claims_digest(NULL, 0, NULL, 0, e.claims);
    else
      rc = event_record(n, rev, NULL, &e);
    if (!rc) rc = lkv__ledger_append_at(n->o.ledger, n->ledger_end, &e, 1, LKV__LEDGER_SAME_CHANGE);
    if (!rc) n->ledger_end++;
  }
  uint8_t le[8];
  lkv_le64_put(le, n->o.ledger ? n->ledger_end : NOT_KEPT);
  return rc ? rc : lkv_mvcc_repl_put(t, LKV__CAUSAL_LEDGER, le, sizeof(le));
}

/* A snapshot's records (causal_snap.c): the store's own, as in Raft mode; nothing else makes them here. */
enum { RUN_EVENTS, RUN_INSTALL, RUN_OTHERS };

static int run_class(lkv_ledger_kind_t kind) {
  if (kind == LKV_LEDGER_CAUSAL_EVENT) return RUN_EVENTS;
  return kind == LKV_LEDGER_REVISION || kind == LKV_LEDGER_LEASE_GRANT || kind == LKV_LEDGER_LEASE_REVOKE
             ? RUN_INSTALL
             : RUN_OTHERS;
}

/* The end of the run of records from `from` on of one class (run_class); *last: the revision of the run's
 * last record. */
static int run_end(lkv_ledger_log_t *log, uint64_t from, uint64_t count, int cls, uint64_t *end,
                   int64_t *last) {
  lkv_ledger_log_meta_t meta;
  int rc = 0;
  for (*end = from;
       *end < count && !(rc = lkv_ledger_log_meta(log, *end, &meta)) && run_class(meta.kind) == cls; ++*end)
    *last = meta.revision;
  return rc;
}

/* Brings the store up to the records the ledger holds beyond what it accounts for, in their order: runs of
 * events applied again from the event log (their records made again are compared with these), and other
 * records (a compaction) applied from the ledger (a replay skips what the store shows already). It stops at
 * a snapshot's records: a crash came before the store committed the install, which is made again from the
 * snapshot kept aside (lkv__causal_snap_recover), its records compared with these. */
static int catch_up_ledger(lkv__causal_node_t *n, lkv_ledger_log_t *log, uint64_t count, uint64_t logged) {
  int rc = 0;
  while (!rc && n->ledger_end < count) {
    uint64_t end;
    int64_t last = 0;
    lkv_ledger_log_meta_t meta;
    if ((rc = lkv_ledger_log_meta(log, n->ledger_end, &meta))) break;
    int cls = run_class(meta.kind);
    if (cls == RUN_INSTALL) return lkv__causal_snap_pending(n) ? 0 : LKV_ECORRUPT;
    if ((rc = run_end(log, n->ledger_end, count, cls, &end, &last))) break;
    if (cls == RUN_OTHERS) {
      rc = lkv_apply_replay_records(n->o.store, log, n->ledger_end, end, NULL);
      if (!rc) n->ledger_end = end;
    } else if ((uint64_t)last - 1 <= n->applied || (uint64_t)last - 1 > logged) {
      rc = LKV_ECORRUPT; /* events the store has, or the event log (flushed before the ledger) lacks */
    } else {
      rc = lkv__causal_store_catch_up(n, (uint64_t)last - 1, NULL, 0);
    }
  }
  return rc;
}

int lkv__causal_ledger_start(lkv__causal_node_t *n, uint64_t logged, char *err, size_t errlen) {
  uint8_t *val;
  size_t len;
  int rc = lkv_mvcc_repl_read(n->o.store, LKV__CAUSAL_LEDGER, &val, &len);
  uint64_t kept = 0; /* a fresh store accounts for no record */
  if (rc == 0) {
    kept = len == 8 ? lkv_le64_get(val) : NOT_KEPT;
    free(val);
  } else if (rc != LKV_ENOENT) {
    return rc;
  } else if (n->applied > 0) {
    kept = NOT_KEPT; /* written before the ledger recorded events */
  }
  if (!n->o.ledger) return 0;
  if (kept == NOT_KEPT) {
    snprintf(err, errlen, "the store holds events the ledger does not record (written with --ledger=false)");
    return LKV_ECORRUPT;
  }
  lkv_ledger_log_t *log = lkv_ledger_log(n->o.ledger);
  uint64_t count = lkv_ledger_log_count(log);
  if (count < kept) {
    snprintf(err, errlen, "the ledger holds %llu records, the store accounts for %llu",
             (unsigned long long)count, (unsigned long long)kept);
    return LKV_ECORRUPT;
  }
  n->ledger_end = kept;
  rc = catch_up_ledger(n, log, count, logged);
  if (rc) snprintf(err, errlen, "cannot bring the store up to the ledger's records: %s", lkv_strerror(rc));
  return rc;
}
