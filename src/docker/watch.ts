import http from 'node:http';
import type { Endpoint } from '../config/forwards.js';
import type { Dialer } from '../forward/dial.js';
import { containerFacts, type ContainerFacts } from './labels.js';

const EVENT_FILTERS = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['start', 'die', 'destroy'] }));

/** What wants to know which remote containers run. */
export interface ContainerListener {
  started(c: ContainerFacts): Promise<void>;
  stopped(id: string): Promise<void>;
  /** The full list of running containers, after (re)starting the watch: forget what is not in it. */
  sync(running: readonly ContainerFacts[]): Promise<void>;
}

/**
 * Follows the remote Docker daemon's container events over the SSH session
 * (one long GET /events) and tells its listeners. When it (re)starts, the
 * stream is opened first and the running containers listed after, so nothing
 * that happens in between is missed.
 */
export class ContainerWatcher {
  private events: http.ClientRequest | undefined;
  private readonly listeners: ContainerListener[] = [];

  constructor(
    private readonly api: Endpoint,
    private readonly dial: Dialer,
    private readonly log: (line: string) => void,
  ) {}

  add(listener: ContainerListener): void {
    this.listeners.push(listener);
  }

  private request(path: string, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    const req = http.request(
      {
        path,
        headers: { Host: 'docker' },
        // An SSH channel, handed over through the callback once open (Node
        // supports that; its types only know the synchronous return).
        createConnection: ((_opts: unknown, cb: (err: Error | null, s?: unknown) => void) => {
          this.dial(this.api).then(
            (s) => cb(null, s),
            (err: Error) => cb(err),
          );
          return undefined;
        }) as unknown as http.RequestOptions['createConnection'],
      },
      onResponse,
    );
    req.end();
    return req;
  }

  private getJson<T>(path: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = this.request(path, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`docker ${path}: ${res.statusCode} ${body.slice(0, 100)}`));
          try {
            resolve(JSON.parse(body) as T);
          } catch (err) {
            reject(err as Error);
          }
        });
      });
      req.on('error', reject);
    });
  }

  /** Starts (or restarts, after a new session) watching. */
  async start(): Promise<void> {
    this.stop();
    await new Promise<void>((resolve, reject) => {
      const req = this.request(`/events?filters=${EVENT_FILTERS}`, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`docker /events: ${res.statusCode}`));
        resolve();
        let buf = '';
        res.setEncoding('utf8');
        res.on('error', () => {});
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) void this.onEvent(line);
          }
        });
      });
      req.on('error', (err) => {
        if (this.events === req) this.events = undefined;
        reject(err);
      });
      this.events = req;
    });
    const running = (await this.getJson<unknown[]>('/containers/json')).map(containerFacts);
    for (const l of this.listeners) await l.sync(running);
  }

  stop(): void {
    this.events?.destroy();
    this.events = undefined;
  }

  private async onEvent(line: string): Promise<void> {
    let ev: { Action?: string; status?: string; id?: string; Actor?: { ID?: string } };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      return;
    }
    const id = ev.Actor?.ID ?? ev.id;
    const action = ev.Action ?? ev.status;
    if (!id) return;
    try {
      if (action === 'start') {
        const facts = containerFacts(await this.getJson(`/containers/${id}/json`));
        for (const l of this.listeners) await l.started(facts);
      } else {
        for (const l of this.listeners) await l.stopped(id);
      }
    } catch (err) {
      this.log(`docker events: ${id.slice(0, 12)}: ${(err as Error).message}`);
    }
  }
}
