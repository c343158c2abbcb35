/* The causal member's hearing from peers: when each last sent anything, and which are reported silent. */
#include "causal/member_internal.h"

/* The member's start for silence: the first time passed in by either call below. */
static void start_clock(lkv_causal_member_t *m, uint64_t now) {
  if (!m->since) m->since = now ? now : 1;
}

void lkv_causal_member_heard(lkv_causal_member_t *m, uint64_t from, uint64_t now) {
  start_clock(m, now);
  int idx = lkv__causal_index(m, from);
  if (idx < 0 || (size_t)idx == m->self) return;
  if (now > m->heard[idx]) m->heard[idx] = now; /* a clock stepped back keeps the later hearing */
}

uint64_t lkv_causal_member_last_heard(const lkv_causal_member_t *m, uint64_t id) {
  int idx = lkv__causal_index(m, id);
  return idx < 0 || (size_t)idx == m->self ? 0 : m->heard[idx];
}

/* Where member index i's quiet time starts: its last message, or the member's start. */
static uint64_t quiet_since(const lkv_causal_member_t *m, size_t i) {
  return m->heard[i] ? m->heard[i] : m->since;
}

uint64_t lkv_causal_member_quiet(const lkv_causal_member_t *m, uint64_t id, uint64_t now) {
  int idx = lkv__causal_index(m, id);
  if (idx < 0 || (size_t)idx == m->self) return 0;
  uint64_t since = quiet_since(m, (size_t)idx);
  return now > since ? now - since : 0;
}

int lkv_causal_member_is_silent(const lkv_causal_member_t *m, uint64_t id) {
  int idx = lkv__causal_index(m, id);
  return idx >= 0 && m->silent[idx];
}

size_t lkv_causal_member_silence(lkv_causal_member_t *m, uint64_t now, uint64_t after,
                                 lkv_causal_silence_t *out) {
  start_clock(m, now);
  size_t n = 0;
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    if (i == m->self) continue;
    if (m->removed[i]) { /* gone, not silent: no longer reported */
      m->silent[i] = 0;
      continue;
    }
    uint64_t last = quiet_since(m, i);
    uint8_t silent = now > last && now - last > after;
    if (silent == m->silent[i]) continue;
    m->silent[i] = silent;
    out[n++] = (lkv_causal_silence_t){.id = m->members[i].id, .silent = silent, .last_heard = m->heard[i]};
  }
  return n;
}
