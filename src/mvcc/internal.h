/* MVCC store internals shared by the files of src/mvcc (LMDB handles, transaction state). */
#ifndef LKV_MVCC_INTERNAL_H
#define LKV_MVCC_INTERNAL_H

#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mvcc/mvcc.h"
#include "mvcc/record.h"

typedef struct lkv__read_slot_s lkv__read_slot_t;

struct lkv_mvcc_s {
  MDB_env *env;
  MDB_dbi main_dbi, rev_dbi, key_dbi, meta_dbi;
  MDB_dbi lease_dbi, lease_key_dbi; /* leases (lease.c): id -> TTL, and lease id ‖ encoded key */
  uint64_t quota;
  char db_dir[PATH_MAX]; /* <dir>/member/db: LMDB's files and the unsynced marker */
  int logged;            /* opened with lkv_mvcc_options_t.logged: commits do not flush */
  int read_only;         /* opened with lkv_mvcc_options_t.read_only: nothing is written */
  int rebuilt;           /* open discarded a file the machine's restart may have torn */
  uint64_t cluster_id;
  uint64_t member_id;
  uint64_t serial;         /* process-unique store number: tells thread caches of closed stores apart */
  pthread_mutex_t ckpt_mu; /* orders publishing a checkpoint with installing a copy (install.c) */
  uint64_t installs;       /* copies installed (ckpt_mu): a checkpoint copied before one is stale */
  pthread_mutex_t slots_mu;
  lkv__read_slot_t *slots;    /* every thread's cached read transaction, freed at close */
  atomic_int compact_pending; /* a compaction's removal is pending as of the last commit (compact.c) */
  /* The gate (gate.c): users of env counted, so that a defragment can swap it. */
  pthread_mutex_t gate_mu;
  pthread_cond_t gate_cv;
  atomic_int gate_active;  /* transactions and copies using env */
  atomic_int gate_closing; /* a defragment waits for env to be unused */
  /* What a defragment in progress must bring over again (defrag.c): the keys writes touched. */
  pthread_mutex_t touched_mu;
  atomic_int tracking;            /* writes record the keys they touch */
  struct lkv__touched_s *touched; /* the keys recorded so far (touched_mu) */
  atomic_int defrag_spoiled;      /* the copy cannot be trusted: a copy was installed, or memory ran out */
  pthread_mutex_t defrag_mu;      /* one defragment at a time */
  uint64_t prefill_end; /* first page not written ahead of LMDB (prefill.c; LMDB's writer lock), 0 at open */
};

/* What a write transaction did to the pending compaction, published at its commit. */
enum { LKV__COMPACT_UNTOUCHED = 0, LKV__COMPACT_PENDING, LKV__COMPACT_DONE };

struct lkv_mvcc_txn_s {
  lkv_mvcc_t *s;
  MDB_txn *txn; /* where operations go: the open request's nested txn, else top */
  MDB_txn *top;
  int write;
  int in_req;
  int64_t rev;                          /* read: snapshot revision; write: revision of the batch so far */
  int64_t compact_rev;                  /* -1 if never compacted */
  int64_t begin_rev, begin_compact_rev; /* write: the pair when the batch began */
  int64_t changes;                      /* changes made by the open request */
  int take_rev;                         /* the open request takes a revision even without changes */
  int64_t req_compact_rev;              /* compact_rev when the open request began, restored on rollback */
  MDB_cursor *key_cur;                  /* read txns: key-DB cursor kept for reuse, or NULL */
  int key_cur_stale;                    /* key_cur belongs to an earlier use of txn: renew before use */
  lkv__read_slot_t *slot;               /* read txns: the thread cache slot this struct lives in, or NULL */
  int compact_mark;               /* write txns: LKV__COMPACT_*, the last change to the pending removal */
  struct lkv__touched_s *touched; /* write txns: keys changed while a defragment copies (defrag.c) */
  int auth_changed;               /* write txns: an auth record or the auth state was written (auth.c) */
};

/* Meta keys. */
#define LKV__META_REVS "revs"         /* current(8 BE) ‖ compact(8 BE, two's complement) */
#define LKV__META_IDENTITY "identity" /* cluster_id(8 BE) ‖ member_id(8 BE) */

/* ---- the file's pages ahead of LMDB (prefill.c) ---- */

/* The largest LMDB page prefill writes ahead (LMDB's page is the OS page: 4 KiB here). */
#define LKV__PREFILL_PAGE_MAX 65536u

/* Writes the pages past the last page in use one at a time when fewer than a few hundred are ready, so
 * that the page cache holds them in single-page folios. Call right after beginning a write transaction,
 * before it writes anything (it holds LMDB's writer lock). Failures are ignored: LMDB's own writes report
 * them. */
void lkv__prefill(lkv_mvcc_t *s);

/* The store file's size as etcd's dbSize: its bytes up to the last page in use (the pages prefill
 * wrote past it excluded). Returns 0, or LKV_EIO. */
int lkv__store_file_size(lkv_mvcc_t *s, uint64_t *out);

/* ---- the gate (gate.c) ---- */

/* Every use of env passes the gate: lkv__gate_enter before (waits while a defragment swaps the file),
 * lkv__gate_leave after. Transactions do it in lkv_mvcc_read_begin / _write_begin and when they end. */
void lkv__gate_enter(lkv_mvcc_t *s);
void lkv__gate_leave(lkv_mvcc_t *s);

/* Closes the gate: waits up to timeout_ms until no one uses env and returns 0 with the gate closed
 * (lkv__gate_open reopens it), or reopens it and returns LKV_EAGAIN. One closer at a time. */
int lkv__gate_close(lkv_mvcc_t *s, unsigned timeout_ms);
void lkv__gate_open(lkv_mvcc_t *s);

/* ---- keys touched during a defragment (defrag.c) ---- */

/* The named databases of a store (and of its copies), in the order of store.c's table. */
enum { LKV__DB_REV = 0, LKV__DB_KEY, LKV__DB_META, LKV__DB_LEASE, LKV__DB_LEASE_KEY, LKV__N_DBS };

/* Opens every named database of s's environment in txn into s's handles, creating them with create
 * (MDB_CREATE or 0). Returns 0, LKV_ENOENT (one is missing and create is 0) or an LMDB error. */
int lkv__dbs_open(lkv_mvcc_t *s, MDB_txn *txn, unsigned create);

/* Store copies (install.c): a whole LMDB data file opened as an environment of its own, no lock file. */
enum { LKV__COPY_READ, LKV__COPY_WRITE, LKV__COPY_CREATE };

/* Opens the copy at path into c (env and every database's handle): read-only, for writing, or created
 * (the file and its databases made if missing). map 0: LMDB's default map size. Returns 0, LKV_ECORRUPT
 * (not a store copy) or an LMDB / I/O error. Close it with mdb_env_close(c->env). */
int lkv__copy_open(lkv_mvcc_t *c, const char *path, uint64_t map, int mode);

/* The handle of database i (LKV__DB_*) in s, and the flags it is created with. */
MDB_dbi *lkv__db_handle(lkv_mvcc_t *s, int i);
unsigned lkv__db_flags(int i);

/* Replaces the content of database i of s (write txn txn) by c's (read in from), appending in order.
 * Returns 0 or an LKV_E* code. */
int lkv__copy_db(lkv_mvcc_t *s, MDB_txn *txn, lkv_mvcc_t *c, MDB_txn *from, int i);

/* Records that a write in t changed (or may have changed) key of database db (LKV__DB_*, not META: the
 * meta database is copied whole) while a defragment copies the store: it brings the key's state over
 * again once t committed. Every change to the rev, key, lease and lease_key databases must call it. Cheap
 * when no defragment runs (one atomic load). */
void lkv__touched(lkv_mvcc_txn_t *t, int db, const void *key, size_t len);

/* t committed: its touched keys join the defragment's (lkv__touched_commit, after the commit, so that a
 * catch-up round that takes them reads a snapshot with the change); or t ended without a commit
 * (lkv__touched_drop). */
void lkv__touched_commit(lkv_mvcc_txn_t *t);
void lkv__touched_drop(lkv_mvcc_txn_t *t);

/* Translates an LMDB or errno result into an LKV_E* code (0 stays 0). */
int lkv__mdb_err(int rc);

/* Reads the revision pair from meta in txn. Returns 0, LKV_ECORRUPT, LKV_EIO. */
int lkv__meta_revs_get(lkv_mvcc_t *s, MDB_txn *txn, int64_t *rev, int64_t *compact);
/* Writes the revision pair to meta in txn. */
int lkv__meta_revs_put(lkv_mvcc_t *s, MDB_txn *txn, int64_t rev, int64_t compact);

/* Sets s->compact_pending from the meta record in txn (at open). Returns 0 or an LKV_E* code. */
int lkv__compact_load(lkv_mvcc_t *s, MDB_txn *txn);

/* Positions c (on the key DB, at some entry of a key) and finds the key's latest entry with main
 * revision <= rev. Sets *found to 1 and *out, or *found to 0. The cursor stays on that key.
 * enc/enc_len is the key (needed to re-seek). Returns 0 or an LKV_E* code. */
int lkv__latest_le(MDB_cursor *c, const uint8_t *enc, size_t enc_len, int64_t rev, lkv__dup_t *out,
                   int *found);

/* Calls cb with the history entry of record r at (main, sub) (lkv_mvcc_event_cb's form) and returns its
 * result. */
int lkv__history_emit(const lkv__rec_t *r, int64_t main, int64_t sub, lkv_mvcc_event_cb cb, void *arg);

/* Appends record r at (d->main, d->sub) to the history and its index entry d under the encoded key
 * (write.c; revisions only grow, so the record goes at the end: LKV_ECORRUPT when it would not). Counts
 * one change of t. Returns 0 or an LKV_E* code. */
int lkv__rev_append(lkv_mvcc_txn_t *t, const uint8_t *enc, size_t enc_len, const lkv__rec_t *r,
                    const lkv__dup_t *d);

/* Reads and decodes the record at (main, sub). Returns 0, LKV_ECORRUPT (missing or bad), LKV_EIO. */
int lkv__rec_get(lkv_mvcc_txn_t *t, int64_t main, int64_t sub, lkv__rec_t *out);

/* Lease attachments (lease.c), kept by puts and deletes so that a lease always knows its live keys.
 * attach records key (encoded enc) under lease id; detach removes it. id 0 (no lease) is a no-op.
 * Return 0 or an LKV_E* code. */
int lkv__lease_attach(lkv_mvcc_txn_t *t, int64_t id, const uint8_t *enc, size_t enc_len, const uint8_t *key,
                      size_t key_len);
int lkv__lease_detach(lkv_mvcc_txn_t *t, int64_t id, const uint8_t *enc, size_t enc_len);

/* Thread cache of read transactions (readcache.c). lkv__read_cache_take returns the calling thread's
 * cached transaction struct with its LMDB txn renewed (t->txn, or NULL when the caller must begin one),
 * or NULL when the slot is busy (a nested read) or cannot be made. lkv__read_cache_give resets the
 * struct's txn and returns it to its slot. lkv__read_cache_close aborts and frees every slot of s;
 * lkv__read_cache_reset aborts every slot's transaction and keeps the slots (the environment is about to
 * be replaced: the gate is closed, so no slot is in use). */
lkv_mvcc_txn_t *lkv__read_cache_take(lkv_mvcc_t *s);
void lkv__read_cache_give(lkv_mvcc_txn_t *t);
void lkv__read_cache_close(lkv_mvcc_t *s);
void lkv__read_cache_reset(lkv_mvcc_t *s);

/* The key-DB cursor for t: the read txn's cached one, or a new one (write txns; close it with
 * lkv__key_cursor_done). Returns 0 or an LKV_E* code. */
int lkv__key_cursor(lkv_mvcc_txn_t *t, MDB_cursor **out);
void lkv__key_cursor_done(lkv_mvcc_txn_t *t, MDB_cursor *c);

/* ---- the unsynced marker (unsynced.c: why it exists and its format) ---- */

#define LKV__BOOT_ID_MAX 64

typedef struct lkv__unsynced_s {
  char boot_id[LKV__BOOT_ID_MAX]; /* the kernel boot that held the unflushed pages; "" if unknown */
  uint64_t cluster_id, member_id; /* the store's identity; 0 when the marker was damaged */
} lkv__unsynced_t;

/* What lkv__unsynced_before_open found, for lkv__unsynced_after_open. */
typedef struct lkv__unsynced_open_s {
  char boot_id[LKV__BOOT_ID_MAX]; /* this boot's id (or the injected one) */
  int found;                      /* there was a marker */
  int torn;                       /* ...that could not vouch for the file: it was deleted */
  int restored;                   /* ...and the checkpoint put in its place */
  lkv__unsynced_t marker;         /* its contents (the identity to keep when torn) */
} lkv__unsynced_open_t;

/* Before LMDB opens db_dir: reads the marker and, when it cannot vouch for the file (another or unknown
 * boot, damaged, or the file does not flush), deletes LMDB's files and puts the checkpoint (if any) in
 * their place if logged, else refuses. boot_id NULL
 * reads the running kernel's. Returns 0 with *out filled, LKV_ETORN, or a negative errno. */
int lkv__unsynced_before_open(const char *db_dir, const char *boot_id, int logged, lkv__unsynced_open_t *out);

/* After the environment and its databases opened: a logged store writes its marker (durably) before any
 * unflushed commit; a store that is not logged flushes what a logged run left and drops the marker; a
 * read-only store leaves everything as it is.
 * Returns 0 or an error. */
int lkv__unsynced_after_open(lkv_mvcc_t *s, const lkv__unsynced_open_t *o);

/* At close of a logged store: flushes it and drops the marker, or, when the flush fails (the kernel may
 * have dropped pages), leaves a marker without a boot id so that the next start rebuilds. */
void lkv__unsynced_at_close(lkv_mvcc_t *s);

/* ---- files next to LMDB's (unsynced.c, checkpoint.c) ---- */

#define LKV__CHECKPOINT_NAME "checkpoint.mdb"
#define LKV__DEFRAG_NAME "defrag.mdb" /* a defragment's compact copy until it replaces data.mdb */

/* Opens s->env on s->db_dir (s->quota, logged and read_only set) and every database's handle, creating
 * them (unless read-only), loading the identity and the pending compaction. Returns 0 or an LKV_E* code
 * (env closed). */
int lkv__env_open(lkv_mvcc_t *s);

/* db_dir/name into out (cap bytes). Returns 0 or LKV_EINVAL (too long). */
int lkv__db_path(const char *db_dir, const char *name, char *out, size_t cap);

/* Writes db_dir/name durably: fill writes a temporary file (name.tmp), which is flushed, renamed over
 * name, and the directory flushed. A crash leaves the old file or the new one, never a part. Returns 0,
 * fill's error or an I/O error (the temporary file is removed). */
int lkv__publish(const char *db_dir, const char *name, int (*fill)(int fd, const void *arg), const void *arg);

/* lkv__publish in two steps: prepare writes and flushes name.tmp (removed on failure); commit renames it
 * over name (keep 1) or removes it (keep 0). */
int lkv__publish_prepare(const char *db_dir, const char *name, int (*fill)(int fd, const void *arg),
                         const void *arg);
int lkv__publish_commit(const char *db_dir, const char *name, int keep);

/* Deletes db_dir/name durably. Returns 0 (also when there was none) or a negative errno. */
int lkv__remove_file(const char *db_dir, const char *name);

/* Puts the checkpoint, if there is one, in place of LMDB's (deleted) data file and sets *restored.
 * Returns 0 or an error. */
int lkv__checkpoint_restore(const char *db_dir, int *restored);

/* The running kernel's boot id into out (cap bytes), or "" when it cannot be read. */
void lkv__boot_id(char *out, size_t cap);

/* Reads db_dir's marker: 1 when there is one (*out filled, zeroed if unparsable), 0 when there is none,
 * or a negative errno. */
int lkv__unsynced_read(const char *db_dir, lkv__unsynced_t *out);

#endif
