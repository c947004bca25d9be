/* Linux: /dev/net/tun with IFF_TUN | IFF_NO_PI. The kernel hands us bare IP
 * packets; the family header is written in front from the IP version. */
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int tun_open(const char *want, char *name_out, size_t name_len, int *err) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (want && want[0]) {
    size_t n = strlen(want);
    if (n >= IFNAMSIZ) { *err = ENAMETOOLONG; return -1; }
    memcpy(ifr.ifr_name, want, n);
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) { *err = errno; return -1; }
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { *err = errno; close(fd); return -1; }
  size_t n = strnlen(ifr.ifr_name, IFNAMSIZ);
  if (n >= name_len) n = name_len - 1;
  memcpy(name_out, ifr.ifr_name, n);
  name_out[n] = 0;
  return fd;
}

ssize_t tun_read_framed(int fd, uint8_t *slot, size_t cap) {
  if (cap <= TUN_FRAME_HEADER) { errno = ENOBUFS; return -1; }
  ssize_t n = read(fd, slot + TUN_FRAME_HEADER, cap - TUN_FRAME_HEADER);
  if (n < 0) return -1;
  if (n == 0) { errno = EAGAIN; return -1; }
  slot[0] = slot[1] = slot[2] = 0;
  slot[3] = (uint8_t)((slot[TUN_FRAME_HEADER] >> 4) == 6 ? OPENBSD_AF_INET6 : OPENBSD_AF_INET);
  return n + TUN_FRAME_HEADER;
}

ssize_t tun_write_framed(int fd, const uint8_t *framed, size_t len) {
  if (len <= TUN_FRAME_HEADER) { errno = EINVAL; return -1; }
  return write(fd, framed + TUN_FRAME_HEADER, len - TUN_FRAME_HEADER);
}
