/* systemd's sd_notify protocol (server/sd_notify.h): datagrams to a path and to an abstract socket, the
 * refusals, no socket, and the watchdog interval read from the environment. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "server/sd_notify.h"

/* A datagram socket bound to name (a path, or '@' for an abstract name). */
static int bind_socket(const char *name) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t len = strlen(name);
  memcpy(addr.sun_path, name, len);
  if (name[0] == '@') addr.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, alen), 0);
  return fd;
}

static void expect_datagram(int fd, const char *want) {
  char buf[256];
  ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
  assert_true(n >= 0);
  buf[n] = '\0';
  assert_string_equal(buf, want);
}

static void to_a_path(void **state) {
  (void)state;
  char dir[] = "/tmp/lkv-sd-XXXXXX", path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/notify", dir);
  int fd = bind_socket(path);
  setenv("NOTIFY_SOCKET", path, 1);
  assert_int_equal(lkv_sd_notify("READY=1"), 0);
  expect_datagram(fd, "READY=1");
  assert_int_equal(lkv_sd_notify("STOPPING=1\nSTATUS=shutting down"), 0);
  expect_datagram(fd, "STOPPING=1\nSTATUS=shutting down"); /* one datagram, lines kept */
  close(fd);
  unlink(path);
  rmdir(dir);
  assert_int_equal(lkv_sd_notify("READY=1"), -ENOENT); /* nobody listens there any more */
  unsetenv("NOTIFY_SOCKET");
}

static void to_an_abstract_name(void **state) {
  (void)state;
  char name[64];
  snprintf(name, sizeof(name), "@lkv-sd-test-%d", (int)getpid());
  int fd = bind_socket(name);
  setenv("NOTIFY_SOCKET", name, 1);
  assert_int_equal(lkv_sd_notify("WATCHDOG=1"), 0);
  expect_datagram(fd, "WATCHDOG=1");
  close(fd);
  unsetenv("NOTIFY_SOCKET");
}

static void without_or_with_a_bad_socket(void **state) {
  (void)state;
  unsetenv("NOTIFY_SOCKET");
  assert_int_equal(lkv_sd_notify("READY=1"), 0); /* not started by systemd: nothing to do */
  setenv("NOTIFY_SOCKET", "", 1);
  assert_int_equal(lkv_sd_notify("READY=1"), 0);
  setenv("NOTIFY_SOCKET", "relative/path", 1);
  assert_int_equal(lkv_sd_notify("READY=1"), LKV_EINVAL);
  char longname[200];
  memset(longname, 'a', sizeof(longname) - 1);
  longname[0] = '/';
  longname[sizeof(longname) - 1] = '\0';
  setenv("NOTIFY_SOCKET", longname, 1);
  assert_int_equal(lkv_sd_notify("READY=1"), LKV_EINVAL);
  unsetenv("NOTIFY_SOCKET");
}

static void watchdog_interval(void **state) {
  (void)state;
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  assert_int_equal(lkv_sd_watchdog_usec(), 0);
  setenv("WATCHDOG_USEC", "3000000", 1);
  assert_int_equal(lkv_sd_watchdog_usec(), 3000000);
  char pid[32];
  snprintf(pid, sizeof(pid), "%d", (int)getpid());
  setenv("WATCHDOG_PID", pid, 1);
  assert_int_equal(lkv_sd_watchdog_usec(), 3000000);
  setenv("WATCHDOG_PID", "1", 1); /* meant for another process */
  assert_int_equal(lkv_sd_watchdog_usec(), 0);
  unsetenv("WATCHDOG_PID");
  setenv("WATCHDOG_USEC", "3s", 1);
  assert_int_equal(lkv_sd_watchdog_usec(), 0);
  unsetenv("WATCHDOG_USEC");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(to_a_path),
      cmocka_unit_test(to_an_abstract_name),
      cmocka_unit_test(without_or_with_a_bad_socket),
      cmocka_unit_test(watchdog_interval),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
