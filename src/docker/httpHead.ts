/**
 * The little of HTTP/1.1 the docker socket reads: where the first request on
 * a connection ends and whether it is the CLI's version check (`HEAD /_ping`,
 * sent before every command), and where the daemon's answer to one ends.
 * Everything else passes through as bytes.
 */

/** A message head longer than this is not one the socket looks into. */
export const MAX_HEAD = 16 * 1024;

export interface RequestHead {
  readonly method: string;
  readonly path: string;
  readonly version: string;
  /** Header names in lower case; a repeated header keeps its last value. */
  readonly headers: ReadonlyMap<string, string>;
  /** Bytes of the head, blank line included: what follows is the next message (or a body). */
  readonly length: number;
}

export type PingMethod = 'HEAD' | 'GET';

const END = '\r\n\r\n';
const REQUEST_LINE = /^([A-Z]+) (\S+) (HTTP\/1\.[01])$/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3}) /;
const PING_PATH = /^(\/v\d+(\.\d+)?)?\/_ping$/;

/** The first line and headers of the head at the start of `buf`, and where it ends (after the blank line). */
interface Head {
  readonly first: string;
  /** Header names in lower case; a repeated header keeps its last value. */
  readonly headers: Map<string, string>;
  readonly length: number;
}

/** The head at the start of `buf`: undefined while it has not ended, null when it is too long or a header line is not one. */
function readHead(buf: Buffer): Head | undefined | null {
  const at = buf.indexOf(END, 0, 'latin1');
  if (at < 0) return buf.length >= MAX_HEAD ? null : undefined;
  if (at + END.length > MAX_HEAD) return null;
  const [first = '', ...lines] = buf.toString('latin1', 0, at).split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { first, headers, length: at + END.length };
}

/** The request head at the start of `buf`: undefined while incomplete, null when it is not HTTP/1.x or too long. */
export function parseRequestHead(buf: Buffer): RequestHead | undefined | null {
  const head = readHead(buf);
  if (!head) return head;
  const m = REQUEST_LINE.exec(head.first);
  return m ? { method: m[1]!, path: m[2]!, version: m[3]!, headers: head.headers, length: head.length } : null;
}

/**
 * HEAD or GET when the request is a version check that may be answered
 * here: HTTP/1.1 kept alive, no body, nothing asked of the connection.
 */
export function pingMethod(head: RequestHead): PingMethod | undefined {
  if (head.version !== 'HTTP/1.1' || (head.method !== 'HEAD' && head.method !== 'GET')) return undefined;
  if (!PING_PATH.test(head.path)) return undefined;
  const h = head.headers;
  if (h.has('transfer-encoding') || (h.has('content-length') && h.get('content-length') !== '0')) return undefined;
  if (/\b(close|upgrade)\b/i.test(h.get('connection') ?? '')) return undefined;
  return head.method;
}

/** The request the socket sends to learn the daemon's answer. */
export function pingRequest(method: PingMethod): Buffer {
  return Buffer.from(`${method} /_ping HTTP/1.1\r\nHost: docker\r\n\r\n`, 'latin1');
}

/**
 * The length of the whole response at the start of `buf` to a request made
 * with `method`: undefined while incomplete, null when it is not a 200 that
 * can be replayed (another status, no Content-Length, a chunked body, a
 * connection that closes).
 */
export function responseLength(buf: Buffer, method: PingMethod): number | undefined | null {
  const head = readHead(buf);
  if (!head) return head;
  const status = STATUS_LINE.exec(head.first);
  const { headers } = head;
  if (!status || status[1] !== '200') return null;
  if (headers.has('transfer-encoding') || /\bclose\b/i.test(headers.get('connection') ?? '')) return null;
  if (method === 'HEAD') return head.length;
  const length = headers.get('content-length');
  if (length === undefined || !/^\d{1,5}$/.test(length)) return null;
  const total = head.length + Number(length);
  return buf.length >= total ? total : undefined;
}

/** A recorded response with its Date header set to `now`, as the daemon would say it now. */
export function withDate(response: Buffer, now: Date): Buffer {
  const end = response.indexOf(END, 0, 'latin1');
  const head = response.toString('latin1', 0, end);
  const dated = head.replace(/\r\nDate: [^\r]*/i, `\r\nDate: ${now.toUTCString()}`);
  return dated === head ? response : Buffer.concat([Buffer.from(dated, 'latin1'), response.subarray(end)]);
}
