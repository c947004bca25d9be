import { UserError } from '../util/errors.js';

/** What a container needs from a connected environment. */
export interface ContainerNeeds {
  /** socks5h:// URL containers on a bridge network can reach, if any. */
  readonly proxyForBridge: string | undefined;
  /** socks5h:// URL on loopback, for --network host. */
  readonly proxyForHost: string | undefined;
  /** The DNS forwarder's address on the docker bridge, if it listens there. */
  readonly dns: string | undefined;
  /** NAME -> address pairs for --add-host (remote containers). */
  readonly hosts: Readonly<Record<string, string>>;
}

/** The proxy variables, both spellings (curl reads only the lower-case http_proxy, Go reads either). */
export function proxyVars(url: string | undefined): Record<string, string | undefined> {
  const vars: Record<string, string | undefined> = {};
  for (const k of ['ALL_PROXY', 'HTTPS_PROXY', 'HTTP_PROXY']) {
    vars[k] = url;
    vars[k.toLowerCase()] = url;
  }
  const none = url === undefined ? undefined : 'localhost,127.0.0.1,::1';
  vars['NO_PROXY'] = none;
  vars['no_proxy'] = none;
  return vars;
}

const HOST_NETWORK = /^--(?:network|net)(?:=|$)/;

/**
 * `docker [global options] run|create …` with what the container needs put
 * right after `run`/`create`: proxy variables, --dns, --add-host. The user's
 * own later flags win where docker lets them (a later --env of the same name).
 */
export function dockerRunArgs(argv: readonly string[], needs: ContainerNeeds): { args: string[]; warnings: string[] } {
  const usage = 'run wraps docker run or docker create: cloudbridge run ENV -- docker run IMAGE [COMMAND…]';
  if (argv.length === 0 || !/(^|\/)docker$/.test(argv[0]!)) throw new UserError(usage);
  const sub = argv.findIndex((a, i) => i > 0 && (a === 'run' || a === 'create'));
  if (sub < 0) throw new UserError(usage);
  for (let i = 1; i < sub; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') && a !== 'container' && !isGlobalValue(argv, i)) throw new UserError(usage);
  }
  const at = sub + 1;
  const rest = argv.slice(at);
  const hostNet = rest.some((a, i) => HOST_NETWORK.test(a) && (a.endsWith('=host') || rest[i + 1] === 'host'));
  const warnings: string[] = [];
  const added: string[] = [];
  const proxy = hostNet ? needs.proxyForHost : needs.proxyForBridge;
  if (proxy) {
    for (const [k, v] of Object.entries(proxyVars(proxy))) added.push('--env', `${k}=${v}`);
  } else if (needs.proxyForHost) {
    warnings.push('socks listens on loopback only, which a container on a bridge network cannot reach: add docker0:PORT to socks.listen');
  }
  if (!hostNet && needs.dns) added.push('--dns', needs.dns);
  for (const [name, addr] of Object.entries(needs.hosts)) added.push('--add-host', `${name}:${addr}`);
  return { args: [...argv.slice(0, at), ...added, ...rest], warnings };
}

/** docker's global options that take a value (`docker -H unix:///x run …`). */
function isGlobalValue(argv: readonly string[], i: number): boolean {
  return i > 0 && /^(-H|--host|--context|-c|--config|-l|--log-level|--tlscacert|--tlscert|--tlskey)$/.test(argv[i - 1]!);
}
