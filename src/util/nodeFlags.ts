import v8 from 'node:v8';

/**
 * Caps V8's young generation once connect is done: the data path's garbage
 * is small views that die at once, and left alone V8 grows the young
 * generation under the packet rate to RSS that buys nothing (~7 MB on a
 * test loop; scavenges of the capped 1 MB semi-space take ~0.3 ms).
 *
 * Not `--max-semi-space-size=1` on the command line, as before: any V8 flag
 * there changes V8's flag hash, Node's embedded code cache for its own
 * modules no longer matches, and every node: module a process loads is
 * compiled from source (child_process 2.5 -> 10 ms, crypto 1.7 -> 5 ms):
 * ~30 ms of each connect (docs/benchmarks.md). Set here, after start-up, the
 * growth factor is read by V8 each time the young generation would grow.
 */
export function capYoungGeneration(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
