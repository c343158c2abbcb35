/* A running ledgerkv node: store, replicator, services and transport, started and stopped together. */
#ifndef LKV_SERVER_SERVER_H
#define LKV_SERVER_SERVER_H

#include <stdint.h>

#include "server/config.h"

typedef struct lkv_server_s lkv_server_t;

/* Opens the data dir, starts the writer and the loop threads and listens on cfg's client URLs.
 * cfg must outlive the server. Returns 0 and sets *out, or a negative LKV_E* code with a message in err
 * (LKV_EUNSUPPORTED: the data dir holds an etcd member and no ledgerkv store, server/etcd_dir.h).
 * On failure nothing is left running. */
int lkv_server_start(lkv_server_t **out, const lkv_config_t *cfg, char *err, size_t errlen);

/* Number of loop threads serving requests. */
int lkv_server_threads(const lkv_server_t *s);

/* How many of them may run at once right now (the worker pool's gate; all of them with a pinned count). */
int lkv_server_running_threads(const lkv_server_t *s);

/* The member this one knows as the cluster's leader (its own id when it leads), or 0 while it knows none
 * (a member of a new cluster whose other members have not started yet). Any thread. */
uint64_t lkv_server_leader(const lkv_server_t *s);

/* Periodic upkeep, called about once a second from one thread: returns memory freed after a burst of
 * requests to the OS (glibc keeps it in its per-thread arenas otherwise: 90 MiB after loading 300k keys
 * with 128 clients, of which 3.5 MiB were in use). */
void lkv_server_housekeeping(lkv_server_t *s);

/* What SIGHUP does: re-reads --rate-limit-file and applies it (server/rate_limit.h; logged either way).
 * Any thread. Returns 0, LKV_ENOENT (no --rate-limit-file) or the file's error (the limits in force stay). */
int lkv_server_reload(lkv_server_t *s);

/* Stops gracefully: GOAWAY to clients, answers for every accepted request, writes made durable, store
 * closed. Frees s. */
void lkv_server_stop(lkv_server_t *s);

#endif
