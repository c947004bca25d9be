import { contextDescription } from '../plan/contextCommand.js';
import type { ContextOwner } from '../plan/steps.js';
import { lazyExeca } from '../util/lazyExeca.js';

async function docker(owner: ContextOwner, args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const asUser = process.geteuid?.() === 0 && owner.uid !== 0 ? { uid: owner.uid, gid: owner.gid } : {};
  const execa = await lazyExeca();
  const r = await execa('docker', args, {
    reject: false,
    ...asUser,
    env: { HOME: owner.home, PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    extendEnv: false,
  });
  return { code: r.exitCode ?? -1, out: String(r.stdout).trim(), err: String(r.stderr).trim() };
}

export async function dockerCliPresent(): Promise<boolean> {
  const execa = await lazyExeca();
  const r = await execa('docker', ['--version'], { reject: false }).catch(() => undefined);
  return r?.exitCode === 0;
}

/** Creates (or refreshes a stale one of ours) the context `name` pointing at `host`. */
export async function createContext(owner: ContextOwner, name: string, host: string): Promise<void> {
  const existing = await docker(owner, ['context', 'inspect', name, '--format', '{{.Metadata.Description}}']);
  if (existing.code === 0) {
    if (existing.out !== contextDescription(name)) {
      throw new Error(`docker context "${name}" exists and is not cloudbridge's; remove or rename it`);
    }
    const upd = await docker(owner, ['context', 'update', name, '--docker', `host=${host}`]);
    if (upd.code !== 0) throw new Error(`docker context update ${name}: ${upd.err}`);
    return;
  }
  const r = await docker(owner, ['context', 'create', name, '--description', contextDescription(name), '--docker', `host=${host}`]);
  if (r.code !== 0) throw new Error(`docker context create ${name}: ${r.err}`);
}

/** Removes our context; a user whose current context it was is put back on "default". */
export async function removeContext(owner: ContextOwner, name: string): Promise<void> {
  const current = await docker(owner, ['context', 'show']);
  if (current.code === 0 && current.out === name) await docker(owner, ['context', 'use', 'default']);
  const r = await docker(owner, ['context', 'rm', '-f', name]);
  if (r.code !== 0 && !/not found|does not exist/i.test(r.err)) throw new Error(`docker context rm ${name}: ${r.err}`);
}

export async function useContext(owner: ContextOwner, name: string): Promise<void> {
  const r = await docker(owner, ['context', 'use', name]);
  if (r.code !== 0) throw new Error(`docker context use ${name}: ${r.err}`);
}
