/* The peer network metrics: round trips timed by pings on a channel of their own, the peer transport's
 * byte and failure counts read at each scrape. */
#ifndef LKV_SERVER_PEER_PROBE_H
#define LKV_SERVER_PEER_PROBE_H

#include "server/member.h"

/*
 * etcd times its peers with a prober (an HTTP GET on a connection of its own every few seconds) and puts
 * the smoothed round trip in etcd_network_peer_round_trip_time_seconds{To}. ledgerkv's probe is a ping on
 * the peer transport's LKV__CHANNEL_PROBE: every LKV__PEER_PROBE_INTERVAL_MS, a 9-byte message (u8 1 ‖ u64
 * our CLOCK_MONOTONIC ns, little-endian) to each member our connection to is up; the member answers at once,
 * on its peer thread, with the same bytes and kind 2 on its own connection to us; the time from our send to
 * that answer is one observation. It is what a Raft message meets on the way and back (both members' peer
 * threads, their queues, the network), without the raft thread's rounds or fsyncs. Answers later than
 * LKV__PEER_PROBE_MAX_MS are dropped (a clock sent before a stall is not a round trip).
 *
 * The byte and failure counters (etcd_network_peer_sent_bytes_total{To}, ..._received_bytes_total{From},
 * ..._sent_failures_total{To}) are the transport's own (lkv_peer_stats_t: payload bytes, messages
 * dropped), copied by a collector at each scrape.
 */
#define LKV__PEER_PROBE_INTERVAL_MS 1000
#define LKV__PEER_PROBE_MAX_MS 30000

typedef struct lkv__peer_probe_s lkv__peer_probe_t;

/* Answers pings on member m's probe channel, starts the probing thread and registers the collector.
 * m must outlive the probe (stop it first). Returns 0 and sets *out, or LKV_ENOMEM; on failure nothing is
 * left running. */
int lkv__peer_probe_start(lkv__peer_probe_t **out, lkv__member_t *m);

/* Stops the thread, clears the channel and removes the collector (none of them runs when it returns);
 * frees p. NULL is accepted. */
void lkv__peer_probe_stop(lkv__peer_probe_t *p);

#endif
