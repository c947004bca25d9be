import type { NetAction } from '../plan/steps.js';

/**
 * The privileged helper's vocabulary (docs/privsep.md): what the
 * controller, running as the user, may ask of root. One JSON object per
 * line, its shape checked here field by field (exact keys, types, sizes)
 * before the policy (policy.ts) judges what it asks for; anything else is a
 * HelperError, never a crash. As OpenSSH's monitor: a closed table of
 * requests, each permitted only in its state.
 */

/** Refused: the request is answered with this message and changes nothing. */
export class HelperError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HelperError';
  }
}

/** A change of host state and its undo, as plan/ makes them (local, network side only). */
export interface StepRequest {
  readonly title: string;
  readonly apply: NetAction;
  readonly undo: NetAction | null;
}

export type Request =
  /** The connection's environment: first, once. */
  | { readonly op: 'hello'; readonly env: string }
  /** Opens the environment's tun device (utun on macOS) and hands its fd over. */
  | { readonly op: 'open-tun'; readonly name: string }
  /** Applies one step, journaled first; its undo is kept by the helper, not asked for again. */
  | { readonly op: 'step'; readonly step: StepRequest }
  /** Undoes the steps the helper applied for this connection, newest first: `remote`-less, all of them or those `titles` name. */
  | { readonly op: 'undo'; readonly titles: readonly string[] | null }
  /** A socket on port 53 of a local address (the DNS forwarder on a docker bridge), handed over. */
  | { readonly op: 'bind'; readonly addr: string; readonly proto: 'udp' | 'tcp' }
  /** The environment's run folder made again, the caller's (a tmpfiles cleaner emptied /run under a live controller). */
  | { readonly op: 'claim' }
  /** Everything undone, the connection ends. */
  | { readonly op: 'down' };

/** A request line is at most this long: a resolv.conf of a few servers and domains fits many times over. */
export const MAX_REQUEST = 64 * 1024;
const MAX_STRING = 4096;
const MAX_LIST = 64;
/** Control characters but tab and newline (a resolv.conf has lines): nothing a shell, a file or a log should get. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\0-\x08\x0b-\x1f\x7f]/;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { readonly [k: string]: Json };

/** Reads one request line: valid JSON of a known shape, or a HelperError. */
export function parseRequest(line: string): Request {
  if (line.length > MAX_REQUEST) throw new HelperError(`request longer than ${MAX_REQUEST} bytes`);
  let value: Json;
  try {
    value = JSON.parse(line) as Json;
  } catch {
    throw new HelperError('request is not JSON');
  }
  const r = object(value, 'request');
  switch (r['op']) {
    case 'hello':
      return only(r, ['op', 'env']) && { op: 'hello', env: str(r, 'env') };
    case 'open-tun':
      return only(r, ['op', 'name']) && { op: 'open-tun', name: str(r, 'name') };
    case 'step':
      return only(r, ['op', 'step']) && { op: 'step', step: stepOf(object(r['step'], 'step')) };
    case 'undo':
      return only(r, ['op', 'titles']) && { op: 'undo', titles: r['titles'] === null ? null : strings(r, 'titles') };
    case 'bind': {
      only(r, ['op', 'addr', 'proto']);
      const proto = str(r, 'proto');
      if (proto !== 'udp' && proto !== 'tcp') throw new HelperError('bind: proto must be udp or tcp');
      return { op: 'bind', addr: str(r, 'addr'), proto };
    }
    case 'claim':
      return only(r, ['op']) && { op: 'claim' };
    case 'down':
      return only(r, ['op']) && { op: 'down' };
    default:
      throw new HelperError(`unknown request ${JSON.stringify(String(r['op'])).slice(0, 40)}`);
  }
}

function stepOf(s: Obj): StepRequest {
  only(s, ['title', 'apply', 'undo']);
  return { title: str(s, 'title'), apply: actionOf(object(s['apply'], 'apply')), undo: s['undo'] === null ? null : actionOf(object(s['undo'], 'undo')) };
}

/** One of plan/'s network actions, with exactly its fields. */
function actionOf(a: Obj): NetAction {
  if (a['side'] !== 'local') throw new HelperError('only this host\'s network actions are the helper\'s ("side": "local")');
  const op = a['op'];
  switch (op) {
    case 'addr-add':
    case 'addr-del':
      only(a, ['side', 'op', 'dev', 'local', 'peer']);
      return { side: 'local', op, dev: str(a, 'dev'), local: str(a, 'local'), peer: str(a, 'peer') };
    case 'link-up':
      only(a, ['side', 'op', 'dev', 'mtu'], ['ipv6']);
      return { side: 'local', op, dev: str(a, 'dev'), mtu: int(a, 'mtu'), ...(a['ipv6'] === undefined ? {} : { ipv6: bool(a, 'ipv6') }) };
    case 'route-add':
    case 'route-del':
      only(a, ['side', 'op', 'dev', 'cidr'], ['via', 'reject']);
      return {
        side: 'local',
        op,
        dev: str(a, 'dev'),
        cidr: str(a, 'cidr'),
        ...(a['via'] === undefined ? {} : { via: str(a, 'via') }),
        ...(a['reject'] === undefined ? {} : { reject: bool(a, 'reject') }),
      };
    case 'resolver-add':
      only(a, ['side', 'op', 'domain', 'servers']);
      return { side: 'local', op, domain: str(a, 'domain'), servers: strings(a, 'servers') };
    case 'resolver-del':
      only(a, ['side', 'op', 'domain']);
      return { side: 'local', op, domain: str(a, 'domain') };
    case 'resolv-conf':
      only(a, ['side', 'op', 'content'], ['symlink']);
      return {
        side: 'local',
        op,
        content: str(a, 'content', MAX_REQUEST),
        symlink: a['symlink'] === undefined || a['symlink'] === null ? undefined : str(a, 'symlink'),
      };
    case 'service-dns':
      only(a, ['side', 'op', 'service', 'servers']);
      return { side: 'local', op, service: str(a, 'service'), servers: strings(a, 'servers') };
    case 'resolvectl':
      only(a, ['side', 'op', 'argv']);
      return { side: 'local', op, argv: strings(a, 'argv') };
    case 'iptables':
      only(a, ['side', 'op', 'table', 'argv'], ['ip6']);
      return { side: 'local', op, table: str(a, 'table'), argv: strings(a, 'argv'), ...(a['ip6'] === undefined ? {} : { ip6: bool(a, 'ip6') }) };
    default:
      throw new HelperError(`unknown action ${JSON.stringify(String(op)).slice(0, 40)}`);
  }
}

function object(v: Json | undefined, what: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HelperError(`${what} must be an object`);
  return v;
}

/** Exactly the `required` keys, and perhaps some of `optional`: anything else is refused. */
function only(o: Obj, required: readonly string[], optional: readonly string[] = []): true {
  for (const k of required) if (!(k in o)) throw new HelperError(`missing "${k}"`);
  for (const k of Object.keys(o)) if (!required.includes(k) && !optional.includes(k)) throw new HelperError(`unexpected "${k.slice(0, 40)}"`);
  return true;
}

function str(o: Obj, k: string, max = MAX_STRING): string {
  const v = o[k];
  if (typeof v !== 'string') throw new HelperError(`"${k}" must be a string`);
  if (v.length > max) throw new HelperError(`"${k}" is longer than ${max} characters`);
  if (CONTROL.test(v)) throw new HelperError(`"${k}" holds control characters`);
  return v;
}

function strings(o: Obj, k: string): string[] {
  const v = o[k];
  if (!Array.isArray(v) || v.length > MAX_LIST) throw new HelperError(`"${k}" must be a list of at most ${MAX_LIST} strings`);
  return v.map((_, i) => str(v as unknown as Obj, String(i)));
}

function int(o: Obj, k: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new HelperError(`"${k}" must be an integer`);
  return v;
}

function bool(o: Obj, k: string): boolean {
  const v = o[k];
  if (typeof v !== 'boolean') throw new HelperError(`"${k}" must be true or false`);
  return v;
}
