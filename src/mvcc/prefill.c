/* Store pages written one at a time ahead of LMDB past the file's end, and the file's size as used. */
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "mvcc/internal.h"

/*
 * A commit writes its dirty pages with one pwrite per page, or one writev per run of consecutive pages.
 * On Linux 6.x (ext4, large folios) a run that extends the file lands in one page-cache folio as large as
 * the run, and LMDB later reuses those pages one at a time: each 4 KiB write into a large folio walks all
 * of its blocks, and write-back writes the whole folio. Most of a cluster member's store was in such
 * folios under puts (/proc/kpageflags). Pages written singly before LMDB first uses them stay single-page
 * folios: the zeroed pages past the last page in use are written here, while a write transaction that has
 * not written anything yet holds LMDB's writer lock, so no commit or spill can be writing them. They hold
 * no data (a commit that uses one overwrites it); lkv__store_file_size leaves them out.
 */
#define PREFILL_LOW 128u  /* pages ready past the last page in use, below which more are written */
#define PREFILL_HIGH 384u /* pages ready past the last page in use after a prefill */

void lkv__prefill(lkv_mvcc_t *s) {
  MDB_envinfo info;
  MDB_stat st;
  mdb_filehandle_t fd;
  if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0 ||
      mdb_env_get_fd(s->env, &fd) != 0 || st.ms_psize == 0 || st.ms_psize > LKV__PREFILL_PAGE_MAX)
    return;
  uint64_t next = (uint64_t)info.me_last_pgno + 1, limit = info.me_mapsize / st.ms_psize;
  if (s->prefill_end >= next + PREFILL_LOW) return;
  static const unsigned char zero[LKV__PREFILL_PAGE_MAX];
  uint64_t p = s->prefill_end > next ? s->prefill_end : next;
  for (; p < next + PREFILL_HIGH && p < limit; p++)
    if (pwrite(fd, zero, st.ms_psize, (off_t)(p * st.ms_psize)) != (ssize_t)st.ms_psize) break;
  s->prefill_end = p;
}

int lkv__store_file_size(lkv_mvcc_t *s, uint64_t *out) {
  mdb_filehandle_t fd;
  struct stat st;
  MDB_envinfo info;
  MDB_stat ms;
  if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) != 0 || mdb_env_info(s->env, &info) != 0 ||
      mdb_env_stat(s->env, &ms) != 0)
    return LKV_EIO;
  uint64_t used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
  *out = (uint64_t)st.st_size < used ? (uint64_t)st.st_size : used;
  return 0;
}
