/**
 * What kind of failure an error ssh2 emitted on a connection is, from the
 * `level` it sets (ssh2 1.17.0's client.js); the one message it has no level
 * for of its own ("Connection lost before handshake", level 'protocol')
 * counts as the socket going away.
 */
export type Ssh2Failure = 'authentication' | 'socket' | 'timeout' | 'other';

export function ssh2Failure(err: Error & { level?: string; code?: string }): Ssh2Failure {
  if (err.level === 'client-authentication') return 'authentication';
  if (err.level === 'client-timeout') return 'timeout';
  if (err.level === 'client-socket' || err.code !== undefined || err.message === 'Connection lost before handshake') return 'socket';
  return 'other';
}
