/* Starting a Raft member: its identity, the store's position, the log's recovery, founding or joining. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/le.h"
#include "replication/raft_internal.h"

int lkv_raft_node_identity(lkv_mvcc_t *store, uint64_t *cluster_id, uint64_t *member_id) {
  uint8_t *v;
  size_t len;
  int rc = lkv_mvcc_repl_read(store, LKV__RAFT_IDENTITY_RECORD, &v, &len);
  if (rc) return rc;
  if (len != 16) rc = LKV_ECORRUPT;
  if (!rc) {
    *cluster_id = lkv_le64_get(v);
    *member_id = lkv_le64_get(v + 8);
  }
  free(v);
  return rc;
}

int lkv__raft_node_put_identity(void *arg, lkv_mvcc_txn_t *t) {
  lkv__raft_node_t *n = arg;
  uint8_t v[16];
  lkv_le64_put(v, n->o.cluster_id);
  lkv_le64_put(v + 8, n->o.member_id);
  return lkv_mvcc_repl_put(t, LKV__RAFT_IDENTITY_RECORD, v, sizeof(v));
}

/* Whether a snapshot restore wrote the store for this member (n->restored), refusing another member's:
 * before the identity is recorded, so that a start with the wrong flags leaves the data dir as it was. */
static int check_restored(lkv__raft_node_t *n, char *err, size_t errlen) {
  uint8_t *v = NULL;
  size_t len;
  int rc = lkv_mvcc_repl_read(n->o.store, LKV__RAFT_RESTORED_RECORD, &v, &len);
  if (rc == LKV_ENOENT) return 0;
  if (rc == 0 && len != 16) rc = LKV_ECORRUPT;
  if (rc) {
    free(v);
    snprintf(err, errlen, "cannot read the restored member's identity from the store: %s", lkv_strerror(rc));
    return rc;
  }
  uint64_t cid = lkv_le64_get(v), mid = lkv_le64_get(v + 8);
  free(v);
  if (cid != n->o.cluster_id || mid != n->o.member_id) {
    snprintf(
        err, errlen,
        "the data dir was restored for member %016llx of cluster %016llx, not %016llx of %016llx: start it "
        "with the --name, --initial-cluster and --initial-cluster-token given to snapshot restore",
        (unsigned long long)mid, (unsigned long long)cid, (unsigned long long)n->o.member_id,
        (unsigned long long)n->o.cluster_id);
    return LKV_EINVAL;
  }
  n->restored = 1;
  return 0;
}

/* The first start records who this member is; later starts must be the same member. */
static int check_identity(lkv__raft_node_t *n, char *err, size_t errlen) {
  uint64_t cid, mid;
  int rc = lkv_raft_node_identity(n->o.store, &cid, &mid);
  if (rc == LKV_ENOENT) {
    lkv_apply_identity_t id = {.cluster_id = n->o.cluster_id};
    lkv_apply_hooks_t hooks = {.record = lkv__raft_node_put_identity, .record_arg = n};
    rc = lkv_apply_batch_hooked(n->o.store, &id, NULL, 0, &hooks);
    if (rc) snprintf(err, errlen, "cannot record the member's identity in the store: %s", lkv_strerror(rc));
    return rc;
  }
  if (rc) {
    snprintf(err, errlen, "cannot read the member's identity from the store: %s", lkv_strerror(rc));
    return rc;
  }
  if (cid != n->o.cluster_id || mid != n->o.member_id) {
    snprintf(err, errlen, "the data dir belongs to member %016llx of cluster %016llx, not %016llx of %016llx",
             (unsigned long long)mid, (unsigned long long)cid, (unsigned long long)n->o.member_id,
             (unsigned long long)n->o.cluster_id);
    return LKV_EINVAL;
  }
  return 0;
}

/* Reads the store's applied index and ledger position (0, 0 on a store that never had a Raft member). */
static int read_position(lkv__raft_node_t *n, int *fresh) {
  uint8_t *v;
  size_t len;
  int rc = lkv_mvcc_repl_read(n->o.store, LKV__RAFT_POSITION_RECORD, &v, &len);
  if (rc == LKV_ENOENT) {
    *fresh = 1;
    return 0;
  }
  if (rc) return rc;
  *fresh = 0;
  rc = lkv__raft_node_decode_position(v, len, &n->applied, &n->ledger_pos);
  free(v);
  return rc;
}

/* The log does not save a change of the commit index alone (raft_ready.c), so its commit index may lag
 * what the store applied. Every applied entry was committed, and was saved before it was applied, so while
 * the log still holds the applied index the commit index is at least that. (A log that ends below it lost
 * entries: the checks below refuse it.) */
static void raise_commit(const lkv__raft_node_t *n, lkv_raft_restore_t *restore) {
  uint64_t last =
      restore->n_entries ? restore->entries[restore->n_entries - 1].index : restore->snapshot.index;
  if (n->applied > restore->hard_state.commit && n->applied <= last) restore->hard_state.commit = n->applied;
}

static int open_core(lkv__raft_node_t *n, char *err, size_t errlen) {
  int fresh;
  int rc = read_position(n, &fresh);
  if (rc) {
    snprintf(err, errlen, "cannot read the applied index from the store: %s", lkv_strerror(rc));
    return rc;
  }
  lkv_mvcc_stat_t st;
  rc = lkv_mvcc_stat(n->o.store, &st);
  if (rc) {
    snprintf(err, errlen, "cannot read the store: %s", lkv_strerror(rc));
    return rc;
  }
  lkv_wal_recovery_t rec;
  lkv_wal_options_t wopts = {.recovery = &rec};
  lkv_raft_restore_t restore;
  int forced = !n->o.force_new_cluster;
  for (int reopened = 0;; reopened = 1) {
    rc = lkv_wal_open(n->o.wal_dir, &wopts, &n->wal, &restore);
    if (rc) {
      snprintf(err, errlen, "cannot open the raft log in %s: %s%s%s", n->o.wal_dir, lkv_strerror(rc),
               rec.message[0] ? ": " : "", rec.message);
      return rc;
    }
    raise_commit(n, &restore);
    rc = reopened ? 0 : lkv__raft_node_finish_install(n, &restore, err, errlen);
    if (rc == 0 && !forced) { /* on the log as a finished install left it */
      forced = 1;
      rc = lkv__raft_node_force_alone(n, &restore, err, errlen);
    }
    if (rc < 0) return rc;
    if (rc == 0) break;
    lkv_wal_close(n->wal);
    n->wal = NULL;
  }
  int empty_log = restore.n_entries == 0 && restore.snapshot.index == 0 && restore.hard_state.term == 0;
  /* A store discarded after a machine crash (lkv_mvcc_rebuilt) starts over: the log applies it again. A
   * sole founding voter without a log yet adopts what a single node (before it ran on Raft) wrote: its
   * state is the state before the log's first entry, and the ledger goes on from its length. Several
   * founders cannot (each would bring its own history), unless each was restored from the same snapshot
   * for this cluster (lkv_raft_node_mark_restored). */
  uint64_t ledger_count = n->o.ledger ? lkv_ledger_log_count(lkv_ledger_log(n->o.ledger)) : 0;
  int has_data = st.revision > 1 || ledger_count > 0 || st.compact_revision >= 0;
  int adopt = fresh && empty_log && has_data && !n->o.join &&
              (n->restored || (n->o.n_voters == 1 && n->o.voters[0] == n->o.member_id));
  if (adopt) n->ledger_pos = ledger_count;
  if (fresh && !adopt && !lkv_mvcc_rebuilt(n->o.store) && has_data) {
    snprintf(err, errlen,
             "the data dir holds data written by a single-member ledgerkv (revision %lld); a member of a "
             "cluster of several cannot adopt it: start the member from an empty data dir",
             (long long)st.revision);
    return LKV_EUNSUPPORTED;
  }
  if (n->o.ledger && !fresh && ledger_count == 0 && n->ledger_pos == 0 && st.revision > 1) {
    snprintf(
        err, errlen,
        "the store is at revision %lld but its ledger is empty: the store is ahead of its ledger (it was "
        "written with --ledger=false), which cannot vouch for it; keep --ledger=false or start from an "
        "empty data dir",
        (long long)st.revision);
    return LKV_ECORRUPT;
  }
  if (lkv_mvcc_rebuilt(n->o.store))
    fprintf(stderr,
            "ledgerkv: the store was not flushed before the machine restarted: it starts from its checkpoint "
            "at index %llu (revision %lld) and the Raft log applies the rest\n",
            (unsigned long long)n->applied, (long long)st.revision);
  if (ledger_count < n->ledger_pos) {
    snprintf(err, errlen,
             "the ledger holds %llu entries but the store accounts for %llu: the ledger lost entries",
             (unsigned long long)ledger_count, (unsigned long long)n->ledger_pos);
    return LKV_ECORRUPT;
  }
  if (empty_log && n->applied > 0) {
    snprintf(err, errlen,
             "the raft log in %s is empty but the store has applied entry %llu: the log was lost",
             n->o.wal_dir, (unsigned long long)n->applied);
    return LKV_ECORRUPT;
  }
  if (n->applied > restore.hard_state.commit) {
    snprintf(err, errlen, "the store has applied entry %llu beyond the raft log's commit index %llu",
             (unsigned long long)n->applied, (unsigned long long)restore.hard_state.commit);
    return LKV_ECORRUPT;
  }
  restore.applied = n->applied;
  /* The membership as applied (a change refused when applied is in the log all the same): the core would
   * otherwise take every change in the log after its snapshot as accepted. */
  lkv_raft_conf_state_t recorded;
  if (n->applied > restore.snapshot.index && lkv__raft_node_recorded_conf(n, &recorded) == 0)
    restore.conf = &recorded;
  lkv_raft_config_t cfg;
  lkv_raft_config_default(&cfg, n->o.member_id, lkv__raft_node_rand, n);
  cfg.election_tick = n->o.election_ticks;
  cfg.heartbeat_tick = 1;
  cfg.pre_vote = n->o.pre_vote;
  rc = lkv_raft_new(&cfg, empty_log ? NULL : &restore, &n->raft);
  if (rc) {
    snprintf(err, errlen, "cannot restore the raft member from its log: %s", lkv_strerror(rc));
    return rc;
  }
  if (empty_log && !n->o.join) {
    rc = lkv_raft_bootstrap(n->raft, n->o.voters, n->o.n_voters);
    if (rc) {
      snprintf(err, errlen, "cannot found the cluster: %s", lkv_strerror(rc));
      return rc;
    }
  }
  return 0;
}

/* The member layer learns at start-up whom to dial (members added after the cluster was founded are not
 * in --initial-cluster) and whom to refuse. */
void lkv__raft_node_tell_membership(lkv__raft_node_t *n) {
  if (!n->o.on_member_change) return;
  for (size_t i = 0; i < n->n_removed; i++) n->o.on_member_change(n->o.member_arg, n->removed[i], 1, NULL, 0);
  for (size_t i = 0; i < n->n_attrs; i++)
    if (n->attrs[i].id != n->o.member_id)
      n->o.on_member_change(n->o.member_arg, n->attrs[i].id, 0, n->attrs[i].data, n->attrs[i].len);
  for (size_t i = 0; i < n->n_seeds; i++)
    if (n->seeds[i].id != n->o.member_id && !lkv__raft_node_find_attrs(n, n->seeds[i].id))
      n->o.on_member_change(n->o.member_arg, n->seeds[i].id, 0, n->seeds[i].data, n->seeds[i].len);
}

int lkv_raft_node_start(lkv_replicator_t **out, const lkv_raft_node_options_t *opts, char *err,
                        size_t errlen) {
  if (!opts->store || !opts->wal_dir || !opts->member_id || !opts->send || opts->tick_ms == 0 ||
      opts->election_ticks < 2) {
    snprintf(err, errlen, "invalid raft member options");
    return LKV_EINVAL;
  }
  lkv__raft_node_t *n = calloc(1, sizeof(*n));
  if (!n) return LKV_ENOMEM;
  n->base.ops = &lkv__raft_node_ops;
  n->o = *opts;
  n->o.snap_dir = opts->snap_dir ? strdup(opts->snap_dir) : NULL; /* the caller's string is not kept */
  if (opts->snap_dir && !n->o.snap_dir) {
    free(n);
    return LKV_ENOMEM;
  }
  if (getrandom(&n->rng, sizeof(n->rng), 0) != sizeof(n->rng)) n->rng = lkv_clock_ns(CLOCK_MONOTONIC);
  n->rng ^= opts->member_id;
  if (!n->rng) n->rng = 1;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* tick deadlines are monotonic */
  n->rx.fd = -1;                                     /* nothing being received */
  if (pthread_mutex_init(&n->mu, NULL) || pthread_mutex_init(&n->listen_mu, NULL) ||
      pthread_mutex_init(&n->rx_mu, NULL) || pthread_cond_init(&n->wake, &attr) ||
      lkv__signing_init(&n->signing, opts->ledger, opts->sign_interval_ms)) {
    pthread_condattr_destroy(&attr);
    free(n);
    snprintf(err, errlen, "out of memory");
    return LKV_ENOMEM;
  }
  pthread_condattr_destroy(&attr);
  int rc = check_restored(n, err, errlen);
  if (rc == 0) rc = check_identity(n, err, errlen);
  if (rc == 0) rc = open_core(n, err, errlen);
  if (rc == 0) {
    rc = lkv__raft_node_load_attrs(n);
    if (rc) snprintf(err, errlen, "cannot read the members' attributes from the store: %s", lkv_strerror(rc));
  }
  if (rc == 0) {
    rc = lkv__raft_node_ensure_conf(n);
    if (rc) snprintf(err, errlen, "cannot record the membership in the store: %s", lkv_strerror(rc));
  }
  if (rc == 0 && opts->snap_dir) {
    rc = lkv_snap_receiver_init(&n->rx, opts->snap_dir, opts->send_snap, opts->send_arg);
    if (rc) snprintf(err, errlen, "cannot prepare %s for snapshots: %s", opts->snap_dir, lkv_strerror(rc));
  }
  for (size_t i = 0; rc == 0 && i < opts->n_seeds; i++) rc = lkv__raft_node_seed_attrs(n, &opts->seeds[i]);
  for (size_t i = 0; rc == 0 && i < n->n_removed; i++)
    if (n->removed[i] == opts->member_id) { /* etcd refuses to start a removed member alike */
      snprintf(err, errlen, "the member has been permanently removed from the cluster");
      rc = LKV_EPERM;
    }
  if (rc == 0) lkv__raft_node_tell_membership(n);
  n->o.seeds = NULL; /* the caller's */
  n->o.n_seeds = 0;
  if (rc) {
    lkv__raft_node_free(n);
    return rc;
  }
  /* The Raft log is the write-ahead log: ledger appends need no flush of their own (one flush per batch,
   * the log's); a tail lost in a machine crash is applied again from the log, identically. */
  if (n->o.ledger) lkv_ledger_defer_sync(n->o.ledger);
  n->next_tick_ms = lkv_clock_ms(CLOCK_MONOTONIC) + n->o.tick_ms;
  lkv__raft_node_publish_status(n);
  if (lkv__raft_flusher_start(n) != 0) /* without it, batches are saved and applied one after the other */
    fprintf(stderr, "ledgerkv: raft: cannot start the flusher thread; saving on the raft thread\n");
  if (pthread_create(&n->thread, NULL, lkv__raft_node_main, n) != 0) {
    lkv__raft_node_free(n);
    snprintf(err, errlen, "cannot start the raft thread");
    return LKV_ENOMEM;
  }
  *out = &n->base;
  return 0;
}
