import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import { readOwn, writeOwn } from '../util/ownFile.js';
import { describeAction, isRemote, outlivesBoot, type Action, type Step } from './steps.js';

export interface RunResult {
  /** How many actions took effect before the first failure. */
  readonly done: number;
  readonly failures: readonly { readonly index: number; readonly message: string }[];
}

export interface Executor {
  /**
   * Runs actions in order; stops at the first failure unless `keepGoing`.
   * `steps[i]` is the step `actions[i]` applies or undoes, where the journal
   * runs them: the privileged helper takes local changes as whole steps
   * (docs/privsep.md) and undoes them by title.
   */
  run(actions: readonly Action[], keepGoing: boolean, steps?: readonly Step[]): Promise<RunResult>;
}

export class StepError extends Error {
  constructor(
    readonly step: Step,
    message: string,
  ) {
    super(`${step.title}: ${message}`);
    this.name = 'StepError';
  }
}

/** Whose environment a journal is, and where its remote steps were made. */
export interface JournalOwner {
  /** The user the controller acted for (root's own: uid 0). */
  readonly owner: { readonly uid: number; readonly name: string };
  /**
   * The SSH target the remote steps ran on (user@host:port), so they are
   * never replayed on another. None in the root helper's journal: it makes
   * no remote step.
   */
  readonly target?: string;
  /**
   * 'helper': the local steps were made by the root helper (docs/privsep.md),
   * which journals them itself. This file is the user's to write, so root's
   * cleanup undoes local steps from the helper's journal, never from here.
   */
  readonly localBy?: 'helper';
}

/** What the journal file holds: enough for a later process to undo a dead controller's changes. */
export interface JournalRecord extends Partial<JournalOwner> {
  readonly env: string;
  readonly pid: number;
  readonly applied: readonly Step[];
  readonly pending: readonly Step[];
}

export function readJournal(file: string): JournalRecord | undefined {
  try {
    const text = readOwn(file);
    return text === undefined ? undefined : (JSON.parse(text) as JournalRecord);
  } catch (err) {
    // a journal that is not ours to trust is said so, never replayed
    if (err instanceof UserError) throw err;
    return undefined;
  }
}

/**
 * Refuses a journal that is not the caller's: another user's environment
 * is theirs (or root's own) to take down. A journal without an owner was
 * written before owners were: root alone may replay it.
 */
export function checkJournalOwner(record: JournalRecord | undefined, env: string, caller: { readonly uid: number }): void {
  if (!record || caller.uid === 0) return;
  if (record.owner?.uid !== caller.uid) {
    const who = record.owner ? `${record.owner.name} (uid ${record.owner.uid})` : 'an older cloudbridge, with no owner recorded';
    throw new UserError(`${env} was connected by ${who}; only they, or root itself, may take it down`);
  }
}

/** The journal could not be written (its folder full): its file stays as it was. */
class JournalWriteError extends UserError {
  constructor(file: string, err: NodeJS.ErrnoException) {
    super(`could not write the step journal ${file} (${err.code ?? err.message}): no change is made until it can be`);
  }
}

/**
 * The applied steps of one connection, journaled to a file before each
 * change is made, so that what a dead controller left behind can be undone
 * by the next one.
 */
export class StepJournal {
  private applied: Step[] = [];
  /** What the boot record holds now ('' when it is not there). */
  private bootText = '';

  /**
   * `bootRecord`: where the steps that outlive a reboot of this host are
   * journaled too, in a folder a reboot keeps (outlivesBoot: DNS settings,
   * /etc files; and every remote step: the server does not reboot with us):
   * the journal itself lives in the run folder, which a reboot empties, and
   * a Mac rebooted during a full tunnel would otherwise keep asking the
   * tunnel's DNS forever, the server keep its NAT rules.
   */
  constructor(
    private readonly file: string | undefined,
    private readonly env = '',
    private readonly whose?: JournalOwner,
    private readonly bootRecord?: string,
  ) {}

  /**
   * A dead controller's journal, taken over to undo what it left: its
   * applied and pending steps (a pending step's undo is harmless where the
   * step never ran), its owner and target kept.
   */
  static takeOver(file: string, record: JournalRecord): StepJournal {
    const whose = record.owner
      ? { owner: record.owner, ...(record.target !== undefined ? { target: record.target } : {}), ...(record.localBy ? { localBy: record.localBy } : {}) }
      : undefined;
    const journal = new StepJournal(file, record.env, whose);
    journal.applied = [...record.applied, ...record.pending];
    return journal;
  }

  get steps(): readonly Step[] {
    return this.applied;
  }

  /**
   * Writes the journal whole. A journal that cannot be written (its folder
   * full) is said in one line naming the file: no step is made before it is
   * journaled, so the change waits (a reconnect retries) and the file on
   * disk stays as it was, never half-written.
   */
  private save(pending: readonly Step[] = []): void {
    if (!this.file) return;
    const record: JournalRecord = { env: this.env, pid: process.pid, ...this.whose, applied: this.applied, pending };
    try {
      writeOwn(this.file, `${JSON.stringify(record, null, 1)}\n`);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new JournalWriteError(this.file, err as NodeJS.ErrnoException);
    }
    if (this.bootRecord) this.saveBootRecord(this.bootRecord, pending);
  }

  /**
   * The boot record: this journal's steps that outlive a reboot of this host
   * (DNS here, everything on the server), or no file when there are none.
   * Where root's helper made this host's side, its own record has those:
   * this one (the user's) the server's steps alone.
   */
  private saveBootRecord(file: string, pending: readonly Step[]): void {
    const byHelper = this.whose?.localBy === 'helper';
    const keep = (s: Step): boolean => isRemote(s) || (!byHelper && outlivesBoot(s.apply));
    const applied = this.applied.filter(keep);
    const waiting = pending.filter(keep);
    const record: JournalRecord = { env: this.env, pid: process.pid, ...this.whose, applied, pending: waiting };
    const text = applied.length + waiting.length ? `${JSON.stringify(record, null, 1)}\n` : '';
    if (text === this.bootText) return;
    try {
      if (text) {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
        writeOwn(file, text);
      } else removeBootRecord(file);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new JournalWriteError(file, err as NodeJS.ErrnoException);
    }
    this.bootText = text;
  }

  /**
   * After steps ran or were undone: a journal that cannot be written now
   * still lists them as they were before (made ones as pending), and each
   * undo is harmless to run again, so `cleanup` after a crash stays right.
   */
  private saveIfRoom(): void {
    try {
      this.save();
    } catch (err) {
      // a failed write is said by the next save that must succeed (apply's, before a change); a refused file (a link, another owner) is said now
      if (!(err instanceof JournalWriteError)) throw err;
    }
  }

  /** Writes the journal with no steps yet: from here on the environment is its owner's. */
  begin(): void {
    this.save();
  }

  /** Writes the journal again from memory (its file was removed under a running controller). */
  rewrite(): void {
    this.save();
  }

  /** Applies steps in order; on failure undoes this call's steps and throws a StepError. */
  async apply(steps: readonly Step[], exec: Executor, onStep?: (s: Step) => void): Promise<void> {
    this.save(steps);
    const result = await exec
      .run(
        steps.map((s) => s.apply),
        false,
        steps,
      )
      .catch((err: Error) => ({
        done: 0,
        failures: [{ index: 0, message: err.message }],
      }));
    const made = steps.slice(0, result.done);
    for (const step of made) {
      this.applied.push(step);
      onStep?.(step);
    }
    this.saveIfRoom();
    const failure = result.failures[0];
    if (failure) {
      await this.undo(exec, (s) => made.includes(s));
      throw new StepError(steps[failure.index] ?? steps[result.done]!, failure.message);
    }
  }

  /**
   * Undoes the applied steps `which` selects (all by default), newest first,
   * keeping going past failures (a device may already be gone). Forgets the
   * steps undone; one whose undo failed stays in the journal, for `cleanup`
   * or the next undo: an undo that did not run is never forgotten (a session
   * that ended under it, a host that went away). Returns what failed.
   */
  async undo(exec: Executor, which: (s: Step) => boolean = () => true): Promise<string[]> {
    const undoable = this.applied.filter((s) => which(s) && s.undo !== null).reverse();
    const actions = undoable.map((s) => s.undo!);
    const result = await exec.run(actions, true, undoable).catch((err: Error) => ({
      done: 0,
      failures: actions.map((_, index) => ({ index, message: err.message })),
    }));
    const failed = new Set(result.failures.map((f) => undoable[f.index]!));
    this.applied = this.applied.filter((s) => !which(s) || failed.has(s));
    this.saveIfRoom();
    return result.failures.map((f) => `${describeAction(actions[f.index]!)}: ${f.message}`);
  }

  remove(): void {
    if (this.file) fs.rmSync(this.file, { force: true });
  }
}

/**
 * After a reboot: the steps a run cut short left that outlive the boot (its
 * boot record; the caller has seen no journal beside it, the run folder went
 * with the boot), undone. The record keeps what could not be undone.
 */
export async function restoreAfterBoot(file: string, exec: Executor): Promise<{ restored: number; errors: string[] }> {
  const record = readJournal(file);
  if (!record) return { restored: 0, errors: [] };
  const journal = StepJournal.takeOver(file, record);
  const before = journal.steps.length;
  const errors = await journal.undo(exec);
  if (journal.steps.length === 0) removeBootRecord(file);
  return { restored: before - journal.steps.length, errors };
}

/** A boot record removed, and its folders (boot/ and the state folder) once empty. */
export function removeBootRecord(file: string): void {
  fs.rmSync(file, { force: true });
  for (const dir of [path.dirname(file), path.dirname(path.dirname(file))]) {
    try {
      fs.rmdirSync(dir);
    } catch {
      return; // not empty (another environment's), or not there
    }
  }
}

/**
 * Runs actions in order with each side's runner: local actions one at a
 * time, each run of consecutive remote actions as one group (one remote
 * shell). Result indexes refer to `actions`.
 */
export async function runGrouped<L extends Action, R extends Action>(
  actions: readonly Action[],
  keepGoing: boolean,
  runLocal: (a: L, index: number) => Promise<void>,
  runRemoteGroup: (group: readonly R[]) => Promise<RunResult>,
): Promise<RunResult> {
  const failures: { index: number; message: string }[] = [];
  let done = 0;
  let i = 0;
  while (i < actions.length && (keepGoing || failures.length === 0)) {
    if (actions[i]!.side === 'local') {
      try {
        await runLocal(actions[i] as L, i);
        if (failures.length === 0) done = i + 1;
      } catch (err) {
        failures.push({ index: i, message: (err as Error).message });
      }
      i++;
      continue;
    }
    let j = i;
    while (j < actions.length && actions[j]!.side === 'remote') j++;
    const group = actions.slice(i, j) as R[];
    let r: RunResult;
    try {
      r = await runRemoteGroup(group);
    } catch (err) {
      r = { done: 0, failures: group.map((_, k) => ({ index: k, message: (err as Error).message })) };
    }
    if (failures.length === 0) done = i + r.done;
    for (const f of r.failures) failures.push({ index: i + f.index, message: f.message });
    i = j;
  }
  return { done, failures };
}
