/** IPv4 addresses as unsigned 32-bit numbers: enough for tunnels, routes and overlap checks. */

export interface Cidr {
  readonly addr: number;
  readonly prefix: number;
}

export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value >>> 0;
}

export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((s) => (value >>> s) & 255).join('.');
}

export function ipv4Bytes(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n" (or a bare address as /32). Host bits must be zero. */
export function parseCidr(text: string): Cidr | undefined {
  const [addrText, prefixText, extra] = text.split('/');
  if (addrText === undefined || extra !== undefined) return undefined;
  const addr = parseIPv4(addrText);
  if (addr === undefined) return undefined;
  let prefix = 32;
  if (prefixText !== undefined) {
    if (!/^\d{1,2}$/.test(prefixText)) return undefined;
    prefix = Number(prefixText);
    if (prefix > 32) return undefined;
  }
  if ((addr & ~maskOf(prefix)) >>> 0 !== 0) return undefined;
  return { addr, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.addr)}/${c.prefix}`;
}

export function cidrContains(c: Cidr, addr: number): boolean {
  return (addr & maskOf(c.prefix)) >>> 0 === c.addr;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  const m = maskOf(prefix);
  return (a.addr & m) >>> 0 === (b.addr & m) >>> 0;
}
