/**
 * Text from elsewhere (a server's DISCONNECT reason, remote stderr, a
 * container's name, a jump host's banner, a DNS name) made safe to print:
 * control characters (C0, DEL, C1) and the bidirectional overrides come
 * out escaped, so a peer can neither move the cursor, retitle the
 * terminal, end a line and forge the next one, nor reorder what is shown.
 * Applied where lines leave: stderr, the log, status.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** At most `max` characters of a peer's text (a DISCONNECT reason, an error it caused), marked when cut: what the controller keeps is bounded. */
export function clip(text: string, max = 500): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function plain(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
