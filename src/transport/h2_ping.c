/* HTTP/2 PINGs: server keepalive pings and timeouts, the strikes of grpc-go's client ping policy. */
#include "transport/h2_ping.h"

#include <stdio.h>

#include "transport/loop.h"

#define MAX_PING_STRIKES 2                        /* grpc-go's maxPingStrikes: the third strike ends it */
#define NO_STREAM_PING_MS (2ull * 60 * 60 * 1000) /* grpc-go's defaultPingTimeout */
static const char too_many_pings[] = "too_many_pings"; /* grpc-go clients look for these words */

void lkv__ping_data_sent(lkv__h2_conn_t *h2) {
  h2->reset_strikes = 1;
}

void lkv__ping_received(lkv__h2_conn_t *h2, int ack) {
  uint64_t min_ms = h2->cfg->keepalive.min_time_ms;
  if (ack || !min_ms || h2->close_after_goaway) return;
  uint64_t now = uv_now(&h2->loop->uv);
  int pinged = h2->pinged;
  uint64_t since = now - h2->last_ping_ms;
  h2->pinged = 1;
  h2->last_ping_ms = now;
  if (h2->reset_strikes) {
    h2->reset_strikes = 0;
    h2->ping_strikes = 0;
    return;
  }
  if (pinged && since < (h2->n_streams ? min_ms : NO_STREAM_PING_MS)) h2->ping_strikes++;
  if (h2->ping_strikes <= MAX_PING_STRIKES) return;
  int32_t last = nghttp2_session_get_last_proc_stream_id(h2->session);
  nghttp2_submit_goaway(h2->session, NGHTTP2_FLAG_NONE, last, NGHTTP2_ENHANCE_YOUR_CALM,
                        (const uint8_t *)too_many_pings, sizeof(too_many_pings) - 1);
  fprintf(stderr, "ledgerkv: closing a client connection: too many pings (more often than every %llu ms)\n",
          (unsigned long long)(h2->n_streams ? min_ms : NO_STREAM_PING_MS));
  h2->close_after_goaway = 1;
  h2->want_flush(h2);
}

int lkv__ping_keepalive(lkv__h2_conn_t *h2, uint64_t now) {
  const lkv_transport_keepalive_t *ka = &h2->cfg->keepalive;
  if (!ka->interval_ms || !ka->timeout_ms) return 0;
  if (h2->ping_out && h2->last_read_ms >= h2->ping_sent_ms) h2->ping_out = 0; /* any read answers it */
  if (h2->ping_out) return now - h2->ping_sent_ms >= ka->timeout_ms;
  if (now - h2->last_read_ms < ka->interval_ms) return 0;
  if (nghttp2_submit_ping(h2->session, NGHTTP2_FLAG_NONE, NULL) != 0) return 0;
  h2->ping_out = 1;
  h2->ping_sent_ms = now;
  h2->want_flush(h2);
  return 0;
}
