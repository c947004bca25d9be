import fs from 'node:fs';
import path from 'node:path';
import { findEnvironment, loadConfig } from '../config/load.js';
import { invokingUser, movedFolder } from '../util/user.js';
import { currentPlatform, type PlatformName } from '../platform/index.js';
import {
  HELPER_LABEL,
  HELPER_UNIT,
  helperLaunchdPlist,
  helperSystemdUnit,
  launchdLabel,
  launchdPlist,
  systemdUnit,
  systemdUnitName,
} from '../service/units.js';
import { helperEntry } from '../helper/client.js';
import { runFile } from '../util/runFile.js';
import { UserError } from '../util/errors.js';
import { writeOwn } from '../util/ownFile.js';
import { cliEntry, requireRoot, type CommonArgs } from './common.js';

/** install-service and uninstall-service: a systemd unit or launchd plist that keeps an environment connected. */

function serviceDir(platform: PlatformName): string {
  // root writes the unit there: whoever runs it as root does not choose where
  const moved = movedFolder('CLOUDBRIDGE_SERVICE_DIR');
  return moved ?? (platform === 'darwin' ? '/Library/LaunchDaemons' : '/etc/systemd/system');
}

function serviceFile(platform: PlatformName, env: string): string {
  return path.join(serviceDir(platform), platform === 'darwin' ? `${launchdLabel(env)}.plist` : systemdUnitName(env));
}

export async function installService(envName: string, args: CommonArgs & { print: boolean; platform: string | undefined }): Promise<number> {
  const config = loadConfig(args.config);
  const env = findEnvironment(config, envName);
  const platform = (args.platform as PlatformName | undefined) ?? currentPlatform();
  const spec = {
    env: env.name,
    host: env.host,
    node: process.execPath,
    cli: cliEntry(),
    config: config.source,
    user: invokingUser(),
  };
  const text = platform === 'darwin' ? launchdPlist(spec) : systemdUnit(spec);
  if (args.print) {
    process.stdout.write(text);
    return 0;
  }
  requireRoot('install-service', envName);
  const file = serviceFile(platform, env.name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // root's own file: never through a link, in a folder only root writes (ownFile.ts)
  writeOwn(file, text, 0o644);
  const start = platform === 'darwin' ? `launchctl bootstrap system ${file}` : `systemctl daemon-reload && systemctl enable --now ${systemdUnitName(env.name)}`;
  process.stderr.write(`${env.name}: wrote ${file}; start it with: ${start}\n`);
  return 0;
}

export function uninstallService(envName: string, args: { platform: string | undefined }): number {
  requireRoot('uninstall-service', envName);
  const file = serviceFile((args.platform as PlatformName | undefined) ?? currentPlatform(), envName);
  if (!fs.existsSync(file)) throw new UserError(`no service installed for ${envName} (${file})`);
  fs.rmSync(file);
  process.stderr.write(`${envName}: removed ${file} (stop a running one first: systemctl disable --now, or launchctl bootout)\n`);
  return 0;
}

/** Where the helper's service file goes, and what starts it. */
function helperService(platform: PlatformName): { file: string; start: string } {
  const dir = serviceDir(platform);
  return platform === 'darwin'
    ? { file: path.join(dir, `${HELPER_LABEL}.plist`), start: `launchctl bootstrap system ${path.join(dir, `${HELPER_LABEL}.plist`)}` }
    : { file: path.join(dir, HELPER_UNIT), start: `systemctl daemon-reload && systemctl enable --now ${HELPER_UNIT}` };
}

/**
 * install-helper: the root helper as a service, for the members of a group
 * (Tailscale's operator): they then connect without sudo, each as themselves.
 */
export async function installHelper(args: { group: string; print: boolean; platform?: string | undefined }): Promise<number> {
  const platform = (args.platform as PlatformName | undefined) ?? currentPlatform();
  const spec = {
    node: process.execPath,
    helper: helperEntry(),
    socket: platform === 'darwin' ? '/var/run/cloudbridge/helper.sock' : '/run/cloudbridge/helper.sock',
    group: args.group,
  };
  const text = platform === 'darwin' ? helperLaunchdPlist(spec) : helperSystemdUnit(spec);
  if (args.print) {
    process.stdout.write(text);
    return 0;
  }
  requireRoot('install-helper');
  if (platform === 'linux' && (await runFile('getent', ['group', args.group], false)).exitCode !== 0) {
    const made = await runFile('groupadd', ['--system', args.group], false);
    if (made.exitCode !== 0) throw new UserError(`groupadd ${args.group}: ${made.stderr.trim().split('\n')[0]}`);
    process.stderr.write(`made the group ${args.group}\n`);
  }
  const { file, start } = helperService(platform);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeOwn(file, text, 0o644);
  const add = platform === 'darwin' ? `dseditgroup -o edit -a USER -t user ${args.group}` : `usermod -aG ${args.group} USER`;
  process.stderr.write(`wrote ${file}; start it with: ${start}\nthen let a user connect without sudo: ${add} (they log in again)\n`);
  return 0;
}

export function uninstallHelper(args: { platform?: string | undefined }): number {
  requireRoot('uninstall-helper');
  const { file } = helperService((args.platform as PlatformName | undefined) ?? currentPlatform());
  if (!fs.existsSync(file)) throw new UserError(`no helper installed (${file})`);
  fs.rmSync(file);
  process.stderr.write(`removed ${file} (stop a running one first: systemctl disable --now ${HELPER_UNIT}, or launchctl bootout system/${HELPER_LABEL})\n`);
  return 0;
}
