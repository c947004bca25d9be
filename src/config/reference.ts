import { CONFIG, ENVIRONMENT, type Spec } from './spec.js';

/**
 * The configuration reference (docs/config-reference.md), made from spec.ts
 * as config.schema.json is, so the two cannot drift from the validator: a
 * row per field, nested fields by their dotted path, list items as
 * `field[]`. `npm run schema` writes both; a unit test holds the committed
 * files to the spec.
 */

/** What a value of `s` is, in a few words. */
function typeOf(s: Spec): string {
  switch (s.kind) {
    case 'string':
      return s.format ? `string (${s.format})` : 'string';
    case 'integer':
      return `integer ${s.min}-${s.max}`;
    case 'seconds':
      return `seconds (up to ${s.max})`;
    case 'boolean':
      return 'true or false';
    case 'enum':
      return s.values.map((v) => `\`${v}\``).join(', ');
    case 'const':
      return `\`${String(s.value)}\``;
    case 'list':
      return `list of ${typeOf(s.items)}`;
    case 'map':
      return 'mapping';
    case 'dict':
      return 'mapping by name';
    case 'either':
      return s.options.map(typeOf).join(', or ');
  }
}

const defaultOf = (s: Spec): string => ('default' in s && s.default !== undefined ? `\`${String(s.default)}\`` : '');
const cell = (text: string): string => text.replace(/\|/g, '\\|');

/** Rows for `s` at `path`, its nested fields after it. */
function rows(path: string, s: Spec): string[] {
  const out = [`| \`${path}\` | ${cell(typeOf(s))} | ${cell(defaultOf(s))} | ${cell(s.doc)} |`];
  const inner = s.kind === 'list' ? { at: `${path}[]`, spec: s.items } : { at: path, spec: s };
  const nested = inner.spec.kind === 'either' ? inner.spec.options.find((o) => o.kind === 'map') : inner.spec;
  if (nested?.kind === 'map') for (const [k, f] of Object.entries(nested.fields)) out.push(...rows(`${inner.at}.${k}`, f));
  return out;
}

export function referenceMarkdown(): string {
  const head = ['| field | takes | default | what it does |', '|---|---|---|---|'];
  const top = Object.entries(CONFIG.fields).filter(([k]) => k !== 'environments');
  return [
    '# Configuration reference',
    '',
    '<!-- Made by `npm run schema` from src/config/spec.ts; do not edit by hand. -->',
    '',
    'The config file (`~/.config/cloudbridge/config.yaml`, or `--config`) is YAML. `config.schema.json` is the same',
    'spec as a JSON Schema for editors; `cloudbridge config check` validates a file and names any wrong field in one line.',
    'What a schema cannot say (addresses that parse, routes that do not overlap, fields that depend on each other) is',
    'checked by the validator; [configuration.md](configuration.md) explains the fields with examples.',
    '',
    '## Top level',
    '',
    ...head,
    ...top.flatMap(([k, s]) => rows(k, s)),
    '| `environments` | mapping by name | | environments by name: 1-32 characters of a-z, 0-9, - and _ |',
    '',
    '## An environment (`environments.NAME`)',
    '',
    ...head,
    ...Object.entries(ENVIRONMENT.fields).flatMap(([k, s]) => rows(k, s)),
    '',
  ].join('\n');
}
