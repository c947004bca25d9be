import fs from 'node:fs';
import path from 'node:path';
import { findEnvironment, loadConfig } from '../config/load.js';
import { invokingUser, movedFolder } from '../util/user.js';
import { currentPlatform, type PlatformName } from '../platform/index.js';
import { launchdLabel, launchdPlist, systemdUnit, systemdUnitName } from '../service/units.js';
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
