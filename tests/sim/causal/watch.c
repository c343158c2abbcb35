/* The causal simulator's watch history: the changes each member served, checked against its log replayed. */
#include <stdlib.h>
#include <string.h>

#include "csim.h"

static uint64_t digest(const uint8_t *p, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a: a digest for comparison, not for security */
  for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static void push(lkv__csim_changes_t *c, const lkv__csim_change_t *x) {
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 64;
    c->v = realloc(c->v, c->cap * sizeof(*c->v));
    if (!c->v) abort();
  }
  c->v[c->n++] = *x;
}

static int same(const lkv__csim_change_t *a, const lkv__csim_change_t *b) {
  return a->rev == b->rev && a->key == b->key && a->value == b->value && a->create_rev == b->create_rev &&
         a->mod_rev == b->mod_rev && a->version == b->version && a->live == b->live;
}

/* Key k's etcd view as a change at revision rev. */
static lkv__csim_change_t view_of(const lkv_causal_key_t *k, uint64_t rev) {
  const lkv_causal_sibling_t *win = lkv_causal_key_winner(k);
  int live = win && !win->tombstone;
  return (lkv__csim_change_t){.rev = rev,
                              .key = digest(k->key, k->key_len),
                              .value = live ? digest(win->value, win->value_len) : 0,
                              .create_rev = k->create_rev,
                              .mod_rev = k->mod_rev,
                              .version = k->version,
                              .live = live};
}

void lkv__csim_on_change(void *arg, uint64_t rev, const lkv_causal_key_t *k) {
  lkv__csim_change_t c = view_of(k, rev);
  push(arg, &c);
}

/* A watcher from revision 1 holds, per key, the last change it was served. */
static void follow(lkv__csim_changes_t *watched, const lkv__csim_change_t *c) {
  for (size_t j = 0; j < watched->n; j++)
    if (watched->v[j].key == c->key) {
      watched->v[j] = *c;
      return;
    }
  push(watched, c);
}

void lkv__csim_watch_state(lkv__csim_t *s, int i, const char *when) {
  const lkv__csim_changes_t *watched = &s->nodes[i].watched;
  const lkv_causal_member_t *m = s->nodes[i].m;
  size_t live = 0, watched_live = 0;
  for (size_t j = 0; j < watched->n; j++) watched_live += watched->v[j].live != 0;
  for (size_t k = 0; k < lkv_causal_member_n_keys(m) && !s->failed; k++) {
    lkv__csim_change_t v = view_of(lkv_causal_member_key_at(m, k), 0);
    const lkv__csim_change_t *w = NULL;
    for (size_t j = 0; j < watched->n; j++)
      if (watched->v[j].key == v.key) w = &watched->v[j];
    live += v.live != 0;
    if (v.live ? !w || !w->live || w->value != v.value || w->create_rev != v.create_rev ||
                     w->mod_rev != v.mod_rev || w->version != v.version
               : w && w->live)
      lkv__csim_fail(
          s, "watch-state",
          "m%d %s: key %zu's view (live %d, revisions %llu/%llu/%llu) is not what its watch reported "
          "(%s, revisions %llu/%llu/%llu)",
          i + 1, when, k, v.live, (unsigned long long)v.create_rev, (unsigned long long)v.mod_rev,
          (unsigned long long)v.version,
          !w        ? "nothing"
          : w->live ? "live"
                    : "not live",
          (unsigned long long)(w ? w->create_rev : 0), (unsigned long long)(w ? w->mod_rev : 0),
          (unsigned long long)(w ? w->version : 0));
  }
  if (!s->failed && live != watched_live)
    lkv__csim_fail(s, "watch-state", "m%d %s: %zu live keys, its watch reported %zu", i + 1, when, live,
                   watched_live);
}

void lkv__csim_watch_durable(lkv__csim_t *s, int i, uint64_t first_rev, size_t n) {
  lkv__csim_node_t *node = &s->nodes[i];
  for (size_t j = 0; j < node->pending.n && !s->failed; j++) {
    const lkv__csim_change_t *c = &node->pending.v[j];
    if (c->rev < first_rev || c->rev - first_rev >= n)
      lkv__csim_fail(s, "watch", "m%d reported a change at revision %llu outside its batch [%llu, %llu)",
                     i + 1, (unsigned long long)c->rev, (unsigned long long)first_rev,
                     (unsigned long long)(first_rev + n));
    push(&node->served, c);
    follow(&node->watched, c);
  }
  node->pending.n = 0;
}

void lkv__csim_watch_replayed(lkv__csim_t *s, int i, const lkv__csim_changes_t *replayed, const char *when) {
  const lkv__csim_changes_t *served = &s->nodes[i].served;
  size_t j = 0;
  while (j < served->n && j < replayed->n && same(&served->v[j], &replayed->v[j])) j++;
  if (j < served->n || j < replayed->n)
    lkv__csim_fail(s, "watch-replay",
                   "m%d %s: change %zu of the %zu served (revision %llu) differs from the log's replay (%zu "
                   "changes, revision %llu there)",
                   i + 1, when, j + 1, served->n, j < served->n ? (unsigned long long)served->v[j].rev : 0ull,
                   replayed->n, j < replayed->n ? (unsigned long long)replayed->v[j].rev : 0ull);
}

void lkv__csim_changes_free(lkv__csim_changes_t *c) {
  free(c->v);
  memset(c, 0, sizeof(*c));
}
