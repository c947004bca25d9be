import type { Client } from 'ssh2';
import type { ReadRing } from './readRing.js';
import { makeSink, type ByteSink } from './socketSink.js';

/** What carries a connection from this host: our TCP socket, or a process (a ProxyCommand, the jump process). */
export type Carrier = { readonly socket: { readonly remoteAddress?: string | undefined } } | { readonly pid: number };

/**
 * One SSH connection and what the data path keeps beside it: the read ring
 * its socket is read through (none for a hop reached over another hop's
 * channel, in the jump process), what carries it (daemon/pins.ts pins that
 * address) and the sink its sealed bytes leave by. Made by connectSsh (src/ssh/session.ts) and passed to
 * whoever needs it, rather than looked up by client.
 */
export class SshLink {
  private sinkMade: ByteSink | undefined;

  constructor(
    readonly client: Client,
    readonly ring: ReadRing | undefined,
    readonly carrier: Carrier | undefined,
  ) {}

  /**
   * Where sealed bytes go, in sealing order. Made at first use, after the
   * handshake: the addon's writer takes over only a socket with nothing
   * queued (see makeSink).
   */
  get sink(): ByteSink {
    return (this.sinkMade ??= makeSink(this.client));
  }

  /** Ends the connection (and with it a jump chain or ProxyCommand). */
  end(): void {
    this.client.end();
  }
}
