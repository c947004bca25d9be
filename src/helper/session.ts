import fs from 'node:fs';
import { loadAddon } from '../native/addon.js';
import { processAlive } from '../util/processAlive.js';
import { lookupUser } from '../util/user.js';
import type { Executor } from '../plan/apply.js';
import { readJournal, removeBootRecord, restoreAfterBoot, StepJournal } from '../plan/apply.js';
import { describeAction, deviceOf, type Step } from '../plan/steps.js';
import { onDevice, reusedDevices } from '../plan/reused.js';
import { Policy, type KernelView } from './policy.js';
import { HelperError, MAX_REQUEST, parseRequest, type Request } from './requests.js';

/** What the helper does on the host, given to it (the real ones in helper/main.ts; fakes in the tests). */
export interface HelperDeps {
  readonly kernel: KernelView;
  readonly platform: 'linux' | 'darwin';
  /** Opens the tun device named (`utun`: the next one): its fd and the kernel's name. */
  readonly openTun: (name: string) => { readonly fd: number; readonly name: string };
  /** A socket bound to port 53 of `addr`: its fd. */
  readonly bind: (addr: string, proto: 'udp' | 'tcp') => Promise<number>;
  /** Runs network actions in order (platform's LocalNet). */
  readonly executor: Executor;
  /** Root's journal for an environment (journaled before each step runs; replayed by cleanup if the helper dies). */
  readonly journalFile: (env: string) => string;
  /** Where the steps that outlive a reboot are journaled too (plan/apply.ts); none in tests that do not ask. */
  readonly bootRecord?: (env: string) => string;
  readonly log: (line: string) => void;
  /** The environments with a session in this helper process (the installed one serves many), shared by its sessions. */
  readonly live: Set<string>;
  /**
   * At hello, the installed helper's check that the environment is its
   * caller's (its run folder made theirs, or already theirs): a HelperError
   * otherwise; it returns the uid the session is for. The helper a
   * controller starts itself has none.
   */
  readonly claim?: (env: string) => number | void;
  /** After the session's end: what is left to tidy (root's empty folders), given the environment if hello came. */
  readonly afterEnd?: (env: string | undefined) => void;
}

/** Runs nothing: what it is given has gone already. */
const NOTHING_TO_RUN: Executor = { run: async (actions) => ({ done: actions.length, failures: [] }) };

export type Reply = { readonly ok: true; readonly name?: string; readonly fd?: number } | { readonly ok: false; readonly error: string };

/**
 * One controller's connection to the helper: requests judged by the
 * policy, steps journaled then run, and, whatever happens to the
 * controller, everything undone when the connection ends (sshuttle's
 * firewall process restores the firewall when its stdin closes).
 */
export class HelperSession {
  private readonly policy: Policy;
  /** Root's journal of this connection's steps (from hello on): what the helper applied, and so what it undoes. */
  private journal: StepJournal | undefined;
  private ended = false;
  /** The environment hello named. */
  private envName: string | undefined;
  /** Whether this session holds its environment in deps.live. */
  private holds = false;

  constructor(private readonly deps: HelperDeps) {
    this.policy = new Policy(deps.kernel, deps.platform);
  }

  /** Answers one request line. A refusal changes nothing and says why in one line. */
  async handle(line: string): Promise<Reply> {
    try {
      return await this.dispatch(parseRequest(line));
    } catch (err) {
      if (err instanceof HelperError) return { ok: false, error: err.message };
      // a failure of the host's own tools (a route the kernel refused): said, the session goes on
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  private async dispatch(r: Request): Promise<Reply> {
    if (this.ended) throw new HelperError('the session has ended');
    switch (r.op) {
      case 'hello': {
        this.policy.hello(r.env);
        const uid = this.deps.claim?.(r.env);
        this.envName = r.env;
        this.holdLive(r.env);
        const left = [...(await this.replayLeft(r.env)), ...(await this.putBackAfterBoot(r.env))];
        if (left.length)
          throw new HelperError(`${r.env}: a helper that died left changes it cannot undo (${left.join('; ')}): run sudo cloudbridge cleanup ${r.env}`);
        // whose session it is, in root's journal and boot record: after a reboot, root acting for them (sudo) may undo it
        const owner = typeof uid === 'number' ? { owner: { uid, name: lookupUser(String(uid))?.name ?? `uid ${uid}` } } : undefined;
        this.journal = new StepJournal(this.deps.journalFile(r.env), r.env, owner, this.deps.bootRecord?.(r.env));
        this.journal.begin();
        return { ok: true };
      }
      case 'open-tun': {
        const opened = this.deps.openTun(this.policy.tunName(r.name));
        this.policy.adopt(opened.name);
        return { ok: true, name: opened.name, fd: opened.fd };
      }
      case 'step': {
        const journal = this.ready();
        if (!journal) throw new HelperError('say hello first: the environment is not known');
        await this.policy.check(r.step);
        const step: Step = { title: r.step.title, apply: r.step.apply, undo: r.step.undo };
        await journal.apply([step], this.deps.executor);
        return { ok: true };
      }
      case 'undo': {
        const errors = await this.undo(r.titles);
        return errors.length ? { ok: false, error: errors.join('; ') } : { ok: true };
      }
      case 'bind':
        await this.policy.checkBind(r.addr);
        return { ok: true, fd: await this.deps.bind(r.addr, r.proto) };
      case 'claim':
        // the same folder hello claimed, for the same caller: nothing else can be named
        if (this.envName === undefined) throw new HelperError('say hello first: the environment is not known');
        if (!this.deps.claim) throw new HelperError('this helper does not know whose the run folder is');
        this.deps.claim(this.envName);
        // /run emptied whole: the helper's journal went too, written again from memory
        this.ready()?.rewrite();
        return { ok: true };
      case 'down': {
        const errors = await this.end();
        return errors.length ? { ok: false, error: errors.join('; ') } : { ok: true };
      }
    }
  }

  /** Undoes the journal's steps, newest first: all, or those `titles` name; one whose undo fails stays (for the next, or cleanup). */
  private async undo(titles: readonly string[] | null): Promise<string[]> {
    const journal = this.ready();
    if (!journal) return [];
    const chosen = (s: Step): boolean => titles === null || titles.includes(s.title);
    // what went with a vanished device of ours is forgotten; the rest is undone
    await this.forgetMoot(chosen);
    const errors = await journal.undo(this.deps.executor, chosen);
    if (errors.length === 0) return errors;
    // a killed controller's device may go while its undos run (its fds close after the socket):
    // what failed because of that is moot too, and only what still stands is an error
    await this.forgetMoot(chosen);
    const left = new Set(journal.steps.filter((s) => chosen(s) && s.undo).map((s) => describeAction(s.undo!)));
    return errors.filter((e) => [...left].some((d) => e.startsWith(`${d}: `)));
  }

  /**
   * The journal, its folder made again if something removed it meanwhile (a
   * tmpfiles cleaner, an emptied /run): the next write needs it.
   */
  private ready(): StepJournal | undefined {
    if (this.envName !== undefined && this.journal) this.deps.journalFile(this.envName);
    return this.journal;
  }

  /**
   * One session per environment: another one live in this process (the
   * installed helper) or in a helper process still running (its journal's
   * pid) is refused, before its journal could be taken for a dead one's.
   */
  private holdLive(env: string): void {
    const record = readJournal(this.deps.journalFile(env));
    const other = record && record.pid !== process.pid && processAlive(record.pid);
    if (this.deps.live.has(env) || other) throw new HelperError(`${env} is connected already`);
    this.deps.live.add(env);
    this.holds = true;
  }

  /**
   * A journal of this environment's that a helper left when it died (killed
   * with its controller): root's own, so undone before anything new, what
   * lived on a device that has gone forgotten. Returns what could not be
   * undone (then it stays, and the session is refused).
   */
  private async replayLeft(env: string): Promise<string[]> {
    const file = this.deps.journalFile(env);
    const record = readJournal(file);
    if (!record || record.applied.length + record.pending.length === 0) return [];
    const old = StepJournal.takeOver(file, record);
    const gone = new Set<Step>();
    // gone with a device that closed, or with ours where another program has opened one of the same name since
    const reused = await reusedDevices(old.steps, (dev) => this.deps.kernel.addressesOn(dev));
    for (const s of old.steps) {
      const dev = deviceOf(s.apply);
      if (dev !== undefined && (onDevice(s, reused) || !(await this.deps.kernel.hasDevice(dev)))) gone.add(s);
    }
    await old.undo(NOTHING_TO_RUN, (s) => gone.has(s));
    const errors = await old.undo(this.deps.executor);
    if (errors.length === 0) {
      old.remove();
      // its boot record's steps were among those undone
      const boot = this.deps.bootRecord?.(env);
      if (boot) removeBootRecord(boot);
    } else this.deps.log(`helper: ${env}: could not undo what a dead helper left: ${errors.join('; ')}`);
    return errors;
  }

  /** What a run cut short by a reboot left that outlives the boot (its boot record, no journal beside it), put back. */
  private async putBackAfterBoot(env: string): Promise<string[]> {
    const file = this.deps.bootRecord?.(env);
    if (!file || readJournal(this.deps.journalFile(env))) return [];
    const r = await restoreAfterBoot(file, this.deps.executor);
    if (r.restored) this.deps.log(`helper: ${env}: ${r.restored} DNS setting(s) a run cut short by a reboot left, put back`);
    return r.errors;
  }

  /** Forgets the chosen steps whose undo is moot: they lived on a device of ours that has gone with everything on it. */
  private async forgetMoot(chosen: (s: Step) => boolean): Promise<void> {
    const journal = this.journal!;
    const moot = new Set<Step>();
    for (const s of journal.steps) if (chosen(s) && (await this.policy.moot(s.apply))) moot.add(s);
    if (moot.size) await journal.undo(NOTHING_TO_RUN, (s) => moot.has(s));
  }

  /**
   * Undoes everything and ends: on `down`, and when the connection closes
   * without one (the controller killed). The journal goes once nothing is
   * left in it; what could not be undone stays there for `cleanup`.
   */
  async end(): Promise<string[]> {
    if (this.ended) return [];
    this.ended = true;
    // nothing stops the undo short of the host refusing it: a failure is said, never a crash
    const errors = await this.undo(null).catch((err: Error) => [`the undo stopped: ${err.message}`]);
    if (this.journal && this.journal.steps.length === 0) this.journal.remove();
    if (errors.length) this.deps.log(`helper: could not undo: ${errors.join('; ')}`);
    if (this.holds && this.envName !== undefined) this.deps.live.delete(this.envName);
    this.deps.afterEnd?.(this.envName);
    return errors;
  }
}

/**
 * The reply as it goes out when it carries an fd: the fd first, over
 * `channel` (SCM_RIGHTS), since the controller reads it right after the
 * reply that announces it; our copy is closed (a tun device lives as long as
 * the controller's). Without a channel, or when sending fails, a refusal.
 */
export function passFd(reply: Reply, fd: number | undefined, channel: number | undefined): Reply {
  if (fd === undefined || !reply.ok) return reply;
  const sent = channel === undefined ? -1 : loadAddon().fdSend(channel, fd);
  fs.closeSync(fd);
  if (channel === undefined) return { ok: false, error: 'no fd channel: connect one first' };
  return sent < 0 ? { ok: false, error: `could not pass the fd (errno ${-sent})` } : { ...reply, fd: 1 };
}

/**
 * Serves one controller on `conn`: one request per line, one reply per
 * line, in order, through `reply` (an fd travels with its reply); the
 * session ends, undoing everything, when the connection does. A line
 * longer than MAX_REQUEST ends the connection.
 */
export function serve(
  conn: NodeJS.ReadWriteStream & { destroy(): void },
  deps: HelperDeps,
  reply: (reply: Reply, fd: number | undefined) => void,
): Promise<string[]> {
  const session = new HelperSession(deps);
  let buffered = '';
  let queue = Promise.resolve();
  return new Promise((resolve) => {
    const finish = (): void => {
      queue = queue.then(async () => resolve(await session.end()));
    };
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        queue = queue.then(async () => {
          const answer = await session.handle(line);
          reply(answer.ok && answer.fd !== undefined ? { ...answer, fd: undefined } : answer, answer.ok ? answer.fd : undefined);
        });
      }
      if (buffered.length > MAX_REQUEST) {
        deps.log('helper: a request line too long: connection closed');
        conn.destroy();
      }
    });
    conn.on('end', finish);
    conn.on('close', finish);
    conn.on('error', () => undefined);
  });
}
