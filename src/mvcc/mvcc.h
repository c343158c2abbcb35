/* The multi-version key-value store: etcd's revision model on LMDB, behind an LMDB-free interface. */
#ifndef LKV_MVCC_MVCC_H
#define LKV_MVCC_MVCC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Model (etcd v3's): every write request that changes something gets the next *main* revision; the
 * operations inside it get sub revisions 0, 1, 2... . A key's history is a list of revisions; a delete
 * writes a tombstone. A fresh store is at revision 1 and has never been compacted (compact revision -1).
 *
 * Storage (details in docs/storage.md): one LMDB environment in <dir>/member/db with five databases
 * (map size 2 x quota + 64 MiB: virtual space, the file grows as pages are used):
 *  - "rev":  main(8 BE) ‖ sub(8 BE) -> record (flags, create, version, lease, key, value); the history in
 *            revision order, which is what compaction and watchers walk.
 *  - "key":  DUPSORT; encoded user key -> one 41-byte entry per revision of that key, sorted by revision:
 *            main ‖ sub ‖ flags ‖ create ‖ version ‖ lease. Existence, counts, versions and compares are
 *            answered from this database alone; values are read from "rev" only when a caller needs them.
 *  - "meta": current and compact revision (one key, so a snapshot always sees a consistent pair),
 *            cluster/member identity.
 *  - "lease": lease id(8 BE) -> granted TTL in seconds (8 BE).
 *  - "lease_key": lease id(8 BE) ‖ encoded key -> empty, or the full key for a long key: the live keys
 *            attached to each lease, kept by lkv_mvcc_put and lkv_mvcc_delete_range themselves.
 * LMDB keys are limited to 511 bytes; user keys longer than LKV_MVCC_KEY_INLINE bytes are stored as their
 * first LKV_MVCC_KEY_INLINE bytes followed by a 16-byte BLAKE2b hash of the whole key. Scans restore the
 * true byte order inside a run of long keys sharing that prefix by reading their full keys, and point
 * lookups compare the full key, so the encoding never shows through this interface.
 *
 * Concurrency: any number of read transactions on any threads, concurrently with one write transaction
 * (callers serialise writers). A write transaction holds a batch of requests; each request runs in an
 * LMDB nested transaction so that a failing request rolls back alone (lkv_mvcc_req_begin/_end).
 * A compaction moves the compact revision in its request's transaction; the superseded history is
 * removed afterwards in bounded steps (lkv_mvcc_compact_step), each its own write transaction, so that a
 * large compaction does not hold the writer for long.
 *
 * Pointers handed out by reads (lkv_mvcc_kv_t) point into the database map. In a read transaction they
 * stay valid until the transaction ends; in a write transaction only until the next write operation.
 */

typedef struct lkv_mvcc_s lkv_mvcc_t;
typedef struct lkv_mvcc_txn_s lkv_mvcc_txn_t;

/* User keys up to this length are stored verbatim; longer ones get a prefix ‖ hash encoding. */
#define LKV_MVCC_KEY_INLINE 480

/* etcd's default --quota-backend-bytes (2 GiB), used when lkv_mvcc_options_t.quota_bytes is 0. */
#define LKV_MVCC_DEFAULT_QUOTA ((uint64_t)2 * 1024 * 1024 * 1024)

typedef struct lkv_mvcc_options_s {
  const char *dir;      /* data directory; created (with parents) if missing */
  uint64_t quota_bytes; /* space quota for writes that add data; 0 = LKV_MVCC_DEFAULT_QUOTA; the map
                         * is 2 x quota + 64 MiB, at most 1 TiB (larger quotas never refuse a put) */
  int logged;           /* 1: the caller makes every batch durable in its own write-ahead log before
                         * lkv_mvcc_write_commit and replays that log into the store on start (the ledger
                         * does). Commits then do not flush (MDB_NOSYNC); the store is flushed at close.
                         * A process crash loses nothing (the kernel still holds the pages); after the
                         * machine went down with unflushed pages, open starts from an empty store with
                         * the same identity (lkv_mvcc_rebuilt) for the log to rebuild. 0: every commit
                         * is durable on its own (two flushes). */
  const char *boot_id;  /* the kernel boot id to assume (tests); NULL: the running kernel's */
  int read_only;        /* 1: read only (the audit): the store must exist, nothing in the directory is
                         * written (LMDB's lock file aside), write transactions fail; a store a logged run
                         * may have left torn is refused (LKV_ETORN). Not with logged. */
} lkv_mvcc_options_t;

typedef struct lkv_mvcc_stat_s {
  int64_t revision;         /* current revision (1 on a fresh store) */
  int64_t compact_revision; /* last compaction revision, -1 if never compacted */
  uint64_t db_size;         /* size of the database file in bytes (etcd's dbSize) */
  uint64_t db_size_in_use;  /* bytes of pages in use by the data (etcd's dbSizeInUse) */
  uint64_t quota_bytes;     /* effective quota */
  uint64_t records;         /* key revisions stored in the history (puts and tombstones not compacted) */
  uint32_t alarms;          /* raised alarms, LKV_MVCC_ALARM_* bits */
} lkv_mvcc_stat_t;

/* One key at one revision, as etcd's mvccpb.KeyValue. key/value point into storage (see lifetime above). */
typedef struct lkv_mvcc_kv_s {
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value; /* NULL with value_len 0 when the value was not requested */
  size_t value_len;
  int64_t create_revision;
  int64_t mod_revision;
  int64_t version;
  int64_t lease;
} lkv_mvcc_kv_t;

/* ---- store ---- */

/* Opens (creating if needed) the store in opts->dir. On first open a random cluster and member id are
 * generated and stored. A store that a logged run left unflushed when the machine went down is
 * discarded if opts->logged (see lkv_mvcc_options_t.logged), refused with LKV_ETORN otherwise. Returns 0 and
 * sets *out, or LKV_EINVAL (bad options), a negative errno (directory/file errors), LKV_ECORRUPT
 * (unreadable metadata), LKV_ETORN, LKV_ENOMEM. The store is freed with lkv_mvcc_close. */
int lkv_mvcc_open(lkv_mvcc_t **out, const lkv_mvcc_options_t *opts);

/* 1 when lkv_mvcc_open discarded a torn store and started from the last checkpoint (lkv_mvcc_checkpoint),
 * or empty without one: the caller's log must replay everything after the store's revision
 * (lkv_apply_replay does), else 0. */
int lkv_mvcc_rebuilt(const lkv_mvcc_t *s);

/* Logged stores: writes a compact copy of the latest committed snapshot to <dir>/member/db/checkpoint.mdb,
 * flushed, replacing the previous one atomically, for lkv_mvcc_open to start a rebuild from (so that a
 * rebuild replays the log since the checkpoint, not all of it). Any thread, concurrently with readers and
 * the writer; takes as long as copying the live data at 64 MiB/s, or until *stop (may be NULL) becomes
 * non-zero. Returns 0; LKV_EINVAL (the store is not logged: it is flushed on every commit); LKV_ECANCELED
 * when commits during the copy grew the file by a quarter of the quota (the copy's snapshot keeps LMDB
 * from reusing freed pages) and it was abandoned; LKV_ESTOPPED when *stop ended it; LKV_EAGAIN when a copy
 * was installed meanwhile (lkv_mvcc_install: it is the checkpoint, newer than this one); or an I/O error.
 * On failure the previous checkpoint stays. */
int lkv_mvcc_checkpoint(lkv_mvcc_t *s, const atomic_int *stop);

/* lkv_mvcc_checkpoint, calling before_publish(arg) (may be NULL) once the copy is complete and before it
 * replaces the previous checkpoint: a non-zero result abandons the copy and is returned. A caller whose
 * log is not flushed on every append flushes it there, so that the log is durable at least as far as the
 * copy (whose state was committed before the copy began) reaches. */
int lkv_mvcc_checkpoint_before(lkv_mvcc_t *s, const atomic_int *stop, int (*before_publish)(void *arg),
                               void *arg);

/* ---- defragment ---- */

typedef struct lkv_mvcc_defrag_s {
  uint64_t size_before; /* bytes of the database file before and after (etcd's dbSize) */
  uint64_t size_after;
  uint64_t pause_ns; /* how long readers and the writer waited for the swap */
} lkv_mvcc_defrag_t;

/* Rewrites the store into a compact file and swaps it in, so that the file shrinks to the pages in use
 * (LMDB reuses freed pages but never returns them). Online: the copy is made from a read snapshot while
 * reads and writes go on, the writes meanwhile are brought over in rounds, and only the swap pauses every
 * transaction (at most 100 ms waiting for open ones to end, then the last changes and the reopen;
 * a reader that stays longer makes it retry, for about half a minute). While it copies, the file grows
 * by what is written meanwhile (the snapshot keeps LMDB from reusing pages). Any thread but the writer's,
 * one at a time (a second call waits); a thread must not hold a transaction of s while calling it. A crash
 * at any point leaves a complete store: the old file, or the new one. *stop (may be NULL) non-zero ends it
 * early between rounds. Returns 0 with *out filled; LKV_EINVAL (read-only store); LKV_EAGAIN (no swap was
 * possible: transactions stayed open, a copy was installed meanwhile (lkv_mvcc_install), or memory ran out
 * recording writes); LKV_ESTOPPED; or an LMDB / I/O error. On failure the store is unchanged. */
int lkv_mvcc_defrag(lkv_mvcc_t *s, const atomic_int *stop, lkv_mvcc_defrag_t *out);

/* ---- store copies (a checkpoint, or a copy received from a cluster peer) ---- */

/* The path of the store's checkpoint file (lkv_mvcc_checkpoint), which may not exist. Returns 0 or
 * LKV_EINVAL (cap too small). */
int lkv_mvcc_checkpoint_path(const lkv_mvcc_t *s, char *out, size_t cap);

/* Reads replication record `name` (see lkv_mvcc_repl_get) from the store copy at path, opened read-only
 * for the call. Any thread. Returns 0 with *val malloc'd, LKV_ENOENT (no such record), LKV_ECORRUPT (not a
 * store copy) or an LMDB / I/O error. */
int lkv_mvcc_copy_repl_get(const char *path, const char *name, uint8_t **val, size_t *len);

/* Replaces the whole content of the store by the copy at path (a checkpoint file of another store, e.g. a
 * cluster peer's): the copy first becomes this store's own (its identity is set to this store's and
 * record(arg, t), may be NULL, writes the caller's replication records into it, flushed); for a logged
 * store it then becomes the checkpoint (renamed to lkv_mvcc_checkpoint_path, durably: a rebuild after a
 * machine crash never starts from before it; path is gone afterwards); finally one write transaction
 * copies every database into the store. Readers see the old content or the new, never a mix. The
 * caller serialises it with the writer (it is one). Returns 0, LKV_ECORRUPT (not a store copy), LKV_EINVAL
 * (read-only store) or an LMDB / I/O error; the store is unchanged unless the last step failed, which
 * leaves the checkpoint newer than the store (a restart rebuilds from it only after a machine crash:
 * the caller must halt). */
int lkv_mvcc_install(lkv_mvcc_t *s, const char *path, int (*record)(void *arg, lkv_mvcc_txn_t *t), void *arg);

/* Closes the store; a logged store is flushed first. Every transaction must have ended. NULL is
 * ignored. */
void lkv_mvcc_close(lkv_mvcc_t *s);

/* Fills *out from the latest committed state. Any thread. Returns 0, or LKV_EIO / LKV_ENOMEM. */
int lkv_mvcc_stat(lkv_mvcc_t *s, lkv_mvcc_stat_t *out);

/* The store's persistent identity, generated on first open, never 0, stable across restarts.
 * Either output may be NULL. Returns 0. */
int lkv_mvcc_identity(lkv_mvcc_t *s, uint64_t *cluster_id, uint64_t *member_id);

/* ---- transactions ---- */

/* Starts a read transaction: a consistent snapshot of the latest committed batch. Any thread, any
 * number at once. Returns 0 and sets *out, or LKV_EAGAIN (too many readers), LKV_EIO, LKV_ENOMEM.
 * End it with lkv_mvcc_txn_end. */
int lkv_mvcc_read_begin(lkv_mvcc_t *s, lkv_mvcc_txn_t **out);

/* Starts the write transaction for one batch. One at a time (callers serialise). Returns 0 and sets *out,
 * or LKV_EIO / LKV_ENOMEM. Finish it with lkv_mvcc_write_commit or discard it with lkv_mvcc_txn_end. */
int lkv_mvcc_write_begin(lkv_mvcc_t *s, lkv_mvcc_txn_t **out);

/* Commits the batch (durably with fsync unless the store is logged) and frees t; a batch that changed nothing
 * costs no write. On failure nothing of the batch is stored (t is freed too) and LKV_ENOSPACE (map full),
 * LKV_EIO or LKV_EINVAL (a request still open) is returned. */
int lkv_mvcc_write_commit(lkv_mvcc_txn_t *t);

/* Ends t: a read transaction is released, a write transaction is rolled back. NULL is ignored. */
void lkv_mvcc_txn_end(lkv_mvcc_txn_t *t);

/* Write transactions: brackets one request. Every write operation must happen between req_begin and
 * req_end; keep != 0 keeps the request's changes (and gives them a new main revision if there were any),
 * keep == 0 rolls back exactly this request's changes. req_begin returns 0, LKV_EINVAL (read txn or a
 * request already open), LKV_ENOSPACE or LKV_EIO; req_end returns 0, LKV_EINVAL (none open),
 * LKV_ENOSPACE or LKV_EIO (then the request was rolled back). */
int lkv_mvcc_req_begin(lkv_mvcc_txn_t *t);
int lkv_mvcc_req_end(lkv_mvcc_txn_t *t, int keep);

/* Makes the open request take a new main revision when kept, even if it changes nothing (a causal-mode
 * event that changes no key's winner still takes its member's next revision: docs/causal.md §3; reads and
 * the history show no change at it). Returns 0 or LKV_EINVAL (no open request). */
int lkv_mvcc_req_take_rev(lkv_mvcc_txn_t *t);

/* The revision a read in t sees: the snapshot's revision for a read transaction; for a write transaction
 * the last revision of the batch so far, plus one when the open request has already changed something
 * (etcd's read-your-own-writes view). */
int64_t lkv_mvcc_txn_rev(const lkv_mvcc_txn_t *t);

/* The compact revision t sees (-1 if never compacted). */
int64_t lkv_mvcc_txn_compact_rev(const lkv_mvcc_txn_t *t);

/* Number of changes (puts and tombstones) the open request has made so far. */
int64_t lkv_mvcc_txn_changes(const lkv_mvcc_txn_t *t);

/* ---- reads ---- */

/* Range end conventions are etcd's: end_len == 0 selects the single key `key`; an end of one zero byte
 * ("\0") selects every key >= key; otherwise the range is [key, end) in byte order (empty if end <= key). */
typedef struct lkv_mvcc_range_s {
  const uint8_t *key;
  size_t key_len;
  const uint8_t *end;
  size_t end_len;
  int64_t rev;    /* revision to read at; <= 0 means lkv_mvcc_txn_rev(t) */
  size_t limit;   /* deliver at most this many keys to the callback; 0 = no limit */
  unsigned flags; /* LKV_MVCC_RANGE_* */
} lkv_mvcc_range_t;

#define LKV_MVCC_RANGE_NO_VALUES 1u  /* kv->value is left NULL (keys_only): values are not read */
#define LKV_MVCC_RANGE_COUNT_ONLY 2u /* the callback is not called; only the count is computed */

/* Called for each key in range, in ascending key order. Return 0 to go on, a negative code to stop the
 * range (lkv_mvcc_range returns that code). kv and what it points to are valid during the call and, in a
 * read transaction, until the transaction ends. The callback must not use the same transaction. */
typedef int (*lkv_mvcc_kv_cb)(void *arg, const lkv_mvcc_kv_t *kv);

/* Reads the keys of q->[key, end) that exist at revision q->rev (latest revision <= rev not a tombstone).
 * cb (may be NULL) sees the first q->limit of them; *count (may be NULL) gets how many exist in total.
 * Returns 0, LKV_EFUTUREREV (rev > lkv_mvcc_txn_rev), LKV_ECOMPACTED (rev < compact revision), a code from
 * cb, LKV_ENOMEM, LKV_ECORRUPT or LKV_EIO. */
int lkv_mvcc_range(lkv_mvcc_txn_t *t, const lkv_mvcc_range_t *q, lkv_mvcc_kv_cb cb, void *arg, size_t *count);

/* One entry of the history: a kv at mod_revision (sub revision in *sub), or a tombstone for kv->key
 * (then only key, key_len and mod_revision are set). */
typedef int (*lkv_mvcc_event_cb)(void *arg, const lkv_mvcc_kv_t *kv, int64_t sub, int tombstone);

/* Walks the stored history in revision order from main revision from_rev (inclusive) up to to_rev
 * (inclusive; <= 0 means the transaction's revision), calling cb for each change still stored
 * (compaction removes superseded ones). Returns 0, a code from cb, LKV_ECOMPACTED (from_rev < compact
 * revision: the history there is incomplete; like etcd's watch, from_rev == compact revision is allowed,
 * though tombstones at exactly that revision are never shown, removed yet or not), LKV_ECORRUPT or
 * LKV_EIO. */
int lkv_mvcc_history(lkv_mvcc_txn_t *t, int64_t from_rev, int64_t to_rev, lkv_mvcc_event_cb cb, void *arg);

/* Walks every revision record an etcd backend in t's state holds (an etcd snapshot's "key" bucket), in
 * revision order: what lkv_mvcc_history shows from the start, except that revisions at or below the compact
 * revision are left out when the compaction removes them (superseded at it, or a tombstone), whether that
 * removal is done yet or still pending (lkv_mvcc_compact_step). The callback may not use t. Read or write
 * transactions. Returns 0, a code from cb, LKV_ECORRUPT or LKV_EIO. */
int lkv_mvcc_records(lkv_mvcc_txn_t *t, lkv_mvcc_event_cb cb, void *arg);

/* Walks the records etcd 3.4's HashKV at rev covers, in revision order: those lkv_mvcc_records walks with
 * a main revision <= rev, where the ones at or below the compact revision stay only while they are their
 * key's live revision at rev (etcd's keep set), or all of them when no key is live at rev (etcd does not
 * filter with an empty keep set). Requires compact revision <= rev <= lkv_mvcc_txn_rev(t). The callback may
 * not use t. Returns 0, a code from cb, LKV_EFUTUREREV, LKV_ECOMPACTED, LKV_ENOMEM, LKV_ECORRUPT or
 * LKV_EIO. */
int lkv_mvcc_records_at(lkv_mvcc_txn_t *t, int64_t rev, lkv_mvcc_event_cb cb, void *arg);

/* ---- writes (inside lkv_mvcc_req_begin/_end) ---- */

/* Writes key = value with lease at revision (lkv_mvcc_txn_rev-after-the-write, next sub revision). The
 * key's create revision and version carry on from its live previous revision, or start anew. Returns 0,
 * LKV_EINVAL (no open request, empty key, or a long key whose hash collides with another stored key:
 * practically impossible), LKV_ENOSPACE (map full), LKV_ENOMEM, LKV_ECORRUPT, LKV_EIO. */
int lkv_mvcc_put(lkv_mvcc_txn_t *t, const uint8_t *key, size_t key_len, const uint8_t *value,
                 size_t value_len, int64_t lease);

/* Writes a tombstone, in key order, for every key live in [key, end) (etcd range conventions as in
 * lkv_mvcc_range_t). *deleted (may be NULL) gets the number of keys deleted. Returns 0, LKV_EINVAL,
 * LKV_ENOSPACE, LKV_ENOMEM, LKV_ECORRUPT, LKV_EIO. */
int lkv_mvcc_delete_range(lkv_mvcc_txn_t *t, const uint8_t *key, size_t key_len, const uint8_t *end,
                          size_t end_len, int64_t *deleted);

/* Compacts history at rev (inside lkv_mvcc_req_begin/_end): the compact revision becomes rev at once, so
 * reads below rev fail with LKV_ECOMPACTED (in t, and for everyone once the batch commits); for every key
 * its latest revision <= rev stays (unless it is a tombstone), and the older ones are removed later, by
 * lkv_mvcc_compact_run or _step (the "physical" compaction), which never changes what a read at a
 * revision >= rev returns. What is left to remove is stored with the data, so a reopened store (or a
 * checkpoint) goes on from there; a compaction while a removal is pending takes it over towards the new
 * revision. Cheap: no history is read or removed here. Returns 0, LKV_ECOMPACTED (rev <= compact
 * revision), LKV_EFUTUREREV (rev > current revision), LKV_EINVAL (no open request), LKV_ENOSPACE,
 * LKV_ECORRUPT, LKV_EIO. */
int lkv_mvcc_compact(lkv_mvcc_txn_t *t, int64_t rev);

/* A whole state written as given (a compacted snapshot's restore, the ledger's STATE record): in one
 * request of a batch that began on a fresh store (revision 1, never compacted, nothing written since),
 * lkv_mvcc_state_put writes each live key with its own revisions, version and lease, in increasing
 * (mod_revision, sub) order, then lkv_mvcc_state_finish(rev) makes rev both the current and the compact
 * revision (reads below it: LKV_ECOMPACTED). The request adds no revision of its own. Leases are granted
 * with lkv_mvcc_lease_grant in the same request. If the request is not kept, end the batch without
 * committing it. put returns 0, LKV_EINVAL (not such a batch, or numbers out of order: create > mod,
 * version < 1), LKV_ECORRUPT (a key given twice, or (mod, sub) not above the previous key's), LKV_ENOSPACE,
 * LKV_EIO; finish returns 0, LKV_EINVAL (not such a batch, or a key above rev) or an LMDB error's code. */
int lkv_mvcc_state_put(lkv_mvcc_txn_t *t, const lkv_mvcc_kv_t *kv, int64_t sub);
int lkv_mvcc_state_finish(lkv_mvcc_txn_t *t, int64_t rev);

/* Removes superseded history of the pending compaction in write transaction t (inside a request or
 * not): at most `budget` units of work, one per history record visited and one per revision removed
 * (0: no limit, i.e. finish it). Work is proportional to the history removed plus the records written
 * since the previous compaction. Returns 1 when some removal is still pending, 0 when none is (also
 * when there was none), LKV_EINVAL (a read transaction), LKV_ENOSPACE, LKV_ECORRUPT, LKV_EIO. */
int lkv_mvcc_compact_run(lkv_mvcc_txn_t *t, size_t budget);

/* One step of the pending removal in a write transaction of its own: lkv_mvcc_compact_run(budget), then
 * commit (durably, as lkv_mvcc_write_commit). The writer's thread only (callers serialise writers).
 * Returns 1 (more is pending), 0 (nothing is), or an error of lkv_mvcc_write_begin, _compact_run or
 * _write_commit (then nothing of the step is stored). */
int lkv_mvcc_compact_step(lkv_mvcc_t *s, size_t budget);

/* 1 when a removal is pending as of the last commit (or open), else 0: whether the writer should call
 * lkv_mvcc_compact_step. Any thread; an atomic load. */
int lkv_mvcc_compact_pending(lkv_mvcc_t *s);

/* Quota check for a write that adds about `cost` bytes (etcd's cost: 256 + key + value per put):
 * returns LKV_ENOSPACE when the pages in use plus cost reach the quota, else 0. */
int lkv_mvcc_quota_check(lkv_mvcc_txn_t *t, uint64_t cost);

/* ---- leases ---- */

/* A lease is an id (never 0) with a granted TTL. Expiry times are not stored (time is not part of the
 * state machine); the store keeps which leases exist and which live keys are attached to each: a put
 * with lease L attaches its key to L (detaching it from the key's previous lease), a delete detaches. */

/* Creates lease id with ttl (inside lkv_mvcc_req_begin/_end; not a revision change). Returns 0,
 * LKV_ELEASEEXIST, LKV_EINVAL (no open request, id 0), LKV_ENOSPACE, LKV_EIO. */
int lkv_mvcc_lease_grant(lkv_mvcc_txn_t *t, int64_t id, int64_t ttl);

/* Looks lease id up as t sees it; *ttl (may be NULL) gets its granted TTL. Returns 0,
 * LKV_ELEASENOTFOUND, LKV_ECORRUPT or LKV_EIO. */
int lkv_mvcc_lease_get(lkv_mvcc_txn_t *t, int64_t id, int64_t *ttl);

/* Called for each lease in id byte order (big-endian two's complement). Return 0 to go on, a negative
 * code to stop (lkv_mvcc_lease_list returns it). */
typedef int (*lkv_mvcc_lease_cb)(void *arg, int64_t id, int64_t ttl);

/* Lists every lease t sees. Returns 0, a code from cb, LKV_ECORRUPT or LKV_EIO. */
int lkv_mvcc_lease_list(lkv_mvcc_txn_t *t, lkv_mvcc_lease_cb cb, void *arg);

/* Called for each key attached to a lease, in byte order; key is valid during the call only. */
typedef int (*lkv_mvcc_key_cb)(void *arg, const uint8_t *key, size_t key_len);

/* Lists the live keys attached to lease id (none for an unknown lease). Returns 0, a code from cb,
 * LKV_ENOMEM or LKV_EIO. */
int lkv_mvcc_lease_keys(lkv_mvcc_txn_t *t, int64_t id, lkv_mvcc_key_cb cb, void *arg);

/* Revokes lease id: deletes its attached keys in byte order (tombstones in the open request's revision,
 * so one revision for all of them, none when there were no keys) and removes the lease. *deleted (may
 * be NULL) gets the number of keys deleted. Returns 0, LKV_ELEASENOTFOUND, LKV_EINVAL (no open request),
 * LKV_ENOSPACE, LKV_ENOMEM, LKV_ECORRUPT, LKV_EIO. */
int lkv_mvcc_lease_revoke(lkv_mvcc_txn_t *t, int64_t id, int64_t *deleted);

/* ---- alarms ---- */

/* Alarm bits, one per etcd AlarmType (bit = 1 << type): NOSPACE = 1, CORRUPT = 2. This store belongs to one
 * member, so one mask describes that member's alarms. */
#define LKV_MVCC_ALARM_NOSPACE (1u << 1)
#define LKV_MVCC_ALARM_CORRUPT (1u << 2)

/* Reads the raised alarms as seen by t into *mask (0: none). Returns 0, LKV_ECORRUPT or LKV_EIO. */
int lkv_mvcc_alarms_get(lkv_mvcc_txn_t *t, uint32_t *mask);

/* Replaces the raised alarms (inside lkv_mvcc_req_begin/_end; not a revision change). Returns 0,
 * LKV_EINVAL (no open request), LKV_ENOSPACE or LKV_EIO. */
int lkv_mvcc_alarms_set(lkv_mvcc_txn_t *t, uint32_t mask);

/* ---- auth (etcd's users, roles, enabled flag and auth revision; src/mvcc/auth.c) ---- */

/* Which records: users or roles, each by name (bytes, up to 4096). Values are opaque to the store (the
 * apply layer keeps etcd's authpb.User / authpb.Role messages packed). */
typedef enum { LKV_MVCC_AUTH_USER = 1, LKV_MVCC_AUTH_ROLE = 2 } lkv_mvcc_auth_kind_t;

/* Looks up a record: *val and *val_len point into storage memory, valid until t's next write or its end.
 * Returns 0, LKV_ENOENT (no such record, or a name too long to exist), LKV_EIO. */
int lkv_mvcc_auth_get(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, const uint8_t *name, size_t len,
                      const uint8_t **val, size_t *val_len);

/* Creates or replaces a record (inside lkv_mvcc_req_begin/_end; not a revision change). val is copied.
 * Returns 0, LKV_EINVAL (no open request, or a name over 4096 bytes), LKV_ENOSPACE, LKV_EIO. */
int lkv_mvcc_auth_put(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, const uint8_t *name, size_t len,
                      const uint8_t *val, size_t val_len);

/* Removes a record (inside a request bracket). Returns 0, LKV_ENOENT, LKV_EINVAL (no open request), LKV_EIO.
 */
int lkv_mvcc_auth_del(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, const uint8_t *name, size_t len);

/* Called for each record of a kind in name byte order; name and val are valid during the call only.
 * Return 0 to go on, a negative code to stop (lkv_mvcc_auth_each returns it). */
typedef int (*lkv_mvcc_auth_cb)(void *arg, const uint8_t *name, size_t name_len, const uint8_t *val,
                                size_t val_len);

/* Visits every record of kind that t sees. Returns 0, a code from cb, LKV_EIO. */
int lkv_mvcc_auth_each(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, lkv_mvcc_auth_cb cb, void *arg);

/* Reads whether auth is enabled and the auth revision (both 0 in a store that never had auth state).
 * Returns 0, LKV_ECORRUPT, LKV_EIO. */
int lkv_mvcc_auth_state_get(lkv_mvcc_txn_t *t, int *enabled, uint64_t *revision);

/* Replaces both (inside a request bracket). Returns 0, LKV_EINVAL (no open request), LKV_ENOSPACE, LKV_EIO.
 */
int lkv_mvcc_auth_state_set(lkv_mvcc_txn_t *t, int enabled, uint64_t revision);

/* Sets *epoch to how many writes of auth records and auth state (lkv_mvcc_auth_put, _del, _state_set)
 * the store committed, as t sees it (0 in a store that never had any): unlike the auth revision, which
 * its callers set, it moves with every write of auth state, so two states t can see that differ never
 * share an epoch (apart from t's own uncommitted writes: see lkv_mvcc_auth_changed). Returns 0,
 * LKV_ECORRUPT, LKV_EIO. */
int lkv_mvcc_auth_epoch(lkv_mvcc_txn_t *t, uint64_t *epoch);

/* Whether t wrote an auth record or the auth state (a write transaction; 0 for a read): what t reads of
 * them may then never be committed, so nothing derived from it may outlive t. Pure. */
int lkv_mvcc_auth_changed(const lkv_mvcc_txn_t *t);

/* The process-unique number of t's store, never reused while the process runs (a cache of something
 * derived from a store tells stores apart by it). Pure. */
uint64_t lkv_mvcc_txn_serial(const lkv_mvcc_txn_t *t);

/* ---- replication records ---- */

/* Small named records the replication layer keeps with the state it describes (the Raft applied index,
 * the membership), so that both change in the same commit: a restart neither skips nor repeats entries.
 * name: 1..64 bytes, NUL-terminated; stored apart from the store's own metadata. */

/* Sets record name to val[0..len) in write transaction t, outside any request (it is not a revision
 * change). Returns 0, LKV_EINVAL (read txn, a request open, bad name), LKV_ENOSPACE or LKV_EIO. */
int lkv_mvcc_repl_put(lkv_mvcc_txn_t *t, const char *name, const void *val, size_t len);

/* Removes record name in write transaction t, outside any request (nothing to do when it is not set).
 * Returns 0, LKV_EINVAL (read txn, a request open, bad name) or LKV_EIO. */
int lkv_mvcc_repl_del(lkv_mvcc_txn_t *t, const char *name);

/* Reads record name as t sees it into a malloc'd copy (*val, *len; the caller frees). Returns 0,
 * LKV_ENOENT (never set), LKV_EINVAL (bad name), LKV_ENOMEM or LKV_EIO. */
int lkv_mvcc_repl_get(lkv_mvcc_txn_t *t, const char *name, uint8_t **val, size_t *len);

/* lkv_mvcc_repl_get in a read transaction of its own (the latest committed state). Any thread. Returns as
 * lkv_mvcc_repl_get, or an error from beginning the read. */
int lkv_mvcc_repl_read(lkv_mvcc_t *s, const char *name, uint8_t **val, size_t *len);

#endif
