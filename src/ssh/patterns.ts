/**
 * OpenSSH host patterns: `*` and `?` wildcards; case-insensitive, as Match
 * criteria and known_hosts compare, unless `exactCase` (Host lines, and
 * file names: `Host Web` applies to `Web`, not to `web`, as ssh -G shows).
 */
export function globMatch(pattern: string, name: string, exactCase = false): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    exactCase ? '' : 'i',
  );
  return re.test(name);
}

/** A pattern list as ssh reads it (Host lines, known_hosts): some positive pattern matches, no negated one does. */
export function patternListMatches(patterns: readonly string[], name: string, exactCase = false): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name, exactCase)) return false;
    } else if (globMatch(p, name, exactCase)) {
      matched = true;
    }
  }
  return matched;
}
