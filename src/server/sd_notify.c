/* systemd's sd_notify protocol: one datagram of state lines to the socket $NOTIFY_SOCKET names. */
#include "server/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/error.h"

int lkv_sd_notify(const char *state) {
  const char *name = getenv("NOTIFY_SOCKET");
  if (!name || !*name) return 0;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t len = strlen(name);
  if ((name[0] != '/' && name[0] != '@') || len + (name[0] == '/') > sizeof(addr.sun_path)) return LKV_EINVAL;
  memcpy(addr.sun_path, name, len);
  if (name[0] == '@') addr.sun_path[0] = '\0'; /* an abstract name: no NUL at its end either */
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&addr, alen);
  int rc = n < 0 ? -errno : 0;
  close(fd);
  return rc;
}

uint64_t lkv_sd_watchdog_usec(void) {
  const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
  if (!usec || !*usec) return 0;
  if (pid && *pid && strtoll(pid, NULL, 10) != (long long)getpid()) return 0; /* meant for another process */
  char *end;
  unsigned long long v = strtoull(usec, &end, 10);
  return *end == '\0' ? (uint64_t)v : 0;
}
