/* Internal to src/watch: watcher, stream, shard and hub structures shared by the hub's files. */
#ifndef LKV_WATCH_INTERNAL_H
#define LKV_WATCH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "watch/codec.h"
#include "watch/index.h"
#include "watch/watch.h"

/* Watcher group (which index holds it). */
enum { LKV__WG_NONE = 0, LKV__WG_SYNCED, LKV__WG_UNSYNCED };

/* Internal watcher flag bits beyond the LKV_WATCH_* request flags. */
#define LKV__W_PROGRESS_DUE 0x100u /* no events since the last progress tick */
#define LKV__W_CHOSEN 0x200u       /* part of the running catch-up batch */
#define LKV__W_FULL 0x400u         /* its batch reached the byte cap: stop at the last revision taken */

/* A catch-up round reads at most this many revisions, and a watcher takes at most this many event bytes
 * per response (whole revisions: at least one), so one round's buffers stay bounded. */
#define LKV__WATCH_ROUND_REVS 1000
#define LKV__WATCH_BATCH_BYTES ((size_t)256 * 1024)
/* At most this many unsynced watchers are caught up in one round (etcd: maxWatchersPerSync). */
#define LKV__WATCH_CHOOSE_MAX 512

struct lkv__watcher_s {
  lkv__widx_link_t link;         /* index membership (index.h) */
  lkv__watcher_t *gprev, *gnext; /* the shard's unsynced list */
  lkv_watch_stream_t *stream;
  int64_t id;
  int64_t next_rev; /* the lowest revision it may still receive */
  unsigned flags;   /* LKV_WATCH_* | LKV__W_* */
  uint8_t group;    /* LKV__WG_* */
  /* Round scratch: the events buffered for this watcher (a list of refs in the shard). */
  int32_t ev_head, ev_tail;
  uint32_t buf_bytes;
  lkv__watcher_t *touched_next;
};

struct lkv_watch_stream_s {
  struct lkv__shard_s *shard;
  lkv_watch_sink_t sink;
  void *ctx;
  lkv_watch_stream_t *prev, *next; /* the shard's streams */
  lkv__watcher_t **ids;            /* open addressing by watch id (linear probing), NULL = empty */
  size_t ids_cap, n_ids;           /* n_ids counts canceled-by-compaction watchers too */
  int64_t next_id;                 /* auto ids: the lowest id never handed out below this is taken */
  size_t n_live, n_unsynced;       /* watchers still watching; of those, not synced */
  uint64_t progress_at_ms;         /* next progress tick */
  unsigned progress_deferred : 1;  /* a progress request waits for the stream to be synced */
  unsigned gone : 1;               /* the sink said the stream is gone */
};

/* One change read from the history in a round. kv points into the round's read transaction. */
typedef struct lkv__wev_s {
  lkv_mvcc_kv_t kv;
  int tomb;
  int64_t enc_off, prev_off; /* encoded event entry (without / with prev_kv) in shard->enc, -1 = not yet */
  uint32_t enc_len, prev_len;
} lkv__wev_t;

/* A link of a watcher's event list. */
typedef struct lkv__wref_s {
  int32_t ev;
  int32_t next;
} lkv__wref_t;

typedef struct lkv__shard_s {
  struct lkv_watch_hub_s *hub;
  int index;
  atomic_size_t n_streams; /* read by the committing thread: shards without streams are not woken */
  lkv_watch_stream_t *streams;
  lkv__widx_t synced;  /* every synced watcher */
  lkv__widx_t catchup; /* the unsynced watchers of the running catch-up round */
  lkv__watcher_t *unsynced_list;
  size_t n_watchers;
  int64_t synced_rev; /* synced watchers have been sent every event up to here */
  uint64_t jitter;    /* progress jitter generator */
  /* Round scratch, reused. */
  lkv_mvcc_txn_t *txn;
  lkv__wev_t *evs;
  size_t n_evs, cap_evs;
  lkv__wref_t *refs;
  size_t n_refs, cap_refs;
  lkv__watcher_t *touched;
  lkv__watcher_t **chosen;
  size_t n_chosen, cap_chosen;
  lkv__wbuf_t enc; /* encoded event entries */
  lkv__wbuf_t out; /* the response being built */
  int round_oom;
} lkv__shard_t;

struct lkv_watch_hub_s {
  lkv_watch_options_t opts;
  _Atomic uint64_t raft_term; /* for headers: opts.raft_term, then lkv_watch_hub_set_term's */
  lkv__shard_t *shards;
  pthread_mutex_t wake_lock; /* guards wake/wake_ctx against lkv_watch_hub_set_waker */
  void (*wake)(void *ctx, int shard);
  void *wake_ctx;
};

/* ---- hub.c ---- */
/* Asks for lkv_watch_shard_run on sh's thread (through the waker). Any thread. */
void lkv__shard_wake(lkv__shard_t *sh);
/* Milliseconds of a monotonic clock. */
uint64_t lkv__watch_now_ms(void);
/* The progress interval for a stream's next tick, jitter included. */
uint64_t lkv__shard_progress_interval(lkv__shard_t *sh);

/* ---- group.c: moving watchers between groups ---- */
void lkv__watcher_add_synced(lkv__shard_t *sh, lkv__watcher_t *w);
void lkv__watcher_add_unsynced(lkv__shard_t *sh, lkv__watcher_t *w);
/* Removes w from its group (no-op for LKV__WG_NONE); the stream's counters follow. */
void lkv__watcher_ungroup(lkv__shard_t *sh, lkv__watcher_t *w);
/* Moves a synced watcher to unsynced (it fell behind) or back; promotion may answer a deferred progress
 * request: returns 0 or the sink's error from that answer. */
void lkv__watcher_demote(lkv__shard_t *sh, lkv__watcher_t *w);
int lkv__watcher_promote(lkv__shard_t *sh, lkv__watcher_t *w);

/* ---- stream.c ---- */
/* Sends the stream-wide progress response (watch_id -1) at the shard's synced revision. */
int lkv__stream_send_progress_all(lkv_watch_stream_t *st);
/* Packs r (no events) and sends it. Returns 0 or the sink's error (LKV_ENOMEM when packing fails). */
int lkv__stream_send_ctl(lkv_watch_stream_t *st, const lkv__wresp_t *r);
/* Cancels a watcher whose next revision was compacted: sends the canceled response with compact_rev and
 * leaves it registered (its id stays taken until the client cancels it, as in etcd). */
int lkv__stream_compacted(lkv_watch_stream_t *st, lkv__watcher_t *w, int64_t compact_rev);
/* Fills a response header for revision rev. */
void lkv__stream_header(const lkv_watch_stream_t *st, int64_t rev, lkv__wresp_t *r);

/* ---- deliver.c ---- */
/* Runs the synced round then catch-up rounds within a budget; reschedules itself when work remains. */
void lkv__shard_deliver(lkv__shard_t *sh);
/* Releases the round scratch. */
void lkv__shard_scratch_free(lkv__shard_t *sh);

/* ---- send.c ---- */
/* Sends what w buffered in this round, as one response with header revision rev (or fragments). Returns
 * 0, LKV_EAGAIN (its stream is above the high-water mark: it is asked to wake the shard once drained),
 * LKV_ECANCELED (the stream is gone), or an error from encoding or the sink. */
int lkv__watcher_send(lkv__shard_t *sh, lkv__watcher_t *w, int64_t rev);
/* The stream is above its high-water mark: resume its watchers once it is down to half of it. */
void lkv__shard_wait_for_drain(lkv__shard_t *sh, lkv_watch_stream_t *st);

#endif
