import dns from 'node:dns';
import { isIP } from 'node:net';

/** The addresses a host name has now, both families (a literal is its own); none when it does not resolve (the connection says so itself). */
export async function resolveAll(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    return (await dns.promises.lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return [];
  }
}
