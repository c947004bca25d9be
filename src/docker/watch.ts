import http from 'node:http';
import type { Endpoint } from '../config/forwards.js';
import type { Dialer } from '../forward/dial.js';
import { NO_SESSION } from '../forward/forwards.js';
import { containerFacts, isContainerId, type ContainerFacts } from './labels.js';

const EVENT_FILTERS = encodeURIComponent(JSON.stringify({ type: ['container'], event: ['start', 'die', 'destroy'] }));
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;
/** Longer than any event the daemon sends (a few KB with many labels). */
const MAX_EVENT_LINE = 1 << 20;
/** The largest JSON answer held (a container list, an inspect). */
const MAX_JSON_BODY = 32 << 20;

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
  private stopped = true;
  private retry: NodeJS.Timeout | undefined;
  private delay = RETRY_MIN_MS;

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
        res.on('data', (c: string) => {
          body += c;
          // the daemon's word, held whole only up to a bound (1000 containers list in about 2 MB)
          if (body.length > MAX_JSON_BODY) req.destroy(new Error(`docker ${path}: answer over ${MAX_JSON_BODY} bytes`));
        });
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

  /**
   * Starts (or restarts, after a new session) watching. When the stream
   * ends while the session lasts (the daemon restarted, say), it is opened
   * again with backoff and the containers listed again.
   */
  async start(): Promise<void> {
    this.stop();
    this.stopped = false;
    this.delay = RETRY_MIN_MS;
    await this.open();
  }

  private async open(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const req = this.request(`/events?filters=${EVENT_FILTERS}`, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`docker /events: ${res.statusCode}`));
        }
        resolve();
        let buf = '';
        res.setEncoding('utf8');
        res.on('error', () => {});
        res.on('close', () => this.lost(req, 'the stream ended'));
        res.on('data', (chunk: string) => {
          buf += chunk;
          // a line is one event; a daemon that sends no newline does not get to fill our memory
          if (buf.length > MAX_EVENT_LINE && buf.indexOf('\n') < 0) buf = '';
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) void this.onEvent(line);
          }
        });
      });
      req.on('error', (err) => {
        this.lost(req, err.message);
        reject(err);
      });
      this.events = req;
    });
    const list = await this.getJson<unknown>('/containers/json');
    const running = (Array.isArray(list) ? list : []).flatMap((c) => containerFacts(c) ?? []);
    for (const l of this.listeners) await l.sync(running);
  }

  /** The events stream went away: open it again later, unless stopped or there is no session to ask over. */
  private lost(req: http.ClientRequest, why: string): void {
    if (this.stopped || this.events !== req) return;
    this.events = undefined;
    this.log(`docker events: ${why}; watching again in ${this.delay / 1000}s`);
    this.retry = setTimeout(() => {
      this.open().then(
        () => {
          this.delay = RETRY_MIN_MS;
          this.log('docker events: watching again');
        },
        (err: Error) => {
          if (this.stopped || err.message === NO_SESSION) return; // the next session starts it again
          this.delay = Math.min(this.delay * 2, RETRY_MAX_MS);
          if (!this.events) this.lost(req, err.message);
        },
      );
    }, this.delay);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.events?.destroy();
    this.events = undefined;
  }

  /** One event line from the daemon: never throws, whatever it says. */
  private async onEvent(line: string): Promise<void> {
    let id: string | undefined;
    try {
      const ev = JSON.parse(line) as unknown;
      const o = ev !== null && typeof ev === 'object' ? (ev as Record<string, unknown>) : {};
      const actor = o['Actor'] !== null && typeof o['Actor'] === 'object' ? (o['Actor'] as Record<string, unknown>) : {};
      const given = actor['ID'] ?? o['id'];
      if (!isContainerId(given)) return;
      id = given;
      const action = o['Action'] ?? o['status'];
      if (action === 'start') {
        const facts = containerFacts(await this.getJson(`/containers/${id}/json`));
        if (!facts) throw new Error('the daemon described it in a way that makes no sense');
        for (const l of this.listeners) await l.started(facts);
      } else {
        for (const l of this.listeners) await l.stopped(id);
      }
    } catch (err) {
      if (id) this.log(`docker events: ${id.slice(0, 12)}: ${(err as Error).message}`);
    }
  }
}
