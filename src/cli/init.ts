import fs from 'node:fs';
import path from 'node:path';
import { cidrsOverlap, formatIPv4, parseCidr, type Cidr } from '../config/ipv4.js';
import { configCandidates } from '../config/load.js';
import { currentPlatform, localNet } from '../platform/index.js';
import { ENV_NAME, ENV_NAME_RULE, RESERVED_NAMES } from '../config/names.js';
import { UserError } from '../util/errors.js';
import { packageRoot } from '../util/packageRoot.js';
import { asUser, invokingUser } from '../util/user.js';
import { sshG } from './referee.js';

/** This host's networks, its interfaces' and its routes', as connect's own preflight reads them (platform/). */
async function hostNetworks(): Promise<Cidr[]> {
  const net = await localNet(currentPlatform());
  try {
    return [...(await net.interfaceNetworks()), ...(await net.routes())].flatMap((r) => parseCidr(r.cidr) ?? []);
  } finally {
    net.close();
  }
}

/** The first 10.99.N.0/30 (then 10.98…) that overlaps nothing of this host's. */
export function freeTunnel(taken: readonly Cidr[]): { local: string; remote: string } {
  for (const second of [99, 98, 97, 96]) {
    for (let n = 0; n < 256; n++) {
      const net = parseCidr(`10.${second}.${n}.0/30`)!;
      if (!taken.some((c) => cidrsOverlap(c, net))) return { local: formatIPv4(net.addr + 1), remote: formatIPv4(net.addr + 2) };
    }
  }
  throw new UserError('no free /30 in 10.96-99.x.x on this host: write the tunnel addresses yourself');
}

/** `cloudbridge init [ENV] [--host HOST]`: a commented starter config, written as the user and never over one that exists. */
export async function init(envName: string | undefined, args: { host: string | undefined; config: string | undefined }): Promise<number> {
  const user = invokingUser();
  const file = configCandidates(args.config, user)[0]!;
  const host = args.host ?? envName;
  if (!host) throw new UserError('name the host: cloudbridge init ENV --host HOST (an ssh_config alias works)', 2);
  const name =
    envName ??
    (host
      .split('.')[0]!
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, '-')
      .slice(0, 12) ||
      'staging');
  if (!ENV_NAME.test(name) || RESERVED_NAMES.includes(name)) throw new UserError(`"${name}" cannot name an environment: ${ENV_NAME_RULE}, not "default"`, 2);
  // what ssh itself makes of the host, as the user, for the comment (connect reads ssh_config the same way)
  const g = sshG([host], user);
  const said = new Map(g instanceof Map ? [...g].map(([k, v]) => [k, v[0]] as const) : []);
  const sshLine =
    said.size > 1
      ? [`    # ssh -G ${host}: user ${said.get('user')}, hostname ${said.get('hostname')}, port ${said.get('port')} (your ssh_config applies at connect)`]
      : [];
  const t = freeTunnel(await hostNetworks());
  const text = [
    `# cloudbridge config, written by \`cloudbridge init\` on ${new Date().toISOString().slice(0, 10)}.`,
    "# Check it with `cloudbridge config check`; the README's Configuration section lists every field,",
    '# and editors with the YAML language server complete and check them from the schema:',
    `# yaml-language-server: $schema=${path.join(packageRoot(), 'config.schema.json')}`,
    'environments:',
    `  ${name}:`,
    ...sshLine,
    `    host: ${host}`,
    "    # the connection's own point-to-point addresses: a /30 nothing on this host uses",
    `    tunnel: { local: ${t.local}, remote: ${t.remote} }`,
    `    # networks behind ${host} to reach through the tunnel, e.g. [10.20.0.0/16]`,
    '    routes: []',
    '    # the remote Docker daemon: socket (through SSH, the default), tcp, or off',
    '    docker: { mode: socket }',
    '',
  ].join('\n');
  try {
    asUser(user, () => {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      // 'wx': never over a config that exists, and never through a link
      fs.writeFileSync(file, text, { flag: 'wx', mode: 0o600 });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UserError(`${file} exists already: init never writes over a config (cloudbridge config check reads it)`);
    throw new UserError(`cannot write ${file}: ${code ?? (err as Error).message}`);
  }
  process.stderr.write(`wrote ${file} (environment ${name}); then: cloudbridge config check, cloudbridge connect ${name}\n`);
  return 0;
}
