import { checkEnvName } from '../util/envName.js';
import { UserError } from '../util/errors.js';
import type { InvokingUser } from '../util/user.js';

export interface ServiceSpec {
  readonly env: string;
  readonly host: string;
  /** Absolute paths: node, the CLI entry point, the config file. */
  readonly node: string;
  readonly cli: string;
  readonly config: string;
  /** Whose docker socket and files these are, as `sudo` would have said. */
  readonly user: InvokingUser;
}

/**
 * Refuses a spec with a control character in any word: a newline in the
 * host, a path or a user name would end a unit's line and start another of
 * the caller's making (ExecStartPre=, run as root), and no quoting of
 * systemd's or XML's carries one safely.
 */
function plainWords(spec: ServiceSpec): void {
  const words: [string, string][] = [
    ['environment', spec.env],
    ['host', spec.host],
    ['node', spec.node],
    ['cli', spec.cli],
    ['config', spec.config],
    ['user', spec.user.name],
  ];
  for (const [what, w] of words) {
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(w)) throw new UserError(`the service's ${what} ${JSON.stringify(w)} has a control character; refusing to write it into a unit`);
  }
  checkEnvName(spec.env);
}

export const systemdUnitName = (env: string): string => `cloudbridge-${checkEnvName(env)}.service`;
export const launchdLabel = (env: string): string => `dev.cloudbridge.${checkEnvName(env)}`;

/** systemd's quoting for ExecStart words: double quotes, with \ " and % escaped. */
function systemdWord(w: string): string {
  if (/^[A-Za-z0-9_@+=:,./-]+$/.test(w)) return w;
  return `"${w.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`;
}

function command(spec: ServiceSpec, verb: string, ...extra: string[]): string[] {
  return [spec.node, spec.cli, verb, spec.env, '--config', spec.config, ...extra];
}

/** A unit that runs the controller in the foreground and restarts it when it fails. */
export function systemdUnit(spec: ServiceSpec): string {
  plainWords(spec);
  const exec = (argv: string[]): string => argv.map(systemdWord).join(' ');
  return [
    '[Unit]',
    `Description=cloudbridge tunnel ${spec.env} (SSH to ${spec.host})`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `Environment=SUDO_USER=${spec.user.name} SUDO_UID=${spec.user.uid} SUDO_GID=${spec.user.gid}`,
    `ExecStart=${exec(command(spec, 'connect', '--foreground'))}`,
    // a controller that died hard leaves its journal: undo it before the next start
    `ExecStopPost=-${exec(command(spec, 'cleanup'))}`,
    'Restart=on-failure',
    'RestartSec=5',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=30',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The launchd equivalent: run at load, restart unless it exited cleanly. */
export function launchdPlist(spec: ServiceSpec): string {
  plainWords(spec);
  const strings = (xs: string[]): string => xs.map((x) => `    <string>${xml(x)}</string>`).join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${xml(launchdLabel(spec.env))}</string>
  <key>ProgramArguments</key>
  <array>
${strings(command(spec, 'connect', '--foreground'))}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>SUDO_USER</key>
    <string>${xml(spec.user.name)}</string>
    <key>SUDO_UID</key>
    <string>${spec.user.uid}</string>
    <key>SUDO_GID</key>
    <string>${spec.user.gid}</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>5</integer>
  <key>StandardErrorPath</key>
  <string>/var/log/cloudbridge-${xml(spec.env)}.log</string>
</dict>
</plist>
`;
}

/** The installed helper's service (docs/privsep.md): absolute node and helper paths, and the group whose members it serves. */
export interface HelperSpec {
  readonly node: string;
  readonly helper: string;
  readonly socket: string;
  readonly group: string;
}

export const HELPER_UNIT = 'cloudbridge-helper.service';
export const HELPER_LABEL = 'dev.cloudbridge.helper';

function helperCommand(spec: HelperSpec): string[] {
  // eslint-disable-next-line no-control-regex
  if ([spec.node, spec.helper, spec.socket].some((w) => /[\x00-\x1f\x7f]/.test(w)))
    throw new UserError('a path with a control character; refusing to write it into a unit');
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(spec.group)) throw new UserError(`--group ${JSON.stringify(spec.group)}: not a group name`);
  return [spec.node, spec.helper, '--listen', spec.socket, '--group', spec.group];
}

/** The helper as a systemd service: root, restarted when it fails; its sessions' changes undone when it stops. */
export function helperSystemdUnit(spec: HelperSpec): string {
  return [
    '[Unit]',
    `Description=cloudbridge helper: this host's network changes for the members of ${spec.group}`,
    'After=network.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${helperCommand(spec).map(systemdWord).join(' ')}`,
    'Restart=on-failure',
    'RestartSec=2',
    'KillSignal=SIGTERM',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The same as a launchd daemon. */
export function helperLaunchdPlist(spec: HelperSpec): string {
  const strings = helperCommand(spec)
    .map((x) => `    <string>${xml(x)}</string>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${HELPER_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${strings}
  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
  <key>StandardErrorPath</key>
  <string>/var/log/cloudbridge-helper.log</string>
</dict>
</plist>
`;
}
