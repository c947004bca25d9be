import fs from 'node:fs';
import test from 'ava';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { load as parse } from 'js-yaml';
import { parseConfigText } from '../../src/config/load.js';
import { schemaText } from '../../src/config/schema.js';
import { ENVIRONMENT, keysOf } from '../../src/config/spec.js';

const ROOT = new URL('../../../', import.meta.url);
const committed = fs.readFileSync(new URL('config.schema.json', ROOT), 'utf8');
const validate = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(committed) as object);

/** Our validator's verdict: undefined when it takes the document, else its message. */
function ours(text: string): string | undefined {
  try {
    parseConfigText(text, '/c/config.yaml', '/home/dev');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

const env = (body: string): string => `environments:\n  stg:\n    host: h.example\n${body}`;
const TUNNEL = '    tunnel: { local: 10.9.0.1, remote: 10.9.0.2 }\n';

/** Every field at least once. */
const EVERYTHING = env(`    user: deploy
    port: 2222
    identityFile: [~/.ssh/id_ed25519, keys/other]
    knownHostsFile: ~/.ssh/known_hosts
    strictHostKeyChecking: accept-new
    sshConfig: ~/.ssh/config
    connectTimeout: 20
    deadAfter: 30
    onDemand: true
    idleTimeout: 600
    tunnel: { local: 10.9.0.1, remote: 10.9.0.2, mtu: auto, remoteUnit: 7, device: cb-x }
    routes: [172.31.0.0/16, { cidr: 10.50.0.0/16, mtu: 1400 }]
    exclude: [172.31.5.0/24]
    nat: true
    localMasquerade: false
    docker: { mode: socket, remoteSocket: /run/docker.sock, expose: labels, exposeAddresses: [0.0.0.0], exposeLowPorts: true, warm: false, required: true }
    dns: { domains: [vpc.internal], servers: [10.50.0.2], containers: true, all: true }
    allow: [172.31.0.0/16 tcp 443, { to: db.vpc.internal, proto: tcp, ports: 5432 }, { to: 10.50.0.0/16, proto: udp, ports: 8000-8100 }]
    forwards:
      - { listen: 127.0.0.1:5432, to: db.vpc.internal:5432, maxConnections: 10, health: { check: tcp, interval: 10, timeout: 1 } }
      - { listen: 8443, to: 10.50.0.9:80, tls: true, health: http }
      - { listen: /tmp/x.sock, to: /var/run/app.sock, tls: { cert: c.pem, key: k.pem } }
      - { listen: 127.0.0.1:5353, to: 10.50.0.2:53, protocol: udp }
    socks: { listen: [127.0.0.1:1080, 1081], username: u, password: p }
    ciphers: [chacha20-poly1305@openssh.com, aes128-gcm@openssh.com]
`);

/** What only a full tunnel takes (lan). */
const FULL = env(
  `${TUNNEL}    routes: [{ cidr: default, mtu: 1400 }]\n    exclude: [192.0.2.0/24]\n    lan: tunnel\n    onLoss: direct\n    dns: { all: false }\n`,
);

const GOOD: Record<string, string> = {
  everything: EVERYTHING,
  'full tunnel': FULL,
  'full tunnel, the short way': env(`${TUNNEL}    routes: [default]\n`),
  minimal: env(TUNNEL),
  'IPv6 only': env('    tunnel: { local6: "fd00:9::1", remote6: "fd00:9::2" }\n    routes: [default]\n'),
  'dual stack': env('    tunnel: { local: 10.9.0.1, remote: 10.9.0.2, local6: "fd00:9::1", remote6: "fd00:9::2" }\n'),
  'no tunnel, SOCKS on': env('    tunnel: false\n    socks: true\n'),
  'tcp docker': env(`${TUNNEL}    docker: { mode: tcp, host: tcp://10.9.0.2:2376 }\n`),
  'yes as a YAML 1.1 boolean': env(`${TUNNEL}    strictHostKeyChecking: no\n`),
  'a long name': `environments:\n  staging-eu-west-1:\n    host: h\n${TUNNEL}`,
};
// the complete examples in the README and the docs
const pages = [
  'README.md',
  ...fs
    .readdirSync(new URL('docs/', ROOT))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
for (const page of pages) {
  const text = fs.readFileSync(new URL(page, ROOT), 'utf8');
  for (const [i, m] of [...text.matchAll(/```yaml\n(environments:\n[\s\S]*?)```/g)].entries()) GOOD[`${page} example ${i + 1}`] = m[1]!;
}

/** Structural mistakes: both must refuse them. */
const BAD: Record<string, string> = {
  'unknown top-level key': `${env(TUNNEL)}extra: 1\n`,
  'unknown field': env(`${TUNNEL}    prot: 22\n`),
  'port out of range': env(`${TUNNEL}    port: 70000\n`),
  'port not an integer': env(`${TUNNEL}    port: 22.5\n`),
  'mtu below the minimum': env('    tunnel: { local: 10.9.0.1, remote: 10.9.0.2, mtu: 500 }\n'),
  'mtu a word': env('    tunnel: { local: 10.9.0.1, remote: 10.9.0.2, mtu: big }\n'),
  'not an address': env('    tunnel: { local: 10.9.0.300, remote: 10.9.0.2 }\n'),
  'tunnel without remote': env('    tunnel: { local: 10.9.0.1 }\n'),
  'IPv6 tunnel without remote6': env('    tunnel: { local6: "fd00:9::1" }\n'),
  'tunnel without addresses': env('    tunnel: { mtu: 1500 }\n'),
  'docker mode': env(`${TUNNEL}    docker: { mode: ssh }\n`),
  'default misspelt': env(`${TUNNEL}    routes: [defualt]\n`),
  'lan a word': env(`${TUNNEL}    routes: [default]\n    lan: all\n`),
  'exclude not a CIDR': env(`${TUNNEL}    routes: [default]\n    exclude: [lan]\n`),
  'docker unknown field': env(`${TUNNEL}    docker: { mod: socket }\n`),
  'dns servers not addresses': env(`${TUNNEL}    dns: { servers: [resolver] }\n`),
  'boolean as a string': env(`${TUNNEL}    nat: "yes"\n`),
  'route mtu field': env(`${TUNNEL}    routes: [{ cidr: 10.0.0.0/8, mtus: 1 }]\n`),
  'forward without to': env(`${TUNNEL}    forwards: [{ listen: 8080 }]\n`),
  'forward protocol': env(`${TUNNEL}    forwards: [{ listen: 8080, to: a:1, protocol: sctp }]\n`),
  'health interval 0': env(`${TUNNEL}    forwards: [{ listen: 8080, to: a:1, health: { check: tcp, interval: 0 } }]\n`),
  'allow proto': env(`${TUNNEL}    allow: [{ to: 10.0.0.0/8, proto: gre }]\n`),
  cipher: env(`${TUNNEL}    ciphers: [3des-cbc]\n`),
  'environment named default': `environments:\n  default:\n    host: h\n${TUNNEL}`,
  'environment name too long': `environments:\n  ${'x'.repeat(33)}:\n    host: h\n${TUNNEL}`,
  'no host': 'environments:\n  stg:\n    user: root\n',
  'no environments': 'other: {}\n',
};

test('config.schema.json is what spec.ts generates (npm run schema writes it)', (t) => {
  t.is(committed, schemaText());
});

test('docs/config-reference.md is what spec.ts generates, a row for every environment field', async (t) => {
  const { referenceMarkdown } = await import('../../src/config/reference.js');
  const reference = fs.readFileSync(new URL('docs/config-reference.md', ROOT), 'utf8');
  t.is(reference, referenceMarkdown());
  for (const k of keysOf(ENVIRONMENT)) t.regex(reference, new RegExp(`^\\| \`${k}\` \\|`, 'm'), k);
});

test('the schema and the validator take the same good configs', (t) => {
  t.true(
    Object.keys(GOOD).some((k) => k.includes('.md example')),
    'the README examples are found',
  );
  for (const [name, text] of Object.entries(GOOD)) {
    t.is(ours(text), undefined, name);
    t.true(validate(parse(text)), `${name}: ${JSON.stringify(validate.errors)}`);
  }
});

test('the schema and the validator refuse the same structural mistakes', (t) => {
  for (const [name, text] of Object.entries(BAD)) {
    t.not(ours(text), undefined, name);
    t.false(validate(parse(text)), name);
  }
});

test('every environment field is in the everything example (lan: in the full-tunnel one)', (t) => {
  const keys = (text: string): string[] => Object.keys((parse(text) as { environments: { stg: Record<string, unknown> } }).environments.stg);
  t.deepEqual([...new Set([...keys(EVERYTHING), ...keys(FULL)])].sort(), keysOf(ENVIRONMENT).sort());
});
