import type { Client } from 'ssh2';
import type { HelperClient } from '../helper/client.js';
import type { LocalNet } from '../platform/types.js';
import { runGrouped, type Executor } from '../plan/apply.js';
import { isContextAction, type LocalAction, type RemoteAction, type Step } from '../plan/steps.js';
import { createContext, removeContext } from '../docker/context.js';
import { runRemoteBatch } from '../ssh/exec.js';

/**
 * Where this host's network changes go: the platform's own code (the
 * controller is root), or the privileged helper, which takes each as a
 * whole step and undoes it by its title (docs/privsep.md).
 */
export type LocalChanges = { readonly net: LocalNet | undefined } | { readonly helper: HelperClient };

/** Local actions through the platform or the helper, each run of remote ones in one shell over `client`. */
export function stepExecutor(local: LocalChanges, client: Client | undefined, sudo: boolean): Executor {
  return {
    run: (actions, keepGoing, steps) =>
      runGrouped<LocalAction, RemoteAction>(
        actions,
        keepGoing,
        (a, i) => {
          if (isContextAction(a)) {
            return a.op === 'context-create' ? createContext(a.owner, a.name, a.host) : removeContext(a.owner, a.name);
          }
          if ('helper' in local) return viaHelper(local.helper, a, steps?.[i]);
          if (!local.net) throw new Error('no local network access');
          return local.net.apply(a);
        },
        (group) => {
          if (!client) throw new Error('no SSH connection');
          return runRemoteBatch(
            client,
            group.map((a) => a.argv),
            { sudo, keepGoing },
          );
        },
      ),
  };
}

/** A step's apply goes to the helper whole (it journals the undo itself); its undo by title. */
function viaHelper(helper: HelperClient, a: LocalAction, step: Step | undefined): Promise<void> {
  if (!step) return Promise.reject(new Error('a local change without its step: the helper takes whole steps'));
  return a === step.apply ? helper.step(step) : helper.undo([step.title]);
}
