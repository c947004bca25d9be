import fs from 'node:fs';
import type { SshLink } from '../datapath/ssh/link.js';
import { shellQuote } from '../util/quote.js';
import { asUser, type InvokingUser } from '../util/user.js';
import type { EnvironmentConfig } from '../config/types.js';
import { IPTABLES_STATE, lowestFreeTun } from '../plan/plan.js';
import { runRemote } from '../ssh/exec.js';
import { describeRoute, unsupportedLines, type SshRoute } from '../ssh/route.js';
import { connectSsh } from '../ssh/session.js';
import { openTunChannel, TunChannelError } from '../datapath/ssh/tunChannel.js';
import { sshGFindings, type Finding } from './referee.js';
import { plain } from '../util/plain.js';

export type { Finding } from './referee.js';

/**
 * The authorized_keys line that lets this key do what cloudbridge needs and
 * little else: `restrict` (no pty, agent or X11 forwarding, port forwarding
 * or ~/.ssh/rc), `tunnel=` pinning the tun unit, and port forwarding back on
 * only where the docker socket is reached through it (direct-streamlocal).
 */
export function hardenedKeyLine(unit: number, dockerSocketMode: boolean, publicKey: string): string {
  return `restrict,${dockerSocketMode ? 'port-forwarding,' : ''}tunnel="${unit}" ${publicKey}`;
}

function publicKeyFor(files: readonly string[], user: InvokingUser): string {
  for (const f of files) {
    try {
      return asUser(user, () => fs.readFileSync(`${f}.pub`, 'utf8')).trim();
    } catch {
      // try the next
    }
  }
  return '<your public key>';
}

/** Checks the remote side's prerequisites; SSH trouble is itself a finding. */
export async function doctor(env: EnvironmentConfig, route: SshRoute, user: InvokingUser, agent: string | undefined): Promise<Finding[]> {
  const sudo = route.target.user !== 'root';
  const findings: Finding[] = [...sshGFindings(env, route, user), ...unsupportedLines(route).map((what) => ({ ok: true, what }))];
  let link: SshLink;
  try {
    link = await connectSsh(env, route, { user, agent });
  } catch (err) {
    return [{ ok: false, what: `ssh to ${describeRoute(route)}: ${(err as Error).message}`, fix: 'see the message: known_hosts, keys, or the host address' }];
  }
  findings.push({ ok: true, what: `ssh to ${describeRoute(route)}` });
  const { client } = link;
  try {
    // the path comes from the config: quoted for the remote shell like every other value
    const sock = shellQuote(env.docker.remoteSocket);
    const script = [
      'echo "uid=$(id -u)"',
      'test -c /dev/net/tun && echo tun=yes || echo tun=no',
      'command -v ip >/dev/null && echo ip=yes || echo ip=no',
      `echo "iptables=$(${IPTABLES_STATE})"`,
      'echo "links=$(ls /sys/class/net | tr "\\n" " ")"',
      `if [ -S ${sock} ]; then [ -r ${sock} ] && [ -w ${sock} ] && echo docker=ok || echo docker=denied; else echo docker=missing; fi`,
    ].join('\n');
    const facts = new Map(
      (await runRemote(client, ['sh', '-c', script], { sudo }).catch((err: Error) => `error=${err.message}`))
        .split('\n')
        .map((l) => l.split('=') as [string, string]),
    );
    if (facts.has('error')) {
      findings.push({
        ok: false,
        what: `remote commands${sudo ? ' through sudo -n' : ''}: ${facts.get('error')}`,
        fix: sudo ? `let ${route.target.user} run commands with sudo without a password, or connect as root` : 'check the remote shell',
      });
      return findings;
    }
    const uid = facts.get('uid');
    findings.push(
      uid === '0'
        ? { ok: true, what: `remote commands run as root${sudo ? ' (sudo -n)' : ''}` }
        : {
            ok: false,
            what: `remote commands run as uid ${uid}`,
            fix: 'connect as root, or give the user sudo without a password (tun devices, addresses and NAT need root or CAP_NET_ADMIN)',
          },
    );
    findings.push(
      facts.get('tun') === 'yes'
        ? { ok: true, what: 'remote /dev/net/tun' }
        : { ok: false, what: 'remote /dev/net/tun is missing', fix: 'modprobe tun (and add "tun" to /etc/modules-load.d)' },
    );
    findings.push(
      facts.get('ip') === 'yes' ? { ok: true, what: 'remote ip (iproute2)' } : { ok: false, what: 'remote ip command is missing', fix: 'install iproute2' },
    );
    if (env.nat) {
      const ipt = facts.get('iptables');
      findings.push(
        ipt === 'ok'
          ? { ok: true, what: 'remote iptables (for nat: true)' }
          : { ok: false, what: `remote iptables is ${ipt}`, fix: 'install iptables (iptables-nft is fine), or set nat: false' },
      );
    }
    if (env.docker.mode === 'socket') {
      const d = facts.get('docker');
      findings.push(
        d === 'ok'
          ? { ok: true, what: `remote docker socket ${env.docker.remoteSocket}` }
          : {
              ok: false,
              what: `remote docker socket ${env.docker.remoteSocket} is ${d}`,
              fix: d === 'missing' ? 'start dockerd, or set docker.remoteSocket' : `add ${route.target.user} to the docker group`,
            },
      );
    }
    // The only sure test of PermitTunnel is to ask for a tunnel.
    const unit = env.tunnel?.remoteUnit ?? lowestFreeTun((facts.get('links') ?? '').split(' '));
    try {
      (await openTunChannel(link, unit)).close();
      findings.push({ ok: true, what: `sshd opens tun${unit} (PermitTunnel)` });
    } catch (err) {
      const says = (err instanceof TunChannelError ? err.serverSays : undefined) ?? (err as Error).message;
      findings.push(
        err instanceof TunChannelError && err.refusedByPolicy
          ? { ok: false, what: `sshd refuses tunnels ("${says}")`, fix: 'add "PermitTunnel point-to-point" to /etc/ssh/sshd_config and reload sshd' }
          : { ok: false, what: `sshd could not open tun${unit} ("${says}")`, fix: 'the SSH user needs root (or CAP_NET_ADMIN) and /dev/net/tun' },
      );
    }
    const keyLine = hardenedKeyLine(env.tunnel?.remoteUnit ?? 0, env.docker.mode === 'socket', publicKeyFor(route.target.identityFiles, user));
    findings.push({
      ok: true,
      what: `hardening (optional): in ~${route.target.user}/.ssh/authorized_keys on ${route.target.host}, use\n       ${keyLine}\n       and set tunnel.remoteUnit: ${env.tunnel?.remoteUnit ?? 0} for ${env.name}`,
    });
  } finally {
    link.end();
  }
  return findings;
}

const lines = (text: string): string => text.split('\n').map(plain).join('\n');

export function formatFindings(findings: readonly Finding[]): string {
  return (
    findings
      // a finding may quote the remote host (its words escaped), line by line: our own fixes span lines
      .map((f) => `${f.ok ? 'ok  ' : 'FAIL'} ${lines(f.what)}${f.fix ? `\n     fix: ${lines(f.fix)}` : ''}`)
      .join('\n')
      .concat('\n')
  );
}
