import fs from 'node:fs';
import path from 'node:path';
import { CORE_SCHEMA, loadAll, YAMLException } from 'js-yaml';
import { UserError } from '../util/errors.js';
import { asUser, invokingUser, type InvokingUser } from '../util/user.js';
import type { Config, EnvironmentConfig } from './types.js';
import { validateConfig } from './validate.js';

/** Where the config comes from: --config, $CLOUDBRIDGE_CONFIG, the invoking user's, then the system's. */
export function configCandidates(explicit: string | undefined, user: InvokingUser, env = process.env): string[] {
  if (explicit) return [path.resolve(explicit)];
  const fromEnv = env['CLOUDBRIDGE_CONFIG'];
  if (fromEnv) return [path.resolve(fromEnv)];
  return [path.join(user.home, '.config/cloudbridge/config.yaml'), '/etc/cloudbridge/config.yaml'];
}

/**
 * js-yaml, not the `yaml` package: its load is ~9 ms here against ~32 ms,
 * on the path of every connect (the controller reads the config). Both read
 * YAML 1.2's core schema (js-yaml 5's default: `on`, `yes` and dates stay
 * strings) and refuse a key given twice.
 */
export function parseConfigText(text: string, source: string, home: string): Config {
  let docs: unknown[];
  try {
    docs = loadAll(text, { filename: source, schema: CORE_SCHEMA });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    const at = err.mark ? `:${err.mark.line + 1}:${err.mark.column + 1}` : '';
    throw new UserError(`${source}${at}: not valid YAML: ${err.reason}`);
  }
  if (docs.length > 1) throw new UserError(`${source}: not valid YAML: one document only, found ${docs.length}`);
  return validateConfig(docs[0] ?? null, { source, home });
}

export function loadConfig(explicit: string | undefined, user: InvokingUser = invokingUser()): Config {
  const candidates = configCandidates(explicit, user);
  for (const file of candidates) {
    let read: { text: string; st: fs.Stats };
    try {
      // with the user's rights: --config or $CLOUDBRIDGE_CONFIG may name any file
      read = asUser(user, () => {
        const fd = fs.openSync(file, 'r');
        try {
          return { st: fs.fstatSync(fd), text: fs.readFileSync(fd, 'utf8') };
        } finally {
          fs.closeSync(fd);
        }
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && candidates.length > 1) continue;
      throw new UserError(`${file}: cannot read config: ${code ?? String(err)}`);
    }
    const bad = badOwnerOrMode(read.st, user);
    if (bad) throw new UserError(`${file}: bad owner or permissions (${bad}): the config must belong to ${user.name} or root and be writable by no one else`);
    return parseConfigText(read.text, file, user.home);
  }
  throw new UserError(`no config found (looked in ${candidates.join(', ')}); pass --config FILE`);
}

/**
 * OpenSSH's rule for its own config files: owned by the user or root, and
 * writable by no one else (chmod go-w fixes it); a group that may write is
 * tolerated only when it is root's (gid 0), whose members are root already.
 */
export function badOwnerOrMode(st: { uid: number; gid: number; mode: number }, user: InvokingUser): string | undefined {
  if (st.uid !== 0 && st.uid !== user.uid) return `owned by uid ${st.uid}`;
  const mode = `mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}`;
  if (st.mode & 0o002) return `${mode}, writable by others`;
  if (st.mode & 0o020 && st.gid !== 0) return `${mode}, writable by its group`;
  return undefined;
}

export function findEnvironment(config: Config, name: string): EnvironmentConfig {
  const env = config.environments.get(name);
  if (!env) {
    const known = [...config.environments.keys()];
    throw new UserError(`unknown environment "${name}" in ${config.source} (configured: ${known.length ? known.join(', ') : 'none'})`);
  }
  return env;
}
