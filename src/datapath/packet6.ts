import { AF_INET6, FRAME_HEADER, inPrefix6 } from './packet.js';

/**
 * IPv6's half of the packets JavaScript builds and reads (packet.ts has
 * IPv4's): the allow-list's refusals, the echo probes, the in-tunnel DNS.
 * Apart because the headers and checksums differ throughout.
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

const UDP = 17;
const FRAGMENT = 44;

/** Whether the 16 bytes at `b[at]` equal `addr`: the address as a /128. */
const sameAddr = (b: Uint8Array, at: number, addr: Uint8Array): boolean => inPrefix6(b, at, addr, 128);

/** A framed ICMPv6 echo request of `size` bytes in all (IPv6 header included): the probe of pingPeer and of mtu: auto over IPv6. */
export function echoRequest6(src: Uint8Array, dst: Uint8Array, id: number, seq: number, size = 65): Buffer {
  const payload = Math.max(8, size - 40);
  const b = ipv6Frame(src, dst, ICMPV6, payload);
  const icmp = FRAME_HEADER + 40;
  b[icmp] = 128; // echo request
  b.writeUInt16BE(id, icmp + 4);
  b.writeUInt16BE(seq, icmp + 6);
  b.write('cloudbridge-probe'.slice(0, payload - 8), icmp + 8);
  b.writeUInt16BE(checksum6(b, FRAME_HEADER, icmp, b.length, ICMPV6), icmp + 2);
  return b;
}

/**
 * Whether a framed packet is an ICMPv6 echo reply to `echoRequest6(…, id, …)`
 * from `from`. A reply larger than the remote MTU comes in fragments (the
 * remote kernel fragments what it sends, RFC 8200 5): the first one, behind
 * its fragment header, holds the ICMPv6 header.
 */
export function isEchoReply6(b: Uint8Array, from: Uint8Array, id: number): boolean {
  const ip = FRAME_HEADER;
  if (b.length < ip + 48 || b[3] !== AF_INET6 || b[ip]! >> 4 !== 6 || !sameAddr(b, ip + 8, from)) return false;
  let icmp = ip + 40;
  if (b[ip + 6] === FRAGMENT) {
    if (b[icmp] !== ICMPV6 || (((b[icmp + 2]! << 8) | b[icmp + 3]!) & 0xfff8) !== 0) return false;
    icmp += 8;
  } else if (b[ip + 6] !== ICMPV6) return false;
  return b.length >= icmp + 8 && b[icmp] === 129 && ((b[icmp + 4]! << 8) | b[icmp + 5]!) === id;
}

/**
 * The payload of a framed IPv6 UDP datagram to `dst`:`port` (UDP right after
 * the fixed header, so never a fragment), with the sender; undefined for
 * anything else. The payload is a copy: the packet's buffer is reused.
 */
export function udpTo6(b: Uint8Array, dst: Uint8Array, port: number): { src: Buffer; sport: number; payload: Buffer } | undefined {
  const ip = FRAME_HEADER;
  const l4 = ip + 40;
  if (b.length < l4 + 8 || b[3] !== AF_INET6 || b[ip]! >> 4 !== 6 || b[ip + 6] !== UDP) return undefined;
  if (!sameAddr(b, ip + 24, dst) || ((b[l4 + 2]! << 8) | b[l4 + 3]!) !== port) return undefined;
  const udpLen = (b[l4 + 4]! << 8) | b[l4 + 5]!;
  if (udpLen < 8 || l4 + udpLen > b.length) return undefined;
  return { src: Buffer.from(b.subarray(ip + 8, ip + 24)), sport: (b[l4]! << 8) | b[l4 + 1]!, payload: Buffer.from(b.subarray(l4 + 8, l4 + udpLen)) };
}

/** A framed IPv6 UDP datagram, checksummed (mandatory over IPv6, RFC 8200 8.1). */
export function udpDatagram6(src: Uint8Array, sport: number, dst: Uint8Array, dport: number, payload: Uint8Array): Buffer {
  const b = ipv6Frame(src, dst, UDP, 8 + payload.length);
  const u = FRAME_HEADER + 40;
  b.writeUInt16BE(sport, u);
  b.writeUInt16BE(dport, u + 2);
  b.writeUInt16BE(8 + payload.length, u + 4);
  b.set(payload, u + 8);
  b.writeUInt16BE(checksum6(b, FRAME_HEADER, u, b.length, UDP) || 0xffff, u + 6);
  return b;
}
