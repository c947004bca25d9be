/**
 * Framed packets as the tun@openssh.com channel carries them: a 4-byte
 * big-endian address family in OpenBSD numbering, then the IP packet.
 */
export const AF_INET = 2;
export const AF_INET6 = 24;
export const FRAME_HEADER = 4;

/**
 * Checks a framed packet from the network before it reaches the kernel:
 * known family, matching IP version, sane header and total length.
 * Returns undefined when it is fine, else the reason to drop it.
 */
export function checkFramed(b: Uint8Array): string | undefined {
  if (b.length < FRAME_HEADER + 20) return 'short';
  if (b[0] !== 0 || b[1] !== 0 || b[2] !== 0) return 'family';
  const family = b[3];
  const version = b[FRAME_HEADER]! >> 4;
  const ipLen = b.length - FRAME_HEADER;
  if (family === AF_INET) {
    if (version !== 4) return 'version';
    const ihl = (b[FRAME_HEADER]! & 15) * 4;
    const total = (b[FRAME_HEADER + 2]! << 8) | b[FRAME_HEADER + 3]!;
    if (ihl < 20 || total < ihl || total > ipLen) return 'length';
    return undefined;
  }
  if (family === AF_INET6) {
    if (version !== 6 || ipLen < 40) return 'version';
    const payload = (b[FRAME_HEADER + 4]! << 8) | b[FRAME_HEADER + 5]!;
    if (40 + payload > ipLen) return 'length';
    return undefined;
  }
  return 'family';
}

function checksum(b: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A framed IPv4 ICMP echo request, used to prove the tunnel passes traffic end to end. */
export function echoRequest(src: number, dst: number, id: number, seq: number, size = 45): Buffer {
  // `size`: the whole IP packet; the payload is the probe's name, then zeros
  const payload = Buffer.alloc(Math.max(0, size - 28));
  payload.write('cloudbridge-probe'.slice(0, payload.length));
  const ipLen = 20 + 8 + payload.length;
  const b = Buffer.alloc(FRAME_HEADER + ipLen);
  b.writeUInt32BE(AF_INET, 0);
  const ip = FRAME_HEADER;
  b[ip] = 0x45;
  b.writeUInt16BE(ipLen, ip + 2);
  b.writeUInt16BE(id, ip + 4);
  b[ip + 8] = 64; // TTL
  b[ip + 9] = 1; // ICMP
  b.writeUInt32BE(src >>> 0, ip + 12);
  b.writeUInt32BE(dst >>> 0, ip + 16);
  b.writeUInt16BE(checksum(b, ip, ip + 20), ip + 10);
  const icmp = ip + 20;
  b[icmp] = 8; // echo request
  b.writeUInt16BE(id, icmp + 4);
  b.writeUInt16BE(seq, icmp + 6);
  payload.copy(b, icmp + 8);
  b.writeUInt16BE(checksum(b, icmp, b.length), icmp + 2);
  return b;
}

/** Whether a framed packet is an ICMP echo reply to `echoRequest(…, id, …)` from `from`. */
export function isEchoReply(b: Uint8Array, from: number, id: number): boolean {
  if (b.length < FRAME_HEADER + 28 || b[3] !== AF_INET) return false;
  const ip = FRAME_HEADER;
  if (b[ip]! >> 4 !== 4 || b[ip + 9] !== 1) return false;
  // a large probe's reply comes in fragments: only the first holds the ICMP header
  if ((((b[ip + 6]! << 8) | b[ip + 7]!) & 0x1fff) !== 0) return false;
  const src = ((b[ip + 12]! << 24) | (b[ip + 13]! << 16) | (b[ip + 14]! << 8) | b[ip + 15]!) >>> 0;
  if (src !== from >>> 0) return false;
  const icmp = ip + (b[ip]! & 15) * 4;
  if (b.length < icmp + 8) return false;
  return b[icmp] === 0 && ((b[icmp + 4]! << 8) | b[icmp + 5]!) === id;
}

/** One's-complement update of a 16-bit checksum when a 16-bit word changes (RFC 1624, eqn. 3). */
function adjustChecksum(sum: number, oldWord: number, newWord: number): number {
  let s = (~sum & 0xffff) + (~oldWord & 0xffff) + newWord;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * The offset of the TCP header of a framed TCP packet: after IPv4's header
 * (not in a fragment other than the first), or right after IPv6's fixed one
 * (next header TCP; behind extension headers it is not looked for). -1:
 * not such a packet.
 */
function tcpAt(b: Uint8Array): number {
  const ip = FRAME_HEADER;
  if (b[3] === AF_INET6) return b.length >= ip + 60 && b[ip]! >> 4 === 6 && b[ip + 6] === 6 ? ip + 40 : -1;
  if (b.length < ip + 40 || b[3] !== AF_INET || b[ip]! >> 4 !== 4 || b[ip + 9] !== 6) return -1;
  if ((((b[ip + 6]! & 0x1f) << 8) | b[ip + 7]!) !== 0) return -1; // a fragment other than the first
  return ip + (b[ip]! & 15) * 4;
}

/**
 * Lowers the MSS option of a framed TCP SYN (or SYN-ACK), IPv4 or IPv6, to
 * `maxMss`, fixing the TCP checksum in place (the pseudo-header does not
 * change). Returns true when it changed the packet. Anything else (not TCP,
 * not SYN, fragments, no MSS option, an MSS already small enough, malformed
 * options) is left alone.
 */
export function clampMss(b: Uint8Array, maxMss: number): boolean {
  const tcp = tcpAt(b);
  if (tcp < 0) return false;
  if (b.length < tcp + 20 || (b[tcp + 13]! & 0x02) === 0) return false; // not SYN
  const end = Math.min(b.length, tcp + (b[tcp + 12]! >> 4) * 4);
  let o = tcp + 20;
  while (o < end) {
    const kind = b[o]!;
    if (kind === 0) return false; // end of options
    if (kind === 1) {
      o++;
      continue;
    }
    if (o + 1 >= end) return false;
    const len = b[o + 1]!;
    if (len < 2 || o + len > end) return false;
    if (kind === 2 && len === 4) {
      const mss = (b[o + 2]! << 8) | b[o + 3]!;
      if (mss <= maxMss) return false;
      const sum = (b[tcp + 16]! << 8) | b[tcp + 17]!;
      const fixed = adjustChecksum(sum, mss, maxMss);
      b[o + 2] = maxMss >> 8;
      b[o + 3] = maxMss & 0xff;
      b[tcp + 16] = fixed >> 8;
      b[tcp + 17] = fixed & 0xff;
      return true;
    }
    o += len;
  }
  return false;
}

/** The big-endian 32-bit number at byte `p`, unsigned. */
export function u32At(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/** The big-endian 16-bit number at byte `p`. */
export function u16At(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}

/** IPv4 source or destination of a framed packet as an unsigned number (caller checked the family). */
export function ipv4At(b: Uint8Array, offset: 12 | 16): number {
  return u32At(b, FRAME_HEADER + offset);
}

/** Is this a framed TCP packet (IPv4, or IPv6 without extension headers) with SYN set? The cheap test the data path makes before anything else. */
export function isTcpSyn(b: Uint8Array): boolean {
  if (b[3] === AF_INET6) return b.length >= FRAME_HEADER + 54 && b[FRAME_HEADER + 6] === 6 && (b[FRAME_HEADER + 53]! & 0x02) !== 0;
  const ip = FRAME_HEADER;
  if (b.length < ip + 40 || b[3] !== AF_INET || b[ip + 9] !== 6) return false;
  const tcp = ip + (b[ip]! & 15) * 4;
  return b.length >= tcp + 14 && (b[tcp + 13]! & 0x02) !== 0;
}

/** TCP/UDP pseudo-header checksum of an IPv4 segment at [l4, end). */
function l4Checksum(b: Uint8Array, ip: number, l4: number, end: number, proto: number): number {
  let sum = proto + (end - l4);
  for (let i = ip + 12; i < ip + 20; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  for (let i = l4; i < end; i += 2) sum += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A framed IPv4 header for a packet from `src` to `dst` with `payloadLen` bytes after it. */
function ipv4Frame(src: Uint8Array, dst: Uint8Array, proto: number, payloadLen: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER + 20 + payloadLen);
  b.writeUInt32BE(AF_INET, 0);
  const ip = FRAME_HEADER;
  b[ip] = 0x45;
  b.writeUInt16BE(20 + payloadLen, ip + 2);
  b[ip + 6] = 0x40; // DF
  b[ip + 8] = 64;
  b[ip + 9] = proto;
  b.set(src, ip + 12);
  b.set(dst, ip + 16);
  b.writeUInt16BE(checksum(b, ip, ip + 20), ip + 10);
  return b;
}

/**
 * The answer to a framed IPv4 packet we refuse to carry, as if from its
 * destination: a TCP RST for TCP (the connection fails at once, as a closed
 * port would), ICMP "communication administratively prohibited" for the
 * rest. Undefined for what must not be answered: RSTs, ICMP errors,
 * fragments other than the first, broken packets.
 */
export function refusal(b: Uint8Array): Buffer | undefined {
  const ip = FRAME_HEADER;
  if (b.length < ip + 20 || b[3] !== AF_INET || b[ip]! >> 4 !== 4) return undefined;
  if ((((b[ip + 6]! & 0x1f) << 8) | b[ip + 7]!) !== 0) return undefined;
  const ihl = (b[ip]! & 15) * 4;
  const total = Math.min(b.length - ip, (b[ip + 2]! << 8) | b[ip + 3]!);
  const l4 = ip + ihl;
  const proto = b[ip + 9]!;
  const src = b.subarray(ip + 12, ip + 16);
  const dst = b.subarray(ip + 16, ip + 20);
  if (proto === 6) {
    if (total < ihl + 20) return undefined;
    const flags = b[l4 + 13]!;
    if (flags & 0x04) return undefined; // never answer a RST
    const r = ipv4Frame(dst, src, 6, 20);
    const t = FRAME_HEADER + 20;
    r.set(b.subarray(l4 + 2, l4 + 4), t); // ports swapped
    r.set(b.subarray(l4, l4 + 2), t + 2);
    const seq = ((b[l4 + 4]! << 24) | (b[l4 + 5]! << 16) | (b[l4 + 6]! << 8) | b[l4 + 7]!) >>> 0;
    r[t + 12] = 5 << 4;
    if (flags & 0x10) {
      r.set(b.subarray(l4 + 8, l4 + 12), t + 4); // seq = their ack
      r[t + 13] = 0x04;
    } else {
      const dataLen = total - ihl - (b[l4 + 12]! >> 4) * 4;
      const ack = (seq + Math.max(0, dataLen) + (flags & 0x02 ? 1 : 0) + (flags & 0x01 ? 1 : 0)) >>> 0;
      r.writeUInt32BE(ack, t + 8);
      r[t + 13] = 0x14; // RST, ACK
    }
    r.writeUInt16BE(l4Checksum(r, FRAME_HEADER, t, r.length, 6), t + 16);
    return r;
  }
  if (proto === 1 && (total < ihl + 8 || ![0, 8, 13, 15, 17].includes(b[l4]!))) return undefined; // errors and odd types
  const quoted = Math.min(total, ihl + 8);
  const r = ipv4Frame(dst, src, 1, 8 + quoted);
  const icmp = FRAME_HEADER + 20;
  r[icmp] = 3; // destination unreachable
  r[icmp + 1] = 13; // communication administratively prohibited
  r.set(b.subarray(ip, ip + quoted), icmp + 8);
  r.writeUInt16BE(checksum(r, icmp, r.length), icmp + 2);
  return r;
}

/**
 * The payload of a framed IPv4 UDP datagram to `dst`:`port` (unfragmented),
 * with the sender's address and port; undefined for anything else. The
 * payload is a copy: the packet's buffer is reused.
 */
export function udpTo(b: Uint8Array, dst: number, port: number): { src: number; sport: number; payload: Buffer } | undefined {
  const ip = FRAME_HEADER;
  if (b.length < ip + 28 || b[3] !== AF_INET || b[ip + 9] !== 17) return undefined;
  if ((((b[ip + 6]! & 0x3f) << 8) | b[ip + 7]!) !== 0) return undefined; // a fragment (MF set or an offset)
  const l4 = ip + (b[ip]! & 15) * 4;
  if (b.length < l4 + 8 || ipv4At(b, 16) !== dst >>> 0 || ((b[l4 + 2]! << 8) | b[l4 + 3]!) !== port) return undefined;
  const udpLen = (b[l4 + 4]! << 8) | b[l4 + 5]!;
  if (udpLen < 8 || l4 + udpLen > b.length) return undefined;
  return { src: ipv4At(b, 12), sport: (b[l4]! << 8) | b[l4 + 1]!, payload: Buffer.from(b.subarray(l4 + 8, l4 + udpLen)) };
}

/** A framed IPv4 UDP datagram, checksummed. */
export function udpDatagram(src: number, sport: number, dst: number, dport: number, payload: Uint8Array): Buffer {
  const s = Buffer.alloc(4);
  s.writeUInt32BE(src >>> 0);
  const d = Buffer.alloc(4);
  d.writeUInt32BE(dst >>> 0);
  const b = ipv4Frame(s, d, 17, 8 + payload.length);
  const u = FRAME_HEADER + 20;
  b.writeUInt16BE(sport, u);
  b.writeUInt16BE(dport, u + 2);
  b.writeUInt16BE(8 + payload.length, u + 4);
  b.set(payload, u + 8);
  b.writeUInt16BE(l4Checksum(b, FRAME_HEADER, u, b.length, 17) || 0xffff, u + 6);
  return b;
}

/** Whether the 16 bytes at `b[at]` (an IPv6 address) lie in the network `net`/`prefix`: compared in place, nothing made. */
export function inPrefix6(b: Uint8Array, at: number, net: Uint8Array, prefix: number): boolean {
  let bits = prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((b[at + i]! & mask) !== net[i]) return false;
  }
  return true;
}
