import type { EnvironmentConfig } from '../config/types.js';
import { dockerHostFor, pingDocker } from '../docker/endpoint.js';
import { UserError } from '../util/errors.js';
import { clip } from '../util/plain.js';

/** How often a daemon that did not answer is asked again (ms). */
const RECHECK_MS = 5000;

/** What `status` says of the remote daemon: null with docker off. */
export interface DockerHealthStatus {
  readonly answering: boolean;
  readonly lastError: string | null;
}

/**
 * The remote docker daemon's /_ping, at connect and after. A VPN whose
 * docker side is down (a daemon starting or restarting, or none) is still a
 * VPN: connect warns and goes on, `status` says so, and it is asked again
 * every few seconds until it answers, which is logged. docker.required:
 * true makes a daemon that does not answer at connect fail it, as before.
 */
export class DockerHealth {
  private answering: boolean | undefined;
  private lastError: string | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly env: EnvironmentConfig,
    private readonly log: (line: string) => void,
  ) {}

  async atConnect(progress: (line: string) => void): Promise<void> {
    const host = dockerHostFor(this.env);
    if (!host) return;
    const problem = await this.ping(host);
    if (!problem) {
      progress(`docker: ${host} answers /_ping`);
      return;
    }
    const d = this.env.docker;
    const what = `docker at ${host} (remote ${d.mode === 'socket' ? d.remoteSocket : d.host}) did not answer /_ping: ${problem}`;
    if (d.required) throw new UserError(what);
    progress(
      `warning: ${what}; the tunnel is up without it, asked again every ${RECHECK_MS / 1000}s (no docker on that host? set docker.mode: off; docker.required: true makes this fatal)`,
    );
    this.timer = setInterval(() => {
      void this.ping(host).then((p) => {
        if (p || !this.timer) return;
        clearInterval(this.timer);
        this.timer = undefined;
        this.log(`docker: ${host} answers /_ping again`);
      });
    }, RECHECK_MS).unref();
  }

  private async ping(host: string): Promise<string | undefined> {
    try {
      await pingDocker(host, 5000);
      this.answering = true;
      this.lastError = null;
      return undefined;
    } catch (err) {
      this.answering = false;
      this.lastError = clip((err as Error).message);
      return this.lastError;
    }
  }

  status(): DockerHealthStatus | null {
    return this.answering === undefined ? null : { answering: this.answering, lastError: this.lastError };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
