/* gRPC deadlines on the server side: grpc-timeout parsed, a timer per call that answers DEADLINE_EXCEEDED. */
#ifndef LKV_TRANSPORT_DEADLINE_H
#define LKV_TRANSPORT_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

#include "transport/call.h"

/* The status message grpc-go gives a deadline (context.DeadlineExceeded's text). */
#define LKV__DEADLINE_MESSAGE "context deadline exceeded"

/* Parses a grpc-timeout value (gRPC's PROTOCOL-HTTP2: 1 to 8 digits and a unit, H M S m u n) of len bytes
 * into nanoseconds (hours saturate, as grpc-go's decodeTimeout). Returns 0 and sets *ns, or -1 when
 * malformed (grpc-go resets such a stream with PROTOCOL_ERROR). */
int lkv__deadline_parse(const uint8_t *v, size_t len, uint64_t *ns);

/* Sets the call's deadline timeout_ns from now (call->deadline_ns; the clock is uv_hrtime's). */
void lkv__deadline_set(lkv_call_t *call, uint64_t timeout_ns);

/* Starts the timer of a call whose deadline is set: when it passes while the stream is live and not yet
 * answered, the call is answered DEADLINE_EXCEEDED (on_cancel if the application holds it). Returns 0, or
 * LKV_ENOMEM (no timer: the deadline is still checked before each message is run). Loop thread. */
int lkv__deadline_start(lkv_call_t *call);

/* 1 when the call has a deadline and it has passed. */
int lkv__deadline_passed(const lkv_call_t *call);

/* Stops and releases the call's timer, if any (its stream is gone). Loop thread. */
void lkv__deadline_stop(lkv_call_t *call);

#endif
