/** Just enough of DNS (RFC 1035) to route queries by name and answer A records. */

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;

export interface Question {
  readonly id: number;
  /** Lower case, no trailing dot. */
  readonly name: string;
  readonly type: number;
  /** Offset just past the question section. */
  readonly end: number;
  /** The largest UDP answer the asker takes: its EDNS(0) OPT record's payload size (RFC 6891), else 512. */
  readonly udpSize: number;
}

/** Never more than this over UDP, whatever a client offers: DNS Flag Day 2020's size, clear of fragmentation. */
export const MAX_UDP_ANSWER = 1232;
const TYPE_OPT = 41;

/** The OPT record's payload size among the records from `o` on (`count` of them), or 512. */
function ednsSize(b: Uint8Array, o: number, count: number): number {
  for (let i = 0; i < count; i++) {
    o = skipName(b, o);
    if (o < 0 || o + 10 > b.length) return 512;
    const type = (b[o]! << 8) | b[o + 1]!;
    if (type === TYPE_OPT) return Math.min(MAX_UDP_ANSWER, Math.max(512, (b[o + 2]! << 8) | b[o + 3]!));
    o += 10 + ((b[o + 8]! << 8) | b[o + 9]!);
  }
  return 512;
}

/** The first question of a query; undefined for responses, other opcodes and anything malformed. */
export function parseQuery(b: Uint8Array): Question | undefined {
  if (b.length < 12) return undefined;
  const flags = (b[2]! << 8) | b[3]!;
  if (flags & 0x8000 || ((flags >> 11) & 0xf) !== 0) return undefined; // a response, or not QUERY
  if (((b[4]! << 8) | b[5]!) < 1) return undefined;
  const labels: string[] = [];
  let o = 12;
  for (;;) {
    if (o >= b.length) return undefined;
    const len = b[o]!;
    if (len === 0) {
      o++;
      break;
    }
    if (len > 63 || o + 1 + len > b.length) return undefined; // no compression in a question we accept
    labels.push(
      Buffer.from(b.subarray(o + 1, o + 1 + len))
        .toString('latin1')
        .toLowerCase(),
    );
    o += 1 + len;
  }
  if (o + 4 > b.length) return undefined;
  const records = ((b[6]! << 8) | b[7]!) + ((b[8]! << 8) | b[9]!) + ((b[10]! << 8) | b[11]!);
  return { id: (b[0]! << 8) | b[1]!, name: labels.join('.'), type: (b[o]! << 8) | b[o + 1]!, end: o + 4, udpSize: ednsSize(b, o + 4, records) };
}

/** Is `name` `domain` or under it? */
export function inDomain(name: string, domain: string): boolean {
  return name === domain || name.endsWith(`.${domain}`);
}

/**
 * An authoritative answer to `query`: A records for `addrs` (for an A
 * question), else no data; rcode NXDOMAIN or SERVFAIL instead when given.
 */
export function answer(query: Uint8Array, q: Question, addrs: readonly (number | bigint)[], ttl: number, rcode = 0): Buffer {
  // numbers answer A questions, bigints (IPv6) AAAA ones
  const records = rcode !== 0 ? [] : addrs.filter((a) => (q.type === TYPE_A && typeof a === 'number') || (q.type === TYPE_AAAA && typeof a === 'bigint'));
  const b = Buffer.alloc(q.end + records.reduce<number>((n, a) => n + (typeof a === 'bigint' ? 28 : 16), 0));
  Buffer.from(query.subarray(0, q.end)).copy(b);
  const rd = query[2]! & 0x01;
  b[2] = 0x80 | 0x04 | rd; // QR, AA, RD as asked
  b[3] = 0x80 | rcode; // RA
  b.writeUInt16BE(1, 4);
  b.writeUInt16BE(records.length, 6);
  b.writeUInt16BE(0, 8);
  b.writeUInt16BE(0, 10);
  let o = q.end;
  for (const a of records) {
    b.writeUInt16BE(0xc00c, o); // the name: a pointer to the question's
    b.writeUInt16BE(typeof a === 'bigint' ? TYPE_AAAA : TYPE_A, o + 2);
    b.writeUInt16BE(1, o + 4);
    b.writeUInt32BE(ttl, o + 6);
    if (typeof a === 'bigint') {
      b.writeUInt16BE(16, o + 10);
      for (let i = 0; i < 16; i++) b[o + 12 + i] = Number((a >> BigInt((15 - i) * 8)) & 0xffn);
      o += 28;
    } else {
      b.writeUInt16BE(4, o + 10);
      b.writeUInt32BE(a >>> 0, o + 12);
      o += 16;
    }
  }
  return b;
}

/**
 * A UDP answer must fit what the asker takes (512 bytes, or its EDNS(0)
 * size up to MAX_UDP_ANSWER): larger ones go out as header+question with TC
 * set, and the client asks again over TCP.
 */
export function fitUdp(response: Buffer, q: Question): Buffer {
  if (response.length <= q.udpSize) return response;
  const b = Buffer.from(response.subarray(0, q.end));
  b[2]! |= 0x02;
  b.writeUInt16BE(0, 6);
  b.writeUInt16BE(0, 8);
  b.writeUInt16BE(0, 10);
  return b;
}

/** Builds a query: for the tests, which speak DNS to the forwarder. */
export function query(id: number, name: string, type = TYPE_A): Buffer {
  const parts = name
    .split('.')
    .filter(Boolean)
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  const b = Buffer.concat([Buffer.alloc(12), ...parts, Buffer.from([0, type >> 8, type & 0xff, 0, 1])]);
  b.writeUInt16BE(id, 0);
  b[2] = 0x01; // RD
  b.writeUInt16BE(1, 4);
  return b;
}

/** The A records of a response: for the tests. */
export function aRecords(b: Uint8Array): number[] {
  const q = parseQuestionSection(b);
  if (q === undefined) return [];
  const count = (b[6]! << 8) | b[7]!;
  const out: number[] = [];
  let o = q;
  for (let i = 0; i < count && o < b.length; i++) {
    o = skipName(b, o);
    if (o < 0 || o + 10 > b.length) break;
    const type = (b[o]! << 8) | b[o + 1]!;
    const len = (b[o + 8]! << 8) | b[o + 9]!;
    if (type === TYPE_A && len === 4) out.push(((b[o + 10]! << 24) | (b[o + 11]! << 16) | (b[o + 12]! << 8) | b[o + 13]!) >>> 0);
    o += 10 + len;
  }
  return out;
}

function skipName(b: Uint8Array, o: number): number {
  while (o < b.length) {
    const len = b[o]!;
    if (len === 0) return o + 1;
    if ((len & 0xc0) === 0xc0) return o + 2;
    o += 1 + len;
  }
  return -1;
}

function parseQuestionSection(b: Uint8Array): number | undefined {
  if (b.length < 12) return undefined;
  const o = skipName(b, 12);
  return o < 0 ? undefined : o + 4;
}
