import fs from 'node:fs';
import { describeAction, type Action, type Step } from './steps.js';

export interface Executor {
  run(action: Action): Promise<void>;
}

/**
 * The applied steps of one connection, journaled to a file before each
 * change is made, so that what a dead controller left behind can be undone
 * by the next one.
 */
export class StepJournal {
  private readonly applied: Step[] = [];

  constructor(private readonly file: string | undefined) {}

  get steps(): readonly Step[] {
    return this.applied;
  }

  private save(pending?: Step): void {
    if (!this.file) return;
    const record = { applied: this.applied, pending: pending ?? null };
    fs.writeFileSync(`${this.file}.tmp`, `${JSON.stringify(record, null, 1)}\n`, { mode: 0o600 });
    fs.renameSync(`${this.file}.tmp`, this.file);
  }

  /** Applies steps in order; on failure undoes this call's steps and rethrows. */
  async apply(steps: readonly Step[], exec: Executor, onStep?: (s: Step) => void): Promise<void> {
    const mark = this.applied.length;
    for (const step of steps) {
      this.save(step);
      try {
        await exec.run(step.apply);
      } catch (err) {
        this.save();
        await this.undo(exec, mark);
        throw err;
      }
      this.applied.push(step);
      this.save();
      onStep?.(step);
    }
  }

  /**
   * Undoes applied steps newest first, down to `downTo`. Keeps going past
   * failures (a device may already be gone) and returns what failed.
   */
  async undo(exec: Executor, downTo = 0, filter: (s: Step) => boolean = () => true): Promise<string[]> {
    const errors: string[] = [];
    while (this.applied.length > downTo) {
      const step = this.applied.pop()!;
      if (step.undo && filter(step)) {
        try {
          await exec.run(step.undo);
        } catch (err) {
          errors.push(`${describeAction(step.undo)}: ${(err as Error).message}`);
        }
      }
      this.save();
    }
    return errors;
  }

  remove(): void {
    if (this.file) fs.rmSync(this.file, { force: true });
  }
}
