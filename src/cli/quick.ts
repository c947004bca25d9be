import { ENV_NAME } from '../util/envName.js';
import type { CommonArgs } from './common.js';

/**
 * The two command lines parsed here before the argument parser loads (~60
 * ms of yargs): `connect ENV` with plain options, whose controller then
 * starts sooner (connect.ts), and `status [ENV] [--json]`. Nothing heavy is
 * imported: `--version` and `status` answer with this module alone.
 */

/** What `connect` passes on to the background controller (background.ts). */
export interface BackgroundArgs extends CommonArgs {
  force: boolean;
  agent?: string | undefined;
  /** -v: progress on stderr anywhere and each new flow in the log; -vv: also SSH handshakes and remote commands. */
  verbose: number;
  controlUser: boolean;
  /**
   * Root only for the helper; the controller runs as the user who ran sudo
   * (docs/privsep.md). Unset: on under sudo for a user, off otherwise.
   */
  privsep?: boolean | undefined;
  /** When the `connect` command started (epoch ms, util/phases.ts): the origin of the controller's phases. */
  startedAt?: number | undefined;
}

/**
 * `connect ENV` followed only by options this knows, parsed as yargs parses
 * them (the main parser stays the reference: test/unit/cli.test.ts holds the
 * two to the same answers); undefined for anything else (--help, --dry-run,
 * --foreground, a typo), which then goes through yargs.
 */
export function quickConnectArgs(argv: readonly string[]): { env: string; args: BackgroundArgs & { json: boolean } } | undefined {
  const [cmd, env, ...rest] = argv;
  if (cmd !== 'connect' || !env || !ENV_NAME.test(env)) return undefined;
  const args = {
    config: undefined as string | undefined,
    force: false,
    agent: undefined as string | undefined,
    verbose: 0,
    controlUser: false,
    privsep: undefined as boolean | undefined,
    json: false,
  };
  const flags: Record<string, 'force' | 'controlUser' | 'privsep' | 'json'> = {
    '--force': 'force',
    '--control-user': 'controlUser',
    '--privsep': 'privsep',
    '--json': 'json',
  };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const flag = flags[a];
    const value = rest[i + 1];
    // yargs' count: -v, -vv and --verbose add up
    const v = a === '--verbose' ? 1 : /^-v+$/.test(a) ? a.length - 1 : 0;
    if (v) args.verbose += v;
    else if (flag) args[flag] = true;
    else if (a === '--no-privsep') args.privsep = false;
    else if ((a === '--config' || a === '--agent') && value && !value.startsWith('-')) {
      args[a === '--config' ? 'config' : 'agent'] = value;
      i++;
    } else return undefined;
  }
  return { env, args };
}

/** `status [ENV] [--json]`, the same way: undefined for anything else. */
export function quickStatusArgs(argv: readonly string[]): { env: string | undefined; json: boolean } | undefined {
  const [cmd, ...rest] = argv;
  if (cmd !== 'status') return undefined;
  const json = rest.includes('--json');
  const names = rest.filter((a) => a !== '--json');
  if (names.length > 1 || (names[0] !== undefined && !ENV_NAME.test(names[0])) || rest.filter((a) => a === '--json').length > 1) return undefined;
  return { env: names[0], json };
}
