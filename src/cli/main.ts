#!/usr/bin/env node
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Argv } from 'yargs';
import type { PlatformName } from '../platform/index.js';
import { checkEnvName } from '../util/envName.js';
import { errorMessage, UserError } from '../util/errors.js';
import { packageVersion } from '../util/packageRoot.js';
import { asRoot, setCliEntry, type CommonArgs } from './common.js';
import { quickConnectArgs, quickStatusArgs } from './quick.js';
import type * as Connect from './connect.js';
import type * as EnvVars from './envVars.js';
import type * as Lifecycle from './lifecycle.js';
import { plain } from '../util/plain.js';

// Each command's code loads when that command runs: `--version`, `status`
// and `--help` parse arguments and answer without loading SSH, YAML or the
// controller (about 250 ms of module loading otherwise, paid by every run).
const lifecycle = (): Promise<typeof Lifecycle> => import('./lifecycle.js');
const USAGE = 2;
/** connect.ts, loaded when a connect runs (its imports are not --version's business). */
const connectBackground = (env: string, args: Parameters<typeof Connect.connectBackground>[1]): Promise<number> =>
  import('./connect.js').then((c) => c.connectBackground(env, args));
const envVars = (): Promise<typeof EnvVars> => import('./envVars.js');

/** `connect` without an environment: a usage error that lists the configured ones. */
function nameOne(names: Iterable<string>): never {
  const all = [...names];
  throw new UserError(
    all.length ? `name the environment to connect: cloudbridge connect ENV (configured: ${all.join(', ')})` : 'no environments are configured yet',
    USAGE,
  );
}

async function printPlan(envName: string, args: CommonArgs & { platform: string | undefined; json: boolean }): Promise<number> {
  const [{ findEnvironment, loadConfig }, { currentPlatform }, { invokingUser }, { sshRouteFor }, { dryRunPlan, formatPlan, pinPaths }] = await Promise.all([
    import('../config/load.js'),
    import('../platform/index.js'),
    import('../util/user.js'),
    import('../ssh/route.js'),
    import('./dryRun.js'),
  ]);
  const env = findEnvironment(loadConfig(args.config), envName);
  const user = invokingUser();
  const platform = (args.platform as PlatformName | undefined) ?? currentPlatform();
  const route = sshRouteFor(env, user);
  const plan = dryRunPlan(env, platform, user, route, await pinPaths(env, route, platform));
  process.stdout.write(args.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
  return 0;
}

function withConfig<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y.option('config', {
    type: 'string',
    describe: 'config file (default: $CLOUDBRIDGE_CONFIG, ~/.config/cloudbridge/config.yaml, /etc/cloudbridge/config.yaml)',
  }) as Argv<T & CommonArgs>;
}

export async function main(argv: string[]): Promise<number> {
  // `cloudbridge status --json | head`: a reader that goes away is not an error
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  // `connect ENV` with plain options starts its controller before the
  // argument parser loads (~90 ms sooner; connect.ts says why that matters)
  const quick = quickConnectArgs(argv);
  if (quick) {
    return asRoot('connect', { agent: true, config: true }, () => connectBackground(quick.env, quick.args), { helper: true });
  }
  // the two that scripts and prompts call most answer without it too (~60 ms of yargs)
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  // tab completion (completion.ts) runs on every tab press: no yargs either
  if (argv[0] === '__complete') return (await import('./completion.js')).complete(argv.slice(1));
  const quickStatus = quickStatusArgs(argv);
  if (quickStatus) return (await import('./presence.js')).status(quickStatus.env, quickStatus.json);
  const { default: yargs } = await import('yargs');
  let code = 0;
  const run = (p: Promise<number> | number): Promise<void> =>
    Promise.resolve(p).then((c) => {
      code = c;
    });
  await yargs(argv)
    .scriptName('cloudbridge')
    .usage('$0 <command>\n\nA Layer-3 VPN over SSH: an IP tunnel (tun@openssh.com, as `ssh -w`) to a remote host, its routes, and its Docker daemon.')
    .command(
      'connect [env]',
      'bring an environment up: SSH, tun devices and addresses on both ends, routes, NAT, docker endpoint',
      (y) =>
        withConfig(y)
          .positional('env', { type: 'string', describe: 'environment name from the config (without one: the names configured)' })
          .option('foreground', { type: 'boolean', default: false, describe: 'stay in the foreground (for service managers); Ctrl-C disconnects' })
          .option('force', { type: 'boolean', default: false, describe: "route even CIDRs that overlap the host's own networks" })
          .option('agent', { type: 'string', describe: 'ssh-agent socket (default: $SSH_AUTH_SOCK)' })
          .option('control-user', {
            type: 'boolean',
            default: false,
            describe: 'let the user who ran sudo query and stop the controller (the control socket is root-only otherwise)',
          })
          .option('privsep', {
            type: 'boolean',
            describe:
              'a root helper makes the network changes, everything else runs as the user who ran sudo (the default under sudo; --no-privsep: all as root)',
          })
          .option('json', { type: 'boolean', default: false, describe: 'print the status as JSON when up' })
          .option('verbose', {
            alias: 'v',
            type: 'count',
            describe:
              "-v: print a line per step even when stderr is not a terminal, and log each new flow through the tunnel (with the allow-list's verdict); -vv: also each SSH hop's handshake and every remote command with its exit and time (cloudbridge logs ENV)",
          })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print every step on both hosts, and its undo, and change nothing' })
          .option('platform', { choices: ['linux', 'darwin'], describe: "with --dry-run: plan for this platform instead of this host's" }),
      (a) => {
        const env = a.env;
        if (env === undefined) return run(import('../config/load.js').then((l) => nameOne(l.loadConfig(a.config).environments.keys())));
        if (a.dryRun) return run(printPlan(env, a));
        if (a.platform) throw new UserError('--platform only goes with --dry-run');
        return run(
          asRoot(
            'connect',
            { agent: true, config: true },
            () => (a.foreground ? lifecycle().then((l) => l.runController(env, { ...a, background: false })) : connectBackground(env, a)),
            { helper: true },
          ),
        );
      },
    )
    .command(
      'disconnect <env>',
      'take an environment down, undoing every change on both hosts',
      (y) => withConfig(y).positional('env', { type: 'string', demandOption: true }).option('as-owner', { type: 'boolean', default: false, hidden: true }),
      (a) => {
        return run(asRoot('disconnect', { config: true }, () => lifecycle().then((l) => l.disconnect(a.env, a)), { helper: true }));
      },
    )
    .command(
      'cleanup <env>',
      'undo what a crashed controller, or a reboot mid-run, left on both hosts (connect does this by itself)',
      (y) =>
        withConfig(y)
          .positional('env', { type: 'string', demandOption: true })
          .option('agent', { type: 'string', describe: 'ssh-agent socket' })
          // the second half of cleaning up after a --privsep controller, run by the first (privsep.ts)
          .option('as-owner', { type: 'boolean', default: false, hidden: true }),
      (a) => {
        return run(asRoot('cleanup', { agent: true, config: true }, () => lifecycle().then((l) => l.cleanup(a.env, a)), { helper: true }));
      },
    )
    .command(
      'status [env]',
      'show connected environments: devices, addresses, routes, traffic, uptime',
      (y) => y.positional('env', { type: 'string' }).option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
      (a) => run(import('./presence.js').then((p) => p.status(a.env, a.json))),
    )
    .command(
      'env <env>',
      'print the shell lines that point docker at the environment: eval "$(cloudbridge env ENV)"; what they replace is kept (CLOUDBRIDGE_PREV_*) and --unset puts it back',
      (y) =>
        withConfig(y)
          .positional('env', { type: 'string', demandOption: true })
          .option('shell', { choices: ['bash', 'zsh', 'fish', 'powershell'], default: 'bash', describe: 'syntax of the lines' })
          .option('proxy', {
            type: 'boolean',
            default: false,
            describe:
              "also set ALL_PROXY, HTTPS_PROXY, HTTP_PROXY (both spellings, socks5h://) to the environment's SOCKS listener, and extend NO_PROXY: every tool's web traffic, the internet's too, then goes through the remote host",
          })
          .option('unset', { type: 'boolean', default: false, describe: 'print the lines that put back what env changed (and nothing else)' }),
      (a) => run(envVars().then((e) => e.printEnv(a.env, a))),
    )
    .command(
      'exec <env> [command..]',
      'run a command with DOCKER_HOST (and with --proxy, ALL_PROXY and friends) set for the environment, in its environment only: cloudbridge exec ENV -- docker ps',
      (y) =>
        withConfig(y).positional('env', { type: 'string', demandOption: true }).positional('command', { type: 'string', array: true }).option('proxy', {
          type: 'boolean',
          default: false,
          describe:
            "also set ALL_PROXY, HTTPS_PROXY, HTTP_PROXY (both spellings, socks5h://) to the environment's SOCKS listener, and extend NO_PROXY: every tool's web traffic, the internet's too, then goes through the remote host",
        }),
      (a) => run(envVars().then((e) => e.execIn(a.env, [...(a.command ?? []), ...((a['--'] as string[] | undefined) ?? [])], a))),
    )
    .command(
      'run <env> [command..]',
      'run a container on this host that reaches the environment: cloudbridge run ENV -- docker run IMAGE …',
      (y) =>
        withConfig(y)
          .positional('env', { type: 'string', demandOption: true })
          .positional('command', { type: 'string', array: true })
          .option('print', { type: 'boolean', default: false, describe: 'print the docker command instead of running it' })
          .epilogue(
            'Adds, right after "run": the SOCKS proxy variables (socks5h://, names resolved on the remote side) when socks listens where containers reach it (docker0:PORT), --dns with the split-DNS forwarder on the docker bridge, and --add-host for the remote containers cloudbridge knows by name. The container runs on this host\'s Docker; its traffic to the routes goes through the tunnel.',
          ),
      (a) => run(envVars().then((e) => e.runContainer(a.env, [...(a.command ?? []), ...((a['--'] as string[] | undefined) ?? [])], a))),
    )
    .command(
      'use <env>',
      "make the environment your docker CLI's current context (connect creates a context named after it)",
      (y) => withConfig(y).positional('env', { type: 'string', demandOption: true }),
      (a) => run(envVars().then((e) => e.use(a.env, a))),
    )
    .command(
      'list',
      'configured environments and which are up',
      (y) => withConfig(y).option('json', { type: 'boolean', default: false }),
      (a) => run(lifecycle().then((l) => l.list(a))),
    )
    .command(
      'doctor <env>',
      "check the remote host's prerequisites (sshd PermitTunnel, root, tun, ip, iptables, docker) and say what to change",
      (y) =>
        withConfig(y)
          .positional('env', { type: 'string', demandOption: true })
          .option('agent', { type: 'string' })
          .option('json', { type: 'boolean', default: false }),
      async (a) => {
        const [{ findEnvironment, loadConfig }, { invokingUser }, { sshRouteFor }, { doctor, formatFindings }] = await Promise.all([
          import('../config/load.js'),
          import('../util/user.js'),
          import('../ssh/route.js'),
          import('./doctor.js'),
        ]);
        const env = findEnvironment(loadConfig(a.config), a.env);
        const user = invokingUser();
        const findings = await doctor(env, sshRouteFor(env, user), user, a.agent);
        process.stdout.write(a.json ? `${JSON.stringify(findings, null, 2)}\n` : formatFindings(findings));
        await run(findings.every((f) => f.ok) ? 0 : 1);
      },
    )
    .command(
      'init [env]',
      'write a commented starter config (~/.config/cloudbridge/config.yaml, or --config): the host as ssh -G resolves it, a free tunnel /30, no routes; never over one that exists',
      (y) =>
        withConfig(y)
          .positional('env', { type: 'string' })
          .option('host', { type: 'string', describe: 'the SSH host (default: the environment name, as an ssh_config alias)' }),
      (a) => run(import('./init.js').then((i) => i.init(a.env, a))),
    )
    .command(
      'config <action>',
      'config check: validate the config without connecting (exit 0 valid, 1 not) and print the environments it resolves, and which of them cannot be up at the same time; config schema: print its JSON Schema (config.schema.json, for editors)',
      (y) =>
        withConfig(y)
          .positional('action', { choices: ['check', 'schema'] as const, demandOption: true })
          .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
      (a) =>
        run(
          a.action === 'schema'
            ? import('../config/schema.js').then((s) => {
                process.stdout.write(s.schemaText());
                return 0;
              })
            : import('./configCheck.js').then((c) => c.configCheck(a)),
        ),
    )
    .command(
      'logs <env>',
      "the controller's log, kept across disconnects (the systemd journal where journald runs, else /var/log/cloudbridge/ENV.log, rotated at 1 MiB): connects, steps, reconnects with their cause and how long they took, errors",
      (y) =>
        y
          .positional('env', { type: 'string', demandOption: true })
          .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'keep printing what comes' })
          .option('since', { type: 'string', describe: 'only lines from then on: 90s, 10m, 1h, 2d, or a time' })
          .option('json', { type: 'boolean', default: false, describe: 'one JSON object a line: time, env, level, message' }),
      (a) => run(asRoot('logs', {}, () => import('./logs.js').then((l) => l.logs(a.env, a)), { helper: true })),
    )
    .command(
      'completion [shell]',
      'print the completion script for bash, zsh or fish (default: $SHELL): commands, options and environment names. bash: source <(cloudbridge completion bash) in ~/.bashrc; zsh: cloudbridge completion zsh > "${fpath[1]}/_cloudbridge"; fish: cloudbridge completion fish > ~/.config/fish/completions/cloudbridge.fish',
      (y) => y.positional('shell', { choices: ['bash', 'zsh', 'fish'] as const }),
      (a) =>
        run(
          import('./completion.js').then((c) => {
            process.stdout.write(c.completionScript(a.shell));
            return 0;
          }),
        ),
    )
    .command(
      'install-service <env>',
      'write a systemd unit (launchd plist on macOS) that keeps the environment connected, restarting on failure',
      (y) =>
        withConfig(y)
          .positional('env', { type: 'string', demandOption: true })
          .option('print', { type: 'boolean', default: false, describe: 'print it instead of writing it' })
          .option('platform', { choices: ['linux', 'darwin'], describe: "write the other OS's kind of service" }),
      (a) => {
        const install = (): Promise<number> => import('./service.js').then((s) => s.installService(a.env, a));
        return run(a.print ? install() : asRoot('install-service', { config: true }, install));
      },
    )
    .command(
      'uninstall-service <env>',
      'remove the service file written by install-service',
      (y) => y.positional('env', { type: 'string', demandOption: true }).option('platform', { choices: ['linux', 'darwin'] }),
      (a) => run(asRoot('uninstall-service', {}, () => import('./service.js').then((s) => s.uninstallService(a.env, a)))),
    )
    .command(
      'install-helper',
      "install the root helper as a service (systemd unit, launchd daemon) so that the members of a group connect without sudo, each as themselves; only this host's network changes run as root (docs/privsep.md)",
      (y) =>
        y
          .option('group', { type: 'string', default: 'cloudbridge', describe: 'whose members may use it (made when missing, Linux)' })
          .option('print', { type: 'boolean', default: false, describe: 'print the service instead of writing it' })
          .option('platform', { choices: ['linux', 'darwin'], describe: "write the other OS's kind of service" }),
      (a) => {
        const install = (): Promise<number> => import('./service.js').then((s) => s.installHelper(a));
        return run(a.print ? install() : asRoot('install-helper', {}, install));
      },
    )
    .command(
      'uninstall-helper',
      'remove the service file written by install-helper',
      (y) => y.option('platform', { choices: ['linux', 'darwin'] }),
      (a) => run(asRoot('uninstall-helper', {}, () => import('./service.js').then((s) => s.uninstallHelper(a)))),
    )
    // every command's ENV is a name before anything (a path, a unit, a journal) is made of it
    .middleware((a) => {
      if (typeof a['env'] === 'string') checkEnvName(a['env']);
    })
    .demandCommand(1, 'name a command (see --help)')
    .recommendCommands()
    .parserConfiguration({ 'populate--': true })
    .strict()
    // getopt's convention: 2 for a usage error (1 is a failure, 3 is status' "down")
    .fail((msg, err) => {
      if (err) throw err;
      throw new UserError(msg.startsWith('Did you mean') ? `unknown command "${argv[0]}": ${msg.replace('Did you mean', 'did you mean')}` : msg, USAGE);
    })
    .help()
    .alias('h', 'help')
    .version(packageVersion())
    .alias('V', 'version')
    .epilogue('Exit codes: 0 ok, 1 failure, 2 usage error, 3 (status ENV) not connected.')
    .parseAsync();
  return code;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  setCliEntry(fileURLToPath(import.meta.url));
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Sockets of a finished controller may linger briefly; do not wait on them.
      setTimeout(() => process.exit(code), 100).unref();
    },
    async (err: unknown) => {
      process.stderr.write(`cloudbridge: ${plain(errorMessage(err))}\n`);
      if (!(err instanceof UserError) && process.env['CLOUDBRIDGE_DEBUG']) console.error(err);
      process.exit(err instanceof UserError ? err.exitCode : 1);
    },
  );
}
