import { AF_INET6, FRAME_HEADER } from './packet.js';

/**
 * IPv6's half of refusing a packet (packet.ts's refusal for IPv4): what the
 * allow-list answers an IPv6 packet it will not carry, as if from its
 * destination. Apart because the headers and checksums differ throughout.
 */

const TCP = 6;
const ICMPV6 = 58;
/** ICMPv6 errors quote as much of the packet as fits in the minimum MTU (RFC 4443 2.4 c). */
const MIN_MTU = 1280;

/** The checksum over IPv6's pseudo-header (source, destination, length, next header) and [l4, end). */
function checksum6(b: Uint8Array, ip: number, l4: number, end: number, next: number): number {
  let sum = next + (end - l4);
  for (let i = ip + 8; i < ip + 40; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  for (let i = l4; i < end; i += 2) sum += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A framed IPv6 header from `src` to `dst` with `payloadLen` bytes of `next` after it. */
function ipv6Frame(src: Uint8Array, dst: Uint8Array, next: number, payloadLen: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER + 40 + payloadLen);
  b.writeUInt32BE(AF_INET6, 0);
  const ip = FRAME_HEADER;
  b[ip] = 0x60;
  b.writeUInt16BE(payloadLen, ip + 4);
  b[ip + 6] = next;
  b[ip + 7] = 64;
  b.set(src, ip + 8);
  b.set(dst, ip + 24);
  return b;
}

/**
 * A TCP RST for TCP right after the fixed header, ICMPv6 "communication
 * with destination administratively prohibited" (type 1, code 1) for the
 * rest. Undefined for what must not be answered: RSTs, ICMPv6 other than
 * an echo request (errors above all), broken packets.
 */
export function refusal6(b: Uint8Array): Buffer | undefined {
  const ip = FRAME_HEADER;
  if (b.length < ip + 40 || b[3] !== AF_INET6 || b[ip]! >> 4 !== 6) return undefined;
  const total = Math.min(b.length - ip, 40 + ((b[ip + 4]! << 8) | b[ip + 5]!));
  const next = b[ip + 6]!;
  const l4 = ip + 40;
  const src = b.subarray(ip + 8, ip + 24);
  const dst = b.subarray(ip + 24, ip + 40);
  if (next === TCP) {
    if (total < 60) return undefined;
    const flags = b[l4 + 13]!;
    if (flags & 0x04) return undefined; // never answer a RST
    const r = ipv6Frame(dst, src, TCP, 20);
    const t = FRAME_HEADER + 40;
    r.set(b.subarray(l4 + 2, l4 + 4), t); // ports swapped
    r.set(b.subarray(l4, l4 + 2), t + 2);
    r[t + 12] = 5 << 4;
    if (flags & 0x10) {
      r.set(b.subarray(l4 + 8, l4 + 12), t + 4); // seq = their ack
      r[t + 13] = 0x04;
    } else {
      const seq = ((b[l4 + 4]! << 24) | (b[l4 + 5]! << 16) | (b[l4 + 6]! << 8) | b[l4 + 7]!) >>> 0;
      const dataLen = total - 40 - (b[l4 + 12]! >> 4) * 4;
      r.writeUInt32BE((seq + Math.max(0, dataLen) + (flags & 0x02 ? 1 : 0) + (flags & 0x01 ? 1 : 0)) >>> 0, t + 8);
      r[t + 13] = 0x14; // RST, ACK
    }
    r.writeUInt16BE(checksum6(r, FRAME_HEADER, t, r.length, TCP), t + 16);
    return r;
  }
  if (next === ICMPV6 && (total < 48 || b[l4] !== 128)) return undefined; // only an echo request gets an answer
  const quoted = Math.min(total, MIN_MTU - 48);
  const r = ipv6Frame(dst, src, ICMPV6, 8 + quoted);
  const icmp = FRAME_HEADER + 40;
  r[icmp] = 1; // destination unreachable
  r[icmp + 1] = 1; // communication with destination administratively prohibited
  r.set(b.subarray(ip, ip + quoted), icmp + 8);
  r.writeUInt16BE(checksum6(r, FRAME_HEADER, icmp, r.length, ICMPV6), icmp + 2);
  return r;
}
