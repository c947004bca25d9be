/* macOS: utun, a PF_SYSTEM control socket. Its packets carry a 4-byte family
 * header already, in Darwin numbering (AF_INET6 = 30): translated to and from
 * OpenBSD numbering here, so the data path sees the same frames as on Linux.
 * Built only on macOS (binding.gyp). */
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if_utun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/kern_control.h>
#include <sys/socket.h>
#include <sys/sys_domain.h>
#include <sys/uio.h>
#include <unistd.h>

/* What the kernel expects (XNU's bsd/sys/kern_control.h, sys_domain.h), held
 * against whichever headers this is built with: an SDK's, or the stand-ins
 * the Linux compile check uses (native/compat/darwin). */
_Static_assert(sizeof(struct ctl_info) == 100, "struct ctl_info");
_Static_assert(sizeof(struct sockaddr_ctl) == 32, "struct sockaddr_ctl");
_Static_assert(sizeof(struct sockaddr_sys) == 32, "struct sockaddr_sys");
_Static_assert(CTLIOCGINFO == 0xc0644e03, "CTLIOCGINFO");

static int fail(int fd, int *err) {
  *err = errno;
  if (fd >= 0) close(fd);
  return -1;
}

/* "utunN" asks for unit N+1 (sc_unit 0 lets the kernel pick). */
static int parse_unit(const char *want, unsigned *unit) {
  *unit = 0;
  if (!want || !want[0]) return 0;
  if (strncmp(want, "utun", 4) != 0 || want[4] < '0' || want[4] > '9') return -1;
  char *end = NULL;
  unsigned long n = strtoul(want + 4, &end, 10);
  if (*end != 0 || n > 254) return -1;
  *unit = (unsigned)n + 1;
  return 0;
}

int tun_open(const char *want, char *name_out, size_t name_len, int *err) {
  unsigned unit;
  if (parse_unit(want, &unit) < 0) { *err = EINVAL; return -1; }
  int fd = socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
  if (fd < 0) return fail(-1, err);
  struct ctl_info info;
  memset(&info, 0, sizeof info);
  strlcpy(info.ctl_name, UTUN_CONTROL_NAME, sizeof info.ctl_name);
  if (ioctl(fd, CTLIOCGINFO, &info) < 0) return fail(fd, err);
  struct sockaddr_ctl addr;
  memset(&addr, 0, sizeof addr);
  addr.sc_len = sizeof addr;
  addr.sc_family = AF_SYSTEM;
  addr.ss_sysaddr = AF_SYS_CONTROL;
  addr.sc_id = info.ctl_id;
  addr.sc_unit = unit;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) return fail(fd, err);
  socklen_t len = (socklen_t)name_len;
  if (getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, name_out, &len) < 0) return fail(fd, err);
  name_out[name_len - 1] = 0;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return fail(fd, err);
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return fail(fd, err);
  return fd;
}

ssize_t tun_read_framed(int fd, uint8_t *slot, size_t cap) {
  ssize_t n = read(fd, slot, cap);
  if (n < 0) return -1;
  if (n == 0) { errno = EAGAIN; return -1; }
  if (n <= TUN_FRAME_HEADER) return 0; /* header only: skip */
  uint8_t family = slot[3];
  slot[0] = slot[1] = slot[2] = 0;
  slot[3] = (uint8_t)(family == AF_INET6 ? OPENBSD_AF_INET6 : OPENBSD_AF_INET);
  return n;
}

ssize_t tun_write_framed(int fd, const uint8_t *framed, size_t len) {
  if (len <= TUN_FRAME_HEADER) { errno = EINVAL; return -1; }
  uint8_t hdr[TUN_FRAME_HEADER] = {0, 0, 0, (uint8_t)(framed[3] == OPENBSD_AF_INET6 ? AF_INET6 : AF_INET)};
  struct iovec iov[2] = {{hdr, TUN_FRAME_HEADER}, {(void *)(framed + TUN_FRAME_HEADER), len - TUN_FRAME_HEADER}};
  return writev(fd, iov, 2);
}
