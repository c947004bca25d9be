import path from 'node:path';

/** Runtime files live under one directory per environment, removed on disconnect. */
export function runDir(): string {
  return process.env['CLOUDBRIDGE_RUN_DIR'] ?? '/run/cloudbridge';
}

export function envRunDir(env: string): string {
  return path.join(runDir(), env);
}

export const controlSocket = (env: string): string => path.join(envRunDir(env), 'control.sock');
export const dockerSocket = (env: string): string => path.join(envRunDir(env), 'docker.sock');
export const journalFile = (env: string): string => path.join(envRunDir(env), 'journal.json');
export const logFile = (env: string): string => path.join(envRunDir(env), 'controller.log');
