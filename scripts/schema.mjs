#!/usr/bin/env node
// Writes config.schema.json from src/config/spec.ts (through the compiled
// dist/): `npm run schema` after changing the spec; a unit test fails while
// the committed file and the spec differ.
import fs from 'node:fs';
const { schemaText } = await import(new URL('../dist/src/config/schema.js', import.meta.url));
fs.writeFileSync(new URL('../config.schema.json', import.meta.url), schemaText());
