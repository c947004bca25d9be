import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { findEnvironment, parseConfigText } from '../../src/config/load.js';
import { hopReadings, sshG, sshGFindings } from '../../src/cli/referee.js';
import { sshRouteFor } from '../../src/ssh/route.js';
import { lookupUser, type InvokingUser } from '../../src/util/user.js';
import { CORPUS } from './sshCorpus.js';

/**
 * What ssh -G prints that connect uses: held field by field by the referee
 * (src/cli/referee.ts), or read on the way there (canonicalisation,
 * BatchMode's ServerAliveInterval, the host name given).
 */
const USED = new Set(
  (
    'host hostname port user proxycommand proxyjump identitiesonly identityfile certificatefile connecttimeout userknownhostsfile ' +
    'globalknownhostsfile stricthostkeychecking serveraliveinterval serveralivecountmax ciphers kexalgorithms hostkeyalgorithms macs ' +
    'identityagent hashknownhosts pubkeyacceptedalgorithms canonicalizehostname canonicaldomains canonicalizemaxdots canonicalizefallbacklocal batchmode'
  ).split(' '),
);

/** What cloudbridge names at connect when set (sshConfig.ts's unsupportedOptions): ssh -G's keyword → the name it says. */
const NAMED: Record<string, string> = {
  controlmaster: 'ControlMaster',
  hostkeyalias: 'HostKeyAlias',
  localforward: 'LocalForward',
  remoteforward: 'RemoteForward',
  dynamicforward: 'DynamicForward',
  proxyusefdpass: 'ProxyUseFdpass',
  addressfamily: 'AddressFamily',
  connectionattempts: 'ConnectionAttempts',
  nohostauthenticationforlocalhost: 'NoHostAuthenticationForLocalhost',
  bindaddress: 'BindAddress',
  verifyhostkeydns: 'VerifyHostKeyDNS',
};

/**
 * What ssh applies and a tunnel has no use for, each with why: cloudbridge
 * opens no terminal session, runs no user command remotely, forwards nothing
 * of ssh's own, and authenticates by public key and certificate only.
 */
const NOTHING_TO_DO: Record<string, string> = {
  sendenv: 'no session environment: only cloudbridge’s own remote commands run',
  setenv: 'no session environment: only cloudbridge’s own remote commands run',
  forwardagent: 'no remote session to forward the agent to',
  forwardx11: 'no X11',
  requesttty: 'no terminal session',
  loglevel: 'cloudbridge keeps its own log (-v, -vv)',
  visualhostkey: 'display only',
  escapechar: 'no terminal session',
  updatehostkeys: 'host keys are never learnt from the server',
  addkeystoagent: 'keys are never added to the agent',
  tcpkeepalive: 'liveness is ServerAlive*/deadAfter',
  compression: 'never compressed (the tunnel carries packets)',
  controlpath: 'no ControlMaster (named when set)',
  controlpersist: 'no ControlMaster (named when set)',
  gssapiauthentication: 'public keys and certificates only (Debian sets it in /etc/ssh/ssh_config)',
  preferredauthentications: 'public keys and certificates only',
  passwordauthentication: 'public keys and certificates only',
};

const root = process.geteuid?.() === 0;
const NAME = 'cbcorpus';

(root ? test.serial : test.skip)('ssh_config corpus: every hop of every tree as ssh -G reads it, and nothing ssh applies left unread or unnamed', (t) => {
  execFileSync('sh', ['-c', `userdel ${NAME} 2>/dev/null; true`]);
  const home = fs.mkdtempSync('/tmp/cb-corpus-');
  fs.chmodSync(home, 0o755);
  execFileSync('useradd', ['-M', '-d', home, '-s', '/bin/sh', NAME]);
  try {
    const user = lookupUser(NAME) as InvokingUser;
    const defaults = sshG(['-F', 'none', 'referee.invalid'], user) as Map<string, string[]>;
    const mismatches: string[] = [];
    let hops = 0;
    for (const tree of CORPUS) {
      // the tree alone in the home, the user's as ssh insists
      for (const e of fs.readdirSync(home)) fs.rmSync(path.join(home, e), { recursive: true, force: true });
      for (const [file, text] of Object.entries(tree.files)) {
        const where = path.join(home, file);
        fs.mkdirSync(path.dirname(where), { recursive: true, mode: 0o700 });
        fs.writeFileSync(where, text.replaceAll('@HOME@', home), { mode: 0o600 });
      }
      execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, home]);
      for (const host of tree.hosts) {
        const at = `${tree.name}: ${host}`;
        const [givenUser, name] = host.includes('@') ? host.split('@') : [undefined, host];
        const yaml = `environments:\n  t:\n    host: ${name}\n${givenUser ? `    user: ${givenUser}\n` : ''}    tunnel: false\n`;
        const env = findEnvironment(parseConfigText(yaml, path.join(home, 'c.yaml'), home), 't');
        let route;
        try {
          route = sshRouteFor(env, user);
        } catch (err) {
          // refused: only where ssh refuses too
          if (sshG([name!], user) instanceof Map) mismatches.push(`${at}: cloudbridge refuses (${(err as Error).message}), ssh reads it`);
          continue;
        }
        const readings = hopReadings(env, route, user);
        for (const f of sshGFindings(env, route, user, readings)) if (!f.ok) mismatches.push(`${at}: ${f.what}`);
        for (const { hop, g } of readings) {
          hops++;
          if (!(g instanceof Map)) continue;
          for (const [key, value] of g) {
            if (USED.has(key) || NOTHING_TO_DO[key] || value.join('\n') === (defaults.get(key) ?? []).join('\n')) continue;
            const named = NAMED[key];
            if (named && hop.unsupported.some((u) => u.startsWith(`${named} `))) continue;
            mismatches.push(`${at}: hop ${hop.name}: ssh applies ${key} ${value.join(' ')}; cloudbridge neither reads nor names it`);
          }
        }
      }
    }
    t.log(`${CORPUS.length} trees, ${hops} hops held against ssh -G`);
    t.true(CORPUS.length >= 50);
    t.deepEqual(mismatches, []);
  } finally {
    execFileSync('userdel', [NAME]);
    fs.rmSync(home, { recursive: true, force: true });
  }
});
