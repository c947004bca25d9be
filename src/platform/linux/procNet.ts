import fs from 'node:fs';
import { formatIPv4 } from '../../config/ipv4.js';
import { formatIPv6 } from '../../config/ipv6.js';
import { processTree } from '../processTree.js';

/** An established TCP connection from /proc/net/tcp or tcp6 (IPv4-mapped addresses as IPv4). */
export interface ProcTcp {
  readonly inode: number;
  readonly remote: string;
}

const ESTABLISHED = '01';

/**
 * /proc/PID/net/tcp and tcp6: the remote IPv4 address of each established
 * connection, by socket inode. Addresses are the kernel's words in host
 * order (little-endian on x86 and arm64); an IPv6 one counts only when it
 * is IPv4-mapped (::ffff:a.b.c.d), whose last word holds the address.
 */
export function parseProcNetTcp(text: string): ProcTcp[] {
  const out: ProcTcp[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== ESTABLISHED) continue;
    const [hex] = f[2]!.split(':');
    const words = hex!.match(/.{8}/g) ?? [];
    const v4 = hex!.length === 8 ? words[0] : hex!.length === 32 && /^0{16}FFFF0000$/i.test(hex!.slice(0, 24)) ? words[3] : undefined;
    if (v4) out.push({ inode: Number(f[9]), remote: formatIPv4(Buffer.from(v4, 'hex').readUInt32LE(0)) });
    else if (hex!.length === 32) {
      // four 32-bit words, each in host order (little-endian here)
      const be = words.map((w) => Buffer.from(w, 'hex').readUInt32LE(0).toString(16).padStart(8, '0')).join('');
      out.push({ inode: Number(f[9]), remote: formatIPv6(BigInt(`0x${be}`)) });
    }
  }
  return out;
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Every process's (pid, parent pid), from /proc/PID/stat. */
function* procParents(): Generator<[number, number]> {
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    // the parent is the field after the command, which may itself hold spaces and parentheses
    const stat = read(`/proc/${name}/stat`);
    yield [Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])];
  }
}

/** The remote addresses of the established TCP connections the process tree under `pid` holds. */
export function tcpPeersOfTree(pid: number): string[] {
  const inodes = new Set<number>();
  const tree = processTree(procParents(), pid);
  for (const p of tree) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${p}/fd/${fd}`));
        if (m) inodes.add(Number(m[1]));
      } catch {
        // closed meanwhile
      }
    }
  }
  const conns = [...parseProcNetTcp(read(`/proc/${pid}/net/tcp`)), ...parseProcNetTcp(read(`/proc/${pid}/net/tcp6`))];
  return [...new Set(conns.filter((c) => inodes.has(c.inode)).map((c) => c.remote))];
}
