/* A simulated member: start and restart from its durable state, crash, and its ready batches in phases. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "sim.h"

int lkv__sim_slot(const lkv__sim_t *s, lkv_raft_id_t id) {
  if (id == LKV_RAFT_NONE || id > (uint64_t)s->n_slots) return -1;
  return (int)(id - 1);
}

static void config(lkv__sim_t *s, lkv__sim_node_t *n) {
  lkv_raft_config_default(&n->cfg, n->id, lkv__sim_rng_core, &n->core_rng);
  n->cfg.election_tick = s->election_tick;
  n->cfg.heartbeat_tick = s->heartbeat_tick;
  n->cfg.pre_vote = s->pre_vote;
  n->cfg.check_quorum = s->check_quorum;
  n->cfg.max_size_per_msg = s->max_size_per_msg;
  n->cfg.max_inflight_msgs = s->max_inflight_msgs;
  n->cfg.max_uncommitted_size = s->max_uncommitted;
  n->cfg.bugs = s->bugs;
}

/* The shadow log starts after the durable snapshot; its chains were stored with the entries, and are
 * re-derived here so a simulator bookkeeping error cannot hide a real one. */
static void shadow_from_disk(lkv__sim_t *s, lkv__sim_node_t *n) {
  const lkv__sim_store_t *st = &n->disk.durable;
  uint64_t chain = st->snap.index ? st->snap_data.chain : LKV_SIM_CHAIN0;
  n->s_first = st->snap.index + 1;
  n->s_base = chain;
  n->s_base_term = st->snap.term;
  n->s_good = st->snap.index;
  n->s_n = 0;
  for (size_t i = 0; i < st->n; i++) {
    const lkv__sim_dentry_t *d = &st->ents[i];
    if (d->index <= st->snap.index) continue;
    lkv_raft_entry_t e = {d->term, d->index, d->type, d->data, d->len};
    chain = lkv__sim_chain(chain, &e);
    if (chain != d->chain)
      lkv__sim_fail(s, "simulator", "durable chain of n%llu differs at %llu", (unsigned long long)n->id,
                    (unsigned long long)d->index);
    lkv__sim_shadow_push(n, d->term, chain);
  }
}

void lkv__sim_node_start(lkv__sim_t *s, int slot, int bootstrap) {
  lkv__sim_node_t *n = &s->nodes[slot];
  const lkv__sim_store_t *st = &n->disk.durable;
  n->id = (lkv_raft_id_t)slot + 1;
  n->used = 1;
  config(s, n);
  lkv_raft_entry_t *ents = NULL;
  lkv_raft_restore_t rs;
  memset(&rs, 0, sizeof(rs));
  rs.hard_state = st->hs;
  rs.snapshot = st->snap;
  /* A snapshot is committed state: a torn write may have kept it without the hard state after it. */
  if (rs.hard_state.commit < st->snap.index) rs.hard_state.commit = st->snap.index;
  if (st->n) {
    ents = calloc(st->n, sizeof(*ents));
    if (!ents) abort();
    for (size_t i = 0; i < st->n; i++) {
      const lkv__sim_dentry_t *d = &st->ents[i];
      if (d->index <= st->snap.index) continue;
      ents[rs.n_entries++] = (lkv_raft_entry_t){d->term, d->index, d->type, d->data, d->len};
    }
  }
  rs.entries = ents;
  uint64_t first_index = rs.n_entries ? ents[0].index : 0;
  int fresh = !rs.snapshot.index && !rs.n_entries && !rs.hard_state.term;
  int rc = lkv_raft_new(&n->cfg, fresh ? NULL : &rs, &n->raft);
  free(ents);
  if (rc) {
    lkv__sim_fail(s, "restart",
                  "n%llu: lkv_raft_new refused its durable state (term %llu vote %llu commit %llu, snapshot "
                  "%llu/%llu, %zu entries after it from %llu): %s",
                  (unsigned long long)n->id, (unsigned long long)rs.hard_state.term,
                  (unsigned long long)rs.hard_state.vote, (unsigned long long)rs.hard_state.commit,
                  (unsigned long long)rs.snapshot.index, (unsigned long long)rs.snapshot.term, rs.n_entries,
                  (unsigned long long)first_index, lkv_err_name(rc));
    return;
  }
  n->up = 1;
  n->life++;
  n->next_tick = s->now + n->tick_period;
  n->paused_until = 0;
  n->crash_phase = 0;
  n->applied = st->snap.index;
  n->sm_chain = st->snap.index ? st->snap_data.chain : LKV_SIM_CHAIN0;
  shadow_from_disk(s, n);
  lkv__sim_trace(s, "start n%llu life %llu: term %llu vote %llu commit %llu snap %llu entries %zu%s",
                 (unsigned long long)n->id, (unsigned long long)n->life, (unsigned long long)st->hs.term,
                 (unsigned long long)st->hs.vote, (unsigned long long)st->hs.commit,
                 (unsigned long long)st->snap.index, (size_t)rs.n_entries, bootstrap ? " (bootstrap)" : "");
  if (bootstrap) {
    lkv_raft_id_t voters[LKV_SIM_MAX_NODES];
    for (int i = 0; i < s->n_founders; i++) voters[i] = (lkv_raft_id_t)i + 1;
    rc = lkv_raft_bootstrap(n->raft, voters, (size_t)s->n_founders);
    if (rc) lkv__sim_fail(s, "contract", "bootstrap n%llu: %s", (unsigned long long)n->id, lkv_err_name(rc));
  }
  lkv__sim_check_restart(s, slot);
  lkv__sim_node_process(s, slot);
}

void lkv__sim_node_crash(lkv__sim_t *s, int slot, const char *where) {
  lkv__sim_node_t *n = &s->nodes[slot];
  if (!n->up) return;
  lkv_raft_free(n->raft);
  n->raft = NULL;
  n->up = 0;
  n->crash_phase = 0;
  n->role = LKV_RAFT_FOLLOWER;
  n->leader = LKV_RAFT_NONE;
  int torn;
  size_t kept;
  int pending = n->disk.pending;
  lkv__sim_disk_crash(&n->disk, &s->rng, &torn, &kept);
  /* Half the crashes are a quick process restart (messages sent before it may still arrive after it). */
  uint64_t down = s->healed || lkv__sim_rng_chance(&s->rng, 500) ? LKV_SIM_TICK / 2 : 30 * LKV_SIM_TICK;
  n->down_until = s->now + 1 + lkv__sim_rng_below(&s->rng, down);
  s->n_crashes++;
  lkv__sim_trace(s, "crash n%llu %s: unflushed write %s", (unsigned long long)n->id, where,
                 !pending ? "none"
                 : torn   ? "torn"
                          : "lost");
  (void)kept;
}

void lkv__sim_node_stop(lkv__sim_t *s, int slot) {
  lkv__sim_node_t *n = &s->nodes[slot];
  if (n->up) {
    lkv_raft_free(n->raft);
    n->raft = NULL;
    n->up = 0;
  }
  n->retired = 1;
  lkv__sim_trace(s, "retire n%llu", (unsigned long long)n->id);
}

static uint64_t *scratch(lkv__sim_t *s, size_t n) {
  if (n > s->scratch_cap) {
    s->scratch_cap = n * 2;
    s->scratch = realloc(s->scratch, s->scratch_cap * sizeof(uint64_t));
    if (!s->scratch) abort();
  }
  return s->scratch;
}

/* An armed crash strikes before phase p of a batch that has something to make durable or to send after. */
static int crash_before(lkv__sim_t *s, int slot, int armed, int p) {
  static const char *const where[] = {"",
                                      "before sending",
                                      "after sending, before writing",
                                      "after writing, before the flush",
                                      "after the flush, before acks",
                                      "before applying",
                                      "before advance"};
  if (!armed || s->nodes[slot].crash_phase != p) return 0;
  lkv__sim_node_crash(s, slot, where[p]);
  return 1;
}

void lkv__sim_node_process(lkv__sim_t *s, int slot) {
  lkv__sim_node_t *n = &s->nodes[slot];
  lkv_raft_ready_t rd;
  while (n->up && !s->failed && lkv_raft_ready(n->raft, &rd)) {
    int writes = rd.has_hard_state || rd.n_entries || rd.has_snapshot;
    int armed = n->crash_phase && (writes || rd.n_msgs_after_persist);
    if (armed && n->crash_on_hs)
      armed = rd.has_hard_state && (rd.hard_state.term != n->disk.durable.hs.term ||
                                    rd.hard_state.vote != n->disk.durable.hs.vote);
    lkv__sim_trace(s,
                   "ready n%llu: %s leader %llu, hs %s t%llu v%llu c%llu, snap %llu, ents %zu, msgs %zu+%zu, "
                   "apply %zu, reads %zu",
                   (unsigned long long)n->id, lkv_raft_role_name(rd.role), (unsigned long long)rd.leader,
                   rd.has_hard_state ? "yes" : "no", (unsigned long long)rd.hard_state.term,
                   (unsigned long long)rd.hard_state.vote, (unsigned long long)rd.hard_state.commit,
                   rd.has_snapshot ? (unsigned long long)rd.snapshot.meta.index : 0ull, rd.n_entries,
                   rd.n_msgs, rd.n_msgs_after_persist, rd.n_committed, rd.n_read_states);
    uint64_t *chains = scratch(s, rd.n_entries + 1);
    lkv__sim_snapdata_t snap = {0, 0, 0};
    if (rd.has_snapshot) {
      if (lkv__sim_snapdata_decode(rd.snapshot.data, rd.snapshot.len, &snap) ||
          snap.index != rd.snapshot.meta.index || snap.term != rd.snapshot.meta.term) {
        lkv__sim_fail(s, "snapshot-data", "n%llu: ready snapshot %llu carries data of another snapshot",
                      (unsigned long long)n->id, (unsigned long long)rd.snapshot.meta.index);
        return;
      }
      lkv__sim_install_snapshot(s, slot, &rd.snapshot);
    }
    lkv__sim_check_new_entries(s, slot, rd.entries, rd.n_entries, chains);
    lkv__sim_check_node(s, slot); /* the history must know this batch's commits before it applies them */
    for (size_t i = 0; i < rd.n_entries && rd.role == LKV_RAFT_LEADER && !s->failed; i++)
      if (rd.entries[i].type == LKV_RAFT_ENTRY_CONF_CHANGE)
        lkv__sim_check_leader_append(s, slot, &rd.entries[i]);
    if (s->failed || crash_before(s, slot, armed, 1)) return;
    lkv__sim_send(s, slot, rd.msgs, rd.n_msgs);
    if (crash_before(s, slot, armed, 2)) return;
    if (writes) lkv__sim_disk_write(&n->disk, &rd, &snap, chains);
    if (crash_before(s, slot, armed, 3)) return;
    const char *err = lkv__sim_disk_flush(&n->disk);
    if (err) {
      lkv__sim_fail(s, "durable-log", "n%llu: %s", (unsigned long long)n->id, err);
      return;
    }
    if (crash_before(s, slot, armed, 4)) return;
    lkv__sim_send(s, slot, rd.msgs_after_persist, rd.n_msgs_after_persist);
    if (crash_before(s, slot, armed, 5)) return;
    lkv__sim_apply(s, slot, &rd);
    if (s->failed || crash_before(s, slot, armed, 6)) return;
    int rc = lkv_raft_advance(n->raft, &rd);
    if (rc) {
      lkv__sim_fail(s, "contract", "n%llu: advance refused the batch: %s", (unsigned long long)n->id,
                    lkv_err_name(rc));
      return;
    }
    lkv__sim_maybe_snapshot(s, slot);
  }
}

void lkv__sim_node_free(lkv__sim_node_t *n) {
  if (n->raft) lkv_raft_free(n->raft);
  n->raft = NULL;
  lkv__sim_disk_free(&n->disk);
  free(n->s_term);
  free(n->s_chain);
  n->s_term = n->s_chain = NULL;
}
