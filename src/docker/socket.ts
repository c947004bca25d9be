import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../config/forwards.js';
import { serve, spliceWhenOpen, track, type ListenerStats, type StreamTraffic } from '../forward/listeners.js';
import { parseRequestHead, pingMethod, pingRequest, responseLength, withDate, type PingMethod } from './httpHead.js';
import { monotonicMs } from '../util/clock.js';

export interface DockerSocketStats extends ListenerStats {
  /** Connections that found a channel to the daemon open ahead of them. */
  spareUsed: number;
  /** Version checks (`HEAD /_ping`) answered here with the daemon's own recent answer. */
  pingsAnswered: number;
}

export interface DockerSocketStatus extends DockerSocketStats {
  /** A channel is open ahead of the next connection now. */
  readonly spare: boolean;
}

export interface DockerSocketDeps {
  /** A stream to the remote daemon's socket over the session, made on demand. */
  readonly dial: () => Promise<Duplex>;
  /** The same over a live session only: a spare must not wake an on-demand tunnel. */
  readonly dialIfUp: () => Promise<Duplex>;
  readonly owner: { readonly uid: number; readonly gid: number };
  /** Connections count as activity for on-demand idle timeouts; the spare does not. */
  readonly traffic: StreamTraffic;
  /** false: every connection opens its channel and asks the daemon everything itself. */
  readonly warm: boolean;
}

/** A channel to the daemon opened ahead of the next connection. */
interface Spare {
  readonly stream: Duplex;
  readonly since: number;
  /** Stops watching it and hands it over, paused. */
  take(): Duplex;
}

/** The daemon's answers to the version check, HEAD and GET, and when they were read. */
interface Answers {
  readonly byMethod: ReadonlyMap<PingMethod, Buffer>;
  readonly at: number;
}

const MAX_CONNECTIONS = 1024;
/** Answers older than this are not replayed: the next spare asks again. */
const ANSWER_MAX_AGE_MS = 60_000;
/** A spare the daemon closed sooner than this is not replaced until the next connection. */
const SPARE_MIN_LIFE_MS = 10_000;
const ASK_TIMEOUT_MS = 5000;
const PING_METHODS: readonly PingMethod[] = ['HEAD', 'GET'];

/** The daemon answered /_ping, but not with a plain 200 that can be given again. */
class UnreplayableAnswer extends Error {}

/** The daemon's answers to HEAD and GET /_ping, asked together on `stream`, which stays open for the next request. */
function askPings(stream: Duplex): Promise<Answers> {
  const byMethod = new Map<PingMethod, Buffer>();
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      stream.off('data', onData).off('close', onClose).off('error', done);
      stream.pause();
      if (err) reject(err);
      else resolve({ byMethod, at: monotonicMs() });
    };
    const onClose = (): void => done(new Error('the daemon closed the connection'));
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (byMethod.size < PING_METHODS.length) {
        const method = PING_METHODS[byMethod.size]!;
        const n = responseLength(buf, method);
        if (n === undefined) return;
        if (n === null) return done(new UnreplayableAnswer(`unexpected answer to ${method} /_ping`));
        byMethod.set(method, Buffer.from(buf.subarray(0, n)));
        buf = buf.subarray(n);
      }
      done(buf.length ? new UnreplayableAnswer('more than the answers to /_ping') : undefined);
    };
    const timer = setTimeout(() => done(new Error(`no answer to /_ping within ${ASK_TIMEOUT_MS} ms`)), ASK_TIMEOUT_MS);
    stream.on('data', onData).on('close', onClose).on('error', done);
    // pipelined: the daemon answers them in turn
    stream.write(Buffer.concat(PING_METHODS.map(pingRequest)));
  });
}

/**
 * The local docker socket (`docker.mode: socket`). Each connection rides an
 * SSH channel to the remote daemon's socket. Between commands one channel is
 * kept open ahead of time (a spare), and a connection that takes it gets the
 * CLI's version check (`HEAD /_ping`, sent before every command) answered
 * here with the daemon's own answer of the last minute: a docker command
 * costs the round trip of its own request instead of three. The spare being
 * open is what says the daemon that answered is still there; when it closes
 * unused (the session or the daemon went), the answers go with it.
 */
export class DockerSocket {
  readonly stats: DockerSocketStats = { active: 0, total: 0, refused: 0, spareUsed: 0, pingsAnswered: 0 };
  private spare: Spare | undefined;
  private answers: Answers | undefined;
  private warming = false;
  /** The daemon answers /_ping in a way that cannot be replayed (a filtering proxy, say): no spares this session. */
  private unreplayable = false;
  private closed = false;

  private constructor(private readonly deps: DockerSocketDeps) {}

  static async serve(at: Endpoint, deps: DockerSocketDeps): Promise<{ socket: DockerSocket; close(): Promise<void> }> {
    const socket = new DockerSocket(deps);
    // half-open: `docker run` and `docker exec` shut their side down when
    // stdin is done and read the container's output after
    const server = await serve(
      net.createServer({ allowHalfOpen: true }, (c) => socket.accept(c)),
      at,
      deps.owner,
    );
    return {
      socket,
      close: async () => {
        socket.closed = true;
        socket.spare?.stream.destroy();
        await server.close();
      },
    };
  }

  status(): DockerSocketStatus {
    return { ...this.stats, spare: this.spare !== undefined };
  }

  /** A new session: what was read on the last one is forgotten, and a spare opened on this one. */
  sessionUp(): void {
    this.answers = undefined;
    this.unreplayable = false;
    this.warm();
  }

  /** Opens the spare if there is none and the session is up (after each use), asking /_ping on it when the answers are old. */
  private warm(): void {
    if (!this.deps.warm || this.spare || this.warming || this.closed || this.unreplayable) return;
    this.warming = true;
    this.deps
      .dialIfUp()
      .then(async (stream) => {
        stream.on('error', () => {});
        if (!this.freshAnswers()) {
          this.answers = await askPings(stream).catch((err: Error) => {
            stream.destroy();
            throw err;
          });
        }
        if (this.closed) return stream.destroy();
        // flowing while it waits, so that the daemon's end shows at once (a
        // paused stream would keep it); it says nothing unasked
        const onData = (): void => void stream.destroy();
        const onEnd = (): void => void stream.destroy();
        const spare: Spare = { stream, since: monotonicMs(), take: () => (stream.off('data', onData).off('end', onEnd).pause(), stream) };
        this.spare = spare;
        stream
          .on('data', onData)
          .once('end', onEnd)
          .once('close', () => {
            if (this.spare !== spare) return;
            // closed unused: the session or the daemon went, and what it said with it
            this.spare = undefined;
            this.answers = undefined;
            if (monotonicMs() - spare.since >= SPARE_MIN_LIFE_MS) this.warm();
          });
        stream.resume();
      })
      // no session or no daemon: the next connection dials and finds out itself
      .catch((err: Error) => {
        if (err instanceof UnreplayableAnswer) this.unreplayable = true;
      })
      .finally(() => (this.warming = false));
  }

  private freshAnswers(): Answers | undefined {
    return this.answers && monotonicMs() - this.answers.at < ANSWER_MAX_AGE_MS ? this.answers : undefined;
  }

  private accept(local: net.Socket): void {
    local.on('error', () => {});
    if (this.stats.active >= MAX_CONNECTIONS) {
      this.stats.refused++;
      local.destroy();
      return;
    }
    local.pause();
    track(local, this.stats, this.deps.traffic);
    const spare = this.spare;
    this.spare = undefined;
    if (!spare) {
      const remote = this.deps.dial();
      // an on-demand session is up now: open the spare for the next one
      void remote.then(
        () => this.warm(),
        () => {},
      );
      return spliceWhenOpen(local, remote, this.stats);
    }
    this.stats.spareUsed++;
    const remote = Promise.resolve(spare.take());
    this.warm();
    // answered here only on a spare: its being open says the daemon that answered is still there
    const answers = this.freshAnswers();
    if (answers) this.answerPing(local, answers, (rest) => spliceWhenOpen(local, remote, this.stats, rest));
    else spliceWhenOpen(local, remote, this.stats);
  }

  /** Reads the first request: a version check is answered here; the bytes after it (or the whole request) go on. */
  private answerPing(local: net.Socket, answers: Answers, then: (rest: Buffer) => void): void {
    let buf: Buffer = Buffer.alloc(0);
    let read = false;
    const finish = (rest: Buffer): void => {
      if (read) return;
      read = true;
      local.off('data', onData);
      local.pause();
      then(rest);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const head = parseRequestHead(buf);
      if (head === undefined) return;
      const method = head ? pingMethod(head) : undefined;
      const answer = method ? answers.byMethod.get(method) : undefined;
      if (head && answer) {
        local.write(withDate(answer, new Date()));
        this.stats.pingsAnswered++;
        buf = buf.subarray(head.length);
      }
      finish(buf);
    };
    // done or gone before a whole request: what came goes on (or the channel is closed, if it is gone)
    local
      .on('data', onData)
      .once('end', () => finish(buf))
      .once('close', () => finish(buf));
    local.resume();
  }
}
