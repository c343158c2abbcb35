/* HTTP/2 PINGs on the client port: server keepalive (reaping half-open connections) and grpc-go's policy
 * for the clients' pings. */
#ifndef LKV_TRANSPORT_H2_PING_H
#define LKV_TRANSPORT_H2_PING_H

#include <stdint.h>

#include "transport/h2_conn.h"

/* The client sent a PING (ack 0) or answered ours (ack 1; nghttp2 answers theirs). A PING sooner than
 * cfg->keepalive.min_time_ms after the previous one (2 h while the client has no stream) is a strike,
 * unless we sent HEADERS or DATA since; on the third, GOAWAY ENHANCE_YOUR_CALM "too_many_pings" is queued
 * and the connection closes once it is written (lkv__h2_conn_done), as grpc-go's EnforcementPolicy with
 * PermitWithoutStream false, which etcd sets. Nothing is policed when min_time_ms is 0. */
void lkv__ping_received(lkv__h2_conn_t *h2, int ack);

/* We sent HEADERS or DATA: the client's next PING is not a strike (grpc-go resets its count then). */
void lkv__ping_data_sent(lkv__h2_conn_t *h2);

/* Server keepalive at time now (uv_now): a connection that sent nothing for keepalive.interval_ms gets a
 * PING; one that still sent nothing keepalive.timeout_ms after it is to be closed (returns 1; else 0), as
 * grpc-go's ServerParameters.Time/Timeout. Off when either is 0. */
int lkv__ping_keepalive(lkv__h2_conn_t *h2, uint64_t now);

#endif
