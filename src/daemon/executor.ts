import type { Client } from 'ssh2';
import type { LocalNet } from '../platform/types.js';
import { runGrouped, type Executor } from '../plan/apply.js';
import { isContextAction, type LocalAction, type RemoteAction } from '../plan/steps.js';
import { createContext, removeContext } from '../docker/context.js';
import { runRemoteBatch } from '../ssh/exec.js';

/** Local actions through the platform, each run of remote ones in one shell over `client`. */
export function stepExecutor(net: LocalNet | undefined, client: Client | undefined, sudo: boolean): Executor {
  return {
    run: (actions, keepGoing) =>
      runGrouped<LocalAction, RemoteAction>(
        actions,
        keepGoing,
        (a) => {
          if (isContextAction(a)) {
            return a.op === 'context-create' ? createContext(a.owner, a.name, a.host) : removeContext(a.owner, a.name);
          }
          if (!net) throw new Error('no local network access');
          return net.apply(a);
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
