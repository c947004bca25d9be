import http from 'node:http';
import type { Endpoint } from '../config/forwards.js';
import type { Dialer } from '../forward/dial.js';
import type { Forwards } from '../forward/forwards.js';
import { containerFacts, exposeForwards, EXPOSE_LABEL, type ContainerFacts } from './labels.js';

const FILTERS = encodeURIComponent(JSON.stringify({ label: [EXPOSE_LABEL] }));
const EVENT_FILTERS = encodeURIComponent(JSON.stringify({ type: ['container'], label: [EXPOSE_LABEL], event: ['start', 'die', 'destroy'] }));

/**
 * `docker.expose: labels`: remote containers labelled cloudbridge.expose get
 * local forwards while they run. Watches the remote daemon's event stream
 * over the SSH session (and lists the running ones when it (re)starts, so
 * what happened while the session was away is caught up).
 */
export class LabelExposure {
  private events: http.ClientRequest | undefined;
  /** Container id -> the source name its forwards carry. */
  private readonly exposed = new Map<string, string>();
  /** Problems per container, for status. */
  readonly problems = new Map<string, string>();

  constructor(
    private readonly api: Endpoint,
    private readonly dial: Dialer,
    private readonly forwards: Forwards,
    private readonly log: (line: string) => void,
  ) {}

  private request(path: string, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    const req = http.request({
      path,
      headers: { Host: 'docker' },
      createConnection: ((_opts: unknown, cb: (err: Error | null, s?: unknown) => void) => {
        this.dial(this.api).then((s) => cb(null, s), (err: Error) => cb(err));
        return undefined;
      }) as unknown as http.RequestOptions['createConnection'],
    }, onResponse);
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
    // the stream is open: list what runs, so nothing started before it is missed
    const running = await this.getJson<unknown[]>(`/containers/json?filters=${FILTERS}`);
    const facts = running.map(containerFacts);
    for (const [id] of this.exposed) {
      if (!facts.some((f) => f.id === id)) await this.unexpose(id);
    }
    for (const f of facts) await this.expose(f);
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
      if (action === 'start') await this.expose(containerFacts(await this.getJson(`/containers/${id}/json`)));
      else await this.unexpose(id);
    } catch (err) {
      this.log(`expose: ${id.slice(0, 12)}: ${(err as Error).message}`);
    }
  }

  private async expose(c: ContainerFacts): Promise<void> {
    if (this.exposed.has(c.id)) return;
    const source = `container ${c.name}`;
    const say = (problem: string): void => {
      this.problems.set(c.name, problem);
      this.log(`expose: ${c.name}: ${problem}`);
    };
    if (!c.address) return say('has no address the remote host can reach (network none?)');
    const fwds = exposeForwards(c.labels, c.address);
    if (typeof fwds === 'string') return say(fwds);
    this.exposed.set(c.id, source);
    this.problems.delete(c.name);
    for (const fwd of fwds) {
      try {
        await this.forwards.add(fwd, source);
        this.log(`expose: ${c.name}: ${fwd.name} -> ${c.address}:${fwd.to.kind === 'inet' ? fwd.to.port : ''}`);
      } catch (err) {
        say((err as Error).message);
      }
    }
  }

  private async unexpose(id: string): Promise<void> {
    const source = this.exposed.get(id);
    if (!source) return;
    this.exposed.delete(id);
    this.problems.delete(source.replace(/^container /, ''));
    for (const key of this.forwards.keysOf(source)) await this.forwards.remove(key);
    this.log(`expose: ${source.replace(/^container /, '')} stopped; its forwards are closed`);
  }

  async closeAll(): Promise<void> {
    this.stop();
    for (const id of [...this.exposed.keys()]) await this.unexpose(id);
  }
}
