import { UserError } from '../util/errors.js';

/** Options every command that reads the config takes. */
export interface CommonArgs {
  config: string | undefined;
}

export function requireRoot(what: string, env?: string): void {
  if (process.geteuid?.() !== 0) {
    throw new UserError(`cloudbridge ${what} needs root (try: sudo cloudbridge ${what}${env ? ` ${env}` : ''})`);
  }
}
