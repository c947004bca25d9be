import path from 'node:path';
import { UserError } from '../util/errors.js';
import { parseIPv4 } from './ipv4.js';
import { closest } from './names.js';
import type { BoolSpec, EnumSpec, IntSpec } from './spec.js';

/**
 * The validator's tools: a Field names where in the file a value sits, and
 * each reader returns the value or fails with one line naming it.
 */

export interface ValidateContext {
  /** Where the document came from, named in every message. */
  readonly source: string;
  /** Home directory of the invoking user, for defaults and `~`. */
  readonly home: string;
}

export type Obj = Record<string, unknown>;

export class Field {
  constructor(
    private readonly ctx: ValidateContext,
    readonly where: string,
  ) {}

  fail(problem: string): never {
    throw new UserError(`${this.ctx.source}: ${this.where}: ${problem}`);
  }

  child(key: string): Field {
    return new Field(this.ctx, `${this.where}.${key}`);
  }
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function checkKeys(f: Field, obj: Obj, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const near = closest(key, allowed);
    f.child(key).fail(`unknown field (${near ? `did you mean ${near}? ` : ''}expected one of: ${allowed.join(', ')})`);
  }
}

export function str(f: Field, v: unknown, fallback?: string): string {
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    f.fail('is required');
  }
  if (typeof v !== 'string' || v.length === 0) f.fail('must be a non-empty string');
  if (/[\0\n\r]/.test(v)) f.fail('must not contain control characters');
  return v;
}

// Ranges, choices and defaults come from spec.ts, which the JSON Schema is made from too.
export function int(f: Field, v: unknown, s: IntSpec, fallback = s.default ?? 0): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < s.min || v > s.max) {
    f.fail(`must be an integer from ${s.min} to ${s.max}`);
  }
  return v;
}

export function bool(f: Field, v: unknown, s: BoolSpec, fallback = s.default ?? false): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') f.fail('must be true or false');
  return v;
}

export function oneOf<T extends string>(f: Field, v: unknown, s: EnumSpec<T>): T {
  const allowed = s.values;
  if (v === undefined || v === null) return s.default!;
  // YAML 1.1 habits: `yes`/`no` may arrive as booleans
  if (v === true && allowed.includes('yes' as T)) return 'yes' as T;
  if (v === false && allowed.includes('no' as T)) return 'no' as T;
  if (typeof v !== 'string' || !allowed.includes(v as T)) f.fail(`must be one of: ${allowed.join(', ')}`);
  return v as T;
}

function expandHome(p: string, home: string): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return path.join(home, p.slice(2));
  return p;
}

export function filePath(f: Field, v: unknown, ctx: ValidateContext, fallback?: string): string | undefined {
  if ((v === undefined || v === null) && fallback === undefined) return undefined;
  const p = expandHome(str(f, v, fallback), ctx.home);
  // relative paths are relative to the config file, as ssh_config does for Include
  return path.isAbsolute(p) ? p : path.resolve(path.dirname(ctx.source), p);
}

export function ipv4(f: Field, v: unknown): string {
  const s = str(f, v);
  if (parseIPv4(s) === undefined) f.fail(`"${s}" is not an IPv4 address`);
  return s;
}
