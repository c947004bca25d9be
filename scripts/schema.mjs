#!/usr/bin/env node
// Writes config.schema.json and docs/config-reference.md from
// src/config/spec.ts (through the compiled dist/): `npm run schema` after
// changing the spec; a unit test fails while a committed file and the spec differ.
import fs from 'node:fs';
const { schemaText } = await import(new URL('../dist/src/config/schema.js', import.meta.url));
const { referenceMarkdown } = await import(new URL('../dist/src/config/reference.js', import.meta.url));
fs.writeFileSync(new URL('../config.schema.json', import.meta.url), schemaText());
fs.writeFileSync(new URL('../docs/config-reference.md', import.meta.url), referenceMarkdown());
