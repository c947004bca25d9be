import { AF_INET } from '../../src/datapath/packet.js';

export interface Ends {
  readonly src?: number;
  readonly dst?: number;
  readonly sport?: number;
  readonly dport?: number;
  readonly seq?: number;
  readonly ack?: number;
}

/** A framed IPv4 TCP segment with the given flags and options and a correct checksum. */
export function tcpSegment(flags: number, options: number[], payload = 0, ends: Ends = {}): Buffer {
  const optLen = Math.ceil(options.length / 4) * 4;
  const tcpLen = 20 + optLen + payload;
  const b = Buffer.alloc(4 + 20 + tcpLen);
  b.writeUInt32BE(AF_INET, 0);
  b[4] = 0x45;
  b.writeUInt16BE(20 + tcpLen, 6);
  b[4 + 9] = 6;
  b.writeUInt32BE(ends.src ?? 0x0a000001, 4 + 12);
  b.writeUInt32BE(ends.dst ?? 0x0a090002, 4 + 16);
  b.writeUInt16BE(ipChecksum(b.subarray(4, 24)), 4 + 10);
  const t = 24;
  b.writeUInt16BE(ends.sport ?? 40000, t);
  b.writeUInt16BE(ends.dport ?? 443, t + 2);
  b.writeUInt32BE(ends.seq ?? 0, t + 4);
  b.writeUInt32BE(ends.ack ?? 0, t + 8);
  b[t + 12] = ((20 + optLen) / 4) << 4;
  b[t + 13] = flags;
  options.forEach((v, i) => (b[t + 20 + i] = v));
  b.writeUInt16BE(tcpChecksum(b), t + 16);
  return b;
}

/** The TCP checksum a framed IPv4 segment (20-byte IP header) should carry. */
export function tcpChecksum(b: Buffer): number {
  const t = 24;
  const len = b.length - t;
  let sum = 0;
  const add = (w: number): void => {
    sum += w;
  };
  add(b.readUInt16BE(4 + 12));
  add(b.readUInt16BE(4 + 14));
  add(b.readUInt16BE(4 + 16));
  add(b.readUInt16BE(4 + 18));
  add(6);
  add(len);
  for (let i = 0; i < len; i += 2) if (i !== 16) add((b[t + i]! << 8) | (i + 1 < len ? b[t + i + 1]! : 0));
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** One's-complement sum of a region that carries its own checksum: 0 when that checksum is right. */
export function ipChecksum(region: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < region.length; i += 2) sum += (region[i]! << 8) | (i + 1 < region.length ? region[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A framed IPv4 UDP datagram (checksum 0, which IPv4 allows). */
export function udpDatagram(src: number, dst: number, sport: number, dport: number, payload = 8): Buffer {
  const b = Buffer.alloc(4 + 20 + 8 + payload);
  b.writeUInt32BE(AF_INET, 0);
  b[4] = 0x45;
  b.writeUInt16BE(28 + payload, 6);
  b[4 + 8] = 64;
  b[4 + 9] = 17;
  b.writeUInt32BE(src, 4 + 12);
  b.writeUInt32BE(dst, 4 + 16);
  b.writeUInt16BE(ipChecksum(b.subarray(4, 24)), 4 + 10);
  b.writeUInt16BE(sport, 24);
  b.writeUInt16BE(dport, 26);
  b.writeUInt16BE(8 + payload, 28);
  return b;
}
