import type { SshLink } from '../datapath/ssh/link.js';
import type { HelperClient } from '../helper/client.js';
import type { SshRoute } from '../ssh/route.js';
import type { Phases } from '../util/phases.js';
import type { InvokingUser } from '../util/user.js';

export interface ControllerOptions {
  readonly user: InvokingUser;
  /** The SSH route as ssh_config resolves it (sshRouteFor), worked out once by the caller. */
  readonly route: SshRoute;
  /** Route even where routes overlap the host's own networks. */
  readonly force: boolean;
  readonly agent?: string | undefined;
  readonly passphrases?: ReadonlyMap<string, string>;
  /** Give the control socket to the invoking user instead of root. */
  readonly controlUser?: boolean;
  readonly progress: (line: string) => void;
  /** Log lines after start-up (reconnects, idle). */
  readonly log: (line: string) => void;
  /** Log each new flow through the tunnel and the allow-list's verdict. */
  readonly logFlows?: boolean;
  /** -vv: each SSH hop's handshake and every remote command, at level debug. */
  readonly debug?: ((line: string) => void) | undefined;
  /**
   * The root helper (docs/privsep.md), when this process runs as the user:
   * the tun device, every local network change and port 53 come from it.
   */
  readonly helper?: HelperClient | undefined;
  /** The first SSH connection, when the caller started it already (lifecycle.ts: while this module loaded). */
  readonly firstLink?: Promise<SshLink> | undefined;
  /** Where connect's time goes (status.phases); frozen once up. */
  readonly phases?: Phases | undefined;
}
