import { CONFIG, type Spec } from './spec.js';

/**
 * The JSON Schema (draft 2020-12) of the config, made from spec.ts: what the
 * repo ships as config.schema.json (a unit test holds the file to this) and
 * `cloudbridge config schema` prints. YAML editors use it through a
 * `# yaml-language-server: $schema=…` line, which `init` writes.
 */

const IPV4 = '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$';
const CIDR = `${IPV4.slice(0, -1)}(/([0-9]|[12][0-9]|3[0-2]))?$`;
/** IPv6's grammar is the validator's (config/ipv6.ts); the schema only tells it from the rest. */
const IPV6 = '^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$';
const CIDR6 = '^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))?$';
const PATTERNS = { ipv4: IPV4, cidr: CIDR, ipv6: IPV6, cidr6: CIDR6 };

type Json = Record<string, unknown>;

function node(s: Spec): Json {
  const d = { description: s.doc };
  switch (s.kind) {
    case 'string': {
      const pattern = s.pattern ?? (PATTERNS as Record<string, string | undefined>)[s.format ?? ''];
      return { type: 'string', minLength: 1, ...(pattern ? { pattern } : {}), ...d, ...(s.default !== undefined ? { default: s.default } : {}) };
    }
    case 'integer':
      return { type: 'integer', minimum: s.min, maximum: s.max, ...d, ...(s.default !== undefined ? { default: s.default } : {}) };
    case 'seconds':
      return { type: 'number', exclusiveMinimum: 0, maximum: s.max, ...d, ...(s.default !== undefined ? { default: s.default } : {}) };
    case 'boolean':
      return { type: 'boolean', ...d, ...(s.default !== undefined ? { default: s.default } : {}) };
    case 'enum': {
      // YAML 1.1 readers turn yes/no into booleans; the validator takes them back
      const yamlBooleans = [...(s.values.includes('yes') ? [true] : []), ...(s.values.includes('no') ? [false] : [])];
      return { enum: [...s.values, ...yamlBooleans], ...d, ...(s.default !== undefined ? { default: s.default } : {}) };
    }
    case 'const':
      return { const: s.value, ...d };
    case 'list':
      return { type: 'array', items: node(s.items), ...d };
    case 'map':
      return {
        type: 'object',
        properties: Object.fromEntries(Object.entries(s.fields).map(([k, v]) => [k, node(v)])),
        ...(s.required?.length ? { required: s.required } : {}),
        ...(s.pairs?.length
          ? {
              // the properties again, as `true`: strict readers (ajv's strictRequired) want what is required defined beside it
              anyOf: s.pairs.map((p) => ({ required: p, properties: Object.fromEntries(p.map((k) => [k, true])) })),
              dependentRequired: Object.fromEntries(
                s.pairs.flatMap(([a, b]) => [
                  [a, [b]],
                  [b, [a]],
                ]),
              ),
            }
          : {}),
        additionalProperties: false,
        ...d,
      };
    case 'dict':
      return { type: 'object', propertyNames: { pattern: s.keyPattern, not: { const: 'default' } }, additionalProperties: node(s.values), ...d };
    case 'either':
      return { anyOf: s.options.map(node), ...d };
  }
}

export function configSchema(): Json {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'cloudbridge config',
    ...node(CONFIG),
  };
}

export const schemaText = (): string => `${JSON.stringify(configSchema(), null, 2)}\n`;
