import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { UserError } from '../util/errors.js';
import type { Config, EnvironmentConfig } from './types.js';
import { validateConfig } from './validate.js';

/** The user who ran the command, looking through sudo. */
export interface InvokingUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export function invokingUser(env: NodeJS.ProcessEnv = process.env): InvokingUser {
  const sudoUid = env['SUDO_UID'];
  const sudoUser = env['SUDO_USER'];
  if (sudoUid !== undefined && sudoUser !== undefined && /^\d+$/.test(sudoUid)) {
    const passwd = lookupPasswd(sudoUser);
    if (passwd) return passwd;
  }
  const info = os.userInfo();
  return { name: info.username, uid: info.uid, gid: info.gid, home: env['HOME'] ?? info.homedir };
}

function lookupPasswd(name: string): InvokingUser | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 7) {
      return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
    }
  }
  return undefined;
}

/** Where the config comes from: --config, $CLOUDBRIDGE_CONFIG, the invoking user's, then the system's. */
export function configCandidates(explicit: string | undefined, user: InvokingUser, env = process.env): string[] {
  if (explicit) return [path.resolve(explicit)];
  const fromEnv = env['CLOUDBRIDGE_CONFIG'];
  if (fromEnv) return [path.resolve(fromEnv)];
  return [path.join(user.home, '.config/cloudbridge/config.yaml'), '/etc/cloudbridge/config.yaml'];
}

export function parseConfigText(text: string, source: string, home: string): Config {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line;
    throw new UserError(`${source}${line ? `:${line}` : ''}: not valid YAML: ${e.message.split('\n')[0]}`);
  }
  return validateConfig(doc.toJS(), { source, home });
}

export function loadConfig(explicit: string | undefined, user: InvokingUser = invokingUser()): Config {
  const candidates = configCandidates(explicit, user);
  for (const file of candidates) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && candidates.length > 1) continue;
      throw new UserError(`${file}: cannot read config: ${code ?? String(err)}`);
    }
    return parseConfigText(text, file, user.home);
  }
  throw new UserError(`no config found (looked in ${candidates.join(', ')}); pass --config FILE`);
}

export function findEnvironment(config: Config, name: string): EnvironmentConfig {
  const env = config.environments.get(name);
  if (!env) {
    const known = [...config.environments.keys()];
    throw new UserError(`unknown environment "${name}" in ${config.source} (configured: ${known.length ? known.join(', ') : 'none'})`);
  }
  return env;
}
