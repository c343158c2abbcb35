/* The in-memory Raft log: a compaction base, owned entries after it, term lookup, conflict search. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "raft/internal.h"

uint64_t lkv__log_last(const lkv__log_t *l) {
  return l->base_index + l->n;
}

uint64_t lkv__log_last_term(const lkv__log_t *l) {
  return l->n ? l->ents[l->n - 1].term : l->base_term;
}

int lkv__log_term(const lkv__log_t *l, uint64_t index, uint64_t *term) {
  if (index < l->base_index) return LKV_ECOMPACTED;
  if (index > lkv__log_last(l)) return LKV_ENOENT;
  *term = index == l->base_index ? l->base_term : l->ents[index - l->base_index - 1].term;
  return 0;
}

uint64_t lkv__log_term_or0(const lkv__log_t *l, uint64_t index) {
  uint64_t t = 0;
  if (lkv__log_term(l, index, &t) != 0) return 0;
  return t;
}

int lkv__log_match(const lkv__log_t *l, uint64_t index, uint64_t term) {
  uint64_t t;
  return lkv__log_term(l, index, &t) == 0 && t == term;
}

const lkv_raft_entry_t *lkv__log_at(const lkv__log_t *l, uint64_t index) {
  if (index <= l->base_index || index > lkv__log_last(l)) return NULL;
  return &l->ents[index - l->base_index - 1];
}

uint64_t lkv__log_find_conflict(const lkv__log_t *l, const lkv_raft_entry_t *ents, size_t n) {
  for (size_t i = 0; i < n; i++) {
    /* An entry at or below the base is covered by a snapshot of committed state: it matches. */
    if (ents[i].index <= l->base_index) continue;
    if (!lkv__log_match(l, ents[i].index, ents[i].term)) return ents[i].index;
  }
  return 0;
}

uint64_t lkv__log_conflict_by_term(const lkv__log_t *l, uint64_t index, uint64_t term, uint64_t *out_term) {
  uint64_t last = lkv__log_last(l);
  if (index > last) index = last;
  for (;;) {
    uint64_t t;
    if (lkv__log_term(l, index, &t) != 0) {
      *out_term = 0;
      return index;
    }
    if (t <= term || index == 0) {
      *out_term = t;
      return index;
    }
    index--;
  }
}

int lkv__log_up_to_date(const lkv__log_t *l, uint64_t last_index, uint64_t last_term) {
  uint64_t our_term = lkv__log_last_term(l);
  return last_term > our_term || (last_term == our_term && last_index >= lkv__log_last(l));
}

size_t lkv__log_slice(const lkv__log_t *l, uint64_t lo, size_t max_bytes, size_t *bytes) {
  *bytes = 0;
  if (lo <= l->base_index || lo > lkv__log_last(l)) return 0;
  size_t i = lo - l->base_index - 1, n = 0, sum = 0;
  for (; i < l->n; i++, n++) {
    size_t len = l->ents[i].len;
    if (n > 0 && max_bytes && sum + len > max_bytes) break;
    sum += len;
  }
  *bytes = sum;
  return n;
}

void lkv__log_truncate(lkv__log_t *l, uint64_t from, void (*free_fn)(void *arg, void *p), void *arg) {
  if (from > lkv__log_last(l)) return;
  size_t keep = from - l->base_index - 1;
  for (size_t i = keep; i < l->n; i++) free_fn(arg, (void *)l->ents[i].data);
  l->n = keep;
  if (l->stable >= from) l->stable = from - 1;
}

void lkv__log_append(lkv__log_t *l, uint64_t term, uint8_t type, const uint8_t *data, size_t len) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->ents = lkv__xrealloc(l->ents, l->cap * sizeof(*l->ents));
  }
  uint8_t *copy = NULL;
  if (len) {
    copy = lkv__xmalloc(len);
    memcpy(copy, data, len);
  }
  l->ents[l->n] =
      (lkv_raft_entry_t){.term = term, .index = lkv__log_last(l) + 1, .type = type, .data = copy, .len = len};
  l->n++;
}

void lkv__log_compact(lkv__log_t *l, uint64_t index, void (*free_fn)(void *arg, void *p), void *arg) {
  size_t drop = index - l->base_index;
  for (size_t i = 0; i < drop; i++) free_fn(arg, (void *)l->ents[i].data);
  l->base_term = l->ents[drop - 1].term;
  l->base_index = index;
  memmove(l->ents, l->ents + drop, (l->n - drop) * sizeof(*l->ents));
  l->n -= drop;
}

void lkv__log_reset(lkv__log_t *l, uint64_t index, uint64_t term, void (*free_fn)(void *arg, void *p),
                    void *arg) {
  for (size_t i = 0; i < l->n; i++) free_fn(arg, (void *)l->ents[i].data);
  l->n = 0;
  l->base_index = index;
  l->base_term = term;
  l->stable = index;
  l->committed = index;
  l->applied = index;
}

void lkv__log_free(lkv__log_t *l) {
  for (size_t i = 0; i < l->n; i++) free((void *)l->ents[i].data);
  free(l->ents);
  memset(l, 0, sizeof(*l));
}
