/* systemd's readiness protocol (sd_notify): state lines sent as one datagram to $NOTIFY_SOCKET. */
#ifndef LKV_SERVER_SD_NOTIFY_H
#define LKV_SERVER_SD_NOTIFY_H

#include <stdint.h>

/*
 * A service of Type=notify tells systemd how it is doing by sending newline-separated "KEY=value" lines
 * ("READY=1", "STOPPING=1", "STATUS=...", "WATCHDOG=1") in one datagram to the AF_UNIX socket named by the
 * NOTIFY_SOCKET environment variable: a path, or an abstract name written with a leading '@'. This is that
 * protocol, a few lines of it, rather than a dependency on libsystemd. Without NOTIFY_SOCKET (not started
 * by systemd) nothing is sent.
 */

/* Sends state (NUL-terminated "KEY=value" lines) to $NOTIFY_SOCKET. Any thread; does not block (a full
 * socket buffer drops the datagram, as sd_notify's callers accept). Returns 0 (also when NOTIFY_SOCKET is
 * unset or empty), LKV_EINVAL (a name too long for a socket address, or not a path or '@' name) or a
 * negative errno from socket/sendto. */
int lkv_sd_notify(const char *state);

/* The watchdog interval systemd asked for (WatchdogSec=: $WATCHDOG_USEC, for this process when
 * $WATCHDOG_PID is set), in microseconds; 0 when none. "WATCHDOG=1" must then be sent more often than
 * that. */
uint64_t lkv_sd_watchdog_usec(void);

#endif
