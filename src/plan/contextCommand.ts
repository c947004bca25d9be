import type { ContextAction } from './steps.js';

/** The mark that tells our docker contexts from the user's own. */
export const contextDescription = (name: string): string => `cloudbridge:${name}`;

/** The docker CLI command a context step amounts to (run as the context's owner), for plans. */
export function contextCommand(a: ContextAction): string[] {
  return a.op === 'context-create'
    ? ['docker', 'context', 'create', a.name, '--description', contextDescription(a.name), '--docker', `host=${a.host}`]
    : ['docker', 'context', 'rm', '-f', a.name];
}
