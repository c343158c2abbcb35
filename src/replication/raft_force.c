/* --force-new-cluster: a member restarts as the only voter of its cluster, keeping what was committed. */
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"
#include "raft/codec.h"
#include "replication/raft_internal.h"

/*
 * etcd's restartAsStandaloneNode, done to the durable log before the core starts from it. Entries after
 * the hard state's commit index are discarded: no quorum held them as far as this member knows, and
 * nothing is acknowledged before it is committed and applied. Membership changes are appended at
 * commit + 1 in the current term and committed with them: this member promoted if it is a learner, then
 * the removal of every other member the log names. They are applied like any membership change
 * (raft_conf.c): validated as etcd validates them (a member that was already removed, or never joined,
 * is a cancelled change), recorded in the store with the members' table, the removed list and the
 * membership in force, and told to the peer transport (removed members are refused from then on). A
 * restart without the flag finds them in the log and the store: the cluster stays one member until
 * MemberAdd grows it. The cluster id, the member id and every committed entry are kept.
 */

/* The ids a log names, and the membership it leads to with every change taken as accepted (the core's
 * own view after a restart without a recorded membership). */
typedef struct {
  uint64_t *ids; /* every member named, sorted, without duplicates */
  size_t n_ids;
  lkv_raft_conf_state_t conf;
} named_t;

static int in_conf(const lkv_raft_id_t *ids, uint32_t n, uint64_t id) {
  for (uint32_t i = 0; i < n; i++)
    if (ids[i] == id) return 1;
  return 0;
}

static void conf_drop(lkv_raft_id_t *ids, uint32_t *n, uint64_t id) {
  for (uint32_t i = 0; i < *n; i++)
    if (ids[i] == id) {
      ids[i] = ids[--*n];
      return;
    }
}

static int name(named_t *nm, uint64_t id) {
  size_t i = 0;
  while (i < nm->n_ids && nm->ids[i] < id) i++;
  if (i < nm->n_ids && nm->ids[i] == id) return 0;
  uint64_t *grown = realloc(nm->ids, (nm->n_ids + 1) * sizeof(*grown));
  if (!grown) return LKV_ENOMEM;
  nm->ids = grown;
  for (size_t k = nm->n_ids; k > i; k--) grown[k] = grown[k - 1];
  grown[i] = id;
  nm->n_ids++;
  return 0;
}

/* Walks the snapshot's membership and the changes in the entries up to commit. */
static int read_names(const lkv_raft_restore_t *r, named_t *nm) {
  nm->conf = r->snapshot.conf;
  int rc = 0;
  for (uint32_t i = 0; !rc && i < nm->conf.n_voters; i++) rc = name(nm, nm->conf.voters[i]);
  for (uint32_t i = 0; !rc && i < nm->conf.n_learners; i++) rc = name(nm, nm->conf.learners[i]);
  for (size_t i = 0; !rc && i < r->n_entries && r->entries[i].index <= r->hard_state.commit; i++) {
    const lkv_raft_entry_t *e = &r->entries[i];
    lkv_raft_conf_change_t cc;
    if (e->type != LKV_RAFT_ENTRY_CONF_CHANGE) continue;
    if (lkv_raft_conf_change_decode(e->data, e->len, &cc) != 0) return LKV_EBADMSG;
    rc = name(nm, cc.node);
    lkv_raft_conf_state_t *c = &nm->conf;
    conf_drop(c->voters, &c->n_voters, cc.node);
    conf_drop(c->learners, &c->n_learners, cc.node);
    if (cc.type == LKV_RAFT_CC_ADD_NODE && c->n_voters < LKV_RAFT_MAX_MEMBERS)
      c->voters[c->n_voters++] = cc.node;
    if (cc.type == LKV_RAFT_CC_ADD_LEARNER && c->n_learners < LKV_RAFT_MAX_MEMBERS)
      c->learners[c->n_learners++] = cc.node;
  }
  return rc;
}

/* One CONF_CHANGE entry at index, its data malloc'd into e->data. */
static int change_entry(const lkv__raft_node_t *n, uint8_t type, uint64_t node, uint64_t term, uint64_t index,
                        lkv_raft_entry_t *e) {
  uint8_t *ctx;
  size_t ctx_len;
  int rc =
      lkv__raft_node_conf_context(n->o.member_id, 0, type == LKV_RAFT_CC_ADD_NODE, NULL, 0, &ctx, &ctx_len);
  if (rc) return rc;
  lkv_raft_conf_change_t cc = {.type = type, .node = node, .context = ctx, .context_len = ctx_len};
  size_t len = lkv_raft_conf_change_size(&cc);
  uint8_t *data = malloc(len);
  if (data && lkv_raft_conf_change_encode(&cc, data, len) != len) rc = LKV_EINVAL;
  free(ctx);
  if (!data || rc) {
    free(data);
    return rc ? rc : LKV_ENOMEM;
  }
  *e = (lkv_raft_entry_t){
      .term = term, .index = index, .type = LKV_RAFT_ENTRY_CONF_CHANGE, .data = data, .len = len};
  return 0;
}

/* The entries that leave self the only voter: a promotion if it is a learner, then the removals. When
 * none is needed, one empty entry (a no-op for the state machine) still replaces a discarded tail. */
static int build(const lkv__raft_node_t *n, const lkv_raft_restore_t *r, const named_t *nm,
                 uint64_t discarded, lkv_raft_entry_t *ents, size_t *count) {
  uint64_t self = n->o.member_id, term = r->hard_state.term, index = r->hard_state.commit + 1;
  size_t k = 0;
  int rc = 0;
  if (in_conf(nm->conf.learners, nm->conf.n_learners, self)) {
    rc = change_entry(n, LKV_RAFT_CC_ADD_NODE, self, term, index, &ents[k]);
    k += rc == 0;
  }
  for (size_t i = 0; !rc && i < nm->n_ids; i++) {
    if (nm->ids[i] == self) continue;
    rc = change_entry(n, LKV_RAFT_CC_REMOVE_NODE, nm->ids[i], term, index + k, &ents[k]);
    k += rc == 0;
  }
  if (!rc && k == 0 && discarded)
    ents[k++] = (lkv_raft_entry_t){.term = term, .index = index, .type = LKV_RAFT_ENTRY_NORMAL};
  *count = k;
  return rc;
}

int lkv__raft_node_force_alone(lkv__raft_node_t *n, const lkv_raft_restore_t *restore, char *err,
                               size_t errlen) {
  const lkv_raft_restore_t *r = restore;
  if (r->n_entries == 0 && r->snapshot.index == 0 && r->hard_state.term == 0) {
    fprintf(stderr,
            "ledgerkv: warning: --force-new-cluster has no effect: %s holds no raft log (this member never "
            "started; as etcd, it starts as --initial-cluster-state says)\n",
            n->o.wal_dir);
    return 0;
  }
  if (n->applied > r->hard_state.commit) return 0; /* a damaged log: open_core refuses it */
  uint64_t last = r->n_entries ? r->entries[r->n_entries - 1].index : r->snapshot.index;
  uint64_t discarded = last > r->hard_state.commit ? last - r->hard_state.commit : 0;
  named_t nm = {0};
  int rc = read_names(r, &nm);
  if (rc) {
    snprintf(err, errlen, "--force-new-cluster: cannot read the raft log's membership changes: %s",
             lkv_strerror(rc));
    goto done;
  }
  uint64_t self = n->o.member_id;
  if (!in_conf(nm.conf.voters, nm.conf.n_voters, self) &&
      !in_conf(nm.conf.learners, nm.conf.n_learners, self)) {
    snprintf(
        err, errlen,
        "--force-new-cluster: member %016llx is not a member of the cluster its raft log records at commit "
        "index %llu: it cannot become its only member",
        (unsigned long long)self, (unsigned long long)r->hard_state.commit);
    rc = LKV_EINVAL;
    goto done;
  }
  lkv_raft_entry_t *ents = calloc(nm.n_ids + 1, sizeof(*ents));
  size_t count = 0;
  rc = ents ? build(n, r, &nm, discarded, ents, &count) : LKV_ENOMEM;
  lkv_raft_hard_state_t hs = r->hard_state;
  hs.commit += count;
  if (!rc && count) rc = lkv_wal_save(n->wal, &hs, NULL, ents, count);
  for (size_t i = 0; ents && i < count; i++) free((void *)ents[i].data);
  free(ents);
  if (rc) {
    snprintf(err, errlen, "--force-new-cluster: cannot write the membership changes to the raft log: %s",
             lkv_strerror(rc));
    goto done;
  }
  fprintf(
      stderr,
      "ledgerkv: warning: --force-new-cluster: member %016llx restarts as the only voter of cluster %016llx "
      "at commit index %llu (%llu uncommitted entries discarded; the %zu other members its log names "
      "removed)\n",
      (unsigned long long)self, (unsigned long long)n->o.cluster_id, (unsigned long long)r->hard_state.commit,
      (unsigned long long)discarded, nm.n_ids - 1);
  rc = count ? 1 : 0;
done:
  free(nm.ids);
  return rc;
}
