/**
 * IPv6 addresses as 128-bit bigints: enough for tunnel addresses, routes
 * and overlap checks. Text comes back in RFC 5952 form (the URL
 * serializer's, as the SOCKS server writes it).
 */

export interface Cidr6 {
  readonly addr: bigint;
  readonly prefix: number;
}

const ALL = (1n << 128n) - 1n;

export function parseIPv6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(text)) return undefined;
  let head = text;
  let tail4: number[] = [];
  // an IPv4 tail (::ffff:10.0.0.1) is two groups
  const v4 = /^(.*:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (v4) {
    const parts = v4[2]!.split('.').map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    tail4 = [(parts[0]! << 8) | parts[1]!, (parts[2]! << 8) | parts[3]!];
    head = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  if (!left || !right) return undefined;
  const given = left.length + right.length + tail4.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const all = [...left, ...Array<number>(8 - given).fill(0), ...right, ...tail4];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

export function formatIPv6(value: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

export function ipv6Bytes(value: bigint): Buffer {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = Number((value >> BigInt((15 - i) * 8)) & 0xffn);
  return b;
}

/** 16 bytes (an address in a packet or a netlink attribute) as a number; undefined for any other length. */
export function ipv6FromBytes(b: Uint8Array | undefined): bigint | undefined {
  return b?.length === 16 ? BigInt(`0x${Buffer.from(b).toString('hex')}`) : undefined;
}

const maskOf6 = (prefix: number): bigint => (prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL);

/** "fd00:1::/64" (or a bare address as /128). Host bits must be zero. */
export function parseCidr6(text: string): Cidr6 | undefined {
  const [addrText, prefixText, extra] = text.split('/');
  if (addrText === undefined || extra !== undefined) return undefined;
  const addr = parseIPv6(addrText);
  if (addr === undefined) return undefined;
  let prefix = 128;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) return undefined;
    prefix = Number(prefixText);
    if (prefix > 128) return undefined;
  }
  if ((addr & ~maskOf6(prefix) & ALL) !== 0n) return undefined;
  return { addr, prefix };
}

export function formatCidr6(c: Cidr6): string {
  return `${formatIPv6(c.addr)}/${c.prefix}`;
}

export function cidr6Contains(c: Cidr6, addr: bigint): boolean {
  return (addr & maskOf6(c.prefix)) === c.addr;
}

export function cidrs6Overlap(a: Cidr6, b: Cidr6): boolean {
  const m = maskOf6(Math.min(a.prefix, b.prefix));
  return (a.addr & m) === (b.addr & m);
}
