import { UserError } from './errors.js';

/**
 * An environment's name: it names a directory, a docker context, a DNS label
 * (NAME.ENV.docker), a systemd unit, a log file and, through deviceFor, a tun
 * device, so it stays plain. 32 characters keep /run/cloudbridge/ENV/control.sock
 * far below macOS's 104-byte socket path limit. It lives here, at the
 * bottom, because every path root makes from a name checks it first.
 */
export const ENV_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,31}$';
export const ENV_NAME = new RegExp(ENV_NAME_PATTERN);
export const ENV_NAME_RULE = '1-32 characters of a-z, 0-9, - and _, starting with a letter or digit';

/** Control characters and the rest of what a terminal would act on, shown escaped (as JSON writes them). */
export const shown = (text: string): string => JSON.stringify(text).slice(1, -1);

/**
 * `name`, when it is an environment's name; else a usage error (exit 2).
 * Every command checks its ENV argument with this before any path, unit
 * name or journal name is made from it, and so does every function that
 * makes one (`logs ../../x` must never reach a path).
 */
export function checkEnvName(name: string): string {
  if (!ENV_NAME.test(name)) throw new UserError(`"${shown(name)}" is not an environment name (${ENV_NAME_RULE})`, 2);
  return name;
}
