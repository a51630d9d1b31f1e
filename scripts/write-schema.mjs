#!/usr/bin/env node
// Writes schema.json at the package root (the package's `astrometry-net-client/schema.json`) from the one
// definition in src/cli/json-schema.ts, so the shipped file cannot drift from the CLI's output.
import { writeFile } from 'node:fs/promises';
import { SOLVE_JSON_SCHEMA } from '../dist/src/cli/json-schema.js';

await writeFile(new URL('../schema.json', import.meta.url), `${JSON.stringify(SOLVE_JSON_SCHEMA, null, 2)}\n`);
