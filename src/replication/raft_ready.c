/* Handling the Raft core's ready batches: send, save with one flush, send what needed it, apply (the save
 * and the apply side by side when they can be: raft_flush.c). */
#include <stdlib.h>

#include "common/error.h"
#include "common/le.h"
#include "replication/raft_internal.h"

/* Read states name the read index of each barrier; the barrier is answered once that index is applied. */
static void note_read_states(lkv__raft_node_t *n, const lkv_raft_ready_t *rd) {
  for (size_t i = 0; i < rd->n_read_states; i++) {
    const lkv_raft_read_state_t *rs = &rd->read_states[i];
    if (rs->context_len != 8) continue;
    uint64_t seq = lkv_le64_get(rs->context);
    for (lkv__raft_read_t *r = n->reads; r; r = r->next)
      if (r->seq == seq) {
        r->index = rs->index;
        r->has_index = 1;
        break;
      }
  }
}

void lkv__raft_node_answer_reads(lkv__raft_node_t *n, uint64_t now_ms) {
  lkv__raft_read_t **pp = &n->reads;
  while (*pp) {
    lkv__raft_read_t *r = *pp;
    int err = 1;
    if (r->has_index && r->index <= n->applied)
      err = 0;
    else if (r->deadline_ms <= now_ms)
      err = LKV_ETIMEDOUT;
    if (err == 1) {
      pp = &r->next;
      continue;
    }
    *pp = r->next;
    r->cb(r->arg, err);
    free(r);
  }
}

/* Whether the batch changes what must survive a crash. A hard state whose term and vote are as saved only
 * moves the commit index, which Raft keeps in volatile state: saving it would cost a flush per batch (a
 * sole voter's every batch is followed by one that only commits it), and a restart raises the saved commit
 * index to the store's applied index anyway (raft_start.c). */
static int must_save(const lkv__raft_node_t *n, const lkv_raft_ready_t *rd) {
  if (rd->n_entries || rd->has_snapshot) return 1;
  if (!rd->has_hard_state) return 0;
  lkv_raft_hard_state_t saved = lkv_wal_hard_state(n->wal);
  return rd->hard_state.term != saved.term || rd->hard_state.vote != saved.vote;
}

static int handle(lkv__raft_node_t *n, lkv_raft_ready_t *rd) {
  lkv__raft_send(n, &n->out, rd->msgs, rd->n_msgs);
  if (rd->has_snapshot && lkv__raft_node_install(n, rd) != 0) return LKV_EHALTED;
  note_read_states(n, rd);
  int rc = lkv__raft_save_and_apply(n, rd, must_save(n, rd));
  if (rc) return rc;
  rc = lkv_raft_advance(n->raft, rd);
  if (rc) lkv__raft_node_halt(n, "the raft core refused the handled batch", rc);
  return rc;
}

void lkv__raft_node_drain_ready(lkv__raft_node_t *n) {
  lkv_raft_ready_t rd;
  while (!n->halted && lkv_raft_ready(n->raft, &rd))
    if (handle(n, &rd) != 0) return;
}
