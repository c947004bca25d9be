import type { Forwards } from '../forward/forwards.js';
import type { ContainerListener } from './watch.js';
import { exposeForwards, type ContainerFacts, type ExposePolicy } from './labels.js';

/**
 * `docker.expose: labels`: remote containers labelled cloudbridge.expose get
 * local forwards while they run, closed when they stop, die or go away.
 */
export class LabelExposure implements ContainerListener {
  /** Container id -> the source name its forwards carry. */
  private readonly exposed = new Map<string, string>();
  /** Problems per container name, for status. */
  readonly problems = new Map<string, string>();

  constructor(
    private readonly forwards: Forwards,
    private readonly log: (line: string) => void,
    private readonly policy: ExposePolicy,
  ) {}

  async sync(running: readonly ContainerFacts[]): Promise<void> {
    for (const [id] of this.exposed) {
      if (!running.some((f) => f.id === id)) await this.stopped(id);
    }
    for (const f of running) await this.started(f);
  }

  async started(c: ContainerFacts): Promise<void> {
    if (this.exposed.has(c.id)) return;
    const say = (problem: string): void => {
      this.problems.set(c.name, problem);
      this.log(`expose: ${c.name}: ${problem}`);
    };
    const wanted = exposeForwards(c.labels, c.address ?? '', this.policy);
    if (typeof wanted === 'string') return say(wanted);
    if (wanted.length === 0) return;
    if (!c.address) return say('has no address the remote host can reach (network none?)');
    const source = `container ${c.name}`;
    this.exposed.set(c.id, source);
    this.problems.delete(c.name);
    for (const fwd of wanted) {
      try {
        await this.forwards.add(fwd, source);
        this.log(`expose: ${c.name}: ${fwd.name} -> ${c.address}:${fwd.to.kind === 'inet' ? fwd.to.port : ''}`);
      } catch (err) {
        say((err as Error).message);
      }
    }
  }

  async stopped(id: string): Promise<void> {
    const source = this.exposed.get(id);
    if (!source) return;
    this.exposed.delete(id);
    this.problems.delete(source.replace(/^container /, ''));
    for (const key of this.forwards.keysOf(source)) await this.forwards.remove(key);
    this.log(`expose: ${source.replace(/^container /, '')} stopped; its forwards are closed`);
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.exposed.keys()]) await this.stopped(id);
  }
}
