/* Reading framed packets (tun.h's 4-byte family header, then IP) and SSH's
 * big-endian integers, for the C halves of the tun channel. */
#ifndef CLOUDBRIDGE_PACKET_H
#define CLOUDBRIDGE_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "tun.h"

static inline uint32_t get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* checkFramed (src/datapath/packet.ts): family header, IP version, lengths;
 * the parity test in test/unit/parity.test.ts holds the two to one verdict. */
static inline int framed_ok(const uint8_t *b, size_t len) {
  if (len < TUN_FRAME_HEADER + 20 || b[0] || b[1] || b[2]) return 0;
  const uint8_t *ip = b + TUN_FRAME_HEADER;
  size_t ip_len = len - TUN_FRAME_HEADER;
  if (b[3] == OPENBSD_AF_INET) {
    size_t ihl = (size_t)(ip[0] & 15) * 4, total = ((size_t)ip[2] << 8) | ip[3];
    return (ip[0] >> 4) == 4 && ihl >= 20 && total >= ihl && total <= ip_len;
  }
  if (b[3] == OPENBSD_AF_INET6) {
    return (ip[0] >> 4) == 6 && ip_len >= 40 && 40 + (((size_t)ip[4] << 8) | ip[5]) <= ip_len;
  }
  return 0;
}

/* For a framed IPv4 TCP packet of `len` bytes: its SYN flag, or true when
 * it is too short to tell (JavaScript, which clamps and logs handshakes,
 * then judges it). */
static inline int tcp_syn_or_short(const uint8_t *framed, size_t len) {
  const uint8_t *ip = framed + TUN_FRAME_HEADER;
  size_t tcp = (size_t)(ip[0] & 15) * 4;
  return len < TUN_FRAME_HEADER + tcp + 14 || (ip[tcp + 13] & 0x02) != 0;
}

/* The same for a framed IPv6 packet: TCP right after the fixed header (next
 * header 6; behind extension headers it is not looked for, as isTcpSyn). */
static inline int tcp6_syn_or_short(const uint8_t *framed, size_t len) {
  const uint8_t *ip = framed + TUN_FRAME_HEADER;
  if (len < TUN_FRAME_HEADER + 40 || ip[6] != 6) return 0;
  return len < TUN_FRAME_HEADER + 54 || (ip[53] & 0x02) != 0;
}

/* A framed IPv6 UDP datagram (right after the fixed header) whose
 * destination ends in the 32 bits `low`: maybe for the in-tunnel DNS address,
 * which JavaScript compares whole (udpTo6), sending on what is not. */
static inline int udp6_to_low(const uint8_t *framed, size_t len, uint32_t low) {
  const uint8_t *ip = framed + TUN_FRAME_HEADER;
  return len >= TUN_FRAME_HEADER + 40 && ip[6] == 17 && get32(ip + 36) == low;
}

/* ICMPv6, or a fragment (whose first piece may hold an echo reply): what a
 * probe waiting for an ICMPv6 echo reply must see (isEchoReply6). */
static inline int icmp6_or_fragment(const uint8_t *framed, size_t len) {
  return len >= TUN_FRAME_HEADER + 40 && (framed[TUN_FRAME_HEADER + 6] == 58 || framed[TUN_FRAME_HEADER + 6] == 44);
}

/* sourceOk (src/datapath/sources.ts): whether a framed packet's source is
 * one the remote end may speak for (WireGuard's AllowedIPs). `table` is
 * [n4, n6, n4 x (addr, mask), n6 x (addr words x4, mask words x4)] of
 * `words` elements, as sources.ts builds it; NULL admits everything. Every
 * index is checked against `words`: the table is JavaScript's, but a short
 * one must not be read past. The parity test holds the two to one verdict. */
static inline int source_ok(const uint32_t *table, size_t words, const uint8_t *framed, size_t len) {
  if (!table) return 1;
  if (words < 2) return 0;
  size_t n4 = table[0], n6 = table[1];
  if (n4 > (words - 2) / 2 || n6 > (words - 2 - 2 * n4) / 8) return 0;
  const uint8_t *ip = framed + TUN_FRAME_HEADER;
  if (framed[3] == OPENBSD_AF_INET && len >= TUN_FRAME_HEADER + 20) {
    uint32_t src = get32(ip + 12);
    for (size_t i = 0; i < n4; i++)
      if ((src & table[2 + 2 * i + 1]) == table[2 + 2 * i]) return 1;
    return 0;
  }
  if (framed[3] == OPENBSD_AF_INET6 && len >= TUN_FRAME_HEADER + 40) {
    const uint32_t *e = table + 2 + 2 * n4;
    for (size_t i = 0; i < n6; i++, e += 8) {
      int match = 1;
      for (int w = 0; w < 4 && match; w++) match = (get32(ip + 8 + 4 * w) & e[4 + w]) == e[w];
      if (match) return 1;
    }
    return 0;
  }
  return 0;
}

#endif
