import dnsPacket from 'dns-packet';

/**
 * A tunnel that carries one family only must not hand out addresses of the
 * other: a client would go around the tunnel to them (or nowhere). A and
 * AAAA questions are answered empty before they leave (forwarder.ts); the
 * rest of the remote side's answers are read here, with dns-packet (a
 * well-kept codec: names, compression and EDNS are its business), and lose
 * A or AAAA records in any section (ANY, glue) and the ipv4hint/ipv6hint of
 * SVCB and HTTPS records (RFC 9460 §7.3), which browsers connect to before
 * asking AAAA. dns-packet 5.6 keeps SVCB/HTTPS as raw rdata (its
 * UNKNOWN_64/65), which RFC 9460 forbids compressing, so the hints are cut
 * from the bytes here. What cannot be read is refused, never passed on.
 */

export interface Families {
  readonly v4: boolean;
  readonly v6: boolean;
}

const SVCB = 64;
const HTTPS = 65;
const IPV4HINT = 4;
const IPV6HINT = 6;

type Rr = dnsPacket.Answer;

/** The numeric type of a record as dns-packet names it (A, AAAA, UNKNOWN_65). */
function typeCode(rr: Rr): number | string {
  const t = rr.type as string;
  const m = /^UNKNOWN_(\d+)$/.exec(t);
  return m ? Number(m[1]) : t;
}

/**
 * SVCB/HTTPS rdata without the hint of a family the tunnel does not carry;
 * undefined when the rdata is not what RFC 9460 says (the record is dropped).
 */
export function withoutHint(rdata: Uint8Array, drop: number): Uint8Array | undefined {
  if (rdata.length < 3) return undefined;
  let at = 2;
  // TargetName: uncompressed labels to the root
  for (;;) {
    if (at >= rdata.length) return undefined;
    const len = rdata[at]!;
    if (len > 63) return undefined;
    at += 1 + len;
    if (len === 0) break;
  }
  const kept: Uint8Array[] = [rdata.subarray(0, at)];
  while (at < rdata.length) {
    if (at + 4 > rdata.length) return undefined;
    const key = (rdata[at]! << 8) | rdata[at + 1]!;
    const len = (rdata[at + 2]! << 8) | rdata[at + 3]!;
    if (at + 4 + len > rdata.length) return undefined;
    if (key !== drop) kept.push(rdata.subarray(at, at + 4 + len));
    at += 4 + len;
  }
  return Buffer.concat(kept);
}

/** The records of one section that may stay, hints cut; whether anything changed. */
function filter(rrs: readonly Rr[] | undefined, carry: Families): { rrs: Rr[]; changed: boolean } {
  const out: Rr[] = [];
  let changed = false;
  for (const rr of rrs ?? []) {
    const t = typeCode(rr);
    if ((t === 'A' && !carry.v4) || (t === 'AAAA' && !carry.v6)) {
      changed = true;
      continue;
    }
    if ((t === SVCB || t === HTTPS) && !(carry.v4 && carry.v6)) {
      const data = (rr as { data: unknown }).data;
      const cut = data instanceof Uint8Array ? withoutHint(data, carry.v6 ? IPV4HINT : IPV6HINT) : undefined;
      changed = true;
      if (cut) out.push({ ...rr, data: Buffer.from(cut) } as Rr);
      continue;
    }
    out.push(rr);
  }
  return { rrs: out, changed };
}

/**
 * `response` with nothing of a family the tunnel does not carry; the same
 * buffer when nothing had to go. Throws when it cannot be read.
 */
export function keepFamilies(response: Buffer, carry: Families): Buffer {
  if (carry.v4 && carry.v6) return response;
  const p = dnsPacket.decode(response);
  const answers = filter(p.answers, carry);
  const authorities = filter(p.authorities, carry);
  const additionals = filter(p.additionals, carry);
  if (!answers.changed && !authorities.changed && !additionals.changed) return response;
  return dnsPacket.encode({ ...p, answers: answers.rrs, authorities: authorities.rrs, additionals: additionals.rrs });
}
