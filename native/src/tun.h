/* One tun device per platform behind three calls. Packets cross this
 * interface framed as the tun@openssh.com channel carries them: a 4-byte
 * big-endian address family in OpenBSD numbering (2 = IPv4, 24 = IPv6). */
#ifndef CLOUDBRIDGE_TUN_H
#define CLOUDBRIDGE_TUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TUN_FRAME_HEADER 4
#define OPENBSD_AF_INET 2u
#define OPENBSD_AF_INET6 24u

/* Opens a non-blocking, close-on-exec tun fd. `want` may be empty (the kernel
 * picks). On failure returns -1 with *err set and nothing left open. */
int tun_open(const char *want, char *name_out, size_t name_len, int *err);

/* Reads one packet into slot[0..cap) framed. Returns the framed length, 0 for
 * a packet to skip, or -1 with errno (EAGAIN: nothing more to read). */
ssize_t tun_read_framed(int fd, uint8_t *slot, size_t cap);

/* Writes one framed packet. Returns bytes written or -1 with errno. */
ssize_t tun_write_framed(int fd, const uint8_t *framed, size_t len);

#endif
